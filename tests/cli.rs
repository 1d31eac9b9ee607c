//! The real binary, end to end, into temporary folders: files, names, manifest, exit codes,
//! and originals unchanged.

mod common;

use std::path::Path;
use std::process::Command;

use image::{DynamicImage, ImageFormat};

use common::*;

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn protect_a_nested_album_mirrors_folders_and_writes_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let album = dir.path().join("album");
    for (sub, name, seed) in [
        ("cats", "a.jpg", 1),
        ("cats", "a.png", 2),
        ("dogs", "b.webp", 3),
    ] {
        std::fs::create_dir_all(album.join(sub)).unwrap();
        let fmt = ImageFormat::from_path(name).unwrap();
        let bytes = encode(&DynamicImage::ImageRgb8(pattern(48, 32, seed)), fmt);
        std::fs::write(album.join(sub).join(name), bytes).unwrap();
    }
    std::fs::copy(
        samples_dir().join("umang_by_Abhishek_Mudgal.jpg"),
        album.join("umang.jpg"),
    )
    .unwrap();
    let before = hash_tree(&album);
    let out = dir.path().join("out");
    let o = unlearnable(&[
        "protect",
        s(&album),
        "--out",
        s(&out),
        "--method",
        "conv",
        "--strength",
        "low",
        "--device",
        "cpu",
        "--seed",
        "5",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let mut written: Vec<String> = hash_tree(&out)
        .into_iter()
        .map(|(p, _)| p.strip_prefix(&out).unwrap().display().to_string())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "cats/a.png",
            "cats/a_2.png",
            "dogs/b.png",
            "manifest.json",
            "umang.png"
        ]
    );
    assert_eq!(hash_tree(&album), before, "originals unchanged");

    let m = manifest(&out);
    assert_eq!(m["method"], "conv");
    assert_eq!(m["seed"], 5);
    assert_eq!(m["epsilon_255"], 4.0);
    assert_eq!(m["config"]["method"]["id"], "conv");
    assert!(m["device"].as_str().unwrap().contains("CPU"));
    assert_eq!(
        m["labels"]["classes"],
        serde_json::json!(["album", "cats", "dogs"])
    );
    let images = m["images"].as_array().unwrap();
    assert_eq!(images.len(), 4);
    for img in images {
        assert!(img["epsilon_used_255"].as_u64().unwrap() <= 4);
        assert!(img["psnr_db"].as_f64().unwrap() > 30.0);
        let ssim = img["ssim"].as_f64().unwrap();
        assert!(ssim > 0.5 && ssim < 1.0, "{ssim}");
        // The figures people see: per-channel SSIM, colour cast, flat-area noise.
        assert_eq!(img["ssim_rgb"].as_array().unwrap().len(), 3);
        assert!(img["cast_de00"].as_f64().unwrap() >= 0.0);
        assert!(img["cast_de00_p99"].as_f64().unwrap() >= img["cast_de00"].as_f64().unwrap());
        let flat = img["flat_noise_255"].as_f64().unwrap();
        assert!((0.0..=4.0).contains(&flat), "{flat}");
    }
    assert!(m["summary"]["mean_cast_de00"].as_f64().is_some());
    assert!(m["summary"]["worst_flat_noise_255"].as_f64().is_some());
    assert_eq!(m["errors"], serde_json::json!([]));
}

#[test]
fn a_failed_file_gives_exit_code_3_and_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let album = dir.path().join("album");
    std::fs::create_dir_all(&album).unwrap();
    std::fs::write(
        album.join("ok.png"),
        encode(
            &DynamicImage::ImageRgb8(pattern(16, 16, 0)),
            ImageFormat::Png,
        ),
    )
    .unwrap();
    std::fs::write(album.join("broken.jpg"), b"not a jpeg").unwrap();
    let out = dir.path().join("out");
    let o = unlearnable(&[
        "protect",
        s(&album),
        "--out",
        s(&out),
        "--method",
        "conv",
        "--device",
        "cpu",
    ]);
    assert_eq!(o.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("broken.jpg"), "{stderr}");
    let m = manifest(&out);
    assert_eq!(m["summary"]["done"], 1);
    assert_eq!(
        m["errors"][0]["source"].as_str().unwrap(),
        s(&album.join("broken.jpg"))
    );
    assert!(out.join("ok.png").is_file());
}

