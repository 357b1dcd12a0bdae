//! A fault-injecting HTTP/1.1 proxy for the reliability tests. It sits between a client (the
//! engine in-process, or the binary through `--endpoint`) and the local OSS server, and does to
//! chosen requests what a hostile network does: a reset in the middle of a body, a stall, a
//! closed or truncated answer, a trickle, an outage, a garbage answer, a flipped bit, a stripped
//! CRC header, an answer rewritten to lie. The test changes its behaviour while it runs.
//!
//! It understands just enough HTTP/1.1 to count body bytes and rewrite heads: Content-Length and
//! chunked bodies (a chunked body is passed on chunked, its extensions and trailers dropped),
//! bodiless answers (HEAD, 1xx, 204, 304) and answers that end when the connection closes. The
//! client's connection is kept alive across requests; each request goes upstream on a fresh
//! connection, so a fault never leaves a half-used upstream connection behind for the next one.
//!
//! Rules work as the local server's own fault rules: a rule hits the `nth` request of its call
//! (counted from when it was added) and the `times - 1` after it. Every exchange is logged (call,
//! part number, body bytes that reached the server, status, whether the client got the answer),
//! so a test can count what was sent again.
#![allow(dead_code)]

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oss_uploader::local_server::Op;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// A head larger than this is refused (the server's limit is far lower).
const MAX_HEAD: usize = 64 * 1024;
/// A stalled connection is held at most this long, then closed (the tests end long before).
const STALL_LIMIT: Duration = Duration::from_secs(300);

/// Turns an answer's body (as text) into the body the client gets.
pub type Rewrite = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// What happens to a request a rule hits.
#[derive(Clone)]
pub enum Fault {
    /// Forward this many bytes of the request body, then reset both connections (RST).
    ResetMidBody(u64),
    /// Forward this many bytes of the request body, then forward nothing more in either
    /// direction and read nothing more from the client, with the socket left open.
    StallMidBody(u64),
    /// Forward the whole request (the server acts on it), then never send its answer.
    StallAnswer,
    /// Forward the whole request, then send only the first N bytes of the answer (head
    /// included) and close the connection. 0 closes without a byte.
    TruncateAnswer(u64),
    /// Answer `200 OK` with random bytes. With `forward` the request reaches the server first
    /// (it acts on it and its answer is thrown away); without, it never does.
    Garbage { forward: bool },
    /// Forward the request body at this many bytes per second.
    Trickle(u64),
    /// Flip the lowest bit of the request body's byte at this offset.
    FlipBit(u64),
    /// Remove `x-oss-hash-crc64ecma` from the answer.
    StripCrc,
    /// Replace the answer's body by what the function makes of it (a lying ListParts).
    RewriteAnswer(Rewrite),
    /// Begin an outage of this length now, with this request (it is reset unsent).
    StartOutage(Duration),
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::ResetMidBody(_) => "reset-mid-body",
            Fault::StallMidBody(_) => "stall-mid-body",
            Fault::StallAnswer => "stall-answer",
            Fault::TruncateAnswer(_) => "truncate-answer",
            Fault::Garbage { .. } => "garbage",
            Fault::Trickle(_) => "trickle",
            Fault::FlipBit(_) => "flip-bit",
            Fault::StripCrc => "strip-crc",
            Fault::RewriteAnswer(_) => "rewrite-answer",
            Fault::StartOutage(_) => "start-outage",
        }
    }
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::ResetMidBody(n) | Fault::StallMidBody(n) | Fault::TruncateAnswer(n) => {
                write!(f, "{}({n})", self.name())
            }
            Fault::Trickle(n) | Fault::FlipBit(n) => write!(f, "{}({n})", self.name()),
            Fault::Garbage { forward } => write!(f, "garbage(forward: {forward})"),
            Fault::StartOutage(d) => write!(f, "{}({d:?})", self.name()),
            _ => f.write_str(self.name()),
        }
    }
}

/// Hits the `nth` (1-based) request of `op` (`None`: any call) counted from when the rule was
/// added, and the `times - 1` matching requests after it.
#[derive(Clone, Debug)]
pub struct Rule {
    pub op: Option<Op>,
    pub nth: u64,
    pub times: u64,
    pub fault: Fault,
}

