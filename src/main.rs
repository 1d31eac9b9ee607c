//! `unlearnable`: the binary is a thin face over the library.

fn main() -> std::process::ExitCode {
    quiet_runtime_dir();
    unlearnable::device::tune_allocator();
    unlearnable::cli::main()
}

/// Without a desktop session (SSH, CI, containers) `XDG_RUNTIME_DIR` is unset, and the graphics
/// drivers probed while choosing a device print `error: XDG_RUNTIME_DIR is invalid or not set`
/// several times before every run. Give them a private folder of our own instead.
#[cfg(target_os = "linux")]
fn quiet_runtime_dir() {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let usable = |d: &std::path::Path| d.is_absolute() && d.is_dir();
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| usable(std::path::Path::new(&d))) {
        return;
    }
    let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("unlearnable-runtime-{me}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let private = std::fs::symlink_metadata(&dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == me && m.permissions().mode() & 0o077 == 0);
    if private {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

#[cfg(not(target_os = "linux"))]
fn quiet_runtime_dir() {}
