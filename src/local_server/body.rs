//! Request bodies: streamed to a file while MD5 and CRC-64 are computed, with memory bounded by
//! a few reused buffers per request, whatever the body's size or framing (Content-Length or
//! chunked).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use md5::{Digest as _, Md5};
use tokio::sync::mpsc;

use crate::oss::crc64::Crc64;

/// Bytes handed to the writer thread at a time: large enough that syscalls and hand-offs cost
/// little, small enough that many parallel uploads stay light.
const CHUNK: usize = 512 * 1024;
/// Buffers per request: one being filled, one being written, one spare.
const BUFFERS: usize = 3;

/// What was received.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Received {
    pub size: u64,
    pub md5: [u8; 16],
    pub crc64: u64,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The client stopped sending or the connection broke; there is no one to answer.
    #[error("the request body could not be read: {0}")]
    Client(String),
    /// A fault rule asked to drop the connection.
    #[error("connection dropped by a fault rule after {0} body bytes")]
    Dropped(u64),
    #[error("the body is larger than the {0} bytes allowed")]
    TooLarge(u64),
    #[error("storage error: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the next data frame; `None` at the end of the body.
async fn next_data(body: &mut Incoming) -> Result<Option<Bytes>, BodyError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(BodyError::Client(e.to_string())),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
                // Trailers carry nothing we store.
            }
        }
    }
}

/// Streams the body into `path` (created), hashing as it goes. On error the file is removed.
pub(crate) async fn receive_to_file(
    body: &mut Incoming,
    path: &Path,
    max_size: u64,
    counter: &AtomicU64,
) -> Result<Received, BodyError> {
    let result = receive_inner(body, path.to_owned(), max_size, counter).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(path).await;
    }
    result
}

async fn receive_inner(
    body: &mut Incoming,
    path: PathBuf,
    max_size: u64,
    counter: &AtomicU64,
) -> Result<Received, BodyError> {
    let (full_tx, mut full_rx) = mpsc::channel::<Vec<u8>>(BUFFERS);
    let (free_tx, mut free_rx) = mpsc::channel::<Vec<u8>>(BUFFERS);
    for _ in 1..BUFFERS {
        let _ = free_tx.try_send(Vec::with_capacity(CHUNK));
    }
    // Hashing and writing run on a blocking thread so the runtime keeps serving other
    // connections while a large body is processed.
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<([u8; 16], u64)> {
        let mut file = std::fs::File::create(&path)?;
        let mut md5 = Md5::new();
        let mut crc = Crc64::new();
        while let Some(mut buf) = full_rx.blocking_recv() {
            md5.update(&buf);
            crc.update(&buf);
            file.write_all(&buf)?;
            buf.clear();
            // The reader may have finished and gone; the buffer is then just freed.
            let _ = free_tx.try_send(buf);
        }
        Ok((md5.finalize().into(), crc.value()))
    });

    let mut size = 0u64;
    let mut buf = Vec::with_capacity(CHUNK);
    let read_result: Result<(), BodyError> = async {
        while let Some(mut data) = next_data(body).await? {
            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
            size += data.len() as u64;
            if size > max_size {
                return Err(BodyError::TooLarge(max_size));
            }
            while !data.is_empty() {
                let take = (CHUNK - buf.len()).min(data.len());
                buf.extend_from_slice(&data.split_to(take));
                if buf.len() == CHUNK {
                    let next = match free_rx.recv().await {
                        Some(b) => b,
                        None => Vec::with_capacity(CHUNK),
                    };
                    let full = std::mem::replace(&mut buf, next);
                    if full_tx.send(full).await.is_err() {
                        // The writer stopped early: its own error is reported below.
                        return Ok(());
                    }
                }
            }
        }
        if !buf.is_empty() {
            let _ = full_tx.send(std::mem::take(&mut buf)).await;
        }
        Ok(())
    }
    .await;
    drop(full_tx);
    let written = writer
        .await
        .map_err(|e| BodyError::Io(std::io::Error::other(e)))?;
    read_result?;
    let (md5, crc64) = written?;
    Ok(Received { size, md5, crc64 })
}

/// Reads a small body (XML) into memory, refusing more than `limit` bytes.
pub(crate) async fn read_small(
    body: &mut Incoming,
    limit: usize,
    counter: &AtomicU64,
) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    while let Some(data) = next_data(body).await? {
        counter.fetch_add(data.len() as u64, Ordering::Relaxed);
        if out.len() + data.len() > limit {
            return Err(BodyError::TooLarge(limit as u64));
        }
        out.extend_from_slice(&data);
    }
    Ok(out)
}

/// Reads and discards the rest of a body, so an early answer reaches a client that is still
/// sending instead of meeting a reset connection.
pub(crate) async fn drain(body: &mut Incoming, counter: &AtomicU64) -> Result<(), BodyError> {
    while let Some(data) = next_data(body).await? {
        counter.fetch_add(data.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Reads up to `limit` bytes and gives up; used by the drop fault when nothing is stored.
pub(crate) async fn read_then_drop(
    body: &mut Incoming,
    limit: u64,
    counter: &AtomicU64,
) -> BodyError {
    let mut size = 0u64;
    loop {
        if size >= limit {
            return BodyError::Dropped(limit);
        }
        match next_data(body).await {
            Ok(Some(data)) => {
                let take = (data.len() as u64).min(limit - size);
                counter.fetch_add(take, Ordering::Relaxed);
                size += take;
            }
            Ok(None) => return BodyError::Dropped(size),
            Err(e) => return e,
        }
    }
}
