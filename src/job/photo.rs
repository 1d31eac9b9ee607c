//! Protecting one photo: decode, perturb (or take a trained perturbation), apply at native
//! resolution, encode, write atomically.

use std::path::Path;

use super::{Halt, is_out_of_space};
use crate::cancel::CancelToken;
use crate::config::ProtectConfig;
use crate::error::LoadError;
use crate::imaging::planar::working_copy;
use crate::imaging::{
    AlbumEntry, BudgetConfig, InputGuard, Planar, apply_perturbation, encode, load_photo,
    visibility, write_output,
};
use crate::manifest::{ErrorRecord, ImageRecord};
use crate::progress::{ProgressEvent, ProgressSink};
use crate::protect::{MethodContext, Protector};

/// Where a photo's perturbation comes from.
pub enum DeltaSource<'a> {
    /// Computed now from the photo's working copy.
    Method(&'a dyn Protector),
    /// Already optimised by a training-based method; with a budget, the δ is a luma pattern
    /// to spread under the photo's budget map.
    Trained(&'a Planar, Option<&'a BudgetConfig>),
}

/// What happened to one photo.
pub enum Outcome {
    /// Written.
    Done(ImageRecord),
    /// Could not be protected; the job goes on.
    Failed(ErrorRecord),
    /// Not attempted because the job was cancelled (or stopped).
    Skipped,
    /// Finished by an earlier run that this one resumes.
    Kept(ImageRecord),
}

/// Everything the per-photo work shares.
pub struct Shared<'a> {
    /// Settings.
    pub config: &'a ProtectConfig,
    /// Method context (device, seed, ...).
    pub ctx: MethodContext<'a>,
    /// Class name of each label.
    pub class_names: &'a [String],
    /// Progress sink.
    pub events: &'a dyn ProgressSink,
    /// Cancel token.
    pub cancel: &'a CancelToken,
    /// The originals, which no output may resolve to.
    pub guard: &'a InputGuard,
    /// Stops the run when the output cannot take more files.
    pub halt: &'a Halt,
}

/// Record a failure (event + manifest entry).
pub fn failed(events: &dyn ProgressSink, entry: &AlbumEntry, error: String) -> Outcome {
    events.emit(ProgressEvent::ImageFailed {
        index: entry.index,
        source: entry.path.clone(),
        error: error.clone(),
    });
    Outcome::Failed(ErrorRecord {
        source: entry.path.clone(),
        error,
    })
}

/// Protect `entry` into `output` (replacing a file there when `replace`); `label` is the
/// class used (folder or cluster).
pub fn protect_one(
    s: &Shared<'_>,
    entry: &AlbumEntry,
    label: usize,
    delta: DeltaSource<'_>,
    (output, replace): (&Path, bool),
) -> Outcome {
    if s.cancel.is_cancelled() {
        return Outcome::Skipped;
    }
    let photo = match load_photo(&entry.path, &s.config.limits) {
        Ok(p) => p,
        Err(LoadError { kind, .. }) => return failed(s.events, entry, kind.to_string()),
    };
    let computed;
    let (delta, budget) = match delta {
        DeltaSource::Trained(d, budget) => (d, budget),
        DeltaSource::Method(m) => {
            let work = working_copy(&photo.rgb, s.config.working_size);
            let entry = AlbumEntry {
                label,
                ..entry.clone()
            };
            computed = match m.perturb(&work, &entry, &s.ctx) {
                Ok(d) => d,
                Err(e) => return failed(s.events, &entry, e.to_string()),
            };
            (&computed, None)
        }
    };
    let (protected, stats) = apply_perturbation(&photo.rgb, delta, s.config.epsilon_255, budget);
    let seen = visibility::measure(&photo.rgb, &protected);
    let bytes = match encode(
        &protected,
        photo.alpha.as_ref(),
        &s.config.export,
        photo.meta.carried(),
    ) {
        Ok(b) => b,
        Err(e) => {
            return failed(
                s.events,
                entry,
                format!("cannot encode the protected photo: {e}"),
            );
        }
    };
    if s.cancel.is_cancelled() {
        return Outcome::Skipped;
    }
    if let Err(e) = write_output(output, &bytes, replace, s.guard) {
        if is_out_of_space(&e) {
            // Every later photo would fail the same way: stop, keep what finished.
            s.halt.halt(e.to_string(), s.cancel);
            return Outcome::Skipped;
        }
        return failed(s.events, entry, e.to_string());
    }
    s.events.emit(ProgressEvent::ImageDone {
        index: entry.index,
        source: entry.path.clone(),
        output: output.to_path_buf(),
        visibility: seen,
    });
    Outcome::Done(ImageRecord {
        source: entry.path.clone(),
        output: output.to_path_buf(),
        class: s.class_names.get(label).cloned().unwrap_or_default(),
        width: photo.width(),
        height: photo.height(),
        working_size: [delta.width, delta.height],
        epsilon_used_255: stats.linf_255,
        visibility: seen,
        rotated: photo.meta.rotated,
        color_profile: photo.meta.icc.as_deref().map(|p| {
            crate::imaging::icc::description(p).unwrap_or_else(|| "embedded (unnamed)".into())
        }),
        source_color: photo.meta.color,
    })
}
