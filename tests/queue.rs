//! The engine thread and its queue through the bridge, as the window drives it: commands in,
//! events out, the queue file restored after the engine is dropped mid-upload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use oss_uploader::engine::{
    Command, EngineConfig, EngineHandle, EngineSettings, Event, ExistingPolicy, JobId, JobState,
};
use oss_uploader::engine::{JobOutcome, JobSpec};
use oss_uploader::local_server::Op;

mod common;
use common::next_event as wait_for;
use common::{BUCKET, TestServer, WAIT, credentials, data, wait_until_blocking, write_file};

struct Rig {
    server: TestServer,
    data: tempfile::TempDir,
    files: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Rig {
    fn new() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let server = rt.block_on(TestServer::start());
        Self {
            server,
            data: tempfile::tempdir().unwrap(),
            files: tempfile::tempdir().unwrap(),
            rt,
        }
    }

    fn engine(&self, settings: EngineSettings) -> EngineHandle {
        oss_uploader::engine::spawn(
            EngineConfig {
                data_dir: self.data.path().to_owned(),
                credentials: Some(credentials()),
                settings,
                persist_queue: true,
                resume_when_online: true,
            },
            Arc::new(|| {}),
        )
        .unwrap()
    }

    fn file(&self, name: &str, len: usize) -> PathBuf {
        write_file(self.files.path(), name, &data(len, 0))
    }

    fn spec(&self, path: &Path, key: &str) -> JobSpec {
        self.server.spec(path, key)
    }
}

fn added_id(e: &Event) -> JobId {
    match e {
        Event::Added(info) => info.id,
        other => panic!("{other:?}"),
    }
}

/// Waits for the next job added to the queue and returns its id.
fn next_added(engine: &EngineHandle, seen: &mut Vec<Event>) -> JobId {
    added_id(&wait_for(engine, seen, |e| matches!(e, Event::Added(_))))
}

fn finished(id: JobId) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Finished { id: i, .. } if *i == id)
}

fn in_state(id: JobId, state: JobState) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::State { id: i, state: s, .. } if *i == id && *s == state)
}

fn removed(id: JobId) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Removed { id: i } if *i == id)
}

#[test]
fn jobs_run_to_verified_and_clear() {
    let rig = Rig::new();
    let engine = rig.engine(EngineSettings::default());
    let a = rig.file("a.bin", 350_000);
    let b = rig.file("b.txt", 10);
    engine.send(Command::Add(vec![
        rig.spec(&a, "a.bin"),
        rig.spec(&b, "b.txt"),
    ]));
    let mut seen = Vec::new();
    let id_a = next_added(&engine, &mut seen);
    let id_b = next_added(&engine, &mut seen);
    for id in [id_a, id_b] {
        // The small file may well finish first.
        let done = match seen.iter().find(|e| finished(id)(e)) {
            Some(e) => e.clone(),
            None => wait_for(&engine, &mut seen, finished(id)),
        };
        assert!(
            matches!(
                done,
                Event::Finished {
                    outcome: JobOutcome::Verified { .. },
                    ..
                }
            ),
            "{done:?}"
        );
    }
    assert!(seen.iter().any(in_state(id_a, JobState::Done)));
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Progress { id, .. } if *id == id_a))
    );
    engine.send(Command::ClearFinished);
    wait_for(&engine, &mut seen, removed(id_a));
    wait_for(&engine, &mut seen, removed(id_b));
    engine.shutdown();
}

