//! Diffusion purification, the strongest published attack on unlearnable examples, as
//! `evaluate` defences (`methods.md` §10):
//!
//! - `diffusion[:T]` — AVATAR / DiffPure (Dolatabadi et al. 2023): noise each training image
//!   forward to step t* = T of a 1 000-step DDPM (linear β 1e-4…0.02, the VP-SDE of the
//!   paper's checkpoint), `√ᾱ·x + √(1−ᾱ)·ε`, then run the learned reverse process back to a
//!   clean image (deterministic DDIM steps). Default t* = 100 (the released "Sanitized_100").
//! - `le[:T]` — learnable examples / JCDP (Jiang et al. 2023): several shorter rounds
//!   (4 × t* = 20 by default), each reverse step guided back towards the protected input in
//!   pixels (the MSE half of JCDP's MSE+LPIPS guidance; the predicted clean image is pulled a
//!   fixed share towards the input), so content is kept while the perturbation is washed out.
//!
//! No pretrained model can be downloaded: `evaluate` trains its own [`unet::Denoiser`] on
//! images that are not in the evaluated split (the training images after the evaluated ones),
//! only on the steps purification uses (t ≤ `train_steps_max`), which is all the reverse
//! process from t* needs. A CPU-sized model purifies coarsely; the sizes are in
//! [`DiffusionConfig`] and recorded with the results.

pub mod unet;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::TensorData;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::cancel::CancelToken;
use crate::error::{EvalError, MethodError};
use crate::imaging::Planar;
use crate::model::seeded_init;
use crate::progress::{ProgressEvent, ProgressSink};
use crate::rng::{Rng, derive_seed};
use unet::{Denoiser, DenoiserConfig};

/// Steps of the diffusion process (DDPM's T).
pub const T: usize = 1000;

/// Size and training of the purification model; saved in the evaluation report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiffusionConfig {
    /// Images per class to train on, taken after the evaluated training images.
    pub images_per_class: usize,
    /// Training steps (mini-batches).
    pub steps: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// U-Net channels at full resolution.
    pub channels: usize,
    /// Largest step trained on (purification starts at t* ≤ this).
    pub train_steps_max: usize,
    /// Reverse (DDIM) steps per purification round.
    pub reverse_steps: usize,
    /// LE: rounds of noising and guided denoising.
    pub le_rounds: usize,
    /// LE: share of the way each predicted clean image is pulled back towards the input.
    pub le_guidance: f32,
    /// Side of the square crops the model trains on when its images are larger (real photos
    /// at their native size, `--train-size`); rounded down to a multiple of 4. The network is
    /// convolutional, so it then purifies whole photos of any size.
    pub patch: usize,
}

impl Default for DiffusionConfig {
    fn default() -> Self {
        Self {
            images_per_class: 200,
            // CPU-sized: an estimated 5–8 minutes on 2 cores (scaled from 94 s for 400 steps of 16
            // images); a GPU affords 32 channels and 10 000 steps.
            steps: 1000,
            batch_size: 32,
            learning_rate: 1e-3,
            channels: 16,
            train_steps_max: 200,
            reverse_steps: 10,
            le_rounds: 4,
            le_guidance: 0.1,
            // CIFAR's side: its images train whole; on photos, 32-px crops keep the cost of a
            // step the same (the U-Net's receptive field is about 32 px either way).
            patch: 32,
        }
    }
}

/// ᾱ_t for t = 0…T (ᾱ_0 = 1), linear β from 1e-4 to 0.02.
pub fn alpha_bar() -> Vec<f32> {
    let mut out = Vec::with_capacity(T + 1);
    let mut acc = 1.0f64;
    out.push(1.0);
    for t in 1..=T {
        let beta = 1e-4 + (0.02 - 1e-4) * (t - 1) as f64 / (T - 1) as f64;
        acc *= 1.0 - beta;
        out.push(acc as f32);
    }
    out
}

fn compute(e: impl std::fmt::Debug) -> EvalError {
    EvalError::Method(MethodError::Compute {
        method: "diffusion",
        message: format!("{e:?}"),
    })
}

/// A trained purification model.
pub struct Purifier {
    model: Denoiser,
    alpha_bar: Vec<f32>,
    device: Device,
    cfg: DiffusionConfig,
    /// Mean training loss over the last tenth of the steps.
    pub final_loss: f32,
}

