//! Every tunable of a protection run, as serde structs. The whole [`ProtectConfig`] is written
//! into `manifest.json` next to the results, so a run can be reproduced from its output.

use serde::{Deserialize, Serialize};

use crate::device::Backend;
use crate::imaging::BudgetConfig;
use crate::imaging::transforms::TransformConfig;
use crate::method_id::MethodId;
use crate::model::SurrogateKind;

/// [`MethodSettings`] for settings types that flatten a surrogate's [`EmConfig`] as `train`
/// and whose rounds are its rounds.
macro_rules! surrogate_settings {
    ($($t:ty),+) => {$(
        impl MethodSettings for $t {
            fn training(&self) -> Option<&EmConfig> {
                Some(&self.train)
            }
            fn training_mut(&mut self) -> Option<&mut EmConfig> {
                Some(&mut self.train)
            }
            fn max_rounds(&self, backend: Backend, epsilon: f32) -> u32 {
                self.resolve(backend, epsilon).train.max_rounds
            }
        }
    )+};
}

mod methods;

pub use methods::{
    ClustersConfig, RemConfig, ResolvedClusters, ResolvedRem, ResolvedTue, TueConfig, TueSurrogate,
};

/// One user-facing strength, mapped to a perturbation budget (oxipng-style presets).
///
/// | preset | ε (L∞, per 8-bit channel) | in words |
/// |---|---|---|
/// | `low` | 4/255 | hardest to see, weakest protection |
/// | `medium` | 8/255 | the research default (CIFAR-10 literature) |
/// | `high` | 16/255 | strongest; visible in flat areas such as skies |
///
/// An explicit `--epsilon` overrides the preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Strength {
    /// ε = 4/255.
    Low,
    /// ε = 8/255.
    #[default]
    Medium,
    /// ε = 16/255.
    High,
}

impl Strength {
    /// All presets, weakest first.
    pub const ALL: [Strength; 3] = [Strength::Low, Strength::Medium, Strength::High];

    /// The L∞ budget in 1/255 units.
    pub fn epsilon_255(self) -> f32 {
        match self {
            Strength::Low => 4.0,
            Strength::Medium => 8.0,
            Strength::High => 16.0,
        }
    }

    /// Lower-case name, as the CLI takes it.
    pub fn name(self) -> &'static str {
        match self {
            Strength::Low => "low",
            Strength::Medium => "medium",
            Strength::High => "high",
        }
    }

    /// One plain sentence for people who never heard of ε.
    pub fn explain(self) -> &'static str {
        match self {
            Strength::Low => "Barely visible changes; the weakest protection.",
            Strength::Medium => {
                "Changes you can spot only when you look closely; the research default."
            }
            Strength::High => {
                "Strongest protection; a fine grain is visible in smooth areas like skies."
            }
        }
    }
}

/// Which method runs, with its own settings. Serialized with the method id as tag:
/// `{"id": "conv", "kernel_size": null, ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "id", rename_all = "kebab-case")]
pub enum MethodConfig {
    /// Convolution-based class-wise filters (Sadasivan et al., CVPR 2023).
    Conv(ConvConfig),
    /// Uniform random noise: the control that does *not* protect.
    Random(RandomConfig),
    /// Error-minimizing noise, one δ per photo (Huang et al., ICLR 2021).
    Em(EmConfig),
    /// Error-minimizing noise, one δ per class.
    EmClass(EmConfig),
    /// Invisible, share-robust error-minimizing noise: luma only, texture-masked budget,
    /// optimised through crops, resizing, JPEG, grayscale and noise.
    Shield(ShieldConfig),
    /// Robust error-minimizing noise: holds against adversarial training (Fu et al., 2022).
    Rem(RemConfig),
    /// Transferable unlearnable examples: EM plus class separability (Ren et al., 2023).
    Tue(TueConfig),
    /// Label-agnostic Unlearnable Clusters (Zhang et al., 2023).
    Clusters(ClustersConfig),
}

/// Error-minimizing noise: the one method here that measurably protects (EVALUATION.md).
impl Default for MethodConfig {
    fn default() -> Self {
        MethodConfig::Em(EmConfig::default())
    }
}

