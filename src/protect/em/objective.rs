//! What the δ-step minimises beyond plain error-minimizing noise: robust EM's expectation over
//! crops/flips and its inner adversary (`methods.md` §2), and TUE's class-wise separability
//! discriminant of the noise (`methods.md` §5).
//!
//! Shapes: batches `[B, 3, s, s]` in 0–1; crop/flip draws are `[B, 1, s, s]` resampling
//! matrices (zero rows where the crop reaches into the padding), so a transform is two batched
//! matmuls and its gradient is exact.

use burn::nn::loss::CrossEntropyLoss;
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::error::MethodError;
use crate::model::Surrogate;
use crate::rng::Rng;

/// Robust EM's additions.
#[derive(Clone, Debug, PartialEq)]
pub struct Robust {
    /// Crop/flip draws the δ gradient is averaged over (J).
    pub eot_samples: u32,
    /// Zero padding of the random crops (px).
    pub crop_pad: usize,
    /// Random horizontal flips.
    pub flip: bool,
    /// Adversarial radius ρ_a (fraction of full scale).
    pub radius: f32,
    /// Sign-ascent steps of the adversary (step 2·ρ_a/steps, random start).
    pub steps: u32,
}

/// The δ-step's objective on top of error-minimizing noise's cross-entropy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Objective {
    /// Robust EM: expectation over crops/flips, inner adversary, adversarial θ-steps.
    pub robust: Option<Robust>,
    /// TUE: weight of the CSD term (0: off).
    pub csd_weight: f32,
    /// Start δ uniformly in ±ε (seeded) instead of at zero, as REM and TUE do.
    pub random_start: bool,
}

/// One random crop (with zero padding `pad`) and optional flip per image of a batch of side
/// `s`, as `[B, 1, s, s]` row and column matrices.
pub fn crop_flip_draw(
    batch: usize,
    s: usize,
    pad: usize,
    flip: bool,
    rng: &mut Rng,
    device: &Device,
) -> (Tensor<4>, Tensor<4>) {
    let mut rows = vec![0f32; batch * s * s];
    let mut cols = vec![0f32; batch * s * s];
    for b in 0..batch {
        let dy = rng.below(2 * pad as u64 + 1) as isize - pad as isize;
        let dx = rng.below(2 * pad as u64 + 1) as isize - pad as isize;
        let mirror = flip && rng.next_f32() < 0.5;
        for i in 0..s {
            let src = i as isize + dy;
            if (0..s as isize).contains(&src) {
                rows[b * s * s + i * s + src as usize] = 1.0;
            }
            let j = if mirror { s - 1 - i } else { i };
            let src = j as isize + dx;
            if (0..s as isize).contains(&src) {
                cols[b * s * s + i * s + src as usize] = 1.0;
            }
        }
    }
    let t = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [batch, 1, s, s]), device);
    (t(rows), t(cols))
}

/// Apply a [`crop_flip_draw`] to `x: [B, 3, s, s]` (differentiable).
pub fn apply_crop_flip(x: Tensor<4>, (rows, cols): &(Tensor<4>, Tensor<4>)) -> Tensor<4> {
    rows.clone().matmul(x).matmul(cols.clone().swap_dims(2, 3))
}

/// The worst-case offset within `radius` (L∞) for `model` at `z: [B, 3, s, s]` (plain device):
/// PGD ascent on the cross-entropy from a seeded random start, kept in valid pixels. Returns
/// `z_adv − z` on the plain device. `targets` live on the autodiff device.
pub fn adversarial_offset(
    model: &Surrogate,
    ce: &CrossEntropyLoss,
    z: Tensor<4>,
    targets: Tensor<1, Int>,
    robust: &Robust,
    rng: &mut Rng,
    method: &'static str,
) -> Result<Tensor<4>, MethodError> {
    let r = robust.radius;
    let dims = z.dims();
    let device = z.device();
    let start: Vec<f32> = (0..dims.iter().product::<usize>())
        .map(|_| rng.uniform(-r, r))
        .collect();
    let start = Tensor::<4>::from_data(TensorData::new(start, dims), &device);
    let alpha = 2.0 * r / robust.steps.max(1) as f32;
    let mut adv = (z.clone() + start).clamp(0.0, 1.0);
    for _ in 0..robust.steps {
        let x = adv.clone().autodiff().require_grad();
        let loss = ce.forward(model.forward(x.clone()), targets.clone());
        let grads = loss.backward();
        let g = x.grad(&grads).ok_or_else(|| MethodError::Compute {
            method,
            message: "no input gradient for the adversary".into(),
        })?;
        let step = (adv + g.sign().mul_scalar(alpha) - z.clone()).clamp(-r, r);
        adv = (z.clone() + step).clamp(0.0, 1.0);
    }
    Ok(adv - z)
}

