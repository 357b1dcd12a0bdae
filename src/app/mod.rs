//! The desktop window: a drop target and queue table over the engine, a setup screen, settings,
//! English and Chinese, and a demo mode against an in-process local server. The window only
//! paints state and sends commands; everything that waits runs on other threads (`background`,
//! the `secret_place` saver, the engine), except `startup`'s reading of the saved settings once,
//! before the first frame.

pub mod background;
pub mod bucket_picker;
pub mod connections;
pub mod connections_ui;
pub mod demo;
pub mod desktop_bus;
pub mod folder_browser;
pub mod folder_browser_ui;
pub mod fonts;
pub mod i18n;
pub mod icon;
pub mod menu_ui;
pub mod modals;
pub mod model;
pub mod qr_ui;
pub mod queue_ui;
pub mod secret_place;
pub mod settings;
pub mod settings_ui;
pub mod share_ui;
pub mod startup;
pub mod window;

pub use startup::AppOptions;
pub use window::UploaderApp;

use std::sync::Arc;

/// What the command line gives the window: `oss-uploader [--demo] [-v] [FILE]...`.
#[derive(Clone, Debug, Default)]
pub struct WindowArgs {
    pub demo: bool,
    /// Files and folders to queue (as from a file manager's "Open with").
    pub paths: Vec<std::path::PathBuf>,
    pub verbose: u8,
}

/// Opens the window on this (the main) thread, as some platforms allow windows nowhere else,
/// with logs in the data folder; runs until it closes.
pub fn open_window(args: WindowArgs) -> std::process::ExitCode {
    use std::process::ExitCode;
    let data_dir = match crate::engine::paths::DataDir::resolve(None) {
        Ok(d) => d.root().to_owned(),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The window logs to daily files in the data dir ("Open log folder" shows them); the guard
    // flushes them when the window closes.
    let _log = match crate::logging::init(&data_dir, args.verbose) {
        Ok(guard) => Some(guard),
        Err(e) => {
            crate::logging::init_stderr(args.verbose);
            tracing::warn!("logging to files is off: {e:#}");
            None
        }
    };
    let options = AppOptions {
        data_dir,
        demo: args.demo,
        language: None,
        env_credentials: if args.demo {
            None
        } else {
            crate::oss::sign::Credentials::from_env()
        },
        add: args
            .paths
            .into_iter()
            .map(|p| std::path::absolute(&p).unwrap_or(p))
            .collect(),
        secrets: None,
        desktop: None,
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: the window could not open: {e}");
            ExitCode::FAILURE
        }
    }
}

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
        // Dithering hides banding in gradients, which this window has none of, and costs a
        // noise computation per pixel: with software rendering that is CPU on every frame.
        dithering: false,
        ..Default::default()
    };
    eframe::run_native(
        "oss-uploader",
        native,
        Box::new(move |cc| {
            fonts::setup(&cc.egui_ctx);
            let app = UploaderApp::new(&cc.egui_ctx, options)?;
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| e.to_string())
}
