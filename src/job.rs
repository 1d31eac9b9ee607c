//! The protection pipeline, shared by the CLI and the GUI:
//! scan → (per photo, a bounded number in flight) decode → working copy → method → apply at
//! native resolution → encode → atomic write → manifest. Runs on a worker thread when started
//! with [`spawn`]; reports [`ProgressEvent`]s; honours a [`CancelToken`].

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::Instant;

use rayon::prelude::*;

use crate::cancel::CancelToken;
use crate::config::ProtectConfig;
use crate::device::{ComputeDevice, DeviceChoice};
use crate::error::{JobError, LoadError};
use crate::imaging::planar::working_copy;
use crate::imaging::{
    Album, AlbumEntry, OutputPlanner, apply_delta, encode, load_photo, scan, write_atomically,
};
use crate::manifest::{ErrorRecord, ImageRecord, Labels, Manifest, Summary};
use crate::progress::{ProgressEvent, ProgressSink};
use crate::protect::{self, MethodContext, Protector};

/// What to protect, where to, and how.
#[derive(Clone, Debug)]
pub struct ProtectJob {
    /// Folders and/or files.
    pub inputs: Vec<PathBuf>,
    /// Output folder (created if missing; never inside an input folder).
    pub out_dir: PathBuf,
    /// Every setting.
    pub config: ProtectConfig,
    /// Where to compute.
    pub device: DeviceChoice,
}

/// The result of a finished (or cancelled) job.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Everything recorded, as written to disk.
    pub manifest: Manifest,
    /// Where the manifest was written.
    pub manifest_path: PathBuf,
}

enum Outcome {
    Done(ImageRecord),
    Failed(ErrorRecord),
    Skipped,
}

/// Canonical form of a path that may not exist yet: its nearest existing ancestor is
/// canonicalized and the rest appended.
fn canonical_lenient(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut tail = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(c) = cur.canonicalize() {
            return tail
                .iter()
                .rev()
                .fold(c, |acc: PathBuf, part| acc.join(part));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_os_string());
                cur = parent;
            }
            _ => return abs,
        }
    }
}

fn check_output_folder(album: &Album, out_dir: &Path) -> Result<(), JobError> {
    let out = canonical_lenient(out_dir);
    for root in &album.roots {
        let root_c = canonical_lenient(root);
        if out.starts_with(&root_c) {
            return Err(JobError::OutputInsideInput {
                out: out_dir.to_path_buf(),
                input: root.clone(),
            });
        }
    }
    Ok(())
}

