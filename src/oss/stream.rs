//! How a request's body goes out, and how we tell a slow connection from a dead one. A file
//! range is streamed in chunks read with positioned reads on the blocking pool, straight into
//! buffers that are reused once the connection lets go of them, with the CRC-64 computed on the
//! way: a part is never held whole in memory. What the stream saw (its CRC, a local read error,
//! when the connection last took a piece) is kept for the client to check.
//!
//! There is no deadline on a whole request: a part at 100 KiB/s takes minutes and must finish.
//! Instead the request is watched for a *stall*: the connection asks for the next piece of the
//! body only once it has written most of what it holds, so a connection that asks for nothing
//! for the stall limit has stopped moving. Time spent waiting on the bandwidth limit (`pace`) is
//! ours, not the connection's, and does not count.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::crc64::Crc64;
use super::error::{Error, Stall};
use super::request::Payload;
use super::types::{Body, FileRange, Transfer};

/// How much of a file is read at a time: small enough for flat memory (a few chunks per part
/// in flight), large enough that the hop to the blocking pool and back does not matter.
/// Measured on a 1 GiB upload over loopback: 64 KiB reads cost about twice the client CPU of
/// 512 KiB ones, and 1 MiB reads about 15% less than 512 KiB; 2 MiB saved nothing more.
pub const CHUNK_SIZE: usize = 1024 * 1024;

/// The chunk buffers of all file bodies being sent at once stay within about this much, so
/// memory stays flat whatever the concurrency: up to 8 bodies read [`CHUNK_SIZE`] chunks, more
/// read smaller ones (64 requests in flight: 128 KiB). Measured before this budget: peak RSS
/// grew by about 3 MB per request in flight (185 MiB at 64 over loopback).
const CHUNK_BUDGET: usize = 16 * 1024 * 1024;
/// The smallest chunk the budget leads to: below this the hop to the blocking pool per chunk
/// starts to cost more CPU than it saves memory.
const MIN_CHUNK_SIZE: usize = 128 * 1024;

/// File bodies being streamed right now, process-wide: memory is one budget for all clients.
static STREAMING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts one file body in [`STREAMING`] while it lives.
struct Streaming;

