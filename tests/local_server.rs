//! The local OSS server over real HTTP on 127.0.0.1: every call, every error code, paging,
//! ETags and CRCs, V1/V4/STS signatures, clock skew, restart persistence, every fault action,
//! the `--fault` parser and the `serve` binary; `hardening` tries it as a hostile client would,
//! `shaping` measures the link it emulates.

use std::io::{BufRead as _, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::HeaderMap;
use md5::{Digest as _, Md5};
use oss_uploader::local_server::{
    FaultAction, FaultRule, LocalServer, Op, ServerConfig, Shaping, parse_duration, parse_fault,
    parse_rate,
};
use oss_uploader::oss::crc64;
use oss_uploader::oss::sign::{
    Credentials, RequestParts, Resource, sign_v1, sign_v4, uri_encode, uri_encode_path,
};
use oss_uploader::oss::xml::{
    CompleteMultipartUpload, CompletePart, ErrorBody, InitiateMultipartUploadResult,
    ListMultipartUploadsResult, ListPartsResult, from_xml, to_xml,
};

mod common;
use common::{BUCKET, data};

#[path = "local_server/hardening.rs"]
mod hardening;
#[path = "local_server/shaping.rs"]
mod shaping;

const KIB: usize = 1024;

/// reqwest is built without a TLS provider; even plain-http clients need one installed.
fn http_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[derive(Clone, Copy, PartialEq)]
enum Sig {
    V1,
    V4,
}

/// A minimal signed OSS client, written here so the server is checked against the signing
/// functions rather than against itself.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    endpoint: String,
    creds: Option<Credentials>,
    sig: Sig,
    clock_offset: i64,
    /// Encode query values as `requests` (oss2) does: a space becomes `+`.
    form_query: bool,
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Bytes,
}

impl Resp {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn error(&self) -> ErrorBody {
        from_xml(&self.text()).unwrap_or_else(|e| panic!("not error XML ({e}): {}", self.text()))
    }

    /// Asserts an OSS error answer with this status and code.
    fn expect_error(&self, status: u16, code: &str) -> ErrorBody {
        assert_eq!(self.status, status, "{}", self.text());
        let e = self.error();
        assert_eq!(e.code, code, "{}", self.text());
        assert_eq!(e.request_id, self.header("x-oss-request-id"));
        e
    }

    fn ok(&self) -> &Self {
        assert!(
            (200..300).contains(&self.status),
            "status {}: {}",
            self.status,
            self.text()
        );
        self
    }
}

impl Client {
    fn new(server: &LocalServer) -> Self {
        Self {
            http: http_builder().no_proxy().build().unwrap(),
            endpoint: server.endpoint(),
            creds: None,
            sig: Sig::V4,
            clock_offset: 0,
            form_query: false,
        }
    }

    fn signed(mut self, creds: Credentials, sig: Sig) -> Self {
        self.creds = Some(creds);
        self.sig = sig;
        self
    }

    fn with_timeout(mut self, t: Duration) -> Self {
        self.http = http_builder().no_proxy().timeout(t).build().unwrap();
        self
    }

    fn build(
        &self,
        method: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        self.build_in(BUCKET, method, key, query, headers)
    }

    fn build_in(
        &self,
        bucket: &str,
        method: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut url = match key {
            Some(k) => format!("{}/{}/{}", self.endpoint, bucket, uri_encode_path(k)),
            None => format!("{}/{}/", self.endpoint, bucket),
        };
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        uri_encode(k)
                    } else {
                        format!("{}={}", uri_encode(k), uri_encode(v))
                    }
                })
                .collect();
            let mut q = q.join("&");
            if self.form_query {
                q = q.replace("%20", "+");
            }
            url = format!("{url}?{q}");
        }
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        if let Some(creds) = &self.creds {
            let q: Vec<(String, String)> = query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let resource = match key {
                Some(k) => Resource::object(bucket, k),
                None => Resource::bucket(bucket),
            };
            let req = RequestParts {
                method,
                resource,
                query: &q,
            };
            let t = now() + self.clock_offset;
            match self.sig {
                Sig::V4 => sign_v4(&req, &mut map, creds, "cn-hangzhou", t, &[]),
                Sig::V1 => sign_v1(&req, &mut map, creds, t),
            }
        }
        self.http.request(method.parse().unwrap(), url).headers(map)
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.expect("request failed");
        Resp {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.bytes().await.unwrap(),
        }
    }

    async fn call(
        &self,
        method: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        self.send(self.build(method, key, query, headers).body(body))
            .await
    }

    async fn put_bucket(&self, bucket: &str) -> Resp {
        self.send(self.build_in(bucket, "PUT", None, &[], &[]))
            .await
    }

    async fn put(&self, key: &str, data: Vec<u8>) -> Resp {
        self.call("PUT", Some(key), &[], &[], data).await
    }

    async fn get(&self, key: &str) -> Resp {
        self.call("GET", Some(key), &[], &[], Vec::new()).await
    }

    async fn initiate(&self, key: &str) -> String {
        let r = self
            .call("POST", Some(key), &[("uploads", "")], &[], Vec::new())
            .await;
        r.ok();
        from_xml::<InitiateMultipartUploadResult>(&r.text())
            .unwrap()
            .upload_id
    }

    async fn upload_part(&self, key: &str, upload_id: &str, n: u32, data: Vec<u8>) -> Resp {
        let n = n.to_string();
        self.call(
            "PUT",
            Some(key),
            &[("partNumber", &n), ("uploadId", upload_id)],
            &[],
            data,
        )
        .await
    }

    async fn complete(&self, key: &str, upload_id: &str, parts: &[(u32, String)]) -> Resp {
        let body = to_xml(&CompleteMultipartUpload {
            parts: parts
                .iter()
                .map(|(n, e)| CompletePart {
                    part_number: *n,
                    etag: e.clone(),
                })
                .collect(),
        })
        .unwrap();
        self.call("POST", Some(key), &[("uploadId", upload_id)], &[], body)
            .await
    }

    async fn list_parts(&self, key: &str, upload_id: &str, extra: &[(&str, &str)]) -> Resp {
        let mut q = vec![("uploadId", upload_id)];
        q.extend_from_slice(extra);
        self.call("GET", Some(key), &q, &[], Vec::new()).await
    }
}

