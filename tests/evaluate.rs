//! Smoke test of the whole evaluation path on a few dozen real CIFAR-10 images and one epoch:
//! the path runs and the report is well-formed. (The real numbers come from EVALUATION.md.)

mod common;

use std::process::Command;

use common::*;

#[test]
fn evaluate_writes_a_well_formed_report() {
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
    assert_eq!(names, ["clean", "em + none", "em + grayscale+jpeg75"]);
    assert_eq!(arms[0]["defence"], "none");
    assert_eq!(arms[0]["protected"], false);
    for a in arms {
        let curve = a["curve"].as_array().unwrap();
        assert_eq!(curve.len(), 1);
        let fin = a["final_test_acc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&fin));
        assert!(a["peak_test_acc"].as_f64().unwrap() >= fin);
    }
    let psnr = r["visibility"]["psnr_mean"].as_f64().unwrap();
    assert!(psnr > 28.0 && psnr < 60.0, "{psnr}");
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