#[test]
fn the_queue_comes_back_after_the_engine_is_dropped_mid_upload() {
    let rig = Rig::new();
    rig.server.slow_parts(Duration::from_millis(40));
    let big = rig.file("big.bin", 100 * 1024 * 20);
    let engine = rig.engine(EngineSettings::default());
    engine.send(Command::Add(vec![rig.spec(&big, "big.bin")]));
    let mut seen = Vec::new();
    let id = next_added(&engine, &mut seen);
    wait_until_blocking("4 parts", WAIT, || {
        rig.server.stats().requests(Op::UploadPart) >= 4
    });
    // The window goes away without a word (as if killed): the queue file already has the job.
    drop(engine);
    std::thread::sleep(Duration::from_millis(1200));
    rig.server.faults().clear();

    let engine = rig.engine(EngineSettings::default());
    let mut seen = Vec::new();
    match wait_for(&engine, &mut seen, |e| matches!(e, Event::Added(_))) {
        Event::Added(info) => {
            assert_eq!(info.id, id);
            assert_eq!(info.state, JobState::Interrupted);
            assert!(info.confirmed > 0, "progress from the checkpoint is shown");
        }
        _ => unreachable!(),
    }
    match wait_for(&engine, &mut seen, |e| matches!(e, Event::Restored { .. })) {
        Event::Restored { interrupted } => assert_eq!(interrupted, vec![id]),
        _ => unreachable!(),
    }
    let parts_before = rig.server.stats().requests(Op::InitiateMultipartUpload);
    engine.send(Command::ResumeAll);
    match wait_for(&engine, &mut seen, finished(id)) {
        Event::Finished {
            outcome: JobOutcome::Verified { size, .. },
            ..
        } => assert_eq!(size, 100 * 1024 * 20),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rig.server.stats().requests(Op::InitiateMultipartUpload),
        parts_before,
        "resumed, not restarted"
    );
    engine.shutdown();
}

