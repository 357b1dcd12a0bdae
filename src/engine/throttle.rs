//! The global bandwidth limit: one token bucket shared by every job, so "limit uploads to
//! 2 MB/s" means 2 MB/s in all, however many files and parts are in flight.
//!
//! - Senders ask for the bytes they are about to write and wait until the bucket allows them:
//!   `grant` hands out one piece of what is ready (all of it when nothing limits), `acquire`
//!   waits for a whole amount. Bytes are granted in small chunks (at most 64 KiB, less at low
//!   limits), so a progress bar fed as bytes are sent moves smoothly instead of in bursts, and
//!   several jobs waiting at once take turns chunk by chunk (waiters are served in arrival
//!   order).
//! - The limit can change at any time (`set_limit`); waiters re-check at once, so lifting a limit
//!   releases everyone immediately and lowering it slows them from the next chunk.
//! - Tokens accumulate for at most [`BURST`] of the limit, so an idle period cannot be spent as a
//!   large burst later.
//!
//! Time is tokio's, so tests run on a paused clock.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::{Duration, Instant};

use crate::oss::limits::KIB;

/// The most bytes granted at once.
pub const MAX_CHUNK: u64 = 64 * KIB;
/// The lowest limit honoured, in bytes per second; lower ones (including 0) are raised to it,
/// since a limit that stops uploads altogether would look like a hang. Pausing is a job command.
pub const MIN_LIMIT: u64 = KIB;
/// How much of the limit may be saved up while nobody sends.
pub const BURST: Duration = Duration::from_millis(100);
/// Grants per second aimed for at low limits, where a whole [`MAX_CHUNK`] would be seconds apart.
const GRANTS_PER_SECOND: u64 = 8;

/// A handle to the shared bandwidth limit; clones share the same bucket.
#[derive(Clone, Debug)]
pub struct Throttle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Wakes waiters when the limit changes.
    changed: Notify,
    /// Held by the one caller currently being served; tokio's mutex queues the rest fairly.
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct State {
    limit: Option<u64>,
    tokens: f64,
    refilled: Instant,
}

impl State {
    fn refill(&mut self, now: Instant) {
        if let Some(limit) = self.limit {
            let earned = now.saturating_duration_since(self.refilled).as_secs_f64() * limit as f64;
            self.tokens = (self.tokens + earned).min(capacity(limit));
        }
        self.refilled = now;
    }
}

/// The chunk size for a limit: small enough for about eight grants a second, and
/// never more than [`MAX_CHUNK`].
pub fn chunk_for(limit: u64) -> u64 {
    (limit / GRANTS_PER_SECOND).clamp(1, MAX_CHUNK)
}

fn capacity(limit: u64) -> f64 {
    (limit as f64 * BURST.as_secs_f64()).max(chunk_for(limit) as f64)
}

fn sanitize(limit: Option<u64>) -> Option<u64> {
    limit.map(|l| l.max(MIN_LIMIT))
}

