//! A self-supervised exploiter. SimCLR (Chen et al., ICML 2020) pre-trains a fresh network on
//! two random views of every training image *without labels*, pulling each image's two views
//! together and pushing them away from the other images' views (the NT-Xent loss); a linear
//! classifier is then fitted on the frozen features of the training images, with their labels,
//! and tested on the clean test images — the linear-probe protocol of TUE (`methods.md` §5)
//! and of APBench's unsupervised section. Contrastive pre-training is how web-scale scrapers
//! learn (CLIP-style), and noise made against a supervised surrogate need not stop it.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::EvalConfig;
use super::trainer::{Schedule, report_epoch};
use crate::cancel::CancelToken;
use crate::error::{EvalError, MethodError};
use crate::imaging::Planar;
use crate::imaging::resample::resample_region;
use crate::imaging::views::{ViewConfig, contrastive_view};
use crate::model::{SimClr, Surrogate, nt_xent};
use crate::progress::ProgressSink;
use crate::rng::derive_seed;
use crate::train::{Optimizer, batch_tensor, count_correct, label_tensor};

/// Settings of the contrastive exploiter that the supervised one does not have (the network,
/// epochs, batch, optimiser and learning rate are [`EvalConfig`]'s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContrastiveConfig {
    /// NT-Xent temperature τ.
    pub temperature: f32,
    /// Output width of the projection head (its hidden layer is as wide as the features).
    pub projection_dim: usize,
    /// How each view is drawn.
    pub views: ViewConfig,
    /// Full-batch Adam steps of the linear probe.
    pub probe_steps: usize,
    /// Learning rate of the linear probe.
    pub probe_learning_rate: f64,
    /// Weight decay of the linear probe.
    pub probe_weight_decay: f32,
}

impl Default for ContrastiveConfig {
    fn default() -> Self {
        Self {
            temperature: 0.5,
            projection_dim: 128,
            views: ViewConfig::default(),
            probe_steps: 300,
            probe_learning_rate: 0.01,
            probe_weight_decay: 1e-4,
        }
    }
}

/// `img` resampled whole to `side × side` (what the probe and the test read).
fn fitted(img: &Planar, side: usize) -> Planar {
    if (img.width as usize, img.height as usize) == (side, side) {
        return img.clone();
    }
    let region = (0.0, 0.0, img.width as f32, img.height as f32);
    resample_region(img, region, side, side, false)
}

/// Features of `images` by `encoder` (pass it in validation mode), on `device`:
/// `[N, features]`.
pub fn features(encoder: &Surrogate, images: &[Planar], device: &Device) -> Tensor<2> {
    let all: Vec<usize> = (0..images.len()).collect();
    let parts: Vec<Tensor<2>> = all
        .chunks(256)
        .map(|idx| encoder.features(batch_tensor(images, idx, device)))
        .collect();
    Tensor::cat(parts, 0)
}

/// Linear-probe accuracy on `test`: a linear classifier trained (full batch, Adam) on the
/// standardised features of `train` with `labels`.
#[allow(clippy::too_many_arguments)]
pub fn linear_probe(
    encoder: &Surrogate,
    train: &[Planar],
    labels: &[usize],
    test: &[Planar],
    test_labels: &[usize],
    num_classes: usize,
    cfg: &ContrastiveConfig,
    device: &Device,
) -> Result<f32, EvalError> {
    if train.is_empty() || test.is_empty() {
        return Ok(0.0);
    }
    let encoder = encoder.valid();
    let f_train = features(&encoder, train, device);
    let f_test = features(&encoder, test, device);
    let width = f_train.dims()[1];
    let mean = f_train.clone().mean_dim(0); // [1, D]
    let std = f_train.clone().var(0).add_scalar(1e-6).sqrt();
    let x = ((f_train - mean.clone()) / std.clone()).autodiff();
    let x_test = (f_test - mean) / std;
    let ad = device.clone().autodiff();
    let mut head: Linear = LinearConfig::new(width, num_classes)
        .with_initializer(Initializer::Zeros)
        .init(&ad);
    let mut optim = Optimizer::Adam.init([0.0, f64::from(cfg.probe_weight_decay), 1e6]);
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let all: Vec<usize> = (0..labels.len()).collect();
    let targets = label_tensor(labels, &all, &ad);
    for _ in 0..cfg.probe_steps {
        let loss = ce.forward(head.forward(x.clone()), targets.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &head);
        head = optim.step(cfg.probe_learning_rate, head, grads);
    }
    let correct = count_correct(head.valid().forward(x_test), test_labels)?;
    Ok(correct as f32 / test.len() as f32)
}

