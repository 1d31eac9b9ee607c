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
    let job = ProtectJob {
        inputs: vec![input.to_path_buf()],
        out_dir: out.to_path_buf(),
        config: cfg,
        device: DeviceChoice::Cpu,
    };
    unlearnable::job::run(&job, &NullSink, &CancelToken::new()).expect("job runs")
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
        let clean = image::open(&rec.source).unwrap().to_rgb8();
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