impl MethodConfig {
    /// The default settings of a method.
    pub fn default_for(id: MethodId) -> Self {
        match id {
            MethodId::Conv => MethodConfig::Conv(ConvConfig::default()),
            MethodId::Random => MethodConfig::Random(RandomConfig::default()),
            MethodId::Em => MethodConfig::Em(EmConfig::default()),
            MethodId::EmClass => MethodConfig::EmClass(EmConfig::default()),
            MethodId::Shield => MethodConfig::Shield(ShieldConfig::default()),
            MethodId::Rem => MethodConfig::Rem(RemConfig::default()),
            MethodId::Tue => MethodConfig::Tue(TueConfig::default()),
            MethodId::Clusters => MethodConfig::Clusters(ClustersConfig::default()),
        }
    }

    /// The id of the configured method.
    pub fn id(&self) -> MethodId {
        match self {
            MethodConfig::Conv(_) => MethodId::Conv,
            MethodConfig::Random(_) => MethodId::Random,
            MethodConfig::Em(_) => MethodId::Em,
            MethodConfig::EmClass(_) => MethodId::EmClass,
            MethodConfig::Shield(_) => MethodId::Shield,
            MethodConfig::Rem(_) => MethodId::Rem,
            MethodConfig::Tue(_) => MethodId::Tue,
            MethodConfig::Clusters(_) => MethodId::Clusters,
        }
    }

    /// The method's own settings, as the questions every method answers.
    pub fn settings(&self) -> &dyn MethodSettings {
        match self {
            MethodConfig::Conv(c) => c,
            MethodConfig::Random(c) => c,
            MethodConfig::Em(c) | MethodConfig::EmClass(c) => c,
            MethodConfig::Shield(c) => c,
            MethodConfig::Rem(c) => c,
            MethodConfig::Tue(c) => c,
            MethodConfig::Clusters(c) => c,
        }
    }

    /// Mutable [`Self::settings`].
    pub fn settings_mut(&mut self) -> &mut dyn MethodSettings {
        match self {
            MethodConfig::Conv(c) => c,
            MethodConfig::Random(c) => c,
            MethodConfig::Em(c) | MethodConfig::EmClass(c) => c,
            MethodConfig::Shield(c) => c,
            MethodConfig::Rem(c) => c,
            MethodConfig::Tue(c) => c,
            MethodConfig::Clusters(c) => c,
        }
    }

    /// The surrogate-training settings of a training-based method (`None` for the others).
    pub fn training(&self) -> Option<&EmConfig> {
        self.settings().training()
    }

    /// Mutable [`Self::training`].
    pub fn training_mut(&mut self) -> Option<&mut EmConfig> {
        self.settings_mut().training_mut()
    }

    /// Round limit of a training-based method on `backend` (0 for the others).
    pub fn max_rounds(&self, backend: Backend, epsilon: f32) -> u32 {
        self.settings().max_rounds(backend, epsilon)
    }
}

/// What every method's settings answer (each type implements it next to its definition);
/// the defaults are those of a training-free method.
pub trait MethodSettings {
    /// The surrogate-training settings (`None`: the method trains nothing).
    fn training(&self) -> Option<&EmConfig> {
        None
    }

    /// Mutable [`Self::training`].
    fn training_mut(&mut self) -> Option<&mut EmConfig> {
        None
    }

    /// Round limit on `backend` (0: no rounds).
    fn max_rounds(&self, _backend: Backend, _epsilon: f32) -> u32 {
        0
    }
}

impl MethodSettings for ConvConfig {}

impl MethodSettings for RandomConfig {}

impl MethodSettings for EmConfig {
    fn training(&self) -> Option<&EmConfig> {
        Some(self)
    }
    fn training_mut(&mut self) -> Option<&mut EmConfig> {
        Some(self)
    }
    fn max_rounds(&self, backend: Backend, epsilon: f32) -> u32 {
        self.resolve(backend, epsilon).max_rounds
    }
}

surrogate_settings!(ShieldConfig);

/// Settings of the convolution-filter method. `None` means "scale with the working resolution".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConvConfig {
    /// Odd kernel side at the working resolution. Auto: 3 at 32 px, 9 at 224 px (short side / 25,
    /// made odd, clamped to 3..=15), matching the paper's CIFAR and ImageNet settings.
    pub kernel_size: Option<u32>,
    /// Upper bound of the uniform off-peak kernel entries. Auto: 1.5·k^-1.465, which gives the
    /// published 0.3 at k = 3 and 0.06 at k = 9.
    pub blur: Option<f32>,
    /// Divide the filtered image by its maximum, as the paper does (changes brightness).
    pub normalize_max: bool,
}

