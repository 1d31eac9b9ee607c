//! SimCLR (Chen et al., ICML 2020): an encoder with a projection head, trained without labels
//! by the NT-Xent loss on two random views of each image. `evaluate`'s contrastive exploiter
//! and `tue`'s contrastive surrogate.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Initializer, Linear, LinearConfig, Relu};
use burn::prelude::*;
use burn::tensor::TensorData;

use super::{Surrogate, SurrogateKind, seeded_init};
use crate::rng::derive_seed;

/// The encoder (a [`Surrogate`]'s feature extractor; its class head is unused) and SimCLR's
/// two-layer projection head.
#[derive(Module, Debug)]
pub struct SimClr {
    /// The network whose features the probe reads.
    pub encoder: Surrogate,
    hidden: Linear,
    out: Linear,
}

impl SimClr {
    /// A fresh `kind` encoder for `side`-px images and a head to `projection_dim`, from `seed`.
    pub fn new(
        kind: SurrogateKind,
        projection_dim: usize,
        side: usize,
        seed: u64,
        device: &Device,
    ) -> Self {
        let encoder = Surrogate::new(kind, 2, seed, device);
        let width = encoder
            .valid()
            .features(Tensor::zeros([1, 3, side, side], &device.clone().inner()))
            .dims()[1];
        // Zero-initialised (biases stay zero, weights are drawn by `seeded_init`): Burn's own
        // initialiser would draw the biases from its unseeded global generator.
        let linear = |i, o| {
            LinearConfig::new(i, o)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        let head = seeded_init(
            (linear(width, width), linear(width, projection_dim)),
            derive_seed(seed, "simclr-head", 0),
        );
        Self {
            encoder,
            hidden: head.0,
            out: head.1,
        }
    }

    /// Projections of a batch.
    ///
    /// # Shapes
    /// - `x`: `[batch, 3, side, side]`, values in `[0, 1]`
    /// - returns: `[batch, projection_dim]`
    pub fn project(&self, x: Tensor<4>) -> Tensor<2> {
        let h = Relu::new().forward(self.hidden.forward(self.encoder.features(x)));
        self.out.forward(h)
    }
}

/// Rows of `z: [N, P]` scaled to unit length.
pub fn unit_rows(z: Tensor<2>) -> Tensor<2> {
    let norm = z
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .add_scalar(1e-12)
        .sqrt(); // [N, 1]
    z / norm
}

/// NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR: rows `i` and `i + B` of
/// `z` are two views of one image; each row's positive is its partner among the other `2B − 1`
/// rows, by cosine similarity divided by `temperature`; averaged over all `2B` rows.
///
/// # Shapes
/// - `z`: `[2B, P]` projections (any scale: they are normalised here)
/// - returns: `[1]`
pub fn nt_xent(z: Tensor<2>, temperature: f32) -> Tensor<1> {
    let [rows, _] = z.dims();
    let b = rows / 2;
    let device = z.device();
    let z = unit_rows(z);
    let sim = z.clone().matmul(z.transpose()).div_scalar(temperature); // [2B, 2B]
    // A row is never its own candidate.
    let sim = sim - Tensor::<2>::eye(rows, &device).mul_scalar(1e9);
    let targets: Vec<i64> = (0..rows).map(|i| ((i + b) % rows) as i64).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [rows]), &device);
    CrossEntropyLossConfig::new()
        .init(&device)
        .forward(sim, targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(t: Tensor<1>) -> f32 {
        t.into_scalar()
    }

    #[test]
    fn nt_xent_matches_a_hand_computed_case() {
        let device = Device::flex();
        // Two images, 2-D projections: views of image 0 point along x, of image 1 along y.
        let z = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 2.0, 3.0, 0.0, 0.0, 1.0], [4, 2]),
            &device,
        );
        let tau = 0.5;
        // Each row: positive similarity 1/τ = 2, the two others 0/τ = 0 (orthogonal) and — the
        // partner of the other image — also 0. loss = −ln(e² / (e² + 2)).
        let want = -(2f32.exp() / (2f32.exp() + 2.0)).ln();
        let got = read(nt_xent(z, tau));
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // Swapping which view pairs with which makes every positive orthogonal: a higher loss.
        let crossed = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 2.0, 0.0, 1.0, 3.0, 0.0], [4, 2]),
            &device,
        );
        assert!(read(nt_xent(crossed, tau)) > got + 1.0);
    }
}
