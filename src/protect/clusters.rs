//! Unlearnable Clusters (Zhang et al., CVPR 2023; `methods.md` §4), label-agnostic: folders
//! are ignored, so an exploiter who relabels the photos meets the same shortcut.
//!
//! No pretrained encoder can be downloaded, so the features are our own:
//! 1. group the photos by look (k-means on colour layout, [`crate::labels`]);
//! 2. train the surrogate on those groups with random crops and flips (`theta_steps ×
//!    max_rounds` steps), so its penultimate features describe content rather than pixels;
//! 3. cluster the photos again, with k-means on those features: assignments `a_i`, centres μ_k;
//! 4. learn one universal perturbation δ_k per cluster, shared by every photo of cluster k,
//!    that pulls the features of *any* photo towards the next cluster's centre:
//!    minimise KL(softmax(μ_{(k+o) mod K}) ‖ softmax(h(t(x + δ_k)))) over mini-batches of all
//!    photos and crop/flip draws t, by signed steps of size α projected to the ε-ball
//!    (the paper trains a generator per cluster with a fixed input; optimising δ_k directly is
//!    the same search space without the generator's parameters).
//!
//! Shapes: `x: [n, 3, s, s]`, `δ: [K, 3, s, s]`; a step stacks B photos under all K
//! perturbations as one `[K·B, 3, s, s]` batch.

use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::{log_softmax, softmax};

use super::em::{apply_crop_flip, crop_flip_draw};
use super::tensor::{read_scalar, read_values};
use super::{AlbumProtector, FitReport, Fitted, MethodContext, MethodId, TrainingSet};
use crate::config::{ClustersConfig, ResolvedClusters};
use crate::device::ComputeDevice;
use crate::error::MethodError;
use crate::imaging::Planar;
use crate::labels::{kmeans, look_alike_groups};
use crate::model::Surrogate;
use crate::progress::ProgressEvent;
use crate::rng::{BatchSampler, Rng, derive_seed};
use crate::train::{Learner, Optimizer, batch_tensor, label_tensor};

const METHOD: &str = "clusters";

fn compute_err(e: impl std::fmt::Debug) -> MethodError {
    MethodError::Compute {
        method: METHOD,
        message: format!("{e:?}"),
    }
}

/// The label-agnostic cluster method.
#[derive(Clone, Debug)]
pub struct Clusters {
    cfg: ClustersConfig,
    epsilon: f32,
}

impl Clusters {
    /// A method with these settings and budget `epsilon` (fraction of full scale).
    pub fn new(cfg: ClustersConfig, epsilon: f32) -> Self {
        Self { cfg, epsilon }
    }
}

impl AlbumProtector for Clusters {
    fn id(&self) -> MethodId {
        MethodId::Clusters
    }

    fn working_size(&self, device: &ComputeDevice) -> u32 {
        self.cfg
            .train
            .resolve(device.backend, self.epsilon)
            .working_size
    }

    fn fit(&self, set: &TrainingSet, ctx: &MethodContext<'_>) -> Result<Fitted, MethodError> {
        // Folders are ignored: only the photo count matters (the method makes its own groups).
        if set.images.len() < 2 {
            return Err(MethodError::UnsuitableAlbum {
                method: METHOD,
                message: format!(
                    "it needs at least 2 readable photos to make clusters from, got {}; add photos",
                    set.images.len()
                ),
            });
        }
        let r = self.cfg.resolve(ctx.device.backend, self.epsilon);
        fit(set, &r, ctx)
    }
}

