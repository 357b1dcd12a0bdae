//! How a request's body goes out, and how we tell a slow connection from a dead one. A file
//! range is streamed in chunks (read by `chunks`), handed to the connection in pieces, with the
//! CRC-64 computed on the way: a part is never held whole in memory. What the stream saw (its
//! CRC, a local read error, when the connection last took a piece) is kept for the client to
//! check.
//!
//! There is no deadline on a whole request: a part at 100 KiB/s takes minutes and must finish.
//! Instead the request is watched for a *stall*: the connection asks for the next piece of the
//! body only once it has written most of what it holds, so a connection that asks for nothing
//! for the stall limit has stopped moving. Time spent waiting on the bandwidth limit (`pace`) is
//! ours, not the connection's, and does not count.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::chunks::{Streaming, next_chunk};
use super::crc64::Crc64;
use super::error::{Error, Stall};
use super::request::Payload;
use super::types::{Body, FileRange, Transfer};

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
                        streaming: Streaming::start(),
                        file: None,
                        remaining: range.len,
                        range: range.clone(),
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
    streaming: Streaming,
    file: Option<Arc<std::fs::File>>,
    /// Bytes of the range not yet read.
    remaining: u64,
    range: FileRange,
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
            match next_chunk(&mut f.file, &f.range, f.remaining, &f.streaming).await {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;
    use crate::oss::crc64;

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

    fn file_stream(
        range: FileRange,
        transfer: Transfer,
        watch: Arc<Mutex<Watch>>,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
        let source = Source::File(FileSource {
            streaming: Streaming::start(),
            file: None,
            remaining: range.len,
            range,
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
            assert!(c.len() <= super::super::chunks::CHUNK_SIZE);
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
