//! The upload job against the local OSS server over real HTTP, with injected faults: every run
//! ends verified, or stops resumable with a clear reason, and resuming sends only what is missing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oss_uploader::engine::checkpoint::{CheckpointStore, ObjectOptions};
use oss_uploader::engine::retry::Backoff;
use oss_uploader::engine::throttle::Throttle;
use oss_uploader::engine::upload::{Control, JobEnv, JobEvent, run_job};
use oss_uploader::engine::{JobOutcome, JobSpec};
use oss_uploader::local_server::{FaultAction, FaultRule, Op};
use oss_uploader::oss::client::{Client, ObjectOptions as ClientOptions};
use oss_uploader::oss::crc64;
use oss_uploader::oss::sign::Credentials;
use tokio::sync::watch;

mod common;
use common::{AK, BUCKET, TestServer, WAIT, credentials, data, object, wait_until, write_file};

const PART: u64 = 100 * 1024;

struct Harness {
    server: TestServer,
    data: tempfile::TempDir,
    files: tempfile::TempDir,
    env: JobEnv,
}

fn fast_backoff(max_attempts: u32, max_elapsed: Duration) -> Backoff {
    Backoff {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        max_attempts,
        max_elapsed,
        random: || 0.5,
    }
}

impl Harness {
    async fn new() -> Self {
        Self::with_creds(credentials()).await
    }

    async fn with_creds(client_creds: Credentials) -> Self {
        let server = TestServer::start().await;
        let data = tempfile::tempdir().unwrap();
        let mut cfg = server.connection().client_config(client_creds).unwrap();
        cfg.read_timeout = Duration::from_secs(2);
        let env = JobEnv {
            client: Client::new(cfg).unwrap(),
            store: CheckpointStore::open(data.path()).unwrap(),
            throttle: Throttle::unlimited(),
            pool: oss_uploader::engine::pool::Pool::new(Some(16)),
            backoff: fast_backoff(6, Duration::from_secs(10)),
        };
        Self {
            server,
            data,
            files: tempfile::tempdir().unwrap(),
            env,
        }
    }

    fn file(&self, name: &str, len: usize, seed: u32) -> (PathBuf, Vec<u8>) {
        let content = data(len, seed);
        (write_file(self.files.path(), name, &content), content)
    }

    fn spec(&self, path: &Path, key: &str) -> JobSpec {
        JobSpec {
            part_size: PART,
            threads: 3,
            options: ObjectOptions {
                content_type: Some("application/octet-stream".into()),
                ..Default::default()
            },
            ..self.server.spec(path, key)
        }
    }

    async fn run(&self, spec: &JobSpec) -> (JobOutcome, Vec<JobEvent>) {
        let (_tx, rx) = watch::channel(Control::Run);
        self.run_with(spec, rx).await
    }

    async fn run_with(
        &self,
        spec: &JobSpec,
        rx: watch::Receiver<Control>,
    ) -> (JobOutcome, Vec<JobEvent>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let outcome = run_job(
            spec,
            &self.env,
            rx,
            Arc::new(move |e| sink.lock().unwrap().push(e)),
        )
        .await;
        // The window shows errors in Chinese too: every one the engine makes must have it.
        if let JobOutcome::Failed(e) | JobOutcome::Interrupted(e) = &outcome {
            assert!(
                !e.message_zh.is_empty(),
                "an error without Chinese: {}",
                e.message
            );
        }
        let events = events.lock().unwrap().clone();
        (outcome, events)
    }

    /// Runs a job and sends `control` once the server has seen `n` requests of `op`.
    async fn run_until(&self, spec: &JobSpec, op: Op, n: u64, control: Control) -> JobOutcome {
        let (tx, rx) = watch::channel(Control::Run);
        let server = &self.server;
        let controller = async {
            wait_until(&format!("{n} {op:?} requests"), WAIT, || {
                server.stats().requests(op) >= n
            })
            .await;
            tx.send(control).unwrap();
        };
        let ((outcome, _), ()) = tokio::join!(self.run_with(spec, rx), controller);
        outcome
    }

    /// Runs the job again and checks that it ends verified without sending any part again.
    async fn resume_sending_nothing(&self, spec: &JobSpec, content: &[u8]) {
        let sent = self.server.stats().body_bytes(Op::UploadPart);
        let (outcome, _) = self.run(spec).await;
        assert_eq!(verified_crc(&outcome), crc64::checksum(content));
        assert_eq!(
            self.server.stats().body_bytes(Op::UploadPart),
            sent,
            "nothing sent again"
        );
    }

