//! Diffusion purification (`diffusion`, `le` defences of `evaluate`) on real CIFAR-10 images:
//! a small model trained on other images than the ones purified changes them (measured PSNR),
//! is seeded, keeps the guided (LE) version closer to its input than the unguided one, and
//! drowns a ±8/255 shortcut pattern.

mod common;

use unlearnable::CancelToken;
use unlearnable::eval::diffusion::{DiffusionConfig, Purifier, T, alpha_bar, train};
use unlearnable::eval::load_split_from;
use unlearnable::progress::NullSink;

use common::*;

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
}

fn mean_psnr(a: &[image::RgbImage], b: &[image::RgbImage]) -> f64 {
    a.iter().zip(b).map(|(x, y)| psnr(x, y)).sum::<f64>() / a.len() as f64
}

#[test]
fn the_noise_schedule_is_ddpm_linear() {
    let ab = alpha_bar();
    assert_eq!(ab.len(), T + 1);
    assert_eq!(ab[0], 1.0);
    assert!(ab.windows(2).all(|w| w[1] < w[0]));
    // t = 100 keeps ᾱ ≈ 0.90 (noise σ ≈ 0.32 on [−1, 1]); t = 1000 is almost pure noise.
    assert!((ab[100] - 0.897).abs() < 0.01, "{}", ab[100]);
    assert!(ab[T] < 1e-4);
}

/// The CI-sized model (~1.5 min on 2 cores; measured on CIFAR: 800 steps keep 0.85 of the
/// 8 checkerboard levels), trained with seed 1 on `images` (whole 32-px images, or 32-px
/// crops of larger photos).
fn ci_sized_model(images: &[image::RgbImage]) -> Purifier {
    let cfg = DiffusionConfig {
        steps: 400,
        batch_size: 16,
        channels: 16,
        reverse_steps: 5,
        ..DiffusionConfig::default()
    };
    let device = burn::tensor::Device::flex();
    train(images, &cfg, 1, &device, &NullSink, &CancelToken::new()).unwrap()
}

fn small_purifier(dir: &std::path::Path) -> (Purifier, Vec<image::RgbImage>) {
    let root = cifar_subset(dir, "train", 40)
        .parent()
        .unwrap()
        .to_path_buf();
    // The model learns from images 20–39 of each class, and purifies images 0–1.
    let held = load_split_from(&root, "train", 20, 20, false).unwrap();
    let p = ci_sized_model(&held.images);
    let purified = unlearnable::eval::load_split(&root, "train", 2, false)
        .unwrap()
        .images;
    (p, purified)
}

#[test]
fn purification_changes_images_is_seeded_and_guidance_keeps_content_closer() {
    if !have_shared(CIFAR) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (p, images) = small_purifier(dir.path());
    assert!(
        p.final_loss.is_finite() && p.final_loss < 1.0,
        "loss {}",
        p.final_loss
    );
    let cancel = CancelToken::new();
    let avatar = p.purify(&images, 100, 1, false, 3, &cancel).unwrap();
    let again = p.purify(&images, 100, 1, false, 3, &cancel).unwrap();
    let other = p.purify(&images, 100, 1, false, 4, &cancel).unwrap();
    assert_eq!(avatar, again, "same seed, same purification");
    assert_ne!(avatar, other, "other seed, other noise");
    let le = p.purify(&images, 20, 4, true, 3, &cancel).unwrap();
    let (pa, pl) = (mean_psnr(&images, &avatar), mean_psnr(&images, &le));
    eprintln!("PSNR to the input: diffusion t*=100 {pa:.1} dB, LE 4×20 {pl:.1} dB");
    assert!(pa < 30.0, "diffusion must change the images ({pa} dB)");
    assert!(pa > 10.0, "and keep the picture ({pa} dB)");
    assert!(
        pl > pa,
        "LE's guidance keeps it closer to the input: {pl} vs {pa}"
    );
    assert!(pl < 40.0, "LE still changes the images ({pl} dB)");

    // A ±8/255 checkerboard (a shortcut pattern) is mostly washed out.
    let kept = checkerboard_kept(&p, &images, &avatar);
    eprintln!("checkerboard amplitude kept: {kept:.2} of 8 levels");
    assert!(kept < 3.0, "{kept}");
}

/// What survives of a ±8/255 checkerboard added to `images`: the mean signed amplitude of
/// purified(x + pattern) − purified(x) in 8-bit levels (`purified` = `images` purified with
/// t* = 100 and seed 3).
fn checkerboard_kept(
    p: &Purifier,
    images: &[image::RgbImage],
    purified: &[image::RgbImage],
) -> f64 {
    let patterned: Vec<image::RgbImage> = images
        .iter()
        .map(|img| {
            image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
                let s: i16 = if (x + y) % 2 == 0 { 8 } else { -8 };
                image::Rgb(
                    img.get_pixel(x, y)
                        .0
                        .map(|v| (i16::from(v) + s).clamp(0, 255) as u8),
                )
            })
        })
        .collect();
    let pp = p
        .purify(&patterned, 100, 1, false, 3, &CancelToken::new())
        .unwrap();
    let pixels: u32 = images.iter().map(|i| i.width() * i.height()).sum();
    pp.iter()
        .zip(purified)
        .flat_map(|(a, b)| {
            a.enumerate_pixels().map(move |(x, y, pa)| {
                let s = if (x + y) % 2 == 0 { 1.0 } else { -1.0 };
                let pb = b.get_pixel(x, y);
                (0..3)
                    .map(|c| s * (f64::from(pa[c]) - f64::from(pb[c])))
                    .sum::<f64>()
                    / 3.0
            })
        })
        .sum::<f64>()
        / f64::from(pixels)
}

#[test]
fn real_photos_are_purified_whole_at_their_own_size_by_a_model_trained_on_crops() {
    if !have_shared(IMAGENETTE) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    imagenette_subset(dir.path(), &["train"]);
    // The model learns from 32-px crops of photos 40–49 of each class (224 px, as
    // `evaluate --train-size` does) and purifies photos 0–1 whole, plus one resized to sides
    // that are not multiples of 4.
    let held = load_split_from(dir.path(), "train", 40, 10, true).unwrap();
    assert_eq!(held.images[0].dimensions(), (224, 224));
    let p = ci_sized_model(&held.images);
    let mut images = unlearnable::eval::load_split(dir.path(), "train", 2, true)
        .unwrap()
        .images;
    let odd = image::imageops::resize(&images[0], 150, 101, image::imageops::FilterType::Triangle);
    images.push(odd);
    let purified = p
        .purify(&images, 100, 1, false, 3, &CancelToken::new())
        .unwrap();
    for (a, b) in images.iter().zip(&purified) {
        assert_eq!(a.dimensions(), b.dimensions());
    }
    let pa = mean_psnr(&images, &purified);
    eprintln!("PSNR to the input, photos at native size: {pa:.1} dB");
    assert!(pa < 30.0, "diffusion must change the photos ({pa} dB)");
    assert!(pa > 15.0, "and keep the picture ({pa} dB)");
    let kept = checkerboard_kept(&p, &images, &purified);
    eprintln!("checkerboard amplitude kept on photos: {kept:.2} of 8 levels");
    assert!(kept < 3.0, "{kept}");
}
