//! Weight gradient of 2D convolution as one GEMM per chunk of images (unlearnable's patch; see
//! `PATCHES.md` at the crate root).
//!
//! burn-backend's default computes the weight gradient as a *convolution* of the batch-swapped
//! input with the batch-swapped output gradient as its kernel: for a 3×3 layer on 32×32 maps
//! that is a GEMM with N = 9 and K = batch·H·W per input channel, which streams the whole output
//! gradient (converted to NHWC and im2col'd) once per input channel, plus two full transposes.
//! Here the same sum is written as
//!
//! ```text
//! dW[o, (c, i, j)] = Σ_{n, oh, ow} gy[n, o, oh, ow] · x[n, c, oh·sh + i·dh − ph, ow·sw + j·dw − pw]
//!                  = GY[O, K] · COL[K, C·kh·kw]       with K = the chunk's (n, oh, ow)
//! ```
//!
//! where `COL` is built in `[C·kh·kw, K]` layout: each row is a shifted copy of input rows
//! (contiguous copies for stride 1). Chunks of images are processed by at most
//! [`MAX_PARTIALS`] tasks, each with its own accumulator, summed in a fixed order, so the result
//! does not depend on the number of threads.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_std::{Bytes, Shape};

use crate::{FlexTensor, Layout};

/// Most accumulators (tasks) one weight gradient uses; fixed so that the summation order, and so
/// the result, is the same on every machine.
pub(super) const MAX_PARTIALS: usize = 4;

/// Smallest GEMM depth (images × output positions) a chunk aims for.
const MIN_CHUNK_DEPTH: usize = 512;

/// Largest im2col buffer a chunk aims for, in elements (chunks hold at least one image).
const MAX_CHUNK_COLUMNS: usize = 2 * 1024 * 1024;

/// Weight gradient `[O, C/groups, kh, kw]` of a 2D convolution with symmetric padding.
///
/// `x`: `[N, C, H, W]`, `output_grad`: `[N, O, Ho, Wo]`; f32, f64 and f16 natively.
pub fn conv2d_weight_grad(
    x: FlexTensor,
    output_grad: FlexTensor,
    weight_shape: &Shape,
    options: &ConvOptions<2>,
) -> FlexTensor {
    match x.dtype() {
        DType::F32 => typed::<f32>(x, output_grad, weight_shape, options, 0.0, 1.0),
        DType::F64 => typed::<f64>(x, output_grad, weight_shape, options, 0.0, 1.0),
        DType::F16 => typed::<burn_std::f16>(
            x,
            output_grad,
            weight_shape,
            options,
            burn_std::f16::from_f32(0.0),
            burn_std::f16::from_f32(1.0),
        ),
        dtype => panic!("conv2d_weight_grad: unsupported dtype {:?}", dtype),
    }
}

/// Shapes and options of one weight gradient, in the names the maths uses.
#[derive(Clone, Copy)]
pub(super) struct Dims {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) o: usize,
    pub(super) ho: usize,
    pub(super) wo: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) stride: [usize; 2],
    pub(super) pad: [usize; 2],
    pub(super) dilation: [usize; 2],
    pub(super) groups: usize,
}

impl Dims {
    /// Output positions per image.
    pub(super) fn p(&self) -> usize {
        self.ho * self.wo
    }
    /// im2col rows: every input channel × kernel position.
    pub(super) fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }
}

fn typed<T>(
    x: FlexTensor,
    output_grad: FlexTensor,
    weight_shape: &Shape,
    options: &ConvOptions<2>,
    zero: T,
    one: T,
) -> FlexTensor
where
    T: bytemuck::Pod + Copy + Send + Sync + burn_backend::Element + 'static,
{
    let dtype = x.dtype();
    let x = x.to_contiguous();
    let gy = output_grad.to_contiguous();
    let xs = x.layout().shape();
    let gs = gy.layout().shape();
    let d = Dims {
        n: xs[0],
        c: xs[1],
        h: xs[2],
        w: xs[3],
        o: gs[1],
        ho: gs[2],
        wo: gs[3],
        kh: weight_shape[2],
        kw: weight_shape[3],
        stride: options.stride,
        pad: options.padding_begin(),
        dilation: options.dilation,
        groups: options.groups,
    };
    let x_data: &[T] = x.storage();
    let gy_data: &[T] = gy.storage();
    let grad = weight_grad(x_data, gy_data, d, zero, one);
    FlexTensor::new(
        Bytes::from_elems(grad),
        Layout::contiguous(weight_shape.clone()),
        dtype,
    )
}

