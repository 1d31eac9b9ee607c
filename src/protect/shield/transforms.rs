//! What training pipelines, sharing and known defences do to a photo, as differentiable Burn
//! operations, so the perturbation is optimised *through* them (expectation over transforms).
//!
//! One draw per mini-batch step: every image gets its own random-resized crop and flip
//! (resampling matrices, so the gradient is exact), then, for the whole batch with some
//! probability each: a downscale and upscale back, JPEG (see [`super::jpeg`]), grayscale, and
//! light Gaussian noise. Random choices come from the crate's seeded [`Rng`], never from the
//! device, so runs are reproducible.
//!
//! Shapes: input `[B, 3, s, s]`, output `[B, 3, o, o]` with `o` a multiple of 16.

use burn::prelude::*;
use burn::tensor::TensorData;

use super::jpeg::diff_jpeg;
use crate::imaging::resample::resample_matrix;
pub use crate::imaging::transforms::TransformConfig;
use crate::rng::Rng;

/// One random draw of the transformation for a batch.
#[derive(Clone, Debug)]
pub struct Draw {
    batch: usize,
    side: usize,
    /// Size after crop (and downscale, when drawn).
    inner: usize,
    out: usize,
    /// `[B, inner, s]` row and column resampling matrices (crop, flip, downscale).
    rows: Vec<f32>,
    cols: Vec<f32>,
    /// Upscale back from `inner` to `out` (`out × inner`), when downscaled.
    up: Option<Vec<f32>>,
    /// JPEG quality per image, when drawn.
    jpeg: Option<Vec<u8>>,
    gray: bool,
    /// `[B, 3, out, out]` noise, when drawn.
    noise: Option<Vec<f32>>,
}

impl Draw {
    /// Short description for logs and tests.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("crop→{}", self.inner)];
        if self.up.is_some() {
            parts.push(format!("up→{}", self.out));
        }
        if let Some(q) = &self.jpeg {
            parts.push(format!("jpeg q{}", q.first().copied().unwrap_or(0)));
        }
        if self.gray {
            parts.push("gray".into());
        }
        if self.noise.is_some() {
            parts.push("noise".into());
        }
        parts.join(", ")
    }
}

/// Side the transformed images have for working side `side` and a wanted surrogate input
/// side `want`: the smaller, rounded down to a multiple of 16 (JPEG's macroblock), at least 16.
pub fn output_side(side: usize, want: usize) -> usize {
    (side.min(want) / 16 * 16).max(16)
}

/// Draw the transformation of a batch of `batch` images of side `side`, to output side `out`
/// (a multiple of 16; see [`output_side`]).
pub fn draw(cfg: &TransformConfig, batch: usize, side: usize, out: usize, rng: &mut Rng) -> Draw {
    let inner = if rng.next_f32() < cfg.p_rescale {
        let f = rng
            .uniform(cfg.rescale_factor[0], cfg.rescale_factor[1])
            .max(1.0);
        ((out as f32 / f).round() as usize).clamp(4, out)
    } else {
        out
    };
    let s = side as f32;
    let mut rows = Vec::with_capacity(batch * inner * side);
    let mut cols = Vec::with_capacity(batch * inner * side);
    for _ in 0..batch {
        let area = rng.uniform(cfg.crop_scale[0], cfg.crop_scale[1]);
        let (la, lb) = (cfg.crop_aspect[0].ln(), cfg.crop_aspect[1].ln());
        let aspect = rng.uniform(la, lb).exp();
        let cw = (s * (area * aspect).sqrt()).min(s);
        let ch = (s * (area / aspect).sqrt()).min(s);
        let x0 = rng.uniform(0.0, s - cw);
        let y0 = rng.uniform(0.0, s - ch);
        rows.extend(resample_matrix(inner, side, y0, ch));
        let mut c = resample_matrix(inner, side, x0, cw);
        if rng.next_f32() < cfg.p_flip {
            let flipped: Vec<f32> = (0..inner)
                .flat_map(|i| c[(inner - 1 - i) * side..(inner - i) * side].to_vec())
                .collect();
            c = flipped;
        }
        cols.extend(c);
    }
    let up = (inner != out).then(|| resample_matrix(out, inner, 0.0, inner as f32));
    let jpeg = (rng.next_f32() < cfg.p_jpeg).then(|| {
        let (lo, hi) = (cfg.jpeg_quality[0], cfg.jpeg_quality[1]);
        (0..batch)
            .map(|_| lo + rng.below(u64::from(hi - lo) + 1) as u8)
            .collect()
    });
    let gray = rng.next_f32() < cfg.p_gray;
    let noise = (rng.next_f32() < cfg.p_noise).then(|| {
        let sigma = rng.uniform(cfg.noise_255[0], cfg.noise_255[1]) / 255.0;
        (0..batch * 3 * out * out)
            .map(|_| rng.normal() * sigma)
            .collect()
    });
    Draw {
        batch,
        side,
        inner,
        out,
        rows,
        cols,
        up,
        jpeg,
        gray,
        noise,
    }
}

