//! The only place where image buffers become Burn tensors and back: every read from the
//! compute device to the host in `protect` goes through [`read_values`], which counts it.

use std::sync::atomic::{AtomicU64, Ordering};

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::MethodError;
use crate::imaging::Planar;

/// Logits divided by `T = max(1, max|z| / 8)` (T detached), computed on the device without a
/// host read. On small albums a surrogate memorises the photos until softmax saturates and the
/// input gradient underflows to exactly zero, which would leave the noise at zero; tempering
/// keeps the gradient alive without changing which way it points.
pub fn tempered(logits: Tensor<2>) -> Tensor<2> {
    let t = logits
        .clone()
        .detach()
        .abs()
        .max()
        .div_scalar(8.0)
        .clamp_min(1.0)
        .reshape([1, 1]);
    logits / t
}

/// Number of rows of `logits` whose arg-max is the target, as a one-element tensor on the
/// device (summed over batches and read once).
pub fn correct_on_device(
    logits: Tensor<2>,
    targets: burn::tensor::Tensor<1, burn::tensor::Int>,
) -> Tensor<1> {
    logits
        .argmax(1)
        .flatten::<1>(0, 1)
        .equal(targets)
        .float()
        .sum()
}

/// Reads from the compute device to the host made by [`read_values`], process-wide.
static HOST_READS: AtomicU64 = AtomicU64::new(0);

/// How many times the protection methods have read a tensor back from the compute device in
/// this process. On a GPU every read makes the host wait for the device to finish, so the
/// optimisation loops keep losses and counts on the device and read them once per round, never
/// per step or batch (`tests/host_reads.rs` counts them).
pub fn host_reads() -> u64 {
    HOST_READS.load(Ordering::Relaxed)
}

/// `t`'s values on the host as `f32`, row-major: one counted read.
pub fn read_values<const D: usize>(
    t: Tensor<D>,
    method: &'static str,
) -> Result<Vec<f32>, MethodError> {
    HOST_READS.fetch_add(1, Ordering::Relaxed);
    let compute = |message: String| MethodError::Compute { method, message };
    t.try_into_data()
        .map_err(|e| compute(format!("{e:?}")))?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| compute(format!("{e:?}")))
}

/// A one-element tensor read back as `f32` (once per round, not per step).
pub fn read_scalar(t: Tensor<1>, method: &'static str) -> Result<f32, MethodError> {
    Ok(read_values(t, method)?.first().copied().unwrap_or(0.0))
}

/// One planar perturbation per photo from `delta: [rows, 3, s, s]` (read back from the device
/// once), photo `i` taking row `row_of(i)` (its own row sample-wise, its group's class-wise).
pub fn rows_to_planars(
    delta: Tensor<4>,
    n: usize,
    row_of: impl Fn(usize) -> usize,
    method: &'static str,
) -> Result<Vec<Planar>, MethodError> {
    let [_, c, h, w] = delta.dims();
    let values = read_values(delta, method)?;
    let plane = c * h * w;
    Ok((0..n)
        .map(|i| {
            let row = row_of(i);
            Planar {
                width: w as u32,
                height: h as u32,
                data: values[row * plane..(row + 1) * plane].to_vec(),
            }
        })
        .collect())
}

/// `[1, 3, H, W]` tensor from a planar image.
pub fn planar_to_tensor(p: &Planar, device: &Device) -> Tensor<4> {
    let shape = [1, 3, p.height as usize, p.width as usize];
    Tensor::from_data(TensorData::new(p.data.clone(), shape), device)
}

/// Planar image from a `[1, 3, H, W]` tensor (reads the data back from the device).
pub fn tensor_to_planar(t: Tensor<4>, method: &'static str) -> Result<Planar, MethodError> {
    let [n, c, h, w] = t.dims();
    if n != 1 || c != 3 {
        return Err(MethodError::Compute {
            method,
            message: format!("expected a [1, 3, H, W] tensor, got [{n}, {c}, {h}, {w}]"),
        });
    }
    let data = read_values(t, method)?;
    Ok(Planar {
        width: w as u32,
        height: h as u32,
        data,
    })
}
