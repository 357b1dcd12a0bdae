//! What the window's tests share: a local server with the app's bucket, saved settings that
//! point at it, a stand-in for the file dialogs, the kittest harness that builds the app in its
//! first frame, and waits that step the window with a generous bound.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use oss_uploader::app::background::{Desktop, Pick, Picked};
use oss_uploader::app::i18n::Lang;
use oss_uploader::app::settings::AppSettings;
use oss_uploader::app::{AppOptions, UploaderApp};
use oss_uploader::engine::JobState;

use crate::common::{self, AK, TestServer, WAIT, data, object, write_file};

/// The bucket the window uploads to: its name is in the snapshot images.
pub const BUCKET: &str = "app-bucket";

/// A file as a window system hands it over on drop.
#[derive(Debug)]
pub struct Dropped(PathBuf);

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
pub struct FakeDesktop {
    /// What the next dialog "picks"; `None` is a computer where no dialog can open.
    pub picks: Mutex<Option<Vec<PathBuf>>>,
    pub asked: Mutex<Vec<Pick>>,
    pub opened: Mutex<Vec<PathBuf>>,
    /// Each keep-awake request: true takes the inhibitor, false releases it.
    pub awake: Mutex<Vec<bool>>,
    /// Each notification: (summary, body).
    pub notified: Mutex<Vec<(String, String)>>,
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

    fn keep_awake(&self, reason: Option<&str>) {
        self.awake.lock().unwrap().push(reason.is_some());
    }

    fn notify(&self, summary: &str, body: &str) {
        self.notified
            .lock()
            .unwrap()
            .push((summary.to_owned(), body.to_owned()));
    }
}

pub struct Rig {
    pub rt: tokio::runtime::Runtime,
    pub server: TestServer,
    pub data: tempfile::TempDir,
    pub files: tempfile::TempDir,
    pub desktop: Arc<FakeDesktop>,
}

impl Rig {
    pub fn new() -> Self {
        Self::with_server(|c| c)
    }

    /// A rig whose server, which has the app's bucket, `config` changes further (more
    /// buckets, another region).
    pub fn with_server(
        config: impl FnOnce(
            oss_uploader::local_server::ServerConfig,
        ) -> oss_uploader::local_server::ServerConfig,
    ) -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let server = rt.block_on(TestServer::start_with(|c| config(c.with_bucket(BUCKET))));
        Self {
            rt,
            server,
            data: tempfile::tempdir().unwrap(),
            files: tempfile::tempdir().unwrap(),
            desktop: Arc::default(),
        }
    }

    /// Saved settings pointing at the local server, as after a finished setup.
    pub fn save_settings(&self, bandwidth_limit: Option<u64>) {
        self.save_settings_with(|s| s.bandwidth_limit = bandwidth_limit);
    }

    /// The settings of [`Self::save_settings`], changed by `change`.
    pub fn save_settings_with(&self, change: impl FnOnce(&mut AppSettings)) {
        let mut settings = AppSettings {
            region: "cn-hangzhou".into(),
            custom_endpoint: Some(self.server.endpoint()),
            path_style: true,
            access_key_id: AK.into(),
            bucket: BUCKET.into(),
            prefix: "in".into(),
            part_size: 100 * 1024,
            parts_at_once: Some(2),
            ..AppSettings::default()
        };
        change(&mut settings);
        settings.save(self.data.path()).unwrap();
    }

    pub fn file(&self, name: &str, len: usize) -> PathBuf {
        write_file(self.files.path(), name, &data(len, 0))
    }

    pub fn options(&self, lang: Lang, credentials: bool) -> AppOptions {
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

    pub fn stored(&self, key: &str) -> Vec<u8> {
        self.rt.block_on(object(&self.server.client(), BUCKET, key))
    }

    /// The keys of the multipart uploads open on the server, in the bucket.
    pub fn open_uploads(&self) -> Vec<String> {
        let client = self.server.client();
        let uploads = self
            .rt
            .block_on(client.list_multipart_uploads(BUCKET, ""))
            .unwrap();
        uploads.into_iter().map(|u| u.key).collect()
    }
}

/// The app is built inside the harness's first frame so it wakes the harness's own context.
pub struct Shell {
    pub options: AppOptions,
    pub app: Option<UploaderApp>,
}

