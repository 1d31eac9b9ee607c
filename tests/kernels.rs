//! The CPU kernels we carry a patch for (`vendor/burn-flex`, PATCHES.md) compute what their
//! definitions say: the forward 2D convolution and its weight gradient, against a plain f64 sum
//! over every (image, output position), for the shapes our networks use and the options they do
//! not (stride, dilation, groups, asymmetric padding, batches that span several chunks and
//! accumulators; 3×3 stride-1 layers with 48 or more channels, the shapes Winograd's F(2×2, 3×3)
//! takes, with partial tiles and every padding, up to ResNet-18's 512 channels); and the input
//! gradient (for stride 1 a forward convolution with the flipped kernel, otherwise a transposed
//! convolution whose col2im is patched) for the same cases — every case both with Winograd on
//! (the default) and off (`burn_flex::with_winograd`); and
//! batch normalisation (statistics, output, and all three gradients) against f64 formulas; and
//! 2×2 max pooling (values, indices, ties, NaN, odd sizes, gradient) against a plain scan.

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::module::{
    batch_norm, batch_norm_train, conv2d, conv2d_weight_backward, max_pool2d,
    max_pool2d_with_indices,
};
use burn::tensor::ops::ConvOptions;
use burn::tensor::ops::MaxPoolOptions;
use unlearnable::rng::Rng;

/// One convolution: input `[n, c, h, w]`, `o` output channels, a `k×k` kernel.
#[derive(Clone, Copy, Debug)]
struct Case {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: usize,
    stride: usize,
    /// Padding before (top, left) and after (bottom, right).
    pad: usize,
    pad_end: usize,
    dilation: usize,
    groups: usize,
}

fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

fn out_size(len: usize, case: &Case) -> usize {
    (len + case.pad + case.pad_end - case.dilation * (case.k - 1) - 1) / case.stride + 1
}

