//! Splitting an album across machines: each part (`--shard i/n`) writes its photos into the
//! common output folder and its own `manifest.shard-I-of-N.json`; [`merge`] checks that every
//! part finished with the same settings and combines them into one `manifest.json`.

use std::path::{Path, PathBuf};

use super::{RunSummary, summarize};
use crate::error::JobError;
use crate::imaging::{Shard, write_atomically};
use crate::manifest::Manifest;

/// The manifest of one part.
pub fn manifest_path(out_dir: &Path, shard: Shard) -> PathBuf {
    part_path(out_dir, "manifest", shard)
}

/// `dir/PREFIX.shard-I-of-N.json`: where part `shard` of a split writes its record.
pub fn part_path(dir: &Path, prefix: &str, shard: Shard) -> PathBuf {
    dir.join(format!(
        "{prefix}.shard-{}-of-{}.json",
        shard.index, shard.count
    ))
}

fn parse_name(name: &str, prefix: &str) -> Option<Shard> {
    let rest = name
        .strip_prefix(prefix)?
        .strip_prefix(".shard-")?
        .strip_suffix(".json")?;
    let (i, n) = rest.split_once("-of-")?;
    format!("{i}/{n}").parse().ok()
}

/// The parts `PREFIX.shard-I-of-N.json` in `dir`, in order: every part of one split, or why not
/// (none there, parts of different splits, parts missing).
pub fn find_parts(dir: &Path, prefix: &str) -> Result<Vec<(Shard, PathBuf)>, String> {
    let listing = std::fs::read_dir(dir).map_err(|e| e.to_string())?;
    let mut parts: Vec<(Shard, PathBuf)> = listing
        .flatten()
        .filter_map(|e| Some((parse_name(e.file_name().to_str()?, prefix)?, e.path())))
        .collect();
    parts.sort_by_key(|(s, _)| s.index);
    let Some(count) = parts.first().map(|(s, _)| s.count) else {
        return Err(format!("there are no parts ({prefix}.shard-I-of-N.json)"));
    };
    if parts.iter().any(|(s, _)| s.count != count) {
        return Err("it holds parts of splits into different numbers of parts".into());
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| !parts.iter().any(|(s, _)| s.index == *i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!("part(s) {} are missing", missing.join(", ")));
    }
    Ok(parts)
}

/// Whether `dir` holds any part `PREFIX.shard-I-of-N.json`.
pub fn has_parts(dir: &Path, prefix: &str) -> bool {
    std::fs::read_dir(dir).is_ok_and(|listing| {
        listing.flatten().any(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| parse_name(n, prefix))
                .is_some()
        })
    })
}

/// Combine the part manifests in `out_dir` into `out_dir/manifest.json`. Every part of one
/// split must be there, finished, and made with the same settings.
pub fn merge(out_dir: &Path) -> Result<RunSummary, JobError> {
    let fail = |why: String| JobError::Merge {
        folder: out_dir.to_path_buf(),
        why,
    };
    let parts = find_parts(out_dir, "manifest").map_err(fail)?;
    let count = parts.len();
    let mut manifests = Vec::new();
    for (shard, path) in &parts {
        let bytes = std::fs::read(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("{} is not a manifest ({e})", path.display())))?;
        if !m.finished {
            return Err(fail(format!(
                "part {shard} has not finished: run it again with --resume"
            )));
        }
        manifests.push(m);
    }
    let first = manifests[0].clone();
    if let Some(other) = manifests.iter().find(|m| {
        let mut c = m.config.clone();
        c.export.overwrite = first.config.export.overwrite;
        c != first.config
    }) {
        return Err(fail(format!(
            "part {} was made with other settings than part 1/{count}",
            other.shard.map(|s| s.to_string()).unwrap_or_default()
        )));
    }
    let mut images: Vec<_> = manifests.iter().flat_map(|m| m.images.clone()).collect();
    images.sort_by(|a, b| a.source.cmp(&b.source));
    let mut errors: Vec<_> = manifests.iter().flat_map(|m| m.errors.clone()).collect();
    errors.sort_by(|a, b| a.source.cmp(&b.source));
    let mut warnings: Vec<String> = Vec::new();
    for w in manifests.iter().flat_map(|m| m.warnings.iter()) {
        if !warnings.contains(w) {
            warnings.push(w.clone());
        }
    }
    let total = manifests.iter().map(|m| m.summary.total).sum();
    let seconds = manifests
        .iter()
        .map(|m| m.summary.seconds)
        .fold(0.0, f64::max);
    let skipped = manifests.iter().map(|m| m.summary.skipped).sum();
    let mut merged = Manifest {
        summary: summarize(total, &images, errors.len(), skipped, seconds),
        images,
        errors,
        warnings,
        shard: None,
        // Each part trained its own surrogate (training-based methods): their reports stay
        // in the part manifests.
        training: None,
        merged_from: parts
            .iter()
            .filter_map(|(_, p)| Some(p.file_name()?.to_string_lossy().into_owned()))
            .collect(),
        finished: true,
        pending: Vec::new(),
        ..first
    };
    merged.cancelled = manifests.iter().any(|m| m.cancelled);
    let manifest_path = out_dir.join("manifest.json");
    let json = serde_json::to_vec_pretty(&merged).map_err(|e| fail(e.to_string()))?;
    write_atomically(&manifest_path, &json, true)?;
    Ok(RunSummary {
        manifest: merged,
        manifest_path,
    })
}
