//! `evaluate`: measure whether protection works. Protect the training split of a labelled data
//! set, train a *fresh* classifier from scratch on clean and on protected (optionally defended)
//! training data with the standard recipe, and report clean test accuracy per epoch, plus the
//! visibility (PSNR/SSIM) of the protection.

pub mod album;
pub mod augment;
pub mod contrastive;
pub mod defence;
pub mod diffusion;
mod memory;
pub mod report;
pub mod shard;
mod trainer;

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::RgbImage;
use serde::{Deserialize, Serialize};

pub use defence::{Defence, combo_name, parse_combo};
pub use memory::protect_in_memory;
pub use report::{ArmReport, EvalReport, ReportPart, Visibility};

use crate::cancel::CancelToken;
use crate::config::ProtectConfig;
use crate::device::{ComputeDevice, DeviceChoice};
use crate::error::EvalError;
use crate::imaging::planar::square_copy;
use crate::imaging::{Planar, Shard, load_photo};
use crate::model::SurrogateKind;
use crate::progress::{ProgressEvent, ProgressSink};

/// Everything that determines an evaluation. The defaults are the CPU protocol of
/// EVALUATION.md (5 000 CIFAR-10 training images, medium CNN, 20 epochs, batch 64).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalConfig {
    /// The protection under test.
    pub protect: ProtectConfig,
    /// Defence combinations to test the protected data against (`none` = no defence).
    pub defences: Vec<String>,
    /// Training images per class (first N in sorted order).
    pub train_per_class: usize,
    /// Test images per class.
    pub test_per_class: usize,
    /// Training epochs of each fresh classifier.
    pub epochs: usize,
    /// Architecture of the fresh classifiers.
    pub model: SurrogateKind,
    /// Optimiser of the fresh classifiers (`adam` tests a protection against another recipe;
    /// give it a learning rate of about 0.001).
    pub optimizer: crate::train::Optimizer,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Peak learning rate (cosine schedule to 0).
    pub learning_rate: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f32,
    /// Seed of the classifiers and augmentations.
    pub seed: u64,
    /// Train the clean reference arm (turn off only to re-run defences against a clean arm
    /// already measured with the same data and seed: it is deterministic).
    pub clean_arm: bool,
    /// Defence combinations to train the *clean* data under as well: the reference for a
    /// defended protected arm is the clean model under the same defence (`same`: every
    /// combination of `defences`).
    pub clean_defences: Vec<String>,
    /// The real-photo protocol: protect (and defend) the photos at their native size, then
    /// train the classifier on random-resized crops of this side (px), as image-training
    /// recipes do, and test on the clean test photos resized to it. `None`: the CIFAR
    /// protocol (square copies of at most 64 px, padded random crops).
    pub train_size: Option<u32>,
    /// Share of the area a random-resized crop keeps, `[min, max]` (real-photo protocol).
    pub crop_scale: [f32; 2],
    /// Protect as if the photos came in one flat folder: the protection sees k-means
    /// look-alike groups (the app's pseudo-labels) instead of the class labels, which the
    /// exploiter still trains with — the label-agnostic setting of `clusters`.
    pub pseudo_labels: bool,
    /// The diffusion model that the `diffusion` and `le` defences purify with (trained by
    /// `evaluate` on training images after the evaluated ones).
    pub diffusion: diffusion::DiffusionConfig,
    /// How the fresh networks learn: a supervised classifier, or contrastive pre-training
    /// without labels read by a linear probe.
    pub exploiter: Exploiter,
    /// Settings of the contrastive exploiter.
    pub contrastive: contrastive::ContrastiveConfig,
}

/// How the fresh networks of `evaluate` learn from the training images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exploiter {
    /// A classifier trained with the labels (the standard recipe).
    #[default]
    Supervised,
    /// SimCLR pre-training without labels, then a linear probe on its features
    /// ([`contrastive`]).
    Contrastive,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            protect: ProtectConfig::default(),
            defences: vec!["none".into()],
            train_per_class: 500,
            test_per_class: 100,
            epochs: 20,
            model: SurrogateKind::MediumCnn,
            optimizer: crate::train::Optimizer::Sgd,
            batch_size: 64,
            learning_rate: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            seed: 0,
            clean_arm: true,
            clean_defences: Vec::new(),
            train_size: None,
            crop_scale: [0.35, 1.0],
            pseudo_labels: false,
            diffusion: diffusion::DiffusionConfig::default(),
            exploiter: Exploiter::Supervised,
            contrastive: contrastive::ContrastiveConfig::default(),
        }
    }
}

