//! The min-min loop on tensors.
//!
//! Shapes: `n` images, `k` classes, square side `s`. Clean images `x: [n, 3, s, s]` live on the
//! plain device; perturbations `δ: [n, 3, s, s]` (sample-wise) or `[k, 3, s, s]` (class-wise).
//! The surrogate lives on the autodiff device.

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::config::ResolvedEm;
use crate::error::MethodError;
use crate::model::Surrogate;
use crate::progress::ProgressEvent;
use crate::protect::tensor::{correct_on_device, read_scalar, rows_to_planars, tempered};
use crate::protect::{FitReport, Fitted, MethodContext, TrainingSet};
use crate::rng::{BatchSampler, Rng, derive_seed};

use super::objective::{Objective, adversarial_offset, apply_crop_flip, crop_flip_draw, csd};
use crate::train::{Learner, Optimizer};

fn compute_err(method: &'static str, e: impl std::fmt::Debug) -> MethodError {
    MethodError::Compute {
        method,
        message: format!("{e:?}"),
    }
}

struct Problem<'a> {
    x: Tensor<4>,
    labels: &'a [usize],
    n: usize,
    classwise: bool,
    method: &'static str,
}

impl Problem<'_> {
    fn int_tensor(&self, values: &[usize], device: &Device) -> Tensor<1, Int> {
        let v: Vec<i64> = values.iter().map(|&i| i as i64).collect();
        Tensor::from_data(TensorData::new(v, [values.len()]), device)
    }

    /// δ rows for the images `idx`: `[len, 3, s, s]`.
    fn delta_for(&self, delta: &Tensor<4>, idx: &[usize], device: &Device) -> Tensor<4> {
        let rows: Vec<usize> = if self.classwise {
            idx.iter().map(|&i| self.labels[i]).collect()
        } else {
            idx.to_vec()
        };
        delta.clone().select(0, self.int_tensor(&rows, device))
    }

    fn x_for(&self, idx: &[usize], device: &Device) -> Tensor<4> {
        self.x.clone().select(0, self.int_tensor(idx, device))
    }
}

/// Accuracy of `model` (validation mode, plain device) on x+δ, counted on the device and
/// read once.
fn accuracy(
    p: &Problem<'_>,
    model: &Surrogate,
    delta: &Tensor<4>,
    batch: usize,
    device: &Device,
) -> Result<f32, MethodError> {
    let valid = model.valid();
    let mut correct = Tensor::<1>::zeros([1], device);
    for start in (0..p.n).step_by(batch) {
        let idx: Vec<usize> = (start..(start + batch).min(p.n)).collect();
        let xin = (p.x_for(&idx, device) + p.delta_for(delta, &idx, device)).clamp(0.0, 1.0);
        let targets = p.int_tensor(
            &idx.iter().map(|&i| p.labels[i]).collect::<Vec<_>>(),
            device,
        );
        correct = correct + correct_on_device(valid.forward(xin), targets);
    }
    Ok(read_scalar(correct, p.method)? / p.n as f32)
}

/// One signed-gradient step from `x + δ` for the images `idx`; returns the sign of ∇ₓ of the
/// δ-loss ([`objective_loss`]: for plain EM the cross-entropy of tempered logits, [`tempered`])
/// and that loss, both left on the device.
#[allow(clippy::too_many_arguments)]
fn input_gradient_sign(
    p: &Problem<'_>,
    frozen: &Surrogate,
    ce: &CrossEntropyLoss,
    xin: Tensor<4>,
    xb: &Tensor<4>,
    idx: &[usize],
    obj: &Objective,
    rng: &mut Rng,
    ad: &Device,
) -> Result<(Tensor<4>, Tensor<1>), MethodError> {
    let xin = xin.autodiff().require_grad();
    let targets = p.int_tensor(&idx.iter().map(|&i| p.labels[i]).collect::<Vec<_>>(), ad);
    let loss = objective_loss(p, frozen, ce, xin.clone(), xb, idx, targets, obj, rng)?;
    let grads = loss.backward();
    let g = xin
        .grad(&grads)
        .ok_or_else(|| compute_err(p.method, "no gradient for the input"))?;
    Ok((g.sign(), loss.inner().detach()))
}

