//! Differentiable JPEG (Shin & Song 2017; Reich et al. 2024), as a baseline JPEG codec would
//! compress: RGB → YCbCr (JFIF), optionally 4:2:0 chroma (2×2 average; libjpeg's and most
//! sharing sites' default), 8×8 orthonormal DCT as two matrix products, quantisation with the
//! IJG-scaled standard tables, and back (chroma enlarged with a triangle filter, like
//! libjpeg's "fancy upsampling").
//!
//! Rounding uses a straight-through estimator: the forward pass rounds exactly, the backward
//! pass treats rounding as the identity, so gradients flow to every coefficient. The final
//! clamp to `[0, 1]` is straight-through too.
//!
//! Shapes: `[B, 3, H, W]` in `[0, 1]` with `H` and `W` multiples of 16; the same out.

use burn::prelude::*;
use burn::tensor::TensorData;

use crate::imaging::resample::resample_matrix;

/// The standard luminance quantisation table (ITU T.81 Annex K), row-major.
const LUMA_Q: [u8; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// The standard chrominance quantisation table.
const CHROMA_Q: [u8; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// A standard table scaled for `quality` (1–100) the way the IJG library does.
pub fn scaled_table(base: &[u8; 64], quality: u8) -> [f32; 64] {
    let q = u32::from(quality.clamp(1, 100));
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    base.map(|t| ((u32::from(t) * scale + 50) / 100).clamp(1, 255) as f32)
}

/// The 8×8 orthonormal DCT-II matrix `D` (rows are frequencies): coefficients = `D·B·Dᵀ`.
pub fn dct_matrix() -> [f32; 64] {
    let mut d = [0.0f32; 64];
    for k in 0..8 {
        let c = if k == 0 { (1.0f32 / 8.0).sqrt() } else { 0.5 };
        for n in 0..8 {
            d[k * 8 + n] =
                c * ((std::f32::consts::PI * (2 * n + 1) as f32 * k as f32) / 16.0).cos();
        }
    }
    d
}

/// `[B, 1, H, W]` → `[B, H/8 · W/8, 8, 8]` blocks.
fn blocks(x: Tensor<4>) -> Tensor<4> {
    let [b, _, h, w] = x.dims();
    x.reshape([b, h / 8, 8, w / 8, 8])
        .swap_dims(2, 3)
        .reshape([b, (h / 8) * (w / 8), 8, 8])
}

/// Inverse of [`blocks`].
fn unblocks(x: Tensor<4>, h: usize, w: usize) -> Tensor<4> {
    let b = x.dims()[0];
    x.reshape([b, h / 8, w / 8, 8, 8])
        .swap_dims(2, 3)
        .reshape([b, 1, h, w])
}

/// Straight-through rounding.
fn round_ste(x: Tensor<4>) -> Tensor<4> {
    x.clone() + (x.clone().round() - x).detach()
}

/// Compress and decompress one plane `[B, 1, H, W]` (level-shifted 8-bit scale) with the
/// per-image tables `q: [B, 1, 8, 8]`.
fn code_plane(p: Tensor<4>, q: Tensor<4>, d: &Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = p.dims();
    let dt = d.clone().swap_dims(2, 3);
    let coeff = d.clone().matmul(blocks(p)).matmul(dt.clone());
    let quantised = round_ste(coeff / q.clone()) * q;
    unblocks(dt.matmul(quantised).matmul(d.clone()), h, w)
}

/// JPEG-compress and decompress `x: [B, 3, H, W]` with quality `qualities[i]` for image `i`,
/// chroma subsampled 4:2:0 when `subsample` (otherwise 4:4:4, as the `image` crate writes).
pub fn diff_jpeg(x: Tensor<4>, qualities: &[u8], subsample: bool, device: &Device) -> Tensor<4> {
    let [b, _, h, w] = x.dims();
    let x = x.mul_scalar(255.0);
    let ch = |i: usize| x.clone().narrow(1, i, 1);
    let (r, g, bl) = (ch(0), ch(1), ch(2));
    let y =
        r.clone().mul_scalar(0.299) + g.clone().mul_scalar(0.587) + bl.clone().mul_scalar(0.114);
    let cb = r.clone().mul_scalar(-0.168_736)
        + g.clone().mul_scalar(-0.331_264)
        + bl.clone().mul_scalar(0.5);
    let cr = r.mul_scalar(0.5) + g.mul_scalar(-0.418_688) + bl.mul_scalar(-0.081_312);
    // 4:2:0: average 2×2 (Cb and Cr are centred on 0 here; the +128 offset cancels).
    let sub = |c: Tensor<4>| {
        c.reshape([b, 1, h / 2, 2, w / 2, 2])
            .mean_dim(3)
            .mean_dim(5)
            .reshape([b, 1, h / 2, w / 2])
    };
    let table = |base: &[u8; 64]| {
        let v: Vec<f32> = qualities
            .iter()
            .flat_map(|&q| scaled_table(base, q))
            .collect();
        Tensor::<4>::from_data(TensorData::new(v, [b, 1, 8, 8]), device)
    };
    let d = Tensor::<4>::from_data(TensorData::new(dct_matrix().to_vec(), [1, 1, 8, 8]), device);
    let (ql, qc) = (table(&LUMA_Q), table(&CHROMA_Q));
    let y = code_plane(y.sub_scalar(128.0), ql, &d).add_scalar(128.0);
    if !subsample {
        let cb = code_plane(cb, qc.clone(), &d);
        let cr = code_plane(cr, qc, &d);
        return to_rgb(y, cb, cr);
    }
    let cb = code_plane(sub(cb), qc.clone(), &d);
    let cr = code_plane(sub(cr), qc, &d);
    // Enlarge chroma back with a triangle filter.
    let mat = |n: usize| {
        Tensor::<4>::from_data(
            TensorData::new(
                resample_matrix(n, n / 2, 0.0, (n / 2) as f32),
                [1, 1, n, n / 2],
            ),
            device,
        )
    };
    let (uh, uw) = (mat(h), mat(w));
    let up = |c: Tensor<4>| uh.clone().matmul(c).matmul(uw.clone().swap_dims(2, 3));
    to_rgb(y, up(cb), up(cr))
}

/// YCbCr (8-bit scale, chroma centred on 0) back to RGB in `[0, 1]`, clamped straight-through.
fn to_rgb(y: Tensor<4>, cb: Tensor<4>, cr: Tensor<4>) -> Tensor<4> {
    let r = y.clone() + cr.clone().mul_scalar(1.402);
    let g = y.clone() + cb.clone().mul_scalar(-0.344_136) + cr.mul_scalar(-0.714_136);
    let bl = y + cb.mul_scalar(1.772);
    let rgb = Tensor::cat(vec![r, g, bl], 1).div_scalar(255.0);
    rgb.clone() + (rgb.clone().clamp(0.0, 1.0) - rgb).detach()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_is_orthonormal() {
        let d = dct_matrix();
        for i in 0..8 {
            for j in 0..8 {
                let dot: f32 = (0..8).map(|k| d[i * 8 + k] * d[j * 8 + k]).sum();
                assert!((dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn tables_scale_like_libjpeg() {
        assert_eq!(scaled_table(&LUMA_Q, 50)[0], 16.0);
        assert_eq!(scaled_table(&LUMA_Q, 75)[0], 8.0);
        assert_eq!(scaled_table(&LUMA_Q, 100)[0], 1.0);
        assert_eq!(scaled_table(&LUMA_Q, 10)[0], 80.0);
    }

    #[test]
    fn blocks_round_trip() {
        let device = Device::flex();
        let v: Vec<f32> = (0..2 * 16 * 24).map(|i| i as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(v.clone(), [2, 1, 16, 24]), &device);
        let bl = blocks(x);
        assert_eq!(bl.dims(), [2, 6, 8, 8]);
        // The second block of the first image starts at column 8 of row 0.
        let first: Vec<f32> = bl.clone().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(first[64], 8.0);
        assert_eq!(first[64 + 8], 24.0 + 8.0);
        let back: Vec<f32> = unblocks(bl, 16, 24)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(back, v);
    }
}
