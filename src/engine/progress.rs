//! Byte-level progress of one upload job: how much is done, how fast it goes, when it will end,
//! and when it is worth telling the UI. No clock of its own: every call takes the current
//! `Instant`, so tests replay exact timelines.
//!
//! Decisions:
//! - **Done** counts bytes OSS confirmed plus bytes of parts still being sent, so the bar moves
//!   smoothly within a part. When a part fails and starts over, its bytes in flight drop to zero;
//!   the *shown* figure is a high-water mark that does not follow it down, and simply stays still
//!   until real progress passes it again. A bar that jumps backwards looks like lost work to a
//!   user; a bar that pauses does not. The true figure is used for the ETA, which may rise.
//! - **Speed** is bytes put on the wire (re-sent bytes included: the network really carried
//!   them) over a sliding window of about five seconds: steady enough to read, quick to show a
//!   stall (it falls to zero once five seconds pass with nothing sent). No speed is given during
//!   the first second, when any figure would be noise.
//! - **Events** are gated to at most one per 100 ms per job, which is all a person can read and
//!   keeps a queue of many small files from flooding the UI.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// The shortest time between two progress events of one job.
pub const EMIT_INTERVAL: Duration = Duration::from_millis(100);
/// How far back the speed looks.
pub const SPEED_WINDOW: Duration = Duration::from_secs(5);
/// No speed is reported until this much time has been measured.
pub const SPEED_MIN_ELAPSED: Duration = Duration::from_secs(1);
/// Samples are kept at most this often, bounding memory however small the chunks are.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// Bytes per second over a sliding window.
#[derive(Clone, Debug)]
pub struct SpeedMeter {
    total: u64,
    /// (when, `total` at that moment), oldest first; the first is at or before the window start.
    samples: VecDeque<(Instant, u64)>,
}

impl SpeedMeter {
    pub fn new(now: Instant) -> Self {
        Self {
            total: 0,
            samples: VecDeque::from([(now, 0)]),
        }
    }

    /// Forgets the past and starts measuring from `now`, e.g. after a pause, so the time spent
    /// paused does not drag the speed down.
    pub fn restart(&mut self, now: Instant) {
        self.samples.clear();
        self.samples.push_back((now, self.total));
    }

    pub fn record(&mut self, bytes: u64, now: Instant) {
        self.total = self.total.saturating_add(bytes);
        // A sample holds everything recorded up to and including its instant, so chunks recorded
        // at the very same instant join it; later ones within the interval wait for the next.
        match self.samples.back_mut() {
            Some((t, at)) if *t == now => *at = self.total,
            Some((t, _)) if now.saturating_duration_since(*t) < SAMPLE_INTERVAL => {}
            _ => self.samples.push_back((now, self.total)),
        }
        if let Some(start) = now.checked_sub(SPEED_WINDOW) {
            while self.samples.len() > 1 && self.samples[1].0 <= start {
                self.samples.pop_front();
            }
        }
    }

    /// The speed at `now`, or `None` while less than [`SPEED_MIN_ELAPSED`] has been measured.
    pub fn bytes_per_second(&self, now: Instant) -> Option<f64> {
        let window_start = now.checked_sub(SPEED_WINDOW);
        // The newest sample at or before the window start, else the oldest: the rate since then.
        let &(since, at) = window_start
            .and_then(|start| self.samples.iter().rev().find(|(t, _)| *t <= start))
            .or_else(|| self.samples.front())?;
        let elapsed = now.saturating_duration_since(since);
        if elapsed < SPEED_MIN_ELAPSED {
            return None;
        }
        Some((self.total - at) as f64 / elapsed.as_secs_f64())
    }
}

/// Lets an event through at most once per interval.
#[derive(Clone, Debug)]
pub struct EmitGate {
    interval: Duration,
    last: Option<Instant>,
}

impl EmitGate {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
        }
    }

    /// Whether an event may go out at `now`; if so, the interval starts again.
    pub fn ready(&mut self, now: Instant) -> bool {
        let ready = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if ready {
            self.last = Some(now);
        }
        ready
    }
}

