//! The min-min loop of `shield` on tensors.
//!
//! Shapes: `n` images, square side `s`. Clean copies `x: [n, 3, s, s]` and budget maps
//! `m: [n, 1, s, s]` (fraction of full scale) live on the plain device; the luma pattern
//! `u: [n, 1, s, s]` in `[-1, 1]` gives `δ = m·u` on all three channels. The surrogate lives on
//! the autodiff device and always sees transformed images `t(x + δ)`, `t` drawn per step.

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;

use super::transforms::{self, Draw};
use crate::config::ResolvedShield;
use crate::error::MethodError;
use crate::imaging::Planar;
use crate::model::Surrogate;
use crate::progress::ProgressEvent;
use crate::protect::{FitReport, Fitted, MethodContext, TrainingSet};
use crate::rng::{BatchSampler, Rng, derive_seed};
use crate::train::sgd;

const METHOD: &str = "shield";

fn compute_err(e: impl std::fmt::Debug) -> MethodError {
    MethodError::Compute {
        method: METHOD,
        message: format!("{e:?}"),
    }
}

fn to_vec(t: Tensor<1>) -> Result<Vec<f32>, MethodError> {
    t.try_into_data()
        .map_err(compute_err)?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(compute_err)
}

struct Problem<'a> {
    x: Tensor<4>,
    m: Tensor<4>,
    labels: &'a [usize],
    n: usize,
}

impl Problem<'_> {
    fn ints(values: &[usize], device: &Device) -> Tensor<1, Int> {
        let v: Vec<i64> = values.iter().map(|&i| i as i64).collect();
        Tensor::from_data(TensorData::new(v, [values.len()]), device)
    }

    fn rows(&self, t: &Tensor<4>, idx: &[usize], device: &Device) -> Tensor<4> {
        t.clone().select(0, Self::ints(idx, device))
    }

    fn targets(&self, idx: &[usize], device: &Device) -> Tensor<1, Int> {
        Self::ints(
            &idx.iter().map(|&i| self.labels[i]).collect::<Vec<_>>(),
            device,
        )
    }

    /// `clip(x + m·u)` for the images `idx`, given their pattern rows `u: [B, 1, s, s]`;
    /// `x` and `m` are taken on the plain `device` and moved to `u`'s autodiff graph when
    /// `tracked`.
    fn protected(&self, idx: &[usize], u: Tensor<4>, device: &Device, tracked: bool) -> Tensor<4> {
        let (mut x, mut m) = (
            self.rows(&self.x, idx, device),
            self.rows(&self.m, idx, device),
        );
        if tracked {
            (x, m) = (x.autodiff(), m.autodiff());
        }
        (x + (m * u).repeat_dim(1, 3)).clamp(0.0, 1.0)
    }
}

/// Logits divided by `max(1, max|z| / 8)`, computed on the device (no host read): keeps input
/// gradients alive when a memorising surrogate saturates softmax (see `em`).
fn tempered(logits: Tensor<2>) -> Tensor<2> {
    let t = logits
        .clone()
        .detach()
        .abs()
        .max()
        .div_scalar(8.0)
        .clamp_min(1.0)
        .reshape([1, 1]);
    logits / t
}

/// Surrogate accuracy on `t(x + δ)`, one transform draw per batch: the stop rule.
fn transformed_accuracy(
    p: &Problem<'_>,
    model: &Surrogate,
    u: &Tensor<4>,
    r: &ResolvedShield,
    rng: &mut Rng,
    device: &Device,
) -> Result<f32, MethodError> {
    let valid = model.valid();
    let batch = r.train.batch_size.min(p.n).max(1);
    let side = p.x.dims()[2];
    let mut correct = 0usize;
    for start in (0..p.n).step_by(batch) {
        let idx: Vec<usize> = (start..(start + batch).min(p.n)).collect();
        let d = transforms::draw(&r.transforms, idx.len(), side, rng);
        let xin = p.protected(&idx, p.rows(u, &idx, device), device, false);
        let pred = valid
            .forward(transforms::apply(xin, &d, device))
            .argmax(1)
            .flatten::<1>(0, 1);
        let pred: Vec<i64> = pred
            .try_into_data()
            .map_err(compute_err)?
            .convert::<i64>()
            .try_into_vec::<i64>()
            .map_err(compute_err)?;
        correct += pred
            .iter()
            .zip(&idx)
            .filter(|(y, i)| **y == p.labels[**i] as i64)
            .count();
    }
    Ok(correct as f32 / p.n as f32)
}

/// Gradient sign of the tempered cross-entropy with respect to the pattern rows `u` of the
/// images `idx`, through the transform `d`; also returns the loss (on the device).
#[allow(clippy::too_many_arguments)]
fn pattern_gradient_sign(
    p: &Problem<'_>,
    frozen: &Surrogate,
    ce: &CrossEntropyLoss,
    u: Tensor<4>,
    idx: &[usize],
    d: &Draw,
    device: &Device,
) -> Result<(Tensor<4>, Tensor<1>), MethodError> {
    let ad = device.clone().autodiff();
    let u = u.autodiff().require_grad();
    let xin = p.protected(idx, u.clone(), device, true);
    let logits = frozen.forward(transforms::apply(xin, d, &ad));
    let loss = ce.forward(tempered(logits), p.targets(idx, &ad));
    let grads = loss.backward();
    let g = u
        .grad(&grads)
        .ok_or_else(|| compute_err("no gradient for the pattern"))?;
    Ok((g.sign(), loss.inner().detach()))
}

