//! Time PSNR and SSIM on one pair of synthetic photos of a given size (default 12 MP):
//! what the per-photo visibility numbers in every manifest cost.
//! Usage: `cargo run --example ssim_speed -- [width] [height]`.

use std::time::Instant;

use image::RgbImage;
use unlearnable::imaging::{psnr_db, ssim_luma};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let w: u32 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(4000);
    let h: u32 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3000);
    let a = RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x ^ y) as u8, (x / 7) as u8, (y / 5) as u8])
    });
    let b = RgbImage::from_fn(w, h, |x, y| {
        let p = a.get_pixel(x, y).0;
        let d = ((x * 31 + y * 17) % 17) as i32 - 8;
        image::Rgb(p.map(|v| (i32::from(v) + d).clamp(0, 255) as u8))
    });
    let t = Instant::now();
    let p = psnr_db(&a, &b);
    let tp = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let s = ssim_luma(&a, &b);
    let ts = t.elapsed().as_secs_f64();
    println!("{w}×{h}: PSNR {p:.2} dB in {tp:.2} s, SSIM {s:.4} in {ts:.2} s");
    Ok(())
}