impl Streaming {
    fn start() -> Self {
        STREAMING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        STREAMING.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How much one body reads at a time when `streaming` bodies share [`CHUNK_BUDGET`] (each
/// keeps [`Recent::KEEP`] chunks). A power of two: buffers of a few sizes only are what the
/// allocator can hand out again after they are freed, where sizes that follow every change in
/// the number of bodies left freed memory it could not reuse (peak RSS 51 MiB at 24 bodies).
fn chunk_size(streaming: usize) -> usize {
    let share = CHUNK_BUDGET / (streaming.max(1) * Recent::KEEP);
    let floor = if share == 0 { 0 } else { 1 << share.ilog2() };
    floor.clamp(MIN_CHUNK_SIZE, CHUNK_SIZE)
}

/// The most handed to the connection at a time (a slice of a chunk: no copy). The connection
/// asks for the next piece once the socket has taken most of what it holds, so this sets how
/// often a slow link is seen moving: every 64 KiB is more than once a second at 100 KiB/s,
/// while a whole chunk would be ten seconds apart. A piece costs a poll and a slice, nothing
/// next to the CRC of its bytes.
pub(super) const PIECE_SIZE: usize = 64 * 1024;

/// A body handed to the connection, and what can be learnt about it once the request is over.
pub(super) struct Outgoing {
    data: Option<Body>,
    watch: Arc<Mutex<Watch>>,
}

impl Outgoing {
    /// Turns a payload into what the connection sends: a stream of pieces, watched.
    pub(super) fn start(payload: Payload, transfer: &Transfer) -> (reqwest::Body, Self) {
        let now = Instant::now();
        let (source, data) = match payload {
            Payload::Empty => (None, None),
            Payload::Xml(s) => (Some(Source::Memory(Bytes::from(s))), None),
            Payload::Data(body) => {
                let source = match &body {
                    Body::Empty => None,
                    Body::Bytes(b) => Some(Source::Memory(b.clone())),
                    Body::File(range) => Some(Source::File(FileSource {
                        _streaming: Streaming::start(),
                        file: None,
                        remaining: range.len,
                        range: range.clone(),
                        recent: Recent::default(),
                    })),
                };
                (source, Some(body))
            }
        };
        let source = source.filter(|s| s.len() > 0);
        let len = source.as_ref().map_or(0, Source::len);
        let watch = Arc::new(Mutex::new(Watch::new(now, len)));
        let body = match source {
            None => reqwest::Body::from(Bytes::new()),
            Some(source) => reqwest::Body::wrap_stream(pieces(
                source,
                transfer.clone(),
                watch.clone(),
                data.is_some(),
            )),
        };
        (body, Self { data, watch })
    }

    /// The CRC of what was sent, or the local read error that cut the body short.
    pub(super) fn sent_crc(&self) -> Result<u64, Error> {
        let mut w = self.watch.lock().map_err(|_| Error::Protocol {
            status: 0,
            message: "internal lock poisoned".into(),
            request_id: String::new(),
        })?;
        match (&self.data, w.error.take()) {
            (Some(Body::File(range)), Some(e)) => Err(Error::Io {
                path: range.path.clone(),
                source: e,
            }),
            _ => Ok(w.crc.value()),
        }
    }

    /// A send failure of a file body: when the file itself failed, say that, not "network".
    pub(super) fn explain(&self, err: Error) -> Error {
        if let Some(Body::File(r)) = &self.data
            && let Ok(mut w) = self.watch.lock()
            && let Some(e) = w.error.take()
        {
            return Error::Io {
                path: r.path.clone(),
                source: e,
            };
        }
        err
    }

    /// Waits for the answer's headers while the body goes out, and gives up with a retryable
    /// timeout once the request has made no progress for `limit` (see [`Watch::check`]).
    pub(super) async fn answer(
        &self,
        pending: impl Future<Output = Result<reqwest::Response, reqwest::Error>>,
        limit: Duration,
    ) -> Result<reqwest::Response, Error> {
        let mut pending = std::pin::pin!(pending);
        loop {
            let next = match self.watch.lock() {
                Ok(w) => w.check(Instant::now(), limit),
                // Only a panic while holding the lock poisons it; the request can still end.
                Err(_) => Ok(Instant::now() + limit),
            };
            let next = match next {
                Ok(next) => next,
                Err(stalled) => return Err(self.stalled(stalled, limit)),
            };
            tokio::select! {
                biased;
                answer = &mut pending => return answer.map_err(|e| self.explain(e.into())),
                () = tokio::time::sleep_until(next) => {}
            }
        }
    }

    fn stalled(&self, stalled: Stalled, limit: Duration) -> Error {
        match (stalled, &self.data) {
            (Stalled::File, Some(Body::File(r))) => Error::Io {
                path: r.path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "reading it gave no data for {} s",
                        limit.as_secs_f64().round()
                    ),
                ),
            },
            (Stalled::Connection(stall), _) => stall.error(limit),
            (Stalled::File, _) => Stall::Sending.error(limit),
        }
    }
}

/// Where a request stands, as the body stream sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The connection holds what it was given and has not asked for more.
    Connection,
    /// A chunk is being read from the file.
    File,
    /// The bandwidth limit holds the next piece back: our wait, not a stall.
    Pacing,
    /// All of the body was handed over; the answer is awaited.
    Sent,
}

/// What stalled, when something did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stalled {
    Connection(Stall),
    /// Reading the file gave nothing for the limit (a dead network drive, say).
    File,
}

/// What streaming a body observed, shared with the client while the request runs.
struct Watch {
    crc: Crc64,
    error: Option<std::io::Error>,
    step: Step,
    /// When `step` began (for `Connection`: when the connection last took a piece).
    since: Instant,
    /// When the connection first asked for the body.
    first_pull: Option<Instant>,
    /// The least drain allowance: what the buffers may hold of this body at the slowest link
    /// we plan for. A body smaller than the buffers is handed over at once, so the time that
    /// took says nothing about the link.
    least_drain: Duration,
}

/// Bytes the connection's and the sockets' buffers may hold between them, at most.
const BUFFERED: u64 = 1024 * 1024;
/// The slowest uplink whose buffered tail the answer is waited for: 256 kbit/s.
const SLOWEST_LINK: u64 = 32 * 1024;

