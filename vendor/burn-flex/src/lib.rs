#![cfg_attr(not(feature = "std"), no_std)]

//! # burn-flex
//!
//! A fast, portable CPU backend for [Burn](https://github.com/tracel-ai/burn).
//!
//! ## Features
//!
//! - Pure Rust (no C dependencies)
//! - f16/bf16 support
//! - SIMD acceleration via macerator (NEON, AVX2/AVX-512/SSE, SIMD128, scalar fallback)
//! - Zero-copy tensor views
//! - Thread-safe by design
//!
//! ## Usage
//!
//! ```ignore
//! use burn_flex::Flex;
//! use burn::tensor::Tensor;
//!
//! let tensor: Tensor<Flex, 2> = Tensor::from_data([[1.0, 2.0], [3.0, 4.0]], &Default::default());
//! ```

extern crate alloc;

#[cfg(all(not(target_has_atomic = "ptr"), not(feature = "critical-section")))]
compile_error!(
    "This target lacks atomic CAS support. Enable the `critical-section` feature: \
     burn-flex = { ..., features = [\"critical-section\"] }"
);

mod backend;
mod layout;
mod qtensor;
mod strided_index;
mod tensor;
mod zip;

#[doc(hidden)]
pub mod ops;

#[doc(hidden)]
pub mod simd;

pub use backend::{Flex, FlexDevice};
pub use layout::Layout;
pub use qtensor::FlexQTensor;
pub use tensor::FlexTensor;

/// Runs `f` with the Winograd F(2×2, 3×3) convolutions of unlearnable's patch (`PATCHES.md`:
/// 3×3 stride-1 layers with 48 or more channels on both sides) on (`true`, the default) or off
/// (`false`: im2col + GEMM, as upstream) on the current thread, then restores the previous
/// setting. Both paths compute the same convolution to within a few units in the last place,
/// and each gives the same bits for any number of threads; for comparing them in one process
/// (tests, `examples/conv_times.rs`).
pub fn with_winograd<R>(on: bool, f: impl FnOnce() -> R) -> R {
    ops::kernel_switch::with(ops::kernel_switch::Kernel::Winograd, on, f)
}

/// Runs `f` with the direct convolution kernel of unlearnable's patch (`PATCHES.md`: stride-1
/// convolutions with at most 8 output channels, such as the input gradient of an RGB input
/// layer) on (`true`, the default) or
/// off (`false`: im2col + GEMM) on the current thread, then restores the previous setting; as
/// [`with_winograd`], for comparing both paths in one process.
pub fn with_direct_conv<R>(on: bool, f: impl FnOnce() -> R) -> R {
    ops::kernel_switch::with(ops::kernel_switch::Kernel::Direct, on, f)
}
