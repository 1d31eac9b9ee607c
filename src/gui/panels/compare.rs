//! The compare view: original | noise (amplified) | protected, or a split view, with one
//! shared zoom/pan (wheel or pinch to zoom at the cursor, drag to pan, double-click to toggle
//! fit/1:1) and PSNR/SSIM badges. Pixels are drawn by the WGSL shader (viewer::gpu).

use std::sync::Arc;

use crate::gui::app::{App, Command, Screen};
use crate::gui::photos::PhotoState;
use crate::gui::settings::CompareLayout;
use crate::gui::viewer::gpu::{PaneCallback, PaneMode, PaneUniforms, pane_shape};
use crate::gui::viewer::preview::PreviewPair;

/// Draw the view.
pub fn show(ui: &mut egui::Ui, app: &mut App, commands: &mut Vec<Command>) {
    let Some(i) = app.selected else {
        ui.label("Select a photo in the grid.");
        return;
    };
    if app.photos.items.get(i).is_none() {
        return;
    }
    toolbar(ui, app, commands);
    ui.separator();
    let item = &app.photos.items[i];
    match &item.state {
        PhotoState::Done { .. } => {}
        PhotoState::Failed(why) => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("This photo could not be protected: {why}"),
            );
            return;
        }
        _ => {
            ui.label("This photo is not protected yet. Press “Protect photos” first.");
            if ui.button("Back to the photos").clicked() {
                commands.push(Command::Show(Screen::Photos));
            }
            return;
        }
    }
    let pair = match &app.preview {
        Some(p) if p.source == item.path => p.clone(),
        _ => {
            if let Some(e) = &app.preview_error {
                ui.colored_label(ui.visuals().error_fg_color, e);
            } else {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Loading the photo…");
                });
            }
            return;
        }
    };
    let Some(format) = app.target_format else {
        ui.label("The compare view needs the GPU renderer (wgpu), which is not active.");
        return;
    };
    badges(ui, &pair);
    let area = ui.available_rect_before_wrap();
    let gap = 6.0;
    let title_h = 22.0;
    let amp = app.settings.amplify;
    let noise = if app.settings.heat_map {
        (PaneMode::Heat, format!("Difference heat map ×{amp:.0}"))
    } else {
        (PaneMode::Noise, format!("Noise ×{amp:.0}"))
    };
    let panes: Vec<(PaneMode, String)> = match app.settings.layout {
        CompareLayout::SideBySide => vec![
            (PaneMode::Clean, "Original".into()),
            noise,
            (PaneMode::Protected, "Protected".into()),
        ],
        CompareLayout::Split => vec![(
            PaneMode::Split,
            "Original ◀ drag the line ▶ Protected".into(),
        )],
    };
    let n = panes.len() as f32;
    app.pane_rects.clear();
    let w = ((area.width() - gap * (n - 1.0)) / n).max(10.0);
    for (k, (mode, title)) in panes.into_iter().enumerate() {
        let x = area.min.x + k as f32 * (w + gap);
        let title_rect =
            egui::Rect::from_min_size(egui::pos2(x, area.min.y), egui::vec2(w, title_h));
        ui.put(
            title_rect,
            egui::Label::new(egui::RichText::new(title).strong()),
        );
        let rect = egui::Rect::from_min_max(
            egui::pos2(x, area.min.y + title_h),
            egui::pos2(x + w, area.max.y),
        );
        app.pane_rects.push((mode, rect));
        pane(ui, app, &pair, k as u32, mode, rect, format);
    }
    ui.advance_cursor_after_rect(area);
}

fn toolbar(ui: &mut egui::Ui, app: &mut App, commands: &mut Vec<Command>) {
    let Some(i) = app.selected else { return };
    let name = app.photos.items[i].name.clone();
    ui.horizontal(|ui| {
        if ui
            .button("◀")
            .on_hover_text("Previous photo (Left arrow)")
            .clicked()
        {
            commands.push(Command::Step(-1));
        }
        if ui
            .button("▶")
            .on_hover_text("Next photo (Right arrow)")
            .clicked()
        {
            commands.push(Command::Step(1));
        }
        ui.strong(name);
        ui.separator();
        let s = &mut app.settings;
        ui.selectable_value(&mut s.layout, CompareLayout::SideBySide, "Side by side")
            .on_hover_text("Original, noise and protected copy next to each other (S)");
        ui.selectable_value(&mut s.layout, CompareLayout::Split, "Split")
            .on_hover_text("One view: original left of the line, protected right (S)");
        ui.separator();
        ui.add(
            egui::Slider::new(&mut s.amplify, 1.0..=50.0)
                .logarithmic(true)
                .text("noise ×"),
        )
        .on_hover_text(
            "The noise is tiny; it is multiplied by this factor so you can see its pattern. \
             ×1 is its true size.",
        );
        ui.checkbox(&mut s.heat_map, "Heat map")
            .on_hover_text("Show how much each pixel changed (dark = unchanged, bright = most)");
        ui.separator();
        if ui.button("Fit").on_hover_text("Whole photo (F)").clicked() {
            app.view.fit();
        }
        if ui
            .button("1:1")
            .on_hover_text("One photo pixel per screen pixel (1)")
            .clicked()
            && let Some(p) = &app.preview
        {
            let ppp = ui.ctx().pixels_per_point();
            app.view
                .one_to_one(egui::vec2(p.width as f32, p.height as f32), ppp);
        }
        if let Some(z) = app.view.zoom {
            ui.label(format!("{:.0} %", z * ui.ctx().pixels_per_point() * 100.0));
        }
    });
}

