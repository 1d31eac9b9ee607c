//! Visibility as people see it. PSNR and luma SSIM miss the two things that give a protected
//! photo away on a smooth sky: a low-frequency colour cast and grain in flat areas. This module
//! measures both next to PSNR and SSIM (luma and per channel):
//!
//! - **colour cast**: CIEDE2000 between the *strongly blurred* original and protected photo
//!   (area-averaged to at most 256 px on the long side, then a Gaussian of σ = 1/128 of the
//!   long side), mean and 99th percentile over the blurred pixels. Fine grain averages out;
//!   a shift in colour or brightness over a region does not.
//! - **flat-area noise**: RMS of the change (all channels, 8-bit units) over the pixels whose
//!   original 9×9 luma standard deviation is below 2/255 — where the eye sees everything.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::metrics::{SsimChannel, psnr_db, ssim_channel};

/// Every visibility figure of one protected photo against its original.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Visibility {
    /// PSNR over RGB in dB (100 = identical).
    pub psnr_db: f64,
    /// SSIM on luma (11×11 Gaussian window); 1 = identical.
    pub ssim: f64,
    /// SSIM on red, green and blue separately.
    pub ssim_rgb: [f64; 3],
    /// Colour cast: mean CIEDE2000 between the blurred original and protected photo.
    pub cast_de00: f64,
    /// Colour cast, 99th percentile over the blurred pixels (the worst region).
    pub cast_de00_p99: f64,
    /// RMS change in flat areas, in 1/255 units (0 when the photo has no flat area).
    pub flat_noise_255: f64,
    /// Share of the photo's pixels that count as flat (0–1).
    pub flat_share: f64,
}

impl Visibility {
    /// The figures of an unchanged photo.
    pub fn identical() -> Self {
        Self {
            psnr_db: 100.0,
            ssim: 1.0,
            ssim_rgb: [1.0; 3],
            cast_de00: 0.0,
            cast_de00_p99: 0.0,
            flat_noise_255: 0.0,
            flat_share: 0.0,
        }
    }