impl Watch {
    fn new(now: Instant, body_len: u64) -> Self {
        let has_body = body_len > 0;
        Self {
            least_drain: Duration::from_secs_f64(
                body_len.min(BUFFERED) as f64 / SLOWEST_LINK as f64,
            ),
            crc: Crc64::new(),
            error: None,
            step: if has_body {
                Step::Connection
            } else {
                Step::Sent
            },
            since: now,
            first_pull: (!has_body).then_some(now),
        }
    }

    fn enter(&mut self, step: Step, now: Instant) {
        self.step = step;
        self.since = now;
    }

    /// When to look again, or what stalled. While sending, a stall is no piece taken for
    /// `limit`. Once all was handed over, the connection may still hold up to a few hundred KiB
    /// (its buffer and the socket's) that leave at the link's pace, and only then can the
    /// server answer: the wait is `limit` after an allowance for that drain. The allowance is
    /// the time the connection took to ask for the body, which is at least the drain time
    /// whenever the body is twice what the buffers hold (an 8 MiB part against well under 4
    /// MiB of buffers), and costs a real stall at most that long again. A small body, handed
    /// over at once, gets at least what the buffers may hold of it at the slowest link.
    fn check(&self, now: Instant, limit: Duration) -> Result<Instant, Stalled> {
        let deadline = match self.step {
            Step::Pacing => return Ok(now + limit),
            Step::Connection | Step::File => self.since + limit,
            Step::Sent => {
                let allowance =
                    (self.since - self.first_pull.unwrap_or(self.since)).max(self.least_drain);
                self.since + allowance + limit
            }
        };
        if now < deadline {
            return Ok(deadline);
        }
        Err(match self.step {
            Step::File => Stalled::File,
            Step::Sent => Stalled::Connection(Stall::NoAnswer),
            Step::Connection | Step::Pacing => Stalled::Connection(Stall::Sending),
        })
    }
}

/// The bytes of a body: a file range read as it goes, or a buffer already in memory.
enum Source {
    File(FileSource),
    Memory(Bytes),
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Self::File(f) => f.remaining,
            Self::Memory(b) => b.len() as u64,
        }
    }

    /// Whether nothing is left to read (a buffer is handed out whole from the start).
    fn exhausted(&self) -> bool {
        match self {
            Self::File(f) => f.remaining == 0,
            Self::Memory(_) => true,
        }
    }
}

struct FileSource {
    /// Counted among the bodies sharing the chunk budget while this one is being sent.
    _streaming: Streaming,
    file: Option<Arc<std::fs::File>>,
    /// Bytes of the range not yet read.
    remaining: u64,
    range: FileRange,
    recent: Recent,
}

fn lock(watch: &Mutex<Watch>) -> std::sync::MutexGuard<'_, Watch> {
    // A panic while holding the lock leaves plain fields behind; they are still usable.
    watch.lock().unwrap_or_else(|e| e.into_inner())
}

