//! Background work the app started (protect, export, verify): the worker handle plus a
//! progress tracker fed by the worker's typed events. No egui here, so it is unit-tested.

use std::time::{Duration, Instant};

use crate::job::JobHandle;
use crate::progress::ProgressEvent;

/// The latest training round of a training-based method.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundInfo {
    /// Round number, from 1.
    pub round: u32,
    /// Round limit.
    pub max_rounds: u32,
    /// Surrogate accuracy on the protected working copies (0–1).
    pub accuracy: f32,
}

/// What a run has done so far, for a progress bar and an ETA.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Current phase (`reading`, `training`, `protecting`, `exporting`, ...).
    pub phase: String,
    /// Units done in this phase.
    pub done: usize,
    /// Units in this phase.
    pub total: usize,
    /// Photos in the whole run (from `Started`).
    pub photos: usize,
    /// Photos that failed.
    pub failed: usize,
    /// Device summary (from `Started`).
    pub device: Option<String>,
    /// Latest training round.
    pub round: Option<RoundInfo>,
    /// Training's own upper-bound ETA, seconds.
    train_eta: Option<f64>,
    /// Latest evaluation epoch: `(arm, epoch, epochs, test accuracy)`.
    pub epoch: Option<(String, u32, u32, f32)>,
    started: Instant,
    phase_started: Instant,
    /// Whether the worker said it finished.
    pub finished: bool,
}

impl Progress {
    /// A tracker starting now.
    pub fn new(now: Instant) -> Self {
        Self {
            phase: "starting".into(),
            done: 0,
            total: 0,
            photos: 0,
            failed: 0,
            device: None,
            round: None,
            train_eta: None,
            epoch: None,
            started: now,
            phase_started: now,
            finished: false,
        }
    }

    /// Take one event into account.
    pub fn apply(&mut self, ev: &ProgressEvent, now: Instant) {
        match ev {
            ProgressEvent::Started { total, device, .. } => {
                self.photos = *total;
                self.device = Some(device.clone());
            }
            ProgressEvent::Phase { name, total } => {
                self.phase = name.clone();
                self.total = *total;
                self.done = 0;
                self.phase_started = now;
            }
            ProgressEvent::PhotoRead { .. }
            | ProgressEvent::ImageDone { .. }
            | ProgressEvent::Exported { .. } => self.done += 1,
            ProgressEvent::ImageFailed { .. } => {
                self.done += 1;
                self.failed += 1;
            }
            ProgressEvent::Round {
                round,
                max_rounds,
                accuracy,
                eta_seconds,
                ..
            } => {
                self.done = *round as usize;
                self.round = Some(RoundInfo {
                    round: *round,
                    max_rounds: *max_rounds,
                    accuracy: *accuracy,
                });
                self.train_eta = Some(*eta_seconds);
            }
            ProgressEvent::Epoch {
                arm,
                epoch,
                epochs,
                test_accuracy,
                ..
            } => {
                self.done += 1;
                self.epoch = Some((arm.clone(), *epoch, *epochs, *test_accuracy));
            }
            ProgressEvent::Finished { .. } => self.finished = true,
        }
    }

    /// Fraction of the current phase done (0–1).
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            (self.done as f32 / self.total as f32).clamp(0.0, 1.0)
        }
    }

    /// Estimated seconds left in the current phase: training's own estimate, otherwise the
    /// phase's average pace so far. `None` until there is something to go on.
    pub fn eta_seconds(&self, now: Instant) -> Option<f64> {
        if self.phase == "training" {
            return self.train_eta;
        }
        if self.done == 0 || self.total == 0 {
            return None;
        }
        let spent = now.duration_since(self.phase_started).as_secs_f64();
        Some(spent / self.done as f64 * (self.total.saturating_sub(self.done)) as f64)
    }

    /// Time since the run started.
    pub fn elapsed(&self, now: Instant) -> Duration {
        now.duration_since(self.started)
    }

    /// One line for a status bar: "Protecting 3 of 10 · about 12 s left".
    pub fn line(&self, now: Instant) -> String {
        let mut s = match self.phase.as_str() {
            "reading" => format!("Reading photos {} of {}", self.done, self.total),
            "training" => match self.round {
                Some(r) => format!(
                    "Learning the noise: round {} of at most {} (model fits {:.0} %)",
                    r.round,
                    r.max_rounds,
                    r.accuracy * 100.0
                ),
                None => "Learning the noise…".into(),
            },
            "protecting" => format!("Protecting {} of {}", self.done, self.total),
            "exporting" => format!("Exporting {} of {}", self.done, self.total),
            "checking" => match &self.epoch {
                Some((arm, e, n, _)) => {
                    format!("Training a test model on “{arm}”: pass {e} of {n}")
                }
                None => "Training test models…".into(),
            },
            "starting" => "Starting…".into(),
            other => format!("{other} {} of {}", self.done, self.total),
        };
        if let Some(eta) = self.eta_seconds(now) {
            s.push_str(&format!(" · about {} left", human_duration(eta)));
        }
        s
    }
}