/// What the UI shows for a job.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProgressSnapshot {
    pub total: u64,
    /// For the bar: never less than in an earlier snapshot, never more than `total`.
    pub done: u64,
    /// Bytes OSS has confirmed; they survive a crash.
    pub confirmed: u64,
    pub bytes_per_second: Option<u64>,
    /// `None` while the speed is unknown or zero.
    pub eta: Option<Duration>,
}

impl ProgressSnapshot {
    /// Done as a fraction from 0 to 1. An empty file has no bytes to show, so it stays at 0 and
    /// its completion is told by the job's terminal event.
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.done as f64 / self.total as f64
        }
    }
}

/// Progress of one job, fed by the parts as they go.
#[derive(Clone, Debug)]
pub struct JobProgress {
    total: u64,
    confirmed: u64,
    finished: BTreeSet<u32>,
    in_flight: BTreeMap<u32, u64>,
    in_flight_sum: u64,
    shown: u64,
    speed: SpeedMeter,
    gate: EmitGate,
}

impl JobProgress {
    /// A job of `total` bytes with nothing sent yet.
    pub fn new(total: u64, now: Instant) -> Self {
        Self::resumed(total, [], now)
    }

    /// A resumed job whose `finished` parts (number, size) are already confirmed. They count as
    /// done but not towards the speed: they were sent in an earlier run.
    pub fn resumed(
        total: u64,
        finished: impl IntoIterator<Item = (u32, u64)>,
        now: Instant,
    ) -> Self {
        let mut progress = Self {
            total,
            confirmed: 0,
            finished: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            in_flight_sum: 0,
            shown: 0,
            speed: SpeedMeter::new(now),
            gate: EmitGate::new(EMIT_INTERVAL),
        };
        for (number, size) in finished {
            if progress.finished.insert(number) {
                progress.confirmed = progress.confirmed.saturating_add(size);
            }
        }
        progress.raise_shown();
        progress
    }

    /// A part begins sending, or begins again after a failure: its bytes in flight restart at 0.
    pub fn part_started(&mut self, number: u32) {
        self.drop_in_flight(number);
        if !self.finished.contains(&number) {
            self.in_flight.insert(number, 0);
        }
    }

    /// `bytes` more of part `number` went onto the wire.
    pub fn part_sent(&mut self, number: u32, bytes: u64, now: Instant) {
        if self.finished.contains(&number) {
            return;
        }
        *self.in_flight.entry(number).or_insert(0) += bytes;
        self.in_flight_sum = self.in_flight_sum.saturating_add(bytes);
        self.speed.record(bytes, now);
        self.raise_shown();
    }

    /// OSS confirmed part `number` of `len` bytes. Confirming a part twice counts it once.
    pub fn part_finished(&mut self, number: u32, len: u64, now: Instant) {
        let sent = self.drop_in_flight(number);
        if !self.finished.insert(number) {
            return;
        }
        self.confirmed = self.confirmed.saturating_add(len);
        // Bytes the sender did not report (a small file sent in one go) still crossed the wire.
        if len > sent {
            self.speed.record(len - sent, now);
        }
        self.raise_shown();
    }

    /// Part `number` failed; its bytes in flight no longer count (the shown figure holds).
    pub fn part_failed(&mut self, number: u32) {
        self.drop_in_flight(number);
    }

    /// The job continues after a pause: measure speed afresh.
    pub fn resume_clock(&mut self, now: Instant) {
        self.speed.restart(now);
    }

    pub fn snapshot(&self, now: Instant) -> ProgressSnapshot {
        let speed = self.speed.bytes_per_second(now);
        let remaining = self.total.saturating_sub(self.true_done());
        let eta = match speed {
            _ if remaining == 0 => Some(Duration::ZERO),
            Some(bps) if bps >= 1.0 => Some(Duration::from_secs_f64(remaining as f64 / bps)),
            _ => None,
        };
        ProgressSnapshot {
            total: self.total,
            done: self.shown,
            confirmed: self.confirmed,
            bytes_per_second: speed.map(|bps| bps.round() as u64),
            eta,
        }
    }

