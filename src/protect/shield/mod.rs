//! `shield`: error-minimizing noise (Huang et al. 2021) made invisible and robust to sharing,
//! following the design in `robust-methods.md` §5:
//!
//! - **luma only**: one pattern `u` per photo, added equally to R, G and B (GrayAug, Liu et al.
//!   2021): no colour cast, and grayscale conversion cannot remove it;
//! - **budgeted where the eye does not look**: `δ(p) = ε(p)·u(p)`, `|u| ≤ 1`, with the
//!   texture-masked budget map `ε(p)` of [`crate::imaging::budget`] (flat sky gets about
//!   1/255, texture up to ε); the map is computed on the photo at native size and
//!   area-averaged to the working copy, so what the optimiser sees is what a scraper's
//!   downscaled copy carries;
//! - **at the scraper's resolution**: working copies of 128 px on a CPU, 224 px on a GPU
//!   (`balanced`), enlarged to native size with a smooth (Catmull-Rom) kernel;
//! - **through the transformations** of [`transforms`]: random-resized crops and flips as
//!   every training recipe uses them, downscale and upscale, differentiable JPEG, grayscale and
//!   noise, both in the δ-steps (expectation over transforms) and in the surrogate's training
//!   (the surrogate must see the defences); the stop rule uses accuracy under the transforms.

pub mod jpeg;
mod optimize;
pub mod transforms;

pub use transforms::TransformConfig;

use super::{AlbumProtector, Fitted, MethodContext, MethodId, TrainingSet};
use crate::config::ShieldConfig;
use crate::device::ComputeDevice;
use crate::error::MethodError;
use crate::imaging::BudgetConfig;

/// The `shield` method.
#[derive(Clone, Debug)]
pub struct Shield {
    cfg: ShieldConfig,
    epsilon: f32,
}

impl Shield {
    /// A method with these settings and L∞ cap `epsilon` (fraction of full scale).
    pub fn new(cfg: ShieldConfig, epsilon: f32) -> Self {
        Self { cfg, epsilon }
    }
}

impl AlbumProtector for Shield {
    fn id(&self) -> MethodId {
        MethodId::Shield
    }

    fn working_size(&self, device: &ComputeDevice) -> u32 {
        self.cfg
            .resolve(device.backend, self.epsilon)
            .train
            .working_size
    }

    fn budget(&self) -> Option<&BudgetConfig> {
        Some(&self.cfg.budget)
    }

    fn fit(&self, set: &TrainingSet, ctx: &MethodContext<'_>) -> Result<Fitted, MethodError> {
        let method = self.id().id();
        if set.images.len() < self.id().min_photos() || set.num_classes < 2 {
            return Err(MethodError::UnsuitableAlbum {
                method,
                message: format!(
                    "it needs at least 2 readable photos in at least 2 groups, got {} photo(s) in {} group(s); add photos",
                    set.images.len(),
                    set.num_classes
                ),
            });
        }
        if set.budgets.len() != set.images.len() {
            return Err(MethodError::Compute {
                method,
                message: "the training set carries no budget maps".into(),
            });
        }
        let resolved = self.cfg.resolve(ctx.device.backend, self.epsilon);
        optimize::run(set, &resolved, ctx)
    }
}