/// Pre-train a fresh SimCLR network on `train` (no labels) for `cfg.epochs`, views `side` px
/// square; after every epoch `after_epoch(epoch, network, summed loss, steps per epoch)` runs
/// (the exploiter's probe, or a diagnostic reading the features). Returns the network.
pub fn pretrain(
    train: &[Planar],
    side: usize,
    cfg: &EvalConfig,
    device: &Device,
    cancel: &CancelToken,
    mut after_epoch: impl FnMut(usize, &SimClr, Option<Tensor<1>>, usize) -> Result<(), EvalError>,
) -> Result<SimClr, EvalError> {
    let cc = &cfg.contrastive;
    let ad = device.clone().autodiff();
    let seed = derive_seed(cfg.seed, "eval-model", 0);
    let mut model = SimClr::new(cfg.model, cc.projection_dim, side, seed, &ad);
    let mut optim = cfg
        .optimizer
        .init([cfg.momentum, f64::from(cfg.weight_decay), 5.0]);
    // Two images at least: a lone image's views have no negatives.
    let batch = cfg.batch_size.min(train.len()).max(2);
    let mut plan = Schedule::new(train.len(), batch, cfg);
    for epoch in 1..=cfg.epochs {
        let order = plan.shuffle();
        let mut loss_sum: Option<Tensor<1>> = None;
        for chunk in order.chunks(batch).filter(|c| c.len() >= 2) {
            if cancel.is_cancelled() {
                return Err(EvalError::Method(MethodError::Cancelled));
            }
            let lr = plan.learning_rate();
            // Rows 0..B: first views; rows B..2B: second views, in the same order.
            let views: Vec<Planar> = (0..2)
                .flat_map(|_| chunk.iter())
                .map(|&i| contrastive_view(&train[i], side, &cc.views, &mut plan.rng))
                .collect();
            let all: Vec<usize> = (0..views.len()).collect();
            let loss = nt_xent(
                model.project(batch_tensor(&views, &all, &ad)),
                cc.temperature,
            );
            let value = loss.clone().inner().detach();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            loss_sum = Some(match loss_sum {
                Some(sum) => sum + value,
                None => value,
            });
            plan.advance();
        }
        after_epoch(epoch, &model, loss_sum, plan.steps_per_epoch)?;
    }
    Ok(model)
}

/// Pre-train a fresh SimCLR network on `train` (labels unused) for `cfg.epochs`, then after
/// each epoch fit a linear probe with `labels` and test it on `test`; returns the probe's clean
/// test accuracy per epoch. Views, probe and test images are `side` px square.
#[allow(clippy::too_many_arguments)]
pub fn train_arm(
    arm: &str,
    train: &[Planar],
    labels: &[usize],
    test: &[Planar],
    test_labels: &[usize],
    num_classes: usize,
    side: usize,
    cfg: &EvalConfig,
    device: &Device,
    events: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Vec<f32>, EvalError> {
    let probe_train: Vec<Planar> = train.iter().map(|p| fitted(p, side)).collect();
    let probe_test: Vec<Planar> = test.iter().map(|p| fitted(p, side)).collect();
    let mut curve = Vec::with_capacity(cfg.epochs);
    pretrain(
        train,
        side,
        cfg,
        device,
        cancel,
        |epoch, model, loss_sum, steps| {
            let acc = linear_probe(
                &model.encoder,
                &probe_train,
                labels,
                &probe_test,
                test_labels,
                num_classes,
                &cfg.contrastive,
                device,
            )?;
            curve.push(acc);
            report_epoch(events, arm, [epoch, cfg.epochs], loss_sum, steps, acc);
            Ok(())
        },
    )?;
    Ok(curve)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SurrogateKind;
    use crate::progress::ProgressEvent;
    use crate::rng::Rng;

    /// Images of `k` classes that differ only in their colour, with per-image noise.
    fn colour_classes(k: usize, per_class: usize, seed: u64) -> (Vec<Planar>, Vec<usize>) {
        let mut rng = Rng::new(seed);
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for c in 0..k {
            for _ in 0..per_class {
                let mut p = Planar::zeros(16, 16);
                let n = p.plane_len();
                for ch in 0..3 {
                    let base = if ch == c { 0.8 } else { 0.2 };
                    for i in 0..n {
                        p.data[ch * n + i] = (base + rng.uniform(-0.15, 0.15)).clamp(0.0, 1.0);
                    }
                }
                images.push(p);
                labels.push(c);
            }
        }
        (images, labels)
    }

    #[test]
    fn pretraining_ignores_labels_lowers_its_loss_and_the_probe_reads_the_features() {
        let device = Device::flex();
        let (train, labels) = colour_classes(3, 12, 1);
        let (test, test_labels) = colour_classes(3, 6, 2);
        // Colour is the class here: keep it in the views (no jitter, no gray).
        let cfg = EvalConfig {
            model: SurrogateKind::SmallCnn,
            epochs: 4,
            batch_size: 12,
            learning_rate: 0.05,
            contrastive: ContrastiveConfig {
                views: ViewConfig {
                    p_jitter: 0.0,
                    p_gray: 0.0,
                    ..ViewConfig::default()
                },
                probe_steps: 100,
                ..ContrastiveConfig::default()
            },
            ..EvalConfig::default()
        };
        let losses = std::sync::Mutex::new(Vec::new());
        let sink = |ev: ProgressEvent| {
            if let ProgressEvent::Epoch { train_loss, .. } = ev {
                losses.lock().unwrap().push(train_loss);
            }
        };
        let run = |labels: &[usize]| {
            train_arm(
                "t",
                &train,
                labels,
                &test,
                &test_labels,
                3,
                16,
                &cfg,
                &device,
                &sink,
                &CancelToken::new(),
            )
            .unwrap()
        };
        let curve = run(&labels);
        assert_eq!(curve.len(), 4);
        let first = losses.lock().unwrap().clone();
        assert!(first[3] < first[0], "NT-Xent falls: {first:?}");
        // The probe separates the colours (chance 1/3).
        assert!(curve[3] > 0.9, "{curve:?}");
        // Pre-training never sees the labels: the same losses with the labels shuffled.
        losses.lock().unwrap().clear();
        let mut shuffled = labels.clone();
        shuffled.rotate_left(5);
        let probe_on_wrong_labels = run(&shuffled);
        assert_eq!(*losses.lock().unwrap(), first);
        assert!(probe_on_wrong_labels[3] < curve[3]);
    }
}
