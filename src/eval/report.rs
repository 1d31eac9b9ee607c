//! Evaluation reports a person can read: `report.json`, `report.md` and `accuracy.png`.

use std::path::Path;

use image::RgbImage;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::EvalConfig;
use crate::error::EvalError;
use crate::imaging::{Shard, write_atomically};

/// How visible the protection is on the training images (at the size it was protected at).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Visibility {
    /// Mean PSNR (dB).
    pub psnr_mean: f64,
    /// Lowest PSNR (dB): the most visible image.
    pub psnr_worst: f64,
    /// Mean SSIM (luma).
    pub ssim_mean: f64,
    /// Lowest SSIM.
    pub ssim_worst: f64,
    /// Mean colour cast (CIEDE2000 of the blurred images).
    pub cast_mean: f64,
    /// Highest 99th-percentile colour cast of any image.
    pub cast_p99_worst: f64,
    /// Mean flat-area noise (RMS, 1/255 units).
    pub flat_noise_mean: f64,
    /// Highest flat-area noise of any image.
    pub flat_noise_worst: f64,
    /// `[PSNR dB, SSIM, cast ΔE00, flat-area noise /255]` of every training image, in
    /// training-set order.
    pub per_image: Vec<[f64; 4]>,
}

impl Visibility {
    /// Measure clean against protected images (in parallel).
    pub fn measure(clean: &[RgbImage], protected: &[RgbImage]) -> Self {
        use rayon::prelude::*;
        let all: Vec<crate::imaging::Visibility> = clean
            .par_iter()
            .zip(protected)
            .map(|(a, b)| crate::imaging::visibility::measure(a, b))
            .collect();
        let figure = |f: fn(&crate::imaging::Visibility) -> f64, higher_is_worse| {
            crate::imaging::visibility::mean_and_worst(all.iter().map(f), higher_is_worse)
        };
        let (psnr_mean, psnr_worst) = figure(|v| v.psnr_db, false);
        let (ssim_mean, ssim_worst) = figure(|v| v.ssim, false);
        let (cast_mean, _) = figure(|v| v.cast_de00, true);
        let (_, cast_p99_worst) = figure(|v| v.cast_de00_p99, true);
        let (flat_noise_mean, flat_noise_worst) = figure(|v| v.flat_noise_255, true);
        Self {
            psnr_mean,
            psnr_worst,
            ssim_mean,
            ssim_worst,
            cast_mean,
            cast_p99_worst,
            flat_noise_mean,
            flat_noise_worst,
            per_image: all
                .iter()
                .map(|v| [v.psnr_db, v.ssim, v.cast_de00, v.flat_noise_255])
                .collect(),
        }
    }
}

/// One trained classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmReport {
    /// `clean`, or `<method> + <defence>`.
    pub name: String,
    /// Defence combination (`none` when undefended).
    pub defence: String,
    /// Whether it was trained on protected data.
    pub protected: bool,
    /// Clean test accuracy after the last epoch (fraction).
    pub final_test_acc: f32,
    /// Best clean test accuracy over the epochs (fraction; early stopping is a cheap defence).
    pub peak_test_acc: f32,
    /// Clean test accuracy after each epoch.
    pub curve: Vec<f32>,
    /// Protected arms: final accuracy of the clean model under the same defence, when that
    /// arm was trained (the reference a defended protected arm is read against).
    pub clean_reference: Option<f32>,
    /// Protected arms: `clean_reference − final_test_acc`, the protection that is left.
    pub gap: Option<f32>,
}

impl ArmReport {
    /// Summarise a curve.
    pub fn new(name: String, defence: String, protected: bool, curve: Vec<f32>) -> Self {
        Self {
            name,
            defence,
            protected,
            final_test_acc: curve.last().copied().unwrap_or(0.0),
            peak_test_acc: curve.iter().copied().fold(0.0, f32::max),
            curve,
            clean_reference: None,
            gap: None,
        }
    }
}

/// Fill each protected arm's clean reference (the clean arm with the same defence) and gap.
pub fn link_references(arms: &mut [ArmReport]) {
    let clean: Vec<(String, f32)> = arms
        .iter()
        .filter(|a| !a.protected)
        .map(|a| (a.defence.clone(), a.final_test_acc))
        .collect();
    for a in arms.iter_mut().filter(|a| a.protected) {
        if let Some((_, acc)) = clean.iter().find(|(d, _)| *d == a.defence) {
            a.clean_reference = Some(*acc);
            a.gap = Some(acc - a.final_test_acc);
        }
    }
}

/// The whole evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// `unlearnable <version>`.
    pub app: String,
    /// Data folder.
    pub data: String,
    /// Class names.
    pub classes: Vec<String>,
    /// Training images used.
    pub train_images: usize,
    /// Test images used.
    pub test_images: usize,
    /// Side of the (square) images.
    pub image_size: u32,
    /// Device and why.
    pub device: String,
    /// Every setting.
    pub config: EvalConfig,
    /// Visibility of the protection on the training split.
    pub visibility: Visibility,
    /// The clean arm first, then one per defence.
    pub arms: Vec<ArmReport>,
    /// Album mode only: how the user's photos were labelled and split. Album results are a
    /// proxy (a small model on few, small copies), not the labelled-benchmark measurement.
    pub labels: Option<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Wall-clock seconds of the protection alone (labels, training, perturbations), the
    /// method's cost on these images.
    #[serde(default)]
    pub protect_seconds: f64,
    /// FNV-1a (64 bit) of the protected training images' pixels, in hex: the parts of a split
    /// run must have trained on the same protected images.
    #[serde(default)]
    pub protected_fingerprint: String,
    /// A part of a split run (`evaluate --shard i/n`) before `unlearnable merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<ReportPart>,
}

