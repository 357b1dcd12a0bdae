//! The one pool of requests in flight for the whole queue, shared by the parts of big files and
//! by small files, and the controller that sizes it.
//!
//! On a long link one TCP connection gets a fraction of the bandwidth and every request costs
//! a round trip, so the number of requests in flight decides the speed; the right number is
//! not known in advance (3 on a slow uplink, 30 on a far, fat link) and a person should never
//! have to find it. The controller works like TCP's own congestion control, on goodput: it
//! starts small and doubles while each doubling brings clearly more bytes per second (slow
//! start; small files, whose requests finish within a window, four times over while a doubling
//! nearly doubles their rate), then probes upward one step at a time and keeps a step only
//! when it pays; it backs off when requests time out or the service is busy (5xx, throttling)
//! or answers slow down, and it does not grow while the user's bandwidth limit, not the link,
//! is what binds. Everything it decides on is passed in (time, bytes, errors), so tests drive
//! it with a fake clock.
//!
//! Goodput is what the network took: bytes given to the sockets, less what the sockets still
//! hold (`unsent`), since a socket takes megabytes at once into its buffers. The pool also
//! lets a file's last round of parts start together ([`Pool::acquire_part`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

mod unsent;

/// Requests in flight the pool never exceeds: beyond this a desktop only adds contention.
pub const MAX_IN_FLIGHT: usize = 64;
/// Where the controller starts: what a link that is not slow always carries better than
/// fewer. On a far link that caps each connection (40 ms, 24 of 300 Mbit/s), half a second at
/// 4 instead of 8 cost 0.3 s of a 7 s upload, and 16 instead of 8 took 0.13 s off it and
/// 0.4 s off 2,000 small files. A slow link is told from the first window and backs off
/// from here.
pub const START_IN_FLIGHT: usize = 16;
/// Slow start never leaves the pool below this.
const SLOW_START_FLOOR: usize = 4;
/// In the first window, a request that moves less than this is one of several sharing a slow
/// link: more of them would only split it further. Below what one TCP connection sends in its
/// first round trips on any link worth a second connection.
const BUSY_REQUEST: f64 = 64.0 * 1024.0;
/// Slow start measures over short windows: a whole transfer may last a few seconds.
const FAST_WINDOW: Duration = Duration::from_millis(500);
/// The first window: its settling time and a short measure of where growth starts from.
const FIRST_WINDOW: Duration = Duration::from_millis(300);
/// The first window when no answer came yet to tell how far the service is.
const FIRST_WITHOUT_ANSWER: Duration = Duration::from_secs(3);
/// Answer times beyond this (a stalled first request) do not stretch the windows further.
const MAX_ANSWER_FOR_WINDOWS: Duration = Duration::from_secs(1);
/// The start of each window is not counted. Bytes count as sent when the socket takes them,
/// and a request that starts (most start just as a window begins: the pool grew) fills its
/// socket's buffers at once, up to the 4 MiB of Linux's send buffer on a short hop to a shaper
/// or proxy: a burst that says nothing about the link. Counted, it made the window with 4
/// requests look nearly as fast as the one with 8 on a link that 13 fill.
const SETTLE: Duration = Duration::from_millis(150);
/// Later steps are judged over longer windows, which smooth out single slow requests.
const STEADY_WINDOW: Duration = Duration::from_secs(2);
/// A doubling must bring this much more goodput to count as still growing.
const DOUBLING_GAIN: f64 = 1.25;
/// A doubling that brought less than this, while each request moves less than
/// [`SHARING_REQUEST`], is kept, but slow start ends there: the requests share a slow link that
/// is nearly full, and the next doubling would only split it. On a 200 KiB/s link, 300 files of
/// 32 KiB went from 8 to 16 requests for 1.3× the goodput (11 KB/s each), and then on to 32.
/// Not the first window: short requests' bytes per second there say how far the service is
/// (a 4 KiB file a round trip of 160 ms moves 25 KB/s), not how full the link is.
const DOUBLING_AGAIN: f64 = 1.5;
/// Below this a request is one of many sharing a slow link. Small files on a far link, whose
/// doublings also gained only 1.3–1.5× in some windows (new connections' round trips), move
/// 50–160 KB/s each there and must go on doubling: at 64 KiB/s, stopping them cost 30 %.
const SHARING_REQUEST: f64 = 24.0 * 1024.0;
/// Short requests (each finishes within a window: small files) whose doubling brought this
/// much, nearly all of it, grow four times over in the next step, as TCP's slow start grows
/// once per round trip: each doubling of them costs a window of half a second, and 2,000
/// files of 16 KiB on a far link spent a third of their upload growing from 8 to 64.
const NEARLY_DOUBLED: f64 = 1.7;
/// A single step up must bring this much more goodput to be kept.
const STEP_GAIN: f64 = 1.05;
/// After a step that did not pay, or a back-off, the next probe waits this long.
const HOLD: Duration = Duration::from_secs(6);
/// On trouble the pool shrinks to this share of its size.
const BACK_OFF: f64 = 0.7;
/// Answers this many times slower than the fastest seen mean requests are queueing somewhere.
const SLOW_ANSWERS: f64 = 3.0;

/// What went wrong with a request, as far as sizing the pool is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// A timeout or a broken connection while the network is up.
    Timeout,
    /// The service said it is busy or failing (5xx, throttling).
    Busy,
}

/// Decides how many requests may be in flight. Pure: fed with observations and the time.
#[derive(Clone, Debug)]
pub struct Controller {
    limit: usize,
    max: usize,
    phase: Phase,
    window_start: Instant,
    /// Where the window's measure starts: its settling time later, or when the pool began
    /// to watch what the sockets hold ([`Controller::unsent_now`]).
    measure_start: Instant,
    /// What the sockets held unsent when the measure started, if that could be read.
    held_at_start: Option<u64>,
    /// Bytes the network took in this window since `measure_start`: what the window is judged
    /// by. Signed: sockets may drain more than was given to them meanwhile.
    window_bytes: i64,
    /// A window is open: bytes were sent since the pool last had no request in flight
    /// ([`Controller::idle`]). An hour idle is no window of zero goodput, nor one with a few
    /// bytes in it; the first byte after it starts a window.
    window_active: bool,
    /// Windows judged so far.
    judged: u64,
    /// Goodput of the last finished window, bytes per second.
    last_goodput: f64,
    /// The limit and goodput before the step being judged.
    before_step: Option<(usize, f64)>,
    /// In slow start, the goodput before a doubling of short requests that is being judged
    /// again, over the window after the one that seemed not to pay.
    rejudging: Option<f64>,
    hold_until: Option<Instant>,
    trouble: bool,
    /// The fastest answer seen, and the latest ones smoothed.
    fastest_answer: Option<Duration>,
    recent_answer: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    SlowStart,
    Steady,
}

