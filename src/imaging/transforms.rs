//! The distribution of transformations (crops, flips, rescaling, JPEG, grayscale, noise) that
//! training pipelines, sharing and known defences apply to a photo: plain settings, saved with
//! every run. `protect::shield::transforms` draws from it and applies the draws as
//! differentiable tensor operations.

use serde::{Deserialize, Serialize};

/// The transformation distribution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransformConfig {
    /// Share of the image area a random-resized crop keeps, `[min, max]`.
    pub crop_scale: [f32; 2],
    /// Aspect ratio range of the crop, `[min, max]`.
    pub crop_aspect: [f32; 2],
    /// Probability of a horizontal flip.
    pub p_flip: f32,
    /// Probability that a batch is downscaled and upscaled back.
    pub p_rescale: f32,
    /// Downscale factor range, `[min, max]`.
    pub rescale_factor: [f32; 2],
    /// Probability that a batch goes through (differentiable) JPEG.
    pub p_jpeg: f32,
    /// JPEG quality range, `[min, max]`.
    pub jpeg_quality: [u8; 2],
    /// Probability that a batch is turned to grayscale.
    pub p_gray: f32,
    /// Probability of additive Gaussian noise.
    pub p_noise: f32,
    /// Noise standard deviation range in 1/255 units, `[min, max]`.
    pub noise_255: [f32; 2],
}

impl Default for TransformConfig {
    fn default() -> Self {
        Self {
            crop_scale: [0.5, 1.0],
            crop_aspect: [0.75, 4.0 / 3.0],
            p_flip: 0.5,
            p_rescale: 0.4,
            rescale_factor: [1.5, 3.0],
            p_jpeg: 0.4,
            jpeg_quality: [50, 95],
            p_gray: 0.15,
            p_noise: 0.15,
            noise_255: [2.0, 8.0],
        }
    }
}

impl TransformConfig {
    /// No transformation at all (plain error-minimizing noise through the same code).
    pub fn identity() -> Self {
        Self {
            crop_scale: [1.0, 1.0],
            crop_aspect: [1.0, 1.0],
            p_flip: 0.0,
            p_rescale: 0.0,
            rescale_factor: [1.0, 1.0],
            p_jpeg: 0.0,
            jpeg_quality: [95, 95],
            p_gray: 0.0,
            p_noise: 0.0,
            noise_255: [0.0, 0.0],
        }
    }

    /// Make sure JPEG at `quality` (the export's) is among the transformations: the quality
    /// range is widened to include it and at least half the batches go through JPEG.
    pub fn include_jpeg(&mut self, quality: u8) {
        let q = quality.clamp(1, 100);
        self.jpeg_quality = [self.jpeg_quality[0].min(q), self.jpeg_quality[1].max(q)];
        self.p_jpeg = self.p_jpeg.max(0.5);
    }

    /// Check ranges; a message for the first problem.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
        let ordered = |r: [f32; 2]| r[0].is_finite() && r[1].is_finite() && r[0] <= r[1];
        if !(ordered(self.crop_scale) && self.crop_scale[0] > 0.0 && self.crop_scale[1] <= 1.0) {
            return Err(format!(
                "crop scale must be within (0, 1], got {:?}",
                self.crop_scale
            ));
        }
        if !(ordered(self.crop_aspect) && self.crop_aspect[0] > 0.0) {
            return Err(format!(
                "crop aspect range is invalid: {:?}",
                self.crop_aspect
            ));
        }
        if !(ordered(self.rescale_factor) && self.rescale_factor[0] >= 1.0) {
            return Err(format!(
                "rescale factors must be ≥ 1, got {:?}",
                self.rescale_factor
            ));
        }
        if !(ordered(self.noise_255) && self.noise_255[0] >= 0.0) {
            return Err(format!("noise range is invalid: {:?}", self.noise_255));
        }
        let q = self.jpeg_quality;
        if !(q[0] >= 1 && q[1] <= 100 && q[0] <= q[1]) {
            return Err(format!(
                "JPEG quality range must be within 1–100, got {q:?}"
            ));
        }
        for (name, p) in [
            ("flip", self.p_flip),
            ("rescale", self.p_rescale),
            ("jpeg", self.p_jpeg),
            ("gray", self.p_gray),
            ("noise", self.p_noise),
        ] {
            if !unit(p) {
                return Err(format!("probability of {name} must be in [0, 1], got {p}"));
            }
        }
        Ok(())
    }
}
