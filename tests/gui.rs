//! The desktop app driven headlessly with egui_kittest (no display needed; kittest renders
//! with wgpu on a software adapter): open → choose → protect → compare → export, and cancel.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use image::{DynamicImage, ImageFormat};
use unlearnable::Strength;
use unlearnable::gui::App;
use unlearnable::gui::app::Screen;
use unlearnable::gui::photos::PhotoState;
use unlearnable::protect::MethodId;

/// A dropped file, as the windowing integration would hand it to egui.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn harness() -> Harness<'static, App> {
    harness_with(egui_kittest::wgpu::default_wgpu_setup())
}

/// The app on wgpu's OpenGL backend, which eframe uses where there is no Vulkan driver.
fn harness_on_gl() -> Harness<'static, App> {
    let mut setup = egui_kittest::wgpu::default_wgpu_setup();
    if let eframe::egui_wgpu::WgpuSetup::CreateNew(create) = &mut setup {
        create.instance_descriptor.backends = eframe::egui_wgpu::wgpu::Backends::GL;
    }
    harness_with(setup)
}

fn harness_with(setup: eframe::egui_wgpu::WgpuSetup) -> Harness<'static, App> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu_setup(setup)
        .build_eframe(|cc| App::new(cc, Vec::new()))
}

/// Step frames until `done` holds (workers report between frames).
fn wait_for(h: &mut Harness<'static, App>, what: &str, secs: u64, done: impl Fn(&App) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}; notifications: {:?}; running: {:?}",
            h.state()
                .toasts
                .items
                .iter()
                .map(|t| &t.text)
                .collect::<Vec<_>>(),
            h.state()
                .protect
                .as_ref()
                .map(|t| t.progress.line(Instant::now()))
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.step();
}

fn album(dir: &Path, n: u32, side: u32) -> PathBuf {
    let photos = dir.join("My photos");
    std::fs::create_dir_all(&photos).unwrap();
    for i in 0..n {
        let img = DynamicImage::ImageRgb8(common::pattern(side + i, side, i));
        let format = if i % 2 == 0 {
            ImageFormat::Png
        } else {
            ImageFormat::Jpeg
        };
        let ext = if i % 2 == 0 { "png" } else { "jpg" };
        std::fs::write(
            photos.join(format!("photo_{i}.{ext}")),
            common::encode(&img, format),
        )
        .unwrap();
    }
    photos
}

fn no_partial_files(dir: &Path) {
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy();
        assert!(
            !name.ends_with(".part"),
            "partial file left: {}",
            e.path().display()
        );
    }
}

