//! SHIM (branch `app` only): the colleague's bundled CJK font replaces this file on merge. Until
//! then it borrows the system's Noto Sans CJK, when there is one, so Chinese can be seen.

use std::sync::Arc;

const SYSTEM_CJK: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

/// Adds a Chinese-capable font behind egui's own fonts.
pub fn install(ctx: &egui::Context) {
    let Ok(bytes) = std::fs::read(SYSTEM_CJK) else {
        return;
    };
    let mut fonts = egui::FontDefinitions::default();
    let mut data = egui::FontData::from_owned(bytes);
    data.index = 2;
    fonts.font_data.insert("cjk".into(), Arc::new(data));
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        fonts.families.entry(family).or_default().push("cjk".into());
    }
    ctx.set_fonts(fonts);
}
