//! The min-min loop of `shield` on tensors.
//!
//! Shapes: `n` images, `k` classes, square side `s`. Clean copies `x: [n, 3, s, s]` and budget
//! maps `m: [n, 1, s, s]` (fraction of full scale) live on the plain device; the luma pattern
//! of image `i` is `clip(u_i + c_{y_i}, −1, 1)` with a per-image part `u: [n, 1, s, s]` in
//! `[-1, 1]` and, when `class_share > 0`, a part shared by its class `c: [k, 1, t, t]` in
//! `[−class_share, class_share]`, tiled over the photo when `t < s` (`class_tile`); `δ = m·pattern` on all three channels. The surrogate lives on
//! the autodiff device and always sees transformed images `t(x + δ)`, `t` drawn per step.

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::prelude::*;
use burn::tensor::TensorData;

use super::transforms::{self, Draw};
use crate::config::ResolvedShield;
use crate::error::MethodError;
use crate::imaging::Planar;
use crate::model::Surrogate;
use crate::progress::ProgressEvent;
use crate::protect::tensor::{correct_on_device, read_scalar, read_values, tempered};
use crate::protect::{FitReport, Fitted, MethodContext, TrainingSet};
use crate::rng::{BatchSampler, Rng, derive_seed};
use crate::train::{Learner, Optimizer};

const METHOD: &str = "shield";

fn compute_err(e: impl std::fmt::Debug) -> MethodError {
    MethodError::Compute {
        method: METHOD,
        message: format!("{e:?}"),
    }
}

struct Problem<'a> {
    x: Tensor<4>,
    m: Tensor<4>,
    labels: &'a [usize],
    n: usize,
    /// Side of the working copies.
    side: usize,
    /// `[t, g]` matrix enlarging a coarse `g × g` class grid to its `t × t` tile, if any.
    grid_up: Option<(Vec<f32>, [usize; 2])>,
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

    /// The images' patterns from their own rows `u: [B, 1, s, s]` and the class parts `c`
    /// (on the same device as `u`).
    fn pattern(&self, idx: &[usize], u: Tensor<4>, c: Option<Tensor<4>>) -> Tensor<4> {
        match c {
            None => u,
            Some(c) => {
                let device = u.device();
                let c = self.tiled(c.select(0, self.targets(idx, &device)));
                (u + c).clamp(-1.0, 1.0)
            }
        }
    }

    /// Class parts `[B, 1, g, g]` enlarged to their tile `[B, 1, t, t]` (when on a coarse
    /// grid) and repeated over the working side (unchanged when `t` is it).
    fn tiled(&self, c: Tensor<4>) -> Tensor<4> {
        let c = match &self.grid_up {
            Some((m, [t, g])) => {
                let u =
                    Tensor::<4>::from_data(TensorData::new(m.clone(), [1, 1, *t, *g]), &c.device());
                u.clone().matmul(c).matmul(u.swap_dims(2, 3))
            }
            None => c,
        };
        let t = c.dims()[2];
        if t >= self.side {
            return c;
        }
        let reps = self.side.div_ceil(t);
        let b = c.dims()[0];
        c.repeat_dim(2, reps)
            .repeat_dim(3, reps)
            .slice([0..b, 0..1, 0..self.side, 0..self.side])
    }

    /// `clip(x + m·pattern)` for the images `idx`; `x` and `m` are taken on the plain `device`
    /// and moved to the pattern's autodiff graph when `tracked`.
    fn protected(
        &self,
        idx: &[usize],
        pattern: Tensor<4>,
        device: &Device,
        tracked: bool,
    ) -> Tensor<4> {
        let (mut x, mut m) = (
            self.rows(&self.x, idx, device),
            self.rows(&self.m, idx, device),
        );
        if tracked {
            (x, m) = (x.autodiff(), m.autodiff());
        }
        (x + (m * pattern).repeat_dim(1, 3)).clamp(0.0, 1.0)
    }
}

