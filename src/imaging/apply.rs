//! The apply contract shared by every method: a perturbation δ computed at working resolution is
//! resized to the photo's native size (bilinear), clamped to the ε-ball, added, clipped to the
//! valid range and quantized to 8 bits such that the L∞ bound still holds *after* rounding.
//! Works row by row on 8-bit data, so a 24 MP photo never exists as a float buffer.
//! [`apply_pattern`] is the variant for budget-mapped luma patterns (the `shield` method).

use image::RgbImage;
use rayon::prelude::*;
use serde::Serialize;

use super::planar::{Planar, taps};

/// What applying δ did to one photo, measured on the written 8-bit pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ApplyStats {
    /// Largest change of any channel, in 1/255 units (≤ ε by construction).
    pub linf_255: u8,
    /// Mean squared error in 8-bit units.
    pub mse: f64,
    /// PSNR in dB (100 means identical).
    pub psnr_db: f64,
}

impl ApplyStats {
    /// The statistics of an unchanged photo.
    pub const IDENTICAL: ApplyStats = ApplyStats {
        linf_255: 0,
        mse: 0.0,
        psnr_db: 100.0,
    };
}

/// PSNR from an 8-bit MSE; identical images report 100 dB rather than infinity (JSON-safe).
pub fn psnr_from_mse(mse: f64) -> f64 {
    if mse <= 0.0 {
        100.0
    } else {
        (10.0 * (255.0f64 * 255.0 / mse).log10()).min(100.0)
    }
}

/// Apply `delta` (any size, 3 planes) to `clean` at `clean`'s native resolution with L∞ budget
/// `epsilon_255` (in 1/255 units). Returns the protected image and its statistics.
///
/// Guarantee: for every channel, `|protected − clean| ≤ floor(epsilon_255)` and the result is in
/// `0..=255`.
pub fn apply_delta(clean: &RgbImage, delta: &Planar, epsilon_255: f32) -> (RgbImage, ApplyStats) {
    let (w, h) = clean.dimensions();
    if w == 0 || h == 0 || delta.width == 0 || delta.height == 0 {
        return (clean.clone(), ApplyStats::IDENTICAL);
    }
    let e = whole_steps(epsilon_255);
    let xt = taps(w, delta.width);
    let yt = taps(h, delta.height);
    let dw = delta.width as usize;
    let plane = delta.plane_len();
    add_rows(clean, e, |y, changes| {
        let (y0, y1, fy) = yt[y];
        for (x, &(x0, x1, fx)) in xt.iter().enumerate() {
            for c in 0..3 {
                let p = &delta.data[c * plane..(c + 1) * plane];
                let top = p[y0 * dw + x0] * (1.0 - fx) + p[y0 * dw + x1] * fx;
                let bot = p[y1 * dw + x0] * (1.0 - fx) + p[y1 * dw + x1] * fx;
                changes[3 * x + c] = ((top * (1.0 - fy) + bot * fy) * 255.0).clamp(-e, e);
            }
        }
    })
}

/// ε in whole 8-bit steps (what a written 8-bit pixel can honour).
fn whole_steps(epsilon_255: f32) -> f32 {
    (epsilon_255 + 1e-4).floor().max(0.0)
}

/// Add changes to `clean` row by row (in parallel): `fill(y, changes)` writes row `y`'s change
/// of every value (interleaved RGB, 1/255 units); each value is rounded, kept within `±e` of
/// the original and in `0..=255`. Returns the result and its statistics.
fn add_rows(
    clean: &RgbImage,
    e: f32,
    fill: impl Fn(usize, &mut [f32]) + Sync,
) -> (RgbImage, ApplyStats) {
    let (w, h) = clean.dimensions();
    let e_i = e as i32;
    let row_len = 3 * w as usize;
    let mut out = RgbImage::new(w, h);
    let (sq, linf) = out
        .as_mut()
        .par_chunks_mut(row_len)
        .zip(clean.as_raw().par_chunks(row_len))
        .enumerate()
        .map(|(y, (dst, src))| {
            let mut changes = vec![0.0f32; row_len];
            fill(y, &mut changes);
            let mut sq = 0u64;
            let mut linf = 0u8;
            for ((d, &c0), change) in dst.iter_mut().zip(src).zip(&changes) {
                let c0 = i32::from(c0);
                let q = (c0 as f32 + change)
                    .round()
                    .clamp((c0 - e_i).max(0) as f32, (c0 + e_i).min(255) as f32)
                    as i32;
                let diff = (q - c0).unsigned_abs();
                sq += u64::from(diff * diff);
                linf = linf.max(diff as u8);
                *d = q as u8;
            }
            (sq, linf)
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1.max(b.1)));
    let mse = sq as f64 / (3.0 * w as f64 * h as f64);
    let stats = ApplyStats {
        linf_255: linf,
        mse,
        psnr_db: psnr_from_mse(mse),
    };
    (out, stats)
}

