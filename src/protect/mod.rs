//! Protection methods. Each computes a perturbation δ for a photo's working copy; the engine
//! ([`crate::imaging::apply_delta`]) applies it at native resolution within the ε budget.
//!
//! Two kinds: [`Protector`]s compute each photo's δ on its own (streaming, training-free);
//! [`AlbumProtector`]s train on the whole album first (error-minimizing noise).

mod clusters;
mod conv;
mod em;
mod random;
mod rem;
pub mod shield;
pub mod tensor;
mod tue;

use serde::{Deserialize, Serialize};

pub use clusters::{Clusters, FeatureClusters, feature_clusters};
pub use conv::{ConvFilters, conv_blur, conv_kernel_size};
pub use em::{ErrorMinimizing, csd};
pub use random::RandomNoise;
pub use rem::RobustEm;
pub use shield::{Shield, TransformConfig};
pub use tue::Transferable;

use crate::cancel::CancelToken;
use crate::config::{MethodConfig, ProtectConfig};
use crate::device::ComputeDevice;
use crate::error::MethodError;
use crate::imaging::{AlbumEntry, BudgetConfig, Planar};
pub use crate::method_id::MethodId;
use crate::progress::ProgressSink;

/// What a method may use while computing.
pub struct MethodContext<'a> {
    /// Where tensors live.
    pub device: &'a ComputeDevice,
    /// Checked inside loops; a cancelled method returns early (its result is discarded).
    pub cancel: &'a CancelToken,
    /// The run's seed.
    pub seed: u64,
    /// L∞ budget as a fraction of full scale.
    pub epsilon: f32,
    /// Number of classes in the album.
    pub num_classes: usize,
    /// Where a method reports its own progress (e.g. optimisation rounds).
    pub events: &'a dyn ProgressSink,
}

/// A method that computes each photo's perturbation on its own.
pub trait Protector: Send + Sync {
    /// The method's id.
    fn id(&self) -> MethodId;

    /// The perturbation for one photo's working copy `work` (same size as `work`). Values may
    /// exceed ε: the apply step clamps. Must be a pure function of its inputs and the seed.
    fn perturb(
        &self,
        work: &Planar,
        entry: &AlbumEntry,
        ctx: &MethodContext<'_>,
    ) -> Result<Planar, MethodError>;
}

/// The album at working resolution, as a training-based method sees it.
pub struct TrainingSet {
    /// Square working copies, all the same size.
    pub images: Vec<Planar>,
    /// Class label of each image, in `0..num_classes`.
    pub labels: Vec<usize>,
    /// Number of classes (at least 2).
    pub num_classes: usize,
    /// Per image, the budget map at working resolution (1/255 units, row-major), for methods
    /// whose [`AlbumProtector::budget`] is set; empty otherwise.
    pub budgets: Vec<Vec<f32>>,
}

/// What a training-based method produced.
pub struct Fitted {
    /// One perturbation per training image (same order), at working resolution.
    pub deltas: Vec<Planar>,
    /// Summary for the manifest.
    pub report: FitReport,
}

/// How training went, recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Rounds run.
    pub rounds: u32,
    /// Surrogate accuracy on x+δ after the last round.
    pub final_accuracy: f32,
    /// Whether the stop threshold was reached (otherwise the round limit stopped it).
    pub reached_target: bool,
    /// Seconds spent training.
    pub seconds: f64,
    /// Every resolved setting.
    pub settings: serde_json::Value,
}

/// A method that needs the whole album before it can protect any photo.
pub trait AlbumProtector: Send + Sync {
    /// The method's id.
    fn id(&self) -> MethodId;

    /// Largest side of the square working copies on `device`.
    fn working_size(&self, device: &ComputeDevice) -> u32;

    /// The per-pixel budget the perturbation is spread under, for methods whose deltas are
    /// luma *patterns* in `[-1, 1]` (all three planes equal) to be scaled by each photo's
    /// budget map ([`crate::imaging::apply_pattern`]); `None`: deltas are applied as they are
    /// within the uniform ε-ball.
    fn budget(&self) -> Option<&BudgetConfig> {
        None
    }

    /// Optimise perturbations for the whole training set.
    fn fit(&self, set: &TrainingSet, ctx: &MethodContext<'_>) -> Result<Fitted, MethodError>;
}

/// A configured method of either kind.
pub enum Method {
    /// Computes each photo's perturbation on its own (streaming).
    PerPhoto(Box<dyn Protector>),
    /// Trains on the album first (two passes over the files).
    Album(Box<dyn AlbumProtector>),
}

impl Method {
    /// The method's id.
    pub fn id(&self) -> MethodId {
        match self {
            Method::PerPhoto(m) => m.id(),
            Method::Album(m) => m.id(),
        }
    }
}

/// Build the configured method.
pub fn build(cfg: &ProtectConfig) -> Method {
    let eps = cfg.epsilon();
    match &cfg.method {
        MethodConfig::Conv(c) => Method::PerPhoto(Box::new(ConvFilters::new(c.clone()))),
        MethodConfig::Random(_) => Method::PerPhoto(Box::new(RandomNoise)),
        MethodConfig::Em(c) => Method::Album(Box::new(ErrorMinimizing::new(c.clone(), false, eps))),
        MethodConfig::EmClass(c) => {
            Method::Album(Box::new(ErrorMinimizing::new(c.clone(), true, eps)))
        }
        MethodConfig::Shield(c) => {
            let mut c = c.clone();
            if cfg.export.format == crate::config::ExportFormat::Jpeg {
                c.transforms.include_jpeg(cfg.export.jpeg_quality);
            }
            Method::Album(Box::new(Shield::new(c, eps)))
        }
        MethodConfig::Rem(c) => Method::Album(Box::new(RobustEm::new(c.clone(), eps))),
        MethodConfig::Tue(c) => Method::Album(Box::new(Transferable::new(c.clone(), eps))),
        MethodConfig::Clusters(c) => Method::Album(Box::new(Clusters::new(c.clone(), eps))),
    }
}

/// A stable per-photo key for seeding: the output-relative path, so a photo's noise does not
/// change when other photos are added to the album.
pub fn photo_key(entry: &AlbumEntry) -> String {
    entry.rel_out.to_string_lossy().replace('\\', "/")
}
