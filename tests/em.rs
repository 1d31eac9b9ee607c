//! Error-minimizing noise on real data (a CIFAR-10 subset from ../shared): the written files
//! respect ε, and a *fresh* network trained on the protected images learns them almost
//! perfectly within a few steps — the shortcut signature — while on the clean images it cannot.

mod common;

use std::path::Path;

use unlearnable::config::{EmConfig, MethodConfig, Quality};
use unlearnable::imaging::Planar;
use unlearnable::progress::NullSink;
use unlearnable::train::{TrainConfig, accuracy, train_classifier};
use unlearnable::{CancelToken, DeviceChoice, MethodId, ProtectConfig, ProtectJob, Strength};

use common::*;

fn em_config(method: MethodId) -> ProtectConfig {
    let mut cfg = ProtectConfig::new(method, Strength::Medium);
    let em = EmConfig {
        quality: Quality::Fast,
        max_rounds: Some(8),
        ..EmConfig::default()
    };
    cfg.method = if method == MethodId::Em {
        MethodConfig::Em(em)
    } else {
        MethodConfig::EmClass(em)
    };
    cfg.seed = 3;
    cfg
}

fn protect(input: &Path, out: &Path, cfg: ProtectConfig) -> unlearnable::RunSummary {
    run_protect(vec![input.to_path_buf()], out.to_path_buf(), cfg)
}

/// Train a fresh small CNN for `steps` steps and report its accuracy on its own training data.
fn fresh_train_accuracy(images: &[Planar], labels: &[usize], steps: usize) -> f32 {
    let device = burn::tensor::Device::flex();
    let cfg = TrainConfig {
        steps,
        seed: 99,
        ..TrainConfig::default()
    };
    let model = train_classifier(images, labels, 10, &cfg, &device);
    accuracy(&model, images, labels, &device).unwrap()
}

fn shortcut_signature(method: MethodId) {
    if !have_shared(CIFAR) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let train = cifar_subset(dir.path(), "train", 20);
    let out = dir.path().join(format!("protected-{method}"));
    let summary = protect(&train, &out, em_config(method));
    let m = &summary.manifest;
    assert_eq!(m.summary.done, 200, "{:?}", m.errors);
    assert_eq!(m.labels.source, "folders");
    assert_eq!(m.labels.classes.len(), 10);
    let t = m.training.as_ref().expect("training report");
    assert!(
        t.final_accuracy >= 0.9,
        "{method}: surrogate reached only {}",
        t.final_accuracy
    );
    for rec in &m.images {
        assert_eq!(
            rec.working_size,
            [32, 32],
            "32×32 images are processed at their own size"
        );
        // The app's own decode (libjpeg-turbo when installed), which ε is measured against.
        let clean = unlearnable::imaging::load_photo(&rec.source, &Default::default())
            .unwrap()
            .rgb;
        let protected = image::open(&rec.output).unwrap().to_rgb8();
        assert!(
            max_abs_diff(&clean, &protected) <= 8,
            "{}",
            rec.output.display()
        );
    }

    let (clean, labels, _) = labelled_images(&train);
    let (protected, plabels, _) = labelled_images(&out.join(""));
    assert_eq!(labels, plabels);
    let steps = 60;
    let on_protected = fresh_train_accuracy(&protected, &plabels, steps);
    let on_clean = fresh_train_accuracy(&clean, &labels, steps);
    eprintln!(
        "{method}: fresh network after {steps} steps: protected {on_protected:.3}, clean {on_clean:.3}"
    );
    assert!(on_protected >= 0.95, "{method}: protected {on_protected}");
    assert!(
        on_clean <= on_protected - 0.3,
        "{method}: clean {on_clean} vs protected {on_protected}"
    );
}

#[test]
fn sample_wise_em_creates_a_learnable_shortcut_on_cifar() {
    shortcut_signature(MethodId::Em);
}

#[test]
fn class_wise_em_creates_a_learnable_shortcut_on_cifar() {
    shortcut_signature(MethodId::EmClass);
}

