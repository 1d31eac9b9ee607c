//! 3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (unlearnable's patch;
//! see `PATCHES.md` at the crate root).
//!
//! Each 2×2 block of outputs ("tile") is computed from the 4×4 input patch around it as
//!
//! ```text
//! Y = Aᵀ [ Σ_c (G g_oc Gᵀ) ⊙ (Bᵀ d_c B) ] A
//! ```
//!
//! (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), so the 16 products
//! of the transformed patch and kernel replace the 36 multiply-adds of four 3×3 dot products.
//! Summed over input channels, each of the 16 positions of the transform is one GEMM,
//!
//! ```text
//! M[ξ][O, tiles] = U[ξ][O, C] · V[ξ][C, tiles]      ξ = 0..16
//! ```
//!
//! with `U = G g Gᵀ` (the kernels, transformed once per call) and `V = Bᵀ d B` (the input
//! patches of a chunk of tile rows): 2.25× fewer multiply-adds than the im2col GEMM, and no
//! 9×-sized im2col buffer. Rounding differs from a direct sum by a few units in the last place
//! of the largest term (the transforms only add, subtract and halve). Chunks of tile rows are a
//! fixed function of the shape, each output element is computed by one chunk, so the result does
//! not depend on the number of threads.

use alloc::vec::Vec;

use super::conv_backward::Dims;
use super::kernel_switch::{Kernel, is_on};

/// Channels (input and output) below which this path is not taken: with few channels the GEMMs
/// are too small to amortise the transforms. Measured (batch 64, 2 threads): at 16–32 channels
/// on a side the forward is no faster than im2col and the weight gradient slower; from 48 on
/// both sides faster (48→48 on 16×16: 1.8 against 2.2 ms forward).
const MIN_CHANNELS: usize = 48;

/// Tiles (GEMM width) a chunk aims for.
const TARGET_TILES: usize = 256;

/// Largest `V` + `M` buffers of a chunk, in elements (a chunk holds at least one tile row).
const MAX_CHUNK_ELEMENTS: usize = 1024 * 1024;

/// Whether this kernel computes the convolution: on for this thread (`kernel_switch`), a 3×3
/// kernel, stride 1, no dilation, one group, at least [`MIN_CHANNELS`] input and output
/// channels, any (symmetric) padding.
pub(super) fn applies(d: &Dims) -> bool {
    is_on(Kernel::Winograd)
        && d.kh == 3
        && d.kw == 3
        && d.stride == [1, 1]
        && d.dilation == [1, 1]
        && d.groups == 1
        && d.c >= MIN_CHANNELS
        && d.o >= MIN_CHANNELS
        && d.ho > 0
        && d.wo > 0
}

/// A pointer to the output that chunks write disjoint parts of.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: every chunk writes only the output rows of its own tile rows (see `chunk`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// `out` (`[N, O, Ho, Wo]`, every element written) = the convolution of `x` (`[N, C, H, W]`)
/// with `w` (`[O, C, 3, 3]`), without bias.
pub(super) fn forward(out: &mut [f32], x: &[f32], w: &[f32], d: Dims) {
    assert_eq!(out.len(), d.n * d.o * d.p());
    let th = d.ho.div_ceil(2);
    let units = d.n * th;
    if units == 0 {
        return;
    }
    let u = transform_kernels(w, d);
    let per_chunk = chunk_units(d);
    let chunks = units.div_ceil(per_chunk);
    let ptr = OutPtr(out.as_mut_ptr());
    let run = |scratch: &mut Scratch, index: usize, parallel_gemm: bool| {
        let first = index * per_chunk;
        let rows = first..(first + per_chunk).min(units);
        // SAFETY: `out` outlives this call; chunks cover disjoint tile rows.
        unsafe { chunk(ptr, scratch, x, &u, d, rows, parallel_gemm) };
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let parallel_gemm = chunks < rayon::current_num_threads();
        (0..chunks)
            .into_par_iter()
            .for_each_init(Scratch::default, |scratch, index| {
                run(scratch, index, parallel_gemm)
            });
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut scratch = Scratch::default();
        for index in 0..chunks {
            run(&mut scratch, index, false);
        }
    }
}