impl Rule {
    pub fn new(op: Option<Op>, nth: u64, fault: Fault) -> Self {
        Self {
            op,
            nth: nth.max(1),
            times: 1,
            fault,
        }
    }

    /// Every request of `op` from now on.
    pub fn always(op: Option<Op>, fault: Fault) -> Self {
        Self::new(op, 1, fault).times(u64::MAX / 4)
    }

    pub fn times(mut self, times: u64) -> Self {
        self.times = times.max(1);
        self
    }
}

/// One request as the proxy saw it.
#[derive(Clone, Debug, Default)]
pub struct Exchange {
    pub op: Option<Op>,
    pub method: String,
    pub target: String,
    pub part: Option<u32>,
    pub upload_id: Option<String>,
    pub fault: Option<&'static str>,
    /// Request body bytes that reached the server.
    pub body_forwarded: u64,
    /// The server's status, when it answered.
    pub status: Option<u16>,
    /// The client got the whole answer.
    pub answered: bool,
}

struct ActiveRule {
    rule: Rule,
    seen: u64,
}

struct Shared {
    upstream: SocketAddr,
    rules: Mutex<Vec<ActiveRule>>,
    strip_crc: AtomicBool,
    outage_until: Mutex<Option<Instant>>,
    log: Mutex<Vec<Exchange>>,
    connections: AtomicU64,
    /// Varies the garbage from one answer to the next.
    noise: AtomicU64,
}

impl Shared {
    fn take(&self, op: Option<Op>) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let mut hit = None;
        for active in rules.iter_mut() {
            if active.rule.op.is_some() && active.rule.op != op {
                continue;
            }
            active.seen += 1;
            let first = active.rule.nth;
            let last = first.saturating_add(active.rule.times - 1);
            if hit.is_none() && (first..=last).contains(&active.seen) {
                hit = Some(active.rule.fault.clone());
            }
        }
        rules.retain(|a| a.seen < a.rule.nth.saturating_add(a.rule.times - 1));
        hit
    }

    fn in_outage(&self) -> bool {
        let mut until = self.outage_until.lock().unwrap();
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut Exchange)) {
        if let Some(e) = self.log.lock().unwrap().get_mut(index) {
            f(e);
        }
    }
}