/// Penultimate features of every image, on the host (`[n][F]`), in validation mode: computed
/// batch by batch on the device, read back once.
fn all_features(
    model: &Surrogate,
    x: &Tensor<4>,
    delta_rows: Option<(&Tensor<4>, &[usize])>,
    batch: usize,
) -> Result<Vec<Vec<f32>>, MethodError> {
    let valid = model.valid();
    let n = x.dims()[0];
    let device = x.device();
    let mut parts = Vec::with_capacity(n.div_ceil(batch.max(1)));
    for start in (0..n).step_by(batch.max(1)) {
        let end = (start + batch).min(n);
        let mut xb = x.clone().narrow(0, start, end - start);
        if let Some((delta, rows)) = delta_rows {
            let idx: Vec<i64> = rows[start..end].iter().map(|&k| k as i64).collect();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [end - start]), &device);
            xb = (xb + delta.clone().select(0, idx)).clamp(0.0, 1.0);
        }
        parts.push(valid.features(xb));
    }
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let f = Tensor::cat(parts, 0);
    let d = f.dims()[1];
    let v = read_values(f, METHOD)?;
    Ok(v.chunks_exact(d.max(1)).map(<[f32]>::to_vec).collect())
}

fn nearest(f: &[f32], centres: &[Vec<f32>]) -> usize {
    let d = |c: &Vec<f32>| f.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum::<f32>();
    (0..centres.len())
        .min_by(|&a, &b| d(&centres[a]).total_cmp(&d(&centres[b])))
        .unwrap_or(0)
}

/// Steps 1–3: the look-alike groups, the surrogate trained on them, and the k-means clusters
/// of its standardised features — what the perturbations of step 4 are made against.
pub struct FeatureClusters {
    /// The surrogate whose features are clustered.
    pub model: Surrogate,
    /// Cluster of each photo, in `0..k`.
    pub assign: Vec<usize>,
    /// Number of clusters.
    pub k: usize,
    /// Cluster centres in standardised feature space, `[k][F]`.
    pub centres: Vec<Vec<f32>>,
    /// Photos per cluster.
    pub counts: Vec<usize>,
    /// Per-dimension mean of the clean features (standardisation).
    pub mean: Vec<f32>,
    /// Per-dimension spread of the clean features, floored (standardisation).
    pub sd: Vec<f32>,
    /// The album as one tensor `[n, 3, s, s]` and the random streams, where step 4 continues
    /// with them.
    x: Tensor<4>,
    rng: Rng,
    sampler: BatchSampler,
}

/// `(f − mean) / sd`, per dimension.
fn standardised(f: &[f32], mean: &[f32], sd: &[f32]) -> Vec<f32> {
    f.iter()
        .zip(mean.iter().zip(sd))
        .map(|(v, (m, s))| (v - m) / s)
        .collect()
}

