//! Work the window starts but must not wait for: file dialogs, walking dropped folders, testing
//! the connection, listing the account's buckets, listing a bucket's folder page by page, making
//! a folder and opening the log folder. Each runs on its own thread and answers with a
//! `Reply` on one channel, then wakes the window. Dialogs and the file manager are reached
//! through the `Desktop` trait, so tests can stand in for them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use crate::engine::walk::{FolderName, KeyRule, Problem};
use crate::engine::{Command, CommandSender};
use crate::engine::{Connection, JobSpec};
use crate::oss::client::Client;
use crate::oss::error::{Error, ErrorClass, TransportKind};
use crate::oss::sign::Credentials;

use super::bucket_picker::{self, ListedBucket};
use super::folder_browser::{FolderPage, ListRequest};
use super::settings::AppSettings;

/// Files go to the engine in batches this big, so a folder of 100,000 files fills the table
/// as it is walked without one huge message.
pub const ADD_BATCH: usize = 500;
/// A dialog that "closes" faster than a person can press Cancel did not open at all.
const NO_DIALOG_WITHIN: Duration = Duration::from_millis(400);
/// How long Test connection waits for an answer.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long listing the account's buckets (every page) may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// What a background task tells the window.
#[derive(Debug)]
pub enum Reply {
    /// The user picked these in a file dialog.
    Picked(Vec<PathBuf>),
    /// No file dialog could be shown on this computer.
    NoDialog,
    /// A folder walk found more files (running total), or ended.
    Walking {
        found: usize,
        finished: bool,
        /// At the end: what was left out, and why.
        left_out: LeftOutPaths,
    },
    Tested(TestOutcome),
    /// The account's buckets, for the list request numbered `generation`.
    Buckets {
        generation: u64,
        result: Result<Vec<ListedBucket>, TestOutcome>,
    },
    /// One more page of the folder the browser asked for with `generation`.
    FolderPage {
        generation: u64,
        result: Result<FolderPage, TestOutcome>,
    },
    /// A folder (its marker `key`, ending in `/`) was made for the browser's `generation`.
    FolderMade {
        generation: u64,
        result: Result<String, TestOutcome>,
    },
    /// Whether the object at `url` (its plain address) opens without a signature.
    Public {
        url: String,
        public: bool,
    },
    /// Where the typed bucket is (its V4 region), for the request numbered `generation`.
    Located {
        generation: u64,
        result: Result<String, TestOutcome>,
    },
    /// The log folder could not be opened; the folder is named so the user can go there.
    OpenFailed(PathBuf),
}

/// What a working key may do, found by harmless probes: `Some(true)` allowed, `Some(false)`
/// refused (AccessDenied), `None` not found out (some other failure).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Abilities {
    /// InitiateMultipartUpload (the upload is aborted at once: no object, no part).
    pub upload: Option<bool>,
    /// HeadObject of a key that is not there: 404 means reading is allowed.
    pub read: Option<bool>,
    /// ListObjects of the bucket.
    pub list: Option<bool>,
    /// ListBuckets of the account.
    pub buckets: Option<bool>,
}

/// Where Test connection's probes go: a prefix nobody uses.
const TEST_PREFIX: &str = "oss-uploader-connection-test/";

/// Whether a probe was allowed: `Some(false)` for a refusal, `None` for any other failure.
fn allowed<T>(result: Result<T, Error>, also_allowed: Option<&str>) -> Option<bool> {
    match result {
        Ok(_) => Some(true),
        Err(e) if e.code().is_some() && e.code() == also_allowed => Some(true),
        Err(e) if e.code() == Some("AccessDenied") => Some(false),
        Err(e) => {
            tracing::info!("Test connection could not find out a permission: {e}");
            None
        }
    }
}

/// What Test connection found, in terms a person can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestOutcome {
    /// The key works and the bucket is reachable; what else the key may do.
    Ok(Abilities),
    WrongKeyId,
    WrongSecret,
    TokenExpired,
    KeyDisabled,
    NoSuchBucket,
    NoPermission,
    ClockOff,
    NoNetwork,
    Timeout,
    Certificate,
    /// Anything else, in the protocol layer's own plain words.
    Other(crate::text::Text),
}

