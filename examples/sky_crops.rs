//! 1:1 crops of the smoothest region of each photo, original above protected copies, for
//! looking at what the numbers may hide (skies, skin, walls).
//!
//! `cargo run --example sky_crops -- ORIGINALS OUT_DIR PROTECTED_DIR...`
//!
//! For every photo in ORIGINALS (flat folder), finds the 192×192 window with the lowest mean
//! local texture, and writes `OUT_DIR/<photo>.png`: the original's crop on top, then the same
//! crop from each PROTECTED_DIR (matched by file stem), each labelled by a 4-px bar whose
//! brightness tells the rows apart (black = original).

use std::path::{Path, PathBuf};

use image::{GenericImageView, RgbImage};
use unlearnable::imaging::visibility::{local_std, luma_plane};

const SIDE: u32 = 192;

fn smoothest_window(img: &RgbImage) -> (u32, u32) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let std = local_std(&luma_plane(img), w, h, 9);
    let side = (SIDE as usize).min(w).min(h);
    let step = 16;
    let mut best = (f64::INFINITY, 0, 0);
    for y in (0..=h - side).step_by(step) {
        for x in (0..=w - side).step_by(step) {
            let mut sum = 0.0f64;
            for yy in (y..y + side).step_by(4) {
                for xx in (x..x + side).step_by(4) {
                    sum += f64::from(std[yy * w + xx]);
                }
            }
            if sum < best.0 {
                best = (sum, x, y);
            }
        }
    }
    (best.1 as u32, best.2 as u32)
}

fn find_by_stem(dir: &Path, stem: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_stem().and_then(|s| s.to_str()) == Some(stem))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [originals, out, protected @ ..] = args.as_slice() else {
        anyhow::bail!("usage: sky_crops ORIGINALS OUT_DIR PROTECTED_DIR...");
    };
    std::fs::create_dir_all(out)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(originals)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["jpg", "jpeg", "png"].contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    for f in files {
        let stem = f
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let clean = unlearnable::imaging::load_photo(&f, &Default::default())?.rgb;
        let (x, y) = smoothest_window(&clean);
        let side = SIDE.min(clean.width()).min(clean.height());
        let mut rows = vec![clean.view(x, y, side, side).to_image()];
        for dir in protected {
            let Some(p) = find_by_stem(dir, &stem) else {
                eprintln!("{}: no protected copy in {}", stem, dir.display());
                continue;
            };
            let img = image::open(&p)?.to_rgb8();
            rows.push(img.view(x, y, side, side).to_image());
        }
        let bar = 4;
        let n = rows.len() as u32;
        let mut sheet =
            RgbImage::from_pixel(side + bar, n * side + (n - 1) * 2, image::Rgb([255; 3]));
        for (i, row) in rows.iter().enumerate() {
            let top = i as u32 * (side + 2);
            image::imageops::replace(&mut sheet, row, i64::from(bar), i64::from(top));
            let shade = (i as u32 * 255 / n.max(2).saturating_sub(1).max(1)).min(255) as u8;
            for yy in top..top + side {
                for xx in 0..bar {
                    sheet.put_pixel(xx, yy, image::Rgb([shade; 3]));
                }
            }
        }
        let path = out.join(format!("{stem}.png"));
        sheet.save(&path)?;
        println!("{} (crop at {x},{y}, {side} px)", path.display());
    }
    Ok(())
}
