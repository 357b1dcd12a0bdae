//! Network shaping for tests and benchmarks: a one-way delay on every request and every answer,
//! a throughput cap per connection and one shared by all connections, so a long, per-flow-limited
//! link can be reproduced on loopback without root or kernel modules.
//!
//! The delay is added at the HTTP level: a request is handled `latency` after it arrived and its
//! answer leaves `latency` after it was made, so each round trip costs `2 × latency` more; the
//! first request on a connection also pays the round trip of the TCP handshake. The caps pace
//! the bytes read from and written to each socket, each direction on its own, as on a
//! full-duplex link. With shaping off none of this is on the path: connections are served on the
//! bare socket, without timers or copies.

use std::fmt;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// A throughput, kept in bits per second so both link speeds (`24Mbit`) and byte rates
/// (`10MiB`) are exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate {
    bits_per_sec: u64,
}

impl Rate {
    /// `None` for zero: a link that carries nothing is not a rate.
    pub fn from_bits_per_sec(bits: u64) -> Option<Rate> {
        (bits > 0).then_some(Rate { bits_per_sec: bits })
    }

    /// `None` for zero or more than `u64::MAX` bits per second.
    pub fn from_bytes_per_sec(bytes: u64) -> Option<Rate> {
        bytes.checked_mul(8).and_then(Rate::from_bits_per_sec)
    }

    pub fn bits_per_sec(self) -> u64 {
        self.bits_per_sec
    }

    pub fn bytes_per_sec(self) -> f64 {
        self.bits_per_sec as f64 / 8.0
    }

    /// How long `bytes` take at this rate.
    pub fn time_for(self, bytes: u64) -> Duration {
        Duration::from_secs_f64(bytes as f64 * 8.0 / self.bits_per_sec as f64)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.bits_per_sec;
        let bytes = bits / 8;
        // The form it was most likely written in: binary bytes, then decimal bits.
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if bits.is_multiple_of(8) && bytes >= size && bytes.is_multiple_of(size) {
                return write!(f, "{}{unit}/s", bytes / size);
            }
        }
        for (unit, size) in [
            ("Gbit", 1_000_000_000u64),
            ("Mbit", 1_000_000),
            ("kbit", 1_000),
        ] {
            if bits >= size && bits.is_multiple_of(size) {
                return write!(f, "{}{unit}/s", bits / size);
            }
        }
        write!(f, "{bits}bit/s")
    }
}

/// Why a rate argument was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{0}\" is not a rate: give a number and a unit, in bits per second (24Mbit, 300Mbit, \
     512kbit, 1Gbit; decimal: 1 Mbit = 1,000,000 bits) or in bytes per second (10MiB, 512KiB: \
     binary; 3MB, 500kB: decimal); \"/s\" may follow"
)]
pub struct RateError(String);

impl FromStr for Rate {
    type Err = RateError;

    /// Units: `bit`, `kbit`, `Mbit`, `Gbit` (bits, decimal prefixes, any case); `B`, `kB`,
    /// `MB`, `GB` (bytes, decimal); `KiB`, `MiB`, `GiB` (bytes, binary, any case). A bare number
    /// is refused: bits and bytes differ eightfold and both are common.
    fn from_str(s: &str) -> Result<Rate, RateError> {
        let bad = || RateError(s.to_owned());
        let t = s.trim();
        let t = t.strip_suffix("/s").unwrap_or(t).trim_end();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, unit) = t.split_at(split);
        let value: f64 = number.parse().map_err(|_| bad())?;
        let unit = unit.trim();
        let lower = unit.to_ascii_lowercase();
        let bits_per_unit: f64 = if let Some(prefix) = lower.strip_suffix("bit") {
            decimal(prefix).ok_or_else(bad)?
        } else if let Some(prefix) = lower.strip_suffix("ib") {
            8.0 * match prefix {
                "k" => 1024.0,
                "m" => 1024.0 * 1024.0,
                "g" => 1024.0 * 1024.0 * 1024.0,
                _ => return Err(bad()),
            }
        } else if let Some(prefix) = unit.strip_suffix('B') {
            8.0 * decimal(&prefix.to_ascii_lowercase()).ok_or_else(bad)?
        } else {
            return Err(bad());
        };
        let bits = value * bits_per_unit;
        if !bits.is_finite() || bits < 1.0 || bits > u64::MAX as f64 {
            return Err(bad());
        }
        Rate::from_bits_per_sec(bits.round() as u64).ok_or_else(bad)
    }
}

fn decimal(prefix: &str) -> Option<f64> {
    match prefix {
        "" => Some(1.0),
        "k" => Some(1e3),
        "m" => Some(1e6),
        "g" => Some(1e9),
        _ => None,
    }
}

/// Parses a rate as [`Rate::from_str`] does.
pub fn parse_rate(s: &str) -> Result<Rate, RateError> {
    s.parse()
}