/// A `w`×`h` window of `img` from `(x0, y0)` in signed values (`2v/255 − 1`), planar RGB;
/// pixels past the right or bottom edge repeat the last column or row (padding to a multiple
/// of 4).
fn window_signed(img: &RgbImage, x0: usize, y0: usize, w: usize, h: usize, out: &mut Vec<f32>) {
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    let raw = img.as_raw();
    for c in 0..3 {
        for y in 0..h {
            let row = &raw[(y0 + y).min(ih - 1) * iw * 3..][..iw * 3];
            out.extend(
                (0..w).map(|x| f32::from(row[(x0 + x).min(iw - 1) * 3 + c]) / 255.0 * 2.0 - 1.0),
            );
        }
    }
}

/// `images` (all `w`×`h` after padding) as one signed batch `[B, 3, h, w]`.
fn to_signed(images: &[RgbImage], w: usize, h: usize, device: &Device) -> Tensor<4> {
    let mut data = Vec::with_capacity(images.len() * 3 * w * h);
    for img in images {
        window_signed(img, 0, 0, w, h, &mut data);
    }
    Tensor::from_data(TensorData::new(data, [images.len(), 3, h, w]), device)
}

/// Round down to a multiple of 4 (the U-Net halves the sides twice).
fn down4(v: usize) -> usize {
    v / 4 * 4
}

fn normal(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.normal()).collect()
}

