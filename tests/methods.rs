//! The methods built on error-minimizing noise's loop — robust EM (`rem`), transferable
//! examples (`tue`) and Unlearnable Clusters (`clusters`) — on real data: ε on the written
//! files, seeded determinism, cancel, their defining property (CSD for tue, one pattern per
//! cluster for clusters) and a small efficacy check on CIFAR-10 (a fresh network trained on the
//! protected photos does worse on clean held-out photos than one trained on the clean photos).

mod common;

use std::path::Path;

use unlearnable::config::{MethodConfig, Quality};
use unlearnable::imaging::Planar;
use unlearnable::progress::NullSink;
use unlearnable::protect::{MethodContext, TrainingSet};
use unlearnable::train::{TrainConfig, accuracy, train_classifier};
use unlearnable::{
    CancelToken, ComputeDevice, DeviceChoice, MethodId, ProtectConfig, ProtectJob, Strength,
};

use common::*;

const NEW: [MethodId; 3] = [MethodId::Rem, MethodId::Tue, MethodId::Clusters];

fn config(method: MethodId, rounds: u32, steps: u32, seed: u64) -> ProtectConfig {
    let mut cfg = ProtectConfig::new(method, Strength::Medium);
    if let Some(t) = cfg.method.training_mut() {
        t.quality = Quality::Fast;
        t.max_rounds = Some(rounds);
        t.steps = Some(steps);
    }
    cfg.seed = seed;
    cfg
}

fn protect(input: &Path, out: &Path, cfg: ProtectConfig) -> unlearnable::RunSummary {
    run_protect(vec![input.to_path_buf()], out.to_path_buf(), cfg)
}

/// Clean held-out accuracy of a fresh small CNN trained for 300 steps.
fn held_out_accuracy(
    train: &[Planar],
    labels: &[usize],
    test: &[Planar],
    test_labels: &[usize],
) -> f32 {
    let device = burn::tensor::Device::flex();
    let cfg = TrainConfig {
        steps: 300,
        seed: 99,
        ..TrainConfig::default()
    };
    let model = train_classifier(train, labels, 10, &cfg, &device);
    accuracy(&model, test, test_labels, &device).unwrap()
}

/// Protect 200 CIFAR training images; check ε on every written file; with `margin`, check that
/// a fresh network trained on them scores at least `margin` lower on clean held-out images.
fn efficacy_on_cifar(method: MethodId, rounds: u32, margin: Option<f32>) {
    if !have_shared(CIFAR) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let train = cifar_subset(dir.path(), "train", 20);
    let test = cifar_subset(dir.path(), "test", 20);
    let out = dir.path().join(format!("protected-{method}"));
    let summary = protect(&train, &out, config(method, rounds, 10, 3));
    let m = &summary.manifest;
    assert_eq!(m.summary.done, 200, "{:?}", m.errors);
    assert!(m.training.is_some(), "{method}: training report");
    for rec in &m.images {
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
    let Some(margin) = margin else { return };
    let (clean, labels, _) = labelled_images(&train);
    let (protected, plabels, _) = labelled_images(&out.join(""));
    let (test_images, test_labels, _) = labelled_images(&test);
    assert_eq!(labels, plabels);
    // The clean reference is the same for every method (same images, seed and recipe).
    static CLEAN: std::sync::OnceLock<f32> = std::sync::OnceLock::new();
    let on_clean =
        *CLEAN.get_or_init(|| held_out_accuracy(&clean, &labels, &test_images, &test_labels));
    let on_protected = held_out_accuracy(&protected, &plabels, &test_images, &test_labels);
    eprintln!(
        "{method}: clean held-out accuracy trained on clean {on_clean:.3}, on protected {on_protected:.3}"
    );
    assert!(
        on_protected <= on_clean - margin,
        "{method}: trained on protected {on_protected} vs clean {on_clean}"
    );
}

#[test]
fn robust_em_protects_a_cifar_subset_within_epsilon() {
    // Measured 25.5 % vs 30.5 % clean (8 fast rounds; the adversarial surrogate fits slowly).
    efficacy_on_cifar(MethodId::Rem, 8, Some(0.03));
}

#[test]
fn transferable_em_protects_a_cifar_subset_within_epsilon() {
    // Measured 10.5 % vs 30.5 % clean.
    efficacy_on_cifar(MethodId::Tue, 5, Some(0.1));
}

/// Clusters: ε and the run only. At this scale they do not protect against a class-labelled
/// exploiter (measured: 33.0 % held-out vs 30.5 % clean; EVALUATION.md), because our own
/// features' clusters barely follow the classes, so no efficacy margin is asserted.
#[test]
fn clusters_stay_within_epsilon_on_a_cifar_subset() {
    efficacy_on_cifar(MethodId::Clusters, 5, None);
}

#[test]
fn same_seed_same_bytes_other_seed_other_noise_and_cancel_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let album = nested_samples(dir.path());
    for method in NEW {
        let run = |name: &str, seed| {
            protect(
                &album,
                &dir.path().join(format!("{method}-{name}")),
                config(method, 2, 3, seed),
            )
        };
        let (a, b, c) = (run("a", 1), run("b", 1), run("c", 2));
        assert_eq!(a.manifest.summary.done, 5, "{method}");
        assert_eq!(a.manifest.config.method.id(), method);
        if method == MethodId::Clusters {
            assert_eq!(a.manifest.labels.source, "folders (not used by clusters)");
        }
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
            assert!(ra.epsilon_used_255 <= 8, "{method}");
            assert!(ra.visibility.psnr_db < 45.0, "{method}: the budget is used");
        }

        // Cancelled at the first round: nothing but the manifest is written.
        let out = dir.path().join(format!("{method}-cancel"));
        let cancel = CancelToken::new();
        let token = cancel.clone();
        let sink = move |ev: unlearnable::ProgressEvent| {
            if matches!(ev, unlearnable::ProgressEvent::Round { .. }) {
                token.cancel();
            }
        };
        let mut cfg = config(method, 5, 3, 1);
        if let Some(t) = cfg.method.training_mut() {
            t.stop_accuracy = 1.0;
        }
        let job = ProtectJob {
            inputs: vec![album.clone()],
            out_dir: out.clone(),
            config: cfg,
            device: DeviceChoice::Cpu,
            resume: false,
            shard: None,
        };
        let s = unlearnable::job::run(&job, &sink, &cancel).unwrap();
        assert!(s.manifest.cancelled, "{method}");
        assert_eq!(s.manifest.summary.done, 0, "{method}");
        let files: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, ["manifest.json"], "{method}: no partial files");
    }
}

