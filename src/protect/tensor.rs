//! The only place where image buffers become Burn tensors and back.

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::MethodError;
use crate::imaging::Planar;

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
    let compute = |message: String| MethodError::Compute { method, message };
    let data = t
        .try_into_data()
        .map_err(|e| compute(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| compute(format!("{e:?}")))?;
    Ok(Planar {
        width: w as u32,
        height: h as u32,
        data,
    })
}
