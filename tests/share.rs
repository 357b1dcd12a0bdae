//! Listing and share links against the local server over real HTTP on 127.0.0.1: ListBuckets,
//! GetBucketInfo and GetBucketLocation, ListObjects and ListObjectsV2 (paging past 1,000 keys,
//! delimiters, markers, `encoding-type=url`), folder markers, presigned GET/HEAD/PUT links (V4
//! and V1, with an STS token) that plain HTTP can use, expired and edited links refused, and
//! the `share`, `buckets` and `ls` commands of the binary.

use std::process::{Command, Stdio};

use futures_util::StreamExt as _;
use http::HeaderMap;
use oss_uploader::local_server::ServerConfig;
use oss_uploader::oss::client::{Body, Client, ObjectOptions, Transfer};
use oss_uploader::oss::error::Error;
use oss_uploader::oss::listing::ListBucketResult;
use oss_uploader::oss::presign::PresignRequest;
use oss_uploader::oss::sign::{
    Credentials, RequestParts, Resource, SignatureVersion, sign_v4, uri_encode,
};
use oss_uploader::oss::xml::{ErrorBody, from_xml};

mod common;
use common::{AK, BUCKET, REGION, SK, TestServer, credentials, data};

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn put(client: &Client, bucket: &str, key: &str, body: &[u8]) {
    client
        .put_object(
            bucket,
            key,
            Body::Bytes(body.to_vec().into()),
            &ObjectOptions::default(),
            &Transfer::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e}"));
}

/// A GET signed in the `Authorization` header, written here with the signing functions so the
/// server's paging is checked for page sizes our client never asks for.
async fn signed_get(
    server: &TestServer,
    bucket: Option<&str>,
    query: &[(&str, &str)],
) -> (u16, String) {
    signed(server, "GET", bucket, query, HeaderMap::new()).await
}

async fn signed(
    server: &TestServer,
    method: &str,
    bucket: Option<&str>,
    query: &[(&str, &str)],
    mut headers: HeaderMap,
) -> (u16, String) {
    let q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let resource = match bucket {
        Some(b) => Resource::bucket(b),
        None => Resource::service(),
    };
    let parts = RequestParts {
        method,
        resource,
        query: &q,
    };
    sign_v4(&parts, &mut headers, &credentials(), REGION, now(), &[]);
    let path = bucket.map(|b| format!("{b}/")).unwrap_or_default();
    let qs: Vec<String> = q
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
        .collect();
    let url = format!("{}/{path}?{}", server.endpoint(), qs.join("&"));
    let r = http()
        .request(method.parse().unwrap(), url)
        .headers(headers)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

fn service_code(e: &Error) -> Option<(u16, String)> {
    match e {
        Error::Service(s) => Some((s.status, s.code.clone())),
        _ => None,
    }
}

#[tokio::test]
async fn buckets_are_listed_with_their_region_and_paged() {
    let server = TestServer::start_with(|c| {
        c.with_bucket("photos-2024")
            .with_bucket("photos-2025")
            .with_region("oss-cn-shanghai")
    })
    .await;
    let client = server.client();
    let all = client.list_buckets("").await.unwrap();
    let names: Vec<&str> = all.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["photos-2024", "photos-2025", BUCKET]);
    for b in &all {
        assert_eq!(b.signing_region(), "cn-shanghai");
        assert_eq!(b.location, "oss-cn-shanghai");
        assert!(oss_uploader::oss::error::parse_iso8601(&b.creation_date).is_some());
    }
    let photos = client.list_buckets("photos-").await.unwrap();
    assert_eq!(photos.len(), 2);

    // Pages of one, each after the last.
    let (status, body) = signed_get(&server, None, &[("max-keys", "1")]).await;
    assert_eq!(status, 200, "{body}");
    let page: oss_uploader::oss::listing::ListAllMyBucketsResult = from_xml(&body).unwrap();
    assert!(page.is_truncated);
    assert_eq!(page.next_marker, "photos-2024");
    assert_eq!(page.buckets.buckets.len(), 1);
    let (_, body) = signed_get(
        &server,
        None,
        &[("max-keys", "1"), ("marker", "photos-2025")],
    )
    .await;
    let page: oss_uploader::oss::listing::ListAllMyBucketsResult = from_xml(&body).unwrap();
    assert!(!page.is_truncated);
    assert_eq!(page.buckets.buckets[0].name, BUCKET);

    // As on OSS, a V4 request on a bucket must be signed for its region; ListBuckets was not.
    let wrong_region = client.get_bucket_info(BUCKET).await.unwrap_err();
    assert_eq!(
        service_code(&wrong_region),
        Some((400, "InvalidArgument".into()))
    );
    let client = client_for(&server, Some("cn-shanghai"), SignatureVersion::V4);
    let info = client.get_bucket_info(BUCKET).await.unwrap();
    assert_eq!(info.name, BUCKET);
    assert_eq!(info.signing_region(), "cn-shanghai");
    assert!(!info.is_public_read());
    assert_eq!(
        client.get_bucket_location(BUCKET).await.unwrap(),
        "oss-cn-shanghai"
    );
    let missing = client.get_bucket_info("no-such-bucket").await.unwrap_err();
    assert_eq!(service_code(&missing), Some((404, "NoSuchBucket".into())));
}

