//! The window driven as a person would, with egui_kittest: files dropped onto it, buttons
//! clicked, the settings form checked; uploads run for real against the local server. Waits poll
//! the window frame by frame with a generous bound; nothing asserts on timing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use oss_uploader::app::background::{Desktop, Pick, Picked};
use oss_uploader::app::i18n::{Lang, tr};
use oss_uploader::app::settings::AppSettings;
use oss_uploader::app::{AppOptions, UploaderApp};
use oss_uploader::engine::JobState;
use oss_uploader::local_server::{FaultAction, FaultRule, Op};

mod common;
use common::{AK, SK, TestServer, WAIT, data, object, write_file};

/// The bucket the window uploads to: its name is in the snapshot images.
const BUCKET: &str = "app-bucket";

/// A file as a window system hands it over on drop.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Stands in for the file dialogs and the file manager: records what the window asked for and
/// answers as told, so no real dialog opens under `cargo test`.
#[derive(Debug, Default)]
struct FakeDesktop {
    /// What the next dialog "picks"; `None` is a computer where no dialog can open.
    picks: Mutex<Option<Vec<PathBuf>>>,
    asked: Mutex<Vec<Pick>>,
    opened: Mutex<Vec<PathBuf>>,
}

impl Desktop for FakeDesktop {
    fn pick(&self, what: Pick) -> Picked {
        self.asked.lock().unwrap().push(what);
        match self.picks.lock().unwrap().clone() {
            Some(paths) => Picked::Paths(paths),
            None => Picked::NoDialog,
        }
    }

    fn open_folder(&self, dir: &Path) -> std::io::Result<()> {
        self.opened.lock().unwrap().push(dir.to_owned());
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no file manager here",
        ))
    }
}

struct Rig {
    rt: tokio::runtime::Runtime,
    server: TestServer,
    data: tempfile::TempDir,
    files: tempfile::TempDir,
    desktop: Arc<FakeDesktop>,
}

impl Rig {
    fn new() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let server = rt.block_on(TestServer::start_with(|c| c.with_bucket(BUCKET)));
        Self {
            rt,
            server,
            data: tempfile::tempdir().unwrap(),
            files: tempfile::tempdir().unwrap(),
            desktop: Arc::default(),
        }
    }

    /// Saved settings pointing at the local server, as after a finished setup.
    fn save_settings(&self, bandwidth_limit: Option<u64>) {
        AppSettings {
            region: "cn-hangzhou".into(),
            custom_endpoint: Some(self.server.endpoint()),
            path_style: true,
            access_key_id: AK.into(),
            bucket: BUCKET.into(),
            prefix: "in".into(),
            part_size: 100 * 1024,
            threads: 2,
            bandwidth_limit,
            ..AppSettings::default()
        }
        .save(self.data.path())
        .unwrap();
    }

    fn file(&self, name: &str, len: usize) -> PathBuf {
        write_file(self.files.path(), name, &data(len, 0))
    }

    fn options(&self, lang: Lang, credentials: bool) -> AppOptions {
        AppOptions {
            data_dir: self.data.path().to_owned(),
            demo: false,
            language: Some(lang),
            env_credentials: credentials.then(common::credentials),
            add: Vec::new(),
            // No keychain, as on a headless machine: the window must ask where the secret goes.
            secrets: Some(std::sync::Arc::new(
                oss_uploader::secrets::Secrets::with_keychain(
                    self.data.path(),
                    Box::new(oss_uploader::secrets::MemoryKeychain::unavailable()),
                ),
            )),
            desktop: Some(self.desktop.clone()),
        }
    }

    fn stored(&self, key: &str) -> Vec<u8> {
        self.rt.block_on(object(&self.server.client(), BUCKET, key))
    }
}

/// The app is built inside the harness's first frame so it wakes the harness's own context.
struct Shell {
    options: AppOptions,
    app: Option<UploaderApp>,
}

impl Shell {
    fn app(&self) -> &UploaderApp {
        self.app.as_ref().expect("built in the first frame")
    }
}