/// How the server shapes its connections; the default shapes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shaping {
    /// One-way delay added to every request and to every answer.
    pub latency: Duration,
    /// Cap on each connection's throughput, in each direction.
    pub conn_rate: Option<Rate>,
    /// Cap on all connections together, in each direction.
    pub link_rate: Option<Rate>,
}

impl Shaping {
    pub fn is_off(&self) -> bool {
        self.latency.is_zero() && self.conn_rate.is_none() && self.link_rate.is_none()
    }
}

impl fmt::Display for Shaping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_off() {
            return f.write_str("no shaping");
        }
        write!(f, "latency {:?} each way", self.latency)?;
        if let Some(r) = self.conn_rate {
            write!(f, ", {r} per connection")?;
        }
        if let Some(r) = self.link_rate {
            write!(f, ", {r} for all connections")?;
        }
        Ok(())
    }
}

/// How far a pacer's clock may fall behind the time of a charge: bytes that come after a pause
/// may go out this much early, no more, so a link that was idle gives no burst.
const SLACK: Duration = Duration::from_millis(10);
/// The longest scheduler delay made up for. A flow kept waiting by the pacing is charged at the
/// time its wait ended, not at the time it actually went on, so a timer that fired late or a
/// starved thread does not lower the rate on a loaded machine.
const CATCH_UP: Duration = Duration::from_secs(1);

/// Paces bytes at a rate by a virtual clock: each charge moves the clock on by the bytes' time
/// at the rate, and the caller waits until the clock before moving more bytes.
#[derive(Debug)]
pub(crate) struct Pacer {
    secs_per_byte: f64,
    clock: Option<Instant>,
}

impl Pacer {
    pub(crate) fn new(rate: Rate) -> Self {
        Self {
            secs_per_byte: 1.0 / rate.bytes_per_sec(),
            clock: None,
        }
    }

    /// Counts `bytes` moved at `at`; returns when the next bytes may move.
    pub(crate) fn charge(&mut self, at: Instant, bytes: usize) -> Instant {
        let floor = at.checked_sub(SLACK).unwrap_or(at);
        let start = self.clock.map_or(at, |c| c.max(floor));
        let next = start + Duration::from_secs_f64(bytes as f64 * self.secs_per_byte);
        self.clock = Some(next);
        next
    }
}

/// The pacers of the whole server, one per direction, shared by every connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct Link {
    up: Option<Arc<Mutex<Pacer>>>,
    down: Option<Arc<Mutex<Pacer>>>,
}

/// Bytes moved at once, about 10 ms at the rate: small enough that pacing is smooth, large
/// enough that a fast cap does not cost a syscall per few bytes.
fn chunk_for(rates: impl Iterator<Item = Rate>) -> usize {
    let slowest = rates.min().map_or(f64::INFINITY, Rate::bytes_per_sec);
    (slowest / 100.0).clamp(4096.0, 256.0 * 1024.0) as usize
}

/// One direction of one connection.
struct Direction {
    conn: Option<Pacer>,
    link: Option<Arc<Mutex<Pacer>>>,
    chunk: usize,
    sleep: Pin<Box<Sleep>>,
    /// When the last wait was to end.
    deadline: Instant,
    waiting: bool,
    /// The caller was kept waiting and has not found the socket empty since: its next bytes
    /// belong at `deadline`, however late it is woken.
    held: bool,
}

impl Direction {
    fn new(conn: Option<Rate>, link: Option<Arc<Mutex<Pacer>>>, link_rate: Option<Rate>) -> Self {
        Self {
            conn: conn.map(Pacer::new),
            link,
            chunk: chunk_for(conn.into_iter().chain(link_rate)),
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            deadline: Instant::now(),
            waiting: false,
            held: false,
        }
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.waiting {
            if self.sleep.as_mut().poll(cx).is_pending() {
                self.held = true;
                return Poll::Pending;
            }
            self.waiting = false;
        }
        Poll::Ready(())
    }

    /// The other side has nothing for us now: the flow paused, so it earns no catch-up.
    fn paused(&mut self) {
        self.held = false;
    }

    fn charge(&mut self, bytes: usize) {
        let now = Instant::now();
        let at = if std::mem::take(&mut self.held) {
            self.deadline
                .max(now.checked_sub(CATCH_UP).unwrap_or(now))
                .min(now)
        } else {
            now
        };
        let mut until = now;
        if let Some(pacer) = &mut self.conn {
            until = until.max(pacer.charge(at, bytes));
        }
        if let Some(link) = &self.link {
            let mut pacer = link.lock().unwrap_or_else(|e| e.into_inner());
            until = until.max(pacer.charge(at, bytes));
        }
        if until > now {
            self.deadline = until;
            self.sleep.as_mut().reset(until.into());
            self.waiting = true;
        }
    }
}

impl Link {
    pub(crate) fn new(shaping: &Shaping) -> Self {
        let pacer = || {
            shaping
                .link_rate
                .map(|r| Arc::new(Mutex::new(Pacer::new(r))))
        };
        Self {
            up: pacer(),
            down: pacer(),
        }
    }
}

