//! The compare view's image handling, apart from widgets: the zoom/pan transform shared by
//! all panes (pure maths, tested), loading a clean/protected pair off the UI thread, and the
//! wgpu paint callback that draws the panes with `shaders/compare.wgsl`.

pub mod gpu;
pub mod preview;

use egui::{Pos2, Rect, Vec2};

/// Zoom and pan, shared by every pane so that they stay in sync.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewTransform {
    /// Screen points per image pixel; `None` = fit the image to the pane.
    pub zoom: Option<f32>,
    /// Image coordinate (pixels) shown at the pane centre.
    pub center: Vec2,
}

impl Default for ViewTransform {
    fn default() -> Self {
        Self {
            zoom: None,
            center: Vec2::ZERO,
        }
    }
}

/// Where the image lands in one pane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Visible part of the image on screen (inside the pane).
    pub rect: Rect,
    /// Texture coordinates of `rect`'s corners.
    pub uv: Rect,
    /// Screen points per image pixel.
    pub scale: f32,
}

/// Largest zoom: 32 screen points per image pixel.
pub const MAX_ZOOM: f32 = 32.0;

impl ViewTransform {
    /// Scale that fits `image` inside `pane`.
    pub fn fit_scale(image: Vec2, pane: Vec2) -> f32 {
        (pane.x / image.x).min(pane.y / image.y).max(1e-6)
    }

    /// Current scale in `pane`.
    pub fn scale(&self, image: Vec2, pane: Vec2) -> f32 {
        self.zoom.unwrap_or_else(|| Self::fit_scale(image, pane))
    }

    /// Image centre used for drawing (fit mode always centres).
    fn effective_center(&self, image: Vec2) -> Vec2 {
        if self.zoom.is_none() {
            image / 2.0
        } else {
            self.center
        }
    }

    /// Where an `image`-sized picture appears in `pane`; `None` if it is scrolled out of view.
    pub fn place(&self, image: Vec2, pane: Rect) -> Option<Placement> {
        if image.x <= 0.0 || image.y <= 0.0 || pane.width() <= 0.0 || pane.height() <= 0.0 {
            return None;
        }
        let scale = self.scale(image, pane.size());
        let min = pane.center() - self.effective_center(image) * scale;
        let full = Rect::from_min_size(min, image * scale);
        let rect = full.intersect(pane);
        if rect.width() <= 0.0 || rect.height() <= 0.0 {
            return None;
        }
        let to_uv = |p: Pos2| ((p - full.min) / full.size()).to_pos2();
        Some(Placement {
            rect,
            uv: Rect::from_min_max(to_uv(rect.min), to_uv(rect.max)),
            scale,
        })
    }

    /// Image pixel under screen point `p` in `pane`.
    pub fn image_point(&self, image: Vec2, pane: Rect, p: Pos2) -> Vec2 {
        let scale = self.scale(image, pane.size());
        self.effective_center(image) + (p - pane.center()) / scale
    }

    /// Zoom by `factor` keeping the image point under `anchor` fixed.
    pub fn zoom_at(&mut self, image: Vec2, pane: Rect, anchor: Pos2, factor: f32) {
        let before = self.image_point(image, pane, anchor);
        let old = self.scale(image, pane.size());
        let fit = Self::fit_scale(image, pane.size());
        let new = (old * factor).clamp(fit.min(1.0) * 0.5, MAX_ZOOM);
        self.center = self.effective_center(image);
        self.zoom = Some(new);
        // Keep `before` under the cursor: centre + (anchor - pane centre)/new = before.
        self.center = before - (anchor - pane.center()) / new;
        self.clamp_center(image);
    }

    /// Pan by a screen-space drag `delta`.
    pub fn pan(&mut self, image: Vec2, pane: Rect, delta: Vec2) {
        let scale = self.scale(image, pane.size());
        self.center = self.effective_center(image) - delta / scale;
        if self.zoom.is_none() {
            self.zoom = Some(scale);
        }
        self.clamp_center(image);
    }

    /// 1 image pixel = 1 physical pixel, centred on the current view.
    pub fn one_to_one(&mut self, image: Vec2, pixels_per_point: f32) {
        self.center = self.effective_center(image);
        self.zoom = Some(1.0 / pixels_per_point.max(1e-3));
    }

    /// Back to "fit".
    pub fn fit(&mut self) {
        self.zoom = None;
    }

    fn clamp_center(&mut self, image: Vec2) {
        self.center = self.center.clamp(Vec2::ZERO, image);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pane() -> Rect {
        Rect::from_min_size(Pos2::new(100.0, 50.0), Vec2::new(400.0, 300.0))
    }

    #[test]
    fn fit_shows_the_whole_image_centred() {
        let v = ViewTransform::default();
        let img = Vec2::new(800.0, 400.0);
        let p = v.place(img, pane()).expect("visible");
        assert_eq!(p.uv, Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)));
        assert!((p.scale - 0.5).abs() < 1e-6);
        assert_eq!(p.rect.width(), 400.0);
        assert_eq!(p.rect.height(), 200.0);
        assert_eq!(p.rect.center(), pane().center());
    }

    #[test]
    fn zoom_keeps_the_pixel_under_the_cursor() {
        let mut v = ViewTransform::default();
        let img = Vec2::new(800.0, 400.0);
        let anchor = Pos2::new(180.0, 120.0);
        let before = v.image_point(img, pane(), anchor);
        v.zoom_at(img, pane(), anchor, 4.0);
        let after = v.image_point(img, pane(), anchor);
        assert!((before - after).length() < 1e-3, "{before:?} vs {after:?}");
        assert_eq!(v.zoom, Some(2.0));
        let p = v.place(img, pane()).expect("visible");
        assert_eq!(p.rect, pane(), "zoomed in, the image fills the pane");
        assert!(p.uv.width() < 0.5);
    }

    #[test]
    fn one_to_one_and_pan_move_the_visible_window() {
        let mut v = ViewTransform::default();
        let img = Vec2::new(800.0, 400.0);
        v.one_to_one(img, 1.0);
        let p = v.place(img, pane()).expect("visible");
        assert!((p.uv.width() - 0.5).abs() < 1e-6);
        assert!((p.uv.center().x - 0.5).abs() < 1e-6);
        v.pan(img, pane(), Vec2::new(100.0, 0.0));
        let q = v.place(img, pane()).expect("visible");
        // Dragging right reveals what is left of the old view: 100 px = 1/8 of the width.
        assert!((q.uv.center().x - (0.5 - 0.125)).abs() < 1e-6, "{q:?}");
        // Panning is clamped: the centre never leaves the image.
        v.pan(img, pane(), Vec2::new(1e6, 1e6));
        assert_eq!(v.center, Vec2::ZERO);
    }

    #[test]
    fn the_same_transform_gives_the_same_uv_in_equal_panes() {
        let mut v = ViewTransform::default();
        let img = Vec2::new(640.0, 480.0);
        v.zoom_at(img, pane(), Pos2::new(300.0, 200.0), 3.0);
        let left = v.place(img, pane()).expect("visible");
        let right = v
            .place(img, pane().translate(Vec2::new(420.0, 0.0)))
            .expect("visible");
        assert_eq!(left.uv, right.uv);
    }
}
