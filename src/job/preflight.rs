//! Checks before any work: is there room for the outputs?

use std::path::Path;

use crate::config::{ExportConfig, ExportFormat};
use crate::error::JobError;
use crate::imaging::AlbumEntry;

/// Bytes per pixel of a protected photo as written: lossless formats hold the added noise
/// (measured on the sample photos: 0.5–2.0 bytes per pixel as PNG); JPEG at the usual
/// qualities stays under 0.5.
fn bytes_per_pixel(format: ExportFormat) -> f64 {
    match format {
        ExportFormat::Png | ExportFormat::Webp => 2.0,
        ExportFormat::Jpeg => 0.5,
    }
}

/// Estimated bytes the outputs of `entries` will take (from the image headers; photos whose
/// header cannot be read count as nothing: they will fail anyway).
pub fn estimate_bytes<'a>(
    entries: impl Iterator<Item = &'a AlbumEntry>,
    export: &ExportConfig,
) -> u64 {
    let per_px = bytes_per_pixel(export.format);
    entries
        .filter_map(|e| image::image_dimensions(&e.path).ok())
        .map(|(w, h)| {
            let (w, h) = (f64::from(w), f64::from(h));
            let scale = export
                .max_long_side
                .map(|m| (f64::from(m) / w.max(h)).min(1.0))
                .unwrap_or(1.0);
            (w * h * scale * scale * per_px) as u64
        })
        .sum()
}

/// Bytes available to this user on the file system holding `dir` (`None` where unknown).
#[cfg(unix)]
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` only writes into the zero-initialised struct we own, and `c` is a valid
    // NUL-terminated path for the duration of the call.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    (rc == 0).then(|| s.f_bavail as u64 * s.f_frsize as u64)
}

/// Bytes available (`None`: not measured on this platform).
#[cfg(not(unix))]
pub fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

/// `Err` when the output folder clearly cannot hold the outputs of `entries`.
pub fn check_space<'a>(
    out_dir: &Path,
    entries: impl Iterator<Item = &'a AlbumEntry>,
    export: &ExportConfig,
) -> Result<(), JobError> {
    let Some(free) = free_bytes(out_dir) else {
        return Ok(());
    };
    // Room for the manifest and the temporary file of the photo being written.
    let needed = estimate_bytes(entries, export) + 1_000_000;
    if needed > free {
        return Err(JobError::NoSpace {
            path: out_dir.to_path_buf(),
            needed,
            free,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_follows_pixels_format_and_web_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        image::RgbImage::new(400, 300).save(&path).unwrap();
        let entry = AlbumEntry {
            index: 0,
            path,
            rel_out: "a.png".into(),
            label: 0,
        };
        let mut cfg = ExportConfig::default();
        assert_eq!(estimate_bytes([&entry].into_iter(), &cfg), 240_000);
        cfg.format = ExportFormat::Jpeg;
        assert_eq!(estimate_bytes([&entry].into_iter(), &cfg), 60_000);
        cfg.max_long_side = Some(200);
        assert_eq!(estimate_bytes([&entry].into_iter(), &cfg), 15_000);
        // A real folder has some free space, and a huge album does not fit.
        let free = free_bytes(dir.path());
        #[cfg(unix)]
        assert!(free.is_some_and(|f| f > 0));
        assert!(check_space(dir.path(), [&entry].into_iter(), &ExportConfig::default()).is_ok());
    }
}
