//! Defences an exploiter may apply to protected training data (methods.md §8–9), used to *test*
//! protection. Static defences transform each training image once; UEraser is a random
//! augmentation applied at every training step (see [`super::augment`]); adversarial training
//! perturbs every batch against the model being trained (see `super::trainer`).

use image::{ImageEncoder, RgbImage};
use serde::{Deserialize, Serialize};

/// One defence.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Defence {
    /// Convert to grayscale (ISS, Liu et al. 2023): removes colour-based shortcuts.
    Grayscale,
    /// JPEG re-encoding at a quality (10 in the literature, ~75 on social media).
    Jpeg {
        /// JPEG quality 1–100.
        quality: u8,
    },
    /// Bit-depth reduction: keep the top `bits` bits of each channel.
    BitDepth {
        /// Bits kept, 1–8.
        bits: u8,
    },
    /// Downscale by `factor`, then upscale back (bilinear).
    Rescale {
        /// Downscale factor ≥ 2.
        factor: u32,
    },
    /// UEraser-lite training augmentation (Qin et al. 2023): plasma brightness/contrast, channel
    /// shuffle and one random TrivialAugment-style op per image and step; with `repeats > 1`, the
    /// loss-maximising of that many augmented copies is trained on (UEraser-max).
    Ueraser {
        /// Augmented copies per batch (1 = lite).
        repeats: u32,
    },
    /// What sharing on the web does: downscale ×2, JPEG at quality 75 at that size, and (so
    /// the training pipeline sees the usual size) back up. The downscale keeps the shortcut's
    /// low frequencies only; the JPEG removes fine grain.
    Share,
    /// A cheap stand-in for diffusion purification (DiffPure, AVATAR; Dolatabadi et al. 2023):
    /// what the forward process does — Gaussian noise of `sigma_255`/255, which drowns a
    /// small perturbation — then a denoiser, here a Gaussian blur (σ = 1 px) in place of the
    /// learned reverse process. Seeded by the image's own pixels, so runs repeat exactly.
    PurifyLite {
        /// Standard deviation of the added noise, in 1/255 units.
        sigma_255: u8,
    },
    /// Diffusion purification (AVATAR; Dolatabadi et al. 2023): noise to step `t` of 1 000, then
    /// the learned reverse process (see [`super::diffusion`]; `evaluate` trains the model).
    Diffusion {
        /// t* in steps of 1 000 (100 = the paper's released data, 60 = APBench).
        t: u16,
    },
    /// Learnable examples / JCDP (Jiang et al. 2023): rounds of diffusion to step `t` with the
    /// reverse process guided back towards the input (see [`super::diffusion`]).
    LearnableExamples {
        /// t* of each round, in steps of 1 000.
        t: u16,
    },
    /// Adversarial training (Madry et al. 2018; the strongest known defence against EM, and
    /// expensive: every step first attacks the batch). Each batch is replaced by its PGD
    /// adversarial version within `eps_255`/255 (L∞, 5 steps of 2.5·ε/5) before the update.
    Adversarial {
        /// Attack budget in 1/255 units.
        eps_255: u8,
    },
}

