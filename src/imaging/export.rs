//! Writing protected photos: output names that never collide and never touch an original,
//! encoders (PNG by default, lossless), metadata policy, atomic writes (temp file + rename).

use std::collections::HashSet;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use image::codecs::{jpeg::JpegEncoder, png, webp::WebPEncoder};
use image::{ExtendedColorType, GrayImage, ImageEncoder, RgbImage, RgbaImage};

use crate::config::{ExportConfig, ExportFormat, PngCompression};
use crate::error::ExportError;
use crate::imaging::load::Carried;
use crate::imaging::paths::InputGuard;

/// Chooses output paths: the input's relative path under the output folder with the export
/// format's extension. A name already used in this run, already on disk (unless overwriting),
/// or equal to an original gets a numbered suffix: `photo.png`, `photo_2.png`, ...
#[derive(Debug)]
pub struct OutputPlanner {
    out_dir: PathBuf,
    extension: &'static str,
    overwrite: bool,
    taken: HashSet<String>,
    guard: InputGuard,
    suffix: String,
}

/// Case-folded key, so that `A.png` and `a.png` count as the same file (they are on macOS and
/// Windows).
fn key(p: &Path) -> String {
    p.to_string_lossy().to_lowercase()
}

impl OutputPlanner {
    /// A planner for `out_dir` that will never hand out a path that resolves to one of the
    /// originals `guard` knows (through `..` and symlinks).
    pub fn new(out_dir: &Path, format: ExportFormat, overwrite: bool, guard: InputGuard) -> Self {
        Self {
            out_dir: std::path::absolute(out_dir).unwrap_or_else(|_| out_dir.to_path_buf()),
            extension: format.extension(),
            overwrite,
            taken: HashSet::new(),
            guard,
            suffix: String::new(),
        }
    }

    /// The originals this planner protects; writers check every path with it.
    pub fn guard(&self) -> &InputGuard {
        &self.guard
    }

    /// Append `suffix` to every file name's stem (`photo.jpg` → `photo_protected.png`).
    /// Path separators and dots are dropped from it.
    pub fn with_suffix(mut self, suffix: &str) -> Self {
        self.suffix = suffix
            .chars()
            .filter(|c| !matches!(c, '/' | '\\' | '.' | '\0'))
            .collect();
        self
    }

    /// Mark `path` as used (e.g. an earlier run's output that `--resume` keeps), so that no
    /// other photo is given it.
    pub fn reserve(&mut self, path: &Path) {
        self.taken.insert(key(path));
    }

    /// The output path for an input whose relative output path is `rel_out`.
    pub fn plan(&mut self, rel_out: &Path) -> PathBuf {
        let mut base = self.out_dir.join(rel_out).with_extension(self.extension);
        if !self.suffix.is_empty()
            && let Some(stem) = base.file_stem().map(|s| s.to_string_lossy().into_owned())
        {
            base.set_file_name(format!("{stem}{}.{}", self.suffix, self.extension));
        }
        let stem = base
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "photo".into());
        let mut candidate = base.clone();
        let mut n = 2;
        loop {
            let k = key(&candidate);
            let free = !self.taken.contains(&k)
                && !self.guard.is_original(&candidate)
                && (self.overwrite || !candidate.exists());
            if free {
                self.taken.insert(k);
                return candidate;
            }
            candidate = base.with_file_name(format!("{stem}_{n}.{}", self.extension));
            n += 1;
        }
    }

    /// Whether existing files may be replaced.
    pub fn overwrite(&self) -> bool {
        self.overwrite
    }
}

/// A minimal EXIF block holding only `Artist` and `Copyright`.
fn credit_exif(artist: Option<&str>, copyright: Option<&str>) -> Option<Vec<u8>> {
    let fields: Vec<exif::Field> = [
        (exif::Tag::Artist, artist),
        (exif::Tag::Copyright, copyright),
    ]
    .into_iter()
    .filter_map(|(tag, v)| {
        v.map(|s| exif::Field {
            tag,
            ifd_num: exif::In::PRIMARY,
            value: exif::Value::Ascii(vec![s.as_bytes().to_vec()]),
        })
    })
    .collect();
    if fields.is_empty() {
        return None;
    }
    let mut w = exif::experimental::Writer::new();
    fields.iter().for_each(|f| w.push_field(f));
    let mut buf = Cursor::new(Vec::new());
    w.write(&mut buf, true).ok()?;
    Some(buf.into_inner())
}

