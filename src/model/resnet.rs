//! CIFAR-style ResNet-18 (He et al. 2016; 3×3 stem without max-pooling, as in the unlearnable
//! examples literature): the surrogate the papers use.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d, Relu,
};
use burn::prelude::*;

fn conv(input: usize, output: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([input, output], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// 1×1 projection used when a block changes resolution or width.
#[derive(Module, Debug)]
pub struct Downsample {
    conv: Conv2d,
    norm: BatchNorm,
}

/// Two 3×3 conv/BN layers with a residual connection.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    downsample: Option<Downsample>,
    activation: Relu,
}

impl BasicBlock {
    fn new(input: usize, output: usize, stride: usize, device: &Device) -> Self {
        let downsample = (stride != 1 || input != output).then(|| Downsample {
            conv: conv(input, output, 1, stride, device),
            norm: BatchNormConfig::new(output).init(device),
        });
        Self {
            conv1: conv(input, output, 3, stride, device),
            bn1: BatchNormConfig::new(output).init(device),
            conv2: conv(output, output, 3, 1, device),
            bn2: BatchNormConfig::new(output).init(device),
            downsample,
            activation: Relu::new(),
        }
    }

    /// # Shapes
    /// - `x`: `[B, C_in, H, W]` → `[B, C_out, H/stride, W/stride]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.norm.forward(d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let h = self
            .activation
            .forward(self.bn1.forward(self.conv1.forward(x)));
        let h = self.bn2.forward(self.conv2.forward(h));
        self.activation.forward(h + identity)
    }
}

/// Configuration of [`ResNet18`].
#[derive(Config, Debug)]
pub struct ResNet18Config {
    /// Number of output classes.
    pub num_classes: usize,
    /// Width of the first stage (64 in the papers).
    #[config(default = 64)]
    pub width: usize,
}

/// Stem (3×3 conv, BN, ReLU), four stages of two [`BasicBlock`]s (widths w, 2w, 4w, 8w;
/// strides 1, 2, 2, 2), global average pooling, linear classifier.
#[derive(Module, Debug)]
pub struct ResNet18 {
    stem: Conv2d,
    stem_bn: BatchNorm,
    blocks: Vec<BasicBlock>,
    pool: AdaptiveAvgPool2d,
    head: Linear,
    activation: Relu,
}

impl ResNet18Config {
    /// Build the network on `device` (weights are re-drawn by [`super::seeded_init`]).
    pub fn init(&self, device: &Device) -> ResNet18 {
        let w = self.width;
        let mut blocks = Vec::new();
        let mut input = w;
        for (stage, mult) in [1, 2, 4, 8].into_iter().enumerate() {
            let out = w * mult;
            let stride = if stage == 0 { 1 } else { 2 };
            blocks.push(BasicBlock::new(input, out, stride, device));
            blocks.push(BasicBlock::new(out, out, 1, device));
            input = out;
        }
        ResNet18 {
            stem: conv(3, w, 3, 1, device),
            stem_bn: BatchNormConfig::new(w).init(device),
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: LinearConfig::new(input, self.num_classes)
                .with_initializer(Initializer::Zeros)
                .init(device),
            activation: Relu::new(),
        }
    }
}

impl ResNet18 {
    /// # Shapes
    /// - `x`: `[batch, 3, height, width]`
    /// - returns: `[batch, num_classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features(x))
    }

    /// The penultimate features (the input of the classifier head).
    ///
    /// # Shapes
    /// - `x`: `[batch, 3, height, width]`
    /// - returns: `[batch, 8w]`
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = self
            .activation
            .forward(self.stem_bn.forward(self.stem.forward(x))); // [B, w, H, W]
        for block in &self.blocks {
            h = block.forward(h); // ends at [B, 8w, H/8, W/8]
        }
        self.pool.forward(h).flatten::<2>(1, 3) // [B, 8w]
    }
}
