//! Decoding one photo safely: format sniffed from the bytes, decoder limits against
//! decompression bombs, EXIF orientation applied so pixels are upright, and the two metadata
//! fields a user may want to keep (artist, copyright) read out. Everything else is dropped.

use std::io::Cursor;
use std::path::Path;

use image::error::LimitErrorKind;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use image::{GrayImage, RgbImage};
use serde::Serialize;

use super::{heif, turbo};
use crate::config::LoadLimits;
use crate::error::{LoadError, LoadErrorKind};

/// Formats this app accepts.
const SUPPORTED: [ImageFormat; 6] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Bmp,
    ImageFormat::Tiff,
    ImageFormat::Gif,
];

/// Facts about the original file worth recording.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PhotoMeta {
    /// Detected format, e.g. `Jpeg`.
    pub format: String,
    /// Colour type as decoded, e.g. `Rgb8`, `L16`, `Rgba8`.
    pub color: String,
    /// Whether an EXIF orientation other than "upright" was applied to the pixels.
    pub rotated: bool,
    /// EXIF `Artist`, if present.
    pub artist: Option<String>,
    /// EXIF `Copyright`, if present.
    pub copyright: Option<String>,
    /// The embedded ICC colour profile (e.g. Display P3 on iPhone photos), carried into the
    /// output so that its colours mean the same.
    #[serde(skip)]
    pub icc: Option<Vec<u8>>,
}

impl PhotoMeta {
    /// What an export may carry over from the original: the credit fields (written only when
    /// the export config keeps them) and the colour profile (always).
    pub fn carried(&self) -> Carried<'_> {
        Carried {
            artist: self.artist.as_deref(),
            copyright: self.copyright.as_deref(),
            icc: self.icc.as_deref(),
        }
    }
}

/// Metadata an encoder writes into a protected photo (see [`PhotoMeta::carried`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Carried<'a> {
    /// EXIF `Artist`.
    pub artist: Option<&'a str>,
    /// EXIF `Copyright`.
    pub copyright: Option<&'a str>,
    /// ICC profile.
    pub icc: Option<&'a [u8]>,
}

/// A decoded photo: upright 8-bit RGB plus alpha when the original had transparency.
#[derive(Clone, Debug)]
pub struct Photo {
    /// Upright pixels, 8 bits per channel (16-bit originals are rounded).
    pub rgb: RgbImage,
    /// The original alpha channel, untouched by protection.
    pub alpha: Option<GrayImage>,
    /// Recorded metadata.
    pub meta: PhotoMeta,
}

impl Photo {
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.rgb.width()
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.rgb.height()
    }
}

fn err(path: &Path, kind: LoadErrorKind) -> LoadError {
    LoadError {
        path: path.to_path_buf(),
        kind,
    }
}

fn classify(e: ImageError) -> LoadErrorKind {
    match e {
        ImageError::Limits(l) => LoadErrorKind::MemoryLimit(l.to_string()),
        ImageError::Unsupported(u) => LoadErrorKind::Unsupported(u.to_string()),
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            LoadErrorKind::Corrupt("the file ends too early".into())
        }
        ImageError::IoError(io) => LoadErrorKind::Corrupt(io.to_string()),
        other => LoadErrorKind::Corrupt(other.to_string()),
    }
}

/// Read `Artist` and `Copyright` from a raw EXIF block (TIFF, optionally prefixed `Exif\0\0`).
fn read_credit(exif: &[u8]) -> (Option<String>, Option<String>) {
    let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
    let Ok(parsed) = exif::Reader::new().read_raw(tiff.to_vec()) else {
        return (None, None);
    };
    let text = |tag| {
        parsed
            .get_field(tag, exif::In::PRIMARY)
            .and_then(|f| match &f.value {
                exif::Value::Ascii(parts) => {
                    let s: Vec<String> = parts
                        .iter()
                        .map(|p| {
                            String::from_utf8_lossy(p)
                                .trim_end_matches('\0')
                                .trim()
                                .to_string()
                        })
                        .filter(|p| !p.is_empty())
                        .collect();
                    (!s.is_empty()).then(|| s.join("; "))
                }
                _ => None,
            })
    };
    (text(exif::Tag::Artist), text(exif::Tag::Copyright))
}

/// HEIC/HEIF/AVIF through libheif (which applies the container's rotation itself).
fn decode_heif(
    bytes: &[u8],
    path: &Path,
    kind: &str,
    limits: &LoadLimits,
) -> Result<Photo, LoadError> {
    let max_pixels = u64::from(limits.max_megapixels) * 1_000_000;
    let decoded = heif::decode(bytes, max_pixels).map_err(|f| match f {
        heif::Failure::Missing => err(
            path,
            LoadErrorKind::UnknownFormat(format!(
                "{kind} photos need libheif, which is not installed \
                 (Debian/Ubuntu: apt install libheif1; macOS: brew install libheif)"
            )),
        ),
        heif::Failure::TooLarge(w, h) => err(
            path,
            LoadErrorKind::TooLarge {
                size: format!("{w}×{h}"),
                limit: format!("{} megapixels", limits.max_megapixels),
            },
        ),
        heif::Failure::Corrupt(m) => err(path, LoadErrorKind::Corrupt(m)),
    })?;
    let (w, h) = decoded.rgb.dimensions();
    if w > limits.max_side || h > limits.max_side {
        return Err(err(
            path,
            LoadErrorKind::TooLarge {
                size: format!("{w}×{h}"),
                limit: format!("{} px per side", limits.max_side),
            },
        ));
    }
    Ok(Photo {
        meta: PhotoMeta {
            format: kind.to_string(),
            color: if decoded.alpha.is_some() {
                "Rgba8"
            } else {
                "Rgb8"
            }
            .into(),
            rotated: false,
            artist: None,
            copyright: None,
            icc: decoded.icc,
        },
        rgb: decoded.rgb,
        alpha: decoded.alpha,
    })
}

