//! What the integration tests share: a local OSS server on 127.0.0.1 with the standard test
//! account and bucket, deterministic test data, files in temporary folders, connections and
//! clients to the server, and polling with a bound.
//!
//! Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oss_uploader::engine::checkpoint::ObjectOptions;
use oss_uploader::engine::{Connection, EngineHandle, Event, JobSpec};
use oss_uploader::local_server::{FaultAction, FaultRule, LocalServer, Op, ServerConfig};
use oss_uploader::oss::client::Client;
use oss_uploader::oss::sign::{Credentials, SignatureVersion};

pub const AK: &str = "test-ak";
pub const SK: &str = "test-secret";
pub const BUCKET: &str = "test-bucket";
pub const REGION: &str = "cn-hangzhou";

/// How long a poll waits before it fails: generous, nothing asserts on timing.
pub const WAIT: Duration = Duration::from_secs(60);

/// The standard test credentials, the ones the server accepts.
pub fn credentials() -> Credentials {
    Credentials::new(AK, SK)
}

/// A local OSS server storing into a temporary folder that goes away with it. Derefs to the
/// [`LocalServer`] for its endpoint, statistics and faults.
pub struct TestServer {
    server: LocalServer,
    _root: tempfile::TempDir,
}

impl TestServer {
    /// A server that accepts only [`credentials`] and has the bucket [`BUCKET`].
    pub async fn start() -> Self {
        Self::start_with(|c| c).await
    }

    /// As [`TestServer::start`], with `config` applied on top (more buckets, another clock).
    pub async fn start_with(config: impl FnOnce(ServerConfig) -> ServerConfig) -> Self {
        let root = tempfile::tempdir().unwrap();
        let cfg = config(
            ServerConfig::new(root.path())
                .with_credentials(credentials())
                .with_bucket(BUCKET),
        );
        let server = LocalServer::start(cfg).await.unwrap();
        Self {
            server,
            _root: root,
        }
    }

    /// The connection the app, the queue and the engine use: V4, path style, [`REGION`].
    pub fn connection(&self) -> Connection {
        Connection {
            endpoint: self.server.endpoint(),
            region: Some(REGION.into()),
            signature: SignatureVersion::V4,
            path_style: true,
        }
    }

    /// A job uploading `path` to `key` in [`BUCKET`] in parts of 100 KiB, two at a time.
    pub fn spec(&self, path: &Path, key: &str) -> JobSpec {
        JobSpec {
            path: path.to_owned(),
            connection: self.connection(),
            bucket: BUCKET.into(),
            key: key.into(),
            part_size: 100 * 1024,
            threads: 2,
            options: ObjectOptions::default(),
            account: String::new(),
        }
    }

    /// Holds back the answer to every part upload by `delay`, so that a pause, a cancel or a
    /// shutdown lands while the upload is still going.
    pub fn slow_parts(&self, delay: Duration) {
        self.faults()
            .add(FaultRule::new(Some(Op::UploadPart), 1, FaultAction::Delay(delay)).times(10_000));
    }

    /// A client of this server with the standard credentials and default settings.
    pub fn client(&self) -> Client {
        Client::new(self.connection().client_config(credentials()).unwrap()).unwrap()
    }
}

impl Deref for TestServer {
    type Target = LocalServer;

    fn deref(&self) -> &LocalServer {
        &self.server
    }
}

/// `len` bytes of deterministic noise (xorshift32), a different stream for each `seed`.
pub fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Writes `content` to `dir/name`, making the folders `name` asks for; returns the path.
pub fn write_file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, content).unwrap();
    p
}

/// The whole object `bucket/key`, which must exist.
pub async fn object(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    client
        .get_object(bucket, key, None)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

/// Polls `ready` every few milliseconds until it holds; fails naming `what` after `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// [`wait_until`] for a thread without a runtime.
pub fn wait_until_blocking(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The resume records (`<16 hex digits>.json`) in a data folder's `checkpoints/`.
pub fn records_in(data_dir: &Path) -> Vec<PathBuf> {
    checkpoint_files(data_dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .is_some_and(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .collect()
}

/// Everything in a data folder's `checkpoints/`: records, intents, locks, temporary files.
pub fn checkpoint_files(data_dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(data_dir.join("checkpoints")) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Collects `engine`'s events into `seen` until `pred` holds for a new one, or fails after a
/// generous bound.
pub fn next_event(
    engine: &EngineHandle,
    seen: &mut Vec<Event>,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = engine
            .events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no such event; saw {seen:#?}"));
        seen.push(e.clone());
        if pred(&e) {
            return e;
        }
    }
}
