//! One 3×3, stride-1, padding-1 convolution layer on the CPU backend, timed alone: the forward
//! (`conv2d`) and the weight gradient (`conv2d_weight_backward`), mean milliseconds over REPS
//! after one warm-up, with the Winograd path on (as shipped) and off (`burn_flex::with_winograd`:
//! im2col + GEMM). How the Winograd path's channel threshold was chosen (BENCHMARKS.md); below
//! 48 channels on a side both lines take im2col.
//!
//! Usage: `RAYON_NUM_THREADS=2 cargo run --example conv_times -- BATCH C_IN C_OUT SIZE [REPS]`

use std::time::Instant;

use anyhow::Context;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::{conv2d, conv2d_weight_backward};
use burn::tensor::ops::ConvOptions;

/// Mean milliseconds of `f` over `reps` runs after one warm-up.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    for _ in 0..reps {
        f();
    }
    start.elapsed().as_secs_f64() * 1e3 / reps.max(1) as f64
}

fn main() -> anyhow::Result<()> {
    unlearnable::device::tune_allocator();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().context("arguments are whole numbers"))
        .collect::<anyhow::Result<_>>()?;
    let [n, c, o, h] = args[..]
        .get(..4)
        .and_then(|a| <[usize; 4]>::try_from(a).ok())
        .context("usage: conv_times BATCH C_IN C_OUT SIZE [REPS]")?;
    let reps = args.get(4).copied().unwrap_or(30);
    let dev = Device::flex();
    let x = Tensor::<4>::random([n, c, h, h], Distribution::Default, &dev);
    let w = Tensor::<4>::random([o, c, 3, 3], Distribution::Default, &dev);
    let gy = Tensor::<4>::random([n, o, h, h], Distribution::Default, &dev);
    let opt = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    for winograd in [true, false] {
        let (fwd, wgrad) = burn_flex::with_winograd(winograd, || {
            burn_flex::with_direct_conv(winograd, || {
                let fwd = time(reps, || {
                    let _ = conv2d(x.clone(), w.clone(), None, opt.clone()).into_data();
                });
                let wgrad = time(reps, || {
                    let _ = conv2d_weight_backward(x.clone(), w.clone(), gy.clone(), opt.clone())
                        .into_data();
                });
                (fwd, wgrad)
            })
        });
        let path = if winograd {
            "new kernels on "
        } else {
            "new kernels off"
        };
        println!("{n}x{c}->{o}@{h} {path}: fwd {fwd:.3} ms, wgrad {wgrad:.3} ms");
    }
    Ok(())
}
