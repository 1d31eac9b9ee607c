//! A seeded, structure-aware mutation fuzzer for the photo loader (JPEG, PNG, WebP, TIFF, GIF,
//! BMP, EXIF, ICC), on the stable toolchain with no extra tools.
//!
//! ```sh
//! cargo run --release --example fuzz_loaders -- --seconds 600 --seed 1
//! ```
//!
//! Every input goes through `imaging::decode_photo` (the whole loader after the file read)
//! under `catch_unwind`. A panic is a bug: the input is saved to `fuzz/crashes/` and should
//! become a regression file in `tests/data/fuzz/` once fixed (`tests/fuzz_regressions.rs`
//! decodes every file there). Inputs slower than a second are saved as `slow-*`. Feedback is
//! coarse but cheap: a mutated input whose outcome (decoded size and colour type, or the
//! error's first words) was not seen before joins the corpus, so mutations build on inputs
//! that reach new decoder paths. At the end, up to 40 small inputs that found new outcomes are
//! kept in `fuzz/corpus/` (read back by later runs and decoded by the regression test). Runs
//! append a line to `fuzz/runs.log`.

use std::collections::HashSet;
use std::io::Cursor;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::{DynamicImage, ImageEncoder, ImageFormat, RgbImage, RgbaImage};
use unlearnable::config::LoadLimits;
use unlearnable::imaging::decode_photo;
use unlearnable::rng::Rng;

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, format)
        .expect("encoding a seed image");
    buf.into_inner()
}

/// Small valid files of every format, with metadata blocks the loader parses.
fn seeds() -> Vec<Vec<u8>> {
    let rgb = RgbImage::from_fn(17, 11, |x, y| {
        image::Rgb([(x * 15) as u8, (y * 23) as u8, 99])
    });
    let rgba = RgbaImage::from_fn(9, 7, |x, y| {
        image::Rgba([x as u8 * 20, 3, y as u8 * 30, 128])
    });
    let (rgb, rgba) = (DynamicImage::ImageRgb8(rgb), DynamicImage::ImageRgba8(rgba));
    let mut out = Vec::new();
    for f in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::WebP,
        ImageFormat::Bmp,
        ImageFormat::Tiff,
        ImageFormat::Gif,
    ] {
        out.push(encode(&rgb, f));
        if f != ImageFormat::Jpeg {
            out.push(encode(&rgba, f));
        }
    }
    out.push(encode(
        &DynamicImage::ImageLuma8(rgb.to_luma8()),
        ImageFormat::Png,
    ));
    out.push(encode(
        &DynamicImage::ImageRgb16(rgb.to_rgb16()),
        ImageFormat::Png,
    ));
    // JPEG and PNG with EXIF (orientation, artist) and an ICC profile.
    let exif = {
        let fields = [
            exif::Field {
                tag: exif::Tag::Orientation,
                ifd_num: exif::In::PRIMARY,
                value: exif::Value::Short(vec![6]),
            },
            exif::Field {
                tag: exif::Tag::Artist,
                ifd_num: exif::In::PRIMARY,
                value: exif::Value::Ascii(vec![b"Ann".to_vec()]),
            },
        ];
        let mut w = exif::experimental::Writer::new();
        fields.iter().for_each(|f| w.push_field(f));
        let mut buf = Cursor::new(Vec::new());
        w.write(&mut buf, false).expect("exif");
        buf.into_inner()
    };
    let icc = unlearnable::imaging::icc::minimal_profile("Display P3");
    let raw = rgb.to_rgb8();
    let mut jpeg = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80);
    enc.set_exif_metadata(exif.clone()).expect("exif");
    enc.set_icc_profile(icc.clone()).expect("icc");
    enc.write_image(raw.as_raw(), 17, 11, image::ExtendedColorType::Rgb8)
        .expect("jpeg");
    out.push(jpeg);
    let mut png = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut png);
    enc.set_exif_metadata(exif).expect("exif");
    enc.set_icc_profile(icc).expect("icc");
    enc.write_image(raw.as_raw(), 17, 11, image::ExtendedColorType::Rgb8)
        .expect("png");
    out.push(png);
    out
}

/// CRC-32 (IEEE), to repair PNG chunks after a mutation so it reaches the decoder proper.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn fix_png_crcs(data: &mut [u8]) {
    let mut at = 8;
    while at + 12 <= data.len() {
        let len = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let Some(end) = at.checked_add(12 + len).filter(|&e| e <= data.len()) else {
            return;
        };
        let crc = crc32(&data[at + 4..at + 8 + len]);
        data[at + 8 + len..end].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}

const INTERESTING: [u8; 8] = [0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x10, 0x40];

