//! Direct stride-1 convolutions with few output channels (unlearnable's patch; see `PATCHES.md`
//! at the crate root).
//!
//! im2col + GEMM computes `[O, C·kh·kw] · [C·kh·kw, positions]`. With a handful of output
//! channels — the input gradient of a network's RGB input layer is a convolution with 3 outputs,
//! and every δ-step computes it — the GEMM's rows cannot fill its register block, and writing and
//! reading the 9×-sized im2col buffer costs more than the products. Here a block of `OB ≤ 8`
//! output channels × one vector of output columns stays in registers while the kernel runs over
//! every (input channel, kernel row, kernel column) tap, reading a zero-padded copy of the
//! image's rows: one load feeds `OB` multiply-adds and nothing is written but the output.
//!
//! Each output value is one sequential sum in a fixed order (input channel, kernel row, kernel
//! column), so the result does not depend on how images and channel blocks are spread over
//! threads. Rounding differs from the GEMM's (which sums in other blocks) by a few units in the
//! last place.

use alloc::vec;
use alloc::vec::Vec;

use macerator::{Scalar, Simd, vload_unaligned, vstore_unaligned};

use super::conv_backward::Dims;
use super::kernel_switch::{Kernel, is_on};

/// Most f32 lanes of a vector (AVX-512): the slack after each padded row, so that a vector
/// load starting at the last output column stays inside the row.
const LANES: usize = 16;

/// Output channels up to which this path is taken.
const MAX_THIN_OUT: usize = 8;

/// Input taps (`C·kh·kw`) from which this path is taken: with fewer the im2col buffer is small
/// and the GEMM wins (measured, 2 threads: 16 → 4 channels on 32×32, batch 64: 0.81 against
/// 0.64 ms; 32 → 3 on 64×64, batch 16: 0.93 against 1.85 ms).
const MIN_TAPS: usize = 256;

/// Whether this kernel computes the convolution: on for this thread (`kernel_switch`), stride
/// 1, no dilation, one group, at most [`MAX_THIN_OUT`] output channels and at least
/// [`MIN_TAPS`] input taps. (A shallow GEMM — an RGB input layer's 27 taps — was measured too:
/// im2col stays faster there, 0.68 against 0.81 ms for 16 images 3 → 32 on 64×64.)
pub(super) fn applies(d: &Dims) -> bool {
    is_on(Kernel::Direct)
        && d.groups == 1
        && d.stride == [1, 1]
        && d.dilation == [1, 1]
        && d.n > 0
        && d.ho > 0
        && d.wo > 0
        && d.c > 0
        && d.o <= MAX_THIN_OUT
        && d.c * d.kh * d.kw >= MIN_TAPS
}

/// `out` (`[N, O, Ho, Wo]`, every element written) = the convolution of `x` (`[N, C, H, W]`)
/// with `w` (`[O, C, kh, kw]`), without bias. Shapes are ones [`applies`] accepts.
pub(super) fn forward(out: &mut [f32], x: &[f32], w: &[f32], d: Dims) {
    assert_eq!(out.len(), d.n * d.o * d.p());
    match d.o {
        1 => run::<1>(out, x, w, d),
        2 => run::<2>(out, x, w, d),
        3 => run::<3>(out, x, w, d),
        4..=7 => run::<4>(out, x, w, d),
        _ => run::<8>(out, x, w, d),
    }
}

/// Geometry of one image's zero-padded copy: padded row `r`, column `q` holds input
/// `(r − pad₀, q − pad₁)`; rows are `stride` apart (the slack past `Wo + kw − 1` stays zero, so
/// a full register block may read past the last output column).
#[derive(Clone, Copy)]
struct Padded {
    rows: usize,
    stride: usize,
}

impl Padded {
    fn of(d: &Dims) -> Self {
        Padded {
            rows: d.ho + d.kh - 1,
            stride: d.wo + d.kw - 1 + LANES,
        }
    }

    fn plane(&self) -> usize {
        self.rows * self.stride
    }
}

