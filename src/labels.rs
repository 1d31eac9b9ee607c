//! Pseudo-labels for albums without sub-folders: k-means on simple image features.
//!
//! Error-minimizing noise needs classes: with one class there is nothing to minimise. A flat
//! folder is grouped into k clusters of similar-looking photos (colour layout and colour
//! statistics), and each cluster becomes a class.

use crate::imaging::Planar;
use crate::rng::{Rng, derive_seed};

/// How many clusters for `n` photos: √(n/2) rounded, clamped to 2..=10, and never more than `n`.
/// (A common rule of thumb for k; 10 matches the class count the EM literature works with.)
pub fn auto_clusters(n: usize) -> usize {
    (((n as f64) / 2.0).sqrt().round() as usize)
        .clamp(2, 10)
        .min(n)
}

/// Features of one working copy: the mean of each channel over a 4×4 grid (layout of colour,
/// 48 values) plus each channel's mean and standard deviation (6 values).
pub fn features(p: &Planar) -> Vec<f32> {
    let (w, h) = (p.width as usize, p.height as usize);
    let n = p.plane_len();
    let mut f = Vec::with_capacity(54);
    for c in 0..3 {
        let plane = &p.data[c * n..(c + 1) * n];
        for gy in 0..4 {
            for gx in 0..4 {
                let (y0, y1) = (gy * h / 4, ((gy + 1) * h / 4).max(gy * h / 4 + 1).min(h));
                let (x0, x1) = (gx * w / 4, ((gx + 1) * w / 4).max(gx * w / 4 + 1).min(w));
                let mut s = 0.0;
                let mut cnt = 0usize;
                for y in y0..y1 {
                    for x in x0..x1 {
                        s += plane[y * w + x];
                        cnt += 1;
                    }
                }
                f.push(if cnt > 0 { s / cnt as f32 } else { 0.0 });
            }
        }
    }
    for c in 0..3 {
        let plane = &p.data[c * n..(c + 1) * n];
        let mean = plane.iter().sum::<f32>() / n.max(1) as f32;
        let var = plane.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n.max(1) as f32;
        f.push(mean);
        f.push(var.sqrt());
    }
    f
}

/// Group look-alike images: k-means on [`features`] with `k` = `clusters` or
/// [`auto_clusters`], at least 2 and at most one per image. Returns the labels and `k`.
pub fn look_alike_groups(
    images: &[Planar],
    clusters: Option<usize>,
    seed: u64,
) -> (Vec<usize>, usize) {
    let n = images.len();
    let k = clusters
        .unwrap_or_else(|| auto_clusters(n))
        .max(2)
        .min(n)
        .max(1);
    let feats: Vec<Vec<f32>> = images.iter().map(features).collect();
    (kmeans(&feats, k, seed), k)
}

fn dist2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Seeded k-means (k-means++ initialisation, Lloyd iterations) on z-scored features.
/// Returns one label in `0..k` per row; every cluster is non-empty when `k ≤ rows`.
pub fn kmeans(rows: &[Vec<f32>], k: usize, seed: u64) -> Vec<usize> {
    let n = rows.len();
    if n == 0 || k <= 1 {
        return vec![0; n];
    }
    let k = k.min(n);
    let dim = rows[0].len();
    // z-score each feature so no single statistic dominates.
    let mut x: Vec<Vec<f32>> = rows.to_vec();
    for d in 0..dim {
        let mean = x.iter().map(|r| r[d]).sum::<f32>() / n as f32;
        let sd = (x.iter().map(|r| (r[d] - mean).powi(2)).sum::<f32>() / n as f32)
            .sqrt()
            .max(1e-6);
        x.iter_mut().for_each(|r| r[d] = (r[d] - mean) / sd);
    }
    let mut rng = Rng::new(derive_seed(seed, "kmeans", k as u64));
    let mut centres = vec![x[rng.below(n as u64) as usize].clone()];
    while centres.len() < k {
        let d: Vec<f32> = x
            .iter()
            .map(|r| centres.iter().map(|c| dist2(r, c)).fold(f32::MAX, f32::min))
            .collect();
        let total: f32 = d.iter().sum();
        let pick = if total <= 0.0 {
            rng.below(n as u64) as usize
        } else {
            let mut t = rng.next_f32() * total;
            d.iter()
                .position(|&v| {
                    t -= v;
                    t <= 0.0
                })
                .unwrap_or(n - 1)
        };
        centres.push(x[pick].clone());
    }
    let mut labels = vec![usize::MAX; n];
    for _ in 0..100 {
        let mut changed = false;
        for (i, r) in x.iter().enumerate() {
            let best = (0..k)
                .min_by(|&a, &b| dist2(r, &centres[a]).total_cmp(&dist2(r, &centres[b])))
                .unwrap_or(0);
            if labels[i] != best {
                labels[i] = best;
                changed = true;
            }
        }
        // Re-seed an empty cluster with the point farthest from its centre, taken from a
        // cluster that keeps at least one other member.
        let mut counts = vec![0usize; k];
        labels.iter().for_each(|&l| counts[l] += 1);
        for c in 0..k {
            if counts[c] == 0 {
                let far = (0..n).filter(|&i| counts[labels[i]] > 1).max_by(|&a, &b| {
                    dist2(&x[a], &centres[labels[a]]).total_cmp(&dist2(&x[b], &centres[labels[b]]))
                });
                if let Some(far) = far {
                    counts[labels[far]] -= 1;
                    counts[c] += 1;
                    labels[far] = c;
                    changed = true;
                }
            }
        }
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<&Vec<f32>> = x
                .iter()
                .zip(&labels)
                .filter(|(_, l)| **l == c)
                .map(|(r, _)| r)
                .collect();
            if !members.is_empty() {
                for d in 0..dim {
                    centre[d] = members.iter().map(|r| r[d]).sum::<f32>() / members.len() as f32;
                }
            }
        }
        if !changed {
            break;
        }
    }
    labels
}

