//! Starting background work (protect, export, verify) and taking in what the workers report.

use std::path::PathBuf;

use super::{App, Screen};
use crate::error::{EvalError, JobError, MethodError};
use crate::eval::album::{AlbumEval, run_album};
use crate::gui::photos::{PhotoState, Photos};
use crate::gui::tasks::Task;
use crate::gui::toasts::Level;
use crate::gui::viewer::ViewTransform;
use crate::job::export::{ExportJob, export_staged};
use crate::job::{self, JobHandle, ProtectJob, RunSummary};
use crate::progress::ProgressEvent;

/// Where a run writes, with what, from which photos.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPlan {
    /// The run's staging folder.
    pub dir: PathBuf,
    /// Its settings.
    pub config: crate::config::ProtectConfig,
    /// Its photos (as opened).
    pub sources: Vec<PathBuf>,
}

impl App {
    /// How many photos "Continue" would still protect, when the stopped run matches the
    /// opened photos and the current settings.
    pub fn can_continue(&self) -> Option<usize> {
        let (plan, left) = self.resumable.as_ref()?;
        (plan.sources == self.photos.sources && plan.config == self.settings.protect_config())
            .then_some(*left)
    }

    /// Finish the stopped run into its own folder (`resume`): photos it wrote are kept.
    pub(super) fn continue_protect(&mut self) {
        if self.busy() || self.can_continue().is_none() {
            return;
        }
        let Some((plan, _)) = self.resumable.take() else {
            return;
        };
        self.spawn_run(plan, true);
    }

    fn spawn_run(&mut self, plan: RunPlan, resume: bool) {
        let job = ProtectJob {
            inputs: plan.sources.clone(),
            out_dir: plan.dir.clone(),
            config: plan.config.clone(),
            device: self.settings.device,
            resume,
            shard: None,
        };
        match job::spawn(job, self.repaint_fn()) {
            Ok(handle) => {
                for it in &mut self.photos.items {
                    if !(resume && matches!(it.state, PhotoState::Done { .. })) {
                        it.state = PhotoState::Protecting;
                    }
                }
                self.preview = None;
                self.pending_preview = None;
                self.protect = Some(Task::new(handle));
                self.current_run = Some(plan);
            }
            Err(e) => self.toasts.error(format!("Cannot start: {e}")),
        }
    }

    pub(super) fn start_protect(&mut self) {
        if self.busy() {
            return;
        }
        if self.photos.items.is_empty() {
            self.toasts
                .error("Open a folder or add photos first (or drop them on the window).");
            return;
        }
        if self.staging.is_none() {
            let root = staging_root();
            let _ = std::fs::create_dir_all(&root);
            match tempfile::Builder::new()
                .prefix("session-")
                .tempdir_in(&root)
                .or_else(|_| tempfile::Builder::new().prefix("unlearnable-").tempdir())
            {
                Ok(d) => self.staging = Some(d),
                Err(e) => {
                    self.toasts.error(format!(
                        "Cannot create a working folder for protected copies: {e}"
                    ));
                    return;
                }
            }
        }
        let Some(staging) = &self.staging else { return };
        self.runs += 1;
        let plan = RunPlan {
            dir: staging.path().join(format!("run-{}", self.runs)),
            config: self.settings.protect_config(),
            sources: self.photos.sources.clone(),
        };
        self.resumable = None;
        self.spawn_run(plan, false);
    }

    pub(super) fn start_verify(&mut self) {
        if self.busy() {
            return;
        }
        let inputs = self.photos.sources.clone();
        let mut cfg = AlbumEval::default();
        cfg.eval.protect = self.settings.protect_config();
        let device = self.settings.device;
        let started = JobHandle::start("unlearnable-verify", self.repaint_fn(), move |ev, c| {
            run_album(&inputs, &cfg, device, ev, c)
        });
        match started {
            Ok(h) => {
                self.verify_report = None;
                self.verify_curves.clear();
                self.verify = Some(Task::new(h));
                self.screen = Screen::Verify;
            }
            Err(e) => self.toasts.error(format!("Cannot start the check: {e}")),
        }
    }

    pub(super) fn start_export(&mut self, dir: PathBuf) {
        if self.busy() {
            return;
        }
        // The staged files of the last finished run live next to its manifest (a later run
        // that failed does not change which files get exported).
        let Some((run, staging)) = self
            .last_run
            .as_ref()
            .and_then(|r| Some((r, r.manifest_path.parent()?.to_path_buf())))
        else {
            self.toasts
                .error("Protect the photos first; then export them.");
            return;
        };
        let job = ExportJob {
            staged: run.manifest.clone(),
            staging_dir: staging,
            roots: self.photos.sources.clone(),
            out_dir: dir.clone(),
            config: self.settings.export.clone(),
            limits: run.manifest.config.limits.clone(),
        };
        self.settings.export_dir = Some(dir);
        let started = JobHandle::start("unlearnable-export", self.repaint_fn(), move |ev, c| {
            export_staged(&job, ev, c)
        });
        match started {
            Ok(h) => {
                self.export_window.summary = None;
                self.export = Some(Task::new(h));
            }
            Err(e) => self.toasts.error(format!("Cannot start the export: {e}")),
        }
    }

    fn apply_event(photos: &mut Photos, ev: &ProgressEvent) {
        match ev {
            ProgressEvent::ImageDone {
                source,
                output,
                visibility,
                ..
            } => {
                if let Some(i) = photos.index_of(source) {
                    photos.items[i].state = PhotoState::Done {
                        staged: output.clone(),
                        seen: *visibility,
                    };
                }
            }
            ProgressEvent::ImageFailed { source, error, .. } => {
                if let Some(i) = photos.index_of(source) {
                    photos.items[i].state = PhotoState::Failed(error.clone());
                }
            }
            _ => {}
        }
    }

