//! The accept loop and each connection's HTTP/1 serving.

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::handler;
use super::request::Shared;

/// hyper's read buffer limit: larger reads mean fewer syscalls and frames per GiB received.
const MAX_READ_BUFFER: usize = 1024 * 1024;

pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
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