/// Tile rows per chunk: about [`TARGET_TILES`] tiles, `V` and `M` within
/// [`MAX_CHUNK_ELEMENTS`], at least one tile row.
pub(super) fn chunk_units(d: Dims) -> usize {
    let tw = d.wo.div_ceil(2);
    TARGET_TILES
        .div_ceil(tw)
        .min((MAX_CHUNK_ELEMENTS / (16 * (d.c + d.o) * tw)).max(1))
        .clamp(1, d.n * d.ho.div_ceil(2))
}

/// `U[ξ][o, c] = (G g[o, c] Gᵀ)[ξ]` with `G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]`.
fn transform_kernels(w: &[f32], d: Dims) -> Vec<f32> {
    let oc = d.o * d.c;
    let mut u = alloc::vec![0.0f32; 16 * oc];
    let g_rows = |a: f32, b: f32, c: f32| [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
    for (k, g) in w.chunks_exact(9).take(oc).enumerate() {
        // G g: four rows of three; then each row times Gᵀ.
        let cols: [[f32; 4]; 3] = core::array::from_fn(|j| g_rows(g[j], g[3 + j], g[6 + j]));
        for i in 0..4 {
            let row = g_rows(cols[0][i], cols[1][i], cols[2][i]);
            for (j, v) in row.into_iter().enumerate() {
                u[(i * 4 + j) * oc + k] = v;
            }
        }
    }
    u
}

/// Buffers one worker reuses from chunk to chunk.
#[derive(Default)]
pub(super) struct Scratch {
    /// Transformed input patches, `[16][C][tiles]`.
    pub(super) v: Vec<f32>,
    /// Transformed outputs `[16][O][tiles]`.
    pub(super) m: Vec<f32>,
    /// [`input_channel`]'s padded rows, their splits and the row-combined patches.
    pub(super) buf: Vec<f32>,
    /// One output channel's tiles (`Aᵀ M A`), `[4][tiles]`: rows 0 and 1 of each tile, even
    /// and odd columns.
    pub(super) y: Vec<f32>,
}

/// The output rows of tile rows `units` (`n · th + ty`): transform, 16 GEMMs, inverse transform.
///
/// # Safety
/// `out` points to the `[N, O, Ho, Wo]` output; no other chunk writes these tile rows.
unsafe fn chunk(
    out: OutPtr,
    s: &mut Scratch,
    x: &[f32],
    u: &[f32],
    d: Dims,
    units: core::ops::Range<usize>,
    parallel_gemm: bool,
) {
    let th = d.ho.div_ceil(2);
    let tw = d.wo.div_ceil(2);
    let tiles = units.len() * tw;
    s.v.resize(16 * d.c * tiles, 0.0);
    s.m.resize(16 * d.o * tiles, 0.0);
    s.buf.resize(input_scratch(units.len(), tw), 0.0);
    s.y.resize(4 * tiles, 0.0);
    for c in 0..d.c {
        let v = &mut s.v[c * tiles..];
        input_channel(x, &d, units.clone(), c, &mut s.buf, v, d.c * tiles);
    }
    gemms(s, u, d, tiles, parallel_gemm);
    for o in 0..d.o {
        output_channel(&s.m[o * tiles..], d.o * tiles, &mut s.y);
        let (y_top, y_bottom) = s.y.split_at(2 * tiles);
        for (k, unit) in units.clone().enumerate() {
            let (n, ty) = (unit / th, unit % th);
            let rows = (d.ho - 2 * ty).min(2);
            for (r, y) in [y_top, y_bottom].into_iter().take(rows).enumerate() {
                let start = ((n * d.o + o) * d.ho + 2 * ty + r) * d.wo;
                // SAFETY: row 2·ty + r < Ho of plane (n, o): inside `out`, and only this
                // chunk writes the rows of tile row ty.
                let dst = unsafe { core::slice::from_raw_parts_mut(out.0.add(start), d.wo) };
                interleave(dst, &y[k * tw..][..tw], &y[tiles + k * tw..][..tw]);
            }
        }
    }
}

/// `dst[2i] = a[i]`, `dst[2i + 1] = b[i]` for as much of `dst` as there is.
fn interleave(dst: &mut [f32], a: &[f32], b: &[f32]) {
    let half = dst.len() / 2;
    let mut pairs = dst.chunks_exact_mut(2);
    for ((p, &a), &b) in (&mut pairs).zip(a).zip(b) {
        p[0] = a;
        p[1] = b;
    }
    if let Some(last) = pairs.into_remainder().first_mut() {
        *last = a[half];
    }
}

/// `V[ξ][c][t] = (Bᵀ d B)[ξ]` for every tile `t` of the chunk and one input channel `c`, with
/// `Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]`. `v` starts at
/// `V[0][c][0]`; `stride` is the distance between the 16 positions' blocks.
///
/// The padded input is split into sixteen arrays with one entry per tile of the chunk — by the
/// patch's upper or lower pair of rows, row parity, column parity and a shift of one column
/// pair — so that entry `(r, j)` of every tile's 4×4 patch is one array, contiguous over all
/// tiles of the chunk (across images too): the transform is then long vectorised loops.
// `S` is unused by name: `with_simd` compiles the body with the CPU's vector instructions enabled,
// which is what lets the plain loops below vectorise (16 lanes on AVX-512).
#[allow(clippy::too_many_arguments, clippy::extra_unused_type_parameters)]
#[macerator::with_simd]
pub(super) fn input_channel<S: macerator::Simd>(
    x: &[f32],
    d: &Dims,
    units: core::ops::Range<usize>,
    c: usize,
    buf: &mut [f32],
    v: &mut [f32],
    stride: usize,
) {
    let th = d.ho.div_ceil(2);
    let tw = d.wo.div_ceil(2);
    let len = units.len() * tw;
    // seg[half][shift][parity] holds, per tile row k, padded row 2·(ty + half) + parity
    // (padded (q, col) = input (q − pad, col − pad)) from column 2·shift, 2·tw columns.
    let (seg, rest) = buf.split_at_mut(16 * len);
    let (arrays, t) = rest.split_at_mut(16 * len);
    let t = &mut t[..16 * len];
    for (k, unit) in units.enumerate() {
        let (n, ty) = (unit / th, unit % th);
        let plane = &x[(n * d.c + c) * d.h * d.w..][..d.h * d.w];
        for q in 0..4 {
            let iy = (2 * ty + q) as isize - d.pad[0] as isize;
            let src = (0..d.h as isize)
                .contains(&iy)
                .then(|| &plane[iy as usize * d.w..][..d.w]);
            for shift in 0..2 {
                let which = ((q / 2) * 2 + shift) * 2 + q % 2;
                let at = which * 2 * len + k * 2 * tw;
                let dst = &mut seg[at..at + 2 * tw];
                match src {
                    Some(src) => copy_shifted(src, 2 * shift as isize - d.pad[1] as isize, dst),
                    None => dst.fill(0.0),
                }
            }
        }
    }
    // arrays[which·2 + column parity] = that seg's even or odd columns.
    for (which, run) in seg.chunks_exact(2 * len).enumerate() {
        let (even, odd) = arrays[2 * which * len..(2 * which + 2) * len].split_at_mut(len);
        split(run, even, odd);
    }
    let a = |r: usize, j: usize| {
        let which = ((r / 2) * 2 + j / 2) * 2 + r % 2;
        &arrays[(which * 2 + j % 2) * len..][..len]
    };
    // Bᵀ d: combinations over r, for each j; into T[r·4 + j].
    let (t0, rest) = t.split_at_mut(4 * len);
    let (t1, rest) = rest.split_at_mut(4 * len);
    let (t2, t3) = rest.split_at_mut(4 * len);
    for j in 0..4 {
        let at = j * len..(j + 1) * len;
        bt(
            [a(0, j), a(1, j), a(2, j), a(3, j)],
            [
                &mut t0[at.clone()],
                &mut t1[at.clone()],
                &mut t2[at.clone()],
                &mut t3[at],
            ],
        );
    }
    // (Bᵀ d) B: combinations over j, for each i; into V[i·4 + j].
    for (i, block) in [&*t0, &*t1, &*t2, &*t3].into_iter().enumerate() {
        let src = |j: usize| &block[j * len..][..len];
        let base = &mut v[4 * i * stride..];
        let (d0, rest) = base.split_at_mut(stride);
        let (d1, rest) = rest.split_at_mut(stride);
        let (d2, d3) = rest.split_at_mut(stride);
        bt(
            [src(0), src(1), src(2), src(3)],
            [&mut d0[..len], &mut d1[..len], &mut d2[..len], &mut d3[..len]],
        );
    }
}

/// Scratch elements [`input_channel`] needs for a chunk of `units` tile rows.
pub(super) fn input_scratch(units: usize, tw: usize) -> usize {
    48 * units * tw
}

/// `dst[i] = src[i + first]` where that is inside `src`, zero elsewhere.
#[inline(always)]
fn copy_shifted(src: &[f32], first: isize, dst: &mut [f32]) {
    let begin = ((-first).max(0) as usize).min(dst.len());
    let from = first.max(0) as usize;
    let n = (dst.len() - begin).min(src.len().saturating_sub(from));
    dst[..begin].fill(0.0);
    dst[begin..begin + n].copy_from_slice(&src[from..from + n]);
    dst[begin + n..].fill(0.0);
}

/// `even[k] = src[2k]`, `odd[k] = src[2k + 1]`.
#[inline(always)]
pub(super) fn split(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    for ((pair, e), o) in src.chunks_exact(2).zip(even).zip(odd) {
        *e = pair[0];
        *o = pair[1];
    }
}

/// `(a, b, c, e) → (a − c, b + c, c − b, b − e)` element-wise: `Bᵀ` applied to four rows (or,
/// read as columns, `B`).
#[inline(always)]
fn bt(src: [&[f32]; 4], dst: [&mut [f32]; 4]) {
    let [o0, o1, o2, o3] = dst;
    let n = o0.len();
    let [r0, r1, r2, r3] = src.map(|r| &r[..n]);
    let (o1, o2, o3) = (&mut o1[..n], &mut o2[..n], &mut o3[..n]);
    for t in 0..n {
        let (a, b, c, e) = (r0[t], r1[t], r2[t], r3[t]);
        o0[t] = a - c;
        o1[t] = b + c;
        o2[t] = c - b;
        o3[t] = b - e;
    }
}

/// `y` (`[4][tiles]`: output row 0 even and odd columns, row 1 even and odd) = `Aᵀ M A` for
/// every tile of one output channel, with `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`. `m` starts at
/// `M[0][o][0]`; `stride` is the distance between the 16 positions' blocks.
#[allow(clippy::extra_unused_type_parameters)] // see `input_channel`
#[macerator::with_simd]
fn output_channel<S: macerator::Simd>(m: &[f32], stride: usize, y: &mut [f32]) {
    let tiles = y.len() / 4;
    let m: [&[f32]; 16] = core::array::from_fn(|xi| &m[xi * stride..][..tiles]);
    let (y0, rest) = y.split_at_mut(tiles);
    let (y1, rest) = rest.split_at_mut(tiles);
    let (y2, y3) = rest.split_at_mut(tiles);
    let (y1, y2, y3) = (&mut y1[..tiles], &mut y2[..tiles], &mut y3[..tiles]);
    for t in 0..tiles {
        // Aᵀ M: two rows of four; then each row times A.
        let s0: [f32; 4] = core::array::from_fn(|j| m[j][t] + m[4 + j][t] + m[8 + j][t]);
        let s1: [f32; 4] = core::array::from_fn(|j| m[4 + j][t] - m[8 + j][t] - m[12 + j][t]);
        y0[t] = s0[0] + s0[1] + s0[2];
        y1[t] = s0[1] - s0[2] - s0[3];
        y2[t] = s1[0] + s1[1] + s1[2];
        y3[t] = s1[1] - s1[2] - s1[3];
    }
}

/// `M[ξ] = U[ξ] · V[ξ]` for the 16 positions.
fn gemms(s: &mut Scratch, u: &[f32], d: Dims, tiles: usize, parallel_gemm: bool) {
    let parallelism = parallelism(parallel_gemm);
    for xi in 0..16 {
        let lhs = &u[xi * d.o * d.c..][..d.o * d.c];
        let rhs = &s.v[xi * d.c * tiles..][..d.c * tiles];
        let dst = &mut s.m[xi * d.o * tiles..][..d.o * tiles];
        // SAFETY: dst is [O, tiles], lhs [O, C], rhs [C, tiles], all row-major with unit
        // column stride; the slices have exactly these lengths. beta = 0 (`read_dst` false).
        unsafe {
            gemm::gemm(
                d.o,
                tiles,
                d.c,
                dst.as_mut_ptr(),
                1,
                tiles as isize,
                false,
                lhs.as_ptr(),
                1,
                d.c as isize,
                rhs.as_ptr(),
                1,
                tiles as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
}

/// The `gemm` crate's threading: rayon's pool when a call has the machine to itself.
pub(super) fn parallelism(parallel_gemm: bool) -> gemm::Parallelism {
    #[cfg(feature = "rayon")]
    if parallel_gemm {
        return gemm::Parallelism::Rayon(0);
    }
    let _ = parallel_gemm;
    gemm::Parallelism::None
}