/// Every tap of the convolution: `f(x index, output-gradient index, weight index)` once for each
/// (image, output channel, input channel of its group, kernel position, output position) that
/// reads an input pixel inside the image (padding reads zero and is skipped).
fn for_each_tap(case: &Case, mut f: impl FnMut(usize, usize, usize)) {
    let (ho, wo) = (out_size(case.h, case), out_size(case.w, case));
    let cg = case.c / case.groups;
    let og = case.o / case.groups;
    let inside = |out: usize, tap: usize, len: usize| {
        let v = (out * case.stride + tap * case.dilation) as isize - case.pad as isize;
        (0..len as isize).contains(&v).then_some(v as usize)
    };
    for n in 0..case.n {
        for o in 0..case.o {
            for c in 0..cg {
                let ci = (o / og) * cg + c;
                for i in 0..case.k {
                    for j in 0..case.k {
                        let wi = ((o * cg + c) * case.k + i) * case.k + j;
                        for y in 0..ho {
                            let Some(iy) = inside(y, i, case.h) else {
                                continue;
                            };
                            for xo in 0..wo {
                                let Some(ix) = inside(xo, j, case.w) else {
                                    continue;
                                };
                                let xi = ((n * case.c + ci) * case.h + iy) * case.w + ix;
                                f(xi, ((n * case.o + o) * ho + y) * wo + xo, wi);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `dW[o, cg, i, j] = Σ gy[n, o, y, x] · x[n, g·Cg + cg, y·s + i·d − p, x·s + j·d − p]`, in f64.
fn reference(case: &Case, x: &[f32], gy: &[f32]) -> Vec<f64> {
    let mut dw = vec![0.0f64; case.o * (case.c / case.groups) * case.k * case.k];
    for_each_tap(case, |xi, gi, wi| {
        dw[wi] += f64::from(x[xi]) * f64::from(gy[gi]);
    });
    dw
}

fn options(case: &Case) -> ConvOptions<2> {
    ConvOptions::new_with_padding(
        [case.stride; 2],
        [(case.pad, case.pad_end); 2],
        [case.dilation; 2],
        case.groups,
    )
}

/// Largest difference to the reference, relative to the reference's largest magnitude.
fn check(case: Case) -> f64 {
    let device = Device::flex();
    let (ho, wo) = (out_size(case.h, &case), out_size(case.w, &case));
    let xs = values(case.n * case.c * case.h * case.w, 1);
    let gys = values(case.n * case.o * ho * wo, 2);
    let ws = values(case.o * (case.c / case.groups) * case.k * case.k, 3);
    let x = Tensor::<4>::from_data(
        TensorData::new(xs.clone(), [case.n, case.c, case.h, case.w]),
        &device,
    );
    let gy = Tensor::<4>::from_data(
        TensorData::new(gys.clone(), [case.n, case.o, ho, wo]),
        &device,
    );
    let w = Tensor::<4>::from_data(
        TensorData::new(ws, [case.o, case.c / case.groups, case.k, case.k]),
        &device,
    );
    let got = conv2d_weight_backward(x, w, gy, options(&case));
    assert_eq!(
        got.dims(),
        [case.o, case.c / case.groups, case.k, case.k],
        "{case:?}"
    );
    let got: Vec<f32> = got.into_data().try_to_vec::<f32>().expect("f32 gradient");
    relative_error(&got, &reference(&case, &xs, &gys))
}

/// Largest difference of `got` to `want`, relative to `want`'s largest magnitude.
fn relative_error(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1e-9f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .map(|(g, w)| (f64::from(*g) - w).abs() / scale)
        .fold(0.0, f64::max)
}

/// The shapes of our networks and the options they do not use.
fn cases() -> Vec<Case> {
    let base = Case {
        n: 2,
        c: 3,
        h: 9,
        w: 7,
        o: 4,
        k: 3,
        stride: 1,
        pad: 1,
        pad_end: 1,
        dilation: 1,
        groups: 1,
    };
    vec![
        base,
        // one image: the output gradient is used in place, not copied
        Case { n: 1, ..base },
        // stride 2 with padding (ResNet's down-sampling convolutions)
        Case { stride: 2, ..base },
        // no padding, dilation 2
        Case {
            pad: 0,
            pad_end: 0,
            dilation: 2,
            h: 11,
            w: 10,
            ..base
        },
        // 1x1 (ResNet's shortcut), stride 2
        Case {
            k: 1,
            pad: 0,
            pad_end: 0,
            stride: 2,
            ..base
        },
        // groups
        Case {
            c: 4,
            o: 6,
            groups: 2,
            ..base
        },
        // a batch of small maps: several chunks, several accumulators summed in order
        Case {
            n: 67,
            c: 5,
            h: 4,
            w: 4,
            o: 8,
            ..base
        },
        // a 5x5 kernel wider than the padding on a narrow map
        Case {
            k: 5,
            pad: 2,
            pad_end: 2,
            w: 3,
            ..base
        },
        // asymmetric padding ("same" for an even kernel), stride 1 and 2
        Case {
            k: 4,
            pad: 2,
            pad_end: 1,
            ..base
        },
        Case {
            pad: 0,
            pad_end: 1,
            stride: 2,
            ..base
        },
    ]
}

/// `y[n, o, y, x] = b[o] + Σ w[o, c − g·Cg, i, j] · x[n, c, y·s + i·d − p, x·s + j·d − p]`, in
/// f64.
fn reference_y(case: &Case, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
    let per_channel = out_size(case.h, case) * out_size(case.w, case);
    let mut y: Vec<f64> = (0..case.n * case.o * per_channel)
        .map(|i| f64::from(b[(i / per_channel) % case.o]))
        .collect();
    for_each_tap(case, |xi, yi, wi| {
        y[yi] += f64::from(x[xi]) * f64::from(w[wi]);
    });
    y
}

/// [`cases`], each also with more channels (the patched forward and input-gradient paths take
/// convolutions with more than 4 input or 16 output channels, burn-flex's own small-channel
/// kernel the rest), plus maps large enough for one image per GEMM, with and without several
/// chunks.
fn all_cases() -> Vec<Case> {
    let base = cases()[0];
    let wide = |c: Case| Case {
        c: c.c + 3 * c.groups,
        o: c.o + 4 * c.groups,
        ..c
    };
    let mut all: Vec<Case> = cases().into_iter().flat_map(|c| [c, wide(c)]).collect();
    all.push(Case {
        n: 3,
        c: 6,
        h: 24,
        w: 25,
        o: 9,
        ..base
    });
    all.push(Case {
        n: 1,
        c: 8,
        h: 40,
        w: 33,
        o: 20,
        ..base
    });
    // 3×3, stride 1, at least 48 channels in and out: Winograd F(2×2, 3×3) when on. Odd and even
    // sizes (partial tiles), no padding (its input gradient pads 2), asymmetric padding, maps
    // of one row or column, a batch of small maps (many chunks) and a map larger than one chunk.
    let winograd = Case {
        c: 49,
        o: 50,
        ..base
    };
    all.extend([
        winograd,
        Case {
            h: 8,
            w: 10,
            ..winograd
        },
        Case {
            pad: 0,
            pad_end: 0,
            ..winograd
        },
        Case {
            pad: 2,
            pad_end: 2,
            ..winograd
        },
        Case {
            pad: 0,
            pad_end: 1,
            ..winograd
        },
        Case {
            h: 1,
            w: 5,
            ..winograd
        },
        Case {
            h: 6,
            w: 1,
            ..winograd
        },
        Case {
            n: 67,
            h: 4,
            w: 4,
            ..winograd
        },
        Case {
            n: 2,
            c: 48,
            o: 48,
            h: 41,
            w: 38,
            ..winograd
        },
        // ResNet-18's stages at the `thorough` preset's 96 px, and a batch of small deep maps.
        Case {
            n: 1,
            c: 64,
            o: 64,
            h: 54,
            w: 96,
            ..winograd
        },
        Case {
            n: 1,
            c: 128,
            o: 128,
            h: 27,
            w: 48,
            ..winograd
        },
        Case {
            n: 2,
            c: 512,
            o: 512,
            h: 7,
            w: 12,
            ..winograd
        },
        Case {
            n: 16,
            c: 256,
            o: 256,
            h: 6,
            w: 6,
            ..winograd
        },
    ]);
    // Stride 1, at most 8 outputs from at least 256 input taps: the direct kernel when on. Widths
    // below, at and past one vector (16 lanes), paddings 0, 2 and asymmetric, 1 to 8 outputs,
    // one row, a 5×5 kernel; and an RGB input layer, whose input gradient is such a convolution
    // (32 → 3, the one every δ-step computes).
    let direct = Case {
        c: 32,
        o: 3,
        h: 9,
        w: 21,
        ..base
    };
    all.extend([
        direct,
        Case {
            o: 1,
            w: 16,
            ..direct
        },
        Case {
            o: 8,
            w: 5,
            ..direct
        },
        Case {
            o: 5,
            pad: 0,
            pad_end: 0,
            ..direct
        },
        Case {
            o: 7,
            pad: 2,
            pad_end: 2,
            ..direct
        },
        Case {
            pad: 0,
            pad_end: 1,
            h: 2,
            w: 40,
            ..direct
        },
        Case {
            k: 5,
            c: 11,
            pad: 2,
            pad_end: 2,
            ..direct
        },
        Case {
            n: 5,
            c: 29,
            o: 2,
            h: 33,
            w: 34,
            ..direct
        },
        Case {
            c: 3,
            o: 32,
            h: 20,
            w: 18,
            ..base
        },
    ]);
    all
}

/// `f()` with the patch's Winograd and direct kernels both on (the default) or both off
/// (im2col + GEMM for every shape they would take).
fn with_new_kernels<R>(on: bool, f: impl FnOnce() -> R) -> R {
    burn_flex::with_winograd(on, || burn_flex::with_direct_conv(on, f))
}

/// `f(case)` for every case of [`all_cases`], with the Winograd and direct kernels on and off;
/// `f` returns the relative error to the f64 definition, which must stay under 1e-5.
fn check_all(what: &str, f: impl Fn(Case) -> f64) {
    for on in [true, false] {
        for case in all_cases() {
            let err = with_new_kernels(on, || f(case));
            assert!(
                err < 1e-5,
                "{what}, new kernels {on}, {case:?}: relative error {err:e}"
            );
        }
    }
}

#[test]
fn forward_convolution_matches_its_definition() {
    check_all("forward", |case| {
        let device = Device::flex();
        let xs = values(case.n * case.c * case.h * case.w, 10);
        let ws = values(case.o * (case.c / case.groups) * case.k * case.k, 11);
        let bs = values(case.o, 12);
        let x = Tensor::<4>::from_data(
            TensorData::new(xs.clone(), [case.n, case.c, case.h, case.w]),
            &device,
        );
        let w = Tensor::<4>::from_data(
            TensorData::new(ws.clone(), [case.o, case.c / case.groups, case.k, case.k]),
            &device,
        );
        let b = Tensor::<1>::from_data(TensorData::new(bs.clone(), [case.o]), &device);
        let y = conv2d(x, w, Some(b), options(&case));
        let (ho, wo) = (out_size(case.h, &case), out_size(case.w, &case));
        assert_eq!(y.dims(), [case.n, case.o, ho, wo], "{case:?}");
        let got: Vec<f32> = y.into_data().try_to_vec::<f32>().expect("f32");
        let want = reference_y(&case, &xs, &ws, &bs);
        relative_error(&got, &want)
    });
}

#[test]
fn weight_gradient_matches_its_definition() {
    check_all("weight gradient", check);
}

/// `dx[n, c, iy, ix] = Σ gy[n, o, y, x] · w[o, c − g·Cg, i, j]` over the output positions that
/// read `(iy, ix)`, in f64.
fn reference_dx(case: &Case, w: &[f32], gy: &[f32]) -> Vec<f64> {
    let mut dx = vec![0.0f64; case.n * case.c * case.h * case.w];
    for_each_tap(case, |xi, gi, wi| {
        dx[xi] += f64::from(gy[gi]) * f64::from(w[wi]);
    });
    dx
}

#[test]
fn input_gradient_matches_its_definition() {
    // Through Burn's autodiff, as the δ-step uses it: d/dx Σ (conv(x, W) · g). Stride-1
    // convolutions take the patched path (a forward convolution with the flipped kernel), the
    // rest burn-flex's transposed convolution (with asymmetric padding cropped).
    check_all("input gradient", |case| {
        let device = Device::flex();
        let (ho, wo) = (out_size(case.h, &case), out_size(case.w, &case));
        let xs = values(case.n * case.c * case.h * case.w, 7);
        let gys = values(case.n * case.o * ho * wo, 8);
        let ws = values(case.o * (case.c / case.groups) * case.k * case.k, 9);
        let x = Tensor::<4>::from_data(
            TensorData::new(xs, [case.n, case.c, case.h, case.w]),
            &device,
        )
        .autodiff()
        .require_grad();
        let g = Tensor::<4>::from_data(
            TensorData::new(gys.clone(), [case.n, case.o, ho, wo]),
            &device,
        );
        let w = Tensor::<4>::from_data(
            TensorData::new(ws.clone(), [case.o, case.c / case.groups, case.k, case.k]),
            &device,
        );
        let loss = (conv2d(x.clone(), w.autodiff(), None, options(&case)) * g.autodiff()).sum();
        let grads = loss.backward();
        let got: Vec<f32> = x
            .grad(&grads)
            .expect("an input gradient")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let want = reference_dx(&case, &ws, &gys);
        assert_eq!(got.len(), want.len(), "{case:?}");
        relative_error(&got, &want)
    });
}

/// The forward convolution, its weight gradient and its input gradient of one case, as bits.
fn conv_bits(case: &Case) -> Vec<u32> {
    let device = Device::flex();
    let (ho, wo) = (out_size(case.h, case), out_size(case.w, case));
    let x = Tensor::<4>::from_data(
        TensorData::new(
            values(case.n * case.c * case.h * case.w, 21),
            [case.n, case.c, case.h, case.w],
        ),
        &device,
    );
    let w = Tensor::<4>::from_data(
        TensorData::new(
            values(case.o * case.c * case.k * case.k, 22),
            [case.o, case.c, case.k, case.k],
        ),
        &device,
    );
    let gy = Tensor::<4>::from_data(
        TensorData::new(
            values(case.n * case.o * ho * wo, 23),
            [case.n, case.o, ho, wo],
        ),
        &device,
    );
    let y = conv2d(x.clone(), w.clone(), None, options(case));
    let dw = conv2d_weight_backward(x.clone(), w.clone(), gy.clone(), options(case));
    let xg = x.autodiff().require_grad();
    let loss = (conv2d(xg.clone(), w.autodiff(), None, options(case)) * gy.autodiff()).sum();
    let dx = xg.grad(&loss.backward()).expect("an input gradient");
    [y.flatten::<1>(0, 3), dw.flatten(0, 3), dx.flatten(0, 3)]
        .into_iter()
        .flat_map(|t| t.into_data().try_to_vec::<f32>().expect("f32"))
        .map(f32::to_bits)
        .collect()
}

#[test]
fn convolutions_do_not_depend_on_the_number_of_threads() {
    // Protected pixels must be the same on a 2-core CI machine and a 16-core desktop: every
    // patched path (Winograd, im2col, several chunks and accumulators, and the GEMM's own
    // threading when a call has fewer chunks than threads) must give the same bits.
    let base = Case {
        n: 3,
        c: 49,
        h: 12,
        w: 11,
        o: 50,
        ..cases()[0]
    };
    let cases = [
        base,
        Case { n: 1, ..base },
        Case {
            n: 40,
            h: 4,
            w: 4,
            ..base
        },
        Case {
            n: 1,
            h: 50,
            w: 46,
            c: 48,
            o: 48,
            ..base
        },
        Case { c: 6, o: 9, ..base },
        Case { stride: 2, ..base },
        // the direct kernel: forward (32 → 3), input gradient (3 → 32), and one image split
        // over two channel blocks (7 outputs)
        Case {
            c: 32,
            o: 3,
            ..base
        },
        Case {
            c: 3,
            o: 32,
            ..base
        },
        Case {
            n: 1,
            c: 40,
            o: 7,
            ..base
        },
    ];
    for on in [true, false] {
        for case in cases {
            let runs: Vec<Vec<u32>> = [1, 2, 5]
                .into_iter()
                .map(|threads| {
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .expect("a thread pool")
                        .install(|| with_new_kernels(on, || conv_bits(&case)))
                })
                .collect();
            assert!(!runs[0].is_empty());
            assert!(
                runs.iter().all(|r| r == &runs[0]),
                "new kernels {on}, {case:?}: results differ between 1, 2 and 5 threads"
            );
        }
    }
}

#[test]
fn the_winograd_switch_reaches_forward_and_both_gradients() {
    // `with_winograd(false, …)` must reach every convolution it wraps, the autodiff backward
    // included, or the "off" half of the tests above would test Winograd twice. The two paths
    // round differently, so a 48-channel case gives other bits in each of the forward, the
    // weight gradient and the input gradient (`conv_bits`' three parts, in order); and the
    // setting comes back after the call.
    let case = Case {
        n: 2,
        c: 48,
        h: 10,
        w: 9,
        o: 48,
        ..cases()[0]
    };
    let on = conv_bits(&case);
    let off = burn_flex::with_winograd(false, || conv_bits(&case));
    let y = case.n * case.o * case.h * case.w;
    let dw = case.o * case.c * 9;
    let parts = |v: &[u32]| [v[..y].to_vec(), v[y..y + dw].to_vec(), v[y + dw..].to_vec()];
    for (name, (a, b)) in ["forward", "weight gradient", "input gradient"]
        .into_iter()
        .zip(parts(&on).into_iter().zip(parts(&off)))
    {
        assert_ne!(a, b, "{name}: the same bits with Winograd on and off");
    }
    assert_eq!(conv_bits(&case), on, "the default (on) did not come back");
}

#[test]
fn the_direct_switch_reaches_the_forward_and_the_input_gradient() {
    // As for Winograd: `with_direct_conv(false, …)` must reach the forward (64 → 3 outputs, the
    // direct kernel's shape) and the input gradient of a layer with 3 inputs (3 → 64, whose
    // gradient is a 64 → 3 convolution). Up to ~300 taps the GEMM here sums each output in the
    // same order with the same fused multiply-adds and the bits agree (so the RGB layer's 32 → 3
    // gradient, and the protected pixels, did not change: tests/golden.rs); past its depth
    // blocking they differ, which shows the switch took effect.
    let case = Case {
        n: 2,
        c: 64,
        h: 9,
        w: 40,
        o: 3,
        ..cases()[0]
    };
    let forward_len = case.n * case.o * case.h * case.w;
    let on = conv_bits(&case);
    let off = burn_flex::with_direct_conv(false, || conv_bits(&case));
    assert_ne!(
        on[..forward_len],
        off[..forward_len],
        "forward: same bits on and off"
    );
    let rgb = Case {
        c: 3,
        o: 64,
        ..case
    };
    let dx_len = rgb.n * rgb.c * rgb.h * rgb.w;
    let on = conv_bits(&rgb);
    let off = burn_flex::with_direct_conv(false, || conv_bits(&rgb));
    let dx = |v: &[u32]| v[v.len() - dx_len..].to_vec();
    assert_ne!(dx(&on), dx(&off), "input gradient: same bits on and off");
}

/// Whether every value of each `[h, w]` plane of `t` (`[n, c, h, w]`) at least `margin` from the
/// border has the same bits, and the index of the first plane where not.
fn interior_is_flat(t: Tensor<4>, margin: usize) -> Result<(), String> {
    let [n, c, h, w] = t.dims();
    let v: Vec<f32> = t.into_data().try_to_vec::<f32>().expect("f32");
    for plane in 0..n * c {
        let at = |y: usize, x: usize| v[(plane * h + y) * w + x].to_bits();
        let first = at(margin, margin);
        for y in margin..h - margin {
            for x in margin..w - margin {
                if at(y, x) != first {
                    return Err(format!(
                        "plane {plane}: ({y}, {x}) = {} but ({margin}, {margin}) = {}",
                        f32::from_bits(at(y, x)),
                        f32::from_bits(first)
                    ));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn a_flat_image_gets_a_flat_gradient() {
    // The δ-step moves each pixel by the *sign* of the input gradient. Where a photo is flat
    // (a sky) the true gradient is the same at every pixel away from the border, and the
    // convolutions must give the same bits there, or rounding that depends on the position
    // would become a position-periodic sign pattern. Winograd's four outputs of a tile use
    // different sums, but on a flat patch only one transformed entry is non-zero and all four
    // reduce to it, so both paths keep a flat region flat. Three 3×3 layers, 3 → 48 → 64 → 64
    // channels (the last two the shapes Winograd takes), ReLU between, on a batch of flat
    // images of different colours.
    for winograd in [true, false] {
        burn_flex::with_winograd(winograd, flat_image_gets_a_flat_gradient);
    }
}

fn flat_image_gets_a_flat_gradient() {
    let device = Device::flex();
    let (n, h, w) = (2, 20, 22);
    let colours = [0.2f32, -0.5, 0.7, 0.1, 0.4, -0.3];
    let xs: Vec<f32> = (0..n * 3)
        .flat_map(|plane| std::iter::repeat_n(colours[plane], h * w))
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(xs, [n, 3, h, w]), &device)
        .autodiff()
        .require_grad();
    let same = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let mut y = x.clone();
    for (i, (c, o)) in [(3, 48), (48, 64), (64, 64)].into_iter().enumerate() {
        let ws = values(o * c * 9, 30 + i as u64);
        let wt = Tensor::<4>::from_data(TensorData::new(ws, [o, c, 3, 3]), &device);
        y = conv2d(y, wt.autodiff(), None, same.clone());
        if i < 2 {
            y = burn::tensor::activation::relu(y);
        }
    }
    // Output margin 3 (three layers of reach 1); input-gradient margin 6.
    interior_is_flat(y.clone().inner(), 3).unwrap_or_else(|e| panic!("forward: {e}"));
    let loss = (y.clone() * y).sum();
    let dx = x.grad(&loss.backward()).expect("an input gradient");
    interior_is_flat(dx, 6).unwrap_or_else(|e| panic!("input gradient: {e}"));
}

#[test]
fn autodiff_uses_the_same_weight_gradient() {
    // Through Burn's autodiff, as training uses it: d/dW Σ (conv(x, W) · g) = the kernel's
    // weight gradient for output gradient g.
    let case = Case {
        n: 5,
        c: 3,
        h: 8,
        w: 8,
        o: 4,
        k: 3,
        stride: 1,
        pad: 1,
        pad_end: 1,
        dilation: 1,
        groups: 1,
    };
    let device = Device::flex();
    let xs = values(case.n * case.c * case.h * case.w, 4);
    let gys = values(case.n * case.o * case.h * case.w, 5);
    let x = Tensor::<4>::from_data(TensorData::new(xs.clone(), [5, 3, 8, 8]), &device);
    let g = Tensor::<4>::from_data(TensorData::new(gys.clone(), [5, 4, 8, 8]), &device);
    let w = Tensor::<4>::from_data(TensorData::new(values(4 * 3 * 9, 6), [4, 3, 3, 3]), &device)
        .autodiff()
        .require_grad();
    let loss = (conv2d(x.autodiff(), w.clone(), None, options(&case)) * g.autodiff()).sum();
    let grads = loss.backward();
    let got: Vec<f32> = w
        .grad(&grads)
        .expect("a weight gradient")
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32");
    let want = reference(&case, &xs, &gys);
    for (a, b) in got.iter().zip(&want) {
        assert!((f64::from(*a) - b).abs() < 1e-4, "{a} vs {b}");
    }
}

/// Batch normalisation of `x` (`[n, c, plane]` flattened) in f64: per channel mean, biased
/// variance, `y = γ·x̂ + β`, and for output gradient `g`: `dβ = Σ g`, `dγ = Σ g·x̂`,
/// `dx = γ·s·(g − dβ/M − x̂·dγ/M)`.
struct BnReference {
    mean: Vec<f64>,
    var: Vec<f64>,
    y: Vec<f64>,
    dx: Vec<f64>,
    dgamma: Vec<f64>,
    dbeta: Vec<f64>,
}

fn bn_reference(
    dims: [usize; 3],
    x: &[f32],
    g: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f64,
) -> BnReference {
    let [n, c, plane] = dims;
    let m = (n * plane) as f64;
    let idx = |i: usize, ch: usize, p: usize| (i * c + ch) * plane + p;
    let each = |ch: usize, f: &dyn Fn(usize) -> f64| -> f64 {
        (0..n)
            .flat_map(|i| (0..plane).map(move |p| idx(i, ch, p)))
            .map(f)
            .sum()
    };
    let mean: Vec<f64> = (0..c)
        .map(|ch| each(ch, &|k| f64::from(x[k])) / m)
        .collect();
    let var: Vec<f64> = (0..c)
        .map(|ch| each(ch, &|k| (f64::from(x[k]) - mean[ch]).powi(2)) / m)
        .collect();
    let s: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let xhat = |k: usize| {
        let ch = (k / plane) % c;
        (f64::from(x[k]) - mean[ch]) * s[ch]
    };
    let dbeta: Vec<f64> = (0..c).map(|ch| each(ch, &|k| f64::from(g[k]))).collect();
    let dgamma: Vec<f64> = (0..c)
        .map(|ch| each(ch, &|k| f64::from(g[k]) * xhat(k)))
        .collect();
    let y = (0..x.len())
        .map(|k| {
            let ch = (k / plane) % c;
            f64::from(gamma[ch]) * xhat(k) + f64::from(beta[ch])
        })
        .collect();
    let dx = (0..x.len())
        .map(|k| {
            let ch = (k / plane) % c;
            f64::from(gamma[ch])
                * s[ch]
                * (f64::from(g[k]) - dbeta[ch] / m - xhat(k) * dgamma[ch] / m)
        })
        .collect();
    BnReference {
        mean,
        var,
        y,
        dx,
        dgamma,
        dbeta,
    }
}

fn assert_close(what: &str, got: Tensor<1>, want: &[f64], tol: f64) {
    let got: Vec<f32> = got.into_data().try_to_vec::<f32>().expect("f32");
    let err = relative_error(&got, want);
    assert!(err < tol, "{what}: relative error {err:e}");
}

#[test]
fn batch_norm_matches_its_definition() {
    let device = Device::flex();
    let eps = 1e-5;
    // A conv map (statistics over images and pixels) and a flat [n, c] batch (one value per
    // image and channel); an offset and scale per channel as real activations have.
    for shape in [[5usize, 6, 7, 3], [9, 4, 1, 1]] {
        let [n, c, h, w] = shape;
        let plane = h * w;
        let len = n * c * plane;
        let xs: Vec<f32> = values(len, 20)
            .iter()
            .enumerate()
            .map(|(k, v)| v * (1.0 + ((k / plane) % c) as f32) + 3.0)
            .collect();
        let gs = values(len, 21);
        let gamma = values(c, 22);
        let beta = values(c, 23);
        let r = bn_reference([n, c, plane], &xs, &gs, &gamma, &beta, eps);
        let x = Tensor::<4>::from_data(TensorData::new(xs.clone(), shape), &device)
            .autodiff()
            .require_grad();
        let gm = Tensor::<1>::from_data(TensorData::new(gamma.clone(), [c]), &device)
            .autodiff()
            .require_grad();
        let bt = Tensor::<1>::from_data(TensorData::new(beta.clone(), [c]), &device)
            .autodiff()
            .require_grad();
        let g = Tensor::<4>::from_data(TensorData::new(gs.clone(), shape), &device);
        let out = batch_norm_train(x.clone(), gm.clone(), bt.clone(), eps);
        assert_close("mean", out.mean.inner(), &r.mean, 1e-6);
        assert_close("variance", out.variance.inner(), &r.var, 1e-6);
        assert_close(
            "output",
            out.output.clone().inner().flatten(0, 3),
            &r.y,
            1e-5,
        );
        let grads = (out.output * g.autodiff()).sum().backward();
        let dx = x.grad(&grads).expect("an input gradient");
        assert_close("dx", dx.flatten(0, 3), &r.dx, 1e-5);
        assert_close(
            "dgamma",
            gm.grad(&grads).expect("a gamma gradient"),
            &r.dgamma,
            1e-5,
        );
        assert_close(
            "dbeta",
            bt.grad(&grads).expect("a beta gradient"),
            &r.dbeta,
            1e-5,
        );
        // Inference with the batch's own statistics gives the same output.
        let stat = |v: &[f64]| {
            let v: Vec<f32> = v.iter().map(|&v| v as f32).collect();
            Tensor::<1>::from_data(TensorData::new(v, [c]), &device)
        };
        let y = batch_norm(
            Tensor::<4>::from_data(TensorData::new(xs, shape), &device),
            Tensor::<1>::from_data(TensorData::new(gamma, [c]), &device),
            Tensor::<1>::from_data(TensorData::new(beta, [c]), &device),
            stat(&r.mean),
            stat(&r.var),
            eps,
        );
        assert_close("inference output", y.flatten(0, 3), &r.y, 1e-5);
    }
}

#[test]
fn max_pool_2x2_matches_a_plain_scan() {
    // Odd sizes (the last row and column are dropped), ties (the first maximum of the window,
    // scanned row by row, wins) and NaN (wins over everything, the last NaN of the window).
    let (n, c, h, w) = (2, 3, 7, 9);
    let mut xs: Vec<f32> = values(n * c * h * w, 30)
        .iter()
        .map(|v| (v * 4.0).round() / 4.0)
        .collect();
    xs[1] = f32::NAN;
    xs[w + 1] = f32::NAN;
    xs[2 * w + 3] = 7.0;
    xs[3 * w + 2] = 7.0;
    let (ho, wo) = (h / 2, w / 2);
    let mut want = Vec::new();
    let mut want_idx = Vec::new();
    for p in 0..n * c {
        for oh in 0..ho {
            for ow in 0..wo {
                let mut best: Option<(f32, usize)> = None;
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let i = (2 * oh + dy) * w + 2 * ow + dx;
                    let v = xs[p * h * w + i];
                    if best.is_none_or(|(m, _)| v > m || v.is_nan()) {
                        best = Some((v, i));
                    }
                }
                let (m, i) = best.expect("a window");
                want.push(m);
                want_idx.push(i as i64);
            }
        }
    }
    let device = Device::flex();
    let mut options = MaxPoolOptions::new([2, 2]);
    options.stride = [2, 2];
    let x = Tensor::<4>::from_data(TensorData::new(xs.clone(), [n, c, h, w]), &device);
    let same = |got: &[f32]| {
        got.iter()
            .zip(&want)
            .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()))
    };
    let (y, idx) = max_pool2d_with_indices(x.clone(), options.clone());
    assert_eq!(y.dims(), [n, c, ho, wo]);
    assert!(same(&y.into_data().try_to_vec::<f32>().expect("f32")));
    let idx: Vec<i64> = idx
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .expect("indices");
    assert_eq!(idx, want_idx);
    assert!(same(
        &max_pool2d(x, options.clone())
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32")
    ));
    // The gradient lands on each window's maximum (finite inputs).
    let finite: Vec<f32> = xs
        .iter()
        .map(|v| if v.is_nan() { 9.0 } else { *v })
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(finite.clone(), [n, c, h, w]), &device)
        .autodiff()
        .require_grad();
    let g = values(n * c * ho * wo, 31);
    let gt = Tensor::<4>::from_data(TensorData::new(g.clone(), [n, c, ho, wo]), &device);
    let grads = (max_pool2d(x.clone(), options).mul(gt.autodiff()))
        .sum()
        .backward();
    let dx: Vec<f32> = x
        .grad(&grads)
        .expect("a gradient")
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32");
    let mut want_dx = vec![0.0f32; finite.len()];
    for p in 0..n * c {
        for o in 0..ho * wo {
            let k = p * ho * wo + o;
            let window = |i: usize| finite[p * h * w + i];
            let (oh, ow) = (o / wo, o % wo);
            let mut bi = 2 * oh * w + 2 * ow;
            for i in [bi + 1, bi + w, bi + w + 1] {
                if window(i) > window(bi) {
                    bi = i;
                }
            }
            want_dx[p * h * w + bi] += g[k];
        }
    }
    assert_eq!(dx, want_dx);
}