impl TestOutcome {
    /// Maps a failed call to what the user should fix.
    pub fn from_error(e: &Error) -> Self {
        match e.code() {
            Some("InvalidAccessKeyId") => return Self::WrongKeyId,
            Some("SignatureDoesNotMatch") => return Self::WrongSecret,
            Some("SecurityTokenExpired" | "InvalidSecurityToken") => return Self::TokenExpired,
            Some("AccessKeyDisabled") => return Self::KeyDisabled,
            Some("NoSuchBucket") => return Self::NoSuchBucket,
            Some("RequestTimeTooSkewed") => return Self::ClockOff,
            _ => {}
        }
        if let Error::Transport { kind, .. } = e {
            return match kind {
                TransportKind::Timeout => Self::Timeout,
                TransportKind::Tls => Self::Certificate,
                TransportKind::Connect | TransportKind::Broken => Self::NoNetwork,
            };
        }
        match e.class() {
            ErrorClass::Denied => Self::NoPermission,
            ErrorClass::Retry {
                clock_offset: Some(_),
            } => Self::ClockOff,
            _ => Self::Other(e.user_text()),
        }
    }
}

/// What a file dialog gave back.
#[derive(Debug)]
pub enum Picked {
    Paths(Vec<PathBuf>),
    /// The user closed the dialog without choosing.
    Cancelled,
    /// No dialog could be shown on this computer.
    NoDialog,
}

/// The parts of the desktop the window uses: file dialogs and the file manager (both block, so
/// they are called on background threads), the sleep inhibitor and notifications (which must
/// not block: the frame calls them). Tests pass their own, so `cargo test` never opens a real
/// dialog, can make the file manager fail, and sees what would have been notified.
pub trait Desktop: Send + Sync + std::fmt::Debug {
    /// Shows a file or folder dialog and waits until it closes.
    fn pick(&self, what: Pick) -> Picked;
    /// Shows `dir` (which exists) in the file manager.
    fn open_folder(&self, dir: &Path) -> std::io::Result<()>;
    /// Asks the system not to sleep (`Some(reason)`) or lets it sleep again (`None`).
    fn keep_awake(&self, reason: Option<&str>);
    /// Shows a desktop notification.
    fn notify(&self, summary: &str, body: &str);
}

/// The real desktop: rfd dialogs and the platform's "open" program.
#[derive(Debug, Default)]
pub struct NativeDesktop;

impl Desktop for NativeDesktop {
    fn pick(&self, what: Pick) -> Picked {
        let started = Instant::now();
        let dialog = rfd::AsyncFileDialog::new();
        let picked = match what {
            Pick::Files => pollster::block_on(dialog.pick_files()),
            Pick::Folder => pollster::block_on(dialog.pick_folders()),
        };
        match picked {
            Some(handles) => Picked::Paths(
                handles
                    .into_iter()
                    .map(|h| h.path().to_path_buf())
                    .collect(),
            ),
            // rfd says "cancelled" also when no portal or zenity could show a dialog.
            None if started.elapsed() < NO_DIALOG_WITHIN => Picked::NoDialog,
            None => Picked::Cancelled,
        }
    }

    fn open_folder(&self, dir: &Path) -> std::io::Result<()> {
        open_folder(dir)
    }

    fn keep_awake(&self, reason: Option<&str>) {
        super::desktop_bus::keep_awake(reason);
    }

    fn notify(&self, summary: &str, body: &str) {
        super::desktop_bus::notify(summary, body);
    }
}

/// The window's end of the background threads.
pub struct Background {
    tx: mpsc::Sender<Reply>,
    rx: mpsc::Receiver<Reply>,
    ctx: egui::Context,
    desktop: Arc<dyn Desktop>,
}

/// Which native dialog to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    Files,
    Folder,
}