/// A running proxy; dropping it closes every connection it holds.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Vec::new()),
            strip_crc: AtomicBool::new(false),
            outage_until: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            connections: AtomicU64::new(0),
            noise: AtomicU64::new(1),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Proxy { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add(&self, rule: Rule) {
        self.shared
            .rules
            .lock()
            .unwrap()
            .push(ActiveRule { rule, seen: 0 });
    }

    /// Forgets every rule and ends an outage.
    pub fn clear(&self) {
        self.shared.rules.lock().unwrap().clear();
        *self.shared.outage_until.lock().unwrap() = None;
    }

    /// Removes `x-oss-hash-crc64ecma` from every answer while on (an older deployment, a
    /// gateway that drops unknown headers).
    pub fn strip_crc(&self, on: bool) {
        self.shared.strip_crc.store(on, Ordering::Relaxed);
    }

    /// For `d` from now every new connection is reset as soon as it is accepted, and every open
    /// one at its next request or its next chunk of body.
    pub fn outage(&self, d: Duration) {
        *self.shared.outage_until.lock().unwrap() = Some(Instant::now() + d);
    }

    pub fn in_outage(&self) -> bool {
        self.shared.in_outage()
    }

    /// Every exchange so far, in the order the requests arrived.
    pub fn log(&self) -> Vec<Exchange> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests of `op` seen so far.
    pub fn requests(&self, op: Op) -> usize {
        self.shared
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.op == Some(op))
            .count()
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The accept loop owns the connection tasks: aborting it drops (and aborts) them all.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        shared.connections.fetch_add(1, Ordering::Relaxed);
        if shared.in_outage() {
            reset(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        connections.spawn(serve_connection(stream, shared.clone()));
        while connections.try_join_next().is_some() {}
    }
}

/// Closes with RST rather than FIN, as a dropped route or a crashed middlebox does.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// How one exchange left the client's connection.
enum After {
    KeepAlive,
    Close,
    Reset,
    /// Hold the connection open without a byte in either direction.
    Stall,
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let (cr, cw) = stream.into_split();
    let mut cr = BufReader::with_capacity(64 * 1024, cr);
    let mut cw = cw;
    loop {
        let head = match read_head(&mut cr).await {
            Ok(Some(h)) => h,
            _ => return,
        };
        let after = if shared.in_outage() {
            After::Reset
        } else {
            match exchange(&shared, &head, &mut cr, &mut cw).await {
                Ok(a) => a,
                Err(_) => After::Close,
            }
        };
        match after {
            After::KeepAlive => continue,
            After::Close => {
                let _ = cw.shutdown().await;
                return;
            }
            After::Reset => {
                if let Ok(s) = cr.into_inner().reunite(cw) {
                    reset(s);
                }
                return;
            }
            After::Stall => {
                tokio::time::sleep(STALL_LIMIT).await;
                return;
            }
        }
    }
}

/// One request and its answer.
async fn exchange(
    shared: &Shared,
    head: &[u8],
    cr: &mut BufReader<OwnedReadHalf>,
    cw: &mut OwnedWriteHalf,
) -> io::Result<After> {
    let req = Head::parse(head)?;
    let (method, target) = req.request_line()?;
    let op = classify(&method, &target);
    let fault = shared.take(op);
    let query = query_of(&target);
    let index = {
        let mut log = shared.log.lock().unwrap();
        log.push(Exchange {
            op,
            method: method.clone(),
            part: query_value(&query, "partNumber").and_then(|p| p.parse().ok()),
            upload_id: query_value(&query, "uploadId").map(str::to_owned),
            target: target.clone(),
            fault: fault.as_ref().map(Fault::name),
            ..Default::default()
        });
        log.len() - 1
    };
    if let Some(Fault::StartOutage(d)) = fault {
        *shared.outage_until.lock().unwrap() = Some(Instant::now() + d);
        return Ok(After::Reset);
    }
    let framing = req.request_framing()?;
    let client_wants_close = req.has_token("connection", "close");

    if let Some(Fault::Garbage { forward: false }) = fault {
        let mut body = BodyReader::new(framing);
        let mut buf = vec![0u8; 64 * 1024];
        while body.read(cr, &mut buf).await? > 0 {}
        let mut out = Out::new(cw, None);
        write_garbage(shared, &mut out).await?;
        shared.update(index, |e| e.answered = true);
        return Ok(if client_wants_close {
            After::Close
        } else {
            After::KeepAlive
        });
    }

    let upstream = match TcpStream::connect(shared.upstream).await {
        Ok(s) => s,
        Err(_) => return Ok(After::Reset),
    };
    let _ = upstream.set_nodelay(true);
    let (ur, mut uw) = upstream.into_split();
    let mut ur = BufReader::with_capacity(64 * 1024, ur);
    uw.write_all(head).await?;

    let pump = pump_request(shared, fault.as_ref(), framing, cr, &mut uw, index);
    let answer = relay_answer(shared, fault.as_ref(), &method, &mut ur, cw, index);
    tokio::pin!(pump);
    tokio::pin!(answer);
    let first = tokio::select! {
        pumped = &mut pump => First::Pumped(pumped),
        answered = &mut answer => First::Answered(answered),
    };
    let after = match first {
        First::Pumped(pumped) => match pumped? {
            Pumped::Done => answer.await?,
            Pumped::Reset => After::Reset,
            Pumped::Stall => After::Stall,
        },
        // The server answered before the body was all read: the client's connection cannot
        // carry another request reliably.
        First::Answered(answered) => {
            answered?;
            After::Close
        }
    };
    Ok(match after {
        After::KeepAlive if client_wants_close => After::Close,
        other => other,
    })
}

/// Which side of an exchange ended first.
enum First {
    Pumped(io::Result<Pumped>),
    Answered(io::Result<After>),
}

enum Pumped {
    Done,
    Reset,
    Stall,
}

/// Forwards the request body, doing what `fault` says to it.
async fn pump_request(
    shared: &Shared,
    fault: Option<&Fault>,
    framing: Framing,
    cr: &mut BufReader<OwnedReadHalf>,
    uw: &mut OwnedWriteHalf,
    index: usize,
) -> io::Result<Pumped> {
    let mut body = BodyReader::new(framing);
    let writer = BodyWriter {
        chunked: framing == Framing::Chunked,
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    loop {
        if shared.in_outage() {
            return Ok(Pumped::Reset);
        }
        let mut cap = buf.len();
        match fault {
            Some(Fault::ResetMidBody(n)) | Some(Fault::StallMidBody(n)) => {
                if sent >= *n {
                    return Ok(match fault {
                        Some(Fault::ResetMidBody(_)) => Pumped::Reset,
                        _ => Pumped::Stall,
                    });
                }
                cap = cap.min((*n - sent) as usize);
            }
            // Small steps, so the rate holds within a part and no burst gets ahead of it.
            Some(Fault::Trickle(rate)) => cap = cap.min(((*rate / 20).max(1)) as usize),
            _ => {}
        }
        let got = body.read(cr, &mut buf[..cap]).await?;
        if got == 0 {
            writer.finish(uw).await?;
            return Ok(Pumped::Done);
        }
        if let Some(Fault::FlipBit(at)) = fault
            && (sent..sent + got as u64).contains(at)
        {
            buf[(*at - sent) as usize] ^= 1;
        }
        writer.write(uw, &buf[..got]).await?;
        sent += got as u64;
        shared.update(index, |e| e.body_forwarded = sent);
        if let Some(Fault::Trickle(rate)) = fault {
            tokio::time::sleep(Duration::from_secs_f64(got as f64 / (*rate).max(1) as f64)).await;
        }
    }
}

/// Reads the server's answer and passes it on, doing what `fault` says to it.
async fn relay_answer(
    shared: &Shared,
    fault: Option<&Fault>,
    method: &str,
    ur: &mut BufReader<OwnedReadHalf>,
    cw: &mut OwnedWriteHalf,
    index: usize,
) -> io::Result<After> {
    let limit = match fault {
        Some(Fault::TruncateAnswer(n)) => Some(*n),
        _ => None,
    };
    let mut out = Out::new(cw, limit);
    loop {
        let raw = read_head(ur)
            .await?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no answer"))?;
        let mut head = Head::parse(&raw)?;
        let status = head.status()?;
        if (100..200).contains(&status) {
            // An interim answer (100 Continue): passed on as it is, the real one follows.
            if !out.put(&raw).await? {
                return Ok(After::Close);
            }
            continue;
        }
        shared.update(index, |e| e.status = Some(status));
        if shared.strip_crc.load(Ordering::Relaxed) || matches!(fault, Some(Fault::StripCrc)) {
            head.remove("x-oss-hash-crc64ecma");
        }
        let framing = head.response_framing(method, status)?;
        let server_closes = framing == Framing::UntilClose || head.has_token("connection", "close");
        match fault {
            Some(Fault::StallAnswer) => {
                drain(framing, ur).await?;
                return Ok(After::Stall);
            }
            Some(Fault::Garbage { forward: true }) => {
                drain(framing, ur).await?;
                write_garbage(shared, &mut out).await?;
            }
            Some(Fault::RewriteAnswer(rewrite)) => {
                let body = read_all(framing, ur).await?;
                let new = rewrite(&String::from_utf8_lossy(&body));
                head.remove("transfer-encoding");
                head.set("content-length", &new.len().to_string());
                let _ = out.put(&head.to_bytes()).await? && out.put(new.as_bytes()).await?;
            }
            _ => {
                if !out.put(&head.to_bytes()).await? {
                    return Ok(After::Close);
                }
                let mut body = BodyReader::new(framing);
                let writer = BodyWriter {
                    chunked: framing == Framing::Chunked,
                };
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let got = body.read(ur, &mut buf).await?;
                    if got == 0 {
                        writer.finish_to(&mut out).await?;
                        break;
                    }
                    if !writer.write_to(&mut out, &buf[..got]).await? {
                        return Ok(After::Close);
                    }
                }
            }
        }
        if out.cut {
            return Ok(After::Close);
        }
        shared.update(index, |e| e.answered = true);
        return Ok(if server_closes {
            After::Close
        } else {
            After::KeepAlive
        });
    }
}

async fn write_garbage(shared: &Shared, out: &mut Out<'_>) -> io::Result<()> {
    let seed = shared.noise.fetch_add(1, Ordering::Relaxed);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let len = 100 + (x % 1500) as usize;
    let body: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: {len}\r\nx-oss-request-id: GARBAGE{seed}\r\n\r\n"
    );
    let _ = out.put(head.as_bytes()).await? && out.put(&body).await?;
    Ok(())
}

