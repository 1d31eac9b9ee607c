//! Time one step of a classifier on 32×32 batches (CPU `flex` backend by default), per model
//! kind, in one of two modes:
//! - `train`: crop/flip data preparation, forward, backward and SGD update (evaluate's arms,
//!   EM's θ-steps);
//! - `delta`: EM's δ-step: forward of the frozen network, tempered cross-entropy, backward to
//!   the input only, sign of the gradient.
//!
//! Usage: `cargo run --release --example train_speed -- [small-cnn|medium-cnn|resnet18] [batch] [steps] [train|delta] [cpu|wgpu|libtorch]`.
//! Environment: `WARMUP` untimed steps first (default 2; autotuned GPU builds want more),
//! `FLOAT=f16|bf16` runs in half precision (Burn's per-device default dtype).
//! Every step ends with a device sync, so GPU timings are of finished work.
//! The last line printed is `RESULT <mode> <model> <batch> <images/s>` for
//! `scripts/bench-vs-pytorch.sh`, which runs the PyTorch twin (`scripts/bench_torch.py`) beside it.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::TensorData;
use unlearnable::device::{ComputeDevice, DeviceChoice};
use unlearnable::eval::augment::crop_flip;
use unlearnable::imaging::Planar;
use unlearnable::model::{Surrogate, SurrogateKind};
use unlearnable::protect::tensor::tempered;
use unlearnable::rng::Rng;
use unlearnable::train::sgd;

fn main() -> anyhow::Result<()> {
    unlearnable::device::tune_allocator(); // as the app does
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).cloned().unwrap_or_else(|| "small-cnn".into());
    let kind: SurrogateKind = serde_json::from_value(serde_json::Value::String(name.clone()))?;
    let batch: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(128);
    let steps: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let mode = args.get(4).map(String::as_str).unwrap_or("train");
    let mut device = match args.get(5).map(String::as_str) {
        Some("wgpu") => ComputeDevice::select(DeviceChoice::Wgpu)?.device,
        #[cfg(feature = "libtorch")]
        #[allow(deprecated)]
        // burn-tch is deprecated upstream; kept as a measured CPU option
        Some("libtorch") => Device::libtorch(),
        _ => Device::flex(),
    };
    match std::env::var("FLOAT").as_deref() {
        Ok("f16") => device.configure(FloatDType::F16)?,
        Ok("bf16") => device.configure(FloatDType::BF16)?,
        _ => {}
    }
    let warmup: usize = std::env::var("WARMUP")
        .ok()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2);
    let ad = device.clone().autodiff();
    let mut rng = Rng::new(1);
    let images: Vec<Planar> = (0..batch)
        .map(|_| {
            let mut p = Planar::zeros(32, 32);
            p.data.iter_mut().for_each(|v| *v = rng.next_f32());
            p
        })
        .collect();
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % 10).collect();
    let mut model = Surrogate::new(kind, 10, 0, &ad);
    let mut optim = sgd(0.9, 5e-4, 5.0);
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &ad);
    let (mut t_data, mut t_fwd, mut t_bwd, mut t_step) = (0.0, 0.0, 0.0, 0.0);
    let frozen = model.clone().freeze();
    let flat: Vec<f32> = images.iter().flat_map(|p| p.data.clone()).collect();
    for s in 0..steps + warmup {
        let t0 = Instant::now();
        let (t1, t2, t3);
        if mode == "delta" {
            let x = Tensor::<4>::from_data(TensorData::new(flat.clone(), [batch, 3, 32, 32]), &ad)
                .require_grad();
            t1 = Instant::now();
            let loss = ce.forward(tempered(frozen.forward(x.clone())), y.clone());
            t2 = Instant::now();
            let grads = loss.backward();
            let g = x.grad(&grads).map(|g| g.sign());
            anyhow::ensure!(g.is_some(), "no input gradient");
            device.sync()?;
            t3 = Instant::now();
        } else {
            let xs: Vec<f32> = images
                .iter()
                .flat_map(|p| crop_flip(p, 4, &mut rng).data)
                .collect();
            let x = Tensor::<4>::from_data(TensorData::new(xs, [batch, 3, 32, 32]), &ad);
            t1 = Instant::now();
            let loss = ce.forward(model.forward(x), y.clone());
            let _ = loss.clone().inner().into_scalar::<f32>();
            t2 = Instant::now();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            t3 = Instant::now();
            model = optim.step(0.05, model, grads);
            device.sync()?;
        }
        let t4 = Instant::now();
        if s >= warmup {
            t_data += (t1 - t0).as_secs_f64();
            t_fwd += (t2 - t1).as_secs_f64();
            t_bwd += (t3 - t2).as_secs_f64();
            t_step += (t4 - t3).as_secs_f64();
        }
    }
    let n = steps as f64;
    let total = (t_data + t_fwd + t_bwd + t_step) / n;
    println!(
        "{kind:?} {mode} batch {batch}: data {:.1} ms, forward {:.1} ms, backward {:.1} ms, update {:.1} ms; {:.0} images/s",
        t_data / n * 1e3,
        t_fwd / n * 1e3,
        t_bwd / n * 1e3,
        t_step / n * 1e3,
        batch as f64 / total
    );
    println!("RESULT {mode} {name} {batch} {:.1}", batch as f64 / total);
    Ok(())
}