/// The body as a stream of pieces of at most `PIECE_SIZE`, further cut to what `pace` grants,
/// recording in `watch` each step and (for object data, `crc`) the CRC-64 of what was sent.
fn pieces(
    source: Source,
    transfer: Transfer,
    watch: Arc<Mutex<Watch>>,
    crc: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    struct State {
        source: Source,
        /// Read but not yet sent.
        unsent: Bytes,
        transfer: Transfer,
        watch: Arc<Mutex<Watch>>,
        crc: bool,
    }
    let unsent = match &source {
        Source::Memory(b) => b.clone(),
        Source::File(_) => Bytes::new(),
    };
    let state = State {
        source,
        unsent,
        transfer,
        watch,
        crc,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        let now = Instant::now();
        {
            let mut w = lock(&st.watch);
            w.first_pull.get_or_insert(now);
            if w.step == Step::Sent {
                return None;
            }
        }
        if st.unsent.is_empty() {
            let Source::File(f) = &mut st.source else {
                return None;
            };
            if f.remaining == 0 {
                return None;
            }
            lock(&st.watch).enter(Step::File, now);
            match next_chunk(&mut f.file, &f.range, f.remaining, &mut f.recent).await {
                Ok(chunk) => {
                    f.remaining -= chunk.len() as u64;
                    st.unsent = chunk;
                }
                Err(e) => {
                    let for_caller = std::io::Error::new(e.kind(), e.to_string());
                    {
                        let mut w = lock(&st.watch);
                        w.error = Some(e);
                        w.enter(Step::Connection, Instant::now());
                    }
                    f.remaining = 0;
                    return Some((Err(for_caller), st));
                }
            }
        }
        let ready = st.unsent.len().min(PIECE_SIZE) as u64;
        let granted = match &st.transfer.pace {
            Some(pace) => {
                lock(&st.watch).enter(Step::Pacing, Instant::now());
                pace(ready).await.clamp(1, ready)
            }
            None => ready,
        };
        // Slicing shares the buffer: a piece costs no copy.
        let piece = st.unsent.split_to(granted as usize);
        let last = st.unsent.is_empty() && st.source.exhausted();
        {
            let mut w = lock(&st.watch);
            if st.crc {
                w.crc.update(&piece);
            }
            let step = if last { Step::Sent } else { Step::Connection };
            w.enter(step, Instant::now());
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

    /// A buffer no one else holds, of at least `len` bytes and at most `size` (the chunk size
    /// now), truncated to `len`. A larger one, read into when fewer bodies shared the budget,
    /// is let go: kept, it would hold more than this body's share for as long as it lives.
    fn take_free(&mut self, len: usize, size: usize) -> Option<BytesMut> {
        for _ in 0..self.0.len() {
            let chunk = self.0.pop_front()?;
            if chunk.len() < len {
                continue;
            }
            match chunk.try_into_mut() {
                Ok(buf) if buf.capacity() > size => {}
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
    let size = chunk_size(STREAMING.load(std::sync::atomic::Ordering::Relaxed));
    let want = remaining.min(size as u64) as usize;
    let offset = range.offset + (range.len - remaining);
    // Allocated here, on one of the few async threads, not on one of the many blocking ones:
    // each of those would leave freed chunks in an allocator arena of its own.
    let mut buf = recent
        .take_free(want, size)
        .unwrap_or_else(|| BytesMut::zeroed(want));
    let chunk = tokio::task::spawn_blocking(move || {
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
pub(super) fn open_for_upload(path: &std::path::Path) -> std::io::Result<std::fs::File> {
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
pub(super) fn read_exact_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
pub(super) fn read_exact_at(
    f: &std::fs::File,
    mut buf: &mut [u8],
    mut offset: u64,
) -> std::io::Result<()> {
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
    use crate::oss::crc64;

    #[test]
    fn chunks_shrink_when_many_bodies_share_the_budget() {
        for n in [0, 1, 3, 8] {
            assert_eq!(chunk_size(n), CHUNK_SIZE, "{n}");
        }
        assert_eq!(chunk_size(12), 512 * 1024);
        assert_eq!(chunk_size(16), 512 * 1024);
        assert_eq!(chunk_size(24), 256 * 1024);
        assert_eq!(chunk_size(64), MIN_CHUNK_SIZE);
        for n in 0..=1000 {
            assert!(chunk_size(n).is_power_of_two(), "{n}");
        }
        assert_eq!(chunk_size(10_000), MIN_CHUNK_SIZE);
        // Up to the pool's cap of 64 requests, all the chunks fit the budget.
        for n in 1..=crate::engine::pool::MAX_IN_FLIGHT {
            assert!(n * Recent::KEEP * chunk_size(n) <= CHUNK_BUDGET, "{n}");
        }
    }

    #[test]
    fn a_chunk_buffer_is_reused_only_once_no_one_else_holds_it() {
        let mut recent = Recent::default();
        let sent = Bytes::from(vec![7u8; 64]);
        let ptr = sent.as_ptr();
        recent.remember(&sent);
        // The connection still holds the chunk: its memory must not be written into.
        assert!(recent.take_free(64, 64).is_none());
        drop(sent);
        let buf = recent
            .take_free(40, 64)
            .expect("the released chunk is reused");
        assert_eq!(buf.as_ptr(), ptr);
        assert_eq!(buf.len(), 40);
        // A chunk too small for the next read is let go rather than kept.
        let small = Bytes::from(vec![1u8; 8]);
        recent.remember(&small);
        drop(small);
        assert!(recent.take_free(16, 64).is_none());
        assert!(recent.0.is_empty());
    }

    #[test]
    fn a_chunk_larger_than_the_share_now_is_let_go() {
        let mut recent = Recent::default();
        let sent = Bytes::from(vec![7u8; 64]);
        recent.remember(&sent);
        drop(sent);
        // More bodies came: the share is 32 bytes now, and the 64-byte buffer must not be kept.
        assert!(recent.take_free(32, 32).is_none());
        assert!(recent.0.is_empty());
    }

    #[test]
    fn a_stall_is_no_progress_for_the_limit_and_pacing_never_counts() {
        let limit = Duration::from_secs(10);
        let t0 = Instant::now();
        let s = |n: u64| Duration::from_secs(n);
        let mut w = Watch::new(t0, 1);
        // Waiting for the connection to take the body: the limit from the last progress.
        assert_eq!(w.check(t0 + s(9), limit), Ok(t0 + s(10)));
        assert_eq!(
            w.check(t0 + s(10), limit),
            Err(Stalled::Connection(Stall::Sending))
        );
        // A piece taken moves the deadline; a slow file read is told apart from the network.
        w.first_pull = Some(t0 + s(1));
        w.enter(Step::Connection, t0 + s(8));
        assert_eq!(w.check(t0 + s(17), limit), Ok(t0 + s(18)));
        w.enter(Step::File, t0 + s(8));
        assert_eq!(w.check(t0 + s(18), limit), Err(Stalled::File));
        // Held back by the bandwidth limit: however long, not a stall.
        w.enter(Step::Pacing, t0 + s(8));
        assert_eq!(w.check(t0 + s(500), limit), Ok(t0 + s(510)));
        // All handed over at 21 s after the first piece was asked for at 1 s: the connection
        // may still be sending, so the answer gets those 20 s more before the limit runs.
        w.enter(Step::Sent, t0 + s(21));
        assert_eq!(w.check(t0 + s(50), limit), Ok(t0 + s(51)));
        assert_eq!(
            w.check(t0 + s(51), limit),
            Err(Stalled::Connection(Stall::NoAnswer))
        );
        // No body: the answer is due within the limit.
        let w = Watch::new(t0, 0);
        assert_eq!(w.check(t0, limit), Ok(t0 + s(10)));
        assert_eq!(
            w.check(t0 + s(10), limit),
            Err(Stalled::Connection(Stall::NoAnswer))
        );
    }

    #[tokio::test]
    async fn memory_bodies_go_out_in_pieces_and_end_sent() {
        let data = Bytes::from(vec![5u8; PIECE_SIZE * 2 + 10]);
        let watch = Arc::new(Mutex::new(Watch::new(Instant::now(), 1)));
        let seen = Arc::new(AtomicI64::new(0));
        let seen2 = seen.clone();
        let transfer = Transfer {
            progress: Some(Arc::new(move |n| {
                seen2.fetch_add(n as i64, Ordering::Relaxed);
            })),
            ..Default::default()
        };
        let got: Vec<_> = futures_util::StreamExt::collect(pieces(
            Source::Memory(data.clone()),
            transfer,
            watch.clone(),
            true,
        ))
        .await;
        let sizes: Vec<usize> = got.iter().map(|p| p.as_ref().unwrap().len()).collect();
        assert_eq!(sizes, [PIECE_SIZE, PIECE_SIZE, 10]);
        let w = watch.lock().unwrap();
        assert_eq!(w.step, Step::Sent);
        assert_eq!(w.crc.value(), crc64::checksum(&data));
        assert_eq!(seen.load(Ordering::Relaxed), data.len() as i64);
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
    fn file_stream(
        range: FileRange,
        transfer: Transfer,
        watch: Arc<Mutex<Watch>>,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
        let source = Source::File(FileSource {
            _streaming: Streaming::start(),
            file: None,
            remaining: range.len,
            range,
            recent: Recent::default(),
        });
        pieces(source, transfer, watch, true)
    }

    #[tokio::test]
    async fn file_stream_reads_the_range_and_its_crc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let watch = Arc::new(Mutex::new(Watch::new(Instant::now(), 1)));
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
        assert!(chunks.len() > 1, "handed over in pieces");
        let mut got = Vec::new();
        for c in chunks {
            let c = c.unwrap();
            assert!(c.len() <= CHUNK_SIZE);
            got.extend_from_slice(&c);
        }
        assert_eq!(got, &data[1000..201_001]);
        assert_eq!(watch.lock().unwrap().crc.value(), crc64::checksum(&got));
        assert_eq!(seen.load(Ordering::Relaxed), 200_001);

        assert_eq!(watch.lock().unwrap().step, Step::Sent);

        // A file shorter than the range fails instead of sending too few bytes.
        let watch = Arc::new(Mutex::new(Watch::new(Instant::now(), 1)));
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
