//! TUE's min-min with a contrastive surrogate (`methods.md` §5): θ-steps train a SimCLR network
//! without labels on two random views of x+δ; δ-steps take signed-gradient descent steps on
//! λ_ssl·NT-Xent(views of x+δ) + λ_csd·CSD(δ), so the noise becomes what makes each photo's two
//! views easy to match (a shortcut for contrastive learners) and separable by group. With
//! `luma_only` the three channels move together (no colour cast: matching views through crops
//! otherwise favours low-frequency colour signatures).
//!
//! Shapes: `n` photos, square side `s`. Clean images `x: [n, 3, s, s]` and sample-wise
//! `δ: [n, 3, s, s]` live on the plain device; the network and the views on the autodiff device.
//! Losses and the matching accuracy stay on the device and are read once per round.

use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::TensorData;

use super::views::TensorViews;
use crate::config::ResolvedTue;
use crate::error::MethodError;
use crate::model::{SimClr, nt_xent, unit_rows};
use crate::progress::ProgressEvent;
use crate::protect::em::csd;
use crate::protect::tensor::{read_scalar, rows_to_planars};
use crate::protect::{FitReport, Fitted, MethodContext, TrainingSet};
use crate::rng::{BatchSampler, Rng, derive_seed};
use crate::train::Optimizer;

/// Width of the projection head's output.
const PROJECTION_DIM: usize = 128;

fn rows(x: &Tensor<4>, idx: &[usize], device: &Device) -> Tensor<4> {
    let v: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    x.clone().select(
        0,
        Tensor::from_data(TensorData::new(v, [idx.len()]), device),
    )
}

/// Projections of two fresh views of each image of `xin: [B, 3, s, s]` (autodiff device):
/// rows `0..B` the first views, `B..2B` the second.
fn two_views(
    model: &SimClr,
    xin: Tensor<4>,
    r: &ResolvedTue,
    rng: &mut Rng,
    ad: &Device,
) -> Tensor<2> {
    let [b, _, s, _] = xin.dims();
    let first = TensorViews::draw(b, s, &r.views, rng, ad).apply(xin.clone());
    let second = TensorViews::draw(b, s, &r.views, rng, ad).apply(xin);
    model.project(Tensor::cat(vec![first, second], 0))
}

/// How many rows of `z: [2B, P]` find their partner view as their most similar other row.
fn matched_on_device(z: Tensor<2>) -> Tensor<1> {
    let [rows, _] = z.dims();
    let device = z.device();
    let z = unit_rows(z);
    let sim = z.clone().matmul(z.transpose()) - Tensor::<2>::eye(rows, &device).mul_scalar(1e9);
    let partner: Vec<i64> = (0..rows).map(|i| ((i + rows / 2) % rows) as i64).collect();
    let partner = Tensor::<1, Int>::from_data(TensorData::new(partner, [rows]), &device);
    sim.argmax(1)
        .flatten::<1>(0, 1)
        .equal(partner)
        .float()
        .sum()
}