fn md5_upper(b: &[u8]) -> String {
    Md5::digest(b).iter().map(|x| format!("{x:02X}")).collect()
}

async fn start(dir: &tempfile::TempDir) -> LocalServer {
    LocalServer::start(ServerConfig::new(dir.path()).with_bucket(BUCKET))
        .await
        .unwrap()
}

#[tokio::test]
async fn objects_put_get_head_delete() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = Client::new(&server);
    let key = "dir/a b+c 中文.txt";
    let body = data(300 * KIB, 1);

    let r = c
        .call(
            "PUT",
            Some(key),
            &[],
            &[
                ("content-type", "text/plain"),
                ("x-oss-object-acl", "public-read"),
                ("x-oss-meta-author", "alice"),
            ],
            body.clone(),
        )
        .await;
    r.ok();
    assert_eq!(r.header("etag"), format!("\"{}\"", md5_upper(&body)));
    assert_eq!(
        r.header("x-oss-hash-crc64ecma"),
        crc64::checksum(&body).to_string()
    );
    assert_eq!(r.header("x-oss-request-id").len(), 24);
    assert_eq!(r.header("server"), "AliyunOSS");
    assert!(!r.header("date").is_empty());

    let g = c.get(key).await;
    g.ok();
    assert_eq!(&g.body[..], &body[..]);
    assert_eq!(g.header("content-type"), "text/plain");
    assert_eq!(g.header("x-oss-meta-author"), "alice");
    assert_eq!(g.header("x-oss-object-acl"), "public-read");
    assert_eq!(
        g.header("x-oss-hash-crc64ecma"),
        crc64::checksum(&body).to_string()
    );

    let h = c.call("HEAD", Some(key), &[], &[], Vec::new()).await;
    h.ok();
    assert_eq!(h.header("content-length"), body.len().to_string());
    assert_eq!(h.header("etag"), format!("\"{}\"", md5_upper(&body)));
    assert!(!h.header("last-modified").is_empty());
    assert_eq!(h.header("x-oss-meta-author"), "alice");
    assert_eq!(h.header("x-oss-object-type"), "Normal");
    assert!(h.body.is_empty());

    // Ranges: 206 with Content-Range; a range past the end is the whole object, as OSS.
    let r = c
        .call(
            "GET",
            Some(key),
            &[],
            &[("range", "bytes=10-19")],
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        format!("bytes 10-19/{}", body.len())
    );
    assert_eq!(&r.body[..], &body[10..20]);
    let r = c
        .call("GET", Some(key), &[], &[("range", "bytes=-5")], Vec::new())
        .await;
    assert_eq!(&r.body[..], &body[body.len() - 5..]);
    let r = c
        .call(
            "GET",
            Some(key),
            &[],
            &[("range", "bytes=999999999-")],
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), body.len());
    let r = c
        .call(
            "GET",
            Some(key),
            &[],
            &[
                ("range", "bytes=999999999-"),
                ("x-oss-range-behavior", "standard"),
            ],
            Vec::new(),
        )
        .await;
    r.expect_error(416, "InvalidRange");

    // Overwrite, then delete.
    c.put(key, b"small".to_vec()).await.ok();
    assert_eq!(&c.get(key).await.body[..], b"small");
    let d = c.call("DELETE", Some(key), &[], &[], Vec::new()).await;
    assert_eq!(d.status, 204);
    c.get(key).await.expect_error(404, "NoSuchKey");
    let d = c.call("DELETE", Some(key), &[], &[], Vec::new()).await;
    assert_eq!(
        d.status, 204,
        "deleting a missing key is not an error in OSS"
    );

    // HEAD errors carry the XML base64-encoded in x-oss-err.
    let h = c.call("HEAD", Some(key), &[], &[], Vec::new()).await;
    assert_eq!(h.status, 404);
    assert!(h.body.is_empty());
    let xml = base64::engine::general_purpose::STANDARD
        .decode(h.header("x-oss-err"))
        .unwrap();
    let e: ErrorBody = from_xml(std::str::from_utf8(&xml).unwrap()).unwrap();
    assert_eq!(e.code, "NoSuchKey");

    let r = c
        .send(c.build_in("no-such-bucket", "GET", Some("k"), &[], &[]))
        .await;
    r.expect_error(404, "NoSuchBucket");
    let r = c
        .send(c.build_in("..%2Fbuckets%2Ftest-bucket", "GET", Some("k"), &[], &[]))
        .await;
    r.expect_error(404, "NoSuchBucket");
    let r = c.put_bucket("Bad_Name").await;
    r.expect_error(400, "InvalidBucketName");
    c.put_bucket("second-bucket").await.ok();
    c.put_bucket("second-bucket").await.ok();
    let r = c
        .call(
            "PUT",
            Some("k"),
            &[],
            &[("x-oss-object-acl", "nope")],
            b"x".to_vec(),
        )
        .await;
    r.expect_error(400, "InvalidArgument");
    let r = c
        .call("GET", Some("k"), &[("acl", "")], &[], Vec::new())
        .await;
    r.expect_error(501, "NotImplemented");
    server.shutdown().await;
}