    /// Runs a job to a verified end, then puts back a copy of its checkpoint as it was once it
    /// held `parts` parts: what a crash just before Complete's cleanup leaves behind.
    async fn crash_after_complete(&self, spec: &JobSpec, parts: usize) {
        // Complete is held back so the copy is surely taken before the cleanup.
        self.server.faults().add(FaultRule::new(
            Some(Op::CompleteMultipartUpload),
            1,
            FaultAction::Delay(Duration::from_millis(300)),
        ));
        let id = spec.checkpoint_id();
        let store = self.env.store.clone();
        let copy = async {
            loop {
                if let Ok(cp) = store.load(&id)
                    && cp.parts.len() == parts
                {
                    return cp;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        let ((outcome, _), cp) = tokio::join!(self.run(spec), copy);
        verified_crc(&outcome);
        self.env.store.save(&cp).unwrap();
    }

    async fn object(&self, key: &str) -> Vec<u8> {
        object(&self.env.client, BUCKET, key).await
    }

    async fn open_uploads(&self) -> usize {
        self.env
            .client
            .list_multipart_uploads(BUCKET, "")
            .await
            .unwrap()
            .len()
    }

    fn checkpoints(&self) -> usize {
        self.env.store.list().unwrap().len()
    }
}

fn verified_crc(outcome: &JobOutcome) -> u64 {
    match outcome {
        JobOutcome::Verified { crc64, .. } => *crc64,
        other => panic!("not verified: {other:?}"),
    }
}

fn notices(events: &[JobEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Notice(n) => {
                assert!(!n.zh.is_empty(), "a notice without Chinese: {}", n.en);
                Some(n.en.clone())
            }
            _ => None,
        })
        .collect()
}

fn resumed_parts(events: &[JobEvent]) -> u32 {
    events
        .iter()
        .find_map(|e| match e {
            JobEvent::Started { resumed_parts, .. } => Some(*resumed_parts),
            _ => None,
        })
        .unwrap()
}

#[tokio::test]
async fn multipart_upload_is_verified_and_leaves_nothing_behind() {
    let h = Harness::new().await;
    let (path, content) = h.file("big.bin", PART as usize * 7 + 12_345, 1);
    let (outcome, events) = h.run(&h.spec(&path, "dir/big 大.bin")).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert_eq!(h.object("dir/big 大.bin").await, content);
    assert_eq!(h.checkpoints(), 0, "checkpoint deleted after Complete");
    assert_eq!(h.open_uploads().await, 0);
    assert!(events.iter().any(|e| matches!(e, JobEvent::Verifying)));
    let progress: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Progress(p) => Some(p.done),
            _ => None,
        })
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back"
    );
    assert!(progress.iter().all(|d| *d <= content.len() as u64));
    assert_eq!(
        h.server.stats().body_bytes(Op::UploadPart),
        content.len() as u64,
        "each byte sent once"
    );
}

#[tokio::test]
async fn small_and_empty_files_go_up_in_one_put() {
    let h = Harness::new().await;
    let (small, content) = h.file("small.txt", 5000, 2);
    let (empty, _) = h.file("empty", 0, 3);
    let (o1, _) = h.run(&h.spec(&small, "small.txt")).await;
    let (o2, _) = h.run(&h.spec(&empty, "empty")).await;
    assert_eq!(verified_crc(&o1), crc64::checksum(&content));
    assert_eq!(verified_crc(&o2), 0);
    assert_eq!(h.object("small.txt").await, content);
    assert_eq!(h.object("empty").await, Vec::<u8>::new());
    assert_eq!(h.server.stats().requests(Op::InitiateMultipartUpload), 0);
}

#[tokio::test]
async fn every_fault_alone_and_mixed_still_ends_verified() {
    let h = Harness::new().await;
    let faults = h.server.faults();
    faults.add(
        FaultRule::new(
            Some(Op::UploadPart),
            2,
            FaultAction::error(503, "ServiceUnavailable"),
        )
        .times(2),
    );
    faults.add(FaultRule::new(
        Some(Op::UploadPart),
        3,
        FaultAction::DropAfterBodyBytes(50_000),
    ));
    faults.add(FaultRule::new(Some(Op::UploadPart), 5, FaultAction::Stall));
    faults.add(FaultRule::new(
        Some(Op::UploadPart),
        6,
        FaultAction::ResetBeforeResponse,
    ));
    faults.add(FaultRule::new(
        Some(Op::UploadPart),
        7,
        FaultAction::Delay(Duration::from_millis(300)),
    ));
    faults.add(FaultRule::new(
        Some(Op::InitiateMultipartUpload),
        1,
        FaultAction::error(500, "InternalError"),
    ));
    faults.add(FaultRule::new(
        Some(Op::CompleteMultipartUpload),
        1,
        FaultAction::ResetBeforeResponse,
    ));
    let (path, content) = h.file("faulty.bin", PART as usize * 9 + 1, 4);
    let (outcome, events) = h.run(&h.spec(&path, "faulty.bin")).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert_eq!(h.object("faulty.bin").await, content);
    let retries = events
        .iter()
        .filter(|e| matches!(e, JobEvent::Retrying { .. }))
        .count();
    assert!(retries >= 6, "{retries} retries");
    assert_eq!(h.checkpoints(), 0);
    assert_eq!(h.open_uploads().await, 0);
}