fn harness(options: AppOptions) -> Harness<'static, Shell> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 720.0))
        .with_context_setup(oss_uploader::app::fonts::install)
        .build_ui_state(
            |ui, shell: &mut Shell| {
                let options = shell.options.clone();
                shell
                    .app
                    .get_or_insert_with(|| UploaderApp::new(ui.ctx(), options).unwrap())
                    .ui(ui);
            },
            Shell { options, app: None },
        )
}

/// Steps the window until `pred` holds; fails with `what` after a generous bound.
fn wait_until(h: &mut Harness<'_, Shell>, what: &str, pred: impl Fn(&UploaderApp) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        h.step();
        if pred(h.state().app()) {
            h.step();
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what}; rows: {:#?}",
            h.state().app().queue().rows()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Steps the window until `label` shows; fails after a generous bound.
fn wait_for_label(h: &mut Harness<'_, Shell>, label: &str) {
    let deadline = Instant::now() + WAIT;
    while h.query_by_label_contains(label).is_none() {
        assert!(Instant::now() < deadline, "no {label:?} in {:#?}", h.root());
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
}

fn state_of(app: &UploaderApp, i: usize) -> Option<JobState> {
    app.queue().rows().get(i).map(|r| r.state)
}

fn drop_files(h: &mut Harness<'_, Shell>, paths: &[PathBuf]) {
    for p in paths {
        h.input_mut()
            .dropped_files
            .push(Arc::new(Dropped(p.clone())));
    }
    h.step();
}

/// A window uploading `name`, a file of 1,500,000 bytes, under a bandwidth limit of `limit`
/// bytes a second: slow enough that each click lands while the file is still uploading.
fn uploading_slowly(rig: &Rig, name: &str, limit: u64) -> Harness<'static, Shell> {
    rig.save_settings(Some(limit));
    let big = rig.file(name, 1_500_000);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &[big]);
    h.run_steps(2);
    h.get_by_label("Upload").click();
    wait_until(&mut h, "uploading", |app| {
        state_of(app, 0) == Some(JobState::Uploading)
    });
    h
}

#[test]
fn dropped_files_and_folders_become_rows_and_upload() {
    let rig = Rig::new();
    rig.save_settings(None);
    let a = rig.file("a.bin", 250_000);
    let b = rig.file("b.txt", 10);
    rig.file("album/one.jpg", 1000);
    rig.file("album/deep/two.jpg", 2000);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    h.get_by_label("Drop files or folders here");

    drop_files(&mut h, &[a, b, rig.files.path().join("album")]);
    wait_until(&mut h, "four rows", |app| app.queue().rows().len() == 4);
    wait_until(&mut h, "every upload verified", |app| {
        app.queue().rows().iter().all(|r| r.state == JobState::Done)
    });
    h.get_by_label("a.bin");
    h.get_by_label("in/album/deep/two.jpg");
    assert_eq!(h.get_all_by_label("Done (verified)").count(), 4);
    h.get_by_label_contains("4 of 4 files done");
    assert_eq!(rig.stored("in/album/one.jpg").len(), 1000);

    h.get_by_label("Clear finished").click();
    wait_until(&mut h, "the list to empty", |app| {
        app.queue().rows().is_empty()
    });
}

/// The name field has the focus when the question opens, so Enter alone confirms it (the
/// e2e drag-and-drop test relies on this; a Tab + Enter arriving in one frame used to be lost).
#[test]
fn enter_confirms_a_dropped_file_at_once() {
    let rig = Rig::new();
    rig.save_settings(None);
    let d = rig.file("d.txt", 99);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &[d]);
    h.run_steps(2);
    h.get_by_label("Upload this file");
    h.key_press(egui::Key::Enter);
    wait_until(&mut h, "the upload", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
    assert_eq!(h.state().app().queue().rows()[0].key, "in/d.txt");
    assert!(h.query_by_label("Upload this file").is_none());
}

#[test]
fn a_single_file_can_get_its_own_name() {
    let rig = Rig::new();
    rig.save_settings(None);
    let c = rig.file("c.txt", 1234);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &[c]);
    h.run_steps(2);
    h.get_by_label("Upload this file");
    h.get_by_role(egui::accesskit::Role::TextInput).focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_role(egui::accesskit::Role::TextInput)
        .type_text("notes/renamed.txt");
    h.run_steps(2);
    h.get_by_label("Upload").click();
    wait_until(&mut h, "the renamed upload", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
    assert_eq!(h.state().app().queue().rows()[0].key, "notes/renamed.txt");
    assert_eq!(rig.stored("notes/renamed.txt").len(), 1234);
}

#[test]
fn the_setup_form_says_what_is_wrong() {
    let rig = Rig::new();
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    h.get_by_label("Welcome! Let's connect to your storage");
    h.get_by_label("Save and continue").click();
    h.run_steps(2);
    h.get_by_label("Enter the AccessKey ID.");
    h.get_by_label("Enter the AccessKey secret.");
    h.get_by_label("Please fix the fields marked above.");

    let form = h.state_mut().app.as_mut().unwrap().form_mut();
    form.access_key_id = AK.into();
    form.secret = SK.into();
    form.bucket = "Bad_Bucket".into();
    form.part_size = "50 KiB".into();
    form.threads = "100".into();
    h.run_steps(2);
    h.get_by_label("Save and continue").click();
    h.run_steps(2);
    h.get_by_label_contains("is outside what OSS allows: from 100 KiB to 5 GiB");
    h.get_by_label_contains("The bucket name \"Bad_Bucket\" is not valid");
    h.get_by_label("Use a whole number from 1 to 64.");
    assert!(h.query_by_label("Enter the AccessKey ID.").is_none());
}

#[test]
fn test_connection_names_the_wrong_secret_and_then_succeeds() {
    let rig = Rig::new();
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    let endpoint = rig.server.endpoint();
    let form = h.state_mut().app.as_mut().unwrap().form_mut();
    form.use_custom_endpoint = true;
    form.endpoint = endpoint;
    form.path_style = true;
    form.access_key_id = AK.into();
    form.secret = "wrong".into();
    form.bucket = BUCKET.into();
    // The endpoint field appears and moves the button: lay out once before clicking.
    h.run_steps(2);
    h.get_by_label("Test connection").click();
    wait_for_label(&mut h, "The AccessKey secret is wrong");
    h.state_mut().app.as_mut().unwrap().form_mut().secret = SK.into();
    h.get_by_label("Test connection").click();
    wait_for_label(&mut h, "Connected");
}

#[test]
fn pause_resume_cancel_and_retry_drive_a_real_upload() {
    let rig = Rig::new();
    let mut h = uploading_slowly(&rig, "big.bin", 200 * 1024);

    h.get_by_label("Pause").click();
    wait_until(&mut h, "paused", |app| {
        state_of(app, 0) == Some(JobState::Paused)
    });
    h.get_by_label("Paused");

    h.get_by_label("Resume").click();
    wait_until(&mut h, "uploading again", |app| {
        state_of(app, 0) == Some(JobState::Uploading)
    });

    h.get_by_label("Cancel").click();
    wait_until(&mut h, "cancelled", |app| {
        state_of(app, 0) == Some(JobState::Cancelled)
    });
    h.get_by_label("Cancelled");

    h.get_by_label("Retry").click();
    wait_until(&mut h, "verified", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
    assert_eq!(rig.stored("in/big.bin").len(), 1_500_000);
}

/// A window in `lang` whose one upload (of `name`) has failed: the server refuses it once
/// with AccessDenied, so a retry succeeds.
fn a_denied_upload(rig: &Rig, lang: Lang, name: &str) -> Harness<'static, Shell> {
    rig.save_settings(None);
    rig.server.faults().add(
        FaultRule::new(
            Some(Op::InitiateMultipartUpload),
            1,
            FaultAction::error(403, "AccessDenied"),
        )
        .times(1),
    );
    let f = rig.file(name, 300_000);
    let mut h = harness(rig.options(lang, true));
    h.step();
    drop_files(&mut h, &[f]);
    h.run_steps(2);
    h.get_by_label(tr(lang).upload).click();
    wait_until(&mut h, "failed", |app| {
        state_of(app, 0) == Some(JobState::Failed)
    });
    h
}

#[test]
fn a_failure_shows_plain_words_and_details() {
    let rig = Rig::new();
    let mut h = a_denied_upload(&rig, Lang::En, "denied.bin");
    h.get_by_label("Failed");
    h.get_by_label("Details").click();
    h.run_steps(2);
    h.get_by_label_contains("not allowed");
    h.get_by_label("AccessDenied");
    h.get_by_label("Request ID");
    h.get_by_label("Copy details").click();
    h.run_steps(1);
    h.get_by_label("Close").click();
    h.run_steps(1);

    h.get_by_label("Retry").click();
    wait_until(&mut h, "verified after retry", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
}

#[test]
fn unfinished_uploads_are_offered_after_a_restart_and_finish() {
    let rig = Rig::new();
    rig.save_settings(Some(256 * 1024));
    let f = rig.file("long.bin", 2_000_000);
    {
        let mut h = harness(rig.options(Lang::En, true));
        h.step();
        drop_files(&mut h, &[f]);
        h.run_steps(2);
        h.get_by_label("Upload").click();
        wait_until(&mut h, "some bytes confirmed", |app| {
            app.queue().rows().first().is_some_and(|r| r.confirmed > 0)
        });
        // The harness and the app go away mid-upload, as when the window is closed.
    }
    let mut h = harness(rig.options(Lang::En, true));
    wait_until(&mut h, "the restored row and the banner", |app| {
        state_of(app, 0) == Some(JobState::Interrupted) && app.queue().waiting_restored() == 1
    });
    assert!(h.state().app().queue().rows()[0].done > 0, "progress kept");
    h.get_by_label_contains("did not finish last time");
    // The banner's button comes before the toolbar's in the window.
    h.get_all_by_label("Resume all")
        .next()
        .expect("the banner's button")
        .click();
    wait_until(&mut h, "verified after resume", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
    assert!(
        h.query_by_label_contains("did not finish last time")
            .is_none()
    );
    assert_eq!(rig.stored("in/long.bin").len(), 2_000_000);
}

#[test]
fn a_failure_shows_in_the_windows_language() {
    let rig = Rig::new();
    let mut h = a_denied_upload(&rig, Lang::Zh, "拒绝.bin");
    h.get_by_label("详情").click();
    h.run_steps(2);
    h.get_by_label_contains("没有执行该操作的权限");
    h.get_by_label("AccessDenied");
}

#[test]
fn chinese_labels_render() {
    let rig = Rig::new();
    let mut h = harness(rig.options(Lang::Zh, false));
    h.step();
    h.get_by_label("欢迎！先连接到您的存储空间");
    h.get_by_label("保存并继续").click();
    h.run_steps(2);
    h.get_by_label("请填写 AccessKey ID。");
}

/// Images of the main screens in both languages, compared with `tests/snapshots/*.png`
/// (`UPDATE_SNAPSHOTS=1 cargo test --test app snapshots` rewrites them).
#[test]
fn snapshots_of_the_main_screens() {
    let mut results = egui_kittest::SnapshotResults::new();
    for (lang, tag) in [(Lang::En, "en"), (Lang::Zh, "zh")] {
        let rig = Rig::new();
        let mut h = harness(rig.options(lang, false));
        h.run_steps(2);
        h.snapshot(format!("setup_{tag}"));
        let save = match lang {
            Lang::En => "Save and continue",
            Lang::Zh => "保存并继续",
        };
        h.get_by_label(save).click();
        h.run_steps(2);
        h.snapshot(format!("setup_errors_{tag}"));
        results.extend_harness(&mut h);
        drop(h);

        rig.save_settings(None);
        let files = [
            rig.file("holiday.mov", 400_000),
            rig.file("report.pdf", 120_000),
            rig.file("photos/beach.jpg", 50_000),
        ];
        let mut h = harness(rig.options(lang, true));
        h.step();
        drop_files(&mut h, &files);
        wait_until(&mut h, "three verified uploads", |app| {
            app.queue().rows().len() == 3
                && app.queue().rows().iter().all(|r| r.state == JobState::Done)
        });
        h.run_steps(2);
        h.snapshot(format!("queue_done_{tag}"));
        results.extend_harness(&mut h);
    }
    results.unwrap();
}

#[test]
fn keyboard_pauses_resumes_and_removes_the_selection_and_closing_asks_first() {
    let rig = Rig::new();
    let mut h = uploading_slowly(&rig, "keys.bin", 150 * 1024);

    // Closing while an upload runs is held back with a question.
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.step();
    let cancelled = h
        .output()
        .viewport_output
        .get(&egui::ViewportId::ROOT)
        .is_some_and(|v| v.commands.contains(&egui::ViewportCommand::CancelClose));
    assert!(cancelled, "the close must be held back");
    h.run_steps(1);
    h.get_by_label("Uploads are still running");
    h.get_by_label("Keep uploading").click();
    h.run_steps(2);
    assert!(h.query_by_label("Uploads are still running").is_none());

    h.get_by_label("keys.bin").click();
    h.run_steps(2);
    assert_eq!(
        h.state().app().queue().selected_ids(),
        [1],
        "a click on the row selects it"
    );
    h.key_press(egui::Key::Space);
    wait_until(&mut h, "paused by Space", |app| {
        state_of(app, 0) == Some(JobState::Paused)
    });
    h.key_press(egui::Key::Space);
    wait_until(&mut h, "resumed by Space", |app| {
        matches!(
            state_of(app, 0),
            Some(JobState::Uploading | JobState::Queued)
        )
    });
    h.key_press(egui::Key::Delete);
    wait_until(&mut h, "removed by Delete", |app| {
        app.queue().rows().is_empty()
    });
}

#[test]
fn ctrl_o_opens_add_files() {
    let rig = Rig::new();
    rig.save_settings(None);
    let picked = rig.file("picked.txt", 10);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();

    // A computer without any file dialog: the user is told to drag files instead.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::O);
    wait_for_label(&mut h, "No file dialog can be opened on this computer");
    assert_eq!(*rig.desktop.asked.lock().unwrap(), [Pick::Files]);

    // With a dialog, the picked file goes the way a dropped one does.
    *rig.desktop.picks.lock().unwrap() = Some(vec![picked]);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::O);
    wait_for_label(&mut h, "Upload this file");
    assert_eq!(
        *rig.desktop.asked.lock().unwrap(),
        [Pick::Files, Pick::Files]
    );

    // O without Ctrl/Cmd is not the shortcut.
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    h.key_press(egui::Key::O);
    h.run_steps(2);
    assert_eq!(rig.desktop.asked.lock().unwrap().len(), 2);
}

#[test]
fn a_log_folder_that_cannot_be_opened_says_where_it_is() {
    let rig = Rig::new();
    rig.save_settings(None);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Open log folder").click();
    let logs = rig.data.path().join(oss_uploader::engine::paths::LOGS_DIR);
    wait_for_label(
        &mut h,
        &format!(
            "The log folder could not be opened. It is here: {}",
            logs.display()
        ),
    );
    assert_eq!(
        *rig.desktop.opened.lock().unwrap(),
        std::slice::from_ref(&logs)
    );
    assert!(logs.is_dir(), "the folder is made before it is shown");
}

#[test]
fn the_secret_goes_where_the_user_says_and_never_into_the_settings() {
    let rig = Rig::new();
    let endpoint = rig.server.endpoint();
    let fill = |h: &mut Harness<'_, Shell>| {
        let form = h.state_mut().app.as_mut().unwrap().form_mut();
        form.use_custom_endpoint = true;
        form.endpoint = endpoint.clone();
        form.path_style = true;
        form.access_key_id = AK.into();
        form.secret = SK.into();
        form.bucket = BUCKET.into();
        h.run_steps(2);
        h.get_by_label("Save and continue").click();
        // The save runs off the frame loop: the question comes when it found no keychain.
        wait_for_label(h, "Where should the secret be kept?");
        h.get_by_label("Where should the secret be kept?");
    };

    // This session only: nothing on disk, and the next start asks for the secret again.
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    fill(&mut h);
    h.get_by_label("Keep for this session only").click();
    wait_for_label(&mut h, "The secret is kept until the app closes");
    h.get_by_label_contains("The secret is kept until the app closes");
    h.get_by_label("Drop files or folders here");
    drop(h);
    let saved = std::fs::read_to_string(rig.data.path().join("settings.json")).unwrap();
    assert!(!saved.contains(SK), "{saved}");
    let mut h = harness(rig.options(Lang::En, false));
    h.run_steps(2);
    h.get_by_label_contains("Enter the AccessKey secret again");
    drop(h);

    // A private file: the next start goes straight to the queue.
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    fill(&mut h);
    h.get_by_label("Save in a private file").click();
    wait_for_label(&mut h, "only you can read it");
    h.get_by_label_contains("only you can read it");
    drop(h);
    let saved = std::fs::read_to_string(rig.data.path().join("settings.json")).unwrap();
    assert!(!saved.contains(SK), "{saved}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let file = oss_uploader::secrets::Secrets::new(rig.data.path()).file_path(AK);
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut h = harness(rig.options(Lang::En, false));
    h.run_steps(2);
    h.get_by_label("Drop files or folders here");
}

#[test]
fn dragging_files_over_the_window_shows_where_they_will_go() {
    let rig = Rig::new();
    rig.save_settings(None);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    h.input_mut().hovered_files.push(egui::HoveredFile {
        path: Some(rig.files.path().join("x.bin")),
        ..Default::default()
    });
    h.run_steps(2);
    h.snapshot("drop_overlay_en");
}

/// A folder of 100,000 files fills the table while the window keeps drawing frames; only the
/// rows in view are laid out, so a frame costs the same with 10 rows or 100,000.
#[test]
#[ignore = "slow (minutes): writes 100,000 files; run with `cargo test --test app -- --ignored`"]
fn a_hundred_thousand_files_fill_the_table_without_stalling_the_window() {
    const N: usize = 100_000;
    let rig = Rig::new();
    rig.save_settings(None);
    // Hold every request so the uploads do not race the count.
    rig.server
        .faults()
        .add(FaultRule::new(None, 1, FaultAction::Stall).times(1_000_000));
    let dir = rig.files.path().join("many");
    let writing = Instant::now();
    for i in 0..N {
        let sub = dir.join(format!("d{:03}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(sub.join(format!("f{i:06}.txt")), b"x").unwrap();
    }
    eprintln!("writing {N} files took {:.1?}", writing.elapsed());
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &[dir]);
    let started = Instant::now();
    let mut frames = 0u32;
    let mut slowest = Duration::ZERO;
    let deadline = started + Duration::from_secs(180);
    while h.state().app().queue().rows().len() < N {
        let t = Instant::now();
        h.step();
        slowest = slowest.max(t.elapsed());
        frames += 1;
        assert!(
            Instant::now() < deadline,
            "only {} rows",
            h.state().app().queue().rows().len()
        );
    }
    let t = Instant::now();
    h.step();
    eprintln!(
        "{N} rows in {:.1?} over {frames} frames; slowest frame {slowest:.1?}; a frame with all rows {:.1?}",
        started.elapsed(),
        t.elapsed()
    );
    h.get_by_label_contains(&format!("0 of {N} files done"));
    let closing = Instant::now();
    drop(h);
    eprintln!("closing the window took {:.1?}", closing.elapsed());
}
