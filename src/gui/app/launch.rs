//! Launch options: start protecting right away, and a screenshot once everything settled
//! (documentation and CI under Xvfb).

use std::path::PathBuf;

use super::App;

/// How the app was launched (`unlearnable gui [paths] [--protect] [--screenshot FILE]`).
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// Folders/photos to open.
    pub paths: Vec<PathBuf>,
    /// Start protecting as soon as the photos are listed, then show the first result.
    pub protect: bool,
    /// Once everything settled, save a screenshot of the window here and quit.
    pub screenshot: Option<PathBuf>,
}

/// Progress of a launch-time screenshot.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Shot {
    /// Waiting for the app to settle; frames settled so far.
    Waiting(u32),
    /// Requested; waiting for the pixels.
    Requested,
}

impl App {
    fn settled(&self) -> bool {
        !self.photos.scanning
            && !self.busy()
            && !self.auto_protect
            && !self.show_first_result
            && self.pending_preview.is_none()
            && self
                .photos
                .items
                .iter()
                .all(|i| i.thumb.is_some() || i.thumb_error.is_some())
    }

    pub(super) fn take_screenshot(&mut self, ctx: &egui::Context) {
        let settled = self.settled();
        let Some((path, shot)) = &mut self.screenshot else {
            return;
        };
        match shot {
            Shot::Waiting(n) if settled => {
                *n += 1;
                // A few settled frames so fades and layout finish.
                if *n >= 10 {
                    *shot = Shot::Requested;
                    let path = path.clone();
                    let ctx2 = ctx.clone();
                    ctx.request_screenshot(move |img| {
                        // Encode off the UI thread, then close the window.
                        let _ = std::thread::Builder::new()
                            .name("unlearnable-screenshot".into())
                            .spawn(move || {
                                let rgba = image::RgbaImage::from_raw(
                                    img.size[0] as u32,
                                    img.size[1] as u32,
                                    img.pixels.iter().flat_map(|c| c.to_array()).collect(),
                                );
                                match rgba.map(|i| i.save(&path)) {
                                    Some(Ok(())) => {
                                        eprintln!("screenshot saved to {}", path.display())
                                    }
                                    Some(Err(e)) => {
                                        eprintln!("error: cannot save the screenshot: {e}")
                                    }
                                    None => {
                                        eprintln!("error: the screenshot had an unexpected size")
                                    }
                                }
                                ctx2.send_viewport_cmd(egui::ViewportCommand::Close);
                                ctx2.request_repaint();
                            });
                    });
                } else {
                    ctx.request_repaint();
                }
            }
            Shot::Waiting(_) => ctx.request_repaint_after(std::time::Duration::from_millis(100)),
            Shot::Requested => {}
        }
    }
}
