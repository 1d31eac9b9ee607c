//! Batch normalisation straight over `[N, C, …]` planes (unlearnable's patch; see `PATCHES.md` at
//! the crate root).
//!
//! burn-backend's defaults build batch normalisation from generic tensor operations: the
//! statistics swap the batch and channel axes and reshape (a full transposed copy of the input
//! for the mean, another for the variance, two more for the backward sums), and the
//! normalisation itself is four broadcast passes with temporaries. Here each statistic is one
//! read of the input per channel, summed in f64 in a fixed order (16 interleaved partial sums per
//! plane, so the adds pipeline; the result does not depend on the number of threads), and the normalisation and the input gradient are one pass each.
//!
//! With `x̂ = (x − μ_c)·s_c`, `s_c = 1/√(σ²_c + ε)`:
//!
//! ```text
//! y  = γ_c·x̂ + β_c
//! dβ_c = Σ dy,   dγ_c = Σ dy·x̂
//! dx = γ_c·s_c·(dy − dβ_c/M − x̂·dγ_c/M)        (M = values per channel)
//! ```

use alloc::vec;
use alloc::vec::Vec;
use burn_std::{Bytes, Shape};

use crate::{FlexTensor, Layout};

/// The float types computed natively (f16 and bf16 go through f32).
pub trait Real: bytemuck::Pod + Copy + Send + Sync + burn_backend::Element + 'static {
    /// Widen for sums.
    fn wide(self) -> f64;
    /// Narrow a per-channel constant.
    fn narrow(v: f64) -> Self;
    /// `a·b + c`.
    fn mul_add(a: Self, b: Self, c: Self) -> Self;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            fn wide(self) -> f64 {
                self as f64
            }
            fn narrow(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn mul_add(a: Self, b: Self, c: Self) -> Self {
                a * b + c
            }
        }
    };
}
real!(f32);
real!(f64);

/// `(batch, channels, values per channel and image)` of a `[N, C, …]` tensor.
fn dims(t: &FlexTensor) -> (usize, usize, usize) {
    let s = t.layout().shape();
    let n = s[0];
    let c = s[1];
    let plane = s[2..].iter().product::<usize>();
    (n, c, plane)
}

fn values<T: Real>(t: FlexTensor) -> Vec<f64> {
    let t = t.to_contiguous();
    let v: &[T] = t.storage();
    v.iter().map(|x| x.wide()).collect()
}

fn tensor<T: Real>(data: Vec<T>, shape: Shape, like: &FlexTensor) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(shape),
        like.dtype(),
    )
}

fn channel_tensor<T: Real>(v: &[f64], like: &FlexTensor) -> FlexTensor {
    tensor(
        v.iter().map(|&x| T::narrow(x)).collect(),
        Shape::from(vec![v.len()]),
        like,
    )
}

/// Independent partial sums [`sum_wide`] keeps: the adds of one pass do not wait on each other
/// (a single f64 accumulator made the statistics latency-bound, ~4 cycles per value).
const LANES: usize = 16;

/// `Σ f(v)` over `v` in f64, in a fixed order: lane `k` sums the values at positions `≡ k`
/// (mod [`LANES`]) of each full block, the lanes are added pairwise, then the tail.
#[inline(always)]
fn sum_wide<T: Real>(v: &[T], f: impl Fn(T) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let blocks = v.chunks_exact(LANES);
    let tail = blocks.remainder();
    for block in blocks {
        for (a, &x) in acc.iter_mut().zip(block) {
            *a += f(x);
        }
    }
    pairwise(&mut acc) + tail.iter().map(|&x| f(x)).sum::<f64>()
}

/// `Σ f(a, b)` over two slices of equal length, in [`sum_wide`]'s order.
#[inline(always)]
fn sum_wide2<T: Real>(a: &[T], b: &[T], f: impl Fn(T, T) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let blocks = a.chunks_exact(LANES).zip(b.chunks_exact(LANES));
    let split = a.len() - a.len() % LANES;
    for (xa, xb) in blocks {
        for ((s, &x), &y) in acc.iter_mut().zip(xa).zip(xb) {
            *s += f(x, y);
        }
    }
    pairwise(&mut acc)
        + a[split..]
            .iter()
            .zip(&b[split..])
            .map(|(&x, &y)| f(x, y))
            .sum::<f64>()
}

/// The lanes added pairwise (lane k + lane k + half, halving until one is left).
#[inline(always)]
fn pairwise(acc: &mut [f64; LANES]) -> f64 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            acc[k] += acc[k + width];
        }
    }
    acc[0]
}

/// Runs `f` compiled with the CPU's vector instructions enabled (macerator's dispatch: AVX-512,
/// AVX2, NEON…), so that the plain loops inlined into it vectorise at full width rather than at
/// the baseline target's (SSE2 on x86-64).
#[cfg(feature = "simd")]
#[allow(clippy::extra_unused_type_parameters)]
#[macerator::with_simd]
fn vectorised<S: macerator::Simd, R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

#[cfg(not(feature = "simd"))]
fn vectorised<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// Per channel, `Σ f(n, plane)` over the images in order, each plane summed by `f`.
fn per_channel(c: usize, f: impl Fn(usize) -> f64 + Sync + Send) -> Vec<f64> {
    let f = |ch| vectorised(|| f(ch));
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..c).into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        (0..c).map(f).collect()
    }
}

/// `out[n, c, ·] = g(c, x[n, c, ·], other[n, c, ·])`, one image per task.
fn per_plane<T: Real>(
    out: &mut [T],
    c: usize,
    plane: usize,
    g: impl Fn(usize, usize, &mut [T]) + Sync + Send,
) {
    let image = c * plane;
    if image == 0 {
        return;
    }
    let run = |(n, dst): (usize, &mut [T])| {
        vectorised(|| {
            for ch in 0..c {
                g(n, ch, &mut dst[ch * plane..][..plane]);
            }
        })
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(image).enumerate().for_each(run);
    }
    #[cfg(not(feature = "rayon"))]
    out.chunks_mut(image).enumerate().for_each(run);
}

