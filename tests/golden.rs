//! Golden outputs: one seeded run of each method on the same small real-photo crops
//! (`tests/data/golden/`, PNG so that no JPEG decoder is involved) must give exactly the pixels
//! recorded here. The PRNG's own known answers are in `src/rng.rs`.
//!
//! A change of these hashes means every protected photo of that method changes: do it only on
//! purpose, then record the new values (`UNLEARNABLE_BLESS=1 cargo test --test golden --
//! --nocapture` prints them). Methods computed by Burn (all but `random`) use CPU kernels that
//! pick SIMD instructions at run time, so their hashes are pinned for x86-64 with AVX-512 (this
//! project's development and CI machines); elsewhere they are skipped with a message.

mod common;

use std::path::Path;

use common::run_protect;
use sha2::{Digest, Sha256};
use unlearnable::config::{MethodConfig, Quality};
use unlearnable::{MethodId, ProtectConfig, Strength};

/// SHA-256 over every output's decoded RGB pixels, in album order.
fn run(method: MethodId) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ProtectConfig::new(method, Strength::Medium);
    config.seed = 2026;
    if let Some(em) = config.method.training_mut() {
        em.quality = Quality::Fast;
        em.max_rounds = Some(2);
        em.working_size = Some(32);
    }
    if let MethodConfig::Shield(s) = &mut config.method {
        s.surrogate_size = Some(16);
    }
    let m = run_protect(
        vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")],
        dir.path().join("out"),
        config,
    )
    .manifest;
    assert_eq!(m.images.len(), 4, "{:?}", m.errors);
    let mut h = Sha256::new();
    for r in &m.images {
        h.update(image::open(&r.output).unwrap().to_rgb8().as_raw());
    }
    format!("{:x}", h.finalize())
}

fn check(method: MethodId, expected: &str) {
    let got = run(method);
    if std::env::var_os("UNLEARNABLE_BLESS").is_some() {
        println!("{method}: {got}");
        return;
    }
    assert_eq!(got, expected, "{method}: the protected pixels changed");
}

fn burn_kernels_pinned() -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return true;
    }
    eprintln!("SKIPPED: golden hashes of Burn-computed methods are pinned for x86-64 + AVX-512");
    false
}

#[test]
fn random_noise_is_pinned() {
    check(
        MethodId::Random,
        "b6b3c2619ea7f4f70d2f99fc0b55c325790d5ab9e459dac9b65ee46962694856",
    );
}

#[test]
fn burn_computed_methods_are_pinned() {
    if !burn_kernels_pinned() {
        return;
    }
    for (method, expected) in [
        (
            MethodId::Conv,
            "73489f98128014db05da7d96403632000c75728956c817e010caa1908a95b672",
        ),
        (
            MethodId::Em,
            "c15d8f422788044f9b549a6b30b066168f2da8819e2bbe4f387ac9fbecee6ad0",
        ),
        (
            MethodId::EmClass,
            "d6fe0909428ea9071829cf023abae98f323d21192842f5e0c912f3f8dd13746b",
        ),
        (
            MethodId::Shield,
            "7c7eb4d26d441e59a3010162839e998432a5b8f4786973732841dbe9e9935da2",
        ),
    ] {
        check(method, expected);
    }
}
