//! Dismissible notifications in the bottom-right corner: errors stay until dismissed,
//! information fades after a few seconds. Nothing the user does ends in a crash dialog.

use std::time::{Duration, Instant};

/// How important a notification is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something finished.
    Info,
    /// Worth reading (lossy export, photos skipped).
    Warning,
    /// Something failed.
    Error,
}

/// One notification.
#[derive(Clone, Debug)]
pub struct Toast {
    /// Importance.
    pub level: Level,
    /// Text.
    pub text: String,
    created: Instant,
}

/// The notification list.
#[derive(Default)]
pub struct Toasts {
    /// Current notifications, oldest first.
    pub items: Vec<Toast>,
}

const INFO_LIFETIME: Duration = Duration::from_secs(8);

impl Toasts {
    /// Add a notification.
    pub fn push(&mut self, level: Level, text: impl Into<String>) {
        self.items.push(Toast {
            level,
            text: text.into(),
            created: Instant::now(),
        });
    }

    /// Informational notification.
    pub fn info(&mut self, text: impl Into<String>) {
        self.push(Level::Info, text);
    }

    /// Error notification.
    pub fn error(&mut self, text: impl Into<String>) {
        self.push(Level::Error, text);
    }

    /// Draw them; returns nothing, dismissing happens in place.
    pub fn show(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        self.items
            .retain(|t| t.level != Level::Info || now.duration_since(t.created) < INFO_LIFETIME);
        if self.items.is_empty() {
            return;
        }
        if self.items.iter().any(|t| t.level == Level::Info) {
            ctx.request_repaint_after(Duration::from_millis(500));
        }
        let mut dismiss = None;
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -36.0))
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                ui.set_max_width(380.0);
                for (i, t) in self.items.iter().enumerate() {
                    let (icon, color) = match t.level {
                        Level::Info => ("ℹ", ui.visuals().hyperlink_color),
                        Level::Warning => ("⚠", ui.visuals().warn_fg_color),
                        Level::Error => ("⛔", ui.visuals().error_fg_color),
                    };
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.horizontal(|ui| {
                            ui.colored_label(color, icon);
                            ui.add(egui::Label::new(&t.text).wrap());
                            if ui.small_button("🗙").on_hover_text("Dismiss").clicked() {
                                dismiss = Some(i);
                            }
                        });
                    });
                }
            });
        if let Some(i) = dismiss {
            self.items.remove(i);
        }
    }
}
