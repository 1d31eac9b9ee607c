//! Visibility metrics on 8-bit images: PSNR over RGB and SSIM on luma or on one colour channel
//! (Wang et al. 2004, 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03). The figures that
//! see what SSIM misses (colour cast, noise in flat areas) are in [`super::visibility`].

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

/// Normalised 11-tap Gaussian, σ = 1.5.
fn gaussian_taps() -> [f64; 11] {
    let sigma = 1.5f64;
    let mut k = [0.0; 11];
    for (i, v) in k.iter_mut().enumerate() {
        let d = i as f64 - 5.0;
        *v = (-d * d / (2.0 * sigma * sigma)).exp();
    }
    let sum: f64 = k.iter().sum();
    k.map(|v| v / sum)
}

/// `out[x] = Σᵢ k[i] · src[clamp(x + i − 5)]`, the interior written tap by tap so that it
/// vectorises (same summation order as the textbook loop).
fn blur_row(src: &[f32], k: &[f32; 11], out: &mut [f32]) {
    let w = src.len();
    let clamped = |x: usize| -> f32 {
        let mut acc = 0.0;
        for (i, kv) in k.iter().enumerate() {
            acc += kv * src[(x + i).saturating_sub(5).min(w - 1)];
        }
        acc
    };
    if w <= 10 {
        for (x, o) in out.iter_mut().enumerate() {
            *o = clamped(x);
        }
        return;
    }
    let inner = &mut out[5..w - 5];
    inner.fill(0.0);
    for (i, kv) in k.iter().enumerate() {
        for (o, v) in inner.iter_mut().zip(&src[i..i + w - 10]) {
            *o += kv * v;
        }
    }
    for x in (0..5).chain(w - 5..w) {
        out[x] = clamped(x);
    }
}

/// Which signal SSIM compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsimChannel {
    /// Rec. 601 luma (0.299 R + 0.587 G + 0.114 B), what most SSIM figures mean.
    Luma,
    /// One colour channel: 0 = red, 1 = green, 2 = blue.
    Rgb(usize),
}

impl SsimChannel {
    /// The signal at one pixel, centred on mid-grey (see [`CENTRE`]).
    fn value(self, p: [u8; 3]) -> f32 {
        let v = match self {
            SsimChannel::Luma => {
                0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
            }
            SsimChannel::Rgb(c) => f32::from(p[c.min(2)]),
        };
        v - CENTRE
    }
}

/// SSIM's moments are computed in f32 (twice the SIMD width of f64: the metric is a large
/// share of a protection job's time) on values centred on mid-grey, which keeps the squares
/// small (≤ 128²) so that `E[x²] − E[x]²` loses little to cancellation; only the luminance
/// term needs the true means, which add the centre back. The mean agrees with the f64
/// textbook computation within 1e-6 on images of a few thousand pixels (within 1e-4 on a
/// handful of pixels, where little rounding averages out); see the tests.
const CENTRE: f32 = 128.0;

/// The five SSIM moments of one row (x, y, x², y², xy of the channel), each blurred
/// horizontally with edge clamping.
fn moment_row(
    a: &RgbImage,
    b: &RgbImage,
    row: u32,
    k: &[f32; 11],
    chan: SsimChannel,
) -> [Vec<f32>; 5] {
    let luma = |img: &RgbImage| -> Vec<f32> {
        (0..img.width())
            .map(|x| chan.value(img.get_pixel(x, row).0))
            .collect()
    };
    let (x, y) = (luma(a), luma(b));
    let w = x.len();
    let sources: [Vec<f32>; 5] = [
        x.iter().map(|v| v * v).collect(),
        y.iter().map(|v| v * v).collect(),
        x.iter().zip(&y).map(|(p, q)| p * q).collect(),
        x,
        y,
    ];
    let [xx, yy, xy, x, y] = sources.map(|src| {
        let mut out = vec![0.0; w];
        blur_row(&src, k, &mut out);
        out
    });
    [x, y, xx, yy, xy]
}

/// Sum of per-pixel SSIM over output rows `rows` (a band; bands are independent).
fn ssim_band(
    a: &RgbImage,
    b: &RgbImage,
    rows: std::ops::Range<usize>,
    k: &[f32; 11],
    chan: SsimChannel,
) -> f64 {
    let (w, h) = (a.width() as usize, a.height() as usize);
    let c1 = (0.01f32 * 255.0).powi(2);
    let c2 = (0.03f32 * 255.0).powi(2);
    // Horizontally blurred moments of the ≤ 11 distinct rows the current window needs; a row
    // lives in slot `row % 11`, which is unique inside any 11-row window.
    let mut ring: Vec<(usize, [Vec<f32>; 5])> = vec![(usize::MAX, Default::default()); 11];
    let mut m: [Vec<f32>; 5] = std::array::from_fn(|_| vec![0.0; w]);
    let mut per_pixel = vec![0.0; w];
    let mut total = 0.0;
    for y in rows {
        let taps: [usize; 11] = std::array::from_fn(|i| (y + i).saturating_sub(5).min(h - 1));
        for &r in &taps {
            if ring[r % 11].0 != r {
                ring[r % 11] = (r, moment_row(a, b, r as u32, k, chan));
            }
        }
        // Vertical blur, tap by tap (vectorises; same order as the textbook loop).
        for (j, mj) in m.iter_mut().enumerate() {
            mj.fill(0.0);
            for (i, kv) in k.iter().enumerate() {
                for (o, v) in mj.iter_mut().zip(&ring[taps[i] % 11].1[j]) {
                    *o += kv * v;
                }
            }
        }
        let [mx, my, sxx, syy, sxy] = &m;
        for (x, out) in per_pixel.iter_mut().enumerate() {
            let (ux, uy) = (mx[x], my[x]); // centred means
            let vx = sxx[x] - ux * ux;
            let vy = syy[x] - uy * uy;
            let cov = sxy[x] - ux * uy;
            let (tx, ty) = (ux + CENTRE, uy + CENTRE); // true means, for the luminance term
            *out = ((2.0 * tx * ty + c1) * (2.0 * cov + c2))
                / ((tx * tx + ty * ty + c1) * (vx + vy + c2));
        }
        total += per_pixel.iter().map(|&v| f64::from(v)).sum::<f64>();
    }
    total
}

