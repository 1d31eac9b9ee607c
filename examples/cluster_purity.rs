//! Do clusters of our own features follow the classes? (Issue #13: `clusters` needs a
//! content-following encoder; no pretrained one can be downloaded.)
//!
//! Loads the first `PER_CLASS` training images of each class of a labelled folder (CIFAR-10 at
//! 32 px in EVALUATION.md), groups them with k-means (K = the class count) on
//! - the colour-layout features that `clusters` and `--pseudo-labels` start from,
//! - the features `clusters` itself clusters (its steps 1–3 at `--quality fast`: a surrogate
//!   trained on the colour-layout groups through crops and flips; its own k-means), and
//! - a SimCLR encoder pre-trained on the same images without labels (the contrastive
//!   exploiter's recipe: medium CNN, batch 128, SGD 0.2 cosine), before training and after
//!   each epoch,
//!
//! and prints each grouping's purity (share of images in their cluster's majority class; 1/K
//! for random groups of equal size) and normalised mutual information with the labels (0 =
//! independent, 1 = the classes exactly). Labels are read only to score.
//!
//! Usage: `cargo run --example cluster_purity -- DATA [PER_CLASS] [EPOCHS]`

use std::path::PathBuf;

use burn::module::Module;
use burn::prelude::*;
use unlearnable::cancel::CancelToken;
use unlearnable::config::{ClustersConfig, Quality};
use unlearnable::device::{ComputeDevice, DeviceChoice};
use unlearnable::error::EvalError;
use unlearnable::eval::contrastive::{features, pretrain};
use unlearnable::eval::{EvalConfig, load_split};
use unlearnable::imaging::Planar;
use unlearnable::labels::{agreement, kmeans, look_alike_groups};
use unlearnable::model::{SimClr, SurrogateKind};
use unlearnable::progress::ProgressEvent;
use unlearnable::protect::{MethodContext, TrainingSet, feature_clusters};

fn encoder_groups(
    model: &SimClr,
    images: &[Planar],
    k: usize,
    device: &Device,
) -> Result<Vec<usize>, EvalError> {
    let f = features(&model.encoder.valid(), images, device);
    let [n, d] = f.dims();
    let v: Vec<f32> = f
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| EvalError::Data(format!("reading features: {e:?}")))?;
    let rows: Vec<Vec<f32>> = (0..n).map(|i| v[i * d..(i + 1) * d].to_vec()).collect();
    Ok(kmeans(&rows, k, 0))
}

fn main() -> anyhow::Result<()> {
    unlearnable::device::tune_allocator();
    let args: Vec<String> = std::env::args().collect();
    let data = PathBuf::from(
        args.get(1)
            .cloned()
            .unwrap_or_else(|| "/tmp/cifar10".into()),
    );
    let per_class: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let epochs: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let split = load_split(&data, "train", per_class, false)?;
    let k = split.classes.len();
    let images: Vec<Planar> = split.images.iter().map(Planar::from_rgb8).collect();
    let side = images.first().map_or(32, |p| p.width as usize);
    println!(
        "{} images, {k} classes, {side} px; random groups: purity ~{:.3}",
        images.len(),
        1.0 / k as f64
    );
    let (look, _) = look_alike_groups(&images, Some(k), 0);
    let (p, nmi) = agreement(&look, &split.labels);
    println!("colour layout (look-alike groups)   purity {p:.3}  NMI {nmi:.3}");
    let compute = ComputeDevice::select(DeviceChoice::Cpu)?;
    let cancel = CancelToken::new();
    let epsilon = 8.0 / 255.0;
    let mut clusters = ClustersConfig::default();
    clusters.train.quality = Quality::Fast;
    clusters.train.clusters = Some(k);
    let set = TrainingSet {
        images: images.clone(),
        labels: vec![0; images.len()], // not read
        num_classes: k,
        budgets: Vec::new(),
    };
    let quiet = |_: ProgressEvent| {};
    let ctx = MethodContext {
        device: &compute,
        cancel: &cancel,
        seed: 0,
        epsilon,
        num_classes: k,
        events: &quiet,
    };
    let fc = feature_clusters(&set, &clusters.resolve(compute.backend, epsilon), &ctx)?;
    let (p, nmi) = agreement(&fc.assign, &split.labels);
    println!("`clusters` steps 1-3 (--quality fast) purity {p:.3}  NMI {nmi:.3}");
    let device = compute.device.clone();
    let mut cfg = EvalConfig {
        model: SurrogateKind::MediumCnn,
        batch_size: 128,
        learning_rate: 0.2,
        epochs: 0,
        ..EvalConfig::default()
    };
    let fresh = pretrain(&images, side, &cfg, &device, &cancel, |_, _, _, _| Ok(()))?;
    let (p, nmi) = agreement(&encoder_groups(&fresh, &images, k, &device)?, &split.labels);
    println!("SimCLR encoder, random weights      purity {p:.3}  NMI {nmi:.3}");
    cfg.epochs = epochs;
    let started = std::time::Instant::now();
    pretrain(
        &images,
        side,
        &cfg,
        &device,
        &cancel,
        |epoch, model, _, _| {
            if epoch % 5 == 0 || epoch == 1 || epoch == epochs {
                let (p, nmi) =
                    agreement(&encoder_groups(model, &images, k, &device)?, &split.labels);
                println!(
                    "SimCLR encoder, epoch {epoch:3}           purity {p:.3}  NMI {nmi:.3}  ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(())
        },
    )?;
    Ok(())
}
