//! [`ViewDraw`]s of a batch applied as differentiable tensor operations: the crop and flip as
//! two batched resampling matmuls (`A·X·Bᵀ`, exact to differentiate), the colour jitter and
//! grayscale as per-image affine maps. Unlike the CPU views of `imaging::views`, values are not
//! clamped after the colour steps (a clamp would cut the gradient); the crop geometry and the
//! factors are the same draws.
//!
//! Shapes: batches `[B, 3, s, s]`; resampling matrices `[B, 1, s, s]`; factors `[B, 1, 1, 1]`.

use burn::prelude::*;
use burn::tensor::TensorData;

use crate::imaging::resample::resample_matrix;
use crate::imaging::views::{LUMA, ViewConfig, ViewDraw};
use crate::rng::Rng;

/// One drawn view per image of a batch, on the device.
pub struct TensorViews {
    rows: Tensor<4>,
    cols: Tensor<4>,
    brightness: Tensor<4>,
    contrast: Tensor<4>,
    saturation: Tensor<4>,
    gray: Tensor<4>,
}

impl TensorViews {
    /// Draw `batch` views of `s × s` images (the same draws as [`ViewDraw::draw`]).
    pub fn draw(batch: usize, s: usize, cfg: &ViewConfig, rng: &mut Rng, device: &Device) -> Self {
        let draws: Vec<ViewDraw> = (0..batch)
            .map(|_| ViewDraw::draw(s as f32, s as f32, cfg, rng))
            .collect();
        Self::from_draws(&draws, s, device)
    }

    /// These draws of `s × s` images.
    pub fn from_draws(draws: &[ViewDraw], s: usize, device: &Device) -> Self {
        let b = draws.len();
        let mut rows = Vec::with_capacity(b * s * s);
        let mut cols = Vec::with_capacity(b * s * s);
        for d in draws {
            let (x0, y0, cw, ch) = d.region;
            rows.extend(resample_matrix(s, s, y0, ch));
            let c = resample_matrix(s, s, x0, cw);
            if d.flip {
                // Output column i reads what column s−1−i would.
                for i in (0..s).rev() {
                    cols.extend_from_slice(&c[i * s..(i + 1) * s]);
                }
            } else {
                cols.extend(c);
            }
        }
        let matrix = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [b, 1, s, s]), device);
        let factor = |f: &dyn Fn(&ViewDraw) -> f32| {
            let v: Vec<f32> = draws.iter().map(f).collect();
            Tensor::<4>::from_data(TensorData::new(v, [b, 1, 1, 1]), device)
        };
        Self {
            rows: matrix(rows),
            cols: matrix(cols),
            brightness: factor(&|d| d.colour[0]),
            contrast: factor(&|d| d.colour[1]),
            saturation: factor(&|d| d.colour[2]),
            gray: factor(&|d| if d.gray { 1.0 } else { 0.0 }),
        }
    }

    /// The views of `x: [B, 3, s, s]` (differentiable), which must be on the device the views
    /// were drawn on.
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let device = x.device();
        let weights = Tensor::<4>::from_data(TensorData::new(LUMA.to_vec(), [1, 3, 1, 1]), &device);
        let luma = |t: Tensor<4>| (t * weights.clone()).sum_dim(1); // [B, 1, s, s]
        let v = self
            .rows
            .clone()
            .matmul(x)
            .matmul(self.cols.clone().swap_dims(2, 3));
        let v = v * self.brightness.clone();
        let mean = luma(v.clone()).mean_dim(2).mean_dim(3); // [B, 1, 1, 1]
        let v = (v - mean.clone()) * self.contrast.clone() + mean;
        let l = luma(v.clone());
        let v = l.clone() + (v - l) * self.saturation.clone();
        let gray = self.gray.clone();
        let l = luma(v.clone());
        v * gray.clone().neg().add_scalar(1.0) + l * gray
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::Planar;
    use crate::protect::tensor::planar_to_tensor;

    #[test]
    fn tensor_views_match_the_cpu_views_where_nothing_clips() {
        // Values in the middle of the range and a mild jitter: the CPU's clamps never act, so
        // both ways compute the same view.
        let mut r = Rng::new(5);
        let mut p = Planar::zeros(16, 16);
        p.data.iter_mut().for_each(|v| *v = r.uniform(0.35, 0.65));
        let cfg = ViewConfig {
            jitter: 0.2,
            p_jitter: 1.0,
            p_gray: 0.5,
            ..ViewConfig::default()
        };
        let device = Device::flex();
        let mut rng = Rng::new(11);
        for _ in 0..6 {
            let d = ViewDraw::draw(16.0, 16.0, &cfg, &mut rng);
            let want = d.apply(&p, 16);
            let got =
                TensorViews::from_draws(&[d], 16, &device).apply(planar_to_tensor(&p, &device));
            let got: Vec<f32> = got.into_data().try_to_vec::<f32>().unwrap();
            let err = got
                .iter()
                .zip(&want.data)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 1e-4, "{d:?}: max error {err}");
        }
    }

    #[test]
    fn tensor_views_pass_gradients_back_to_the_image() {
        let device = Device::flex().autodiff();
        let views = TensorViews::draw(2, 8, &ViewConfig::default(), &mut Rng::new(2), &device);
        let x = Tensor::<4>::ones([2, 3, 8, 8], &device)
            .mul_scalar(0.5)
            .require_grad();
        let loss = views.apply(x.clone()).sum();
        let g = x.grad(&loss.backward()).expect("gradient");
        let total: f32 = g.abs().sum().into_scalar();
        assert!(total > 1.0, "{total}");
    }
}