#[tokio::test]
async fn outage_longer_than_the_retry_bound_interrupts_then_resumes() {
    let mut h = Harness::new().await;
    h.env.backoff = fast_backoff(3, Duration::from_secs(1));
    let (path, content) = h.file("outage.bin", PART as usize * 10, 5);
    // Let three parts through, then the service goes down for longer than we retry.
    h.server.faults().add(
        FaultRule::new(
            Some(Op::UploadPart),
            4,
            FaultAction::error(503, "ServiceUnavailable"),
        )
        .times(1000),
    );
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "outage.bin")
    };
    let (outcome, _) = h.run(&spec).await;
    match &outcome {
        JobOutcome::Interrupted(e) => assert!(e.message.contains("temporary"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.checkpoints(), 1, "work is kept");
    h.server.faults().clear();
    let sent_before = h.server.stats().body_bytes(Op::UploadPart);
    let (outcome, events) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert_eq!(resumed_parts(&events), 3);
    let resent = h.server.stats().body_bytes(Op::UploadPart) - sent_before;
    assert_eq!(resent, PART * 7, "only the missing parts are sent");
    assert_eq!(h.object("outage.bin").await, content);
}

#[tokio::test]
async fn wrong_credentials_fail_at_once_with_a_clear_message() {
    let h = Harness::with_creds(Credentials::new(AK, "wrong")).await;
    let (path, _) = h.file("c.bin", PART as usize * 3, 6);
    let (outcome, events) = h.run(&h.spec(&path, "c.bin")).await;
    match outcome {
        JobOutcome::Failed(e) => {
            assert!(e.message.contains("secret"), "{e:?}");
            assert_eq!(e.code.as_deref(), Some("SignatureDoesNotMatch"));
            assert!(e.request_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, JobEvent::Retrying { .. })),
        "no retry on credentials"
    );
}

#[tokio::test]
async fn pause_keeps_the_checkpoint_and_resume_sends_the_rest() {
    let h = Harness::new().await;
    let (path, content) = h.file("p.bin", PART as usize * 12, 7);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "p.bin")
    };
    // Slow parts down so the pause lands mid-upload.
    h.server.slow_parts(Duration::from_millis(50));
    let outcome = h.run_until(&spec, Op::UploadPart, 4, Control::Pause).await;
    assert_eq!(outcome, JobOutcome::Paused);
    assert_eq!(h.checkpoints(), 1);
    h.server.faults().clear();
    let (outcome, events) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert!(resumed_parts(&events) >= 3, "{}", resumed_parts(&events));
    assert_eq!(h.object("p.bin").await, content);
}

#[tokio::test]
async fn cancel_aborts_the_server_upload_and_deletes_the_checkpoint() {
    let h = Harness::new().await;
    let (path, _) = h.file("x.bin", PART as usize * 12, 8);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "x.bin")
    };
    h.server.slow_parts(Duration::from_millis(50));
    let outcome = h.run_until(&spec, Op::UploadPart, 2, Control::Cancel).await;
    assert_eq!(outcome, JobOutcome::Cancelled);
    assert_eq!(h.checkpoints(), 0);
    assert_eq!(h.open_uploads().await, 0, "no orphaned parts");
    assert!(h.env.client.head_object(BUCKET, "x.bin").await.is_err());
}

/// Interrupts a job after `parts` parts by an outage, leaving a checkpoint behind.
async fn leave_checkpoint(h: &mut Harness, spec: &JobSpec, parts: u64) {
    let saved = h.env.backoff;
    h.env.backoff = fast_backoff(2, Duration::from_millis(200));
    h.server.faults().add(
        FaultRule::new(
            Some(Op::UploadPart),
            parts + 1,
            FaultAction::error(503, "ServiceUnavailable"),
        )
        .times(1000),
    );
    let (outcome, _) = h.run(spec).await;
    assert!(matches!(outcome, JobOutcome::Interrupted(_)), "{outcome:?}");
    h.server.faults().clear();
    h.env.backoff = saved;
    assert_eq!(h.checkpoints(), 1);
    assert_eq!(h.open_uploads().await, 1);
}

#[tokio::test]
async fn a_damaged_checkpoint_starts_over_and_aborts_the_old_upload() {
    let mut h = Harness::new().await;
    let (path, content) = h.file("d.bin", PART as usize * 6, 9);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "d.bin")
    };
    leave_checkpoint(&mut h, &spec, 2).await;
    let file = h.env.store.path_of(&spec.checkpoint_id());
    let text = std::fs::read_to_string(&file).unwrap();
    // One changed digit in a part's CRC: the checksum no longer matches.
    let tampered = text.replacen("\"crc64\": ", "\"crc64\": 1", 1);
    assert_ne!(tampered, text);
    std::fs::write(&file, tampered).unwrap();
    let (outcome, events) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    let n = notices(&events);
    assert!(
        n.iter()
            .any(|m| m.contains("damaged") && m.contains("Starting again")),
        "{n:?}"
    );
    assert_eq!(resumed_parts(&events), 0);
    assert_eq!(h.open_uploads().await, 0, "the old upload was aborted");
    assert_eq!(h.object("d.bin").await, content);

    // A record that is not even JSON.
    leave_checkpoint(&mut h, &spec, 1).await;
    std::fs::write(&file, b"\x00garbage").unwrap();
    let (outcome, _) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert_eq!(h.checkpoints(), 0);
}

