//! The real `oss-uploader` binary against the local OSS server over HTTP on 127.0.0.1: uploads
//! of files and folders, the failure lines and exit statuses a script relies on, `list`,
//! `resume`, `clean`, Ctrl-C, and SIGKILL at every stage of an upload followed by `resume`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use oss_uploader::local_server::{FaultAction, FaultRule, Op};
use oss_uploader::oss::client::{Body, Client, FileRange, ObjectOptions, Transfer};
use oss_uploader::oss::crc64;

mod common;
use common::{AK, BUCKET, SK, TestServer, data, object, records_in, wait_until, write_file};

const MIB: u64 = 1024 * 1024;

struct Rig {
    server: TestServer,
    work: tempfile::TempDir,
    data_dir: PathBuf,
}

impl Rig {
    async fn new() -> Rig {
        let server = TestServer::start().await;
        let work = tempfile::tempdir().unwrap();
        let data_dir = work.path().join("data");
        Rig {
            server,
            work,
            data_dir,
        }
    }

    /// The binary with credentials and the data folder in its environment, nothing else of ours.
    fn bin(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_oss-uploader"));
        c.env("OSS_ACCESS_KEY_ID", AK)
            .env("OSS_ACCESS_KEY_SECRET", SK)
            .env("OSS_UPLOADER_DATA_DIR", &self.data_dir)
            .env_remove("OSS_SESSION_TOKEN")
            .env_remove("OSS_ENDPOINT")
            .env_remove("RUST_LOG")
            .current_dir(self.work.path())
            .stdin(Stdio::null());
        c
    }

    /// `upload PATHS... --bucket --endpoint --region` plus `extra`.
    fn upload(&self, paths: &[&Path], extra: &[&str]) -> Command {
        let mut c = self.bin();
        c.arg("upload").args(paths).args([
            "--bucket",
            BUCKET,
            "--endpoint",
            &self.server.endpoint(),
            "--region",
            "cn-hangzhou",
        ]);
        c.args(extra);
        c
    }

    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        write_file(self.work.path(), name, data)
    }

    fn client(&self) -> Client {
        self.server.client()
    }

    async fn object(&self, key: &str) -> Vec<u8> {
        object(&self.client(), BUCKET, key).await
    }

    fn checkpoints(&self) -> Vec<PathBuf> {
        records_in(&self.data_dir)
    }
}