/// `y = γ·(x − μ)/√(σ² + ε) + β` with the given statistics.
pub fn batch_norm<T: Real>(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
) -> FlexTensor {
    let (mean, variance) = (values::<T>(mean), values::<T>(variance));
    normalise::<T>(x, gamma, beta, &mean, &variance, epsilon)
}

fn normalise<T: Real>(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    mean: &[f64],
    variance: &[f64],
    epsilon: f64,
) -> FlexTensor {
    let x = x.to_contiguous();
    let (_, c, plane) = dims(&x);
    let (gamma, beta) = (values::<T>(gamma), values::<T>(beta));
    // y = x·scale + shift per channel.
    let scale: Vec<T> = (0..c)
        .map(|ch| T::narrow(gamma[ch] / (variance[ch] + epsilon).sqrt()))
        .collect();
    let shift: Vec<T> = (0..c)
        .map(|ch| T::narrow(beta[ch] - mean[ch] * gamma[ch] / (variance[ch] + epsilon).sqrt()))
        .collect();
    let xs: &[T] = x.storage();
    let mut out: Vec<T> = xs.to_vec();
    per_plane(&mut out, c, plane, |_, ch, dst| {
        let (a, b) = (scale[ch], shift[ch]);
        dst.iter_mut().for_each(|v| *v = T::mul_add(*v, a, b));
    });
    tensor(out, x.layout().shape().clone(), &x)
}

/// The batch's per-channel mean and biased variance (two passes, f64 sums), and `y`.
pub fn batch_norm_train<T: Real>(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let x = x.to_contiguous();
    let (n, c, plane) = dims(&x);
    let count = (n * plane).max(1) as f64;
    let xs: &[T] = x.storage();
    let at = |i: usize, ch: usize| &xs[(i * c + ch) * plane..][..plane];
    let mean = per_channel(c, |ch| {
        (0..n)
            .map(|i| sum_wide(at(i, ch), |v| v.wide()))
            .sum::<f64>()
            / count
    });
    let variance = per_channel(c, |ch| {
        let m = mean[ch];
        (0..n)
            .map(|i| sum_wide(at(i, ch), |v| (v.wide() - m) * (v.wide() - m)))
            .sum::<f64>()
            / count
    });
    let mean_t = channel_tensor::<T>(&mean, &x);
    let variance_t = channel_tensor::<T>(&variance, &x);
    let y = normalise::<T>(x, gamma, beta, &mean, &variance, epsilon);
    (y, mean_t, variance_t)
}

/// `(dx, dγ, dβ)` of [`batch_norm_train`] for the output gradient `gy`.
pub fn batch_norm_train_backward<T: Real>(
    x: FlexTensor,
    gamma: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
    gy: FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let x = x.to_contiguous();
    let gy = gy.to_contiguous();
    let (n, c, plane) = dims(&x);
    let count = (n * plane).max(1) as f64;
    let (gamma, mean, variance) = (values::<T>(gamma), values::<T>(mean), values::<T>(variance));
    let inv_std: Vec<f64> = variance
        .iter()
        .map(|v| 1.0 / (v + epsilon).sqrt())
        .collect();
    let xs: &[T] = x.storage();
    let gs: &[T] = gy.storage();
    let at = |i: usize, ch: usize| (i * c + ch) * plane..(i * c + ch + 1) * plane;
    let beta_grad = per_channel(c, |ch| {
        (0..n)
            .map(|i| sum_wide(&gs[at(i, ch)], |v| v.wide()))
            .sum::<f64>()
    });
    let gamma_grad = per_channel(c, |ch| {
        let (m, s) = (mean[ch], inv_std[ch]);
        (0..n)
            .map(|i| {
                let r = at(i, ch);
                sum_wide2(&xs[r.clone()], &gs[r], |x, g| (x.wide() - m) * s * g.wide())
            })
            .sum::<f64>()
    });
    // dx = k·(dy − a − (x − μ)·b) with k = γ·s, a = dβ/M, b = s·dγ/M (x̂·dγ/M = (x − μ)·b),
    // as dx = dy·k + x·(−k·b) + k·(μ·b − a).
    let k: Vec<f64> = (0..c).map(|ch| gamma[ch] * inv_std[ch]).collect();
    let b: Vec<f64> = (0..c)
        .map(|ch| inv_std[ch] * gamma_grad[ch] / count)
        .collect();
    let coef_x: Vec<T> = (0..c).map(|ch| T::narrow(-k[ch] * b[ch])).collect();
    let coef_g: Vec<T> = k.iter().map(|&v| T::narrow(v)).collect();
    let offset: Vec<T> = (0..c)
        .map(|ch| T::narrow(k[ch] * (mean[ch] * b[ch] - beta_grad[ch] / count)))
        .collect();
    let mut dx: Vec<T> = vec![T::narrow(0.0); xs.len()];
    per_plane(&mut dx, c, plane, |i, ch, dst| {
        let r = at(i, ch);
        let (cg, cx, o) = (coef_g[ch], coef_x[ch], offset[ch]);
        for ((d, x), g) in dst.iter_mut().zip(&xs[r.clone()]).zip(&gs[r]) {
            *d = T::mul_add(*g, cg, T::mul_add(*x, cx, o));
        }
    });
    let dx = tensor(dx, x.layout().shape().clone(), &x);
    (
        dx,
        channel_tensor::<T>(&gamma_grad, &x),
        channel_tensor::<T>(&beta_grad, &x),
    )
}
