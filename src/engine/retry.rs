//! How long to wait before trying a failed request again, and when to stop trying.
//!
//! Exponential backoff with "equal jitter": the wait for attempt `n` is drawn from
//! `[d/2, d]` where `d = min(cap, base × 2^(n-1))`. Half of it is fixed so a struggling server
//! always gets a real pause (full jitter may retry almost at once); the random half spreads out
//! the many parts of many jobs that fail together when a network drops, so they do not all come
//! back in the same instant.
//!
//! Retrying stops once a time budget is spent (and, when a policy sets one, after a number of
//! attempts). The default budget is 15 minutes with no attempt cap: a laptop loses its network
//! for minutes at a time (a train, a lid closed, a Wi-Fi hand-over), and an unattended upload
//! must ride that out rather than give up after a minute. Each attempt is signed anew, so the
//! 15-minute validity of a signature does not bound it. Past the budget the upload stops
//! resumable, never discarded.
//!
//! The randomness is passed in, so tests can pin it. [`with_retry`] is the one loop that
//! applies the policy to a call.

use std::time::{Duration, Instant};

use crate::oss::error::{Error, ErrorClass};

/// The first wait, before jitter.
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(200);
/// No single wait is longer than this: a network that comes back is noticed within it.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
/// No cap on attempts by default: the time budget decides.
pub const DEFAULT_MAX_ATTEMPTS: u32 = u32::MAX;
/// No retry starts later than this after the first attempt began (`--retry-for`).
pub const DEFAULT_MAX_ELAPSED: Duration = Duration::from_secs(15 * 60);

/// A retry policy. Cheap to copy; holds no state between calls.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
    pub max_elapsed: Duration,
    /// A number in `[0, 1)`. Values outside are clamped, NaN counts as 0.5.
    pub random: fn() -> f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base_delay: DEFAULT_BASE_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_elapsed: DEFAULT_MAX_ELAPSED,
            random: fastrand::f64,
        }
    }
}

impl Backoff {
    /// The wait before the next attempt, given that `attempt` attempts have failed so far (0 is
    /// treated as 1) and `elapsed` time has passed since the first began; `None` means give up.
    /// Gives up when the attempts are used up, or when waiting would carry the next attempt past
    /// the time budget.
    pub fn next_delay(&self, attempt: u32, elapsed: Duration) -> Option<Duration> {
        let attempt = attempt.max(1);
        if attempt >= self.max_attempts {
            return None;
        }
        let ceiling = self.ceiling(attempt);
        let r = (self.random)();
        let r = if r.is_nan() { 0.5 } else { r.clamp(0.0, 1.0) };
        let delay = ceiling / 2 + (ceiling / 2).mul_f64(r);
        let delay = delay.min(ceiling);
        // The last wait is cut to end at the bound, so the bound is what the user gets: a
        // person told "15 minutes" sees attempts until 15 minutes, not until 14 and a half.
        let left = self.max_elapsed.saturating_sub(elapsed);
        if left.is_zero() {
            return None;
        }
        Some(delay.min(left))
    }

    /// The largest wait after `attempt` failures: `min(max_delay, base_delay × 2^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.max(1) - 1);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Calls `f` until it succeeds or fails in a way waiting cannot fix, sleeping between attempts as
/// `backoff` says; `on_retry(attempt, delay, error)` hears of each wait. On failure gives the
/// last error and whether the retries ran out (`true`) rather than the error being final.
pub async fn with_retry<T, F, Fut>(
    backoff: &Backoff,
    mut on_retry: impl FnMut(u32, Duration, &Error),
    mut f: F,
) -> Result<T, (Error, bool)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                if !matches!(e.class(), ErrorClass::Retry { .. }) {
                    return Err((e, false));
                }
                attempt += 1;
                let Some(delay) = backoff.next_delay(attempt, started.elapsed()) else {
                    return Err((e, true));
                };
                on_retry(attempt, delay, &e);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn low() -> f64 {
        0.0
    }
    fn high() -> f64 {
        1.0 - f64::EPSILON
    }
    fn out_of_range() -> f64 {
        7.5
    }
    fn nan() -> f64 {
        f64::NAN
    }