/// The δ-loss at `xin` (autodiff leaf): CE(f(xin)) of tempered logits for plain EM; for robust
/// EM the mean over J crop/flip draws t of CE(f(t(xin) + ρ*)) with ρ* the adversary's worst
/// offset at t(xin) (used as a constant, as in Danskin's theorem); for TUE plus
/// λ·CSD(xin − x) over the batch's labels.
#[allow(clippy::too_many_arguments)]
fn objective_loss(
    p: &Problem<'_>,
    frozen: &Surrogate,
    ce: &CrossEntropyLoss,
    xin: Tensor<4>,
    xb: &Tensor<4>,
    idx: &[usize],
    targets: Tensor<1, Int>,
    obj: &Objective,
    rng: &mut Rng,
) -> Result<Tensor<1>, MethodError> {
    let ad = xin.device();
    let mut loss = match &obj.robust {
        Some(robust) => {
            let [b, _, s, _] = xin.dims();
            let mut sum: Option<Tensor<1>> = None;
            for _ in 0..robust.eot_samples {
                let draw = crop_flip_draw(b, s, robust.crop_pad, robust.flip, rng, &ad);
                let z = apply_crop_flip(xin.clone(), &draw);
                let offset = adversarial_offset(
                    frozen,
                    ce,
                    z.clone().inner().detach(),
                    targets.clone(),
                    robust,
                    rng,
                    p.method,
                )?;
                let l = ce.forward(
                    tempered(frozen.forward(z + offset.autodiff())),
                    targets.clone(),
                );
                sum = Some(match sum {
                    Some(acc) => acc + l,
                    None => l,
                });
            }
            sum.map(|l| l.div_scalar(robust.eot_samples as f32))
                .ok_or_else(|| compute_err(p.method, "no EOT samples"))?
        }
        None => ce.forward(tempered(frozen.forward(xin.clone())), targets),
    };
    if obj.csd_weight > 0.0 {
        let labels: Vec<usize> = idx.iter().map(|&i| p.labels[i]).collect();
        let d = (xin - xb.clone().autodiff()).flatten::<2>(1, 3);
        if let Some(c) = csd(d, &labels) {
            loss = loss + c.mul_scalar(obj.csd_weight);
        }
    }
    Ok(loss)
}