/// How far a grouping agrees with the true classes: `(purity, NMI)`.
///
/// Purity is the share of items in their group's majority class (1/K for random equal groups
/// of K balanced classes, 1 when every group is pure); NMI is the mutual information of groups
/// and classes over the mean of their entropies (0 when independent, 1 when one determines the
/// other). `groups` and `classes` are parallel, any non-negative ids. (0, 0) when empty.
pub fn agreement(groups: &[usize], classes: &[usize]) -> (f64, f64) {
    let n = groups.len().min(classes.len());
    if n == 0 {
        return (0.0, 0.0);
    }
    let rows = groups[..n].iter().max().map_or(0, |m| m + 1);
    let cols = classes[..n].iter().max().map_or(0, |m| m + 1);
    let mut joint = vec![vec![0.0f64; cols]; rows];
    for (&g, &c) in groups.iter().zip(classes) {
        joint[g][c] += 1.0;
    }
    let total = n as f64;
    let purity = joint
        .iter()
        .map(|row| row.iter().copied().fold(0.0, f64::max))
        .sum::<f64>()
        / total;
    let p_group: Vec<f64> = joint
        .iter()
        .map(|r| r.iter().sum::<f64>() / total)
        .collect();
    let p_class: Vec<f64> = (0..cols)
        .map(|c| joint.iter().map(|r| r[c]).sum::<f64>() / total)
        .collect();
    let entropy = |p: &[f64]| -> f64 {
        -p.iter()
            .filter(|&&v| v > 0.0)
            .map(|v| v * v.ln())
            .sum::<f64>()
    };
    let mut mutual = 0.0;
    for (g, row) in joint.iter().enumerate() {
        for (c, &count) in row.iter().enumerate() {
            let p = count / total;
            if p > 0.0 {
                mutual += p * (p / (p_group[g] * p_class[c])).ln();
            }
        }
    }
    let mean_entropy = (entropy(&p_group) + entropy(&p_class)) / 2.0;
    let nmi = if mean_entropy > 0.0 {
        (mutual / mean_entropy).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (purity, nmi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_of_groupings_with_classes() {
        let classes = [0, 0, 1, 1, 2, 2];
        // The classes themselves, under other ids: pure and fully informative.
        let (p, nmi) = agreement(&[2, 2, 0, 0, 1, 1], &classes);
        assert!(
            (p - 1.0).abs() < 1e-12 && (nmi - 1.0).abs() < 1e-12,
            "{p} {nmi}"
        );
        // Two groups crossing two balanced classes evenly: majority 1/2, no information.
        let (p, nmi) = agreement(&[0, 1, 0, 1], &[0, 0, 1, 1]);
        assert!((p - 0.5).abs() < 1e-12 && nmi.abs() < 1e-12, "{p} {nmi}");
        // By hand: groups {0,0,1} {1,2,2} → majorities 2 + 2 of 6; joint counts
        // [[2,1,0],[0,1,2]], MI = 2·(2/6·ln 2 + 1/6·ln 1) = (2/3)·ln 2, H(groups) = ln 2,
        // H(classes) = ln 3.
        let (p, nmi) = agreement(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2]);
        let want = (2.0 / 3.0) * 2f64.ln() / ((2f64.ln() + 3f64.ln()) / 2.0);
        assert!((p - 4.0 / 6.0).abs() < 1e-12, "{p}");
        assert!((nmi - want).abs() < 1e-12, "{nmi} vs {want}");
        assert_eq!(agreement(&[], &[]), (0.0, 0.0));
    }

    fn solid(r: f32, g: f32, b: f32, jitter: f32) -> Planar {
        let mut p = Planar::zeros(8, 8);
        let n = p.plane_len();
        for (c, v) in [r, g, b].into_iter().enumerate() {
            for i in 0..n {
                p.data[c * n + i] = (v + jitter * ((i % 7) as f32 / 7.0 - 0.5)).clamp(0.0, 1.0);
            }
        }
        p
    }

    #[test]
    fn auto_cluster_counts() {
        assert_eq!(auto_clusters(2), 2);
        assert_eq!(auto_clusters(5), 2);
        assert_eq!(auto_clusters(50), 5);
        assert_eq!(auto_clusters(10_000), 10);
    }

    #[test]
    fn clearly_different_groups_are_separated_and_results_are_seeded() {
        let mut imgs = Vec::new();
        for i in 0..6 {
            imgs.push(solid(0.9, 0.1 + 0.02 * i as f32, 0.1, 0.1));
            imgs.push(solid(0.1, 0.2, 0.9 - 0.02 * i as f32, 0.1));
        }
        let feats: Vec<Vec<f32>> = imgs.iter().map(features).collect();
        assert_eq!(feats[0].len(), 54);
        let labels = kmeans(&feats, 2, 7);
        for i in (0..12).step_by(2) {
            assert_eq!(labels[i], labels[0], "reds together: {labels:?}");
            assert_eq!(labels[i + 1], labels[1], "blues together: {labels:?}");
        }
        assert_ne!(labels[0], labels[1]);
        assert_eq!(labels, kmeans(&feats, 2, 7));
    }

    #[test]
    fn every_cluster_is_used_even_with_identical_photos() {
        let feats = vec![features(&solid(0.5, 0.5, 0.5, 0.0)); 5];
        let labels = kmeans(&feats, 3, 1);
        for c in 0..3 {
            assert!(labels.contains(&c), "{labels:?}");
        }
    }
}
