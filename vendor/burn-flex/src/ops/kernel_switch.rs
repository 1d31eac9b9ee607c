//! Thread-local on/off switches for the alternative convolution kernels of unlearnable's patch
//! (`PATCHES.md`; `burn_flex::with_winograd` and `burn_flex::with_direct_conv`). Every kernel is
//! on by default; a convolution reads its switch on the calling thread, before its work goes
//! to rayon.
// Only the `simd` build has kernels that read the switches.
#![cfg_attr(not(feature = "simd"), allow(dead_code))]

/// A kernel with a switch.
#[derive(Clone, Copy)]
pub(crate) enum Kernel {
    /// Winograd F(2×2, 3×3) (`conv_winograd`).
    Winograd,
    /// Direct convolution with few output channels (`conv_direct`).
    Direct,
}

#[cfg(feature = "std")]
std::thread_local! {
    /// Whether each [`Kernel`] may be taken on this thread, indexed by `Kernel as usize`.
    static ON: core::cell::Cell<[bool; 2]> = const { core::cell::Cell::new([true; 2]) };
}

/// Whether `kernel` may be taken on the current thread.
pub(crate) fn is_on(kernel: Kernel) -> bool {
    #[cfg(feature = "std")]
    return ON.with(|on| on.get()[kernel as usize]);
    #[cfg(not(feature = "std"))]
    {
        let _ = kernel;
        true
    }
}

/// Runs `f` with `kernel` on or off on the current thread, then restores its previous setting
/// (also when `f` panics).
pub(crate) fn with<R>(kernel: Kernel, on: bool, f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "std")]
    {
        fn set(kernel: Kernel, on: bool) -> bool {
            ON.with(|cell| {
                let mut all = cell.get();
                let before = core::mem::replace(&mut all[kernel as usize], on);
                cell.set(all);
                before
            })
        }
        struct Restore(Kernel, bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                set(self.0, self.1);
            }
        }
        let _restore = Restore(kernel, set(kernel, on));
        f()
    }
    #[cfg(not(feature = "std"))]
    {
        let _ = (kernel, on);
        f()
    }
}
