//! Smoke test of the whole evaluation path on a few dozen real CIFAR-10 images and one epoch:
//! the path runs and the report is well-formed. (The real numbers come from EVALUATION.md.)

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

#[test]
fn evaluate_writes_a_well_formed_report() {
    if !have_shared(CIFAR) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    cifar_subset(dir.path(), "train", 4);
    cifar_subset(dir.path(), "test", 2);
    let report = dir.path().join("report");
    let o = Command::new(env!("CARGO_BIN_EXE_unlearnable"))
        .args(["evaluate", "--data"])
        .arg(dir.path())
        .args([
            "--method",
            "em",
            "--quality",
            "fast",
            "--defence",
            "none",
            "--defence",
            "grayscale+jpeg75",
            "--defence",
            "adv4",
            "--clean-defence",
            "grayscale",
        ])
        .args([
            "--train-per-class",
            "4",
            "--test-per-class",
            "2",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--report",
        ])
        .arg(&report)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("epoch 1/1"), "{stderr}");

    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["train_images"], 40);
    assert_eq!(r["test_images"], 20);
    assert_eq!(r["image_size"], 32);
    let arms = r["arms"].as_array().unwrap();
    let names: Vec<&str> = arms.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "clean",
            "clean + grayscale",
            "em + none",
            "em + grayscale+jpeg75",
            "em + adv4"
        ]
    );
    assert_eq!(arms[0]["defence"], "none");
    assert_eq!(arms[0]["protected"], false);
    assert_eq!(arms[1]["defence"], "grayscale");
    assert_eq!(arms[1]["protected"], false);
    assert_eq!(arms[2]["protected"], true);
    // Unset knobs are the CPU protocol of EVALUATION.md.
    assert_eq!(r["config"]["model"], "medium-cnn");
    assert_eq!(r["config"]["batch_size"], 64);
    assert_eq!(r["config"]["clean_defences"][0], "grayscale");
    for a in arms {
        let curve = a["curve"].as_array().unwrap();
        assert_eq!(curve.len(), 1);
        let fin = a["final_test_acc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&fin));
        assert!(a["peak_test_acc"].as_f64().unwrap() >= fin);
    }
    let psnr = r["visibility"]["psnr_mean"].as_f64().unwrap();
    assert!(psnr > 28.0 && psnr < 60.0, "{psnr}");
    let per_image = r["visibility"]["per_image"].as_array().unwrap();
    assert_eq!(per_image.len(), 40, "one [PSNR, SSIM] per training image");
    let worst = per_image
        .iter()
        .map(|v| v[0].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert_eq!(worst, r["visibility"]["psnr_worst"].as_f64().unwrap());
    assert!(
        r["visibility"]["ssim_worst"].as_f64().unwrap()
            <= r["visibility"]["ssim_mean"].as_f64().unwrap()
    );

    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("| clean | none |"), "{md}");
    let png = image::open(report.join("accuracy.png")).unwrap();
    assert_eq!((png.width(), png.height()), (900, 560));
}

#[test]
fn evaluate_rejects_a_folder_without_splits() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_unlearnable"))
        .args(["evaluate", "--data"])
        .arg(dir.path())
        .args(["--method", "random", "--device", "cpu", "--report"])
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot list"));
}

