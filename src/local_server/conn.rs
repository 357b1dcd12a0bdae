//! The accept loop and each connection's HTTP/1 serving: at most `max_connections` at once,
//! headers within `header_timeout` (which also ends idle keep-alive connections).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use super::handler;
use super::request::Shared;

/// hyper's read buffer limit: larger reads mean fewer syscalls and frames per GiB received.
const MAX_READ_BUFFER: usize = 1024 * 1024;

/// A connection's place among the `max_connections`, counted in `open` while it lives.
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    open: Arc<AtomicUsize>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        // A free slot first: while all are taken, new clients wait in the listen queue.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
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
                open.fetch_add(1, Ordering::Relaxed);
                let slot = Slot { _permit: permit, open: open.clone() };
                connections.spawn(async move {
                    let _slot = slot;
                    let header_timeout = shared.config.header_timeout;
                    let service = hyper::service::service_fn(move |req| {
                        handler::serve(shared.clone(), req)
                    });
                    if let Err(e) = http1::Builder::new()
                        .keep_alive(true)
                        .max_buf_size(MAX_READ_BUFFER)
                        .timer(TokioTimer::new())
                        .header_read_timeout(header_timeout)
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