/// Class-wise separability discriminant of perturbations `d: [B, D]` with host `labels`
/// (Ren et al. 2023): the mean over ordered pairs of classes present of
/// (σᵢ + σⱼ) / ‖μᵢ − μⱼ‖₂, where μ is a class's mean perturbation and σ the mean distance of
/// its perturbations to μ; smaller is more separable. `None` with fewer than two classes.
pub fn csd(d: Tensor<2>, labels: &[usize]) -> Option<Tensor<1>> {
    let mut present: Vec<usize> = labels.to_vec();
    present.sort_unstable();
    present.dedup();
    let m = present.len();
    if m < 2 {
        return None;
    }
    let device = d.device();
    let b = labels.len();
    let mut onehot = vec![0f32; b * m];
    let mut counts = vec![0f32; m];
    for (i, l) in labels.iter().enumerate() {
        let c = present.partition_point(|p| p < l);
        onehot[i * m + c] = 1.0;
        counts[c] += 1.0;
    }
    let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [b, m]), &device);
    let inv = Tensor::<2>::from_data(
        TensorData::new(counts.iter().map(|c| 1.0 / c).collect(), [m, 1]),
        &device,
    );
    let mu = onehot.clone().transpose().matmul(d.clone()) * inv.clone(); // [m, D]
    let spread = (d - onehot.clone().matmul(mu.clone())) // [B, D]
        .powi_scalar(2)
        .sum_dim(1)
        .add_scalar(1e-12)
        .sqrt(); // [B, 1]
    let sigma = onehot.transpose().matmul(spread) * inv; // [m, 1]
    let diff = mu.clone().unsqueeze_dim::<3>(1) - mu.unsqueeze_dim::<3>(0); // [m, m, D]
    let sep = diff
        .powi_scalar(2)
        .sum_dim(2)
        .add_scalar(1e-12)
        .sqrt()
        .reshape([m, m]);
    let eye = Tensor::<2>::eye(m, &device);
    let num = sigma.clone() + sigma.transpose(); // [m, m]
    let ratio = num / (sep + eye.clone()) * (eye.neg().add_scalar(1.0));
    Some(ratio.sum().div_scalar((m * (m - 1)) as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(t: Tensor<1>) -> f32 {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()[0]
    }

    #[test]
    fn csd_matches_a_hand_computed_case_and_falls_as_groups_separate() {
        let device = Device::flex();
        // Two classes in 1-D: class 0 at {0, 2} (μ 1, σ 1), class 1 at {5, 7} (μ 6, σ 1):
        // both ordered pairs give (1 + 1) / 5 = 0.4.
        let d = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32, 2.0, 5.0, 7.0], [4, 1]),
            &device,
        );
        let v = read(csd(d, &[0, 0, 1, 1]).unwrap());
        assert!((v - 0.4).abs() < 1e-4, "{v}");
        // Moving the groups apart lowers it; one class gives none.
        let far = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32, 2.0, 15.0, 17.0], [4, 1]),
            &device,
        );
        assert!(read(csd(far.clone(), &[3, 3, 8, 8]).unwrap()) < v);
        assert!(csd(far, &[1, 1, 1, 1]).is_none());
    }

    #[test]
    fn crops_shift_within_the_padding_and_flips_mirror() {
        let device = Device::flex();
        let s = 6;
        let x: Vec<f32> = (0..3 * s * s).map(|i| (i % (s * s)) as f32 + 1.0).collect();
        let x = Tensor::<4>::from_data(TensorData::new(x, [1, 3, s, s]), &device);
        let mut rng = Rng::new(4);
        for _ in 0..20 {
            let draw = crop_flip_draw(1, s, 2, true, &mut rng, &device);
            let y = apply_crop_flip(x.clone(), &draw)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            // Every output value is an input value (a shifted/mirrored copy) or padding.
            let nonzero = y.iter().filter(|v| **v != 0.0).count();
            assert!(nonzero >= 3 * (s - 2) * (s - 2), "{nonzero}");
            assert!(
                y.iter()
                    .all(|v| *v == 0.0 || (v.fract() == 0.0 && *v <= (s * s) as f32))
            );
        }
        // Without padding or flips the draw is the identity.
        let id = crop_flip_draw(1, s, 0, false, &mut rng, &device);
        let y = apply_crop_flip(x.clone(), &id);
        assert_eq!(
            y.into_data().try_to_vec::<f32>().unwrap(),
            x.into_data().try_to_vec::<f32>().unwrap()
        );
    }
}
