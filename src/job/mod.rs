//! The protection pipeline, shared by the CLI and the GUI:
//! scan → (per photo, a bounded number in flight) decode → working copy → method → apply at
//! native resolution → encode → atomic write → manifest. Runs on a worker thread when started
//! with [`spawn`]; reports [`ProgressEvent`]s; honours a [`CancelToken`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::Instant;

use rayon::prelude::*;

mod album;
pub mod export;
mod journal;
mod photo;
mod preflight;
pub mod shard;

pub use album::{WorkingCopy, working_copy as working_copy_for_training};
use journal::{Journal, Previous};
use photo::{DeltaSource, Outcome, Shared, protect_one};

use crate::cancel::CancelToken;
use crate::config::ProtectConfig;
use crate::device::{ComputeDevice, DeviceChoice};
use crate::error::{ExportError, JobError, MethodError};
use crate::imaging::{
    Album, InputGuard, OutputPlanner, Planar, Shard, Visibility, scan, write_atomically,
};
use crate::manifest::{ImageRecord, Labels, Manifest, Planned, Summary};
use crate::progress::{ProgressEvent, ProgressSink};
use crate::protect::{self, Method, MethodContext};

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
    /// Continue the run whose manifest is in `out_dir`: keep the photos it finished and do
    /// the rest (same settings required).
    pub resume: bool,
    /// Protect only this part of the album (for splitting an archive across machines); its
    /// manifest is `manifest.shard-I-of-N.json`, and `merge` combines the parts.
    pub shard: Option<Shard>,
}

/// The result of a finished (or cancelled) job.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Everything recorded, as written to disk.
    pub manifest: Manifest,
    /// Where the manifest was written.
    pub manifest_path: PathBuf,
}

fn check_output_folder(album: &Album, out_dir: &Path) -> Result<(), JobError> {
    check_roots(&album.roots, out_dir)
}

/// `out_dir` may not be inside (or equal to) any of `roots`, as the file system resolves them.
fn check_roots(roots: &[PathBuf], out_dir: &Path) -> Result<(), JobError> {
    match InputGuard::new([], roots.iter().map(PathBuf::as_path)).input_folder_of(out_dir) {
        Some(input) => Err(JobError::OutputInsideInput {
            out: out_dir.to_path_buf(),
            input: input.to_path_buf(),
        }),
        None => Ok(()),
    }
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

/// The manifest an earlier run left in `out_dir`: the last of `manifest.json`,
/// `manifest_2.json`, ... that exists.
fn last_manifest_path(out_dir: &Path) -> Option<PathBuf> {
    let first = out_dir.join("manifest.json");
    if !first.is_file() {
        return None;
    }
    let mut last = first;
    for n in 2.. {
        let p = out_dir.join(format!("manifest_{n}.json"));
        if !p.is_file() {
            break;
        }
        last = p;
    }
    Some(last)
}

/// The manifest `--resume` continues in `out_dir`: the part's own for a split run, else the
/// last one written there.
pub fn resume_manifest_path(out_dir: &Path, shard: Option<Shard>) -> Option<PathBuf> {
    match shard {
        Some(part) => Some(shard::manifest_path(out_dir, part)).filter(|p| p.is_file()),
        None => last_manifest_path(out_dir),
    }
}

/// Why a run stopped writing before the end (a full disk, a folder that went away).
#[derive(Default)]
pub(crate) struct Halt(Mutex<Option<String>>);

impl Halt {
    /// Stop the run: record the first reason and cancel the remaining work.
    pub(crate) fn halt(&self, why: String, cancel: &CancelToken) {
        if let Ok(mut r) = self.0.lock() {
            r.get_or_insert(why);
        }
        cancel.cancel();
    }

    fn reason(&self) -> Option<String> {
        self.0.lock().ok().and_then(|r| r.clone())
    }
}

/// Whether a write error means the output cannot take more files (so the run should stop
/// rather than fail every remaining photo the same way).
pub(crate) fn is_out_of_space(e: &ExportError) -> bool {
    use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, ReadOnlyFilesystem, StorageFull};
    matches!(e, ExportError::Io { source, .. }
        if matches!(source.kind(), StorageFull | QuotaExceeded | ReadOnlyFilesystem | FileTooLarge))
}