fn quick(method: MethodId, seed: u64) -> ProtectConfig {
    let mut cfg = em_config(method);
    if let MethodConfig::Em(em) | MethodConfig::EmClass(em) = &mut cfg.method {
        em.max_rounds = Some(2);
        em.steps = Some(4);
    }
    cfg.seed = seed;
    cfg
}

#[test]
fn same_seed_same_bytes_other_seed_other_noise_on_real_photos() {
    let dir = tempfile::tempdir().unwrap();
    let album = nested_samples(dir.path());
    let a = protect(&album, &dir.path().join("a"), quick(MethodId::Em, 1));
    let b = protect(&album, &dir.path().join("b"), quick(MethodId::Em, 1));
    let c = protect(&album, &dir.path().join("c"), quick(MethodId::Em, 2));
    assert_eq!(a.manifest.summary.done, 5);
    assert_eq!(a.manifest.labels.classes, ["city", "mountains"]);
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
            "same seed"
        );
        assert_ne!(
            sha256_file(&ra.output),
            sha256_file(&rc.output),
            "other seed"
        );
        // A 1-MP photo is protected from a 32×32 working copy, at native resolution.
        let out = image::open(&ra.output).unwrap();
        assert_eq!((out.width(), out.height()), (ra.width, ra.height));
        assert_eq!(ra.working_size, [32, 32]);
        assert!(ra.epsilon_used_255 <= 8);
        // Regression: on a handful of distinct photos the surrogate saturates quickly; the
        // perturbation must still use its budget instead of staying near zero.
        assert!(
            ra.visibility.psnr_db < 40.0,
            "{}: PSNR {} dB means almost no perturbation",
            ra.output.display(),
            ra.visibility.psnr_db
        );
    }
}

#[test]
fn a_flat_folder_is_grouped_into_look_alike_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let s = protect(
        &samples_dir(),
        &dir.path().join("out"),
        quick(MethodId::EmClass, 4),
    );
    let m = &s.manifest;
    assert_eq!(m.summary.done, 5);
    assert!(
        m.labels.source.starts_with("k-means"),
        "{}",
        m.labels.source
    );
    assert_eq!(m.labels.classes, ["cluster 1", "cluster 2"]);
    let used: std::collections::BTreeSet<&str> =
        m.images.iter().map(|r| r.class.as_str()).collect();
    assert_eq!(used.len(), 2, "both clusters are used: {used:?}");
}

#[test]
fn cancelling_during_training_writes_no_photos() {
    let dir = tempfile::tempdir().unwrap();
    let album = nested_samples(dir.path());
    let out = dir.path().join("out");
    let cancel = CancelToken::new();
    let token = cancel.clone();
    let sink = move |ev: unlearnable::ProgressEvent| {
        if matches!(ev, unlearnable::ProgressEvent::Round { .. }) {
            token.cancel();
        }
    };
    let mut cfg = quick(MethodId::Em, 1);
    if let MethodConfig::Em(em) = &mut cfg.method {
        em.max_rounds = Some(5);
        em.stop_accuracy = 1.0;
    }
    let job = ProtectJob {
        inputs: vec![album],
        out_dir: out.clone(),
        config: cfg,
        device: DeviceChoice::Cpu,
        resume: false,
        shard: None,
    };
    let s = unlearnable::job::run(&job, &sink, &cancel).unwrap();
    assert!(s.manifest.cancelled);
    assert_eq!(s.manifest.summary.done, 0);
    assert_eq!(s.manifest.summary.skipped, 5);
    assert!(s.manifest.training.is_none());
    let files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["manifest.json"], "no partial files");
}

#[test]
fn one_photo_is_not_enough_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let job = ProtectJob {
        inputs: vec![samples_dir().join("umang_by_Abhishek_Mudgal.jpg")],
        out_dir: dir.path().join("out"),
        config: quick(MethodId::Em, 1),
        device: DeviceChoice::Cpu,
        resume: false,
        shard: None,
    };
    let e = unlearnable::job::run(&job, &NullSink, &CancelToken::new()).unwrap_err();
    assert!(e.to_string().contains("at least 2"), "{e}");
}
