//! The weight gradient of 3×3 stride-1 convolutions through Winograd's F(2×2, 3×3) (unlearnable's
//! patch; see `PATCHES.md` at the crate root and `conv_winograd` for the forward).
//!
//! The forward computes each 2×2 output tile as `Y = Aᵀ [U ⊙ V] A` with `U = G g Gᵀ` and
//! `V = Bᵀ d B`. Differentiating through those linear maps,
//!
//! ```text
//! ∂L/∂U[ξ][o, c] = Σ_tiles (A dY Aᵀ)[ξ][o, t] · V[ξ][c, t]      ∂L/∂g[o, c] = Gᵀ (∂L/∂U[o, c]) G
//! ```
//!
//! so the sum over images and positions is 16 GEMMs with the deep dimension the tiles
//! (`dU[ξ][O, C] += Wt[ξ][O, tiles] · V[ξ][C, tiles]ᵀ`), 2.25× fewer multiply-adds than the
//! im2col GEMM. Chunks of tile rows go to at most `MAX_PARTIALS` accumulators (the im2col weight
//! gradient's), summed in a fixed order, so the result does not depend on the number of threads.

use alloc::vec;
use alloc::vec::Vec;

use super::conv_backward::{Dims, MAX_PARTIALS, sum_in_order};
use super::conv_winograd::{
    Scratch, chunk_units, input_channel, input_scratch, parallelism, split,
};

/// `out` (`[O, C, 3, 3]`) = the weight gradient of the convolution of `x` (`[N, C, H, W]`) that
/// produced the output gradient `gy` (`[N, O, Ho, Wo]`). The shapes are ones
/// `conv_winograd::applies` accepts.
pub(super) fn weight_grad(out: &mut [f32], x: &[f32], gy: &[f32], d: Dims) {
    assert_eq!(out.len(), d.o * d.c * 9);
    let units = d.n * d.ho.div_ceil(2);
    if units == 0 {
        out.fill(0.0);
        return;
    }
    let per_chunk = chunk_units(d);
    let chunks = units.div_ceil(per_chunk);
    let tasks = chunks.min(MAX_PARTIALS);
    let per_task = chunks.div_ceil(tasks);
    let run_task = |task: usize, parallel_gemm: bool| -> Vec<f32> {
        // dU, column-major per position: [16][C][O] (the `gemm` crate runs this shape faster
        // into a column-major destination, as the im2col weight gradient found).
        let mut acc = vec![0.0f32; 16 * d.c * d.o];
        let mut s = Scratch::default();
        for index in task * per_task..((task + 1) * per_task).min(chunks) {
            let first = index * per_chunk;
            let rows = first..(first + per_chunk).min(units);
            accumulate(&mut acc, &mut s, x, gy, d, rows, parallel_gemm);
        }
        acc
    };
    #[cfg(feature = "rayon")]
    let partials: Vec<Vec<f32>> = {
        use rayon::prelude::*;
        let parallel_gemm = tasks < rayon::current_num_threads();
        (0..tasks)
            .into_par_iter()
            .map(|t| run_task(t, parallel_gemm))
            .collect()
    };
    #[cfg(not(feature = "rayon"))]
    let partials: Vec<Vec<f32>> = (0..tasks).map(|t| run_task(t, false)).collect();
    let du = sum_in_order(partials, 0.0f32);
    // ∂L/∂g = Gᵀ dU G with Gᵀ = [[1, ½, ½, 0], [0, ½, −½, 0], [0, ½, ½, 1]].
    let gt = |z: [f32; 4]| {
        [
            z[0] + 0.5 * (z[1] + z[2]),
            0.5 * (z[1] - z[2]),
            0.5 * (z[1] + z[2]) + z[3],
        ]
    };
    let oc = d.o * d.c;
    for (k, g) in out.chunks_exact_mut(9).enumerate() {
        let (o, c) = (k / d.c, k % d.c);
        let z = |xi: usize| du[xi * oc + c * d.o + o];
        // Gᵀ Z: three rows of four (column by column), then each row times G.
        let cols: [[f32; 3]; 4] = core::array::from_fn(|j| gt([z(j), z(4 + j), z(8 + j), z(12 + j)]));
        for i in 0..3 {
            let row = gt([cols[0][i], cols[1][i], cols[2][i], cols[3][i]]);
            g[i * 3..i * 3 + 3].copy_from_slice(&row);
        }
    }
}

