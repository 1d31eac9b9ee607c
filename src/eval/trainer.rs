//! The standard training recipe for one arm: SGD (or Adam when asked; momentum 0.9, weight decay 5e-4, gradient
//! clip 5), cosine learning-rate schedule to 0, random crop with 4-px padding + horizontal flip
//! (or, in the real-photo protocol, a random-resized crop + flip),
//! optional UEraser augmentation (with max-loss-over-repeats); clean test accuracy per epoch.

use burn::prelude::*;

use super::EvalConfig;
use super::augment::{crop_flip, random_resized_crop, ueraser};
use crate::cancel::CancelToken;
use crate::error::{EvalError, MethodError};
use crate::imaging::Planar;
use crate::model::Surrogate;
use crate::progress::{ProgressEvent, ProgressSink};
use crate::rng::{Rng, derive_seed};
use crate::train::{Learner, accuracy, batch_tensor, label_tensor};

/// Defences that act during training rather than on the data once.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrainingDefences {
    /// UEraser augmented copies per batch (`None`: no UEraser).
    pub ueraser_repeats: Option<u32>,
    /// Adversarial-training budget (fraction of the range, `None`: off).
    pub adversarial_eps: Option<f32>,
}

/// PGD steps of adversarial training.
const ADV_STEPS: usize = 5;

/// The PGD adversarial version of batch `x` (values 0–1) within `eps` (L∞) against `model`.
fn adversarial(
    model: &Surrogate,
    ce: &burn::nn::loss::CrossEntropyLoss,
    x: Tensor<4>,
    targets: Tensor<1, Int>,
    eps: f32,
) -> Result<Tensor<4>, EvalError> {
    let alpha = 2.5 * eps / ADV_STEPS as f32;
    let clean = x.clone().inner();
    let mut adv = clean.clone();
    for _ in 0..ADV_STEPS {
        let xin = adv.clone().autodiff().require_grad();
        let loss = ce.forward(model.forward(xin.clone()), targets.clone());
        let grads = loss.backward();
        let g = xin
            .grad(&grads)
            .ok_or_else(|| EvalError::Data("no input gradient for adversarial training".into()))?;
        let delta = (adv + g.sign().mul_scalar(alpha) - clean.clone()).clamp(-eps, eps);
        adv = (clean.clone() + delta).clamp(0.0, 1.0);
    }
    Ok(adv.autodiff())
}

