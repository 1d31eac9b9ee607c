//! End-to-end protection on real photos through the library: the ε bound holds in the written
//! files, results are deterministic, odd sizes work, and the CPU and WGPU backends agree.

mod common;

use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat};
use unlearnable::config::{ExportFormat, LoadLimits};
use unlearnable::imaging::load_photo;
use unlearnable::progress::NullSink;
use unlearnable::{CancelToken, DeviceChoice, MethodId, ProtectConfig, ProtectJob, Strength};

use common::*;

fn run(inputs: Vec<PathBuf>, out: &Path, config: ProtectConfig) -> unlearnable::RunSummary {
    let job = ProtectJob {
        inputs,
        out_dir: out.to_path_buf(),
        config,
        device: DeviceChoice::Cpu,
        resume: false,
        shard: None,
    };
    unlearnable::job::run(&job, &NullSink, &CancelToken::new()).expect("job runs")
}

/// Decode every written file and compare it with its decoded original.
fn assert_bound(summary: &unlearnable::RunSummary, eps: u8) -> u8 {
    let mut worst = 0;
    for rec in &summary.manifest.images {
        let clean = load_photo(&rec.source, &LoadLimits::default()).unwrap().rgb;
        let protected = image::open(&rec.output).unwrap().to_rgb8();
        let d = max_abs_diff(&clean, &protected);
        assert!(
            d <= eps,
            "{}: max |δ| = {d} > ε = {eps}",
            rec.output.display()
        );
        assert_eq!(d, rec.epsilon_used_255, "manifest records the real bound");
        worst = worst.max(d);
    }
    worst
}

#[test]
fn written_samples_stay_within_epsilon_for_every_method_and_strength() {
    let dir = tempfile::tempdir().unwrap();
    for method in MethodId::ALL {
        let mut mean_ssim = Vec::new();
        for strength in [Strength::Low, Strength::High] {
            let out = dir.path().join(format!("{method}-{}", strength.name()));
            let s = run(
                vec![samples_dir()],
                &out,
                ProtectConfig::new(method, strength),
            );
            assert_eq!(s.manifest.summary.done, 5, "{method}");
            assert!(s.manifest.errors.is_empty());
            let eps = strength.epsilon_255() as u8;
            let worst = assert_bound(&s, eps);
            assert_eq!(worst, eps, "{method} uses its budget somewhere");
            for rec in &s.manifest.images {
                assert!(
                    rec.visibility.psnr_db > 20.0 && rec.visibility.psnr_db < 60.0,
                    "{method}: psnr {}",
                    rec.visibility.psnr_db
                );
                assert!(
                    rec.visibility.ssim > 0.3 && rec.visibility.ssim < 1.0,
                    "{method}: ssim {}",
                    rec.visibility.ssim
                );
            }
            let sum = &s.manifest.summary;
            let (mean, worst) = (sum.mean_ssim.unwrap(), sum.worst_ssim.unwrap());
            assert!(worst <= mean, "{method}: worst {worst} > mean {mean}");
            mean_ssim.push(mean);
        }
        assert!(
            mean_ssim[1] < mean_ssim[0],
            "{method}: a larger budget is more visible ({mean_ssim:?})"
        );
    }
}

#[test]
fn odd_sizes_and_strips_keep_their_size_and_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("odd");
    std::fs::create_dir_all(&input).unwrap();
    for (w, h) in [(4032u32, 3024u32), (1, 517), (517, 1), (3, 3), (257, 255)] {
        let img = DynamicImage::ImageRgb8(pattern(w, h, w + h));
        std::fs::write(
            input.join(format!("{w}x{h}.png")),
            encode(&img, ImageFormat::Png),
        )
        .unwrap();
    }
    let s = run(
        vec![input],
        &dir.path().join("out"),
        ProtectConfig::new(MethodId::Conv, Strength::Medium),
    );
    assert_eq!(s.manifest.summary.done, 5, "{:?}", s.manifest.errors);
    for rec in &s.manifest.images {
        let out = image::open(&rec.output).unwrap();
        assert_eq!((out.width(), out.height()), (rec.width, rec.height));
        assert!(rec.working_size[0] <= 256 && rec.working_size[1] <= 256);
    }
    assert_bound(&s, 8);
}

#[test]
fn same_seed_gives_identical_bytes_and_a_different_seed_different_noise() {
    let dir = tempfile::tempdir().unwrap();
    for method in MethodId::ALL {
        let mut cfg = ProtectConfig::new(method, Strength::Medium);
        cfg.seed = 11;
        let a = run(
            vec![samples_dir()],
            &dir.path().join(format!("{method}-a")),
            cfg.clone(),
        );
        let b = run(
            vec![samples_dir()],
            &dir.path().join(format!("{method}-b")),
            cfg.clone(),
        );
        cfg.seed = 12;
        let c = run(
            vec![samples_dir()],
            &dir.path().join(format!("{method}-c")),
            cfg,
        );
        for ((ra, rb), rc) in a
            .manifest
            .images
            .iter()
            .zip(&b.manifest.images)
            .zip(&c.manifest.images)
        {
            assert_eq!(
                sha256_file(&ra.output),
                sha256_file(&rb.output),
                "{method}: same seed"
            );
            assert_ne!(
                sha256_file(&ra.output),
                sha256_file(&rc.output),
                "{method}: other seed"
            );
        }
    }
}