/// CIFAR images as a training set for calling methods directly.
fn cifar_set(dir: &Path, per_class: usize) -> TrainingSet {
    let train = cifar_subset(dir, "train", per_class);
    let (images, labels, _) = labelled_images(&train);
    TrainingSet {
        images,
        labels,
        num_classes: 10,
        budgets: Vec::new(),
    }
}

fn fit(cfg: &ProtectConfig, set: &TrainingSet) -> unlearnable::protect::Fitted {
    let unlearnable::protect::Method::Album(m) = unlearnable::protect::build(cfg) else {
        panic!("a training-based method");
    };
    let device = ComputeDevice::cpu("test");
    let cancel = CancelToken::new();
    let ctx = MethodContext {
        device: &device,
        cancel: &cancel,
        seed: 7,
        epsilon: cfg.epsilon(),
        num_classes: set.num_classes,
        events: &NullSink,
    };
    m.fit(set, &ctx).unwrap()
}

fn csd_of(deltas: &[Planar], labels: &[usize]) -> f32 {
    let device = burn::tensor::Device::flex();
    let d: Vec<f32> = deltas.iter().flat_map(|p| p.data.iter().copied()).collect();
    let t = burn::tensor::Tensor::<2>::from_data(
        burn::tensor::TensorData::new(d, [deltas.len(), deltas[0].data.len()]),
        &device,
    );
    unlearnable::protect::csd(t, labels)
        .unwrap()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()[0]
}

#[test]
fn tue_noise_is_more_class_separable_than_em_noise() {
    if !have_shared(CIFAR) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let set = cifar_set(dir.path(), 10);
    let em = fit(&config(MethodId::Em, 3, 10, 1), &set);
    let tue = fit(&config(MethodId::Tue, 3, 10, 1), &set);
    let (a, b) = (
        csd_of(&em.deltas, &set.labels),
        csd_of(&tue.deltas, &set.labels),
    );
    eprintln!("CSD of the noise: em {a:.3}, tue {b:.3}");
    assert!(b < 0.8 * a, "tue {b} vs em {a}");
    assert!(tue.report.settings["csd_weight"].as_f64().is_some());
}

