//! Album mode: "does protection work on *my* photos?" for users without a labelled data set.
//! The photos are grouped by sub-folder (or, in a flat folder, by k-means clusters of
//! similar-looking photos, as the EM pipeline does); a share of each group is held out as
//! clean test photos; the rest is protected in memory; a fresh classifier is trained on the
//! clean and on the protected (and defended) copies and tested on the held-out originals.
//! It is a proxy, and the report says so.
//!
//! The photos are protected as photos — scaled down to at most [`AlbumEval::photo_side`] (as
//! a scraper does before training), never squashed — through the same pipeline as an export,
//! and the classifier trains on random-resized crops of them (the real-photo protocol of
//! `evaluate --train-size`). Squashing them to tiny squares first checked a different picture
//! from the one people share: error-minimizing noise made on 32-px squares holds a classifier
//! of 32-px squares to chance, while the same method on the photos themselves does not stop
//! a classifier trained on crops of them (EVALUATION.md, "Real photos").

use std::path::PathBuf;
use std::time::Instant;

use image::RgbImage;

use super::{
    EvalConfig, EvalReport, Visibility, arm_plan, parse_combos, protect_in_memory, run_arms,
};
use crate::cancel::CancelToken;
use crate::device::{ComputeDevice, DeviceChoice};
use crate::error::EvalError;
use crate::imaging::planar::{square_copy, working_dims};
use crate::imaging::{Planar, load_photo, scan};
use crate::labels::look_alike_groups;
use crate::model::SurrogateKind;
use crate::progress::{ProgressEvent, ProgressSink};
use crate::rng::{Rng, derive_seed};

/// Fewest readable photos album mode accepts.
pub const MIN_PHOTOS: usize = 8;

/// Album-mode settings on top of [`EvalConfig`] (whose per-class counts are unused here).
#[derive(Clone, Debug, PartialEq)]
pub struct AlbumEval {
    /// Everything else (protection, epochs, model, defences, seed).
    pub eval: EvalConfig,
    /// Share of each group held out as clean test photos (0.1–0.5).
    pub holdout: f64,
    /// Side of the square copies the classifier sees (random-resized crops of the protected
    /// photos, or the squares themselves without [`Self::photo_side`]).
    pub side: u32,
    /// Longest side the photos are protected and checked at (larger ones are scaled down,
    /// smaller ones kept). `None`: the old proxy — every photo squashed to a `side`-px square
    /// before protecting it (faster; checks tiny squares, not the photos).
    pub photo_side: Option<u32>,
    /// Fewest SGD steps per arm: small albums get more epochs, because a model that has not
    /// fitted its training photos has not picked up the protective shortcut either.
    pub min_steps: usize,
    /// Most epochs per arm, whatever `min_steps` asks.
    pub max_epochs: usize,
}

impl Default for AlbumEval {
    fn default() -> Self {
        Self {
            eval: EvalConfig {
                defences: vec![
                    "none".into(),
                    "share".into(),
                    "jpeg75".into(),
                    "downscale2".into(),
                ],
                epochs: 12,
                model: SurrogateKind::SmallCnn,
                batch_size: 32,
                learning_rate: 0.05,
                ..EvalConfig::default()
            },
            holdout: 0.25,
            side: 64,
            photo_side: Some(256),
            min_steps: 400,
            max_epochs: 200,
        }
    }
}

/// Group labels and a description of how they were made.
fn group(
    copies: &[RgbImage],
    folder_labels: &[usize],
    classes: &[String],
    seed: u64,
) -> (Vec<usize>, usize, String) {
    let mut distinct = folder_labels.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() >= 2 {
        // Renumber to 0..k so empty folders do not leave gaps.
        let labels = folder_labels
            .iter()
            .map(|l| distinct.iter().position(|d| d == l).unwrap_or(0))
            .collect();
        let names: Vec<&str> = distinct
            .iter()
            .filter_map(|&d| classes.get(d).map(String::as_str))
            .collect();
        return (
            labels,
            distinct.len(),
            format!("Groups are the album's sub-folders ({}).", names.join(", ")),
        );
    }
    let planar: Vec<Planar> = copies.iter().map(|c| square_copy(c, 32)).collect();
    let (labels, k) = look_alike_groups(&planar, None, seed);
    (
        labels,
        k,
        format!(
            "No sub-folders, so photos were grouped into {k} clusters of similar-looking photos."
        ),
    )
}

/// `img` with its longest side at most `longest` ([`working_dims`]: shape kept, never
/// enlarged), area-averaged as working copies are.
fn scaled_down(img: RgbImage, longest: u32) -> RgbImage {
    let (w, h) = working_dims(img.width(), img.height(), longest);
    if (w, h) == img.dimensions() {
        img
    } else {
        image::imageops::thumbnail(&img, w, h)
    }
}