/// What the pool tells the controller at the end of a window, besides the bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    /// Requests were waiting for room: more room could have been used.
    pub demand: bool,
    /// The user's bandwidth limit held bytes back: the link is not what binds.
    pub throttled: bool,
    /// Requests that finished in the window: short requests (small files) show what more of
    /// them would bring by how fast they turn over, whatever the bytes.
    pub finished: usize,
}

impl Controller {
    pub fn new(now: Instant) -> Self {
        Self {
            limit: START_IN_FLIGHT,
            max: MAX_IN_FLIGHT,
            phase: Phase::SlowStart,
            window_start: now,
            measure_start: now + SETTLE,
            held_at_start: None,
            window_bytes: 0,
            window_active: false,
            judged: 0,
            last_goodput: 0.0,
            before_step: None,
            rejudging: None,
            hold_until: None,
            trouble: false,
            fastest_answer: None,
            recent_answer: None,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Goodput of the last judged window, bytes per second.
    pub fn goodput(&self) -> f64 {
        self.last_goodput
    }

    /// Bytes handed to the network.
    pub fn sent(&mut self, bytes: u64, now: Instant) {
        if !self.window_active {
            self.window_active = true;
            self.begin_window(now);
        }
        if now >= self.measure_start {
            self.window_bytes = self.window_bytes.saturating_add_unsigned(bytes);
        }
    }

    fn begin_window(&mut self, now: Instant) {
        self.window_start = now;
        self.measure_start = now + SETTLE;
        self.held_at_start = None;
        self.window_bytes = 0;
    }

    /// No request is in flight: the window is closed unjudged, and the next byte sent starts
    /// one. Silence while requests are in flight is not idleness: sockets whose buffers are
    /// full take nothing until they have drained a third, which on a link that caps each
    /// connection is longer than a first window, and new requests started together fill and
    /// drain together. Taken for idleness, such a silence restarted the first window and
    /// delayed the first doubling by 0.4 s on a 7 s upload.
    pub fn idle(&mut self) {
        self.window_active = false;
    }

    /// Whether [`Controller::unsent_now`] would use what the sockets hold now: where the
    /// window's measure starts (once it settled) and where it ends.
    pub fn wants_unsent(&self, now: Instant) -> bool {
        if self.due(now) {
            self.held_at_start.is_some()
        } else {
            self.held_at_start.is_none() && self.window_active && now >= self.window_start + SETTLE
        }
    }

    /// What the sockets hold unsent now. At the start of the measure it is noted (and the
    /// bytes sent before are not counted); at its end, what the sockets took on meanwhile and
    /// still hold is taken off the bytes sent: the network has not carried it.
    pub fn unsent_now(&mut self, held: u64, now: Instant) {
        if !self.wants_unsent(now) {
            return;
        }
        match self.held_at_start.take() {
            Some(start) => {
                self.window_bytes = self.window_bytes.saturating_sub(held as i64 - start as i64);
            }
            None => {
                self.measure_start = now;
                self.held_at_start = Some(held);
                self.window_bytes = 0;
            }
        }
    }

    /// The window is over: the next [`Controller::tick`] judges it.
    pub fn due(&self, now: Instant) -> bool {
        self.window_active && now.saturating_duration_since(self.window_start) >= self.length()
    }

    /// Slow start's windows last a few answer times at least: on a far link a new request's
    /// connection needs round trips (TCP, TLS) before its first byte, and a window shorter
    /// than that would judge every doubling by requests that have not begun.
    fn length(&self) -> Duration {
        let answer = self.fastest_answer.map(|a| a.min(MAX_ANSWER_FOR_WINDOWS));
        match (self.phase, answer) {
            // The first window measures where growth starts from. It waits for an answer
            // (the upload's Initiate, or a first small file) to know how long to be.
            (Phase::SlowStart, None) if self.last_goodput == 0.0 => FIRST_WITHOUT_ANSWER,
            (Phase::SlowStart, Some(a)) if self.last_goodput == 0.0 => FIRST_WINDOW.max(a * 2),
            (Phase::SlowStart, a) => FAST_WINDOW.max(a.unwrap_or_default() * 3),
            (Phase::Steady, _) => STEADY_WINDOW,
        }
    }

    /// A retryable failure: shrink at once (once per window), then hold.
    pub fn trouble(&mut self, _kind: Trouble, now: Instant) {
        if !self.trouble {
            self.trouble = true;
            self.shrink(now);
        }
    }

    /// How long an answer took after its request was sent, for requests with small bodies
    /// (their time is mostly the round trip and the server's queue).
    pub fn answered(&mut self, took: Duration) {
        self.fastest_answer = Some(self.fastest_answer.map_or(took, |f| f.min(took)));
        self.recent_answer = Some(match self.recent_answer {
            Some(r) => (r * 7 + took) / 8,
            None => took,
        });
    }

    fn shrink(&mut self, now: Instant) {
        self.limit = ((self.limit as f64 * BACK_OFF).floor() as usize).max(1);
        self.phase = Phase::Steady;
        self.before_step = None;
        self.rejudging = None;
        self.hold_until = Some(now + HOLD);
    }

    fn answers_slowing(&self) -> bool {
        match (self.fastest_answer, self.recent_answer) {
            (Some(f), Some(r)) => r.as_secs_f64() > f.as_secs_f64() * SLOW_ANSWERS + 0.05,
            _ => false,
        }
    }

    /// Called often; at the end of each window it may change the limit. Returns the new limit
    /// when it changed.
    pub fn tick(&mut self, now: Instant, window: Window) -> Option<usize> {
        if !self.due(now) {
            return None;
        }
        if self.window_bytes <= 0 {
            // The network took nothing in the whole window (requests stalled, or the sockets
            // held all that was given to them): nothing to judge a size by.
            self.begin_window(now);
            return None;
        }
        let measured = now
            .saturating_duration_since(self.measure_start)
            .as_secs_f64();
        let goodput = if measured > 0.0 {
            self.window_bytes.max(0) as f64 / measured
        } else {
            0.0
        };
        let before = self.limit;
        self.begin_window(now);
        self.judged += 1;
        let troubled = std::mem::take(&mut self.trouble);
        let previous = std::mem::replace(&mut self.last_goodput, goodput);
        if troubled {
            return (self.limit != before).then_some(self.limit);
        }
        if self.answers_slowing() && self.phase == Phase::Steady {
            self.shrink(now);
            self.recent_answer = self.fastest_answer;
            return (self.limit != before).then_some(self.limit);
        }
        if let Some(until) = self.hold_until {
            if now < until {
                return None;
            }
            self.hold_until = None;
        }
        match self.phase {
            Phase::SlowStart => {
                let rejudged = self.rejudging.take();
                let previous = rejudged.unwrap_or(previous);
                let gain = (previous > 0.0).then(|| goodput / previous);
                let per_request = goodput / self.limit as f64;
                // Requests finish within a window: their goodput follows how many are in
                // flight, round trip by round trip, until the link is full.
                let short = window.finished >= self.limit;
                let growing = match gain {
                    // Nothing to compare with yet: whether a request is busy, or turns over.
                    None => per_request >= BUSY_REQUEST || short,
                    Some(gain) => gain >= DOUBLING_GAIN,
                };
                if window.throttled || !window.demand {
                    // Nothing to gain here now: judge growth later, one step at a time. A
                    // doubling that did not pay is not kept for that: with no request waiting
                    // no later step would undo it. Over loopback a 1 GiB upload doubled from
                    // 32 to 64, where every part was in flight, for 0.7× the goodput, and
                    // stayed there at a third more client CPU than at 24.
                    if gain.is_some_and(|g| g < DOUBLING_GAIN) {
                        self.limit = (self.limit * 3 / 4).max(SLOW_START_FLOOR.min(self.max));
                        self.hold_until = Some(now + STEADY_WINDOW);
                    }
                    self.phase = Phase::Steady;
                } else if !growing && short && gain.is_some() && rejudged.is_none() {
                    // The requests the doubling added open new connections, whose handshakes
                    // fall in the window right after it: for short requests that is most of
                    // it. The doubling is judged again over the next window, against the same
                    // goodput before it. Without this, 2,000 small files on a far link went
                    // back from 64 to 48 and then took 4 s to climb again.
                    self.rejudging = Some(previous);
                } else if growing && self.limit >= self.max {
                    // Nowhere further to double: a later window at this size must not be
                    // taken for a doubling that did not pay.
                    self.phase = Phase::Steady;
                } else if growing
                    && gain.is_some_and(|g| g < DOUBLING_AGAIN)
                    && per_request < SHARING_REQUEST
                {
                    // Kept; from here on, one step at a time.
                    self.phase = Phase::Steady;
                } else if growing {
                    let nearly_doubled =
                        gain.map_or(window.finished >= 2 * self.limit, |g| g >= NEARLY_DOUBLED);
                    let factor = if short && nearly_doubled { 4 } else { 2 };
                    self.limit = (self.limit * factor).min(self.max);
                } else {
                    // The last doubling did not pay: partway back, then probe from there. Or
                    // the start was already too many (a slow link, where each request moves
                    // little and none finishes): half of it. On 200 KiB/s, 300 files of 32 KiB
                    // took the same 49.8 s with 8 as with 16 to 20, and every part in flight
                    // loses what it sent when the network drops.
                    let back = if gain.is_some() {
                        self.limit * 3 / 4
                    } else {
                        self.limit / 2
                    };
                    self.limit = back.max(SLOW_START_FLOOR.min(self.max));
                    self.phase = Phase::Steady;
                    self.hold_until = Some(now + STEADY_WINDOW);
                }
            }
            Phase::Steady => {
                if let Some((old_limit, old_goodput)) = self.before_step.take()
                    && goodput < old_goodput * STEP_GAIN
                {
                    // The step did not pay: back to where it was, and wait before probing.
                    self.limit = old_limit;
                    self.hold_until = Some(now + HOLD);
                    return (self.limit != before).then_some(self.limit);
                }
                if window.demand && !window.throttled && self.limit < self.max {
                    self.before_step = Some((self.limit, goodput));
                    let step = (self.limit / 8).max(1);
                    self.limit = (self.limit + step).min(self.max);
                }
            }
        }
        (self.limit != before).then_some(self.limit)
    }
}

/// The pool itself: a semaphore whose size the controller changes, or that a person fixed.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Mutex<State>>,
    room: Arc<Notify>,
    /// What this process's sockets hold unsent ([`unsent::bytes`]; a fake in tests).
    unsent: fn() -> Option<u64>,
}

struct State {
    controller: Controller,
    /// A fixed size a person chose (`--threads`/`--jobs`, the Advanced settings).
    fixed: Option<usize>,
    in_flight: usize,
    waiting: usize,
    /// The queue holds files that have not started.
    files_waiting: bool,
    /// Requests that finished since the window began.
    finished: usize,
    /// Seen since the controller's window began: requests waited for room, or the queue held
    /// files back for want of room (`backlog`), or the user's bandwidth limit held bytes back.
    /// Collected between ticks, since a tick sees only one instant of a window.
    demand: bool,
    throttled: bool,
    /// Bytes per second over the last window, for the status line.
    goodput: f64,
    /// Bytes per second of one request over the last window that had requests in flight, for
    /// the automatic part size (`plan::automatic_part_size`).
    per_request: Option<f64>,
}

impl State {
    /// Forgets the signs collected for the window that ended, judged or not: the next window
    /// collects its own.
    fn forget_signs(&mut self) {
        self.demand = false;
        self.throttled = false;
        self.finished = 0;
    }

