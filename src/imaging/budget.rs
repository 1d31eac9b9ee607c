//! Where the eye does not look: a per-pixel budget map from local texture.
//!
//! The budget follows from SSIM's contrast term: a change of standard deviation `d` in a window
//! of standard deviation `σ` keeps that term above a target when `d ≤ κ·√(2σ² + C₂)`
//! (`C₂ = (0.03·255)²`; κ = 0.176 keeps it at 0.97). So flat sky gets a small fraction of ε and
//! texture up to ε:
//!
//! `ε(p) = clamp(κ·√(2σ(p)² + C₂), ε_min, ε)`, σ = luma standard deviation over a square window.
//!
//! When the map's RMS exceeds `rms_cap` (PSNR ≥ 35 dB needs RMS ≤ 4.5/255), the whole map is
//! scaled down to it. All values are in 1/255 units.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::visibility::{local_std, luma_plane};

/// How the budget is spread over a photo.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BudgetConfig {
    /// Texture factor κ (0.176 keeps SSIM's contrast term at about 0.97).
    pub kappa: f32,
    /// Lowest budget anywhere, 1/255 units. The formula alone gives κ·√C₂ ≈ 1.35/255 in a
    /// perfectly flat area, which rounds to one 8-bit step; this floor only matters for a
    /// smaller κ.
    pub flat_255: f32,
    /// Cap on the map's root-mean-square, 1/255 units (4.5 ≈ PSNR 35 dB at full use).
    pub rms_cap_255: f32,
    /// Side of the square window the local texture is measured over (odd).
    pub window: u32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            kappa: 0.176,
            flat_255: 1.0,
            rms_cap_255: 4.5,
            window: 11,
        }
    }
}

impl BudgetConfig {
    /// Check ranges; a message for the first problem.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.kappa.is_finite() && self.kappa > 0.0 && self.kappa <= 2.0) {
            return Err(format!(
                "budget kappa must be in (0, 2], got {}",
                self.kappa
            ));
        }
        if !(self.flat_255.is_finite() && (0.0..=64.0).contains(&self.flat_255)) {
            return Err(format!(
                "flat-area budget must be 0–64, got {}",
                self.flat_255
            ));
        }
        if !(self.rms_cap_255.is_finite() && self.rms_cap_255 > 0.0) {
            return Err(format!(
                "RMS cap must be positive, got {}",
                self.rms_cap_255
            ));
        }
        if self.window.is_multiple_of(2) || !(3..=63).contains(&self.window) {
            return Err(format!(
                "budget window must be odd and 3–63, got {}",
                self.window
            ));
        }
        Ok(())
    }
}

/// The budget of every pixel of `img` (row-major, `w × h`), in 1/255 units, for the L∞ cap
/// `epsilon_255`. Pure and deterministic: the protect pass recomputes it from the original.
pub fn budget_map(img: &RgbImage, epsilon_255: f32, cfg: &BudgetConfig) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let std = local_std(&luma_plane(img), w, h, cfg.window as usize);
    let c2 = (0.03f32 * 255.0).powi(2);
    let lo = cfg.flat_255.min(epsilon_255);
    let mut map: Vec<f32> = std
        .iter()
        .map(|s| (cfg.kappa * (2.0 * s * s + c2).sqrt()).clamp(lo, epsilon_255))
        .collect();
    let rms = (map.iter().map(|v| f64::from(v * v)).sum::<f64>() / map.len().max(1) as f64).sqrt();
    if rms > f64::from(cfg.rms_cap_255) {
        let scale = (f64::from(cfg.rms_cap_255) / rms) as f32;
        map.iter_mut().for_each(|v| *v *= scale);
    }
    map
}

/// Area-average a `w × h` map into `ow × oh` cells (each native pixel counts in the cell its
/// centre falls in), as a photo's map is brought to the working copy's size.
pub fn area_resize(map: &[f32], w: usize, h: usize, ow: usize, oh: usize) -> Vec<f32> {
    let mut sum = vec![0.0f64; ow * oh];
    let mut count = vec![0u32; ow * oh];
    if w == 0 || h == 0 {
        return vec![0.0; ow * oh];
    }
    let cx: Vec<usize> = (0..w).map(|x| (x * ow / w).min(ow - 1)).collect();
    for y in 0..h {
        let row = (y * oh / h).min(oh - 1) * ow;
        for x in 0..w {
            sum[row + cx[x]] += f64::from(map[y * w + x]);
            count[row + cx[x]] += 1;
        }
    }
    // Enlarging leaves cells without a native pixel: take the nearest native value.
    sum.iter()
        .zip(&count)
        .enumerate()
        .map(|(i, (s, &n))| {
            if n > 0 {
                (s / f64::from(n)) as f32
            } else {
                let (x, y) = (i % ow, i / ow);
                map[(y * h / oh).min(h - 1) * w + (x * w / ow).min(w - 1)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn half_flat_half_texture() -> RgbImage {
        RgbImage::from_fn(64, 32, |x, y| {
            if x < 32 {
                image::Rgb([120, 150, 200])
            } else {
                let v = if (x + y) % 2 == 0 { 60 } else { 200 };
                image::Rgb([v, v, v])
            }
        })
    }

    #[test]
    fn flat_areas_get_the_flat_budget_and_texture_gets_epsilon() {
        let img = half_flat_half_texture();
        let cfg = BudgetConfig {
            rms_cap_255: 100.0,
            ..Default::default()
        };
        let m = budget_map(&img, 8.0, &cfg);
        let floor = cfg.kappa * 0.03 * 255.0;
        assert!(
            (m[5 * 64 + 3] - floor).abs() < 1e-4,
            "flat sky: {}",
            m[5 * 64 + 3]
        );
        assert!(m[5 * 64 + 3] < 1.5, "rounds to at most one 8-bit step");
        assert_eq!(m[5 * 64 + 60], 8.0, "strong texture reaches ε");
        assert!(m.iter().all(|v| (floor - 1e-4..=8.0).contains(v)));
    }

    #[test]
    fn the_rms_cap_scales_the_whole_map() {
        let img = half_flat_half_texture();
        let m = budget_map(&img, 8.0, &BudgetConfig::default());
        let rms = (m.iter().map(|v| v * v).sum::<f32>() / m.len() as f32).sqrt();
        assert!((rms - 4.5).abs() < 1e-3, "{rms}");
        let uncapped = budget_map(
            &img,
            8.0,
            &BudgetConfig {
                rms_cap_255: 100.0,
                ..Default::default()
            },
        );
        let ratio = m[0] / uncapped[0];
        assert!(
            m.iter()
                .zip(&uncapped)
                .all(|(a, b)| (a / b - ratio).abs() < 1e-5)
        );
    }

    #[test]
    fn area_resize_averages_and_keeps_constant_maps() {
        let map: Vec<f32> = (0..8 * 4)
            .map(|i| if i % 8 < 4 { 1.0 } else { 3.0 })
            .collect();
        assert_eq!(area_resize(&map, 8, 4, 2, 2), vec![1.0, 3.0, 1.0, 3.0]);
        assert_eq!(area_resize(&map, 8, 4, 1, 1), vec![2.0]);
        let up = area_resize(&[5.0; 4], 2, 2, 7, 5);
        assert!(up.iter().all(|v| *v == 5.0));
    }
}