/// The client's side of an answer, cut after `limit` bytes when set.
struct Out<'a> {
    w: &'a mut OwnedWriteHalf,
    limit: Option<u64>,
    written: u64,
    cut: bool,
}

impl<'a> Out<'a> {
    fn new(w: &'a mut OwnedWriteHalf, limit: Option<u64>) -> Self {
        Self {
            w,
            limit,
            written: 0,
            cut: false,
        }
    }

    /// Writes what the limit allows; `false` once it is reached (nothing more may be sent).
    async fn put(&mut self, data: &[u8]) -> io::Result<bool> {
        if self.cut {
            return Ok(false);
        }
        let allowed = match self.limit {
            Some(l) => (l.saturating_sub(self.written) as usize).min(data.len()),
            None => data.len(),
        };
        self.w.write_all(&data[..allowed]).await?;
        self.written += allowed as u64;
        if allowed < data.len() || self.limit.is_some_and(|l| self.written >= l) {
            self.cut = true;
            self.w.flush().await?;
            return Ok(false);
        }
        Ok(true)
    }
}

/// How a message's body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// Reads a body's data, whatever its framing.
struct BodyReader {
    framing: Framing,
    /// Data left in the body (Length) or in the current chunk (Chunked).
    left: u64,
    done: bool,
}