/// Run album mode on folders/photos `inputs`.
pub fn run_album(
    inputs: &[PathBuf],
    cfg: &AlbumEval,
    device: DeviceChoice,
    events: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<EvalReport, EvalError> {
    let _release = crate::device::ReleaseMemoryOnDrop;
    let started = Instant::now();
    let ec = &cfg.eval;
    ec.protect.validate().map_err(EvalError::Data)?;
    if !(0.05..=0.5).contains(&cfg.holdout) {
        return Err(EvalError::Data(format!(
            "the held-out share must be 5–50 %, got {:.0} %",
            cfg.holdout * 100.0
        )));
    }
    let combos = parse_combos(&ec.defences)?;
    let clean_combos = parse_combos(&ec.clean_defences)?;
    let album = scan(inputs).map_err(|e| EvalError::Data(e.to_string()))?;
    events.emit(ProgressEvent::Phase {
        name: "reading".into(),
        total: album.len(),
    });
    let mut copies = Vec::new();
    let mut folder_labels = Vec::new();
    for e in &album.entries {
        if cancel.is_cancelled() {
            return Err(EvalError::Method(crate::error::MethodError::Cancelled));
        }
        // Unreadable photos are simply left out of the experiment.
        if let Ok(p) = load_photo(&e.path, &ec.protect.limits) {
            copies.push(match cfg.photo_side {
                Some(longest) => scaled_down(p.rgb, longest),
                None => square_copy(&p.rgb, cfg.side).to_rgb8(),
            });
            folder_labels.push(e.label);
        }
        events.emit(ProgressEvent::PhotoRead { index: e.index });
    }
    if copies.len() < MIN_PHOTOS {
        return Err(EvalError::Data(format!(
            "checking needs at least {MIN_PHOTOS} readable photos; this album has {}",
            copies.len()
        )));
    }
    let (labels, k, how) = group(&copies, &folder_labels, &album.classes, ec.seed);

    // Hold out a share of every group (at least one photo from groups of two or more).
    let mut rng = Rng::new(derive_seed(ec.seed, "album-holdout", 0));
    let mut is_test = vec![false; copies.len()];
    for c in 0..k {
        let mut members: Vec<usize> = (0..copies.len()).filter(|&i| labels[i] == c).collect();
        for i in (1..members.len()).rev() {
            members.swap(i, rng.below(i as u64 + 1) as usize);
        }
        if members.len() >= 2 {
            let n =
                ((members.len() as f64 * cfg.holdout).round() as usize).clamp(1, members.len() - 1);
            for &m in &members[..n] {
                is_test[m] = true;
            }
        }
    }
    let pick = |test: bool| -> (Vec<RgbImage>, Vec<usize>) {
        (0..copies.len())
            .filter(|&i| is_test[i] == test)
            .map(|i| (copies[i].clone(), labels[i]))
            .unzip()
    };
    let (train_x, train_y) = pick(false);
    let (test_x, test_y) = pick(true);

    let mut ec = ec.clone();
    ec.train_size = cfg.photo_side.map(|_| cfg.side);
    let steps_per_epoch = train_x.len().div_ceil(ec.batch_size.max(1)).max(1);
    ec.epochs = ec
        .epochs
        .max(cfg.min_steps.div_ceil(steps_per_epoch))
        .min(cfg.max_epochs.max(1));
    let ec = &ec;
    let device = ComputeDevice::select(device)?;
    events.emit(ProgressEvent::Phase {
        name: "protecting".into(),
        total: train_x.len(),
    });
    let protect_started = Instant::now();
    let protected = protect_in_memory(&train_x, &train_y, k, &ec.protect, &device, events, cancel)?;
    let protect_seconds = protect_started.elapsed().as_secs_f64();
    let visibility = Visibility::measure(&train_x, &protected);
    events.emit(ProgressEvent::Phase {
        name: "checking".into(),
        total: (combos.len() + clean_combos.len() + 1) * ec.epochs,
    });
    let arms = run_arms(
        &train_x,
        &protected,
        &train_y,
        &test_x,
        &test_y,
        k,
        arm_plan(ec, clean_combos, combos),
        ec,
        None,
        &device,
        events,
        cancel,
    )?;
    Ok(EvalReport {
        app: format!("unlearnable {}", env!("CARGO_PKG_VERSION")),
        data: inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        classes: (1..=k).map(|c| format!("group {c}")).collect(),
        train_images: train_x.len(),
        test_images: test_x.len(),
        image_size: cfg.side,
        device: device.summary(),
        config: ec.clone(),
        visibility,
        arms,
        labels: Some(format!(
            "{how} {} photos were protected{} and used for training; {} clean originals ({:.0} % of each group) were held out for testing.",
            train_x.len(),
            match cfg.photo_side {
                Some(l) => format!(
                    " at up to {l} px on their longest side (a model trains on {}-px crops of them)",
                    cfg.side
                ),
                None => format!(" as {0}×{0}-px squares", cfg.side),
            },
            test_x.len(),
            cfg.holdout * 100.0
        )),
        seconds: started.elapsed().as_secs_f64(),
        protect_seconds,
        protected_fingerprint: super::report::fingerprint(&protected),
        part: None,
    })
}

/// How a defence reads in a sentence.
pub fn defence_words(defence: &str) -> String {
    match defence {
        "none" => "as protected".into(),
        "jpeg75" => "after JPEG compression (quality 75, as social media do)".into(),
        "jpeg10" => "after heavy JPEG compression (quality 10)".into(),
        "downscale2" => "after being shrunk to half size and enlarged again".into(),
        "grayscale" => "after conversion to black and white".into(),
        "share" => "after sharing on the web (half size, JPEG quality 75)".into(),
        other => format!("after “{other}”"),
    }
}

/// How well protection held in one arm, relative to chance and to the clean model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The model learned less than half of what it learned from clean photos (above chance).
    Works,
    /// Noticeably worse than clean, but more than half of the clean gain remains.
    Partly,
    /// About as good as clean.
    NotHere,
}

