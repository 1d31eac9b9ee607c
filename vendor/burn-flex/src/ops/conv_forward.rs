//! Forward 2D convolution as one GEMM per chunk of images, reading NCHW directly (unlearnable's
//! patch; see `PATCHES.md` at the crate root).
//!
//! burn-flex's general path converts the input to NHWC, builds an im2col tile of 512 output
//! positions laid out `[positions, C·kh·kw]`, multiplies it transposed (the `gemm` crate then
//! packs that operand with a strided, scalar gather) and scatters the result back to NCHW one
//! element at a time, one image per tile (so N = 64 for an 8×8 map). Here
//!
//! ```text
//! y[n, o, oh, ow] = Σ_{c, i, j} w[o, c, i, j] · x[n, c, oh·sh + i·dh − ph, ow·sw + j·dw − pw]
//!   Y[O, K] = W[O, C·kh·kw] · COL[C·kh·kw, K]     with K = a chunk's (n, oh, ow)
//! ```
//!
//! with `COL` built row by row from shifted input rows (the weight gradient's im2col, contiguous
//! copies for stride 1), both GEMM operands row-major with unit column stride, and chunks of
//! several images when the maps are small. Every output element is one GEMM dot product, so the
//! result does not depend on the number of threads.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::ops::ConvOptions;
use burn_backend::ops::conv::calculate_conv_output_size;
use burn_std::{Bytes, ElementAdd, Shape};

use super::conv_backward::{Dims, im2col_rows};
#[cfg(feature = "simd")]
use super::{conv_direct, conv_winograd};
use crate::{FlexTensor, Layout};

/// Smallest GEMM width (images × output positions) a chunk aims for.
const MIN_CHUNK_WIDTH: usize = 512;

/// Largest im2col buffer a chunk aims for, in elements (chunks hold at least one image).
const MAX_CHUNK_ELEMENTS: usize = 2 * 1024 * 1024;

/// Whether this path computes the convolution: 2D (`[N, C, H, W]` input), one group, a kernel
/// larger than 1×1 (burn-flex's 1×1 path is already a plain GEMM), and not the shapes
/// burn-flex's small-channel kernel handles (`C ≤ 4` and `O ≤ 16`).
pub fn applies(x_shape: &[usize], w_shape: &[usize], options: &ConvOptions<2>) -> bool {
    x_shape.len() == 4
        && w_shape.len() == 4
        && options.groups == 1
        && w_shape[2] * w_shape[3] > 1
        && !(x_shape[1] <= 4 && w_shape[0] <= 16)
}

/// `conv2d` for f32, f64 and f16; padding symmetric (asymmetric padding is applied to the
/// input first, as burn-flex's `conv2d` does).
///
/// `x`: `[N, C, H, W]`, `weight`: `[O, C, kh, kw]`, `bias`: `[O]` → `[N, O, Ho, Wo]`.
pub fn conv2d<T>(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
    zero: T,
    one: T,
) -> FlexTensor
where
    T: bytemuck::Pod + Copy + Send + Sync + burn_backend::Element + ElementAdd + 'static,
{
    let dtype = x.dtype();
    let x = x.to_contiguous();
    let weight = weight.to_contiguous();
    let xs = x.layout().shape();
    let ws = weight.layout().shape();
    let pad = options.padding_begin();
    let d = Dims {
        n: xs[0],
        c: xs[1],
        h: xs[2],
        w: xs[3],
        o: ws[0],
        ho: calculate_conv_output_size(
            ws[2],
            options.stride[0],
            pad[0],
            options.dilation[0],
            xs[2],
        ),
        wo: calculate_conv_output_size(
            ws[3],
            options.stride[1],
            pad[1],
            options.dilation[1],
            xs[3],
        ),
        kh: ws[2],
        kw: ws[3],
        stride: options.stride,
        pad,
        dilation: options.dilation,
        groups: 1,
    };
    let x_data: &[T] = x.storage();
    let w_data: &[T] = weight.storage();
    let mut out = forward(x_data, w_data, d, zero, one);
    if let Some(bias) = bias {
        let bias = bias.to_contiguous();
        let b: &[T] = bias.storage();
        let p = d.p();
        if p > 0 {
            for (row, plane) in out.chunks_mut(p).enumerate() {
                let v = b[row % d.o];
                plane.iter_mut().for_each(|y| *y = T::add(*y, v));
            }
        }
    }
    FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(Shape::from(vec![d.n, d.o, d.ho, d.wo])),
        dtype,
    )
}