impl Background {
    pub fn new(ctx: egui::Context, desktop: Arc<dyn Desktop>) -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            tx,
            rx,
            ctx,
            desktop,
        }
    }

    /// Every reply that has arrived.
    pub fn drain(&self) -> Vec<Reply> {
        self.rx.try_iter().collect()
    }

    fn spawn(&self, name: &str, work: impl FnOnce(&mpsc::Sender<Reply>) + Send + 'static) {
        let tx = self.tx.clone();
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                work(&tx);
                ctx.request_repaint();
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start a background thread: {e}");
        }
    }

    /// Opens a file or folder dialog.
    pub fn pick(&self, what: Pick) {
        let desktop = self.desktop.clone();
        self.spawn("file-dialog", move |tx| {
            let reply = match desktop.pick(what) {
                Picked::Paths(paths) => Reply::Picked(paths),
                Picked::NoDialog => Reply::NoDialog,
                Picked::Cancelled => return,
            };
            let _ = tx.send(reply);
        });
    }

    /// Queues `paths` (files and folders, walked here) with keys under the settings' prefix.
    pub fn add_paths(&self, paths: Vec<PathBuf>, settings: AppSettings, engine: CommandSender) {
        self.spawn("folder-walk", move |tx| {
            walk(&paths, &settings, &mut |batch, found, left_out| {
                if !batch.is_empty() {
                    engine.send(Command::Add(batch));
                }
                let _ = tx.send(Reply::Walking {
                    found,
                    finished: left_out.is_some(),
                    left_out: left_out.unwrap_or_default(),
                });
            });
        });
    }

    /// Checks the endpoint, the credentials and the bucket with one harmless listing.
    pub fn test_connection(&self, settings: AppSettings, credentials: Credentials) {
        self.spawn("test-connection", move |tx| {
            let _ = tx.send(Reply::Tested(test_connection(&settings, credentials)));
        });
    }

    /// Lists every bucket the credentials may list (ListBuckets, every page) at `connection`.
    pub fn list_buckets(&self, generation: u64, connection: Connection, credentials: Credentials) {
        self.spawn("list-buckets", move |tx| {
            let result = list_buckets(&connection, credentials);
            let _ = tx.send(Reply::Buckets { generation, result });
        });
    }

    /// Lists one folder of a bucket (ListObjectsV2 with the delimiter `/`), handing over each
    /// page as it comes so the first shows at once; stops early once the browser asked for
    /// something newer.
    pub fn list_folder(&self, request: ListRequest) {
        let ctx = self.ctx.clone();
        self.spawn("list-folder", move |tx| {
            list_folder(&request, &mut |result| {
                let _ = tx.send(Reply::FolderPage {
                    generation: request.generation,
                    result,
                });
                ctx.request_repaint();
            });
        });
    }

    /// Makes the folder `key` (a zero-byte object whose name ends in `/`, as the OSS console
    /// does) in `request`'s bucket; one already there counts as made.
    pub fn make_folder(&self, request: ListRequest, key: String) {
        self.spawn("make-folder", move |tx| {
            let bucket = request.bucket.clone();
            let result = with_client(
                &request.connection,
                request.credentials.clone(),
                TEST_TIMEOUT,
                |client| async move {
                    let empty = crate::oss::client::Body::Empty;
                    // Whatever is already under that name is kept: then the folder is there.
                    let keep = crate::oss::client::ObjectOptions {
                        forbid_overwrite: true,
                        ..Default::default()
                    };
                    match client
                        .put_object(&bucket, &key, empty, &keep, &Default::default())
                        .await
                    {
                        Ok(_) => Ok(key),
                        Err(e) if e.code() == Some("FileAlreadyExists") => Ok(key),
                        Err(e) => Err(e),
                    }
                },
            );
            let _ = tx.send(Reply::FolderMade {
                generation: request.generation,
                result,
            });
        });
    }

    /// Asks whether the plain address `url` opens for anyone (Share offers it when it does).
    pub fn check_public(&self, url: String) {
        self.spawn("check-public", move |tx| {
            let public = runtime().is_ok_and(|rt| {
                rt.block_on(crate::oss::client::opens_unsigned(&url, TEST_TIMEOUT))
            });
            let _ = tx.send(Reply::Public { url, public });
        });
    }

    /// Finds the region of `bucket` for a key that may not list buckets.
    pub fn locate_bucket(
        &self,
        generation: u64,
        connection: Connection,
        credentials: Credentials,
        bucket: String,
    ) {
        self.spawn("locate-bucket", move |tx| {
            let result = locate_bucket(&connection, credentials, bucket);
            let _ = tx.send(Reply::Located { generation, result });
        });
    }

    /// Opens a folder in the system's file manager, creating it first: the log folder may not
    /// exist before the first log line.
    pub fn open_folder(&self, dir: PathBuf) {
        let desktop = self.desktop.clone();
        self.spawn("open-folder", move |tx| {
            let opened = std::fs::create_dir_all(&dir).and_then(|()| desktop.open_folder(&dir));
            if let Err(e) = opened {
                tracing::warn!("could not open {}: {e}", dir.display());
                let _ = tx.send(Reply::OpenFailed(dir));
            }
        });
    }
}

