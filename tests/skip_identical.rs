//! `--if-exists skip-identical` and race-free skip and keep-both, with the real binary against
//! the local server over HTTP on 127.0.0.1: sending a folder again uploads only new and changed
//! files, unchanged files are not read again (their CRC-64 comes from the data folder's cache),
//! and an object that appears between the check and the upload is never replaced
//! (`x-oss-forbid-overwrite`): skip skips, keep-both takes the next free name.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use oss_uploader::local_server::{FaultAction, FaultRule, Op};
use oss_uploader::oss::client::{Body, Client, ObjectOptions, Transfer};

mod common;
use common::{AK, BUCKET, REGION, SK, TestServer, data, object, write_file};

struct Rig {
    server: TestServer,
    work: tempfile::TempDir,
}

impl Rig {
    async fn new() -> Rig {
        Rig {
            server: TestServer::start().await,
            work: tempfile::tempdir().unwrap(),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.work.path().join("data")
    }

    fn upload(&self, path: &Path, extra: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_oss-uploader"));
        c.env("OSS_ACCESS_KEY_ID", AK)
            .env("OSS_ACCESS_KEY_SECRET", SK)
            .env("OSS_UPLOADER_DATA_DIR", self.data_dir())
            .env_remove("OSS_SESSION_TOKEN")
            .env_remove("OSS_ENDPOINT")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .arg("upload")
            .arg(path)
            .args(["--bucket", BUCKET, "--endpoint", &self.server.endpoint()])
            .args(["--region", REGION, "--part-size", "100KiB"])
            .args(extra);
        c
    }

    fn client(&self) -> Client {
        self.server.client()
    }

    fn puts(&self) -> u64 {
        let s = self.server.stats();
        s.requests(Op::PutObject) + s.requests(Op::InitiateMultipartUpload)
    }
}

/// Runs the binary off the runtime; stdout and stderr together, and the exit code.
async fn run(mut c: Command) -> (String, i32) {
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, out.status.code().unwrap_or(-1))
}

#[tokio::test]
async fn a_folder_sent_again_uploads_only_new_and_changed_files() {
    let rig = Rig::new().await;
    let dir = rig.work.path().join("photos");
    std::fs::create_dir_all(&dir).unwrap();
    write_file(&dir, "a.jpg", &data(5_000, 1));
    write_file(&dir, "b.jpg", &data(5_000, 2));
    // Multipart: the whole object's CRC is the combination of its parts'.
    write_file(&dir, "big.bin", &data(350_000, 3));
    let skip = ["--prefix", "p", "--if-exists", "skip-identical"];
    let (out, code) = run(rig.upload(&dir, &skip)).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(rig.puts(), 3);

    // Nothing changed: nothing sent.
    let (out, code) = run(rig.upload(&dir, &skip)).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(rig.puts(), 3, "{out}");
    assert_eq!(out.matches("SKIP").count(), 3, "{out}");

    // Same size, other bytes; and a new file: those two go.
    write_file(&dir, "b.jpg", &data(5_000, 22));
    write_file(&dir, "c.jpg", &data(10, 4));
    let (out, code) = run(rig.upload(&dir, &skip)).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(rig.puts(), 5, "{out}");
    assert_eq!(
        object(&rig.client(), BUCKET, "p/b.jpg").await,
        data(5_000, 22)
    );
    assert_eq!(object(&rig.client(), BUCKET, "p/c.jpg").await, data(10, 4));

    // An unchanged file's CRC comes from the cache, not from reading it again: a cache line
    // that lies about a.jpg makes it look changed, so it is sent.
    let cache = rig.data_dir().join("crc64-cache.jsonl");
    let text = std::fs::read_to_string(&cache).unwrap();
    let a_path = dir.join("a.jpg");
    let a_line = text
        .lines()
        .rfind(|l| l.contains(&*a_path.to_string_lossy()))
        .unwrap_or_else(|| panic!("a.jpg is not in the cache:\n{text}"));
    let mut lie: serde_json::Value = serde_json::from_str(a_line).unwrap();
    lie["crc64"] = serde_json::json!(1);
    std::fs::write(&cache, format!("{text}{lie}\n")).unwrap();
    let (out, code) = run(rig.upload(&dir, &skip)).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(rig.puts(), 6, "{out}");
    assert_eq!(out.matches("SKIP").count(), 3, "{out}");
}

async fn put(client: &Client, key: &str, body: &[u8]) {
    client
        .put_object(
            BUCKET,
            key,
            Body::Bytes(body.to_vec().into()),
            &ObjectOptions::default(),
            &Transfer::default(),
        )
        .await
        .unwrap();
}

/// The `nth` HeadObject from now answers that the object is not there, as OSS does.
fn missing_on_head(nth: u64) -> FaultRule {
    FaultRule::new(
        Some(Op::HeadObject),
        nth,
        FaultAction::Error {
            status: 404,
            code: "NoSuchKey".into(),
            message: "The specified key does not exist.".into(),
        },
    )
}

/// Another writer stores the object after the CLI found the name free and before its upload
/// ends. Played without timing: the object is there from the start, and the server answers
/// the CLI's first HeadObject with NoSuchKey, as it would have a moment earlier.
async fn race(policy: &str) -> (Rig, String, i32) {
    let rig = Rig::new().await;
    let file = write_file(rig.work.path(), "report.pdf", b"mine");
    put(&rig.client(), "report.pdf", b"theirs").await;
    rig.server.faults().add(missing_on_head(1));
    let (out, code) = run(rig.upload(&file, &["--if-exists", policy])).await;
    (rig, out, code)
}

#[tokio::test]
async fn skip_never_replaces_an_object_that_appears_meanwhile() {
    let (rig, out, code) = race("skip").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SKIP"), "{out}");
    assert_eq!(object(&rig.client(), BUCKET, "report.pdf").await, b"theirs");
}

#[tokio::test]
async fn keep_both_takes_the_next_name_when_its_own_is_taken_meanwhile() {
    let (rig, out, code) = race("keep-both").await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(object(&rig.client(), BUCKET, "report.pdf").await, b"theirs");
    assert_eq!(
        object(&rig.client(), BUCKET, "report (1).pdf").await,
        b"mine"
    );
}

#[tokio::test]
async fn keep_both_chooses_again_from_the_files_own_name() {
    let rig = Rig::new().await;
    let file = write_file(rig.work.path(), "report.pdf", b"mine");
    put(&rig.client(), "report.pdf", b"first").await;
    put(&rig.client(), "report (1).pdf", b"second").await;
    // The numbered name looks free at first (the second HeadObject), then is found taken.
    rig.server.faults().add(missing_on_head(2));
    let (out, code) = run(rig.upload(&file, &["--if-exists", "keep-both"])).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        object(&rig.client(), BUCKET, "report (1).pdf").await,
        b"second"
    );
    assert_eq!(
        object(&rig.client(), BUCKET, "report (2).pdf").await,
        b"mine"
    );
}