/// Run the min-min optimisation.
// Burn's `slice` takes one range per leading dimension; a one-element array is intended.
#[allow(clippy::single_range_in_vec_init)]
pub fn run(
    set: &TrainingSet,
    r: &ResolvedEm,
    classwise: bool,
    obj: &Objective,
    method: &'static str,
    ctx: &MethodContext<'_>,
) -> Result<Fitted, MethodError> {
    let started = Instant::now();
    let device = ctx.device.device.clone();
    let ad = device.clone().autodiff();
    let n = set.images.len();
    let s = set.images[0].width as usize;
    let k = set.num_classes;
    let data: Vec<f32> = set
        .images
        .iter()
        .flat_map(|p| p.data.iter().copied())
        .collect();
    let p = Problem {
        x: Tensor::from_data(TensorData::new(data, [n, 3, s, s]), &device),
        labels: &set.labels,
        n,
        classwise,
        method,
    };
    let rows = if classwise { k } else { n };
    let (eps, alpha) = (r.epsilon, r.step_size);
    let mut rng = Rng::new(derive_seed(ctx.seed, "em-objective", 0));
    let mut delta = if obj.random_start {
        let start: Vec<f32> = (0..rows * 3 * s * s)
            .map(|_| rng.uniform(-eps, eps))
            .collect();
        Tensor::from_data(TensorData::new(start, [rows, 3, s, s]), &device)
    } else {
        Tensor::<4>::zeros([rows, 3, s, s], &device)
    };
    let batch = r.batch_size.min(n).max(1);

    let [lr, momentum, weight_decay, clip] = r.sgd;
    let mut learner = Learner::new(
        r.surrogate,
        k,
        derive_seed(ctx.seed, "em-surrogate", 0),
        Optimizer::Sgd,
        [momentum, weight_decay, clip],
        &ad,
    );
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let mut sampler = BatchSampler::new(n, derive_seed(ctx.seed, "em-batches", 0));

    let mut rounds = 0;
    let mut acc = 0.0;
    let mut reached = false;
    for round in 1..=r.max_rounds {
        let round_start = Instant::now();
        // θ-steps: train the surrogate on x+δ (no augmentation), fresh mini-batches.
        for _ in 0..r.theta_steps {
            if ctx.cancel.is_cancelled() {
                return Err(MethodError::Cancelled);
            }
            let idx = sampler.next_batch(batch);
            let mut xin =
                (p.x_for(&idx, &device) + p.delta_for(&delta, &idx, &device)).clamp(0.0, 1.0);
            let targets = p.int_tensor(&idx.iter().map(|&i| p.labels[i]).collect::<Vec<_>>(), &ad);
            if let Some(robust) = &obj.robust {
                // Robust EM trains the surrogate adversarially, on random crops and flips.
                let draw = crop_flip_draw(
                    idx.len(),
                    s,
                    robust.crop_pad,
                    robust.flip,
                    &mut rng,
                    &device,
                );
                let z = apply_crop_flip(xin, &draw);
                let offset = adversarial_offset(
                    &learner.model,
                    learner.criterion(),
                    z.clone(),
                    targets.clone(),
                    robust,
                    &mut rng,
                    method,
                )?;
                xin = z + offset;
            }
            (learner, _) = learner.fit_batch(xin.autodiff(), targets, lr);
        }

        // δ-steps with the surrogate frozen (batch-norm statistics fixed, no weight gradients).
        let frozen = learner.model.clone().freeze();
        let mut step_sign = |xin: Tensor<4>, xb: &Tensor<4>, idx: &[usize]| {
            input_gradient_sign(&p, &frozen, &ce, xin, xb, idx, obj, &mut rng, &ad)
        };
        // Losses stay on the device and are read once per round (no host sync per step).
        let mut loss_sum = Tensor::<1>::zeros([1], &device);
        let mut loss_count = 0usize;
        if classwise {
            // Each step: every sample proposes δ_y − α·sign(∇), and each class takes the mean of
            // its samples' proposals (methods.md §1, class-wise), projected to the ε-ball.
            for _ in 0..r.steps {
                let mut sums = Tensor::<2>::zeros([k, 3 * s * s], &device);
                let mut counts = Tensor::<2>::zeros([k, 1], &device);
                for start in (0..n).step_by(batch) {
                    if ctx.cancel.is_cancelled() {
                        return Err(MethodError::Cancelled);
                    }
                    let idx: Vec<usize> = (start..(start + batch).min(n)).collect();
                    let xb = p.x_for(&idx, &device);
                    let xin = (xb.clone() + p.delta_for(&delta, &idx, &device)).clamp(0.0, 1.0);
                    let (sign, l) = step_sign(xin.clone(), &xb, &idx)?;
                    loss_sum = loss_sum + l;
                    loss_count += 1;
                    let eta = ((xin - sign * alpha).clamp(0.0, 1.0) - xb).clamp(-eps, eps);
                    let labels: Vec<usize> = idx.iter().map(|&i| p.labels[i]).collect();
                    let onehot = p.int_tensor(&labels, &device).one_hot::<2>(k).float(); // [B, k]
                    let eta = eta.reshape([idx.len(), 3 * s * s]);
                    sums = sums + onehot.clone().transpose().matmul(eta); // [k, 3ss]
                    counts = counts + onehot.sum_dim(0).transpose(); // [k, 1]
                }
                let mean = sums / counts.clamp_min(1.0);
                delta = mean.clamp(-eps, eps).reshape([k, 3, s, s]);
            }
        } else {
            for start in (0..n).step_by(batch) {
                let idx: Vec<usize> = (start..(start + batch).min(n)).collect();
                let xb = p.x_for(&idx, &device);
                let mut db = delta.clone().slice([start..start + idx.len()]);
                for _ in 0..r.steps {
                    if ctx.cancel.is_cancelled() {
                        return Err(MethodError::Cancelled);
                    }
                    let xin = (xb.clone() + db).clamp(0.0, 1.0);
                    let (sign, l) = step_sign(xin.clone(), &xb, &idx)?;
                    loss_sum = loss_sum + l;
                    loss_count += 1;
                    // x' ← clip(x+δ) − α·sign(∇); δ ← clip(x' − x, −ε, ε)
                    db = (xin - sign * alpha - xb.clone()).clamp(-eps, eps);
                }
                delta = delta.slice_assign([start..start + idx.len()], db);
            }
        }

        acc = accuracy(&p, &learner.model, &delta, batch, &device)?;
        rounds = round;
        let loss = read_scalar(loss_sum, method)? / loss_count.max(1) as f32;
        ctx.events.emit(ProgressEvent::round(
            round,
            r.max_rounds,
            n,
            acc,
            loss,
            round_start,
        ));
        if acc >= r.stop_accuracy {
            reached = true;
            break;
        }
    }

    let deltas = rows_to_planars(
        delta,
        n,
        |i| if classwise { p.labels[i] } else { i },
        method,
    )?;
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
