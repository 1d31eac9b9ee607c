//! Settings of the methods built on error-minimizing noise's min-min loop: robust EM (`rem`),
//! transferable unlearnable examples (`tue`) and label-agnostic Unlearnable Clusters
//! (`clusters`). Each flattens [`EmConfig`] (surrogate, working size, steps, rounds, batch,
//! optimiser) and adds what is its own; `None` means "from the quality preset".

use serde::{Deserialize, Serialize};

use super::{EmConfig, MethodSettings, Quality, ResolvedEm};
use crate::device::Backend;
use crate::imaging::views::ViewConfig;

/// Robust error-minimizing noise (Fu et al., ICLR 2022, `methods.md` §2): the noise must keep
/// the loss low even after a worst-case adversarial step of radius ρ_a and in expectation over
/// random crops and flips; the surrogate is adversarially trained while the noise is made.
///
/// | preset | EOT samples J | adversarial steps | cost per δ-step vs `em` |
/// |---|---|---|---|
/// | `fast` | 1 | 2 | ~3× |
/// | `balanced` | 2 | 4 | ~10× |
/// | `thorough` | 5 | 10 | ~55× (the paper's settings) |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemConfig {
    /// Surrogate and δ-step settings shared with `em`.
    #[serde(flatten)]
    pub train: EmConfig,
    /// Adversarial radius ρ_a in 1/255 units (`None`: half of ε, the paper's 4/255 at 8/255).
    /// The protection is meant to hold against adversarial training up to this radius.
    pub adversary_255: Option<f32>,
    /// Sign-ascent steps of the inner maximisation (step 2·ρ_a / steps, random start).
    pub adversary_steps: Option<u32>,
    /// Random crop/flip draws the δ gradient is averaged over (expectation over transforms).
    pub eot_samples: Option<u32>,
    /// Zero padding of the random crops in pixels of the copies optimised (`None`: side/8, the
    /// paper's 4 px at 32 px; at most side/4).
    pub crop_pad: Option<u32>,
    /// Random horizontal flips among the transforms.
    pub flip: bool,
}

impl Default for RemConfig {
    fn default() -> Self {
        Self {
            train: EmConfig::default(),
            adversary_255: None,
            adversary_steps: None,
            eot_samples: None,
            crop_pad: None,
            flip: true,
        }
    }
}

/// [`RemConfig`] resolved; recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedRem {
    /// Shared min-min settings.
    #[serde(flatten)]
    pub train: ResolvedEm,
    /// ρ_a (fraction of full scale).
    pub adversary: f32,
    /// Inner steps.
    pub adversary_steps: u32,
    /// EOT samples.
    pub eot_samples: u32,
    /// Crop padding (px at working size).
    pub crop_pad: u32,
    /// Random flips.
    pub flip: bool,
}

impl RemConfig {
    /// The crop padding for copies of side `side` (photos smaller than the working size are
    /// optimised at their own size).
    pub fn crop_pad_for(&self, side: u32) -> u32 {
        self.crop_pad.map_or(side / 8, |pad| pad.min(side / 4))
    }

    /// Decide the automatic values for a backend and a budget `epsilon` (fraction).
    pub fn resolve(&self, backend: Backend, epsilon: f32) -> ResolvedRem {
        let train = self.train.resolve(backend, epsilon);
        let (eot, steps) = match self.train.quality {
            Quality::Fast => (1, 2),
            Quality::Balanced => (2, 4),
            Quality::Thorough => (5, 10),
        };
        ResolvedRem {
            adversary: self
                .adversary_255
                .map(|r| r / 255.0)
                .unwrap_or(epsilon / 2.0),
            adversary_steps: self.adversary_steps.unwrap_or(steps).max(1),
            eot_samples: self.eot_samples.unwrap_or(eot).max(1),
            crop_pad: self.crop_pad_for(train.working_size),
            flip: self.flip,
            train,
        }
    }
}

/// Transferable unlearnable examples (Ren et al., ICLR 2023, `methods.md` §5): error-minimizing
/// noise plus the class-wise separability discriminant (CSD) of the noise itself, so the noise
/// of one group is linearly separable from the others' and stays a shortcut for other
/// architectures, optimisers and training recipes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TueConfig {
    /// Surrogate and δ-step settings shared with `em`.
    #[serde(flatten)]
    pub train: EmConfig,
    /// Weight λ of the CSD term against the surrogate's loss.
    pub csd_weight: f32,
    /// What the surrogate learns from the protected photos.
    pub surrogate_loss: TueSurrogate,
    /// Contrastive surrogate: weight λ_ssl of its loss in the δ-step (0 leaves the CSD term
    /// alone, TUE's SimCLR setting).
    pub ssl_weight: f32,
    /// Contrastive surrogate: NT-Xent temperature.
    pub temperature: f32,
    /// Contrastive surrogate: how its two views of each photo are drawn.
    pub views: ViewConfig,
    /// Contrastive surrogate: noise in brightness only (the three channels move together), so
    /// it carries no colour cast.
    pub luma_only: bool,
}

/// What `tue`'s surrogate learns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TueSurrogate {
    /// A classifier of the groups (cross-entropy), as `em`'s.
    #[default]
    Supervised,
    /// SimCLR without labels (NT-Xent on two random views), as in the paper: the noise is
    /// made to be what a contrastive learner latches on to.
    Contrastive,
}

