//! Loading real files in every supported format, EXIF orientation, and one clear error per
//! kind of bad file — while the good files of the same folder are still protected.

mod common;

use std::path::Path;

use image::{DynamicImage, GrayAlphaImage, ImageBuffer, ImageFormat, Luma, LumaA, Rgb, Rgba};
use unlearnable::config::LoadLimits;
use unlearnable::imaging::load_photo;
use unlearnable::{MethodId, ProtectConfig, Strength};

use common::*;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn every_supported_format_and_pixel_layout_decodes_to_upright_rgb() {
    let dir = tempfile::tempdir().unwrap();
    let rgb = pattern(24, 16, 1);
    let dynimg = DynamicImage::ImageRgb8(rgb.clone());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a.png", encode(&dynimg, ImageFormat::Png), "Rgb8"),
        ("a.jpg", encode(&dynimg, ImageFormat::Jpeg), "Rgb8"),
        ("a.webp", encode(&dynimg, ImageFormat::WebP), "Rgb8"),
        ("a.bmp", encode(&dynimg, ImageFormat::Bmp), "Rgb8"),
        ("a.tiff", encode(&dynimg, ImageFormat::Tiff), "Rgb8"),
        (
            "a.gif",
            encode(
                &DynamicImage::ImageRgba8(dynimg.to_rgba8()),
                ImageFormat::Gif,
            ),
            "Rgba8",
        ),
        (
            "gray16.png",
            encode(
                &DynamicImage::ImageLuma16(ImageBuffer::from_fn(24, 16, |x, _| {
                    Luma([x as u16 * 2000])
                })),
                ImageFormat::Png,
            ),
            "L16",
        ),
        (
            "rgb16.png",
            encode(
                &DynamicImage::ImageRgb16(ImageBuffer::from_fn(24, 16, |x, y| {
                    Rgb([x as u16 * 2000, y as u16 * 3000, 65535])
                })),
                ImageFormat::Png,
            ),
            "Rgb16",
        ),
        (
            "gray_alpha.png",
            encode(
                &DynamicImage::ImageLumaA8(GrayAlphaImage::from_fn(24, 16, |x, _| {
                    LumaA([100, x as u8 * 10])
                })),
                ImageFormat::Png,
            ),
            "La8",
        ),
        (
            "rgba.png",
            encode(
                &DynamicImage::ImageRgba8(ImageBuffer::from_fn(24, 16, |x, _| {
                    Rgba([1, 2, 3, x as u8])
                })),
                ImageFormat::Png,
            ),
            "Rgba8",
        ),
    ];
    for (name, bytes, color) in cases {
        let p = write(dir.path(), name, &bytes);
        let photo =
            load_photo(&p, &LoadLimits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((photo.width(), photo.height()), (24, 16), "{name}");
        assert_eq!(photo.meta.color, color, "{name}");
        if matches!(name, "a.png" | "a.bmp" | "a.tiff" | "a.webp") {
            assert_eq!(photo.rgb, rgb, "{name}: lossless formats decode exactly");
        }
        if name == "a.jpg" {
            let total: u64 = photo
                .rgb
                .as_raw()
                .iter()
                .zip(rgb.as_raw())
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            let mean = total as f64 / rgb.as_raw().len() as f64;
            assert!(mean < 12.0, "{name}: JPEG is close (mean error {mean})");
        }
        if name == "rgb16.png" {
            assert_eq!(
                photo.rgb.get_pixel(1, 1).0,
                [8, 12, 255],
                "16-bit is scaled to 8-bit"
            );
        }
        let has_alpha = matches!(name, "a.gif" | "gray_alpha.png" | "rgba.png");
        assert_eq!(photo.alpha.is_some(), has_alpha, "{name}");
        if name == "rgba.png" {
            assert_eq!(photo.alpha.as_ref().unwrap().get_pixel(5, 0).0, [5]);
        }
    }
}

