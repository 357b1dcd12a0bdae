//! Both faces run uploads through the one engine: the same scenario (a name already taken and
//! skipped; an upload paused mid-way, by Ctrl-C on the command line or Pause in the window, then
//! resumed) driven from the real `oss-uploader` binary and from the engine handle the window
//! holds, with the same end state checked on the server: the right bytes, the taken name left
//! alone, no unfinished upload left behind and no checkpoint left over.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oss_uploader::engine::{
    Command as EngineCommand, EngineConfig, EngineHandle, EngineSettings, Event, ExistingPolicy,
    JobId, JobOutcome, JobState,
};
use oss_uploader::local_server::{FaultAction, FaultRule, Op};

mod common;
use common::{
    AK, BUCKET, SK, TestServer, WAIT, checkpoint_files, credentials, data, next_event, object,
    records_in, write_file,
};

/// What both faces start from: a server where `taken.txt` already holds other bytes, and two
/// files to upload, one of them large enough to be paused in the middle.
struct Scenario {
    rt: tokio::runtime::Runtime,
    server: TestServer,
    work: tempfile::TempDir,
    data_dir: PathBuf,
    taken: PathBuf,
    big: PathBuf,
    big_content: Vec<u8>,
}

const TAKEN_BEFORE: &[u8] = b"what was there first";

impl Scenario {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(TestServer::start());
        let client = server.client();
        rt.block_on(async {
            client
                .put_object(
                    BUCKET,
                    "taken.txt",
                    oss_uploader::oss::client::Body::Bytes(TAKEN_BEFORE.to_vec().into()),
                    &Default::default(),
                    &Default::default(),
                )
                .await
                .unwrap();
        });
        let work = tempfile::tempdir().unwrap();
        let data_dir = work.path().join("data");
        let taken = write_file(work.path(), "taken.txt", b"a new version nobody asked for");
        let big_content = data(1_200_000, 77);
        let big = write_file(work.path(), "big.bin", &big_content);
        // Part 4 of the big file waits until the test pauses it.
        server
            .faults()
            .add(FaultRule::new(Some(Op::UploadPart), 4, FaultAction::Stall));
        Self {
            rt,
            server,
            work,
            data_dir,
            taken,
            big,
            big_content,
        }
    }

    fn parts_sent(&self) -> u64 {
        self.server.stats().requests(Op::UploadPart)
    }

    fn wait_for_the_stall(&self) {
        let start = Instant::now();
        while self.parts_sent() < 4 {
            assert!(start.elapsed() < WAIT, "the upload never reached part 4");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn checkpoints(&self) -> usize {
        records_in(&self.data_dir).len()
    }

    /// The end state both faces must reach.
    fn assert_finished_well(&self) {
        let client = self.server.client();
        self.rt.block_on(async {
            assert_eq!(object(&client, BUCKET, "taken.txt").await, TAKEN_BEFORE);
            assert_eq!(object(&client, BUCKET, "big.bin").await, self.big_content);
            let open = client.list_multipart_uploads(BUCKET, "").await.unwrap();
            assert!(open.is_empty(), "unfinished uploads left: {open:?}");
        });
        assert_eq!(
            checkpoint_files(&self.data_dir),
            Vec::<PathBuf>::new(),
            "a record, intent, lock or temporary file was left over"
        );
    }
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[cfg(unix)]
#[test]
fn the_command_line_skips_a_taken_name_stops_on_ctrl_c_and_resumes() {
    let s = Scenario::new();
    let bin = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_oss-uploader"));
        c.env("OSS_ACCESS_KEY_ID", AK)
            .env("OSS_ACCESS_KEY_SECRET", SK)
            .env("OSS_UPLOADER_DATA_DIR", &s.data_dir)
            .env_remove("OSS_SESSION_TOKEN")
            .env_remove("OSS_ENDPOINT")
            .env_remove("RUST_LOG")
            .current_dir(s.work.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .args(args);
        c
    };
    let endpoint = s.server.endpoint();
    let upload = |files: &[&Path]| {
        let mut args = vec!["upload".to_owned()];
        args.extend(files.iter().map(|p| p.display().to_string()));
        args.extend(
            [
                "--bucket",
                BUCKET,
                "--endpoint",
                &endpoint,
                "--region",
                "cn-hangzhou",
                "--part-size",
                "100KiB",
                "--threads",
                "1",
                "--jobs",
                "1",
                "--if-exists",
                "skip",
            ]
            .map(str::to_owned),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        bin(&args)
    };

    // The taken name first, then the big file, one at a time.
    let child = upload(&[&s.taken, &s.big]).spawn().unwrap();
    s.wait_for_the_stall();
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{stdout}{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("SKIP "), "{stdout}");
    assert!(stdout.contains("STOPPED "), "{stdout}");
    assert_eq!(s.checkpoints(), 1, "the paused upload keeps its checkpoint");

    s.server.faults().clear();
    let out = bin(&["resume", "--all"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    s.assert_finished_well();
}

fn added(engine: &EngineHandle) -> JobId {
    match next_event(engine, &mut Vec::new(), |e| matches!(e, Event::Added(_))) {
        Event::Added(info) => info.id,
        _ => unreachable!(),
    }
}

fn finished(engine: &EngineHandle, id: JobId) -> JobOutcome {
    match next_event(
        engine,
        &mut Vec::new(),
        |e| matches!(e, Event::Finished { id: i, .. } if *i == id),
    ) {
        Event::Finished { outcome, .. } => outcome,
        _ => unreachable!(),
    }
}

#[test]
fn the_windows_engine_skips_a_taken_name_pauses_and_resumes() {
    let s = Scenario::new();
    let engine = oss_uploader::engine::spawn(
        EngineConfig {
            data_dir: s.data_dir.clone(),
            credentials: Some(credentials()),
            settings: EngineSettings {
                jobs: Some(1),
                threads: Some(1),
                existing: ExistingPolicy::Skip,
                ..Default::default()
            },
            persist_queue: true,
            resume_when_online: true,
        },
        Arc::new(|| {}),
    )
    .unwrap();
    let spec = |path: &Path, key: &str| {
        let mut spec = s.server.spec(path, key);
        spec.threads = 1;
        spec
    };
    engine.send(EngineCommand::Add(vec![
        spec(&s.taken, "taken.txt"),
        spec(&s.big, "big.bin"),
    ]));
    let taken = added(&engine);
    let big = added(&engine);
    assert_eq!(finished(&engine, taken), JobOutcome::Skipped);
    s.wait_for_the_stall();
    // What Ctrl-C is on the command line: pause everything.
    engine.send(EngineCommand::PauseAll);
    next_event(
        &engine,
        &mut Vec::new(),
        |e| matches!(e, Event::State { id, state: JobState::Paused, .. } if *id == big),
    );
    assert_eq!(finished(&engine, big), JobOutcome::Paused);
    assert_eq!(s.checkpoints(), 1, "the paused upload keeps its checkpoint");

    s.server.faults().clear();
    engine.send(EngineCommand::ResumeAll);
    assert!(
        matches!(finished(&engine, big), JobOutcome::Verified { .. }),
        "the resumed upload ends verified"
    );
    engine.shutdown();
    s.assert_finished_well();
}
