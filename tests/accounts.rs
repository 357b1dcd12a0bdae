//! Several accounts in one queue: each job is signed with its own account's key, a restart
//! resumes each with its own, and a job whose account has no key yet waits for it. Two local
//! servers that each accept only their own key stand for two Alibaba accounts: a job signed
//! with the other account's key is refused (InvalidAccessKeyId).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use oss_uploader::engine::{
    Command, EngineConfig, EngineHandle, EngineSettings, Event, JobId, JobOutcome, JobSpec,
    JobState,
};
use oss_uploader::local_server::Op;
use oss_uploader::oss::client::Client;
use oss_uploader::oss::sign::Credentials;

mod common;
use common::{
    BUCKET, TestServer, WAIT, credentials, data, object, wait_until_blocking, write_file,
};

const WORK: &str = "work";

fn work_key() -> Credentials {
    Credentials::new("work-ak", "work-secret")
}

struct Rig {
    /// The default account's server (accepts `credentials()`).
    home: TestServer,
    /// The "work" account's server (accepts only `work_key()`).
    work: TestServer,
    data: tempfile::TempDir,
    files: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Rig {
    fn new() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let home = rt.block_on(TestServer::start());
        let work = rt.block_on(TestServer::start_with(|c| c.with_credentials(work_key())));
        Self {
            home,
            work,
            data: tempfile::tempdir().unwrap(),
            files: tempfile::tempdir().unwrap(),
            rt,
        }
    }

    /// An engine keeping its queue file, with the default account's key and, when `work` is
    /// set, the work account's.
    fn engine(&self, work: bool) -> EngineHandle {
        let engine = oss_uploader::engine::spawn(
            EngineConfig {
                data_dir: self.data.path().to_owned(),
                credentials: Some(credentials()),
                settings: EngineSettings::default(),
                persist_queue: true,
                resume_when_online: false,
            },
            Arc::new(|| {}),
        )
        .unwrap();
        if work {
            engine.send(Command::SetAccountCredentials {
                account: WORK.into(),
                credentials: Some(work_key()),
            });
        }
        engine
    }

    fn home_spec(&self, path: &Path, key: &str) -> JobSpec {
        self.home.spec(path, key)
    }

    fn work_spec(&self, path: &Path, key: &str) -> JobSpec {
        JobSpec {
            account: WORK.into(),
            ..self.work.spec(path, key)
        }
    }

    fn work_object(&self, key: &str) -> Vec<u8> {
        let client =
            Client::new(self.work.connection().client_config(work_key()).unwrap()).unwrap();
        self.rt.block_on(object(&client, BUCKET, key))
    }
}

fn wait_for(engine: &EngineHandle, seen: &mut Vec<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    if let Some(e) = seen.iter().find(|e| pred(e)) {
        return e.clone();
    }
    common::next_event(engine, seen, pred)
}

fn added(seen: &[Event]) -> Vec<(JobId, String)> {
    seen.iter()
        .filter_map(|e| match e {
            Event::Added(info) => Some((info.id, info.spec.account.clone())),
            _ => None,
        })
        .collect()
}

/// Waits for `id` to end verified (an earlier run's end, e.g. for want of a key, is passed).
fn verified(engine: &EngineHandle, seen: &mut Vec<Event>, id: JobId) -> u64 {
    let finished = |e: &Event| matches!(e, Event::Finished { id: i, outcome: JobOutcome::Verified { .. } } if *i == id);
    match wait_for(engine, seen, finished) {
        Event::Finished {
            outcome: JobOutcome::Verified { size, .. },
            ..
        } => size,
        other => panic!("{other:?}"),
    }
}

#[test]
fn jobs_of_two_accounts_each_upload_with_their_own_key() {
    let rig = Rig::new();
    let engine = rig.engine(true);
    let a = write_file(rig.files.path(), "a.txt", b"home");
    let b = write_file(rig.files.path(), "b.txt", b"work");
    engine.send(Command::Add(vec![
        rig.home_spec(&a, "a.txt"),
        rig.work_spec(&b, "b.txt"),
    ]));
    let mut seen = Vec::new();
    wait_for(
        &engine,
        &mut seen,
        |e| matches!(e, Event::Added(info) if info.spec.account == WORK),
    );
    let ids = added(&seen);
    assert_eq!(ids[0].1, "");
    assert_eq!(verified(&engine, &mut seen, ids[0].0), 4);
    assert_eq!(verified(&engine, &mut seen, ids[1].0), 4);
    assert_eq!(
        rig.rt.block_on(object(&rig.home.client(), BUCKET, "a.txt")),
        b"home"
    );
    assert_eq!(rig.work_object("b.txt"), b"work");
    engine.shutdown();
}

#[test]
fn a_restart_resumes_each_job_with_its_own_account() {
    let rig = Rig::new();
    for server in [&rig.home, &rig.work] {
        server.slow_parts(Duration::from_millis(40));
    }
    let len = 100 * 1024 * 12;
    let a = write_file(rig.files.path(), "a.bin", &data(len, 1));
    let b = write_file(rig.files.path(), "b.bin", &data(len, 2));
    let engine = rig.engine(true);
    engine.send(Command::Add(vec![
        rig.home_spec(&a, "a.bin"),
        rig.work_spec(&b, "b.bin"),
    ]));
    wait_until_blocking("parts on both servers", WAIT, || {
        rig.home.stats().requests(Op::UploadPart) >= 2
            && rig.work.stats().requests(Op::UploadPart) >= 2
    });
    // Shut while both upload: the queue file keeps each job's account.
    engine.shutdown();
    for server in [&rig.home, &rig.work] {
        server.faults().clear();
    }
    let started = (
        rig.home.stats().requests(Op::InitiateMultipartUpload),
        rig.work.stats().requests(Op::InitiateMultipartUpload),
    );

    let engine = rig.engine(true);
    let mut seen = Vec::new();
    wait_for(&engine, &mut seen, |e| matches!(e, Event::Restored { .. }));
    let ids = added(&seen);
    let accounts: Vec<&str> = ids.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(accounts, ["", WORK]);
    engine.send(Command::ResumeAll);
    for (id, _) in &ids {
        assert_eq!(verified(&engine, &mut seen, *id), len as u64);
    }
    assert_eq!(
        (
            rig.home.stats().requests(Op::InitiateMultipartUpload),
            rig.work.stats().requests(Op::InitiateMultipartUpload),
        ),
        started,
        "both resumed their own uploads, none started again"
    );
    assert_eq!(rig.work_object("b.bin"), data(len, 2));
    engine.shutdown();
}

#[test]
fn a_job_whose_account_has_no_key_waits_for_it_and_then_goes_on() {
    let rig = Rig::new();
    let engine = rig.engine(false);
    let b = write_file(rig.files.path(), "b.txt", b"work");
    engine.send(Command::Add(vec![rig.work_spec(&b, "b.txt")]));
    let mut seen = Vec::new();
    let failed = wait_for(&engine, &mut seen, |e| {
        matches!(
            e,
            Event::State {
                state: JobState::Failed,
                ..
            }
        )
    });
    let Event::State {
        id,
        error: Some(error),
        ..
    } = failed
    else {
        panic!("{failed:?}");
    };
    assert!(
        error.message.contains("connection") && error.message.contains("secret"),
        "{error:?}"
    );
    // The key comes: no Retry needed.
    engine.send(Command::SetAccountCredentials {
        account: WORK.into(),
        credentials: Some(work_key()),
    });
    assert_eq!(verified(&engine, &mut seen, id), 4);
    assert_eq!(rig.work_object("b.txt"), b"work");
    engine.shutdown();
}
