//! `manifest.json`: what a run did, written next to the protected photos, so that every
//! result can be traced to its method, settings, seed and device.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::ProtectConfig;
use crate::imaging::Visibility;
use crate::protect::FitReport;

/// One protected photo.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Original file.
    #[serde(with = "crate::path_json")]
    pub source: PathBuf,
    /// Written file.
    #[serde(with = "crate::path_json")]
    pub output: PathBuf,
    /// Class name used for class-wise methods.
    pub class: String,
    /// Native width.
    pub width: u32,
    /// Native height.
    pub height: u32,
    /// Size of the working copy the method computed on.
    pub working_size: [u32; 2],
    /// Largest change of any channel actually written, in 1/255 units (≤ ε).
    pub epsilon_used_255: u8,
    /// How visible the change is, measured on the written pixels against the original: PSNR,
    /// SSIM (luma and per channel), colour cast and flat-area noise (stored as flat fields).
    #[serde(flatten)]
    pub visibility: Visibility,
    /// Whether EXIF orientation was applied (the output is stored upright).
    pub rotated: bool,
    /// Colour type of the original, e.g. `Rgb8`, `L16`, `Rgba8`.
    pub source_color: String,
    /// The original's ICC colour profile, by name (e.g. `Display P3`), when it has one; the
    /// output carries the same profile, and ε holds in its encoded values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_profile: Option<String>,
}

/// One photo that could not be protected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorRecord {
    /// Original file.
    #[serde(with = "crate::path_json")]
    pub source: PathBuf,
    /// Why, in words.
    pub error: String,
}

/// Totals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Photos found.
    pub total: usize,
    /// Photos written.
    pub done: usize,
    /// Photos that failed.
    pub failed: usize,
    /// Photos not attempted because the run was cancelled.
    pub skipped: usize,
    /// Mean PSNR over written photos (dB).
    pub mean_psnr_db: Option<f64>,
    /// Lowest PSNR over written photos (dB): the most visible one.
    pub worst_psnr_db: Option<f64>,
    /// Mean SSIM over written photos.
    pub mean_ssim: Option<f64>,
    /// Lowest SSIM over written photos: the most visibly changed structure.
    pub worst_ssim: Option<f64>,
    /// Mean colour cast (CIEDE2000 of the blurred photos) over written photos.
    pub mean_cast_de00: Option<f64>,
    /// Highest 99th-percentile colour cast of any written photo.
    pub worst_cast_de00_p99: Option<f64>,
    /// Mean flat-area noise (RMS, 1/255 units) over written photos.
    pub mean_flat_noise_255: Option<f64>,
    /// Highest flat-area noise of any written photo.
    pub worst_flat_noise_255: Option<f64>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The whole manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `unlearnable <version>`.
    pub app: String,
    /// Seconds since the Unix epoch when the run ended.
    pub created_unix: u64,
    /// Method id.
    pub method: String,
    /// Budget in 1/255 units (copied from the config for convenience).
    pub epsilon_255: f32,
    /// Seed (copied from the config for convenience).
    pub seed: u64,
    /// Device and why it was chosen.
    pub device: String,
    /// Which decoder read JPEG originals (libjpeg-turbo when installed, as browsers use).
    #[serde(default)]
    pub jpeg_decoder: String,
    /// The part of the album this run protected (`--shard i/n`), if it was split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::imaging::Shard>,
    /// The part manifests a merged manifest was made from (`unlearnable merge`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// Labels used: class names in label order, and where they came from.
    pub labels: Labels,
    /// Every setting of the run.
    pub config: ProtectConfig,
    /// How training went (training-based methods only).
    pub training: Option<FitReport>,
    /// Whether the run was cancelled before the end.
    pub cancelled: bool,
    /// `false` while the run is in progress (the manifest is rewritten after every photo) or
    /// when it was killed: `protect --resume` finishes the `pending` photos.
    #[serde(default = "finished_default")]
    pub finished: bool,
    /// Photos not yet written, with the output planned for each (while `finished` is false).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Planned>,
    /// Totals.
    pub summary: Summary,
    /// Protected photos, in album order.
    pub images: Vec<ImageRecord>,
    /// Photos that failed, in album order.
    pub errors: Vec<ErrorRecord>,
    /// Warnings about the run as a whole (e.g. lossy output format).
    pub warnings: Vec<String>,
}

fn finished_default() -> bool {
    true
}

/// A photo still to be written, and where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    /// Original file.
    #[serde(with = "crate::path_json")]
    pub source: PathBuf,
    /// Planned output.
    #[serde(with = "crate::path_json")]
    pub output: PathBuf,
}

/// Class labels of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    /// Where labels came from: `folders`, or k-means clusters for a flat folder.
    pub source: String,
    /// Class names in label order.
    pub classes: Vec<String>,
}
