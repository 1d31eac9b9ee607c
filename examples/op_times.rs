//! Per-operation timings at the medium CNN's shapes (batch 64), each op forward + backward
//! through autodiff on the CPU backend: where a training step's time goes, op by op. Its
//! PyTorch twin is `scripts/op_times_torch.py` (same shapes, same order of lines).
//!
//! Usage: `RAYON_NUM_THREADS=2 cargo run --example op_times -- [REPS]`

use std::time::Instant;

use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNormConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use burn::tensor::Distribution;

/// Mean milliseconds of `f` over `reps` runs after one warm-up, printed as one line.
fn time(name: &str, reps: usize, mut f: impl FnMut()) {
    f();
    let start = Instant::now();
    for _ in 0..reps {
        f();
    }
    let ms = start.elapsed().as_secs_f64() / reps.max(1) as f64 * 1e3;
    println!("{name:36} {ms:7.2} ms");
}

fn main() -> anyhow::Result<()> {
    unlearnable::device::tune_allocator();
    let reps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    let dev = Device::flex().autodiff();
    let n = 64;
    for (c, o, h) in [
        (3, 32, 32),
        (32, 64, 16),
        (64, 64, 16),
        (64, 128, 8),
        (128, 128, 8),
    ] {
        let conv = Conv2dConfig::new([c, o], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_bias(false)
            .init(&dev);
        let x = Tensor::<4>::random([n, c, h, h], Distribution::Default, &dev);
        let xg = x.clone().require_grad();
        time(&format!("conv fwd {c}->{o} @{h}"), reps, || {
            let _ = conv.forward(x.clone()).into_data();
        });
        time(&format!("conv fwd+bwd(w) {c}->{o} @{h}"), reps, || {
            let g = conv.forward(x.clone()).sum().backward();
            let _ = conv.weight.grad(&g);
        });
        time(&format!("conv fwd+bwd(w,x) {c}->{o} @{h}"), reps, || {
            let g = conv.forward(xg.clone()).sum().backward();
            let _ = xg.grad(&g);
        });
        let bn = BatchNormConfig::new(o).init(&dev);
        let z = Tensor::<4>::random([n, o, h, h], Distribution::Default, &dev).require_grad();
        time(&format!("bn+relu fwd+bwd {o} @{h}"), reps, || {
            let g = Relu::new().forward(bn.forward(z.clone())).sum().backward();
            let _ = z.grad(&g);
        });
        if h > 8 {
            let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
            time(&format!("maxpool fwd+bwd {o} @{h}"), reps, || {
                let g = pool.forward(z.clone()).sum().backward();
                let _ = z.grad(&g);
            });
        }
    }
    Ok(())
}
