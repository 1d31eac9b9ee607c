//! The desktop app (eframe/egui). It is a thin face on the library: it never computes on the
//! UI thread; protection, export, thumbnails and previews run on workers that report over
//! channels and wake the UI with `request_repaint`.
//!
//! Layout: [`app`] owns state and turns [`Command`](app::Command)s from the panels into work;
//! [`panels`] draw and emit commands; [`photos`] is the opened album with background
//! thumbnails; [`tasks`] tracks running work; [`viewer`] is the compare view's maths, loader
//! and wgpu shader callback; [`settings`] is what persists between launches.

pub mod app;
pub mod panels;
pub mod photos;
pub mod settings;
pub mod tasks;
pub mod toasts;
pub mod viewer;

use std::sync::Arc;

use eframe::egui_wgpu::{self, wgpu};

pub use app::{App, Launch};

/// Native options: a wgpu renderer whose device has every feature and limit the adapter
/// offers (burn's wgpu runtime reads the adapter's, see stack-notes §1), a sensible window,
/// drag and drop on.
pub fn native_options() -> eframe::NativeOptions {
    let mut options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Unlearnable")
            .with_app_id("unlearnable")
            .with_inner_size([1200.0, 800.0])
            .with_min_inner_size([720.0, 480.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    if let egui_wgpu::WgpuSetup::CreateNew(create) = &mut options.wgpu_options.wgpu_setup {
        create.device_descriptor = Arc::new(|adapter: &wgpu::Adapter| wgpu::DeviceDescriptor {
            label: Some("unlearnable"),
            required_features: adapter.features(),
            required_limits: adapter.limits(),
            ..Default::default()
        });
    }
    options
}

/// Open the app as `launch` says. Blocks until the window closes.
pub fn run(launch: Launch) -> Result<(), eframe::Error> {
    eframe::run_native(
        "Unlearnable",
        native_options(),
        Box::new(move |cc| Ok(Box::new(App::launch(cc, launch)))),
    )
}

#[cfg(test)]
mod tests {
    /// Every non-ASCII character in the app's texts must exist in the bundled fonts;
    /// otherwise egui draws a box (or, under kittest, panics).
    #[test]
    fn every_character_in_the_ui_texts_has_a_glyph() {
        let ctx = egui::Context::default();
        let mut out = ctx.run_ui(egui::RawInput::default(), |_| {});
        out.textures_delta.clear();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gui");
        let mut missing = std::collections::BTreeMap::new();
        for e in walkdir::WalkDir::new(&root).into_iter().flatten() {
            if e.path().extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(e.path()).expect("readable source");
            // Skip this test's own body and comments: only string contents matter.
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for c in line.chars().filter(|c| !c.is_ascii()) {
                    let ok = ctx.fonts_mut(|f| f.has_glyph(&egui::FontId::proportional(14.0), c));
                    if !ok {
                        missing.insert(c, e.path().display().to_string());
                    }
                }
            }
        }
        assert!(missing.is_empty(), "no glyph for: {missing:?}");
    }
}
