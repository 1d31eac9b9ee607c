//! Transferable unlearnable examples (Ren et al., ICLR 2023; `methods.md` §5): error-minimizing
//! noise whose δ-steps also minimise the class-wise separability discriminant (CSD) of the
//! noise itself, so each group's noise clusters apart from the others'. A linearly separable
//! noise is a shortcut for any learner, not only for the surrogate's architecture and recipe.
//!
//! Two surrogates ([`TueSurrogate`]): the same supervised classifier as `em` (cross-entropy +
//! CSD), or the paper's contrastive one ([`contrastive`]: SimCLR without labels, NT-Xent + CSD),
//! which aims the noise at self-supervised learners.

mod contrastive;
mod views;

use super::em::{Objective, check_album, run};
use super::{AlbumProtector, Fitted, MethodContext, MethodId, TrainingSet};
use crate::config::{TueConfig, TueSurrogate};
use crate::device::ComputeDevice;
use crate::error::MethodError;

/// The transferable method.
#[derive(Clone, Debug)]
pub struct Transferable {
    cfg: TueConfig,
    epsilon: f32,
}

impl Transferable {
    /// A method with these settings and budget `epsilon` (fraction of full scale).
    pub fn new(cfg: TueConfig, epsilon: f32) -> Self {
        Self { cfg, epsilon }
    }
}

impl AlbumProtector for Transferable {
    fn id(&self) -> MethodId {
        MethodId::Tue
    }

    fn working_size(&self, device: &ComputeDevice) -> u32 {
        self.cfg
            .train
            .resolve(device.backend, self.epsilon)
            .working_size
    }

    fn fit(&self, set: &TrainingSet, ctx: &MethodContext<'_>) -> Result<Fitted, MethodError> {
        check_album(self.id(), set)?;
        let r = self.cfg.resolve(ctx.device.backend, self.epsilon);
        if r.surrogate_loss == TueSurrogate::Contrastive {
            return contrastive::run(set, &r, self.id().id(), ctx);
        }
        let obj = Objective {
            robust: None,
            csd_weight: r.csd_weight,
            // CSD is undefined at δ = 0 (every class at the origin): start from random noise.
            random_start: true,
        };
        let mut fitted = run(set, &r.train, false, &obj, self.id().id(), ctx)?;
        fitted.report.settings = serde_json::to_value(&r).unwrap_or_default();
        Ok(fitted)
    }
}
