//! Protecting images held in memory (evaluation and the album "verify" mode), through exactly
//! the same methods and apply step as the file pipeline.

use std::path::PathBuf;

use image::RgbImage;

use crate::cancel::CancelToken;
use crate::config::ProtectConfig;
use crate::device::ComputeDevice;
use crate::error::EvalError;
use crate::imaging::planar::working_copy;
use crate::imaging::{AlbumEntry, apply_delta, apply_perturbation};
use crate::job::working_copy_for_training;
use crate::progress::ProgressSink;
use crate::protect::{self, Method, MethodContext, TrainingSet};

/// Protect `images` (class `labels` in `0..num_classes`) with `cfg`; returns the protected
/// 8-bit images in the same order.
pub fn protect_in_memory(
    images: &[RgbImage],
    labels: &[usize],
    num_classes: usize,
    cfg: &ProtectConfig,
    device: &ComputeDevice,
    events: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Vec<RgbImage>, EvalError> {
    let ctx = MethodContext {
        device,
        cancel,
        seed: cfg.seed,
        epsilon: cfg.epsilon(),
        num_classes,
        events,
    };
    let eps = cfg.epsilon_255;
    match protect::build(cfg) {
        Method::PerPhoto(m) => images
            .iter()
            .zip(labels)
            .enumerate()
            .map(|(i, (img, &label))| {
                let entry = AlbumEntry {
                    index: i,
                    path: PathBuf::new(),
                    rel_out: PathBuf::from(format!("{label}/{i}")),
                    label,
                };
                let delta = m.perturb(&working_copy(img, cfg.working_size), &entry, &ctx)?;
                Ok(apply_delta(img, &delta, eps).0)
            })
            .collect(),
        Method::Album(m) => {
            let short = images
                .iter()
                .map(|i| i.width().min(i.height()))
                .min()
                .unwrap_or(1);
            let side = m.working_size(device).min(short).max(1);
            let copies: Vec<_> = images
                .iter()
                .map(|i| working_copy_for_training(i, side, eps, m.budget()))
                .collect();
            let set = TrainingSet {
                images: copies.iter().map(|c| c.image.clone()).collect(),
                labels: labels.to_vec(),
                num_classes,
                budgets: copies
                    .into_iter()
                    .map(|c| c.budget)
                    .filter(|b| !b.is_empty())
                    .collect(),
            };
            let fitted = m.fit(&set, &ctx)?;
            Ok(images
                .iter()
                .zip(&fitted.deltas)
                .map(|(img, d)| apply_perturbation(img, d, eps, m.budget()).0)
                .collect())
        }
    }
}