/// The contrastive exploiter on real CIFAR-10 images: SimCLR pre-training without labels and a
/// linear probe, in both protocols (native 32 px, and random-resized 24-px crops of the
/// real-photo protocol); the report says so, and defences that only exist inside supervised
/// training are refused before any work.
#[test]
fn the_contrastive_exploiter_pretrains_without_labels_and_reports_a_linear_probe() {
    if !have_shared(CIFAR) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    cifar_subset(dir.path(), "train", 6);
    cifar_subset(dir.path(), "test", 3);
    let run = |extra: &[&str], report: &Path| {
        Command::new(env!("CARGO_BIN_EXE_unlearnable"))
            .args(["evaluate", "--data"])
            .arg(dir.path())
            .args(["--method", "random", "--exploiter", "contrastive"])
            .args(["--train-per-class", "6", "--test-per-class", "3"])
            .args(["--epochs", "2", "--device", "cpu"])
            .args(extra)
            .arg("--report")
            .arg(report)
            .output()
            .unwrap()
    };
    for (extra, side) in [(&[][..], 32), (&["--train-size", "24"][..], 24)] {
        let report = dir.path().join(format!("report-{side}"));
        let o = run(extra, &report);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{stderr}");
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
        assert_eq!(r["config"]["exploiter"], "contrastive");
        // The contrastive defaults: more images per batch (negatives), a lower peak rate.
        assert_eq!(r["config"]["batch_size"], 128);
        assert_eq!(r["config"]["learning_rate"], 0.2);
        assert_eq!(r["image_size"], side);
        let arms = r["arms"].as_array().unwrap();
        assert_eq!(arms.len(), 2);
        for a in arms {
            let curve: Vec<f64> = a["curve"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(curve.len(), 2, "one probe per epoch");
            // 30 test images: accuracies are multiples of 1/30.
            for v in curve {
                assert!((0.0..=1.0).contains(&v));
                assert!((v * 30.0 - (v * 30.0).round()).abs() < 1e-3, "{v}");
            }
        }
        let md = std::fs::read_to_string(report.join("report.md")).unwrap();
        assert!(md.contains("Contrastive exploiter"), "{md}");
        assert!(md.contains("linear probe"), "{md}");
    }
    let o = run(&["--defence", "adv4"], &dir.path().join("refused"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("contrastive exploiter does not take it"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("epoch"),
        "refused before any training: {stderr}"
    );
    assert!(!dir.path().join("refused").exists());
}

/// Album mode on real photos (4 CIFAR-10 images in each of 10 class folders, and the same
/// photos flattened into one folder): a share of every group is held out clean, the rest is
/// protected, and the report says how the groups were made and that it is a proxy.
#[test]
fn album_mode_holds_out_clean_photos_and_labels_the_result_a_proxy() {
    if !have_shared(CIFAR) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let album = cifar_subset(dir.path(), "train", 4);
    let report = dir.path().join("report");
    let o = Command::new(env!("CARGO_BIN_EXE_unlearnable"))
        .args(["evaluate", "--album"])
        .arg(&album)
        .args([
            "--method",
            "conv",
            "--defence",
            "none",
            "--defence",
            "jpeg75",
        ])
        .args([
            "--epochs",
            "2",
            "--min-steps",
            "4",
            "--device",
            "cpu",
            "--report",
        ])
        .arg(&report)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    // 25 % of 4 photos per folder, rounded, at least one: one clean photo per class held out.
    assert_eq!(r["test_images"], 10);
    assert_eq!(r["train_images"], 30);
    assert_eq!(r["classes"].as_array().unwrap().len(), 10);
    // 30 training photos in batches of 32: one step per epoch, so 4 steps need 4 epochs.
    assert_eq!(r["config"]["epochs"], 4);
    // Unset knobs are the app's Verify settings.
    assert_eq!(r["config"]["model"], "small-cnn");
    assert_eq!(r["config"]["batch_size"], 32);
    assert_eq!(r["arms"][0]["curve"].as_array().unwrap().len(), 4);
    let labels = r["labels"].as_str().unwrap();
    assert!(
        labels.contains("sub-folders (airplane, automobile"),
        "{labels}"
    );
    // The photos were protected as they are (32 px here, under the 256-px cap) and the
    // classifier trained on 64-px random-resized crops of them.
    assert!(
        labels.contains("protected at up to 256 px on their longest side"),
        "{labels}"
    );
    assert_eq!(r["image_size"], 64);
    assert_eq!(r["config"]["train_size"], 64);
    let names: Vec<&str> = r["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["clean", "conv + none", "conv + jpeg75"]);
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("Album mode — a proxy"), "{md}");

    // A flat folder: groups come from look-alike clusters instead.
    let flat = dir.path().join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    for e in walkdir::WalkDir::new(&album)
        .into_iter()
        .map(|e| e.unwrap())
    {
        if e.file_type().is_file() {
            let class = e.path().parent().unwrap().file_name().unwrap();
            let name = format!(
                "{}_{}",
                class.to_string_lossy(),
                e.file_name().to_string_lossy()
            );
            std::fs::copy(e.path(), flat.join(name)).unwrap();
        }
    }
    let report2 = dir.path().join("report2");
    let o = Command::new(env!("CARGO_BIN_EXE_unlearnable"))
        .args(["evaluate", "--album"])
        .arg(&flat)
        .args([
            "--method",
            "random",
            "--epochs",
            "1",
            "--min-steps",
            "1",
            "--train-size",
            "32",
            "--device",
            "cpu",
            "--report",
        ])
        .arg(&report2)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report2.join("report.json")).unwrap()).unwrap();
    assert!(
        r["labels"]
            .as_str()
            .unwrap()
            .contains("clusters of similar-looking photos")
    );
    let k = r["classes"].as_array().unwrap().len();
    assert!((2..=10).contains(&k), "{k}");
    assert_eq!(
        r["image_size"], 32,
        "--train-size sets the side of album mode's crops"
    );
    assert_eq!(
        r["train_images"].as_u64().unwrap() + r["test_images"].as_u64().unwrap(),
        40
    );

    // Too few photos: a clear usage error.
    let few = dir.path().join("few");
    std::fs::create_dir_all(&few).unwrap();
    for e in std::fs::read_dir(&flat).unwrap().take(3) {
        let e = e.unwrap();
        std::fs::copy(e.path(), few.join(e.file_name())).unwrap();
    }
    let o = Command::new(env!("CARGO_BIN_EXE_unlearnable"))
        .args(["evaluate", "--album"])
        .arg(&few)
        .args(["--report"])
        .arg(dir.path().join("r3"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("at least 8 readable photos"));
}

/// Two classes of imagenette224 (224-px real photos) into `dir/<split>/<class>/`.
#[test]
fn the_real_photo_protocol_protects_at_native_size_and_reports_the_gap_per_defence() {
    if !have_shared(IMAGENETTE) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    imagenette_subset(dir.path(), &["train", "test"]);
    let report = dir.path().join("report");
    let o = Command::new(env!("CARGO_BIN_EXE_unlearnable"))
        .args(["evaluate", "--data"])
        .arg(dir.path())
        .args([
            "--method",
            "random",
            "--defence",
            "none",
            "--defence",
            "share",
            // Diffusion purification of the 224-px photos, with a model trained (a few steps
            // here) on crops of the photos after the evaluated ones.
            "--defence",
            "diffusion",
            "--diffusion-steps",
            "5",
        ])
        .args(["--clean-defence", "same", "--train-size", "32"])
        .args([
            "--train-per-class",
            "6",
            "--test-per-class",
            "3",
            "--epochs",
            "1",
        ])
        .args(["--device", "cpu", "--report"])
        .arg(&report)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["train_images"], 12);
    assert_eq!(
        r["image_size"], 32,
        "the classifier's side, not the photos'"
    );
    let names: Vec<&str> = r["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "clean",
            "clean + share",
            "clean + diffusion",
            "random + none",
            "random + share",
            "random + diffusion"
        ]
    );
    for arm in r["arms"].as_array().unwrap() {
        let protected = arm["protected"].as_bool().unwrap();
        assert_eq!(arm["gap"].is_null(), !protected, "{arm}");
        if protected {
            let reference = arm["clean_reference"].as_f64().unwrap();
            let gap = arm["gap"].as_f64().unwrap();
            let fin = arm["final_test_acc"].as_f64().unwrap();
            assert!((reference - fin - gap).abs() < 1e-6, "{arm}");
        }
    }
    // Visibility was measured on the 224-px photos themselves: per-pixel uniform noise in
    // ±8/255 has an RMS of 8/√3 ≈ 4.6/255, PSNR ≈ 34.9 dB (a 32-px copy would differ).
    let v = &r["visibility"];
    let psnr = v["psnr_mean"].as_f64().unwrap();
    assert!((34.0..36.0).contains(&psnr), "{psnr}");
    assert!(v["flat_noise_mean"].as_f64().is_some() && v["cast_mean"].as_f64().is_some());
    // The protection's own cost is recorded apart from the arms.
    let (protect, total) = (
        r["protect_seconds"].as_f64().unwrap(),
        r["seconds"].as_f64().unwrap(),
    );
    assert!(protect > 0.0 && protect < total, "{protect} of {total} s");
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(
        md.contains("| gap |") && md.contains("clean, same defence"),
        "{md}"
    );
    assert!(md.contains("ms per training image"), "{md}");
}