#[tokio::test]
async fn a_file_changed_between_runs_starts_over() {
    let mut h = Harness::new().await;
    let (path, _) = h.file("c.bin", PART as usize * 6, 10);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "c.bin")
    };
    leave_checkpoint(&mut h, &spec, 2).await;
    let new_content = data(PART as usize * 5 + 3, 11);
    std::fs::write(&path, &new_content).unwrap();
    let (outcome, events) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&new_content));
    assert!(
        notices(&events).iter().any(|m| m.contains("changed")),
        "{events:?}"
    );
    assert_eq!(h.open_uploads().await, 0);
    assert_eq!(h.object("c.bin").await, new_content);
}

#[tokio::test]
async fn a_file_changed_during_the_upload_never_becomes_a_mixed_object() {
    let h = Harness::new().await;
    let (path, _) = h.file("m.bin", PART as usize * 8, 12);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "m.bin")
    };
    h.server.slow_parts(Duration::from_millis(30));
    let server = &h.server;
    let p2 = path.clone();
    let writer = async move {
        wait_until("3 parts", WAIT, || {
            server.stats().requests(Op::UploadPart) >= 3
        })
        .await;
        // Same size, new content and a new modification time.
        tokio::time::sleep(Duration::from_millis(20)).await;
        std::fs::write(&p2, data(PART as usize * 8, 13)).unwrap();
    };
    let ((outcome, _), ()) = tokio::join!(h.run(&spec), writer);
    match outcome {
        JobOutcome::Failed(e) => assert!(
            e.message.contains("changed while it was being uploaded"),
            "{e:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        h.env.client.head_object(BUCKET, "m.bin").await.is_err(),
        "no object"
    );
    assert_eq!(h.open_uploads().await, 0);
    assert_eq!(h.checkpoints(), 0);
}

#[tokio::test]
async fn an_upload_the_server_forgot_starts_over() {
    let mut h = Harness::new().await;
    let (path, content) = h.file("f.bin", PART as usize * 5, 14);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "f.bin")
    };
    leave_checkpoint(&mut h, &spec, 2).await;
    let upload = h
        .env
        .client
        .list_multipart_uploads(BUCKET, "")
        .await
        .unwrap()
        .remove(0);
    h.env
        .client
        .abort_multipart_upload(BUCKET, "f.bin", &upload.upload_id)
        .await
        .unwrap();
    let (outcome, events) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert!(
        notices(&events).iter().any(|m| m.contains("no longer has")),
        "{events:?}"
    );
    assert_eq!(h.object("f.bin").await, content);
}

#[tokio::test]
async fn list_parts_errors_other_than_no_such_upload_never_discard_work() {
    let mut h = Harness::new().await;
    let (path, content) = h.file("l.bin", PART as usize * 5, 15);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "l.bin")
    };
    leave_checkpoint(&mut h, &spec, 3).await;
    h.env.backoff = fast_backoff(2, Duration::from_millis(200));
    h.server.faults().add(
        FaultRule::new(
            Some(Op::ListParts),
            1,
            FaultAction::error(500, "InternalError"),
        )
        .times(5),
    );
    let (outcome, _) = h.run(&spec).await;
    assert!(matches!(outcome, JobOutcome::Interrupted(_)), "{outcome:?}");
    assert_eq!(h.checkpoints(), 1, "checkpoint kept");
    h.server.faults().clear();
    let (outcome, events) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert_eq!(resumed_parts(&events), 3);
}

#[tokio::test]
async fn a_crash_after_complete_is_recognised_without_sending_again() {
    let h = Harness::new().await;
    let (path, content) = h.file("z.bin", PART as usize * 4, 16);
    let spec = h.spec(&path, "z.bin");
    h.crash_after_complete(&spec, 4).await;
    h.resume_sending_nothing(&spec, &content).await;
    assert_eq!(h.checkpoints(), 0);
}

#[tokio::test]
async fn a_bandwidth_limit_still_completes() {
    let mut h = Harness::new().await;
    h.env.throttle = Throttle::new(Some(4 * 1024 * 1024));
    let (path, content) = h.file("t.bin", PART as usize * 3, 17);
    let (outcome, _) = h.run(&h.spec(&path, "t.bin")).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
}