#[tokio::test]
async fn objects_are_listed_by_folder_across_pages() {
    let server = TestServer::start().await;
    let client = server.client();
    let odd = "odd/a b+中\u{1}.txt";
    let mut keys: Vec<String> = (0..1100).map(|i| format!("many/{i:05}")).collect();
    keys.extend(
        ["a.txt", "docs/", "docs/x.pdf", "z/y/w", odd]
            .iter()
            .map(|s| s.to_string()),
    );
    futures_util::stream::iter(keys.iter())
        .for_each_concurrent(16, |k| {
            let client = client.clone();
            let body = if k.ends_with('/') {
                vec![]
            } else {
                k.as_bytes().to_vec()
            };
            async move { put(&client, BUCKET, k, &body).await }
        })
        .await;

    let top = client.list_objects_v2(BUCKET, "", "/").await.unwrap();
    let objects: Vec<&str> = top.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(objects, ["a.txt"]);
    assert_eq!(top.prefixes, ["docs/", "many/", "odd/", "z/"]);
    assert_eq!(top.objects[0].size, 5);

    // 1,100 keys in one folder come in two pages; every key once, in order.
    let many = client.list_objects_v2(BUCKET, "many/", "/").await.unwrap();
    let got: Vec<String> = many.objects.iter().map(|o| o.key.clone()).collect();
    assert_eq!(got, keys[..1100]);
    assert!(many.prefixes.is_empty());

    let docs = client.list_objects_v2(BUCKET, "docs/", "/").await.unwrap();
    assert!(docs.objects[0].is_folder_marker(), "{docs:?}");
    assert_eq!(docs.objects[1].key, "docs/x.pdf");
    // A key XML cannot carry comes back whole through encoding-type=url.
    let odd_listing = client.list_objects_v2(BUCKET, "odd/", "").await.unwrap();
    assert_eq!(odd_listing.objects[0].key, odd);
    let everything = client.list_objects_v2(BUCKET, "", "").await.unwrap();
    assert_eq!(everything.objects.len(), keys.len());

    // Deleting the folder marker leaves what is in the folder.
    client.delete_object(BUCKET, "docs/").await.unwrap();
    let docs = client.list_objects_v2(BUCKET, "docs/", "/").await.unwrap();
    let names: Vec<&str> = docs.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(names, ["docs/x.pdf"]);

    // ListObjects (V1): markers, and max-keys counting folders and keys together.
    let (status, body) = signed_get(
        &server,
        Some(BUCKET),
        &[("delimiter", "/"), ("max-keys", "2")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let page: ListBucketResult = from_xml(&body).unwrap();
    assert!(page.is_truncated);
    assert_eq!(page.contents[0].key, "a.txt");
    assert_eq!(page.common_prefixes[0].prefix, "docs/");
    assert_eq!(page.next_marker.as_deref(), Some("docs/"));
    assert_eq!(page.key_count, None);
    let (_, body) = signed_get(
        &server,
        Some(BUCKET),
        &[
            ("delimiter", "/"),
            ("max-keys", "2"),
            ("marker", "docs/"),
            ("encoding-type", "url"),
        ],
    )
    .await;
    let mut page: ListBucketResult = from_xml(&body).unwrap();
    page.decode_url_encoding();
    let prefixes: Vec<&str> = page
        .common_prefixes
        .iter()
        .map(|p| p.prefix.as_str())
        .collect();
    assert_eq!(prefixes, ["many/", "odd/"]);
    assert_eq!(page.next_marker.as_deref(), Some("odd/"));

    // ListObjectsV2: start-after, then a token.
    let (_, body) = signed_get(
        &server,
        Some(BUCKET),
        &[
            ("list-type", "2"),
            ("prefix", "many/"),
            ("start-after", "many/01097"),
            ("max-keys", "1"),
        ],
    )
    .await;
    let page: ListBucketResult = from_xml(&body).unwrap();
    assert_eq!(page.contents[0].key, "many/01098");
    assert_eq!(page.key_count, Some(1));
    let token = page.next_continuation_token.unwrap();
    let (_, body) = signed_get(
        &server,
        Some(BUCKET),
        &[
            ("list-type", "2"),
            ("prefix", "many/"),
            ("continuation-token", &token),
        ],
    )
    .await;
    let page: ListBucketResult = from_xml(&body).unwrap();
    assert_eq!(page.contents.len(), 1);
    assert_eq!(page.contents[0].key, "many/01099");
    assert!(!page.is_truncated && page.next_continuation_token.is_none());

    let (status, body) = signed_get(&server, Some(BUCKET), &[("max-keys", "1001")]).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = signed_get(
        &server,
        Some(BUCKET),
        &[("list-type", "2"), ("continuation-token", "%%%")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

/// What a plain HTTP client gets for a URL: status, the error code if any, and the body.
async fn fetch(method: &str, url: &str, body: Option<Vec<u8>>) -> (u16, String, Vec<u8>) {
    let mut req = http().request(method.parse().unwrap(), url);
    if let Some(b) = body {
        req = req.body(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let disposition = r
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = r.bytes().await.unwrap().to_vec();
    let code = if status >= 400 && !bytes.is_empty() {
        from_xml::<ErrorBody>(&String::from_utf8_lossy(&bytes))
            .map(|e| e.code)
            .unwrap_or_default()
    } else {
        disposition
    };
    (status, code, bytes)
}

fn client_for(server: &TestServer, region: Option<&str>, sig: SignatureVersion) -> Client {
    let mut conn = server.connection();
    conn.region = region.map(str::to_owned);
    conn.signature = sig;
    Client::new(conn.client_config(credentials()).unwrap()).unwrap()
}

/// As on OSS, an object anyone may read opens from its plain address: the object's own ACL
/// decides, and without one (or with `default`) the bucket's. Everything else wants a
/// signature.
#[tokio::test]
async fn public_objects_open_without_a_signature() {
    let server = TestServer::start_with(|c| c.with_bucket_acl("open", "public-read")).await;
    let client = server.client();
    let with_acl = |acl: Option<&str>| ObjectOptions {
        acl: acl.map(str::to_owned),
        ..ObjectOptions::default()
    };
    let put_as = |bucket: &'static str, key: &'static str, acl: Option<&'static str>| {
        let client = client.clone();
        let opts = with_acl(acl);
        async move {
            client
                .put_object(
                    bucket,
                    key,
                    Body::Bytes(key.as_bytes().to_vec().into()),
                    &opts,
                    &Transfer::default(),
                )
                .await
                .unwrap();
        }
    };
    put_as("open", "inherits", None).await;
    put_as("open", "default", Some("default")).await;
    put_as("open", "closed", Some("private")).await;
    put_as(BUCKET, "private-bucket", None).await;
    put_as(BUCKET, "own-acl", Some("public-read")).await;
    let plain = |bucket: &str, key: &str| format!("{}/{bucket}/{key}", server.endpoint());
    for (bucket, key, status) in [
        ("open", "inherits", 200),
        ("open", "default", 200),
        ("open", "closed", 403),
        (BUCKET, "private-bucket", 403),
        (BUCKET, "own-acl", 200),
        ("open", "missing", 404),
    ] {
        let (got, _, body) = fetch("GET", &plain(bucket, key), None).await;
        assert_eq!(got, status, "{bucket}/{key}");
        if status == 200 {
            assert_eq!(body, key.as_bytes());
        }
    }
    for (bucket, key, public) in [("open", "inherits", true), ("open", "closed", false)] {
        let opens = oss_uploader::oss::client::opens_unsigned(
            &plain(bucket, key),
            std::time::Duration::from_secs(10),
        )
        .await;
        assert_eq!(opens, public, "{bucket}/{key}");
    }
    // Reading is all a public-read bucket gives away.
    let (status, _, _) = fetch("PUT", &plain("open", "new"), Some(b"x".to_vec())).await;
    assert_eq!(status, 403);

    assert!(
        client
            .get_bucket_info("open")
            .await
            .unwrap()
            .is_public_read()
    );
    assert!(
        !client
            .get_bucket_info(BUCKET)
            .await
            .unwrap()
            .is_public_read()
    );
    // PutBucketAcl and GetBucketAcl; PutBucket with an ACL sets it on a new bucket only.
    let mut h = HeaderMap::new();
    h.insert("x-oss-acl", "public-read".parse().unwrap());
    let (status, body) = signed(&server, "PUT", Some(BUCKET), &[("acl", "")], h).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = signed_get(&server, Some(BUCKET), &[("acl", "")]).await;
    assert_eq!(status, 200, "{body}");
    let policy: oss_uploader::oss::listing::AccessControlPolicy = from_xml(&body).unwrap();
    assert_eq!(policy.access_control_list.grant, "public-read");
    assert_eq!(
        fetch("GET", &plain(BUCKET, "private-bucket"), None).await.0,
        200
    );
    let mut h = HeaderMap::new();
    h.insert("x-oss-acl", "everyone".parse().unwrap());
    let (status, _) = signed(&server, "PUT", Some(BUCKET), &[("acl", "")], h).await;
    assert_eq!(status, 400);
    for acl in ["public-read-write", "private"] {
        client
            .put_bucket("made-open", None, Some(acl))
            .await
            .unwrap();
        let info = client.get_bucket_info("made-open").await.unwrap();
        assert!(info.is_public_read(), "after PutBucket with {acl}");
    }
}

fn client_with(server: &TestServer, sig: SignatureVersion, creds: Credentials) -> Client {
    let mut conn = server.connection();
    conn.signature = sig;
    Client::new(conn.client_config(creds).unwrap()).unwrap()
}

#[tokio::test]
async fn presigned_links_open_until_they_expire_and_refuse_edits() {
    let server = TestServer::start().await;
    let key = "shared/報告 a+b.pdf";
    let content = data(70_000, 7);
    put(&server.client(), BUCKET, key, &content).await;

    for sig in [SignatureVersion::V4, SignatureVersion::V1] {
        let client = client_with(&server, sig, credentials());
        let get = client
            .presign(&PresignRequest::new("GET", BUCKET, key), 3600, None)
            .unwrap();
        assert!((get.expires_at - now() - 3600).abs() <= 5);
        let (status, _, body) = fetch("GET", &get.url, None).await;
        assert_eq!(status, 200, "{sig:?} {}", String::from_utf8_lossy(&body));
        assert_eq!(body, content);

        let head = client
            .presign(&PresignRequest::new("HEAD", BUCKET, key), 60, None)
            .unwrap();
        assert_eq!(fetch("HEAD", &head.url, None).await.0, 200);
        // A GET link is not a HEAD or PUT link.
        assert_eq!(fetch("HEAD", &get.url, None).await.0, 403);
        let (status, code, _) = fetch("PUT", &get.url, Some(b"evil".to_vec())).await;
        assert_eq!((status, code.as_str()), (403, "SignatureDoesNotMatch"));

        let put_key = format!("uploads/{sig:?} via link.bin");
        let put_link = client
            .presign(&PresignRequest::new("PUT", BUCKET, &put_key), 600, None)
            .unwrap();
        let (status, _, body) = fetch("PUT", &put_link.url, Some(content[..1000].to_vec())).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let back = client.get_object(BUCKET, &put_key, None).await.unwrap();
        assert_eq!(back.bytes().await.unwrap().as_ref(), &content[..1000]);

        // Download under the original name.
        let dl = client
            .presign(
                &PresignRequest::new("GET", BUCKET, key).download_as("報告 a+b.pdf"),
                3600,
                None,
            )
            .unwrap();
        let (status, disposition, _) = fetch("GET", &dl.url, None).await;
        assert_eq!(status, 200);
        assert_eq!(
            disposition,
            "attachment; filename=\"__ a+b.pdf\"; filename*=UTF-8''%E5%A0%B1%E5%91%8A%20a%2Bb.pdf"
        );

        // Edited links: another object, a longer life, another signature.
        let other = get.url.replace("a%2Bb.pdf", "a%2Bc.pdf");
        assert_ne!(other, get.url);
        assert_eq!(fetch("GET", &other, None).await.1, "SignatureDoesNotMatch");
        let longer = match sig {
            SignatureVersion::V4 => get.url.replace("x-oss-expires=3600", "x-oss-expires=7200"),
            SignatureVersion::V1 => get.url.replace(
                &format!("Expires={}", get.expires_at),
                &format!("Expires={}", get.expires_at + 3600),
            ),
        };
        assert_ne!(longer, get.url);
        assert_eq!(fetch("GET", &longer, None).await.1, "SignatureDoesNotMatch");
        let wrong = client_with(&server, sig, Credentials::new(AK, "not-the-secret"))
            .presign(&PresignRequest::new("GET", BUCKET, key), 3600, None)
            .unwrap();
        assert_eq!(
            fetch("GET", &wrong.url, None).await.1,
            "SignatureDoesNotMatch"
        );
    }
}

#[tokio::test]
async fn expired_links_are_refused() {
    // The server's clock runs two hours ahead: a link made now for one hour has expired there.
    let server = TestServer::start_with(|c| c.with_clock_offset_secs(7200)).await;
    let mut conn = server.connection();
    for sig in [SignatureVersion::V4, SignatureVersion::V1] {
        conn.signature = sig;
        let client = Client::new(conn.client_config(credentials()).unwrap()).unwrap();
        let link = client
            .presign(&PresignRequest::new("GET", BUCKET, "k"), 3600, None)
            .unwrap();
        let (status, code, body) = fetch("GET", &link.url, None).await;
        assert_eq!((status, code.as_str()), (403, "AccessDenied"), "{sig:?}");
        assert!(
            String::from_utf8_lossy(&body).contains("expired"),
            "{}",
            String::from_utf8_lossy(&body)
        );
        // Three hours is still good.
        let link = client
            .presign(&PresignRequest::new("GET", BUCKET, "k"), 3 * 3600, None)
            .unwrap();
        assert_eq!(
            fetch("GET", &link.url, None).await.1,
            "NoSuchKey",
            "{sig:?}"
        );
    }
    let client = server.client();
    assert!(
        client
            .presign(&PresignRequest::new("GET", BUCKET, "k"), 604_801, None)
            .is_err()
    );
}

#[tokio::test]
async fn sts_links_carry_the_token() {
    let token = "sts-token/with+odd=chars";
    let server = TestServer::start_with(|c| {
        c.with_credentials(Credentials::new(AK, SK).with_security_token(token))
    })
    .await;
    let sts = Credentials::new(AK, SK).with_security_token(token);
    put(
        &client_with(&server, SignatureVersion::V4, sts.clone()),
        BUCKET,
        "k",
        b"x",
    )
    .await;
    for sig in [SignatureVersion::V4, SignatureVersion::V1] {
        let link = client_with(&server, sig, sts.clone())
            .presign(&PresignRequest::new("GET", BUCKET, "k"), 60, None)
            .unwrap();
        let (status, _, body) = fetch("GET", &link.url, None).await;
        assert_eq!((status, body.as_slice()), (200, b"x".as_slice()), "{sig:?}");
        let without = client_with(&server, sig, credentials())
            .presign(&PresignRequest::new("GET", BUCKET, "k"), 60, None)
            .unwrap();
        assert_eq!(fetch("GET", &without.url, None).await.0, 403, "{sig:?}");
    }
}

// ---- the binary ----

fn bin(server: &TestServer) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oss-uploader"));
    c.env("OSS_ACCESS_KEY_ID", AK)
        .env("OSS_ACCESS_KEY_SECRET", SK)
        .env("OSS_ENDPOINT", server.endpoint())
        .env_remove("OSS_SESSION_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

/// Runs the binary off the runtime so the server keeps answering; stdout, stderr, exit code.
async fn run(mut c: Command) -> (String, String, i32) {
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[tokio::test]
async fn share_buckets_and_ls_commands() {
    let server = TestServer::start_with(|c| c.with_bucket("second-bucket")).await;
    let client = server.client();
    put(&client, BUCKET, "photos/2024/a.jpg", b"jpeg").await;
    put(&client, BUCKET, "photos/b.jpg", b"jpg").await;
    put(&client, BUCKET, "readme.txt", b"hello").await;

    let mut c = bin(&server);
    c.args([
        "share",
        "photos/b.jpg",
        "--bucket",
        BUCKET,
        "--expires",
        "2h",
    ]);
    c.args(["--region", REGION]);
    let (out, err, code) = run(c).await;
    assert_eq!(code, 0, "{err}");
    let url = out.trim();
    assert!(url.contains("x-oss-expires=7200"), "{url}");
    assert!(err.contains("until") && err.contains("2 h"), "{err}");
    assert_eq!(fetch("GET", url, None).await.2, b"jpg");

    let mut c = bin(&server);
    c.args(["share", &format!("oss://{BUCKET}/readme.txt"), "--download"]);
    c.args(["--region", REGION, "--signature", "v1", "--expires", "1d"]);
    let (out, err, code) = run(c).await;
    assert_eq!(code, 0, "{err}");
    let (status, disposition, body) = fetch("GET", out.trim(), None).await;
    assert_eq!((status, body.as_slice()), (200, b"hello".as_slice()));
    assert!(
        disposition.contains("filename=\"readme.txt\""),
        "{disposition}"
    );

    // A link to nothing is refused before it is made; so is a life past 7 days.
    let mut c = bin(&server);
    c.args([
        "share",
        "missing.txt",
        "--bucket",
        BUCKET,
        "--region",
        REGION,
    ]);
    let (out, err, code) = run(c).await;
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("missing.txt"), "{err}");
    let mut c = bin(&server);
    c.args(["share", "readme.txt", "--bucket", BUCKET, "--expires", "8d"]);
    let (_, err, code) = run(c).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("7d"), "{err}");

    let mut c = bin(&server);
    c.args(["buckets", "--region", REGION]);
    let (out, err, code) = run(c).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("second-bucket") && lines[0].contains("cn-hangzhou"));
    assert!(lines[1].starts_with(BUCKET));

    let mut c = bin(&server);
    c.args(["ls", "--bucket", BUCKET, "--region", REGION]);
    let (out, err, code) = run(c).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("DIR") && out.contains("photos/"), "{out}");
    assert!(out.contains("readme.txt"), "{out}");
    assert!(!out.contains("a.jpg"), "{out}");
    let mut c = bin(&server);
    c.args(["ls", "photos", "--bucket", BUCKET, "--region", REGION]);
    let (out, _, _) = run(c).await;
    assert!(
        out.contains("photos/2024/") && out.contains("photos/b.jpg"),
        "{out}"
    );
    let mut c = bin(&server);
    c.args(["ls", "photos", "-r", "--bucket", BUCKET, "--region", REGION]);
    let (out, _, _) = run(c).await;
    assert!(out.contains("photos/2024/a.jpg"), "{out}");
}

#[tokio::test]
async fn listing_survives_a_restart_and_sees_later_writes() {
    let root = tempfile::tempdir().unwrap();
    let cfg = || {
        ServerConfig::new(root.path())
            .with_credentials(credentials())
            .with_bucket(BUCKET)
    };
    let server = oss_uploader::local_server::LocalServer::start(cfg())
        .await
        .unwrap();
    let conn = oss_uploader::engine::Connection {
        endpoint: server.endpoint(),
        region: Some(REGION.into()),
        signature: SignatureVersion::V4,
        path_style: true,
    };
    let client = Client::new(conn.client_config(credentials()).unwrap()).unwrap();
    put(&client, BUCKET, "a", b"1").await;
    assert_eq!(
        client
            .list_objects_v2(BUCKET, "", "")
            .await
            .unwrap()
            .objects
            .len(),
        1
    );
    // Written after the index was built: still listed.
    put(&client, BUCKET, "b", b"22").await;
    let l = client.list_objects_v2(BUCKET, "", "").await.unwrap();
    assert_eq!(l.objects.iter().map(|o| o.size).collect::<Vec<_>>(), [1, 2]);
    server.shutdown().await;

    let server = oss_uploader::local_server::LocalServer::start(cfg())
        .await
        .unwrap();
    let conn = oss_uploader::engine::Connection {
        endpoint: server.endpoint(),
        ..conn
    };
    let client = Client::new(conn.client_config(credentials()).unwrap()).unwrap();
    let l = client.list_objects_v2(BUCKET, "", "").await.unwrap();
    let keys: Vec<&str> = l.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    server.shutdown().await;
}

#[tokio::test]
async fn the_windows_copy_link_opens_for_anyone() {
    let server = TestServer::start().await;
    put(&server.client(), BUCKET, "album/photo 1.jpg", b"jpeg").await;
    let link = oss_uploader::app::share_ui::share_link(
        &server.connection(),
        None,
        &credentials(),
        (BUCKET, "album/photo 1.jpg"),
        now(),
        oss_uploader::app::share_ui::Expiry::default(),
        None,
    )
    .unwrap();
    let (status, _, body) = fetch("GET", &link.url, None).await;
    assert_eq!((status, body.as_slice()), (200, b"jpeg".as_slice()));
    // What "Copy link" gave before: the plain address, refused on a private bucket.
    let plain = format!("{}/{BUCKET}/album/photo%201.jpg", server.endpoint());
    assert_eq!(fetch("GET", &plain, None).await.0, 403);
}