impl Default for ConvConfig {
    fn default() -> Self {
        Self {
            kernel_size: None,
            blur: None,
            normalize_max: true,
        }
    }
}

/// Settings of the random-noise control: uniform noise in [−ε, ε], drawn per value of the
/// working copy and applied through the same contract as every method. No settings yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RandomConfig {}

/// Speed/quality preset of training-based methods. Explicit settings override it.
///
/// | preset | working size CPU / GPU | surrogate CPU / GPU | δ-steps per round (K) | max rounds |
/// |---|---|---|---|---|
/// | `fast` | 32 / 64 | small CNN / small CNN | 10 | 5 |
/// | `balanced` | 64 / 128 | small CNN / ResNet-18 | 20 | 10 |
/// | `thorough` | 96 / 224 | ResNet-18 / ResNet-18 | 20 | 20 |
///
/// Why smaller on CPUs: the cost of every δ-step grows with the pixel count, and 64 px keeps a
/// 12 MP photo at a few seconds on two cores; the perturbation is upsampled to native size, so
/// a small working size gives coarser, lower-frequency noise rather than none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Quality {
    /// Quickest; for previews and large albums on a CPU.
    Fast,
    /// The default.
    #[default]
    Balanced,
    /// Closest to the papers' settings; slow without a GPU.
    Thorough,
}

impl Quality {
    /// All presets, quickest first.
    pub const ALL: [Quality; 3] = [Quality::Fast, Quality::Balanced, Quality::Thorough];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Quality::Fast => "fast",
            Quality::Balanced => "balanced",
            Quality::Thorough => "thorough",
        }
    }
}

/// Settings of error-minimizing noise (`em` and `em-class`). `None` means "from the quality
/// preset and the device"; defaults otherwise follow `methods.md` §1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmConfig {
    /// Speed/quality preset.
    pub quality: Quality,
    /// Surrogate network.
    pub surrogate: Option<SurrogateKind>,
    /// Side of the square copy the noise is optimised on (photos smaller than this are
    /// processed at their own size).
    pub working_size: Option<u32>,
    /// Signed-gradient steps on δ per round (K).
    pub steps: Option<u32>,
    /// Step size α in 1/255 units (default ε/10).
    pub step_size_255: Option<f32>,
    /// Surrogate training steps (mini-batches) per round.
    pub theta_steps: u32,
    /// Round limit.
    pub max_rounds: Option<u32>,
    /// Stop once the surrogate classifies this share of x+δ correctly.
    pub stop_accuracy: f32,
    /// Mini-batch size for both surrogate training and δ-steps.
    pub batch_size: usize,
    /// Surrogate SGD learning rate.
    pub learning_rate: f64,
    /// Surrogate SGD momentum.
    pub momentum: f64,
    /// Surrogate SGD weight decay.
    pub weight_decay: f32,
    /// Surrogate gradient-norm clip.
    pub grad_clip: f32,
    /// Number of pseudo-label clusters for a folder without sub-folders (auto: √(n/2),
    /// clamped to 2..=10).
    pub clusters: Option<usize>,
}

impl Default for EmConfig {
    fn default() -> Self {
        Self {
            quality: Quality::Balanced,
            surrogate: None,
            working_size: None,
            steps: None,
            step_size_255: None,
            theta_steps: 10,
            max_rounds: None,
            stop_accuracy: 0.99,
            batch_size: 128,
            learning_rate: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            grad_clip: 5.0,
            clusters: None,
        }
    }
}

/// [`EmConfig`] with every automatic value decided; recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedEm {
    /// Surrogate network.
    pub surrogate: SurrogateKind,
    /// Largest side of the square working copy.
    pub working_size: u32,
    /// δ-steps per round.
    pub steps: u32,
    /// Step size α (fraction of full scale).
    pub step_size: f32,
    /// Budget ε (fraction of full scale).
    pub epsilon: f32,
    /// Surrogate steps per round.
    pub theta_steps: u32,
    /// Round limit.
    pub max_rounds: u32,
    /// Stop threshold.
    pub stop_accuracy: f32,
    /// Mini-batch size.
    pub batch_size: usize,
    /// SGD learning rate, momentum, weight decay, gradient clip.
    pub sgd: [f64; 4],
}

