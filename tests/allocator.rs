//! The allocator settings of `device::tune_allocator` (process-wide, hence a test binary of
//! its own): freed tensor-sized buffers stay in the heap for the next step instead of going
//! back to the system and being faulted in again, and a job's end hands them back.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use unlearnable::device::{ReleaseMemoryOnDrop, tune_allocator};

/// Resident memory of this process in MiB (`/proc/self/statm`, second field, in pages).
fn resident_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// Allocate and touch `n` buffers of 32 MiB (the size of a ResNet-18 activation at batch 128:
/// under the 64 MiB mapping threshold), then free them all.
fn step(n: usize) {
    let bufs: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8 | 1; 32 << 20]).collect();
    assert!(bufs.iter().all(|b| b[b.len() / 2] != 0));
    drop(bufs);
}

#[test]
fn freed_step_memory_stays_for_the_next_step_and_a_finished_job_returns_it() {
    tune_allocator();
    let before = resident_mib();
    // A step's worth of buffers (16 × 32 MiB = 512 MiB, as much as one ResNet-18 δ-step frees):
    // with glibc's default (or the 256 MiB threshold used before) the heap would give it back
    // at once; now it stays, so the next step touches no fresh pages.
    step(16);
    let kept = resident_mib() - before;
    assert!(
        kept > 400.0,
        "the freed step memory stayed resident: {kept:.0} MiB"
    );
    step(16);
    let again = resident_mib() - before;
    assert!(
        again < kept + 64.0,
        "a second step reused it instead of growing: {again:.0} vs {kept:.0} MiB"
    );
    drop(ReleaseMemoryOnDrop);
    let after = resident_mib() - before;
    assert!(
        after < 64.0,
        "the end of a job handed it back: {after:.0} MiB still resident"
    );
}