#[test]
fn cmyk_jpeg_decodes_to_plausible_colours() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cmyk.jpg");
    let photo = load_photo(&p, &LoadLimits::default()).unwrap();
    assert_eq!((photo.width(), photo.height()), (48, 32));
    // The source is a sunset: the top rows are bright and warm, not inverted (dark/blue).
    let top = photo.rgb.get_pixel(24, 2).0;
    let mean: u32 = photo
        .rgb
        .pixels()
        .map(|p| u32::from(p.0[0]) + u32::from(p.0[1]) + u32::from(p.0[2]))
        .sum::<u32>()
        / (48 * 32 * 3);
    assert!(mean > 20 && mean < 235, "mean {mean}, top {top:?}");
}

#[test]
fn exif_orientation_is_applied_to_the_pixels() {
    // 16×8: left half red, right half blue. Orientation 6 = rotate 90° clockwise to view.
    let img = image::RgbImage::from_fn(16, 8, |x, _| {
        if x < 8 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "rotated.jpg", &jpeg_with_orientation(&img, 6));
    let photo = load_photo(&p, &LoadLimits::default()).unwrap();
    assert!(photo.meta.rotated);
    assert_eq!((photo.width(), photo.height()), (8, 16));
    let top = photo.rgb.get_pixel(4, 3).0;
    let bottom = photo.rgb.get_pixel(4, 12).0;
    assert!(top[0] > 200 && top[2] < 60, "top should be red: {top:?}");
    assert!(
        bottom[2] > 200 && bottom[0] < 60,
        "bottom should be blue: {bottom:?}"
    );
}

/// Bad files, each with the words its error must contain.
fn bad_files() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let good_jpeg = encode(
        &DynamicImage::ImageRgb8(pattern(64, 64, 3)),
        ImageFormat::Jpeg,
    );
    let good_png = encode(
        &DynamicImage::ImageRgb8(pattern(64, 64, 4)),
        ImageFormat::Png,
    );
    let mut corrupt_png = good_png.clone();
    let mid = corrupt_png.len() / 2;
    corrupt_png[mid..mid + 16]
        .iter_mut()
        .for_each(|b| *b ^= 0xA5);
    vec![
        ("empty.jpg", Vec::new(), "empty"),
        (
            "truncated.jpg",
            good_jpeg[..good_jpeg.len() / 3].to_vec(),
            "damaged or truncated",
        ),
        (
            "notes.jpg",
            b"these are my holiday notes, not a photo\n".to_vec(),
            "not a supported image",
        ),
        (
            "bomb.png",
            png_header_claiming(100_000, 100_000),
            "too large",
        ),
        ("corrupt.png", corrupt_png, "damaged or truncated"),
        (
            "garbage.png",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "not a supported image",
        ),
        (
            "header_only.gif",
            b"GIF89a\x10\x00".to_vec(),
            "damaged or truncated",
        ),
        (
            "bogus.bmp",
            b"BM\x00\x00\x00\x00garbage-garbage-garbage".to_vec(),
            "Unknown bitmap header",
        ),
        (
            "short.webp",
            b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00".to_vec(),
            "damaged or truncated",
        ),
        (
            "dangling.tiff",
            b"II*\x00\xff\xff\x00\x00".to_vec(),
            "damaged or truncated",
        ),
        (
            "image.qoi",
            b"qoif\x00\x00\x00\x10\x00\x00\x00\x10\x03\x00".to_vec(),
            "Qoi is not supported",
        ),
    ]
}

#[test]
fn each_bad_file_gets_its_own_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, words) in bad_files() {
        let p = write(dir.path(), name, &bytes);
        let Err(e) = load_photo(&p, &LoadLimits::default()) else {
            panic!("{name} loaded although it is broken");
        };
        let msg = e.to_string();
        assert!(
            msg.contains(name),
            "{name}: the message names the file: {msg}"
        );
        assert!(msg.contains(words), "{name}: expected '{words}' in: {msg}");
    }
}

