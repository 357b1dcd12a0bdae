//! Bad input to the command line, as a careless user or a broken script gives it (issue 9): one
//! table row per invocation, with the exit status and a fragment of the message it must print.
//! Every row runs the real binary against the local OSS server in a folder of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{AK, BUCKET, SK, TestServer, data, write_file};

/// What a row's command printed and how it ended.
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

/// A row's folder: its files, its data folder, the server.
struct Place<'a> {
    server: &'a TestServer,
    dir: PathBuf,
}

impl Place<'_> {
    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        write_file(&self.dir.join("files"), name, content)
    }

    /// The binary with credentials and this row's data folder.
    fn bin(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_oss-uploader"));
        c.env("OSS_ACCESS_KEY_ID", AK)
            .env("OSS_ACCESS_KEY_SECRET", SK)
            .env("OSS_UPLOADER_DATA_DIR", self.data_dir())
            .env_remove("OSS_SESSION_TOKEN")
            .env_remove("OSS_ENDPOINT")
            .env_remove("RUST_LOG")
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        c
    }

    /// `upload PATH --bucket test-bucket --endpoint SERVER --region cn-hangzhou` and `extra`.
    fn upload(&self, path: &Path, extra: &[&str]) -> Command {
        let mut c = self.bin();
        c.arg("upload")
            .arg(path)
            .args(["--bucket", BUCKET, "--endpoint"])
            .arg(self.server.endpoint())
            .args(["--region", "cn-hangzhou"])
            .args(extra);
        c
    }

    /// A checkpoint file with this content under the data folder; returns its path.
    fn record(&self, id: &str, content: &str) -> PathBuf {
        write_file(
            &self.data_dir().join("checkpoints"),
            &format!("{id}.json"),
            content.as_bytes(),
        )
    }

    async fn object(&self, key: &str) -> Option<Vec<u8>> {
        let resp = self
            .server
            .client()
            .get_object(BUCKET, key, None)
            .await
            .ok()?;
        Some(resp.bytes().await.unwrap().to_vec())
    }
}

/// What a row must end with: the exit status and a fragment of stdout or stderr.
struct Want {
    code: i32,
    says: &'static str,
}

type Check =
    for<'a> fn(&'a Ran, &'a Place<'a>) -> futures_util::future::BoxFuture<'a, Result<(), String>>;