#[test]
fn lossy_export_is_flagged_and_alpha_survives_png() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let rgba = image::RgbaImage::from_fn(30, 20, |x, y| {
        image::Rgba([x as u8 * 8, y as u8 * 12, 90, (x * 8) as u8])
    });
    std::fs::write(
        input.join("t.png"),
        encode(&DynamicImage::ImageRgba8(rgba.clone()), ImageFormat::Png),
    )
    .unwrap();
    let s = run(
        vec![input.clone()],
        &dir.path().join("png"),
        ProtectConfig::new(MethodId::Conv, Strength::Medium),
    );
    let out = image::open(&s.manifest.images[0].output)
        .unwrap()
        .to_rgba8();
    assert!(
        out.pixels()
            .zip(rgba.pixels())
            .all(|(a, b)| a.0[3] == b.0[3]),
        "alpha kept exactly"
    );
    assert!(s.manifest.warnings.is_empty());

    let mut cfg = ProtectConfig::new(MethodId::Conv, Strength::Medium);
    cfg.export.format = ExportFormat::Jpeg;
    let s = run(vec![input], &dir.path().join("jpg"), cfg);
    assert!(s.manifest.images[0].output.extension().unwrap() == "jpg");
    assert!(s.manifest.warnings[0].contains("weakens"));
}

#[test]
fn cancelling_before_start_writes_no_photos_but_a_manifest_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancelToken::new();
    cancel.cancel();
    let job = ProtectJob {
        inputs: vec![samples_dir()],
        out_dir: dir.path().join("out"),
        config: ProtectConfig::default(),
        device: DeviceChoice::Cpu,
        resume: false,
        shard: None,
    };
    let s = unlearnable::job::run(&job, &NullSink, &cancel).unwrap();
    assert!(s.manifest.cancelled);
    assert_eq!(s.manifest.summary.skipped, 5);
    let files: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["manifest.json"]);
}

#[test]
fn output_inside_the_input_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("a.png"),
        encode(&DynamicImage::ImageRgb8(pattern(8, 8, 0)), ImageFormat::Png),
    )
    .unwrap();
    for out in [input.clone(), input.join("protected")] {
        let job = ProtectJob {
            inputs: vec![input.clone()],
            out_dir: out,
            config: ProtectConfig::default(),
            device: DeviceChoice::Cpu,
            resume: false,
            shard: None,
        };
        let e = unlearnable::job::run(&job, &NullSink, &CancelToken::new()).unwrap_err();
        assert!(e.to_string().contains("inside the input folder"), "{e}");
    }
    assert!(!input.join("protected").exists());
}

/// A JPEG whose EXIF holds credit fields plus a GPS position and a camera serial number.
fn jpeg_with_private_exif(img: &image::RgbImage) -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value};
    let fields = [
        Field {
            tag: Tag::Artist,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"Ann Artist".to_vec()]),
        },
        Field {
            tag: Tag::Copyright,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"(c) 2026 Ann".to_vec()]),
        },
        Field {
            tag: Tag::BodySerialNumber,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"SN-998877".to_vec()]),
        },
        Field {
            tag: Tag::GPSLatitudeRef,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"N".to_vec()]),
        },
        Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![
                Rational { num: 48, denom: 1 },
                Rational { num: 51, denom: 1 },
                Rational { num: 29, denom: 1 },
            ]),
        },
    ];
    let mut w = exif::experimental::Writer::new();
    fields.iter().for_each(|f| w.push_field(f));
    let mut tiff = std::io::Cursor::new(Vec::new());
    w.write(&mut tiff, false).unwrap();
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
    image::ImageEncoder::set_exif_metadata(&mut enc, tiff.into_inner()).unwrap();
    image::ImageEncoder::write_image(
        enc,
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    out
}

