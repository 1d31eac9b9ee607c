//! Menu bar and the view switcher.

use crate::gui::app::{App, Command, Screen};
use crate::gui::settings::ThemeChoice;

/// Draw the top bar.
pub fn show(ui: &mut egui::Ui, app: &mut App, commands: &mut Vec<Command>) {
    egui::Panel::top("top").show(ui, |ui| {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open folder…").on_hover_text("Ctrl+O").clicked() {
                    commands.push(Command::OpenFolderDialog);
                }
                if ui
                    .button("Add photos…")
                    .on_hover_text("Ctrl+Shift+O")
                    .clicked()
                {
                    commands.push(Command::AddPhotosDialog);
                }
                ui.menu_button("Recent folders", |ui| {
                    if app.settings.recent.is_empty() {
                        ui.label("None yet");
                    }
                    for p in app.settings.recent.clone() {
                        if ui.button(p.display().to_string()).clicked() {
                            commands.push(Command::Open(vec![p]));
                        }
                    }
                });
                ui.separator();
                if ui
                    .add_enabled(!app.busy(), egui::Button::new("Export…"))
                    .on_hover_text("Ctrl+E")
                    .clicked()
                {
                    commands.push(Command::OpenExport);
                }
                if ui
                    .add_enabled(!app.busy(), egui::Button::new("Close all photos"))
                    .clicked()
                {
                    commands.push(Command::ClearPhotos);
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    commands.push(Command::Quit);
                }
            });
            ui.menu_button("View", |ui| {
                ui.label("Theme");
                for (t, name) in [
                    (ThemeChoice::System, "Follow the system"),
                    (ThemeChoice::Light, "Light"),
                    (ThemeChoice::Dark, "Dark"),
                ] {
                    ui.radio_value(&mut app.settings.theme, t, name);
                }
            });
            ui.menu_button("Help", |ui| {
                if ui
                    .button("Keyboard shortcuts")
                    .on_hover_text("F1")
                    .clicked()
                {
                    app.show_shortcuts = true;
                }
            });
            ui.separator();
            ui.selectable_value(&mut app.screen, Screen::Photos, "🖼 Photos")
                .on_hover_text("All opened photos (G)");
            let can_compare = app.selected.is_some();
            ui.add_enabled_ui(can_compare, |ui| {
                if ui
                    .selectable_label(app.screen == Screen::Compare, "🔍 Compare")
                    .on_hover_text("Original, noise and protected copy of the selected photo")
                    .on_disabled_hover_text("Protect the photos, then select one")
                    .clicked()
                {
                    commands.push(Command::Show(Screen::Compare));
                }
            });
            ui.selectable_value(&mut app.screen, Screen::Verify, "✅ Verify")
                .on_hover_text("Check that the protection works on these photos");
        });
    });
}
