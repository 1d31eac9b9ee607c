//! The thumbnail grid: every opened photo with its state (waiting, protecting, done, failed
//! with the reason on hover). Only visible rows are laid out, so large folders stay smooth.

use crate::gui::app::{App, Command};
use crate::gui::photos::{PhotoState, THUMB_SIDE};

const CELL: f32 = THUMB_SIDE as f32 + 16.0;
const LABEL_H: f32 = 18.0;

/// Draw the grid.
pub fn show(ui: &mut egui::Ui, app: &mut App, commands: &mut Vec<Command>) {
    let items = &app.photos.items;
    if items.is_empty() {
        ui.centered_and_justified(|ui| {
            if app.photos.scanning {
                ui.spinner();
            } else {
                ui.label(
                    egui::RichText::new(
                        "Open a folder of photos, or drop folders and photos here.\n\n\
                         Unlearnable adds a faint pattern that makes your photos useless for \
                         training AI models. Your originals are never changed.",
                    )
                    .size(16.0),
                );
            }
        });
        return;
    }
    let gap = ui.spacing().item_spacing.x;
    let per_row = (((ui.available_width() + gap) / (CELL + gap)).floor() as usize).max(1);
    let rows = items.len().div_ceil(per_row);
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, CELL + LABEL_H, rows, |ui, range| {
            for row in range {
                ui.horizontal(|ui| {
                    for i in row * per_row..((row + 1) * per_row).min(items.len()) {
                        if cell(ui, app, i) {
                            commands.push(Command::Select(i));
                        }
                    }
                });
            }
        });
}

/// One cell; returns whether it was clicked.
fn cell(ui: &mut egui::Ui, app: &App, i: usize) -> bool {
    let item = &app.photos.items[i];
    let selected = app.selected == Some(i);
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(CELL, CELL + LABEL_H), egui::Sense::click());
    response
        .widget_info(|| egui::WidgetInfo::selected(egui::Role::Button, true, selected, &item.name));
    let visuals = ui.visuals();
    let painter = ui.painter_at(rect);
    if selected {
        painter.rect_filled(rect, 6.0, visuals.selection.bg_fill.gamma_multiply(0.5));
    } else if response.hovered() {
        painter.rect_filled(rect, 6.0, visuals.widgets.hovered.weak_bg_fill);
    }
    let thumb_area = egui::Rect::from_min_size(
        rect.min + egui::vec2(8.0, 8.0),
        egui::vec2(THUMB_SIDE as f32, THUMB_SIDE as f32),
    );
    match (&item.thumb, &item.thumb_error) {
        (Some(tex), _) => {
            let size = tex.size_vec2();
            let scale = (thumb_area.width() / size.x).min(thumb_area.height() / size.y);
            let r = egui::Rect::from_center_size(thumb_area.center(), size * scale);
            painter.image(
                tex.id(),
                r,
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                egui::Color32::WHITE,
            );
        }
        (None, Some(_)) => {
            painter.rect_filled(thumb_area, 4.0, visuals.extreme_bg_color);
            painter.text(
                thumb_area.center(),
                egui::Align2::CENTER_CENTER,
                "⚠ unreadable",
                egui::FontId::proportional(14.0),
                visuals.error_fg_color,
            );
        }
        (None, None) => {
            painter.rect_filled(thumb_area, 4.0, visuals.extreme_bg_color);
        }
    }
    // State badge in the top-right corner.
    let badge = egui::pos2(thumb_area.max.x - 12.0, thumb_area.min.y + 12.0);
    let (symbol, color, tip): (&str, egui::Color32, String) = match &item.state {
        PhotoState::Waiting => ("", egui::Color32::TRANSPARENT, "Not protected yet".into()),
        PhotoState::Protecting => ("⏳", visuals.warn_fg_color, "Being protected…".into()),
        PhotoState::Done { seen, .. } => (
            "✔",
            egui::Color32::from_rgb(60, 170, 90),
            format!(
                "Protected (PSNR {:.1} dB, SSIM {:.3}, colour cast ΔE {:.2}, grain in smooth areas {:.1}/255). Click to compare.",
                seen.psnr_db, seen.ssim, seen.cast_de00, seen.flat_noise_255
            ),
        ),
        PhotoState::Failed(why) => (
            "✖",
            visuals.error_fg_color,
            format!("Could not be protected: {why}"),
        ),
    };
    if !symbol.is_empty() {
        painter.circle_filled(badge, 11.0, egui::Color32::from_black_alpha(170));
        painter.text(
            badge,
            egui::Align2::CENTER_CENTER,
            symbol,
            egui::FontId::proportional(14.0),
            color,
        );
    }
    let name = egui::WidgetText::from(item.name.as_str());
    let galley = name.into_galley(
        ui,
        Some(egui::TextWrapMode::Truncate),
        CELL - 8.0,
        egui::TextStyle::Small,
    );
    painter.galley(
        egui::pos2(rect.min.x + 4.0, rect.max.y - LABEL_H),
        galley,
        visuals.text_color(),
    );
    let mut hover = format!("{}\n{tip}", item.path.display());
    if let Some(e) = &item.thumb_error {
        hover.push_str(&format!("\nCannot be read: {e}"));
    }
    response.on_hover_text(hover).clicked()
}
