//! Visibility metrics on 8-bit images: PSNR over RGB and SSIM on luma (Wang et al. 2004,
//! 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03).

use image::RgbImage;

use super::apply::psnr_from_mse;

/// PSNR of `b` against `a` in dB over all RGB values; 100 dB means identical.
///
/// # Panics
/// If the sizes differ (a caller bug, never user input).
pub fn psnr_db(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "psnr_db: size mismatch");
    let n = a.as_raw().len().max(1) as f64;
    let sq: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| {
            let d = f64::from(*x) - f64::from(*y);
            d * d
        })
        .sum();
    psnr_from_mse(sq / n)
}

fn luma(img: &RgbImage) -> Vec<f64> {
    img.pixels()
        .map(|p| 0.299 * f64::from(p.0[0]) + 0.587 * f64::from(p.0[1]) + 0.114 * f64::from(p.0[2]))
        .collect()
}

/// Separable Gaussian blur with edge clamping.
fn blur(src: &[f64], w: usize, h: usize, k: &[f64]) -> Vec<f64> {
    let r = k.len() / 2;
    let mut tmp = vec![0.0; src.len()];
    for y in 0..h {
        for x in 0..w {
            tmp[y * w + x] = k
                .iter()
                .enumerate()
                .map(|(i, kv)| kv * src[y * w + (x + i).saturating_sub(r).min(w - 1)])
                .sum();
        }
    }
    let mut out = vec![0.0; src.len()];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = k
                .iter()
                .enumerate()
                .map(|(i, kv)| kv * tmp[(y + i).saturating_sub(r).min(h - 1) * w + x])
                .sum();
        }
    }
    out
}

/// Mean SSIM of `b` against `a`, on luma. 1.0 means identical.
///
/// # Panics
/// If the sizes differ (a caller bug, never user input).
pub fn ssim_luma(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "ssim_luma: size mismatch");
    let (w, h) = (a.width() as usize, a.height() as usize);
    if w == 0 || h == 0 {
        return 1.0;
    }
    let sigma = 1.5f64;
    let raw: Vec<f64> = (-5i32..=5)
        .map(|i| (-f64::from(i * i) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f64 = raw.iter().sum();
    let k: Vec<f64> = raw.iter().map(|v| v / sum).collect();
    let (x, y) = (luma(a), luma(b));
    let xx: Vec<f64> = x.iter().map(|v| v * v).collect();
    let yy: Vec<f64> = y.iter().map(|v| v * v).collect();
    let xy: Vec<f64> = x.iter().zip(&y).map(|(p, q)| p * q).collect();
    let (mx, my) = (blur(&x, w, h, &k), blur(&y, w, h, &k));
    let (sxx, syy, sxy) = (
        blur(&xx, w, h, &k),
        blur(&yy, w, h, &k),
        blur(&xy, w, h, &k),
    );
    let c1 = (0.01f64 * 255.0).powi(2);
    let c2 = (0.03f64 * 255.0).powi(2);
    let total: f64 = (0..w * h)
        .map(|i| {
            let (ux, uy) = (mx[i], my[i]);
            let vx = sxx[i] - ux * ux;
            let vy = syy[i] - uy * uy;
            let cov = sxy[i] - ux * uy;
            ((2.0 * ux * uy + c1) * (2.0 * cov + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        })
        .sum();
    total / (w * h) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 7 + y * 3) as u8, (x * 2) as u8, (y * 5) as u8])
        })
    }

    #[test]
    fn identical_images_are_perfect() {
        let a = gradient(20, 15);
        assert_eq!(psnr_db(&a, &a), 100.0);
        assert!((ssim_luma(&a, &a) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_uniform_offset_of_one_level_is_48_db() {
        let a = RgbImage::from_pixel(8, 8, image::Rgb([10, 20, 30]));
        let b = RgbImage::from_pixel(8, 8, image::Rgb([11, 21, 31]));
        assert!((psnr_db(&a, &b) - 48.1308).abs() < 1e-3);
    }

    #[test]
    fn ssim_drops_with_noise_and_more_with_more_noise() {
        let a = gradient(32, 32);
        let mut r = crate::rng::Rng::new(4);
        let mut noisy = |amp: i32| {
            let mut b = a.clone();
            b.pixels_mut().for_each(|p| {
                p.0.iter_mut().for_each(|v| {
                    let d = r.below(2 * amp as u64 + 1) as i32 - amp;
                    *v = (i32::from(*v) + d).clamp(0, 255) as u8
                })
            });
            ssim_luma(&a, &b)
        };
        let small = noisy(4);
        let large = noisy(32);
        assert!(
            small < 0.999 && large < small,
            "small {small} large {large}"
        );
    }
}