/// Decode one file into an upright [`Photo`], or say precisely why it cannot be read.
pub fn load_photo(path: &Path, limits: &LoadLimits) -> Result<Photo, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| err(path, LoadErrorKind::Io(e)))?;
    decode_photo(&bytes, path, limits)
}

/// Decode a file's `bytes` (named `path` in errors) into an upright [`Photo`]: the whole
/// loader without the file read, for in-memory callers and the fuzzer (`examples/fuzz_loaders.rs`).
pub fn decode_photo(bytes: &[u8], path: &Path, limits: &LoadLimits) -> Result<Photo, LoadError> {
    if bytes.is_empty() {
        return Err(err(path, LoadErrorKind::Empty));
    }
    if let Some(kind) = heif::sniff(bytes) {
        return decode_heif(bytes, path, kind, limits);
    }
    let format = image::guess_format(bytes).map_err(|_| {
        let head: String = bytes
            .iter()
            .take(8)
            .map(|b| {
                if b.is_ascii_graphic() {
                    *b as char
                } else {
                    '.'
                }
            })
            .collect();
        err(
            path,
            LoadErrorKind::UnknownFormat(format!(
                "no image signature (file starts with \"{head}\")"
            )),
        )
    })?;
    if !SUPPORTED.contains(&format) {
        return Err(err(
            path,
            LoadErrorKind::UnknownFormat(format!("{format:?} is not supported")),
        ));
    }

    // The JPEG decoder fills missing data with grey instead of failing; a protected copy of a
    // half-downloaded photo would silently be half grey. A complete JPEG ends with the EOI
    // marker (FF D9), possibly followed by a little padding.
    if format == ImageFormat::Jpeg {
        let tail = &bytes[bytes.len().saturating_sub(4096)..];
        if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
            return Err(err(
                path,
                LoadErrorKind::Corrupt("the JPEG has no end marker: the file is truncated".into()),
            ));
        }
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut lim = Limits::default();
    lim.max_image_width = Some(limits.max_side);
    lim.max_image_height = Some(limits.max_side);
    lim.max_alloc = Some(limits.max_alloc_mib * 1024 * 1024);
    reader.limits(lim);
    let side_limit = format!("{} px per side", limits.max_side);
    let mut decoder = match reader.into_decoder() {
        Ok(d) => d,
        Err(ImageError::Limits(l)) if matches!(l.kind(), LimitErrorKind::DimensionError) => {
            // Say how large it claims to be: read the header again without our limits.
            let size = ImageReader::with_format(Cursor::new(bytes), format)
                .into_dimensions()
                .map(|(w, h)| format!("{w}×{h}"))
                .unwrap_or_else(|_| "its declared size".into());
            return Err(err(
                path,
                LoadErrorKind::TooLarge {
                    size,
                    limit: side_limit,
                },
            ));
        }
        Err(e) => return Err(err(path, classify(e))),
    };

    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(err(path, LoadErrorKind::NoPixels { width, height }));
    }
    if width > limits.max_side || height > limits.max_side {
        return Err(err(
            path,
            LoadErrorKind::TooLarge {
                size: format!("{width}×{height}"),
                limit: side_limit,
            },
        ));
    }
    if u64::from(width) * u64::from(height) > u64::from(limits.max_megapixels) * 1_000_000 {
        return Err(err(
            path,
            LoadErrorKind::TooLarge {
                size: format!("{width}×{height}"),
                limit: format!("{} megapixels", limits.max_megapixels),
            },
        ));
    }
    // Metadata problems never fail a photo: a damaged EXIF block just means no credit fields.
    let exif = decoder.exif_metadata().ok().flatten();
    let icc = decoder.icc_profile().ok().flatten();
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let color = format!("{:?}", decoder.color_type());
    // JPEGs through libjpeg-turbo when it is installed: the pixels browsers show (turbo.rs).
    let turbo = (format == ImageFormat::Jpeg)
        .then(|| turbo::decode_rgb(bytes, u64::from(limits.max_megapixels) * 1_000_000))
        .flatten();
    let mut img = match turbo {
        Some(Ok(rgb)) => DynamicImage::ImageRgb8(rgb),
        Some(Err(message)) => return Err(err(path, LoadErrorKind::Corrupt(message))),
        None => DynamicImage::from_decoder(decoder).map_err(|e| err(path, classify(e)))?,
    };
    let rotated = orientation != image::metadata::Orientation::NoTransforms;
    img.apply_orientation(orientation);

    let (artist, copyright) = exif.as_deref().map(read_credit).unwrap_or((None, None));
    let alpha = img.color().has_alpha().then(|| {
        let rgba = img.to_rgba8();
        GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| {
            image::Luma([rgba.get_pixel(x, y).0[3]])
        })
    });
    Ok(Photo {
        rgb: img.into_rgb8(),
        alpha,
        meta: PhotoMeta {
            format: format!("{format:?}"),
            color,
            rotated,
            artist,
            copyright,
            icc,
        },
    })
}
