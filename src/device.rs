//! Choosing where compute runs: a hardware GPU through WGPU, CUDA (cargo feature `cuda`),
//! PyTorch's CPU kernels through Burn's LibTorch backend (cargo feature `libtorch`), or Burn's
//! `flex` CPU backend as the automatic fallback. The choice is made once, at the edge,
//! and a [`ComputeDevice`] is passed inward; method code never names a backend.

use std::sync::OnceLock;

use burn::tensor::Device;
use burn::tensor::wgpu::wgpu;
use serde::{Deserialize, Serialize};

use crate::error::DeviceError;

/// Let the heap keep the tensor-sized buffers that Burn's CPU backend allocates and frees on
/// every step, instead of mapping and unmapping each one (glibc maps blocks above a threshold
/// of 128 KiB that adapts only up to 32 MiB, and every unmap costs page faults plus a TLB
/// shoot-down across threads). Measured on 2 cores: δ-steps 22–33 % faster (BENCHMARKS.md).
/// Blocks of 64 MiB or more (whole photos) are still mapped and given back when freed. The
/// heap keeps up to [`TRIM_THRESHOLD`] of free memory at its top for the next step (a
/// ResNet-18 δ-step frees ~0.5 GiB at once; with glibc's usual 128 KiB, or the 256 MiB used
/// before, it was handed back and faulted in again on every step: 150 000 page faults per
/// step, 12–20 % of its time); jobs give it back when they end ([`ReleaseMemoryOnDrop`]), so
/// memory stays bounded by the working set. Call once, first thing in `main`; outside glibc
/// it does nothing.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Free memory the heap keeps at its top before it returns it to the system (bytes; mallopt
/// takes an `int`, so at most 2 GiB − 1).
pub const TRIM_THRESHOLD: i32 = 2047 << 20;

/// Hands the heap's free memory back to the system when dropped (glibc's `malloc_trim`): one
/// is held by every protection job and evaluation, because [`tune_allocator`] lets the heap
/// keep freed tensor memory while they run. Outside glibc it does nothing.
pub struct ReleaseMemoryOnDrop;

impl Drop for ReleaseMemoryOnDrop {
    fn drop(&mut self) {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free pages of the heap to the system.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    /// A hardware GPU through WGPU when there is one, otherwise the CPU backend.
    #[default]
    Auto,
    /// WGPU on whatever adapter the system offers (including a software one).
    Wgpu,
    /// NVIDIA CUDA; needs a build with `--features cuda`.
    Cuda,
    /// Burn's pure-Rust `flex` CPU backend.
    Cpu,
    /// PyTorch's CPU kernels through Burn's LibTorch backend; needs a build with
    /// `--features libtorch` (faster δ-steps than `flex`: BENCHMARKS.md).
    Libtorch,
}

/// The backend actually in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// WGPU (Vulkan, Metal, DX12 or GL).
    Wgpu,
    /// CUDA.
    Cuda,
    /// flex, on the CPU.
    Cpu,
}

/// A ready device plus a human explanation of why it was chosen.
#[derive(Clone, Debug)]
pub struct ComputeDevice {
    /// The Burn device tensors are created on.
    pub device: Device,
    /// Which backend it is.
    pub backend: Backend,
    /// Adapter or backend name, e.g. `NVIDIA GeForce RTX 4070 (Vulkan)` or `flex (CPU)`.
    pub name: String,
    /// One line: why this device was chosen.
    pub reason: String,
}

/// What we learned about the system's default WGPU adapter.
#[derive(Clone, Debug)]
struct WgpuProbe {
    device: Device,
    name: String,
    is_software: bool,
}

/// Burn registers a WGPU runtime once per process; later `init` calls fail, so the first
/// result (device or error message) is kept for the life of the process.
static WGPU: OnceLock<Result<WgpuProbe, String>> = OnceLock::new();

