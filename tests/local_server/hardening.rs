//! The server against careless and hostile clients, over raw TCP where a polite HTTP client
//! would hide the problem: bodies that stop coming, headers that never end, more connections
//! than allowed, unsigned uploads of 200 MiB, callbacks that redirect, and where `serve` takes
//! its secret from.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::*;

const MIB: usize = 1024 * 1024;

/// Sends a request head (CRLFs added) and the first bytes of its body.
async fn raw_request(addr: SocketAddr, head: &[&str], body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut text = head.join("\r\n");
    text.push_str("\r\n\r\n");
    stream.write_all(text.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream
}

/// Everything the server sends until it closes the connection (a reset counts as closing),
/// or `None` when it does not close within [`common::WAIT`].
async fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(common::WAIT, async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

fn tmp_files(server: &LocalServer) -> usize {
    std::fs::read_dir(server.root().join("tmp"))
        .unwrap()
        .count()
}

#[tokio::test]
async fn a_body_that_stops_coming_is_answered_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(
        ServerConfig::new(dir.path())
            .with_bucket(BUCKET)
            .with_body_idle_timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let host = format!("Host: {}", server.addr());
    let put = format!("PUT /{BUCKET}/stalled HTTP/1.1");

    // 100 MiB announced, 1 KiB sent, then nothing.
    let mut s = raw_request(
        server.addr(),
        &[&put, &host, "Content-Length: 104857600"],
        &[7u8; 1024],
    )
    .await;
    let answer = read_until_closed(&mut s)
        .await
        .expect("the server waited for the rest of the body and never answered");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("<Code>RequestTimeout</Code>"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    Client::new(&server)
        .get("stalled")
        .await
        .expect_error(404, "NoSuchKey");
    assert_eq!(tmp_files(&server), 0);

    // 10 GB announced, a short body: refused at once by size, and closed without waiting.
    let mut s = raw_request(
        server.addr(),
        &[&put, &host, "Content-Length: 10000000000"],
        b"short",
    )
    .await;
    let answer = read_until_closed(&mut s)
        .await
        .expect("the server waited for a 10 GB body and never answered");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("<Code>EntityTooLarge</Code>"), "{answer}");

    // The same pause in a part: the upload stays usable.
    let c = Client::new(&server);
    let id = c.initiate("mp").await;
    let part = format!("PUT /{BUCKET}/mp?partNumber=1&uploadId={id} HTTP/1.1");
    let mut s = raw_request(
        server.addr(),
        &[&part, &host, "Content-Length: 1048576"],
        &[1u8; 100],
    )
    .await;
    let answer = read_until_closed(&mut s).await.expect("no answer");
    assert!(answer.contains("<Code>RequestTimeout</Code>"), "{answer}");
    c.upload_part("mp", &id, 1, vec![2u8; 10]).await.ok();
    server.shutdown().await;
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(
        ServerConfig::new(dir.path())
            .with_bucket(BUCKET)
            .with_header_timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let host = format!("Host: {}", server.addr());
    let mut half_open = Vec::new();
    for i in 0..200 {
        let mut s = TcpStream::connect(server.addr()).await.unwrap();
        // Half of them send part of a head, the others nothing at all.
        if i % 2 == 0 {
            let partial = format!("PUT /{BUCKET}/k HTTP/1.1\r\n{host}\r\n");
            s.write_all(partial.as_bytes()).await.unwrap();
        }
        half_open.push(s);
    }
    for s in &mut half_open {
        assert!(
            read_until_closed(s).await.is_some(),
            "a connection that never finished its headers stayed open"
        );
    }
    poll_until(|| server.open_connections() == 0).await;
    // The server still serves.
    Client::new(&server).put("after", b"x".to_vec()).await.ok();
    server.shutdown().await;
}

/// Waits (at most [`common::WAIT`]) until `done` holds.
async fn poll_until(done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < common::WAIT,
            "condition not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(
        ServerConfig::new(dir.path())
            .with_bucket(BUCKET)
            .with_max_connections(2),
    )
    .await
    .unwrap();
    let idle_a = TcpStream::connect(server.addr()).await.unwrap();
    let _idle_b = TcpStream::connect(server.addr()).await.unwrap();
    poll_until(|| server.open_connections() == 2).await;

    let c = Client::new(&server);
    let waiting = tokio::spawn(async move { c.get("nothing").await.status });
    // Not a timing assertion: with the limit in force this request is never served while both
    // connections are open, however long we look.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.stats().total_requests(), 0);
    assert!(!waiting.is_finished());

    drop(idle_a);
    assert_eq!(waiting.await.unwrap(), 404);
    server.shutdown().await;
}

#[tokio::test]
async fn a_refused_signature_is_answered_before_the_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(
        ServerConfig::new(dir.path())
            .with_bucket(BUCKET)
            .with_credentials(Credentials::new("ak", "right-secret")),
    )
    .await
    .unwrap();
    let wrong = Client::new(&server).signed(Credentials::new("ak", "wrong-secret"), Sig::V4);
    let signed = wrong
        .build("PUT", Some("big"), &[], &[])
        .build()
        .unwrap()
        .headers()
        .clone();
    let size = 200 * MIB;
    let target = format!("PUT /{BUCKET}/big HTTP/1.1");
    let host = format!("Host: {}", server.addr());
    let length = format!("Content-Length: {size}");
    let signed_lines: Vec<String> = signed
        .iter()
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
        .collect();

    for (case, extra) in [("unsigned", Vec::new()), ("wrongly signed", signed_lines)] {
        let before = server.stats().body_bytes(Op::PutObject);
        let mut head = vec![target.as_str(), host.as_str(), length.as_str()];
        head.extend(extra.iter().map(String::as_str));
        let stream = raw_request(server.addr(), &head, &[]).await;
        let (mut reader, mut writer) = stream.into_split();
        // The client keeps sending its 200 MiB, as a real one would.
        let sender = tokio::spawn(async move {
            let chunk = vec![0u8; MIB];
            for _ in 0..size / MIB {
                if writer.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        });
        let mut got = Vec::new();
        let read = tokio::time::timeout(common::WAIT, async {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        assert!(read.is_ok(), "{case}: the connection was not closed");
        let answer = String::from_utf8_lossy(&got);
        assert!(answer.starts_with("HTTP/1.1 403"), "{case}: {answer}");
        sender.await.unwrap();
        let read_bytes = server.stats().body_bytes(Op::PutObject) - before;
        assert!(
            read_bytes < (size / 4) as u64,
            "{case}: the server read {read_bytes} bytes of a refused 200 MiB body"
        );
    }
    assert_eq!(tmp_files(&server), 0);
    server.shutdown().await;
}

/// A loopback server that answers every request with a redirect to `to`.
async fn redirecting_server(to: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let to = to.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    let to = to.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(307)
                                .header("location", to)
                                .body(http_body_util::Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    url
}

#[tokio::test]
async fn upload_callbacks_do_not_follow_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = Client::new(&server);
    // The redirect stays on loopback here so the test can see whether it was followed; a real
    // one would lead anywhere.
    let (target, seen) = callback_server().await;
    let redirect = redirecting_server(target).await;
    let cb = b64(&format!(
        r#"{{"callbackUrl":"{redirect}","callbackBody":"object=${{object}}"}}"#
    ));
    let r = c
        .call(
            "PUT",
            Some("redir"),
            &[],
            &[("x-oss-callback", &cb)],
            b"abc".to_vec(),
        )
        .await;
    r.expect_error(203, "CallbackFailed");
    assert!(r.error().message.contains("307"), "{}", r.text());
    assert!(seen.lock().unwrap().is_empty(), "the redirect was followed");
    assert_eq!(&c.get("redir").await.body[..], b"abc");
    server.shutdown().await;
}

/// `serve` with its secret from a file or the environment (never on the command line).
#[test]
fn serve_binary_takes_the_secret_from_a_file_or_the_environment() {
    let bin = env!("CARGO_BIN_EXE_oss-uploader");
    let help = std::process::Command::new(bin)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in ["--access-key-secret-file", "OSS_SERVE_ACCESS_KEY_SECRET"] {
        assert!(
            help.contains(needle),
            "--help does not mention {needle}:\n{help}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "file-secret\n").unwrap();
    let from_file: &[&str] = &["--access-key-secret-file", secret_file.to_str().unwrap()];
    for (secret, args, env) in [
        ("file-secret", from_file, None),
        ("env-secret", &[][..], Some("env-secret")),
    ] {
        let root = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(bin);
        cmd.args([
            "serve",
            "--bucket",
            BUCKET,
            "--access-key-id",
            "ak",
            "--root",
        ])
        .arg(root.path())
        .args(args)
        .env_remove("OSS_SERVE_ACCESS_KEY_SECRET")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
        if let Some(value) = env {
            cmd.env("OSS_SERVE_ACCESS_KEY_SECRET", value);
        }
        let mut child = KillOnDrop(cmd.spawn().unwrap());
        let mut line = String::new();
        BufReader::new(child.0.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{line}"))
            .to_owned();
        let statuses = tokio::runtime::Runtime::new().unwrap().block_on(async {
            let client = |secret: &str| Client {
                http: http_builder().no_proxy().build().unwrap(),
                endpoint: endpoint.clone(),
                creds: Some(Credentials::new("ak", secret)),
                sig: Sig::V4,
                clock_offset: 0,
                form_query: false,
            };
            let right = client(secret)
                .call("PUT", Some("k"), &[], &[], b"v".to_vec())
                .await
                .status;
            let wrong = client("nope")
                .call("PUT", Some("k"), &[], &[], b"v".to_vec())
                .await
                .status;
            (right, wrong)
        });
        assert_eq!(statuses, (200, 403), "secret from {secret}");
        drop(child);
    }

    // A key id without a secret, or a secret given twice, is refused with a clear message.
    let root = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (&["--access-key-id", "ak"][..], "--access-key-secret-file"),
        (
            &[
                "--access-key-id",
                "ak",
                "--access-key-secret",
                "x",
                "--access-key-secret-file",
                secret_file.to_str().unwrap(),
            ][..],
            "twice",
        ),
    ] {
        let out = std::process::Command::new(bin)
            .args(["serve", "--root"])
            .arg(root.path())
            .args(args)
            .env_remove("OSS_SERVE_ACCESS_KEY_SECRET")
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{err}");
    }
}