#[test]
fn clusters_ignore_folders_and_share_one_pattern_per_cluster() {
    if !have_shared(CIFAR) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut set = cifar_set(dir.path(), 6);
    let mut cfg = config(MethodId::Clusters, 2, 5, 1);
    if let MethodConfig::Clusters(c) = &mut cfg.method {
        c.train.clusters = Some(4);
    }
    let a = fit(&cfg, &set);
    let mut patterns: Vec<&Vec<f32>> = a.deltas.iter().map(|d| &d.data).collect();
    patterns.sort_by(|x, y| x.partial_cmp(y).unwrap());
    patterns.dedup();
    assert_eq!(patterns.len(), 4, "one pattern per cluster");
    let sizes = a.report.settings["cluster_sizes"].as_array().unwrap();
    assert_eq!(sizes.iter().map(|v| v.as_u64().unwrap()).sum::<u64>(), 60);
    // Relabelling the photos (another exploiter's labels) changes nothing.
    set.labels.iter_mut().for_each(|l| *l = (*l * 7 + 3) % 10);
    let b = fit(&cfg, &set);
    assert!(
        a.deltas
            .iter()
            .zip(&b.deltas)
            .all(|(x, y)| x.data == y.data)
    );
}

/// Steps 1–3 of `clusters` on photos in two clearly different looks (reddish, bluish, each with
/// its own noise): the clusters are the looks, whatever the labels say.
#[test]
fn clusters_of_the_surrogate_features_follow_what_the_photos_look_like() {
    let mut rng = unlearnable::rng::Rng::new(5);
    let look = |i: usize| i % 2;
    let images: Vec<Planar> = (0..24)
        .map(|i| {
            let mut p = Planar::zeros(32, 32);
            let n = p.plane_len();
            let base = if look(i) == 0 {
                [0.8, 0.3, 0.2]
            } else {
                [0.2, 0.3, 0.8]
            };
            for (c, b) in base.into_iter().enumerate() {
                for v in &mut p.data[c * n..(c + 1) * n] {
                    *v = (b + rng.uniform(-0.15, 0.15)).clamp(0.0, 1.0);
                }
            }
            p
        })
        .collect();
    let set = TrainingSet {
        images,
        labels: (0..24).map(|i| (i / 2) % 3).collect(), // unrelated to the looks
        num_classes: 3,
        budgets: Vec::new(),
    };
    let cfg = config(MethodId::Clusters, 2, 5, 1);
    let MethodConfig::Clusters(mut clusters) = cfg.method.clone() else {
        panic!("clusters settings");
    };
    clusters.train.clusters = Some(2);
    let device = ComputeDevice::cpu("test");
    let cancel = CancelToken::new();
    let ctx = MethodContext {
        device: &device,
        cancel: &cancel,
        seed: 3,
        epsilon: cfg.epsilon(),
        num_classes: set.num_classes,
        events: &NullSink,
    };
    let fc = unlearnable::protect::feature_clusters(
        &set,
        &clusters.resolve(device.backend, cfg.epsilon()),
        &ctx,
    )
    .unwrap();
    assert_eq!(fc.k, 2);
    assert_eq!(fc.counts.iter().sum::<usize>(), 24);
    let looks: Vec<usize> = (0..24).map(look).collect();
    let (purity, nmi) = unlearnable::labels::agreement(&fc.assign, &looks);
    assert!(
        purity == 1.0 && nmi > 0.999,
        "{purity} {nmi} {:?}",
        fc.assign
    );
    let (_, nmi_labels) = unlearnable::labels::agreement(&fc.assign, &set.labels);
    assert!(nmi_labels < 0.2, "{nmi_labels}");
}

