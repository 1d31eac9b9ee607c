//! Nothing lost when a run is interrupted: the manifest is kept current photo by photo, a
//! killed run is finished by `--resume`, and an output folder that cannot take the files
//! (read-only, full) stops the run cleanly (the real binary).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{bin, s};
use image::RgbImage;

/// `n` photos of noise (they compress badly, like real photos with protection on them).
fn noisy_album(dir: &Path, n: usize, side: u32) -> PathBuf {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..n {
        let img = RgbImage::from_fn(side, side, |_, _| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
        });
        img.save(input.join(format!("p{i:02}.png"))).unwrap();
    }
    input
}

fn protect_args<'a>(input: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "protect",
        s(input),
        "--out",
        s(out),
        "--method",
        "random",
        "--device",
        "cpu",
        "--jobs",
        "1",
    ]
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap())
        .expect("the manifest is valid JSON")
}

fn recorded(m: &serde_json::Value) -> Vec<String> {
    m["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["output"].as_str().unwrap().to_string())
        .collect()
}

fn photos_in(out: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "manifest.json")
        .collect();
    v.sort();
    v
}

#[test]
fn a_run_killed_midway_is_finished_by_resume_without_writing_any_photo_twice() {
    let dir = tempfile::tempdir().unwrap();
    let input = noisy_album(dir.path(), 24, 320);
    let out = dir.path().join("out");
    let mut args = protect_args(&input, &out);
    // Best PNG compression makes every photo slow enough to kill the run between photos.
    args.extend(["--png-compression", "best"]);
    let mut child = bin()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut before_kill = None;
    while Instant::now() < deadline {
        if let Ok(bytes) = std::fs::read(out.join("manifest.json"))
            && let Ok(m) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && recorded(&m).len() >= 3
        {
            child.kill().unwrap(); // SIGKILL: no chance to clean up
            before_kill = Some(m);
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait().unwrap();
    assert!(before_kill.is_some(), "the run never recorded 3 photos");

    // What the killed run left: a valid manifest, not finished, the rest pending.
    let left = manifest(&out);
    assert_eq!(left["finished"], false, "{left}");
    let done_before = recorded(&left);
    assert!(
        done_before.len() >= 3 && done_before.len() < 24,
        "{}",
        done_before.len()
    );
    assert_eq!(
        done_before.len() + left["pending"].as_array().unwrap().len(),
        24
    );
    assert!(
        !photos_in(&out).iter().any(|n| n.ends_with(".part")),
        "no temporary file is visible: {:?}",
        photos_in(&out)
    );
    let stamp = |p: &str| -> SystemTime { std::fs::metadata(p).unwrap().modified().unwrap() };
    let stamps: Vec<SystemTime> = done_before.iter().map(|p| stamp(p)).collect();

    // Resume with no other option: the settings come from the manifest.
    let o: Output = bin()
        .args([
            "protect",
            s(&input),
            "--out",
            s(&out),
            "--resume",
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = manifest(&out);
    assert_eq!(m["finished"], true);
    assert_eq!(m["summary"]["done"], 24);
    assert!(m.get("pending").is_none(), "nothing pending");
    let all = recorded(&m);
    let expected: Vec<String> = (0..24).map(|i| format!("p{i:02}.png")).collect();
    assert_eq!(
        photos_in(&out),
        expected,
        "every photo once, no numbered copies"
    );
    assert_eq!(all.len(), 24);
    for (p, t) in done_before.iter().zip(&stamps) {
        assert_eq!(&stamp(p), t, "{p} was written again");
    }
    // The photos are in album order in the finished manifest.
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
}

#[test]
fn resume_refuses_other_settings_and_a_folder_without_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = noisy_album(dir.path(), 2, 32);
    let out = dir.path().join("out");
    let o = bin()
        .args(["protect", s(&input), "--out", s(&out), "--resume"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no earlier run"));
    assert!(
        bin()
            .args(protect_args(&input, &out))
            .output()
            .unwrap()
            .status
            .success()
    );
    let mut other = protect_args(&input, &out);
    other.extend(["--resume", "--seed", "99"]);
    let o = bin().args(&other).output().unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("other settings"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(photos_in(&out), ["p00.png", "p01.png"]);
}

/// A tmpfs mounted for the test (root only; `None` where mounting is not allowed).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, options: &str) -> Option<Self> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs", s(at)])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        if !ok {
            eprintln!("SKIPPED part of this test: cannot mount a tmpfs here (needs root)");
        }
        ok.then(|| Self(at.to_path_buf()))
    }

    fn remount(&self, options: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{options}"), s(&self.0)])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_read_only_output_folder_is_reported_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = noisy_album(dir.path(), 2, 32);
    let out = dir.path().join("ro");
    let Some(_mount) = Mount::tmpfs(&out, "ro,size=1m") else {
        return;
    };
    let o = bin().args(protect_args(&input, &out)).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot use output folder"), "{err}");
    assert!(err.to_lowercase().contains("read-only"), "{err}");
    assert!(!err.contains("protected,"), "no work was done: {err}");
}

#[test]
fn a_full_disk_is_found_before_the_run_or_stops_it_cleanly_and_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    // 20 noisy 400×400 photos: about 9.6 MB as PNG, estimated at 6.4 MB (+1 MB margin).
    let input = noisy_album(dir.path(), 20, 400);
    let out = dir.path().join("small");
    let Some(mount) = Mount::tmpfs(&out, "size=4m") else {
        return;
    };
    // Far too small: refused before any work, nothing written.
    let o = bin().args(protect_args(&input, &out)).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not enough free space"), "{err}");
    assert!(photos_in(&out).is_empty());

    // Big enough for the estimate, too small for the real files: the run stops when the disk
    // fills, keeps every finished photo, and says how to go on.
    mount.remount("size=8m");
    let o = bin().args(protect_args(&input, &out)).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the run stopped") && err.contains("--resume"),
        "{err}"
    );
    let m = manifest(&out);
    assert_eq!(m["finished"], false);
    let done = recorded(&m);
    assert!(!done.is_empty() && done.len() < 20, "{}", done.len());
    for p in &done {
        image::open(p).expect("every recorded photo is complete");
    }
    assert!(
        !photos_in(&out).iter().any(|n| n.contains(".part")),
        "{:?}",
        photos_in(&out)
    );

    mount.remount("size=32m");
    let o = bin()
        .args([
            "protect",
            s(&input),
            "--out",
            s(&out),
            "--resume",
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = manifest(&out);
    assert_eq!(
        (m["finished"].as_bool(), recorded(&m).len()),
        (Some(true), 20)
    );
    assert_eq!(photos_in(&out).len(), 20);
}

/// The same clean stop without root: a file-size limit (`ulimit -f`, as a quota would) makes
/// the writer fail on the first large photo; the run stops there, keeps what finished, and
/// `--resume` without the limit finishes the rest.
#[cfg(unix)]
#[test]
fn a_writer_error_mid_run_stops_cleanly_and_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let input = noisy_album(dir.path(), 6, 48);
    // Photo p03 is large: about 170 KB as PNG, over the 100 KB limit below.
    let big = noisy_album(&dir.path().join("big"), 1, 240);
    std::fs::rename(big.join("p00.png"), input.join("p03.png")).unwrap();
    let out = dir.path().join("out");
    let args = protect_args(&input, &out).join(" ");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f 200; exec \"$0\" {args}"))
        .arg(env!("CARGO_BIN_EXE_unlearnable"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the run stopped") && err.contains("--resume"),
        "{err}"
    );
    let m = manifest(&out);
    assert_eq!(m["finished"], false);
    let done = recorded(&m);
    assert_eq!(
        done.len(),
        3,
        "p00–p02 finished before the large one: {done:?}"
    );
    assert!(photos_in(&out).iter().all(|n| !n.contains(".part")));
    let o = bin()
        .args([
            "protect",
            s(&input),
            "--out",
            s(&out),
            "--resume",
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = manifest(&out);
    assert_eq!(
        (m["finished"].as_bool(), recorded(&m).len()),
        (Some(true), 6)
    );
}