#[tokio::test]
async fn content_md5_forbid_overwrite_and_chunked_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = Client::new(&server);
    let body = b"hello world".to_vec();
    let good = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body));
    let wrong = base64::engine::general_purpose::STANDARD.encode(Md5::digest(b"other"));
    c.call(
        "PUT",
        Some("m"),
        &[],
        &[("content-md5", &good)],
        body.clone(),
    )
    .await
    .ok();
    let r = c
        .call(
            "PUT",
            Some("m"),
            &[],
            &[("content-md5", &wrong)],
            body.clone(),
        )
        .await;
    r.expect_error(400, "BadDigest");
    let r = c
        .call(
            "PUT",
            Some("m"),
            &[],
            &[("content-md5", "not base64!")],
            body.clone(),
        )
        .await;
    r.expect_error(400, "InvalidDigest");

    let r = c
        .call(
            "PUT",
            Some("m"),
            &[],
            &[("x-oss-forbid-overwrite", "true")],
            b"new".to_vec(),
        )
        .await;
    r.expect_error(409, "FileAlreadyExists");
    assert_eq!(&c.get("m").await.body[..], &body[..]);
    c.call(
        "PUT",
        Some("m"),
        &[],
        &[("x-oss-forbid-overwrite", "false")],
        b"new".to_vec(),
    )
    .await
    .ok();

    // Chunked transfer encoding: no Content-Length.
    let chunks = || {
        futures_util::stream::iter(
            (0..20).map(|i| Ok::<_, std::io::Error>(Bytes::from(data(10 * KIB, i)))),
        )
    };
    let expected: Vec<u8> = (0..20).flat_map(|i| data(10 * KIB, i)).collect();
    let stream = chunks();
    let r = c
        .call(
            "PUT",
            Some("chunked"),
            &[],
            &[],
            reqwest::Body::wrap_stream(stream),
        )
        .await;
    r.ok();
    assert_eq!(
        r.header("x-oss-hash-crc64ecma"),
        crc64::checksum(&expected).to_string()
    );
    assert_eq!(&c.get("chunked").await.body[..], &expected[..]);
    let id = c.initiate("chunked-mp").await;
    let r = c
        .call(
            "PUT",
            Some("chunked-mp"),
            &[("partNumber", "1"), ("uploadId", &id)],
            &[],
            reqwest::Body::wrap_stream(chunks()),
        )
        .await;
    r.ok();
    assert_eq!(r.header("etag"), format!("\"{}\"", md5_upper(&expected)));
    server.shutdown().await;
}