/// `acc[ξ]` (`[C][O]`) += `V[ξ] · Wt[ξ]ᵀ` over the tiles of tile rows `units`.
fn accumulate(
    acc: &mut [f32],
    s: &mut Scratch,
    x: &[f32],
    gy: &[f32],
    d: Dims,
    units: core::ops::Range<usize>,
    parallel_gemm: bool,
) {
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
    for o in 0..d.o {
        let m = &mut s.m[o * tiles..];
        grad_channel(gy, &d, units.clone(), o, &mut s.y, m, d.o * tiles);
    }
    let parallelism = parallelism(parallel_gemm);
    for xi in 0..16 {
        let v = &s.v[xi * d.c * tiles..][..d.c * tiles];
        let wt = &s.m[xi * d.o * tiles..][..d.o * tiles];
        let dst = &mut acc[xi * d.c * d.o..][..d.c * d.o];
        // SAFETY: dst is [O, C] column-major (element (o, c) at c·O + o), lhs Wt [O, tiles]
        // and V [C, tiles] row-major, read as Vᵀ [tiles, C] (element (t, c) at c·tiles + t);
        // the slices have exactly these lengths. dst = dst + Wt · Vᵀ.
        unsafe {
            gemm::gemm(
                d.o,
                d.c,
                tiles,
                dst.as_mut_ptr(),
                d.o as isize,
                1,
                true,
                wt.as_ptr(),
                1,
                tiles as isize,
                v.as_ptr(),
                tiles as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
}

/// `Wt[ξ][o][t] = (A dy Aᵀ)[ξ]` for every tile `t` of the chunk and one output channel `o`, with
/// `A = [[1, 0], [1, 1], [1, −1], [0, −1]]` and `dy` the tile's 2×2 output gradient (zero past
/// the map's edge). `m` starts at `Wt[0][o][0]`; `stride` is the distance between the 16
/// positions' blocks; `y` is scratch of `[4][tiles]`.
// `S` is unused by name: `with_simd` compiles the body with the CPU's vector instructions enabled.
#[allow(clippy::too_many_arguments, clippy::extra_unused_type_parameters)]
#[macerator::with_simd]
fn grad_channel<S: macerator::Simd>(
    gy: &[f32],
    d: &Dims,
    units: core::ops::Range<usize>,
    o: usize,
    y: &mut [f32],
    m: &mut [f32],
    stride: usize,
) {
    let th = d.ho.div_ceil(2);
    let tw = d.wo.div_ceil(2);
    let tiles = units.len() * tw;
    // y[2r], y[2r + 1]: even and odd columns of each tile's output row r.
    let (top, bottom) = y.split_at_mut(2 * tiles);
    let (a, b) = top.split_at_mut(tiles);
    let (c, e) = bottom.split_at_mut(tiles);
    let pairs = d.wo / 2;
    for (k, unit) in units.enumerate() {
        let (n, ty) = (unit / th, unit % th);
        let plane = &gy[(n * d.o + o) * d.p()..][..d.p()];
        let at = k * tw;
        for (r, (even, odd)) in [(&mut *a, &mut *b), (&mut *c, &mut *e)].into_iter().enumerate() {
            let (even, odd) = (&mut even[at..at + tw], &mut odd[at..at + tw]);
            let row = 2 * ty + r;
            if row >= d.ho {
                even.fill(0.0);
                odd.fill(0.0);
                continue;
            }
            let src = &plane[row * d.wo..][..d.wo];
            split(&src[..2 * pairs], even, odd);
            if pairs < tw {
                even[pairs] = src[2 * pairs];
                odd[pairs] = 0.0;
            }
        }
    }
    // A dy: four rows of two, (p, q); then each row times Aᵀ: (p, p + q, p − q, −q).
    let (a, b, c, e) = (&a[..tiles], &b[..tiles], &c[..tiles], &e[..tiles]);
    for i in 0..4 {
        let base = &mut m[4 * i * stride..];
        let (d0, rest) = base.split_at_mut(stride);
        let (d1, rest) = rest.split_at_mut(stride);
        let (d2, d3) = rest.split_at_mut(stride);
        let out = [&mut d0[..tiles], &mut d1[..tiles], &mut d2[..tiles], &mut d3[..tiles]];
        match i {
            0 => at_row(a, b, out, |a, b, _, _| (a, b), c, e),
            1 => at_row(a, b, out, |a, b, c, e| (a + c, b + e), c, e),
            2 => at_row(a, b, out, |a, b, c, e| (a - c, b - e), c, e),
            _ => at_row(a, b, out, |_, _, c, e| (-c, -e), c, e),
        }
    }
}

/// `out = (p, p + q, p − q, −q)` element-wise with `(p, q) = row(a, b, c, e)`: one row of
/// `A dy` times `Aᵀ`.
#[inline(always)]
fn at_row(
    a: &[f32],
    b: &[f32],
    out: [&mut [f32]; 4],
    row: impl Fn(f32, f32, f32, f32) -> (f32, f32),
    c: &[f32],
    e: &[f32],
) {
    let [o0, o1, o2, o3] = out;
    let n = o0.len();
    let (a, b, c, e) = (&a[..n], &b[..n], &c[..n], &e[..n]);
    let (o1, o2, o3) = (&mut o1[..n], &mut o2[..n], &mut o3[..n]);
    for t in 0..n {
        let (p, q) = row(a[t], b[t], c[t], e[t]);
        o0[t] = p;
        o1[t] = p + q;
        o2[t] = p - q;
        o3[t] = -q;
    }
}
