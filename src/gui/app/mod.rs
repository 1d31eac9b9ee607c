//! The app's state and its one place of change: panels emit [`Command`]s, [`App::handle`]
//! carries them out (starting workers, never computing), and [`App::logic`] takes what the
//! workers reported each frame.

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui_wgpu::wgpu;

mod launch;
mod work;

pub use work::RunPlan;

pub use launch::Launch;
use launch::Shot;

use super::panels;
use super::photos::{PhotoState, Photos};
use super::settings::{STORAGE_KEY, Settings, ThemeChoice};
use super::tasks::Task;
use super::toasts::Toasts;
use super::viewer::ViewTransform;
use super::viewer::preview::{PendingPreview, PreviewPair};
use crate::error::{EvalError, JobError};
use crate::eval::EvalReport;
use crate::job::RunSummary;
use crate::job::export::ExportSummary;

/// Which main view is showing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Thumbnail grid.
    Photos,
    /// Clean | noise | protected for the selected photo.
    Compare,
    /// Does protection work on these photos (album-mode evaluation)?
    Verify,
}

/// Everything a panel can ask for.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Native "choose folder" dialog.
    OpenFolderDialog,
    /// Native "choose photos" dialog.
    AddPhotosDialog,
    /// Add these folders/photos (drag and drop, recent list, command line, tests).
    Open(Vec<PathBuf>),
    /// Forget the opened photos.
    ClearPhotos,
    /// Start protecting every photo with the current settings.
    Protect,
    /// Finish a stopped run (same photos and settings): keep what it wrote, do the rest.
    ContinueProtect,
    /// Stop the running protection or export.
    Cancel,
    /// Select a photo (and show it in the compare view if it is protected).
    Select(usize),
    /// Select the next (+1) or previous (−1) photo.
    Step(i32),
    /// Switch the main view.
    Show(Screen),
    /// Open the export window.
    OpenExport,
    /// Native dialog for the export folder.
    PickExportFolder,
    /// Export every protected photo into this folder.
    Export(PathBuf),
    /// Check protection on the opened photos (album-mode evaluation).
    Verify,
    /// Quit, stopping any run.
    Quit,
}

/// The export window's runtime state.
#[derive(Default)]
pub struct ExportWindow {
    /// Whether it is open.
    pub open: bool,
    /// Folder typed or picked.
    pub folder: String,
    /// Result of the last export, shown as a summary.
    pub summary: Option<ExportSummary>,
}

/// The application.
pub struct App {
    /// Persisted settings.
    pub settings: Settings,
    /// Opened photos.
    pub photos: Photos,
    /// Running protection.
    pub protect: Option<Task<RunSummary, JobError>>,
    /// Running export.
    pub export: Option<Task<ExportSummary, JobError>>,
    /// Running protection check.
    pub verify: Option<Task<EvalReport, EvalError>>,
    /// Result of the last check.
    pub verify_report: Option<EvalReport>,
    /// Live test-accuracy curves of the check: `(arm, defence, accuracy per pass)`.
    pub verify_curves: Vec<(String, String, Vec<f32>)>,
    /// The last finished protection run (its staged files live in `staging`).
    pub last_run: Option<RunSummary>,
    staging: Option<tempfile::TempDir>,
    runs: u32,
    /// The run in progress or last started: its folder, settings and photos (for "Continue").
    current_run: Option<RunPlan>,
    /// A stopped run that "Continue" can finish (its folder, settings, photos, photos left).
    pub resumable: Option<(RunPlan, usize)>,
    /// Selected photo (index into `photos.items`).
    pub selected: Option<usize>,
    /// Main view.
    pub screen: Screen,
    /// Shared zoom/pan of the compare panes.
    pub view: ViewTransform,
    /// Split position (0–1) in split layout.
    pub split: f32,
    /// Loaded compare pair.
    pub preview: Option<Arc<PreviewPair>>,
    pending_preview: Option<PendingPreview>,
    /// Why the preview could not be loaded.
    pub preview_error: Option<String>,
    /// Notifications.
    pub toasts: Toasts,
    /// Export window.
    pub export_window: ExportWindow,
    /// "Quit during a run?" prompt is showing.
    pub confirm_close: bool,
    allow_close: bool,
    /// Framebuffer format when the wgpu renderer is active (compare view needs it).
    pub target_format: Option<wgpu::TextureFormat>,
    /// Largest texture side the GPU takes.
    pub max_texture_side: u32,
    /// Show the keyboard shortcut list.
    pub show_shortcuts: bool,
    /// Where the compare panes were drawn last frame (tests and benchmarks read this).
    pub pane_rects: Vec<(super::viewer::gpu::PaneMode, egui::Rect)>,
    ctx: egui::Context,
    theme_applied: Option<ThemeChoice>,
    auto_protect: bool,
    show_first_result: bool,
    screenshot: Option<(PathBuf, Shot)>,
}

