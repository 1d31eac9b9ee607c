//! Panels draw the app's state and emit [`Command`](super::app::Command)s; they change
//! nothing but plain settings and view state themselves.

pub mod compare;
pub mod controls;
pub mod dialogs;
pub mod export;
pub mod grid;
pub mod shortcuts;
pub mod status;
pub mod top;
pub mod verify;

/// While files are dragged over the window, say what dropping them does.
pub fn drop_hint(ctx: &egui::Context) {
    let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
    if !hovering {
        return;
    }
    let screen = ctx.content_rect();
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop hint"),
    ));
    painter.rect_filled(screen, 0.0, egui::Color32::from_black_alpha(160));
    painter.text(
        screen.center(),
        egui::Align2::CENTER_CENTER,
        "Drop folders or photos to add them",
        egui::FontId::proportional(24.0),
        egui::Color32::WHITE,
    );
}
