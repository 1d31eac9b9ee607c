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
    let pool_plane = |p: usize, out: &mut [T], idx: &mut [i64]| {
        let src = &xs[p * h * w..][..h * w];
        for oh in 0..ho {
            let r0 = &src[2 * oh * w..][..w];
            let r1 = &src[(2 * oh + 1) * w..][..w];
            let (o, ix) = (&mut out[oh * wo..][..wo], &mut idx[oh * wo..][..wo]);
            for ow in 0..wo {
                let base = (2 * oh * w + 2 * ow) as i64;
                let mut m = r0[2 * ow];
                let mut mi = base;
                for (v, i) in [
                    (r0[2 * ow + 1], base + 1),
                    (r1[2 * ow], base + w as i64),
                    (r1[2 * ow + 1], base + w as i64 + 1),
                ] {
                    if v > m || v.is_nan() {
                        m = v;
                        mi = i;
                    }
                }
                o[ow] = m;
                ix[ow] = mi;
            }
        }
    };
    let per_plane = ho * wo;
    if per_plane > 0 {
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            out.par_chunks_mut(per_plane)
                .zip(idx.par_chunks_mut(per_plane))
                .enumerate()
                .for_each(|(p, (o, i))| pool_plane(p, o, i));
        }
        #[cfg(not(feature = "rayon"))]
        for (p, (o, i)) in out
            .chunks_mut(per_plane)
            .zip(idx.chunks_mut(per_plane))
            .enumerate()
        {
            pool_plane(p, o, i);
        }
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
