//! Every input the fuzzer kept (`fuzz/corpus/`, inputs that reached new loader outcomes) and
//! every fixed crasher (`tests/data/fuzz/`) decodes without panicking: to a photo with pixels,
//! or to a clear error — the same one each time. See `examples/fuzz_loaders.rs`.

use std::path::Path;

use unlearnable::config::LoadLimits;
use unlearnable::imaging::decode_photo;

#[test]
fn fuzzer_inputs_decode_or_fail_cleanly_and_deterministically() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let limits = LoadLimits {
        max_side: 4096,
        max_megapixels: 16,
        max_alloc_mib: 256,
    };
    let mut count = 0;
    let (mut decoded, mut refused) = (0, 0);
    for dir in ["fuzz/corpus", "tests/data/fuzz"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten().filter(|e| e.path().is_file()) {
            let bytes = std::fs::read(e.path()).unwrap();
            let outcome = |b: &[u8]| match decode_photo(b, &e.path(), &limits) {
                Ok(p) => {
                    assert!(p.width() > 0 && p.height() > 0, "{}", e.path().display());
                    assert_eq!(p.rgb.as_raw().len(), (p.width() * p.height() * 3) as usize);
                    format!("ok {}x{}", p.width(), p.height())
                }
                Err(err) => {
                    let message = err.to_string();
                    assert!(!err.kind.to_string().is_empty(), "{}", e.path().display());
                    message
                }
            };
            let first = outcome(&bytes);
            assert_eq!(outcome(&bytes), first, "{}", e.path().display());
            if first.starts_with("ok") {
                decoded += 1
            } else {
                refused += 1
            }
            count += 1;
        }
    }
    assert!(
        count >= 20,
        "the kept corpus is in the repository ({count} files)"
    );
    assert!(
        decoded > 0 && refused > 0,
        "{decoded} decoded, {refused} refused"
    );
}