#[tokio::test]
async fn a_missing_file_is_a_clear_failure() {
    let h = Harness::new().await;
    let spec = h.spec(&h.files.path().join("nope.bin"), "nope.bin");
    let (outcome, _) = h.run(&spec).await;
    match outcome {
        JobOutcome::Failed(e) => assert!(e.message.contains("no longer there"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    let _ = (&h.data, ClientOptions::default());
}

#[tokio::test]
async fn a_lost_answer_with_overwrite_forbidden_is_still_our_object() {
    let h = Harness::new().await;
    let (path, content) = h.file("n.bin", 5000, 18);
    let mut spec = h.spec(&path, "n.bin");
    spec.options.forbid_overwrite = true;
    h.server.faults().add(FaultRule::new(
        Some(Op::PutObject),
        1,
        FaultAction::ResetBeforeResponse,
    ));
    h.server.faults().add(FaultRule::new(
        Some(Op::HeadObject),
        1,
        FaultAction::error(503, "ServiceUnavailable"),
    ));
    let (outcome, _) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));

    // Someone else's object under that name is still refused.
    let (other, _) = h.file("other.bin", 5000, 19);
    let (outcome, _) = h
        .run(&JobSpec {
            path: other,
            ..spec.clone()
        })
        .await;
    match outcome {
        JobOutcome::Failed(e) => assert_eq!(e.code.as_deref(), Some("FileAlreadyExists")),
        o => panic!("{o:?}"),
    }
    assert_eq!(h.object("n.bin").await, content);
}

#[tokio::test]
async fn a_small_file_another_run_stored_first_is_ours_when_identical() {
    // The window and the command line upload the same small file at once (a file sent whole
    // takes no lock), overwriting forbidden: the one that comes second finds the same bytes.
    let h = Harness::new().await;
    let (path, content) = h.file("twice.bin", 5000, 49);
    let mut spec = h.spec(&path, "twice.bin");
    spec.options.forbid_overwrite = true;
    let (first, _) = h.run(&spec).await;
    assert_eq!(verified_crc(&first), crc64::checksum(&content));
    let (second, _) = h.run(&spec).await;
    assert_eq!(verified_crc(&second), crc64::checksum(&content));
    assert_eq!(h.server.stats().requests(Op::PutObject), 2);
    assert_eq!(h.object("twice.bin").await, content);
}

#[tokio::test]
async fn a_crash_after_complete_survives_a_flaky_head() {
    let h = Harness::new().await;
    let (path, content) = h.file("y.bin", PART as usize * 3, 20);
    let spec = h.spec(&path, "y.bin");
    h.crash_after_complete(&spec, 3).await;
    h.server.faults().add(
        FaultRule::new(
            Some(Op::HeadObject),
            1,
            FaultAction::error(500, "InternalError"),
        )
        .times(2),
    );
    h.resume_sending_nothing(&spec, &content).await;
}

#[tokio::test]
async fn cancel_while_the_upload_is_being_started_leaves_no_orphan() {
    let h = Harness::new().await;
    let (path, _) = h.file("s.bin", PART as usize * 4, 21);
    let spec = h.spec(&path, "s.bin");
    h.server.faults().add(FaultRule::new(
        Some(Op::InitiateMultipartUpload),
        1,
        FaultAction::Delay(Duration::from_millis(300)),
    ));
    let outcome = h
        .run_until(&spec, Op::InitiateMultipartUpload, 1, Control::Cancel)
        .await;
    assert_eq!(outcome, JobOutcome::Cancelled);
    assert_eq!(
        h.open_uploads().await,
        0,
        "the upload started during cancel was aborted"
    );
    assert_eq!(h.checkpoints(), 0);
}

#[tokio::test]
async fn parts_the_checkpoint_missed_are_kept_when_their_crc_matches_the_file() {
    let mut h = Harness::new().await;
    let (path, content) = h.file("m.bin", PART as usize * 6, 21);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "m.bin")
    };
    leave_checkpoint(&mut h, &spec, 5).await;
    // A crash between two saves: the record lists parts 1 and 2, the server has 1 to 5.
    let id = spec.checkpoint_id();
    let mut cp = h.env.store.load(&id).unwrap();
    assert_eq!(cp.parts.len(), 5);
    cp.parts.truncate(2);
    h.env.store.save(&cp).unwrap();
    let parts_before = h.server.stats().requests(Op::UploadPart);
    let (outcome, events) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    // Only part 6 (never sent) travels; 3, 4 and 5 are adopted.
    assert_eq!(h.server.stats().requests(Op::UploadPart) - parts_before, 1);
    assert_eq!(resumed_parts(&events), 5);
    assert_eq!(h.object("m.bin").await, content);
    assert_eq!(h.checkpoints(), 0);
}

#[tokio::test]
async fn a_part_that_finished_soon_after_a_save_still_reaches_the_checkpoint() {
    let h = Harness::new().await;
    let (path, content) = h.file("q.bin", PART as usize * 4, 23);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "q.bin")
    };
    // Parts 1 and 2 finish moments apart; part 3 never gets an answer, so no later part's
    // save can carry part 2: only the deferred save can.
    h.server
        .faults()
        .add(FaultRule::new(Some(Op::UploadPart), 3, FaultAction::Stall));
    let (tx, rx) = watch::channel(Control::Run);
    let id = spec.checkpoint_id();
    let store = h.env.store.clone();
    let watcher = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut listed = 0;
        while tokio::time::Instant::now() < deadline {
            listed = store.load(&id).map(|cp| cp.parts.len()).unwrap_or(0);
            if listed == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tx.send(Control::Pause).unwrap();
        listed
    };
    let ((outcome, _), listed) = tokio::join!(h.run_with(&spec, rx), watcher);
    assert_eq!(outcome, JobOutcome::Paused);
    assert_eq!(listed, 2, "the checkpoint never listed the second part");
    h.server.faults().clear();
    let (outcome, events) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert_eq!(resumed_parts(&events), 2);
}

