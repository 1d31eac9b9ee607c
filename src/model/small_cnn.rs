//! A small, fast CNN: the default surrogate on CPUs.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d, Relu,
};
use burn::prelude::*;

/// Configuration of [`SmallCnn`].
#[derive(Config, Debug)]
pub struct SmallCnnConfig {
    /// Number of output classes.
    pub num_classes: usize,
    /// Channels of the three stages.
    #[config(default = "[32, 64, 128]")]
    pub channels: [usize; 3],
}

/// conv3×3 → BN → ReLU, three times (strides 1, 2, 2), global average pooling, linear.
#[derive(Module, Debug)]
pub struct SmallCnn {
    convs: Vec<Conv2d>,
    norms: Vec<BatchNorm>,
    pool: AdaptiveAvgPool2d,
    head: Linear,
    activation: Relu,
}

impl SmallCnnConfig {
    /// Build the network on `device` (weights are re-drawn by [`super::seeded_init`]).
    pub fn init(&self, device: &Device) -> SmallCnn {
        let mut input = 3;
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        for (i, &out) in self.channels.iter().enumerate() {
            let stride = if i == 0 { 1 } else { 2 };
            convs.push(
                Conv2dConfig::new([input, out], [3, 3])
                    .with_stride([stride, stride])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_bias(false)
                    .init(device),
            );
            norms.push(BatchNormConfig::new(out).init(device));
            input = out;
        }
        SmallCnn {
            convs,
            norms,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: LinearConfig::new(input, self.num_classes)
                .with_initializer(Initializer::Zeros)
                .init(device),
            activation: Relu::new(),
        }
    }
}

impl SmallCnn {
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
    /// - returns: `[batch, C_last]`
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = x; // [B, 3, H, W]
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            h = self.activation.forward(norm.forward(conv.forward(h))); // [B, C_i, H/s, W/s]
        }
        self.pool.forward(h).flatten::<2>(1, 3) // [B, C_last]
    }
}
