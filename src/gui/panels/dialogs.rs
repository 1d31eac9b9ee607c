//! Small modal dialogs: "quit during a run?" and the keyboard shortcut list.

use crate::gui::app::{App, Command};

/// Draw whichever dialog is open.
pub fn show(ctx: &egui::Context, app: &mut App, commands: &mut Vec<Command>) {
    if app.confirm_close {
        let modal = egui::Modal::new(egui::Id::unique("confirm close")).show(ctx, |ui| {
            ui.heading("Protection is still running");
            ui.label(
                "If you quit now, photos already protected are kept and the rest are not \
                 protected. Nothing half-written is left behind.",
            );
            ui.horizontal(|ui| {
                if ui.button("Keep running").clicked() {
                    app.confirm_close = false;
                }
                if ui.button("Stop and quit").clicked() {
                    app.confirm_close = false;
                    commands.push(Command::Quit);
                }
            });
        });
        if modal.should_close() {
            app.confirm_close = false;
        }
    }
    if app.show_shortcuts {
        egui::Window::new("Keyboard shortcuts")
            .open(&mut app.show_shortcuts)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                    for (keys, what) in super::shortcuts::TABLE {
                        ui.monospace(*keys);
                        ui.label(*what);
                        ui.end_row();
                    }
                });
            });
    }
}