#[tokio::test]
async fn multipart_upload_complete_etag_and_crc() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = Client::new(&server);
    let key = "big/对象 1.bin";
    let id = c.initiate(key).await;
    // Part 2 is sent twice: the second replaces the first.
    let parts = [data(100 * KIB, 1), data(150 * KIB, 2), data(10 * KIB, 3)];
    c.upload_part(key, &id, 2, data(120 * KIB, 9)).await.ok();
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let r = c.upload_part(key, &id, i as u32 + 1, p.clone()).await;
        r.ok();
        assert_eq!(r.header("etag"), format!("\"{}\"", md5_upper(p)));
        assert_eq!(
            r.header("x-oss-hash-crc64ecma"),
            crc64::checksum(p).to_string()
        );
        etags.push((i as u32 + 1, r.header("etag").to_owned()));
    }
    let lp: ListPartsResult = from_xml(&c.list_parts(key, &id, &[]).await.text()).unwrap();
    assert_eq!(lp.parts.len(), 3);
    assert_eq!(lp.parts[1].size, 150 * KIB as u64);
    assert_eq!(lp.parts[1].hash_crc64ecma, Some(crc64::checksum(&parts[1])));
    assert!(lp.parts[0].last_modified.ends_with(".000Z"));
    assert!(!lp.is_truncated);

    let r = c.complete(key, &id, &etags).await;
    r.ok();
    let whole: Vec<u8> = parts.concat();
    let mut md5s = Md5::new();
    for p in &parts {
        md5s.update(Md5::digest(p));
    }
    let expected_etag = format!(
        "\"{}-3\"",
        md5s.finalize()
            .iter()
            .map(|x| format!("{x:02X}"))
            .collect::<String>()
    );
    let result: oss_uploader::oss::xml::CompleteMultipartUploadResult =
        from_xml(&r.text()).unwrap();
    assert_eq!(result.etag, expected_etag);
    assert_eq!(result.key, key);
    assert_eq!(
        r.header("x-oss-hash-crc64ecma"),
        crc64::checksum(&whole).to_string()
    );
    let g = c.get(key).await;
    assert_eq!(&g.body[..], &whole[..]);
    assert_eq!(g.header("etag"), expected_etag);
    assert_eq!(g.header("x-oss-object-type"), "Multipart");
    // A range across the joins between parts.
    let (a, b) = (100 * KIB - 10, 250 * KIB + 5);
    let range = format!("bytes={a}-{b}");
    let r = c
        .call("GET", Some(key), &[], &[("range", &range)], Vec::new())
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(&r.body[..], &whole[a..=b]);
    let r = c
        .call("GET", Some(key), &[], &[("range", "bytes=-7")], Vec::new())
        .await;
    assert_eq!(&r.body[..], &whole[whole.len() - 7..]);
    assert_eq!(
        g.header("x-oss-hash-crc64ecma"),
        crc64::checksum(&whole).to_string()
    );
    // The upload is gone once completed.
    c.list_parts(key, &id, &[])
        .await
        .expect_error(404, "NoSuchUpload");
    c.complete(key, &id, &etags)
        .await
        .expect_error(404, "NoSuchUpload");

    // x-oss-complete-all: yes joins every stored part.
    let id = c.initiate("all").await;
    c.upload_part("all", &id, 1, data(100 * KIB, 5)).await.ok();
    c.upload_part("all", &id, 2, data(5, 6)).await.ok();
    let r = c
        .call(
            "POST",
            Some("all"),
            &[("uploadId", &id)],
            &[("x-oss-complete-all", "yes")],
            Vec::new(),
        )
        .await;
    r.ok();
    assert_eq!(c.get("all").await.body.len(), 100 * KIB + 5);
    server.shutdown().await;
}

#[tokio::test]
async fn multipart_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = Client::new(&server);
    let id = c.initiate("k").await;
    let e1 = c
        .upload_part("k", &id, 1, data(50 * KIB, 1))
        .await
        .header("etag")
        .to_owned();
    let e2 = c
        .upload_part("k", &id, 2, data(50 * KIB, 2))
        .await
        .header("etag")
        .to_owned();

    c.upload_part("k", &id, 0, b"x".to_vec())
        .await
        .expect_error(400, "InvalidArgument");
    c.upload_part("k", &id, 10001, b"x".to_vec())
        .await
        .expect_error(400, "InvalidArgument");
    c.upload_part("k", "0123456789ABCDEF0123456789ABCDEF", 1, b"x".to_vec())
        .await
        .expect_error(404, "NoSuchUpload");
    c.upload_part("other-key", &id, 1, b"x".to_vec())
        .await
        .expect_error(404, "NoSuchUpload");
    c.complete("k", &id, &[(2, e2.clone()), (1, e1.clone())])
        .await
        .expect_error(400, "InvalidPartOrder");
    c.complete("k", &id, &[(1, e1.clone()), (3, e2.clone())])
        .await
        .expect_error(400, "InvalidPart");
    c.complete("k", &id, &[(1, e2.clone())])
        .await
        .expect_error(400, "InvalidPart");
    c.complete("k", &id, &[(1, e1.clone()), (2, e2.clone())])
        .await
        .expect_error(400, "EntityTooSmall");
    c.call(
        "POST",
        Some("k"),
        &[("uploadId", &id)],
        &[],
        "<CompleteMultipartUpload><Part>",
    )
    .await
    .expect_error(400, "MalformedXML");
    c.list_parts("k", &id, &[("max-parts", "x")])
        .await
        .expect_error(400, "InvalidArgument");
    // A single small part is fine: only the last part may be small.
    c.complete("k", &id, &[(1, e1.clone())]).await.ok();

    let id = c.initiate("k2").await;
    c.put("k2", b"exists".to_vec()).await.ok();
    let r = c
        .call(
            "POST",
            Some("k2"),
            &[("uploads", "")],
            &[("x-oss-forbid-overwrite", "true")],
            Vec::new(),
        )
        .await;
    r.expect_error(409, "FileAlreadyExists");
    let e = c
        .upload_part("k2", &id, 1, b"abc".to_vec())
        .await
        .header("etag")
        .to_owned();
    let r = c
        .send(
            c.build(
                "POST",
                Some("k2"),
                &[("uploadId", &id)],
                &[("x-oss-forbid-overwrite", "true")],
            )
            .body(
                to_xml(&CompleteMultipartUpload {
                    parts: vec![CompletePart {
                        part_number: 1,
                        etag: e,
                    }],
                })
                .unwrap(),
            ),
        )
        .await;
    r.expect_error(409, "FileAlreadyExists");

    let r = c
        .call("DELETE", Some("k2"), &[("uploadId", &id)], &[], Vec::new())
        .await;
    assert_eq!(r.status, 204);
    c.call("DELETE", Some("k2"), &[("uploadId", &id)], &[], Vec::new())
        .await
        .expect_error(404, "NoSuchUpload");
    c.list_parts("k2", &id, &[])
        .await
        .expect_error(404, "NoSuchUpload");
    server.shutdown().await;
}