/// The output as a flat `[N, O, Ho, Wo]` buffer.
fn forward<T>(x: &[T], w: &[T], d: Dims, zero: T, one: T) -> Vec<T>
where
    T: bytemuck::Pod + Copy + Send + Sync + 'static,
{
    let p = d.p();
    let out_len = d.n * d.o * p;
    let mut out = vec![zero; out_len];
    if out_len == 0 {
        return out;
    }
    #[cfg(feature = "simd")]
    if core::any::TypeId::of::<T>() == core::any::TypeId::of::<f32>() && conv_winograd::applies(&d)
    {
        let cast = bytemuck::cast_slice::<T, f32>;
        conv_winograd::forward(bytemuck::cast_slice_mut(&mut out), cast(x), cast(w), d);
        return out;
    }
    #[cfg(feature = "simd")]
    if core::any::TypeId::of::<T>() == core::any::TypeId::of::<f32>() && conv_direct::applies(&d) {
        let cast = bytemuck::cast_slice::<T, f32>;
        conv_direct::forward(bytemuck::cast_slice_mut(&mut out), cast(x), cast(w), d);
        return out;
    }
    let rows = d.rows();
    let per_chunk = MIN_CHUNK_WIDTH
        .div_ceil(p)
        .min((MAX_CHUNK_ELEMENTS / (rows.max(1) * p)).max(1))
        .clamp(1, d.n);
    let chunk_len = per_chunk * d.o * p;
    let run = |scratch: &mut Scratch<T>, chunk: usize, dst: &mut [T], parallel_gemm: bool| {
        let n0 = chunk * per_chunk;
        let n1 = (n0 + per_chunk).min(d.n);
        chunk_forward(dst, scratch, x, w, d, n0..n1, zero, one, parallel_gemm);
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let chunks = d.n.div_ceil(per_chunk);
        let parallel_gemm = chunks < rayon::current_num_threads();
        // One scratch (im2col and staging buffers) per rayon split, reused by its chunks.
        out.par_chunks_mut(chunk_len).enumerate().for_each_init(
            Scratch::default,
            |scratch, (chunk, dst)| run(scratch, chunk, dst, parallel_gemm),
        );
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut scratch = Scratch::default();
        for (chunk, dst) in out.chunks_mut(chunk_len).enumerate() {
            run(&mut scratch, chunk, dst, false);
        }
    }
    out
}

/// Buffers one worker reuses from chunk to chunk.
struct Scratch<T> {
    /// im2col of a chunk, `[C·kh·kw, width]`.
    col: Vec<T>,
    /// The GEMM's `[O, width]` output when a chunk holds several images.
    staged: Vec<T>,
}

impl<T> Default for Scratch<T> {
    fn default() -> Self {
        Scratch {
            col: Vec::new(),
            staged: Vec::new(),
        }
    }
}