/// Encode a protected photo. The original's colour profile is always carried (the pixel
/// values are in its colour space); the credit fields only when the config asks to keep them;
/// nothing else from the original file is ever written.
pub fn encode(
    rgb: &RgbImage,
    alpha: Option<&GrayImage>,
    cfg: &ExportConfig,
    carried: Carried<'_>,
) -> Result<Vec<u8>, String> {
    let shrunk = cfg.max_long_side.and_then(|max| {
        let (w, h) = rgb.dimensions();
        let (nw, nh) = crate::imaging::planar::working_dims(w, h, max);
        ((nw, nh) != (w, h)).then(|| {
            let filter = image::imageops::FilterType::Triangle;
            (
                image::imageops::resize(rgb, nw, nh, filter),
                alpha.map(|a| image::imageops::resize(a, nw, nh, filter)),
            )
        })
    });
    let (rgb, alpha) = match &shrunk {
        Some((r, a)) => (r, a.as_ref()),
        None => (rgb, alpha),
    };
    let (w, h) = rgb.dimensions();
    let exif = if cfg.keep_copyright {
        credit_exif(carried.artist, carried.copyright)
    } else {
        None
    };
    let rgba = alpha.filter(|_| cfg.format != ExportFormat::Jpeg).map(|a| {
        RgbaImage::from_fn(w, h, |x, y| {
            let p = rgb.get_pixel(x, y).0;
            image::Rgba([p[0], p[1], p[2], a.get_pixel(x, y).0[0]])
        })
    });
    let (bytes, color): (&[u8], ExtendedColorType) = match &rgba {
        Some(img) => (img.as_raw(), ExtendedColorType::Rgba8),
        None => (rgb.as_raw(), ExtendedColorType::Rgb8),
    };
    let mut out = Vec::new();
    let set_exif = |enc: &mut dyn FnMut(Vec<u8>) -> Result<(), String>| match exif.clone() {
        Some(e) => enc(e),
        None => Ok(()),
    };
    let set_icc = |enc: &mut dyn FnMut(Vec<u8>) -> Result<(), String>| match carried.icc {
        Some(p) => enc(p.to_vec()),
        None => Ok(()),
    };
    match cfg.format {
        ExportFormat::Png => {
            let mut enc = png::PngEncoder::new_with_quality(
                &mut out,
                match cfg.png_compression {
                    PngCompression::Fast => png::CompressionType::Fast,
                    PngCompression::Default => png::CompressionType::Default,
                    PngCompression::Best => png::CompressionType::Best,
                },
                png::FilterType::Adaptive,
            );
            set_exif(&mut |e| enc.set_exif_metadata(e).map_err(|e| e.to_string()))?;
            set_icc(&mut |p| enc.set_icc_profile(p).map_err(|e| e.to_string()))?;
            enc.write_image(bytes, w, h, color)
                .map_err(|e| e.to_string())?;
        }
        ExportFormat::Jpeg => {
            let mut enc = JpegEncoder::new_with_quality(&mut out, cfg.jpeg_quality);
            set_exif(&mut |e| enc.set_exif_metadata(e).map_err(|e| e.to_string()))?;
            set_icc(&mut |p| enc.set_icc_profile(p).map_err(|e| e.to_string()))?;
            enc.write_image(bytes, w, h, color)
                .map_err(|e| e.to_string())?;
        }
        ExportFormat::Webp => {
            let mut enc = WebPEncoder::new_lossless(&mut out);
            set_exif(&mut |e| enc.set_exif_metadata(e).map_err(|e| e.to_string()))?;
            set_icc(&mut |p| enc.set_icc_profile(p).map_err(|e| e.to_string()))?;
            enc.write_image(bytes, w, h, color)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(out)
}

/// Write `bytes` to `path` atomically: a hidden temporary file in the same folder is written,
/// synced, then renamed over the destination. A killed process leaves either nothing or the
/// complete file. Without `overwrite`, an existing destination is never replaced.
pub fn write_atomically(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), ExportError> {
    let io = |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".unlearnable-")
        .suffix(".part")
        .tempfile_in(parent)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    // Temporary files are private (0600); a finished photo gets the usual 0644.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(io)?;
    if overwrite {
        tmp.persist(path).map_err(|e| io(e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| io(e.error))?;
    }
    Ok(())
}

/// [`write_atomically`] after asking `guard`: a path that resolves to an original, or into an
/// input folder, is refused whatever `overwrite` says.
pub fn write_output(
    path: &Path,
    bytes: &[u8],
    overwrite: bool,
    guard: &InputGuard,
) -> Result<(), ExportError> {
    guard.check(path)?;
    write_atomically(path, bytes, overwrite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_get_numbered_names_and_originals_are_never_planned() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("sub")).unwrap();
        std::fs::write(out.join("old.png"), b"keep me").unwrap();
        let original = out.join("sub/orig.png");
        std::fs::write(&original, b"original").unwrap();
        let guard = || InputGuard::new([original.as_path()], []);
        let mut p = OutputPlanner::new(&out, ExportFormat::Png, false, guard());
        assert_eq!(p.plan(Path::new("a.jpg")), out.join("a.png"));
        assert_eq!(p.plan(Path::new("a.png")), out.join("a_2.png"));
        assert_eq!(p.plan(Path::new("A.tiff")), out.join("A_3.png"));
        assert_eq!(p.plan(Path::new("old.jpg")), out.join("old_2.png"));
        assert_eq!(
            p.plan(Path::new("sub/orig.jpg")),
            out.join("sub/orig_2.png")
        );
        let mut p = OutputPlanner::new(&out, ExportFormat::Png, true, guard());
        assert_eq!(p.plan(Path::new("old.jpg")), out.join("old.png"));
        assert_eq!(
            p.plan(Path::new("sub/orig.jpg")),
            out.join("sub/orig_2.png")
        );
    }

    #[test]
    fn a_name_suffix_is_added_before_the_extension_and_sanitised() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut p = OutputPlanner::new(&out, ExportFormat::Jpeg, false, InputGuard::default())
            .with_suffix("_prot/../x.y");
        assert_eq!(p.plan(Path::new("sub/a.png")), out.join("sub/a_protxy.jpg"));
        assert_eq!(
            p.plan(Path::new("sub/a.tif")),
            out.join("sub/a_protxy_2.jpg")
        );
    }

    #[test]
    fn atomic_write_leaves_no_temp_files_and_respects_noclobber() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("deep/x.png");
        write_atomically(&target, b"first", false).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"first");
        assert!(write_atomically(&target, b"second", false).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"first");
        write_atomically(&target, b"third", true).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"third");
        let names: Vec<_> = std::fs::read_dir(target.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "outputs are readable like any other photo");
        }
    }

    fn ann() -> Carried<'static> {
        Carried {
            artist: Some("Ann"),
            copyright: Some("(c) Ann"),
            icc: None,
        }
    }

    #[test]
    fn png_keeps_alpha_and_credit_only_when_asked() {
        let rgb = RgbImage::from_pixel(3, 2, image::Rgb([1, 2, 3]));
        let alpha = GrayImage::from_pixel(3, 2, image::Luma([77]));
        let mut cfg = ExportConfig::default();
        let plain = encode(&rgb, Some(&alpha), &cfg, ann()).unwrap();
        let img = image::load_from_memory(&plain).unwrap().to_rgba8();
        assert_eq!(img.get_pixel(2, 1).0, [1, 2, 3, 77]);
        assert!(
            !plain.windows(3).any(|w| w == b"Ann"),
            "credit written without being asked"
        );
        cfg.keep_copyright = true;
        let credited = encode(&rgb, None, &cfg, ann()).unwrap();
        assert!(credited.windows(7).any(|w| w == b"(c) Ann"));
        let img = image::load_from_memory(&credited).unwrap().to_rgb8();
        assert_eq!(img, rgb);
    }

    #[test]
    fn the_web_preset_shrinks_large_photos_and_writes_jpeg() {
        let rgb = RgbImage::from_fn(4000, 1000, |x, _| image::Rgb([(x % 256) as u8, 90, 200]));
        let alpha = GrayImage::from_pixel(4000, 1000, image::Luma([255]));
        let mut cfg = ExportConfig::default();
        crate::config::ExportPreset::Web.apply(&mut cfg);
        let bytes = encode(&rgb, Some(&alpha), &cfg, Carried::default()).unwrap();
        assert_eq!(
            image::guess_format(&bytes).unwrap(),
            image::ImageFormat::Jpeg
        );
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (2048, 512));
        // Small photos keep their size; the full preset is lossless PNG again.
        let small = RgbImage::from_pixel(30, 20, image::Rgb([5, 6, 7]));
        let img = image::load_from_memory(&encode(&small, None, &cfg, Carried::default()).unwrap())
            .unwrap();
        assert_eq!((img.width(), img.height()), (30, 20));
        crate::config::ExportPreset::Full.apply(&mut cfg);
        let back = encode(&small, None, &cfg, Carried::default()).unwrap();
        assert_eq!(image::load_from_memory(&back).unwrap().to_rgb8(), small);
        assert_eq!(cfg.preset, Some(crate::config::ExportPreset::Full));
    }
}
