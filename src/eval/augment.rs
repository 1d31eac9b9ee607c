//! Training-time augmentations on planar images, all seeded: the standard CIFAR recipe
//! (random crop with 4-px zero padding + horizontal flip), the standard photo recipe
//! (random-resized crop + flip) and UEraser-lite. (A contrastive learner's views:
//! `imaging::views`.)

use crate::imaging::Planar;
use crate::imaging::resample::resample_region;
use crate::imaging::views::random_crop_region;
use crate::rng::Rng;

/// Random-resized crop (a share `scale` of the area, aspect ratio 3/4–4/3, as torchvision's
/// `RandomResizedCrop`) resampled to `out × out`, then a horizontal flip with probability ½.
pub fn random_resized_crop(p: &Planar, out: usize, scale: [f32; 2], rng: &mut Rng) -> Planar {
    let (region, flip) = random_crop_region(p.width as f32, p.height as f32, scale, rng);
    resample_region(p, region, out, out, flip)
}

/// Random crop with `pad` pixels of zero padding, then a horizontal flip with probability ½.
pub fn crop_flip(p: &Planar, pad: usize, rng: &mut Rng) -> Planar {
    let (w, h) = (p.width as usize, p.height as usize);
    let dx = rng.below(2 * pad as u64 + 1) as isize - pad as isize;
    let dy = rng.below(2 * pad as u64 + 1) as isize - pad as isize;
    let flip = rng.below(2) == 1;
    let n = p.plane_len();
    let mut out = Planar::zeros(p.width, p.height);
    for c in 0..3 {
        for y in 0..h {
            let sy = y as isize + dy;
            if sy < 0 || sy >= h as isize {
                continue;
            }
            for x in 0..w {
                let sx = x as isize + dx;
                if sx < 0 || sx >= w as isize {
                    continue;
                }
                let tx = if flip { w - 1 - x } else { x };
                out.data[c * n + y * w + tx] = p.data[c * n + sy as usize * w + sx as usize];
            }
        }
    }
    out
}

/// A smooth random field in `[-1, 1]` (bilinear upsampling of a 4×4 random grid).
fn plasma(w: usize, h: usize, rng: &mut Rng) -> Vec<f32> {
    let g: Vec<f32> = (0..16).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let mut out = vec![0.0; w * h];
    for y in 0..h {
        let fy = y as f32 / (h.max(2) - 1) as f32 * 3.0;
        let (y0, ty) = ((fy.floor() as usize).min(2), fy - fy.floor().min(2.0));
        for x in 0..w {
            let fx = x as f32 / (w.max(2) - 1) as f32 * 3.0;
            let (x0, tx) = ((fx.floor() as usize).min(2), fx - fx.floor().min(2.0));
            let a = g[y0 * 4 + x0] * (1.0 - tx) + g[y0 * 4 + x0 + 1] * tx;
            let b = g[(y0 + 1) * 4 + x0] * (1.0 - tx) + g[(y0 + 1) * 4 + x0 + 1] * tx;
            out[y * w + x] = a * (1.0 - ty) + b * ty;
        }
    }
    out
}

/// UEraser-lite on one image: plasma brightness and contrast, a random channel permutation, and
/// one random TrivialAugment-style op (brightness, contrast, saturation, solarize, posterize,
/// autocontrast or identity) of random strength. Values stay in `[0, 1]`.
pub fn ueraser(p: &Planar, rng: &mut Rng) -> Planar {
    let (w, h) = (p.width as usize, p.height as usize);
    let n = p.plane_len();
    let bright = plasma(w, h, rng);
    let contrast = plasma(w, h, rng);
    let mut out = p.clone();
    let mean = p.data.iter().sum::<f32>() / p.data.len().max(1) as f32;
    for c in 0..3 {
        for i in 0..n {
            let v = out.data[c * n + i];
            let v = (v - mean) * (1.0 + 0.5 * contrast[i]) + mean + 0.3 * bright[i];
            out.data[c * n + i] = v.clamp(0.0, 1.0);
        }
    }
    // Channel shuffle.
    let mut perm = [0usize, 1, 2];
    for i in (1..3).rev() {
        perm.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let shuffled: Vec<f32> = perm
        .iter()
        .flat_map(|&c| out.data[c * n..(c + 1) * n].to_vec())
        .collect();
    out.data = shuffled;
    let m = rng.uniform(0.0, 1.0);
    match rng.below(7) {
        0 => out
            .data
            .iter_mut()
            .for_each(|v| *v = (*v * (0.1 + 1.8 * m)).clamp(0.0, 1.0)),
        1 => {
            let mean = out.data.iter().sum::<f32>() / out.data.len().max(1) as f32;
            out.data
                .iter_mut()
                .for_each(|v| *v = ((*v - mean) * (0.1 + 1.8 * m) + mean).clamp(0.0, 1.0));
        }
        2 => {
            for i in 0..n {
                let l = 0.299 * out.data[i] + 0.587 * out.data[n + i] + 0.114 * out.data[2 * n + i];
                for c in 0..3 {
                    let v = &mut out.data[c * n + i];
                    *v = (l + (*v - l) * (0.1 + 1.8 * m)).clamp(0.0, 1.0);
                }
            }
        }
        3 => out.data.iter_mut().for_each(|v| {
            if *v >= m {
                *v = 1.0 - *v
            }
        }),
        4 => {
            let levels = f32::from(1u8 << (1 + (m * 7.0) as u8).min(8));
            out.data
                .iter_mut()
                .for_each(|v| *v = (*v * levels).floor() / levels);
        }
        5 => {
            for c in 0..3 {
                let plane = &mut out.data[c * n..(c + 1) * n];
                let lo = plane.iter().cloned().fold(f32::MAX, f32::min);
                let hi = plane.iter().cloned().fold(f32::MIN, f32::max);
                if hi > lo {
                    plane.iter_mut().for_each(|v| *v = (*v - lo) / (hi - lo));
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_resized_crops_have_the_output_size_and_stay_in_range() {
        let mut r = Rng::new(2);
        let mut p = Planar::zeros(40, 30);
        p.data.iter_mut().for_each(|v| *v = r.next_f32());
        for _ in 0..10 {
            let c = random_resized_crop(&p, 16, [0.35, 1.0], &mut r);
            assert_eq!((c.width, c.height), (16, 16));
            assert!(c.data.iter().all(|v| (-1e-5..=1.0 + 1e-5).contains(v)));
        }
    }

    fn ramp() -> Planar {
        let mut p = Planar::zeros(8, 6);
        p.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = (i % 48) as f32 / 48.0);
        p
    }

    #[test]
    fn crop_flip_keeps_size_and_zero_pads() {
        let mut rng = Rng::new(3);
        let mut saw_padding = false;
        for _ in 0..20 {
            let out = crop_flip(&ramp(), 4, &mut rng);
            assert_eq!((out.width, out.height, out.data.len()), (8, 6, 144));
            saw_padding |= out.data.iter().filter(|&&v| v == 0.0).count() > 3;
        }
        assert!(saw_padding);
    }

    #[test]
    fn ueraser_changes_images_within_range_and_is_seeded() {
        let a = ueraser(&ramp(), &mut Rng::new(1));
        let b = ueraser(&ramp(), &mut Rng::new(1));
        assert_eq!(a, b);
        assert_ne!(a, ramp());
        assert!(a.data.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
