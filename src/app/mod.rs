//! The desktop window: a drop target and queue table over the engine, a setup screen, settings,
//! English and Chinese, and a demo mode against an in-process local server. The window only
//! paints state and sends commands; everything that waits runs on other threads (`background`,
//! the `secret_place` saver, the engine), except `startup`'s reading of the saved settings once,
//! before the first frame.

pub mod background;
pub mod demo;
pub mod fonts;
pub mod i18n;
pub mod icon;
pub mod menu_ui;
pub mod modals;
pub mod model;
pub mod queue_ui;
pub mod secret_place;
pub mod settings;
pub mod settings_ui;
pub mod startup;
pub mod window;

pub use startup::AppOptions;
pub use window::UploaderApp;

use std::sync::Arc;

/// Opens the window and runs until it closes.
pub fn run(options: AppOptions) -> Result<(), String> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("OSS Uploader")
            .with_app_id("oss-uploader")
            .with_inner_size([1180.0, 720.0])
            .with_min_inner_size([720.0, 420.0])
            .with_drag_and_drop(true)
            .with_icon(Arc::new(icon::icon())),
        ..Default::default()
    };
    eframe::run_native(
        "oss-uploader",
        native,
        Box::new(move |cc| {
            fonts::install(&cc.egui_ctx);
            let app = UploaderApp::new(&cc.egui_ctx, options)?;
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| e.to_string())
}