#[test]
fn a_folder_with_bad_files_still_protects_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let album = dir.path().join("album");
    std::fs::create_dir_all(&album).unwrap();
    let mut bad_count = 0;
    for (name, bytes, _) in bad_files() {
        if name.ends_with(".qoi") {
            continue; // not an image extension: a folder scan does not pick it up
        }
        write(&album, name, &bytes);
        bad_count += 1;
    }
    for i in 0..3 {
        let img = DynamicImage::ImageRgb8(pattern(40 + i, 30, i));
        write(
            &album,
            &format!("good{i}.png"),
            &encode(&img, ImageFormat::Png),
        );
    }
    let before = hash_tree(&album);
    let summary = run_protect(
        vec![album.clone()],
        dir.path().join("out"),
        ProtectConfig::new(MethodId::Conv, Strength::Medium),
    );
    let m = &summary.manifest;
    assert_eq!(m.summary.done, 3);
    assert_eq!(m.summary.failed, bad_count);
    assert_eq!(m.errors.len(), bad_count);
    assert!(m.errors.iter().all(|e| !e.error.is_empty()));
    for i in 0..3 {
        assert!(dir.path().join(format!("out/good{i}.png")).is_file());
    }
    assert_eq!(hash_tree(&album), before, "originals unchanged");
}

/// A Display-P3 photo (every recent iPhone) keeps its colour profile in every output format,
/// so its protected colours mean what the original's meant; the manifest names the profile.
#[test]
fn a_display_p3_profile_is_carried_into_every_output_format() {
    use image::ImageDecoder;
    use unlearnable::config::ExportFormat;
    use unlearnable::imaging::icc;
    let dir = tempfile::tempdir().unwrap();
    let album = dir.path().join("album");
    std::fs::create_dir_all(&album).unwrap();
    let profile = icc::minimal_profile("Display P3");
    let img = pattern(64, 48, 5);
    let mut jpeg = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92);
    image::ImageEncoder::set_icc_profile(&mut enc, profile.clone()).unwrap();
    image::ImageEncoder::write_image(enc, img.as_raw(), 64, 48, image::ExtendedColorType::Rgb8)
        .unwrap();
    write(&album, "iphone.jpg", &jpeg);
    write(
        &album,
        "plain.png",
        &encode(&DynamicImage::ImageRgb8(img), ImageFormat::Png),
    );
    for format in [ExportFormat::Png, ExportFormat::Jpeg, ExportFormat::Webp] {
        let mut config = ProtectConfig::new(MethodId::Random, Strength::Medium);
        config.export.format = format;
        let out = dir.path().join(format!("out-{}", format.extension()));
        let m = run_protect(vec![album.clone()], out.clone(), config).manifest;
        let rec = |name: &str| m.images.iter().find(|r| r.source.ends_with(name)).unwrap();
        assert_eq!(
            rec("iphone.jpg").color_profile.as_deref(),
            Some("Display P3")
        );
        assert_eq!(rec("plain.png").color_profile, None);
        let written = std::fs::read(&rec("iphone.jpg").output).unwrap();
        let mut decoder = image::ImageReader::new(std::io::Cursor::new(written))
            .with_guessed_format()
            .unwrap()
            .into_decoder()
            .unwrap();
        assert_eq!(
            decoder.icc_profile().unwrap(),
            Some(profile.clone()),
            "{format:?} keeps the profile byte for byte"
        );
    }
}

/// Decode a binary PPM (P6, maxval 255) as written by `djpeg -ppm`.
fn read_ppm(bytes: &[u8]) -> image::RgbImage {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(std::str::from_utf8(&bytes[start..i]).unwrap().to_string());
    }
    assert_eq!((fields[0].as_str(), fields[3].as_str()), ("P6", "255"));
    let (w, h): (u32, u32) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let data = bytes[i + 1..i + 1 + (w * h * 3) as usize].to_vec();
    image::RgbImage::from_raw(w, h, data).unwrap()
}