impl EmConfig {
    /// Decide the automatic values for a backend and a budget `epsilon` (fraction).
    pub fn resolve(&self, backend: Backend, epsilon: f32) -> ResolvedEm {
        let gpu = backend != Backend::Cpu;
        let (cpu_size, gpu_size, steps, rounds) = match self.quality {
            Quality::Fast => (32, 64, 10, 5),
            Quality::Balanced => (64, 128, 20, 10),
            Quality::Thorough => (96, 224, 20, 20),
        };
        let surrogate = match (self.quality, gpu) {
            (Quality::Thorough, _) | (Quality::Balanced, true) => SurrogateKind::Resnet18,
            _ => SurrogateKind::SmallCnn,
        };
        ResolvedEm {
            surrogate: self.surrogate.unwrap_or(surrogate),
            working_size: self
                .working_size
                .unwrap_or(if gpu { gpu_size } else { cpu_size }),
            steps: self.steps.unwrap_or(steps),
            step_size: self
                .step_size_255
                .map(|a| a / 255.0)
                .unwrap_or(epsilon / 10.0),
            epsilon,
            theta_steps: self.theta_steps,
            max_rounds: self.max_rounds.unwrap_or(rounds),
            stop_accuracy: self.stop_accuracy,
            batch_size: self.batch_size,
            sgd: [
                self.learning_rate,
                self.momentum,
                f64::from(self.weight_decay),
                f64::from(self.grad_clip),
            ],
        }
    }
}

/// Settings of the `shield` method: surrogate training as for error-minimizing noise (with
/// their own presets, below), where the budget goes, and what the noise must survive.
///
/// | preset | working size CPU / GPU | surrogate input CPU / GPU | δ-steps per round (K) | max rounds |
/// |---|---|---|---|---|
/// | `fast` | 96 / 160 | 48 / 96 | 5 | 4 |
/// | `balanced` | 128 / 224 | 64 / 128 | 10 | 6 |
/// | `thorough` | 160 / 224 | 96 / 160 | 20 | 12 |
///
/// The working size is the pattern's resolution; the surrogate sees random-resized crops of
/// it at the smaller input side, as a scraper trains on downscaled crops (and it is 4× cheaper
/// than computing at the working size). Both are multiples of 16 (JPEG's macroblock).
/// `train.step_size_255` is not used: each step moves the pattern by `step_fraction` of the
/// local budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShieldConfig {
    /// Surrogate and optimisation settings (shared with `em`). Settings a saved config leaves
    /// out take `shield`'s defaults (e.g. stop at 90 %, batch 64), not `em`'s.
    #[serde(flatten, deserialize_with = "shield_train")]
    pub train: EmConfig,
    /// Side of the transformed crops the surrogate trains on (`None`: from the preset).
    pub surrogate_size: Option<u32>,
    /// Step of the pattern per δ-step, as a fraction of the local budget.
    pub step_fraction: f32,
    /// Share of the budget (0–1) that a pattern shared by every photo of a group may use, on
    /// top of each photo's own pattern (the sum is capped at the budget). Shared patterns are
    /// learned much faster by a model (class-wise EM's strength), but are easier to estimate
    /// and remove, and saturate the budget more (more visible). Off by default: at 0.5 it did
    /// not protect better at the CPU-scale real-photo protocol (EVALUATION.md).
    pub class_share: f32,
    /// Side in working-size pixels of a tile that the shared pattern repeats over the whole
    /// photo (0: one pattern as large as the photo). A tiled pattern is stationary, so every
    /// random crop of a photo carries all of it.
    pub class_tile: u32,
    /// Side of the coarse grid the shared tile is drawn on and smoothly enlarged from
    /// (0: the tile's own pixels). A coarse grid keeps the shared pattern at low spatial
    /// frequencies, which survive downscaling and JPEG.
    pub class_grid: u32,
    /// Share of the budget (0–1) each photo's own pattern may use (1: all of it; 0: only the
    /// group's shared pattern is applied).
    pub photo_share: f32,
    /// Start the shared pattern from seeded random ±`class_share` values instead of zero (a
    /// synthetic class-wise shortcut, as in Yu et al. 2022, that the optimisation refines).
    pub class_random_init: bool,
    /// How the budget is spread over each photo (texture mask, flat-area budget, RMS cap).
    pub budget: BudgetConfig,
    /// Transformations the noise is optimised through (and the surrogate trained on).
    pub transforms: TransformConfig,
}

