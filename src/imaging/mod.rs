//! Pure image work, no compute backend: finding photos, decoding them safely, the working
//! copy methods compute on, applying a perturbation at native resolution, metrics, export.

pub mod apply;
pub mod budget;
pub mod export;
pub mod heif;
pub mod icc;
pub mod load;
pub mod metrics;
pub mod paths;
pub mod planar;
pub mod resample;
pub mod scan;
pub mod transforms;
pub mod turbo;
pub mod views;
pub mod visibility;

pub use apply::{ApplyStats, apply_delta, apply_pattern, apply_perturbation};
pub use budget::{BudgetConfig, budget_map};
pub use export::{OutputPlanner, encode, write_atomically, write_output};
pub use load::{Carried, Photo, PhotoMeta, decode_photo, load_photo};
pub use metrics::{SsimChannel, psnr_db, ssim_channel, ssim_luma};
pub use paths::{InputGuard, canonical_lenient};
pub use planar::Planar;
pub use scan::{Album, AlbumEntry, Shard, scan};
pub use visibility::Visibility;