#[test]
fn diffusion_and_le_purify_with_a_model_trained_on_other_images_and_pseudo_labels_protect() {
    if !have_shared(CIFAR) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 8 training images per class: the first 4 are evaluated, the other 4 train the
    // diffusion model.
    cifar_subset(dir.path(), "train", 8);
    cifar_subset(dir.path(), "test", 2);
    let report = dir.path().join("report");
    let o = Command::new(env!("CARGO_BIN_EXE_unlearnable"))
        .args(["evaluate", "--data"])
        .arg(dir.path())
        .args([
            "--method",
            "em-class",
            "--pseudo-labels",
            "--quality",
            "fast",
            "--rounds",
            "1",
            "--defence",
            "diffusion",
            "--defence",
            "le:10",
            "--clean-defence",
            "same",
            "--no-clean-arm",
            "--diffusion-steps",
            "5",
            "--train-per-class",
            "4",
            "--test-per-class",
            "2",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--report",
        ])
        .arg(&report)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    let names: Vec<&str> = r["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "clean + diffusion",
            "clean + le:10",
            "em-class + diffusion",
            "em-class + le:10"
        ]
    );
    assert_eq!(
        r["train_images"], 40,
        "the diffusion model's images are not evaluated"
    );
    assert_eq!(r["config"]["pseudo_labels"], true);
    assert_eq!(r["config"]["diffusion"]["steps"], 5);
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("k-means look-alike groups"), "{md}");
    assert!(
        md.contains("trained for 5 steps on up to 200 other"),
        "{md}"
    );

    // Without images beyond the evaluated ones, the diffusion defence says why it cannot run.
    let o = Command::new(env!("CARGO_BIN_EXE_unlearnable"))
        .args(["evaluate", "--data"])
        .arg(dir.path())
        .args([
            "--method",
            "random",
            "--defence",
            "diffusion",
            "--train-per-class",
            "8",
        ])
        .args([
            "--test-per-class",
            "2",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--report",
        ])
        .arg(dir.path().join("r2"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("beyond the first 8 per class"), "{stderr}");
}