fn test_connection(settings: &AppSettings, credentials: Credentials) -> TestOutcome {
    let bucket = settings.bucket.clone();
    let result = with_client(
        &settings.connection(),
        credentials,
        TEST_TIMEOUT,
        |client| {
            async move {
                // A prefix nobody uses keeps the answer small in a bucket with many unfinished
                // uploads.
                client.list_multipart_uploads(&bucket, TEST_PREFIX).await?;
                let probe = format!("{TEST_PREFIX}probe-{:016x}", fastrand::u64(..));
                let upload = client
                    .initiate_multipart_upload(&bucket, &probe, &Default::default())
                    .await;
                if let Ok(id) = &upload
                    && let Err(e) = client.abort_multipart_upload(&bucket, &probe, id).await
                {
                    // Empty (no part, nothing billed) and under TEST_PREFIX, where the next
                    // Test connection's listing and `oss-uploader ls` show it.
                    tracing::warn!("Test connection could not abort its probe upload {probe}: {e}");
                }
                Ok(Abilities {
                    upload: allowed(upload, None),
                    read: allowed(client.head_object(&bucket, &probe).await, Some("NoSuchKey")),
                    list: allowed(
                        client
                            .list_objects_page(&bucket, TEST_PREFIX, "", None)
                            .await,
                        None,
                    ),
                    buckets: allowed(client.list_buckets("").await, None),
                })
            }
        },
    );
    match result {
        Ok(abilities) => TestOutcome::Ok(abilities),
        Err(outcome) => outcome,
    }
}

fn list_buckets(
    connection: &Connection,
    credentials: Credentials,
) -> Result<Vec<ListedBucket>, TestOutcome> {
    with_client(connection, credentials, LIST_TIMEOUT, |client| async move {
        client
            .list_buckets("")
            .await
            .map(|list| list.iter().map(ListedBucket::from).collect())
    })
}

/// GetBucketLocation of `bucket` at `connection` (signed with V1: see
/// `bucket_picker::locating_connection`). A bucket in another region than the endpoint's is
/// refused with the endpoint to use, which names its region just as well.
fn locate_bucket(
    connection: &Connection,
    credentials: Credentials,
    bucket: String,
) -> Result<String, TestOutcome> {
    with_client(connection, credentials, TEST_TIMEOUT, |client| async move {
        match client.get_bucket_location(&bucket).await {
            Ok(location) => Ok(crate::oss::listing::region_of_location(&location)),
            Err(e) => bucket_picker::region_from_hint(&e).ok_or(e),
        }
    })
}

/// Pages through `request`'s folder, each page (or the failure that ends the listing) handed to
/// `emit`. Each page has `LIST_TIMEOUT` of its own: 100,000 keys are 100 pages.
fn list_folder(request: &ListRequest, emit: &mut dyn FnMut(Result<FolderPage, TestOutcome>)) {
    let (client, runtime) =
        match client_and_runtime(&request.connection, request.credentials.clone()) {
            Ok(both) => both,
            Err(outcome) => return emit(Err(outcome)),
        };
    let mut token: Option<String> = None;
    loop {
        if !request.wanted() {
            return;
        }
        let page = runtime.block_on(async {
            let call =
                client.list_objects_page(&request.bucket, &request.prefix, "/", token.as_deref());
            match tokio::time::timeout(LIST_TIMEOUT, call).await {
                Ok(Ok(page)) => Ok(page),
                Ok(Err(e)) => Err(TestOutcome::from_error(&e)),
                Err(_) => Err(TestOutcome::Timeout),
            }
        });
        let page = match page {
            Ok(page) => page,
            Err(outcome) => return emit(Err(outcome)),
        };
        // A truncated page without a token to go on from, or with the same one again, would
        // loop for ever: the listing ends there.
        let next = page
            .next_continuation_token
            .clone()
            .filter(|t| page.is_truncated && !t.is_empty() && token.as_deref() != Some(t.as_str()));
        let last = next.is_none();
        emit(Ok(FolderPage::from_listing(&request.prefix, page, last)));
        if last {
            return;
        }
        token = next;
    }
}

/// A client for `connection` and a runtime of its own to run its calls on.
fn client_and_runtime(
    connection: &Connection,
    credentials: Credentials,
) -> Result<(Client, tokio::runtime::Runtime), TestOutcome> {
    let config = connection.client_config(credentials).map_err(|e| {
        TestOutcome::Other(crate::text::Text::new(
            e.to_string(),
            format!("设置不正确：{e}"),
        ))
    })?;
    let client = Client::new(config).map_err(|e| TestOutcome::from_error(&e))?;
    Ok((client, runtime()?))
}

/// A runtime of its own for one background task's calls.
fn runtime() -> Result<tokio::runtime::Runtime, TestOutcome> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            TestOutcome::Other(crate::text::Text::new(
                format!("internal error: {e}"),
                format!("内部错误：{e}"),
            ))
        })
}