fn mutate(input: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut d = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        if d.is_empty() {
            d.push(0);
        }
        let len = d.len() as u64;
        let at = rng.below(len) as usize;
        match rng.below(9) {
            0 => d[at] ^= 1 << rng.below(8),
            1 => d[at] = INTERESTING[rng.below(8) as usize],
            2 => d[at] = rng.next_u64() as u8,
            3 => {
                // A 16- or 32-bit field set to an extreme (sizes, counts, offsets).
                let v: [u8; 4] = match rng.below(4) {
                    0 => [0xFF; 4],
                    1 => [0, 0, 0, 0],
                    2 => [0x7F, 0xFF, 0xFF, 0xFF],
                    _ => [0, 0, 0x40, 0],
                };
                let n = if rng.below(2) == 0 { 2 } else { 4 };
                for (i, b) in v.iter().take(n).enumerate() {
                    if let Some(x) = d.get_mut(at + i) {
                        *x = *b;
                    }
                }
            }
            4 => {
                let n = 1 + rng.below(16) as usize;
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                d.splice(at..at, bytes);
            }
            5 => {
                let end = (at + 1 + rng.below(64) as usize).min(d.len());
                d.drain(at..end);
            }
            6 => {
                let end = (at + 1 + rng.below(64) as usize).min(d.len());
                let copy = d[at..end].to_vec();
                let to = rng.below(d.len() as u64) as usize;
                d.splice(to..to, copy);
            }
            7 => d.truncate(at.max(1)),
            _ => {
                if !other.is_empty() {
                    let from = rng.below(other.len() as u64) as usize;
                    let end = (from + 1 + rng.below(256) as usize).min(other.len());
                    let to = at.min(d.len());
                    d.splice(to..to, other[from..end].iter().copied());
                }
            }
        }
    }
    if d.starts_with(b"\x89PNG") && rng.below(4) != 0 {
        fix_png_crcs(&mut d);
    }
    // Most JPEG mutations keep an end marker, or the truncation check stops them first.
    if d.starts_with(&[0xFF, 0xD8]) && rng.below(4) != 0 && !d.ends_with(&[0xFF, 0xD9]) {
        d.extend_from_slice(&[0xFF, 0xD9]);
    }
    d
}

fn name(data: &[u8]) -> String {
    // FNV-1a: a stable file name for an input.
    let h = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{h:016x}")
}

fn outcome(data: &[u8], limits: &LoadLimits) -> Result<String, String> {
    let path = Path::new("fuzz-input");
    match std::panic::catch_unwind(AssertUnwindSafe(|| decode_photo(data, path, limits))) {
        Ok(Ok(p)) => Ok(format!("ok {}x{} {}", p.width(), p.height(), p.meta.color)),
        Ok(Err(e)) => Ok(format!(
            "err {}",
            e.kind
                .to_string()
                .split_whitespace()
                .take(4)
                .collect::<Vec<_>>()
                .join(" ")
        )),
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let seconds: u64 = arg("--seconds", "60").parse().unwrap_or(60);
    let seed: u64 = arg("--seed", "1").parse().unwrap_or(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let crashes = root.join(arg("--crashes", "fuzz/crashes"));
    std::fs::create_dir_all(&crashes).expect("crash folder");
    // Small limits: the fuzzer looks for panics and hangs, not for large allocations.
    let limits = LoadLimits {
        max_side: 4096,
        max_megapixels: 16,
        max_alloc_mib: 256,
    };
    std::panic::set_hook(Box::new(|_| {}));

    let mut corpus = seeds();
    let kept_dir = root.join("fuzz/corpus");
    for dir in [
        root.join("tests/data/fuzz"),
        root.join("tests/data"),
        kept_dir.clone(),
    ] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten().filter(|e| e.path().is_file()) {
                if let Ok(bytes) = std::fs::read(e.path()) {
                    corpus.push(bytes);
                }
            }
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    for c in &corpus {
        if let Ok(o) = outcome(c, &limits) {
            seen.insert(o);
        }
    }
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut rng = Rng::new(seed);
    let (started, deadline) = (
        Instant::now(),
        Instant::now() + Duration::from_secs(seconds),
    );
    let (mut execs, mut panics, mut slow) = (0u64, 0u64, 0u64);
    let mut slowest = Duration::ZERO;
    while Instant::now() < deadline {
        let a = rng.below(corpus.len() as u64) as usize;
        let b = rng.below(corpus.len() as u64) as usize;
        let input = mutate(&corpus[a], &corpus[b], &mut rng);
        let t = Instant::now();
        let result = outcome(&input, &limits);
        let took = t.elapsed();
        slowest = slowest.max(took);
        execs += 1;
        match result {
            Ok(o) => {
                if took > Duration::from_secs(1) {
                    slow += 1;
                    let _ = std::fs::write(crashes.join(format!("slow-{}", name(&input))), &input);
                }
                if seen.insert(o) && input.len() < 1 << 20 {
                    if input.len() <= 4096 {
                        found.push(input.clone());
                    }
                    corpus.push(input);
                }
            }
            Err(message) => {
                panics += 1;
                let file = crashes.join(format!("crash-{}", name(&input)));
                let _ = std::fs::write(&file, &input);
                eprintln!("PANIC ({message}): saved {}", file.display());
            }
        }
    }
    let _ = std::fs::create_dir_all(&kept_dir);
    let step = (found.len() / 40).max(1);
    for input in found.iter().step_by(step).take(40) {
        let _ = std::fs::write(kept_dir.join(name(input)), input);
    }
    let secs = started.elapsed().as_secs_f64();
    let line = format!(
        "seed {seed}: {execs} inputs in {secs:.0} s ({:.0}/s), corpus {} (outcomes {}), {panics} panics, {slow} slow (slowest {:.2} s)",
        execs as f64 / secs,
        corpus.len(),
        seen.len(),
        slowest.as_secs_f64()
    );
    println!("{line}");
    let log = root.join("fuzz/runs.log");
    let previous = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::write(&log, format!("{previous}{line}\n"));
    if panics > 0 {
        std::process::exit(1);
    }
}