/// Rewrites byte `at` of `path` in place, then sets the modification time back to what it was:
/// what `touch -d` after an edit does. Size and time are unchanged; only the inode's change time
/// tells.
fn rewrite_keeping_time(path: &Path, content: &mut [u8], at: usize) {
    use std::io::{Seek as _, SeekFrom, Write as _};
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    content[at] ^= 0xff;
    let mut f = std::fs::File::options().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at as u64)).unwrap();
    f.write_all(&content[at..=at]).unwrap();
    f.set_modified(modified).unwrap();
    drop(f);
    assert_eq!(
        std::fs::metadata(path).unwrap().modified().unwrap(),
        modified
    );
}

#[tokio::test]
async fn a_file_rewritten_with_its_time_set_back_starts_over() {
    let mut h = Harness::new().await;
    let (path, mut content) = h.file("t.bin", PART as usize * 6, 31);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "t.bin")
    };
    leave_checkpoint(&mut h, &spec, 3).await;
    // Part 2, already on the server, changes; size and modification time do not.
    rewrite_keeping_time(&path, &mut content, PART as usize + 7);
    let parts_before = h.server.stats().requests(Op::UploadPart);
    let (outcome, events) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert!(
        notices(&events).iter().any(|m| m.contains("changed")),
        "{events:?}"
    );
    assert_eq!(h.server.stats().requests(Op::UploadPart) - parts_before, 6);
    assert_eq!(resumed_parts(&events), 0);
    assert_eq!(h.object("t.bin").await, content);
    assert_eq!(h.open_uploads().await, 0, "the old upload was aborted");
    assert_eq!(h.checkpoints(), 0);
}

#[tokio::test]
async fn a_file_rewritten_in_place_while_parts_are_read_never_completes() {
    let h = Harness::new().await;
    let (path, mut content) = h.file("w.bin", PART as usize * 8, 32);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "w.bin")
    };
    h.server.slow_parts(Duration::from_millis(30));
    let server = &h.server;
    let p2 = path.clone();
    let writer = async move {
        wait_until("2 parts", WAIT, || {
            server.stats().requests(Op::UploadPart) >= 2
        })
        .await;
        // Part 7, not yet read, changes with size and time kept.
        rewrite_keeping_time(&p2, &mut content, 6 * PART as usize + 1);
    };
    let ((outcome, _), ()) = tokio::join!(h.run(&spec), writer);
    match outcome {
        JobOutcome::Failed(e) => assert!(
            e.message.contains("changed while it was being uploaded"),
            "{e:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        h.env.client.head_object(BUCKET, "w.bin").await.is_err(),
        "no object"
    );
    assert_eq!(h.open_uploads().await, 0);
    assert_eq!(h.checkpoints(), 0);
}

#[tokio::test]
async fn a_lost_answer_to_initiate_leaves_no_unrecorded_upload() {
    let h = Harness::new().await;
    let (path, content) = h.file("i.bin", PART as usize * 3, 41);
    let spec = h.spec(&path, "i.bin");
    // The server starts the upload, then the connection drops before the answer.
    h.server.faults().add(FaultRule::new(
        Some(Op::InitiateMultipartUpload),
        1,
        FaultAction::ResetBeforeResponse,
    ));
    let (outcome, _) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert_eq!(h.server.stats().requests(Op::InitiateMultipartUpload), 2);
    assert_eq!(
        h.open_uploads().await,
        0,
        "the first, unanswered upload was aborted"
    );
    assert_eq!(h.object("i.bin").await, content);
}

/// Cuts the record of `spec` to its first `keep` bytes, as a crash in the middle of a
/// non-atomic copy or a disk fault would.
fn truncate_record(h: &Harness, spec: &JobSpec, keep: usize) {
    let path = h.env.store.path_of(&spec.checkpoint_id());
    let text = std::fs::read(&path).unwrap();
    std::fs::write(&path, &text[..keep.min(text.len())]).unwrap();
}

#[tokio::test]
async fn a_record_cut_short_still_has_its_upload_aborted() {
    let mut h = Harness::new().await;
    let (path, content) = h.file("cut.bin", PART as usize * 5, 42);
    let spec = h.spec(&path, "cut.bin");
    leave_checkpoint(&mut h, &spec, 2).await;
    let record = std::fs::read_to_string(h.env.store.path_of(&spec.checkpoint_id())).unwrap();
    // Cut just after the upload id: no longer JSON, but the id is there.
    let after_id = record.find("\"upload_id\"").unwrap() + 80;
    truncate_record(&h, &spec, after_id);
    let (outcome, events) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert!(
        notices(&events).iter().any(|m| m.contains("damaged")),
        "{events:?}"
    );
    assert_eq!(
        h.open_uploads().await,
        0,
        "the damaged record's upload was aborted"
    );
}