/// The default is error-minimizing noise, the method that measurably protects: one photo
/// alone is refused with advice instead of getting a weaker method silently.
#[test]
fn the_default_method_is_em_and_a_single_photo_gets_advice_not_a_weaker_method() {
    let dir = tempfile::tempdir().unwrap();
    let sample = samples_dir().join("umang_by_Abhishek_Mudgal.jpg");
    let out = dir.path().join("out");
    let o = unlearnable(&["protect", s(&sample), "--out", s(&out), "--device", "cpu"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("em cannot protect"), "{stderr}");
    assert!(
        stderr.contains("at least 2") && stderr.contains("add photos"),
        "{stderr}"
    );
    assert!(!out.join("umang_by_Abhishek_Mudgal.png").exists());
}

#[test]
fn usage_errors_exit_with_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let missing = dir.path().join("missing");
    for args in [
        vec!["protect", s(&missing), "--out", s(&out)],
        vec![
            "protect",
            s(dir.path()),
            "--out",
            s(&out),
            "--method",
            "nope",
        ],
        vec!["protect", s(dir.path()), "--out", s(&out), "--epsilon", "0"],
        vec![
            "protect",
            s(dir.path()),
            "--out",
            s(&out),
            "--device",
            "cuda",
        ],
        vec!["protect", s(dir.path())],
    ] {
        let o = unlearnable(&args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!o.stderr.is_empty());
    }
}

/// In the default build `--device libtorch` is a usage error that says how to get it, and
/// nothing is written.
#[cfg(not(feature = "libtorch"))]
#[test]
fn libtorch_without_its_build_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sample = samples_dir().join("umang_by_Abhishek_Mudgal.jpg");
    let o = unlearnable(&[
        "protect",
        s(&sample),
        "--out",
        s(&out),
        "--device",
        "libtorch",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--features libtorch"), "{err}");
    assert!(!out.join("manifest.json").exists());
}

#[test]
fn json_mode_prints_events_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sample = samples_dir().join("umang_by_Abhishek_Mudgal.jpg");
    let o = unlearnable(&[
        "protect",
        s(&sample),
        "--out",
        s(&out),
        "--method",
        "random",
        "--json",
        "--device",
        "cpu",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["started", "phase", "image-done", "finished", "summary"]
    );
    assert_eq!(lines[0]["total"], 1);
    let ssim = lines[2]["ssim"].as_f64().unwrap();
    assert!(ssim > 0.5 && ssim < 1.0, "image-done carries SSIM: {ssim}");
    assert_eq!(lines[4]["done"], 1);
    assert!(out.join("umang_by_Abhishek_Mudgal.png").is_file());
}

#[test]
fn methods_lists_every_method_with_an_explanation() {
    let o = unlearnable(&["methods"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("conv") && text.contains("random"));
    assert!(text.contains("does NOT protect"));
    for id in ["em", "em-class", "rem", "tue", "clusters", "shield"] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(id)),
            "{id} listed:\n{text}"
        );
    }
}

#[test]
fn rerunning_into_the_same_folder_never_overwrites_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sample = samples_dir().join("umang_by_Abhishek_Mudgal.jpg");
    let first = unlearnable(&[
        "protect",
        s(&sample),
        "--out",
        s(&out),
        "--method",
        "conv",
        "--device",
        "cpu",
        "--seed",
        "1",
    ]);
    assert_eq!(first.status.code(), Some(0));
    let h1 = sha256_file(&out.join("umang_by_Abhishek_Mudgal.png"));
    let second = unlearnable(&[
        "protect",
        s(&sample),
        "--out",
        s(&out),
        "--method",
        "conv",
        "--device",
        "cpu",
        "--seed",
        "2",
    ]);
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(sha256_file(&out.join("umang_by_Abhishek_Mudgal.png")), h1);
    assert!(out.join("umang_by_Abhishek_Mudgal_2.png").is_file());
    assert!(out.join("manifest_2.json").is_file());
    let third = unlearnable(&[
        "protect",
        s(&sample),
        "--out",
        s(&out),
        "--method",
        "conv",
        "--device",
        "cpu",
        "--seed",
        "2",
        "--overwrite",
    ]);
    assert_eq!(third.status.code(), Some(0));
    assert_ne!(sha256_file(&out.join("umang_by_Abhishek_Mudgal.png")), h1);
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_cleanly_and_keeps_finished_files() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let album = dir.path().join("album");
    std::fs::create_dir_all(&album).unwrap();
    for i in 0..40 {
        let bytes = encode(
            &DynamicImage::ImageRgb8(pattern(640, 480, i)),
            ImageFormat::Png,
        );
        std::fs::write(album.join(format!("p{i:02}.png")), bytes).unwrap();
    }
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_unlearnable"))
        .args([
            "protect",
            s(&album),
            "--out",
            s(&out),
            "--method",
            "conv",
            "--device",
            "cpu",
            "--json",
            "-j",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // Wait until the first photo is written, then press Ctrl-C.
    for line in lines.by_ref() {
        if line.unwrap().contains("\"image-done\"") {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    let m = manifest(&out);
    assert_eq!(m["cancelled"], true);
    let done = m["summary"]["done"].as_u64().unwrap() as usize;
    assert!((1..40).contains(&done), "done {done}");
    assert_eq!(
        m["summary"]["skipped"].as_u64().unwrap() as usize + done,
        40
    );
    let files = hash_tree(&out);
    let pngs = files
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "png"))
        .count();
    assert_eq!(pngs, done, "every finished photo is kept, nothing else");
    assert!(
        files
            .iter()
            .all(|(p, _)| !p.to_string_lossy().contains(".part")),
        "no temporary files left"
    );
    for (p, _) in files
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "png"))
    {
        image::open(p).expect("every kept file is complete");
    }
}