#[test]
fn open_choose_protect_compare_export() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = album(tmp.path(), 3, 96);
    let before = common::hash_tree(&photos);
    let mut h = harness();

    // Open: drop the folder on the window; the grid fills in with thumbnails.
    h.input_mut()
        .dropped_files
        .push(Arc::new(Dropped(photos.clone())));
    wait_for(&mut h, "thumbnails", 30, |a| {
        a.photos.items.len() == 3 && a.photos.items.iter().all(|i| i.thumb.is_some())
    });
    h.get_by_label("photo_0.png");
    assert_eq!(h.state().settings.recent.first(), Some(&photos));

    // Choose: the method from its menu, strength High.
    h.get_by_label("Method").click();
    h.run_steps(3);
    // `conv` is CLI-only (see MethodId::in_app): the menu does not offer it.
    assert!(h.query_by_label(MethodId::Conv.title()).is_none());
    // The methods from the literature are offered by their plain titles.
    for m in [MethodId::Rem, MethodId::Tue, MethodId::Clusters] {
        assert!(h.query_by_label(m.title()).is_some(), "{m} in the menu");
    }
    h.get_by_label(MethodId::Random.title()).click();
    h.run_steps(3);
    h.get_by_label("High").click();
    h.step();
    assert_eq!(h.state().settings.method, MethodId::Random);
    assert_eq!(h.state().settings.epsilon_255(), 16.0);

    // Protect.
    h.get_by_label_contains("Protect photos").click();
    h.step();
    assert!(h.state().protect.is_some(), "the run started");
    wait_for(&mut h, "the run to finish", 120, |a| {
        a.protect.is_none() && a.last_run.is_some()
    });
    assert!(
        h.state()
            .photos
            .items
            .iter()
            .all(|i| matches!(i.state, PhotoState::Done { .. })),
        "every photo is protected"
    );

    // Compare: select a photo; three panes with their titles and quality badges.
    h.get_by_label("photo_1.jpg").click();
    wait_for(&mut h, "the preview", 30, |a| a.preview.is_some());
    assert_eq!(h.state().screen, Screen::Compare);
    h.get_by_label("Original");
    h.get_by_label("Noise ×10");
    h.get_by_label("Protected");
    let pair = h.state().preview.clone().unwrap();
    h.get_by_label(&format!("PSNR {:.1} dB", pair.seen.psnr_db));
    h.get_by_label(&format!("SSIM {:.3}", pair.seen.ssim));
    // The figures that see casts and grain in smooth areas, measured on the full photos.
    h.get_by_label(&format!("colour cast ΔE {:.2}", pair.seen.cast_de00));
    h.get_by_label(&format!(
        "smooth-area grain {:.1}/255",
        pair.seen.flat_noise_255
    ));
    // The badges reuse the job's figures; they are those of the staged file itself.
    let item = h
        .state()
        .photos
        .items
        .iter()
        .find(|i| i.path.ends_with("photo_1.jpg"))
        .unwrap();
    let PhotoState::Done { staged, .. } = &item.state else {
        panic!("photo_1 is protected")
    };
    let written = image::open(staged).unwrap().to_rgb8();
    let original = unlearnable::imaging::load_photo(&item.path, &Default::default())
        .unwrap()
        .rgb;
    assert_eq!(
        unlearnable::imaging::visibility::measure(&original, &written),
        pair.seen
    );
    assert!(
        pair.linf_255 > 0 && pair.linf_255 <= 16,
        "{}",
        pair.linf_255
    );
    // The panes are drawn by the shader: the original pane shows the photo, the noise pane
    // is centred on mid-grey, the protected pane is within ε of the original.
    let img = h.render().expect("render");
    let panes = h.state().pane_rects.clone();
    assert_eq!(panes.len(), 3, "three panes");
    let sample = |k: usize| {
        let c = panes[k].1.center(); // kittest renders at 1 pixel per point
        img.get_pixel(c.x as u32, c.y as u32).0
    };
    let (clean, noise, prot) = (sample(0), sample(1), sample(2));
    for c in 0..3 {
        assert!(
            (noise[c] as i32 - 128).abs() <= 16 * 10 + 2,
            "noise pane {noise:?}"
        );
        assert!(
            (clean[c] as i32 - prot[c] as i32).abs() <= 16 + 2,
            "clean {clean:?} vs protected {prot:?}"
        );
    }
    assert_ne!(clean, noise, "the noise pane is not the photo");

    // Zoom with the wheel over a pane: every pane follows (one shared transform).
    h.hover_at(panes[0].1.center());
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, 120.0),
        phase: egui::TouchPhase::Move,
        modifiers: egui::Modifiers::NONE,
        source: egui::MouseWheelSource::Wheel,
    });
    h.step();
    h.step();
    assert!(h.state().view.zoom.is_some(), "zoomed in");

    // Split view (key S): one pane, the original left of the line, the protected copy right.
    h.get_by_label("Fit").click();
    h.key_press(egui::Key::S);
    h.run_steps(2);
    assert_eq!(
        h.state().settings.layout,
        unlearnable::gui::settings::CompareLayout::Split
    );
    let split = h.state().pane_rects.clone();
    assert_eq!(split.len(), 1);
    h.get_by_label_contains("drag the line");
    let r = split[0].1;
    // Line at split = 1 shows only the original, at split = 0 only the protected copy.
    let row = |h: &mut Harness<'static, App>, split: f32| {
        h.state_mut().split = split;
        h.run_steps(2);
        let img = h.render().expect("render");
        (0..60)
            .map(|k| {
                let x = r.left() + r.width() * (0.2 + 0.01 * k as f32);
                img.get_pixel(x as u32, r.center().y as u32).0
            })
            .collect::<Vec<_>>()
    };
    let (clean_row, prot_row) = (row(&mut h, 1.0), row(&mut h, 0.0));
    let diffs: Vec<i32> = clean_row
        .iter()
        .zip(&prot_row)
        .flat_map(|(a, b)| (0..3).map(move |c| (a[c] as i32 - b[c] as i32).abs()))
        .collect();
    assert!(diffs.iter().all(|&d| d <= 18), "within ε: {diffs:?}");
    assert!(diffs.iter().any(|&d| d > 0), "the two sides differ");
    assert!(clean_row.iter().all(|p| *p != [10, 10, 10, 255]), "drawn");
    h.state_mut().split = 0.5;
    h.key_press(egui::Key::S);
    h.run_steps(2);

    // Export to a new folder: PNG, nothing else touched.
    let out = tmp.path().join("exported");
    h.get_by_label_contains("Export…").click();
    h.run_steps(3);
    h.state_mut().export_window.folder = out.display().to_string();
    h.state_mut().settings.export.name_suffix = "_protected".into();
    h.run_steps(3);
    h.get_by_label("💾 Export").click();
    wait_for(&mut h, "the export", 60, |a| {
        a.export.is_none() && a.export_window.summary.is_some()
    });
    let summary = h.state().export_window.summary.clone().unwrap();
    assert_eq!(summary.written.len(), 3);
    assert!(summary.failed.is_empty());
    for (src, written) in &summary.written {
        assert!(written.starts_with(&out));
        assert_eq!(written.extension().unwrap(), "png");
        assert!(
            written
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .ends_with("_protected"),
            "{}",
            written.display()
        );
        let a = unlearnable::imaging::load_photo(src, &Default::default())
            .unwrap()
            .rgb;
        let b = image::open(written).unwrap().to_rgb8();
        assert_eq!(a.dimensions(), b.dimensions());
        let d = common::max_abs_diff(&a, &b);
        assert!(d > 0 && d <= 16, "{} changed by {d}", written.display());
    }
    assert!(out.join("manifest.json").exists());
    h.get_by_label("Export finished");
    h.get_by_label_contains("Share these files as they are");
    assert_eq!(common::hash_tree(&photos), before, "originals untouched");
    no_partial_files(&out);
}

