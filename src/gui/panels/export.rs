//! The export window: folder (never the photos' own folder by default), format (PNG; lossy
//! formats come with a visible warning), metadata policy, then a summary of what was written.

use std::path::PathBuf;
use std::time::Instant;

use crate::config::{ExportFormat, ExportPreset};
use crate::gui::app::{App, Command};

/// What the measurements (EVALUATION.md, defence table) mean for someone about to share.
const SHARING_TIP: &str = "Share these files as they are. Everyday social-media compression keeps \
     much of the protection; heavy compression or shrinking the photos to half their size \
     removes most of it.";

/// Draw the window if open.
pub fn show(ctx: &egui::Context, app: &mut App, commands: &mut Vec<Command>) {
    if !app.export_window.open {
        return;
    }
    let mut open = true;
    egui::Window::new("Export protected photos")
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .default_width(440.0)
        .show(ctx, |ui| body(ui, app, commands));
    if !open {
        app.export_window.open = false;
    }
}

fn body(ui: &mut egui::Ui, app: &mut App, commands: &mut Vec<Command>) {
    if let Some(task) = &app.export {
        ui.add(egui::ProgressBar::new(task.progress.fraction()).show_percentage());
        ui.label(task.progress.line(Instant::now()));
        if ui.button("⏹ Cancel").clicked() {
            commands.push(Command::Cancel);
        }
        return;
    }
    if let Some(summary) = &app.export_window.summary {
        ui.heading(if summary.cancelled {
            "Export stopped"
        } else {
            "Export finished"
        });
        ui.label(format!("{} photos written.", summary.written.len()));
        if let Some(first) = summary.written.first() {
            ui.small(format!("For example: {}", first.1.display()));
        }
        if let Some(m) = &summary.manifest_path {
            ui.small(format!("Settings and results: {}", m.display()));
        }
        if !summary.written.is_empty() {
            ui.add(egui::Label::new(SHARING_TIP).wrap());
        }
        if !summary.failed.is_empty() {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("{} could not be exported:", summary.failed.len()),
            );
            egui::ScrollArea::vertical()
                .max_height(120.0)
                .show(ui, |ui| {
                    for f in &summary.failed {
                        ui.small(format!("{} — {}", f.source.display(), f.error));
                    }
                });
        }
        ui.horizontal(|ui| {
            if ui.button("Export again…").clicked() {
                app.export_window.summary = None;
            }
            if ui.button("Close").clicked() {
                app.export_window.open = false;
            }
        });
        return;
    }
    let done = app
        .last_run
        .as_ref()
        .map(|r| r.manifest.summary.done)
        .unwrap_or(0);
    ui.label(format!("{done} protected photos are ready."));
    ui.add_space(4.0);
    ui.label("Folder");
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut app.export_window.folder)
                .desired_width(300.0)
                .hint_text("Where the protected copies go"),
        )
        .on_hover_text("Sub-folders are mirrored. Existing files are never replaced.");
        if ui.button("Choose…").clicked() {
            commands.push(Command::PickExportFolder);
        }
    });
    let e = &mut app.settings.export;
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.label("For");
        for preset in ExportPreset::ALL {
            let name = match preset {
                ExportPreset::Full => "Full size (PNG)",
                ExportPreset::Web => "The web (2048 px, JPEG 85)",
            };
            if ui
                .selectable_label(e.preset == Some(preset), name)
                .on_hover_text(preset.explain())
                .clicked()
            {
                preset.apply(e);
            }
        }
    });
    let before = (e.format, e.jpeg_quality);
    ui.horizontal(|ui| {
        ui.label("Format");
        ui.selectable_value(&mut e.format, ExportFormat::Png, "PNG")
            .on_hover_text("Lossless: keeps the protection exactly (recommended)");
        ui.selectable_value(&mut e.format, ExportFormat::Webp, "WebP (lossless)")
            .on_hover_text("Lossless WebP: smaller files, protection intact");
        ui.selectable_value(&mut e.format, ExportFormat::Jpeg, "JPEG")
            .on_hover_text("Lossy: smaller files, but compression removes part of the protection");
    });
    if let Some(side) = e.max_long_side {
        let mut full = false;
        ui.horizontal(|ui| {
            ui.small(format!(
                "Photos larger than {side} px on the long side are shrunk."
            ));
            full = ui.small_button("Keep full size").clicked();
        });
        if full {
            e.max_long_side = None;
            e.preset = None;
        }
    }
    if e.format == ExportFormat::Jpeg {
        ui.add(egui::Slider::new(&mut e.jpeg_quality, 70..=100).text("JPEG quality"));
        ui.small(
            "With the invisible shield, protect after choosing JPEG here: its noise is then \
             tuned through this quality.",
        );
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "⚠ JPEG compression weakens the protection. Use PNG unless a site requires JPEG, \
             and then the highest quality.",
        );
    }
    if (e.format, e.jpeg_quality) != before {
        e.preset = None;
    }
    ui.horizontal(|ui| {
        ui.label("Add to file names");
        ui.add(
            egui::TextEdit::singleline(&mut e.name_suffix)
                .desired_width(120.0)
                .hint_text("e.g. _protected"),
        )
        .on_hover_text("Leave empty to keep the original names (with the new extension).");
    });
    ui.add_space(4.0);
    ui.checkbox(&mut e.keep_copyright, "Keep artist and copyright")
        .on_hover_text("Copies the Artist and Copyright fields from the originals.");
    ui.small("Location (GPS), camera serial numbers and all other metadata are always removed.");
    ui.add_space(8.0);
    let folder = app.export_window.folder.trim().to_string();
    let ok = !folder.is_empty() && done > 0;
    if ui
        .add_enabled(ok, egui::Button::new("💾 Export"))
        .on_disabled_hover_text("Choose a folder first")
        .clicked()
    {
        commands.push(Command::Export(PathBuf::from(folder)));
    }
}