struct Row {
    name: &'static str,
    /// Builds the command (and whatever files it needs) in the row's place.
    command: fn(&Place<'_>) -> Command,
    want: Want,
    /// More that must hold afterwards (the record kept, the object as it should be…).
    also: Option<Check>,
}

/// A checkpoint envelope as the program writes it, with another format version.
const NEWER_RECORD: &str = r#"{"version": 99, "checksum": "0000", "checkpoint": {"upload_id": "from-the-future", "note": "a format this version does not know"}}"#;

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "a file that does not exist",
            command: |p| p.upload(&p.dir.join("nope.txt"), &[]),
            want: Want {
                code: 2,
                says: "nope.txt does not exist",
            },
            also: None,
        },
        Row {
            name: "a folder with --key",
            command: |p| {
                p.file("folder/a.txt", b"a");
                p.upload(&p.dir.join("files/folder"), &["--key", "k"])
            },
            want: Want {
                code: 2,
                says: "--key names one object, but",
            },
            also: None,
        },
        Row {
            name: "a FIFO given directly",
            command: |p| {
                let fifo = p.dir.join("pipe");
                let ok = Command::new("mkfifo").arg(&fifo).status().unwrap();
                assert!(ok.success());
                p.upload(&fifo, &[])
            },
            want: Want {
                code: 2,
                says: "is a named pipe (FIFO); only regular files can be uploaded",
            },
            also: None,
        },
        Row {
            name: "a character device given directly",
            command: |p| p.upload(Path::new("/dev/null"), &["--key", "null"]),
            want: Want {
                code: 2,
                says: "is a character device; only regular files can be uploaded",
            },
            also: None,
        },
        Row {
            name: "a folder holding a FIFO uploads the rest and lists what it skipped",
            command: |p| {
                p.file("mixed/a.txt", b"a");
                let ok = Command::new("mkfifo")
                    .arg(p.dir.join("files/mixed/pipe"))
                    .status()
                    .unwrap();
                assert!(ok.success());
                p.upload(&p.dir.join("files/mixed"), &["--prefix", "mixed"])
            },
            want: Want {
                code: 0,
                says: "skipped",
            },
            also: Some(|_, p| {
                Box::pin(async move {
                    match p.object("mixed/a.txt").await {
                        Some(o) if o == b"a" => Ok(()),
                        other => Err(format!("mixed/a.txt not uploaded: {other:?}")),
                    }
                })
            }),
        },
        Row {
            name: "a /proc file whose size reads 0 but has content",
            command: |p| p.upload(Path::new("/proc/self/status"), &["--key", "status"]),
            want: Want {
                code: 2,
                says: "/proc/self/status",
            },
            also: Some(|_, p| {
                Box::pin(async move {
                    match p.object("status").await {
                        None => Ok(()),
                        Some(o) => Err(format!("an object of {} bytes was stored", o.len())),
                    }
                })
            }),
        },
        Row {
            name: "an empty file is a valid, empty object",
            command: |p| p.upload(&p.file("empty.txt", b""), &[]),
            want: Want {
                code: 0,
                says: "verified",
            },
            also: Some(|_, p| {
                Box::pin(async move {
                    match p.object("empty.txt").await {
                        Some(o) if o.is_empty() => Ok(()),
                        other => Err(format!("empty.txt: {other:?}")),
                    }
                })
            }),
        },
        Row {
            name: "a key with a .. segment",
            command: |p| p.upload(&p.file("dots.txt", b"d"), &["--key", "a/../b.txt"]),
            want: Want {
                code: 2,
                says: "a/../b.txt",
            },
            also: None,
        },
        Row {
            name: "a key with a . segment",
            command: |p| p.upload(&p.file("dot.txt", b"d"), &["--key", "a/./b.txt"]),
            want: Want {
                code: 2,
                says: "a/./b.txt",
            },
            also: None,
        },
        Row {
            name: "a prefix with a .. segment",
            command: |p| p.upload(&p.file("pre.txt", b"p"), &["--prefix", "../up"]),
            want: Want {
                code: 2,
                says: "../up",
            },
            also: None,
        },
        Row {
            name: "a key with a newline keeps the output one line per file",
            command: |p| p.upload(&p.file("nl.txt", b"n"), &["--key", "first\nsecond.txt"]),
            want: Want {
                code: 0,
                says: "verified",
            },
            also: Some(|r, _| {
                Box::pin(async move {
                    let broken = r
                        .stdout
                        .lines()
                        .chain(r.stderr.lines())
                        .find(|l| l.starts_with("second.txt"));
                    match broken {
                        Some(l) => Err(format!("a line starts inside the key: {l:?}")),
                        None => Ok(()),
                    }
                })
            }),
        },
        Row {
            name: "a key longer than 1023 bytes",
            command: |p| {
                let key = "k".repeat(1024);
                p.upload(&p.file("long.txt", b"l"), &["--key", &key])
            },
            want: Want {
                code: 2,
                says: "1024",
            },
            also: None,
        },
        Row {
            name: "a key that starts with /",
            command: |p| p.upload(&p.file("slash.txt", b"s"), &["--key", "/abs.txt"]),
            want: Want {
                code: 2,
                says: "/abs.txt",
            },
            also: None,
        },
        Row {
            name: "a wrong AccessKey secret",
            command: |p| {
                let mut c = p.upload(&p.file("a.txt", b"a"), &[]);
                c.env("OSS_ACCESS_KEY_SECRET", "not-the-secret");
                c
            },
            want: Want {
                code: 1,
                says: "The AccessKey secret does not match the AccessKey ID",
            },
            also: None,
        },
        Row {
            name: "an unknown AccessKey ID",
            command: |p| {
                let mut c = p.upload(&p.file("a.txt", b"a"), &[]);
                c.env("OSS_ACCESS_KEY_ID", "nobody");
                c
            },
            want: Want {
                code: 1,
                says: "The AccessKey ID is not recognised",
            },
            also: None,
        },
        Row {
            name: "no credentials",
            command: |p| {
                let mut c = p.upload(&p.file("a.txt", b"a"), &[]);
                c.env_remove("OSS_ACCESS_KEY_SECRET");
                c
            },
            want: Want {
                code: 2,
                says: "no credentials: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET",
            },
            also: None,
        },
        Row {
            name: "a bucket that does not exist",
            command: |p| {
                let mut c = p.bin();
                c.arg("upload")
                    .arg(p.file("a.txt", b"a"))
                    .args(["--bucket", "no-such-bucket", "--endpoint"])
                    .arg(p.server.endpoint())
                    .args(["--region", "cn-hangzhou"]);
                c
            },
            want: Want {
                code: 1,
                says: "no-such-bucket",
            },
            also: None,
        },
        Row {
            name: "a bucket name OSS does not allow",
            command: |p| {
                let mut c = p.bin();
                c.arg("upload")
                    .arg(p.file("a.txt", b"a"))
                    .args(["--bucket", "Bad_Bucket", "--endpoint"])
                    .arg(p.server.endpoint())
                    .args(["--region", "cn-hangzhou"]);
                c
            },
            want: Want {
                code: 2,
                says: "Bad_Bucket",
            },
            also: None,
        },
        Row {
            name: "https to a port that speaks plain http",
            command: |p| {
                let mut c = p.bin();
                c.arg("upload")
                    .arg(p.file("a.txt", b"a"))
                    .args(["--bucket", BUCKET, "--endpoint"])
                    .arg(p.server.endpoint().replace("http://", "https://"))
                    .args(["--region", "cn-hangzhou"]);
                c
            },
            want: Want {
                code: 1,
                says: "does not speak HTTPS",
            },
            also: Some(|r, _| {
                Box::pin(async move {
                    if r.stderr.contains("date and time") {
                        Err("blames the clock".into())
                    } else {
                        Ok(())
                    }
                })
            }),
        },
        Row {
            name: "an endpoint that is not an address",
            command: |p| {
                let mut c = p.bin();
                c.arg("upload").arg(p.file("a.txt", b"a")).args([
                    "--bucket",
                    BUCKET,
                    "--endpoint",
                    "http://",
                    "--region",
                    "cn-hangzhou",
                ]);
                c
            },
            want: Want {
                code: 2,
                says: "endpoint",
            },
            also: None,
        },
        Row {
            name: "a part size below OSS's minimum",
            command: |p| p.upload(&p.file("a.txt", b"a"), &["--part-size", "50KiB"]),
            want: Want {
                code: 2,
                says: "--part-size must be between 100KiB and 5GiB",
            },
            also: None,
        },
        Row {
            name: "a part size that is not a size",
            command: |p| p.upload(&p.file("a.txt", b"a"), &["--part-size", "lots"]),
            want: Want {
                code: 2,
                says: "\"lots\" is not a size",
            },
            also: None,
        },
        Row {
            name: "a negative part size",
            command: |p| p.upload(&p.file("a.txt", b"a"), &["--part-size=-8MiB"]),
            want: Want {
                code: 2,
                says: "--part-size",
            },
            also: None,
        },
        Row {
            name: "a part size too large to count",
            command: |p| {
                p.upload(
                    &p.file("a.txt", b"a"),
                    &["--part-size", "99999999999999999999TiB"],
                )
            },
            want: Want {
                code: 2,
                says: "--part-size",
            },
            also: None,
        },
        Row {
            name: "zero threads",
            command: |p| p.upload(&p.file("a.txt", b"a"), &["--threads", "0"]),
            want: Want {
                code: 2,
                says: "--threads must be between 1 and 64",
            },
            also: None,
        },
        Row {
            name: "a metadata name with a space",
            command: |p| p.upload(&p.file("a.txt", b"a"), &["--meta", "my name=x"]),
            want: Want {
                code: 2,
                says: "cannot be a metadata name",
            },
            also: None,
        },
        Row {
            name: "a callback that is not JSON",
            command: |p| p.upload(&p.file("a.txt", b"a"), &["--callback", "{not json"]),
            want: Want {
                code: 2,
                says: "--callback is not valid JSON",
            },
            also: None,
        },
        Row {
            name: "a data folder that is a file",
            command: |p| {
                let file = p.file("not-a-folder", b"x");
                let mut c = p.upload(&p.file("a.txt", b"a"), &[]);
                c.env("OSS_UPLOADER_DATA_DIR", file);
                c
            },
            want: Want {
                code: 1,
                says: "not-a-folder",
            },
            also: None,
        },
        Row {
            name: "resume of an id nobody has",
            command: |p| {
                let mut c = p.bin();
                c.args(["resume", "abcdef"]);
                c
            },
            want: Want {
                code: 2,
                says: "there is no interrupted upload with id abcdef",
            },
            also: None,
        },
        Row {
            name: "resume of a damaged record",
            command: |p| {
                p.record("0123456789abcdef", "{\"version\":1,\"checksum\":\"00\",");
                let mut c = p.bin();
                c.args(["resume", "--all"]);
                c
            },
            want: Want {
                code: 1,
                says: "DAMAGED 0123456789abcdef: The resume record",
            },
            also: None,
        },
        Row {
            name: "resume of a record from a newer version keeps it",
            command: |p| {
                p.record("fedcba9876543210", NEWER_RECORD);
                let mut c = p.bin();
                c.args(["resume", "--all"]);
                c
            },
            want: Want {
                code: 1,
                says: "format 99",
            },
            also: Some(|r, p| {
                Box::pin(async move {
                    let kept = p
                        .data_dir()
                        .join("checkpoints/fedcba9876543210.json")
                        .exists();
                    if !kept {
                        return Err("the newer record was deleted".into());
                    }
                    if r.stderr.contains("removed") {
                        return Err("says it was removed".into());
                    }
                    Ok(())
                })
            }),
        },
        Row {
            name: "upload over a record from a newer version keeps it",
            command: |p| {
                let path = p.file("future.bin", &data(300_000, 7));
                // The record the newer version would have for exactly this upload.
                let id = oss_uploader::engine::checkpoint::CheckpointId::for_upload(
                    &p.server.endpoint(),
                    BUCKET,
                    "future.bin",
                    &path,
                );
                p.record(id.as_str(), NEWER_RECORD);
                std::fs::write(p.dir.join("id"), id.as_str()).unwrap();
                p.upload(&path, &["--part-size", "100KiB"])
            },
            want: Want {
                code: 1,
                says: "format 99",
            },
            also: Some(|_, p| {
                Box::pin(async move {
                    let id = std::fs::read_to_string(p.dir.join("id")).unwrap();
                    if p.data_dir().join(format!("checkpoints/{id}.json")).exists() {
                        Ok(())
                    } else {
                        Err("the newer record was deleted".into())
                    }
                })
            }),
        },
        Row {
            name: "a file name that is not UTF-8",
            command: |p| {
                use std::os::unix::ffi::OsStrExt as _;
                let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
                let path = p.dir.join(name);
                std::fs::write(&path, b"latin-1").unwrap();
                p.upload(&path, &[])
            },
            want: Want {
                code: 2,
                says: "not valid UTF-8",
            },
            also: None,
        },
    ]
}