#[test]
fn cancel_mid_run_keeps_the_app_usable_and_leaves_no_partial_files() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = album(tmp.path(), 8, 64);
    let mut h = harness();
    h.state_mut().settings.method = MethodId::Em;
    h.state_mut()
        .handle(unlearnable::gui::app::Command::Open(vec![photos.clone()]));
    wait_for(&mut h, "the photo list", 30, |a| a.photos.items.len() == 8);

    h.get_by_label_contains("Protect photos").click();
    wait_for(&mut h, "training to start", 120, |a| {
        a.protect
            .as_ref()
            .is_some_and(|t| t.progress.phase == "training" || t.progress.round.is_some())
    });
    // Closing the window mid-run asks first; "Keep running" keeps it going.
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.run_steps(3);
    assert!(h.state().confirm_close, "asked before closing");
    h.get_by_label("Protection is still running");
    h.get_by_label("Keep running").click();
    h.run_steps(3);
    assert!(!h.state().confirm_close);
    assert!(h.state().protect.is_some(), "still running");
    h.get_by_label_contains("Cancel").click();
    wait_for(&mut h, "the run to stop", 120, |a| a.protect.is_none());
    let app = h.state();
    let run = app
        .last_run
        .as_ref()
        .expect("a cancelled run still reports");
    assert!(run.manifest.cancelled);
    assert!(
        app.photos
            .items
            .iter()
            .all(|i| !matches!(i.state, PhotoState::Protecting)),
        "no photo is left marked as in progress"
    );
    let staged = run.manifest_path.parent().unwrap().to_path_buf();
    no_partial_files(&staged);
    for r in &run.manifest.images {
        image::open(&r.output).expect("every written file is complete");
    }

    // Still usable: run again with a fast method to the end.
    h.state_mut().settings.method = MethodId::Random;
    // A second click on the same spot right after "Cancel" would be a double click.
    h.run_steps(30);
    h.get_by_label_contains("Protect photos").click();
    wait_for(&mut h, "the second run", 120, |a| {
        a.protect.is_none() && a.last_run.as_ref().is_some_and(|r| !r.manifest.cancelled)
    });
    assert!(
        h.state()
            .photos
            .items
            .iter()
            .all(|i| matches!(i.state, PhotoState::Done { .. }))
    );
}

#[test]
fn verify_view_checks_protection_on_the_opened_photos() {
    let tmp = tempfile::tempdir().unwrap();
    // Two sub-folders (groups) of five photos each.
    let root = tmp.path().join("Portfolio");
    for (g, name) in ["cats", "dogs"].iter().enumerate() {
        album(&root.join(name), 5, 40 + g as u32 * 7);
    }
    let mut h = harness();
    h.state_mut().settings.method = MethodId::Random;
    h.state_mut()
        .handle(unlearnable::gui::app::Command::Open(vec![root.clone()]));
    wait_for(&mut h, "the photo list", 30, |a| a.photos.items.len() == 10);
    h.get_by_label_contains("Verify").click();
    h.run_steps(3);
    assert_eq!(h.state().screen, Screen::Verify);
    h.get_by_label_contains("Check protection").click();
    h.step();
    assert!(h.state().verify.is_some(), "the check started");
    wait_for(&mut h, "the check", 180, |a| a.verify_report.is_some());
    let report = h.state().verify_report.clone().unwrap();
    assert_eq!(
        report.arms.len(),
        5,
        "clean + as protected, shared, JPEG, resized"
    );
    assert_eq!(report.train_images + report.test_images, 10);
    // Live curves were collected per arm and the summary is in words.
    assert_eq!(h.state().verify_curves.len(), 5);
    h.get_by_label_contains("Trained on the protected copies after sharing on the web");
    h.get_by_label_contains("A model trained on clean copies of your photos recognised");
    h.get_by_label_contains("Trained on the protected copies after JPEG compression");
    h.get_by_label_contains("This is an estimate");
    // Photos themselves were not touched.
    assert!(h.state().last_run.is_none());
}

