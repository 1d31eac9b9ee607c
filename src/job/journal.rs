//! The run journal: `manifest.json` is written when a run starts and atomically replaced after
//! every photo, so a run killed at any moment leaves a valid manifest of what finished (with
//! `finished: false` and the photos still `pending`), which `--resume` continues.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::ProtectConfig;
use crate::error::{ExportError, JobError};
use crate::imaging::{AlbumEntry, canonical_lenient, write_atomically};
use crate::manifest::{ErrorRecord, ImageRecord, Manifest, Planned};

/// Key of a source path for matching a previous run's records to this run's album.
fn source_key(p: &Path) -> PathBuf {
    canonical_lenient(p)
}

/// What an interrupted run left behind, read back from its manifest.
#[derive(Debug, Default)]
pub struct Previous {
    /// Photos written and recorded, by source.
    done: HashMap<PathBuf, ImageRecord>,
    /// Output paths planned for the photos that were still pending, by source.
    planned: HashMap<PathBuf, PathBuf>,
}

impl Previous {
    /// Read `manifest` (an earlier run into the same folder) for resuming a run with `config`.
    /// The settings must be the same (apart from `overwrite`): a resumed album must not mix
    /// two protections.
    pub fn load(manifest: &Path, config: &ProtectConfig) -> Result<Self, JobError> {
        let resume_err = |why: String| JobError::Resume {
            manifest: manifest.to_path_buf(),
            why,
        };
        let bytes = std::fs::read(manifest).map_err(|e| resume_err(e.to_string()))?;
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| resume_err(format!("it is not a manifest of this app ({e})")))?;
        let mut theirs = m.config.clone();
        theirs.export.overwrite = config.export.overwrite;
        if &theirs != config {
            return Err(resume_err(
                "it was made with other settings; resume without changing any option (or start a new output folder)"
                    .into(),
            ));
        }
        let done = m
            .images
            .into_iter()
            .filter(|r| r.output.is_file())
            .map(|r| (source_key(&r.source), r))
            .collect();
        let planned = m
            .pending
            .into_iter()
            .map(|p| (source_key(&p.source), p.output))
            .collect();
        Ok(Self { done, planned })
    }

    /// The record of `entry` if the earlier run finished it (and its file is still there).
    pub fn done(&self, entry: &AlbumEntry) -> Option<&ImageRecord> {
        // A fresh run has nothing to look up: skip resolving every photo's path.
        if self.done.is_empty() {
            return None;
        }
        self.done.get(&source_key(&entry.path))
    }

    /// The output the earlier run had planned for `entry`, if any.
    pub fn planned(&self, entry: &AlbumEntry) -> Option<&Path> {
        if self.planned.is_empty() {
            return None;
        }
        self.planned
            .get(&source_key(&entry.path))
            .map(PathBuf::as_path)
    }

    /// Every output the earlier run wrote or planned (none may go to another photo).
    pub fn outputs(&self) -> impl Iterator<Item = &Path> {
        self.done
            .values()
            .map(|r| r.output.as_path())
            .chain(self.planned.values().map(PathBuf::as_path))
    }
}

/// The manifest of a run in progress, rewritten after every photo.
pub struct Journal {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    manifest: Manifest,
    /// The first write that failed; later writes are not attempted.
    failed: Option<String>,
    /// Sources recorded since the last write, still listed in `manifest.pending`.
    recorded: HashSet<PathBuf>,
    /// When the last write ended and how long it took.
    last_write: (Instant, Duration),
}

impl State {
    /// Drop the recorded photos from `pending` and rewrite the manifest atomically.
    fn flush(&mut self, path: &Path) -> Result<(), String> {
        let recorded = std::mem::take(&mut self.recorded);
        self.manifest
            .pending
            .retain(|p| !recorded.contains(&p.source));
        let started = Instant::now();
        let written = serde_json::to_vec_pretty(&self.manifest)
            .map_err(|e| e.to_string())
            .and_then(|json| write_atomically(path, &json, true).map_err(|e| e.to_string()));
        self.last_write = (Instant::now(), started.elapsed());
        if let Err(e) = &written {
            self.failed = Some(e.clone());
        }
        written
    }
}

impl Journal {
    /// Start the journal at `path` with `manifest` (not finished, photos pending) and write it
    /// once: a folder where it cannot be written is found before any work.
    pub fn start(path: PathBuf, mut manifest: Manifest) -> Result<Self, ExportError> {
        manifest.finished = false;
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ExportError::Encode {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomically(&path, &json, true)?;
        Ok(Self {
            path,
            state: Mutex::new(State {
                manifest,
                failed: None,
                recorded: HashSet::new(),
                last_write: (Instant::now(), Duration::ZERO),
            }),
        })
    }

    /// Where the manifest is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record a finished photo (`Ok`) or a failure (`Err`) and rewrite the manifest — after
    /// every photo, unless rewriting it takes long (a very large album): then at most so
    /// often that writing stays under a tenth of the run's time (the photos in between stay
    /// `pending` on disk, and `--resume` writes them again, identically). Returns the write
    /// error, if this or an earlier rewrite failed (the file on disk then still holds the last
    /// complete state).
    pub fn record(
        &self,
        source: &Path,
        result: Result<&ImageRecord, &ErrorRecord>,
    ) -> Result<(), String> {
        let Ok(mut st) = self.state.lock() else {
            return Err("the journal lock was poisoned".into());
        };
        let m = &mut st.manifest;
        match result {
            Ok(r) => m.images.push(r.clone()),
            Err(e) => m.errors.push(e.clone()),
        }
        m.summary.done = m.images.len();
        m.summary.failed = m.errors.len();
        st.recorded.insert(source.to_path_buf());
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        let (ended, cost) = st.last_write;
        if ended.elapsed() < cost * 10 {
            return Ok(());
        }
        st.flush(&self.path)
    }
}

/// The plan of a run: each photo's output, recorded in the journal while it is pending
/// (photos an earlier run finished, `kept`, are not pending).
pub fn pending(
    entries: &[AlbumEntry],
    outputs: &[PathBuf],
    kept: &[Option<ImageRecord>],
) -> Vec<Planned> {
    entries
        .iter()
        .zip(outputs)
        .zip(kept)
        .filter(|(_, k)| k.is_none())
        .map(|((e, o), _)| Planned {
            source: e.path.clone(),
            output: o.clone(),
        })
        .collect()
}
