//! The working copy a method computes on: planar (CHW) `f32` RGB in `[0, 1]`.

use image::RgbImage;
use image::imageops::{self};

/// A planar RGB image: `data[c * h * w + y * w + x]`, values nominally in `[0, 1]`.
/// Also used for perturbations δ (values in `[-ε, ε]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Planar {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `3 × height × width` values, channel-major.
    pub data: Vec<f32>,
}

impl Planar {
    /// All zeros.
    pub fn zeros(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            data: vec![0.0; 3 * width as usize * height as usize],
        }
    }

    /// Pixels per channel.
    pub fn plane_len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Convert 8-bit interleaved RGB to planar `[0, 1]`.
    pub fn from_rgb8(img: &RgbImage) -> Self {
        let (w, h) = img.dimensions();
        let n = w as usize * h as usize;
        let mut data = vec![0.0f32; 3 * n];
        for (i, px) in img.pixels().enumerate() {
            for c in 0..3 {
                data[c * n + i] = f32::from(px.0[c]) / 255.0;
            }
        }
        Self {
            width: w,
            height: h,
            data,
        }
    }

    /// Convert back to 8-bit RGB (clipped and rounded).
    pub fn to_rgb8(&self) -> RgbImage {
        let n = self.plane_len();
        RgbImage::from_fn(self.width, self.height, |x, y| {
            let i = y as usize * self.width as usize + x as usize;
            let px = |c: usize| (self.data[c * n + i].clamp(0.0, 1.0) * 255.0).round() as u8;
            image::Rgb([px(0), px(1), px(2)])
        })
    }

    /// Largest absolute value (the L∞ norm).
    pub fn linf(&self) -> f32 {
        self.data.iter().fold(0.0, |m, v| m.max(v.abs()))
    }
}

/// Source coordinates and weight for bilinear sampling from `src` to `dst` samples (half-pixel
/// centres, edge-clamped): `(i0, i1, weight of i1)` per destination sample.
pub(crate) fn taps(dst: u32, src: u32) -> Vec<(usize, usize, f32)> {
    let scale = src as f32 / dst as f32;
    (0..dst)
        .map(|i| {
            let s = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, (src.max(1) - 1) as f32);
            let i0 = s.floor() as usize;
            let i1 = (i0 + 1).min(src.max(1) as usize - 1);
            (i0, i1, s - i0 as f32)
        })
        .collect()
}

/// Bilinear resize of a planar image to `width × height`.
pub fn resize_planar(p: &Planar, width: u32, height: u32) -> Planar {
    let (xt, yt) = (taps(width, p.width), taps(height, p.height));
    let (sw, n) = (p.width as usize, p.plane_len());
    let mut out = Planar::zeros(width, height);
    let m = out.plane_len();
    for c in 0..3 {
        let src = &p.data[c * n..(c + 1) * n];
        for (y, &(y0, y1, fy)) in yt.iter().enumerate() {
            for (x, &(x0, x1, fx)) in xt.iter().enumerate() {
                let top = src[y0 * sw + x0] * (1.0 - fx) + src[y0 * sw + x1] * fx;
                let bot = src[y1 * sw + x0] * (1.0 - fx) + src[y1 * sw + x1] * fx;
                out.data[c * m + y * width as usize + x] = top * (1.0 - fy) + bot * fy;
            }
        }
    }
    out
}

/// A `side × side` copy of a photo (aspect ratio not kept), for training-based methods that
/// batch photos of different shapes: area-averaged when shrinking, bilinear when enlarging.
pub fn square_copy(img: &RgbImage, side: u32) -> Planar {
    let side = side.max(1);
    if img.dimensions() == (side, side) {
        Planar::from_rgb8(img)
    } else if img.width() >= side && img.height() >= side {
        Planar::from_rgb8(&imageops::thumbnail(img, side, side))
    } else {
        Planar::from_rgb8(&imageops::resize(
            img,
            side,
            side,
            imageops::FilterType::Triangle,
        ))
    }
}

/// Size of the working copy: the long side is at most `working_size`; smaller photos keep
/// their own size. Aspect ratio is kept; each side is at least 1 px.
pub fn working_dims(width: u32, height: u32, working_size: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= working_size {
        return (width, height);
    }
    let scale = f64::from(working_size) / f64::from(long);
    let w = ((f64::from(width) * scale).round() as u32).clamp(1, working_size);
    let h = ((f64::from(height) * scale).round() as u32).clamp(1, working_size);
    (w, h)
}

/// The working copy of a photo: area-averaged down to [`working_dims`], as planar floats.
pub fn working_copy(img: &RgbImage, working_size: u32) -> Planar {
    let (w, h) = working_dims(img.width(), img.height(), working_size);
    if (w, h) == img.dimensions() {
        Planar::from_rgb8(img)
    } else {
        Planar::from_rgb8(&imageops::thumbnail(img, w, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_dims_keep_aspect_and_small_images() {
        assert_eq!(working_dims(4032, 3024, 256), (256, 192));
        assert_eq!(working_dims(3024, 4032, 256), (192, 256));
        assert_eq!(working_dims(32, 32, 256), (32, 32));
        assert_eq!(working_dims(1, 5000, 256), (1, 256));
        assert_eq!(working_dims(5000, 1, 256), (256, 1));
    }

    #[test]
    fn square_copies_and_resizing_keep_content() {
        let img = RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                image::Rgb([0; 3])
            } else {
                image::Rgb([255; 3])
            }
        });
        let sq = square_copy(&img, 8);
        assert_eq!((sq.width, sq.height), (8, 8));
        assert!(sq.data[0] < 0.05 && sq.data[7] > 0.95);
        let up = resize_planar(&sq, 16, 16);
        assert_eq!((up.width, up.height), (16, 16));
        assert!(up.data[0] < 0.05 && up.data[15] > 0.95);
        let same = resize_planar(&sq, 8, 8);
        assert_eq!(same, sq, "resizing to the same size is exact");
    }

    #[test]
    fn rgb_round_trip_is_exact() {
        let img = RgbImage::from_fn(5, 3, |x, y| {
            image::Rgb([x as u8 * 50, y as u8 * 80, 255 - x as u8])
        });
        let p = Planar::from_rgb8(&img);
        assert_eq!(p.data.len(), 45);
        assert_eq!(p.to_rgb8(), img);
    }

    #[test]
    fn working_copy_averages_areas() {
        // Left half black, right half white: the 2×1 working copy keeps that split.
        let img = RgbImage::from_fn(64, 32, |x, _| {
            if x < 32 {
                image::Rgb([0; 3])
            } else {
                image::Rgb([255; 3])
            }
        });
        let p = working_copy(&img, 2);
        assert_eq!((p.width, p.height), (2, 1));
        assert!(p.data[0] < 0.05 && p.data[1] > 0.95, "{:?}", p.data);
    }
}