/// `evaluate --shard i/n`: each part protects the same training split and trains its share of
/// the arms; `unlearnable merge` refuses an incomplete or inconsistent set of parts and, once
/// every part is in, writes the same arms (same order, same numbers, references across parts)
/// as one unsplit run.
#[test]
fn evaluation_parts_merge_into_the_unsplit_report() {
    if !have_shared(CIFAR) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    cifar_subset(dir.path(), "train", 4);
    cifar_subset(dir.path(), "test", 2);
    let evaluate = |report: &std::path::Path, shard: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_unlearnable"));
        c.args(["evaluate", "--data"]).arg(dir.path()).args([
            "--method",
            "em",
            "--quality",
            "fast",
            "--defence",
            "none",
            "--defence",
            "grayscale",
            "--clean-defence",
            "grayscale",
            "--train-per-class",
            "4",
            "--test-per-class",
            "2",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--report",
        ]);
        c.arg(report);
        if let Some(s) = shard {
            c.args(["--shard", s]);
        }
        let o = c.output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let merge = |report: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_unlearnable"))
            .arg("merge")
            .arg(report)
            .output()
            .unwrap()
    };
    let read = |p: std::path::PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };

    let whole = dir.path().join("whole");
    evaluate(&whole, None);
    let split = dir.path().join("split");
    evaluate(&split, Some("1/2"));
    assert!(
        !split.join("report.json").exists(),
        "a part writes only its part report"
    );
    let part1 = read(split.join("report.shard-1-of-2.json"));
    assert_eq!(part1["part"]["arm_indices"], serde_json::json!([0, 2]));
    assert_eq!(part1["part"]["arms_total"], 4);
    let o = merge(&split);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("2/2 are missing"));

    evaluate(&split, Some("2/2"));
    let o = merge(&split);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (a, b) = (
        read(whole.join("report.json")),
        read(split.join("report.json")),
    );
    assert_eq!(a["protected_fingerprint"], b["protected_fingerprint"]);
    assert!(b.get("part").is_none());
    let arms = |r: &serde_json::Value| r["arms"].as_array().unwrap().clone();
    assert_eq!(arms(&b).len(), 4);
    for (x, y) in arms(&a).iter().zip(&arms(&b)) {
        for field in [
            "name",
            "defence",
            "protected",
            "curve",
            "final_test_acc",
            "clean_reference",
            "gap",
        ] {
            assert_eq!(x[field], y[field], "{field} of {}", x["name"]);
        }
    }
    // The protected grayscale arm (part 2) is read against the clean grayscale arm (part 2)
    // and the undefended one (part 1) against the clean arm (part 1).
    assert!(arms(&b)[2]["gap"].is_number() && arms(&b)[3]["gap"].is_number());
    assert!(split.join("report.md").exists() && split.join("accuracy.png").exists());

    // A part made with other settings is refused.
    let p2 = split.join("report.shard-2-of-2.json");
    let mut other = read(p2.clone());
    other["config"]["epochs"] = serde_json::json!(2);
    std::fs::write(&p2, serde_json::to_vec(&other).unwrap()).unwrap();
    let o = merge(&split);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("other settings"));
}
