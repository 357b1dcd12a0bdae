//! An OSS-compatible server on loopback: the calls in OSS-FACTS.md, path-style, stored on disk
//! under one root directory so objects and unfinished uploads survive a restart, with V4/V1
//! signature checks and deterministic fault injection for the engine's tests.
//!
//! This module is the public library face (`LocalServer` and what it re-exports); nothing
//! below imports it. Layers, top down: `conn` (the accept loop and each connection), `handler`
//! (routing a request to a call), the calls (`objects`, `multipart`, `listing`), the toolbox
//! they share (`request`, `headers`, `callback`, `auth`, `presigned`, `body`), and the ground
//! (`store` with its key `index`, `reply`, `faults`, `calls`, `config`).

mod auth;
mod body;
mod callback;
mod calls;
mod config;
mod conn;
mod faults;
mod handler;
mod headers;
mod index;
mod listing;
mod multipart;
mod objects;
mod presigned;
mod reply;
mod request;
mod shaping;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

pub use auth::{Authorization, parse_authorization};
pub use calls::{Op, Stats};
pub use config::{
    DEFAULT_BODY_IDLE_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_REGION,
    ServerConfig,
};
pub use faults::{FaultAction, FaultRule, FaultSpecError, Faults, parse_duration, parse_fault};
pub use shaping::{Rate, RateError, Shaping, parse_rate};

/// A running server. Dropping it stops it too, but `shutdown` waits until it has stopped.
pub struct LocalServer {
    addr: SocketAddr,
    shared: Arc<request::Shared>,
    open_connections: Arc<AtomicUsize>,
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
        if config.header_timeout.is_zero()
            || config.body_idle_timeout.is_zero()
            || config.max_connections == 0
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the header and body timeouts and the connection limit must be above zero",
            ));
        }
        let store = store::Store::open(&config.root)?;
        for bucket in &config.buckets {
            crate::oss::limits::validate_bucket(bucket)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            store.create_bucket(bucket)?;
        }
        for (bucket, acl) in &config.bucket_acls {
            if !matches!(
                acl.as_str(),
                "private" | "public-read" | "public-read-write"
            ) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("no bucket ACL is called {acl:?}"),
                ));
            }
            store.set_bucket_acl(bucket, acl)?;
        }
        let listener = TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let slots = Arc::new(Semaphore::new(
            config.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        let open_connections = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(request::Shared::new(config, store, addr));
        let task = tokio::spawn(conn::accept_loop(
            listener,
            shared.clone(),
            slots,
            open_connections.clone(),
            shutdown_rx,
        ));
        tracing::info!(%addr, shaping = %shared.config.shaping, "local OSS server listening");
        Ok(LocalServer {
            addr,
            shared,
            open_connections,
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

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.open_connections.load(Ordering::Relaxed)
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
