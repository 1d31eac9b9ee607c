//! Convolution-based unlearnable filters ("CUDA", Sadasivan et al., CVPR 2023), re-implemented
//! from the method's description (`methods.md` §3), not from the reference code.
//!
//! Every class c gets a private k×k kernel drawn from the seed: entries i.i.d. U(0, p_b) with one
//! randomly placed entry set to 1. Each photo of class c is filtered depthwise (same kernel for
//! R, G and B, zero padding, same size), optionally divided by its global maximum, and the
//! difference to the original is the perturbation. The kernel footprint scales with the working
//! resolution: 3×3 at 32 px and 9×9 at 224 px, as in the paper's CIFAR and ImageNet settings.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};

use super::tensor::{planar_to_tensor, read_scalar, tensor_to_planar};
use super::{MethodContext, MethodId, Protector};
use crate::config::ConvConfig;
use crate::error::MethodError;
use crate::imaging::{AlbumEntry, Planar};
use crate::rng::{Rng, derive_seed};

/// Kernel side for a working copy whose short side is `short_side`: short side / 25, rounded,
/// made odd, clamped to 3..=15.
pub fn conv_kernel_size(short_side: u32) -> u32 {
    let k = (f64::from(short_side) / 25.0).round() as u32;
    let k = if k.is_multiple_of(2) { k + 1 } else { k };
    k.clamp(3, 15)
}

/// Default blur parameter p_b for kernel side k: 1.5·k^−1.465 (0.3 at k = 3, 0.06 at k = 9).
pub fn conv_blur(k: u32) -> f32 {
    (1.5 * f64::from(k).powf(-1.465)) as f32
}

/// The convolution-filter method.
#[derive(Clone, Debug)]
pub struct ConvFilters {
    cfg: ConvConfig,
}

impl ConvFilters {
    /// A method with these settings.
    pub fn new(cfg: ConvConfig) -> Self {
        Self { cfg }
    }

    /// The k×k kernel (row-major) of class `label`, drawn from the seed.
    pub fn kernel(&self, seed: u64, label: usize, k: u32) -> Vec<f32> {
        let blur = self.cfg.blur.unwrap_or_else(|| conv_blur(k));
        let mut rng = Rng::new(derive_seed(seed, "conv-class", label as u64));
        let n = (k * k) as usize;
        let mut kernel: Vec<f32> = (0..n).map(|_| rng.uniform(0.0, blur)).collect();
        kernel[rng.below(n as u64) as usize] = 1.0;
        kernel
    }

    /// The filtered working copy (before taking the difference), computed on `ctx.device`.
    pub fn filter(
        &self,
        work: &Planar,
        label: usize,
        ctx: &MethodContext<'_>,
    ) -> Result<Planar, MethodError> {
        let short = work.width.min(work.height);
        let k = self
            .cfg
            .kernel_size
            .unwrap_or_else(|| conv_kernel_size(short));
        let kernel = self.kernel(ctx.seed, label, k);
        let device = &ctx.device.device;
        let ku = k as usize;
        // Depthwise: weight [3, 1, k, k], groups = 3, the same kernel for every channel.
        let weights: Vec<f32> = (0..3).flat_map(|_| kernel.iter().copied()).collect();
        let weight = Tensor::<4>::from_data(TensorData::new(weights, [3, 1, ku, ku]), device);
        let x = planar_to_tensor(work, device);
        let pad = ku / 2;
        let y = conv2d(
            x,
            weight,
            None,
            ConvOptions::new([1, 1], [pad, pad], [1, 1], 3),
        );
        let y = if self.cfg.normalize_max {
            let max = read_scalar(y.clone().max(), MethodId::Conv.id())?;
            y.div_scalar(max.max(1e-6))
        } else {
            y
        };
        tensor_to_planar(y.clamp(0.0, 1.0), MethodId::Conv.id())
    }
}

impl Protector for ConvFilters {
    fn id(&self) -> MethodId {
        MethodId::Conv
    }

    fn perturb(
        &self,
        work: &Planar,
        entry: &AlbumEntry,
        ctx: &MethodContext<'_>,
    ) -> Result<Planar, MethodError> {
        let mut filtered = self.filter(work, entry.label, ctx)?;
        filtered
            .data
            .iter_mut()
            .zip(&work.data)
            .for_each(|(f, x)| *f -= x);
        Ok(filtered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::CancelToken;
    use crate::device::ComputeDevice;

    fn ctx<'a>(device: &'a ComputeDevice, cancel: &'a CancelToken, seed: u64) -> MethodContext<'a> {
        MethodContext {
            device,
            cancel,
            seed,
            epsilon: 8.0 / 255.0,
            num_classes: 2,
            events: &crate::progress::NullSink,
        }
    }

    #[test]
    fn kernel_sizes_and_blur_follow_the_published_settings() {
        assert_eq!(conv_kernel_size(32), 3);
        assert_eq!(conv_kernel_size(224), 9);
        assert_eq!(conv_kernel_size(10_000), 15);
        assert!((conv_blur(3) - 0.3).abs() < 0.005);
        assert!((conv_blur(9) - 0.06).abs() < 0.005);
    }

    #[test]
    fn kernels_are_per_class_seeded_and_have_one_peak() {
        let m = ConvFilters::new(ConvConfig::default());
        let a = m.kernel(1, 0, 3);
        assert_eq!(a, m.kernel(1, 0, 3));
        assert_ne!(a, m.kernel(1, 1, 3));
        assert_ne!(a, m.kernel(2, 0, 3));
        assert_eq!(a.iter().filter(|&&v| v == 1.0).count(), 1);
        assert!(a.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(a.iter().filter(|&&v| v != 1.0).all(|&v| v < 0.3));
    }

    #[test]
    fn filter_matches_a_direct_convolution() {
        // Reference: zero-padded depthwise correlation, then max-normalisation, in plain Rust.
        let dev = ComputeDevice::cpu("test");
        let cancel = CancelToken::new();
        let c = ctx(&dev, &cancel, 7);
        let mut work = Planar::zeros(6, 5);
        work.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = ((i * 37) % 101) as f32 / 100.0);
        let m = ConvFilters::new(ConvConfig::default());
        let got = m.filter(&work, 1, &c).unwrap();
        let k = m.kernel(7, 1, 3);
        let (w, h) = (6i32, 5i32);
        let mut want = vec![0.0f32; work.data.len()];
        for ch in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    let mut s = 0.0;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (sx, sy) = (x + kx - 1, y + ky - 1);
                            if (0..w).contains(&sx) && (0..h).contains(&sy) {
                                s += k[(ky * 3 + kx) as usize]
                                    * work.data[(ch * h * w + sy * w + sx) as usize];
                            }
                        }
                    }
                    want[(ch * h * w + y * w + x) as usize] = s;
                }
            }
        }
        let max = want.iter().cloned().fold(0.0, f32::max);
        for (g, w) in got.data.iter().zip(&want) {
            assert!((g - w / max).abs() < 1e-5, "{g} vs {}", w / max);
        }
    }
}
