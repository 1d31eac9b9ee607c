//! Bottom status bar: counts, what is running, the device.

use std::time::Instant;

use crate::gui::app::App;

/// Draw the status bar.
pub fn show(ui: &mut egui::Ui, app: &App) {
    egui::Panel::bottom("status").show(ui, |ui| {
        ui.horizontal(|ui| {
            let (waiting, done, failed) = app.photos.counts();
            let total = app.photos.items.len();
            if app.photos.scanning {
                ui.spinner();
                ui.label("Looking for photos…");
            } else if total == 0 {
                ui.label("No photos open");
            } else {
                ui.label(format!("{total} photos · {done} protected"));
                if failed > 0 {
                    ui.colored_label(ui.visuals().error_fg_color, format!("· {failed} failed"));
                }
                if waiting > 0 && done > 0 {
                    ui.label(format!("· {waiting} not protected"));
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let device = app
                    .protect
                    .as_ref()
                    .and_then(|t| t.progress.device.clone())
                    .or_else(|| app.last_run.as_ref().map(|r| r.manifest.device.clone()));
                if let Some(d) = device {
                    ui.label(format!("Computing on {d}"));
                }
                if let Some(t) = &app.export {
                    ui.label(t.progress.line(Instant::now()));
                }
            });
        });
    });
}
