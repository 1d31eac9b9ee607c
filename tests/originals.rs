//! Originals are never written, whatever the paths and flags: through `..`, through symlinks,
//! with an output named like an input, with and without `--overwrite` (the real binary).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use image::{DynamicImage, ImageFormat};

use common::*;

/// A folder `in` with two PNG photos (their output names equal their own names).
fn album(dir: &Path) -> std::path::PathBuf {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for (name, seed) in [("a.png", 1), ("b.png", 2)] {
        let bytes = encode(
            &DynamicImage::ImageRgb8(pattern(40, 30, seed)),
            ImageFormat::Png,
        );
        std::fs::write(input.join(name), bytes).unwrap();
    }
    input
}

fn protect(inputs: &[&Path], out: &Path, overwrite: bool) -> Output {
    let mut args = vec!["protect"];
    args.extend(inputs.iter().map(|p| s(p)));
    args.extend(["--out", s(out), "--method", "random", "--device", "cpu"]);
    if overwrite {
        args.push("--overwrite");
    }
    unlearnable(&args)
}

fn outputs(out: &Path) -> Vec<String> {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    m["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["output"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_file_named_through_dot_dot_into_its_own_folder_is_never_replaced() {
    for overwrite in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let input = album(dir.path());
        let before = hash_tree(&input);
        let via_dots = input.join("../in/a.png");
        let o = protect(&[&via_dots], &input, overwrite);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for (path, hash) in &before {
            assert_eq!(&sha256_file(path), hash, "{} changed", path.display());
        }
        // The protected copy went next to it under a new name.
        let written = outputs(&input);
        assert_eq!(written.len(), 1);
        assert!(written[0].ends_with("a_2.png"), "{written:?}");
        assert!(input.join("a_2.png").exists());
    }
}

#[cfg(unix)]
#[test]
fn an_output_folder_that_is_a_symlink_to_an_input_folder_is_refused() {
    for overwrite in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let input = album(dir.path());
        let before = hash_tree(&input);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        for out in [link.clone(), link.join("sub"), dir.path().join("x/../in")] {
            let o = protect(&[&input], &out, overwrite);
            assert!(!o.status.success(), "{} accepted", out.display());
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("inside the input folder"), "{err}");
        }
        assert_eq!(hash_tree(&input), before);
    }
}

#[cfg(unix)]
#[test]
fn symlinks_inside_the_output_folder_never_lead_a_write_to_an_original() {
    for overwrite in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let input = album(dir.path());
        let before = hash_tree(&input);
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        // `out/a.png` points at the original `in/a.png`; `out/nested` at the input folder.
        std::os::unix::fs::symlink(input.join("a.png"), out.join("a.png")).unwrap();
        let o = protect(&[&input.join("a.png")], &out, overwrite);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(hash_tree(&input), before);
        assert!(outputs(&out)[0].ends_with("a_2.png"));

        // A sub-folder of the output that resolves into the input folder: that photo fails
        // with a clear error, the rest of the batch goes on, nothing lands among the originals.
        let nested = dir.path().join("nested");
        for sub in ["one", "two"] {
            std::fs::create_dir_all(nested.join(sub)).unwrap();
            let bytes = encode(
                &DynamicImage::ImageRgb8(pattern(20, 20, 9)),
                ImageFormat::Png,
            );
            std::fs::write(nested.join(sub).join("c.png"), bytes).unwrap();
        }
        let nested_before = hash_tree(&nested);
        let out2 = dir.path().join("out2");
        std::fs::create_dir_all(&out2).unwrap();
        std::os::unix::fs::symlink(&nested, out2.join("one")).unwrap();
        let o = protect(&[&nested], &out2, overwrite);
        assert_eq!(o.status.code(), Some(3), "some photos failed");
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out2.join("manifest.json")).unwrap()).unwrap();
        let errors = m["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{m}");
        assert!(
            errors[0]["error"]
                .as_str()
                .unwrap()
                .contains("resolves into the input folder"),
            "{errors:?}"
        );
        assert_eq!(
            hash_tree(&nested),
            nested_before,
            "no new file among the originals"
        );
        assert!(out2.join("two/c.png").exists());
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_name_that_is_not_utf8_is_protected_and_recorded_losslessly() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.png");
    let bytes = encode(
        &DynamicImage::ImageRgb8(pattern(24, 24, 3)),
        ImageFormat::Png,
    );
    std::fs::write(input.join(name), bytes).unwrap();
    let out = dir.path().join("out");
    let o = unlearnable(&[
        "protect",
        s(&input),
        "--out",
        s(&out),
        "--method",
        "random",
        "--device",
        "cpu",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join(name).exists(), "output keeps the raw name");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let source = &m["images"][0]["source"];
    assert!(
        source["bytes_hex"]
            .as_str()
            .unwrap()
            .ends_with("636166e92e706e67"),
        "{source}"
    );
    assert!(
        source["lossy"]
            .as_str()
            .unwrap()
            .ends_with("caf\u{FFFD}.png")
    );
    // The JSON event stream reports the photo too (it used to be dropped).
    let stdout = String::from_utf8_lossy(&o.stdout);
    let done: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("\"image-done\""))
        .collect();
    assert_eq!(done.len(), 1, "{stdout}");
    assert!(done[0].contains("636166e92e706e67"));
}

#[test]
fn a_plain_run_without_a_desktop_session_prints_no_driver_noise() {
    let dir = tempfile::tempdir().unwrap();
    let input = album(dir.path());
    let o = Command::new(env!("CARGO_BIN_EXE_unlearnable"))
        .args([
            "protect",
            s(&input),
            "--out",
            s(&dir.path().join("out")),
            "--method",
            "random",
        ])
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("XDG_RUNTIME_DIR"), "{err}");
    assert!(err.contains("2 protected"), "{err}");
}
