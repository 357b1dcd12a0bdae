//! The reliability suite's network faults (issue 9): the engine, and in a few cases the binary,
//! upload through a fault-injecting proxy (`common/proxy.rs`) to the local OSS server. Each
//! fault ends in one of two ways only: the upload finishes by itself and the object is byte for
//! byte the file, or it stops with an honest message and loses nothing (the checkpoint is kept,
//! nothing is called verified, and a later run finishes without sending again what arrived).
//!
//! The engine runs in-process where a test needs a knob the command line does not have: a short
//! stall timeout (the client's read timeout) and a fast retry policy, so every test takes seconds.
//! Tests that fail on today's code are ignored with the issue item that fixes them and what they
//! see today; `cargo test --test reliability -- --ignored` runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oss_uploader::engine::checkpoint::CheckpointStore;
use oss_uploader::engine::retry::Backoff;
use oss_uploader::engine::throttle::Throttle;
use oss_uploader::engine::upload::{Control, JobEnv, JobEvent, run_job};
use oss_uploader::engine::{Connection, JobOutcome, JobSpec};
use oss_uploader::local_server::{FaultAction, FaultRule, Op};
use oss_uploader::oss::client::Client;
use oss_uploader::oss::crc64;
use oss_uploader::oss::xml::{ListPartsResult, PartSummary, from_xml, to_xml};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;

mod common;
use common::{AK, BUCKET, SK, TestServer, credentials, data, write_file};
#[path = "common/proxy.rs"]
mod proxy;
use proxy::{Fault, Proxy, Rule};

const PART: u64 = 100 * 1024;

/// A retry policy that gives up within a few seconds.
fn fast(max_attempts: u32, max_elapsed: Duration) -> Backoff {
    Backoff {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_attempts,
        max_elapsed,
        random: || 0.5,
    }
}

struct Rig {
    server: TestServer,
    proxy: Proxy,
    _data: tempfile::TempDir,
    files: tempfile::TempDir,
    env: JobEnv,
}

impl Rig {
    /// A stall is noticed after 2 s; up to 8 attempts within 20 s.
    async fn new() -> Rig {
        Rig::with(Duration::from_secs(2), fast(8, Duration::from_secs(20))).await
    }

    async fn with(read_timeout: Duration, backoff: Backoff) -> Rig {
        let server = TestServer::start().await;
        let proxy = Proxy::start(server.addr()).await;
        let data = tempfile::tempdir().unwrap();
        let connection = Connection {
            endpoint: proxy.endpoint(),
            ..server.connection()
        };
        let mut cfg = connection.client_config(credentials()).unwrap();
        cfg.read_timeout = read_timeout;
        cfg.connect_timeout = Duration::from_secs(2);
        let env = JobEnv {
            client: Client::new(cfg).unwrap(),
            store: CheckpointStore::open(data.path()).unwrap(),
            throttle: Throttle::unlimited(),
            pool: oss_uploader::engine::pool::Pool::new(Some(16)),
            backoff,
        };
        Rig {
            server,
            proxy,
            _data: data,
            files: tempfile::tempdir().unwrap(),
            env,
        }
    }

    fn file(&self, name: &str, len: usize, seed: u32) -> (PathBuf, Vec<u8>) {
        let content = data(len, seed);
        (write_file(self.files.path(), name, &content), content)
    }

    /// Parts of 100 KiB, two at a time, through the proxy.
    fn spec(&self, path: &Path, key: &str) -> JobSpec {
        JobSpec {
            connection: Connection {
                endpoint: self.proxy.endpoint(),
                ..self.server.connection()
            },
            ..self.server.spec(path, key)
        }
    }

    async fn run(&self, spec: &JobSpec) -> (JobOutcome, Vec<JobEvent>) {
        let (_tx, rx) = watch::channel(Control::Run);
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let outcome = run_job(
            spec,
            &self.env,
            rx,
            Arc::new(move |e| sink.lock().unwrap().push(e)),
        )
        .await;
        let events = events.lock().unwrap().clone();
        (outcome, events)
    }

    /// The object as the server has it, read past the proxy.
    async fn stored(&self, key: &str) -> Option<Vec<u8>> {
        let resp = self
            .server
            .client()
            .get_object(BUCKET, key, None)
            .await
            .ok()?;
        Some(resp.bytes().await.unwrap().to_vec())
    }

    async fn open_uploads(&self) -> Vec<String> {
        self.server
            .client()
            .list_multipart_uploads(BUCKET, "")
            .await
            .unwrap()
            .into_iter()
            .map(|u| format!("{} {}", u.key, u.upload_id))
            .collect()
    }