    /// A snapshot when one is due (at most every [`EMIT_INTERVAL`]), else `None`. Final states
    /// are reported by the job's terminal event, not through this gate.
    pub fn poll_emit(&mut self, now: Instant) -> Option<ProgressSnapshot> {
        if self.gate.ready(now) {
            Some(self.snapshot(now))
        } else {
            None
        }
    }

    fn true_done(&self) -> u64 {
        self.confirmed
            .saturating_add(self.in_flight_sum)
            .min(self.total)
    }

    fn raise_shown(&mut self) {
        self.shown = self.shown.max(self.true_done());
    }

    fn drop_in_flight(&mut self, number: u32) -> u64 {
        let sent = self.in_flight.remove(&number).unwrap_or(0);
        self.in_flight_sum = self.in_flight_sum.saturating_sub(sent);
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn retried_part_does_not_move_the_bar_backwards() {
        let t0 = Instant::now();
        let mut p = JobProgress::new(16 * MIB, t0);
        p.part_started(1);
        p.part_sent(1, 5 * MIB, t0 + ms(500));
        assert_eq!(p.snapshot(t0 + ms(500)).done, 5 * MIB);
        p.part_failed(1);
        p.part_started(1);
        p.part_sent(1, MIB, t0 + ms(900));
        let s = p.snapshot(t0 + ms(900));
        assert_eq!((s.done, s.confirmed), (5 * MIB, 0));
        p.part_sent(1, 5 * MIB, t0 + ms(1500));
        assert_eq!(p.snapshot(t0 + ms(1500)).done, 6 * MIB);
        p.part_finished(1, 8 * MIB, t0 + ms(2000));
        let s = p.snapshot(t0 + ms(2000));
        assert_eq!((s.done, s.confirmed), (8 * MIB, 8 * MIB));
        // Speed counts the re-sent bytes: 5 + 1 + 5 + 2 unreported at the end.
        assert_eq!(s.bytes_per_second, Some(13 * MIB / 2));
    }

    #[test]
    fn done_never_decreases_and_never_passes_total() {
        let t0 = Instant::now();
        let mut p = JobProgress::new(10 * MIB, t0);
        let mut last = 0;
        let mut t = t0;
        for round in 0..50u64 {
            let part = (round % 3) as u32 + 1;
            t += ms(37);
            match round % 4 {
                0 => p.part_started(part),
                1 | 2 => p.part_sent(part, MIB, t),
                _ => p.part_failed(part),
            }
            let s = p.snapshot(t);
            assert!(s.done >= last && s.done <= s.total, "{round}: {s:?}");
            last = s.done;
        }
        p.part_sent(9, 100 * MIB, t);
        assert_eq!(p.snapshot(t).done, 10 * MIB);
    }

    #[test]
    fn resumed_parts_count_as_done_but_not_as_speed() {
        let t0 = Instant::now();
        let mut p = JobProgress::resumed(20 * MIB, [(1, 8 * MIB), (2, 8 * MIB), (2, 8 * MIB)], t0);
        let s = p.snapshot(t0 + ms(2000));
        assert_eq!(
            (s.done, s.confirmed, s.bytes_per_second, s.eta),
            (16 * MIB, 16 * MIB, Some(0), None)
        );
        p.part_finished(2, 8 * MIB, t0 + ms(2000));
        assert_eq!(p.snapshot(t0 + ms(2000)).confirmed, 16 * MIB);
        p.part_sent(2, MIB, t0 + ms(2100));
        assert_eq!(p.snapshot(t0 + ms(2100)).done, 16 * MIB);
    }

    #[test]
    fn speed_and_eta_from_a_steady_stream() {
        let t0 = Instant::now();
        let mut p = JobProgress::new(100 * MIB, t0);
        p.part_started(1);
        assert_eq!(p.snapshot(t0).bytes_per_second, None);
        // 1 MiB every 100 ms = 10 MiB/s, in 64 KiB chunks.
        let mut t = t0;
        for _ in 0..100 {
            t += ms(100);
            for _ in 0..16 {
                p.part_sent(1, 64 * 1024, t);
            }
        }
        let s = p.snapshot(t);
        assert_eq!(s.done, 100 * MIB);
        assert_eq!(s.bytes_per_second, Some(10 * MIB));
        assert_eq!(s.eta, Some(Duration::ZERO));

        let mut p = JobProgress::new(200 * MIB, t0);
        let mut t = t0;
        for _ in 0..50 {
            t += ms(100);
            p.part_sent(1, MIB, t);
        }
        let s = p.snapshot(t);
        assert_eq!(s.bytes_per_second, Some(10 * MIB));
        assert_eq!(s.eta, Some(Duration::from_secs(15)));
    }

    #[test]
    fn no_speed_during_the_first_second() {
        let t0 = Instant::now();
        let mut p = JobProgress::new(10 * MIB, t0);
        p.part_sent(1, MIB, t0 + ms(500));
        let s = p.snapshot(t0 + ms(999));
        assert_eq!((s.bytes_per_second, s.eta), (None, None));
        assert_eq!(p.snapshot(t0 + ms(1000)).bytes_per_second, Some(MIB));
    }

    #[test]
    fn speed_forgets_the_old_rate_and_shows_a_stall() {
        let t0 = Instant::now();
        let mut meter = SpeedMeter::new(t0);
        let mut t = t0;
        for _ in 0..100 {
            t += ms(100);
            meter.record(MIB, t);
        }
        assert_eq!(meter.bytes_per_second(t), Some((10 * MIB) as f64));
        for _ in 0..60 {
            t += ms(100);
            meter.record(MIB / 10, t);
        }
        // Only the last five seconds count: 50 samples of MIB / 10.
        assert_eq!(meter.bytes_per_second(t), Some((MIB / 10 * 10) as f64));
        // A stall: nothing for five seconds reads as zero, not as the old rate.
        assert_eq!(meter.bytes_per_second(t + SPEED_WINDOW), Some(0.0));
        assert!(meter.samples.len() <= 52, "{}", meter.samples.len());
    }

    #[test]
    fn restart_after_pause_ignores_paused_time() {
        let t0 = Instant::now();
        let mut p = JobProgress::new(100 * MIB, t0);
        for i in 1..=20 {
            p.part_sent(1, MIB, t0 + ms(100 * i));
        }
        let resumed_at = t0 + Duration::from_secs(600);
        p.resume_clock(resumed_at);
        assert_eq!(p.snapshot(resumed_at).bytes_per_second, None);
        for i in 1..=20 {
            p.part_sent(1, MIB, resumed_at + ms(100 * i));
        }
        assert_eq!(
            p.snapshot(resumed_at + ms(2000)).bytes_per_second,
            Some(10 * MIB)
        );
    }

    #[test]
    fn at_most_ten_events_a_second() {
        let t0 = Instant::now();
        let mut p = JobProgress::new(MIB, t0);
        let mut emitted = Vec::new();
        for i in 0..1000 {
            let t = t0 + ms(i);
            p.part_sent(1, 1, t);
            if p.poll_emit(t).is_some() {
                emitted.push(i);
            }
        }
        assert_eq!(emitted, (0..1000).step_by(100).collect::<Vec<_>>());
        let mut gate = EmitGate::new(EMIT_INTERVAL);
        assert!(gate.ready(t0) && !gate.ready(t0 + ms(99)) && gate.ready(t0 + ms(100)));
    }

    #[test]
    fn empty_file_fraction() {
        let t0 = Instant::now();
        let mut p = JobProgress::new(0, t0);
        assert_eq!(p.snapshot(t0).eta, Some(Duration::ZERO));
        p.part_finished(1, 0, t0);
        assert_eq!(p.snapshot(t0).fraction(), 0.0);
        let mut p = JobProgress::new(4, t0);
        p.part_sent(1, 1, t0);
        assert_eq!(p.snapshot(t0).fraction(), 0.25);
    }
}
