//! Train a fresh classifier on a labelled folder (`<root>/<class>/*`) and print its training
//! accuracy after a number of steps: the quickest check of whether protected images carry a
//! learnable shortcut. Usage: `cargo run --example fresh_train -- <root> [steps] [seed] [learning rate]`.

use std::path::{Path, PathBuf};

use unlearnable::imaging::Planar;
use unlearnable::train::{TrainConfig, accuracy, train_classifier};

fn load(root: &Path) -> anyhow::Result<(Vec<Planar>, Vec<usize>, usize)> {
    let mut classes: Vec<PathBuf> = std::fs::read_dir(root)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for (label, dir) in classes.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in files {
            images.push(Planar::from_rgb8(&image::open(&f)?.to_rgb8()));
            labels.push(label);
        }
    }
    Ok((images, labels, classes.len()))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(
        args.get(1)
            .ok_or_else(|| anyhow::anyhow!("usage: fresh_train <root> [steps] [seed]"))?,
    );
    let steps: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(60);
    let seed: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(99);
    let lr: f64 = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(0.1);
    let optimizer = match args.get(5).map(String::as_str) {
        Some("adam") => unlearnable::train::Optimizer::Adam,
        _ => unlearnable::train::Optimizer::Sgd,
    };
    let (images, labels, k) = load(&root)?;
    let device = burn::tensor::Device::flex();
    for s in [steps / 4, steps / 2, steps] {
        let cfg = TrainConfig {
            steps: s,
            seed,
            learning_rate: lr,
            optimizer,
            ..TrainConfig::default()
        };
        let model = train_classifier(&images, &labels, k, &cfg, &device);
        // Diagnostic: batch-statistics (training-mode) accuracy on the whole set.
        let ad = device.clone().autodiff();
        let data: Vec<f32> = images.iter().flat_map(|p| p.data.iter().copied()).collect();
        let (h, w) = (images[0].height as usize, images[0].width as usize);
        let x = burn::tensor::Tensor::<4>::from_data(
            burn::tensor::TensorData::new(data, [images.len(), 3, h, w]),
            &ad,
        );
        let pred: Vec<i64> = model
            .forward(x)
            .argmax(1)
            .inner()
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .unwrap();
        let train_mode = pred
            .iter()
            .zip(&labels)
            .filter(|(p, l)| **p == **l as i64)
            .count() as f32
            / labels.len() as f32;
        println!(
            "{} images, {k} classes, {s} steps: train accuracy {:.3} (batch-stat mode {train_mode:.3})",
            images.len(),
            accuracy(&model, &images, &labels, &device)?
        );
    }
    Ok(())
}
