//! Keyboard shortcuts for the common actions, in one table so the help window and the
//! handling never disagree.

use egui::{Key, KeyboardShortcut, Modifiers};

use crate::gui::app::{App, Command, Screen};

/// `(shortcut, what it does)`, for the help window.
pub const TABLE: &[(&str, &str)] = &[
    ("Ctrl+O", "Open a folder"),
    ("Ctrl+Shift+O", "Add photos"),
    ("Ctrl+P", "Protect"),
    ("Esc", "Stop the run / close a window"),
    ("Ctrl+E", "Export"),
    ("Left / Right", "Previous / next photo"),
    ("F", "Fit the photo in the panes"),
    ("1", "Zoom to 1:1"),
    ("S", "Switch side-by-side / split"),
    ("G", "Back to the photo grid"),
    ("F1", "This list"),
];

/// Commands triggered by keys this frame.
pub fn commands(ctx: &egui::Context, app: &mut App) -> Vec<Command> {
    let mut out = Vec::new();
    let typing = ctx.egui_wants_keyboard_input();
    let ctrl = |k| KeyboardShortcut::new(Modifiers::COMMAND, k);
    ctx.input_mut(|i| {
        if i.consume_shortcut(&KeyboardShortcut::new(
            Modifiers::COMMAND | Modifiers::SHIFT,
            Key::O,
        )) {
            out.push(Command::AddPhotosDialog);
        }
        if i.consume_shortcut(&ctrl(Key::O)) {
            out.push(Command::OpenFolderDialog);
        }
        if i.consume_shortcut(&ctrl(Key::P)) {
            out.push(Command::Protect);
        }
        if i.consume_shortcut(&ctrl(Key::E)) {
            out.push(Command::OpenExport);
        }
        if i.key_pressed(Key::Escape) {
            if app.export_window.open || app.show_shortcuts || app.confirm_close {
                app.export_window.open = false;
                app.show_shortcuts = false;
                app.confirm_close = false;
            } else if app.busy() {
                out.push(Command::Cancel);
            }
        }
        if i.key_pressed(Key::F1) {
            app.show_shortcuts = !app.show_shortcuts;
        }
        if typing {
            return;
        }
        if i.key_pressed(Key::ArrowRight) {
            out.push(Command::Step(1));
        }
        if i.key_pressed(Key::ArrowLeft) {
            out.push(Command::Step(-1));
        }
        if i.key_pressed(Key::G) {
            out.push(Command::Show(Screen::Photos));
        }
        if app.screen == Screen::Compare {
            if i.key_pressed(Key::F) {
                app.view.fit();
            }
            if i.key_pressed(Key::Num1)
                && let Some(p) = &app.preview
            {
                let ppp = i.pixels_per_point;
                app.view
                    .one_to_one(egui::vec2(p.width as f32, p.height as f32), ppp);
            }
            if i.key_pressed(Key::S) {
                use crate::gui::settings::CompareLayout;
                app.settings.layout = match app.settings.layout {
                    CompareLayout::SideBySide => CompareLayout::Split,
                    CompareLayout::Split => CompareLayout::SideBySide,
                };
            }
        }
    });
    out
}