#[tokio::test]
async fn a_first_checkpoint_that_cannot_be_written_aborts_its_new_upload() {
    let h = Harness::new().await;
    let (path, _) = h.file("full.bin", PART as usize * 3, 43);
    let spec = h.spec(&path, "full.bin");
    h.server.faults().add(FaultRule::new(
        Some(Op::InitiateMultipartUpload),
        1,
        FaultAction::Delay(Duration::from_millis(300)),
    ));
    let record = h.env.store.path_of(&spec.checkpoint_id());
    let server = &h.server;
    // While Initiate is on its way, the record's name is taken by a folder: saving it then
    // fails as a full disk would, after the upload was started.
    let block = async {
        wait_until("Initiate", WAIT, || {
            server.stats().requests(Op::InitiateMultipartUpload) >= 1
        })
        .await;
        std::fs::create_dir_all(&record).unwrap();
    };
    let ((outcome, _), ()) = tokio::join!(h.run(&spec), block);
    assert!(matches!(outcome, JobOutcome::Failed(_)), "{outcome:?}");
    assert_eq!(h.server.stats().requests(Op::UploadPart), 0);
    assert_eq!(
        h.open_uploads().await,
        0,
        "the upload without a record was aborted"
    );
    assert!(h.env.store.intents().is_empty());
}

#[tokio::test]
async fn nothing_is_started_when_not_even_the_intent_can_be_written() {
    let h = Harness::new().await;
    let (path, _) = h.file("full2.bin", PART as usize * 3, 44);
    let spec = h.spec(&path, "full2.bin");
    let intent = h
        .env
        .store
        .dir()
        .join(format!("{}.intent.json", spec.checkpoint_id()));
    std::fs::create_dir_all(intent).unwrap();
    let (outcome, _) = h.run(&spec).await;
    assert!(matches!(outcome, JobOutcome::Failed(_)), "{outcome:?}");
    assert_eq!(h.server.stats().requests(Op::InitiateMultipartUpload), 0);
    assert_eq!(h.open_uploads().await, 0);
}