/// The gradient as a flat `[O, C/groups·kh·kw]` buffer (row-major, the weight's layout).
fn weight_grad<T>(x: &[T], gy: &[T], d: Dims, zero: T, one: T) -> Vec<T>
where
    T: bytemuck::Pod + Copy + Send + Sync + 'static,
{
    let cg = d.c / d.groups;
    let out_len = d.o * cg * d.kh * d.kw;
    let p = d.p().max(1);
    if d.n == 0 || d.p() == 0 || out_len == 0 {
        return vec![zero; out_len];
    }
    #[cfg(feature = "simd")]
    if core::any::TypeId::of::<T>() == core::any::TypeId::of::<f32>()
        && super::conv_winograd::applies(&d)
    {
        let mut out = vec![zero; out_len];
        let cast = bytemuck::cast_slice::<T, f32>;
        super::conv_winograd_weight::weight_grad(
            bytemuck::cast_slice_mut(&mut out),
            cast(x),
            cast(gy),
            d,
        );
        return out;
    }
    // Images per chunk: deep enough for an efficient GEMM, small enough for the cache.
    let per_chunk = MIN_CHUNK_DEPTH
        .div_ceil(p)
        .min((MAX_CHUNK_COLUMNS / (d.rows().max(1) * p)).max(1))
        .clamp(1, d.n);
    let chunks = d.n.div_ceil(per_chunk);
    let tasks = chunks.min(MAX_PARTIALS);
    let chunks_per_task = chunks.div_ceil(tasks);
    let run_task = |t: usize, parallel_gemm: bool| -> Vec<T> {
        let mut acc = vec![zero; out_len];
        let mut col = Vec::new();
        let mut gyc = Vec::new();
        let first = t * chunks_per_task;
        for chunk in first..(first + chunks_per_task).min(chunks) {
            let n0 = chunk * per_chunk;
            let n1 = (n0 + per_chunk).min(d.n);
            accumulate_chunk(
                &mut acc,
                &mut col,
                &mut gyc,
                x,
                gy,
                d,
                n0..n1,
                zero,
                one,
                parallel_gemm,
            );
        }
        acc
    };
    #[cfg(feature = "rayon")]
    let partials: Vec<Vec<T>> = {
        use rayon::prelude::*;
        let parallel_gemm = tasks < rayon::current_num_threads();
        (0..tasks)
            .into_par_iter()
            .map(|t| run_task(t, parallel_gemm))
            .collect()
    };
    #[cfg(not(feature = "rayon"))]
    let partials: Vec<Vec<T>> = (0..tasks).map(|t| run_task(t, false)).collect();
    let sum = sum_in_order(partials, zero);
    // The accumulators hold each group's block column-major ([rows_g][og]): the `gemm` crate
    // runs this shape ~3× faster into a column-major destination (61 → 192 GFLOP/s for O = 64,
    // C·kh·kw = 576, K = 1024 on one AVX-512 core: unlearnable's scripts/bench-gemm-layouts.sh).
    // Transpose once at the end.
    let og = d.o / d.groups;
    let rows_g = cg * d.kh * d.kw;
    let mut out = vec![zero; out_len];
    for g in 0..d.groups {
        let base = g * og * rows_g;
        for r in 0..rows_g {
            for o in 0..og {
                out[base + o * rows_g + r] = sum[base + r * og + o];
            }
        }
    }
    out
}

/// Element-wise sum of the partial gradients, first to last.
pub(super) fn sum_in_order<T>(partials: Vec<Vec<T>>, zero: T) -> Vec<T>
where
    T: bytemuck::Pod + Copy + 'static,
{
    let mut iter = partials.into_iter();
    let Some(mut total) = iter.next() else {
        return vec![zero; 0];
    };
    for part in iter {
        add_assign(&mut total, &part);
    }
    total
}