/// `tue` with the paper's contrastive surrogate (here alone, without the CSD term, which the
/// test above covers): the noise stays within ε, uses it, is seeded, and makes contrastive
/// learning easier — a fresh SimCLR network (evaluate's contrastive exploiter) reaches a lower
/// NT-Xent loss on the protected copies than on copies carrying random noise of the same
/// budget. (Measured: 3.72 against 3.80 on 100 photos; at this scale the noise is a weak
/// shortcut, EVALUATION.md has the full-size measurement.)
#[test]
fn tue_with_a_contrastive_surrogate_makes_contrastive_learning_easier() {
    if !have_shared(CIFAR) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let set = cifar_set(dir.path(), 10);
    let contrastive = |rounds: u32, steps: u32, theta: u32| {
        let mut cfg = config(MethodId::Tue, rounds, steps, 1);
        if let MethodConfig::Tue(t) = &mut cfg.method {
            t.surrogate_loss = unlearnable::config::TueSurrogate::Contrastive;
            t.csd_weight = 0.0;
            t.train.theta_steps = theta;
        }
        cfg
    };
    let quick = contrastive(1, 2, 5);
    assert_eq!(
        fit(&quick, &set).deltas,
        fit(&quick, &set).deltas,
        "same seed, same noise"
    );
    // Luma-only: the three channels move together wherever no channel touches 0 or 1.
    let mut luma = quick.clone();
    if let MethodConfig::Tue(t) = &mut luma.method {
        t.luma_only = true;
    }
    let gray = fit(&luma, &set);
    let eps8 = 8.0 / 255.0;
    let (mut checked, mut colour) = (0, 0);
    for (d, x) in gray.deltas.iter().zip(&set.images) {
        let n = x.plane_len();
        for i in 0..n {
            let inside = (0..3).all(|c| (eps8..=1.0 - eps8).contains(&x.data[c * n + i]));
            if inside {
                checked += 1;
                let (r, g, b) = (d.data[i], d.data[n + i], d.data[2 * n + i]);
                if (r - g).abs() > 1e-6 || (r - b).abs() > 1e-6 {
                    colour += 1;
                }
            }
        }
    }
    assert!(checked > 10_000, "{checked}");
    assert_eq!(colour, 0, "pixels with colour in luma-only noise");
    assert!(gray.deltas.iter().all(|d| d.linf() > 4.0 / 255.0));

    // λ_ssl = 0 (the paper's SimCLR setting): the δ-steps only separate the groups' noise.
    let mut csd_only = contrastive(2, 5, 40);
    if let MethodConfig::Tue(t) = &mut csd_only.method {
        t.csd_weight = 1.0;
        t.ssl_weight = 0.0;
    }
    let separated = fit(&csd_only, &set);
    let mut r = unlearnable::rng::Rng::new(3);
    let uniform: Vec<Planar> = separated
        .deltas
        .iter()
        .map(|d| {
            let mut u = d.clone();
            u.data
                .iter_mut()
                .for_each(|v| *v = r.uniform(-8.0 / 255.0, 8.0 / 255.0));
            u
        })
        .collect();
    let (a, b) = (
        csd_of(&separated.deltas, &set.labels),
        csd_of(&uniform, &set.labels),
    );
    eprintln!("CSD: λ_ssl = 0 noise {a:.3}, uniform noise {b:.3}");
    assert!(a < 0.5 * b, "{a} vs {b}");

    let a = fit(&contrastive(10, 10, 40), &set);
    assert_eq!(a.report.settings["surrogate_loss"], "contrastive");
    assert_eq!(a.report.rounds, 10);
    let eps = 8.0 / 255.0 + 1e-6;
    assert!(a.deltas.iter().all(|d| d.linf() <= eps));
    assert!(
        a.deltas.iter().all(|d| d.linf() > 4.0 / 255.0),
        "the noise uses its budget"
    );

    let with = |noise: &dyn Fn(usize, usize, &mut unlearnable::rng::Rng) -> f32| {
        let mut rng = unlearnable::rng::Rng::new(7);
        set.images
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut q = p.clone();
                for (j, v) in q.data.iter_mut().enumerate() {
                    *v = (*v + noise(i, j, &mut rng)).clamp(0.0, 1.0);
                }
                q
            })
            .collect::<Vec<Planar>>()
    };
    let protected = with(&|i, j, _| a.deltas[i].data[j]);
    let random = with(&|_, _, r| r.uniform(-8.0 / 255.0, 8.0 / 255.0));
    let final_loss = |images: &[Planar]| {
        let losses = std::sync::Mutex::new(Vec::new());
        let sink = |ev: unlearnable::progress::ProgressEvent| {
            if let unlearnable::progress::ProgressEvent::Epoch { train_loss, .. } = ev {
                losses.lock().unwrap().push(train_loss);
            }
        };
        let eval_cfg = unlearnable::eval::EvalConfig {
            model: unlearnable::model::SurrogateKind::SmallCnn,
            epochs: 30,
            batch_size: 50,
            learning_rate: 0.1,
            ..Default::default()
        };
        unlearnable::eval::contrastive::train_arm(
            "t",
            images,
            &set.labels,
            &images[..10],
            &set.labels[..10],
            10,
            32,
            &eval_cfg,
            &burn::tensor::Device::flex(),
            &sink,
            &CancelToken::new(),
        )
        .unwrap();
        let l = losses.lock().unwrap();
        l[l.len() - 1]
    };
    let (on_protected, on_random) = (final_loss(&protected), final_loss(&random));
    eprintln!("NT-Xent after 30 epochs: protected {on_protected:.3}, random noise {on_random:.3}");
    assert!(
        on_protected < on_random - 0.03,
        "{on_protected} vs {on_random}"
    );
}
