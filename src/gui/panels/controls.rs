//! The left panel: choose (method, strength, quality, device), protect (progress, ETA,
//! cancel), then export. Every control has a plain-language tooltip.

use std::time::Instant;

use crate::config::{Quality, Strength};
use crate::device::DeviceChoice;
use crate::gui::app::{App, Command};
use crate::protect::MethodId;

fn quality_text(q: Quality) -> (&'static str, &'static str) {
    match q {
        Quality::Fast => ("Fast", "Fewest training rounds: good protection, quickest."),
        Quality::Balanced => ("Balanced", "More rounds and a larger working copy."),
        Quality::Thorough => (
            "Thorough",
            "Most rounds and the largest model: slowest (use a GPU). On a processor the noise \
             of the error-minimizing methods can show as faint blotches on smooth skies, \
             depending on the seed: check at 1:1 before sharing.",
        ),
    }
}

fn device_text(d: DeviceChoice) -> (&'static str, &'static str) {
    match d {
        DeviceChoice::Auto => (
            "Automatic",
            "Uses a graphics card if there is one, otherwise the processor.",
        ),
        DeviceChoice::Wgpu => (
            "Graphics card (WGPU)",
            "Any graphics card through Vulkan, Metal or DirectX; also a software driver.",
        ),
        DeviceChoice::Cuda => (
            "NVIDIA CUDA",
            "Needs an NVIDIA card and a build with CUDA support.",
        ),
        DeviceChoice::Cpu => (
            "Processor (CPU)",
            "Works everywhere; slower for large albums.",
        ),
        DeviceChoice::Libtorch => (
            "Processor, PyTorch kernels",
            "The processor through LibTorch: faster than the built-in kernels where this build has it.",
        ),
    }
}

/// Draw the panel.
pub fn show(ui: &mut egui::Ui, app: &mut App, commands: &mut Vec<Command>) {
    egui::Panel::left("controls")
        .resizable(true)
        .default_size(300.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.add_space(6.0);
                open_section(ui, app, commands);
                ui.separator();
                ui.add_enabled_ui(app.protect.is_none(), |ui| choose_section(ui, app));
                ui.separator();
                protect_section(ui, app, commands);
            });
        });
}

fn open_section(ui: &mut egui::Ui, app: &mut App, commands: &mut Vec<Command>) {
    ui.heading("1 · Photos");
    ui.horizontal(|ui| {
        if ui
            .button("📂 Open folder…")
            .on_hover_text("Choose a folder; photos in sub-folders are included (Ctrl+O)")
            .clicked()
        {
            commands.push(Command::OpenFolderDialog);
        }
        if ui
            .button("➕ Add photos…")
            .on_hover_text("Choose individual photos (Ctrl+Shift+O)")
            .clicked()
        {
            commands.push(Command::AddPhotosDialog);
        }
    });
    ui.small("…or drag folders and photos onto the window.");
    if !app.settings.recent.is_empty() && app.photos.sources.is_empty() {
        ui.label("Recent:");
        for p in app.settings.recent.clone().into_iter().take(4) {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string());
            if ui
                .link(format!("📁 {name}"))
                .on_hover_text(p.display().to_string())
                .clicked()
            {
                commands.push(Command::Open(vec![p]));
            }
        }
    }
}