/// `a += b` for the float types this module supports.
fn add_assign<T: bytemuck::Pod + Copy + 'static>(a: &mut [T], b: &[T]) {
    use core::any::TypeId;
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        let a: &mut [f32] = bytemuck::cast_slice_mut(a);
        let b: &[f32] = bytemuck::cast_slice(b);
        a.iter_mut().zip(b).for_each(|(a, b)| *a += *b);
    } else if TypeId::of::<T>() == TypeId::of::<f64>() {
        let a: &mut [f64] = bytemuck::cast_slice_mut(a);
        let b: &[f64] = bytemuck::cast_slice(b);
        a.iter_mut().zip(b).for_each(|(a, b)| *a += *b);
    } else if TypeId::of::<T>() == TypeId::of::<burn_std::f16>() {
        let a: &mut [burn_std::f16] = bytemuck::cast_slice_mut(a);
        let b: &[burn_std::f16] = bytemuck::cast_slice(b);
        a.iter_mut().zip(b).for_each(|(a, b)| *a += *b);
    } else {
        unreachable!("conv2d_weight_grad: dispatched only for f32, f64 and f16");
    }
}

/// `acc += GY_chunk · COL_chunkᵀ` for the images `range`, per group; `acc` holds each group's
/// `[og, rows_g]` block column-major.
#[allow(clippy::too_many_arguments)]
fn accumulate_chunk<T>(
    acc: &mut [T],
    col: &mut Vec<T>,
    gyc: &mut Vec<T>,
    x: &[T],
    gy: &[T],
    d: Dims,
    range: core::ops::Range<usize>,
    zero: T,
    one: T,
    parallel_gemm: bool,
) where
    T: bytemuck::Pod + Copy + Send + Sync + 'static,
{
    let p = d.p();
    let depth = range.len() * p;
    let rows = d.rows();
    // im2col_rows writes every element, so the reused buffer needs no zeroing.
    col.resize(rows * depth, zero);
    im2col_rows(col, x, d, range.clone());

    // The output gradient as [O, depth]: a view of the tensor for one image, a copy otherwise.
    let gy_rows: &[T] = if range.len() == 1 {
        let start = range.start * d.o * p;
        &gy[start..start + d.o * p]
    } else {
        // Every element is overwritten below.
        gyc.resize(d.o * depth, zero);
        for (i, n) in range.clone().enumerate() {
            for o in 0..d.o {
                let src = &gy[(n * d.o + o) * p..][..p];
                gyc[o * depth + i * p..][..p].copy_from_slice(src);
            }
        }
        gyc
    };

    let og = d.o / d.groups;
    let rows_g = rows / d.groups;
    #[cfg(feature = "rayon")]
    let parallelism = if parallel_gemm && og * rows_g * depth >= 64 * 64 * 64 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    #[cfg(not(feature = "rayon"))]
    let parallelism = {
        let _ = parallel_gemm;
        gemm::Parallelism::None
    };
    for g in 0..d.groups {
        let dst = &mut acc[g * og * rows_g..][..og * rows_g];
        let lhs = &gy_rows[g * og * depth..][..og * depth];
        let rhs = &col[g * rows_g * depth..][..rows_g * depth];
        // SAFETY: dst is [og, rows_g] column-major (stored [rows_g][og]), lhs [og, depth]
        // row-major, rhs read as [depth, rows_g] with column stride `depth` (it is stored
        // [rows_g, depth]); the slices above have exactly these lengths.
        unsafe {
            gemm::gemm(
                og,
                rows_g,
                depth,
                dst.as_mut_ptr(),
                og as isize,
                1,
                true,
                lhs.as_ptr(),
                1,
                depth as isize,
                rhs.as_ptr(),
                depth as isize,
                1,
                one,
                one,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
}

/// Fill `col` (`[C·kh·kw, images·Ho·Wo]`; every element is written, so it need not be zeroed)
/// with the input values each output position reads: row `(c, i, j)`, column `(image, oh, ow)`
/// holds `x[n, c, oh·sh + i·dh − ph, ow·sw + j·dw − pw]` (zero in the padding).
///
/// For stride 1 with output rows as wide as input rows (`same` padding, every 3×3 layer of
/// unlearnable's networks) a tap's values for one image are the input plane shifted by a constant
/// offset, so they are copied as one block and the columns that fall into the padding are zeroed
/// after it (one copy per image instead of one per output row).
pub(super) fn im2col_rows<T: Copy + bytemuck::Zeroable>(
    col: &mut [T],
    x: &[T],
    d: Dims,
    range: core::ops::Range<usize>,
) {
    let zero = T::zeroed();
    let p = d.p();
    let depth = range.len() * p;
    let [sh, sw] = d.stride;
    let [ph, pw] = d.pad;
    let [dh, dw] = d.dilation;
    let plane = d.h * d.w;
    let shifted_planes = sh == 1 && sw == 1 && d.wo == d.w;
    for c in 0..d.c {
        for i in 0..d.kh {
            // Output rows whose input row is inside the image: oh in [top, bottom).
            let row_off = i * dh;
            let top = if row_off >= ph {
                0
            } else {
                (ph - row_off).div_ceil(sh)
            };
            let bottom = if d.h + ph > row_off {
                ((d.h + ph - row_off - 1) / sh + 1).min(d.ho)
            } else {
                0
            };
            for j in 0..d.kw {
                let row = (c * d.kh + i) * d.kw + j;
                let row_buf = &mut col[row * depth..][..depth];
                // Output columns whose input column is inside the image: ow in [lo, hi).
                let off = j * dw;
                let lo = if off >= pw {
                    0
                } else {
                    (pw - off).div_ceil(sw)
                };
                let hi = if d.w + pw > off {
                    ((d.w + pw - off - 1) / sw + 1).min(d.wo)
                } else {
                    0
                };
                for (img, n) in range.clone().enumerate() {
                    let src_plane = &x[(n * d.c + c) * plane..][..plane];
                    let dst_plane = &mut row_buf[img * p..][..p];
                    if top >= bottom || lo >= hi {
                        dst_plane.fill(zero);
                        continue;
                    }
                    dst_plane[..top * d.wo].fill(zero);
                    dst_plane[bottom * d.wo..].fill(zero);
                    let first_ih = top * sh + row_off - ph;
                    let first_iw = lo * sw + off - pw;
                    if shifted_planes {
                        // dst[oh·Wo + ow] = src[(oh + i·dh − ph)·W + ow + j·dw − pw] for every
                        // valid (oh, ow): one contiguous copy from (top, lo) to (bottom−1, hi−1),
                        // then the columns outside [lo, hi) of each row back to zero.
                        let start = top * d.wo + lo;
                        let len = (bottom - 1 - top) * d.wo + (hi - lo);
                        let src_start = first_ih * d.w + first_iw;
                        dst_plane[start..start + len]
                            .copy_from_slice(&src_plane[src_start..src_start + len]);
                        for oh in top..bottom {
                            let dst = &mut dst_plane[oh * d.wo..][..d.wo];
                            zero_fill(&mut dst[..lo], zero);
                            zero_fill(&mut dst[hi..], zero);
                        }
                        continue;
                    }
                    for oh in top..bottom {
                        let dst = &mut dst_plane[oh * d.wo..][..d.wo];
                        let ih = first_ih + (oh - top) * sh;
                        let src_row = &src_plane[ih * d.w..][..d.w];
                        zero_fill(&mut dst[..lo], zero);
                        zero_fill(&mut dst[hi..], zero);
                        if sw == 1 {
                            dst[lo..hi].copy_from_slice(&src_row[first_iw..first_iw + (hi - lo)]);
                        } else {
                            for (k, ow) in (lo..hi).enumerate() {
                                dst[ow] = src_row[first_iw + k * sw];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `dst.fill(zero)` without a `memset` call for the one or two padding columns a row usually
/// has (the call costs more than the stores).
#[inline(always)]
fn zero_fill<T: Copy>(dst: &mut [T], zero: T) {
    match dst {
        [] => {}
        [a] => *a = zero,
        [a, b] => {
            *a = zero;
            *b = zero;
        }
        _ => dst.fill(zero),
    }
}