impl Default for TueConfig {
    fn default() -> Self {
        Self {
            train: EmConfig::default(),
            csd_weight: 1.0,
            surrogate_loss: TueSurrogate::Supervised,
            ssl_weight: 1.0,
            temperature: 0.5,
            views: ViewConfig::default(),
            luma_only: false,
        }
    }
}

/// [`TueConfig`] resolved; recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedTue {
    /// Shared min-min settings.
    #[serde(flatten)]
    pub train: ResolvedEm,
    /// λ of the CSD term.
    pub csd_weight: f32,
    /// What the surrogate learns.
    pub surrogate_loss: TueSurrogate,
    /// λ_ssl of the contrastive loss (contrastive surrogate).
    pub ssl_weight: f32,
    /// NT-Xent temperature (contrastive surrogate).
    pub temperature: f32,
    /// Views of the contrastive surrogate.
    pub views: ViewConfig,
    /// Brightness-only noise (contrastive surrogate).
    pub luma_only: bool,
}

impl TueConfig {
    /// Decide the automatic values for a backend and a budget `epsilon` (fraction).
    pub fn resolve(&self, backend: Backend, epsilon: f32) -> ResolvedTue {
        ResolvedTue {
            train: self.train.resolve(backend, epsilon),
            csd_weight: self.csd_weight,
            surrogate_loss: self.surrogate_loss,
            ssl_weight: self.ssl_weight,
            temperature: self.temperature,
            views: self.views,
            luma_only: self.luma_only,
        }
    }
}

/// Unlearnable Clusters (Zhang et al., CVPR 2023, `methods.md` §4), label-agnostic: ignores
/// folders. The album is grouped by look (k-means), a surrogate learns those groups (with
/// random crops and flips, so its features describe content), the photos are clustered again
/// on the surrogate's features, and each cluster gets one shared perturbation that pushes the
/// features of *any* photo towards the next cluster's centre.
///
/// Reuses [`EmConfig`]: `clusters` is K, `theta_steps × max_rounds` the surrogate's training
/// steps, `steps` the signed steps per batch of each perturbation pass (one pass per round
/// after training), `stop_accuracy` the share of photos whose features must land nearest the
/// target centre.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClustersConfig {
    /// Surrogate, working size, steps, rounds, K (keys left out take this method's defaults).
    #[serde(flatten, deserialize_with = "clusters_train")]
    pub train: EmConfig,
    /// Which cluster's centre the perturbation of cluster k aims at: (k + offset) mod K.
    pub target_offset: usize,
}

impl Default for ClustersConfig {
    fn default() -> Self {
        Self {
            train: EmConfig {
                stop_accuracy: 0.9,
                ..EmConfig::default()
            },
            target_offset: 1,
        }
    }
}

fn clusters_train<'de, D: serde::Deserializer<'de>>(d: D) -> Result<EmConfig, D::Error> {
    super::train_over(d, ClustersConfig::default().train)
}

/// [`ClustersConfig`] resolved; recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedClusters {
    /// Surrogate and step settings.
    #[serde(flatten)]
    pub train: ResolvedEm,
    /// Target offset.
    pub target_offset: usize,
    /// K (`None`: from the photo count, as for pseudo-labels).
    pub clusters: Option<usize>,
}

impl ClustersConfig {
    /// Decide the automatic values for a backend and a budget `epsilon` (fraction).
    pub fn resolve(&self, backend: Backend, epsilon: f32) -> ResolvedClusters {
        ResolvedClusters {
            train: self.train.resolve(backend, epsilon),
            target_offset: self.target_offset.max(1),
            clusters: self.train.clusters,
        }
    }
}

surrogate_settings!(RemConfig, TueConfig);

impl MethodSettings for ClustersConfig {
    fn training(&self) -> Option<&EmConfig> {
        Some(&self.train)
    }
    fn training_mut(&mut self) -> Option<&mut EmConfig> {
        Some(&mut self.train)
    }
    /// Surrogate rounds, then as many perturbation rounds.
    fn max_rounds(&self, backend: Backend, epsilon: f32) -> u32 {
        2 * self.resolve(backend, epsilon).train.max_rounds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rem_presets_scale_with_quality_and_default_to_half_epsilon() {
        let eps = 8.0 / 255.0;
        let mut c = RemConfig::default();
        let b = c.resolve(Backend::Cpu, eps);
        assert_eq!((b.eot_samples, b.adversary_steps), (2, 4));
        assert!((b.adversary - 4.0 / 255.0).abs() < 1e-7);
        assert_eq!(b.crop_pad, b.train.working_size / 8);
        c.train.quality = Quality::Thorough;
        let t = c.resolve(Backend::Cpu, eps);
        assert_eq!((t.eot_samples, t.adversary_steps), (5, 10));
    }

    #[test]
    fn flattened_settings_round_trip_and_keep_em_keys() {
        let json = r#"{"steps": 7, "csd_weight": 0.5}"#;
        let t: TueConfig = serde_json::from_str(json).unwrap();
        assert_eq!(t.train.steps, Some(7));
        assert_eq!(t.csd_weight, 0.5);
        let back: TueConfig = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        let c: ClustersConfig = serde_json::from_str(r#"{"clusters": 4}"#).unwrap();
        assert_eq!(c.train.clusters, Some(4));
        assert_eq!(c.train.stop_accuracy, 0.9, "clusters keeps its own default");
    }
}