impl Defence {
    /// Parse one defence: `grayscale`, `jpeg10`, `jpeg75`, `jpeg:Q`, `bits2`, `bits:N`,
    /// `downscale2`, `rescale:F`, `ueraser-lite`, `ueraser-max`, `ueraser:K`, `purify-lite`,
    /// `purify:S`, `diffusion`, `diffusion:T`, `le`, `le:T`, `adv4`, `adv:E`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let num = |rest: &str, what: &str| {
            rest.trim_start_matches(':')
                .parse::<u32>()
                .map_err(|_| format!("bad {what} in '{s}'"))
        };
        let d = match s {
            "grayscale" | "greyscale" | "gray" => Defence::Grayscale,
            "share" => Defence::Share,
            "ueraser-lite" | "ueraser" => Defence::Ueraser { repeats: 1 },
            "ueraser-max" => Defence::Ueraser { repeats: 5 },
            "purify-lite" => Defence::PurifyLite { sigma_255: 16 },
            "diffusion" | "avatar" => Defence::Diffusion { t: 100 },
            "le" | "jcdp" => Defence::LearnableExamples { t: 20 },
            _ if s.starts_with("diffusion:") => Defence::Diffusion {
                t: num(&s[10..], "step")?.clamp(1, 1000) as u16,
            },
            _ if s.starts_with("le:") => Defence::LearnableExamples {
                t: num(&s[3..], "step")?.clamp(1, 1000) as u16,
            },
            _ if s.starts_with("purify:") => Defence::PurifyLite {
                sigma_255: num(&s[7..], "noise level")?.clamp(1, 128) as u8,
            },
            _ if s.starts_with("jpeg") => Defence::Jpeg {
                quality: num(&s[4..], "quality")?.clamp(1, 100) as u8,
            },
            _ if s.starts_with("bits") => Defence::BitDepth {
                bits: num(&s[4..], "bit count")?.clamp(1, 8) as u8,
            },
            _ if s.starts_with("downscale") => Defence::Rescale {
                factor: num(&s[9..], "factor")?.max(2),
            },
            _ if s.starts_with("rescale") => Defence::Rescale {
                factor: num(&s[7..], "factor")?.max(2),
            },
            _ if s.starts_with("ueraser:") => Defence::Ueraser {
                repeats: num(&s[8..], "repeat count")?.max(1),
            },
            _ if s.starts_with("adv") => Defence::Adversarial {
                eps_255: num(&s[3..], "budget")?.clamp(1, 32) as u8,
            },
            _ => {
                return Err(format!(
                    "unknown defence '{s}'; use grayscale, share, jpeg10, jpeg75, jpeg:Q, bits2, bits:N, downscale2, rescale:F, ueraser-lite, ueraser-max, purify-lite, purify:S, diffusion, diffusion:T, le, le:T, adv4, adv:E"
                ));
            }
        };
        Ok(d)
    }

    /// Short name, e.g. `jpeg75`.
    pub fn name(&self) -> String {
        match self {
            Defence::Grayscale => "grayscale".into(),
            Defence::Share => "share".into(),
            Defence::Jpeg { quality } => format!("jpeg{quality}"),
            Defence::BitDepth { bits } => format!("bits{bits}"),
            Defence::Rescale { factor } => format!("downscale{factor}"),
            Defence::Ueraser { repeats: 1 } => "ueraser-lite".into(),
            Defence::Ueraser { repeats: 5 } => "ueraser-max".into(),
            Defence::Ueraser { repeats } => format!("ueraser:{repeats}"),
            Defence::Adversarial { eps_255 } => format!("adv{eps_255}"),
            Defence::PurifyLite { sigma_255: 16 } => "purify-lite".into(),
            Defence::PurifyLite { sigma_255 } => format!("purify:{sigma_255}"),
            Defence::Diffusion { t: 100 } => "diffusion".into(),
            Defence::Diffusion { t } => format!("diffusion:{t}"),
            Defence::LearnableExamples { t: 20 } => "le".into(),
            Defence::LearnableExamples { t } => format!("le:{t}"),
        }
    }

    /// Transform one training image once (identity for training-time augmentations).
    pub fn apply(&self, img: &RgbImage) -> RgbImage {
        match *self {
            Defence::Grayscale => RgbImage::from_fn(img.width(), img.height(), |x, y| {
                let p = img.get_pixel(x, y).0;
                let l =
                    (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
                        .round() as u8;
                image::Rgb([l, l, l])
            }),
            Defence::Jpeg { quality } => jpeg_round_trip(img, quality),
            Defence::BitDepth { bits } => {
                let shift = 8 - u32::from(bits.clamp(1, 8));
                let mut out = img.clone();
                // Keep the top bits and re-centre in the bucket, as bit-depth squeezing does.
                out.iter_mut().for_each(|v| {
                    let q = (*v >> shift) << shift;
                    *v = if shift == 0 {
                        q
                    } else {
                        q | (1 << (shift - 1))
                    };
                });
                out
            }
            Defence::Rescale { factor } => {
                let (w, h) = img.dimensions();
                let small = image::imageops::resize(
                    img,
                    (w / factor).max(1),
                    (h / factor).max(1),
                    image::imageops::FilterType::Triangle,
                );
                image::imageops::resize(&small, w, h, image::imageops::FilterType::Triangle)
            }
            Defence::Share => {
                let (w, h) = img.dimensions();
                let small = image::imageops::resize(
                    img,
                    w.div_ceil(2).max(1),
                    h.div_ceil(2).max(1),
                    image::imageops::FilterType::Triangle,
                );
                let shared = jpeg_round_trip(&small, 75);
                image::imageops::resize(&shared, w, h, image::imageops::FilterType::Triangle)
            }
            Defence::PurifyLite { sigma_255 } => purify_lite(img, f32::from(sigma_255)),
            // Applied during training, or (diffusion) in batches by `evaluate`'s purifier.
            Defence::Ueraser { .. }
            | Defence::Adversarial { .. }
            | Defence::Diffusion { .. }
            | Defence::LearnableExamples { .. } => img.clone(),
        }
    }

    /// Whether the defence acts inside a supervised classifier's training (UEraser's
    /// augmentations, adversarial training) rather than on the data.
    pub fn trains_supervised(&self) -> bool {
        matches!(self, Defence::Ueraser { .. } | Defence::Adversarial { .. })
    }

    /// Whether the defence needs `evaluate`'s diffusion model.
    pub fn needs_diffusion(&self) -> bool {
        matches!(
            self,
            Defence::Diffusion { .. } | Defence::LearnableExamples { .. }
        )
    }
}

