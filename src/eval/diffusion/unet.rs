//! A small time-conditioned U-Net that predicts the noise ε in a noised image (DDPM's ε-
//! parameterisation): two resolutions down, two up, skip connections, SiLU, the diffusion step
//! added as a per-channel bias in every block.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::silu;

/// Configuration of [`Denoiser`].
#[derive(Config, Debug)]
pub struct DenoiserConfig {
    /// Channels at full resolution (twice as many at the lower two).
    #[config(default = 32)]
    pub channels: usize,
    /// Width of the sinusoidal step embedding.
    #[config(default = 32)]
    pub time_dim: usize,
}

/// The noise-predicting network.
#[derive(Module, Debug)]
pub struct Denoiser {
    time: Linear,
    enc1a: Conv2d,
    enc1b: Conv2d,
    t1: Linear,
    enc2a: Conv2d,
    enc2b: Conv2d,
    t2: Linear,
    mid: Conv2d,
    t3: Linear,
    dec2: Conv2d,
    dec1: Conv2d,
    out: Conv2d,
    pool: AvgPool2d,
    time_dim: usize,
}

// Every layer starts at zero so that nothing comes from Burn's unseeded global RNG: biases stay
// zero, and `seeded_init` then draws every weight matrix from the run's seed.
fn conv(cin: usize, cout: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_initializer(Initializer::Zeros)
        .init(device)
}

fn linear(input: usize, output: usize, device: &Device) -> Linear {
    LinearConfig::new(input, output)
        .with_initializer(Initializer::Zeros)
        .init(device)
}

impl DenoiserConfig {
    /// Build the network on `device`, every parameter zero (weights for `seeded_init` to draw).
    pub fn init(&self, device: &Device) -> Denoiser {
        let (c, td) = (self.channels, self.time_dim);
        Denoiser {
            time: linear(td, td, device),
            enc1a: conv(3, c, device),
            enc1b: conv(c, c, device),
            t1: linear(td, c, device),
            enc2a: conv(c, 2 * c, device),
            enc2b: conv(2 * c, 2 * c, device),
            t2: linear(td, 2 * c, device),
            mid: conv(2 * c, 2 * c, device),
            t3: linear(td, 2 * c, device),
            dec2: conv(4 * c, 2 * c, device),
            dec1: conv(3 * c, c, device),
            out: conv(c, 3, device),
            pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            time_dim: td,
        }
    }
}

/// Nearest-neighbour ×2 upsampling: `[B, C, H, W]` → `[B, C, 2H, 2W]`.
fn up2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .repeat_dim(3, 2)
        .repeat_dim(5, 2)
        .reshape([b, c, 2 * h, 2 * w])
}

impl Denoiser {
    /// Sinusoidal embedding of the diffusion steps `t: [B, 1]` (in steps) → `[B, time_dim]`.
    fn embed(&self, t: Tensor<2>) -> Tensor<2> {
        let half = self.time_dim / 2;
        let freqs: Vec<f32> = (0..half)
            .map(|i| (-(10_000f32.ln()) * i as f32 / half as f32).exp())
            .collect();
        let f =
            Tensor::<2>::from_data(burn::tensor::TensorData::new(freqs, [1, half]), &t.device());
        let arg = t.matmul(f); // [B, half]
        silu(
            self.time
                .forward(Tensor::cat(vec![arg.clone().sin(), arg.cos()], 1)),
        )
    }

    /// Predicted noise.
    ///
    /// # Shapes
    /// - `x`: `[B, 3, H, W]` noised images in about `[-1, 1]` (H, W multiples of 4)
    /// - `t`: `[B, 1]` diffusion steps (as floats)
    /// - returns: `[B, 3, H, W]`
    pub fn forward(&self, x: Tensor<4>, t: Tensor<2>) -> Tensor<4> {
        let e = self.embed(t);
        let bias = |l: &Linear| {
            let v = l.forward(e.clone());
            let [b, c] = v.dims();
            v.reshape([b, c, 1, 1])
        };
        let h1 = silu(self.enc1a.forward(x) + bias(&self.t1));
        let h1 = silu(self.enc1b.forward(h1)); // [B, c, H, W]
        let h2 = silu(self.enc2a.forward(self.pool.forward(h1.clone())) + bias(&self.t2));
        let h2 = silu(self.enc2b.forward(h2)); // [B, 2c, H/2, W/2]
        let h3 = silu(self.mid.forward(self.pool.forward(h2.clone())) + bias(&self.t3)); // [B, 2c, H/4, W/4]
        let u2 = silu(self.dec2.forward(Tensor::cat(vec![up2(h3), h2], 1))); // [B, 2c, H/2, W/2]
        let u1 = silu(self.dec1.forward(Tensor::cat(vec![up2(u2), h1], 1))); // [B, c, H, W]
        self.out.forward(u1)
    }
}