    fn checkpoints(&self) -> usize {
        self.env.store.list().unwrap().len()
    }

    /// The faults the proxy applied so far, in order: a test checks its faults really hit.
    fn hits(&self) -> Vec<&'static str> {
        self.proxy.log().iter().filter_map(|e| e.fault).collect()
    }

    fn part_bytes(&self) -> u64 {
        self.server.stats().body_bytes(Op::UploadPart)
    }

    /// The outcome is verified with the file's CRC-64, the stored object is the file, and
    /// nothing is left behind: no checkpoint, no open upload.
    async fn assert_exact(&self, outcome: &JobOutcome, key: &str, content: &[u8]) {
        match outcome {
            JobOutcome::Verified { crc64: c, .. } => {
                assert_eq!(*c, crc64::checksum(content), "{key}: verified CRC")
            }
            other => panic!(
                "{key}: not verified: {other:?}\nproxy log: {:#?}",
                self.proxy.log()
            ),
        }
        let stored = self.stored(key).await;
        assert!(
            stored.as_deref() == Some(content),
            "{key}: called verified, but the stored object ({} bytes) is not the file ({} bytes)",
            stored.map_or(0, |s| s.len()),
            content.len()
        );
        assert_eq!(self.checkpoints(), 0, "{key}: checkpoint left behind");
        assert_eq!(self.open_uploads().await, Vec::<String>::new(), "{key}");
    }

    /// The run ended verified and exact; or it stopped honestly, keeping what a resume needs,
    /// and a run without the fault then finishes exact without sending again what arrived.
    /// Returns whether the first run finished by itself.
    async fn assert_exact_or_honest(
        &self,
        outcome: JobOutcome,
        spec: &JobSpec,
        content: &[u8],
    ) -> bool {
        if let JobOutcome::Verified { .. } = outcome {
            self.assert_exact(&outcome, &spec.key, content).await;
            return true;
        }
        let error = match &outcome {
            JobOutcome::Interrupted(e) | JobOutcome::Failed(e) => e,
            other => panic!("{}: unexpected outcome {other:?}", spec.key),
        };
        assert!(!error.message.is_empty(), "{}: no message", spec.key);
        eprintln!("{}: stopped with: {}", spec.key, error.message);
        assert!(
            !error.message.to_lowercase().contains("verified"),
            "{}: a failure that says verified: {}",
            spec.key,
            error.message
        );
        self.proxy.clear();
        self.proxy.strip_crc(false);
        let sent = self.part_bytes();
        let (again, _) = self.run(spec).await;
        self.assert_exact(&again, &spec.key, content).await;
        assert!(
            self.part_bytes() - sent <= content.len() as u64,
            "{}: the second run sent more than the file",
            spec.key
        );
        false
    }
}

fn notices(events: &[JobEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Notice(t) => Some(t.en.clone()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The proxy itself.

/// The body of an HTTP message in `text` once all of it is there.
fn complete_body(text: &str) -> Option<&str> {
    let (head, body) = text.split_once("\r\n\r\n")?;
    let head = head.to_ascii_lowercase();
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with("0\r\n\r\n").then_some(body);
    }
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    (body.len() >= len).then_some(body)
}

/// A fake upstream that reads each request (Content-Length or chunked), records its body and
/// answers with a chunked body carrying a CRC header.
async fn chunked_upstream() -> (std::net::SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = s.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(body) = complete_body(&String::from_utf8_lossy(&buf)) {
                        seen.lock().unwrap().push(body.as_bytes().to_vec());
                        break;
                    }
                }
                let answer = "HTTP/1.1 200 OK\r\nx-oss-hash-crc64ecma: 42\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
                s.write_all(answer.as_bytes()).await.unwrap();
            });
        }
    });
    (addr, bodies)
}

/// Sends `request` on `s` and reads one whole answer.
async fn round_trip(s: &mut tokio::net::TcpStream, request: &str) -> String {
    s.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "the proxy closed the connection; got {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if complete_body(&text).is_some() {
            return text;
        }
    }
}

