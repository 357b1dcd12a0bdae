//! The accept loop and each connection's HTTP/1 serving: at most `max_connections` at once,
//! headers within `header_timeout` (which also ends idle keep-alive connections), and the
//! network shaping when asked for. An unshaped connection is served on the bare socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use super::handler::{self, Dropped};
use super::reply::Body;
use super::request::Shared;
use super::shaping::{Link, Shaped};

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
    let link = Link::new(&shared.config.shaping);
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
                open.fetch_add(1, Ordering::Relaxed);
                let slot = Slot { _permit: permit, open: open.clone() };
                connections.spawn(connection(stream, peer, shared.clone(), link.clone(), slot));
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

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    link: Link,
    _slot: Slot,
) {
    let shaping = &shared.config.shaping;
    let result = if shaping.conn_rate.is_some() || shaping.link_rate.is_some() {
        let shaped = Shaped::new(stream, shaping, &link);
        serve_http(shaped, shared.clone()).await
    } else {
        serve_http(stream, shared.clone()).await
    };
    if let Err(e) = result {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

async fn serve_http<I>(io: I, shared: Arc<Shared>) -> hyper::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .max_buf_size(MAX_READ_BUFFER)
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_timeout);
    let latency = shared.config.shaping.latency;
    if latency.is_zero() {
        let service = hyper::service::service_fn(move |req| handler::serve(shared.clone(), req));
        builder.serve_connection(TokioIo::new(io), service).await
    } else {
        let new_connection = Arc::new(AtomicBool::new(true));
        let service = hyper::service::service_fn(move |req| {
            delayed(shared.clone(), req, latency, new_connection.clone())
        });
        builder.serve_connection(TokioIo::new(io), service).await
    }
}

/// The request as if it had crossed a link with this one-way latency, and its answer too.
async fn delayed(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
    latency: Duration,
    new_connection: Arc<AtomicBool>,
) -> Result<Response<Body>, Dropped> {
    // The first request on a connection also waited for the TCP handshake: one round trip.
    let arrival = if new_connection.swap(false, Ordering::Relaxed) {
        3 * latency
    } else {
        latency
    };
    tokio::time::sleep(arrival).await;
    let answer = handler::serve(shared, req).await;
    tokio::time::sleep(latency).await;
    answer
}