    fn limit(&self) -> usize {
        self.fixed.unwrap_or_else(|| self.controller.limit())
    }

    /// `unstarted` parts of a file are its last round: see [`Pool::acquire_part`].
    fn last_round(&self, unstarted: usize) -> bool {
        let limit = self.controller.limit();
        self.fixed.is_none()
            && !self.files_waiting
            && unstarted > 0
            && unstarted <= limit
            && self.in_flight < (2 * limit).min(MAX_IN_FLIGHT)
    }
}

/// One request's place in the pool; the place is given back when it is dropped.
pub struct Permit {
    pool: Pool,
}

impl Drop for Permit {
    fn drop(&mut self) {
        {
            let mut s = self.pool.state();
            s.in_flight -= 1;
            s.finished += 1;
            if s.in_flight == 0 {
                s.controller.idle();
                // The window is closed unjudged: what it saw must not count in the next one
                // (a batch of small files ending would make big parts look short).
                s.forget_signs();
            }
        }
        self.pool.room.notify_waiters();
    }
}

impl Pool {
    /// A pool sized by the controller, or of `fixed` size.
    pub fn new(fixed: Option<usize>) -> Self {
        Self::watching(fixed, unsent::bytes)
    }

    fn watching(fixed: Option<usize>, unsent: fn() -> Option<u64>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State {
                controller: Controller::new(Instant::now()),
                fixed: fixed.map(|n| n.clamp(1, MAX_IN_FLIGHT)),
                in_flight: 0,
                waiting: 0,
                files_waiting: false,
                finished: 0,
                demand: false,
                throttled: false,
                goodput: 0.0,
                per_request: None,
            })),
            room: Arc::new(Notify::new()),
            unsent,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sizes the pool by hand (`Some`) or hands it back to the controller (`None`).
    pub fn set_fixed(&self, fixed: Option<usize>) {
        self.state().fixed = fixed.map(|n| n.clamp(1, MAX_IN_FLIGHT));
        self.room.notify_waiters();
    }