#[tokio::test]
async fn list_parts_and_uploads_paging() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = Client::new(&server);
    let id = c.initiate("p").await;
    for n in [1, 2, 3, 5, 8] {
        c.upload_part("p", &id, n, vec![n as u8; 10]).await.ok();
    }
    let mut seen = Vec::new();
    let mut marker = String::new();
    let mut pages = 0;
    loop {
        let mut q = vec![("max-parts", "2")];
        if !marker.is_empty() {
            q.push(("part-number-marker", marker.as_str()));
        }
        let r: ListPartsResult = from_xml(&c.list_parts("p", &id, &q).await.text()).unwrap();
        pages += 1;
        seen.extend(r.parts.iter().map(|p| p.part_number));
        if !r.is_truncated {
            break;
        }
        marker = r.next_part_number_marker.clone();
    }
    assert_eq!(seen, vec![1, 2, 3, 5, 8]);
    assert_eq!(pages, 3);

    // Uploads: two for "a/x", one each for "a/y", "b/z".
    let mut ids: Vec<(String, String)> = Vec::new();
    for key in ["a/x", "a/y", "a/x", "b/z"] {
        let id = c.initiate(key).await;
        ids.push((key.to_owned(), id));
    }
    let mut expected: Vec<(String, String)> = ids
        .iter()
        .filter(|(k, _)| k.starts_with("a/"))
        .cloned()
        .collect();
    expected.sort();
    let mut got = Vec::new();
    let (mut km, mut um) = (String::new(), String::new());
    loop {
        let mut q = vec![("uploads", ""), ("prefix", "a/"), ("max-uploads", "2")];
        if !km.is_empty() {
            q.push(("key-marker", km.as_str()));
            q.push(("upload-id-marker", um.as_str()));
        }
        let r = c.send(c.build_in(BUCKET, "GET", None, &q, &[])).await;
        let r: ListMultipartUploadsResult = from_xml(&r.ok().text()).unwrap();
        got.extend(
            r.uploads
                .iter()
                .map(|u| (u.key.clone(), u.upload_id.clone())),
        );
        if !r.is_truncated {
            break;
        }
        km = r.next_key_marker.clone();
        um = r.next_upload_id_marker.clone();
    }
    assert_eq!(got, expected);
    let r = c
        .send(c.build_in(BUCKET, "GET", None, &[("uploads", "")], &[]))
        .await;
    let all: ListMultipartUploadsResult = from_xml(&r.text()).unwrap();
    assert_eq!(all.uploads.len(), 5);
    assert!(!all.is_truncated);
    // key-marker alone skips every upload of that key.
    let r = c
        .send(c.build_in(
            BUCKET,
            "GET",
            None,
            &[("uploads", ""), ("key-marker", "a/x")],
            &[],
        ))
        .await;
    let r: ListMultipartUploadsResult = from_xml(&r.text()).unwrap();
    let keys: Vec<&str> = r.uploads.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(keys, vec!["a/y", "b/z", "p"]);
    server.shutdown().await;
}