/// Run the min-min optimisation with the contrastive surrogate (sample-wise noise, random
/// start in ±ε). The round's "accuracy" is the share of views whose partner view is their
/// nearest neighbour within a batch (SimCLR's own task), and the stop rule reads it.
// Burn's `slice` takes one range per leading dimension; a one-element array is intended.
#[allow(clippy::single_range_in_vec_init)]
pub fn run(
    set: &TrainingSet,
    r: &ResolvedTue,
    method: &'static str,
    ctx: &MethodContext<'_>,
) -> Result<Fitted, MethodError> {
    let started = Instant::now();
    let t = &r.train;
    let device = ctx.device.device.clone();
    let ad = device.clone().autodiff();
    let n = set.images.len();
    let s = set.images[0].width as usize;
    let data: Vec<f32> = set
        .images
        .iter()
        .flat_map(|p| p.data.iter().copied())
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(data, [n, 3, s, s]), &device);
    let (eps, alpha) = (t.epsilon, t.step_size);
    let mut rng = Rng::new(derive_seed(ctx.seed, "tue-contrastive", 0));
    // Luma-only noise moves the three channels together: one plane per photo.
    let planes = if r.luma_only { 1 } else { 3 };
    let start: Vec<f32> = (0..n * planes * s * s)
        .map(|_| rng.uniform(-eps, eps))
        .collect();
    let mut delta = Tensor::<4>::from_data(TensorData::new(start, [n, planes, s, s]), &device)
        .repeat_dim(1, 3 / planes);
    // Two photos at least per batch: a lone photo's views have no negatives.
    let batch = t.batch_size.min(n).max(2);
    let [lr, momentum, weight_decay, clip] = t.sgd;
    let seed = derive_seed(ctx.seed, "em-surrogate", 0);
    let mut model = SimClr::new(t.surrogate, PROJECTION_DIM, s, seed, &ad);
    let mut optim = Optimizer::Sgd.init([momentum, weight_decay, clip]);
    let mut sampler = BatchSampler::new(n, derive_seed(ctx.seed, "em-batches", 0));
    // Batches of the δ-steps: the last one borrows photos from the one before if it would hold
    // a single photo.
    let chunks: Vec<std::ops::Range<usize>> = (0..n)
        .step_by(batch)
        .map(|a| a..(a + batch).min(n))
        .collect();

    // With λ_ssl = 0 the δ-steps never read the surrogate: it is neither trained nor asked
    // to match views (the rounds then report no matching share, 0, and run to the limit).
    let trains_surrogate = r.ssl_weight > 0.0;
    let (mut rounds, mut acc, mut reached) = (0, 0.0, false);
    for round in 1..=t.max_rounds {
        let round_start = Instant::now();
        let theta_steps = if trains_surrogate { t.theta_steps } else { 0 };
        for _ in 0..theta_steps {
            if ctx.cancel.is_cancelled() {
                return Err(MethodError::Cancelled);
            }
            let idx = sampler.next_batch(batch);
            let xin = (rows(&x, &idx, &device) + rows(&delta, &idx, &device)).clamp(0.0, 1.0);
            let z = two_views(&model, xin.autodiff(), r, &mut rng, &ad);
            let loss = nt_xent(z, r.temperature);
            let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
        }

        let frozen = model.clone().freeze();
        let mut loss_sum = Tensor::<1>::zeros([1], &device);
        let mut matched = Tensor::<1>::zeros([1], &device);
        let mut loss_count = 0usize;
        for range in &chunks {
            let range = if range.len() < 2 {
                range.end.saturating_sub(2)..range.end
            } else {
                range.clone()
            };
            let idx: Vec<usize> = range.clone().collect();
            let labels: Vec<usize> = idx.iter().map(|&i| set.labels[i]).collect();
            let xb = x.clone().slice([range.clone()]);
            let mut db = delta.clone().slice([range.clone()]);
            for _ in 0..t.steps {
                if ctx.cancel.is_cancelled() {
                    return Err(MethodError::Cancelled);
                }
                let xin = (xb.clone() + db.clone()).clamp(0.0, 1.0);
                let leaf = xin.clone().autodiff().require_grad();
                let ssl = (r.ssl_weight > 0.0).then(|| {
                    let z = two_views(&frozen, leaf.clone(), r, &mut rng, &ad);
                    nt_xent(z, r.temperature).mul_scalar(r.ssl_weight)
                });
                let separability = (r.csd_weight > 0.0)
                    .then(|| {
                        let d = (leaf.clone() - xb.clone().autodiff()).flatten::<2>(1, 3);
                        csd(d, &labels).map(|c| c.mul_scalar(r.csd_weight))
                    })
                    .flatten();
                let loss = match (ssl, separability) {
                    (Some(a), Some(b)) => a + b,
                    (Some(a), None) | (None, Some(a)) => a,
                    // Nothing to minimise for this batch (one group, no contrastive term).
                    (None, None) => break,
                };
                let grads = loss.backward();
                let g = leaf.grad(&grads).ok_or_else(|| MethodError::Compute {
                    method,
                    message: "no gradient for the input".into(),
                })?;
                loss_sum = loss_sum + loss.inner().detach();
                loss_count += 1;
                // Luma-only: one step for the three channels, down the summed gradient.
                let g = if r.luma_only {
                    g.sum_dim(1).repeat_dim(1, 3)
                } else {
                    g
                };
                db = (xin - g.sign().mul_scalar(alpha) - xb.clone()).clamp(-eps, eps);
            }
            if trains_surrogate {
                let xin = (xb + db.clone()).clamp(0.0, 1.0).autodiff();
                let z = two_views(&frozen, xin, r, &mut rng, &ad);
                matched = matched + matched_on_device(z).inner();
            }
            delta = delta.slice_assign([range], db);
        }

        acc = read_scalar(matched, method)?
            / (2 * chunks.iter().map(|c| c.len().max(2)).sum::<usize>()) as f32;
        rounds = round;
        let loss = read_scalar(loss_sum, method)? / loss_count.max(1) as f32;
        ctx.events.emit(ProgressEvent::round(
            round,
            t.max_rounds,
            n,
            acc,
            loss,
            round_start,
        ));
        if acc >= t.stop_accuracy {
            reached = true;
            break;
        }
    }

    let deltas = rows_to_planars(delta, n, |i| i, method)?;
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