/// The flattened surrogate settings of a `shield` config: the keys given, over `shield`'s own
/// defaults (a plain `#[serde(default)]` would fill the gaps with `em`'s).
fn shield_train<'de, D: serde::Deserializer<'de>>(d: D) -> Result<EmConfig, D::Error> {
    train_over(d, ShieldConfig::default().train)
}

/// Flattened [`EmConfig`] keys read over a method's own `defaults` (for methods whose surrogate
/// defaults differ from `em`'s).
pub(crate) fn train_over<'de, D: serde::Deserializer<'de>>(
    d: D,
    defaults: EmConfig,
) -> Result<EmConfig, D::Error> {
    use serde::de::Error;
    use serde_json::{Map, Value};
    let given = Map::<String, Value>::deserialize(d)?;
    let mut merged = match serde_json::to_value(defaults) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (k, v) in given {
        if merged.contains_key(&k) {
            merged.insert(k, v);
        }
    }
    serde_json::from_value(Value::Object(merged)).map_err(D::Error::custom)
}

impl Default for ShieldConfig {
    fn default() -> Self {
        Self {
            train: EmConfig {
                stop_accuracy: 0.9,
                batch_size: 64,
                ..EmConfig::default()
            },
            surrogate_size: None,
            step_fraction: 0.2,
            class_share: 0.0,
            class_tile: 0,
            class_grid: 0,
            photo_share: 1.0,
            class_random_init: false,
            budget: BudgetConfig::default(),
            transforms: TransformConfig::default(),
        }
    }
}

/// [`ShieldConfig`] with every automatic value decided; recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedShield {
    /// Surrogate training and optimisation (`step_size` is the fraction of the local budget).
    #[serde(flatten)]
    pub train: ResolvedEm,
    /// Side of the crops the surrogate sees.
    pub surrogate_size: u32,
    /// Share of the budget for the group's shared pattern.
    pub class_share: f32,
    /// Tile of the shared pattern (0: full size).
    pub class_tile: u32,
    /// Coarse grid of the shared tile (0: none).
    pub class_grid: u32,
    /// Share of the budget for each photo's own pattern.
    pub photo_share: f32,
    /// Random start of the shared pattern.
    pub class_random_init: bool,
    /// Budget spreading.
    pub budget: BudgetConfig,
    /// Transformations.
    pub transforms: TransformConfig,
}

impl ShieldConfig {
    /// Decide the automatic values for a backend and a budget `epsilon` (fraction).
    pub fn resolve(&self, backend: Backend, epsilon: f32) -> ResolvedShield {
        let gpu = backend != Backend::Cpu;
        let (cpu_size, gpu_size, cpu_input, gpu_input, steps, rounds) = match self.train.quality {
            Quality::Fast => (96, 160, 48, 96, 5, 4),
            Quality::Balanced => (128, 224, 64, 128, 10, 6),
            Quality::Thorough => (160, 224, 96, 160, 20, 12),
        };
        let mut train = self.train.resolve(backend, epsilon);
        train.working_size =
            self.train
                .working_size
                .unwrap_or(if gpu { gpu_size } else { cpu_size });
        train.surrogate = self.train.surrogate.unwrap_or(if gpu {
            SurrogateKind::Resnet18
        } else {
            SurrogateKind::SmallCnn
        });
        train.steps = self.train.steps.unwrap_or(steps);
        train.max_rounds = self.train.max_rounds.unwrap_or(rounds);
        train.step_size = self.step_fraction;
        ResolvedShield {
            train,
            surrogate_size: self
                .surrogate_size
                .unwrap_or(if gpu { gpu_input } else { cpu_input }),
            class_share: self.class_share,
            class_tile: self.class_tile,
            class_grid: self.class_grid,
            photo_share: self.photo_share,
            class_random_init: self.class_random_init,
            budget: self.budget.clone(),
            transforms: self.transforms.clone(),
        }
    }
}

/// Output file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// Lossless PNG: keeps the perturbation exactly (default).
    #[default]
    Png,
    /// JPEG: lossy re-encoding weakens the protection.
    Jpeg,
    /// WebP (lossless in this version).
    Webp,
}

impl ExportFormat {
    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Png => "png",
            ExportFormat::Jpeg => "jpg",
            ExportFormat::Webp => "webp",
        }
    }

    /// Whether writing this format loses information (and so weakens protection).
    pub fn is_lossy(self) -> bool {
        matches!(self, ExportFormat::Jpeg)
    }
}