#[tokio::test]
async fn signatures_v1_v4_sts_and_skew() {
    let dir = tempfile::tempdir().unwrap();
    let creds = Credentials::new("test-ak", "test-sk");
    let server = LocalServer::start(
        ServerConfig::new(dir.path())
            .with_bucket(BUCKET)
            .with_credentials(creds.clone()),
    )
    .await
    .unwrap();
    for sig in [Sig::V4, Sig::V1] {
        let c = Client::new(&server).signed(creds.clone(), sig);
        c.put("signed/key +1 中", b"abc".to_vec()).await.ok();
        assert_eq!(&c.get("signed/key +1 中").await.body[..], b"abc");
        let id = c.initiate("mp").await;
        c.upload_part("mp", &id, 1, b"x".to_vec()).await.ok();
        c.list_parts("mp", &id, &[("max-parts", "10")]).await.ok();
        let r = c
            .send(c.build_in(
                BUCKET,
                "GET",
                None,
                &[("uploads", ""), ("prefix", "m")],
                &[],
            ))
            .await;
        r.ok();
        c.call("HEAD", Some("signed/key +1 中"), &[], &[], Vec::new())
            .await
            .ok();

        // A space sent as `+` in the query (oss2's form encoding) is a space, signed as such.
        let id = c.initiate("a b+c.bin").await;
        let mut form = c.clone();
        form.form_query = true;
        let r = form
            .send(form.build_in(
                BUCKET,
                "GET",
                None,
                &[("uploads", ""), ("prefix", "a b+c")],
                &[],
            ))
            .await;
        let r: ListMultipartUploadsResult = from_xml(&r.ok().text()).unwrap();
        assert_eq!(r.uploads.len(), 1, "{r:?}");
        assert_eq!(r.uploads[0].upload_id, id);
        assert_eq!(r.prefix, "a b+c");
        c.call(
            "DELETE",
            Some("a b+c.bin"),
            &[("uploadId", &id)],
            &[],
            Vec::new(),
        )
        .await
        .ok();

        let bad = Client::new(&server).signed(Credentials::new("test-ak", "wrong"), sig);
        let e = bad
            .get("signed/key +1 中")
            .await
            .expect_error(403, "SignatureDoesNotMatch");
        assert!(e.string_to_sign.is_some());
        if sig == Sig::V4 {
            assert!(
                e.canonical_request
                    .unwrap()
                    .starts_with("GET\n/test-bucket/signed/key%20%2B1%20")
            );
        }
        let unknown = Client::new(&server).signed(Credentials::new("who", "test-sk"), sig);
        unknown
            .get("signed/key +1 中")
            .await
            .expect_error(403, "InvalidAccessKeyId");
        let mut skewed = Client::new(&server).signed(creds.clone(), sig);
        skewed.clock_offset = -20 * 60;
        let e = skewed
            .get("signed/key +1 中")
            .await
            .expect_error(403, "RequestTimeTooSkewed");
        assert_eq!(e.max_allowed_skew_milliseconds.as_deref(), Some("900000"));
        assert!(e.server_time.is_some() && e.request_time.is_some());
        // 10 minutes off is within OSS's 15.
        skewed.clock_offset = -10 * 60;
        skewed.get("signed/key +1 中").await.ok();
    }
    Client::new(&server)
        .get("signed/key +1 中")
        .await
        .expect_error(403, "AccessDenied");
    server.shutdown().await;

    // A server whose own clock is off sends RequestTimeTooSkewed with its time.
    let server = LocalServer::start(
        ServerConfig::new(dir.path())
            .with_credentials(creds.clone())
            .with_clock_offset_secs(3600),
    )
    .await
    .unwrap();
    let c = Client::new(&server).signed(creds.clone(), Sig::V4);
    c.get("signed/key +1 中")
        .await
        .expect_error(403, "RequestTimeTooSkewed");
    server.shutdown().await;

    // STS: the token must be present and equal.
    let sts = creds.clone().with_security_token("sts-token");
    let server = LocalServer::start(ServerConfig::new(dir.path()).with_credentials(sts.clone()))
        .await
        .unwrap();
    for sig in [Sig::V4, Sig::V1] {
        Client::new(&server)
            .signed(sts.clone(), sig)
            .get("signed/key +1 中")
            .await
            .ok();
        Client::new(&server)
            .signed(creds.clone(), sig)
            .get("signed/key +1 中")
            .await
            .expect_error(403, "InvalidAccessKeyId");
        Client::new(&server)
            .signed(creds.clone().with_security_token("other"), sig)
            .get("signed/key +1 中")
            .await
            .expect_error(403, "InvalidAccessKeyId");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn data_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = Client::new(&server);
    c.put("kept", b"still here".to_vec()).await.ok();
    let id = c.initiate("half").await;
    let part1 = data(100 * KIB, 7);
    let e1 = c
        .upload_part("half", &id, 1, part1.clone())
        .await
        .header("etag")
        .to_owned();
    server.shutdown().await;

    let server = LocalServer::start(ServerConfig::new(dir.path()))
        .await
        .unwrap();
    let c = Client::new(&server);
    assert_eq!(&c.get("kept").await.body[..], b"still here");
    let lp: ListPartsResult = from_xml(&c.list_parts("half", &id, &[]).await.text()).unwrap();
    assert_eq!(lp.parts.len(), 1);
    assert_eq!(lp.parts[0].etag, e1);
    let e2 = c
        .upload_part("half", &id, 2, b"tail".to_vec())
        .await
        .header("etag")
        .to_owned();
    c.complete("half", &id, &[(1, e1), (2, e2)]).await.ok();
    assert_eq!(c.get("half").await.body.len(), part1.len() + 4);
    server.shutdown().await;
}

#[tokio::test]
async fn fault_error_delay_times_and_outage() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = Client::new(&server);
    let id = c.initiate("f").await;
    server.faults().add(
        FaultRule::new(
            Some(Op::UploadPart),
            2,
            FaultAction::error(503, "ServiceUnavailable"),
        )
        .times(2),
    );
    c.upload_part("f", &id, 1, b"1".to_vec()).await.ok();
    c.list_parts("f", &id, &[]).await.ok();
    c.upload_part("f", &id, 2, b"2".to_vec())
        .await
        .expect_error(503, "ServiceUnavailable");
    c.upload_part("f", &id, 2, b"2".to_vec())
        .await
        .expect_error(503, "ServiceUnavailable");
    c.upload_part("f", &id, 2, b"2".to_vec()).await.ok();
    assert_eq!(server.faults().pending(), 0);
    assert_eq!(server.stats().requests(Op::UploadPart), 4);
    assert_eq!(server.stats().body_bytes(Op::UploadPart), 4);

    // HEAD errors from faults come in x-oss-err.
    c.put("h", b"x".to_vec()).await.ok();
    server.faults().add(FaultRule::new(
        Some(Op::HeadObject),
        1,
        FaultAction::Error {
            status: 500,
            code: "InternalError".into(),
            message: "boom".into(),
        },
    ));
    let h = c.call("HEAD", Some("h"), &[], &[], Vec::new()).await;
    assert_eq!(h.status, 500);
    assert!(!h.header("x-oss-err").is_empty());

    server.faults().add(FaultRule::new(
        None,
        1,
        FaultAction::Delay(Duration::from_millis(300)),
    ));
    let t = Instant::now();
    c.get("h").await.ok();
    assert!(t.elapsed() >= Duration::from_millis(300));

    server.faults().outage(Duration::from_millis(400));
    c.get("h").await.expect_error(503, "ServiceUnavailable");
    c.put("h", b"y".to_vec())
        .await
        .expect_error(503, "ServiceUnavailable");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(&c.get("h").await.body[..], b"x");
    server.faults().outage(Duration::from_secs(60));
    server.faults().clear();
    c.get("h").await.ok();
    server.shutdown().await;
}

