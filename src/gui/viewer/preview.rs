//! Loading a clean/protected pair for the compare view on a worker thread: both decoded,
//! scaled together if larger than the GPU's texture limit, and measured (PSNR, SSIM).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, channel};

use image::RgbImage;
use image::imageops::FilterType;

use crate::config::LoadLimits;
use crate::imaging::{Visibility, load_photo};

/// Both images of one photo, ready to upload (RGBA8, same size).
pub struct PreviewPair {
    /// Unique per loaded pair; the GPU cache re-uploads when it changes.
    pub id: u64,
    /// Original file.
    pub source: PathBuf,
    /// Width of the uploaded images.
    pub width: u32,
    /// Height of the uploaded images.
    pub height: u32,
    /// Native size of the photo (the uploaded size may be smaller).
    pub native: [u32; 2],
    /// Clean pixels, RGBA8, as a mip chain: level 0 is full size, each next level halves
    /// both sides (2×2 box average) down to 1×1, so zoomed-out views do not alias.
    pub clean_rgba: Vec<Vec<u8>>,
    /// Protected pixels, the same way.
    pub protected_rgba: Vec<Vec<u8>>,
    /// Visibility figures at native size, as the protection job measured them on these
    /// (lossless) pixels: PSNR, SSIM, colour cast, flat-area noise.
    pub seen: Visibility,
    /// Largest per-channel change, in 1/255.
    pub linf_255: u8,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn rgba(img: &RgbImage) -> Vec<u8> {
    img.pixels()
        .flat_map(|p| [p.0[0], p.0[1], p.0[2], 255])
        .collect()
}

/// Size of mip level `level` of a `width`×`height` image.
pub fn mip_size(width: u32, height: u32, level: u32) -> (u32, u32) {
    ((width >> level).max(1), (height >> level).max(1))
}

/// Number of mip levels down to 1×1.
pub fn mip_count(width: u32, height: u32) -> u32 {
    32 - width.max(height).max(1).leading_zeros()
}

/// The mip chain of an RGBA8 image (2×2 box filter; odd edges repeat the last pixel).
pub fn mip_chain(level0: Vec<u8>, width: u32, height: u32) -> Vec<Vec<u8>> {
    let mut levels = vec![level0];
    for level in 1..mip_count(width, height) {
        let (pw, ph) = mip_size(width, height, level - 1);
        let (w, h) = mip_size(width, height, level);
        let prev = &levels[levels.len() - 1];
        let mut next = vec![0u8; (w * h * 4) as usize];
        for y in 0..h {
            for x in 0..w {
                for c in 0..4 {
                    let mut sum = 0u32;
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let sx = (2 * x + dx).min(pw - 1);
                        let sy = (2 * y + dy).min(ph - 1);
                        sum += u32::from(prev[((sy * pw + sx) * 4 + c) as usize]);
                    }
                    next[((y * w + x) * 4 + c) as usize] = ((sum + 2) / 4) as u8;
                }
            }
        }
        levels.push(next);
    }
    levels
}

/// Load `source` and its protected copy `protected`, limiting the longest side to `max_side`.
pub fn load_pair(
    source: &Path,
    protected: &Path,
    seen: Visibility,
    max_side: u32,
) -> Result<PreviewPair, String> {
    let limits = LoadLimits::default();
    let clean = load_photo(source, &limits).map_err(|e| e.to_string())?;
    let prot = load_photo(protected, &limits).map_err(|e| e.to_string())?;
    if clean.rgb.dimensions() != prot.rgb.dimensions() {
        return Err(format!(
            "the protected copy is {}×{} but the original is {}×{}",
            prot.width(),
            prot.height(),
            clean.width(),
            clean.height()
        ));
    }
    let linf = clean
        .rgb
        .as_raw()
        .iter()
        .zip(prot.rgb.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0);
    let (w, h) = clean.rgb.dimensions();
    let native = [w, h];
    let longest = w.max(h);
    let (a, b) = if longest > max_side && max_side > 0 {
        let s = max_side as f64 / longest as f64;
        let nw = ((w as f64 * s).round() as u32).max(1);
        let nh = ((h as f64 * s).round() as u32).max(1);
        (
            image::imageops::resize(&clean.rgb, nw, nh, FilterType::Triangle),
            image::imageops::resize(&prot.rgb, nw, nh, FilterType::Triangle),
        )
    } else {
        (clean.rgb, prot.rgb)
    };
    let (width, height) = a.dimensions();
    Ok(PreviewPair {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        source: source.to_path_buf(),
        width,
        height,
        native,
        clean_rgba: mip_chain(rgba(&a), width, height),
        protected_rgba: mip_chain(rgba(&b), width, height),
        seen,
        linf_255: linf,
    })
}

/// A pair being loaded in the background.
pub struct PendingPreview {
    /// The photo it is for.
    pub source: PathBuf,
    rx: Receiver<Result<PreviewPair, String>>,
}

impl PendingPreview {
    /// Start loading; `repaint` is called when the result is ready.
    pub fn start(
        source: PathBuf,
        protected: PathBuf,
        seen: Visibility,
        max_side: u32,
        repaint: impl Fn() + Send + 'static,
    ) -> Self {
        let (tx, rx) = channel();
        let src = source.clone();
        let spawned = std::thread::Builder::new()
            .name("unlearnable-preview".into())
            .spawn(move || {
                let _ = tx.send(load_pair(&src, &protected, seen, max_side));
                repaint();
            });
        let rx = match spawned {
            Ok(_) => rx,
            Err(e) => {
                let (tx, rx) = channel();
                let _ = tx.send(Err(format!("cannot start the preview loader: {e}")));
                rx
            }
        };
        Self { source, rx }
    }

    /// The result, once it is there.
    pub fn poll(&self) -> Option<Result<Arc<PreviewPair>, String>> {
        self.rx.try_recv().ok().map(|r| r.map(Arc::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mip_chains_halve_to_one_pixel_and_average() {
        assert_eq!(mip_count(1, 1), 1);
        assert_eq!(mip_count(6000, 4000), 13);
        assert_eq!(mip_size(6000, 4000, 12), (1, 1));
        // 3×2: a red/blue checker with a white odd column.
        let px = |r: u8, g: u8, b: u8| [r, g, b, 255];
        let level0: Vec<u8> = [
            px(255, 0, 0),
            px(0, 0, 255),
            px(255, 255, 255),
            px(0, 0, 255),
            px(255, 0, 0),
            px(255, 255, 255),
        ]
        .concat();
        let chain = mip_chain(level0, 3, 2);
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1].len(), 4, "1×1");
        // Average of the 2×2 block: half red, half blue.
        assert_eq!(&chain[1][..4], &[128, 0, 128, 255]);
    }
}
