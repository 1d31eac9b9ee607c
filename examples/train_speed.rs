//! Time one training step of a fresh classifier on 32×32 batches (CPU `flex` backend by
//! default): data preparation, forward, backward and optimiser step, per model kind.
//! Usage: `cargo run --release --example train_speed -- [small-cnn|resnet18] [batch] [steps]`.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;
use unlearnable::eval::augment::crop_flip;
use unlearnable::imaging::Planar;
use unlearnable::model::{Surrogate, SurrogateKind};
use unlearnable::rng::Rng;
use unlearnable::train::sgd;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let kind: SurrogateKind = serde_json::from_value(serde_json::Value::String(
        args.get(1).cloned().unwrap_or_else(|| "small-cnn".into()),
    ))?;
    let batch: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(128);
    let steps: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let mut rng = Rng::new(1);
    let images: Vec<Planar> = (0..batch)
        .map(|_| {
            let mut p = Planar::zeros(32, 32);
            p.data.iter_mut().for_each(|v| *v = rng.next_f32());
            p
        })
        .collect();
    let mut model = Surrogate::new(kind, 10, 0, &ad);
    let mut optim = sgd(0.9, 5e-4, 5.0);
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let (mut t_data, mut t_fwd, mut t_bwd, mut t_step) = (0.0, 0.0, 0.0, 0.0);
    for s in 0..steps + 2 {
        let t0 = Instant::now();
        let xs: Vec<f32> = images
            .iter()
            .flat_map(|p| crop_flip(p, 4, &mut rng).data)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(xs, [batch, 3, 32, 32]), &ad);
        let y: Vec<i64> = (0..batch as i64).map(|i| i % 10).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [batch]), &ad);
        let t1 = Instant::now();
        let loss = ce.forward(model.forward(x), y);
        let _ = loss.clone().inner().into_scalar::<f32>();
        let t2 = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let t3 = Instant::now();
        model = optim.step(0.05, model, grads); // flex runs eagerly: no sync needed
        let t4 = Instant::now();
        if s >= 2 {
            t_data += (t1 - t0).as_secs_f64();
            t_fwd += (t2 - t1).as_secs_f64();
            t_bwd += (t3 - t2).as_secs_f64();
            t_step += (t4 - t3).as_secs_f64();
        }
    }
    let n = steps as f64;
    let total = (t_data + t_fwd + t_bwd + t_step) / n;
    println!(
        "{kind:?} batch {batch}: data {:.1} ms, forward {:.1} ms, backward {:.1} ms, step {:.1} ms; {:.0} images/s",
        t_data / n * 1e3,
        t_fwd / n * 1e3,
        t_bwd / n * 1e3,
        t_step / n * 1e3,
        batch as f64 / total
    );
    Ok(())
}