/// Summary figures over the recorded photos.
pub(crate) fn summarize(
    total: usize,
    images: &[ImageRecord],
    failed: usize,
    skipped: usize,
    seconds: f64,
) -> Summary {
    let seen = |f: fn(&Visibility) -> f64| -> Vec<f64> {
        images.iter().map(|r| f(&r.visibility)).collect()
    };
    let (psnrs, ssims) = (seen(|v| v.psnr_db), seen(|v| v.ssim));
    let (casts, cast_p99s, flats) = (
        seen(|v| v.cast_de00),
        seen(|v| v.cast_de00_p99),
        seen(|v| v.flat_noise_255),
    );
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let max = |v: &[f64]| v.iter().copied().reduce(f64::max);
    let min = |v: &[f64]| v.iter().copied().reduce(f64::min);
    Summary {
        total,
        done: images.len(),
        failed,
        skipped,
        mean_psnr_db: mean(&psnrs),
        worst_psnr_db: min(&psnrs),
        mean_ssim: mean(&ssims),
        worst_ssim: min(&ssims),
        mean_cast_de00: mean(&casts),
        worst_cast_de00_p99: max(&cast_p99s),
        mean_flat_noise_255: mean(&flats),
        worst_flat_noise_255: max(&flats),
        seconds,
    }
}

/// Where each photo of a run goes.
struct OutputPlan {
    /// Output path per album entry.
    outputs: Vec<PathBuf>,
    /// Whether the file at that path may be replaced (`--overwrite`, or a resumed run's own).
    replace: Vec<bool>,
    /// The record of each photo an earlier run (being resumed) finished.
    kept: Vec<Option<ImageRecord>>,
    /// The originals, which no output may resolve to.
    guard: InputGuard,
}

/// Plan every photo's output: a resumed run keeps the earlier run's outputs (finished and
/// planned); a part of a split run takes its photos' names from a plan of the whole album
/// (made identically by every part, ignoring files on disk that other parts may be writing);
/// otherwise free names are picked.
fn plan_outputs(job: &ProtectJob, whole: &Album, album: &Album, previous: &Previous) -> OutputPlan {
    let export = &job.config.export;
    let guard = InputGuard::new(
        album.entries.iter().map(|e| e.path.as_path()),
        album.roots.iter().map(PathBuf::as_path),
    );
    let planner = |overwrite: bool| {
        OutputPlanner::new(&job.out_dir, export.format, overwrite, guard.clone())
            .with_suffix(&export.name_suffix)
    };
    let mut free = planner(export.overwrite);
    previous.outputs().for_each(|o| free.reserve(o));
    let shard_outputs: Option<Vec<PathBuf>> = job.shard.map(|part| {
        let mut all = planner(true);
        whole
            .entries
            .iter()
            .map(|e| all.plan(&e.rel_out))
            .enumerate()
            .filter(|(i, _)| part.contains(*i))
            .map(|(_, o)| o)
            .collect()
    });
    // A planned file is this run's own, written before the manifest caught up.
    let kept: Vec<Option<ImageRecord>> = album
        .entries
        .iter()
        .map(|e| previous.done(e).cloned())
        .collect();
    let mut replace = vec![export.overwrite; album.len()];
    let outputs = album
        .entries
        .iter()
        .zip(&kept)
        .map(|(e, k)| match (k, previous.planned(e)) {
            (Some(r), _) => r.output.clone(),
            (None, Some(planned)) => {
                replace[e.index] = true;
                planned.to_path_buf()
            }
            (None, None) => match &shard_outputs {
                Some(planned) => planned[e.index].clone(),
                None => free.plan(&e.rel_out),
            },
        })
        .collect();
    OutputPlan {
        outputs,
        replace,
        kept,
        guard,
    }
}