impl BodyReader {
    fn new(framing: Framing) -> Self {
        let left = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        Self {
            framing,
            left,
            done: framing == Framing::Length(0),
        }
    }

    /// Up to `buf.len()` bytes of data; 0 at the end of the body.
    async fn read<R: AsyncBufRead + Unpin>(
        &mut self,
        r: &mut R,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::Length(_) => {
                let want = buf.len().min(self.left as usize);
                let n = r.read(&mut buf[..want]).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                self.left -= n as u64;
                self.done = self.left == 0;
                Ok(n)
            }
            Framing::UntilClose => {
                let n = r.read(buf).await?;
                self.done = n == 0;
                Ok(n)
            }
            Framing::Chunked => {
                if self.left == 0 {
                    let line = read_line(r).await?;
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16)
                        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "chunk size"))?;
                    if size == 0 {
                        // Trailers, then the empty line.
                        while !read_line(r).await?.is_empty() {}
                        self.done = true;
                        return Ok(0);
                    }
                    self.left = size;
                }
                let want = buf.len().min(self.left as usize);
                let n = r.read(&mut buf[..want]).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                self.left -= n as u64;
                if self.left == 0 && !read_line(r).await?.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "chunk end"));
                }
                Ok(n)
            }
        }
    }
}

/// Writes data in the framing the message came with.
struct BodyWriter {
    chunked: bool,
}

impl BodyWriter {
    async fn write(&self, w: &mut OwnedWriteHalf, data: &[u8]) -> io::Result<()> {
        if self.chunked {
            w.write_all(format!("{:x}\r\n", data.len()).as_bytes())
                .await?;
            w.write_all(data).await?;
            w.write_all(b"\r\n").await
        } else {
            w.write_all(data).await
        }
    }

    async fn finish(&self, w: &mut OwnedWriteHalf) -> io::Result<()> {
        if self.chunked {
            w.write_all(b"0\r\n\r\n").await?;
        }
        w.flush().await
    }

    async fn write_to(&self, out: &mut Out<'_>, data: &[u8]) -> io::Result<bool> {
        if self.chunked {
            Ok(out.put(format!("{:x}\r\n", data.len()).as_bytes()).await?
                && out.put(data).await?
                && out.put(b"\r\n").await?)
        } else {
            out.put(data).await
        }
    }

    async fn finish_to(&self, out: &mut Out<'_>) -> io::Result<bool> {
        if self.chunked {
            return out.put(b"0\r\n\r\n").await;
        }
        Ok(true)
    }
}