/// Steps 1–3 of [`Clusters`] on `set` (its labels are not read).
pub fn feature_clusters(
    set: &TrainingSet,
    r: &ResolvedClusters,
    ctx: &MethodContext<'_>,
) -> Result<FeatureClusters, MethodError> {
    let t = &r.train;
    let device = ctx.device.device.clone();
    let ad = device.clone().autodiff();
    let n = set.images.len();
    let s = set.images.first().map_or(0, |p| p.width as usize);
    let all: Vec<usize> = (0..n).collect();
    let x = batch_tensor(&set.images, &all, &device);
    let batch = t.batch_size.min(n).max(1);
    let total_rounds = 2 * t.max_rounds;
    let mut rng = Rng::new(derive_seed(ctx.seed, "clusters", 0));
    let pad = s / 8; // the papers' 4 px at 32 px
    // 1–2. First groups by look; a surrogate learns them through crops and flips.
    let (groups, k) = look_alike_groups(&set.images, r.clusters, ctx.seed);
    let [lr, momentum, weight_decay, clip] = t.sgd;
    let mut learner = Learner::new(
        t.surrogate,
        k,
        derive_seed(ctx.seed, "clusters-surrogate", 0),
        Optimizer::Sgd,
        [momentum, weight_decay, clip],
        &ad,
    );
    let mut sampler = BatchSampler::new(n, derive_seed(ctx.seed, "clusters-batches", 0));
    for round in 1..=t.max_rounds {
        let round_start = Instant::now();
        let mut loss_sum = Tensor::<1>::zeros([1], &device);
        for _ in 0..t.theta_steps {
            if ctx.cancel.is_cancelled() {
                return Err(MethodError::Cancelled);
            }
            let idx = sampler.next_batch(batch);
            let draw = crop_flip_draw(idx.len(), s, pad, true, &mut rng, &ad);
            let xb = apply_crop_flip(batch_tensor(&set.images, &idx, &ad), &draw);
            let l;
            (learner, l) = learner.fit_batch(xb, label_tensor(&groups, &idx, &ad), lr);
            loss_sum = loss_sum + l;
        }
        let loss = read_scalar(loss_sum, METHOD)? / t.theta_steps.max(1) as f32;
        ctx.events.emit(ProgressEvent::round(
            round,
            total_rounds,
            n,
            0.0,
            loss,
            round_start,
        ));
    }
    let model = learner.model;

    // 3. Clusters of the surrogate's features, and their centres. Features are standardised
    // per dimension (clean mean and spread): a small network's raw features are small, and a
    // softmax over them would be nearly uniform, leaving the KL below nothing to pull on.
    let raw = all_features(&model, &x, None, batch)?;
    let dim = raw.first().map_or(0, Vec::len);
    let mut mean = vec![0f32; dim];
    for f in &raw {
        mean.iter_mut().zip(f).for_each(|(m, v)| *m += v / n as f32);
    }
    let mut sd = vec![0f32; dim];
    for f in &raw {
        sd.iter_mut()
            .zip(f.iter().zip(&mean))
            .for_each(|(s, (v, m))| *s += (v - m) * (v - m) / n as f32);
    }
    sd.iter_mut().for_each(|s| *s = s.sqrt());
    // Dimensions that barely vary (dead ReLUs) are not blown up into noise: their spread is
    // floored at a hundredth of the typical one.
    let floor = sd.iter().sum::<f32>() / dim.max(1) as f32 * 0.01 + 1e-6;
    sd.iter_mut().for_each(|s| *s = s.max(floor));
    let feats: Vec<Vec<f32>> = raw.iter().map(|f| standardised(f, &mean, &sd)).collect();
    let assign = kmeans(&feats, k, derive_seed(ctx.seed, "clusters-features", 0));
    let mut centres = vec![vec![0f32; dim]; k];
    let mut counts = vec![0usize; k];
    for (f, &a) in feats.iter().zip(&assign) {
        counts[a] += 1;
        centres[a].iter_mut().zip(f).for_each(|(c, v)| *c += v);
    }
    for (c, &m) in centres.iter_mut().zip(&counts) {
        c.iter_mut().for_each(|v| *v /= m.max(1) as f32);
    }
    Ok(FeatureClusters {
        model,
        assign,
        k,
        centres,
        counts,
        mean,
        sd,
        x,
        rng,
        sampler,
    })
}