fn free_manifest_path(out_dir: &Path, overwrite: bool) -> PathBuf {
    let first = out_dir.join("manifest.json");
    if overwrite || !first.exists() {
        return first;
    }
    (2..)
        .map(|n| out_dir.join(format!("manifest_{n}.json")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

struct Shared<'a> {
    config: &'a ProtectConfig,
    method: &'a dyn Protector,
    ctx: MethodContext<'a>,
    classes: &'a [String],
    events: &'a dyn ProgressSink,
    cancel: &'a CancelToken,
}

fn protect_one(s: &Shared<'_>, entry: &AlbumEntry, output: &Path) -> Outcome {
    if s.cancel.is_cancelled() {
        return Outcome::Skipped;
    }
    let fail = |error: String| {
        s.events.emit(ProgressEvent::ImageFailed {
            index: entry.index,
            source: entry.path.clone(),
            error: error.clone(),
        });
        Outcome::Failed(ErrorRecord {
            source: entry.path.clone(),
            error,
        })
    };
    let photo = match load_photo(&entry.path, &s.config.limits) {
        Ok(p) => p,
        Err(LoadError { kind, .. }) => return fail(kind.to_string()),
    };
    let work = working_copy(&photo.rgb, s.config.working_size);
    let delta = match s.method.perturb(&work, entry, &s.ctx) {
        Ok(d) => d,
        Err(e) => return fail(e.to_string()),
    };
    let (protected, stats) = apply_delta(&photo.rgb, &delta, s.config.epsilon_255);
    drop(delta);
    let credit = (
        photo.meta.artist.as_deref(),
        photo.meta.copyright.as_deref(),
    );
    let bytes = match encode(&protected, photo.alpha.as_ref(), &s.config.export, credit) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot encode the protected photo: {e}")),
    };
    if s.cancel.is_cancelled() {
        return Outcome::Skipped;
    }
    if let Err(e) = write_atomically(output, &bytes, s.config.export.overwrite) {
        return fail(e.to_string());
    }
    s.events.emit(ProgressEvent::ImageDone {
        index: entry.index,
        source: entry.path.clone(),
        output: output.to_path_buf(),
        psnr_db: stats.psnr_db,
    });
    Outcome::Done(ImageRecord {
        source: entry.path.clone(),
        output: output.to_path_buf(),
        class: s.classes.get(entry.label).cloned().unwrap_or_default(),
        width: photo.width(),
        height: photo.height(),
        working_size: [work.width, work.height],
        epsilon_used_255: stats.linf_255,
        psnr_db: stats.psnr_db,
        rotated: photo.meta.rotated,
        source_color: photo.meta.color,
    })
}

/// Run a job to the end on the calling thread. Per-photo problems are recorded and the job
/// goes on; only problems with the job as a whole return `Err`.
pub fn run(
    job: &ProtectJob,
    events: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<RunSummary, JobError> {
    let started = Instant::now();
    let config = &job.config;
    config.validate().map_err(JobError::Config)?;
    let album = scan(&job.inputs)?;
    check_output_folder(&album, &job.out_dir)?;
    std::fs::create_dir_all(&job.out_dir).map_err(|source| JobError::OutputFolder {
        path: job.out_dir.clone(),
        source,
    })?;
    let device = ComputeDevice::select(job.device)?;
    let method = protect::build(config);

    let mut planner = OutputPlanner::new(
        &job.out_dir,
        config.export.format,
        config.export.overwrite,
        album.entries.iter().map(|e| e.path.as_path()),
    );
    let outputs: Vec<PathBuf> = album
        .entries
        .iter()
        .map(|e| planner.plan(&e.rel_out))
        .collect();

    events.emit(ProgressEvent::Started {
        total: album.len(),
        method: method.id().id().to_string(),
        device: device.summary(),
        classes: album.classes.clone(),
    });
    events.emit(ProgressEvent::Phase {
        name: "protecting".into(),
    });

    let shared = Shared {
        config,
        method: method.as_ref(),
        ctx: MethodContext {
            device: &device,
            cancel,
            seed: config.seed,
            epsilon: config.epsilon(),
            num_classes: album.classes.len(),
            events,
        },
        classes: &album.classes,
        events,
        cancel,
    };
    // One pool thread per photo in flight: memory is bounded by `batch_size` decoded photos,
    // whatever the album size. Inner loops (apply) share the same threads.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.batch_size)
        .thread_name(|i| format!("unlearnable-photo-{i}"))
        .build()
        .map_err(|e| JobError::Worker(e.to_string()))?;
    let outcomes: Vec<Outcome> = pool.install(|| {
        album
            .entries
            .par_iter()
            .zip(outputs.par_iter())
            .with_max_len(1)
            .map(|(entry, out)| protect_one(&shared, entry, out))
            .collect()
    });

    let mut images = Vec::new();
    let mut errors = Vec::new();
    let mut skipped = 0;
    for o in outcomes {
        match o {
            Outcome::Done(r) => images.push(r),
            Outcome::Failed(e) => errors.push(e),
            Outcome::Skipped => skipped += 1,
        }
    }
    let psnrs: Vec<f64> = images.iter().map(|r| r.psnr_db).collect();
    let mut warnings = Vec::new();
    if config.export.format.is_lossy() {
        warnings.push(
            "JPEG output re-compresses the photos, which weakens the protection; PNG keeps it intact."
                .to_string(),
        );
    }
    let manifest = Manifest {
        app: format!("unlearnable {}", env!("CARGO_PKG_VERSION")),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        method: method.id().id().to_string(),
        epsilon_255: config.epsilon_255,
        seed: config.seed,
        device: device.summary(),
        labels: Labels {
            source: "folders".into(),
            classes: album.classes.clone(),
        },
        config: config.clone(),
        cancelled: cancel.is_cancelled(),
        summary: Summary {
            total: album.len(),
            done: images.len(),
            failed: errors.len(),
            skipped,
            mean_psnr_db: (!psnrs.is_empty())
                .then(|| psnrs.iter().sum::<f64>() / psnrs.len() as f64),
            worst_psnr_db: psnrs.iter().copied().reduce(f64::min),
            seconds: started.elapsed().as_secs_f64(),
        },
        images,
        errors,
        warnings,
    };
    let manifest_path = free_manifest_path(&job.out_dir, config.export.overwrite);
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| JobError::Worker(e.to_string()))?;
    write_atomically(&manifest_path, &json, true)?;
    events.emit(ProgressEvent::Finished {
        done: manifest.summary.done,
        failed: manifest.summary.failed,
        cancelled: manifest.cancelled,
    });
    Ok(RunSummary {
        manifest,
        manifest_path,
    })
}

/// A job running on its own named thread.
pub struct JobHandle {
    /// Progress events, in the order they happened.
    pub events: Receiver<ProgressEvent>,
    /// Cancel the job; finished files are kept.
    pub cancel: CancelToken,
    thread: JoinHandle<Result<RunSummary, JobError>>,
}

impl JobHandle {
    /// Whether the worker has returned.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Wait for the result.
    pub fn join(self) -> Result<RunSummary, JobError> {
        self.thread
            .join()
            .map_err(|_| JobError::Worker("the worker thread panicked".into()))?
    }
}

/// Start `job` on a worker thread. `on_event` runs on the worker after every event (the GUI
/// passes `ctx.request_repaint`).
pub fn spawn(
    job: ProtectJob,
    on_event: impl Fn() + Send + Sync + 'static,
) -> Result<JobHandle, JobError> {
    let (tx, rx) = mpsc::channel();
    let cancel = CancelToken::new();
    let worker_cancel = cancel.clone();
    let thread = std::thread::Builder::new()
        .name("unlearnable-job".into())
        .spawn(move || {
            let sink = move |ev: ProgressEvent| {
                // A dropped receiver only means nobody watches; the job still finishes its files.
                let _ = tx.send(ev);
                on_event();
            };
            run(&job, &sink, &worker_cancel)
        })
        .map_err(|e| JobError::Worker(e.to_string()))?;
    Ok(JobHandle {
        events: rx,
        cancel,
        thread,
    })
}
