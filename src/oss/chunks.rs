//! The file side of a request body: a file range read chunk by chunk with positioned reads on
//! the blocking pool, straight into the buffers that are sent, under one memory budget for all
//! the bodies being sent at once in the process.
//!
//! A chunk's buffer is used again once the connection has written it and let go of it: a
//! fresh buffer is zeroed and faulted in, which for every chunk of a 1 GiB upload cost more CPU
//! than the CRC of its bytes. Spare buffers are shared by all bodies, so the next part's first
//! chunk reuses the last part's buffers rather than allocating its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::types::FileRange;
use crate::spare_buffers::SpareBuffers;

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
/// Chunks one body holds: the one the connection is writing and the one read after it.
const CHUNKS_PER_BODY: usize = 2;
/// Spare buffers kept for the next chunks, at most: enough for every body's next read, while
/// the buffers in use are within [`CHUNK_BUDGET`].
const SPARE_BUDGET: usize = CHUNK_BUDGET / 2;

/// What all the file bodies of the process share: how many are being sent, and the spare
/// buffers. One for the process ([`Streaming::start`]); tests make their own.
pub(super) struct Budget {
    /// File bodies being streamed right now.
    streaming: AtomicUsize,
    /// Buffers no chunk uses, for the next read.
    spare: Mutex<SpareBuffers>,
}

static PROCESS: Budget = Budget::new();

impl Budget {
    const fn new() -> Self {
        Self {
            streaming: AtomicUsize::new(0),
            spare: Mutex::new(SpareBuffers::new(SPARE_BUDGET)),
        }
    }

    /// The chunk size now, or `None` when no body is being sent.
    fn chunk_size(&self) -> Option<usize> {
        match self.streaming.load(Ordering::Relaxed) {
            0 => None,
            n => Some(chunk_size(n)),
        }
    }

    fn spare(&self) -> std::sync::MutexGuard<'_, SpareBuffers> {
        // A panic while holding the lock leaves a plain list behind; it is still usable.
        self.spare.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A buffer of `size` bytes: a spare one, or a new one.
    fn buffer(&self, size: usize) -> Vec<u8> {
        self.spare().take(size).unwrap_or_else(|| vec![0; size])
    }
}