impl App {
    /// Create the app (restoring settings) with `paths` already opened.
    pub fn new(cc: &eframe::CreationContext<'_>, paths: Vec<PathBuf>) -> Self {
        Self::launch(
            cc,
            Launch {
                paths,
                ..Launch::default()
            },
        )
    }

    /// Create the app as described by `launch`.
    pub fn launch(cc: &eframe::CreationContext<'_>, launch: Launch) -> Self {
        let paths = launch.paths;
        let mut settings = cc
            .storage
            .and_then(|s| eframe::get_value::<Settings>(s, STORAGE_KEY))
            .unwrap_or_default();
        // A method the app no longer offers (saved by an older version) falls back to the default.
        if !settings.method.in_app() {
            settings.method = Settings::default().method;
        }
        // On a hardware GPU, Burn computes on the window's own wgpu device (one context,
        // no second copy of the driver state). Software adapters are left alone: there the
        // CPU backend is faster and `auto` does not use WGPU at all.
        if let Some(rs) = &cc.wgpu_render_state
            && rs.adapter.get_info().device_type != wgpu::DeviceType::Cpu
            && let Err(why) = crate::device::share_wgpu(
                rs.instance.clone(),
                rs.adapter.clone(),
                rs.device.clone(),
                rs.queue.clone(),
            )
        {
            eprintln!("note: Burn will use its own WGPU device: {why}");
        }
        let (target_format, max_texture_side) = match &cc.wgpu_render_state {
            Some(rs) => (
                Some(rs.target_format),
                rs.device.limits().max_texture_dimension_2d,
            ),
            None => (None, 8192),
        };
        let mut app = Self {
            settings,
            photos: Photos::default(),
            protect: None,
            export: None,
            verify: None,
            verify_report: None,
            verify_curves: Vec::new(),
            last_run: None,
            staging: None,
            runs: 0,
            current_run: None,
            resumable: None,
            selected: None,
            screen: Screen::Photos,
            view: ViewTransform::default(),
            split: 0.5,
            preview: None,
            pending_preview: None,
            preview_error: None,
            toasts: Toasts::default(),
            export_window: ExportWindow::default(),
            confirm_close: false,
            allow_close: false,
            target_format,
            max_texture_side,
            show_shortcuts: false,
            pane_rects: Vec::new(),
            ctx: cc.egui_ctx.clone(),
            theme_applied: None,
            auto_protect: launch.protect,
            show_first_result: launch.protect,
            screenshot: launch.screenshot.map(|p| (p, Shot::Waiting(0))),
        };
        if !paths.is_empty() {
            app.handle(Command::Open(paths));
        }
        app
    }

