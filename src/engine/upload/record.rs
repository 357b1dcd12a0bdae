//! Saving the checkpoint of a multipart upload while its parts are sent: at most every
//! `SAVE_EVERY`, on the blocking pool, one save at a time, never an older state over a newer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{JobEnv, Starting, Stop, lock_poisoned};
use crate::engine::checkpoint::{Checkpoint, CheckpointStore};
use crate::engine::outcome::JobError;

/// The shortest time between two saves of a checkpoint while parts are sent. Parts that finish
/// in between are saved together: a save rewrites the whole record (one line per part) and
/// costs two fsyncs and a new inode, which with small parts on a fast link cost more CPU than
/// the upload itself. A part the checkpoint missed at a crash is not sent again: resume adopts
/// it from ListParts once its CRC-64 matches the file.
const SAVE_EVERY: Duration = Duration::from_millis(500);

/// The checkpoint of a multipart upload while its parts are being sent.
pub(super) struct Record {
    pub(super) saver: Saver,
    /// The save that will cover parts that finished too soon after the last one.
    deferred: Mutex<Option<tokio::task::AbortHandle>>,
}

/// What a save needs, shareable with the deferred save task.
#[derive(Clone)]
pub(super) struct Saver {
    pub(super) cp: Arc<Mutex<Checkpoint>>,
    store: CheckpointStore,
    /// How many parts the file on disk lists. Within one sending run parts are only added, so
    /// the count orders the versions.
    saved_parts: Arc<AtomicUsize>,
    /// Saves run one at a time under the job's `starting` lock, which pause and cancel take
    /// before they return: a save already writing finishes before anyone else touches the
    /// file, and an older state never lands after a newer.
    lock: Starting,
    /// When the next save may start.
    next_save: Arc<Mutex<tokio::time::Instant>>,
    /// A deferred save is waiting and has not yet taken its snapshot.
    deferred_pending: Arc<std::sync::atomic::AtomicBool>,
}

impl Record {
    pub(super) fn new(cp: Checkpoint, env: &JobEnv, starting: &Starting) -> Self {
        Self {
            saver: Saver {
                saved_parts: Arc::new(AtomicUsize::new(cp.parts.len())),
                cp: Arc::new(Mutex::new(cp)),
                store: env.store.clone(),
                lock: starting.clone(),
                next_save: Arc::new(Mutex::new(tokio::time::Instant::now())),
                deferred_pending: Arc::default(),
            },
            deferred: Mutex::new(None),
        }
    }

    /// After a part was added to the record: save now, or soon if a save ran moments ago.
    pub(super) async fn part_recorded(&self) -> Result<(), Stop> {
        let next = *self.saver.next_save.lock().map_err(|_| lock_poisoned())?;
        if tokio::time::Instant::now() >= next {
            return self.saver.save_latest(false).await;
        }
        // One deferred save at a time covers every part recorded before it takes its snapshot;
        // a part recorded after that schedules the next one.
        if self.saver.deferred_pending.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let saver = self.saver.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep_until(next).await;
            // A failure here shows at the next part's save or at the flush before Complete.
            if let Err(e) = saver.save_latest(true).await {
                tracing::warn!("deferred checkpoint save failed: {e:?}");
            }
        });
        if let Ok(mut deferred) = self.deferred.lock() {
            *deferred = Some(task.abort_handle());
        }
        Ok(())
    }

    /// Saves everything recorded so far, now.
    pub(super) async fn flush(&self) -> Result<(), Stop> {
        if let Ok(mut deferred) = self.deferred.lock()
            && let Some(task) = deferred.take()
        {
            task.abort();
        }
        self.saver.save_latest(false).await
    }
}

impl Drop for Record {
    /// A paused or cancelled job drops its record: a deferred save not yet started is not
    /// made (one already writing finishes, and pause and cancel wait for it).
    fn drop(&mut self) {
        if let Ok(mut deferred) = self.deferred.lock()
            && let Some(task) = deferred.take()
        {
            task.abort();
        }
    }
}

impl Saver {
    /// Writes what is recorded at the moment the save lock is taken, unless a save already
    /// wrote as much. The write runs on the blocking pool (two fsyncs must not stall the async
    /// threads) and finishes even if the job is paused meanwhile.
    async fn save_latest(&self, deferred: bool) -> Result<(), Stop> {
        let guard = self.lock.clone().lock_owned().await;
        if deferred {
            self.deferred_pending.store(false, Ordering::Release);
        }
        let snapshot = {
            let cp = self.cp.lock().map_err(|_| lock_poisoned())?;
            if self.saved_parts.load(Ordering::Acquire) >= cp.parts.len() {
                return Ok(());
            }
            cp.clone()
        };
        let parts = snapshot.parts.len();
        let started = tokio::time::Instant::now();
        save_off_thread(&self.store, snapshot, Some(guard)).await?;
        self.saved_parts.fetch_max(parts, Ordering::AcqRel);
        // A slow disk saves less often: at most a tenth of the time goes to saving.
        let took = started.elapsed();
        if let Ok(mut next) = self.next_save.lock() {
            *next = tokio::time::Instant::now() + SAVE_EVERY.max(took * 10);
        }
        Ok(())
    }
}

/// Writes a checkpoint on the blocking pool (two fsyncs must not stall the async threads). The
/// write finishes even if the caller is dropped meanwhile, holding `hold` until it is done.
pub(super) async fn save_off_thread(
    store: &CheckpointStore,
    cp: Checkpoint,
    hold: Option<tokio::sync::OwnedMutexGuard<()>>,
) -> Result<(), Stop> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let _held = hold;
        store.save(&cp)
    })
    .await
    .map_err(|e| Stop::Failed(JobError::internal(e)))?
    .map(drop)
    .map_err(|e| Stop::Failed(JobError::checkpoint(&e)))
}