/// PNG compression effort. Measured on 12 MP photos (BENCHMARKS.md): `fast` is about 3.5×
/// quicker than `default` for files about 12 % larger; pixels are identical either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PngCompression {
    /// Quickest encoding (default).
    #[default]
    Fast,
    /// zlib's default level.
    Default,
    /// Smallest files, slowest.
    Best,
}

/// Where the photos go, mapped to export settings (oxipng-style presets).
///
/// | preset | format | size |
/// |---|---|---|
/// | `full` | PNG (lossless) | full size |
/// | `web` | JPEG quality 85 | long side at most 2048 px |
///
/// With `shield`, a JPEG preset's quality is also put into the transformations the noise is
/// optimised through, so the file that is uploaded is one the noise was tuned for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportPreset {
    /// Full-size lossless PNG: keeps the protection exactly.
    Full,
    /// For the web: long side 2048 px, JPEG quality 85 (what most sites keep or re-encode).
    Web,
}

impl ExportPreset {
    /// All presets.
    pub const ALL: [ExportPreset; 2] = [ExportPreset::Full, ExportPreset::Web];

    /// Lower-case name, as the CLI takes it.
    pub fn name(self) -> &'static str {
        match self {
            ExportPreset::Full => "full",
            ExportPreset::Web => "web",
        }
    }

    /// One plain sentence.
    pub fn explain(self) -> &'static str {
        match self {
            ExportPreset::Full => "Full size, lossless PNG: the protection is kept exactly.",
            ExportPreset::Web => {
                "For the web: at most 2048 px on the long side, JPEG quality 85 — small files, \
                 and what most sites would do to the photo anyway."
            }
        }
    }

    /// Set `cfg`'s format, quality and size for this preset (metadata and naming are kept).
    pub fn apply(self, cfg: &mut ExportConfig) {
        cfg.preset = Some(self);
        match self {
            ExportPreset::Full => {
                cfg.format = ExportFormat::Png;
                cfg.max_long_side = None;
            }
            ExportPreset::Web => {
                cfg.format = ExportFormat::Jpeg;
                cfg.jpeg_quality = 85;
                cfg.max_long_side = Some(2048);
            }
        }
    }
}

/// How protected photos are written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportConfig {
    /// The preset the settings below came from (`None` when set by hand).
    pub preset: Option<ExportPreset>,
    /// Output format.
    pub format: ExportFormat,
    /// Shrink photos whose long side is larger than this (px) when writing; `None`: full size.
    /// The ε bound holds for the full-size protected pixels; a shrunk copy is derived from them.
    pub max_long_side: Option<u32>,
    /// JPEG quality (1–100), used only for [`ExportFormat::Jpeg`].
    pub jpeg_quality: u8,
    /// PNG compression effort, used only for [`ExportFormat::Png`].
    pub png_compression: PngCompression,
    /// Keep the artist and copyright fields of the original (all other metadata, including
    /// GPS position and camera serial numbers, is always dropped).
    pub keep_copyright: bool,
    /// Replace files already in the output folder. Off: a free name (`photo_2.png`) is used.
    pub overwrite: bool,
    /// Added to every output file name before the extension, e.g. `_protected`.
    pub name_suffix: String,
}

impl Default for ExportConfig {
    fn default() -> Self {
        Self {
            preset: None,
            format: ExportFormat::Png,
            max_long_side: None,
            jpeg_quality: 95,
            png_compression: PngCompression::Fast,
            keep_copyright: false,
            overwrite: false,
            name_suffix: String::new(),
        }
    }
}

/// Guards against decompression bombs and absurd inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadLimits {
    /// Largest accepted width or height in pixels.
    pub max_side: u32,
    /// Largest accepted pixel count, in megapixels.
    pub max_megapixels: u32,
    /// Largest allocation a decoder may make, in MiB.
    pub max_alloc_mib: u64,
}

impl Default for LoadLimits {
    fn default() -> Self {
        Self {
            max_side: 32_768,
            max_megapixels: 200,
            max_alloc_mib: 2048,
        }
    }
}

/// Everything that determines a protection run's output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProtectConfig {
    /// The method and its settings.
    pub method: MethodConfig,
    /// The preset the budget came from (`None` when `epsilon_255` was set by hand).
    pub strength: Option<Strength>,
    /// L∞ budget in 1/255 units: no output channel differs from the original by more.
    pub epsilon_255: f32,
    /// Seed of every random choice; the same seed gives byte-identical files.
    pub seed: u64,
    /// Long side, in pixels, of the copy per-photo methods (`conv`, `random`) compute on.
    /// Photos smaller than this are processed at their own size. 256 matches the resolutions
    /// scrapers train at (224–512). Training-based methods use [`EmConfig::working_size`].
    pub working_size: u32,
    /// Photos decoded at once; bounds memory independently of the album size.
    pub batch_size: usize,
    /// Decoder limits.
    pub limits: LoadLimits,
    /// Output settings.
    pub export: ExportConfig,
}