    /// Lowest of the per-channel SSIMs.
    pub fn worst_channel_ssim(&self) -> f64 {
        self.ssim_rgb.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// Measure `protected` against `clean` (same size).
///
/// # Panics
/// If the sizes differ (a caller bug, never user input).
pub fn measure(clean: &RgbImage, protected: &RgbImage) -> Visibility {
    assert_eq!(clean.dimensions(), protected.dimensions(), "size mismatch");
    let (cast_de00, cast_de00_p99) = colour_cast(clean, protected);
    let (flat_noise_255, flat_share) = flat_area_noise(clean, protected);
    Visibility {
        psnr_db: psnr_db(clean, protected),
        ssim: ssim_channel(clean, protected, SsimChannel::Luma),
        ssim_rgb: std::array::from_fn(|c| ssim_channel(clean, protected, SsimChannel::Rgb(c))),
        cast_de00,
        cast_de00_p99,
        flat_noise_255,
        flat_share,
    }
}

/// Mean and worst (max) of a figure over several photos.
pub fn mean_and_worst(values: impl Iterator<Item = f64>, higher_is_worse: bool) -> (f64, f64) {
    let v: Vec<f64> = values.collect();
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let worst = if higher_is_worse {
        v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    } else {
        v.iter().copied().fold(f64::INFINITY, f64::min)
    };
    (mean, worst)
}

// ---------------------------------------------------------------------------------------------
// Colour cast

/// Longest side of the grid the photos are area-averaged to before the cast is measured.
const CAST_GRID: u32 = 256;

/// `(mean, p99)` CIEDE2000 between the blurred images.
pub fn colour_cast(clean: &RgbImage, protected: &RgbImage) -> (f64, f64) {
    let (w, h) = clean.dimensions();
    if w == 0 || h == 0 {
        return (0.0, 0.0);
    }
    let long = w.max(h);
    let block = long.div_ceil(CAST_GRID).max(1);
    let sigma = (f64::from(long) / 128.0 / f64::from(block)).max(1.0);
    let a = gaussian_blur(&area_grid(clean, block), sigma);
    let b = gaussian_blur(&area_grid(protected, block), sigma);
    let mut de: Vec<f64> =
        a.px.iter()
            .zip(&b.px)
            .map(|(p, q)| ciede2000(srgb_to_lab(*p), srgb_to_lab(*q)))
            .collect();
    let mean = de.iter().sum::<f64>() / de.len().max(1) as f64;
    de.sort_by(f64::total_cmp);
    let p99 = de
        .get(((de.len() as f64 - 1.0) * 0.99).round() as usize)
        .copied()
        .unwrap_or(0.0);
    (mean, p99)
}

/// A small float RGB grid (8-bit scale).
struct Grid {
    w: usize,
    h: usize,
    px: Vec<[f64; 3]>,
}

/// Average `block × block` cells (the last row/column of cells may be partial).
fn area_grid(img: &RgbImage, block: u32) -> Grid {
    let (w, h) = img.dimensions();
    let (gw, gh) = (w.div_ceil(block) as usize, h.div_ceil(block) as usize);
    let mut sum = vec![[0.0f64; 3]; gw * gh];
    let mut count = vec![0u32; gw * gh];
    for (x, y, p) in img.enumerate_pixels() {
        let i = (y / block) as usize * gw + (x / block) as usize;
        for (s, v) in sum[i].iter_mut().zip(p.0) {
            *s += f64::from(v);
        }
        count[i] += 1;
    }
    let px = sum
        .iter()
        .zip(&count)
        .map(|(s, &n)| s.map(|v| v / f64::from(n.max(1))))
        .collect();
    Grid { w: gw, h: gh, px }
}

/// Separable Gaussian blur with edge clamping (kernel radius 3σ).
fn gaussian_blur(g: &Grid, sigma: f64) -> Grid {
    let r = (3.0 * sigma).ceil() as isize;
    let k: Vec<f64> = (-r..=r)
        .map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = k.iter().sum();
    let k: Vec<f64> = k.iter().map(|v| v / total).collect();
    let pass = |src: &[[f64; 3]], horizontal: bool| -> Vec<[f64; 3]> {
        let mut out = vec![[0.0; 3]; src.len()];
        for y in 0..g.h {
            for x in 0..g.w {
                let mut acc = [0.0; 3];
                for (i, kv) in k.iter().enumerate() {
                    let d = i as isize - r;
                    let (sx, sy) = if horizontal {
                        ((x as isize + d).clamp(0, g.w as isize - 1) as usize, y)
                    } else {
                        (x, (y as isize + d).clamp(0, g.h as isize - 1) as usize)
                    };
                    let p = src[sy * g.w + sx];
                    for c in 0..3 {
                        acc[c] += kv * p[c];
                    }
                }
                out[y * g.w + x] = acc;
            }
        }
        out
    };
    let tmp = pass(&g.px, true);
    Grid {
        w: g.w,
        h: g.h,
        px: pass(&tmp, false),
    }
}

/// sRGB (8-bit scale, D65) to CIE L*a*b*.
pub fn srgb_to_lab(rgb: [f64; 3]) -> [f64; 3] {
    let lin = rgb.map(|v| {
        let c = (v / 255.0).clamp(0.0, 1.0);
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    });
    let [r, g, b] = lin;
    let x = 0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175_0 * b;
    let z = 0.019_333_9 * r + 0.119_192_0 * g + 0.950_304_1 * b;
    let f = |t: f64| {
        const D: f64 = 6.0 / 29.0;
        if t > D * D * D {
            t.cbrt()
        } else {
            t / (3.0 * D * D) + 4.0 / 29.0
        }
    };
    let (fx, fy, fz) = (f(x / 0.950_47), f(y), f(z / 1.088_83));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// CIEDE2000 colour difference (Sharma, Wu & Dalal 2005), kL = kC = kH = 1.
pub fn ciede2000(lab1: [f64; 3], lab2: [f64; 3]) -> f64 {
    let [l1, a1, b1] = lab1;
    let [l2, a2, b2] = lab2;
    let pow7 = |v: f64| v.powi(7);
    let c_bar = ((a1 * a1 + b1 * b1).sqrt() + (a2 * a2 + b2 * b2).sqrt()) / 2.0;
    let g = 0.5 * (1.0 - (pow7(c_bar) / (pow7(c_bar) + pow7(25.0))).sqrt());
    let (a1p, a2p) = ((1.0 + g) * a1, (1.0 + g) * a2);
    let (c1p, c2p) = ((a1p * a1p + b1 * b1).sqrt(), (a2p * a2p + b2 * b2).sqrt());
    let hue = |b: f64, a: f64| {
        if a == 0.0 && b == 0.0 {
            0.0
        } else {
            b.atan2(a).to_degrees().rem_euclid(360.0)
        }
    };
    let (h1p, h2p) = (hue(b1, a1p), hue(b2, a2p));
    let dl = l2 - l1;
    let dc = c2p - c1p;
    let dh = if c1p * c2p == 0.0 {
        0.0
    } else {
        let d = h2p - h1p;
        if d.abs() <= 180.0 {
            d
        } else if d > 180.0 {
            d - 360.0
        } else {
            d + 360.0
        }
    };
    let dhh = 2.0 * (c1p * c2p).sqrt() * (dh.to_radians() / 2.0).sin();
    let l_bar = (l1 + l2) / 2.0;
    let c_bar_p = (c1p + c2p) / 2.0;
    let h_bar = if c1p * c2p == 0.0 {
        h1p + h2p
    } else if (h1p - h2p).abs() <= 180.0 {
        (h1p + h2p) / 2.0
    } else if h1p + h2p < 360.0 {
        (h1p + h2p + 360.0) / 2.0
    } else {
        (h1p + h2p - 360.0) / 2.0
    };
    let cosd = |deg: f64| deg.to_radians().cos();
    let t =
        1.0 - 0.17 * cosd(h_bar - 30.0) + 0.24 * cosd(2.0 * h_bar) + 0.32 * cosd(3.0 * h_bar + 6.0)
            - 0.20 * cosd(4.0 * h_bar - 63.0);
    let d_theta = 30.0 * (-((h_bar - 275.0) / 25.0).powi(2)).exp();
    let rc = 2.0 * (pow7(c_bar_p) / (pow7(c_bar_p) + pow7(25.0))).sqrt();
    let lm = (l_bar - 50.0).powi(2);
    let sl = 1.0 + 0.015 * lm / (20.0 + lm).sqrt();
    let sc = 1.0 + 0.045 * c_bar_p;
    let sh = 1.0 + 0.015 * c_bar_p * t;
    let rt = -(2.0 * d_theta).to_radians().sin() * rc;
    let (tl, tc, th) = (dl / sl, dc / sc, dhh / sh);
    (tl * tl + tc * tc + th * th + rt * tc * th).max(0.0).sqrt()
}

// ---------------------------------------------------------------------------------------------
// Flat-area noise

/// Window side of the local standard deviation that decides what is flat.
pub const FLAT_WINDOW: usize = 9;
/// A pixel is flat when its window's luma standard deviation is below this (8-bit units).
pub const FLAT_STD_255: f64 = 2.0;

/// Luma of every pixel (8-bit scale), row-major.
pub fn luma_plane(img: &RgbImage) -> Vec<f32> {
    img.pixels()
        .map(|p| 0.299 * f32::from(p.0[0]) + 0.587 * f32::from(p.0[1]) + 0.114 * f32::from(p.0[2]))
        .collect()
}

/// Standard deviation of `plane` (`w × h`, row-major) over a `win × win` window centred on
/// each pixel, clipped at the borders. Streams with running column sums: O(w·h) time, O(w)
/// extra memory.
pub fn local_std(plane: &[f32], w: usize, h: usize, win: usize) -> Vec<f32> {
    let r = win / 2;
    let mut out = vec![0.0f32; w * h];
    if w == 0 || h == 0 {
        return out;
    }
    // Column sums over rows [y - r, y + r] ∩ [0, h).
    let mut cs = vec![0.0f64; w];
    let mut cq = vec![0.0f64; w];
    let add_row = |cs: &mut [f64], cq: &mut [f64], row: usize, sign: f64| {
        for (x, v) in plane[row * w..(row + 1) * w].iter().enumerate() {
            let v = f64::from(*v);
            cs[x] += sign * v;
            cq[x] += sign * v * v;
        }
    };
    for row in 0..r.min(h - 1) + 1 {
        add_row(&mut cs, &mut cq, row, 1.0);
    }
    for y in 0..h {
        if y > 0 {
            if y + r < h {
                add_row(&mut cs, &mut cq, y + r, 1.0);
            }
            if y > r {
                add_row(&mut cs, &mut cq, y - r - 1, -1.0);
            }
        }
        let rows = (y + r).min(h - 1) - y.saturating_sub(r) + 1;
        // Horizontal running sum of the column sums.
        let (mut s, mut q) = (0.0f64, 0.0f64);
        for x in 0..r.min(w - 1) + 1 {
            s += cs[x];
            q += cq[x];
        }
        for x in 0..w {
            if x > 0 {
                if x + r < w {
                    s += cs[x + r];
                    q += cq[x + r];
                }
                if x > r {
                    s -= cs[x - r - 1];
                    q -= cq[x - r - 1];
                }
            }
            let cols = (x + r).min(w - 1) - x.saturating_sub(r) + 1;
            let n = (rows * cols) as f64;
            let mean = s / n;
            out[y * w + x] = (q / n - mean * mean).max(0.0).sqrt() as f32;
        }
    }
    out
}

/// `(RMS change over flat pixels in 1/255 units, share of flat pixels)`.
pub fn flat_area_noise(clean: &RgbImage, protected: &RgbImage) -> (f64, f64) {
    let (w, h) = (clean.width() as usize, clean.height() as usize);
    let std = local_std(&luma_plane(clean), w, h, FLAT_WINDOW);
    let (mut sq, mut n) = (0.0f64, 0usize);
    for ((s, a), b) in std.iter().zip(clean.pixels()).zip(protected.pixels()) {
        if f64::from(*s) < FLAT_STD_255 {
            n += 1;
            for c in 0..3 {
                let d = f64::from(a.0[c]) - f64::from(b.0[c]);
                sq += d * d;
            }
        }
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    ((sq / (3 * n) as f64).sqrt(), n as f64 / (w * h) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn ciede2000_matches_sharma_reference_pairs() {
        // Pairs 1, 7 and 24 of Sharma, Wu & Dalal's published test data.
        let cases = [
            ([50.0, 2.6772, -79.7751], [50.0, 0.0, -82.7485], 2.0425),
            ([50.0, 0.0, 0.0], [50.0, -1.0, 2.0], 2.3669),
            ([50.0, 2.5, 0.0], [50.0, 3.1736, 0.5854], 1.0000),
            ([50.0, 2.5, 0.0], [73.0, 25.0, -18.0], 27.1492),
        ];
        for (a, b, want) in cases {
            let got = ciede2000(a, b);
            assert!((got - want).abs() < 1e-4, "{a:?} {b:?}: {got} vs {want}");
            assert!((ciede2000(b, a) - want).abs() < 1e-4, "symmetric");
        }
    }

    #[test]
    fn lab_of_white_and_black() {
        let w = srgb_to_lab([255.0; 3]);
        assert!(
            (w[0] - 100.0).abs() < 0.01 && w[1].abs() < 0.01 && w[2].abs() < 0.01,
            "{w:?}"
        );
        let k = srgb_to_lab([0.0; 3]);
        assert!(k[0].abs() < 1e-9, "{k:?}");
    }

    fn sky(w: u32, h: u32) -> RgbImage {
        // A smooth vertical gradient, like a clear sky: flat at 9×9 everywhere.
        RgbImage::from_fn(w, h, |_, y| {
            let t = y as f32 / h as f32;
            image::Rgb([
                (90.0 + 40.0 * t) as u8,
                (140.0 + 30.0 * t) as u8,
                (200.0 + 20.0 * t) as u8,
            ])
        })
    }

    #[test]
    fn a_uniform_tint_is_a_cast_and_zero_mean_grain_is_not() {
        let a = sky(300, 200);
        let mut tint = a.clone();
        tint.pixels_mut().for_each(|p| {
            p.0[0] = p.0[0].saturating_sub(2);
            p.0[1] = p.0[1].saturating_add(4);
            p.0[2] = p.0[2].saturating_sub(2);
        });
        let mut grain = a.clone();
        let mut r = Rng::new(3);
        grain.pixels_mut().for_each(|p| {
            let d = if r.below(2) == 0 { -4i32 } else { 4 };
            p.0.iter_mut()
                .for_each(|v| *v = (i32::from(*v) + d).clamp(0, 255) as u8);
        });
        let (tint_mean, tint_p99) = colour_cast(&a, &tint);
        let (grain_mean, _) = colour_cast(&a, &grain);
        assert!(
            tint_mean > 1.0 && tint_p99 >= tint_mean,
            "tint {tint_mean} {tint_p99}"
        );
        assert!(grain_mean < 0.5, "grain {grain_mean}");
        assert_eq!(colour_cast(&a, &a), (0.0, 0.0));
    }

    #[test]
    fn local_std_matches_direct_computation() {
        let (w, h) = (23, 17);
        let mut r = Rng::new(8);
        let plane: Vec<f32> = (0..w * h).map(|_| r.uniform(0.0, 255.0)).collect();
        let fast = local_std(&plane, w, h, 9);
        for y in 0..h {
            for x in 0..w {
                let mut v = Vec::new();
                for yy in y.saturating_sub(4)..(y + 5).min(h) {
                    for xx in x.saturating_sub(4)..(x + 5).min(w) {
                        v.push(f64::from(plane[yy * w + xx]));
                    }
                }
                let m = v.iter().sum::<f64>() / v.len() as f64;
                let s = (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / v.len() as f64).sqrt();
                assert!((f64::from(fast[y * w + x]) - s).abs() < 1e-2, "({x},{y})");
            }
        }
    }

    #[test]
    fn flat_noise_counts_only_flat_areas() {
        // Left half flat sky, right half strong texture; noise only on the textured half.
        let a = RgbImage::from_fn(64, 32, |x, y| {
            if x < 32 {
                image::Rgb([120, 150, 200])
            } else {
                let v = if (x + y) % 2 == 0 { 40 } else { 220 };
                image::Rgb([v, v, v])
            }
        });
        let mut b = a.clone();
        for (x, _, p) in b.enumerate_pixels_mut() {
            if x >= 40 {
                p.0.iter_mut().for_each(|v| *v = v.saturating_add(6));
            }
        }
        let (rms, share) = flat_area_noise(&a, &b);
        assert_eq!(rms, 0.0, "texture noise is not flat-area noise");
        assert!((0.4..0.5).contains(&share), "{share}");
        // Now noise on the flat half too: exactly ±3 everywhere there.
        for (x, y, p) in b.enumerate_pixels_mut() {
            if x < 28 {
                let d: i32 = if (x + y) % 2 == 0 { 3 } else { -3 };
                p.0.iter_mut().for_each(|v| *v = (i32::from(*v) + d) as u8);
            }
        }
        let (rms, _) = flat_area_noise(&a, &b);
        assert!(rms > 2.5 && rms <= 3.0, "{rms}");
    }

    #[test]
    fn measure_reports_identity_for_equal_images() {
        let a = sky(40, 300);
        let v = measure(&a, &a);
        assert_eq!(v.psnr_db, 100.0);
        assert!((v.ssim - 1.0).abs() < 1e-12 && (v.worst_channel_ssim() - 1.0).abs() < 1e-12);
        assert_eq!((v.cast_de00, v.flat_noise_255), (0.0, 0.0));
        assert!(v.flat_share > 0.99);
    }
}