/// Run the optimisation.
// Burn's `slice` takes one range per leading dimension; a one-element array is intended.
#[allow(clippy::single_range_in_vec_init)]
pub fn run(
    set: &TrainingSet,
    r: &ResolvedShield,
    ctx: &MethodContext<'_>,
) -> Result<Fitted, MethodError> {
    let started = Instant::now();
    let device = ctx.device.device.clone();
    let ad = device.clone().autodiff();
    let n = set.images.len();
    let s = set.images[0].width as usize;
    let k = set.num_classes;
    let x: Vec<f32> = set
        .images
        .iter()
        .flat_map(|p| p.data.iter().copied())
        .collect();
    let m: Vec<f32> = set
        .budgets
        .iter()
        .flat_map(|b| b.iter().map(|v| v / 255.0))
        .collect();
    if m.len() != n * s * s {
        return Err(compute_err("budget maps do not match the working copies"));
    }
    let p = Problem {
        x: Tensor::from_data(TensorData::new(x, [n, 3, s, s]), &device),
        m: Tensor::from_data(TensorData::new(m, [n, 1, s, s]), &device),
        labels: &set.labels,
        n,
    };
    let t = &r.train;
    let mut u = Tensor::<4>::zeros([n, 1, s, s], &device);
    let batch = t.batch_size.min(n).max(1);
    let mut model = Surrogate::new(
        t.surrogate,
        k,
        derive_seed(ctx.seed, "shield-surrogate", 0),
        &ad,
    );
    let [lr, momentum, weight_decay, clip] = t.sgd;
    let mut optim = sgd(momentum, weight_decay as f32, clip as f32);
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let mut sampler = BatchSampler::new(n, derive_seed(ctx.seed, "shield-batches", 0));
    let mut rng = Rng::new(derive_seed(ctx.seed, "shield-transforms", 0));
    let mut eval_rng = Rng::new(derive_seed(ctx.seed, "shield-eval", 0));

    let (mut rounds, mut acc, mut reached) = (0, 0.0, false);
    for round in 1..=t.max_rounds {
        let round_start = Instant::now();
        // θ-steps: the surrogate learns t(x + δ) for fresh mini-batches and transforms.
        for _ in 0..t.theta_steps {
            if ctx.cancel.is_cancelled() {
                return Err(MethodError::Cancelled);
            }
            let idx = sampler.next_batch(batch);
            let d = transforms::draw(&r.transforms, idx.len(), s, &mut rng);
            let xin = p.protected(&idx, p.rows(&u, &idx, &device), &device, false);
            let xt = transforms::apply(xin, &d, &device);
            let loss = ce.forward(model.forward(xt.autodiff()), p.targets(&idx, &ad));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
        }

        // δ-steps with the surrogate frozen; each step draws its own transforms.
        let frozen = model.clone().freeze();
        let mut loss_sum = Tensor::<1>::zeros([1], &device);
        let mut loss_count = 0usize;
        for start in (0..n).step_by(batch) {
            let idx: Vec<usize> = (start..(start + batch).min(n)).collect();
            let mut ub = u.clone().slice([start..start + idx.len()]);
            for _ in 0..t.steps {
                if ctx.cancel.is_cancelled() {
                    return Err(MethodError::Cancelled);
                }
                let d = transforms::draw(&r.transforms, idx.len(), s, &mut rng);
                let (sign, l) =
                    pattern_gradient_sign(&p, &frozen, &ce, ub.clone(), &idx, &d, &device)?;
                loss_sum = loss_sum + l;
                loss_count += 1;
                ub = (ub - sign * t.step_size).clamp(-1.0, 1.0);
            }
            u = u.slice_assign([start..start + idx.len()], ub);
        }

        acc = transformed_accuracy(&p, &model, &u, r, &mut eval_rng, &device)?;
        rounds = round;
        let mean_loss =
            to_vec(loss_sum)?.first().copied().unwrap_or(0.0) / loss_count.max(1) as f32;
        let secs = round_start.elapsed().as_secs_f64();
        ctx.events.emit(ProgressEvent::Round {
            round,
            max_rounds: t.max_rounds,
            images: n,
            accuracy: acc,
            loss: mean_loss,
            eta_seconds: secs * f64::from(t.max_rounds - round),
        });
        if acc >= t.stop_accuracy {
            reached = true;
            break;
        }
    }

    let values = to_vec(u.reshape([n * s * s]))?;
    let plane = s * s;
    let deltas = (0..n)
        .map(|i| {
            let one = &values[i * plane..(i + 1) * plane];
            Planar {
                width: s as u32,
                height: s as u32,
                data: [one, one, one].concat(),
            }
        })
        .collect();
    Ok(Fitted {
        deltas,
        report: FitReport {
            rounds,
            final_accuracy: acc,
            reached_target: reached,
            seconds: started.elapsed().as_secs_f64(),
            settings: serde_json::to_value(r).unwrap_or_default(),
        },
    })
}