fn probe_wgpu() -> &'static Result<WgpuProbe, String> {
    WGPU.get_or_init(|| {
        // `init_with_setup` returns errors instead of panicking when there is no adapter; the
        // catch_unwind is a second line of defence against panics inside the driver stack.
        let result = std::panic::catch_unwind(|| Device::wgpu_options().init_with_setup());
        match result {
            Ok(Ok((device, setup))) => {
                let info = setup.adapter.get_info();
                let is_software = info.device_type == wgpu::DeviceType::Cpu;
                Ok(WgpuProbe {
                    device,
                    name: format!("{} ({:?})", info.name, info.backend),
                    is_software,
                })
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the graphics driver crashed while starting".to_string()),
        }
    })
}

/// Let Burn's WGPU backend use an existing wgpu device — the app window's — so tensors and
/// the screen share one GPU context instead of two. The device must have been created with
/// every feature and limit of its adapter (Burn's runtime reads the adapter's). Call it
/// before anything uses WGPU; afterwards, and for software adapters, it changes nothing and
/// says why.
pub fn share_wgpu(
    instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
) -> Result<(), String> {
    let info = adapter.get_info();
    let name = format!(
        "{} ({:?}, shared with the app window)",
        info.name, info.backend
    );
    let is_software = info.device_type == wgpu::DeviceType::Cpu;
    let mut outcome = Err("WGPU was already set up before the window opened".to_string());
    WGPU.get_or_init(|| {
        let setup = burn::tensor::wgpu::WgpuSetup {
            backend: info.backend,
            instance,
            adapter,
            device,
            queue,
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Device::wgpu_options().setup(setup).init()
        }));
        match result {
            Ok(Ok(device)) => {
                outcome = Ok(());
                Ok(WgpuProbe {
                    device,
                    name,
                    is_software,
                })
            }
            Ok(Err(e)) => {
                outcome = Err(e.to_string());
                Err(e.to_string())
            }
            Err(_) => {
                outcome = Err("the graphics driver crashed while starting".into());
                Err("the graphics driver crashed while starting".into())
            }
        }
    });
    outcome
}

impl ComputeDevice {
    /// The `flex` CPU backend. Always available.
    pub fn cpu(reason: impl Into<String>) -> Self {
        Self {
            device: Device::flex(),
            backend: Backend::Cpu,
            name: "flex (CPU)".to_string(),
            reason: reason.into(),
        }
    }

    /// Resolve a user's choice to a working device, or explain why it is not available.
    pub fn select(choice: DeviceChoice) -> Result<Self, DeviceError> {
        match choice {
            DeviceChoice::Cpu => Ok(Self::cpu("the CPU was asked for")),
            DeviceChoice::Wgpu => match probe_wgpu() {
                Ok(p) => Ok(Self {
                    device: p.device.clone(),
                    backend: Backend::Wgpu,
                    name: p.name.clone(),
                    reason: if p.is_software {
                        "WGPU was asked for (this adapter is a software renderer: expect it to be slow)"
                            .to_string()
                    } else {
                        "WGPU was asked for".to_string()
                    },
                }),
                Err(e) => Err(DeviceError::Unavailable {
                    device: "wgpu",
                    reason: e.clone(),
                }),
            },
            DeviceChoice::Cuda => select_cuda(),
            DeviceChoice::Libtorch => select_libtorch(),
            DeviceChoice::Auto => Ok(match probe_wgpu() {
                Ok(p) if !p.is_software => Self {
                    device: p.device.clone(),
                    backend: Backend::Wgpu,
                    name: p.name.clone(),
                    reason: "a hardware GPU was found".to_string(),
                },
                Ok(p) => Self::cpu(format!(
                    "the only GPU adapter is a software renderer ({}), which is slower than the CPU backend",
                    p.name
                )),
                Err(e) => Self::cpu(format!("no GPU adapter could be started ({e})")),
            }),
        }
    }

    /// `"<name>: <reason>"`, for logs and the manifest.
    pub fn summary(&self) -> String {
        format!("{} — {}", self.name, self.reason)
    }
}

#[cfg(not(feature = "libtorch"))]
fn select_libtorch() -> Result<ComputeDevice, DeviceError> {
    Err(DeviceError::NotBuilt {
        device: "libtorch",
        hint: "rebuild with `--features libtorch` over a torch 2.9.0 install (see README, LibTorch)",
    })
}