fn badges(ui: &mut egui::Ui, pair: &PreviewPair) {
    ui.horizontal(|ui| {
        let badge = |ui: &mut egui::Ui, text: String, tip: &str| {
            egui::Frame::new()
                .fill(ui.visuals().faint_bg_color)
                .corner_radius(8.0)
                .inner_margin(egui::Margin::symmetric(8, 2))
                .show(ui, |ui| ui.label(text))
                .response
                .on_hover_text(tip);
        };
        badge(
            ui,
            format!("PSNR {:.1} dB", pair.seen.psnr_db),
            "Peak signal-to-noise ratio: higher means less visible. Above about 35 dB changes are hard to see.",
        );
        badge(
            ui,
            format!("SSIM {:.3}", pair.seen.ssim),
            "Structural similarity: 1.000 means identical structure; above 0.95 looks the same to most people.",
        );
        badge(
            ui,
            format!("colour cast ΔE {:.2}", pair.seen.cast_de00),
            "Colour shift over whole regions (CIEDE2000 between the blurred original and protected photo): below 1 is invisible side by side; 2 and more shows as a tint.",
        );
        badge(
            ui,
            format!("smooth-area grain {:.1}/255", pair.seen.flat_noise_255),
            "How much the smooth areas (skies, skin, walls) changed, on average: the eye sees grain there first. Below 1.5/255 is hard to see at 1:1.",
        );
        badge(
            ui,
            format!("largest change {}/255", pair.linf_255),
            "No colour value changed by more than this many steps out of 255.",
        );
        if pair.native != [pair.width, pair.height] {
            badge(
                ui,
                format!("shown at {}×{}", pair.width, pair.height),
                "The photo is larger than the graphics card's texture limit and is shown scaled down.",
            );
        }
    });
}

fn pane(
    ui: &mut egui::Ui,
    app: &mut App,
    pair: &Arc<PreviewPair>,
    index: u32,
    mode: PaneMode,
    rect: egui::Rect,
    format: eframe::egui_wgpu::wgpu::TextureFormat,
) {
    let image = egui::vec2(pair.width as f32, pair.height as f32);
    let id = ui.scope_id().with(("compare pane", index));
    let response = ui.interact(rect, id, egui::Sense::click_and_drag());
    ui.painter()
        .rect_filled(rect, 0.0, ui.visuals().extreme_bg_color);
    // Input: one transform for all panes keeps them in sync.
    if response.hovered() {
        let (scroll, zoom, pointer) = ui.input(|i| {
            (
                i.smooth_scroll_delta.y,
                i.zoom_delta(),
                i.pointer.hover_pos(),
            )
        });
        let factor = zoom * (scroll / 200.0).exp();
        if let Some(p) = pointer
            && (factor - 1.0).abs() > 1e-4
        {
            app.view.zoom_at(image, rect, p, factor);
        }
    }
    let split_x = rect.min.x + app.split * rect.width();
    if mode == PaneMode::Split && response.dragged() {
        if let Some(p) = response.interact_pointer_pos() {
            app.split = ((p.x - rect.min.x) / rect.width()).clamp(0.0, 1.0);
        }
    } else if response.dragged() {
        app.view.pan(image, rect, response.drag_delta());
    }
    if response.double_clicked() {
        if app.view.zoom.is_some() {
            app.view.fit();
        } else {
            let ppp = ui.ctx().pixels_per_point();
            app.view.one_to_one(image, ppp);
        }
    }
    let Some(place) = app.view.place(image, rect) else {
        return;
    };
    let split_in_place = ((split_x - place.rect.min.x) / place.rect.width()).clamp(0.0, 1.0);
    let uniforms = PaneUniforms {
        uv_min: [place.uv.min.x, place.uv.min.y],
        uv_max: [place.uv.max.x, place.uv.max.y],
        mode,
        nearest: place.scale * ui.ctx().pixels_per_point() > 1.0,
        // Zoomed out, sample the mip level whose pixels match screen pixels (no aliasing).
        lod: (1.0 / (place.scale * ui.ctx().pixels_per_point()))
            .log2()
            .clamp(0.0, (pair.clean_rgba.len() as f32 - 1.0).max(0.0)),
        amplify: app.settings.amplify,
        split: split_in_place,
    };
    ui.painter().add(pane_shape(
        place.rect,
        PaneCallback {
            pair: pair.clone(),
            pane: index,
            uniforms,
            target_format: format,
        },
    ));
    if mode == PaneMode::Split {
        let stroke = egui::Stroke::new(2.0, egui::Color32::WHITE);
        ui.painter().vline(split_x, rect.y_range(), stroke);
        ui.painter().circle_filled(
            egui::pos2(split_x, rect.center().y),
            8.0,
            egui::Color32::WHITE,
        );
    }
}