/// "45 s", "3 min", "1 h 5 min".
pub fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", (s + 30) / 60)
    } else {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    }
}

/// A running piece of work and its progress.
pub struct Task<T, E> {
    /// The worker.
    pub handle: JobHandle<T, E>,
    /// What it reported.
    pub progress: Progress,
    /// Whether the user asked it to stop.
    pub cancelling: bool,
}

impl<T: Send + 'static, E: Send + 'static> Task<T, E> {
    /// Wrap a started worker.
    pub fn new(handle: JobHandle<T, E>) -> Self {
        Self {
            handle,
            progress: Progress::new(Instant::now()),
            cancelling: false,
        }
    }

    /// Drain pending events, passing each to `on_event` after updating the progress.
    pub fn pump(&mut self, mut on_event: impl FnMut(&ProgressEvent)) {
        let now = Instant::now();
        while let Ok(ev) = self.handle.events.try_recv() {
            self.progress.apply(&ev, now);
            on_event(&ev);
        }
    }

    /// Ask the worker to stop; finished files are kept.
    pub fn cancel(&mut self) {
        self.cancelling = true;
        self.handle.cancel.cancel();
    }

    /// Whether the worker has returned.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn progress_follows_phases_and_estimates_time_left() {
        let t0 = Instant::now();
        let mut p = Progress::new(t0);
        p.apply(
            &ProgressEvent::Started {
                total: 4,
                method: "conv".into(),
                device: "flex (CPU)".into(),
                classes: vec![],
            },
            t0,
        );
        p.apply(
            &ProgressEvent::Phase {
                name: "protecting".into(),
                total: 4,
            },
            t0,
        );
        assert_eq!(p.eta_seconds(t0), None);
        let done = |i| ProgressEvent::ImageDone {
            index: i,
            source: PathBuf::from("a.jpg"),
            output: PathBuf::from("a.png"),
            visibility: crate::imaging::Visibility::identical(),
        };
        p.apply(&done(0), t0 + Duration::from_secs(2));
        p.apply(
            &ProgressEvent::ImageFailed {
                index: 1,
                source: PathBuf::from("b.jpg"),
                error: "corrupt".into(),
            },
            t0 + Duration::from_secs(4),
        );
        assert_eq!((p.done, p.failed), (2, 1));
        assert!((p.fraction() - 0.5).abs() < 1e-6);
        // 2 photos in 4 s: 2 more take about 4 s.
        let eta = p.eta_seconds(t0 + Duration::from_secs(4)).expect("eta");
        assert!((eta - 4.0).abs() < 1e-9);
        assert!(
            p.line(t0 + Duration::from_secs(4))
                .starts_with("Protecting 2 of 4 · about 4 s")
        );
        assert_eq!(p.device.as_deref(), Some("flex (CPU)"));
    }

    #[test]
    fn training_rounds_drive_the_bar_and_use_the_trainers_estimate() {
        let t0 = Instant::now();
        let mut p = Progress::new(t0);
        p.apply(
            &ProgressEvent::Phase {
                name: "training".into(),
                total: 10,
            },
            t0,
        );
        p.apply(
            &ProgressEvent::Round {
                round: 3,
                max_rounds: 10,
                images: 8,
                accuracy: 0.75,
                loss: 0.5,
                eta_seconds: 70.0,
            },
            t0,
        );
        assert!((p.fraction() - 0.3).abs() < 1e-6);
        assert_eq!(p.eta_seconds(t0), Some(70.0));
        let line = p.line(t0);
        assert!(line.contains("round 3 of at most 10"), "{line}");
        assert!(line.contains("75 %"), "{line}");
        assert!(line.ends_with("about 1 min left"), "{line}");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(4.4), "4 s");
        assert_eq!(human_duration(89.0), "1 min");
        assert_eq!(human_duration(91.0), "2 min");
        assert_eq!(human_duration(3900.0), "1 h 5 min");
    }
}
