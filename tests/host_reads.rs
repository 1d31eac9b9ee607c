//! Reads from the compute device to the host, counted (issue #14). On a GPU every read makes the
//! host wait until the device has finished all queued work, so a loop that reads its loss after
//! every step runs at the speed of round trips. The training-based methods keep losses, counts
//! and features on the device and read them a fixed number of times per round: the count may
//! grow with the rounds, never with the δ-steps, the surrogate's steps, the batches or the photos.
//!
//! One test in its own binary: the counter (`protect::tensor::host_reads`) is process-wide.

mod common;

use std::path::Path;

use unlearnable::config::Quality;
use unlearnable::protect::tensor::host_reads;
use unlearnable::{MethodId, ProtectConfig, Strength};

use common::{pattern, run_protect};

/// An album of `per_group` small photos in each of two sub-folders.
fn album(dir: &Path, per_group: u32) {
    for (g, name) in ["a", "b"].into_iter().enumerate() {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).expect("a folder");
        for i in 0..per_group {
            pattern(40, 36, g as u32 * 100 + i)
                .save(sub.join(format!("{i}.png")))
                .expect("a photo");
        }
    }
}

/// Host reads of one protection job of `method` and the rounds it ran: at most `rounds` rounds
/// (fewer when the surrogate reaches 100 % first), `steps` δ-steps and `theta` surrogate steps
/// per round, batches of 4.
fn reads(
    method: MethodId,
    input: &Path,
    out: &Path,
    rounds: u32,
    steps: u32,
    theta: u32,
) -> (u64, u32) {
    let mut cfg = ProtectConfig::new(method, Strength::Medium);
    let train = cfg.method.training_mut().expect("a training-based method");
    train.quality = Quality::Fast;
    train.max_rounds = Some(rounds);
    train.steps = Some(steps);
    train.theta_steps = theta;
    train.batch_size = 4;
    train.stop_accuracy = 1.0;
    let before = host_reads();
    let summary = run_protect(vec![input.to_path_buf()], out.to_path_buf(), cfg);
    let after = host_reads();
    let m = &summary.manifest;
    assert_eq!(m.summary.failed, 0, "{method}: {:?}", m.errors);
    let training = m.training.as_ref().expect("a training report");
    (after - before, training.rounds)
}

#[test]
fn training_methods_read_the_device_a_fixed_number_of_times_per_round() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (small, large) = (dir.path().join("small"), dir.path().join("large"));
    album(&small, 2);
    album(&large, 6);
    let methods = [
        MethodId::Em,
        MethodId::EmClass,
        MethodId::Rem,
        MethodId::Tue,
        MethodId::Clusters,
        MethodId::Shield,
    ];
    for (k, method) in methods.into_iter().enumerate() {
        let out = |tag: &str| dir.path().join(format!("out-{k}-{tag}"));
        let one = reads(method, &small, &out("one"), 1, 1, 1);
        let plain = reads(method, &small, &out("plain"), 3, 1, 1);
        // Four times the δ-steps, five times the surrogate steps, three batches instead of one.
        let busy = reads(method, &large, &out("busy"), 3, 4, 5);
        println!("{method}: (reads, rounds) {one:?}, {plain:?}, busy {busy:?}");
        assert_eq!(one.1, 1, "{method}: one round asked for");
        assert!(one.0 >= 1, "{method}: the result was never read");
        // Reads = fixed + per round × rounds: the per-round count from the longer run, then the
        // other must follow the same line whatever its steps, batches and photos.
        let longer = if plain.1 >= busy.1 { plain } else { busy };
        assert!(longer.1 > 1, "{method}: every run stopped after one round");
        let extra = longer.0 - one.0;
        let per_round = extra / u64::from(longer.1 - 1);
        assert_eq!(
            per_round * u64::from(longer.1 - 1),
            extra,
            "{method}: reads are not a whole number per round"
        );
        assert!(
            (1..=3).contains(&per_round),
            "{method}: {per_round} reads per round"
        );
        for (name, (got, rounds)) in [("plain", plain), ("busy", busy)] {
            assert_eq!(
                got,
                one.0 + per_round * u64::from(rounds - 1),
                "{method}, {name} run: {rounds} rounds took {got} reads, not {} + {per_round} per \
                 extra round: reads grew with the steps, batches or photos",
                one.0
            );
        }
    }
}