fn exif_tags(path: &Path) -> Vec<exif::Tag> {
    let file = std::fs::File::open(path).unwrap();
    match exif::Reader::new().read_from_container(&mut std::io::BufReader::new(file)) {
        Ok(e) => e.fields().map(|f| f.tag).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn location_and_serials_are_always_dropped_and_credit_only_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let src = input.join("private.jpg");
    std::fs::write(&src, jpeg_with_private_exif(&pattern(64, 48, 9))).unwrap();
    let tags = exif_tags(&src);
    assert!(tags.contains(&exif::Tag::GPSLatitude) && tags.contains(&exif::Tag::BodySerialNumber));

    for format in [ExportFormat::Png, ExportFormat::Jpeg, ExportFormat::Webp] {
        for keep in [false, true] {
            let mut cfg = ProtectConfig::new(MethodId::Conv, Strength::Medium);
            cfg.export.format = format;
            cfg.export.keep_copyright = keep;
            let s = run(
                vec![input.clone()],
                &dir.path().join(format!("{format:?}-{keep}")),
                cfg,
            );
            let out = &s.manifest.images[0].output;
            let tags = exif_tags(out);
            let bytes = std::fs::read(out).unwrap();
            let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
            assert!(!contains(b"SN-998877"), "{format:?}: serial number leaked");
            assert!(
                !tags.contains(&exif::Tag::GPSLatitude),
                "{format:?}: location leaked"
            );
            assert_eq!(
                tags.contains(&exif::Tag::Artist),
                keep,
                "{format:?} keep={keep}: {tags:?}"
            );
            assert_eq!(contains(b"(c) 2026 Ann"), keep, "{format:?} keep={keep}");
        }
    }
}

/// The GUI's two-step flow: protect into a staging folder (lossless, credit kept), then export
/// into the user's folder with their format and metadata choice. A damaged staged file is
/// reported and the rest is exported; the export folder may not be inside the photos' folder.
#[test]
fn staged_runs_export_with_the_chosen_format_and_metadata() {
    use unlearnable::job::export::{ExportJob, export_staged};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("album");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("a.jpg"),
        jpeg_with_private_exif(&pattern(40, 30, 1)),
    )
    .unwrap();
    for (i, name) in ["b.png", "c.png"].iter().enumerate() {
        let img = DynamicImage::ImageRgb8(pattern(33, 21, i as u32 + 2));
        std::fs::write(input.join(name), encode(&img, ImageFormat::Png)).unwrap();
    }
    let before = hash_tree(&input);
    let staging = dir.path().join("staging");
    let mut cfg = ProtectConfig::new(MethodId::Conv, Strength::Medium);
    cfg.export.keep_copyright = true;
    let staged = run(vec![input.clone()], &staging, cfg);
    assert_eq!(staged.manifest.images.len(), 3);
    // Damage one staged file after the run.
    let broken = staged
        .manifest
        .images
        .iter()
        .find(|r| r.source.ends_with("c.png"))
        .unwrap()
        .output
        .clone();
    let bytes = std::fs::read(&broken).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 3]).unwrap();

    for keep in [false, true] {
        let out = dir.path().join(format!("export-{keep}"));
        let mut config = unlearnable::config::ExportConfig {
            format: ExportFormat::Jpeg,
            jpeg_quality: 98,
            ..Default::default()
        };
        config.keep_copyright = keep;
        let job = ExportJob {
            staged: staged.manifest.clone(),
            staging_dir: staging.clone(),
            roots: vec![input.clone()],
            out_dir: out.clone(),
            config,
            limits: LoadLimits::default(),
        };
        let summary = export_staged(&job, &NullSink, &CancelToken::new()).unwrap();
        assert_eq!(summary.written.len(), 2, "{summary:?}");
        assert_eq!(summary.failed.len(), 1);
        assert!(summary.failed[0].source.ends_with("c.png"));
        assert!(
            summary.failed[0]
                .error
                .contains("cannot read the protected copy"),
            "{}",
            summary.failed[0].error
        );
        for (src, written) in &summary.written {
            assert_eq!(written.extension().unwrap(), "jpg");
            assert!(written.starts_with(&out));
            let a = load_photo(src, &LoadLimits::default()).unwrap().rgb;
            let b = image::open(written).unwrap().to_rgb8();
            assert_eq!(a.dimensions(), b.dimensions());
        }
        let a_out = &summary
            .written
            .iter()
            .find(|(s, _)| s.ends_with("a.jpg"))
            .unwrap()
            .1;
        let meta = load_photo(a_out, &LoadLimits::default()).unwrap().meta;
        assert_eq!(meta.artist.is_some(), keep, "keep={keep}: {meta:?}");
        let raw = std::fs::read(a_out).unwrap();
        assert!(!raw.windows(9).any(|w| w == b"SN-998877"), "serial leaked");
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(summary.manifest_path.unwrap()).unwrap())
                .unwrap();
        assert_eq!(manifest["images"].as_array().unwrap().len(), 2);
        assert_eq!(manifest["config"]["export"]["format"], "jpeg");
        assert!(
            manifest["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().contains("weakens the protection"))
        );
    }
    // Never into the photos' own folder.
    let job = ExportJob {
        staged: staged.manifest.clone(),
        staging_dir: staging.clone(),
        roots: vec![input.clone()],
        out_dir: input.join("protected"),
        config: Default::default(),
        limits: LoadLimits::default(),
    };
    let e = export_staged(&job, &NullSink, &CancelToken::new()).unwrap_err();
    assert!(e.to_string().contains("inside the input folder"), "{e}");
    assert_eq!(hash_tree(&input), before, "originals untouched");
}