/// Runs `cmd` with a bound: a command that hangs (a FIFO read forever) is a failure too.
async fn run(mut cmd: Command) -> Ran {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let waited = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()),
    )
    .await;
    match waited {
        Ok(out) => {
            let out = out.unwrap();
            Ran {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            Ran {
                code: None,
                stdout: String::new(),
                stderr: "(hung for 60 s and was killed)".into(),
            }
        }
    }
}

/// Runs the rows `which` picks; returns a line per row that did not do what it should.
async fn run_rows() -> Vec<String> {
    let server = TestServer::start().await;
    let root = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for (i, row) in rows().into_iter().enumerate() {
        let place = Place {
            server: &server,
            dir: root.path().join(format!("row{i}")),
        };
        std::fs::create_dir_all(&place.dir).unwrap();
        let ran = run((row.command)(&place)).await;
        let mut problems = Vec::new();
        if ran.code != Some(row.want.code) {
            problems.push(format!("exit {:?} instead of {}", ran.code, row.want.code));
        }
        if !ran.stdout.contains(row.want.says) && !ran.stderr.contains(row.want.says) {
            problems.push(format!("does not say {:?}", row.want.says));
        }
        if let Some(also) = row.also
            && let Err(e) = also(&ran, &place).await
        {
            problems.push(e);
        }
        if !problems.is_empty() {
            wrong.push(format!("{}: {}\n{ran:?}", row.name, problems.join("; ")));
        }
    }
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_right_exit_status_and_message() {
    let wrong = run_rows().await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}
