//! Splitting an evaluation across machines: each part (`evaluate --shard i/n`) protects the same
//! training split, trains its share of the arms and writes `report.shard-I-of-N.json` into the
//! common report folder; [`merge`] checks that every part is there, made with the same settings
//! from the same protected images, and writes the whole run's `report.json`, `report.md` and
//! `accuracy.png`.

use std::path::{Path, PathBuf};

use super::report::{EvalReport, link_references};
use crate::error::EvalError;
use crate::imaging::Shard;

/// Write one part's report (JSON only: the readable report is the merged one).
pub fn write_part(
    report: &EvalReport,
    report_dir: &Path,
    shard: Shard,
) -> Result<PathBuf, EvalError> {
    let path = crate::job::shard::part_path(report_dir, "report", shard);
    report.write_json(&path)?;
    Ok(path)
}

/// Whether `report_dir` holds parts of a split evaluation.
pub fn has_parts(report_dir: &Path) -> bool {
    crate::job::shard::has_parts(report_dir, "report")
}

/// Combine the part reports in `report_dir` into the whole run's report, written next to them.
pub fn merge(report_dir: &Path) -> Result<EvalReport, EvalError> {
    let fail = |why: String| {
        EvalError::Data(format!(
            "cannot merge the evaluation parts in {}: {why}",
            report_dir.display()
        ))
    };
    let files = crate::job::shard::find_parts(report_dir, "report").map_err(fail)?;
    let count = files.len();
    let mut parts = Vec::new();
    for (_, path) in &files {
        let bytes = std::fs::read(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        let r: EvalReport = serde_json::from_slice(&bytes).map_err(|e| {
            fail(format!(
                "{} is not an evaluation report ({e})",
                path.display()
            ))
        })?;
        parts.push(r);
    }
    let first = parts[0].clone();
    let Some(total) = first.part.as_ref().map(|p| p.arms_total) else {
        return Err(fail("part 1 does not say which arms it trained".into()));
    };
    let mut slots: Vec<Option<super::ArmReport>> = vec![None; total];
    for (r, (shard, _)) in parts.iter().zip(&files) {
        let same = r.config == first.config
            && r.data == first.data
            && r.classes == first.classes
            && r.train_images == first.train_images
            && r.test_images == first.test_images;
        if !same {
            return Err(fail(format!(
                "part {shard} was run with other settings or data than part 1/{count}"
            )));
        }
        if r.protected_fingerprint != first.protected_fingerprint {
            return Err(fail(format!(
                "part {shard} trained on other protected images than part 1/{count} (another \
                 kind of device protects with slightly different pixels: run every part on the \
                 same kind)"
            )));
        }
        let Some(part) = &r.part else {
            return Err(fail(format!(
                "part {shard} does not say which arms it trained"
            )));
        };
        if part.arms_total != total || part.arm_indices.len() != r.arms.len() {
            return Err(fail(format!("part {shard} lists its arms inconsistently")));
        }
        for (&j, arm) in part.arm_indices.iter().zip(&r.arms) {
            match slots.get_mut(j) {
                Some(slot @ None) => *slot = Some(arm.clone()),
                _ => {
                    return Err(fail(format!(
                        "arm {} is listed twice or out of range",
                        j + 1
                    )));
                }
            }
        }
    }
    let missing: Vec<String> = slots
        .iter()
        .enumerate()
        .filter(|(_, a)| a.is_none())
        .map(|(j, _)| (j + 1).to_string())
        .collect();
    if !missing.is_empty() {
        return Err(fail(format!(
            "arm(s) {} were not trained by any part",
            missing.join(", ")
        )));
    }
    let mut arms: Vec<_> = slots.into_iter().flatten().collect();
    // A part could not see the clean reference another part trained.
    for a in &mut arms {
        a.clean_reference = None;
        a.gap = None;
    }
    link_references(&mut arms);
    let mut devices: Vec<String> = Vec::new();
    for r in &parts {
        if !devices.contains(&r.device) {
            devices.push(r.device.clone());
        }
    }
    let merged = EvalReport {
        arms,
        device: devices.join("; "),
        seconds: parts.iter().map(|r| r.seconds).fold(0.0, f64::max),
        part: None,
        ..first
    };
    merged.write(report_dir)?;
    Ok(merged)
}
