//! The first pass of training-based methods: read every photo into a small square working
//! copy, decide the labels (folders, or k-means clusters for a flat folder), and train.

use rayon::prelude::*;

use super::photo::{Outcome, failed};
use crate::config::ProtectConfig;
use crate::error::LoadError;
use crate::imaging::budget::{BudgetConfig, area_resize, budget_map};
use crate::imaging::planar::{resize_planar, square_copy};
use crate::imaging::{Album, Planar, load_photo};
use crate::labels::look_alike_groups;
use crate::manifest::Labels;
use crate::progress::{ProgressEvent, ProgressSink};
use crate::protect::TrainingSet;

/// One photo's training copy.
pub struct WorkingCopy {
    /// The square working copy.
    pub image: Planar,
    /// Its budget map (1/255 units, `side × side`), when the method spreads a budget; else empty.
    pub budget: Vec<f32>,
}

/// Result of reading the album for training.
pub struct ReadAlbum {
    /// Per album entry: its working copy, or the outcome to record (failed / skipped).
    pub copies: Vec<Result<WorkingCopy, Outcome>>,
}

/// Read every photo (a bounded number at once) into a square copy whose side is at most
/// `max_side` and at most the photo's own short side; then bring all copies to one common
/// size (the largest of them), so small data sets such as 32×32 images stay at their size.
/// With a `budget`, each photo's budget map is computed at native size and area-averaged to
/// its working copy.
// The error side carries the photo's recorded outcome; one per photo, so its size is harmless.
#[allow(clippy::result_large_err)]
pub fn read(
    album: &Album,
    config: &ProtectConfig,
    max_side: u32,
    budget: Option<&BudgetConfig>,
    events: &dyn ProgressSink,
    cancel: &crate::CancelToken,
) -> ReadAlbum {
    let mut copies: Vec<Result<WorkingCopy, Outcome>> = album
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
            Ok(working_copy(&photo.rgb, side, config.epsilon_255, budget))
        })
        .collect();
    let common = copies
        .iter()
        .flatten()
        .map(|p| p.image.width)
        .max()
        .unwrap_or(1);
    for copy in copies.iter_mut().flatten() {
        let side = copy.image.width as usize;
        if side != common as usize {
            copy.image = resize_planar(&copy.image, common, common);
            if !copy.budget.is_empty() {
                let c = common as usize;
                copy.budget = area_resize(&copy.budget, side, side, c, c);
            }
        }
    }
    ReadAlbum { copies }
}

/// A photo's square training copy of side `side`, with its budget map when `budget` is set.
pub fn working_copy(
    rgb: &image::RgbImage,
    side: u32,
    epsilon_255: f32,
    budget: Option<&BudgetConfig>,
) -> WorkingCopy {
    let budget = budget
        .map(|cfg| {
            let map = budget_map(rgb, epsilon_255, cfg);
            let (w, h) = (rgb.width() as usize, rgb.height() as usize);
            area_resize(&map, w, h, side as usize, side as usize)
        })
        .unwrap_or_default();
    WorkingCopy {
        image: square_copy(rgb, side),
        budget,
    }
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
    let mut budgets = Vec::new();
    let mut members = Vec::new();
    for (i, copy) in read.copies.iter().enumerate() {
        if let Ok(p) = copy {
            images.push(p.image.clone());
            if !p.budget.is_empty() {
                budgets.push(p.budget.clone());
            }
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
            budgets,
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
        budgets,
    };
    (set, members, labels)
}