#[tokio::test]
async fn the_proxy_relays_both_framings_on_one_kept_alive_connection() {
    let (upstream, bodies) = chunked_upstream().await;
    let proxy = Proxy::start(upstream).await;
    proxy.add(Rule::new(Some(Op::UploadPart), 2, Fault::StripCrc));
    proxy.add(Rule::new(
        Some(Op::ListParts),
        1,
        Fault::RewriteAnswer(Arc::new(|body: &str| body.replace("world", "there"))),
    ));
    proxy.add(Rule::new(Some(Op::PutObject), 1, Fault::FlipBit(1)));
    let mut s = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let part = "PUT /b/k?partNumber=1&uploadId=u HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let a = round_trip(&mut s, part).await;
    assert!(a.contains("x-oss-hash-crc64ecma: 42"), "{a}");
    assert!(a.ends_with("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "{a}");
    let b = round_trip(&mut s, &part.replace("partNumber=1", "partNumber=2")).await;
    assert!(!b.contains("crc64"), "stripped: {b}");
    let c = round_trip(&mut s, "GET /b/k?uploadId=u HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(c.contains("content-length: 11"), "{c}");
    assert!(c.ends_with("\r\n\r\nhello there"), "{c}");
    let d = round_trip(
        &mut s,
        "PUT /b/k HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc",
    )
    .await;
    assert!(d.starts_with("HTTP/1.1 200 OK"), "{d}");
    assert_eq!(
        proxy.connections(),
        1,
        "one client connection for four requests"
    );
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies[0], b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    assert_eq!(bodies[3], b"acc", "bit 0 of byte 1 flipped");
    let log = proxy.log();
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].op, Some(Op::UploadPart));
    assert_eq!(log[0].part, Some(1));
    assert_eq!(log[0].upload_id.as_deref(), Some("u"));
    assert_eq!(log[0].body_forwarded, 5, "data bytes, not chunk framing");
    assert!(
        log.iter().all(|e| e.answered && e.status == Some(200)),
        "{log:#?}"
    );
}

#[tokio::test]
async fn without_faults_the_proxy_changes_nothing_and_keeps_connections_alive() {
    let rig = Rig::new().await;
    let (path, content) = rig.file("plain.bin", PART as usize * 5 + 777, 1);
    let spec = rig.spec(&path, "plain.bin");
    let (outcome, _) = rig.run(&spec).await;
    rig.assert_exact(&outcome, "plain.bin", &content).await;
    let log = rig.proxy.log();
    assert!(log.iter().all(|e| e.answered), "{log:#?}");
    assert_eq!(rig.proxy.requests(Op::UploadPart), 6);
    assert!(
        rig.proxy.connections() < log.len() as u64,
        "{} connections for {} requests",
        rig.proxy.connections(),
        log.len()
    );
    assert_eq!(
        rig.part_bytes(),
        content.len() as u64,
        "each byte sent once"
    );
}

// ---------------------------------------------------------------------------------------------
// Connection reset in the middle of a body.

#[tokio::test]
async fn a_reset_in_the_middle_of_a_body_is_retried_and_the_object_is_exact() {
    let rig = Rig::new().await;
    let (path, content) = rig.file("reset.bin", PART as usize * 4 + 4321, 2);
    rig.proxy
        .add(Rule::new(Some(Op::UploadPart), 2, Fault::ResetMidBody(30_000)).times(2));
    rig.proxy.add(Rule::new(
        Some(Op::CompleteMultipartUpload),
        1,
        Fault::ResetMidBody(40),
    ));
    let (outcome, _) = rig.run(&rig.spec(&path, "reset.bin")).await;
    rig.assert_exact(&outcome, "reset.bin", &content).await;
    // Only the cut parts travelled twice.
    assert!(rig.part_bytes() <= content.len() as u64 + 2 * 30_000);

    let (small, small_content) = rig.file("small.txt", 50_000, 3);
    rig.proxy
        .add(Rule::new(Some(Op::PutObject), 1, Fault::ResetMidBody(1000)));
    let (outcome, _) = rig.run(&rig.spec(&small, "small.txt")).await;
    rig.assert_exact(&outcome, "small.txt", &small_content)
        .await;
    assert_eq!(rig.hits(), ["reset-mid-body"; 4]);
}

// ---------------------------------------------------------------------------------------------
// Stalls: the connection stays open and nothing moves.

#[tokio::test]
async fn a_stalled_connection_is_given_up_and_the_request_sent_again() {
    let rig = Rig::with(Duration::from_secs(1), fast(8, Duration::from_secs(20))).await;
    let (path, content) = rig.file("stall.bin", PART as usize * 4 + 10, 4);
    rig.proxy.add(Rule::new(
        Some(Op::UploadPart),
        1,
        Fault::StallMidBody(40_000),
    ));
    rig.proxy
        .add(Rule::new(Some(Op::UploadPart), 3, Fault::StallAnswer));
    // The server completes, the answer never comes: the retry finds the upload gone and the
    // object whole.
    rig.proxy.add(Rule::new(
        Some(Op::CompleteMultipartUpload),
        1,
        Fault::StallAnswer,
    ));
    let (outcome, _) = rig.run(&rig.spec(&path, "stall.bin")).await;
    rig.assert_exact(&outcome, "stall.bin", &content).await;
    assert_eq!(
        rig.hits(),
        ["stall-mid-body", "stall-answer", "stall-answer"]
    );
    assert!(rig.part_bytes() <= content.len() as u64 + 2 * PART);
}

// ---------------------------------------------------------------------------------------------
// Closed and truncated answers.

#[tokio::test]
async fn closed_and_truncated_answers_are_retried_and_the_object_is_exact() {
    let rig = Rig::new().await;
    let (path, content) = rig.file("cut.bin", PART as usize * 4 + 99, 5);
    rig.proxy
        .add(Rule::new(Some(Op::UploadPart), 1, Fault::TruncateAnswer(0)));
    // Cut inside the status line and inside the head.
    rig.proxy
        .add(Rule::new(Some(Op::UploadPart), 3, Fault::TruncateAnswer(9)));
    rig.proxy.add(Rule::new(
        Some(Op::UploadPart),
        4,
        Fault::TruncateAnswer(60),
    ));
    // Complete takes effect, its answer is cut short; then the retry's answer too.
    rig.proxy.add(
        Rule::new(
            Some(Op::CompleteMultipartUpload),
            1,
            Fault::TruncateAnswer(200),
        )
        .times(2),
    );
    let (outcome, _) = rig.run(&rig.spec(&path, "cut.bin")).await;
    rig.assert_exact(&outcome, "cut.bin", &content).await;
    assert_eq!(rig.hits(), ["truncate-answer"; 5]);
}

#[tokio::test]
async fn a_truncated_list_parts_answer_on_resume_is_retried() {
    let rig = Rig::new().await;
    let (path, content) = rig.file("cutlist.bin", PART as usize * 5 + 1, 6);
    let spec = interrupted_after(&rig, &path, "cutlist.bin", 3).await;
    rig.proxy.add(Rule::new(
        Some(Op::ListParts),
        1,
        Fault::TruncateAnswer(150),
    ));
    let sent = rig.part_bytes();
    let (outcome, _) = rig.run(&spec).await;
    rig.assert_exact(&outcome, "cutlist.bin", &content).await;
    assert_eq!(rig.hits(), ["truncate-answer"]);
    assert_eq!(rig.part_bytes() - sent, content.len() as u64 - 3 * PART);
}

#[tokio::test]
async fn a_lost_initiate_answer_leaves_no_upload_open() {
    let rig = Rig::new().await;
    let (path, content) = rig.file("init.bin", PART as usize * 3 + 5, 7);
    rig.proxy.add(Rule::new(
        Some(Op::InitiateMultipartUpload),
        1,
        Fault::TruncateAnswer(0),
    ));
    rig.proxy.add(Rule::new(
        Some(Op::InitiateMultipartUpload),
        2,
        Fault::Garbage { forward: true },
    ));
    let (outcome, _) = rig.run(&rig.spec(&path, "init.bin")).await;
    // assert_exact also requires that no multipart upload is left open.
    rig.assert_exact(&outcome, "init.bin", &content).await;
}

// ---------------------------------------------------------------------------------------------
// Trickle: a slow link that keeps moving.

#[tokio::test]
async fn a_trickle_faster_than_the_stall_timeout_finishes() {
    let rig = Rig::new().await;
    let (path, content) = rig.file("trickle.bin", PART as usize * 2 + 3000, 8);
    // 100 KiB parts at 400 KiB/s: a quarter of a second each, well inside 2 s.
    rig.proxy.add(Rule::always(
        Some(Op::UploadPart),
        Fault::Trickle(400 * 1024),
    ));
    let (outcome, _) = rig.run(&rig.spec(&path, "trickle.bin")).await;
    rig.assert_exact(&outcome, "trickle.bin", &content).await;
    assert_eq!(rig.hits(), ["trickle"; 3]);
    assert_eq!(
        rig.part_bytes(),
        content.len() as u64,
        "nothing cut, nothing sent twice"
    );
}

#[tokio::test]
async fn a_trickle_slower_than_the_stall_timeout_still_finishes() {
    // The stall timeout is 1 s and each 100 KiB part takes 2.5 s at 40 KiB/s: the transfer
    // always moves, so it must never be cut.
    let rig = Rig::with(Duration::from_secs(1), fast(4, Duration::from_secs(8))).await;
    let (path, content) = rig.file("slow.bin", PART as usize + 20_000, 9);
    rig.proxy.add(Rule::always(
        Some(Op::UploadPart),
        Fault::Trickle(40 * 1024),
    ));
    let spec = JobSpec {
        threads: 1,
        ..rig.spec(&path, "slow.bin")
    };
    let (outcome, _) = rig.run(&spec).await;
    rig.assert_exact(&outcome, "slow.bin", &content).await;
}

// ---------------------------------------------------------------------------------------------
// Outage: every connection refused for a while.

#[tokio::test]
async fn a_short_outage_in_the_middle_is_ridden_out() {
    let backoff = Backoff {
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(400),
        max_attempts: 40,
        max_elapsed: Duration::from_secs(30),
        random: || 0.5,
    };
    let rig = Rig::with(Duration::from_secs(2), backoff).await;
    let (path, content) = rig.file("outage.bin", PART as usize * 6 + 1, 10);
    rig.proxy.add(Rule::new(
        Some(Op::UploadPart),
        3,
        Fault::StartOutage(Duration::from_millis(1500)),
    ));
    let (outcome, _) = rig.run(&rig.spec(&path, "outage.bin")).await;
    rig.assert_exact(&outcome, "outage.bin", &content).await;
    assert_eq!(rig.hits(), ["start-outage"]);
    assert!(rig.part_bytes() <= content.len() as u64 + 2 * PART);
}

#[tokio::test]
async fn an_outage_past_the_retry_budget_stops_resumable_and_a_later_run_finishes() {
    let rig = Rig::with(Duration::from_secs(2), fast(4, Duration::from_secs(5))).await;
    let (path, content) = rig.file("down.bin", PART as usize * 6 + 1, 11);
    let spec = JobSpec {
        threads: 1,
        ..rig.spec(&path, "down.bin")
    };
    rig.proxy.add(Rule::new(
        Some(Op::UploadPart),
        4,
        Fault::StartOutage(Duration::from_secs(3)),
    ));
    let (outcome, _) = rig.run(&spec).await;
    let JobOutcome::Interrupted(e) = &outcome else {
        panic!("not interrupted: {outcome:?}");
    };
    assert!(!e.message.to_lowercase().contains("verified"), "{e:?}");
    assert_eq!(rig.checkpoints(), 1, "the checkpoint is kept");
    assert_eq!(rig.stored("down.bin").await, None, "nothing claimed");
    common::wait_until("the end of the outage", Duration::from_secs(10), || {
        !rig.proxy.in_outage()
    })
    .await;
    let sent = rig.part_bytes();
    let (outcome, _) = rig.run(&spec).await;
    rig.assert_exact(&outcome, "down.bin", &content).await;
    assert_eq!(
        rig.part_bytes() - sent,
        content.len() as u64 - 3 * PART,
        "the three parts stored before the outage are not sent again"
    );
}

#[tokio::test]
async fn the_final_message_after_an_outage_does_not_promise_a_retry() {
    let rig = Rig::with(Duration::from_secs(2), fast(3, Duration::from_secs(5))).await;
    let (path, _) = rig.file("final.bin", PART as usize * 3, 12);
    rig.proxy.add(Rule::new(
        Some(Op::UploadPart),
        1,
        Fault::StartOutage(Duration::from_secs(2)),
    ));
    let (outcome, _) = rig.run(&rig.spec(&path, "final.bin")).await;
    let JobOutcome::Interrupted(e) = &outcome else {
        panic!("not interrupted: {outcome:?}");
    };
    assert!(!e.message.contains("will try again"), "{}", e.message);
}

#[test]
fn the_default_retry_policy_keeps_trying_for_fifteen_minutes() {
    // The shortest waits the jitter allows use up the attempts fastest.
    let b = Backoff {
        random: || 0.0,
        ..Backoff::default()
    };
    let mut elapsed = Duration::ZERO;
    let mut attempt = 1;
    while let Some(d) = b.next_delay(attempt, elapsed) {
        elapsed += d;
        attempt += 1;
    }
    assert!(
        elapsed >= Duration::from_secs(15 * 60),
        "gives up after {attempt} attempts and {elapsed:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Garbage answers: 200 OK with random bytes.

#[tokio::test]
async fn a_garbage_answer_to_a_part_is_retried() {
    let rig = Rig::new().await;
    let (path, content) = rig.file("gpart.bin", PART as usize * 3 + 17, 13);
    rig.proxy.add(Rule::new(
        Some(Op::UploadPart),
        2,
        Fault::Garbage { forward: false },
    ));
    rig.proxy.add(Rule::new(
        Some(Op::UploadPart),
        3,
        Fault::Garbage { forward: true },
    ));
    let (outcome, _) = rig.run(&rig.spec(&path, "gpart.bin")).await;
    rig.assert_exact(&outcome, "gpart.bin", &content).await;
    assert_eq!(rig.hits(), ["garbage"; 2]);
}

#[tokio::test]
async fn a_garbage_answer_to_initiate_complete_or_list_parts_never_passes_for_success() {
    let rig = Rig::new().await;
    // Initiate never reaches the server.
    let (path, content) = rig.file("ginit.bin", PART as usize * 2 + 1, 14);
    rig.proxy.add(Rule::new(
        Some(Op::InitiateMultipartUpload),
        1,
        Fault::Garbage { forward: false },
    ));
    let spec = rig.spec(&path, "ginit.bin");
    let (outcome, _) = rig.run(&spec).await;
    rig.assert_exact_or_honest(outcome, &spec, &content).await;

    // Complete never reaches the server, then it does but its answer is garbage.
    for (key, forward) in [("gdone1.bin", false), ("gdone2.bin", true)] {
        let (path, content) = rig.file(key, PART as usize * 2 + 1, 15);
        rig.proxy.add(Rule::new(
            Some(Op::CompleteMultipartUpload),
            1,
            Fault::Garbage { forward },
        ));
        let spec = rig.spec(&path, key);
        let (outcome, _) = rig.run(&spec).await;
        rig.assert_exact_or_honest(outcome, &spec, &content).await;
    }

    // ListParts on resume.
    let (path, content) = rig.file("glist.bin", PART as usize * 4 + 1, 16);
    let spec = interrupted_after(&rig, &path, "glist.bin", 2).await;
    rig.proxy.add(Rule::new(
        Some(Op::ListParts),
        1,
        Fault::Garbage { forward: false },
    ));
    let (outcome, _) = rig.run(&spec).await;
    rig.assert_exact_or_honest(outcome, &spec, &content).await;
    assert_eq!(rig.hits(), ["garbage"; 4]);
}

// ---------------------------------------------------------------------------------------------
// A bit flipped on the way.

#[tokio::test]
async fn a_flipped_bit_is_caught_by_the_part_crc_and_the_part_sent_again() {
    let rig = Rig::new().await;
    let (path, content) = rig.file("flip.bin", PART as usize * 3 + 5, 17);
    rig.proxy
        .add(Rule::new(Some(Op::UploadPart), 2, Fault::FlipBit(5000)));
    let (small, small_content) = rig.file("flip.txt", 30_000, 18);
    rig.proxy
        .add(Rule::new(Some(Op::PutObject), 1, Fault::FlipBit(29_999)));
    let (outcome, _) = rig.run(&rig.spec(&path, "flip.bin")).await;
    rig.assert_exact(&outcome, "flip.bin", &content).await;
    let (outcome, _) = rig.run(&rig.spec(&small, "flip.txt")).await;
    rig.assert_exact(&outcome, "flip.txt", &small_content).await;
    assert_eq!(rig.hits(), ["flip-bit"; 2]);
}

#[tokio::test]
async fn a_flipped_bit_without_crc_headers_is_never_called_verified() {
    let rig = Rig::new().await;
    rig.proxy.strip_crc(true);
    let (path, content) = rig.file("blind.bin", PART as usize * 3 + 5, 19);
    rig.proxy
        .add(Rule::new(Some(Op::UploadPart), 2, Fault::FlipBit(5000)));
    let spec = rig.spec(&path, "blind.bin");
    let (outcome, _) = rig.run(&spec).await;
    rig.assert_exact_or_honest(outcome, &spec, &content).await;

    rig.proxy.strip_crc(true);
    let (small, small_content) = rig.file("blind.txt", 30_000, 20);
    rig.proxy
        .add(Rule::new(Some(Op::PutObject), 1, Fault::FlipBit(100)));
    let spec = rig.spec(&small, "blind.txt");
    let (outcome, _) = rig.run(&spec).await;
    rig.assert_exact_or_honest(outcome, &spec, &small_content)
        .await;
}

// ---------------------------------------------------------------------------------------------
// ListParts that lies on resume.

/// Uploads `path` until `done` parts are stored, then fails the next part for good (403):
/// the job ends with its checkpoint listing `done` parts. Returns the spec to resume with.
async fn interrupted_after(rig: &Rig, path: &Path, key: &str, done: u64) -> JobSpec {
    let spec = JobSpec {
        threads: 1,
        ..rig.spec(path, key)
    };
    rig.server.faults().add(FaultRule::new(
        Some(Op::UploadPart),
        done + 1,
        FaultAction::error(403, "AccessDenied"),
    ));
    let (outcome, _) = rig.run(&spec).await;
    assert!(matches!(outcome, JobOutcome::Failed(_)), "{outcome:?}");
    let listed = rig.env.store.list().unwrap();
    let cp = listed
        .iter()
        .find_map(|(_, c)| c.as_ref().ok().filter(|c| c.key == key))
        .expect("checkpoint");
    assert_eq!(cp.parts.len() as u64, done);
    JobSpec { threads: 2, ..spec }
}

/// A ListParts answer rewritten by `lie` on its parts.
fn lying_list(lie: impl Fn(&mut Vec<PartSummary>) + Send + Sync + 'static) -> Fault {
    Fault::RewriteAnswer(Arc::new(move |body: &str| {
        let mut r: ListPartsResult = from_xml(body).expect("a ListParts answer");
        lie(&mut r.parts);
        to_xml(&r).unwrap()
    }))
}

async fn resume_with_lying_list_parts(
    name: &str,
    lie: impl Fn(&mut Vec<PartSummary>) + Send + Sync + 'static,
) {
    let rig = Rig::new().await;
    let (path, content) = rig.file(name, PART as usize * 5 + 1, 21);
    let spec = interrupted_after(&rig, &path, name, 3).await;
    rig.proxy
        .add(Rule::new(Some(Op::ListParts), 1, lying_list(lie)));
    let sent = rig.part_bytes();
    let (outcome, events) = rig.run(&spec).await;
    let finished = rig.assert_exact_or_honest(outcome, &spec, &content).await;
    assert_eq!(rig.hits(), ["rewrite-answer"]);
    eprintln!(
        "{name}: first run {}; notices {:?}; part bytes sent after the lie {}",
        if finished {
            "verified"
        } else {
            "stopped honestly"
        },
        notices(&events),
        rig.part_bytes() - sent
    );
    // Whatever the lie, at most the part it concerned travels again.
    assert!(rig.part_bytes() - sent <= content.len() as u64 - 2 * PART);
}

#[tokio::test]
async fn list_parts_dropping_a_stored_part_costs_one_part_again() {
    resume_with_lying_list_parts("drop.bin", |parts| parts.retain(|p| p.part_number != 2)).await;
}

#[tokio::test]
async fn list_parts_with_a_wrong_etag_is_not_trusted() {
    resume_with_lying_list_parts("etag.bin", |parts| {
        parts[0].etag = "\"0123456789ABCDEF0123456789ABCDEF\"".into();
    })
    .await;
}

#[tokio::test]
async fn list_parts_with_a_wrong_size_is_not_trusted() {
    resume_with_lying_list_parts("size.bin", |parts| parts[1].size -= 1).await;
}

#[tokio::test]
async fn list_parts_with_a_wrong_crc_is_not_trusted() {
    resume_with_lying_list_parts("crc.bin", |parts| {
        parts[2].hash_crc64ecma = parts[2].hash_crc64ecma.map(|c| c ^ 1);
    })
    .await;
}

#[tokio::test]
async fn list_parts_claiming_a_part_never_sent_is_not_trusted() {
    // Part 4 was never stored; the lie lists it with part 3's details, as a confused gateway
    // that repeats an entry would.
    resume_with_lying_list_parts("phantom.bin", |parts| {
        let mut ghost = parts[2].clone();
        ghost.part_number = 4;
        parts.push(ghost);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The binary through the proxy: what a user reads.

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

async fn upload_with_binary(rig: &Rig, path: &Path, key: &str) -> Ran {
    let data_dir = rig.files.path().join("cli-data");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oss-uploader"));
    cmd.env("OSS_ACCESS_KEY_ID", AK)
        .env("OSS_ACCESS_KEY_SECRET", SK)
        .env("OSS_UPLOADER_DATA_DIR", &data_dir)
        .env_remove("OSS_SESSION_TOKEN")
        .env_remove("OSS_ENDPOINT")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .arg("upload")
        .arg(path)
        .args(["--key", key, "--bucket", BUCKET, "--endpoint"])
        .arg(rig.proxy.endpoint())
        .args([
            "--region",
            "cn-hangzhou",
            "--part-size",
            "100KiB",
            "--threads",
            "2",
        ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_rides_out_resets_cut_answers_and_garbage_and_says_verified_truthfully() {
    let rig = Rig::new().await;
    let (path, content) = rig.file("cli.bin", PART as usize * 4 + 3, 22);
    rig.proxy.add(Rule::new(
        Some(Op::UploadPart),
        1,
        Fault::ResetMidBody(10_000),
    ));
    rig.proxy.add(Rule::new(
        Some(Op::UploadPart),
        3,
        Fault::TruncateAnswer(30),
    ));
    rig.proxy.add(Rule::new(
        Some(Op::UploadPart),
        5,
        Fault::Garbage { forward: true },
    ));
    rig.proxy
        .add(Rule::new(Some(Op::UploadPart), 6, Fault::FlipBit(777)));
    rig.proxy.add(Rule::new(
        Some(Op::CompleteMultipartUpload),
        1,
        Fault::TruncateAnswer(0),
    ));
    let r = upload_with_binary(&rig, &path, "cli.bin").await;
    assert_eq!(rig.hits().len(), 5, "{:#?}", rig.proxy.log());
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains("OK ") && r.stdout.contains("verified"),
        "{r:?}"
    );
    assert_eq!(rig.stored("cli.bin").await.as_deref(), Some(&content[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_never_says_verified_for_a_damaged_object() {
    let rig = Rig::new().await;
    rig.proxy.strip_crc(true);
    let (path, content) = rig.file("cliflip.bin", PART as usize * 3 + 3, 23);
    rig.proxy
        .add(Rule::new(Some(Op::UploadPart), 2, Fault::FlipBit(4242)));
    let r = upload_with_binary(&rig, &path, "cliflip.bin").await;
    let exact = rig.stored("cliflip.bin").await.as_deref() == Some(&content[..]);
    if !exact {
        assert_ne!(r.code, Some(0), "exit 0 for a damaged object: {r:?}");
        assert!(!r.stdout.contains("verified"), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_waits_out_a_one_minute_outage() {
    let rig = Rig::new().await;
    let (path, content) = rig.file("offline.bin", PART as usize * 4 + 3, 24);
    rig.proxy.add(Rule::new(
        Some(Op::UploadPart),
        2,
        Fault::StartOutage(Duration::from_secs(60)),
    ));
    let r = upload_with_binary(&rig, &path, "offline.bin").await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        rig.stored("offline.bin").await.as_deref(),
        Some(&content[..])
    );
    let waiting = r.stdout.matches("RETRY").count();
    assert!(
        waiting <= 2,
        "one waiting notice, not a RETRY line per attempt: {r:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// A race with an earlier run (found by tests/crash.rs).

#[tokio::test]
async fn a_complete_from_a_killed_run_that_lands_late_costs_no_part_again() {
    let rig = Rig::new().await;
    let (path, content) = rig.file("late.bin", PART as usize * 3 + 1, 25);
    let spec = rig.spec(&path, "late.bin");
    // A first run sends every part, then its Complete is refused: all parts are recorded.
    rig.server.faults().add(FaultRule::new(
        Some(Op::CompleteMultipartUpload),
        1,
        FaultAction::error(403, "AccessDenied"),
    ));
    let (outcome, _) = rig.run(&spec).await;
    assert!(matches!(outcome, JobOutcome::Failed(_)), "{outcome:?}");
    let cp = rig.env.store.load(&spec.checkpoint_id()).unwrap();
    // The Complete of a run killed while waiting for its answer takes effect after the next
    // run has listed the parts, and before that run's own Complete is handled.
    rig.server.faults().add(FaultRule::new(
        Some(Op::CompleteMultipartUpload),
        1,
        FaultAction::Delay(Duration::from_millis(800)),
    ));
    rig.server.faults().add(FaultRule::new(
        Some(Op::CompleteMultipartUpload),
        2,
        FaultAction::Delay(Duration::from_millis(1600)),
    ));
    let parts: Vec<oss_uploader::oss::xml::CompletePart> = cp
        .parts
        .iter()
        .map(|p| oss_uploader::oss::xml::CompletePart {
            part_number: p.number,
            etag: p.etag.clone(),
        })
        .collect();
    let client = rig.server.client();
    let killed_runs_complete =
        client.complete_multipart_upload(BUCKET, &cp.key, &cp.upload_id, &parts, &cp.options);
    let sent = rig.part_bytes();
    let next_run = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rig.run(&spec).await
    };
    let (earlier, (outcome, events)) = tokio::join!(killed_runs_complete, next_run);
    earlier.unwrap();
    rig.assert_exact(&outcome, "late.bin", &content).await;
    assert_eq!(
        rig.part_bytes() - sent,
        0,
        "parts sent again; notices: {:?}",
        notices(&events)
    );
}
