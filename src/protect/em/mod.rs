//! Error-minimizing noise (Huang et al., ICLR 2021, "Unlearnable Examples"), sample-wise (`em`)
//! and class-wise (`em-class`), implemented from `methods.md` §1 on Burn with input gradients
//! through autodiff.
//!
//! A surrogate classifier and the perturbations are optimised in alternation (min-min):
//! θ-steps train the surrogate on x+δ; δ-steps take K signed-gradient *descent* steps of size α
//! on the loss, projected to the ε-ball and to valid pixels; stop when the surrogate classifies
//! x+δ almost perfectly, so the perturbation has become an easy shortcut to the label.

mod objective;
mod optimize;

pub use objective::{Objective, Robust, apply_crop_flip, crop_flip_draw, csd};
pub(super) use optimize::run;

use super::{AlbumProtector, Fitted, MethodContext, MethodId, TrainingSet};
use crate::config::EmConfig;
use crate::device::ComputeDevice;
use crate::error::MethodError;

/// The error-minimizing method, sample- or class-wise.
#[derive(Clone, Debug)]
pub struct ErrorMinimizing {
    cfg: EmConfig,
    classwise: bool,
    epsilon: f32,
}

impl ErrorMinimizing {
    /// A method with these settings and budget `epsilon` (fraction of full scale).
    pub fn new(cfg: EmConfig, classwise: bool, epsilon: f32) -> Self {
        Self {
            cfg,
            classwise,
            epsilon,
        }
    }
}

impl AlbumProtector for ErrorMinimizing {
    fn id(&self) -> MethodId {
        if self.classwise {
            MethodId::EmClass
        } else {
            MethodId::Em
        }
    }

    fn working_size(&self, device: &ComputeDevice) -> u32 {
        self.cfg.resolve(device.backend, self.epsilon).working_size
    }

    fn fit(&self, set: &TrainingSet, ctx: &MethodContext<'_>) -> Result<Fitted, MethodError> {
        check_album(self.id(), set)?;
        let resolved = self.cfg.resolve(ctx.device.backend, self.epsilon);
        let method = self.id().id();
        optimize::run(
            set,
            &resolved,
            self.classwise,
            &Objective::default(),
            method,
            ctx,
        )
    }
}

/// The album must have at least the method's minimum of photos in at least two groups.
pub(super) fn check_album(id: MethodId, set: &TrainingSet) -> Result<(), MethodError> {
    let min_photos = id.min_photos();
    if set.images.len() < min_photos || set.num_classes < 2 {
        return Err(MethodError::UnsuitableAlbum {
            method: id.id(),
            message: format!(
                "it needs at least {min_photos} readable photos in at least 2 groups, got {} photo(s) in {} group(s); \
                 add photos (it learns from what the photos of an album share and how they differ); \
                 the other methods run on single photos but protect far less in our tests (EVALUATION.md)",
                set.images.len(),
                set.num_classes
            ),
        });
    }
    Ok(())
}
