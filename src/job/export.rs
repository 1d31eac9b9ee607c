//! Export: the GUI protects into a private staging folder (lossless PNG) so the user can
//! inspect results first; exporting re-encodes those staged files into the folder, format and
//! metadata policy the user picks, and writes a manifest there. Originals are never touched.

use std::path::{Path, PathBuf};

use crate::cancel::CancelToken;
use crate::config::{ExportConfig, LoadLimits};
use crate::error::JobError;
use crate::imaging::{
    InputGuard, OutputPlanner, encode, load_photo, write_atomically, write_output,
};
use crate::manifest::{ErrorRecord, Manifest};
use crate::progress::{ProgressEvent, ProgressSink};

use super::{check_roots, free_manifest_path};

/// What an export wrote.
#[derive(Clone, Debug, Default)]
pub struct ExportSummary {
    /// `(original, written file)` pairs.
    pub written: Vec<(PathBuf, PathBuf)>,
    /// Photos that could not be exported, with the reason.
    pub failed: Vec<ErrorRecord>,
    /// Whether the export was cancelled before the end.
    pub cancelled: bool,
    /// Where the manifest was written (absent if nothing was).
    pub manifest_path: Option<PathBuf>,
}

/// What to export, where to, and how.
#[derive(Clone, Debug)]
pub struct ExportJob {
    /// Manifest of the staged run (its `output`s are the staged files).
    pub staged: Manifest,
    /// Folder the staged run wrote into.
    pub staging_dir: PathBuf,
    /// Folders/files the photos came from; `out_dir` may not be inside them.
    pub roots: Vec<PathBuf>,
    /// Destination folder.
    pub out_dir: PathBuf,
    /// Format and metadata policy.
    pub config: ExportConfig,
    /// Decoder limits for reading the staged files.
    pub limits: LoadLimits,
}

/// Re-encode the photos of a staged run into the export folder. Per-photo failures are
/// recorded and the export goes on.
pub fn export_staged(
    job: &ExportJob,
    events: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<ExportSummary, JobError> {
    let (staged, staging_dir, out_dir, cfg) = (
        &job.staged,
        job.staging_dir.as_path(),
        job.out_dir.as_path(),
        &job.config,
    );
    let (roots, limits) = (&job.roots, &job.limits);
    check_roots(roots, out_dir)?;
    std::fs::create_dir_all(out_dir).map_err(|source| JobError::OutputFolder {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let mut planner = OutputPlanner::new(
        out_dir,
        cfg.format,
        cfg.overwrite,
        InputGuard::new(
            staged.images.iter().map(|r| r.source.as_path()),
            roots.iter().map(PathBuf::as_path),
        ),
    )
    .with_suffix(&cfg.name_suffix);
    events.emit(ProgressEvent::Phase {
        name: "exporting".into(),
        total: staged.images.len(),
    });
    let mut summary = ExportSummary::default();
    let mut manifest = staged.clone();
    manifest.images.clear();
    manifest.config.export = cfg.clone();
    for (index, record) in staged.images.iter().enumerate() {
        if cancel.is_cancelled() {
            summary.cancelled = true;
            break;
        }
        let rel = record
            .output
            .strip_prefix(staging_dir)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| {
                record
                    .output
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or_default()
            });
        let output = planner.plan(&rel);
        let result = load_photo(&record.output, limits)
            .map_err(|e| format!("cannot read the protected copy: {}", e.kind))
            .and_then(|photo| {
                encode(&photo.rgb, photo.alpha.as_ref(), cfg, photo.meta.carried())
                    .map_err(|e| format!("cannot encode: {e}"))
            })
            .and_then(|bytes| {
                write_output(&output, &bytes, cfg.overwrite, planner.guard())
                    .map_err(|e| e.to_string())
            });
        match result {
            Ok(()) => {
                events.emit(ProgressEvent::Exported {
                    index,
                    source: record.source.clone(),
                    output: output.clone(),
                });
                summary
                    .written
                    .push((record.source.clone(), output.clone()));
                let mut r = record.clone();
                r.output = output;
                manifest.images.push(r);
            }
            Err(error) => {
                events.emit(ProgressEvent::ImageFailed {
                    index,
                    source: record.source.clone(),
                    error: error.clone(),
                });
                summary.failed.push(ErrorRecord {
                    source: record.source.clone(),
                    error,
                });
            }
        }
    }
    if !summary.written.is_empty() {
        manifest.summary.done = summary.written.len();
        manifest.summary.failed = staged.errors.len() + summary.failed.len();
        manifest.errors.extend(summary.failed.iter().cloned());
        manifest.cancelled |= summary.cancelled;
        if cfg.format.is_lossy() {
            manifest.warnings.push(
                "JPEG output re-compresses the photos, which weakens the protection; PNG keeps it intact."
                    .into(),
            );
        }
        let path = free_manifest_path(out_dir, cfg.overwrite);
        let json =
            serde_json::to_vec_pretty(&manifest).map_err(|e| JobError::Worker(e.to_string()))?;
        write_atomically(&path, &json, true)?;
        summary.manifest_path = Some(path);
    }
    events.emit(ProgressEvent::Finished {
        done: summary.written.len(),
        failed: summary.failed.len(),
        cancelled: summary.cancelled,
    });
    Ok(summary)
}
