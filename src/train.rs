//! Training a fresh classifier from scratch on a set of images: used to check that protection
//! works (a model trained on protected photos should learn the shortcut, not the content).

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::TensorData;
use serde::{Deserialize, Serialize};

use crate::error::MethodError;
use crate::imaging::Planar;
use crate::model::{Surrogate, SurrogateKind};
use crate::rng::{BatchSampler, derive_seed};

/// Optimiser of a fresh classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Optimizer {
    /// SGD with momentum, weight decay and gradient clipping (the papers' recipe).
    #[default]
    Sgd,
    /// Adam (Kingma & Ba 2015) with weight decay; fits small sets quickly.
    Adam,
}

impl Optimizer {
    /// The optimiser for any module, with `[momentum, weight_decay, grad_clip]` (momentum is
    /// SGD's; the clip is on the gradient's norm).
    pub fn init(self, [momentum, weight_decay, grad_clip]: [f64; 3]) -> ModuleOptimizer {
        match self {
            Optimizer::Sgd => sgd(momentum, weight_decay as f32, grad_clip as f32),
            Optimizer::Adam => AdamConfig::new()
                .with_weight_decay(Some(WeightDecayConfig::new(weight_decay as f32)))
                .with_grad_clipping(Some(GradientClippingConfig::Norm(grad_clip as f32)))
                .init(),
        }
    }
}

/// How to train a fresh classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Architecture.
    pub model: SurrogateKind,
    /// Optimiser (`learning_rate` is its step size).
    pub optimizer: Optimizer,
    /// SGD steps (mini-batches).
    pub steps: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Learning rate.
    pub learning_rate: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f32,
    /// Gradient-norm clip.
    pub grad_clip: f32,
    /// Seed of weights and batch order.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: SurrogateKind::SmallCnn,
            optimizer: Optimizer::Sgd,
            steps: 100,
            batch_size: 64,
            learning_rate: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            grad_clip: 5.0,
            seed: 0,
        }
    }
}

/// SGD with (undampened) momentum, weight decay and gradient-norm clipping: the optimiser of
/// every classifier this crate trains (the papers' recipe).
pub fn sgd(momentum: f64, weight_decay: f32, grad_clip: f32) -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(
            MomentumConfig::new()
                .with_momentum(momentum)
                .with_dampening(0.0),
        ))
        .with_weight_decay(Some(WeightDecayConfig::new(weight_decay)))
        .with_gradient_clipping(Some(GradientClippingConfig::Norm(grad_clip)))
        .init()
}

/// A classifier being trained: the one training step shared by `em`'s and `shield`'s
/// θ-steps, `evaluate`'s arms and [`train_classifier`] (forward, cross-entropy, backward,
/// optimiser step). Shapes: images `[B, 3, H, W]` in 0–1, targets `[B]` class indices; both on
/// the autodiff device the learner was made on.
pub struct Learner {
    /// The network (autodiff device).
    pub model: Surrogate,
    optim: ModuleOptimizer,
    ce: CrossEntropyLoss,
}

impl Learner {
    /// A fresh `kind` network for `num_classes` classes, initialised from `seed`, trained with
    /// `optimizer` (momentum, weight decay, gradient-norm clip as in the papers' recipe).
    pub fn new(
        kind: SurrogateKind,
        num_classes: usize,
        seed: u64,
        optimizer: Optimizer,
        [momentum, weight_decay, grad_clip]: [f64; 3],
        device: &Device,
    ) -> Self {
        Self {
            model: Surrogate::new(kind, num_classes, seed, device),
            optim: optimizer.init([momentum, weight_decay, grad_clip]),
            ce: CrossEntropyLossConfig::new().init(device),
        }
    }

    /// The loss on a batch (with its graph, for [`Learner::step`]).
    pub fn loss(&self, x: Tensor<4>, targets: Tensor<1, Int>) -> Tensor<1> {
        self.ce.forward(self.model.forward(x), targets)
    }

    /// The cross-entropy module (for attacks that need the same loss).
    pub fn criterion(&self) -> &CrossEntropyLoss {
        &self.ce
    }

