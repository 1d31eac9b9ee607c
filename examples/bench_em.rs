//! Benchmark of error-minimizing noise: throughput of one δ-step (forward + input-gradient
//! backward) and of a whole fixed-length run, per surrogate, size and device.
//! Usage: `cargo run --example bench_em -- <cpu|wgpu> <small-cnn|resnet18> <size> [images] [rounds]`
//! Prints one Markdown table row. Peak memory: wrap in `/usr/bin/time -v`.

use std::time::Instant;

use unlearnable::cancel::CancelToken;
use unlearnable::config::{EmConfig, Quality};
use unlearnable::device::{ComputeDevice, DeviceChoice};
use unlearnable::imaging::Planar;
use unlearnable::model::SurrogateKind;
use unlearnable::protect::{AlbumProtector, ErrorMinimizing, MethodContext, TrainingSet};
use unlearnable::rng::Rng;

fn main() -> anyhow::Result<()> {
    unlearnable::device::tune_allocator(); // as the app does
    let args: Vec<String> = std::env::args().collect();
    let device = match args.get(1).map(String::as_str) {
        Some("wgpu") => ComputeDevice::select(DeviceChoice::Wgpu)?,
        _ => ComputeDevice::cpu("benchmark"),
    };
    let surrogate = match args.get(2).map(String::as_str) {
        Some("resnet18") => SurrogateKind::Resnet18,
        _ => SurrogateKind::SmallCnn,
    };
    let size: u32 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(32);
    let n: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(64);
    let rounds: u32 = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(2);
    let mut rng = Rng::new(1);
    let images: Vec<Planar> = (0..n)
        .map(|_| {
            let mut p = Planar::zeros(size, size);
            p.data.iter_mut().for_each(|v| *v = rng.next_f32());
            p
        })
        .collect();
    let set = TrainingSet {
        images,
        labels: (0..n).map(|i| i % 10).collect(),
        num_classes: 10,
        budgets: Vec::new(),
    };
    let cancel = CancelToken::new();
    let ctx = MethodContext {
        device: &device,
        cancel: &cancel,
        seed: 1,
        epsilon: 8.0 / 255.0,
        num_classes: 10,
        events: &unlearnable::progress::NullSink,
    };
    let run = |steps: u32, theta: u32, rounds: u32| -> anyhow::Result<f64> {
        let cfg = EmConfig {
            quality: Quality::Balanced,
            surrogate: Some(surrogate),
            working_size: Some(size),
            steps: Some(steps),
            theta_steps: theta,
            max_rounds: Some(rounds),
            stop_accuracy: 1.0,
            batch_size: 64,
            ..EmConfig::default()
        };
        let t = Instant::now();
        ErrorMinimizing::new(cfg, false, 8.0 / 255.0).fit(&set, &ctx)?;
        Ok(t.elapsed().as_secs_f64())
    };
    run(1, 1, 1)?; // warm-up: kernel compilation, allocations
    // δ-step cost: difference between runs with 6 and 1 δ-steps (same θ-steps), per image.
    let one = run(1, 1, 1)?;
    let six = run(6, 1, 1)?;
    let delta_step = (six - one) / 5.0;
    let whole = run(20, 10, rounds)?;
    println!(
        "| {} | {:?} | {size}² | {n} | {:.1} | {:.2} ({} rounds × K=20, 10 θ-steps) |",
        device.name,
        surrogate,
        n as f64 / delta_step,
        n as f64 / whole,
        rounds
    );
    Ok(())
}
