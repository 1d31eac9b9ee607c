//! Splitting one album across machines: two parts run at the same time (two processes, as
//! GNU parallel or a Slurm array would start them) into one folder, then `merge` combines their
//! manifests. For a per-photo method the result is exactly that of one unsplit run.

mod common;

use std::path::Path;
use std::process::Stdio;

use image::{DynamicImage, ImageFormat};

use common::*;

/// Two groups with a name collision inside the album (`x.jpg` + `x.png`) that the parts must
/// resolve the same way.
fn album(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("album");
    for (i, name) in [
        "a/x.jpg", "a/x.png", "a/y.png", "b/z.png", "b/w.jpg", "b/v.png", "b/u.png",
    ]
    .iter()
    .enumerate()
    {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let fmt = ImageFormat::from_path(&p).unwrap();
        let img = DynamicImage::ImageRgb8(pattern(48 + i as u32, 40, i as u32));
        std::fs::write(&p, encode(&img, fmt)).unwrap();
    }
    root
}

fn manifest(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn two_parts_in_parallel_then_merge_equal_one_unsplit_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = album(dir.path());
    let common = ["--method", "random", "--device", "cpu", "--seed", "5"];

    let whole = dir.path().join("whole");
    let o = bin()
        .args(["protect", s(&root), "--out", s(&whole)])
        .args(common)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The parts get their photos from a file list, as a job array would.
    let list = dir.path().join("files.txt");
    std::fs::write(&list, format!("{}\n", root.display())).unwrap();
    let split = dir.path().join("split");
    let children: Vec<_> = ["1/2", "2/2"]
        .iter()
        .map(|part| {
            bin()
                .args(["protect", "--files-from", s(&list), "--out", s(&split)])
                .args(["--shard", part])
                .args(common)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let p1 = manifest(&split.join("manifest.shard-1-of-2.json"));
    let p2 = manifest(&split.join("manifest.shard-2-of-2.json"));
    assert_eq!(p1["summary"]["done"], 4);
    assert_eq!(p2["summary"]["done"], 3);
    assert_eq!(p1["shard"]["index"], 1);

    let o = bin().args(["merge", s(&split)]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let merged = manifest(&split.join("manifest.json"));
    assert_eq!(merged["summary"]["done"], 7);
    assert_eq!(merged["finished"], true);
    assert_eq!(merged["merged_from"].as_array().unwrap().len(), 2);

    // Same files, same names (the collision resolved alike), same pixels.
    let rel = |tree: Vec<(std::path::PathBuf, String)>, base: &Path| -> Vec<(String, String)> {
        tree.into_iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e == "png"))
            .map(|(p, h)| (p.strip_prefix(base).unwrap().display().to_string(), h))
            .collect()
    };
    let a = rel(hash_tree(&whole), &whole);
    let b = rel(hash_tree(&split), &split);
    assert_eq!(a.len(), 7);
    assert_eq!(a, b);
}

#[test]
fn merge_refuses_missing_or_unfinished_parts() {
    let dir = tempfile::tempdir().unwrap();
    let root = album(dir.path());
    let out = dir.path().join("out");
    let o = bin()
        .args([
            "protect",
            s(&root),
            "--out",
            s(&out),
            "--method",
            "random",
            "--shard",
            "2/3",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = bin().args(["merge", s(&out)]).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1/3, 3/3 are missing"), "{err}");
    assert!(!out.join("manifest.json").exists());
    let o = bin()
        .args([
            "protect",
            s(&root),
            "--out",
            s(&out),
            "--method",
            "random",
            "--shard",
            "4/3",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "a bad shard is a usage error");
}
