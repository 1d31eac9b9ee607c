//! A five-layer CNN: the fresh classifier of the CPU evaluation protocol (the three-layer
//! [`super::SmallCnn`] tops out under 50 % on 5 000 CIFAR-10 images).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d, Relu,
};
use burn::prelude::*;

/// Configuration of [`MediumCnn`].
#[derive(Config, Debug)]
pub struct MediumCnnConfig {
    /// Number of output classes.
    pub num_classes: usize,
    /// Channels of the stem and of the two double-conv stages.
    #[config(default = "[32, 64, 128]")]
    pub channels: [usize; 3],
}

/// One conv3×3 → BN → ReLU layer (stride 1, same padding).
#[derive(Module, Debug)]
struct ConvBn {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ConvBn {
    fn new(input: usize, output: usize, device: &Device) -> Self {
        ConvBn {
            conv: Conv2dConfig::new([input, output], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(output).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        Relu::new().forward(self.norm.forward(self.conv.forward(x)))
    }
}

/// stem conv (C₀) → max-pool 2 → conv, conv (C₁) → max-pool 2 → conv, conv (C₂) →
/// average-pool to 2×2 → linear. Any input size of at least 8×8.
#[derive(Module, Debug)]
pub struct MediumCnn {
    layers: Vec<ConvBn>,
    down: MaxPool2d,
    pool: AdaptiveAvgPool2d,
    head: Linear,
}

impl MediumCnnConfig {
    /// Build the network on `device` (weights are re-drawn by [`super::seeded_init`]).
    pub fn init(&self, device: &Device) -> MediumCnn {
        let [c0, c1, c2] = self.channels;
        let layers = vec![
            ConvBn::new(3, c0, device),
            ConvBn::new(c0, c1, device),
            ConvBn::new(c1, c1, device),
            ConvBn::new(c1, c2, device),
            ConvBn::new(c2, c2, device),
        ];
        MediumCnn {
            layers,
            down: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            pool: AdaptiveAvgPool2dConfig::new([2, 2]).init(),
            head: LinearConfig::new(c2 * 4, self.num_classes)
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }
}

impl MediumCnn {
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
    /// - returns: `[batch, 4·C₂]`
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = x; // [B, 3, H, W]
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i == 0 || i == 2 {
                h = self.down.forward(h); // after the stem: [B, C₀, H/2, W/2]; after stage 1: [B, C₁, H/4, W/4]
            }
        }
        self.pool.forward(h).flatten::<2>(1, 3) // [B, 4·C₂]
    }
}