#[tokio::test]
async fn a_second_run_of_the_same_upload_is_refused_and_says_who_holds_it() {
    let h = Harness::new().await;
    let (path, content) = h.file("two.bin", PART as usize * 6, 45);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "two.bin")
    };
    h.server.slow_parts(Duration::from_millis(40));
    let server = &h.server;
    let first = h.run(&spec);
    let second = async {
        wait_until("the first run's parts", WAIT, || {
            server.stats().requests(Op::UploadPart) >= 1
        })
        .await;
        h.run(&spec).await
    };
    let ((first, _), (second, _)) = tokio::join!(first, second);
    assert_eq!(verified_crc(&first), crc64::checksum(&content));
    match second {
        JobOutcome::Interrupted(e) => {
            assert!(e.message.contains("Another oss-uploader"), "{e:?}");
            assert!(e.message.contains("process "), "{e:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.server.stats().requests(Op::UploadPart),
        6,
        "no part was sent twice"
    );
    assert_eq!(h.object("two.bin").await, content);
}

#[tokio::test]
async fn a_file_sent_whole_with_no_record_takes_no_lock() {
    let h = Harness::new().await;
    let (path, content) = h.file("whole.bin", PART as usize / 2, 47);
    let spec = h.spec(&path, "whole.bin");
    let id = spec.checkpoint_id();
    // Another run holds this upload's lock: a file sent whole has no record to guard, so it
    // goes ahead and leaves the other run's lock alone.
    let other = h.env.store.lock(&id, "process 1 (the window)").unwrap();
    let (outcome, _) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert_eq!(h.object("whole.bin").await, content);
    assert!(h.env.store.dir().join(format!("{id}.lock")).exists());
    drop(other);
    assert!(
        std::fs::read_dir(h.env.store.dir())
            .unwrap()
            .next()
            .is_none(),
        "nothing is left in the records' folder"
    );
}

#[tokio::test]
async fn a_file_sent_whole_now_still_locks_the_record_it_left() {
    use oss_uploader::oss::limits::AUTO_PART_SIZE;
    let mut h = Harness::new().await;
    let (path, content) = h.file("was-parts.bin", PART as usize * 5, 48);
    let spec = h.spec(&path, "was-parts.bin");
    leave_checkpoint(&mut h, &spec, 2).await;
    // With automatic parts the file would now go whole, but the record of its parts is there.
    let spec = JobSpec {
        part_size: AUTO_PART_SIZE,
        ..spec
    };
    let other = h
        .env
        .store
        .lock(&spec.checkpoint_id(), "process 1 (the window)")
        .unwrap();
    match h.run(&spec).await.0 {
        JobOutcome::Interrupted(e) => assert!(e.message.contains("Another oss-uploader"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    drop(other);
    let (outcome, events) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert!(
        events.iter().any(|e| matches!(
            e,
            JobEvent::Started { plan, resumed_parts: 2, .. } if plan.is_multipart()
        )),
        "the recorded parts were kept: {events:?}"
    );
    assert_eq!(h.object("was-parts.bin").await, content);
    assert_eq!(h.checkpoints(), 0);
}

#[tokio::test]
async fn a_record_of_a_newer_format_is_left_as_it_is() {
    let mut h = Harness::new().await;
    let (path, _) = h.file("new.bin", PART as usize * 5, 46);
    let spec = h.spec(&path, "new.bin");
    leave_checkpoint(&mut h, &spec, 2).await;
    let record = h.env.store.path_of(&spec.checkpoint_id());
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    value["version"] = 99.into();
    value["written_by"] = "oss-uploader 9.0.0".into();
    let written = serde_json::to_vec(&value).unwrap();
    std::fs::write(&record, &written).unwrap();
    let (outcome, _) = h.run(&spec).await;
    match outcome {
        JobOutcome::Failed(e) => assert!(e.message.contains("oss-uploader 9.0.0"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read(&record).unwrap(),
        written,
        "the record is untouched"
    );
    assert_eq!(
        h.open_uploads().await,
        1,
        "its upload is kept for the newer version"
    );
}

#[tokio::test]
async fn temporary_files_a_killed_save_left_are_cleared() {
    let h = Harness::new().await;
    let (path, _) = h.file("tmp.bin", PART as usize * 3, 47);
    let spec = h.spec(&path, "tmp.bin");
    let leftover = h
        .env
        .store
        .dir()
        .join(format!(".checkpoint-{}-Zq81Xa.tmp", spec.checkpoint_id()));
    std::fs::write(&leftover, b"{\"version\":").unwrap();
    let (outcome, _) = h.run(&spec).await;
    assert!(
        matches!(outcome, JobOutcome::Verified { .. }),
        "{outcome:?}"
    );
    assert!(!leftover.exists());
    let left: Vec<_> = std::fs::read_dir(h.env.store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn an_outage_of_many_attempts_is_ridden_out_within_the_time_budget() {
    let mut h = Harness::new().await;
    // Today's attempt count, with the waits made short: only the time budget may stop it.
    h.env.backoff = Backoff {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(60),
        random: || 0.5,
        ..Backoff::default()
    };
    let (path, content) = h.file("long.bin", PART as usize * 3, 48);
    let spec = JobSpec {
        threads: 1,
        ..h.spec(&path, "long.bin")
    };
    // Dozens of failed attempts in a row: far more than a fixed cap of ten allowed.
    h.server.faults().add(
        FaultRule::new(
            Some(Op::UploadPart),
            2,
            FaultAction::error(503, "ServiceUnavailable"),
        )
        .times(40),
    );
    let (outcome, events) = h.run(&spec).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    let retries = events
        .iter()
        .filter(|e| matches!(e, JobEvent::Retrying { .. }))
        .count();
    assert_eq!(retries, 40);
}

/// A resumed upload keeps the part layout its checkpoint records even when the automatic part
/// size would now choose another (here the whole file in one PutObject): its parts on the
/// server are only usable in that layout, and nobody asked for a size to mention.
#[tokio::test]
async fn a_resume_with_the_automatic_part_size_keeps_the_recorded_layout() {
    use oss_uploader::engine::plan::UploadPlan;
    use oss_uploader::oss::limits::AUTO_PART_SIZE;
    let mut h = Harness::new().await;
    let (path, content) = h.file("auto.bin", PART as usize * 12, 31);
    let first = JobSpec {
        threads: 1,
        ..h.spec(&path, "auto.bin")
    };
    leave_checkpoint(&mut h, &first, 4).await;
    let now = UploadPlan::for_job(content.len() as u64, AUTO_PART_SIZE, Some(1e9)).unwrap();
    assert!(!now.is_multipart(), "the rule would now choose {now:?}");
    let sent = h.server.stats().body_bytes(Op::UploadPart);
    let auto = JobSpec {
        part_size: AUTO_PART_SIZE,
        ..first.clone()
    };
    let (outcome, events) = h.run(&auto).await;
    assert_eq!(verified_crc(&outcome), crc64::checksum(&content));
    assert_eq!(resumed_parts(&events), 4);
    let plan = events
        .iter()
        .find_map(|e| match e {
            JobEvent::Started { plan, .. } => Some(*plan),
            _ => None,
        })
        .unwrap();
    assert_eq!((plan.part_size(), plan.part_count()), (PART, 12));
    assert_eq!(
        h.server.stats().body_bytes(Op::UploadPart) - sent,
        8 * PART,
        "only the missing parts, in the recorded layout"
    );
    assert_eq!(h.server.stats().requests(Op::PutObject), 0);
    assert!(
        notices(&events).iter().all(|n| !n.contains("part size")),
        "{:?}",
        notices(&events)
    );
    assert_eq!(h.object("auto.bin").await, content);
}
