//! How a request's body goes out. A file range is streamed in chunks read with positioned reads
//! on the blocking pool, straight into buffers that are reused once the connection lets go of
//! them, with the CRC-64 computed on the way: a part is never held whole in memory. What the
//! stream saw (its CRC, a local read error) is kept for the client to check once the request
//! is over.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};

use super::crc64::{self, Crc64};
use super::error::Error;
use super::request::Payload;
use super::types::{Body, FileRange, Transfer};

/// How much of a file is read and sent at a time: small enough for steady progress and flat
/// memory (a few chunks per part in flight), large enough that per-chunk costs (a hop to the
/// blocking pool and back, a socket write) do not matter. Measured on a 1 GiB upload over
/// loopback: 64 KiB chunks cost about twice the client CPU of 512 KiB ones, and 1 MiB chunks
/// about 15% less than 512 KiB; 2 MiB saved nothing more and used more memory.
pub const CHUNK_SIZE: usize = 1024 * 1024;

/// A body handed to the connection, and what can be learnt about it once the request is over.
pub(super) struct Outgoing {
    data: Option<Body>,
    watch: Option<Arc<Mutex<StreamWatch>>>,
}

impl Outgoing {
    /// Turns a payload into what the connection sends: a file range as a stream, the rest as
    /// one buffer (counted as sent when handed over).
    pub(super) fn start(payload: Payload, transfer: &Transfer) -> (reqwest::Body, Self) {
        let mut out = Self {
            data: None,
            watch: None,
        };
        let body = match payload {
            Payload::Empty => reqwest::Body::from(Bytes::new()),
            Payload::Xml(s) => reqwest::Body::from(s),
            Payload::Data(data) => {
                let body = match &data {
                    Body::Empty => reqwest::Body::from(Bytes::new()),
                    Body::Bytes(b) => {
                        if let Some(p) = &transfer.progress {
                            // The whole buffer goes in one piece; count it as it is handed over.
                            p(b.len() as u64);
                        }
                        reqwest::Body::from(b.clone())
                    }
                    Body::File(range) => {
                        let watch = Arc::new(Mutex::new(StreamWatch::default()));
                        let stream = file_stream(range.clone(), transfer.clone(), watch.clone());
                        out.watch = Some(watch);
                        reqwest::Body::wrap_stream(stream)
                    }
                };
                out.data = Some(data);
                body
            }
        };
        (body, out)
    }

    /// The CRC of what was sent, or the local read error that cut the body short.
    pub(super) fn sent_crc(&self) -> Result<u64, Error> {
        match (&self.data, &self.watch) {
            (Some(Body::Bytes(b)), _) => Ok(crc64::checksum(b)),
            (Some(Body::File(range)), Some(w)) => {
                let mut w = w.lock().map_err(|_| Error::Protocol {
                    status: 0,
                    message: "internal lock poisoned".into(),
                    request_id: String::new(),
                })?;
                if let Some(e) = w.error.take() {
                    return Err(Error::Io {
                        path: range.path.clone(),
                        source: e,
                    });
                }
                Ok(w.crc.value())
            }
            _ => Ok(0),
        }
    }

    /// A send failure of a file body: when the file itself failed, say that, not "network".
    pub(super) fn explain(&self, err: Error) -> Error {
        if let (Some(w), Some(Body::File(r))) = (&self.watch, &self.data)
            && let Ok(mut w) = w.lock()
            && let Some(e) = w.error.take()
        {
            return Error::Io {
                path: r.path.clone(),
                source: e,
            };
        }
        err
    }
}

/// What streaming a file body observed, read once the request is over.
#[derive(Default)]
struct StreamWatch {
    crc: Crc64,
    error: Option<std::io::Error>,
}

/// A stream of the file range, read `CHUNK_SIZE` at a time and sent in the pieces `pace`
/// grants (whole chunks when nothing limits), that updates `watch` as it goes.
fn file_stream(
    range: FileRange,
    transfer: Transfer,
    watch: Arc<Mutex<StreamWatch>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    struct State {
        file: Option<Arc<std::fs::File>>,
        /// Bytes of the file not yet read.
        remaining: u64,
        /// Read but not yet sent: what is left of the last chunk after a paced piece.
        unsent: Bytes,
        range: FileRange,
        transfer: Transfer,
        watch: Arc<Mutex<StreamWatch>>,
        recent: Recent,
    }
    let state = State {
        file: None,
        remaining: range.len,
        unsent: Bytes::new(),
        range,
        transfer,
        watch,
        recent: Recent::default(),
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.unsent.is_empty() {
            if st.remaining == 0 {
                return None;
            }
            match next_chunk(&mut st.file, &st.range, st.remaining, &mut st.recent).await {
                Ok(chunk) => {
                    st.remaining -= chunk.len() as u64;
                    st.unsent = chunk;
                }
                Err(e) => {
                    let for_caller = std::io::Error::new(e.kind(), e.to_string());
                    if let Ok(mut w) = st.watch.lock() {
                        w.error = Some(e);
                    }
                    st.remaining = 0;
                    return Some((Err(for_caller), st));
                }
            }
        }
        let ready = st.unsent.len() as u64;
        let granted = match &st.transfer.pace {
            Some(pace) => pace(ready).await.clamp(1, ready),
            None => ready,
        };
        // Slicing shares the buffer: a paced piece costs no copy.
        let piece = st.unsent.split_to(granted as usize);
        if let Ok(mut w) = st.watch.lock() {
            w.crc.update(&piece);
        }
        if let Some(progress) = &st.transfer.progress {
            progress(granted);
        }
        Some((Ok(piece), st))
    })
}