    fn with(random: fn() -> f64) -> Backoff {
        Backoff {
            random,
            ..Backoff::default()
        }
    }

    #[test]
    fn grows_exponentially_up_to_the_cap() {
        let b = with(high);
        let ms = |n| b.next_delay(n, Duration::ZERO).unwrap().as_millis();
        assert_eq!([ms(1), ms(2), ms(3), ms(4)], [200, 400, 800, 1600]);
        assert_eq!(b.ceiling(7), Duration::from_millis(12_800));
        assert_eq!(b.ceiling(8), Duration::from_millis(25_600));
        assert_eq!(b.ceiling(9), DEFAULT_MAX_DELAY);
        assert_eq!(b.ceiling(u32::MAX), DEFAULT_MAX_DELAY);
        assert!(b.next_delay(9, Duration::ZERO).unwrap() <= DEFAULT_MAX_DELAY);
    }

    #[test]
    fn jitter_stays_between_half_and_full() {
        let lo = with(low);
        let hi = with(high);
        for attempt in 1..40 {
            let ceiling = lo.ceiling(attempt);
            assert_eq!(lo.next_delay(attempt, Duration::ZERO), Some(ceiling / 2));
            let top = hi.next_delay(attempt, Duration::ZERO).unwrap();
            assert!(
                top <= ceiling && top > ceiling * 99 / 100,
                "{attempt}: {top:?}"
            );
        }
        let real = Backoff::default();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let d = real.next_delay(3, Duration::ZERO).unwrap();
            assert!(
                (Duration::from_millis(400)..=Duration::from_millis(800)).contains(&d),
                "{d:?}"
            );
            seen.insert(d.as_millis() / 100);
        }
        // Spread over the whole range, not stuck at one value.
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [4, 5, 6, 7]);
    }

    #[test]
    fn bad_randomness_cannot_break_the_bounds() {
        let b = with(out_of_range);
        assert_eq!(
            b.next_delay(1, Duration::ZERO),
            Some(Duration::from_millis(200))
        );
        let b = with(nan);
        assert_eq!(
            b.next_delay(1, Duration::ZERO),
            Some(Duration::from_millis(150))
        );
    }

    #[test]
    fn stops_after_the_attempt_limit() {
        let b = Backoff {
            max_attempts: 10,
            ..with(low)
        };
        assert!(b.next_delay(9, Duration::ZERO).is_some());
        assert_eq!(b.next_delay(10, Duration::ZERO), None);
        assert_eq!(b.next_delay(u32::MAX, Duration::ZERO), None);
        assert_eq!(
            b.next_delay(0, Duration::ZERO),
            b.next_delay(1, Duration::ZERO)
        );
        let once = Backoff {
            max_attempts: 1,
            ..b
        };
        assert_eq!(once.next_delay(1, Duration::ZERO), None);
    }

    #[test]
    fn the_last_wait_ends_at_the_time_budget() {
        let b = with(low);
        // Attempt 5 waits 1.6 s at the low end of the jitter.
        let budget = DEFAULT_MAX_ELAPSED;
        assert_eq!(
            b.next_delay(5, budget - Duration::from_millis(1600)),
            Some(Duration::from_millis(1600))
        );
        assert_eq!(
            b.next_delay(5, budget - Duration::from_millis(1599)),
            Some(Duration::from_millis(1599))
        );
        assert_eq!(b.next_delay(1, budget), None);
        assert_eq!(b.next_delay(1, Duration::MAX), None);
    }

    #[test]
    fn the_default_waits_out_a_quarter_hour_offline() {
        // Before, ten attempts were spent in about a minute and an unattended upload gave up.
        for b in [with(low), with(high)] {
            let mut elapsed = Duration::ZERO;
            let mut attempts = 1;
            while let Some(d) = b.next_delay(attempts, elapsed) {
                elapsed += d;
                attempts += 1;
            }
            assert!(elapsed <= DEFAULT_MAX_ELAPSED, "{elapsed:?}");
            assert!(
                elapsed > DEFAULT_MAX_ELAPSED - DEFAULT_MAX_DELAY,
                "gave up after {elapsed:?} and {attempts} attempts"
            );
            assert!(attempts > 30, "{attempts}");
        }
    }
}