/// Gaussian noise of `sigma_255`/255 (seeded by the pixels), then a Gaussian blur of 1 px.
fn purify_lite(img: &RgbImage, sigma_255: f32) -> RgbImage {
    let seed = img.as_raw().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let mut rng = crate::rng::Rng::new(seed);
    let mut noisy = img.clone();
    noisy.iter_mut().for_each(|v| {
        *v = (f32::from(*v) + rng.normal() * sigma_255)
            .round()
            .clamp(0.0, 255.0) as u8;
    });
    image::imageops::blur(&noisy, 1.0)
}

/// Encode as JPEG at `quality` and decode again.
pub fn jpeg_round_trip(img: &RgbImage, quality: u8) -> RgbImage {
    let mut buf = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality);
    if enc
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .is_err()
    {
        return img.clone();
    }
    image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
        .map(|d| d.to_rgb8())
        .unwrap_or_else(|_| img.clone())
}

/// A combination of defences, applied in order (`grayscale+jpeg75`).
pub fn parse_combo(s: &str) -> Result<Vec<Defence>, String> {
    if s == "none" {
        return Ok(Vec::new());
    }
    s.split('+').map(|p| Defence::parse(p.trim())).collect()
}

/// Name of a combination (`none` when empty).
pub fn combo_name(ds: &[Defence]) -> String {
    if ds.is_empty() {
        "none".into()
    } else {
        ds.iter().map(Defence::name).collect::<Vec<_>>().join("+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img() -> RgbImage {
        RgbImage::from_fn(16, 16, |x, y| {
            image::Rgb([(x * 16) as u8, (y * 16) as u8, 200])
        })
    }

    #[test]
    fn parsing_round_trips_names() {
        for s in [
            "grayscale",
            "share",
            "jpeg10",
            "jpeg75",
            "bits2",
            "downscale2",
            "ueraser-lite",
            "ueraser-max",
            "ueraser:3",
            "adv4",
            "adv8",
            "purify-lite",
            "purify:32",
        ] {
            assert_eq!(Defence::parse(s).unwrap().name(), s);
        }
        assert_eq!(
            combo_name(&parse_combo("grayscale+jpeg75").unwrap()),
            "grayscale+jpeg75"
        );
        assert!(
            Defence::parse("magic")
                .unwrap_err()
                .contains("unknown defence")
        );
    }

    #[test]
    fn static_defences_do_what_they_say() {
        let g = Defence::Grayscale.apply(&img());
        assert!(g.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
        let b = Defence::BitDepth { bits: 2 }.apply(&img());
        let levels: std::collections::BTreeSet<u8> = b.iter().copied().collect();
        assert!(levels.len() <= 4, "{levels:?}");
        let j = Defence::Jpeg { quality: 10 }.apply(&img());
        assert_ne!(j, img());
        let r = Defence::Rescale { factor: 2 }.apply(&img());
        assert_eq!(r.dimensions(), (16, 16));
        assert_ne!(r, img());
        assert_eq!(Defence::Ueraser { repeats: 1 }.apply(&img()), img());
        // Sharing is the downscale and the JPEG together: different from either alone.
        let sh = Defence::Share.apply(&img());
        assert_eq!(sh.dimensions(), (16, 16));
        assert_ne!(sh, r);
        assert_ne!(sh, j);
    }

    #[test]
    fn purification_drowns_fine_noise_but_keeps_the_picture() {
        // A smooth picture with a ±8/255 checkerboard "shortcut" on top.
        let clean = RgbImage::from_fn(64, 64, |x, y| {
            image::Rgb([(x * 3) as u8 + 40, (y * 3) as u8 + 40, 120])
        });
        let marked = RgbImage::from_fn(64, 64, |x, y| {
            let p = clean.get_pixel(x, y).0;
            let s = if (x + y) % 2 == 0 { 8i16 } else { -8 };
            image::Rgb(p.map(|v| (i16::from(v) + s) as u8))
        });
        let d = Defence::PurifyLite { sigma_255: 16 };
        let out = d.apply(&marked);
        assert_eq!(out, d.apply(&marked), "seeded by the image: repeatable");
        let psnr = |a: &RgbImage, b: &RgbImage| crate::imaging::psnr_db(a, b);
        // It changes the image (a noisy step), yet stays close to the picture underneath:
        // the checkerboard is gone and the content is kept.
        assert!(psnr(&marked, &out) < 35.0, "{}", psnr(&marked, &out));
        assert!(
            psnr(&clean, &out) > psnr(&clean, &marked),
            "closer to the clean picture"
        );
        assert!(psnr(&clean, &out) > 30.0, "{}", psnr(&clean, &out));
    }
}