/// Counts one file body in its [`Budget`] while it lives.
pub(super) struct Streaming(&'static Budget);

impl Streaming {
    pub(super) fn start() -> Self {
        Self::on(&PROCESS)
    }

    fn on(budget: &'static Budget) -> Self {
        budget.streaming.fetch_add(1, Ordering::Relaxed);
        Self(budget)
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.0.streaming.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How much one body reads at a time when `streaming` bodies share [`CHUNK_BUDGET`]. A power
/// of two: buffers of a few sizes only are what can be handed out again, where sizes that
/// followed every change in the number of bodies left freed memory behind (peak RSS 51 MiB at
/// 24 bodies).
fn chunk_size(streaming: usize) -> usize {
    let share = CHUNK_BUDGET / (streaming.max(1) * CHUNKS_PER_BODY);
    let floor = if share == 0 { 0 } else { 1 << share.ilog2() };
    floor.clamp(MIN_CHUNK_SIZE, CHUNK_SIZE)
}

/// The bytes of one chunk; its buffer goes back to the spares when the last slice of it is
/// dropped, wherever that is (the connection drops what it has written).
struct Chunk {
    buf: Vec<u8>,
    len: usize,
    /// Where the buffer goes back to; `None` for a buffer made for one small body.
    budget: Option<&'static Budget>,
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Some(budget) = self.budget {
            let size = budget.chunk_size();
            budget.spare().put_back(std::mem::take(&mut self.buf), size);
        }
    }
}

/// Reads the next chunk of `range`, of which `remaining` bytes are still to be read, opening
/// the file on the first call. The bytes are read straight into the buffer that is sent
/// (tokio's own file type would copy every byte once more).
pub(super) async fn next_chunk(
    file: &mut Option<Arc<std::fs::File>>,
    range: &FileRange,
    remaining: u64,
    streaming: &Streaming,
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
    let budget = streaming.0;
    let size = budget.chunk_size().unwrap_or(CHUNK_SIZE);
    let len = usize::try_from(remaining).map_or(size, |r| r.min(size));
    let offset = range.offset + (range.len - remaining);
    // Allocated here, on one of the few async threads, not on one of the many blocking ones:
    // each of those would leave freed chunks in an allocator arena of its own. A body shorter
    // than a chunk (a small file) gets a buffer of its own length: a whole chunk's for each
    // of 10,000 files of 4 KiB took 16 MiB more memory.
    let whole_chunks = range.len >= size as u64;
    let buf = if whole_chunks {
        budget.buffer(size)
    } else {
        vec![0; len]
    };
    let chunk = tokio::task::spawn_blocking(move || {
        let mut chunk = Chunk {
            buf,
            len,
            budget: whole_chunks.then_some(budget),
        };
        read_exact_at_or(
            &f,
            &mut chunk.buf[..len],
            offset,
            "the file became shorter while it was being uploaded",
        )?;
        Ok::<_, std::io::Error>(chunk)
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok(Bytes::from_owner(chunk))
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

/// [`read_exact_at`], with `short` as what a file that ends before the range means.
pub(super) fn read_exact_at_or(
    f: &std::fs::File,
    buf: &mut [u8],
    offset: u64,
    short: &'static str,
) -> std::io::Result<()> {
    read_exact_at(f, buf, offset).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, short)
        } else {
            e
        }
    })
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
    use super::*;

    #[test]
    fn chunks_shrink_when_many_bodies_share_the_budget() {
        for n in [0, 1, 3, 8] {
            assert_eq!(chunk_size(n), CHUNK_SIZE, "{n}");
        }
        assert_eq!(chunk_size(12), 512 * 1024);
        assert_eq!(chunk_size(16), 512 * 1024);
        assert_eq!(chunk_size(24), 256 * 1024);
        assert_eq!(chunk_size(64), MIN_CHUNK_SIZE);
        assert_eq!(chunk_size(10_000), MIN_CHUNK_SIZE);
        for n in 0..=1000 {
            assert!(chunk_size(n).is_power_of_two(), "{n}");
        }
        // Up to the pool's cap of 64 requests, all the chunks fit the budget.
        for n in 1..=crate::engine::pool::MAX_IN_FLIGHT {
            assert!(n * CHUNKS_PER_BODY * chunk_size(n) <= CHUNK_BUDGET, "{n}");
        }
    }

    #[tokio::test]
    async fn a_chunk_buffer_goes_back_once_the_last_slice_of_it_is_dropped() {
        static BUDGET: Budget = Budget::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![9u8; 2 * CHUNK_SIZE]).unwrap();
        // One whole chunk and 400 bytes.
        let len = CHUNK_SIZE as u64 + 400;
        let range = FileRange {
            path,
            offset: 100,
            len,
        };
        let streaming = Streaming::on(&BUDGET);
        let mut file = None;
        let chunk = next_chunk(&mut file, &range, len, &streaming)
            .await
            .unwrap();
        assert_eq!(chunk.len(), CHUNK_SIZE);
        assert!(chunk.iter().all(|&b| b == 9));
        let buffer = chunk.as_ptr();
        let piece = chunk.slice(10..20);
        drop(chunk);
        // A slice still holds the buffer: it must not be read into again.
        assert!(BUDGET.spare().kept().is_empty());
        drop(piece);
        let spare: Vec<_> = BUDGET
            .spare()
            .kept()
            .iter()
            .map(|b| (b.as_ptr(), b.len()))
            .collect();
        assert_eq!(spare, [(buffer, CHUNK_SIZE)]);

        // The next chunk reads into it.
        let chunk = next_chunk(&mut file, &range, 400, &streaming)
            .await
            .unwrap();
        assert_eq!((chunk.as_ptr(), chunk.len()), (buffer, 400));
        assert!(BUDGET.spare().kept().is_empty());
        // Once no body is being sent, nothing is kept.
        drop(streaming);
        drop(chunk);
        assert!(BUDGET.spare().kept().is_empty());
    }

    #[tokio::test]
    async fn a_body_shorter_than_a_chunk_reads_into_a_buffer_of_its_length() {
        static BUDGET: Budget = Budget::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small");
        std::fs::write(&path, vec![4u8; 4096]).unwrap();
        let range = FileRange {
            path,
            offset: 0,
            len: 4096,
        };
        let streaming = Streaming::on(&BUDGET);
        // A spare chunk buffer is there, and is not what a small file takes.
        let size = BUDGET.chunk_size().unwrap();
        BUDGET.spare().put_back(vec![0; size], Some(size));
        let chunk = next_chunk(&mut None, &range, 4096, &streaming)
            .await
            .unwrap();
        assert_eq!(chunk.len(), 4096);
        assert_eq!(BUDGET.spare().kept().len(), 1);
        // Nor does its buffer join the spares.
        drop(chunk);
        assert_eq!(BUDGET.spare().kept().len(), 1);
        drop(streaming);
    }
}