impl Default for ProtectConfig {
    fn default() -> Self {
        Self {
            method: MethodConfig::default(),
            strength: Some(Strength::Medium),
            epsilon_255: Strength::Medium.epsilon_255(),
            seed: 0,
            working_size: 256,
            batch_size: 4,
            limits: LoadLimits::default(),
            export: ExportConfig::default(),
        }
    }
}

impl ProtectConfig {
    /// A config for `method` at `strength`, other settings default.
    pub fn new(method: MethodId, strength: Strength) -> Self {
        Self {
            method: MethodConfig::default_for(method),
            strength: Some(strength),
            epsilon_255: strength.epsilon_255(),
            ..Self::default()
        }
    }

    /// The L∞ budget as a fraction of full scale.
    pub fn epsilon(&self) -> f32 {
        self.epsilon_255 / 255.0
    }

    /// Check ranges; returns a message for the first problem found.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.epsilon_255.is_finite() && self.epsilon_255 >= 1.0 && self.epsilon_255 <= 64.0) {
            return Err(format!(
                "epsilon must be between 1 and 64 (units of 1/255), got {}",
                self.epsilon_255
            ));
        }
        if self.working_size < 8 {
            return Err(format!(
                "working size must be at least 8 px, got {}",
                self.working_size
            ));
        }
        if self.batch_size == 0 {
            return Err("batch size must be at least 1".into());
        }
        if self.export.max_long_side.is_some_and(|s| s < 16) {
            return Err("the export size limit must be at least 16 px".into());
        }
        if !(1..=100).contains(&self.export.jpeg_quality) {
            return Err(format!(
                "JPEG quality must be 1–100, got {}",
                self.export.jpeg_quality
            ));
        }
        if let MethodConfig::Shield(c) = &self.method {
            c.budget.validate()?;
            c.transforms.validate()?;
            if !(c.step_fraction.is_finite() && c.step_fraction > 0.0 && c.step_fraction <= 1.0) {
                return Err(format!(
                    "shield step fraction must be in (0, 1], got {}",
                    c.step_fraction
                ));
            }
            if !(c.class_share.is_finite() && (0.0..=1.0).contains(&c.class_share)) {
                return Err(format!(
                    "shield class share must be in [0, 1], got {}",
                    c.class_share
                ));
            }
            if !(c.photo_share.is_finite() && (0.0..=1.0).contains(&c.photo_share)) {
                return Err(format!(
                    "shield photo share must be in [0, 1], got {}",
                    c.photo_share
                ));
            }
            if c.photo_share == 0.0 && c.class_share == 0.0 {
                return Err("shield needs a photo share or a class share above 0".into());
            }
            if c.class_grid > 1024 {
                return Err(format!(
                    "shield class grid must be at most 1024, got {}",
                    c.class_grid
                ));
            }
            if c.class_tile > 1024 {
                return Err(format!(
                    "shield class tile must be at most 1024 px, got {}",
                    c.class_tile
                ));
            }
            if c.train.working_size.is_some_and(|w| w % 16 != 0) {
                return Err("shield working size must be a multiple of 16 px".into());
            }
            if c.surrogate_size
                .is_some_and(|w| w % 16 != 0 || !(16..=1024).contains(&w))
            {
                return Err("shield surrogate size must be a multiple of 16 px, 16–1024".into());
            }
        }
        if let Some(e) = self.method.training() {
            if e.working_size.is_some_and(|w| !(8..=1024).contains(&w)) {
                return Err("EM working size must be 8–1024 px".into());
            }
            if e.steps == Some(0) || e.max_rounds == Some(0) || e.batch_size == 0 {
                return Err("EM steps, rounds and batch size must be at least 1".into());
            }
            if !(0.0..=1.0).contains(&e.stop_accuracy) {
                return Err(format!(
                    "EM stop accuracy must be in [0, 1], got {}",
                    e.stop_accuracy
                ));
            }
            if e.clusters.is_some_and(|k| k < 2) {
                return Err("EM needs at least 2 clusters".into());
            }
        }
        if let MethodConfig::Conv(c) = &self.method {
            if let Some(k) = c.kernel_size
                && (k % 2 == 0 || !(1..=63).contains(&k))
            {
                return Err(format!("conv kernel size must be odd and 1–63, got {k}"));
            }
            if let Some(b) = c.blur
                && !(b.is_finite() && (0.0..=1.0).contains(&b))
            {
                return Err(format!("conv blur must be in [0, 1], got {b}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_settings_that_agree_with_its_registry_entry() {
        for m in MethodId::ALL {
            let c = MethodConfig::default_for(m);
            assert_eq!(c.id(), m);
            let rounds = c.max_rounds(Backend::Cpu, 8.0 / 255.0);
            assert_eq!(c.training().is_some(), m.is_training_based(), "{m}");
            assert_eq!(rounds > 0, m.is_training_based(), "{m}");
            if let Some(t) = c.training() {
                let own = t.resolve(Backend::Cpu, 8.0 / 255.0).max_rounds;
                // Clusters trains its surrogate, then its perturbations, for as many rounds.
                let per_round = if m == MethodId::Clusters { 2 } else { 1 };
                if m != MethodId::Shield {
                    assert_eq!(rounds, per_round * own, "{m}");
                }
            }
        }
        let mut c = MethodConfig::default_for(MethodId::Rem);
        if let Some(t) = c.training_mut() {
            t.max_rounds = Some(3);
        }
        assert_eq!(c.max_rounds(Backend::Cpu, 8.0 / 255.0), 3);
    }

    #[test]
    fn presets_map_to_increasing_budgets() {
        let e: Vec<f32> = Strength::ALL.iter().map(|s| s.epsilon_255()).collect();
        assert_eq!(e, vec![4.0, 8.0, 16.0]);
        assert!(
            (ProtectConfig::new(MethodId::Conv, Strength::High).epsilon() - 16.0 / 255.0).abs()
                < 1e-9
        );
    }

    #[test]
    fn a_partial_shield_config_keeps_shield_defaults_for_what_it_leaves_out() {
        let c: ProtectConfig = serde_json::from_str(
            r#"{"method": {"id": "shield", "max_rounds": 3, "class_share": 0.5}}"#,
        )
        .unwrap();
        let MethodConfig::Shield(s) = &c.method else {
            panic!("{:?}", c.method)
        };
        let d = ShieldConfig::default();
        assert_eq!(s.train.max_rounds, Some(3));
        assert_eq!(s.class_share, 0.5);
        assert_eq!(s.train.stop_accuracy, d.train.stop_accuracy);
        assert_eq!(s.train.batch_size, d.train.batch_size);
        assert_ne!(s.train.stop_accuracy, EmConfig::default().stop_accuracy);
        // A whole config still round-trips, and em keeps its own defaults.
        let mut full = ProtectConfig::new(MethodId::Shield, Strength::Medium);
        if let MethodConfig::Shield(s) = &mut full.method {
            s.train.batch_size = 32;
        }
        let back: ProtectConfig =
            serde_json::from_str(&serde_json::to_string(&full).unwrap()).unwrap();
        assert_eq!(back, full);
        let em: ProtectConfig =
            serde_json::from_str(r#"{"method": {"id": "em", "max_rounds": 3}}"#).unwrap();
        assert_eq!(
            em.method.training().unwrap().stop_accuracy,
            EmConfig::default().stop_accuracy
        );
    }

    #[test]
    fn config_round_trips_through_json_with_method_tag() {
        let mut c = ProtectConfig::new(MethodId::Random, Strength::Low);
        c.seed = 99;
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"id\":\"random\""), "{json}");
        let back: ProtectConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn missing_fields_take_defaults() {
        let c: ProtectConfig = serde_json::from_str(r#"{"seed": 5}"#).unwrap();
        assert_eq!(c.seed, 5);
        assert_eq!(c.epsilon_255, 8.0);
        assert_eq!(c.method.id(), MethodId::Em);
    }

    #[test]
    fn validation_rejects_out_of_range_values() {
        let c = ProtectConfig {
            epsilon_255: 0.0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("epsilon"));
        let c = ProtectConfig {
            method: MethodConfig::Conv(ConvConfig {
                kernel_size: Some(4),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("odd"));
        assert_eq!(ProtectConfig::default().validate(), Ok(()));
    }
}