#[tokio::test]
async fn fault_drop_stall_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = Client::new(&server);
    let id = c.initiate("d").await;
    let part = data(1024 * KIB, 3);

    server.faults().add(FaultRule::new(
        Some(Op::UploadPart),
        1,
        FaultAction::DropAfterBodyBytes(64 * 1024),
    ));
    let err = c
        .build(
            "PUT",
            Some("d"),
            &[("partNumber", "1"), ("uploadId", &id)],
            &[],
        )
        .body(part.clone())
        .send()
        .await;
    assert!(
        err.is_err(),
        "the connection should have been dropped: {err:?}"
    );
    assert_eq!(server.stats().body_bytes(Op::UploadPart), 64 * 1024);
    let lp: ListPartsResult = from_xml(&c.list_parts("d", &id, &[]).await.text()).unwrap();
    assert!(lp.parts.is_empty(), "a dropped part must not be visible");
    // The retry goes through: the part was sent (partly) twice.
    c.upload_part("d", &id, 1, part.clone()).await.ok();
    assert_eq!(
        server.stats().body_bytes(Op::UploadPart),
        64 * 1024 + part.len() as u64
    );

    server.faults().add(FaultRule::new(
        Some(Op::UploadPart),
        1,
        FaultAction::ResetBeforeResponse,
    ));
    let r = c
        .build(
            "PUT",
            Some("d"),
            &[("partNumber", "2"), ("uploadId", &id)],
            &[],
        )
        .body(b"tail".to_vec())
        .send()
        .await;
    assert!(r.is_err(), "no answer expected: {r:?}");
    let lp: ListPartsResult = from_xml(&c.list_parts("d", &id, &[]).await.text()).unwrap();
    assert_eq!(
        lp.parts.len(),
        2,
        "the part is stored even though the answer was lost"
    );

    server.faults().add(FaultRule::new(
        Some(Op::CompleteMultipartUpload),
        1,
        FaultAction::Stall,
    ));
    let impatient = Client::new(&server).with_timeout(Duration::from_millis(300));
    let r = impatient
        .build(
            "POST",
            Some("d"),
            &[("uploadId", &id)],
            &[("x-oss-complete-all", "yes")],
        )
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    let r = c
        .call(
            "POST",
            Some("d"),
            &[("uploadId", &id)],
            &[("x-oss-complete-all", "yes")],
            Vec::new(),
        )
        .await;
    r.ok();
    assert_eq!(c.get("d").await.body.len(), part.len() + 4);
    assert_eq!(server.stats().requests(Op::CompleteMultipartUpload), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn parallel_parts() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = Client::new(&server);
    let id = c.initiate("par").await;
    let parts: Vec<Vec<u8>> = (0..8).map(|i| data(512 * KIB, i)).collect();
    let mut tasks = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let (c, id, p) = (c.clone(), id.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            let r = c.upload_part("par", &id, i as u32 + 1, p).await;
            (i as u32 + 1, r.ok().header("etag").to_owned())
        }));
    }
    let mut etags = Vec::new();
    for t in tasks {
        etags.push(t.await.unwrap());
    }
    etags.sort();
    let r = c.complete("par", &id, &etags).await;
    let whole = parts.concat();
    assert_eq!(
        r.ok().header("x-oss-hash-crc64ecma"),
        crc64::checksum(&whole).to_string()
    );
    assert_eq!(&c.get("par").await.body[..], &whole[..]);
    server.shutdown().await;
}

