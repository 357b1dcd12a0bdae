//! The server's network shaping measured from a client: the round trip it adds and the
//! throughput one connection, and two sharing a link, get. These are the only tests here that
//! measure time, because time is what shaping promises; each measures over a second or more, or
//! takes the best of several round trips, so a loaded machine does not make them fail, and
//! allows 10 %.

use super::*;

const LATENCY: Duration = Duration::from_millis(100);
/// 16 Mbit/s: 2,000,000 bytes a second.
const RATE: &str = "16Mbit";
const RATE_BYTES_PER_SEC: f64 = 2_000_000.0;
/// 1.5 s at RATE.
const BODY: usize = 3_000_000;

async fn shaped(dir: &tempfile::TempDir, shaping: Shaping) -> LocalServer {
    LocalServer::start(
        ServerConfig::new(dir.path())
            .with_bucket(BUCKET)
            .with_shaping(shaping),
    )
    .await
    .unwrap()
}

fn within_10_percent(measured: Duration, expected: Duration, what: &str) {
    let (m, e) = (measured.as_secs_f64(), expected.as_secs_f64());
    eprintln!("{what}: measured {measured:?}, expected {expected:?}");
    assert!(
        (m - e).abs() <= e * 0.1,
        "{what}: measured {measured:?}, expected {expected:?} ± 10 %"
    );
}

/// The best of `n` HEAD round trips on one kept-alive connection (after one to open it).
async fn best_round_trip(c: &Client, n: usize) -> Duration {
    c.call("HEAD", Some("nothing"), &[], &[], Vec::new()).await;
    let mut best = Duration::MAX;
    for _ in 0..n {
        let t = Instant::now();
        let r = c.call("HEAD", Some("nothing"), &[], &[], Vec::new()).await;
        assert_eq!(r.status, 404);
        best = best.min(t.elapsed());
    }
    best
}

#[tokio::test]
async fn latency_adds_two_one_way_delays_to_each_round_trip() {
    let (plain_dir, shaped_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain = start(&plain_dir).await;
    let server = shaped(
        &shaped_dir,
        Shaping {
            latency: LATENCY,
            ..Shaping::default()
        },
    )
    .await;
    let base = best_round_trip(&Client::new(&plain), 5).await;
    let delayed = best_round_trip(&Client::new(&server), 5).await;
    within_10_percent(
        delayed.saturating_sub(base),
        2 * LATENCY,
        "added round trip",
    );

    // A new connection pays for the TCP handshake too: two round trips in all.
    let first_request = |server: &LocalServer| {
        let c = Client::new(server);
        async move {
            let t = Instant::now();
            c.get("nothing").await.expect_error(404, "NoSuchKey");
            t.elapsed()
        }
    };
    let base = first_request(&plain).await;
    let delayed = first_request(&server).await;
    within_10_percent(
        delayed.saturating_sub(base),
        4 * LATENCY,
        "first request on a new connection",
    );
    plain.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn one_connection_gets_its_rate_each_way() {
    let dir = tempfile::tempdir().unwrap();
    let server = shaped(
        &dir,
        Shaping {
            conn_rate: Some(parse_rate(RATE).unwrap()),
            ..Shaping::default()
        },
    )
    .await;
    let c = Client::new(&server);
    let expected = Duration::from_secs_f64(BODY as f64 / RATE_BYTES_PER_SEC);
    let data = data(BODY, 1);

    let t = Instant::now();
    c.put("up", data.clone()).await.ok();
    within_10_percent(t.elapsed(), expected, "upload at the connection rate");

    let t = Instant::now();
    let got = c.get("up").await;
    within_10_percent(t.elapsed(), expected, "download at the connection rate");
    assert_eq!(&got.body[..], &data[..]);
    server.shutdown().await;
}

#[tokio::test]
async fn connections_share_the_link_rate() {
    let dir = tempfile::tempdir().unwrap();
    let rate = parse_rate(RATE).unwrap();
    let server = shaped(
        &dir,
        Shaping {
            conn_rate: Some(rate),
            link_rate: Some(rate),
            ..Shaping::default()
        },
    )
    .await;
    // Two clients, so two connections, each sending half: alone each would take half the time.
    let half = data(BODY / 2, 2);
    let t = Instant::now();
    let uploads = ["a", "b"].map(|key| {
        let (c, body) = (Client::new(&server), half.clone());
        tokio::spawn(async move { c.put(key, body).await.status })
    });
    for u in uploads {
        assert_eq!(u.await.unwrap(), 200);
    }
    within_10_percent(
        t.elapsed(),
        Duration::from_secs_f64(BODY as f64 / RATE_BYTES_PER_SEC),
        "two uploads sharing the link",
    );
    server.shutdown().await;
}

/// `serve` takes the same shaping from its flags, and refuses a rate without a unit.
#[test]
fn serve_binary_shapes_from_its_flags() {
    let bin = env!("CARGO_BIN_EXE_oss-uploader");
    let dir = tempfile::tempdir().unwrap();
    let mut child = KillOnDrop(
        std::process::Command::new(bin)
            .args(["serve", "--bucket", BUCKET, "--root"])
            .arg(dir.path())
            .args(["--latency", "100ms", "--conn-rate", "24Mbit"])
            .args(["--link-rate", "300Mbit"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    let elapsed = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let c = Client {
            http: http_builder().no_proxy().build().unwrap(),
            endpoint,
            creds: None,
            sig: Sig::V4,
            clock_offset: 0,
            form_query: false,
        };
        let t = Instant::now();
        c.put("k", b"v".to_vec()).await.ok();
        t.elapsed()
    });
    // A new connection's first request: the handshake and the request's round trip.
    assert!(elapsed >= 4 * LATENCY, "{elapsed:?}");
    drop(child);

    let out = std::process::Command::new(bin)
        .args(["serve", "--root"])
        .arg(dir.path())
        .args(["--conn-rate", "24"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("24Mbit") && err.contains("bits"), "{err}");
}