/// Rec. 601 luma replicated to three channels.
pub fn grayscale(x: Tensor<4>) -> Tensor<4> {
    let y = x.clone().narrow(1, 0, 1).mul_scalar(0.299)
        + x.clone().narrow(1, 1, 1).mul_scalar(0.587)
        + x.narrow(1, 2, 1).mul_scalar(0.114);
    y.repeat_dim(1, 3)
}

/// Apply a draw to `x: [B, 3, s, s]` on `device` (plain or autodiff); returns `[B, 3, o, o]`.
pub fn apply(x: Tensor<4>, d: &Draw, device: &Device) -> Tensor<4> {
    let (b, s, inner, out) = (d.batch, d.side, d.inner, d.out);
    let rows = Tensor::<4>::from_data(TensorData::new(d.rows.clone(), [b, 1, inner, s]), device);
    let cols = Tensor::<4>::from_data(TensorData::new(d.cols.clone(), [b, 1, inner, s]), device);
    // [B,1,i,s] × [B,3,s,s] × [B,1,s,i] → [B,3,i,i]
    let mut y = rows.matmul(x).matmul(cols.swap_dims(2, 3));
    if let Some(up) = &d.up {
        let u = Tensor::<4>::from_data(TensorData::new(up.clone(), [1, 1, out, inner]), device);
        y = u.clone().matmul(y).matmul(u.swap_dims(2, 3));
    }
    if let Some(q) = &d.jpeg {
        y = diff_jpeg(y, q, true, device);
    }
    if d.gray {
        y = grayscale(y);
    }
    if let Some(n) = &d.noise {
        y = y + Tensor::<4>::from_data(TensorData::new(n.clone(), [b, 3, out, out]), device);
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_seeded_and_shapes_hold() {
        let cfg = TransformConfig::default();
        let device = Device::flex();
        let x = Tensor::<4>::ones([3, 3, 40, 40], &device).mul_scalar(0.5);
        let mut seen_rescale = false;
        for seed in 0..12 {
            let a = draw(&cfg, 3, 40, output_side(40, 64), &mut Rng::new(seed));
            let b = draw(&cfg, 3, 40, output_side(40, 64), &mut Rng::new(seed));
            assert_eq!(a.rows, b.rows);
            assert_eq!(a.describe(), b.describe());
            seen_rescale |= a.up.is_some();
            let y = apply(x.clone(), &a, &device);
            assert_eq!(y.dims(), [3, 3, 32, 32], "{}", a.describe());
            // A constant image stays (nearly) constant under every transform but noise.
            if a.noise.is_none() {
                let v: Vec<f32> = y.into_data().try_to_vec::<f32>().unwrap();
                assert!(v.iter().all(|p| (p - 0.5).abs() < 0.02), "{}", a.describe());
            }
        }
        assert!(seen_rescale);
    }
}