/// Runs one call of a client for `connection` on a runtime of its own, within `timeout`; a
/// failure comes back as what the user should fix.
fn with_client<T, F>(
    connection: &Connection,
    credentials: Credentials,
    timeout: Duration,
    call: impl FnOnce(Client) -> F,
) -> Result<T, TestOutcome>
where
    F: std::future::Future<Output = Result<T, Error>>,
{
    let (client, runtime) = client_and_runtime(connection, credentials)?;
    runtime.block_on(async move {
        match tokio::time::timeout(timeout, call(client)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(TestOutcome::from_error(&e)),
            Err(_) => Err(TestOutcome::Timeout),
        }
    })
}

fn open_folder(dir: &Path) -> std::io::Result<()> {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let status = std::process::Command::new(program).arg(dir).status()?;
    // Explorer answers 1 even when it opened the folder.
    if status.success() || cfg!(windows) {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("{program} failed: {status}")))
    }
}

/// The paths a walk left out, by why, so each reason is said with the names it concerns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeftOutPaths {
    /// Chosen paths that do not exist (moved or deleted since they were picked).
    pub missing: Vec<PathBuf>,
    /// Paths that exist but could not be read (permissions, I/O).
    pub unreadable: Vec<PathBuf>,
    /// Not regular files (pipes, sockets, devices), or names that are not valid text.
    pub special: Vec<PathBuf>,
}

/// What was left out of a walk, given once it ended; `None` while it goes on.
pub type LeftOut = Option<LeftOutPaths>;

/// Walks `paths` with the one walker (a dropped folder keeps its own name in the keys), handing
/// batches of jobs to `emit(batch, found so far, left out at the end)`.
pub fn walk(
    paths: &[PathBuf],
    settings: &AppSettings,
    emit: &mut dyn FnMut(Vec<JobSpec>, usize, LeftOut),
) {
    let rule = KeyRule::new(&settings.prefix, FolderName::Keep);
    let mut batch = Vec::with_capacity(ADD_BATCH);
    let report = crate::engine::walk::walk(paths, &rule, &mut |found, so_far| {
        batch.push(settings.spec(found.path, found.key));
        if batch.len() >= ADD_BATCH {
            emit(std::mem::take(&mut batch), so_far.found, None);
        }
    });
    let mut left_out = LeftOutPaths::default();
    for problem in &report.problems {
        let list = match problem {
            Problem::Missing(_) => &mut left_out.missing,
            Problem::Unreadable(..) => &mut left_out.unreadable,
            Problem::Special(..) | Problem::NotUtf8(_) => &mut left_out.special,
        };
        list.push(problem.path().to_owned());
    }
    emit(batch, report.found, Some(left_out));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walking_a_folder_batches_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        std::fs::create_dir_all(top.join("sub")).unwrap();
        for i in 0..(ADD_BATCH + 3) {
            std::fs::write(top.join(format!("f{i:04}")), b"x").unwrap();
        }
        std::fs::write(top.join("sub/inner.txt"), b"y").unwrap();
        let settings = AppSettings {
            bucket: "b-1".into(),
            prefix: "/in//".into(),
            ..AppSettings::default()
        };
        let mut keys = Vec::new();
        let mut calls = 0;
        walk(&[top], &settings, &mut |batch, _, _| {
            calls += 1;
            keys.extend(batch.into_iter().map(|s| s.key));
        });
        assert_eq!(calls, 2);
        assert_eq!(keys.len(), ADD_BATCH + 4);
        assert_eq!(keys[0], "in/top/f0000");
        assert!(keys.contains(&"in/top/sub/inner.txt".to_owned()));
    }

    #[test]
    fn errors_map_to_what_to_fix() {
        let e = Error::Transport {
            kind: TransportKind::Tls,
            message: "bad cert".into(),
        };
        assert_eq!(TestOutcome::from_error(&e), TestOutcome::Certificate);
        let e = Error::service(crate::oss::error::ServiceError {
            status: 403,
            code: "SignatureDoesNotMatch".into(),
            ..Default::default()
        });
        assert_eq!(TestOutcome::from_error(&e), TestOutcome::WrongSecret);
        let e = Error::service(crate::oss::error::ServiceError {
            status: 403,
            code: "AccessDenied".into(),
            ..Default::default()
        });
        assert_eq!(TestOutcome::from_error(&e), TestOutcome::NoPermission);
    }
}
