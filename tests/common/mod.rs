//! Shared helpers for integration tests: tiny images made in the test, hashing, temp folders.
#![allow(dead_code)]

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageEncoder, ImageFormat, RgbImage};
use sha2::{Digest, Sha256};

/// The real binary, with a private runtime folder (as on a desktop session).
pub fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_unlearnable"));
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c
}

/// Run the binary with `args` to the end.
pub fn unlearnable(args: &[&str]) -> std::process::Output {
    bin().args(args).output().expect("binary runs")
}

/// A path as a command-line argument (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

/// Protect `inputs` into `out` with `config` on the CPU (the library's job, no CLI).
pub fn run_protect(
    inputs: Vec<PathBuf>,
    out: PathBuf,
    config: unlearnable::ProtectConfig,
) -> unlearnable::RunSummary {
    let job = unlearnable::ProtectJob {
        inputs,
        out_dir: out,
        config,
        device: unlearnable::DeviceChoice::Cpu,
        resume: false,
        shard: None,
    };
    unlearnable::job::run(
        &job,
        &unlearnable::progress::NullSink,
        &unlearnable::CancelToken::new(),
    )
    .expect("the job runs")
}

/// The repository's sample photos.
pub fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples")
}

/// A smooth, colourful test pattern (not flat, not noise).
pub fn pattern(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let fx = x as f32 / w.max(1) as f32;
        let fy = y as f32 / h.max(1) as f32;
        image::Rgb([
            (255.0 * fx) as u8,
            (255.0 * fy) as u8,
            ((x * 7 + y * 13 + seed * 31) % 256) as u8,
        ])
    })
}

/// Encode `img` in `format` to bytes.
pub fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, format).expect("encode test image");
    buf.into_inner()
}

/// A JPEG with an EXIF block holding only the given orientation (1–8).
pub fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
    let field = exif::Field {
        tag: exif::Tag::Orientation,
        ifd_num: exif::In::PRIMARY,
        value: exif::Value::Short(vec![orientation]),
    };
    let mut w = exif::experimental::Writer::new();
    w.push_field(&field);
    let mut tiff = Cursor::new(Vec::new());
    w.write(&mut tiff, false).expect("exif");
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
    enc.set_exif_metadata(tiff.into_inner())
        .expect("exif accepted");
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .expect("jpeg");
    out
}

/// SHA-256 of a file, hex.
pub fn sha256_file(p: &Path) -> String {
    let bytes = std::fs::read(p).expect("read for hashing");
    format!("{:x}", Sha256::digest(bytes))
}

/// Every file under `dir` (recursive, sorted) with its hash.
pub fn hash_tree(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut v: Vec<(PathBuf, String)> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), sha256_file(e.path())))
        .collect();
    v.sort();
    v
}

/// CRC-32 (IEEE) for crafting PNG chunks.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose (CRC-valid) header claims `w`×`h` pixels, followed by a tiny IDAT and IEND.
pub fn png_header_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    out
}

/// Largest per-channel difference between two same-size images.
pub fn max_abs_diff(a: &RgbImage, b: &RgbImage) -> u8 {
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

/// The shared data folder (`../shared` from the repository root, or `$UNLEARNABLE_SHARED`).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("UNLEARNABLE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// The CIFAR-10 archive of the shared data sets.
pub const CIFAR: &str = "cifar10-jpg/cifar10-jpg.tar.gz";
/// The imagenette224 archive of the shared data sets.
pub const IMAGENETTE: &str = "imagenette224/imagenette224.tar.gz";

/// Whether the shared data set `archive` (under `datasets/`) is there. A test that needs it
/// returns early when it is not, after saying it was skipped — unless
/// `UNLEARNABLE_REQUIRE_SHARED` is set (CI sets it), where a missing archive fails the test.
pub fn have_shared(archive: &str) -> bool {
    let path = shared_dir().join("datasets").join(archive);
    if path.is_file() {
        return true;
    }
    assert!(
        std::env::var_os("UNLEARNABLE_REQUIRE_SHARED").is_none(),
        "data set archive missing at {} (UNLEARNABLE_REQUIRE_SHARED is set)",
        path.display()
    );
    eprintln!(
        "SKIPPED: this test needs {} (set UNLEARNABLE_SHARED to the shared folder)",
        path.display()
    );
    false
}

/// Extract the members matching `patterns` (tar wildcards) of the shared data set archive
/// `datasets/<archive>` into `dir`.
pub fn extract_shared(archive: &str, dir: &Path, patterns: &[String]) {
    let archive = shared_dir().join("datasets").join(archive);
    assert!(
        archive.is_file(),
        "data set archive missing at {}",
        archive.display()
    );
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(dir)
        .arg("--wildcards")
        .args(patterns)
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar failed");
}

/// Extract the first `per_class` CIFAR-10 images of each class of `split` (`train`/`test`) into
/// `dir/<split>/<class>/NNNN.jpg`. `per_class` must be at most 100.
pub fn cifar_subset(dir: &Path, split: &str, per_class: usize) -> PathBuf {
    assert!(per_class <= 100 && per_class > 0);
    let patterns: Vec<String> = (0..per_class)
        .map(|i| format!("{split}/*/{i:04}.jpg"))
        .collect();
    extract_shared(CIFAR, dir, &patterns);
    dir.join(split)
}

/// Every image under `root/<class>/`, decoded, with class labels in sorted class order.
pub fn labelled_images(
    root: &Path,
) -> (Vec<unlearnable::imaging::Planar>, Vec<usize>, Vec<String>) {
    let mut classes: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    classes.sort();
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(class))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let rgb = image::open(&f).unwrap().to_rgb8();
            images.push(unlearnable::imaging::Planar::from_rgb8(&rgb));
            labels.push(label);
        }
    }
    (images, labels, classes)
}

/// A small nested album of real photos: two folders made from the sample photos.
pub fn nested_samples(dir: &Path) -> PathBuf {
    let album = dir.join("album");
    let mut files: Vec<_> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    for (i, f) in files.iter().enumerate() {
        let sub = album.join(if i % 2 == 0 {
            "mountains"
        } else {
            "city/night"
        });
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::copy(f, sub.join(f.file_name().unwrap())).unwrap();
    }
    album
}

/// Two Imagenette classes (church, parachute) of `splits`, extracted into `dir`.
#[allow(dead_code)]
pub fn imagenette_subset(dir: &Path, splits: &[&str]) {
    let patterns: Vec<String> = splits
        .iter()
        .flat_map(|split| ["church", "parachute"].map(|c| format!("{split}/{c}/*")))
        .collect();
    extract_shared(IMAGENETTE, dir, &patterns);
}
