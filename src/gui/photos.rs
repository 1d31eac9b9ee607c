//! The photos the user opened: the list (scanned off the UI thread), each photo's state, and
//! thumbnails that decode in the background in grid order and fill in as they arrive.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};

use egui::{ColorImage, TextureHandle, TextureOptions};

use crate::cancel::CancelToken;
use crate::config::LoadLimits;
use crate::imaging::{load_photo, scan};

/// Longest side of a thumbnail, in pixels.
pub const THUMB_SIDE: u32 = 160;

/// Where a photo is in the workflow.
#[derive(Clone, Debug, PartialEq)]
pub enum PhotoState {
    /// Not protected yet.
    Waiting,
    /// Part of the run in progress.
    Protecting,
    /// Protected; the lossless copy is staged for inspection and export.
    Done {
        /// Staged protected copy.
        staged: PathBuf,
        /// Visibility figures against the original (PSNR, SSIM, colour cast, flat-area noise).
        seen: crate::imaging::Visibility,
    },
    /// Could not be protected.
    Failed(String),
}

/// One photo in the grid.
pub struct PhotoItem {
    /// The original file.
    pub path: PathBuf,
    /// File name for display.
    pub name: String,
    /// Workflow state.
    pub state: PhotoState,
    /// Thumbnail, once decoded.
    pub thumb: Option<TextureHandle>,
    /// Why the thumbnail could not be made (the file is probably unreadable).
    pub thumb_error: Option<String>,
}

enum Msg {
    Listed {
        generation: u64,
        /// Photos found, and the opened folders that held none.
        result: Result<(Vec<PathBuf>, Vec<PathBuf>), String>,
    },
    Thumb {
        generation: u64,
        path: PathBuf,
        result: Result<ColorImage, String>,
    },
}

/// The opened folders/files and their photos.
#[derive(Default)]
pub struct Photos {
    /// What the user opened (folders and/or files), in order.
    pub sources: Vec<PathBuf>,
    /// Photos found in `sources`, in scan order.
    pub items: Vec<PhotoItem>,
    /// Whether the scan of `sources` is still running.
    pub scanning: bool,
    by_path: HashMap<PathBuf, usize>,
    /// Sources added by the latest `add`, dropped again if the scan fails.
    just_added: Vec<PathBuf>,
    generation: u64,
    rx: Option<Receiver<Msg>>,
    stop: CancelToken,
    /// Errors to show once (scan failures).
    pub errors: Vec<String>,
}

fn thumbnail(path: &Path) -> Result<ColorImage, String> {
    let photo = load_photo(path, &LoadLimits::default()).map_err(|e| e.kind.to_string())?;
    let (w, h) = photo.rgb.dimensions();
    let s = THUMB_SIDE as f32 / w.max(h) as f32;
    let (tw, th) = if s < 1.0 {
        (
            ((w as f32 * s).round() as u32).max(1),
            ((h as f32 * s).round() as u32).max(1),
        )
    } else {
        (w, h)
    };
    let small = image::imageops::thumbnail(&photo.rgb, tw, th);
    Ok(ColorImage::from_rgb(
        [small.width() as usize, small.height() as usize],
        small.as_raw(),
    ))
}

fn worker(
    sources: Vec<PathBuf>,
    generation: u64,
    tx: Sender<Msg>,
    stop: CancelToken,
    repaint: impl Fn() + Send + Sync + 'static,
) {
    let listed = scan(&sources)
        .map(|a| {
            let paths: Vec<PathBuf> = a.entries.into_iter().map(|e| e.path).collect();
            let empty = sources
                .iter()
                .filter(|s| s.is_dir() && !paths.iter().any(|p| p.starts_with(s)))
                .cloned()
                .collect();
            (paths, empty)
        })
        .map_err(|e| e.to_string());
    let paths = listed.as_ref().map(|(p, _)| p.clone()).unwrap_or_default();
    let _ = tx.send(Msg::Listed {
        generation,
        result: listed,
    });
    repaint();
    // Decode in grid order on a couple of threads, so the first thumbnails show at once.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get().clamp(1, 4))
        .unwrap_or(2);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    if stop.is_cancelled() {
                        return;
                    }
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { return };
                    let result = thumbnail(path);
                    if tx
                        .send(Msg::Thumb {
                            generation,
                            path: path.clone(),
                            result,
                        })
                        .is_err()
                    {
                        return;
                    }
                    repaint();
                }
            });
        }
    });
}