/// Runs a command to its end without blocking the server's runtime.
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn ran(cmd: Command) -> Ran {
    let out = run(cmd).await;
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_small_file_with_key_metadata_and_guessed_type() {
    let rig = Rig::new().await;
    let content = data(300_000, 1);
    let path = rig.file("notes.txt", &content);
    let r = ran(rig.upload(
        &[&path],
        &["--key", "docs/notes.txt", "--meta", "Author=alice"],
    ))
    .await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("OK "), "{r:?}");
    assert!(
        r.stdout.contains("oss://test-bucket/docs/notes.txt"),
        "{r:?}"
    );
    assert_eq!(rig.object("docs/notes.txt").await, content);
    let meta = rig
        .client()
        .head_object(BUCKET, "docs/notes.txt")
        .await
        .unwrap();
    assert_eq!(meta.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        meta.metadata.get("author").map(String::as_str),
        Some("alice")
    );
    assert_eq!(meta.crc64, Some(crc64::checksum(&content)));
    // Small files go in one request: no multipart upload, no checkpoint left.
    let stats = rig.server.stats();
    assert_eq!(stats.requests(Op::PutObject), 1);
    assert_eq!(stats.requests(Op::InitiateMultipartUpload), 0);
    assert!(rig.checkpoints().is_empty());

    // An explicit --content-type wins over the file name.
    let r = ran(rig.upload(&[&path], &["--content-type", "application/x-custom"])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let meta = rig.client().head_object(BUCKET, "notes.txt").await.unwrap();
    assert_eq!(meta.content_type.as_deref(), Some("application/x-custom"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_file_in_parts_of_the_given_size() {
    let rig = Rig::new().await;
    let content = data((MIB + 12_345) as usize, 2);
    let path = rig.file("big.bin", &content);
    let r = ran(rig.upload(&[&path], &["--part-size", "256KiB", "--threads", "2"])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("5 parts of 256 KiB"), "{r:?}");
    assert_eq!(rig.object("big.bin").await, content);
    let stats = rig.server.stats();
    assert_eq!(stats.requests(Op::UploadPart), 5);
    assert_eq!(stats.body_bytes(Op::UploadPart), content.len() as u64);
    assert_eq!(stats.requests(Op::CompleteMultipartUpload), 1);
    assert!(
        rig.checkpoints().is_empty(),
        "checkpoint left after success"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_signature_path_style_and_rate_limit() {
    let rig = Rig::new().await;
    let content = data((1536 * 1024) as usize, 13);
    let path = rig.file("old-gateway.bin", &content);
    let started = Instant::now();
    let r = ran(rig.upload(
        &[&path],
        &[
            "--signature",
            "v1",
            "--path-style",
            "--part-size",
            "512KiB",
            "--limit-rate",
            "1MiB",
        ],
    ))
    .await;
    let took = started.elapsed();
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(rig.object("old-gateway.bin").await, content);
    // 1.5 MiB at 1 MiB/s, less the first burst.
    assert!(took >= Duration::from_millis(1300), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_with_nested_files_keeps_relative_paths_under_the_prefix() {
    let rig = Rig::new().await;
    let files = [
        ("photos/a.jpg", data(1000, 3)),
        ("photos/2024/summer/b.png", data(200_000, 4)),
        ("photos/2024/c d.json", data(10, 5)),
        ("photos/empty.txt", Vec::new()),
    ];
    for (name, body) in &files {
        rig.file(name, body);
    }
    let dir = rig.work.path().join("photos");
    let r = ran(rig.upload(&[&dir], &["--prefix", "backup", "--jobs", "2"])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains("All 4 files uploaded and verified."),
        "{r:?}"
    );
    for (name, body) in &files {
        let key = format!("backup/{}", name.trim_start_matches("photos/"));
        assert_eq!(&rig.object(&key).await, body, "{key}");
    }
    let meta = rig
        .client()
        .head_object(BUCKET, "backup/2024/summer/b.png")
        .await
        .unwrap();
    assert_eq!(meta.content_type.as_deref(), Some("image/png"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_overwrite_fails_with_a_plain_line_and_status_1() {
    let rig = Rig::new().await;
    let path = rig.file("report.pdf", &data(5000, 6));
    let r = ran(rig.upload(&[&path], &["--no-overwrite"])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let other = rig.file("new/report.pdf", &data(6000, 7));
    let r = ran(rig.upload(&[&other], &["--no-overwrite"])).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("FAILED "))
        .unwrap_or_else(|| panic!("no FAILED line: {r:?}"));
    assert!(
        line.contains("new/report.pdf: A file with this name already exists")
            && line.starts_with("FAILED /"),
        "{line}"
    );
    assert!(line.contains("[FileAlreadyExists"), "{line}");
    assert!(line.contains("request id "), "{line}");
    assert_eq!(rig.object("report.pdf").await, data(5000, 6));

    // The same for a multipart upload: OSS refuses at Complete; the old object stays.
    let big = rig.file("large.bin", &data(400_000, 8));
    let r = ran(rig.upload(&[&big], &["--part-size", "100KiB"])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let big2 = rig.file("again/large.bin", &data(400_000, 9));
    let r = ran(rig.upload(&[&big2], &["--part-size", "100KiB", "--no-overwrite"])).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("[FileAlreadyExists"), "{r:?}");
    assert_eq!(rig.object("large.bin").await, data(400_000, 8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_and_missing_credentials() {
    let rig = Rig::new().await;
    let path = rig.file("a.txt", b"hello");
    let mut cmd = rig.upload(&[&path], &[]);
    cmd.env("OSS_ACCESS_KEY_SECRET", "not-the-secret");
    let r = ran(cmd).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr.contains(
            "a.txt: The AccessKey secret does not match the AccessKey ID. Check the secret"
        ),
        "{r:?}"
    );
    assert!(r.stderr.contains("[SignatureDoesNotMatch"), "{r:?}");
    // Credential errors are not retried.
    assert!(!r.stdout.contains("RETRY"), "{r:?}");

    for missing in ["OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET"] {
        let mut cmd = rig.upload(&[&path], &[]);
        cmd.env_remove(missing);
        let r = ran(cmd).await;
        assert_eq!(r.code, Some(2), "{r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
        assert!(
            r.stderr
                .contains("no credentials: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET"),
            "{r:?}"
        );
    }
    assert_eq!(rig.server.stats().requests(Op::PutObject), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_are_refused_before_anything_is_sent() {
    let rig = Rig::new().await;
    let a = rig.file("a.txt", b"a");
    let b = rig.file("b.txt", b"b");
    let cases: Vec<(Vec<&Path>, Vec<&str>, &str)> = vec![
        (
            vec![&a],
            vec!["--part-size", "50KiB"],
            "--part-size must be between 100KiB and 5GiB",
        ),
        (
            vec![&a],
            vec!["--part-size", "6GiB"],
            "--part-size must be between 100KiB and 5GiB",
        ),
        (
            vec![&a],
            vec!["--part-size", "big"],
            "\"big\" is not a size",
        ),
        (
            vec![&a],
            vec!["--threads", "0"],
            "--threads must be between 1 and 64",
        ),
        (
            vec![&a],
            vec!["--threads", "65"],
            "--threads must be between 1 and 64",
        ),
        (
            vec![&a],
            vec!["--jobs", "0"],
            "--jobs must be between 1 and 64",
        ),
        (vec![&a, &b], vec!["--key", "x"], "--key names one object"),
        (
            vec![&a],
            vec!["--limit-rate", "fast"],
            "\"fast\" is not a size",
        ),
        (vec![&a], vec!["--acl", "everyone"], "--acl must be"),
    ];
    for (paths, flags, message) in cases {
        let r = ran(rig.upload(&paths, &flags)).await;
        assert_eq!(r.code, Some(2), "{flags:?}: {r:?}");
        assert!(r.stderr.contains(message), "{flags:?}: {r:?}");
    }
    let missing = rig.work.path().join("nope.txt");
    let r = ran(rig.upload(&[&missing], &[])).await;
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("does not exist"), "{r:?}");

    let mut cmd = rig.bin();
    cmd.args(["upload", "a.txt", "--bucket", BUCKET]);
    let r = ran(cmd).await;
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stderr.contains("no endpoint given: pass --endpoint"),
        "{r:?}"
    );
    // OSS_ENDPOINT stands in for --endpoint.
    let mut cmd = rig.bin();
    cmd.args([
        "upload",
        "a.txt",
        "--bucket",
        BUCKET,
        "--region",
        "cn-hangzhou",
    ])
    .env("OSS_ENDPOINT", rig.server.endpoint());
    let r = ran(cmd).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(rig.server.stats().requests(Op::PutObject), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_resume_after_a_failure_and_damaged_records() {
    let rig = Rig::new().await;
    let content = data(450_000, 10);
    let path = rig.file("movie.mp4", &content);
    // Part 2 is refused for good: the job fails, its checkpoint stays for a later resume.
    rig.server.faults().add(FaultRule::new(
        Some(Op::UploadPart),
        2,
        FaultAction::error(403, "AccessDenied"),
    ));
    let r = ran(rig.upload(&[&path], &["--part-size", "100KiB", "--threads", "1"])).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr
            .contains("movie.mp4: This AccessKey is not allowed"),
        "{r:?}"
    );
    assert_eq!(rig.checkpoints().len(), 1);

    let mut cmd = rig.bin();
    cmd.arg("list");
    let r = ran(cmd).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let line = r.stdout.lines().next().unwrap();
    assert!(line.contains("movie.mp4"), "{line}");
    assert!(line.contains("oss://test-bucket/movie.mp4"), "{line}");
    assert!(line.contains("100 KiB of 439.5 KiB"), "{line}");
    assert!(line.contains("1/5 parts"), "{line}");
    assert!(line.contains("updated"), "{line}");
    let id = line.split_whitespace().next().unwrap().to_owned();
    assert_eq!(id.len(), 16);

    // A damaged record next to it.
    let damaged = rig
        .data_dir
        .join("checkpoints")
        .join("0123456789abcdef.json");
    std::fs::write(&damaged, b"{\"version\":1,\"checksum\":\"00\",").unwrap();
    let mut cmd = rig.bin();
    cmd.arg("list");
    let r = ran(cmd).await;
    assert!(r.stdout.contains("0123456789abcdef  DAMAGED"), "{r:?}");

    // Resume by the beginning of its id: sends parts 2 to 5 only.
    let before = rig.server.stats().body_bytes(Op::UploadPart);
    let mut cmd = rig.bin();
    cmd.args(["resume", &id[..6]]);
    let r = ran(cmd).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("continuing: 1 parts (100 KiB) already sent"),
        "{r:?}"
    );
    assert_eq!(
        rig.server.stats().body_bytes(Op::UploadPart) - before,
        content.len() as u64 - 100 * 1024
    );
    assert_eq!(rig.object("movie.mp4").await, content);

    // `resume --all` reports and removes the damaged record; the status says not everything went.
    let mut cmd = rig.bin();
    cmd.args(["resume", "--all"]);
    let r = ran(cmd).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr
            .contains("DAMAGED 0123456789abcdef: The resume record"),
        "{r:?}"
    );
    assert!(r.stderr.contains("it was removed"), "{r:?}");
    assert!(rig.checkpoints().is_empty());
    let mut cmd = rig.bin();
    cmd.arg("list");
    let r = ran(cmd).await;
    assert!(r.stdout.starts_with("No interrupted uploads in "), "{r:?}");
    let mut cmd = rig.bin();
    cmd.args(["resume", "--all"]);
    let r = ran(cmd).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.starts_with("Nothing to resume"), "{r:?}");
    let mut cmd = rig.bin();
    cmd.args(["resume", "ffff"]);
    let r = ran(cmd).await;
    assert_eq!(r.code, Some(2), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_says_how_to_resume_and_resume_finishes_it() {
    let rig = Rig::new().await;
    let content = data(500_000, 15);
    let path = rig.file("holiday.mkv", &content);
    // Part 2 is held for a second, and meanwhile someone aborts the upload on the server.
    rig.server.faults().add(FaultRule::new(
        Some(Op::UploadPart),
        2,
        FaultAction::Delay(Duration::from_secs(1)),
    ));
    let child = rig
        .upload(&[&path], &["--part-size", "100KiB", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server = &rig.server;
    wait_until("part 2", Duration::from_secs(20), || {
        server.stats().requests(Op::UploadPart) >= 2
    })
    .await;
    let c = rig.client();
    let uploads = c.list_multipart_uploads(BUCKET, "").await.unwrap();
    assert_eq!(uploads.len(), 1);
    c.abort_multipart_upload(BUCKET, &uploads[0].key, &uploads[0].upload_id)
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FAILED "), "{stderr}");
    assert!(
        stderr.contains("holiday.mkv: The server no longer knows this upload"),
        "{stderr}"
    );
    assert!(
        stderr.contains("what was sent is kept. To continue, run: oss-uploader resume --all"),
        "{stderr}"
    );
    assert_eq!(rig.checkpoints().len(), 1);

    let r = resume_all(&rig).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("NOTE "), "{r:?}");
    assert!(
        r.stdout.contains("starting again from the beginning"),
        "{r:?}"
    );
    assert_eq!(rig.object("holiday.mkv").await, content);
    assert!(rig.checkpoints().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_lists_then_aborts_leftover_uploads() {
    let rig = Rig::new().await;
    let c = rig.client();
    let part = rig.file("part.bin", &data(150_000, 11));
    for key in ["old/a.bin", "old/b.bin", "keep/c.bin"] {
        let id = c
            .initiate_multipart_upload(BUCKET, key, &ObjectOptions::default())
            .await
            .unwrap();
        c.upload_part(
            BUCKET,
            key,
            &id,
            1,
            Body::File(FileRange {
                path: part.clone(),
                offset: 0,
                len: 150_000,
            }),
            &Transfer::default(),
        )
        .await
        .unwrap();
    }
    // One more, left by an upload this computer can resume.
    rig.server.faults().add(FaultRule::new(
        Some(Op::UploadPart),
        2,
        FaultAction::error(403, "AccessDenied"),
    ));
    let mine = rig.file("d.bin", &data(250_000, 14));
    let r = ran(rig.upload(
        &[&mine],
        &[
            "--key",
            "old/d.bin",
            "--part-size",
            "100KiB",
            "--threads",
            "1",
        ],
    ))
    .await;
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(rig.checkpoints().len(), 1);
    let clean = |extra: &[&str]| {
        let mut cmd = rig.bin();
        cmd.args([
            "clean",
            "--bucket",
            BUCKET,
            "--prefix",
            "old/",
            "--endpoint",
            &rig.server.endpoint(),
            "--region",
            "cn-hangzhou",
        ])
        .args(extra);
        cmd
    };
    // Without --yes and without a terminal: only a list and how to abort.
    let r = ran(clean(&[])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("old/a.bin  upload "), "{r:?}");
    assert!(r.stdout.contains("146.5 KiB in 1 parts"), "{r:?}");
    assert!(r.stdout.contains("started "), "{r:?}");
    assert!(!r.stdout.contains("keep/c.bin"), "{r:?}");
    let marked = r
        .stdout
        .lines()
        .find(|l| l.starts_with("old/d.bin "))
        .unwrap();
    assert!(
        marked.contains("100 KiB in 1 parts  (this computer can resume it: "),
        "{marked}"
    );
    assert!(
        !r.stdout
            .lines()
            .find(|l| l.starts_with("old/a.bin "))
            .unwrap()
            .contains("resume")
    );
    assert!(
        r.stdout
            .contains("3 unfinished upload(s) in oss://test-bucket/old/, 393.0 KiB stored."),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("run the same command with --yes"),
        "{r:?}"
    );
    assert_eq!(c.list_multipart_uploads(BUCKET, "").await.unwrap().len(), 4);
    assert_eq!(rig.checkpoints().len(), 1);

    let r = ran(clean(&["--yes"])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout.matches("ABORTED ").count(), 3, "{r:?}");
    // The aborted upload's resume record went with it.
    assert!(rig.checkpoints().is_empty());
    let left = c.list_multipart_uploads(BUCKET, "").await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key, "keep/c.bin");

    let r = ran(clean(&["--yes"])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("No unfinished uploads in oss://test-bucket/old/."),
        "{r:?}"
    );
}

/// The bytes of a large test file: a random MiB repeated, each copy stamped with its index so
/// that no two parts are alike (a part sent in the wrong place would be caught).
fn write_large_file(path: &Path, mib: u64) -> u64 {
    let block = data(MIB as usize, 99);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut crc = crc64::Crc64::new();
    let mut b = block.clone();
    for i in 0..mib {
        b[..8].copy_from_slice(&i.to_le_bytes());
        f.write_all(&b).unwrap();
        crc.update(&b);
    }
    f.flush().unwrap();
    crc.value()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_keeps_the_checkpoint_and_says_how_to_resume() {
    let rig = Rig::new().await;
    let content = data(600_000, 12);
    let path = rig.file("video.mov", &content);
    rig.server
        .faults()
        .add(FaultRule::new(Some(Op::UploadPart), 3, FaultAction::Stall));
    let child = rig
        .upload(&[&path], &["--part-size", "100KiB", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server = &rig.server;
    wait_until("the stalled part", Duration::from_secs(20), || {
        server.stats().requests(Op::UploadPart) >= 3
    })
    .await;
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("To continue, run: oss-uploader resume --all"),
        "{stdout}"
    );
    assert_eq!(rig.checkpoints().len(), 1);

    let mut cmd = rig.bin();
    cmd.args(["resume", "--all"]);
    let r = ran(cmd).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(rig.object("video.mov").await, content);
}

/// Starts an upload of `path` to `key` as a child process, waits until `moment` says so, and
/// kills it with SIGKILL.
async fn kill_when(rig: &Rig, path: &Path, key: &str, moment: impl FnMut() -> bool) {
    let mut child = rig
        .upload(
            &[path],
            &["--key", key, "--part-size", "8MiB", "--threads", "3"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let waited = tokio::time::timeout(
        Duration::from_secs(60),
        wait_until(key, Duration::from_secs(60), moment),
    )
    .await;
    // SIGKILL on Unix: no handler runs, exactly like a crash or a power cut.
    child.kill().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(waited.is_ok(), "the moment to kill never came for {key}");
    assert!(
        !status.success(),
        "{key}: the upload ended before it was killed"
    );
}

async fn resume_all(rig: &Rig) -> Ran {
    let mut cmd = rig.bin();
    cmd.args(["resume", "--all"]);
    ran(cmd).await
}

async fn assert_stored(rig: &Rig, key: &str, size: u64, crc: u64) {
    let meta = rig.client().head_object(BUCKET, key).await.unwrap();
    assert_eq!(meta.content_length, size, "{key}");
    assert_eq!(meta.crc64, Some(crc), "{key}");
    assert!(
        rig.checkpoints().is_empty(),
        "{key}: checkpoint left behind"
    );
}

/// The crash test: SIGKILL at each stage of a 256 MiB upload, then `resume --all`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_every_stage_then_resume_gives_the_exact_object() {
    let rig = Rig::new().await;
    let size = 256 * MIB;
    let part = 8 * MIB;
    let threads = 3;
    let path = rig.work.path().join("large.bin");
    let crc = write_large_file(&path, size / MIB);
    let server = &rig.server;
    let bytes = || server.stats().body_bytes(Op::UploadPart);
    let calls = |op| server.stats().requests(op);

    // 1. While the upload is being started: no checkpoint yet, so nothing to resume; running
    //    the upload again does it all.
    server.faults().add(FaultRule::new(
        Some(Op::InitiateMultipartUpload),
        1,
        FaultAction::Delay(Duration::from_secs(30)),
    ));
    let initiated = calls(Op::InitiateMultipartUpload);
    kill_when(&rig, &path, "s1.bin", || {
        calls(Op::InitiateMultipartUpload) > initiated
    })
    .await;
    assert!(rig.checkpoints().is_empty());
    let r = resume_all(&rig).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("Nothing to resume"), "{r:?}");
    let r = ran(rig.upload(&[&path], &["--key", "s1.bin", "--part-size", "8MiB"])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_stored(&rig, "s1.bin", size, crc).await;

    // 2. Before the first part is stored: the checkpoint has no parts; resume sends them all.
    //    The held parts never read their bodies (a delay would, later, and count those bytes
    //    in a later stage).
    server
        .faults()
        .add(FaultRule::new(Some(Op::UploadPart), 1, FaultAction::Stall).times(threads));
    let parts_before = calls(Op::UploadPart);
    kill_when(&rig, &path, "s2.bin", || {
        calls(Op::UploadPart) >= parts_before + threads
    })
    .await;
    assert_eq!(rig.checkpoints().len(), 1);
    let sent = bytes();
    let r = resume_all(&rig).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(bytes() - sent <= size, "{r:?}");
    assert_stored(&rig, "s2.bin", size, crc).await;

    // 3. Midway, parts half-sent: what the checkpoint records is not sent again, so no more
    //    than the parts in flight at the kill travel twice.
    let start = bytes();
    kill_when(&rig, &path, "s3.bin", || bytes() - start >= 100 * MIB).await;
    let r = resume_all(&rig).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("continuing: "), "{r:?}");
    let total = bytes() - start;
    assert!(
        total <= size + threads * part,
        "sent {total} bytes for a {size}-byte file: {r:?}"
    );
    assert_stored(&rig, "s3.bin", size, crc).await;
    let stored = rig.object("s3.bin").await;
    assert!(
        stored == std::fs::read(&path).unwrap(),
        "s3.bin differs from the file"
    );
    drop(stored);

    // 4. After the last part, while Complete is pending: resume sends no part again.
    server.faults().add(FaultRule::new(
        Some(Op::CompleteMultipartUpload),
        1,
        FaultAction::Stall,
    ));
    let completes = calls(Op::CompleteMultipartUpload);
    let start = bytes();
    kill_when(&rig, &path, "s4.bin", || {
        calls(Op::CompleteMultipartUpload) > completes
    })
    .await;
    assert_eq!(bytes() - start, size);
    let r = resume_all(&rig).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        bytes() - start,
        size,
        "parts sent again after a complete upload"
    );
    assert_stored(&rig, "s4.bin", size, crc).await;

    // 5. After Complete took effect but before the checkpoint was deleted: the answer is lost
    //    (the server completes, then drops the connection) and the retry is held until the
    //    kill. Resume finds the upload gone and the object whole, and sends nothing.
    server.faults().add(FaultRule::new(
        Some(Op::CompleteMultipartUpload),
        1,
        FaultAction::ResetBeforeResponse,
    ));
    server.faults().add(FaultRule::new(
        Some(Op::CompleteMultipartUpload),
        2,
        FaultAction::Stall,
    ));
    let completes = calls(Op::CompleteMultipartUpload);
    let start = bytes();
    kill_when(&rig, &path, "s5.bin", || {
        calls(Op::CompleteMultipartUpload) >= completes + 2
    })
    .await;
    assert_eq!(rig.checkpoints().len(), 1);
    let r = resume_all(&rig).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(bytes() - start, size, "parts sent again after Complete");
    assert_stored(&rig, "s5.bin", size, crc).await;

    // Every multipart upload ended (completed) except the one whose start was cut off in
    // stage 1, which `clean` is for.
    let left = rig
        .client()
        .list_multipart_uploads(BUCKET, "s")
        .await
        .unwrap();
    assert!(left.iter().all(|u| u.key == "s1.bin"), "{left:?}");
}

/// Makes a named pipe at `path` (nothing writes to it: reading it would wait forever).
#[cfg(unix)]
fn fifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success());
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_regular_file_is_refused_or_listed_never_stored_empty() {
    let rig = Rig::new().await;
    // A system file that says it is empty and is not.
    let r = ran(rig.upload(&[Path::new("/proc/cpuinfo")], &["--key", "cpuinfo"])).await;
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stderr.contains("says it is empty but has content"),
        "{r:?}"
    );
    assert!(!r.stdout.contains("OK "), "{r:?}");
    assert!(rig.client().head_object(BUCKET, "cpuinfo").await.is_err());

    // A pipe given by name: refused before anything is sent.
    let pipe = rig.work.path().join("pipe");
    fifo(&pipe);
    let r = ran(rig.upload(&[&pipe], &[])).await;
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("named pipe"), "{r:?}");

    // A pipe inside a folder: left out and listed; the rest is uploaded.
    let dir = rig.work.path().join("box");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("real.txt"), b"real").unwrap();
    fifo(&dir.join("queue"));
    let r = ran(rig.upload(&[&dir], &["--prefix", "box"])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("SKIP ") && l.contains("queue") && l.contains("named pipe")),
        "{r:?}"
    );
    assert!(r.stdout.contains("1 skipped: not regular files"), "{r:?}");
    assert_eq!(rig.object("box/real.txt").await, b"real");
    assert!(rig.client().head_object(BUCKET, "box/queue").await.is_err());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_with_a_newline_stays_on_one_line_of_output() {
    let rig = Rig::new().await;
    let dir = rig.work.path().join("odd");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("two\nlines.txt"), b"x").unwrap();
    std::fs::write(dir.join("plain.txt"), b"y").unwrap();
    let r = ran(rig.upload(&[&dir], &[])).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    // Every line is one whole record a script can read.
    for line in r.stdout.lines() {
        assert!(
            ["START ", "OK ", "All "]
                .iter()
                .any(|tag| line.starts_with(tag)),
            "a broken line {line:?} in {r:?}"
        );
    }
    assert!(r.stdout.contains("two\\nlines.txt"), "{r:?}");
    assert_eq!(rig.object("two\nlines.txt").await, b"x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_cancels_the_upload_of_a_damaged_record_before_removing_it() {
    let rig = Rig::new().await;
    let path = rig.file("broken.bin", &data(450_000, 14));
    rig.server.faults().add(FaultRule::new(
        Some(Op::UploadPart),
        2,
        FaultAction::error(403, "AccessDenied"),
    ));
    let r = ran(rig.upload(&[&path], &["--part-size", "100KiB", "--threads", "1"])).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    let records = rig.checkpoints();
    assert_eq!(records.len(), 1);
    // A damaged record: its checksum no longer matches.
    let text = std::fs::read_to_string(&records[0]).unwrap();
    let at = text.find("\"checksum\": \"").unwrap() + "\"checksum\": \"".len();
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&records[0], bytes).unwrap();
    assert_eq!(
        rig.client()
            .list_multipart_uploads(BUCKET, "")
            .await
            .unwrap()
            .len(),
        1
    );

    let mut cmd = rig.bin();
    cmd.args(["resume", "--all"]);
    let r = ran(cmd).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("DAMAGED "), "{r:?}");
    assert!(r.stderr.contains("cancelled on the server"), "{r:?}");
    assert!(rig.checkpoints().is_empty());
    assert!(
        rig.client()
            .list_multipart_uploads(BUCKET, "")
            .await
            .unwrap()
            .is_empty(),
        "the damaged record's upload was cancelled, not orphaned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_killed_while_it_was_being_started_leaves_nothing_behind() {
    let rig = Rig::new().await;
    let path = rig.file("early.bin", &data(450_000, 15));
    rig.server.faults().add(FaultRule::new(
        Some(Op::InitiateMultipartUpload),
        1,
        FaultAction::StallAfterHandling,
    ));
    let mut child = rig
        .upload(&[&path], &["--key", "early.bin", "--part-size", "100KiB"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The server starts the upload; its answer never reaches the client, which is then killed.
    let client = rig.client();
    let mut open = Vec::new();
    for _ in 0..1000 {
        open = client.list_multipart_uploads(BUCKET, "").await.unwrap();
        if !open.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(!status.success());
    assert_eq!(open.len(), 1, "the killed run left an upload on the server");
    assert!(rig.checkpoints().is_empty(), "it was never recorded");

    let mut cmd = rig.bin();
    cmd.arg("list");
    let r = ran(cmd).await;
    assert!(r.stdout.contains("NOT RECORDED"), "{r:?}");
    let mut cmd = rig.bin();
    cmd.args(["resume", "--all"]);
    let r = ran(cmd).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("1 unfinished upload(s) of it were cancelled"),
        "{r:?}"
    );
    assert!(
        client
            .list_multipart_uploads(BUCKET, "")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        common::checkpoint_files(&rig.data_dir),
        Vec::<PathBuf>::new(),
        "nothing left in the data folder"
    );
}

/// Starts an upload of `path` to `key` in 100 KiB parts that stops for good at part 3 (refused),
/// leaving its record and its server upload for the next run.
async fn interrupted(rig: &Rig, path: &Path, key: &str, flags: &[&str]) {
    rig.server.faults().add(FaultRule::new(
        Some(Op::UploadPart),
        3,
        FaultAction::error(403, "AccessDenied"),
    ));
    let mut all = vec!["--key", key, "--part-size", "100KiB", "--threads", "1"];
    all.extend_from_slice(flags);
    let r = ran(rig.upload(&[path], &all)).await;
    rig.server.faults().clear();
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(rig.checkpoints().len(), 1, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_resuming_command_asks_for_wins() {
    let rig = Rig::new().await;
    let content = data(500_000, 16);
    let path = rig.file("opts.bin", &content);
    let open = || async {
        rig.client()
            .list_multipart_uploads(BUCKET, "")
            .await
            .unwrap()
            .len()
    };
    let flags = |extra: &[&'static str]| {
        let mut f = vec![
            "--key",
            "opts.bin",
            "--part-size",
            "100KiB",
            "--threads",
            "1",
        ];
        f.extend_from_slice(extra);
        f
    };

    // An option sent with Complete (the ACL): the earlier upload goes on and takes it.
    interrupted(
        &rig,
        &path,
        "opts.bin",
        &["--acl", "public-read", "--meta", "k=v1"],
    )
    .await;
    let r = ran(rig.upload(&[&path], &flags(&["--acl", "private", "--meta", "k=v1"]))).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("continuing: 2 parts"), "{r:?}");
    assert!(r.stdout.contains("applies when it is completed"), "{r:?}");
    let meta = rig.client().head_object(BUCKET, "opts.bin").await.unwrap();
    assert_eq!(meta.acl.as_deref(), Some("private"));
    assert_eq!(open().await, 0);

    // An option fixed at the start (metadata): the earlier upload is cancelled, the file sent again.
    interrupted(&rig, &path, "opts.bin", &["--meta", "k=v1"]).await;
    let r = ran(rig.upload(&[&path], &flags(&["--meta", "k=v2"]))).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("it was cancelled and the file is sent again"),
        "{r:?}"
    );
    let meta = rig.client().head_object(BUCKET, "opts.bin").await.unwrap();
    assert_eq!(meta.metadata.get("k").map(String::as_str), Some("v2"));
    assert_eq!(open().await, 0, "the earlier upload was aborted");

    // Another part size: the parts already sent are kept, and the user is told.
    interrupted(&rig, &path, "opts.bin", &[]).await;
    let mut f = flags(&[]);
    f[3] = "200KiB";
    let r = ran(rig.upload(&[&path], &f)).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("with its parts of 100 KiB"), "{r:?}");
    assert_eq!(rig.object("opts.bin").await, content);

    // --no-overwrite on a resumed upload: the object someone stored meanwhile is not replaced,
    // and the parts sent are not left on the server.
    let taken = rig.file("taken.bin", &data(500_000, 17));
    interrupted(&rig, &taken, "taken.bin", &[]).await;
    let theirs = data(1000, 18);
    rig.client()
        .put_object(
            BUCKET,
            "taken.bin",
            Body::Bytes(theirs.clone().into()),
            &ObjectOptions::default(),
            &Transfer::default(),
        )
        .await
        .unwrap();
    let mut f = flags(&["--no-overwrite"]);
    f[1] = "taken.bin";
    let r = ran(rig.upload(&[&taken], &f)).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("[FileAlreadyExists"), "{r:?}");
    assert_eq!(rig.object("taken.bin").await, theirs);
    assert_eq!(open().await, 0, "no parts left on the server");
    assert!(rig.checkpoints().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_service_is_reported_once_and_retried_for_the_time_given() {
    let rig = Rig::new().await;
    let path = rig.file("far.bin", &data(300_000, 19));
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cmd = rig.bin();
    cmd.arg("upload").arg(&path).args([
        "--bucket",
        BUCKET,
        "--endpoint",
        &format!("http://{addr}"),
        "--region",
        "cn-hangzhou",
        "--part-size",
        "100KiB",
        "--retry-for",
        "3s",
    ]);
    let r = ran(cmd).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    let waiting = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("WAITING"))
        .count();
    assert_eq!(waiting, 1, "{r:?}");
    assert!(r.stdout.contains("up to 3 s"), "{r:?}");
    assert!(
        !r.stdout.contains("RETRY"),
        "one line, not one per attempt: {r:?}"
    );
    assert!(r.stderr.contains("FAILED "), "{r:?}");
    assert!(
        r.stderr
            .contains("To continue, run: oss-uploader resume --all"),
        "{r:?}"
    );
}