impl Throttle {
    /// A bucket with `limit` bytes per second (`None`: unlimited). It starts empty, so the limit
    /// holds from the first byte.
    pub fn new(limit: Option<u64>) -> Self {
        let state = State {
            limit: sanitize(limit),
            tokens: 0.0,
            refilled: Instant::now(),
        };
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                changed: Notify::new(),
                turn: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn unlimited() -> Self {
        Self::new(None)
    }

    /// The limit in force, in bytes per second.
    pub fn limit(&self) -> Option<u64> {
        self.state().limit
    }

    /// Changes the limit now, for everyone, waiters included.
    pub fn set_limit(&self, limit: Option<u64>) {
        {
            let mut state = self.state();
            // Tokens earned so far were earned at the old rate.
            state.refill(Instant::now());
            let was_unlimited = state.limit.is_none();
            state.limit = sanitize(limit);
            if let Some(limit) = state.limit {
                state.tokens = if was_unlimited {
                    0.0
                } else {
                    state.tokens.min(capacity(limit))
                };
            }
        }
        self.inner.changed.notify_waiters();
    }

    /// Waits until all of `bytes` may be sent, granted chunk by chunk like [`Throttle::grant`].
    /// Cancel-safe: dropping the future gives back nothing it had not yet been granted.
    pub async fn acquire(&self, bytes: u64) {
        let mut left = bytes;
        while left > 0 {
            left -= self.grant(left).await;
        }
    }

    /// Waits until some of `max` bytes may be sent and returns how many: all of them when
    /// nothing limits, else one chunk. A sender that reads large buffers sends each in the
    /// granted pieces, so its progress moves as smoothly as the limit allows.
    pub async fn grant(&self, max: u64) -> u64 {
        if max == 0 || self.limit().is_none() {
            return max;
        }
        let _turn = self.inner.turn.lock().await;
        self.take(max).await
    }

    /// Waits for one chunk of at most `want` bytes and returns its size.
    async fn take(&self, want: u64) -> u64 {
        loop {
            // Registered before reading the state, so a change made after the read still wakes us.
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let wait = {
                let mut state = self.state();
                state.refill(Instant::now());
                let Some(limit) = state.limit else {
                    return want;
                };
                let chunk = want.min(chunk_for(limit));
                let missing = chunk as f64 - state.tokens;
                // Half a byte of float rounding is not worth another timer tick.
                if missing < 0.5 {
                    state.tokens -= chunk as f64;
                    return chunk;
                }
                Duration::from_secs_f64(missing / limit as f64)
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut changed => {}
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a few numbers updated together; a panic elsewhere cannot leave it torn.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oss::limits::{GIB, MIB};

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[tokio::test(start_paused = true)]
    async fn grants_are_whole_when_unlimited_and_chunked_when_limited() {
        let t = Throttle::unlimited();
        assert_eq!(t.grant(3 * MIB).await, 3 * MIB);
        t.set_limit(Some(MIB));
        let start = Instant::now();
        let mut sent = 0;
        while sent < 2 * MIB {
            let n = t.grant(2 * MIB - sent).await;
            assert!((1..=MAX_CHUNK).contains(&n), "{n}");
            sent += n;
        }
        let took = secs(start.elapsed());
        assert!((2.0..2.05).contains(&took), "{took}");
        assert_eq!(t.grant(0).await, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_takes_no_time() {
        let t = Throttle::unlimited();
        let start = Instant::now();
        t.acquire(10 * GIB).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(t.limit(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn limit_holds_over_time() {
        let t = Throttle::new(Some(MIB));
        let start = Instant::now();
        t.acquire(4 * MIB).await;
        let took = secs(start.elapsed());
        assert!((4.0..4.05).contains(&took), "{took}");

        // Chunk by chunk, as a sender does: evenly spaced, no bursts.
        let mut marks = Vec::new();
        let start = Instant::now();
        for _ in 0..32 {
            t.acquire(MAX_CHUNK).await;
            marks.push(start.elapsed());
        }
        for pair in marks.windows(2) {
            let gap = secs(pair[1] - pair[0]);
            assert!((0.055..0.07).contains(&gap), "{gap}");
        }
        assert!((1.98..2.05).contains(&secs(start.elapsed())));
    }

    #[tokio::test(start_paused = true)]
    async fn jobs_share_the_limit_and_take_turns() {
        let t = Throttle::new(Some(MIB));
        let start = Instant::now();
        let jobs: Vec<_> = (0..2)
            .map(|_| {
                let t = t.clone();
                tokio::spawn(async move {
                    t.acquire(2 * MIB).await;
                    start.elapsed()
                })
            })
            .collect();
        for job in jobs {
            let took = secs(job.await.unwrap());
            // Together 4 MiB at 1 MiB/s; taking turns, both end near the end.
            assert!((3.85..4.05).contains(&took), "{took}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn lifting_the_limit_releases_a_waiter_at_once() {
        let t = Throttle::new(Some(KIB));
        let start = Instant::now();
        let waiter = tokio::spawn({
            let t = t.clone();
            async move {
                t.acquire(MIB).await;
                start.elapsed()
            }
        });
        // Between two grants (every 125 ms at this limit), so only the wake-up can explain an
        // end before the next grant.
        tokio::time::sleep(Duration::from_millis(2030)).await;
        t.set_limit(None);
        let took = secs(waiter.await.unwrap());
        assert!((2.03..2.035).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn changing_the_limit_applies_from_the_next_chunk() {
        let t = Throttle::new(Some(64 * KIB));
        let start = Instant::now();
        let waiter = tokio::spawn({
            let t = t.clone();
            async move {
                t.acquire(10 * MIB + 64 * KIB).await;
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        t.set_limit(Some(10 * MIB));
        let took = secs(waiter.await.unwrap());
        // 64 KiB in the first second, then 10 MiB at 10 MiB/s.
        assert!((1.95..2.1).contains(&took), "{took}");

        let t = Throttle::new(Some(10 * MIB));
        let start = Instant::now();
        let waiter = tokio::spawn({
            let t = t.clone();
            async move {
                t.acquire(11 * MIB).await;
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        t.set_limit(Some(MIB));
        let took = secs(waiter.await.unwrap());
        // 10 MiB in the first second, the last MiB at 1 MiB/s.
        assert!((1.95..2.1).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn from_unlimited_to_limited() {
        let t = Throttle::unlimited();
        t.acquire(GIB).await;
        t.set_limit(Some(2 * MIB));
        let start = Instant::now();
        t.acquire(2 * MIB).await;
        let took = secs(start.elapsed());
        assert!((1.0..1.05).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_is_not_saved_up_beyond_the_burst() {
        let t = Throttle::new(Some(MIB));
        tokio::time::sleep(Duration::from_secs(60)).await;
        let start = Instant::now();
        t.acquire(MIB).await;
        let took = secs(start.elapsed());
        // Only 100 ms worth was saved.
        assert!((0.88..0.95).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_leaves_the_bucket_usable() {
        let t = Throttle::new(Some(KIB));
        let cancelled = tokio::time::timeout(Duration::from_millis(500), t.acquire(MIB)).await;
        assert!(cancelled.is_err());
        t.set_limit(Some(MIB));
        let start = Instant::now();
        t.acquire(MIB / 2).await;
        assert!(secs(start.elapsed()) < 0.55);
    }

    #[test]
    fn chunks_are_small_and_limits_sane() {
        for limit in [1, MIN_LIMIT, 100 * KIB, MIB, 8 * MIB, GIB, u64::MAX] {
            let chunk = chunk_for(limit);
            assert!((1..=MAX_CHUNK).contains(&chunk), "{limit}: {chunk}");
            assert!(capacity(limit) >= chunk as f64);
        }
        assert_eq!(chunk_for(MIN_LIMIT), 128);
        assert_eq!(chunk_for(MIB), MAX_CHUNK);
        let t = Throttle::new(Some(0));
        assert_eq!(t.limit(), Some(MIN_LIMIT));
        t.set_limit(Some(5 * MIB));
        assert_eq!(t.limit(), Some(5 * MIB));
    }
}