/// The ε promise against the decoder people actually see a JPEG with: libjpeg-turbo (browsers,
/// Pillow, `djpeg`). With libjpeg-turbo installed we decode with it, and every written pixel is
/// within ε of djpeg's decode of the original; with the built-in decoder the documented
/// tolerance is ε + 5 levels (README, "JPEG decoding").
#[test]
fn the_epsilon_bound_holds_against_libjpeg_turbo_s_decode_of_jpeg_originals() {
    let has_djpeg = std::process::Command::new("djpeg")
        .arg("-version")
        .output()
        .is_ok();
    if !has_djpeg {
        assert!(
            std::env::var_os("UNLEARNABLE_REQUIRE_SHARED").is_none(),
            "djpeg (libjpeg-turbo-progs) is missing and CI requires it"
        );
        eprintln!("SKIPPED: needs djpeg (Debian: libjpeg-turbo-progs)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = ProtectConfig::new(MethodId::Random, Strength::Medium);
    config.epsilon_255 = 8.0;
    let m = run_protect(vec![samples_dir()], dir.path().join("out"), config).manifest;
    let turbo = m.jpeg_decoder.starts_with("libjpeg-turbo");
    if std::env::var_os("UNLEARNABLE_REQUIRE_SHARED").is_some() {
        assert!(turbo, "CI installs libturbojpeg0: {}", m.jpeg_decoder);
    }
    let allowed = if turbo { 8 } else { 8 + 5 };
    assert_eq!(m.images.len(), 5);
    for r in &m.images {
        let reference = std::process::Command::new("djpeg")
            .arg("-ppm")
            .arg(&r.source)
            .output()
            .unwrap();
        assert!(reference.status.success());
        let reference = read_ppm(&reference.stdout);
        let written = image::open(&r.output).unwrap().to_rgb8();
        let worst = max_abs_diff(&reference, &written);
        assert!(
            worst <= allowed,
            "{}: {worst} levels from libjpeg-turbo's decode ({})",
            r.source.display(),
            m.jpeg_decoder
        );
    }
}

/// iPhone photos (HEIC) and AVIF are read through libheif: decoded upright, close to the
/// image they were encoded from, protected like any photo, their colour profile carried.
/// Without libheif each gets a clear error naming what to install.
#[test]
fn heic_and_avif_photos_are_protected_with_their_profile() {
    use unlearnable::imaging::{heif, icc};
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let dir = tempfile::tempdir().unwrap();
    let album = dir.path().join("album");
    std::fs::create_dir_all(&album).unwrap();
    for name in ["iphone.heic", "photo.avif", "adobe-rgb.heic"] {
        std::fs::copy(data.join(name), album.join(name)).unwrap();
    }
    if std::env::var_os("UNLEARNABLE_REQUIRE_SHARED").is_some() {
        assert!(heif::available(), "CI installs libheif1");
    }
    let m = run_protect(
        vec![album.clone()],
        dir.path().join("out"),
        ProtectConfig::new(MethodId::Random, Strength::Medium),
    )
    .manifest;
    if !heif::available() {
        eprintln!("libheif is not installed: checking the error message only");
        assert_eq!(m.errors.len(), 3);
        assert!(
            m.errors.iter().all(|e| e.error.contains("libheif")),
            "{:?}",
            m.errors
        );
        return;
    }
    assert_eq!((m.images.len(), m.errors.len()), (3, 0), "{:?}", m.errors);
    let source = image::open(data.join("heif-source.png")).unwrap().to_rgb8();
    for name in ["iphone.heic", "photo.avif"] {
        let photo = load_photo(&album.join(name), &LoadLimits::default()).unwrap();
        assert_eq!(photo.rgb.dimensions(), (96, 54), "{name}");
        let mean: f64 = photo
            .rgb
            .as_raw()
            .iter()
            .zip(source.as_raw())
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / source.as_raw().len() as f64;
        assert!(
            mean < 8.0,
            "{name} decodes close to its source (mean |diff| {mean:.1})"
        );
    }
    let rec = m
        .images
        .iter()
        .find(|r| r.source.ends_with("adobe-rgb.heic"))
        .unwrap();
    let profile = load_photo(&album.join("adobe-rgb.heic"), &LoadLimits::default())
        .unwrap()
        .meta
        .icc
        .expect("the HEIC carries an Adobe RGB profile");
    assert_eq!(rec.color_profile, icc::description(&profile));
    assert!(rec.color_profile.as_deref().unwrap().contains("A98"));
    let written = image::open(&rec.output).unwrap();
    assert_eq!((written.width(), written.height()), (96, 54));
    let mut decoder = image::ImageReader::open(&rec.output)
        .unwrap()
        .into_decoder()
        .unwrap();
    use image::ImageDecoder;
    assert_eq!(decoder.icc_profile().unwrap(), Some(profile));
    assert!(rec.epsilon_used_255 <= 8);
}