    fn repaint_fn(&self) -> impl Fn() + Send + Sync + 'static {
        let ctx = self.ctx.clone();
        move || ctx.request_repaint()
    }

    /// Whether a protection, export or check is running.
    pub fn busy(&self) -> bool {
        self.protect.is_some() || self.export.is_some() || self.verify.is_some()
    }

    /// Carry out one command.
    pub fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::OpenFolderDialog => {
                if let Some(folders) = rfd::FileDialog::new()
                    .set_title("Open a folder of photos")
                    .pick_folders()
                {
                    self.handle(Command::Open(folders));
                }
            }
            Command::AddPhotosDialog => {
                if let Some(files) = rfd::FileDialog::new()
                    .set_title("Add photos")
                    .add_filter("Photos", &crate::imaging::scan::IMAGE_EXTENSIONS)
                    .pick_files()
                {
                    self.handle(Command::Open(files));
                }
            }
            Command::Open(paths) => {
                if self.protect.is_some() {
                    self.toasts
                        .error("Wait for the protection run to finish before adding photos.");
                    return;
                }
                let (ok, missing): (Vec<PathBuf>, Vec<PathBuf>) =
                    paths.into_iter().partition(|p| p.exists());
                for p in &missing {
                    self.toasts
                        .error(format!("{} does not exist any more.", p.display()));
                    self.settings.recent.retain(|r| r != p);
                }
                for p in ok.iter().filter(|p| p.is_dir()) {
                    let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                    self.settings.remember(abs);
                }
                if !ok.is_empty() {
                    let repaint = self.repaint_fn();
                    self.photos.add(ok, repaint);
                    self.screen = Screen::Photos;
                }
            }
            Command::ClearPhotos => {
                if self.busy() {
                    return;
                }
                self.photos.clear();
                self.selected = None;
                self.preview = None;
                self.pending_preview = None;
                self.last_run = None;
                self.screen = Screen::Photos;
            }
            Command::Protect => self.start_protect(),
            Command::ContinueProtect => self.continue_protect(),
            Command::Cancel => {
                if let Some(t) = &mut self.protect {
                    t.cancel();
                }
                if let Some(t) = &mut self.export {
                    t.cancel();
                }
                if let Some(t) = &mut self.verify {
                    t.cancel();
                }
            }
            Command::Verify => self.start_verify(),
            Command::Select(i) => self.select(i),
            Command::Step(d) => {
                let n = self.photos.items.len();
                if n > 0 {
                    let cur = self.selected.unwrap_or(0) as i64;
                    let next = (cur + d as i64).rem_euclid(n as i64) as usize;
                    self.select(next);
                }
            }
            Command::Show(s) => self.screen = s,
            Command::OpenExport => {
                if self.export_window.folder.is_empty() {
                    self.export_window.folder = self
                        .settings
                        .export_dir
                        .clone()
                        .or_else(|| self.default_export_dir())
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                }
                self.export_window.open = true;
            }
            Command::PickExportFolder => {
                if let Some(dir) = rfd::FileDialog::new()
                    .set_title("Export protected photos to…")
                    .pick_folder()
                {
                    self.export_window.folder = dir.display().to_string();
                }
            }
            Command::Export(dir) => self.start_export(dir),
            Command::Quit => {
                self.handle(Command::Cancel);
                self.allow_close = true;
                self.ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
    }

    /// `<first folder> (protected)` next to the first opened folder.
    fn default_export_dir(&self) -> Option<PathBuf> {
        let first = self.photos.sources.first()?;
        let base = if first.is_dir() {
            first.clone()
        } else {
            first.parent()?.to_path_buf()
        };
        let name = base.file_name()?.to_string_lossy().into_owned();
        Some(base.with_file_name(format!("{name} (protected)")))
    }

    fn select(&mut self, i: usize) {
        let Some(item) = self.photos.items.get(i) else {
            return;
        };
        self.selected = Some(i);
        if let PhotoState::Done { staged, seen } = &item.state {
            if self.preview.as_ref().map(|p| &p.source) != Some(&item.path)
                && self.pending_preview.as_ref().map(|p| &p.source) != Some(&item.path)
            {
                self.preview_error = None;
                self.pending_preview = Some(PendingPreview::start(
                    item.path.clone(),
                    staged.clone(),
                    *seen,
                    self.max_texture_side,
                    self.repaint_fn(),
                ));
            }
            self.screen = Screen::Compare;
        }
    }

    fn apply_theme(&mut self, ctx: &egui::Context) {
        if self.theme_applied == Some(self.settings.theme) {
            return;
        }
        ctx.set_theme(match self.settings.theme {
            ThemeChoice::System => egui::ThemePreference::System,
            ThemeChoice::Light => egui::ThemePreference::Light,
            ThemeChoice::Dark => egui::ThemePreference::Dark,
        });
        self.theme_applied = Some(self.settings.theme);
    }

    fn close_guard(&mut self, ctx: &egui::Context) {
        if ctx.input(|i| i.viewport().close_requested()) && self.busy() && !self.allow_close {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.confirm_close = true;
        }
    }

    /// Whether nothing is loading or running (for the launch-time screenshot).
    fn dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if !dropped.is_empty() {
            self.handle(Command::Open(dropped));
        }
    }
}

impl eframe::App for App {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.apply_theme(ctx);
        self.pump();
        self.close_guard(ctx);
        self.dropped_files(ctx);
        for cmd in panels::shortcuts::commands(ctx, self) {
            self.handle(cmd);
        }
        self.take_screenshot(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let mut commands = Vec::new();
        panels::top::show(ui, self, &mut commands);
        panels::status::show(ui, self);
        panels::controls::show(ui, self, &mut commands);
        egui::CentralPanel::default().show(ui, |ui| match self.screen {
            Screen::Photos => panels::grid::show(ui, self, &mut commands),
            Screen::Compare => panels::compare::show(ui, self, &mut commands),
            Screen::Verify => panels::verify::show(ui, self, &mut commands),
        });
        panels::export::show(ui.ctx(), self, &mut commands);
        panels::dialogs::show(ui.ctx(), self, &mut commands);
        panels::drop_hint(ui.ctx());
        self.toasts.show(ui.ctx());
        for cmd in commands {
            self.handle(cmd);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.settings);
    }
}