/// `dst` (the images `range` of the output, `[len, O, Ho, Wo]`) = W · COL of those images.
#[allow(clippy::too_many_arguments)]
fn chunk_forward<T>(
    dst: &mut [T],
    scratch: &mut Scratch<T>,
    x: &[T],
    w: &[T],
    d: Dims,
    range: core::ops::Range<usize>,
    zero: T,
    one: T,
    parallel_gemm: bool,
) where
    T: bytemuck::Pod + Copy + Send + Sync + 'static,
{
    let p = d.p();
    let width = range.len() * p;
    let rows = d.rows();
    // im2col_rows writes every element, so a reused buffer needs no zeroing.
    let col = &mut scratch.col;
    col.resize(rows * width, zero);
    im2col_rows(col, x, d, range.clone());
    #[cfg(feature = "rayon")]
    let parallelism = if parallel_gemm && d.o * rows * width >= 64 * 64 * 64 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    #[cfg(not(feature = "rayon"))]
    let parallelism = {
        let _ = parallel_gemm;
        gemm::Parallelism::None
    };
    // One image: the GEMM writes the output directly ([O, p] is the image's block). Several:
    // into [O, width], then each (image, channel) plane is copied to its place.
    let staged = &mut scratch.staged;
    let target: &mut [T] = if range.len() == 1 {
        &mut dst[..d.o * p]
    } else {
        // Every element is written: the GEMM runs with beta = 0 (`read_dst` false).
        staged.resize(d.o * width, zero);
        staged
    };
    // SAFETY: target is [O, width] row-major, w [O, rows] row-major, col [rows, width]
    // row-major; the slices have exactly these lengths.
    unsafe {
        gemm::gemm(
            d.o,
            width,
            rows,
            target.as_mut_ptr(),
            1,
            width as isize,
            false,
            w.as_ptr(),
            1,
            rows as isize,
            col.as_ptr(),
            1,
            width as isize,
            zero,
            one,
            false,
            false,
            false,
            parallelism,
        );
    }
    if range.len() > 1 {
        for i in 0..range.len() {
            for o in 0..d.o {
                dst[(i * d.o + o) * p..][..p].copy_from_slice(&staged[o * width + i * p..][..p]);
            }
        }
    }
}

/// The input gradient of a stride-1 convolution is a forward convolution of the output
/// gradient with the kernel flipped and its channel axes swapped:
///
/// ```text
/// dx[n, c, y, x] = Σ_{o, i, j} gy[n, o, y + pb − i·d, x + pb' − j·d] · w[o, c, i, j]
///                = conv(gy, w')[n, c, y, x],   w'[c, o, i, j] = w[o, c, kh−1−i, kw−1−j]
/// ```
///
/// with padding `d·(k−1) − p` on each side (so the output has the input's size). The options
/// of that convolution, or `None` where it does not apply (strides, groups, or a padding wider
/// than the kernel's reach): those keep burn-flex's transposed convolution.
pub fn input_grad_options(options: &ConvOptions<2>, kernel: [usize; 2]) -> Option<ConvOptions<2>> {
    if options.stride != [1, 1] || options.groups != 1 || kernel.contains(&0) {
        return None;
    }
    let mut padding = [(0, 0); 2];
    for (axis, pad) in padding.iter_mut().enumerate() {
        let reach = options.dilation[axis] * (kernel[axis] - 1);
        let (begin, end) = options.padding[axis];
        if begin > reach || end > reach {
            return None;
        }
        *pad = (reach - begin, reach - end);
    }
    Some(ConvOptions::new_with_padding(
        [1, 1],
        padding,
        options.dilation,
        1,
    ))
}

/// `w'[c, o, i, j] = w[o, c, kh−1−i, kw−1−j]` for a weight `[O, C, kh, kw]`.
pub fn flipped_weight<T: bytemuck::Pod + Copy + burn_backend::Element>(
    weight: FlexTensor,
) -> FlexTensor {
    let dtype = weight.dtype();
    let weight = weight.to_contiguous();
    let s = weight.layout().shape();
    let (o, c, kh, kw) = (s[0], s[1], s[2], s[3]);
    let w: &[T] = weight.storage();
    let taps = kh * kw;
    let mut out: Vec<T> = Vec::with_capacity(w.len());
    for ci in 0..c {
        for oi in 0..o {
            let src = &w[(oi * c + ci) * taps..][..taps];
            out.extend(src.iter().rev());
        }
    }
    FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(Shape::from(vec![c, o, kh, kw])),
        dtype,
    )
}