/// Run a job to the end on the calling thread. Per-photo problems are recorded and the job
/// goes on; only problems with the job as a whole return `Err`. The manifest is written at
/// the start and after every photo (a killed run leaves a valid one); with `job.resume`, the
/// photos an earlier run into the same folder finished are kept and only the rest is done.
pub fn run(
    job: &ProtectJob,
    events: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<RunSummary, JobError> {
    let _release = crate::device::ReleaseMemoryOnDrop;
    let started = Instant::now();
    let config = &job.config;
    config.validate().map_err(JobError::Config)?;
    let whole = scan(&job.inputs)?;
    check_output_folder(&whole, &job.out_dir)?;
    let album = match job.shard {
        Some(part) => whole.shard(part),
        None => whole.clone(),
    };
    if album.is_empty() {
        return Err(JobError::NoImages(format!(
            "shard {} (the album has only {} photos)",
            job.shard.map(|s| s.to_string()).unwrap_or_default(),
            whole.len()
        )));
    }
    std::fs::create_dir_all(&job.out_dir).map_err(|source| JobError::OutputFolder {
        path: job.out_dir.clone(),
        source,
    })?;
    let (manifest_path, previous) = match (job.resume, job.shard) {
        (true, shard) => {
            let path =
                resume_manifest_path(&job.out_dir, shard).ok_or_else(|| JobError::Resume {
                    manifest: job.out_dir.join("manifest.json"),
                    why: "there is no earlier run in this folder".into(),
                })?;
            let previous = Previous::load(&path, config)?;
            (path, previous)
        }
        (false, Some(part)) => (
            shard::manifest_path(&job.out_dir, part),
            Previous::default(),
        ),
        (false, None) => (
            free_manifest_path(&job.out_dir, config.export.overwrite),
            Previous::default(),
        ),
    };
    let device = ComputeDevice::select(job.device)?;
    let method = protect::build(config);

    let plan = plan_outputs(job, &whole, &album, &previous);
    preflight::check_space(
        &job.out_dir,
        album
            .entries
            .iter()
            .filter(|e| plan.kept[e.index].is_none()),
        &config.export,
    )?;
    let (outputs, kept, replace) = (&plan.outputs, &plan.kept, &plan.replace);

    let labels = Labels {
        source: "folders".into(),
        classes: album.classes.clone(),
    };
    let mut warnings = Vec::new();
    if config.export.format.is_lossy() {
        warnings.push(
            "JPEG output re-compresses the photos, which weakens the protection; PNG keeps it intact."
                .to_string(),
        );
    }
    let base = |images: Vec<ImageRecord>, errors, labels, training, pending| Manifest {
        app: format!("unlearnable {}", env!("CARGO_PKG_VERSION")),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        method: method.id().id().to_string(),
        epsilon_255: config.epsilon_255,
        seed: config.seed,
        device: device.summary(),
        jpeg_decoder: crate::imaging::turbo::decoder_name().to_string(),
        shard: job.shard,
        merged_from: Vec::new(),
        labels,
        config: config.clone(),
        training,
        cancelled: false,
        finished: false,
        pending,
        summary: summarize(album.len(), &images, 0, 0, 0.0),
        images,
        errors,
        warnings: Vec::new(),
    };
    let mut start = base(
        kept.iter().flatten().cloned().collect(),
        Vec::new(),
        labels.clone(),
        None,
        journal::pending(&album.entries, outputs, kept),
    );
    start.warnings = warnings.clone();
    let journal = Journal::start(manifest_path.clone(), start).map_err(|e| match e {
        ExportError::Io { source, .. } => JobError::OutputFolder {
            path: job.out_dir.clone(),
            source,
        },
        other => JobError::Export(other),
    })?;

    events.emit(ProgressEvent::Started {
        total: album.len(),
        method: method.id().id().to_string(),
        device: device.summary(),
        classes: album.classes.clone(),
    });
    // One pool thread per photo in flight: memory is bounded by `batch_size` decoded photos,
    // whatever the album size. Inner loops (apply) share the same threads.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.batch_size)
        .thread_name(|i| format!("unlearnable-photo-{i}"))
        .build()
        .map_err(|e| JobError::Worker(e.to_string()))?;
    let mut ctx = MethodContext {
        device: &device,
        cancel,
        seed: config.seed,
        epsilon: config.epsilon(),
        num_classes: album.classes.len(),
        events,
    };
    let halt = Halt::default();
    // Record each photo in the journal as it finishes; a journal that cannot be written
    // stops the run (the manifest on disk keeps the last complete state).
    let note = |outcome: Outcome, source: &Path| -> Outcome {
        let recorded = match &outcome {
            Outcome::Done(r) => Some(journal.record(source, Ok(r))),
            Outcome::Failed(e) => Some(journal.record(source, Err(e))),
            Outcome::Skipped | Outcome::Kept(_) => None,
        };
        if let Some(Err(why)) = recorded {
            halt.halt(format!("the manifest could not be updated ({why})"), cancel);
        }
        outcome
    };

    let mut labels = labels;
    let mut training = None;
    let mut cancelled_in_training = false;
    let outcomes: Vec<Outcome> = match &method {
        Method::PerPhoto(m) => {
            events.emit(ProgressEvent::Phase {
                name: "protecting".into(),
                total: album.len(),
            });
            let shared = Shared {
                config,
                ctx,
                class_names: &album.classes,
                events,
                cancel,
                guard: &plan.guard,
                halt: &halt,
            };
            pool.install(|| {
                album
                    .entries
                    .par_iter()
                    .zip(outputs.par_iter())
                    .with_max_len(1)
                    .map(|(e, out)| match &kept[e.index] {
                        Some(r) => Outcome::Kept(r.clone()),
                        None => note(
                            protect_one(
                                &shared,
                                e,
                                e.label,
                                DeltaSource::Method(m.as_ref()),
                                (out, replace[e.index]),
                            ),
                            &e.path,
                        ),
                    })
                    .collect()
            })
        }
        Method::Album(m) => {
            events.emit(ProgressEvent::Phase {
                name: "reading".into(),
                total: album.len(),
            });
            let read = pool.install(|| {
                album::read(
                    &album,
                    config,
                    m.working_size(&device),
                    m.budget(),
                    events,
                    cancel,
                )
            });
            let clusters = config.method.training().and_then(|c| c.clusters);
            let (set, members, used) = album::training_set(&album, &read, clusters, config.seed);
            labels = used;
            if !m.id().uses_classes() {
                // A label-agnostic method makes its own groups (recorded in its settings).
                labels.source = format!("{} (not used by {})", labels.source, m.id());
            }
            ctx.num_classes = set.num_classes;
            let max_rounds = config.method.max_rounds(device.backend, config.epsilon());
            events.emit(ProgressEvent::Phase {
                name: "training".into(),
                total: max_rounds as usize,
            });
            let fitted = if cancel.is_cancelled() {
                Err(MethodError::Cancelled)
            } else {
                m.fit(&set, &ctx)
            };
            let fitted = match fitted {
                Ok(f) => Some(f),
                Err(MethodError::Cancelled) => {
                    cancelled_in_training = true;
                    None
                }
                Err(e) => return Err(e.into()),
            };
            let mut deltas: Vec<Option<&Planar>> = vec![None; album.len()];
            let mut trained_label = vec![0; album.len()];
            if let Some(f) = &fitted {
                for (j, &i) in members.iter().enumerate() {
                    deltas[i] = f.deltas.get(j);
                    trained_label[i] = set.labels[j];
                }
                training = Some(f.report.clone());
            }
            events.emit(ProgressEvent::Phase {
                name: "protecting".into(),
                total: members.len(),
            });
            let shared = Shared {
                config,
                ctx,
                class_names: &labels.classes,
                events,
                cancel,
                guard: &plan.guard,
                halt: &halt,
            };
            let written: Vec<Option<Outcome>> = pool.install(|| {
                album
                    .entries
                    .par_iter()
                    .zip(outputs.par_iter())
                    .with_max_len(1)
                    .map(|(e, out)| {
                        if let Some(r) = &kept[e.index] {
                            return Some(Outcome::Kept(r.clone()));
                        }
                        deltas[e.index].map(|d| {
                            note(
                                protect_one(
                                    &shared,
                                    e,
                                    trained_label[e.index],
                                    DeltaSource::Trained(d, m.budget()),
                                    (out, replace[e.index]),
                                ),
                                &e.path,
                            )
                        })
                    })
                    .collect()
            });
            read.copies
                .into_iter()
                .zip(written)
                .zip(&album.entries)
                .map(|((copy, w), e)| match (copy, w) {
                    (Err(first_pass), _) => note(first_pass, &e.path),
                    (Ok(_), Some(o)) => o,
                    (Ok(_), None) => Outcome::Skipped,
                })
                .collect()
        }
    };

    let mut images = Vec::new();
    let mut errors = Vec::new();
    let mut pending = Vec::new();
    for ((o, e), out) in outcomes.into_iter().zip(&album.entries).zip(outputs) {
        match o {
            Outcome::Done(r) | Outcome::Kept(r) => images.push(r),
            Outcome::Failed(e) => errors.push(e),
            Outcome::Skipped => pending.push(Planned {
                source: e.path.clone(),
                output: out.clone(),
            }),
        }
    }
    if let Some(t) = &training
        && !t.reached_target
    {
        warnings.push(format!(
            "training stopped at the round limit with the surrogate at {:.0} % accuracy (target {:.0} %): \
             protection may be weaker; try --quality thorough",
            t.final_accuracy * 100.0,
            config
                .method
                .training()
                .map(|c| c.stop_accuracy * 100.0)
                .unwrap_or(0.0)
        ));
    }
    let skipped = pending.len();
    let mut manifest = base(images, errors, labels, training, pending);
    manifest.warnings = warnings;
    manifest.summary = summarize(
        album.len(),
        &manifest.images,
        manifest.errors.len(),
        skipped,
        started.elapsed().as_secs_f64(),
    );
    manifest.cancelled = cancel.is_cancelled() || cancelled_in_training;
    manifest.finished = manifest.pending.is_empty();
    let halted = halt.reason();
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| JobError::Worker(e.to_string()))?;
    let final_write = write_atomically(journal.path(), &json, true);
    if let Some(message) = halted.or_else(|| final_write.as_ref().err().map(ToString::to_string)) {
        return Err(JobError::OutputStopped {
            message,
            done: manifest.summary.done,
            manifest: manifest_path,
        });
    }
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

/// Work running on its own named thread (a protection job, an export, an evaluation).
pub struct JobHandle<T = RunSummary, E = JobError> {
    /// Progress events, in the order they happened.
    pub events: Receiver<ProgressEvent>,
    /// Cancel the work; finished files are kept.
    pub cancel: CancelToken,
    thread: JoinHandle<Result<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static> JobHandle<T, E> {
    /// Run `work` on a named worker thread with a channel sink and a fresh cancel token;
    /// `on_event` runs on the worker after every event (the GUI passes `ctx.request_repaint`).
    pub fn start(
        name: &str,
        on_event: impl Fn() + Send + Sync + 'static,
        work: impl FnOnce(&dyn ProgressSink, &CancelToken) -> Result<T, E> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let cancel = CancelToken::new();
        let worker_cancel = cancel.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let sink = move |ev: ProgressEvent| {
                    // A dropped receiver only means nobody watches; the work still finishes.
                    let _ = tx.send(ev);
                    on_event();
                };
                work(&sink, &worker_cancel)
            })?;
        Ok(Self {
            events: rx,
            cancel,
            thread,
        })
    }

    /// Wait for the result; `None` if the worker panicked (a bug).
    pub fn join_result(self) -> Option<Result<T, E>> {
        self.thread.join().ok()
    }

    /// Whether the worker has returned.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

impl JobHandle {
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
    JobHandle::start("unlearnable-job", on_event, move |events, cancel| {
        run(&job, events, cancel)
    })
    .map_err(|e| JobError::Worker(e.to_string()))
}