/// Train a fresh classifier for one arm; returns clean test accuracy after each epoch.
#[allow(clippy::too_many_arguments)]
pub fn train_arm(
    arm: &str,
    train: &[Planar],
    labels: &[usize],
    test: &[Planar],
    test_labels: &[usize],
    num_classes: usize,
    cfg: &EvalConfig,
    defences: &TrainingDefences,
    device: &Device,
    events: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Vec<f32>, EvalError> {
    let ad = device.clone().autodiff();
    let mut learner = Learner::new(
        cfg.model,
        num_classes,
        derive_seed(cfg.seed, "eval-model", 0),
        cfg.optimizer,
        [cfg.momentum, f64::from(cfg.weight_decay), 5.0],
        &ad,
    );
    let batch = cfg.batch_size.min(train.len()).max(1);
    let mut plan = Schedule::new(train.len(), batch, cfg);
    let mut curve = Vec::with_capacity(cfg.epochs);
    for epoch in 1..=cfg.epochs {
        let order = plan.shuffle();
        // The epoch's summed loss stays on the device: reading it every step would make a GPU
        // wait for the host once per batch.
        let mut loss_sum: Option<Tensor<1>> = None;
        for chunk in order.chunks(batch) {
            if cancel.is_cancelled() {
                return Err(EvalError::Method(MethodError::Cancelled));
            }
            let lr = plan.learning_rate();
            let rng = &mut plan.rng;
            let targets = label_tensor(labels, chunk, &ad);
            let repeats = defences.ueraser_repeats.unwrap_or(1).max(1);
            // UEraser-max: of `repeats` augmented copies, train on the one with the highest loss.
            let mut best: Option<(f32, Tensor<1>)> = None;
            for _ in 0..repeats {
                let xs: Vec<Planar> = chunk
                    .iter()
                    .map(|&i| {
                        let a = match cfg.train_size {
                            Some(t) => {
                                random_resized_crop(&train[i], t as usize, cfg.crop_scale, rng)
                            }
                            None => crop_flip(&train[i], 4, rng),
                        };
                        if defences.ueraser_repeats.is_some() {
                            ueraser(&a, rng)
                        } else {
                            a
                        }
                    })
                    .collect();
                let all: Vec<usize> = (0..xs.len()).collect();
                let mut x = batch_tensor(&xs, &all, &ad);
                if let Some(eps) = defences.adversarial_eps {
                    x = adversarial(&learner.model, learner.criterion(), x, targets.clone(), eps)?;
                }
                let loss = learner.loss(x, targets.clone());
                let value = if repeats > 1 {
                    loss.clone()
                        .inner()
                        .try_into_scalar::<f32>()
                        .map_err(|e| EvalError::Data(format!("{e:?}")))?
                } else {
                    0.0
                };
                if best.as_ref().is_none_or(|(v, _)| value > *v) {
                    best = Some((value, loss));
                }
            }
            let Some((_, loss)) = best else { continue };
            let detached;
            (learner, detached) = learner.step(loss, lr);
            loss_sum = Some(match loss_sum {
                Some(sum) => sum + detached,
                None => detached,
            });
            plan.advance();
        }
        let acc = accuracy(&learner.model, test, test_labels, device)?;
        curve.push(acc);
        report_epoch(
            events,
            arm,
            [epoch, cfg.epochs],
            loss_sum,
            plan.steps_per_epoch,
            acc,
        );
    }
    Ok(curve)
}

/// The batch order and learning rate of one arm's training: the images reshuffled every epoch
/// by a seeded generator (which the augmentations then draw from too), and a cosine schedule
/// from the peak learning rate to 0 over all steps.
pub(super) struct Schedule {
    /// The arm's generator: shuffles, then augmentations.
    pub rng: Rng,
    order: Vec<usize>,
    step: usize,
    total: usize,
    peak: f64,
    /// Mini-batches per epoch.
    pub steps_per_epoch: usize,
}

impl Schedule {
    /// `n` images in batches of `batch`, `cfg.epochs` epochs.
    pub fn new(n: usize, batch: usize, cfg: &EvalConfig) -> Self {
        let steps_per_epoch = n.div_ceil(batch.max(1));
        Self {
            rng: Rng::new(derive_seed(cfg.seed, "eval-batches", 0)),
            order: (0..n).collect(),
            step: 0,
            total: (cfg.epochs * steps_per_epoch).max(1),
            peak: cfg.learning_rate,
            steps_per_epoch,
        }
    }

    /// The next epoch's order.
    pub fn shuffle(&mut self) -> Vec<usize> {
        for i in (1..self.order.len()).rev() {
            self.order.swap(i, self.rng.below(i as u64 + 1) as usize);
        }
        self.order.clone()
    }

    /// The learning rate of the current step.
    pub fn learning_rate(&self) -> f64 {
        let t = self.step as f64 / self.total as f64;
        0.5 * self.peak * (1.0 + (std::f64::consts::PI * t).cos())
    }

    /// One step taken.
    pub fn advance(&mut self) {
        self.step += 1;
    }
}

/// Tell `events` that epoch `[epoch, epochs]` of `arm` ended: the mean of its losses (summed on
/// the device over `steps`, read here once) and the clean test accuracy.
pub(super) fn report_epoch(
    events: &dyn ProgressSink,
    arm: &str,
    [epoch, epochs]: [usize; 2],
    loss_sum: Option<Tensor<1>>,
    steps: usize,
    test_accuracy: f32,
) {
    events.emit(ProgressEvent::Epoch {
        arm: arm.to_string(),
        epoch: epoch as u32,
        epochs: epochs as u32,
        train_loss: loss_sum.map_or(0.0, |sum| sum.try_into_scalar::<f32>().unwrap_or(f32::NAN))
            / steps.max(1) as f32,
        test_accuracy,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SurrogateKind;
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::tensor::TensorData;

    #[test]
    fn adversarial_batches_stay_within_budget_and_raise_the_loss() {
        let device = Device::flex();
        let ad = device.clone().autodiff();
        let model = Surrogate::new(SurrogateKind::SmallCnn, 3, 7, &ad);
        let ce = CrossEntropyLossConfig::new().init(&ad);
        let mut rng = Rng::new(3);
        let images: Vec<Planar> = (0..6)
            .map(|_| {
                let mut p = Planar::zeros(16, 16);
                p.data.iter_mut().for_each(|v| *v = rng.next_f32());
                p
            })
            .collect();
        let all: Vec<usize> = (0..images.len()).collect();
        let x = batch_tensor(&images, &all, &ad);
        let targets =
            Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 0, 1, 2], [6]), &ad);
        let eps = 4.0 / 255.0;
        let adv = adversarial(&model, &ce, x.clone(), targets.clone(), eps).expect("attack runs");
        let diff = (adv.clone().inner() - x.clone().inner()).abs();
        let max: f32 = diff.clone().max().into_scalar();
        let mean: f32 = diff.mean().into_scalar();
        assert!(max <= eps + 1e-6, "L∞ {max} > ε {eps}");
        assert!(mean > eps * 0.3, "the batch was perturbed ({mean})");
        let lo: f32 = adv.clone().inner().min().into_scalar();
        let hi: f32 = adv.clone().inner().max().into_scalar();
        assert!(lo >= 0.0 && hi <= 1.0);
        let loss = |t: Tensor<4>| -> f32 {
            ce.forward(model.forward(t), targets.clone())
                .inner()
                .into_scalar()
        };
        let (clean_loss, adv_loss) = (loss(x), loss(adv));
        assert!(adv_loss > clean_loss, "{adv_loss} <= {clean_loss}");
    }
}