/// LibTorch on the CPU. It counts as a CPU backend for every preset (`Backend::Cpu`); only the
/// name says which kernels run.
#[cfg(feature = "libtorch")]
#[allow(deprecated)] // burn-tch is deprecated upstream; kept as a measured, opt-in CPU option
fn select_libtorch() -> Result<ComputeDevice, DeviceError> {
    let device = std::panic::catch_unwind(|| {
        let d = Device::libtorch();
        let _ = burn::tensor::Tensor::<1>::zeros([1], &d).into_data();
        d
    })
    .map_err(|_| DeviceError::Unavailable {
        device: "libtorch",
        reason: "libtorch failed to start (is its lib folder on LD_LIBRARY_PATH?)".to_string(),
    })?;
    Ok(ComputeDevice {
        device,
        backend: Backend::Cpu,
        name: "LibTorch (CPU)".to_string(),
        reason: "LibTorch was asked for".to_string(),
    })
}

#[cfg(not(feature = "cuda"))]
fn select_cuda() -> Result<ComputeDevice, DeviceError> {
    Err(DeviceError::NotBuilt {
        device: "cuda",
        hint: "rebuild with `--features cuda` on a machine with the CUDA driver (see README, CUDA)",
    })
}

#[cfg(feature = "cuda")]
fn select_cuda() -> Result<ComputeDevice, DeviceError> {
    // cudarc panics (on the runtime thread) when libcuda cannot be loaded; check for the driver
    // library ourselves first so a missing driver is an error, not a crash.
    let loaded = ["libcuda.so.1", "libcuda.so", "nvcuda.dll"]
        .iter()
        .any(|name| driver_library_present(name));
    if !loaded {
        return Err(DeviceError::Unavailable {
            device: "cuda",
            reason: "the NVIDIA CUDA driver library (libcuda) was not found".to_string(),
        });
    }
    let device = std::panic::catch_unwind(|| {
        let d = Device::cuda(0);
        let _ = burn::tensor::Tensor::<1>::zeros([1], &d).into_data();
        d
    })
    .map_err(|_| DeviceError::Unavailable {
        device: "cuda",
        reason: "the CUDA runtime failed to start".to_string(),
    })?;
    Ok(ComputeDevice {
        device,
        backend: Backend::Cuda,
        name: "CUDA device 0".to_string(),
        reason: "CUDA was asked for".to_string(),
    })
}

#[cfg(feature = "cuda")]
fn driver_library_present(name: &str) -> bool {
    // std has no dlopen; look for the driver library where distributions install it.
    let dirs = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/cuda/lib64",
    ];
    dirs.iter()
        .any(|d| std::path::Path::new(d).join(name).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available_and_computes() {
        let d = ComputeDevice::select(DeviceChoice::Cpu).unwrap();
        assert_eq!(d.backend, Backend::Cpu);
        let t = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0, 3.0], &d.device);
        let s: f32 = t.sum().into_scalar();
        assert_eq!(s, 6.0);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let e = ComputeDevice::select(DeviceChoice::Cuda).unwrap_err();
        assert!(e.to_string().contains("--features cuda"), "{e}");
    }

    #[cfg(not(feature = "libtorch"))]
    #[test]
    fn libtorch_without_the_feature_is_a_clear_error() {
        let e = ComputeDevice::select(DeviceChoice::Libtorch).unwrap_err();
        assert!(e.to_string().contains("--features libtorch"), "{e}");
    }

    #[test]
    fn auto_always_yields_a_device_with_a_reason() {
        let d = ComputeDevice::select(DeviceChoice::Auto).unwrap();
        assert!(!d.reason.is_empty());
        // On a machine without a hardware GPU (CI), auto must fall back to the CPU backend.
        if let Ok(p) = probe_wgpu()
            && p.is_software
        {
            assert_eq!(d.backend, Backend::Cpu, "{}", d.summary());
        }
    }
}