/// Which arms of the whole run a part trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportPart {
    /// This part.
    pub shard: Shard,
    /// Position of each of this part's arms in the whole run's list (same order as `arms`).
    pub arm_indices: Vec<usize>,
    /// Arms of the whole run.
    pub arms_total: usize,
}

/// FNV-1a (64 bit) over each image's size and pixels, as 16 hex digits.
pub fn fingerprint(images: &[RgbImage]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for img in images {
        eat(&img.width().to_le_bytes());
        eat(&img.height().to_le_bytes());
        eat(img.as_raw());
    }
    format!("{h:016x}")
}

impl EvalReport {
    /// A Markdown summary.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "# Evaluation: {}\n\n{} training / {} test images ({} classes, {}×{} px) from `{}`; {} epochs of a fresh {:?} ({:?}, learning rate {}); device {}.\n\n",
            self.config.protect.method.id(),
            self.train_images,
            self.test_images,
            self.classes.len(),
            self.image_size,
            self.image_size,
            self.data,
            self.config.epochs,
            self.config.model,
            self.config.optimizer,
            self.config.learning_rate,
            self.device
        );
        if self.config.exploiter == super::Exploiter::Contrastive {
            let c = &self.config.contrastive;
            s += &format!(
                "**Contrastive exploiter.** Each network was pre-trained without labels (SimCLR: two random views per image, NT-Xent at τ = {}, batch {}), and the accuracies are those of a linear probe fitted on its frozen features of the training images with their labels, then tested on the clean test images.\n\n",
                c.temperature, self.config.batch_size
            );
        }
        if self.config.pseudo_labels {
            s += "The protection was made with k-means look-alike groups (as for a flat folder), not the class labels the models train with.\n\n";
        }
        if self.config.uses_diffusion() {
            let d = &self.config.diffusion;
            s += &format!(
                "Diffusion purification used a {}-channel U-Net trained for {} steps on up to {} other training images per class (never the evaluated ones).\n\n",
                d.channels, d.steps, d.images_per_class
            );
        }
        if let Some(l) = &self.labels {
            s += &format!(
                "**Album mode — a proxy.** {l} Test photos are held-out clean originals; the model is small and the copies are tiny, so treat the numbers as an indication, not a guarantee.\n\n"
            );
        }
        s += "| arm | defence | final test acc | peak test acc | clean, same defence | gap |\n|---|---|---|---|---|---|\n";
        let pct = |v: Option<f32>| v.map_or("–".to_string(), |v| format!("{:.1} %", v * 100.0));
        for a in &self.arms {
            s += &format!(
                "| {} | {} | {:.1} % | {:.1} % | {} | {} |\n",
                a.name,
                a.defence,
                a.final_test_acc * 100.0,
                a.peak_test_acc * 100.0,
                pct(a.clean_reference),
                a.gap
                    .map_or("–".to_string(), |g| format!("{:+.1} pt", g * 100.0))
            );
        }
        let v = &self.visibility;
        s += &format!(
            "\nVisibility of the protection: PSNR {:.1} dB mean ({:.1} dB worst), SSIM {:.3} mean ({:.3} worst), colour cast ΔE00 {:.2} mean ({:.2} worst p99), flat-area noise {:.2}/255 mean ({:.2} worst).\n\nLower test accuracy on protected data means stronger protection; a model trained on clean data is the reference, and the gap is what the protection takes away from a model under the same defence.\n",
            v.psnr_mean,
            v.psnr_worst,
            v.ssim_mean,
            v.ssim_worst,
            v.cast_mean,
            v.cast_p99_worst,
            v.flat_noise_mean,
            v.flat_noise_worst
        );
        if self.protect_seconds > 0.0 {
            s += &format!(
                "\nThe protection took {:.0} s ({:.0} ms per training image) on {}.\n",
                self.protect_seconds,
                1000.0 * self.protect_seconds / self.train_images.max(1) as f64,
                self.device
            );
        }
        s
    }

    /// Write `report.json`, `report.md` and `accuracy.png` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), EvalError> {
        self.write_json(&dir.join("report.json"))?;
        write_atomically(&dir.join("report.md"), self.markdown().as_bytes(), true)?;
        let png = plot(&self.arms).map_err(EvalError::Data)?;
        write_atomically(&dir.join("accuracy.png"), &png, true)?;
        Ok(())
    }

    /// Write the report as JSON to `path` (atomically), creating its folder.
    pub fn write_json(&self, path: &Path) -> Result<(), EvalError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| EvalError::Data(format!("cannot create {}: {e}", dir.display())))?;
        }
        let json = serde_json::to_vec_pretty(self).map_err(|e| EvalError::Data(e.to_string()))?;
        write_atomically(path, &json, true)?;
        Ok(())
    }
}

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Test accuracy per epoch, one line per arm, as PNG bytes.
pub fn plot(arms: &[ArmReport]) -> Result<Vec<u8>, String> {
    let (w, h) = (900u32, 560u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    // Registering the same font again is harmless.
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let epochs = arms.iter().map(|a| a.curve.len()).max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Clean test accuracy of a freshly trained model",
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(1f32..epochs.max(2) as f32, 0f32..100f32)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_labels(epochs.clamp(2, 20))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("test accuracy (%)")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, arm) in arms.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let style = if arm.protected {
                color.stroke_width(2)
            } else {
                BLACK.stroke_width(3)
            };
            chart
                .draw_series(LineSeries::new(
                    arm.curve
                        .iter()
                        .enumerate()
                        .map(|(e, a)| ((e + 1) as f32, a * 100.0)),
                    style,
                ))
                .map_err(|e| e.to_string())?
                .label(arm.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let img = RgbImage::from_raw(w, h, buf).ok_or("plot buffer has the wrong size")?;
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out)
}
