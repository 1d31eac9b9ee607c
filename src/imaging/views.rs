//! The random views a contrastive learner trains on (SimCLR, Chen et al. 2020, and its CIFAR
//! recipe): a random-resized crop + flip, colour jitter, grayscale. Drawn here as plain numbers
//! ([`ViewDraw`]), applied on the CPU by [`ViewDraw::apply`] (`evaluate`'s contrastive
//! exploiter) and as differentiable tensor operations by `protect::tue` (its contrastive
//! surrogate), so both see the same distribution.

use serde::{Deserialize, Serialize};

use super::Planar;
use super::resample::resample_region;
use crate::rng::Rng;

/// How a view is drawn: a random-resized crop of `crop_scale` of the area (aspect 3/4–4/3) +
/// flip, then with probability `p_jitter` brightness, contrast and saturation each scaled by
/// a random factor in `1 ± jitter` (in that order; hue is not jittered), then grayscale with
/// probability `p_gray`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewConfig {
    /// Share of the area a crop keeps, `[min, max]`.
    pub crop_scale: [f32; 2],
    /// Colour-jitter strength (brightness, contrast, saturation).
    pub jitter: f32,
    /// Probability of the colour jitter.
    pub p_jitter: f32,
    /// Probability of turning the view gray.
    pub p_gray: f32,
}

impl Default for ViewConfig {
    fn default() -> Self {
        Self {
            crop_scale: [0.2, 1.0],
            jitter: 0.4,
            p_jitter: 0.8,
            p_gray: 0.2,
        }
    }
}

/// Crop region `(x0, y0, width, height)` in pixels (fractional) of a random-resized crop of a
/// `w × h` image keeping a share `scale` of the area (aspect ratio 3/4–4/3, as torchvision's
/// `RandomResizedCrop`), and whether to mirror it.
pub fn random_crop_region(
    w: f32,
    h: f32,
    scale: [f32; 2],
    rng: &mut Rng,
) -> ((f32, f32, f32, f32), bool) {
    let area = rng.uniform(scale[0], scale[1]) * w * h;
    let aspect = rng.uniform((0.75f32).ln(), (4.0f32 / 3.0).ln()).exp();
    let cw = (area * aspect).sqrt().min(w);
    let ch = (area / aspect).sqrt().min(h);
    let x0 = rng.uniform(0.0, w - cw);
    let y0 = rng.uniform(0.0, h - ch);
    let flip = rng.below(2) == 1;
    ((x0, y0, cw, ch), flip)
}

/// One drawn view.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewDraw {
    /// Crop region `(x0, y0, width, height)` in source pixels.
    pub region: (f32, f32, f32, f32),
    /// Mirror left–right.
    pub flip: bool,
    /// Brightness, contrast and saturation factors (all 1 when not jittered).
    pub colour: [f32; 3],
    /// Turn gray.
    pub gray: bool,
}

/// Rec. 601 luma weights of the grayscale and saturation steps.
pub const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

impl ViewDraw {
    /// Draw a view of a `w × h` image.
    pub fn draw(w: f32, h: f32, cfg: &ViewConfig, rng: &mut Rng) -> Self {
        let (region, flip) = random_crop_region(w, h, cfg.crop_scale, rng);
        let colour = if rng.next_f32() < cfg.p_jitter {
            let mut factor = || rng.uniform((1.0 - cfg.jitter).max(0.0), 1.0 + cfg.jitter);
            [factor(), factor(), factor()]
        } else {
            [1.0; 3]
        };
        let gray = rng.next_f32() < cfg.p_gray;
        Self {
            region,
            flip,
            colour,
            gray,
        }
    }

    /// The view of `p`, `out × out`; values clamped to `[0, 1]` after each colour step.
    pub fn apply(&self, p: &Planar, out: usize) -> Planar {
        let mut v = resample_region(p, self.region, out, out, self.flip);
        let n = v.plane_len();
        let luma =
            |d: &[f32], i: usize| LUMA[0] * d[i] + LUMA[1] * d[n + i] + LUMA[2] * d[2 * n + i];
        let [b, c, s] = self.colour;
        if self.colour != [1.0; 3] {
            v.data
                .iter_mut()
                .for_each(|x| *x = (*x * b).clamp(0.0, 1.0));
            let mean = (0..n).map(|i| luma(&v.data, i)).sum::<f32>() / n.max(1) as f32;
            v.data
                .iter_mut()
                .for_each(|x| *x = ((*x - mean) * c + mean).clamp(0.0, 1.0));
            for i in 0..n {
                let l = luma(&v.data, i);
                for ch in 0..3 {
                    let x = &mut v.data[ch * n + i];
                    *x = (l + (*x - l) * s).clamp(0.0, 1.0);
                }
            }
        }
        if self.gray {
            for i in 0..n {
                let l = luma(&v.data, i);
                for ch in 0..3 {
                    v.data[ch * n + i] = l;
                }
            }
        }
        v
    }
}

/// One random view of `p`, `out × out` ([`ViewConfig`]). Values stay in `[0, 1]`.
pub fn contrastive_view(p: &Planar, out: usize, cfg: &ViewConfig, rng: &mut Rng) -> Planar {
    ViewDraw::draw(p.width as f32, p.height as f32, cfg, rng).apply(p, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrastive_views_differ_stay_in_range_and_gray_when_asked() {
        let mut r = Rng::new(4);
        let mut p = Planar::zeros(20, 20);
        p.data.iter_mut().for_each(|v| *v = r.next_f32());
        let cfg = ViewConfig::default();
        let a = contrastive_view(&p, 12, &cfg, &mut Rng::new(9));
        assert_eq!(
            a,
            contrastive_view(&p, 12, &cfg, &mut Rng::new(9)),
            "seeded"
        );
        let b = contrastive_view(&p, 12, &cfg, &mut Rng::new(10));
        assert_eq!((a.width, a.height), (12, 12));
        assert_ne!(a, b, "two draws give two views");
        assert!(
            a.data
                .iter()
                .chain(&b.data)
                .all(|v| (0.0..=1.0).contains(v))
        );
        let gray = ViewConfig { p_gray: 1.0, ..cfg };
        let g = contrastive_view(&p, 12, &gray, &mut Rng::new(3));
        let n = g.plane_len();
        assert!((0..n).all(|i| g.data[i] == g.data[n + i] && g.data[i] == g.data[2 * n + i]));
        // Without jitter or gray, a view is the random-resized crop alone.
        let plain = ViewConfig {
            p_jitter: 0.0,
            p_gray: 0.0,
            ..cfg
        };
        let mut rng = Rng::new(1);
        let (region, flip) = random_crop_region(20.0, 20.0, plain.crop_scale, &mut rng);
        let crop = resample_region(&p, region, 12, 12, flip);
        assert_eq!(contrastive_view(&p, 12, &plain, &mut Rng::new(1)), crop);
    }
}