fn choose_section(ui: &mut egui::Ui, app: &mut App) {
    let s = &mut app.settings;
    ui.heading("2 · Protection");
    egui::ComboBox::from_label("Method")
        .selected_text(s.method.title())
        .width(220.0)
        .show_ui(ui, |ui| {
            for m in MethodId::ALL.into_iter().filter(|m| m.in_app()) {
                ui.selectable_value(&mut s.method, m, m.title())
                    .on_hover_text(m.explain());
            }
        })
        .response
        .on_hover_text("How the invisible pattern is made. Hover each choice for details.");
    ui.add(egui::Label::new(egui::RichText::new(s.method.explain()).small()).wrap());
    if s.method.uses_classes() {
        ui.small(
            "Works best with one sub-folder per subject; a flat folder is grouped automatically.",
        );
    }

    ui.add_space(6.0);
    ui.label("Strength").on_hover_text(
        "How large the changes may be. Stronger protects more but is easier to see.",
    );
    ui.horizontal(|ui| {
        for st in Strength::ALL {
            let name = match st {
                Strength::Low => "Low",
                Strength::Medium => "Medium",
                Strength::High => "High",
            };
            if ui
                .selectable_label(s.strength == Some(st), name)
                .on_hover_text(st.explain())
                .clicked()
            {
                s.strength = Some(st);
                s.epsilon_255 = st.epsilon_255();
            }
        }
        if ui
            .selectable_label(s.strength.is_none(), "Custom")
            .on_hover_text("Set the exact limit yourself")
            .clicked()
        {
            s.epsilon_255 = s.epsilon_255();
            s.strength = None;
        }
    });
    if let Some(st) = s.strength {
        ui.small(st.explain());
    } else {
        ui.add(
            egui::Slider::new(&mut s.epsilon_255, 1.0..=32.0)
                .step_by(1.0)
                .text("ε (of 255)"),
        )
        .on_hover_text(
            "No colour value of any pixel changes by more than this many steps out of 255.",
        );
    }

    if s.method.is_training_based() {
        ui.add_space(6.0);
        egui::ComboBox::from_label("Speed")
            .selected_text(quality_text(s.quality).0)
            .show_ui(ui, |ui| {
                for q in [Quality::Fast, Quality::Balanced, Quality::Thorough] {
                    let (name, tip) = quality_text(q);
                    ui.selectable_value(&mut s.quality, q, name)
                        .on_hover_text(tip);
                }
            })
            .response
            .on_hover_text("Trade time for strength of the learned pattern.");
    }

    ui.add_space(6.0);
    egui::ComboBox::from_label("Compute on")
        .selected_text(device_text(s.device).0)
        .show_ui(ui, |ui| {
            // LibTorch is listed only in builds that have it (an opt-in, technical build).
            let libtorch = cfg!(feature = "libtorch").then_some(DeviceChoice::Libtorch);
            for d in [
                DeviceChoice::Auto,
                DeviceChoice::Wgpu,
                DeviceChoice::Cuda,
                DeviceChoice::Cpu,
            ]
            .into_iter()
            .chain(libtorch)
            {
                let (name, tip) = device_text(d);
                ui.selectable_value(&mut s.device, d, name)
                    .on_hover_text(tip);
            }
        })
        .response
        .on_hover_text(device_text(s.device).1);
}

fn protect_section(ui: &mut egui::Ui, app: &mut App, commands: &mut Vec<Command>) {
    ui.heading("3 · Protect");
    let now = Instant::now();
    if let Some(task) = &app.protect {
        let p = &task.progress;
        ui.add(
            egui::ProgressBar::new(p.fraction())
                .show_percentage()
                .animate(true),
        );
        ui.label(p.line(now));
        if p.photos > 0 {
            ui.small(format!(
                "{} photos · running for {}",
                p.photos,
                crate::gui::tasks::human_duration(p.elapsed(now).as_secs_f64())
            ));
        }
        if task.cancelling {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Stopping…");
            });
        } else if ui
            .button("⏹ Cancel")
            .on_hover_text("Stop now; photos already protected are kept (Esc)")
            .clicked()
        {
            commands.push(Command::Cancel);
        }
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(250));
        return;
    }
    let has_photos = !app.photos.items.is_empty();
    let button = egui::Button::new(egui::RichText::new("🛡 Protect photos").heading())
        .min_size(egui::vec2(200.0, 36.0));
    if ui
        .add_enabled(has_photos && !app.busy(), button)
        .on_hover_text(
            "Protect every photo with these settings (Ctrl+P). Originals are never changed.",
        )
        .on_disabled_hover_text("Open some photos first")
        .clicked()
    {
        commands.push(Command::Protect);
    }
    if let Some(left) = app.can_continue()
        && ui
            .add_enabled(!app.busy(), egui::Button::new(format!("▶ Continue ({left} left)")))
            .on_hover_text(
                "Finish the stopped run with the same settings: photos it already protected are kept",
            )
            .clicked()
    {
        commands.push(Command::ContinueProtect);
    }
    if (1..app.settings.method.min_photos()).contains(&app.photos.items.len()) {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "⚠ This method learns from several photos: add at least one more photo.",
        );
    }
    if let Some(run) = &app.last_run {
        let s = &run.manifest.summary;
        ui.add_space(6.0);
        ui.label(format!(
            "Last run: {} protected{} in {}.",
            s.done,
            if s.failed > 0 {
                format!(", {} failed", s.failed)
            } else {
                String::new()
            },
            crate::gui::tasks::human_duration(s.seconds)
        ));
        if let Some(p) = s.worst_psnr_db {
            ui.small(format!(
                "Most visible change: PSNR {p:.1} dB (above 35 dB is hard to see)."
            ));
        }
        ui.add_space(6.0);
        ui.heading("4 · Export");
        if ui
            .add_enabled(
                s.done > 0 && app.export.is_none(),
                egui::Button::new("💾 Export…").min_size(egui::vec2(200.0, 30.0)),
            )
            .on_hover_text("Save the protected copies to a folder you choose (Ctrl+E)")
            .clicked()
        {
            commands.push(Command::OpenExport);
        }
    }
}