/// Surrogate accuracy on `t(x + δ)`, one transform draw per batch: the stop rule.
fn transformed_accuracy(
    p: &Problem<'_>,
    model: &Surrogate,
    (u, c): (&Tensor<4>, Option<&Tensor<4>>),
    r: &ResolvedShield,
    rng: &mut Rng,
    device: &Device,
) -> Result<f32, MethodError> {
    let valid = model.valid();
    let batch = r.train.batch_size.min(p.n).max(1);
    let side = p.x.dims()[2];
    let out = transforms::output_side(side, r.surrogate_size as usize);
    let mut correct = Tensor::<1>::zeros([1], device);
    for start in (0..p.n).step_by(batch) {
        let idx: Vec<usize> = (start..(start + batch).min(p.n)).collect();
        let d = transforms::draw(&r.transforms, idx.len(), side, out, rng);
        let pattern = p.pattern(&idx, p.rows(u, &idx, device), c.cloned());
        let xin = p.protected(&idx, pattern, device, false);
        let logits = valid.forward(transforms::apply(xin, &d, device));
        correct = correct + correct_on_device(logits, p.targets(&idx, device));
    }
    Ok(read_scalar(correct, METHOD)? / p.n as f32)
}

/// Gradient signs of the tempered cross-entropy with respect to the pattern rows `u` of the
/// images `idx` and to the class parts `c` (zero for classes not in the batch), through the
/// transform `d`; also returns the loss (on the device).
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn pattern_gradient_sign(
    p: &Problem<'_>,
    frozen: &Surrogate,
    ce: &CrossEntropyLoss,
    (u, c): (Tensor<4>, Option<Tensor<4>>),
    idx: &[usize],
    d: &Draw,
    device: &Device,
) -> Result<(Tensor<4>, Option<Tensor<4>>, Tensor<1>), MethodError> {
    let ad = device.clone().autodiff();
    let u = u.autodiff().require_grad();
    let c = c.map(|c| c.autodiff().require_grad());
    let xin = p.protected(idx, p.pattern(idx, u.clone(), c.clone()), device, true);
    let logits = frozen.forward(transforms::apply(xin, d, &ad));
    let loss = ce.forward(tempered(logits), p.targets(idx, &ad));
    let grads = loss.backward();
    let missing = || compute_err("no gradient for the pattern");
    let gu = u.grad(&grads).ok_or_else(missing)?;
    let gc = match c {
        Some(c) => Some(c.grad(&grads).ok_or_else(missing)?.sign()),
        None => None,
    };
    Ok((gu.sign(), gc, loss.inner().detach()))
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
        side: s,
        grid_up: None,
    };
    let t = &r.train;
    let out = transforms::output_side(s, r.surrogate_size as usize);
    let mut u = Tensor::<4>::zeros([n, 1, s, s], &device);
    let share = r.class_share;
    let tile = match r.class_tile as usize {
        0 => s,
        t => t.min(s),
    };
    let grid = match r.class_grid as usize {
        0 => tile,
        g => g.min(tile),
    };
    let p = Problem {
        grid_up: (grid < tile).then(|| {
            let m = crate::imaging::resample::resample_matrix(tile, grid, 0.0, grid as f32);
            (m, [tile, grid])
        }),
        ..p
    };
    let mut c = (share > 0.0).then(|| {
        if r.class_random_init {
            let mut init = Rng::new(derive_seed(ctx.seed, "shield-class-init", 0));
            let v: Vec<f32> = (0..k * grid * grid)
                .map(|_| if init.next_f32() < 0.5 { -share } else { share })
                .collect();
            Tensor::<4>::from_data(TensorData::new(v, [k, 1, grid, grid]), &device)
        } else {
            Tensor::<4>::zeros([k, 1, grid, grid], &device)
        }
    });
    let batch = t.batch_size.min(n).max(1);
    let [lr, momentum, weight_decay, clip] = t.sgd;
    let mut learner = Learner::new(
        t.surrogate,
        k,
        derive_seed(ctx.seed, "shield-surrogate", 0),
        Optimizer::Sgd,
        [momentum, weight_decay, clip],
        &ad,
    );
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
            let d = transforms::draw(&r.transforms, idx.len(), s, out, &mut rng);
            let pattern = p.pattern(&idx, p.rows(&u, &idx, &device), c.clone());
            let xin = p.protected(&idx, pattern, &device, false);
            let xt = transforms::apply(xin, &d, &device);
            (learner, _) = learner.fit_batch(xt.autodiff(), p.targets(&idx, &ad), lr);
        }

        // δ-steps with the surrogate frozen; each step draws its own transforms.
        let frozen = learner.model.clone().freeze();
        let mut loss_sum = Tensor::<1>::zeros([1], &device);
        let mut loss_count = 0usize;
        for start in (0..n).step_by(batch) {
            let idx: Vec<usize> = (start..(start + batch).min(n)).collect();
            let mut ub = u.clone().slice([start..start + idx.len()]);
            for _ in 0..t.steps {
                if ctx.cancel.is_cancelled() {
                    return Err(MethodError::Cancelled);
                }
                let d = transforms::draw(&r.transforms, idx.len(), s, out, &mut rng);
                let (sign, class_sign, l) = pattern_gradient_sign(
                    &p,
                    &frozen,
                    &ce,
                    (ub.clone(), c.clone()),
                    &idx,
                    &d,
                    &device,
                )?;
                loss_sum = loss_sum + l;
                loss_count += 1;
                ub = (ub - sign * t.step_size).clamp(-r.photo_share, r.photo_share);
                if let (Some(cv), Some(g)) = (c.take(), class_sign) {
                    c = Some((cv - g * t.step_size).clamp(-share, share));
                }
            }
            u = u.slice_assign([start..start + idx.len()], ub);
        }

        acc = transformed_accuracy(
            &p,
            &learner.model,
            (&u, c.as_ref()),
            r,
            &mut eval_rng,
            &device,
        )?;
        rounds = round;
        let mean_loss = read_scalar(loss_sum, METHOD)? / loss_count.max(1) as f32;
        ctx.events.emit(ProgressEvent::round(
            round,
            t.max_rounds,
            n,
            acc,
            mean_loss,
            round_start,
        ));
        if acc >= t.stop_accuracy {
            reached = true;
            break;
        }
    }

    let all: Vec<usize> = (0..n).collect();
    let values = read_values(p.pattern(&all, u, c).reshape([n * s * s]), METHOD)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::CancelToken;
    use crate::config::{Quality, ShieldConfig};
    use crate::device::{ComputeDevice, DeviceChoice};
    use crate::progress::NullSink;

    fn fit(class_share: f32) -> (Vec<Planar>, Vec<usize>) {
        fit_with(ShieldConfig {
            class_share,
            ..ShieldConfig::default()
        })
    }

    fn fit_with(mut cfg: ShieldConfig) -> (Vec<Planar>, Vec<usize>) {
        let mut rng = Rng::new(11);
        let n = 8;
        let images: Vec<Planar> = (0..n)
            .map(|_| {
                let mut p = Planar::zeros(32, 32);
                p.data.iter_mut().for_each(|v| *v = rng.next_f32());
                p
            })
            .collect();
        let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
        let set = TrainingSet {
            images,
            labels: labels.clone(),
            num_classes: 2,
            budgets: vec![vec![8.0; 32 * 32]; n],
        };
        cfg.train.quality = Quality::Fast;
        cfg.train.max_rounds = Some(1);
        let device = ComputeDevice::select(DeviceChoice::Cpu).unwrap();
        let cancel = CancelToken::new();
        let ctx = MethodContext {
            device: &device,
            cancel: &cancel,
            seed: 3,
            epsilon: 8.0 / 255.0,
            num_classes: 2,
            events: &NullSink,
        };
        let r = cfg.resolve(device.backend, 8.0 / 255.0);
        (run(&set, &r, &ctx).unwrap().deltas, labels)
    }

    /// Mean product of two patterns' luma planes (1 = identical saturated patterns).
    fn agreement(a: &Planar, b: &Planar) -> f32 {
        let n = a.plane_len();
        a.data[..n]
            .iter()
            .zip(&b.data[..n])
            .map(|(x, y)| x * y)
            .sum::<f32>()
            / n as f32
    }

    #[test]
    fn without_a_photo_share_every_photo_of_a_group_gets_the_same_pattern() {
        let (d, labels) = fit_with(ShieldConfig {
            class_share: 1.0,
            photo_share: 0.0,
            class_tile: 8,
            ..ShieldConfig::default()
        });
        for i in 0..d.len() {
            for j in 0..d.len() {
                if labels[i] == labels[j] {
                    assert_eq!(d[i].data, d[j].data);
                }
            }
        }
        assert!(
            d[0].data.iter().any(|v| v.abs() > 0.1),
            "the group pattern moved"
        );
        assert_ne!(d[0].data, d[1].data, "groups differ");
    }

    #[test]
    fn a_tiled_shared_part_repeats_and_a_coarse_grid_is_enlarged_smoothly() {
        let device = ComputeDevice::select(DeviceChoice::Cpu).unwrap().device;
        let labels = [0usize];
        let problem = |grid_up| Problem {
            x: Tensor::zeros([1, 3, 20, 20], &device),
            m: Tensor::zeros([1, 1, 20, 20], &device),
            labels: &labels,
            n: 1,
            side: 20,
            grid_up,
        };
        let values = |t: Tensor<4>| read_values(t, METHOD).unwrap();
        // An 8×8 tile over a 20×20 photo: every pixel equals the one 8 px to its left/above.
        let tile: Vec<f32> = (0..64).map(|i| i as f32).collect();
        let c = Tensor::<4>::from_data(TensorData::new(tile, [1, 1, 8, 8]), &device);
        let out = values(problem(None).tiled(c));
        assert_eq!(out.len(), 400);
        for y in 0..20 {
            for x in 8..20 {
                assert_eq!(out[y * 20 + x], out[y * 20 + x - 8]);
                assert_eq!(out[x * 20 + y], out[(x - 8) * 20 + y]);
            }
        }
        // A 2×2 grid enlarged to the 8×8 tile: values between the grid's, changing gradually.
        let m = crate::imaging::resample::resample_matrix(8, 2, 0.0, 2.0);
        let c = Tensor::<4>::from_data(
            TensorData::new(vec![-1.0, 1.0, -1.0, 1.0], [1, 1, 2, 2]),
            &device,
        );
        let out = values(problem(Some((m, [8, 2]))).tiled(c));
        let row: Vec<f32> = out[..8].to_vec();
        assert!(row.windows(2).all(|w| w[1] >= w[0] - 1e-6), "{row:?}");
        assert!(row[0] < -0.9 && row[7] > 0.9, "{row:?}");
        assert!(row.iter().all(|v| v.abs() <= 1.0 + 1e-6));
    }

    #[test]
    fn the_shared_part_makes_a_groups_patterns_alike() {
        let same_vs_other = |d: &[Planar], labels: &[usize]| {
            let (mut same, mut other) = (Vec::new(), Vec::new());
            for i in 0..d.len() {
                for j in i + 1..d.len() {
                    let a = agreement(&d[i], &d[j]);
                    if labels[i] == labels[j] {
                        same.push(a)
                    } else {
                        other.push(a)
                    }
                }
            }
            let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
            (mean(&same), mean(&other))
        };
        let (d, labels) = fit(0.5);
        assert!(d.iter().all(|p| p.linf() <= 1.0 + 1e-6));
        let (same, other) = same_vs_other(&d, &labels);
        assert!(same > other + 0.1, "shared: same {same} other {other}");
        let (d, labels) = fit(0.0);
        let (same0, _) = same_vs_other(&d, &labels);
        assert!(same > same0 + 0.1, "per photo only: same {same0}");
    }
}