/// Mean SSIM of `b` against `a`, on luma. 1.0 means identical.
///
/// Streams over rows in bands (in parallel): memory is a few rows, not whole-image buffers,
/// so 24-megapixel photos are fine.
///
/// # Panics
/// If the sizes differ (a caller bug, never user input).
pub fn ssim_luma(a: &RgbImage, b: &RgbImage) -> f64 {
    ssim_channel(a, b, SsimChannel::Luma)
}

/// Mean SSIM of `b` against `a` on one signal (luma or a colour channel); see [`ssim_luma`].
///
/// # Panics
/// If the sizes differ (a caller bug, never user input).
pub fn ssim_channel(a: &RgbImage, b: &RgbImage, chan: SsimChannel) -> f64 {
    use rayon::prelude::*;
    assert_eq!(a.dimensions(), b.dimensions(), "ssim: size mismatch");
    let (w, h) = (a.width() as usize, a.height() as usize);
    if w == 0 || h == 0 {
        return 1.0;
    }
    let k = gaussian_taps().map(|v| v as f32);
    const BAND: usize = 128;
    let bands: Vec<std::ops::Range<usize>> = (0..h)
        .step_by(BAND)
        .map(|y0| y0..(y0 + BAND).min(h))
        .collect();
    let total: f64 = bands
        .into_par_iter()
        .map(|rows| ssim_band(a, b, rows, &k, chan))
        .collect::<Vec<f64>>()
        .iter()
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

    /// The textbook whole-image computation (five full blurred planes), kept as the reference
    /// the streaming version must match.
    fn ssim_reference(a: &RgbImage, b: &RgbImage) -> f64 {
        let (w, h) = (a.width() as usize, a.height() as usize);
        let k = gaussian_taps();
        let luma = |img: &RgbImage| -> Vec<f64> {
            img.pixels()
                .map(|p| {
                    0.299 * f64::from(p.0[0])
                        + 0.587 * f64::from(p.0[1])
                        + 0.114 * f64::from(p.0[2])
                })
                .collect()
        };
        let blur = |src: &[f64]| -> Vec<f64> {
            let mut tmp = vec![0.0; src.len()];
            for y in 0..h {
                for x in 0..w {
                    tmp[y * w + x] = (0..11)
                        .map(|i| k[i] * src[y * w + (x + i).saturating_sub(5).min(w - 1)])
                        .sum();
                }
            }
            let mut out = vec![0.0; src.len()];
            for y in 0..h {
                for x in 0..w {
                    out[y * w + x] = (0..11)
                        .map(|i| k[i] * tmp[(y + i).saturating_sub(5).min(h - 1) * w + x])
                        .sum();
                }
            }
            out
        };
        let (x, y) = (luma(a), luma(b));
        let xx: Vec<f64> = x.iter().map(|v| v * v).collect();
        let yy: Vec<f64> = y.iter().map(|v| v * v).collect();
        let xy: Vec<f64> = x.iter().zip(&y).map(|(p, q)| p * q).collect();
        let (mx, my, sxx, syy, sxy) = (blur(&x), blur(&y), blur(&xx), blur(&yy), blur(&xy));
        let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
        let total: f64 = (0..w * h)
            .map(|i| {
                let (ux, uy) = (mx[i], my[i]);
                let (vx, vy, cov) = (sxx[i] - ux * ux, syy[i] - uy * uy, sxy[i] - ux * uy);
                ((2.0 * ux * uy + c1) * (2.0 * cov + c2))
                    / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
            })
            .sum();
        total / (w * h) as f64
    }

    #[test]
    fn streaming_ssim_matches_the_whole_image_computation() {
        let mut r = crate::rng::Rng::new(9);
        // Sizes below the window, one band, several bands with a short last one.
        for (w, h) in [(1, 1), (3, 2), (7, 300), (45, 129), (130, 261)] {
            let a = RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([(x * 5 + y) as u8, (y * 3) as u8, (x ^ y) as u8])
            });
            let mut b = a.clone();
            b.pixels_mut().for_each(|p| {
                p.0.iter_mut()
                    .for_each(|v| *v = (i32::from(*v) + r.below(17) as i32 - 8).clamp(0, 255) as u8)
            });
            let (fast, slow) = (ssim_luma(&a, &b), ssim_reference(&a, &b));
            // f32 moments: a few pixels average little of their rounding away.
            let tol = if w * h < 100 { 1e-4 } else { 1e-6 };
            assert!((fast - slow).abs() < tol, "{w}×{h}: {fast} vs {slow}");
            assert!(fast < 1.0, "{w}×{h}: noise lowers SSIM");
        }
    }

    #[test]
    fn identical_images_are_perfect() {
        let a = gradient(20, 15);
        assert_eq!(psnr_db(&a, &a), 100.0);
        assert!((ssim_luma(&a, &a) - 1.0).abs() < 1e-6);
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