    /// Take worker results; runs every frame before drawing.
    pub(super) fn pump(&mut self) {
        self.photos.poll(&self.ctx);
        for e in self.photos.errors.drain(..) {
            self.toasts.error(e);
        }
        if self.auto_protect && !self.photos.scanning && !self.photos.items.is_empty() {
            self.auto_protect = false;
            self.start_protect();
        }
        if let Some(task) = &mut self.protect {
            let photos = &mut self.photos;
            task.pump(|ev| Self::apply_event(photos, ev));
            if task.is_finished()
                && let Some(task) = self.protect.take()
            {
                self.finish_protect(task);
            }
        }
        if let Some(task) = &mut self.export {
            task.pump(|_| {});
            if task.is_finished()
                && let Some(task) = self.export.take()
            {
                match task.handle.join_result() {
                    Some(Ok(summary)) => {
                        let n = summary.written.len();
                        let f = summary.failed.len();
                        if summary.cancelled {
                            self.toasts
                                .info(format!("Export stopped after {n} photos."));
                        } else if f == 0 {
                            self.toasts.info(format!("Exported {n} protected photos."));
                        } else {
                            self.toasts.push(
                                Level::Warning,
                                format!("Exported {n} photos; {f} could not be exported."),
                            );
                        }
                        self.export_window.summary = Some(summary);
                        self.export_window.open = true;
                    }
                    Some(Err(e)) => self.toasts.error(format!("Export failed: {e}")),
                    None => self
                        .toasts
                        .error("The export stopped unexpectedly (a bug)."),
                }
            }
        }
        if let Some(task) = &mut self.verify {
            let curves = &mut self.verify_curves;
            task.pump(|ev| {
                if let ProgressEvent::Epoch {
                    arm, test_accuracy, ..
                } = ev
                {
                    match curves.iter_mut().find(|c| &c.0 == arm) {
                        Some(c) => c.2.push(*test_accuracy),
                        None => {
                            let defence = arm.split(" + ").nth(1).unwrap_or("none").to_string();
                            curves.push((arm.clone(), defence, vec![*test_accuracy]));
                        }
                    }
                }
            });
            if task.is_finished()
                && let Some(task) = self.verify.take()
            {
                match task.handle.join_result() {
                    Some(Ok(report)) => {
                        self.verify_report = Some(report);
                    }
                    Some(Err(EvalError::Method(MethodError::Cancelled))) => {
                        self.toasts.info("Check stopped.")
                    }
                    Some(Err(e)) => self.toasts.error(format!("The check failed: {e}")),
                    None => self.toasts.error("The check stopped unexpectedly (a bug)."),
                }
            }
        }
        if let Some(p) = &self.pending_preview
            && let Some(result) = p.poll()
        {
            self.pending_preview = None;
            match result {
                Ok(pair) => {
                    if self.preview.as_ref().map(|p| (p.width, p.height))
                        != Some((pair.width, pair.height))
                    {
                        self.view = ViewTransform::default();
                    }
                    self.preview = Some(pair);
                }
                Err(e) => self.preview_error = Some(e),
            }
        }
    }

    fn finish_protect(&mut self, task: Task<RunSummary, JobError>) {
        for it in &mut self.photos.items {
            if it.state == PhotoState::Protecting {
                it.state = PhotoState::Waiting;
            }
        }
        let result = task.handle.join_result();
        let left = match &result {
            Some(Ok(run)) if !run.manifest.finished => Some(run.manifest.pending.len()),
            Some(Err(JobError::OutputStopped { done, .. })) => {
                Some(self.photos.items.len().saturating_sub(*done))
            }
            _ => None,
        };
        self.resumable = left
            .filter(|&n| n > 0)
            .and_then(|n| Some((self.current_run.clone()?, n)));
        match result {
            Some(Ok(run)) => {
                let s = &run.manifest.summary;
                if run.manifest.cancelled {
                    self.toasts.info(format!(
                        "Stopped. {} photos were protected before you cancelled; nothing half-written was kept. \
                         “Continue” finishes the rest.",
                        s.done
                    ));
                } else if s.failed == 0 {
                    self.toasts.info(format!(
                        "Protected {} photos. Select one to compare, then Export.",
                        s.done
                    ));
                } else {
                    self.toasts.push(
                        Level::Warning,
                        format!(
                            "Protected {} photos; {} could not be read (hover them for the reason).",
                            s.done, s.failed
                        ),
                    );
                }
                for w in &run.manifest.warnings {
                    self.toasts.push(Level::Warning, w.clone());
                }
                self.last_run = Some(run);
                if self.show_first_result {
                    self.show_first_result = false;
                    if let Some(i) = self
                        .photos
                        .items
                        .iter()
                        .position(|it| matches!(it.state, PhotoState::Done { .. }))
                    {
                        self.select(i);
                    }
                } else if let Some(i) = self.selected {
                    self.select(i);
                }
            }
            Some(Err(e)) => self.toasts.error(e.to_string()),
            None => self
                .toasts
                .error("The protection worker stopped unexpectedly (a bug)."),
        }
    }
}

/// Where protected copies wait for export: the user cache folder (not `/tmp`, which is often
/// in memory), removed when the app closes.
pub(super) fn staging_root() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("LOCALAPPDATA").map(PathBuf::from))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| {
                let h = PathBuf::from(h);
                if cfg!(target_os = "macos") {
                    h.join("Library/Caches")
                } else {
                    h.join(".cache")
                }
            })
        })
        .unwrap_or_else(std::env::temp_dir);
    cache.join("unlearnable").join("staging")
}