fn run<const OB: usize>(out: &mut [f32], x: &[f32], w: &[f32], d: Dims) {
    let wt = block_weights::<OB>(w, &d);
    let geo = Padded::of(&d);
    let p = d.p();
    let per_image = |pad: &mut Vec<f32>, n: usize, dst: &mut [f32]| {
        pad.resize(d.c * geo.plane(), 0.0);
        fill_padded(pad, &x[n * d.c * d.h * d.w..][..d.c * d.h * d.w], &d, geo);
        let pad = &pad[..];
        let block = |b: usize, dst: &mut [f32]| {
            let taps = d.c * d.kh * d.kw;
            image_block::<OB>(dst, pad, &wt[b * taps * OB..][..taps * OB], &d, geo);
        };
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            dst.par_chunks_mut(OB * p)
                .enumerate()
                .for_each(|(b, dst)| block(b, dst));
        }
        #[cfg(not(feature = "rayon"))]
        for (b, dst) in dst.chunks_mut(OB * p).enumerate() {
            block(b, dst);
        }
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(d.o * p)
            .enumerate()
            .for_each_init(Vec::new, |pad, (n, dst)| per_image(pad, n, dst));
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut pad = Vec::new();
        for (n, dst) in out.chunks_mut(d.o * p).enumerate() {
            per_image(&mut pad, n, dst);
        }
    }
}

/// Weights regrouped by blocks of `OB` output channels: `[O/OB][C][kh][kw][OB]`, the last
/// block zero-filled past `O`.
fn block_weights<const OB: usize>(w: &[f32], d: &Dims) -> Vec<f32> {
    let taps = d.c * d.kh * d.kw;
    let blocks = d.o.div_ceil(OB);
    let mut wt = vec![0.0f32; blocks * taps * OB];
    for o in 0..d.o {
        let (b, k) = (o / OB, o % OB);
        for (t, &v) in w[o * taps..][..taps].iter().enumerate() {
            wt[(b * taps + t) * OB + k] = v;
        }
    }
    wt
}

/// The zero-padded copy of one image (`[C][rows][stride]`, see [`Padded`]).
fn fill_padded(pad: &mut [f32], x: &[f32], d: &Dims, geo: Padded) {
    // Padded column q ↔ input column q − pad₁; only columns < Wo + kw − 1 are read.
    let width = d.wo + d.kw - 1;
    let begin = d.pad[1].min(width);
    let cols = d.w.min(width - begin);
    for (plane, src) in pad.chunks_exact_mut(geo.plane()).zip(x.chunks_exact(d.h * d.w)) {
        for (r, row) in plane.chunks_exact_mut(geo.stride).enumerate() {
            row.fill(0.0);
            let iy = r as isize - d.pad[0] as isize;
            if (0..d.h as isize).contains(&iy) {
                let src = &src[iy as usize * d.w..][..cols];
                row[begin..begin + cols].copy_from_slice(src);
            }
        }
    }
}

/// One block of `OB` output planes of one image (`dst`: `[≤ OB][Ho][Wo]`, the planes that
/// exist), from the padded image `pad` and the block's weights `wt` (`[C][kh][kw][OB]`): `OB`
/// accumulator vectors of output columns, each tap one load and `OB` multiply-adds.
#[macerator::with_simd]
fn image_block<S: Simd, const OB: usize>(
    dst: &mut [f32],
    pad: &[f32],
    wt: &[f32],
    d: &Dims,
    geo: Padded,
) {
    let lanes = f32::lanes::<S>();
    assert!(lanes <= LANES, "the padded rows' slack holds one vector");
    let p = d.p();
    let planes = dst.len() / p;
    let mut tail = [0.0f32; LANES];
    for y in 0..d.ho {
        let mut x0 = 0;
        while x0 < d.wo {
            let mut acc = [0.0f32.splat::<S>(); OB];
            for c in 0..d.c {
                for i in 0..d.kh {
                    let at = c * geo.plane() + (y + i) * geo.stride + x0;
                    let row = &pad[at..at + d.kw - 1 + lanes];
                    let taps = &wt[(c * d.kh + i) * d.kw * OB..][..d.kw * OB];
                    for (j, w) in taps.chunks_exact(OB).enumerate() {
                        // SAFETY: `row` holds kw − 1 + lanes values and j < kw.
                        let v = unsafe { vload_unaligned::<S, f32>(row.as_ptr().add(j)) };
                        for (a, &w) in acc.iter_mut().zip(w) {
                            *a = w.splat::<S>().mul_add(v, *a);
                        }
                    }
                }
            }
            let n = (d.wo - x0).min(lanes);
            for (k, &a) in acc.iter().enumerate().take(planes) {
                let out = &mut dst[k * p + y * d.wo + x0..][..n];
                // SAFETY: `tail` holds LANES ≥ lanes values.
                unsafe { vstore_unaligned::<S, f32>(tail.as_mut_ptr(), a) };
                out.copy_from_slice(&tail[..n]);
            }
            x0 += lanes;
        }
    }
}