#[test]
fn pause_resume_cancel_and_remove() {
    let rig = Rig::new();
    rig.server.slow_parts(Duration::from_millis(40));
    let f = rig.file("p.bin", 100 * 1024 * 15);
    let engine = rig.engine(EngineSettings {
        jobs: Some(1),
        ..Default::default()
    });
    engine.send(Command::Add(vec![
        rig.spec(&f, "p.bin"),
        rig.spec(&f, "p2.bin"),
    ]));
    let mut seen = Vec::new();
    let first = next_added(&engine, &mut seen);
    let second = next_added(&engine, &mut seen);
    wait_for(
        &engine,
        &mut seen,
        |e| matches!(e, Event::Progress { id, .. } if *id == first),
    );
    engine.send(Command::Pause(first));
    wait_for(&engine, &mut seen, in_state(first, JobState::Paused));
    // With the first paused, the second starts (one job at a time).
    wait_for(&engine, &mut seen, in_state(second, JobState::Uploading));
    engine.send(Command::Cancel(second));
    wait_for(&engine, &mut seen, in_state(second, JobState::Cancelled));
    rig.server.faults().clear();
    engine.send(Command::Resume(first));
    match wait_for(
        &engine,
        &mut seen,
        |e| matches!(e, Event::Finished { id, outcome } if *id == first && *outcome != JobOutcome::Paused),
    ) {
        Event::Finished {
            outcome: JobOutcome::Verified { .. },
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    engine.send(Command::Remove(second));
    wait_for(&engine, &mut seen, removed(second));
    let uploads = rig.rt.block_on(async {
        let client = rig.server.client();
        client.list_multipart_uploads(BUCKET, "").await.unwrap()
    });
    assert!(
        uploads.is_empty(),
        "cancel left no orphaned upload: {uploads:?}"
    );
    engine.shutdown();
}

#[test]
fn existing_objects_are_skipped_or_kept_both() {
    let rig = Rig::new();
    let f = rig.file("e.txt", 1000);
    let mut seen = Vec::new();
    let engine = rig.engine(EngineSettings::default());
    engine.send(Command::Add(vec![rig.spec(&f, "e.txt")]));
    let id = next_added(&engine, &mut seen);
    wait_for(&engine, &mut seen, finished(id));

    engine.send(Command::SetSettings(EngineSettings {
        existing: ExistingPolicy::Skip,
        ..Default::default()
    }));
    engine.send(Command::Add(vec![rig.spec(&f, "e.txt")]));
    let id = next_added(&engine, &mut seen);
    wait_for(&engine, &mut seen, in_state(id, JobState::Skipped));

    engine.send(Command::SetSettings(EngineSettings {
        existing: ExistingPolicy::KeepBoth,
        ..Default::default()
    }));
    engine.send(Command::Add(vec![rig.spec(&f, "e.txt")]));
    let id = next_added(&engine, &mut seen);
    match wait_for(&engine, &mut seen, |e| matches!(e, Event::Renamed { .. })) {
        Event::Renamed { id: i, key } => assert_eq!((i, key.as_str()), (id, "e (1).txt")),
        _ => unreachable!(),
    }
    wait_for(&engine, &mut seen, in_state(id, JobState::Done));
    engine.shutdown();
}

#[test]
fn without_credentials_a_job_fails_with_a_clear_message() {
    let rig = Rig::new();
    let engine = oss_uploader::engine::spawn(
        EngineConfig {
            data_dir: rig.data.path().to_owned(),
            credentials: None,
            settings: EngineSettings::default(),
            persist_queue: false,
            resume_when_online: false,
        },
        Arc::new(|| {}),
    )
    .unwrap();
    let f = rig.file("c.txt", 10);
    engine.send(Command::Add(vec![rig.spec(&f, "c.txt")]));
    let mut seen = Vec::new();
    match wait_for(&engine, &mut seen, |e| {
        matches!(
            e,
            Event::State {
                state: JobState::Failed,
                ..
            }
        )
    }) {
        Event::State { error: Some(e), .. } => assert!(e.message.contains("AccessKey"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    engine.send(Command::SetCredentials(credentials()));
    let id = match &seen[0] {
        Event::Added(info) => info.id,
        other => panic!("{other:?}"),
    };
    engine.send(Command::Retry(id));
    wait_for(&engine, &mut seen, in_state(id, JobState::Done));
    engine.shutdown();
}

#[test]
fn a_damaged_queue_file_is_set_aside_with_a_message() {
    let rig = Rig::new();
    std::fs::write(
        rig.data
            .path()
            .join(oss_uploader::engine::paths::QUEUE_FILE),
        b"{not json",
    )
    .unwrap();
    let engine = rig.engine(EngineSettings::default());
    let mut seen = Vec::new();
    match wait_for(&engine, &mut seen, |e| matches!(e, Event::Problem(_))) {
        Event::Problem(m) => assert!(m.en.contains("damaged") && m.zh.contains("损坏"), "{m:?}"),
        _ => unreachable!(),
    }
    assert!(rig.data.path().join("queue.json.damaged").exists());
    engine.shutdown();
}

#[test]
fn a_job_the_network_stopped_waits_for_it_and_goes_on_by_itself() {
    let rig = Rig::new();
    // An address where nothing answers yet: the network is "down".
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let f = rig.file("offline.bin", 100 * 1024 * 3);
    let mut spec = rig.spec(&f, "offline.bin");
    spec.connection.endpoint = format!("http://{addr}");
    let engine = rig.engine(EngineSettings {
        retry_for: Duration::from_secs(1),
        ..Default::default()
    });
    engine.send(Command::Add(vec![spec]));
    let mut seen = Vec::new();
    let id = next_added(&engine, &mut seen);
    // While its requests are retried the row says it waits for the network…
    wait_for(&engine, &mut seen, in_state(id, JobState::Waiting));
    // …and past the retry budget it stops, resumable, marked as a network stop.
    match wait_for(&engine, &mut seen, in_state(id, JobState::Interrupted)) {
        Event::State { error: Some(e), .. } => assert!(e.network, "{e:?}"),
        other => panic!("{other:?}"),
    }
    // The network comes back: a server answers at that address.
    let root = tempfile::tempdir().unwrap();
    let server = rig.rt.block_on(async {
        oss_uploader::local_server::LocalServer::start(
            oss_uploader::local_server::ServerConfig::new(root.path())
                .with_addr(addr)
                .with_credentials(credentials())
                .with_bucket(BUCKET),
        )
        .await
        .unwrap()
    });
    // Nobody presses Retry.
    wait_for(&engine, &mut seen, finished(id));
    match wait_for(&engine, &mut seen, finished(id)) {
        Event::Finished {
            outcome: JobOutcome::Verified { .. },
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    engine.shutdown();
    rig.rt.block_on(server.shutdown());
}