impl Shell {
    pub fn app(&self) -> &UploaderApp {
        self.app.as_ref().expect("built in the first frame")
    }
}

pub fn harness(options: AppOptions) -> Harness<'static, Shell> {
    harness_with(
        options,
        egui::vec2(1280.0, 720.0),
        oss_uploader::app::fonts::install,
    )
}

/// A window of `size` whose fonts `fonts` sets up.
pub fn harness_with(
    options: AppOptions,
    size: egui::Vec2,
    fonts: fn(&egui::Context),
) -> Harness<'static, Shell> {
    Harness::builder()
        .with_size(size)
        .with_context_setup(fonts)
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
pub fn wait_until(h: &mut Harness<'_, Shell>, what: &str, pred: impl Fn(&UploaderApp) -> bool) {
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

/// Steps the window until the table has `n` rows and every one is Done (uploaded, verified).
pub fn wait_all_done(h: &mut Harness<'_, Shell>, what: &str, n: usize) {
    wait_until(h, what, |app| {
        let rows = app.queue().rows();
        rows.len() == n && rows.iter().all(|r| r.state == JobState::Done)
    });
}

/// Steps the window until `ready` holds outside it (a file saved, a notification sent); fails
/// with `what` after `limit`. Not for what the window shows: a thread that writes a file or
/// calls a fake may tell the window afterwards (wait for the window with [`wait_until`]).
pub fn step_until(
    h: &mut Harness<'_, Shell>,
    what: &str,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
}

/// Steps the window until `label` shows (once or more: a file's name is in the name and the
/// key columns); fails after a generous bound.
pub fn wait_for_label(h: &mut Harness<'_, Shell>, label: &str) {
    let deadline = Instant::now() + WAIT;
    while h.query_all_by_label_contains(label).next().is_none() {
        assert!(Instant::now() < deadline, "no {label:?} in {:#?}", h.root());
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
}

/// Steps the window until no `label` shows; fails after a generous bound.
pub fn wait_for_no_label(h: &mut Harness<'_, Shell>, label: &str) {
    let deadline = Instant::now() + WAIT;
    while h.query_all_by_label_contains(label).next().is_some() {
        assert!(
            Instant::now() < deadline,
            "{label:?} stays in {:#?}",
            h.root()
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
}

pub fn state_of(app: &UploaderApp, i: usize) -> Option<JobState> {
    app.queue().rows().get(i).map(|r| r.state)
}

pub fn drop_files(h: &mut Harness<'_, Shell>, paths: &[PathBuf]) {
    for p in paths {
        h.input_mut()
            .dropped_files
            .push(Arc::new(Dropped(p.clone())));
    }
    h.step();
}

/// A window uploading `name`, a file of 1,500,000 bytes, under a bandwidth limit of `limit`
/// bytes a second: slow enough that each click lands while the file is still uploading.
pub fn uploading_slowly(rig: &Rig, name: &str, limit: u64) -> Harness<'static, Shell> {
    rig.save_settings(Some(limit));
    let big = rig.file(name, 1_500_000);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &[big]);
    wait_until(&mut h, "uploading", |app| {
        state_of(app, 0) == Some(JobState::Uploading)
    });
    h
}

/// Selects the rows named `first` and `second` (click, then Ctrl/Cmd-click), copies, and gives
/// the one text put on the clipboard.
pub fn copy_two_rows(h: &mut Harness<'_, Shell>, first: &str, second: &str) -> String {
    h.get_all_by_label(first).next().unwrap().click();
    h.step();
    h.get_all_by_label(second)
        .next()
        .unwrap()
        .click_modifiers(egui::Modifiers::COMMAND);
    h.step();
    h.input_mut().events.push(egui::Event::Copy);
    h.step();
    let copied = copied(h);
    assert_eq!(copied.len(), 1, "{copied:?}");
    copied[0].clone()
}

/// What the window put on the clipboard in its last frame.
pub fn copied(h: &mut Harness<'_, Shell>) -> Vec<String> {
    h.output()
        .platform_output
        .commands
        .iter()
        .filter_map(|c| match c {
            egui::OutputCommand::CopyText(text) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The body a plain HTTP client gets for `url` (a shared link), which must answer 2xx.
pub fn fetch(url: &str) -> Vec<u8> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let response = client.get(url).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        response.bytes().await.unwrap().to_vec()
    })
}
