//! Robust error-minimizing noise (Fu et al., ICLR 2022; `methods.md` §2): the min-min-max of
//! error-minimizing noise. The surrogate is trained adversarially (radius ρ_a) on random
//! crops and flips, and each δ-step minimises the loss at the adversary's worst point, averaged
//! over crop/flip draws, so the shortcut survives an exploiter's adversarial training up to
//! ρ_a. Runs the shared loop of [`super::em`] with a robust [`Objective`].

use super::em::{Objective, Robust, check_album, run};
use super::{AlbumProtector, Fitted, MethodContext, MethodId, TrainingSet};
use crate::config::RemConfig;
use crate::device::ComputeDevice;
use crate::error::MethodError;

/// The robust method.
#[derive(Clone, Debug)]
pub struct RobustEm {
    cfg: RemConfig,
    epsilon: f32,
}

impl RobustEm {
    /// A method with these settings and budget `epsilon` (fraction of full scale).
    pub fn new(cfg: RemConfig, epsilon: f32) -> Self {
        Self { cfg, epsilon }
    }
}

impl AlbumProtector for RobustEm {
    fn id(&self) -> MethodId {
        MethodId::Rem
    }

    fn working_size(&self, device: &ComputeDevice) -> u32 {
        self.cfg
            .train
            .resolve(device.backend, self.epsilon)
            .working_size
    }

    fn fit(&self, set: &TrainingSet, ctx: &MethodContext<'_>) -> Result<Fitted, MethodError> {
        check_album(self.id(), set)?;
        let mut r = self.cfg.resolve(ctx.device.backend, self.epsilon);
        // Photos smaller than the working size are optimised at their own size.
        r.crop_pad = self
            .cfg
            .crop_pad_for(set.images.first().map_or(0, |p| p.width));
        let obj = Objective {
            robust: Some(Robust {
                eot_samples: r.eot_samples,
                crop_pad: r.crop_pad as usize,
                flip: r.flip,
                radius: r.adversary,
                steps: r.adversary_steps,
            }),
            csd_weight: 0.0,
            random_start: true,
        };
        let mut fitted = run(set, &r.train, false, &obj, self.id().id(), ctx)?;
        fitted.report.settings = serde_json::to_value(&r).unwrap_or_default();
        Ok(fitted)
    }
}