impl Photos {
    /// Add folders/files (duplicates ignored) and rescan in the background.
    pub fn add(
        &mut self,
        paths: impl IntoIterator<Item = PathBuf>,
        repaint: impl Fn() + Send + Sync + 'static,
    ) {
        self.just_added.clear();
        for p in paths {
            let p = std::path::absolute(&p).unwrap_or(p);
            if !self.sources.contains(&p) {
                self.sources.push(p.clone());
                self.just_added.push(p);
            }
        }
        self.rescan(repaint);
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.stop.cancel();
        *self = Self {
            generation: self.generation + 1,
            ..Self::default()
        };
    }

    fn rescan(&mut self, repaint: impl Fn() + Send + Sync + 'static) {
        self.stop.cancel();
        self.stop = CancelToken::new();
        self.generation += 1;
        self.scanning = true;
        let (tx, rx) = channel();
        self.rx = Some(rx);
        let sources = self.sources.clone();
        let generation = self.generation;
        let stop = self.stop.clone();
        let spawned = std::thread::Builder::new()
            .name("unlearnable-thumbnails".into())
            .spawn(move || worker(sources, generation, tx, stop, repaint));
        if let Err(e) = spawned {
            self.scanning = false;
            self.errors
                .push(format!("cannot start the photo scanner: {e}"));
        }
    }

    /// Index of a photo by its path.
    pub fn index_of(&self, path: &Path) -> Option<usize> {
        self.by_path.get(path).copied()
    }

    /// Take what the background worker sent (call once per frame).
    pub fn poll(&mut self, ctx: &egui::Context) {
        let Some(rx) = &self.rx else { return };
        let msgs: Vec<Msg> = rx.try_iter().collect();
        for msg in msgs {
            match msg {
                Msg::Listed { generation, result } if generation == self.generation => {
                    self.scanning = false;
                    match result {
                        Ok((paths, empty)) => {
                            for e in &empty {
                                self.errors
                                    .push(format!("no photos found in {}", e.display()));
                            }
                            self.sources.retain(|s| !empty.contains(s));
                            self.set_list(paths);
                        }
                        Err(e) => {
                            // Forget what was just added (e.g. a folder without photos) so the
                            // photos opened before stay usable.
                            self.errors.push(e);
                            let added = std::mem::take(&mut self.just_added);
                            self.sources.retain(|s| !added.contains(s));
                        }
                    }
                }
                Msg::Thumb {
                    generation,
                    path,
                    result,
                } if generation == self.generation => {
                    if let Some(&i) = self.by_path.get(&path) {
                        let item = &mut self.items[i];
                        match result {
                            Ok(img) => {
                                item.thumb = Some(ctx.load_texture(
                                    format!("thumb:{}", path.display()),
                                    img,
                                    TextureOptions::LINEAR,
                                ))
                            }
                            Err(e) => item.thumb_error = Some(e),
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn set_list(&mut self, paths: Vec<PathBuf>) {
        let mut old: HashMap<PathBuf, PhotoItem> = self
            .items
            .drain(..)
            .map(|it| (it.path.clone(), it))
            .collect();
        self.items = paths
            .into_iter()
            .map(|p| {
                old.remove(&p).unwrap_or_else(|| PhotoItem {
                    name: p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    path: p,
                    state: PhotoState::Waiting,
                    thumb: None,
                    thumb_error: None,
                })
            })
            .collect();
        self.by_path = self
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.path.clone(), i))
            .collect();
    }

    /// Counts of (waiting, done, failed).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for it in &self.items {
            match it.state {
                PhotoState::Done { .. } => c.1 += 1,
                PhotoState::Failed(_) => c.2 += 1,
                _ => c.0 += 1,
            }
        }
        c
    }
}