/// eframe storage in memory.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn settings_persist_between_launches() {
    use unlearnable::config::Strength;
    use unlearnable::gui::settings::ThemeChoice;
    let tmp = tempfile::tempdir().unwrap();
    let photos = album(tmp.path(), 2, 32);
    let mut h = harness();
    h.state_mut()
        .handle(unlearnable::gui::app::Command::Open(vec![photos.clone()]));
    h.get_by_label("High").click();
    h.run_steps(2);
    {
        let s = &mut h.state_mut().settings;
        s.method = MethodId::EmClass;
        s.theme = ThemeChoice::Dark;
        s.export.keep_copyright = true;
    }
    let mut storage = MemoryStorage::default();
    eframe::App::save(h.state_mut(), &mut storage);
    let saved = h.state().settings.clone();
    drop(h);

    let storage: &'static MemoryStorage = Box::leak(Box::new(storage));
    let h2 = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(|cc| {
            cc.storage = Some(storage);
            App::new(cc, Vec::new())
        });
    let restored = &h2.state().settings;
    assert_eq!(restored, &saved);
    assert_eq!(restored.strength, Some(Strength::High));
    assert_eq!(restored.method, MethodId::EmClass);
    assert_eq!(restored.recent.first(), Some(&photos));
    assert_eq!(h2.ctx.theme(), egui::Theme::Dark);
}

/// Zoomed out, the panes sample mip levels: 4-pixel black and white stripes shown at about
/// 1/13 of their size are mid-grey, not a moiré of black and white bands.
#[test]
fn zoomed_out_panes_do_not_alias() {
    zoomed_out_pane_is_mid_grey(harness());
}

/// The compare view's shader also builds and draws on wgpu's GL backend (GLSL cannot sample one
/// texture through two samplers; the first shader did, and the app panicked without Vulkan).
#[test]
fn the_compare_view_draws_on_the_gl_backend() {
    zoomed_out_pane_is_mid_grey(harness_on_gl());
}

/// A fine black-and-white checker, shown zoomed out: every pane pixel is mid-grey (sampled from
/// the mip chain), never the 0 or 255 of an aliased sample.
fn zoomed_out_pane_is_mid_grey(mut h: Harness<'static, App>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("checker");
    std::fs::create_dir_all(&dir).unwrap();
    let checker = image::RgbImage::from_fn(4096, 256, |x, _| {
        let v = if (x / 4) % 2 == 0 { 0 } else { 255 };
        image::Rgb([v, v, v])
    });
    checker.save(dir.join("checker.png")).unwrap();
    h.state_mut().settings.method = MethodId::Random;
    h.state_mut()
        .handle(unlearnable::gui::app::Command::Open(vec![dir.clone()]));
    wait_for(&mut h, "the photo list", 30, |a| a.photos.items.len() == 1);
    h.get_by_label_contains("Protect photos").click();
    wait_for(&mut h, "the run", 120, |a| {
        a.protect.is_none() && a.last_run.is_some()
    });
    h.get_by_label("checker.png").click();
    wait_for(&mut h, "the preview", 60, |a| a.preview.is_some());
    h.run_steps(2);
    let img = h.render().expect("render");
    let pane = h.state().pane_rects[0].1;
    let c = pane.center();
    for dx in [
        -40.0, -27.0, -20.0, -13.0, -7.0, 0.0, 5.0, 9.0, 16.0, 20.0, 33.0,
    ] {
        let p = img.get_pixel((c.x + dx) as u32, c.y as u32).0;
        assert!(
            (p[0] as i32 - 128).abs() < 30,
            "at {dx}: {p:?} (aliasing would give 0 or 255)"
        );
    }
}