/// Apply a method's δ to a photo: within the uniform ε-ball ([`apply_delta`]) or, when the
/// method spreads a `budget`, as a luma pattern (plane 0 of `delta`) under the photo's budget
/// map ([`apply_pattern`]).
pub fn apply_perturbation(
    clean: &RgbImage,
    delta: &Planar,
    epsilon_255: f32,
    budget: Option<&super::budget::BudgetConfig>,
) -> (RgbImage, ApplyStats) {
    match budget {
        None => apply_delta(clean, delta, epsilon_255),
        Some(cfg) => {
            let map = super::budget::budget_map(clean, epsilon_255, cfg);
            let plane = &delta.data[..delta.plane_len()];
            apply_pattern(clean, plane, delta.width, delta.height, &map, epsilon_255)
        }
    }
}

/// Catmull-Rom (bicubic, a = −0.5) source indices and weights for resampling `src` samples to
/// `dst` (half-pixel centres, edge-clamped). Interpolating, so a smooth pattern keeps its
/// amplitude, and C¹-continuous, so enlarging it by 30× leaves no creases (bilinear does).
pub(crate) fn cubic_taps(dst: u32, src: u32) -> Vec<([usize; 4], [f32; 4])> {
    let scale = src as f32 / dst.max(1) as f32;
    let last = src.max(1) as isize - 1;
    (0..dst)
        .map(|i| {
            let s = (i as f32 + 0.5) * scale - 0.5;
            let i0 = s.floor();
            let t = s - i0;
            let w = [
                ((-0.5 * t + 1.0) * t - 0.5) * t,
                (1.5 * t - 2.5) * t * t + 1.0,
                ((-1.5 * t + 2.0) * t + 0.5) * t,
                (0.5 * t - 0.5) * t * t,
            ];
            let idx =
                std::array::from_fn(|k| (i0 as isize - 1 + k as isize).clamp(0, last) as usize);
            (idx, w)
        })
        .collect()
}