/// The last few chunks handed to the connection. Once it has written one and let go of it, its
/// buffer is read into again: a fresh buffer would be zeroed and faulted in for every chunk,
/// which cost more CPU than computing the CRC.
#[derive(Default)]
struct Recent(std::collections::VecDeque<Bytes>);

impl Recent {
    /// Chunks kept: the one the connection is writing and the one before it, which by the
    /// time the next chunk is read has usually been written and can take it.
    const KEEP: usize = 2;

    /// A buffer no one else holds, of at least `len` bytes, truncated to `len`.
    fn take_free(&mut self, len: usize) -> Option<BytesMut> {
        for _ in 0..self.0.len() {
            let chunk = self.0.pop_front()?;
            if chunk.len() < len {
                continue;
            }
            match chunk.try_into_mut() {
                Ok(mut buf) => {
                    buf.truncate(len);
                    return Some(buf);
                }
                Err(chunk) => self.0.push_back(chunk),
            }
        }
        None
    }

    fn remember(&mut self, chunk: &Bytes) {
        if self.0.len() >= Self::KEEP {
            self.0.pop_front();
        }
        self.0.push_back(chunk.clone());
    }
}

/// Reads the next chunk with a positioned read on the blocking pool, straight into the buffer
/// that is sent (tokio's own file type would copy every byte once more).
async fn next_chunk(
    file: &mut Option<Arc<std::fs::File>>,
    range: &FileRange,
    remaining: u64,
    recent: &mut Recent,
) -> std::io::Result<Bytes> {
    let f = match file {
        Some(f) => f.clone(),
        None => {
            let path = range.path.clone();
            let opened = tokio::task::spawn_blocking(move || open_for_upload(&path))
                .await
                .map_err(std::io::Error::other)??;
            let f = Arc::new(opened);
            *file = Some(f.clone());
            f
        }
    };
    let want = remaining.min(CHUNK_SIZE as u64) as usize;
    let offset = range.offset + (range.len - remaining);
    let reused = recent.take_free(want);
    let chunk = tokio::task::spawn_blocking(move || {
        let mut buf = reused.unwrap_or_else(|| BytesMut::zeroed(want));
        read_exact_at(&f, &mut buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file became shorter while it was being uploaded",
                )
            } else {
                e
            }
        })?;
        Ok::<_, std::io::Error>(buf.freeze())
    })
    .await
    .map_err(std::io::Error::other)??;
    recent.remember(&chunk);
    Ok(chunk)
}

/// Opens a file to upload, telling the kernel it is read once from start to end: larger
/// read-ahead, and its pages do not push the user's working set out of the page cache.
fn open_for_upload(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::File::open(path)?;
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{Advice, fadvise};
        // Advice only: a file system that ignores it reads the same bytes.
        let _ = fadvise(&file, 0, None, Advice::Sequential);
        let _ = fadvise(&file, 0, None, Advice::NoReuse);
    }
    Ok(file)
}

#[cfg(unix)]
fn read_exact_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(f: &std::fs::File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(f, buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    #[test]
    fn a_chunk_buffer_is_reused_only_once_no_one_else_holds_it() {
        let mut recent = Recent::default();
        let sent = Bytes::from(vec![7u8; 64]);
        let ptr = sent.as_ptr();
        recent.remember(&sent);
        // The connection still holds the chunk: its memory must not be written into.
        assert!(recent.take_free(64).is_none());
        drop(sent);
        let buf = recent.take_free(40).expect("the released chunk is reused");
        assert_eq!(buf.as_ptr(), ptr);
        assert_eq!(buf.len(), 40);
        // A chunk too small for the next read is let go rather than kept.
        let small = Bytes::from(vec![1u8; 8]);
        recent.remember(&small);
        drop(small);
        assert!(recent.take_free(16).is_none());
        assert!(recent.0.is_empty());
    }

    #[test]
    fn recent_chunks_are_bounded() {
        let mut recent = Recent::default();
        let held: Vec<Bytes> = (0..10).map(|i| Bytes::from(vec![i; 4])).collect();
        for chunk in &held {
            recent.remember(chunk);
        }
        assert_eq!(recent.0.len(), Recent::KEEP);
    }
    #[tokio::test]
    async fn file_stream_reads_the_range_and_its_crc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let watch = Arc::new(Mutex::new(StreamWatch::default()));
        let seen = Arc::new(AtomicI64::new(0));
        let seen2 = seen.clone();
        let transfer = Transfer {
            progress: Some(Arc::new(move |n| {
                seen2.fetch_add(n as i64, Ordering::Relaxed);
            })),
            ..Default::default()
        };
        let range = FileRange {
            path: path.clone(),
            offset: 1000,
            len: 200_001,
        };
        let chunks: Vec<_> =
            futures_util::StreamExt::collect(file_stream(range, transfer, watch.clone())).await;
        let mut got = Vec::new();
        for c in chunks {
            let c = c.unwrap();
            assert!(c.len() <= CHUNK_SIZE);
            got.extend_from_slice(&c);
        }
        assert_eq!(got, &data[1000..201_001]);
        assert_eq!(watch.lock().unwrap().crc.value(), crc64::checksum(&got));
        assert_eq!(seen.load(Ordering::Relaxed), 200_001);

        // A file shorter than the range fails instead of sending too few bytes.
        let watch = Arc::new(Mutex::new(StreamWatch::default()));
        let range = FileRange {
            path,
            offset: 299_000,
            len: 5000,
        };
        let chunks: Vec<_> = futures_util::StreamExt::collect(file_stream(
            range,
            Transfer::default(),
            watch.clone(),
        ))
        .await;
        assert!(chunks.last().unwrap().is_err());
        assert!(watch.lock().unwrap().error.is_some());
    }
}
