//! Benchmark: does the UI stay responsive while a job runs? Drives the real app headlessly
//! (egui_kittest, wgpu on whatever adapter kittest picks — lavapipe here) and times every
//! frame (logic + layout + tessellation + wgpu render) while idle, while protecting an album,
//! and in the compare view while panning and zooming.
//! Usage: `cargo run --example frame_times -- <folder> [method] [frames]` (frames 0: only
//! time the thumbnails: first one and all).
//! Prints Markdown table rows.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use unlearnable::gui::App;
use unlearnable::gui::app::Command;
use unlearnable::protect::MethodId;

/// p50 / p95 / max of a list of milliseconds.
fn quantiles(mut t: Vec<f64>) -> String {
    if t.is_empty() {
        return "– | – | –".into();
    }
    t.sort_by(f64::total_cmp);
    let q = |p: f64| t[((t.len() - 1) as f64 * p).round() as usize];
    format!("{:.1} | {:.1} | {:.1}", q(0.5), q(0.95), t[t.len() - 1])
}

fn stats(name: &str, t: Vec<(f64, f64)>) {
    let n = t.len();
    let (ui, render): (Vec<f64>, Vec<f64>) = t.into_iter().unzip();
    println!(
        "| {name} | {n} | {} | {} |",
        quantiles(ui),
        quantiles(render)
    );
}

/// One frame: `(UI thread: logic + layout + tessellation, wgpu render)` in ms.
fn frame(h: &mut Harness<'static, App>) -> (f64, f64) {
    let t = Instant::now();
    h.step();
    let ui = t.elapsed().as_secs_f64() * 1000.0;
    // Render, so the wgpu paint callbacks and texture uploads are measured too.
    let t = Instant::now();
    let _ = h.render();
    (ui, t.elapsed().as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let folder = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("assets/samples"));
    let method = args
        .get(2)
        .and_then(|m| MethodId::from_id(m))
        .unwrap_or(MethodId::Em);
    let idle_frames: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(60);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_eframe(|cc| App::new(cc, Vec::new()));
    h.state_mut().settings.method = method;
    h.state_mut().handle(Command::Open(vec![folder]));
    let start = Instant::now();
    let mut first_thumb: Option<Duration> = None;
    while h.state().photos.scanning
        || h.state()
            .photos
            .items
            .iter()
            .any(|i| i.thumb.is_none() && i.thumb_error.is_none())
    {
        // Only the UI step here: the question is when thumbnails arrive, not render cost.
        h.step();
        if first_thumb.is_none() && h.state().photos.items.iter().any(|i| i.thumb.is_some()) {
            first_thumb = Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(600),
            "thumbnails timed out"
        );
    }
    let photos = h.state().photos.items.len();
    println!(
        "{photos} photos: first thumbnail after {:.2} s, all after {:.2} s",
        first_thumb.unwrap_or_default().as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    if idle_frames == 0 {
        return Ok(());
    }
    let idle: Vec<(f64, f64)> = (0..idle_frames).map(|_| frame(&mut h)).collect();

    h.state_mut().handle(Command::Protect);
    let mut running = Vec::new();
    let run_start = Instant::now();
    while h.state().protect.is_some() {
        running.push(frame(&mut h));
        std::thread::sleep(Duration::from_millis(5));
    }
    let run_secs = run_start.elapsed().as_secs_f64();

    h.state_mut().handle(Command::Select(0));
    while h.state().preview.is_none() {
        frame(&mut h);
        anyhow::ensure!(h.state().preview_error.is_none(), "preview failed");
    }
    let mut compare = Vec::new();
    let pane = h.state().preview.as_ref().map(|p| (p.width, p.height));
    for k in 0..idle_frames {
        // Alternate zoom steps and pans through the shared transform, as the mouse would.
        if let Some((w, hgt)) = pane {
            let image = egui::vec2(w as f32, hgt as f32);
            let rect =
                egui::Rect::from_min_size(egui::pos2(320.0, 120.0), egui::vec2(300.0, 600.0));
            let view = &mut h.state_mut().view;
            if k % 2 == 0 {
                view.zoom_at(image, rect, rect.center(), 1.05);
            } else {
                view.pan(image, rect, egui::vec2(3.0, 1.0));
            }
        }
        compare.push(frame(&mut h));
    }
    println!(
        "{photos} photos from {}, method {}, run {run_secs:.1} s",
        args.get(1).map(String::as_str).unwrap_or("assets/samples"),
        method.id()
    );
    println!(
        "| phase | frames | UI p50 ms | UI p95 | UI max | render p50 ms | render p95 | render max |\n|---|---|---|---|---|---|---|---|"
    );
    stats("idle (grid)", idle);
    stats("during the protection run", running);
    stats("compare view, zooming and panning", compare);
    Ok(())
}
