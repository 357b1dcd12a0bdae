//! An OSS-compatible server on loopback: the calls in OSS-FACTS.md, path-style, stored on disk
//! under one root directory so objects and unfinished uploads survive a restart, with V4/V1
//! signature checks and deterministic fault injection for the engine's tests.
//!
//! This module owns the public library face (`ServerConfig`, `LocalServer`, `Op`, `Stats`) and
//! the accept loop; the request handling lives in the submodules.

mod auth;
mod body;
mod callback;
mod faults;
mod handler;
mod multipart;
mod objects;
mod reply;
mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::oss::sign::Credentials;

/// hyper's read buffer limit: larger reads mean fewer syscalls and frames per GiB received.
const MAX_READ_BUFFER: usize = 1024 * 1024;

pub use faults::{FaultAction, FaultRule, FaultSpecError, Faults, parse_duration, parse_fault};

/// How to run a local server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where buckets, objects and unfinished uploads are kept.
    pub root: PathBuf,
    /// Must be a loopback address; port 0 picks a free port.
    pub addr: SocketAddr,
    /// `None` accepts anonymous requests without checking signatures.
    pub credentials: Option<Credentials>,
    /// Created at start when missing.
    pub buckets: Vec<String>,
    /// Added to the real clock: lets tests provoke `RequestTimeTooSkewed`.
    pub clock_offset_secs: i64,
}

impl ServerConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            credentials: None,
            buckets: Vec::new(),
            clock_offset_secs: 0,
        }
    }

    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    pub fn with_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.buckets.push(bucket.into());
        self
    }

    pub fn with_clock_offset_secs(mut self, secs: i64) -> Self {
        self.clock_offset_secs = secs;
        self
    }
}

/// The calls the server understands; faults and statistics are kept per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    PutBucket,
    PutObject,
    GetObject,
    HeadObject,
    DeleteObject,
    InitiateMultipartUpload,
    UploadPart,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    ListMultipartUploads,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::PutBucket,
        Op::PutObject,
        Op::GetObject,
        Op::HeadObject,
        Op::DeleteObject,
        Op::InitiateMultipartUpload,
        Op::UploadPart,
        Op::CompleteMultipartUpload,
        Op::AbortMultipartUpload,
        Op::ListParts,
        Op::ListMultipartUploads,
    ];

    /// The snake_case name used by the `--fault` flag and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Op::PutBucket => "put_bucket",
            Op::PutObject => "put_object",
            Op::GetObject => "get_object",
            Op::HeadObject => "head_object",
            Op::DeleteObject => "delete_object",
            Op::InitiateMultipartUpload => "initiate_multipart_upload",
            Op::UploadPart => "upload_part",
            Op::CompleteMultipartUpload => "complete_multipart_upload",
            Op::AbortMultipartUpload => "abort_multipart_upload",
            Op::ListParts => "list_parts",
            Op::ListMultipartUploads => "list_multipart_uploads",
        }
    }

    /// Reads a name as `name()` writes it, or a short form (`initiate`, `complete`, `abort`,
    /// `list_uploads`); `-` may stand for `_`.
    pub fn from_name(name: &str) -> Option<Op> {
        let name = name.trim().to_ascii_lowercase().replace('-', "_");
        let short = match name.as_str() {
            "initiate" => Some(Op::InitiateMultipartUpload),
            "complete" => Some(Op::CompleteMultipartUpload),
            "abort" => Some(Op::AbortMultipartUpload),
            "list_uploads" => Some(Op::ListMultipartUploads),
            "put" => Some(Op::PutObject),
            "get" => Some(Op::GetObject),
            "head" => Some(Op::HeadObject),
            "delete" => Some(Op::DeleteObject),
            _ => None,
        };
        short.or_else(|| Op::ALL.into_iter().find(|op| op.name() == name))
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A snapshot of what the server has seen since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests per call, including those answered by a fault.
    pub requests: BTreeMap<Op, u64>,
    /// Request body bytes read per call, including bodies later refused or dropped.
    pub body_bytes: BTreeMap<Op, u64>,
}

impl Stats {
    pub fn requests(&self, op: Op) -> u64 {
        self.requests.get(&op).copied().unwrap_or(0)
    }

    pub fn body_bytes(&self, op: Op) -> u64 {
        self.body_bytes.get(&op).copied().unwrap_or(0)
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }
}

/// Live counters behind [`Stats`].
#[derive(Default)]
pub(crate) struct Counters {
    requests: [AtomicU64; 11],
    body_bytes: [AtomicU64; 11],
}

impl Counters {
    pub(crate) fn request(&self, op: Op) {
        self.requests[op.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn bytes(&self, op: Op) -> &AtomicU64 {
        &self.body_bytes[op.index()]
    }

    fn snapshot(&self) -> Stats {
        let mut stats = Stats::default();
        for op in Op::ALL {
            let r = self.requests[op.index()].load(Ordering::Relaxed);
            let b = self.body_bytes[op.index()].load(Ordering::Relaxed);
            if r > 0 {
                stats.requests.insert(op, r);
            }
            if b > 0 {
                stats.body_bytes.insert(op, b);
            }
        }
        stats
    }
}

/// A running server. Dropping it stops it too, but `shutdown` waits until it has stopped.
pub struct LocalServer {
    addr: SocketAddr,
    shared: Arc<handler::Shared>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl LocalServer {
    /// Opens the store, creates the configured buckets, binds and starts serving on the current
    /// tokio runtime.
    pub async fn start(config: ServerConfig) -> std::io::Result<LocalServer> {
        if !config.addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the local server only listens on loopback (127.0.0.1 or ::1), not {}",
                    config.addr
                ),
            ));
        }
        let store = store::Store::open(&config.root)?;
        for bucket in &config.buckets {
            crate::oss::limits::validate_bucket(bucket)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            store.create_bucket(bucket)?;
        }
        let listener = TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(handler::Shared::new(config, store, addr));
        let task = tokio::spawn(accept_loop(listener, shared.clone(), shutdown_rx));
        tracing::info!(%addr, "local OSS server listening");
        Ok(LocalServer {
            addr,
            shared,
            shutdown,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the endpoint to give a client (path-style addressing).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Where the server keeps its data.
    pub fn root(&self) -> &std::path::Path {
        self.shared.store.root()
    }

    /// Stops accepting, drops open connections and waits for the server task to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<handler::Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Running out of descriptors is transient; back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        handler::serve(shared.clone(), req)
                    });
                    if let Err(e) = http1::Builder::new()
                        .keep_alive(true)
                        .max_buf_size(MAX_READ_BUFFER)
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                });
                while connections.try_join_next().is_some() {}
            }
            // A dropped sender ends the server as well as an explicit shutdown.
            _ = shutdown.changed() => break,
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    tracing::info!("local OSS server stopped");
}
