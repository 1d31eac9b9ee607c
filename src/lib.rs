//! Unlearnable: protect photos from being used to train machine-learning models.
//!
//! The crate adds small, bounded perturbations ("unlearnable examples") to photos so that a
//! model trained on them learns the perturbation instead of the content.
//!
//! Data flows one way:
//! [`imaging::scan`] → [`job::run`] (decode → working copy → [`protect::Protector`] →
//! [`imaging::apply`] at native resolution → [`imaging::export`]) → typed
//! [`progress::ProgressEvent`]s → the CLI (or, later, the GUI).
//!
//! Everything tunable lives in [`config::ProtectConfig`], which is saved next to the results
//! in `manifest.json`.

pub mod cancel;
pub mod cli;
pub mod config;
pub mod device;
pub mod error;
pub mod eval;
pub mod gui;
pub mod imaging;
pub mod job;
pub mod labels;
pub mod manifest;
pub mod method_id;
pub mod model;
pub mod path_json;
pub mod progress;
pub mod protect;
pub mod rng;
pub mod train;

pub use cancel::CancelToken;
pub use config::{ExportConfig, ExportFormat, ExportPreset, MethodConfig, ProtectConfig, Strength};
pub use device::{ComputeDevice, DeviceChoice};
pub use error::{
    DeviceError, EvalError, ExportError, JobError, LoadError, LoadErrorKind, MethodError,
};
pub use job::{JobHandle, ProtectJob, RunSummary};
pub use progress::ProgressEvent;
pub use protect::MethodId;
