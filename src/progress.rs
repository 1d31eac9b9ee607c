//! Typed progress events, sent from the worker to whichever face (CLI, GUI) is watching.

use std::path::PathBuf;
use std::sync::mpsc::Sender;

use serde::Serialize;

use crate::imaging::Visibility;

/// Something that happened during a job. Events arrive in order for a given image; images
/// may finish out of order.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ProgressEvent {
    /// The album was scanned and the job is about to start.
    Started {
        /// Number of image files found.
        total: usize,
        /// Method id.
        method: String,
        /// Device summary.
        device: String,
        /// Class names (sub-folders), in label order.
        classes: Vec<String>,
    },
    /// A phase of the job began: `reading` (training-based methods load the album first),
    /// `training`, or `protecting`.
    Phase {
        /// Short phase name.
        name: String,
        /// Units of work in this phase (photos, or rounds for `training`).
        total: usize,
    },
    /// A photo was read for training (first pass of training-based methods).
    PhotoRead {
        /// Position in the album's sorted order.
        index: usize,
    },
    /// A training round finished.
    Round {
        /// Round number, from 1.
        round: u32,
        /// Round limit (training may stop earlier).
        max_rounds: u32,
        /// Images optimised in this round (the whole training set).
        images: usize,
        /// Surrogate accuracy on the protected working copies (0–1).
        accuracy: f32,
        /// Mean loss during the round's δ-steps.
        loss: f32,
        /// Upper bound on the remaining training time (the stop threshold may end it sooner).
        eta_seconds: f64,
    },
    /// An evaluation arm finished an epoch of training a fresh classifier.
    Epoch {
        /// Arm name (`clean`, `<method> + <defence>`).
        arm: String,
        /// Epoch number, from 1.
        epoch: u32,
        /// Total epochs.
        epochs: u32,
        /// Mean training loss over the epoch.
        train_loss: f32,
        /// Clean test accuracy after the epoch (0–1).
        test_accuracy: f32,
    },
    /// One photo was protected and written.
    ImageDone {
        /// Position in the album's sorted order.
        index: usize,
        /// Original file.
        #[serde(with = "crate::path_json")]
        source: PathBuf,
        /// Written file.
        #[serde(with = "crate::path_json")]
        output: PathBuf,
        /// How visible the change is: PSNR, SSIM (luma and per channel), colour cast and
        /// flat-area noise of protected vs original (flat fields in JSON).
        #[serde(flatten)]
        visibility: Visibility,
    },
    /// One protected photo was exported (re-encoded into the user's folder).
    Exported {
        /// Position in the staged run's list of written photos.
        index: usize,
        /// Original file.
        #[serde(with = "crate::path_json")]
        source: PathBuf,
        /// Exported file.
        #[serde(with = "crate::path_json")]
        output: PathBuf,
    },
    /// One photo failed; the job goes on.
    ImageFailed {
        /// Position in the album's sorted order.
        index: usize,
        /// Original file.
        #[serde(with = "crate::path_json")]
        source: PathBuf,
        /// Why, in words.
        error: String,
    },
    /// The job ended (normally or cancelled); the manifest is written.
    Finished {
        /// Photos written.
        done: usize,
        /// Photos that failed.
        failed: usize,
        /// Whether the job stopped early because it was cancelled.
        cancelled: bool,
    },
}

impl ProgressEvent {
    /// The [`ProgressEvent::Round`] of round `round` of `max_rounds` that began at `started`,
    /// its remaining time estimated as this round's duration times the rounds left.
    pub fn round(
        round: u32,
        max_rounds: u32,
        images: usize,
        accuracy: f32,
        loss: f32,
        started: std::time::Instant,
    ) -> Self {
        ProgressEvent::Round {
            round,
            max_rounds,
            images,
            accuracy,
            loss,
            eta_seconds: started.elapsed().as_secs_f64()
                * f64::from(max_rounds.saturating_sub(round)),
        }
    }
}

/// Where events go. Implemented for channels and closures; must be callable from worker threads.
pub trait ProgressSink: Sync {
    /// Deliver one event. Must not block for long.
    fn emit(&self, event: ProgressEvent);
}

impl ProgressSink for Sender<ProgressEvent> {
    fn emit(&self, event: ProgressEvent) {
        // A closed receiver means nobody is watching any more; the job still finishes its files.
        let _ = self.send(event);
    }
}

impl<F: Fn(ProgressEvent) + Sync> ProgressSink for F {
    fn emit(&self, event: ProgressEvent) {
        self(event)
    }
}

/// A sink that drops everything.
pub struct NullSink;

impl ProgressSink for NullSink {
    fn emit(&self, _event: ProgressEvent) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn eta(round: u32, max_rounds: u32, started: Instant) -> f64 {
        match ProgressEvent::round(round, max_rounds, 10, 0.5, 1.0, started) {
            ProgressEvent::Round { eta_seconds, .. } => eta_seconds,
            other => panic!("not a round: {other:?}"),
        }
    }

    #[test]
    fn a_round_estimates_the_rest_as_its_own_duration_times_the_rounds_left() {
        let started = Instant::now()
            .checked_sub(Duration::from_millis(200))
            .expect("a clock older than 200 ms");
        let three_left = eta(2, 5, started);
        assert!(
            (0.6..30.0).contains(&three_left),
            "3 rounds left after a 0.2 s round: {three_left} s"
        );
        assert_eq!(eta(5, 5, started), 0.0, "the last round leaves nothing");
        assert_eq!(
            eta(7, 5, started),
            0.0,
            "past the limit: nothing, not a wrap-around"
        );
    }
}
