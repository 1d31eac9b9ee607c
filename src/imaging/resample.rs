//! Resampling as a matrix: every output sample is a fixed weighted sum of input samples, so a
//! crop-and-resize is `A·X·Bᵀ` — exact to differentiate when the matrices go into Burn
//! (`shield`'s transforms), and plain loops on the CPU (the evaluator's random-resized crops).

use super::Planar;

/// Row-major `out_len × in_len` matrix that resamples the segment `[start, start + len)` of a
/// signal of `in_len` samples to `out_len` samples with a triangle filter widened by the
/// shrink factor (antialiased like area averaging when shrinking, bilinear when enlarging),
/// edges clamped. Rows sum to 1.
pub fn resample_matrix(out_len: usize, in_len: usize, start: f32, len: f32) -> Vec<f32> {
    let mut m = vec![0.0f32; out_len * in_len];
    if out_len == 0 || in_len == 0 {
        return m;
    }
    let step = len / out_len as f32;
    let support = step.max(1.0);
    let last = in_len as isize - 1;
    for i in 0..out_len {
        let centre = start + (i as f32 + 0.5) * step;
        let lo = (centre - support - 1.0).floor() as isize;
        let hi = (centre + support + 1.0).ceil() as isize;
        let row = &mut m[i * in_len..(i + 1) * in_len];
        let mut total = 0.0;
        for j in lo..=hi {
            let w = (1.0 - ((j as f32 + 0.5) - centre).abs() / support).max(0.0);
            if w > 0.0 {
                row[j.clamp(0, last) as usize] += w;
                total += w;
            }
        }
        if total > 0.0 {
            row.iter_mut().for_each(|v| *v /= total);
        }
    }
    m
}

/// Resample the region `(x0, y0, cw, ch)` (pixels, fractional) of `p` to `ow × oh`, optionally
/// mirrored left–right: a random-resized crop's geometry.
pub fn resample_region(
    p: &Planar,
    (x0, y0, cw, ch): (f32, f32, f32, f32),
    ow: usize,
    oh: usize,
    flip: bool,
) -> Planar {
    let (w, h) = (p.width as usize, p.height as usize);
    let rows = resample_matrix(oh, h, y0, ch);
    let cols = resample_matrix(ow, w, x0, cw);
    let mut out = Planar::zeros(ow as u32, oh as u32);
    let (n, m) = (p.plane_len(), ow * oh);
    let mut tmp = vec![0.0f32; oh * w];
    for c in 0..3 {
        let src = &p.data[c * n..(c + 1) * n];
        // Rows first: tmp[oy][x] = Σ_y rows[oy][y] · src[y][x].
        tmp.fill(0.0);
        for oy in 0..oh {
            for (y, &wgt) in rows[oy * h..(oy + 1) * h].iter().enumerate() {
                if wgt != 0.0 {
                    for (t, s) in tmp[oy * w..(oy + 1) * w]
                        .iter_mut()
                        .zip(&src[y * w..(y + 1) * w])
                    {
                        *t += wgt * s;
                    }
                }
            }
        }
        for oy in 0..oh {
            for ox in 0..ow {
                let weights = &cols[ox * w..(ox + 1) * w];
                let v: f32 = weights
                    .iter()
                    .zip(&tmp[oy * w..(oy + 1) * w])
                    .map(|(a, b)| a * b)
                    .sum();
                let tx = if flip { ow - 1 - ox } else { ox };
                out.data[c * m + oy * ow + tx] = v;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_rows_sum_to_one_and_identity_is_exact() {
        let m = resample_matrix(8, 8, 0.0, 8.0);
        for i in 0..8 {
            for j in 0..8 {
                assert!((m[i * 8 + j] - if i == j { 1.0 } else { 0.0 }).abs() < 1e-6);
            }
        }
        for (o, n, st, len) in [(5, 16, 2.0, 9.5), (16, 5, 0.0, 5.0), (3, 40, 0.0, 40.0)] {
            let m = resample_matrix(o, n, st, len);
            for i in 0..o {
                let s: f32 = m[i * n..(i + 1) * n].iter().sum();
                assert!((s - 1.0).abs() < 1e-5, "{o}←{n}: row {i} sums to {s}");
            }
        }
    }

    #[test]
    fn halving_averages_pairs() {
        // A 2× shrink of 0,0,1,1,... gives 0,1,... away from the edges (area-like).
        let m = resample_matrix(4, 8, 0.0, 8.0);
        let x = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0];
        let y: Vec<f32> = (0..4)
            .map(|i| (0..8).map(|j| m[i * 8 + j] * x[j]).sum())
            .collect();
        assert!(y[1] > 0.7 && y[2] < 0.3, "{y:?}");
    }

    #[test]
    fn region_resampling_crops_and_flips() {
        // Left half dark, right half bright; the right half's crop is bright everywhere, and a
        // full-image flip puts the bright side on the left.
        let mut p = Planar::zeros(8, 4);
        for c in 0..3 {
            for y in 0..4 {
                for x in 4..8 {
                    p.data[c * 32 + y * 8 + x] = 1.0;
                }
            }
        }
        let right = resample_region(&p, (4.0, 0.0, 4.0, 4.0), 2, 2, false);
        // (The antialiasing filter reaches a little past the crop's edge, as PIL's does.)
        assert!(right.data.iter().all(|v| *v > 0.85), "{:?}", right.data);
        let flipped = resample_region(&p, (0.0, 0.0, 8.0, 4.0), 8, 4, true);
        assert!(flipped.data[0] > 0.99 && flipped.data[7] < 0.01);
    }
}