fn fit(
    set: &TrainingSet,
    r: &ResolvedClusters,
    ctx: &MethodContext<'_>,
) -> Result<Fitted, MethodError> {
    let started = Instant::now();
    let t = &r.train;
    let device = ctx.device.device.clone();
    let ad = device.clone().autodiff();
    let n = set.images.len();
    let s = set.images[0].width as usize;
    let batch = t.batch_size.min(n).max(1);
    let total_rounds = 2 * t.max_rounds;
    let pad = s / 8; // the papers' 4 px at 32 px
    let FeatureClusters {
        model,
        assign,
        k,
        centres,
        counts,
        mean,
        sd,
        x,
        mut rng,
        mut sampler,
    } = feature_clusters(set, r, ctx)?;
    let dim = mean.len();
    let to_tensor = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, dim]), &ad);
    let (mean_t, sd_t) = (to_tensor(&mean), to_tensor(&sd));
    let target_of = |a: usize| (a + r.target_offset) % k;

    // 4. One perturbation per cluster, pulling any photo's features to the next centre.
    // Target distributions softmax(μ_{(k+o) mod K}) for the K perturbations: [K, F].
    let targets: Vec<f32> = (0..k).flat_map(|c| centres[target_of(c)].clone()).collect();
    let target_p = softmax(
        Tensor::<2>::from_data(TensorData::new(targets, [k, dim]), &ad),
        1,
    );
    let frozen = model.clone().freeze();
    let eps = t.epsilon;
    let per_step = (batch / k).max(8).min(n);
    let mut delta = Tensor::<4>::zeros([k, 3, s, s], &device);
    let mut fooled = 0.0;
    let mut rounds = 0;
    let mut reached = false;
    for round in 1..=t.max_rounds {
        let round_start = Instant::now();
        let mut loss_sum = Tensor::<1>::zeros([1], &device);
        for _ in 0..t.steps {
            if ctx.cancel.is_cancelled() {
                return Err(MethodError::Cancelled);
            }
            let idx = sampler.next_batch(per_step);
            let b = idx.len();
            let xb = batch_tensor(&set.images, &idx, &device); // [B, 3, s, s]
            let d = delta.clone().autodiff().require_grad(); // [K, 3, s, s]
            let stacked = (xb.autodiff().unsqueeze_dim::<5>(0) + d.clone().unsqueeze_dim::<5>(1))
                .clamp(0.0, 1.0)
                .reshape([k * b, 3, s, s]);
            let draw = crop_flip_draw(k * b, s, pad, true, &mut rng, &ad);
            let h =
                (frozen.features(apply_crop_flip(stacked, &draw)) - mean_t.clone()) / sd_t.clone(); // [K·B, F], standardised
            let logq = log_softmax(h, 1).reshape([k, b, dim]);
            let p = target_p.clone().unsqueeze_dim::<3>(1); // [K, 1, F]
            // KL(P‖Q) = Σ P log P − Σ P log Q; the first term is constant.
            let loss = (p * logq).sum_dim(2).mean().neg();
            let grads = loss.backward();
            let g = d
                .grad(&grads)
                .ok_or_else(|| compute_err("no gradient for δ"))?;
            delta = (delta - g.sign().mul_scalar(t.step_size)).clamp(-eps, eps);
            loss_sum = loss_sum + loss.inner().detach();
        }
        // Share of photos whose protected features lie nearest their target centre.
        let protected = all_features(&model, &x, Some((&delta, &assign)), batch)?;
        let hits = protected
            .iter()
            .zip(&assign)
            .filter(|(f, a)| nearest(&standardised(f, &mean, &sd), &centres) == target_of(**a))
            .count();
        fooled = hits as f32 / n as f32;
        rounds = round;
        let done = t.max_rounds + round;
        let loss = read_scalar(loss_sum, METHOD)? / t.steps.max(1) as f32;
        ctx.events.emit(ProgressEvent::round(
            done,
            total_rounds,
            n,
            fooled,
            loss,
            round_start,
        ));
        if fooled >= t.stop_accuracy {
            reached = true;
            break;
        }
    }

    let values = read_values(delta, METHOD)?;
    let plane = 3 * s * s;
    let deltas = assign
        .iter()
        .map(|&a| Planar {
            width: s as u32,
            height: s as u32,
            data: values[a * plane..(a + 1) * plane].to_vec(),
        })
        .collect();
    let mut settings = serde_json::to_value(r).unwrap_or_default();
    if let Some(obj) = settings.as_object_mut() {
        obj.insert("cluster_sizes".into(), serde_json::json!(counts));
    }
    Ok(Fitted {
        deltas,
        report: FitReport {
            rounds,
            final_accuracy: fooled,
            reached_target: reached,
            seconds: started.elapsed().as_secs_f64(),
            settings,
        },
    })
}
