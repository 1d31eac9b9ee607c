//! Pure image work, no compute backend: finding photos, decoding them safely, the working
//! copy methods compute on, applying a perturbation at native resolution, metrics, export.

pub mod apply;
pub mod export;
pub mod load;
pub mod metrics;
pub mod planar;
pub mod scan;

pub use apply::{ApplyStats, apply_delta};
pub use export::{OutputPlanner, encode, write_atomically};
pub use load::{Photo, PhotoMeta, load_photo};
pub use metrics::{psnr_db, ssim_luma};
pub use planar::Planar;
pub use scan::{Album, AlbumEntry, scan};
