//! Protection methods. Each computes a perturbation δ for a photo's working copy; the engine
//! ([`crate::imaging::apply_delta`]) applies it at native resolution within the ε budget.

mod conv;
mod random;
pub mod tensor;

use serde::{Deserialize, Serialize};

pub use conv::{ConvFilters, conv_blur, conv_kernel_size};
pub use random::RandomNoise;

use crate::cancel::CancelToken;
use crate::config::{MethodConfig, ProtectConfig};
use crate::device::ComputeDevice;
use crate::error::MethodError;
use crate::imaging::{AlbumEntry, Planar};
use crate::progress::ProgressSink;

/// The method ids the CLI's `--method` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodId {
    /// Convolution-based class-wise filters.
    Conv,
    /// Uniform random noise (control).
    Random,
}

impl MethodId {
    /// Every method, in the order menus list them.
    pub const ALL: [MethodId; 2] = [MethodId::Conv, MethodId::Random];

    /// The id as typed on the command line.
    pub fn id(self) -> &'static str {
        match self {
            MethodId::Conv => "conv",
            MethodId::Random => "random",
        }
    }

    /// Parse an id.
    pub fn from_id(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.id() == s)
    }

    /// Short display name.
    pub fn title(self) -> &'static str {
        match self {
            MethodId::Conv => "Convolution filters",
            MethodId::Random => "Random noise (control)",
        }
    }

    /// One plain-language sentence: what it does, how strong, how slow, what it needs.
    pub fn explain(self) -> &'static str {
        match self {
            MethodId::Conv => {
                "Gives every group of photos its own secret blur pattern that models latch onto \
                 instead of the content; instant, no training, strongest when each folder is one \
                 subject (Sadasivan et al., 2023)."
            }
            MethodId::Random => {
                "Adds plain random grain of the same strength; it does NOT protect and exists only \
                 to show the difference in tests."
            }
        }
    }

    /// Whether the method's published result depends on photos being grouped into classes.
    pub fn uses_classes(self) -> bool {
        matches!(self, MethodId::Conv)
    }
}

impl std::fmt::Display for MethodId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

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

/// A protection method.
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

/// Build the configured method.
pub fn build(cfg: &ProtectConfig) -> Box<dyn Protector> {
    match &cfg.method {
        MethodConfig::Conv(c) => Box::new(ConvFilters::new(c.clone())),
        MethodConfig::Random(_) => Box::new(RandomNoise),
    }
}

/// A stable per-photo key for seeding: the output-relative path, so a photo's noise does not
/// change when other photos are added to the album.
pub fn photo_key(entry: &AlbumEntry) -> String {
    entry.rel_out.to_string_lossy().replace('\\', "/")
}