impl EvalConfig {
    /// Settings that cannot run together: adversarial training and UEraser-max train a
    /// supervised classifier, so the contrastive exploiter does not take them.
    pub fn validate(&self) -> Result<(), EvalError> {
        if self.exploiter == Exploiter::Contrastive {
            for name in self.defences.iter().chain(&self.clean_defences) {
                let combo = parse_combo(name).map_err(EvalError::Data)?;
                if combo.iter().any(Defence::trains_supervised) {
                    return Err(EvalError::Data(format!(
                        "defence '{name}' changes how a supervised classifier trains; the \
                         contrastive exploiter does not take it (use a data defence)"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether a defence (of the protected or the clean arms) needs the diffusion model.
    pub fn uses_diffusion(&self) -> bool {
        self.defences
            .iter()
            .chain(&self.clean_defences)
            .any(|d| parse_combo(d).is_ok_and(|c| c.iter().any(Defence::needs_diffusion)))
    }
}

/// A labelled split in memory.
pub struct Split {
    /// Images (all the same square size).
    pub images: Vec<RgbImage>,
    /// Labels in `0..classes.len()`.
    pub labels: Vec<usize>,
    /// Class names (sorted folder names).
    pub classes: Vec<String>,
}

/// Load `root/<split>/<class>/*`, the first `per_class` files of each class in sorted order.
/// Images are brought to one square size (the smallest short side found, at most 64 px), or
/// kept at their native size with `native`.
pub fn load_split(
    root: &Path,
    split: &str,
    per_class: usize,
    native: bool,
) -> Result<Split, EvalError> {
    load_split_from(root, split, 0, per_class, native)
}

/// [`load_split`] of the `per_class` files of each class after the first `skip`.
pub fn load_split_from(
    root: &Path,
    split: &str,
    skip: usize,
    per_class: usize,
    native: bool,
) -> Result<Split, EvalError> {
    let dir = root.join(split);
    let mut classes: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| EvalError::Data(format!("cannot list {}: {e}", dir.display())))?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    classes.sort();
    if classes.len() < 2 {
        return Err(EvalError::Data(format!(
            "{} needs at least 2 class folders",
            dir.display()
        )));
    }
    let mut photos = Vec::new();
    let mut labels = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(class))
            .map_err(|e| {
                EvalError::Data(format!("cannot list {}: {e}", dir.join(class).display()))
            })?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files.into_iter().skip(skip).take(per_class) {
            let photo =
                load_photo(&f, &Default::default()).map_err(|e| EvalError::Data(e.to_string()))?;
            photos.push(photo.rgb);
            labels.push(label);
        }
    }
    if native {
        return Ok(Split {
            images: photos,
            labels,
            classes,
        });
    }
    let side = photos
        .iter()
        .map(|p| p.width().min(p.height()))
        .min()
        .unwrap_or(32)
        .min(64);
    let images = photos
        .iter()
        .map(|p| {
            if p.dimensions() == (side, side) {
                p.clone()
            } else {
                square_copy(p, side).to_rgb8()
            }
        })
        .collect();
    Ok(Split {
        images,
        labels,
        classes,
    })
}

/// Parse every `--defence` combination (`none` gives the undefended arm).
fn parse_combos(defences: &[String]) -> Result<Vec<Vec<Defence>>, EvalError> {
    defences
        .iter()
        .map(|s| parse_combo(s).map_err(EvalError::Data))
        .collect()
}

/// The clean-defence combinations: `same` stands for every protected-arm defence.
fn clean_combo_names(cfg: &EvalConfig) -> Vec<String> {
    if cfg.clean_defences.iter().any(|d| d == "same") {
        cfg.defences.clone()
    } else {
        cfg.clean_defences.clone()
    }
}

/// Run the whole experiment.
///
/// With `shard` (`evaluate --shard i/n`), every part protects the same training split (the
/// protection is deterministic) and trains only its share of the arms (arm `j` of the plan goes
/// to part `j mod n`); [`shard::merge`] combines the parts' reports.
pub fn run(
    data: &Path,
    cfg: &EvalConfig,
    device: DeviceChoice,
    shard: Option<Shard>,
    events: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<EvalReport, EvalError> {
    let _release = crate::device::ReleaseMemoryOnDrop;
    let started = Instant::now();
    cfg.protect.validate().map_err(EvalError::Data)?;
    cfg.validate()?;
    let combos = parse_combos(&cfg.defences)?;
    let clean_combos = parse_combos(&clean_combo_names(cfg))?;
    let device = ComputeDevice::select(device)?;
    let native = cfg.train_size.is_some();
    let train = load_split(data, "train", cfg.train_per_class, native)?;
    let test = load_split(data, "test", cfg.test_per_class, native)?;
    if train.classes != test.classes {
        return Err(EvalError::Data(
            "train and test have different class folders".into(),
        ));
    }
    let k = train.classes.len();
    events.emit(ProgressEvent::Phase {
        name: "protecting".into(),
        total: train.images.len(),
    });
    let protect_started = Instant::now();
    // What the protection is told: the classes, or look-alike groups of a flat folder.
    let (protect_labels, protect_k) = if cfg.pseudo_labels {
        let planar: Vec<Planar> = train.images.iter().map(Planar::from_rgb8).collect();
        let clusters = cfg.protect.method.training().and_then(|t| t.clusters);
        crate::labels::look_alike_groups(&planar, clusters, cfg.protect.seed)
    } else {
        (train.labels.clone(), k)
    };
    let protected = protect_in_memory(
        &train.images,
        &protect_labels,
        protect_k,
        &cfg.protect,
        &device,
        events,
        cancel,
    )?;
    let protect_seconds = protect_started.elapsed().as_secs_f64();
    let visibility = Visibility::measure(&train.images, &protected);
    let protected_fingerprint = report::fingerprint(&protected);
    let plan = arm_plan(cfg, clean_combos, combos);
    let arms_total = plan.len();
    let plan: Vec<(usize, PlannedArm)> = plan
        .into_iter()
        .enumerate()
        .filter(|(j, _)| shard.is_none_or(|s| s.contains(*j)))
        .collect();
    let needs_purifier = plan
        .iter()
        .any(|(_, a)| a.combo.iter().any(Defence::needs_diffusion));
    let purifier = if needs_purifier {
        train_purifier(data, cfg, &device, events, cancel)?
    } else {
        None
    };
    let arm_indices: Vec<usize> = plan.iter().map(|(j, _)| *j).collect();
    let mut arms = run_arms(
        &train.images,
        &protected,
        &train.labels,
        &test.images,
        &test.labels,
        k,
        plan.into_iter().map(|(_, a)| a).collect(),
        cfg,
        purifier.as_ref(),
        &device,
        events,
        cancel,
    )?;
    report::link_references(&mut arms);
    Ok(EvalReport {
        app: format!("unlearnable {}", env!("CARGO_PKG_VERSION")),
        data: data.display().to_string(),
        classes: train.classes,
        train_images: train.images.len(),
        test_images: test.images.len(),
        image_size: cfg
            .train_size
            .unwrap_or_else(|| train.images.first().map(|i| i.width()).unwrap_or(0)),
        device: device.summary(),
        config: cfg.clone(),
        visibility,
        arms,
        labels: None,
        seconds: started.elapsed().as_secs_f64(),
        protect_seconds,
        protected_fingerprint,
        part: shard.map(|shard| ReportPart {
            shard,
            arm_indices,
            arms_total,
        }),
    })
}

/// The diffusion model, when a defence needs it: trained on the training images that follow
/// the evaluated ones in each class (never on evaluated or test images).
fn train_purifier(
    data: &Path,
    cfg: &EvalConfig,
    device: &ComputeDevice,
    events: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Option<diffusion::Purifier>, EvalError> {
    if !cfg.uses_diffusion() {
        return Ok(None);
    }
    let d = &cfg.diffusion;
    let held = load_split_from(
        data,
        "train",
        cfg.train_per_class,
        d.images_per_class,
        cfg.train_size.is_some(),
    )?;
    if held.images.is_empty() {
        return Err(EvalError::Data(format!(
            "the diffusion model needs training images beyond the first {} per class in {}",
            cfg.train_per_class,
            data.display()
        )));
    }
    events.emit(ProgressEvent::Phase {
        name: format!(
            "training the diffusion model on {} other images",
            held.images.len()
        ),
        total: d.steps,
    });
    let p = diffusion::train(&held.images, d, cfg.seed, &device.device, events, cancel)?;
    Ok(Some(p))
}

/// Apply a defence combination to every image: static defences image by image, diffusion
/// purification in batches with the trained model.
fn defend(
    images: &[RgbImage],
    combo: &[Defence],
    purifier: Option<&diffusion::Purifier>,
    seed: u64,
    cancel: &CancelToken,
) -> Result<Vec<RgbImage>, EvalError> {
    let mut out = images.to_vec();
    for d in combo {
        out = match (d, purifier) {
            (Defence::Diffusion { t }, Some(p)) => {
                p.purify(&out, usize::from(*t), 1, false, seed, cancel)?
            }
            (Defence::LearnableExamples { t }, Some(p)) => {
                let rounds = p.rounds();
                p.purify(&out, usize::from(*t), rounds, true, seed, cancel)?
            }
            (d, None) if d.needs_diffusion() => {
                return Err(EvalError::Data(format!(
                    "{} needs the diffusion model",
                    d.name()
                )));
            }
            (d, _) => out.iter().map(|img| d.apply(img)).collect(),
        };
    }
    Ok(out)
}

/// One classifier to train: its name, the defences applied to its training images, and
/// whether they are the protected ones.
struct PlannedArm {
    name: String,
    combo: Vec<Defence>,
    protected: bool,
}

/// Every arm of a run, in report order: the clean arm, one clean arm per clean-defence
/// combination, one protected arm per defence combination.
fn arm_plan(
    cfg: &EvalConfig,
    clean_combos: Vec<Vec<Defence>>,
    combos: Vec<Vec<Defence>>,
) -> Vec<PlannedArm> {
    let mut plan = Vec::new();
    if cfg.clean_arm {
        plan.push(PlannedArm {
            name: "clean".into(),
            combo: Vec::new(),
            protected: false,
        });
    }
    for combo in clean_combos.into_iter().filter(|c| !c.is_empty()) {
        plan.push(PlannedArm {
            name: format!("clean + {}", combo_name(&combo)),
            combo,
            protected: false,
        });
    }
    for combo in combos {
        plan.push(PlannedArm {
            name: format!("{} + {}", cfg.protect.method.id(), combo_name(&combo)),
            combo,
            protected: true,
        });
    }
    plan
}

/// Train the planned arms ([`arm_plan`]) and test each on `test`.
#[allow(clippy::too_many_arguments)]
fn run_arms(
    clean: &[RgbImage],
    protected: &[RgbImage],
    labels: &[usize],
    test: &[RgbImage],
    test_labels: &[usize],
    k: usize,
    plan: Vec<PlannedArm>,
    cfg: &EvalConfig,
    purifier: Option<&diffusion::Purifier>,
    device: &ComputeDevice,
    events: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Vec<ArmReport>, EvalError> {
    // What the classifier is given: the images as they are (CIFAR protocol), or squares of
    // 1.5× the training side that random-resized crops are cut from (real-photo protocol;
    // test photos go straight to the training side).
    let resized = |img: &RgbImage, side: u32| {
        Planar::from_rgb8(&image::imageops::resize(
            img,
            side,
            side,
            image::imageops::FilterType::Triangle,
        ))
    };
    let to_planar = |v: &[RgbImage]| -> Vec<Planar> {
        match cfg.train_size {
            Some(t) => v.iter().map(|i| resized(i, t * 3 / 2)).collect(),
            None => v.iter().map(Planar::from_rgb8).collect(),
        }
    };
    let test_x: Vec<Planar> = match cfg.train_size {
        Some(t) => test.iter().map(|i| resized(i, t)).collect(),
        None => test.iter().map(Planar::from_rgb8).collect(),
    };
    let mut arms = Vec::new();
    for PlannedArm {
        name,
        combo,
        protected: is_protected,
    } in plan
    {
        let source = if is_protected { protected } else { clean };
        let defended = defend(source, &combo, purifier, cfg.seed, cancel)?;
        let training = trainer::TrainingDefences {
            ueraser_repeats: combo.iter().find_map(|d| match d {
                Defence::Ueraser { repeats } => Some(*repeats),
                _ => None,
            }),
            adversarial_eps: combo.iter().find_map(|d| match d {
                Defence::Adversarial { eps_255 } => Some(f32::from(*eps_255) / 255.0),
                _ => None,
            }),
        };
        let curve = match cfg.exploiter {
            Exploiter::Supervised => trainer::train_arm(
                &name,
                &to_planar(&defended),
                labels,
                &test_x,
                test_labels,
                k,
                cfg,
                &training,
                &device.device,
                events,
                cancel,
            )?,
            Exploiter::Contrastive => contrastive::train_arm(
                &name,
                &to_planar(&defended),
                labels,
                &test_x,
                test_labels,
                k,
                test_x.first().map_or(32, |t| t.width as usize),
                cfg,
                &device.device,
                events,
                cancel,
            )?,
        };
        arms.push(ArmReport::new(
            name,
            combo_name(&combo),
            is_protected,
            curve,
        ));
    }
    Ok(arms)
}
