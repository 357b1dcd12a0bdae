//! A QR code of a share link, so it can be opened on a phone: the `qrcode` crate makes the
//! matrix, and the modules are painted as rectangles in the window's own colours (dark on a
//! light quiet zone whatever the theme: scanners want dark modules on light).

use std::sync::Arc;

use egui::cache::{ComputerMut, FrameCache};
use egui::{Color32, Rect, Sense, Vec2};
use qrcode::{Color, EcLevel, QrCode};

/// Modules of light margin around the code, as the QR standard asks.
const QUIET_ZONE: usize = 4;
/// Points per module: whole pixels per module keep every module the same size, which is what a
/// camera reads best; 3 makes a 7-day link (about 80 modules) some 260 points wide.
const MODULE: f32 = 3.0;
/// On a window too short for that, 2.
const SMALL_MODULE: f32 = 2.0;
/// Below this window height the small module is used.
const SHORT_WINDOW: f32 = 640.0;

/// The code's modules, row by row (`true` is dark), and its width in modules; `None` when the
/// text is too long for any QR code.
pub fn matrix(text: &str) -> Option<(Vec<bool>, usize)> {
    // Low error correction keeps a long presigned URL at a size a phone reads from a screen.
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L).ok()?;
    let width = code.width();
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Some((dark, width))
}

/// Makes the matrix for [`MatrixCache`].
#[derive(Default)]
struct MakeMatrix;

impl ComputerMut<&str, Option<Arc<(Vec<bool>, usize)>>> for MakeMatrix {
    fn compute(&mut self, text: &str) -> Option<Arc<(Vec<bool>, usize)>> {
        #[cfg(test)]
        tests::MADE.with(|made| made.set(made.get() + 1));
        matrix(text).map(Arc::new)
    }
}

/// The matrices of the links painted in the last frame: the window repaints many times a second
/// while uploads run, and encoding a 375-character link took 4.3 ms (release build), a quarter
/// of a frame.
type MatrixCache = FrameCache<Option<Arc<(Vec<bool>, usize)>>, MakeMatrix>;

/// Paints the code of `text`, its modules on whole pixels; says so when it cannot be made.
pub fn qr_ui(ui: &mut egui::Ui, text: &str, too_long: &str) {
    let code = ui.memory_mut(|m| m.caches.cache::<MatrixCache>().get(text).clone());
    let Some((dark, width)) = code.as_deref() else {
        ui.label(egui::RichText::new(too_long).weak());
        return;
    };
    let ppp = ui.ctx().pixels_per_point();
    let points = if ui.ctx().content_rect().height() < SHORT_WINDOW {
        SMALL_MODULE
    } else {
        MODULE
    };
    // Whole pixels per module, at least one.
    let module = (points * ppp).round().max(1.0) / ppp;
    let width = *width;
    let side = (width + 2 * QUIET_ZONE) as f32 * module;
    let (rect, _) = ui.allocate_exact_size(Vec2::splat(side), Sense::hover());
    let origin = (rect.min.to_vec2() * ppp).round() / ppp;
    let rect = Rect::from_min_size(origin.to_pos2(), rect.size());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, Color32::WHITE);
    for (i, _) in dark.iter().enumerate().filter(|(_, d)| **d) {
        let (x, y) = (
            (i % width + QUIET_ZONE) as f32,
            (i / width + QUIET_ZONE) as f32,
        );
        let min = rect.min + Vec2::new(x, y) * module;
        painter.rect_filled(
            Rect::from_min_size(min, Vec2::splat(module)),
            0.0,
            Color32::BLACK,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Matrices made on this thread.
        pub(super) static MADE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[test]
    fn a_code_shown_over_many_frames_is_made_once() {
        let ctx = egui::Context::default();
        let url = "https://bucket.oss-cn-hangzhou.aliyuncs.com/a.txt?x-oss-expires=604800";
        for _ in 0..5 {
            let mut painted =
                ctx.run_ui(egui::RawInput::default(), |ui| qr_ui(ui, url, "too long"));
            // No painter here takes the font atlas.
            painted.textures_delta.clear();
        }
        assert_eq!(MADE.with(|m| m.get()), 1);
    }

    #[test]
    fn a_share_link_fits_and_has_the_finder_patterns() {
        let url = format!(
            "https://bucket.oss-cn-hangzhou.aliyuncs.com/photos/{}.jpg?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=LTAI5t00000000000000%2F20261126%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-date=20261126T120000Z&x-oss-expires=604800&x-oss-signature={}",
            "a".repeat(200),
            "f".repeat(64)
        );
        let (dark, width) = matrix(&url).unwrap();
        assert_eq!(dark.len(), width * width);
        assert_eq!(
            (width - 17) % 4,
            0,
            "a QR code is 17 + 4·version modules wide"
        );
        // The three finder patterns: a dark 7×7 ring with a light ring inside it.
        for (x0, y0) in [(0, 0), (width - 7, 0), (0, width - 7)] {
            let at = |x: usize, y: usize| dark[(y0 + y) * width + x0 + x];
            assert!((0..7).all(|i| at(i, 0) && at(i, 6) && at(0, i) && at(6, i)));
            assert!((1..6).all(|i| !at(i, 1) && !at(1, i)));
            assert!(at(3, 3));
        }
        assert!(matrix(&"x".repeat(8000)).is_none());
    }
}