#[test]
fn em_and_em_class_protect_the_samples_and_a_nested_album() {
    let dir = tempfile::tempdir().unwrap();
    let album = dir.path().join("album");
    for (i, name) in [
        "sunset_by_Aitzol_Berasategi.jpg",
        "umang_by_Abhishek_Mudgal.jpg",
        "Wine_by_Jakkub_Mede.jpg",
    ]
    .iter()
    .enumerate()
    {
        let sub = album.join(if i == 0 { "2024/summer" } else { "2025" });
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::copy(samples_dir().join(name), sub.join(name)).unwrap();
    }
    for method in ["em", "em-class"] {
        for input in [samples_dir(), album.clone()] {
            let out = dir.path().join(format!(
                "{method}-{}",
                input.file_name().unwrap().to_string_lossy()
            ));
            let o = unlearnable(&[
                "protect",
                s(&input),
                "--out",
                s(&out),
                "--method",
                method,
                "--quality",
                "fast",
                "--device",
                "cpu",
            ]);
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(0), "{method}: {stderr}");
            assert!(
                stderr.contains("round 1/"),
                "{method}: progress per round: {stderr}"
            );
            let m = manifest(&out);
            assert_eq!(m["method"], method);
            assert!(m["training"]["rounds"].as_u64().unwrap() >= 1);
            assert_eq!(m["training"]["settings"]["working_size"], 32);
            let n = m["images"].as_array().unwrap().len();
            assert_eq!(n, if input == album { 3 } else { 5 });
            if input == album {
                assert_eq!(m["labels"]["classes"], serde_json::json!(["2024", "2025"]));
                assert!(
                    out.join("2024/summer/sunset_by_Aitzol_Berasategi.png")
                        .is_file()
                );
            }
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn without_a_display_the_app_explains_itself_instead_of_crashing() {
    for args in [vec![], vec!["gui", "assets/samples"]] {
        let o = Command::new(env!("CARGO_BIN_EXE_unlearnable"))
            .args(&args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("WAYLAND_SOCKET")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("desktop app could not start"), "{stderr}");
        assert!(stderr.contains("unlearnable protect"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn the_web_preset_writes_shrunk_jpegs_and_shield_is_tuned_through_that_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let album = dir.path().join("album");
    std::fs::create_dir_all(&album).unwrap();
    for i in 0..3 {
        let bytes = encode(
            &DynamicImage::ImageRgb8(pattern(2600, 300, i)),
            ImageFormat::Png,
        );
        std::fs::write(album.join(format!("wide{i}.png")), bytes).unwrap();
    }
    let out = dir.path().join("out");
    let o = unlearnable(&[
        "protect",
        s(&album),
        "--out",
        s(&out),
        "--method",
        "shield",
        "--quality",
        "fast",
        "--rounds",
        "1",
        "--preset",
        "web",
        "--device",
        "cpu",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let m = manifest(&out);
    assert_eq!(m["config"]["export"]["preset"], "web");
    assert_eq!(m["config"]["export"]["max_long_side"], 2048);
    // The transformations the noise was optimised through include the export's JPEG 85.
    let t = &m["training"]["settings"]["transforms"];
    assert!(t["p_jpeg"].as_f64().unwrap() >= 0.5, "{t}");
    let q = t["jpeg_quality"].as_array().unwrap();
    assert!(
        q[0].as_u64().unwrap() <= 85 && q[1].as_u64().unwrap() >= 85,
        "{t}"
    );
    for img in m["images"].as_array().unwrap() {
        let path = Path::new(img["output"].as_str().unwrap());
        assert_eq!(path.extension().unwrap(), "jpg");
        let written = image::open(path).unwrap();
        assert_eq!((written.width(), written.height()), (2048, 236));
    }
}