/// Apply a luma *pattern* under a per-pixel budget: the protected value of every channel is
/// `clean + budget(p) · pattern↑(p)`, where `pattern` is one plane of values in `[-1, 1]`
/// (`pw × ph`, row-major, any size) enlarged to the photo's size with Catmull-Rom, and
/// `budget` is the photo's budget map in 1/255 units (`w × h`, row-major; see
/// [`super::budget::budget_map`]). The same change goes to R, G and B: no colour shift.
///
/// Guarantee: `|protected − clean| ≤ floor(epsilon_255)` for every channel after rounding, and
/// the result is in `0..=255`.
///
/// # Panics
/// If `budget` does not have one value per pixel or `pattern` one per `pw × ph` (caller bugs).
pub fn apply_pattern(
    clean: &RgbImage,
    pattern: &[f32],
    pw: u32,
    ph: u32,
    budget: &[f32],
    epsilon_255: f32,
) -> (RgbImage, ApplyStats) {
    let (w, h) = clean.dimensions();
    assert_eq!(budget.len(), w as usize * h as usize, "budget map size");
    assert_eq!(pattern.len(), pw as usize * ph as usize, "pattern size");
    if w == 0 || h == 0 || pw == 0 || ph == 0 {
        return (clean.clone(), ApplyStats::IDENTICAL);
    }
    let e = whole_steps(epsilon_255);
    let xt = cubic_taps(w, pw);
    let yt = cubic_taps(h, ph);
    // The pattern enlarged horizontally: `ph` rows of `w` values.
    let wide: Vec<Vec<f32>> = (0..ph as usize)
        .map(|r| {
            let src = &pattern[r * pw as usize..(r + 1) * pw as usize];
            xt.iter()
                .map(|(idx, wt)| (0..4).map(|k| src[idx[k]] * wt[k]).sum())
                .collect()
        })
        .collect();
    add_rows(clean, e, |y, changes| {
        let (idx, wt) = &yt[y];
        let budget_row = &budget[y * w as usize..(y + 1) * w as usize];
        for (x, px) in changes.chunks_exact_mut(3).enumerate() {
            let v: f32 = (0..4).map(|k| wide[idx[k]][x] * wt[k]).sum();
            // Rounded here, once, so every channel gets the same whole-step change.
            px.fill((v.clamp(-1.0, 1.0) * budget_row[x]).clamp(-e, e).round());
        }
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn pattern_follows_the_budget_map_and_changes_all_channels_alike() {
        let clean = RgbImage::from_fn(40, 20, |x, _| image::Rgb([100, (x * 3) as u8, 250]));
        // Budget 1/255 on the left half, 6/255 on the right; pattern +1 everywhere.
        let budget: Vec<f32> = (0..40 * 20)
            .map(|i| if i % 40 < 20 { 1.0 } else { 6.0 })
            .collect();
        let (out, st) = apply_pattern(&clean, &[1.0; 16], 4, 4, &budget, 8.0);
        for (x, _, p) in out.enumerate_pixels() {
            let c = clean.get_pixel(x, 0).0;
            let want = if x < 20 { 1 } else { 6 };
            assert_eq!(i32::from(p.0[0]) - i32::from(c[0]), want, "x={x}");
            assert_eq!(i32::from(p.0[1]) - i32::from(c[1]), want, "x={x}");
            // Blue is clipped at 255: the change never leaves the valid range.
            assert_eq!(p.0[2], (250 + want).min(255) as u8);
        }
        assert_eq!(st.linf_255, 6);
    }

    #[test]
    fn pattern_respects_epsilon_after_rounding_and_is_smooth() {
        let clean = RgbImage::from_pixel(97, 61, image::Rgb([128; 3]));
        let budget = vec![20.0f32; 97 * 61]; // larger than ε: ε must still cap
        let mut r = Rng::new(5);
        let pat: Vec<f32> = (0..7 * 5).map(|_| r.uniform(-1.0, 1.0)).collect();
        let (out, st) = apply_pattern(&clean, &pat, 7, 5, &budget, 7.5);
        assert!(st.linf_255 <= 7);
        // Enlarged 14×: neighbouring native pixels differ by at most a couple of steps.
        let row: Vec<i32> = (0..97)
            .map(|x| i32::from(out.get_pixel(x, 30).0[0]))
            .collect();
        assert!(row.windows(2).all(|w| (w[0] - w[1]).abs() <= 2), "{row:?}");
        let taps = cubic_taps(10, 10);
        assert!(
            taps.iter()
                .enumerate()
                .all(|(i, (idx, wt))| idx[1] == i && (wt[1] - 1.0).abs() < 1e-6)
        );
    }

    use super::*;
    use crate::rng::Rng;

    fn noisy_delta(w: u32, h: u32, amp: f32, seed: u64) -> Planar {
        let mut r = Rng::new(seed);
        let mut d = Planar::zeros(w, h);
        d.data.iter_mut().for_each(|v| *v = r.uniform(-amp, amp));
        d
    }

    #[test]
    fn bound_holds_after_rounding_on_odd_sizes_and_extreme_pixels() {
        // Includes 0 and 255 pixels (clipping) and a δ far larger than ε (clamping).
        for &(w, h) in &[(1, 37), (37, 1), (33, 17), (4032, 3)] {
            let clean =
                RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 37 + y * 11) as u8, 0, 255]));
            for eps in [1.0f32, 4.0, 7.5, 8.0, 16.0] {
                let d = noisy_delta(7, 5, 0.5, u64::from(w * h));
                let (out, st) = apply_delta(&clean, &d, eps);
                let max = clean
                    .as_raw()
                    .iter()
                    .zip(out.as_raw())
                    .map(|(a, b)| (i32::from(*a) - i32::from(*b)).unsigned_abs())
                    .max()
                    .unwrap();
                assert!(max as f32 <= eps, "{w}×{h} ε={eps}: {max}");
                assert_eq!(u32::from(st.linf_255), max);
                assert_eq!(max, eps.floor() as u32, "a large δ saturates the budget");
            }
        }
    }

    #[test]
    fn zero_delta_is_identity_with_100_db() {
        let clean = RgbImage::from_fn(9, 4, |x, y| image::Rgb([x as u8, y as u8, 3]));
        let (out, st) = apply_delta(&clean, &Planar::zeros(3, 2), 8.0);
        assert_eq!(out, clean);
        assert_eq!(st.psnr_db, 100.0);
    }

    #[test]
    fn constant_delta_is_upsampled_exactly_and_psnr_matches() {
        let clean = RgbImage::from_pixel(10, 6, image::Rgb([100, 100, 100]));
        let mut d = Planar::zeros(2, 2);
        d.data.iter_mut().for_each(|v| *v = 3.0 / 255.0);
        let (out, st) = apply_delta(&clean, &d, 8.0);
        assert!(out.pixels().all(|p| p.0 == [103, 103, 103]));
        assert!((st.mse - 9.0).abs() < 1e-9);
        assert!((st.psnr_db - 10.0 * (65025.0f64 / 9.0).log10()).abs() < 1e-9);
    }

    #[test]
    fn bilinear_upsampling_interpolates_between_working_pixels() {
        // δ is -4/255 on the left working pixel and +4/255 on the right: native pixels ramp.
        let clean = RgbImage::from_pixel(8, 1, image::Rgb([128; 3]));
        let mut d = Planar::zeros(2, 1);
        for c in 0..3 {
            d.data[c * 2] = -4.0 / 255.0;
            d.data[c * 2 + 1] = 4.0 / 255.0;
        }
        let (out, _) = apply_delta(&clean, &d, 8.0);
        let row: Vec<u8> = out.pixels().map(|p| p.0[0]).collect();
        assert_eq!(row.first(), Some(&124));
        assert_eq!(row.last(), Some(&132));
        assert!(row.windows(2).all(|w| w[0] <= w[1]), "{row:?}");
    }
}