/// A socket whose reads (the client's upload) and writes (the answers) are paced.
pub(crate) struct Shaped<S> {
    inner: S,
    up: Direction,
    down: Direction,
}

impl<S> Shaped<S> {
    pub(crate) fn new(inner: S, shaping: &Shaping, link: &Link) -> Self {
        Self {
            inner,
            up: Direction::new(shaping.conn_rate, link.up.clone(), shaping.link_rate),
            down: Direction::new(shaping.conn_rate, link.down.clone(), shaping.link_rate),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Shaped<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.up.poll_ready(cx));
        let n = buf.remaining().min(this.up.chunk);
        // Reading into a window of the caller's buffer keeps the bytes to one copy.
        let mut window = ReadBuf::new(buf.initialize_unfilled_to(n));
        if Pin::new(&mut this.inner)
            .poll_read(cx, &mut window)?
            .is_pending()
        {
            this.up.paused();
            return Poll::Pending;
        }
        let read = window.filled().len();
        buf.advance(read);
        if read > 0 {
            this.up.charge(read);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Shaped<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.down.poll_ready(cx));
        let n = buf.len().min(this.down.chunk);
        let Poll::Ready(written) = Pin::new(&mut this.inner).poll_write(cx, &buf[..n])? else {
            // The client is not reading: it, not the pacing, sets the pace now.
            this.down.paused();
            return Poll::Pending;
        };
        if written > 0 {
            this.down.charge(written);
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_bits_and_bytes() {
        let r = |s: &str| parse_rate(s).unwrap().bits_per_sec();
        assert_eq!(r("24Mbit"), 24_000_000);
        assert_eq!(r("300mbit"), 300_000_000);
        assert_eq!(r("1.5Gbit/s"), 1_500_000_000);
        assert_eq!(r("512kbit"), 512_000);
        assert_eq!(r("10MiB"), 10 * 1024 * 1024 * 8);
        assert_eq!(r("10 mib/s"), 10 * 1024 * 1024 * 8);
        assert_eq!(r("3MB"), 24_000_000);
        assert_eq!(r("500kB"), 4_000_000);
        assert_eq!(r("100B"), 800);
        for bad in [
            "24",
            "24Mb",
            "24mb",
            "fast",
            "0Mbit",
            "-1Mbit",
            "Mbit",
            "1e400Gbit",
            "3Mbps",
        ] {
            let e = parse_rate(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("24Mbit"), "{e}");
        }
        assert_eq!(parse_rate("24Mbit").unwrap().to_string(), "24Mbit/s");
        assert_eq!(parse_rate("10MiB").unwrap().to_string(), "10MiB/s");
        assert_eq!(parse_rate("12bit").unwrap().to_string(), "12bit/s");
    }

    #[test]
    fn pacer_keeps_the_rate_and_makes_up_for_late_wakeups() {
        // 1 MB/s: 10 KB take 10 ms.
        let rate = parse_rate("8Mbit").unwrap();
        let mut pacer = Pacer::new(rate);
        let t0 = Instant::now();
        let (mut now, mut deadline) = (t0, t0);
        for i in 0..100 {
            // Every wake-up is late, some by far; charged at the end of its wait, the clock
            // does not lose that time.
            let at = if i == 0 { now } else { deadline };
            deadline = pacer.charge(at, 10_000);
            now = deadline + Duration::from_millis(if i % 10 == 0 { 80 } else { 3 });
        }
        let elapsed = now - t0;
        assert!(
            elapsed >= Duration::from_millis(1000) && elapsed <= Duration::from_millis(1080),
            "{elapsed:?}"
        );
        // After a pause, at most SLACK's worth goes out without waiting.
        let later = now + Duration::from_secs(1);
        let next = pacer.charge(later, 10_000);
        assert_eq!(next, later - SLACK + Duration::from_millis(10));
    }

    #[test]
    fn a_shared_pacer_caps_the_sum() {
        // Two connections of 8 Mbit each on a 8 Mbit link: together 1 MB/s.
        let rate = parse_rate("8Mbit").unwrap();
        let link = Mutex::new(Pacer::new(rate));
        let mut conns = [Pacer::new(rate), Pacer::new(rate)];
        let mut ready = [Instant::now(); 2];
        let t0 = ready[0];
        let mut sent = 0;
        while sent < 2_000_000 {
            let i = if ready[0] <= ready[1] { 0 } else { 1 };
            let now = ready[i];
            let own = conns[i].charge(now, 10_000);
            let shared = link.lock().unwrap().charge(now, 10_000);
            ready[i] = own.max(shared);
            sent += 10_000;
        }
        let elapsed = ready[0].max(ready[1]) - t0;
        assert!(
            elapsed >= Duration::from_millis(1990) && elapsed <= Duration::from_millis(2010),
            "{elapsed:?}"
        );
    }
}