/// A tiny callback receiver: answers 200 with JSON and remembers the bodies it got.
async fn callback_server() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use http_body_util::BodyExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let seen = seen.clone();
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            seen.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&body).into_owned());
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .header("content-type", "application/json")
                                    .body(http_body_util::Full::new(Bytes::from_static(
                                        b"{\"Status\":\"OK\"}",
                                    )))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, seen)
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn upload_callbacks() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = Client::new(&server);
    let (url, seen) = callback_server().await;
    let cb = b64(&format!(
        r#"{{"callbackUrl":"{url}","callbackBody":"bucket=${{bucket}}&object=${{object}}&size=${{size}}&crc=${{crc64}}&etag=${{etag}}&v=${{x:v}}","callbackBodyType":"application/x-www-form-urlencoded"}}"#
    ));
    let vars = b64(r#"{"x:v":"val"}"#);
    let r = c
        .call(
            "PUT",
            Some("cb/1"),
            &[],
            &[("x-oss-callback", &cb), ("x-oss-callback-var", &vars)],
            b"abc".to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "{\"Status\":\"OK\"}");
    assert_eq!(r.header("etag"), format!("\"{}\"", md5_upper(b"abc")));
    let got = seen.lock().unwrap().pop().unwrap();
    assert_eq!(
        got,
        format!(
            "bucket={BUCKET}&object=cb%2F1&size=3&crc={}&etag={}&v=val",
            crc64::checksum(b"abc"),
            md5_upper(b"abc")
        )
    );

    // Complete with a callback to a closed port: 203 CallbackFailed, the object exists.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let bad_cb = b64(&format!(
        r#"{{"callbackUrl":"http://{closed}/","callbackBody":"o=${{object}}"}}"#
    ));
    let id = c.initiate("cb/2").await;
    let e = c
        .upload_part("cb/2", &id, 1, b"xyz".to_vec())
        .await
        .header("etag")
        .to_owned();
    let body = to_xml(&CompleteMultipartUpload {
        parts: vec![CompletePart {
            part_number: 1,
            etag: e,
        }],
    })
    .unwrap();
    let r = c
        .send(
            c.build(
                "POST",
                Some("cb/2"),
                &[("uploadId", &id)],
                &[("x-oss-callback", &bad_cb)],
            )
            .body(body),
        )
        .await;
    r.expect_error(203, "CallbackFailed");
    assert_eq!(&c.get("cb/2").await.body[..], b"xyz");

    let r = c
        .call(
            "PUT",
            Some("cb/3"),
            &[],
            &[("x-oss-callback", "%%%")],
            b"abc".to_vec(),
        )
        .await;
    r.expect_error(400, "InvalidArgument");
    server.shutdown().await;
}

#[test]
fn fault_flag_parser() {
    let r = parse_fault("upload_part@3=status:503:ServiceUnavailable").unwrap();
    assert_eq!(r.op, Some(Op::UploadPart));
    assert_eq!((r.nth, r.times), (3, 1));
    assert!(
        matches!(r.action, FaultAction::Error { status: 503, ref code, .. } if code == "ServiceUnavailable")
    );
    let r = parse_fault("upload_part@2=drop:65536").unwrap();
    assert_eq!(r.action, FaultAction::DropAfterBodyBytes(65536));
    assert_eq!(
        parse_fault("put_object=drop:64KiB").unwrap().action,
        FaultAction::DropAfterBodyBytes(65536)
    );
    let r = parse_fault("any@1=delay:2s").unwrap();
    assert_eq!(r.op, None);
    assert_eq!(r.action, FaultAction::Delay(Duration::from_secs(2)));
    let r = parse_fault("complete@1=stall").unwrap();
    assert_eq!(
        (r.op, r.action),
        (Some(Op::CompleteMultipartUpload), FaultAction::Stall)
    );
    let r = parse_fault("list_uploads@2x3=reset").unwrap();
    assert_eq!(r.op, Some(Op::ListMultipartUploads));
    assert_eq!(
        (r.nth, r.times, r.action),
        (2, 3, FaultAction::ResetBeforeResponse)
    );
    let r = parse_fault("head_object=status:500").unwrap();
    assert!(
        matches!(r.action, FaultAction::Error { status: 500, ref code, .. } if code == "InternalError")
    );
    let r = parse_fault("get=status:404:NoSuchKey:gone away").unwrap();
    assert_eq!(
        r.action,
        FaultAction::Error {
            status: 404,
            code: "NoSuchKey".into(),
            message: "gone away".into()
        }
    );
    for bad in [
        "upload_part",
        "nope@1=stall",
        "upload_part@0=stall",
        "upload_part@1x0=stall",
        "upload_part@1=status:200",
        "upload_part@1=drop:lots",
        "upload_part@1=delay:soon",
        "upload_part@1=explode",
    ] {
        let e = parse_fault(bad).unwrap_err().to_string();
        assert!(e.contains(bad), "{e}");
    }
    assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
    assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
    assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
    assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
    assert!(parse_duration("-1s").is_err());
}

/// Stops the spawned server even when an assertion fails first.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_binary_prints_endpoint_first_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_oss-uploader"))
            .args(["serve", "--root"])
            .arg(dir.path())
            .args([
                "--bucket",
                "cli-bucket",
                "--fault",
                "put_object@1=status:503:SlowDown",
                "--outage",
                "1s",
            ])
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
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let statuses = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let http = http_builder().no_proxy().build().unwrap();
        let mut statuses = Vec::new();
        // Outage first (not counted by the fault rule), then the fault, then success.
        for i in 0..3 {
            if i == 1 {
                tokio::time::sleep(Duration::from_millis(1100)).await;
            }
            let r = http
                .put(format!("{endpoint}/cli-bucket/k"))
                .body("v")
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        let r = http
            .get(format!("{endpoint}/cli-bucket/k"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        statuses
    });
    assert_eq!(statuses, vec![503, 503, 200, 200]);
    drop(child);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oss-uploader"))
        .args(["serve", "--root"])
        .arg(dir.path())
        .args(["--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("loopback") || err.contains("127.0.0.1"),
        "{err}"
    );
}