    /// One optimiser step at learning rate `lr` down the gradient of `loss`; returns the
    /// updated learner and the loss, detached, on the device (read it once per epoch or round,
    /// not per step). Taking `self` by value lets the optimiser update the weights in place.
    pub fn step(mut self, loss: Tensor<1>, lr: f64) -> (Self, Tensor<1>) {
        let value = loss.clone().inner().detach();
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(lr, self.model, grads);
        (self, value)
    }

    /// Train on one batch: [`Learner::loss`] then [`Learner::step`].
    pub fn fit_batch(self, x: Tensor<4>, targets: Tensor<1, Int>, lr: f64) -> (Self, Tensor<1>) {
        let loss = self.loss(x, targets);
        self.step(loss, lr)
    }
}

fn compute_err(e: impl std::fmt::Debug) -> MethodError {
    MethodError::Compute {
        method: "train",
        message: format!("{e:?}"),
    }
}

/// `[B, 3, H, W]` batch of the images `idx` (all the same size).
pub fn batch_tensor(images: &[Planar], idx: &[usize], device: &Device) -> Tensor<4> {
    let (w, h) = (
        images[idx[0]].width as usize,
        images[idx[0]].height as usize,
    );
    let data: Vec<f32> = idx
        .iter()
        .flat_map(|&i| images[i].data.iter().copied())
        .collect();
    Tensor::from_data(TensorData::new(data, [idx.len(), 3, h, w]), device)
}

/// `[B]` class-index targets of the images `idx`.
pub fn label_tensor(labels: &[usize], idx: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = idx.iter().map(|&i| labels[i] as i64).collect();
    Tensor::from_data(TensorData::new(v, [idx.len()]), device)
}

/// Train a fresh classifier on `images` (all the same size) with `labels` in `0..num_classes`.
pub fn train_classifier(
    images: &[Planar],
    labels: &[usize],
    num_classes: usize,
    cfg: &TrainConfig,
    device: &Device,
) -> Surrogate {
    let ad = device.clone().autodiff();
    let mut learner = Learner::new(
        cfg.model,
        num_classes,
        derive_seed(cfg.seed, "train-init", 0),
        cfg.optimizer,
        [
            cfg.momentum,
            f64::from(cfg.weight_decay),
            f64::from(cfg.grad_clip),
        ],
        &ad,
    );
    let n = images.len();
    let mut sampler = BatchSampler::new(n, derive_seed(cfg.seed, "train-batches", 0));
    let batch = cfg.batch_size.min(n).max(1);
    for _ in 0..cfg.steps {
        let idx = sampler.next_batch(batch);
        let x = batch_tensor(images, &idx, &ad);
        (learner, _) = learner.fit_batch(x, label_tensor(labels, &idx, &ad), cfg.learning_rate);
    }
    learner.model
}

/// How many rows of `logits: [B, classes]` have their largest score at the row's label.
pub fn count_correct(logits: Tensor<2>, labels: &[usize]) -> Result<usize, MethodError> {
    let pred: Vec<i64> = logits
        .argmax(1)
        .flatten::<1>(0, 1)
        .try_into_data()
        .map_err(compute_err)?
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(compute_err)?;
    Ok(pred
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == **l as i64)
        .count())
}

/// Share of `images` that `model` classifies as `labels` (evaluated in validation mode).
pub fn accuracy(
    model: &Surrogate,
    images: &[Planar],
    labels: &[usize],
    device: &Device,
) -> Result<f32, MethodError> {
    if images.is_empty() {
        return Ok(0.0);
    }
    let valid = model.valid();
    let mut correct = 0;
    let all: Vec<usize> = (0..images.len()).collect();
    for idx in all.chunks(256) {
        let batch_labels: Vec<usize> = idx.iter().map(|&i| labels[i]).collect();
        correct += count_correct(
            valid.forward(batch_tensor(images, idx, device)),
            &batch_labels,
        )?;
    }
    Ok(correct as f32 / images.len() as f32)
}