async fn drain<R: AsyncBufRead + Unpin>(framing: Framing, r: &mut R) -> io::Result<()> {
    let mut body = BodyReader::new(framing);
    let mut buf = vec![0u8; 64 * 1024];
    while body.read(r, &mut buf).await? > 0 {}
    Ok(())
}

async fn read_all<R: AsyncBufRead + Unpin>(framing: Framing, r: &mut R) -> io::Result<Vec<u8>> {
    let mut body = BodyReader::new(framing);
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = body.read(r, &mut buf).await?;
        if n == 0 {
            return Ok(all);
        }
        all.extend_from_slice(&buf[..n]);
    }
}

/// One line without its line end.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<String> {
    let mut line = Vec::new();
    let n = r.take(MAX_HEAD as u64).read_until(b'\n', &mut line).await?;
    if n == 0 || line.last() != Some(&b'\n') {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "line"))
}

/// A message head up to and including its empty line; `None` at a clean end of the stream.
async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let start = head.len();
        let n = r.read_until(b'\n', &mut head).await?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
        let line = &head[start..];
        if line == b"\r\n" || line == b"\n" {
            if start == 0 {
                // Empty lines before a request are allowed (RFC 9112 §2.2).
                head.clear();
                continue;
            }
            return Ok(Some(head));
        }
    }
}

/// A request or status line and its header fields, in order.
struct Head {
    first: String,
    fields: Vec<(String, String)>,
}

impl Head {
    fn parse(raw: &[u8]) -> io::Result<Head> {
        let text = std::str::from_utf8(raw)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "head is not UTF-8"))?;
        let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
        let first = lines
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "empty head"))?
            .to_owned();
        let fields = lines
            .map(|l| {
                l.split_once(':')
                    .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "header line"))
            })
            .collect::<io::Result<_>>()?;
        Ok(Head { first, fields })
    }

    fn request_line(&self) -> io::Result<(String, String)> {
        let mut parts = self.first.split(' ');
        match (parts.next(), parts.next()) {
            (Some(m), Some(t)) => Ok((m.to_owned(), t.to_owned())),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "request line")),
        }
    }

    fn status(&self) -> io::Result<u16> {
        self.first
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "status line"))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.fields.push((name.to_owned(), value.to_owned()));
    }

    fn content_length(&self) -> io::Result<Option<u64>> {
        self.get("content-length")
            .map(|v| {
                v.parse()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "content-length"))
            })
            .transpose()
    }

    fn request_framing(&self) -> io::Result<Framing> {
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        Ok(Framing::Length(self.content_length()?.unwrap_or(0)))
    }

    fn response_framing(&self, method: &str, status: u16) -> io::Result<Framing> {
        if method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304 {
            return Ok(Framing::Length(0));
        }
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        Ok(match self.content_length()? {
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        })
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        out.push_str(&self.first);
        out.push_str("\r\n");
        for (n, v) in &self.fields {
            out.push_str(n);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

fn query_of(target: &str) -> Vec<(String, Option<String>)> {
    target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (p.to_owned(), None),
        })
        .collect()
}

fn query_value<'a>(query: &'a [(String, Option<String>)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.as_deref())
}

/// Which OSS call a path-style request is.
fn classify(method: &str, target: &str) -> Option<Op> {
    let query = query_of(target);
    let has = |name: &str| query.iter().any(|(n, _)| n == name);
    let path = target.split('?').next().unwrap_or("");
    // `/bucket` or `/bucket/` is the bucket; `/bucket/key` an object.
    let object = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    Some(match (method, object) {
        ("PUT", false) => Op::PutBucket,
        ("PUT", true) if has("partNumber") && has("uploadId") => Op::UploadPart,
        ("PUT", true) => Op::PutObject,
        ("POST", true) if has("uploads") => Op::InitiateMultipartUpload,
        ("POST", true) if has("uploadId") => Op::CompleteMultipartUpload,
        ("GET", true) if has("uploadId") => Op::ListParts,
        ("GET", false) if has("uploads") => Op::ListMultipartUploads,
        ("GET", true) => Op::GetObject,
        ("HEAD", true) => Op::HeadObject,
        ("DELETE", true) if has("uploadId") => Op::AbortMultipartUpload,
        ("DELETE", true) => Op::DeleteObject,
        _ => return None,
    })
}
