//! The first pass of training-based methods: read every photo into a small square working
//! copy, decide the labels (folders, or k-means clusters for a flat folder), and train.

use rayon::prelude::*;

use super::photo::{Outcome, failed};
use crate::config::ProtectConfig;
use crate::error::LoadError;
use crate::imaging::planar::{resize_planar, square_copy};
use crate::imaging::{Album, Planar, load_photo};
use crate::labels::look_alike_groups;
use crate::manifest::Labels;
use crate::progress::{ProgressEvent, ProgressSink};
use crate::protect::TrainingSet;

/// Result of reading the album for training.
pub struct ReadAlbum {
    /// Per album entry: its working copy, or the outcome to record (failed / skipped).
    pub copies: Vec<Result<Planar, Outcome>>,
}

/// Read every photo (a bounded number at once) into a square copy whose side is at most
/// `max_side` and at most the photo's own short side; then bring all copies to one common
/// size (the largest of them), so small data sets such as 32×32 images stay at their size.
// The error side carries the photo's recorded outcome; one per photo, so its size is harmless.
#[allow(clippy::result_large_err)]
pub fn read(
    album: &Album,
    config: &ProtectConfig,
    max_side: u32,
    events: &dyn ProgressSink,
    cancel: &crate::CancelToken,
) -> ReadAlbum {
    let mut copies: Vec<Result<Planar, Outcome>> = album
        .entries
        .par_iter()
        .with_max_len(1)
        .map(|entry| {
            if cancel.is_cancelled() {
                return Err(Outcome::Skipped);
            }
            let photo = match load_photo(&entry.path, &config.limits) {
                Ok(p) => p,
                Err(LoadError { kind, .. }) => return Err(failed(events, entry, kind.to_string())),
            };
            let side = max_side.min(photo.width().min(photo.height())).max(1);
            events.emit(ProgressEvent::PhotoRead { index: entry.index });
            Ok(square_copy(&photo.rgb, side))
        })
        .collect();
    let common = copies.iter().flatten().map(|p| p.width).max().unwrap_or(1);
    for copy in copies.iter_mut().flatten() {
        if copy.width != common {
            *copy = resize_planar(copy, common, common);
        }
    }
    ReadAlbum { copies }
}

/// Labels for training: the album's folders when there are at least two, otherwise k-means
/// clusters of the working copies. Returns the training set, the index (into the album) of
/// each training image, and the label description for the manifest.
pub fn training_set(
    album: &Album,
    read: &ReadAlbum,
    clusters: Option<usize>,
    seed: u64,
) -> (TrainingSet, Vec<usize>, Labels) {
    let mut images = Vec::new();
    let mut members = Vec::new();
    for (i, copy) in read.copies.iter().enumerate() {
        if let Ok(p) = copy {
            images.push(p.clone());
            members.push(i);
        }
    }
    let folder_labels: Vec<usize> = members.iter().map(|&i| album.entries[i].label).collect();
    let distinct_folders = {
        let mut v = folder_labels.clone();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    if distinct_folders >= 2 {
        let labels = Labels {
            source: "folders".into(),
            classes: album.classes.clone(),
        };
        let set = TrainingSet {
            images,
            labels: folder_labels,
            num_classes: album.classes.len(),
        };
        return (set, members, labels);
    }
    let (assigned, k) = look_alike_groups(&images, clusters, seed);
    let labels = Labels {
        source: format!(
            "k-means clusters of similar-looking photos (k = {k}, no sub-folders to use)"
        ),
        classes: (1..=k).map(|c| format!("cluster {c}")).collect(),
    };
    let set = TrainingSet {
        images,
        labels: assigned,
        num_classes: k,
    };
    (set, members, labels)
}