/// One photo with error-minimizing noise (the default): the panel says to add a photo before
/// a run fails; a method that works on single photos shows no such hint.
#[test]
fn a_single_photo_with_em_gets_a_hint_to_add_photos() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = album(tmp.path(), 1, 32);
    let mut h = harness();
    h.state_mut().settings.method = MethodId::Em;
    h.state_mut()
        .handle(unlearnable::gui::app::Command::Open(vec![photos]));
    wait_for(&mut h, "the photo list", 30, |a| a.photos.items.len() == 1);
    h.get_by_label_contains("add at least one more photo");
    h.state_mut().settings.method = MethodId::Random;
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("add at least one more photo")
            .is_none()
    );
}

/// A folder without photos is reported and forgotten; the photos opened before stay.
#[test]
fn opening_a_folder_without_photos_keeps_the_album_usable() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = album(tmp.path(), 2, 32);
    let empty = tmp.path().join("Documents");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "not a photo").unwrap();
    let mut h = harness();
    h.state_mut()
        .handle(unlearnable::gui::app::Command::Open(vec![photos.clone()]));
    wait_for(&mut h, "the photo list", 30, |a| a.photos.items.len() == 2);
    h.state_mut()
        .handle(unlearnable::gui::app::Command::Open(vec![empty.clone()]));
    wait_for(&mut h, "the failed scan", 30, |a| !a.photos.scanning);
    let app = h.state();
    assert!(
        app.toasts
            .items
            .iter()
            .any(|t| t.text.contains("no photos found") && t.text.contains("Documents")),
        "{:?}",
        app.toasts.items.iter().map(|t| &t.text).collect::<Vec<_>>()
    );
    assert_eq!(app.photos.sources, vec![photos.clone()]);
    // The next action works on the remaining photos.
    h.state_mut().settings.method = MethodId::Random;
    h.run_steps(2); // let the layout settle after the list changed
    h.get_by_label_contains("Protect photos").click();
    wait_for(&mut h, "the run", 60, |a| {
        a.protect.is_none() && a.last_run.is_some()
    });
    assert_eq!(
        h.state().last_run.as_ref().unwrap().manifest.summary.done,
        2
    );
}

#[test]
fn a_cancelled_run_can_be_continued_and_keeps_what_it_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = album(tmp.path(), 12, 800);
    let mut h = harness();
    h.state_mut().settings.method = MethodId::Random;
    h.state_mut()
        .handle(unlearnable::gui::app::Command::Open(vec![photos.clone()]));
    wait_for(&mut h, "the photo list", 30, |a| a.photos.items.len() == 12);
    h.get_by_label_contains("Protect photos").click();
    wait_for(&mut h, "the first photos", 120, |a| {
        a.photos
            .items
            .iter()
            .filter(|i| matches!(i.state, PhotoState::Done { .. }))
            .count()
            >= 2
    });
    h.get_by_label_contains("Cancel").click();
    wait_for(&mut h, "the run to stop", 120, |a| a.protect.is_none());
    let first = h.state().last_run.clone().expect("the stopped run reports");
    let done_before: Vec<PathBuf> = first
        .manifest
        .images
        .iter()
        .map(|r| r.output.clone())
        .collect();
    let left = h.state().can_continue();
    if done_before.len() == 12 {
        // The run finished before the cancel arrived: nothing to continue.
        assert_eq!(left, None);
        return;
    }
    assert_eq!(left, Some(12 - done_before.len()));
    eprintln!("continuing after {} of 12 photos", done_before.len());
    let stamps: Vec<_> = done_before
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    // Other settings: a fresh run is needed, so "Continue" is not offered.
    let strength = h.state().settings.strength;
    h.state_mut().settings.strength = Some(Strength::High);
    assert_eq!(h.state().can_continue(), None);
    h.state_mut().settings.strength = strength;
    h.run_steps(30);
    h.get_by_label_contains("Continue (").click();
    wait_for(&mut h, "the continued run", 120, |a| {
        a.protect.is_none() && a.last_run.as_ref().is_some_and(|r| r.manifest.finished)
    });
    let run = h.state().last_run.clone().unwrap();
    assert_eq!(run.manifest_path, first.manifest_path, "same run folder");
    assert_eq!(run.manifest.images.len(), 12);
    for (p, t) in done_before.iter().zip(&stamps) {
        assert_eq!(
            &std::fs::metadata(p).unwrap().modified().unwrap(),
            t,
            "{p:?} rewritten"
        );
    }
    assert!(
        h.state()
            .photos
            .items
            .iter()
            .all(|i| matches!(i.state, PhotoState::Done { .. }))
    );
    assert_eq!(h.state().can_continue(), None);
    no_partial_files(run.manifest_path.parent().unwrap());
}
