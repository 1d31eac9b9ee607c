#!/usr/bin/env bash
# The `gemm` crate (burn-flex's GEMM, 0.19.0, AVX-512 kernels on) on the shapes of the conv2d
# weight gradient, with the destination row-major vs column-major: why the carried burn-flex
# patch accumulates column-major (vendor/burn-flex/PATCHES.md); and the forward convolution's
# GEMM (Y[O, positions] = W · COL, both row-major) built twice: as a release build and as the
# dev profile used to build dependencies before 2026-12 (opt-level 2 *with* debug assertions),
# which is why Cargo.toml now turns them off; and one 3x3 convolution as im2col's single GEMM
# against nine shifted GEMMs (implicit GEMM, BENCHMARKS.md); and the Winograd weight gradient's
# GEMM in two operand layouts. One thread, GFLOP/s or µs.
# Builds a throwaway crate under ${TMPDIR:-/tmp}; needs crates.io (or a warm cargo cache).
# Usage: scripts/bench-gemm-layouts.sh
set -euo pipefail
dir="${TMPDIR:-/tmp}/unlearnable-gemm-layouts"
mkdir -p "$dir/src"
cat > "$dir/Cargo.toml" <<'TOML'
[package]
name = "gemm-layouts"
version = "0.1.0"
edition = "2021"
[dependencies]
gemm = { version = "=0.19.0", default-features = false, features = ["std", "x86-v4"] }
[profile.dev-with-assertions]
inherits = "release"
opt-level = 2
debug-assertions = true
overflow-checks = true
TOML
cat > "$dir/src/main.rs" <<'RS'
use std::time::Instant;
/// dst[m,n] = lhs[m,k] · rhs[k,n] with the given (column, row) strides, timed.
fn run(name: &str, (m, n, k): (usize, usize, usize), dst: (isize, isize), lhs: (isize, isize), rhs: (isize, isize)) {
    let a = vec![1.0f32; m * k];
    let b = vec![0.5f32; k * n];
    let mut c = vec![0.0f32; m * n];
    let mut go = |reps: usize| {
        let t = Instant::now();
        for _ in 0..reps {
            // SAFETY: every stride pair addresses exactly its buffer's m·k, k·n or m·n elements.
            unsafe {
                gemm::gemm(m, n, k, c.as_mut_ptr(), dst.0, dst.1, false, a.as_ptr(), lhs.0, lhs.1,
                    b.as_ptr(), rhs.0, rhs.1, 0.0f32, 1.0f32, false, false, false, gemm::Parallelism::None);
            }
        }
        t.elapsed().as_secs_f64() / reps as f64
    };
    go(20);
    let s = go(200);
    println!("{name:58} {:6.1} GFLOP/s", 2.0 * (m * n * k) as f64 / s / 1e9);
}
fn main() {
    // dW[O, C·kh·kw] += GY[O, K] · COL[C·kh·kw, K]ᵀ; GY stored [O][K], COL stored [C·kh·kw][K].
    for (o, r, d) in [(64, 576, 1024), (512, 4608, 256)] {
        let (oi, ri, di) = (o as isize, r as isize, d as isize);
        run(&format!("O={o} C*k*k={r} K={d}, dst row-major [O][C*k*k]"), (o, r, d), (1, ri), (1, di), (di, 1));
        run(&format!("O={o} C*k*k={r} K={d}, dst column-major [C*k*k][O]"), (o, r, d), (oi, 1), (1, di), (di, 1));
    }
    // Winograd weight gradient, one of its 16 GEMMs: dU[O, C] += Wt[O, T] · V[C, T]ᵀ over T
    // tiles, both operands stored tiles-contiguous (as the patch does), against a tiles-major
    // Wt stored [T][O] (what a transposed layout would buy); destination column-major.
    for (o, c, t) in [(64usize, 64usize, 256usize)] {
        let (oi, ti) = (o as isize, t as isize);
        run(&format!("winograd dW O={o} C={c} tiles={t}, Wt [O][T], V [C][T]"), (o, c, t), (oi, 1), (1, ti), (ti, 1));
        run(&format!("winograd dW O={o} C={c} tiles={t}, Wt [T][O], V [C][T]"), (o, c, t), (oi, 1), (oi, 1), (ti, 1));
    }
    // Forward: Y[O, W] = Wt[O, R] · COL[R, W], all row-major.
    for (o, r, w) in [(64, 576, 1024), (512, 4608, 512)] {
        let (ri, wi) = (r as isize, w as isize);
        run(&format!("forward O={o} C*k*k={r} positions={w}"), (o, w, r), (1, wi), (1, ri), (1, wi));
    }
    // A 3x3 convolution of one image, im2col's one GEMM (K = 9C) against nine shifted GEMMs
    // (implicit GEMM: K = C each, reading zero-padded planes of row pitch W + 1 at the tap's
    // offset and accumulating). Microseconds per image; the im2col copy itself is not timed.
    for (o, c, h) in [(64usize, 64usize, 16usize), (128, 128, 8), (64, 32, 16)] {
        let (p, k9, pitch) = (h * h, 9 * c, h + 1);
        let plane = (h + 2) * pitch + 2;
        let (wt, col, xp) = (vec![0.5f32; o * k9], vec![1.0f32; k9 * p], vec![1.0f32; c * plane]);
        let (mut y, mut y9) = (vec![0.0f32; o * p], vec![0.0f32; o * h * pitch]);
        let reps = 2000;
        let t = Instant::now();
        for _ in 0..reps {
            // SAFETY: wt [O, 9C], col [9C, P], y [O, P], all row-major.
            unsafe { gemm::gemm(o, p, k9, y.as_mut_ptr(), 1, p as isize, false, wt.as_ptr(), 1, k9 as isize,
                col.as_ptr(), 1, p as isize, 0.0f32, 1.0f32, false, false, false, gemm::Parallelism::None); }
        }
        let one = t.elapsed().as_secs_f64() / reps as f64;
        let t = Instant::now();
        for _ in 0..reps {
            for tap in 0..9 {
                let off = (tap / 3) * pitch + tap % 3;
                // SAFETY: the tap's [O, C] block of wt (row stride 9C); C rows of the padded
                // planes from the tap's offset, h·pitch values each, inside the plane.
                unsafe { gemm::gemm(o, h * pitch, c, y9.as_mut_ptr(), 1, (h * pitch) as isize, tap > 0,
                    wt.as_ptr().add(tap * c), 1, k9 as isize, xp.as_ptr().add(off), 1, plane as isize,
                    1.0f32, 1.0f32, false, false, false, gemm::Parallelism::None); }
            }
        }
        let nine = t.elapsed().as_secs_f64() / reps as f64;
        println!("conv {c}->{o} on {h}x{h}: im2col GEMM {:.1} us, nine shifted GEMMs {:.1} us", one * 1e6, nine * 1e6);
    }
}
RS
cd "$dir"
cargo build --release --quiet && echo "release:" && ./target/release/gemm-layouts
cargo build --profile dev-with-assertions --quiet && echo "opt-level 2 with debug assertions:" \
  && ./target/dev-with-assertions/gemm-layouts
