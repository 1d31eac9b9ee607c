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

/// Per channel, `f(channel)`, in parallel.
fn per_channel(c: usize, f: impl Fn(usize) -> f64 + Sync + Send) -> Vec<f64> {
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

/// `g(n, out[n])` for each image `n` (`image` values each), one image per task.
fn per_image<T: Real>(out: &mut [T], image: usize, g: impl Fn(usize, &mut [T]) + Sync + Send) {
    if image == 0 {
        return;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(image)
            .enumerate()
            .for_each(|(n, dst)| g(n, dst));
    }
    #[cfg(not(feature = "rayon"))]
    out.chunks_mut(image)
        .enumerate()
        .for_each(|(n, dst)| g(n, dst));
}

/// One per-channel sum over every image's plane of channel `ch`.
#[derive(Clone, Copy)]
enum Sum {
    /// `Σ a`
    Values,
    /// `Σ (a − mean)²`
    SquaredDeviations { mean: f64 },
    /// `Σ (a − mean)·inv_std·b`
    ScaledProducts { mean: f64, inv_std: f64 },
}

// The kernels below run inside `macerator::with_simd`: compiled with the CPU's vector
// instructions enabled (AVX-512 here), their plain loops vectorise at full width instead of the
// baseline target's (SSE2 on x86-64). `S` is otherwise unused.

/// `sum` over channel `ch` of `a` (and `b`), `[N, C, plane]`: image by image in order, each plane
/// summed by [`sum_wide`] / [`sum_wide2`] in f64.
#[cfg(feature = "simd")]
#[allow(clippy::extra_unused_type_parameters)]
#[macerator::with_simd]
fn channel_sum<S: macerator::Simd, T: Real>(
    a: &[T],
    b: &[T],
    c: usize,
    plane: usize,
    ch: usize,
    sum: Sum,
) -> f64 {
    channel_sum_body(a, b, c, plane, ch, sum)
}

#[cfg(not(feature = "simd"))]
fn channel_sum<T: Real>(a: &[T], b: &[T], c: usize, plane: usize, ch: usize, sum: Sum) -> f64 {
    channel_sum_body(a, b, c, plane, ch, sum)
}

#[inline(always)]
fn channel_sum_body<T: Real>(a: &[T], b: &[T], c: usize, plane: usize, ch: usize, sum: Sum) -> f64 {
    let n = a.len() / (c * plane).max(1);
    let at = |i: usize| (i * c + ch) * plane..(i * c + ch + 1) * plane;
    let mut total = 0.0;
    for i in 0..n {
        total += match sum {
            Sum::Values => sum_wide(&a[at(i)], |v| v.wide()),
            Sum::SquaredDeviations { mean: m } => {
                sum_wide(&a[at(i)], |v| (v.wide() - m) * (v.wide() - m))
            }
            Sum::ScaledProducts { mean: m, inv_std: s } => {
                sum_wide2(&a[at(i)], &b[at(i)], |x, g| (x.wide() - m) * s * g.wide())
            }
        };
    }
    total
}

/// `dst[ch, ·] = src[ch, ·]·scale[ch] + shift[ch]` for one image (`dst` holds `src` on entry).
#[cfg(feature = "simd")]
#[allow(clippy::extra_unused_type_parameters)]
#[macerator::with_simd]
fn scale_shift<S: macerator::Simd, T: Real>(dst: &mut [T], plane: usize, scale: &[T], shift: &[T]) {
    scale_shift_body(dst, plane, scale, shift)
}

#[cfg(not(feature = "simd"))]
fn scale_shift<T: Real>(dst: &mut [T], plane: usize, scale: &[T], shift: &[T]) {
    scale_shift_body(dst, plane, scale, shift)
}

#[inline(always)]
fn scale_shift_body<T: Real>(dst: &mut [T], plane: usize, scale: &[T], shift: &[T]) {
    for ((p, &a), &b) in dst.chunks_exact_mut(plane).zip(scale).zip(shift) {
        p.iter_mut().for_each(|v| *v = T::mul_add(*v, a, b));
    }
}

/// `dx[ch, ·] = dy·k[ch] + x·kx[ch] + o[ch]` for one image.
#[cfg(feature = "simd")]
#[allow(clippy::extra_unused_type_parameters, clippy::too_many_arguments)]
#[macerator::with_simd]
fn input_grad<S: macerator::Simd, T: Real>(
    dx: &mut [T],
    x: &[T],
    dy: &[T],
    plane: usize,
    k: &[T],
    kx: &[T],
    o: &[T],
) {
    input_grad_body(dx, x, dy, plane, k, kx, o)
}

#[cfg(not(feature = "simd"))]
fn input_grad<T: Real>(dx: &mut [T], x: &[T], dy: &[T], plane: usize, k: &[T], kx: &[T], o: &[T]) {
    input_grad_body(dx, x, dy, plane, k, kx, o)
}

#[inline(always)]
fn input_grad_body<T: Real>(
    dx: &mut [T],
    x: &[T],
    dy: &[T],
    plane: usize,
    k: &[T],
    kx: &[T],
    o: &[T],
) {
    let planes = dx
        .chunks_exact_mut(plane)
        .zip(x.chunks_exact(plane))
        .zip(dy.chunks_exact(plane));
    for (ch, ((d, x), g)) in planes.enumerate() {
        let (cg, cx, off) = (k[ch], kx[ch], o[ch]);
        for ((d, x), g) in d.iter_mut().zip(x).zip(g) {
            *d = T::mul_add(*g, cg, T::mul_add(*x, cx, off));
        }
    }
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
    per_image(&mut out, c * plane, |_, dst| {
        scale_shift(dst, plane, &scale, &shift)
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
    let mean = per_channel(c, |ch| channel_sum(xs, xs, c, plane, ch, Sum::Values) / count);
    let variance = per_channel(c, |ch| {
        let deviations = Sum::SquaredDeviations { mean: mean[ch] };
        channel_sum(xs, xs, c, plane, ch, deviations) / count
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
    let beta_grad = per_channel(c, |ch| channel_sum(gs, gs, c, plane, ch, Sum::Values));
    let gamma_grad = per_channel(c, |ch| {
        let products = Sum::ScaledProducts {
            mean: mean[ch],
            inv_std: inv_std[ch],
        };
        channel_sum(xs, gs, c, plane, ch, products)
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
    let image = c * plane;
    per_image(&mut dx, image, |i, dst| {
        let (x, g) = (&xs[i * image..][..image], &gs[i * image..][..image]);
        input_grad(dst, x, g, plane, &coef_g, &coef_x, &offset)
    });
    let dx = tensor(dx, x.layout().shape().clone(), &x);
    (
        dx,
        channel_tensor::<T>(&gamma_grad, &x),
        channel_tensor::<T>(&beta_grad, &x),
    )
}