    /// Waits for room for one more request.
    pub async fn acquire(&self) -> Permit {
        self.acquire_in(None).await
    }

    /// Waits for room for one more part of a file whose parts not yet started are counted by
    /// `unstarted` (this one included; it is counted down once the part has room).
    ///
    /// A file's last round of parts starts together, beyond the pool's size if need be (up to
    /// twice it, at most [`MAX_IN_FLIGHT`]), when no other file waits to follow it and the
    /// size was not fixed by a person. Otherwise the parts that start last finish last, alone
    /// on a few connections: on a link that caps each connection, the upload of a 256 MiB file
    /// in 32 parts through a pool of 16 ended with 2.5 s at a sixth of the link.
    pub async fn acquire_part(&self, unstarted: &AtomicUsize) -> Permit {
        self.acquire_in(Some(unstarted)).await
    }

    async fn acquire_in(&self, unstarted: Option<&AtomicUsize>) -> Permit {
        let mut counted = false;
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            // Registered before the check, so a place given back in between is not missed.
            notified.as_mut().enable();
            {
                let mut s = self.state();
                let last_round = unstarted.is_some_and(|u| s.last_round(u.load(Ordering::Relaxed)));
                if s.in_flight < s.limit() || last_round {
                    s.in_flight += 1;
                    if counted {
                        s.waiting -= 1;
                    }
                    if let Some(u) = unstarted {
                        let left = u.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
                        if s.last_round(left) {
                            // The rest of this file's parts may start now: wake them.
                            drop(s);
                            self.room.notify_waiters();
                        }
                    }
                    return Permit { pool: self.clone() };
                }
                if !counted {
                    s.waiting += 1;
                    counted = true;
                }
            }
            notified.await;
        }
    }

    /// Room for more requests right now: the queue starts another job only when there is.
    pub fn has_room(&self) -> bool {
        let s = self.state();
        s.in_flight + s.waiting < s.limit()
    }

    /// The current size.
    pub fn limit(&self) -> usize {
        self.state().limit()
    }

    /// Requests in flight, and the goodput of the last window in bytes per second.
    pub fn load(&self) -> (usize, f64) {
        let s = self.state();
        (s.in_flight, s.goodput)
    }

    /// The goodput of one request in the last window, in bytes per second; `None` until one
    /// has been measured.
    pub fn per_request_goodput(&self) -> Option<f64> {
        self.state().per_request
    }

    /// Bytes were handed to the network.
    pub fn sent(&self, bytes: u64) {
        self.state().controller.sent(bytes, Instant::now());
    }

    /// Files are queued that the queue does not start for want of room: more room would be
    /// used, as when requests wait for it.
    pub fn backlog(&self) {
        self.state().demand = true;
    }

    /// Whether the queue holds files that have not started (set each time it looks).
    pub fn set_files_waiting(&self, waiting: bool) {
        self.state().files_waiting = waiting;
    }

    /// The user's bandwidth limit held bytes back in this window.
    pub fn throttled(&self) {
        self.state().throttled = true;
    }

    pub fn trouble(&self, kind: Trouble) {
        self.state().controller.trouble(kind, Instant::now());
    }

    pub fn answered(&self, took: Duration) {
        self.state().controller.answered(took);
    }

    /// Lets the controller judge the window that ended; call a few times a second.
    pub fn tick(&self) {
        let now = Instant::now();
        // What the sockets hold is read outside the lock (the upload tasks take it for every
        // chunk they send), and only where the controller wants it.
        let read = self.state().controller.wants_unsent(now);
        let held = if read { (self.unsent)() } else { None };
        let mut s = self.state();
        if let Some(held) = held {
            s.controller.unsent_now(held, now);
        }
        s.demand |= s.waiting > 0;
        let window = Window {
            demand: s.demand,
            throttled: s.throttled,
            finished: s.finished,
        };
        let judged = s.controller.judged;
        let before = s.controller.limit();
        s.controller.tick(now, window);
        if s.controller.judged != judged {
            tracing::debug!(
                before,
                after = s.controller.limit(),
                in_flight = s.in_flight,
                finished = window.finished,
                goodput = s.controller.goodput() as u64,
                demand = window.demand,
                "pool window judged"
            );
            s.forget_signs();
            s.goodput = s.controller.goodput();
            if s.in_flight > 0 && s.goodput > 0.0 {
                s.per_request = Some(s.goodput / s.in_flight as f64);
            }
            drop(s);
            self.room.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link that gives each request `per_request` bytes/s, all of them together at most
    /// `link` bytes/s: the goodput a controller at `limit` sees.
    fn goodput(limit: usize, per_request: f64, link: f64) -> f64 {
        (limit as f64 * per_request).min(link)
    }

    /// Runs the controller for `seconds` of fake time against a simulated link, ticking every
    /// 50 ms; returns the limits it chose, one per tick.
    fn drive(
        c: &mut Controller,
        start: Instant,
        seconds: u64,
        link: impl Fn(usize, Duration) -> f64,
        window: impl Fn(usize) -> Window,
    ) -> Vec<usize> {
        let step = Duration::from_millis(50);
        let mut now = start;
        let mut seen = Vec::new();
        // The upload's Initiate: a round trip of the links below.
        c.answered(Duration::from_millis(80));
        while now < start + Duration::from_secs(seconds) {
            let rate = link(c.limit(), now - start);
            c.sent((rate * step.as_secs_f64()) as u64, now);
            now += step;
            c.tick(now, window(c.limit()));
            seen.push(c.limit());
        }
        seen
    }

    /// 200 KiB/s in all, whatever the number of connections.
    fn slow_link(_limit: usize, _: Duration) -> f64 {
        204_800.0
    }

    /// On a slow link: never above the start, and from the first judgement on at half of it
    /// (one probing step above at times).
    fn backs_off_from_the_start(limits: &[usize]) {
        assert!(limits.iter().all(|&l| l <= START_IN_FLIGHT), "{limits:?}");
        let first = limits.iter().position(|&l| l != START_IN_FLIGHT);
        assert!(first.is_some_and(|f| f <= 20), "{limits:?}");
        let half = START_IN_FLIGHT / 2;
        let after = &limits[first.unwrap_or_default()..];
        assert!(after.iter().all(|&l| l <= half + half / 8), "{limits:?}");
    }

    fn demand(_: usize) -> Window {
        Window {
            demand: true,
            ..Window::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn grows_fast_on_a_long_fat_link_and_settles_near_what_fills_it() {
        let start = Instant::now();
        let mut c = Controller::new(start);
        // 24 Mbit/s per connection, 300 Mbit/s for all: 13 connections fill the link.
        let per = 3_000_000.0;
        let link = 37_500_000.0;
        let limits = drive(&mut c, start, 20, |l, _| goodput(l, per, link), demand);
        // Within two seconds it is past what fills the link…
        assert!(limits[40] >= 13, "{:?}", &limits[..40]);
        // …and it never runs away to the cap for nothing, nor falls back below the fill.
        let settled = &limits[200..];
        assert!(
            settled.iter().all(|&l| (13..=40).contains(&l)),
            "{settled:?}"
        );
    }

    /// Runs the controller for `seconds` of fake time against a link like the one in
    /// [`goodput`], where each request that starts also fills its socket's buffers at once:
    /// `burst` bytes count as sent the moment it starts, whatever the link.
    fn drive_with_bursts(
        c: &mut Controller,
        start: Instant,
        seconds: u64,
        (per_request, link, burst): (f64, f64, u64),
    ) -> Vec<usize> {
        let step = Duration::from_millis(50);
        let mut now = start;
        let mut running = 0;
        let mut seen = Vec::new();
        c.answered(Duration::from_millis(80));
        while now < start + Duration::from_secs(seconds) {
            if c.limit() > running {
                c.sent((c.limit() - running) as u64 * burst, now);
            }
            running = c.limit();
            c.sent((goodput(running, per_request, link) * 0.05) as u64, now);
            now += step;
            c.tick(now, demand(c.limit()));
            seen.push(c.limit());
        }
        seen
    }

    #[tokio::test(start_paused = true)]
    async fn the_burst_into_new_sockets_does_not_hide_a_fat_link() {
        // The link of the test above, with 4 MiB taken into each new request's socket buffers
        // (Linux's send buffer on a short hop to a shaper).
        let start = Instant::now();
        let mut c = Controller::new(start);
        let limits = drive_with_bursts(&mut c, start, 10, (3_000_000.0, 37_500_000.0, 4 << 20));
        assert!(limits[40] >= 13, "{:?}", &limits[..40]);
        // On a slow link the same bursts do not read as room to grow.
        let mut c = Controller::new(start);
        let limits = drive_with_bursts(&mut c, start, 30, (1e9, 204_800.0, 4 << 20));
        backs_off_from_the_start(&limits);
    }

    #[tokio::test(start_paused = true)]
    async fn on_a_far_link_windows_wait_for_new_connections() {
        // 250 ms round trips: a new request's connection needs 500 ms (TCP, TLS) before its
        // first byte, and the Initiate on a fresh connection took 750 ms. Each request then
        // gets 1.25 MB/s (10 Mbit/s per flow), 20 MB/s in all: 16 fill the link.
        let start = Instant::now();
        let mut c = Controller::new(start);
        c.answered(Duration::from_millis(750));
        let step = Duration::from_millis(50);
        let mut now = start;
        let mut began: Vec<Instant> = Vec::new();
        let mut seen = Vec::new();
        while now < start + Duration::from_secs(30) {
            began.truncate(c.limit());
            while began.len() < c.limit() {
                began.push(now);
            }
            let ready = began
                .iter()
                .filter(|b| now.saturating_duration_since(**b) >= Duration::from_millis(500))
                .count();
            let rate = (ready as f64 * 1_250_000.0).min(20_000_000.0);
            if rate > 0.0 {
                c.sent((rate * step.as_secs_f64()) as u64, now);
            }
            now += step;
            c.tick(now, demand(c.limit()));
            seen.push(c.limit());
        }
        // Within 5 s it is at what fills the link (with 500 ms windows it fell back to 12
        // there, its doublings judged before the new requests began), and stays there.
        assert!(seen[100] >= 16, "{:?}", &seen[..100]);
        assert!(seen[100..].iter().all(|&l| l >= 16), "{seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_pool_starts_from_its_first_bytes() {
        // The queue was idle (the pool ticks only while jobs run, but a window may span the
        // idle time): that time is no window of zero goodput for the first load to double.
        let start = Instant::now();
        let mut c = Controller::new(start);
        let later = start + Duration::from_secs(600);
        c.tick(later, demand(c.limit()));
        let limits = drive(&mut c, later, 60, slow_link, demand);
        backs_off_from_the_start(&limits);
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_left_open_by_an_idle_queue_is_not_judged_when_work_comes_back() {
        // The queue stops ticking the pool when no job runs, so a batch that ended mid-window
        // leaves that window open; the next batch, ten minutes later, is no window of ten
        // minutes with a few bytes in it.
        let start = Instant::now();
        let mut c = Controller::new(start);
        // A link that every doubling still pays on.
        let fat = |l, _| goodput(l, 3_000_000.0, 1e12);
        drive(&mut c, start, 1, fat, demand);
        // The batch's last request ended (the pool tells the controller).
        c.idle();
        let before = c.limit();
        let later = start + Duration::from_secs(600);
        let limits = drive(&mut c, later, 2, fat, demand);
        assert!(limits.iter().all(|&l| l >= before), "{before} → {limits:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn silence_while_requests_are_in_flight_does_not_restart_the_first_window() {
        // The first requests fill their sockets' buffers at once, then send nothing until the
        // link has drained a third of them: 400 ms here, longer than the first window.
        let start = Instant::now();
        let mut c = Controller::new(start);
        c.answered(Duration::from_millis(160));
        let ms = |n| start + Duration::from_millis(n);
        c.sent(32 << 20, start);
        c.unsent_now(32 << 20, ms(150));
        c.sent(10 << 20, ms(400));
        // The first window (twice the answer) is over at 320 ms: it is judged by what the
        // network took (the sockets drained 8 MiB, given 10 MiB and hold 2 MiB more).
        c.unsent_now(34 << 20, ms(450));
        assert_eq!(
            c.tick(ms(450), demand(START_IN_FLIGHT)),
            Some(2 * START_IN_FLIGHT)
        );
        assert_eq!(c.judged, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_request_ending_closes_the_window() {
        let pool = Pool::watching(None, || None);
        let permit = pool.acquire().await;
        pool.sent(1 << 20);
        tokio::time::advance(Duration::from_millis(100)).await;
        drop(permit);
        // Ten minutes later, work comes back: its first byte starts the window.
        tokio::time::advance(Duration::from_secs(600)).await;
        let _permit = pool.acquire().await;
        pool.sent(1 << 20);
        let c = pool.state().controller.clone();
        assert!(c.window_active);
        assert_eq!(c.window_start, Instant::now());
    }

    #[tokio::test(start_paused = true)]
    async fn a_doubling_that_nearly_fills_the_link_ends_slow_start() {
        // Small files on a slow link: 16 requests leave gaps between files (70 % of the
        // link), 32 nearly fill it, more only split it.
        let start = Instant::now();
        let mut c = Controller::new(start);
        let link = |l: usize, _| match l {
            ..=16 => 141_000.0 * l as f64 / 16.0,
            17..=32 => 183_000.0,
            _ => 200_000.0,
        };
        let turnover = |l: usize| Window {
            demand: true,
            finished: l,
            ..Window::default()
        };
        let limits = drive(&mut c, start, 60, link, turnover);
        assert!(limits.contains(&32), "{limits:?}");
        assert!(limits.iter().all(|&l| l <= 40), "{limits:?}");
        // The same gains at eight times the rates (46 KB/s per request at 32): small files on a
        // far link with room, whose new connections' round trips blur the gain. It goes on
        // doubling.
        let mut c = Controller::new(start);
        let limits = drive(&mut c, start, 10, |l, t| link(l, t) * 8.0, turnover);
        assert!(limits.contains(&MAX_IN_FLIGHT), "{limits:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn tiny_files_on_a_far_link_grow_from_the_first_window() {
        // 1 KiB files, each a round trip of 80 ms (13 KB/s per request), three a window: a
        // request's bytes per second say how far the service is, not that the link is full.
        let mut c = Controller::new(Instant::now());
        let limits = drive_short(&mut c, 20, 13_000.0, 3, 0);
        assert_eq!(*limits.last().unwrap(), MAX_IN_FLIGHT, "{limits:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn what_a_window_saw_before_the_pool_went_idle_does_not_count_after() {
        let pool = Pool::watching(None, || None);
        pool.answered(Duration::from_millis(80));
        // A batch of small files ends: forty requests finished, then none is in flight.
        for _ in 0..40 {
            drop(pool.acquire().await);
        }
        // Big parts follow: busy requests, none of which finishes in the first window. They
        // double; they are not short requests to grow four times over.
        let _parts =
            futures_util::future::join_all((0..START_IN_FLIGHT).map(|_| pool.acquire())).await;
        pool.backlog();
        // Over the first window only (300 ms; the next would end at 800).
        for _ in 0..12 {
            pool.sent(START_IN_FLIGHT as u64 * 50_000);
            tokio::time::advance(Duration::from_millis(50)).await;
            pool.tick();
        }
        assert_eq!(pool.limit(), 2 * START_IN_FLIGHT);
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_growing_while_each_step_pays() {
        let start = Instant::now();
        let mut c = Controller::new(start);
        // Small files: every request is a round trip; more in flight is more files per second
        // up to the cap.
        let limits = drive(
            &mut c,
            start,
            60,
            |l, _| goodput(l, 200_000.0, 1e12),
            demand,
        );
        assert_eq!(*limits.last().unwrap(), MAX_IN_FLIGHT);
    }

    /// Small files on a link with room for all of them: each request moves `per` bytes/s and
    /// turns over `turns` times a window, but only once its connection is open, `handshake`
    /// after it was let in. Returns the limits chosen, one per 50 ms tick.
    fn drive_short(
        c: &mut Controller,
        seconds: u64,
        per: f64,
        turns: usize,
        handshake: u64,
    ) -> Vec<usize> {
        let start = Instant::now();
        let step = Duration::from_millis(50);
        let mut now = start;
        let mut began: Vec<Instant> = Vec::new();
        let mut seen = Vec::new();
        let open = Duration::from_millis(handshake);
        c.answered(Duration::from_millis(80));
        while now < start + Duration::from_secs(seconds) {
            began.truncate(c.limit());
            while began.len() < c.limit() {
                began.push(now);
            }
            let ready = began
                .iter()
                .filter(|b| now.saturating_duration_since(**b) >= open)
                .count();
            c.sent((ready as f64 * per * step.as_secs_f64()) as u64, now);
            now += step;
            let window = Window {
                demand: true,
                finished: turns * c.limit(),
                ..Window::default()
            };
            c.tick(now, window);
            seen.push(c.limit());
        }
        seen
    }

    #[tokio::test(start_paused = true)]
    async fn short_requests_that_scale_grow_four_times_over_up_to_the_cap_and_stay() {
        // Each small file a round trip, three of them a window: every doubling doubles the
        // goodput, up to the cap.
        let mut c = Controller::new(Instant::now());
        let limits = drive_short(&mut c, 20, 200_000.0, 3, 0);
        let mut sizes = limits.clone();
        sizes.dedup();
        assert_eq!(sizes, [START_IN_FLIGHT, MAX_IN_FLIGHT], "{limits:?}");
        // At the cap, later windows at the same size are no doubling that did not pay.
        let top = limits.iter().position(|&l| l == MAX_IN_FLIGHT).unwrap();
        assert!(
            limits[top..].iter().all(|&l| l == MAX_IN_FLIGHT),
            "{limits:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_doubling_of_short_requests_is_judged_again_before_it_is_undone() {
        // Far: the requests a doubling adds send nothing for 450 ms (their connections'
        // handshakes), most of the window after it. The next window shows what they bring.
        let mut c = Controller::new(Instant::now());
        let limits = drive_short(&mut c, 20, 200_000.0, 1, 450);
        assert!(limits.windows(2).all(|w| w[1] >= w[0]), "{limits:?}");
        assert_eq!(*limits.last().unwrap(), MAX_IN_FLIGHT, "{limits:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_uplink_gets_few_connections() {
        let start = Instant::now();
        let mut c = Controller::new(start);
        let limits = drive(&mut c, start, 60, slow_link, demand);
        backs_off_from_the_start(&limits);
    }

    #[tokio::test(start_paused = true)]
    async fn holds_when_the_users_limit_binds() {
        let start = Instant::now();
        let mut c = Controller::new(start);
        let limits = drive(
            &mut c,
            start,
            30,
            |l, _| goodput(l, 3_000_000.0, 1e12),
            |_| Window {
                demand: true,
                throttled: true,
                ..Window::default()
            },
        );
        assert!(limits.iter().all(|&l| l == START_IN_FLIGHT), "{limits:?}");
    }

    /// Over loopback the client and the server share the CPU: beyond a few dozen requests in
    /// flight more only slow each other down, and a big file's parts are all in flight at 64,
    /// so none waits for room.
    #[tokio::test(start_paused = true)]
    async fn a_doubling_that_lost_goodput_is_undone_when_no_request_waits() {
        let start = Instant::now();
        let mut c = Controller::new(start);
        let limits = drive(
            &mut c,
            start,
            10,
            |l, _| match l {
                ..=16 => 300e6,
                17..=32 => 450e6,
                _ => 320e6,
            },
            |l| Window {
                demand: l < MAX_IN_FLIGHT,
                ..Window::default()
            },
        );
        assert!(limits.contains(&MAX_IN_FLIGHT), "{limits:?}");
        // One window at the cap, then back and never there again; a probing step above
        // does not pay and is undone.
        let at_cap = limits.iter().rposition(|&l| l == MAX_IN_FLIGHT);
        assert!(at_cap.is_some_and(|i| i < 40), "{limits:?}");
        assert_eq!(limits.last(), Some(&48), "{limits:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_grow_without_requests_waiting() {
        let start = Instant::now();
        let mut c = Controller::new(start);
        let limits = drive(
            &mut c,
            start,
            30,
            |l, _| goodput(l, 3_000_000.0, 1e12),
            |_| Window::default(),
        );
        assert!(
            limits.iter().all(|&l| l <= 2 * START_IN_FLIGHT),
            "{limits:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn backs_off_on_trouble_and_holds_before_probing_again() {
        let start = Instant::now();
        let mut c = Controller::new(start);
        drive(
            &mut c,
            start,
            10,
            |l, _| goodput(l, 200_000.0, 1e12),
            demand,
        );
        let before = c.limit();
        let now = start + Duration::from_secs(10);
        c.trouble(Trouble::Busy, now);
        let after = c.limit();
        assert!(
            after < before && after >= (before as f64 * 0.6) as usize,
            "{before} → {after}"
        );
        // Trouble in the same window does not shrink it twice.
        c.trouble(Trouble::Timeout, now);
        assert_eq!(c.limit(), after);
        // No probe upward while it holds.
        let mut t = now;
        for _ in 0..(HOLD.as_millis() / 100 - 1) {
            t += Duration::from_millis(100);
            c.sent(20_000, t);
            c.tick(t, demand(c.limit()));
            assert!(c.limit() <= after, "probed during the hold");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn answers_slowing_down_shrink_the_pool() {
        let start = Instant::now();
        let mut c = Controller::new(start);
        drive(
            &mut c,
            start,
            10,
            |l, _| goodput(l, 200_000.0, 1e12),
            demand,
        );
        let before = c.limit();
        c.answered(Duration::from_millis(80));
        for _ in 0..20 {
            c.answered(Duration::from_millis(900));
        }
        // Bytes keep flowing through the next window (a window of silence would not be
        // judged), and at its end the slow answers shrink the pool.
        let end = start + Duration::from_secs(10) + STEADY_WINDOW;
        let mut t = start + Duration::from_secs(10);
        while t < end {
            t += Duration::from_millis(100);
            c.sent(50_000, t);
        }
        c.tick(end, demand(c.limit()));
        assert!(c.limit() < before, "{before} → {}", c.limit());
    }

    /// Drives a pool by fake time: every 50 ms `bytes(window)` are sent by small files that
    /// each take 100 ms (half the pool's places finish one), and the queue says it holds files
    /// back once, early in each window; returns the pool's size at the end.
    async fn drive_pool(pool: &Pool, windows: u32, bytes: impl Fn(u32) -> u64) -> usize {
        pool.answered(Duration::from_millis(80));
        let ticks = (FAST_WINDOW.as_millis() / 50) as u32;
        let mut running = std::collections::VecDeque::new();
        for w in 0..windows {
            for t in 0..ticks {
                for _ in 0..pool.limit() / 2 {
                    running.pop_front();
                }
                while running.len() < pool.limit() {
                    running.push_back(pool.acquire().await);
                }
                pool.sent(bytes(w) / u64::from(ticks));
                if t == 1 {
                    pool.backlog();
                }
                tokio::time::advance(Duration::from_millis(50)).await;
                pool.tick();
            }
        }
        pool.limit()
    }

    #[tokio::test(start_paused = true)]
    async fn files_held_back_by_the_queue_count_as_demand_however_brief() {
        // Small files: no request waits for room (the queue starts a file only when there is
        // some), but files are queued, and each doubling doubles the goodput.
        let pool = Pool::watching(None, || None);
        let limit = drive_pool(&pool, 4, |w| 100_000 << w).await;
        assert_eq!(limit, MAX_IN_FLIGHT);
        // Without files held back nor requests waiting, slow start ends without a step.
        let idle = Pool::watching(None, || None);
        let ticks = (FAST_WINDOW.as_millis() / 50) as u32;
        for w in 0..4u32 {
            for _ in 0..ticks {
                idle.sent((100_000u64 << w) / u64::from(ticks));
                tokio::time::advance(Duration::from_millis(50)).await;
                idle.tick();
            }
        }
        assert_eq!(idle.limit(), START_IN_FLIGHT);
    }

    #[tokio::test(start_paused = true)]
    async fn the_goodput_of_one_request_is_known_once_requests_ran() {
        let pool = Pool::watching(None, || None);
        assert_eq!(pool.per_request_goodput(), None);
        let _a = pool.acquire().await;
        let _b = pool.acquire().await;
        pool.answered(Duration::from_millis(80));
        let ticks = (FAST_WINDOW.as_millis() / 50) as u64;
        for _ in 0..ticks {
            pool.sent(1_000_000 / ticks);
            tokio::time::advance(Duration::from_millis(50)).await;
            pool.tick();
        }
        // 1 MB in one window over two requests.
        let want = 1_000_000.0 / FAST_WINDOW.as_secs_f64() / 2.0;
        let per = pool.per_request_goodput().unwrap();
        assert!((per - want).abs() < 1.0, "{per} {want}");
    }

    static HELD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    #[tokio::test(start_paused = true)]
    async fn bytes_the_sockets_still_hold_are_not_counted_as_carried() {
        use std::sync::atomic::Ordering::Relaxed;
        let pool = Pool::watching(None, || Some(HELD.load(Relaxed)));
        let _permit = pool.acquire().await;
        pool.answered(Duration::from_millis(80));
        // 4 MiB go into the socket's buffers at once; then it is given 1 MB/s while the
        // network takes 500 kB/s, so what it holds keeps growing.
        pool.sent(4 << 20);
        HELD.store(4 << 20, Relaxed);
        let ticks = FAST_WINDOW.as_millis() / 50;
        for _ in 0..ticks {
            pool.sent(50_000);
            HELD.fetch_add(25_000, Relaxed);
            tokio::time::advance(Duration::from_millis(50)).await;
            pool.tick();
        }
        let (_, goodput) = pool.load();
        assert!((goodput - 500_000.0).abs() < 1.0, "{goodput}");
    }

    #[tokio::test]
    async fn a_files_last_round_of_parts_starts_together() {
        let pool = Pool::watching(None, || None);
        let full: Vec<Permit> =
            futures_util::future::join_all((0..START_IN_FLIGHT).map(|_| pool.acquire())).await;
        let quick = Duration::from_secs(5);
        // More parts left than the pool holds: they wait their turn.
        let many = AtomicUsize::new(START_IN_FLIGHT + 1);
        let wait = tokio::time::timeout(Duration::from_millis(50), pool.acquire_part(&many)).await;
        assert!(wait.is_err());
        // The last round starts at once, each part counted down…
        let last = AtomicUsize::new(START_IN_FLIGHT);
        let mut extra = Vec::new();
        for _ in 0..START_IN_FLIGHT {
            extra.push(
                tokio::time::timeout(quick, pool.acquire_part(&last))
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(last.load(Ordering::Relaxed), 0);
        assert_eq!(pool.load().0, 2 * START_IN_FLIGHT);
        drop(extra);
        // …but not while other files wait to follow, nor when a person fixed the size.
        pool.set_files_waiting(true);
        let one = AtomicUsize::new(1);
        let wait = tokio::time::timeout(Duration::from_millis(50), pool.acquire_part(&one)).await;
        assert!(wait.is_err());
        pool.set_files_waiting(false);
        pool.set_fixed(Some(START_IN_FLIGHT));
        let wait = tokio::time::timeout(Duration::from_millis(50), pool.acquire_part(&one)).await;
        assert!(wait.is_err());
        pool.set_fixed(None);
        let _p = tokio::time::timeout(quick, pool.acquire_part(&one))
            .await
            .unwrap();
        drop(full);
    }

    #[tokio::test]
    async fn the_pool_never_lets_more_in_than_its_limit() {
        let pool = Pool::new(Some(3));
        let a = pool.acquire().await;
        let _b = pool.acquire().await;
        let _c = pool.acquire().await;
        assert!(!pool.has_room());
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.acquire().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(a);
        let _d = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        pool.set_fixed(Some(5));
        assert!(pool.has_room());
        assert_eq!(pool.load().0, 3);
    }
}
