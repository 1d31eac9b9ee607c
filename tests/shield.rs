//! The `shield` method: invisible where `em` is visible (on the real sample photos, measured as
//! people see it), and its differentiable transforms behave like the real operations.

mod common;

use std::path::Path;

use burn::prelude::*;
use burn::tensor::TensorData;
use unlearnable::config::{MethodConfig, Quality, ShieldConfig};
use unlearnable::manifest::Manifest;
use unlearnable::protect::shield::{jpeg::diff_jpeg, transforms};
use unlearnable::{MethodId, ProtectConfig, Strength};

use common::*;

fn protect(input: &Path, out: &Path, cfg: ProtectConfig) -> Manifest {
    run_protect(vec![input.to_path_buf()], out.to_path_buf(), cfg).manifest
}

fn quick_shield() -> ProtectConfig {
    let mut cfg = ProtectConfig::new(MethodId::Shield, Strength::Medium);
    let mut s = ShieldConfig::default();
    s.train.quality = Quality::Fast;
    s.train.max_rounds = Some(2);
    cfg.method = MethodConfig::Shield(s);
    cfg.seed = 1;
    cfg
}

#[test]
fn shield_is_invisible_on_the_samples_where_em_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let shield = protect(&samples_dir(), &dir.path().join("shield"), quick_shield());
    assert_eq!(shield.summary.done, 5, "{:?}", shield.errors);
    let em = protect(
        &samples_dir(),
        &dir.path().join("em"),
        ProtectConfig::new(MethodId::Em, Strength::Medium),
    );
    assert_eq!(em.summary.done, 5);
    let s = &shield.summary;
    let report = |m: &Manifest| {
        m.images
            .iter()
            .map(|r| {
                let v = &r.visibility;
                format!(
                    "{}: {:.1} dB, SSIM {:.3}, cast {:.2}/{:.2}, flat {:.2}/255 over {:.0} %",
                    r.source.file_name().unwrap().to_string_lossy(),
                    v.psnr_db,
                    v.ssim,
                    v.cast_de00,
                    v.cast_de00_p99,
                    v.flat_noise_255,
                    v.flat_share * 100.0
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let shield_text = report(&shield);
    let em_text = report(&em);
    eprintln!("shield:\n{shield_text}\nem:\n{em_text}");
    // The targets at Medium (ε = 8/255).
    assert!(s.mean_psnr_db.unwrap() >= 35.0, "{shield_text}");
    assert!(
        s.mean_ssim.unwrap() >= 0.97 && s.worst_ssim.unwrap() >= 0.93,
        "{shield_text}"
    );
    assert!(s.mean_cast_de00.unwrap() <= 0.8, "{shield_text}");
    // The p99 target (≤ 2) is NOT met yet: the pattern lives at the scraper's
    // resolution, so in strongly textured regions (full ε) it survives the cast blur as a
    // luma shift of ΔE00 2.1–2.5 at the 99th percentile. This guards today's level.
    assert!(s.worst_cast_de00_p99.unwrap() <= 2.6, "{shield_text}");
    assert!(s.worst_flat_noise_255.unwrap() <= 1.5, "{shield_text}");
    // ε stays the hard cap, and the change is the same on every channel (no colour).
    assert!(shield.images.iter().all(|r| r.epsilon_used_255 <= 8));
    for r in &shield.images {
        // The app's own decode (libjpeg-turbo when installed), which ε is measured against.
        let a = unlearnable::imaging::load_photo(&r.source, &Default::default())
            .unwrap()
            .rgb;
        let b = image::open(&r.output).unwrap().to_rgb8();
        let unequal = a
            .pixels()
            .zip(b.pixels())
            .filter(|(p, q)| {
                let d: Vec<i32> = (0..3)
                    .map(|c| i32::from(q.0[c]) - i32::from(p.0[c]))
                    .collect();
                // Clipping at 0/255 may shorten one channel's change.
                let clipped = (0..3).any(|c| q.0[c] == 0 || q.0[c] == 255);
                !clipped && (d[0] != d[1] || d[1] != d[2])
            })
            .count();
        assert_eq!(unequal, 0, "{}", r.source.display());
    }
    // The metric sees what the eye sees: today's `em` fails the flat-area figure.
    assert!(
        em.summary.worst_flat_noise_255.unwrap() > 1.5,
        "em should be visibly grainy in flat areas:\n{em_text}"
    );
    assert!(
        em.summary.mean_flat_noise_255.unwrap() > 2.0 * s.mean_flat_noise_255.unwrap(),
        "{em_text}\n{shield_text}"
    );
}

fn tensor(v: Vec<f32>, shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// A smooth image `[1, 3, n, n]` with values well inside (0, 1).
fn smooth_image(n: usize, phase: f32) -> Vec<f32> {
    (0..3 * n * n)
        .map(|i| {
            let (c, y, x) = (i / (n * n), (i / n) % n, i % n);
            0.5 + 0.3
                * ((x as f32 * 0.21 + phase + c as f32).sin() * (y as f32 * 0.17 - phase).cos())
        })
        .collect()
}

/// Directional derivative of `Σ w·f(x)` along `dir`: autodiff against central differences.
fn check_direction(
    f: &dyn Fn(Tensor<4>, &Device) -> Tensor<4>,
    n: usize,
    h: f32,
    seed: u32,
) -> (f32, f32) {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let x = smooth_image(n, seed as f32);
    let dir = smooth_image(n, 7.0 + seed as f32)
        .iter()
        .map(|v| v - 0.5)
        .collect::<Vec<_>>();
    let w = smooth_image(n, 3.0 * seed as f32 + 1.0);
    let objective = |x: Tensor<4>, dev: &Device| -> Tensor<1> {
        let out = f(x, dev);
        let out_shape = out.dims();
        let wt = tensor(w[..out_shape.iter().product()].to_vec(), out_shape, dev);
        (out * wt).sum()
    };
    let xt = tensor(x.clone(), [1, 3, n, n], &ad).require_grad();
    let grads = objective(xt.clone(), &ad).backward();
    let g: Vec<f32> = xt
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let analytic: f32 = g.iter().zip(&dir).map(|(a, b)| a * b).sum();
    let shifted = |s: f32| -> f32 {
        let v: Vec<f32> = x.iter().zip(&dir).map(|(a, d)| a + s * d).collect();
        objective(tensor(v, [1, 3, n, n], &device), &device).into_scalar::<f32>()
    };
    let numeric = (shifted(h) - shifted(-h)) / (2.0 * h);
    (analytic, numeric)
}

#[test]
fn resize_gradients_match_finite_differences() {
    let mut rng = unlearnable::rng::Rng::new(4);
    let cfg = transforms::TransformConfig {
        p_jpeg: 0.0,
        p_noise: 0.0,
        p_rescale: 1.0,
        ..Default::default()
    };
    for seed in 0..4 {
        let d = transforms::draw(&cfg, 1, 32, 32, &mut rng);
        let (a, n) = check_direction(&|x, dev| transforms::apply(x, &d, dev), 32, 1e-2, seed);
        assert!(a.signum() == n.signum(), "{}: {a} vs {n}", d.describe());
        assert!(
            (a - n).abs() <= 1e-2 * a.abs().max(1.0),
            "{}: {a} vs {n}",
            d.describe()
        );
    }
}

#[test]
fn jpeg_gradients_agree_in_sign_with_finite_differences() {
    // The forward pass rounds, so differences are taken over a step large enough to cross
    // many quantisation levels (±0.1 along a smooth direction, peak ±8/255); the
    // straight-through gradient ignores what quantisation removes, so it may overshoot.
    for subsample in [false, true] {
        for seed in 0..4 {
            let f = |x, dev: &Device| diff_jpeg(x, &[75], subsample, dev);
            let (a, n) = check_direction(&f, 32, 0.1, seed);
            eprintln!("4:2:0 {subsample} seed {seed}: autodiff {a:.3}, differences {n:.3}");
            assert!(a.signum() == n.signum(), "seed {seed}: {a} vs {n}");
            assert!(a / n > 0.33 && a / n < 3.0, "seed {seed}: {a} vs {n}");
        }
    }
}

#[test]
fn differentiable_jpeg_tracks_the_real_encoder() {
    // Real photos (the samples, cropped to 64×64 tiles), encoded and decoded by the `image`
    // crate, against the differentiable approximation: within 1.6/255 mean absolute error,
    // and closer to the real JPEG than the uncompressed input is.
    let device = Device::flex();
    let mut checked = 0;
    for entry in std::fs::read_dir(samples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("jpg") {
            continue;
        }
        let photo = image::open(&path).unwrap().to_rgb8();
        let tile = image::imageops::crop_imm(&photo, photo.width() / 3, photo.height() / 3, 64, 64)
            .to_image();
        for quality in [50u8, 75, 95] {
            let real = unlearnable::eval::defence::jpeg_round_trip(&tile, quality);
            let planar = unlearnable::imaging::Planar::from_rgb8(&tile);
            let input = tensor(planar.data.clone(), [1, 3, 64, 64], &device);
            // The `image` crate writes 4:4:4 (no chroma subsampling).
            let out = diff_jpeg(input, &[quality], false, &device);
            let approx: Vec<f32> = out.into_data().try_to_vec::<f32>().unwrap();
            let real = unlearnable::imaging::Planar::from_rgb8(&real);
            let mae = |a: &[f32]| -> f32 {
                a.iter()
                    .zip(&real.data)
                    .map(|(p, q)| (p - q).abs())
                    .sum::<f32>()
                    / a.len() as f32
                    * 255.0
            };
            let (ours, input) = (mae(&approx), mae(&planar.data));
            eprintln!(
                "{} q{quality}: diff-JPEG {ours:.2}/255, input {input:.2}/255",
                path.display()
            );
            // A real codec rounds to whole 8-bit steps several times (colour conversion,
            // integer DCTs, output): about 1/255 of error that the approximation leaves out.
            assert!(ours < 1.6, "{} q{quality}: {ours}", path.display());
            if quality <= 75 {
                assert!(
                    ours < input,
                    "{} q{quality}: {ours} vs {input}",
                    path.display()
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 5);
}
