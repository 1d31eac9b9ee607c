//! 2×2 max pooling with stride 2 (unlearnable's patch; see `PATCHES.md` at the crate root).
//!
//! burn-flex pools 2D maps through its generic 3D kernel, which works out each window's valid
//! range with signed divisions for every output value (~10 % of a δ-step of a CNN with two
//! 2×2 pools). The common 2×2 / stride 2 / no padding / floor case reads two input rows per
//! output row instead. Same results, indices included: the window is scanned row by row, the
//! first maximum wins, and a NaN wins over everything (the last NaN of the window), as in the
//! generic kernel.

use alloc::vec;
use burn_backend::DType;
use burn_std::{Bytes, Shape};

use crate::{FlexTensor, Layout};

/// Whether this path computes a 2D max pool with these options.
pub fn applies(
    kernel_size: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
) -> bool {
    kernel_size == [2, 2]
        && stride == [2, 2]
        && padding == [0, 0]
        && dilation == [1, 1]
        && !ceil_mode
}

/// Max pool of `x` (`[N, C, H, W]`, f32 or f64 via `T`) and the in-plane index of each maximum.
pub fn max_pool2d_with_indices<T>(x: FlexTensor) -> (FlexTensor, FlexTensor)
where
    T: bytemuck::Pod + Copy + Send + Sync + num_traits::Float + burn_backend::Element,
{
    let dtype = x.dtype();
    let x = x.to_contiguous();
    let s = x.layout().shape();
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let (ho, wo) = (h / 2, w / 2);
    let planes = n * c;
    let mut out = vec![T::neg_infinity(); planes * ho * wo];
    let mut idx = vec![-1i64; planes * ho * wo];
    let xs: &[T] = x.storage();
    let per_plane = ho * wo;
    if per_plane > 0 {
        // Several planes per task when they are small (rayon's cost per task is fixed).
        let group = 4096usize.div_ceil(per_plane).max(1);
        let run = |(g, (o, i)): (usize, (&mut [T], &mut [i64]))| {
            let first = g * group;
            let count = o.len() / per_plane;
            pool_planes(&xs[first * h * w..][..count * h * w], h, w, o, i);
        };
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            out.par_chunks_mut(group * per_plane)
                .zip(idx.par_chunks_mut(group * per_plane))
                .enumerate()
                .for_each(run);
        }
        #[cfg(not(feature = "rayon"))]
        out.chunks_mut(group * per_plane)
            .zip(idx.chunks_mut(group * per_plane))
            .enumerate()
            .for_each(run);
    }
    let shape = Shape::from(vec![n, c, ho, wo]);
    (
        FlexTensor::new(
            Bytes::from_elems(out),
            Layout::contiguous(shape.clone()),
            dtype,
        ),
        FlexTensor::new(
            Bytes::from_elems(idx),
            Layout::contiguous(shape),
            DType::I64,
        ),
    )
}

/// [`pool_planes_body`] compiled with the CPU's vector instructions enabled (macerator's
/// dispatch), so that its branch-free loop vectorises at full width.
#[cfg(feature = "simd")]
#[allow(clippy::extra_unused_type_parameters)]
#[macerator::with_simd]
fn pool_planes<S: macerator::Simd, T: num_traits::Float>(
    src: &[T],
    h: usize,
    w: usize,
    out: &mut [T],
    idx: &mut [i64],
) {
    pool_planes_body(src, h, w, out, idx)
}

#[cfg(not(feature = "simd"))]
fn pool_planes<T: num_traits::Float>(src: &[T], h: usize, w: usize, out: &mut [T], idx: &mut [i64]) {
    pool_planes_body(src, h, w, out, idx)
}

/// Pools consecutive `h×w` planes of `src` into `out` and `idx` (`(h/2)×(w/2)` per plane): each
/// window scanned row by row, a value replacing the maximum when larger or NaN.
#[inline(always)]
fn pool_planes_body<T: num_traits::Float>(
    src: &[T],
    h: usize,
    w: usize,
    out: &mut [T],
    idx: &mut [i64],
) {
    let (ho, wo) = (h / 2, w / 2);
    let per_plane = ho * wo;
    for (p, (out, idx)) in out
        .chunks_exact_mut(per_plane)
        .zip(idx.chunks_exact_mut(per_plane))
        .enumerate()
    {
        let plane = &src[p * h * w..][..h * w];
        for oh in 0..ho {
            let r0 = &plane[2 * oh * w..][..2 * wo];
            let r1 = &plane[(2 * oh + 1) * w..][..2 * wo];
            let (o, ix) = (&mut out[oh * wo..][..wo], &mut idx[oh * wo..][..wo]);
            let row = (2 * oh * w) as i64;
            let below = w as i64;
            for (ow, ((o, ix), (a, b))) in o
                .iter_mut()
                .zip(ix.iter_mut())
                .zip(r0.chunks_exact(2).zip(r1.chunks_exact(2)))
                .enumerate()
            {
                let base = row + 2 * ow as i64;
                let (mut m, mut mi) = (a[0], base);
                for (v, i) in [(a[1], base + 1), (b[0], base + below), (b[1], base + below + 1)] {
                    let take = v > m || v.is_nan();
                    m = if take { v } else { m };
                    mi = if take { i } else { mi };
                }
                *o = m;
                *ix = mi;
            }
        }
    }
}
