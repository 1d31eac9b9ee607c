//! The Verify view: runs the evaluation's album mode on the opened photos in the background
//! and shows, as a live plot and in plain words, how well a freshly trained model learns the
//! clean versus the protected copies, also after JPEG compression and resizing.

use std::time::Instant;

use crate::eval::album::{MIN_PHOTOS, defence_words, plain_summary};
use crate::gui::app::{App, Command};

const COLORS: [egui::Color32; 5] = [
    egui::Color32::from_rgb(120, 120, 130),
    egui::Color32::from_rgb(60, 170, 90),
    egui::Color32::from_rgb(230, 140, 40),
    egui::Color32::from_rgb(150, 90, 200),
    egui::Color32::from_rgb(60, 140, 220),
];

/// Draw the view.
pub fn show(ui: &mut egui::Ui, app: &mut App, commands: &mut Vec<Command>) {
    ui.heading("Does the protection work on these photos?");
    ui.add(
        egui::Label::new(
            "We set aside a quarter of your photos, untouched. Then we train one small AI model on \
             clean copies of the rest and others on the protected copies (also after JPEG \
             compression and resizing, as websites do), and see how well each recognises the \
             photos set aside. If the protection works, the models trained on protected copies \
             do much worse.",
        )
        .wrap(),
    );
    ui.add_space(6.0);
    let n = app.photos.items.len();
    if let Some(task) = &app.verify {
        ui.add(
            egui::ProgressBar::new(task.progress.fraction())
                .show_percentage()
                .animate(true),
        );
        ui.label(task.progress.line(Instant::now()));
        if task.cancelling {
            ui.label("Stopping…");
        } else if ui.button("⏹ Stop the check").clicked() {
            commands.push(Command::Cancel);
        }
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(250));
    } else {
        let ok = n >= MIN_PHOTOS && !app.busy();
        let label = format!("▶ Check protection with “{}”", app.settings.method.title());
        if ui
            .add_enabled(ok, egui::Button::new(label))
            .on_hover_text(
                "Uses the method and strength chosen on the left. Takes a minute or two.",
            )
            .on_disabled_hover_text(format!(
                "Needs at least {MIN_PHOTOS} photos and no other run in progress"
            ))
            .clicked()
        {
            commands.push(Command::Verify);
        }
    }
    ui.add_space(6.0);
    if !app.verify_curves.is_empty() {
        let chance = app
            .verify_report
            .as_ref()
            .map(|r| 1.0 / r.classes.len().max(1) as f32);
        chart(ui, &app.verify_curves, chance);
    }
    if let Some(report) = &app.verify_report {
        ui.add_space(6.0);
        for line in plain_summary(report) {
            ui.add(egui::Label::new(format!("• {line}")).wrap());
        }
        let v = &report.visibility;
        ui.small(format!(
            "Visibility on the checked photos: PSNR {:.1} dB, SSIM {:.3}, colour cast ΔE {:.2}, grain in smooth areas {:.1}/255.",
            v.psnr_mean, v.ssim_mean, v.cast_mean, v.flat_noise_mean
        ));
    }
}

/// Test accuracy per training pass, one line per model.
fn chart(ui: &mut egui::Ui, curves: &[(String, String, Vec<f32>)], chance: Option<f32>) {
    let width = ui.available_width().min(640.0);
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 240.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals();
    painter.rect_filled(rect, 4.0, visuals.extreme_bg_color);
    let plot = egui::Rect::from_min_max(
        rect.min + egui::vec2(44.0, 10.0),
        rect.max - egui::vec2(10.0, 24.0),
    );
    let epochs = curves.iter().map(|c| c.2.len()).max().unwrap_or(1).max(2);
    let to_screen = |e: usize, acc: f32| {
        egui::pos2(
            plot.min.x + (e as f32 - 1.0) / (epochs as f32 - 1.0) * plot.width(),
            plot.max.y - acc.clamp(0.0, 1.0) * plot.height(),
        )
    };
    let grid = egui::Stroke::new(1.0, visuals.weak_text_color().gamma_multiply(0.4));
    for pct in [0, 25, 50, 75, 100] {
        let y = plot.max.y - pct as f32 / 100.0 * plot.height();
        painter.hline(plot.x_range(), y, grid);
        painter.text(
            egui::pos2(plot.min.x - 6.0, y),
            egui::Align2::RIGHT_CENTER,
            format!("{pct} %"),
            egui::FontId::proportional(11.0),
            visuals.weak_text_color(),
        );
    }
    painter.text(
        egui::pos2(plot.center().x, rect.max.y - 4.0),
        egui::Align2::CENTER_BOTTOM,
        "training passes (left to right); height: share of set-aside photos recognised",
        egui::FontId::proportional(11.0),
        visuals.weak_text_color(),
    );
    if let Some(c) = chance {
        let y = to_screen(1, c).y;
        painter.add(egui::Shape::dashed_line(
            &[egui::pos2(plot.min.x, y), egui::pos2(plot.max.x, y)],
            egui::Stroke::new(1.0, visuals.weak_text_color()),
            6.0,
            4.0,
        ));
    }
    for (k, (_, _, curve)) in curves.iter().enumerate() {
        let pts: Vec<egui::Pos2> = curve
            .iter()
            .enumerate()
            .map(|(e, &a)| to_screen(e + 1, a))
            .collect();
        let color = COLORS[k % COLORS.len()];
        if pts.len() == 1 {
            painter.circle_filled(pts[0], 3.0, color);
        } else {
            painter.add(egui::Shape::line(pts, egui::Stroke::new(2.0, color)));
        }
    }
    ui.horizontal_wrapped(|ui| {
        for (k, (name, defence, _)) in curves.iter().enumerate() {
            let text = if name == "clean" {
                "trained on clean copies".to_string()
            } else {
                format!("trained on protected copies {}", defence_words(defence))
            };
            ui.colored_label(COLORS[k % COLORS.len()], format!("— {text}"));
        }
        if chance.is_some() {
            ui.weak("- - guessing");
        }
    });
}