/// Train a purifier on `images`: whole images when they all have the crop side
/// ([`DiffusionConfig::patch`], or the smallest side if less), random crops of that side
/// otherwise (photos of any sizes).
pub fn train(
    images: &[RgbImage],
    cfg: &DiffusionConfig,
    seed: u64,
    device: &Device,
    events: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Purifier, EvalError> {
    let smallest = images
        .iter()
        .map(|p| p.width().min(p.height()) as usize)
        .min()
        .ok_or_else(|| EvalError::Data("no images to train the diffusion model on".into()))?;
    let side = down4(cfg.patch.min(smallest));
    if side < 4 {
        return Err(EvalError::Data(format!(
            "the diffusion model needs images of at least 4×4 pixels, got a {smallest}-px side"
        )));
    }
    let ad = device.clone().autodiff();
    let mut model = seeded_init(
        DenoiserConfig::new()
            .with_channels(cfg.channels.max(4))
            .init(&ad),
        derive_seed(seed, "diffusion-init", 0),
    );
    let mut optim = AdamConfig::new().init();
    let ab = alpha_bar();
    let mut rng = Rng::new(derive_seed(seed, "diffusion-train", 0));
    let n = images.len();
    let batch = cfg.batch_size.clamp(1, n);
    let t_max = cfg.train_steps_max.clamp(1, T);
    let tail = (cfg.steps / 10).max(1);
    let mut tail_sum = Tensor::<1>::zeros([1], device);
    let report_every = (cfg.steps / 20).max(1);
    for step in 0..cfg.steps {
        if cancel.is_cancelled() {
            return Err(EvalError::Method(MethodError::Cancelled));
        }
        let idx: Vec<usize> = (0..batch).map(|_| rng.below(n as u64) as usize).collect();
        let mut data = Vec::with_capacity(batch * 3 * side * side);
        for &i in &idx {
            let p = &images[i];
            // Offsets are drawn only for images larger than the crop (so whole-image training,
            // CIFAR's, draws the same numbers as before crops existed).
            let mut offset = |len: u32| {
                let spare = len as usize - side;
                if spare == 0 {
                    0
                } else {
                    rng.below(spare as u64 + 1) as usize
                }
            };
            let (x0, y0) = (offset(p.width()), offset(p.height()));
            window_signed(p, x0, y0, side, side, &mut data);
        }
        let x0 = Tensor::<4>::from_data(TensorData::new(data, [batch, 3, side, side]), device);
        let ts: Vec<usize> = (0..batch)
            .map(|_| 1 + rng.below(t_max as u64) as usize)
            .collect();
        let col = |f: &dyn Fn(usize) -> f32| {
            Tensor::<4>::from_data(
                TensorData::new(
                    ts.iter().map(|&t| f(t)).collect::<Vec<_>>(),
                    [batch, 1, 1, 1],
                ),
                device,
            )
        };
        let (a, s) = (col(&|t| ab[t].sqrt()), col(&|t| (1.0 - ab[t]).sqrt()));
        let eps = Tensor::<4>::from_data(
            TensorData::new(
                normal(batch * 3 * side * side, &mut rng),
                [batch, 3, side, side],
            ),
            device,
        );
        let xt = x0 * a + eps.clone() * s;
        let tt = Tensor::<2>::from_data(
            TensorData::new(ts.iter().map(|&t| t as f32).collect::<Vec<_>>(), [batch, 1]),
            &ad,
        );
        let pred = model.forward(xt.autodiff(), tt);
        let loss = (pred - eps.autodiff()).powi_scalar(2).mean();
        if step + tail >= cfg.steps {
            tail_sum = tail_sum + loss.clone().inner().detach();
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(cfg.learning_rate, model, grads);
        if (step + 1) % report_every == 0 {
            events.emit(ProgressEvent::Phase {
                name: format!("diffusion model: step {}/{}", step + 1, cfg.steps),
                total: cfg.steps,
            });
        }
    }
    let final_loss = crate::protect::tensor::read_scalar(tail_sum, "diffusion")
        .map_err(EvalError::Method)?
        / tail.min(cfg.steps).max(1) as f32;
    Ok(Purifier {
        model: model.valid(),
        alpha_bar: ab,
        device: device.clone(),
        cfg: cfg.clone(),
        final_loss,
    })
}

impl Purifier {
    /// LE's rounds (from the config it was trained with).
    pub fn rounds(&self) -> usize {
        self.cfg.le_rounds.max(1)
    }

    /// One round: noise `x0: [B, 3, H, W]` (signed) to step `t_star`, then `reverse_steps`
    /// deterministic DDIM steps back to 0; with `guide`, each predicted clean image is pulled
    /// `le_guidance` of the way towards that input.
    fn round(
        &self,
        x0: Tensor<4>,
        guide: Option<&Tensor<4>>,
        t_star: usize,
        rng: &mut Rng,
    ) -> Tensor<4> {
        let dims = x0.dims();
        let ab = &self.alpha_bar;
        let noise = Tensor::<4>::from_data(
            TensorData::new(normal(dims.iter().product(), rng), dims),
            &self.device,
        );
        let mut x = x0 * ab[t_star].sqrt() + noise * (1.0 - ab[t_star]).sqrt();
        let k = self.cfg.reverse_steps.clamp(1, t_star);
        let times: Vec<usize> = (0..=k).rev().map(|i| t_star * i / k).collect();
        for pair in times.windows(2) {
            let (t, next) = (pair[0], pair[1]);
            let tt = Tensor::<2>::full([dims[0], 1], t as f32, &self.device);
            let eps = self.model.forward(x.clone(), tt);
            let mut x0p =
                ((x - eps.clone() * (1.0 - ab[t]).sqrt()) / ab[t].sqrt()).clamp(-1.0, 1.0);
            if let Some(g) = guide {
                x0p = x0p.clone() - (x0p - g.clone()) * self.cfg.le_guidance;
            }
            x = if next == 0 {
                x0p
            } else {
                x0p * ab[next].sqrt() + eps * (1.0 - ab[next]).sqrt()
            };
        }
        x
    }

    /// Purify `images` (any sizes; each comes back at its own): `rounds` rounds from step
    /// `t_star`, guided towards the input when `guided` (LE), unguided otherwise (AVATAR).
    /// Consecutive images of one size go through together (up to 256 CIFAR-sized images'
    /// worth of pixels); sides are padded to a multiple of 4 by repeating the edge, and the
    /// padding is cut off again. Seeded: the same inputs and seed give the same outputs.
    pub fn purify(
        &self,
        images: &[RgbImage],
        t_star: usize,
        rounds: usize,
        guided: bool,
        seed: u64,
        cancel: &CancelToken,
    ) -> Result<Vec<RgbImage>, EvalError> {
        const PIXELS_PER_BATCH: usize = 256 * 32 * 32;
        let t_star = t_star.clamp(1, T);
        let mut out = Vec::with_capacity(images.len());
        let mut start = 0;
        let mut batch_index = 0u64;
        while start < images.len() {
            if cancel.is_cancelled() {
                return Err(EvalError::Method(MethodError::Cancelled));
            }
            let (iw, ih) = images[start].dimensions();
            let (iw, ih) = (iw as usize, ih as usize);
            let most = (PIXELS_PER_BATCH / (iw * ih).max(1)).max(1);
            let len = images[start..]
                .iter()
                .take(most)
                .take_while(|i| i.dimensions() == images[start].dimensions())
                .count();
            let chunk = &images[start..start + len];
            start += len;
            // Padded to a multiple of 4 (at least 4).
            let (w, h) = (down4(iw + 3).max(4), down4(ih + 3).max(4));
            let input = to_signed(chunk, w, h, &self.device);
            let mut rng = Rng::new(derive_seed(seed, "diffusion-purify", batch_index));
            batch_index += 1;
            let mut x = input.clone();
            for _ in 0..rounds.max(1) {
                x = self.round(x, guided.then_some(&input), t_star, &mut rng);
            }
            let v = x
                .add_scalar(1.0)
                .div_scalar(2.0)
                .clamp(0.0, 1.0)
                .try_into_data()
                .map_err(compute)?
                .try_into_vec::<f32>()
                .map_err(compute)?;
            for img in v.chunks_exact(3 * h * w) {
                let mut data = Vec::with_capacity(3 * iw * ih);
                for plane in img.chunks_exact(h * w) {
                    for row in plane.chunks_exact(w).take(ih) {
                        data.extend_from_slice(&row[..iw]);
                    }
                }
                let p = Planar {
                    width: iw as u32,
                    height: ih as u32,
                    data,
                };
                out.push(p.to_rgb8());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NullSink;

    #[test]
    fn photos_of_any_size_train_on_crops_and_come_back_at_their_own_size() {
        let device = Device::flex();
        let img =
            |w, h| RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 128]));
        let cfg = DiffusionConfig {
            steps: 1,
            ..DiffusionConfig::default()
        };
        let cancel = CancelToken::new();
        let err = |set: Vec<RgbImage>| match train(&set, &cfg, 0, &device, &NullSink, &cancel) {
            Err(EvalError::Data(m)) => m,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("accepted"),
        };
        assert!(err(vec![img(8, 8), img(3, 12)]).contains("at least 4×4"));
        assert!(err(Vec::new()).contains("no images"));
        // Mixed sizes and sides that are not multiples of 4 train (on 8-px crops here) ...
        let p = train(
            &[img(10, 9), img(40, 24)],
            &cfg,
            0,
            &device,
            &NullSink,
            &cancel,
        )
        .unwrap();
        // ... and purify images of any sizes, each returned at its own.
        let set = [img(8, 8), img(8, 8), img(6, 7), img(13, 5), img(8, 8)];
        let out = p.purify(&set, 50, 1, false, 1, &cancel).unwrap();
        let dims: Vec<_> = out.iter().map(RgbImage::dimensions).collect();
        assert_eq!(
            dims,
            set.iter().map(RgbImage::dimensions).collect::<Vec<_>>()
        );
    }

    #[test]
    fn windows_read_planar_signed_values_and_repeat_the_edges() {
        // 3×2 image, R = 10·x + y, G = 100, B = 255.
        let img = RgbImage::from_fn(3, 2, |x, y| image::Rgb([(10 * x + y) as u8, 100, 255]));
        let mut out = Vec::new();
        window_signed(&img, 1, 0, 4, 3, &mut out);
        let s = |v: u8| f32::from(v) / 255.0 * 2.0 - 1.0;
        // Red plane: columns 1, 2, 2, 2 (edge repeated), rows 0, 1, 1.
        let red: Vec<f32> = [10, 20, 20, 20, 11, 21, 21, 21, 11, 21, 21, 21]
            .map(s)
            .to_vec();
        assert_eq!(out[..12], red[..]);
        assert!(out[12..24].iter().all(|&v| v == s(100)));
        assert!(out[24..].iter().all(|&v| v == 1.0));
        assert_eq!(down4(13), 12);
    }

    #[test]
    fn the_same_seed_trains_the_same_model() {
        let device = Device::flex();
        let imgs: Vec<RgbImage> = (0..8u32)
            .map(|k| {
                RgbImage::from_fn(16, 16, |x, y| {
                    image::Rgb([(x * 9 + k * 13) as u8, (y * 5 + k) as u8, (x * y + k) as u8])
                })
            })
            .collect();
        let cfg = DiffusionConfig {
            steps: 3,
            batch_size: 4,
            channels: 4,
            ..DiffusionConfig::default()
        };
        let c = CancelToken::new();
        let run = |seed| {
            let p = train(&imgs, &cfg, seed, &device, &NullSink, &c).unwrap();
            (
                p.final_loss,
                p.purify(&imgs[..2], 50, 1, false, 1, &c).unwrap(),
            )
        };
        let (a, b, other) = (run(0), run(0), run(1));
        assert_eq!(
            a.0.to_bits(),
            b.0.to_bits(),
            "same seed, same training loss"
        );
        assert!(a.1 == b.1, "same seed, same purified images");
        assert_ne!(
            a.0.to_bits(),
            other.0.to_bits(),
            "another seed trains another model"
        );
    }
}