/// Judge a protected arm's accuracy against the clean arm's and chance.
pub fn verdict(clean: f32, protected: f32, chance: f32) -> Verdict {
    let gain = (clean - chance).max(1e-6);
    let kept = (protected - chance) / gain;
    if kept <= 0.5 {
        Verdict::Works
    } else if clean - protected >= 0.1 {
        Verdict::Partly
    } else {
        Verdict::NotHere
    }
}

/// The report in sentences a non-technical reader understands, one per line.
pub fn plain_summary(r: &EvalReport) -> Vec<String> {
    let chance = 1.0 / r.classes.len().max(1) as f32;
    let Some(clean) = r.arms.iter().find(|a| !a.protected) else {
        return vec!["The check did not finish.".into()];
    };
    let mut out = vec![format!(
        "A model trained on clean copies of your photos recognised {:.0} % of the held-out photos (guessing would give {:.0} %).",
        clean.final_test_acc * 100.0,
        chance * 100.0
    )];
    if clean.final_test_acc - chance < 0.15 {
        out.push(
            "Even the clean model learned little here (too few or too varied photos), so this check cannot tell much. Try it on a larger album."
                .into(),
        );
    }
    for a in r.arms.iter().filter(|a| a.protected) {
        let v = verdict(clean.final_test_acc, a.final_test_acc, chance);
        let judged = match v {
            Verdict::Works => "the protection works",
            Verdict::Partly => "the protection helps, but only partly",
            Verdict::NotHere => "the protection did not hold",
        };
        out.push(format!(
            "Trained on the protected copies {}, it recognised {:.0} %: {judged}.",
            defence_words(&a.defence),
            a.final_test_acc * 100.0
        ));
    }
    out.push(format!(
        "This is an estimate from {} small copies of your photos and a small model; real AI training uses far more data, which the published results cover.",
        r.train_images + r.test_images
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_compare_against_chance_and_clean() {
        // 4 groups: chance 25 %; clean 85 %.
        assert_eq!(verdict(0.85, 0.30, 0.25), Verdict::Works);
        assert_eq!(verdict(0.85, 0.55, 0.25), Verdict::Works);
        assert_eq!(verdict(0.85, 0.65, 0.25), Verdict::Partly);
        assert_eq!(verdict(0.85, 0.80, 0.25), Verdict::NotHere);
    }

    #[test]
    fn folder_groups_are_renumbered_and_flat_albums_are_clustered() {
        let img = |v: u8| RgbImage::from_pixel(8, 8, image::Rgb([v, v / 2, 255 - v]));
        let copies: Vec<RgbImage> = (0..10).map(|i| img(if i < 5 { 10 } else { 240 })).collect();
        let classes = vec!["a".to_string(), "empty".into(), "c".into()];
        let folders = vec![0, 0, 0, 0, 0, 2, 2, 2, 2, 2];
        let (labels, k, how) = group(&copies, &folders, &classes, 0);
        assert_eq!(k, 2);
        assert_eq!(labels, vec![0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
        assert!(how.contains("a, c"), "{how}");
        let (labels, k, how) = group(&copies, &[0; 10], &classes[..1], 0);
        assert!(k >= 2);
        assert!(how.contains("clusters"));
        // The two colours end up in different clusters.
        assert_ne!(labels[0], labels[9]);
        assert!(labels[..5].iter().all(|&l| l == labels[0]));
    }

    #[test]
    fn photos_are_scaled_down_to_the_longest_side_keeping_their_shape_and_never_up() {
        let img = |w, h| RgbImage::from_pixel(w, h, image::Rgb([10, 20, 30]));
        assert_eq!(scaled_down(img(4000, 3000), 256).dimensions(), (256, 192));
        assert_eq!(scaled_down(img(300, 1200), 256).dimensions(), (64, 256));
        assert_eq!(scaled_down(img(200, 100), 256).dimensions(), (200, 100));
        assert_eq!(scaled_down(img(3000, 1), 256).dimensions(), (256, 1));
        assert_eq!(
            scaled_down(img(4000, 3000), 256).get_pixel(7, 7).0,
            [10, 20, 30]
        );
    }
}
