//! One request from arrival to answer: routing a path-style URL to a call, outages and fault
//! rules, the signature check, then the call itself against the store.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use base64::Engine as _;
use futures_util::{StreamExt as _, TryStreamExt as _};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use md5::{Digest as _, Md5};
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::oss::crc64;
use crate::oss::limits::{
    MAX_PART_SIZE, MAX_PARTS, MAX_PUT_OBJECT_SIZE, MIN_PART_SIZE, validate_bucket, validate_key,
};
use crate::oss::sign::{Resource, uri_encode_path};
use crate::oss::xml::{
    CompleteMultipartUpload, CompleteMultipartUploadResult, InitiateMultipartUploadResult,
    ListMultipartUploadsResult, ListPartsResult, PartSummary, UploadSummary, to_xml,
};

use super::auth::{self, Signed};
use super::body::{self, BodyError};
use super::callback::{self, Callback, ObjectFacts, Outcome};
use super::faults::{FaultAction, Faults};
use super::reply::{
    Body, OssError, error_response, finish, full, hex_upper, http_date, iso8601, plain_status,
    request_id, xml_response,
};
use super::store::{Locks, ObjectMeta, PartMeta, Store, UploadMeta, new_upload_id};
use super::{Counters, Op, ServerConfig};

/// The largest CompleteMultipartUpload body read: 10,000 parts fit in well under this.
const MAX_XML_BODY: usize = 4 * 1024 * 1024;
/// Read size when streaming an object back.
const READ_CHUNK: usize = 256 * 1024;

/// What every request handler shares.
pub(crate) struct Shared {
    pub config: ServerConfig,
    pub store: Arc<Store>,
    pub locks: Locks,
    pub faults: Faults,
    pub counters: Counters,
    host_id: String,
}

impl Shared {
    pub(crate) fn new(config: ServerConfig, store: Store, addr: SocketAddr) -> Self {
        Self {
            config,
            store: Arc::new(store),
            locks: Locks::default(),
            faults: Faults::default(),
            counters: Counters::default(),
            host_id: addr.to_string(),
        }
    }

    /// The server's clock, offset as configured.
    fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        real + self.config.clock_offset_secs
    }

    /// Runs file-system work on the blocking pool.
    async fn io<T, F>(&self, f: F) -> Result<T, OssError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> io::Result<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| OssError::internal(format!("storage task failed: {e}")))?
            .map_err(OssError::from)
    }
}

/// The connection is closed without an answer (a fault, or a client that went away).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Dropped(String);

/// A path-style request resolved to a call.
struct Route {
    op: Op,
    bucket: Option<String>,
    key: Option<String>,
    query: Vec<(String, String)>,
}

impl Route {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or_default()
    }

    fn key(&self) -> &str {
        self.key.as_deref().unwrap_or_default()
    }
}

fn decode(s: &str) -> Result<String, OssError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            OssError::invalid_argument("The URL is not valid UTF-8 after percent-decoding.")
        })
}

/// Sub-resources of calls the server does not have; answering NotImplemented beats silently
/// treating `PUT ?acl` as an upload.
const UNSUPPORTED: &[&str] = &[
    "acl",
    "tagging",
    "symlink",
    "append",
    "restore",
    "cors",
    "lifecycle",
    "logging",
    "website",
    "referer",
    "versioning",
    "versions",
    "delete",
    "location",
    "bucketInfo",
    "stat",
    "policy",
    "encryption",
    "inventory",
    "replication",
    "worm",
    "x-oss-process",
    "comp",
    "live",
];

fn route(parts: &Parts) -> Result<Route, OssError> {
    let mut query = Vec::new();
    for pair in parts.uri.query().unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query.push((decode(k)?, decode(v)?));
    }
    let path = parts
        .uri
        .path()
        .strip_prefix('/')
        .unwrap_or(parts.uri.path());
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (b, k),
        None => (path, ""),
    };
    let bucket = (!bucket.is_empty()).then(|| decode(bucket)).transpose()?;
    let key = (!key.is_empty()).then(|| decode(key)).transpose()?;
    let mut route = Route {
        op: Op::PutBucket,
        bucket,
        key,
        query,
    };
    if let Some(sub) = UNSUPPORTED.iter().find(|s| route.has(s)) {
        return Err(OssError::not_implemented(&format!(
            "the \"{sub}\" sub-resource"
        )));
    }
    let method = &parts.method;
    route.op = match (route.bucket.is_some(), route.key.is_some()) {
        (false, _) => {
            return Err(OssError::not_implemented(
                "service-level calls such as ListBuckets",
            ));
        }
        (true, false) => match *method {
            Method::PUT => Op::PutBucket,
            Method::GET if route.has("uploads") => Op::ListMultipartUploads,
            _ => {
                return Err(OssError::not_implemented(&format!(
                    "{method} on a bucket (only PutBucket and ListMultipartUploads)"
                )));
            }
        },
        (true, true) => match *method {
            Method::PUT if parts.headers.contains_key("x-oss-copy-source") => {
                return Err(OssError::not_implemented("CopyObject and UploadPartCopy"));
            }
            Method::PUT if route.has("partNumber") || route.has("uploadId") => Op::UploadPart,
            Method::PUT => Op::PutObject,
            Method::GET if route.has("uploadId") => Op::ListParts,
            Method::GET => Op::GetObject,
            Method::HEAD => Op::HeadObject,
            Method::DELETE if route.has("uploadId") => Op::AbortMultipartUpload,
            Method::DELETE => Op::DeleteObject,
            Method::POST if route.has("uploads") => Op::InitiateMultipartUpload,
            Method::POST if route.has("uploadId") => Op::CompleteMultipartUpload,
            _ => return Err(OssError::not_implemented(&format!("{method} on an object"))),
        },
    };
    Ok(route)
}

/// Everything a call handler needs about its request.
struct Ctx<'a> {
    shared: &'a Shared,
    route: &'a Route,
    headers: &'a HeaderMap,
    request_id: &'a str,
    counter: &'a AtomicU64,
}

/// Why a call did not produce an answer of its own.
enum Failure {
    Oss(OssError),
    Body(BodyError),
}

impl From<OssError> for Failure {
    fn from(e: OssError) -> Self {
        Failure::Oss(e)
    }
}

impl From<BodyError> for Failure {
    fn from(e: BodyError) -> Self {
        Failure::Body(e)
    }
}

type CallResult = Result<Response<Body>, Failure>;

/// The hyper service: one request in, one answer out, or a dropped connection.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let request_id = request_id();
    let (parts, mut body) = req.into_parts();
    let is_head = parts.method == Method::HEAD;
    let answer_error = |err: OssError| {
        let mut response = error_response(err, &request_id, &shared.host_id, is_head);
        finish(&mut response, &request_id, shared.now());
        response
    };
    let route = match route(&parts) {
        Ok(route) => route,
        Err(err) => {
            let unrouted = AtomicU64::new(0);
            let _ = body::drain(&mut body, &unrouted).await;
            return Ok(answer_error(err));
        }
    };
    let op = route.op;
    shared.counters.request(op);
    let counter = shared.counters.bytes(op);
    tracing::debug!(%op, method = %parts.method, uri = %parts.uri, "request");

    if shared.faults.in_outage() {
        let _ = body::drain(&mut body, counter).await;
        return Ok(answer_error(
            OssError::new(
                503,
                "ServiceUnavailable",
                "Please reduce your request rate.",
            )
            .ec("0001-00000503"),
        ));
    }
    let mut reset = false;
    match shared.faults.take(op) {
        Some(FaultAction::Error {
            status,
            code,
            message,
        }) => {
            tracing::info!(%op, status, %code, "fault: error answer");
            let _ = body::drain(&mut body, counter).await;
            return Ok(answer_error(OssError::new(status, &code, message)));
        }
        Some(FaultAction::DropAfterBodyBytes(n)) => {
            let why = body::read_then_drop(&mut body, n, counter).await;
            tracing::info!(%op, "fault: {why}");
            return Err(Dropped(why.to_string()));
        }
        Some(FaultAction::Delay(d)) => {
            tracing::info!(%op, ?d, "fault: delay");
            tokio::time::sleep(d).await;
        }
        Some(FaultAction::Stall) => {
            tracing::info!(%op, "fault: stall");
            // Ends when the client hangs up (hyper drops this future) or the server stops.
            std::future::pending::<()>().await;
        }
        Some(FaultAction::ResetBeforeResponse) => reset = true,
        None => {}
    }

    let ctx = Ctx {
        shared: &shared,
        route: &route,
        headers: &parts.headers,
        request_id: &request_id,
        counter,
    };
    let result = match check_auth(&ctx, &parts.method) {
        Ok(()) => call(&ctx, &mut body).await,
        Err(e) => Err(Failure::Oss(e)),
    };
    let mut response = match result {
        Ok(response) => response,
        Err(Failure::Oss(err)) => {
            if err.status.is_server_error() {
                tracing::warn!(%op, code = %err.body.code, "{}", err.body.message);
            }
            error_response(err, &request_id, &shared.host_id, is_head)
        }
        Err(Failure::Body(BodyError::TooLarge(limit))) => error_response(
            OssError::new(
                400,
                "EntityTooLarge",
                format!("Your proposed upload exceeds the maximum allowed size of {limit} bytes."),
            ),
            &request_id,
            &shared.host_id,
            is_head,
        ),
        Err(Failure::Body(BodyError::Io(e))) => {
            error_response(OssError::from(e), &request_id, &shared.host_id, is_head)
        }
        Err(Failure::Body(e)) => {
            tracing::debug!(%op, "no answer: {e}");
            return Err(Dropped(e.to_string()));
        }
    };
    if let Err(e) = body::drain(&mut body, counter).await {
        return Err(Dropped(e.to_string()));
    }
    if reset {
        tracing::info!(%op, "fault: reset before response");
        return Err(Dropped("connection reset by a fault rule".to_owned()));
    }
    finish(&mut response, &request_id, shared.now());
    Ok(response)
}

fn check_auth(ctx: &Ctx<'_>, method: &Method) -> Result<(), OssError> {
    let Some(creds) = &ctx.shared.config.credentials else {
        return Ok(());
    };
    let resource = match (&ctx.route.bucket, &ctx.route.key) {
        (Some(b), Some(k)) => Resource::object(b, k),
        (Some(b), None) => Resource::bucket(b),
        _ => Resource::service(),
    };
    auth::verify(
        creds,
        &Signed {
            method: method.as_str(),
            resource,
            query: &ctx.route.query,
            headers: ctx.headers,
        },
        ctx.shared.now(),
    )
}

async fn call(ctx: &Ctx<'_>, body: &mut Incoming) -> CallResult {
    match ctx.route.op {
        Op::PutBucket => put_bucket(ctx).await,
        Op::PutObject => put_object(ctx, body).await,
        Op::GetObject => get_object(ctx, false).await,
        Op::HeadObject => get_object(ctx, true).await,
        Op::DeleteObject => delete_object(ctx).await,
        Op::InitiateMultipartUpload => initiate(ctx).await,
        Op::UploadPart => upload_part(ctx, body).await,
        Op::CompleteMultipartUpload => complete(ctx, body).await,
        Op::AbortMultipartUpload => abort(ctx).await,
        Op::ListParts => list_parts(ctx).await,
        Op::ListMultipartUploads => list_uploads(ctx).await,
    }
}

// ---- request header helpers ----

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn is_true(headers: &HeaderMap, name: &str) -> bool {
    header_str(headers, name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn content_type(headers: &HeaderMap) -> String {
    header_str(headers, "content-type")
        .filter(|v| !v.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned()
}

fn object_acl(headers: &HeaderMap) -> Result<Option<String>, OssError> {
    match header_str(headers, "x-oss-object-acl") {
        None => Ok(None),
        Some(acl @ ("default" | "private" | "public-read" | "public-read-write")) => {
            Ok(Some(acl.to_owned()))
        }
        Some(_) => Err(OssError::invalid_argument(
            "no such object access control exists",
        )),
    }
}

fn user_meta(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-oss-meta-"))
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The `Content-MD5` the client promised, if any.
fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, OssError> {
    let Some(value) = headers.get("content-md5") else {
        return Ok(None);
    };
    let invalid = || {
        OssError::new(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified was invalid.",
        )
        .ec("0017-00000502")
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|_| invalid())?;
    <[u8; 16]>::try_from(decoded.as_slice())
        .map(Some)
        .map_err(|_| invalid())
}

fn check_md5(expected: Option<[u8; 16]>, got: [u8; 16]) -> Result<(), OssError> {
    match expected {
        Some(e) if e != got => Err(OssError::new(
            400,
            "BadDigest",
            "The Content-MD5 you specified did not match what we received.",
        )
        .ec("0017-00000503")),
        _ => Ok(()),
    }
}

/// Refuses a declared body larger than `max` before reading it.
fn check_declared_size(headers: &HeaderMap, max: u64) -> Result<(), OssError> {
    let declared = header_str(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > max => Err(OssError::new(
            400,
            "EntityTooLarge",
            format!("Your proposed upload exceeds the maximum allowed size of {max} bytes."),
        )),
        _ => Ok(()),
    }
}

fn check_key(key: &str) -> Result<(), OssError> {
    validate_key(key)
        .map_err(|e| OssError::new(400, "InvalidObjectName", e.to_string()).ec("0016-00000005"))
}

async fn require_bucket(ctx: &Ctx<'_>) -> Result<(), OssError> {
    let bucket = ctx.route.bucket().to_owned();
    // A name PutBucket would refuse cannot exist; checking it also keeps decoded names such as
    // `..` from reaching the file system.
    if validate_bucket(&bucket).is_err() {
        return Err(OssError::no_such_bucket());
    }
    if ctx.shared.io(move |s| Ok(s.bucket_exists(&bucket))).await? {
        Ok(())
    } else {
        Err(OssError::no_such_bucket())
    }
}

async fn require_upload(ctx: &Ctx<'_>) -> Result<UploadMeta, OssError> {
    let bucket = ctx.route.bucket().to_owned();
    let upload_id = ctx.route.param("uploadId").unwrap_or_default().to_owned();
    let upload = ctx
        .shared
        .io(move |s| s.upload(&bucket, &upload_id))
        .await?;
    match upload {
        Some(u) if u.key == ctx.route.key() => Ok(u),
        _ => Err(OssError::no_such_upload()),
    }
}

fn file_exists() -> OssError {
    OssError::new(
        409,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
    .ec("0016-00000708")
}

fn parse_number(route: &Route, name: &str, default: u64, max: u64) -> Result<u64, OssError> {
    match route.param(name) {
        None | Some("") => Ok(default),
        Some(v) => v.parse::<u64>().ok().map(|n| n.min(max)).ok_or_else(|| {
            OssError::invalid_argument(format!(
                "{name} must be a non-negative integer, not \"{v}\"."
            ))
        }),
    }
}

/// A body file in `tmp/` that is removed if the request ends before it is committed.
struct TmpFile(std::path::PathBuf);

impl Drop for TmpFile {
    fn drop(&mut self) {
        // After a commit the file was renamed away and this finds nothing, which is fine.
        let _ = std::fs::remove_file(&self.0);
    }
}

fn set(builder: http::response::Builder, name: &str, value: &str) -> http::response::Builder {
    match HeaderValue::from_str(value) {
        Ok(v) => builder.header(name, v),
        // Only stored user metadata could fail here, and it came in as a valid header.
        Err(_) => builder,
    }
}

fn build(builder: http::response::Builder, body: Body) -> Response<Body> {
    builder
        .body(body)
        .unwrap_or_else(|_| plain_status(StatusCode::INTERNAL_SERVER_ERROR))
}

// ---- calls ----

async fn put_bucket(ctx: &Ctx<'_>) -> CallResult {
    let bucket = ctx.route.bucket().to_owned();
    validate_bucket(&bucket)
        .map_err(|e| OssError::new(400, "InvalidBucketName", e.to_string()).ec("0015-00000001"))?;
    let b = bucket.clone();
    ctx.shared.io(move |s| s.create_bucket(&b)).await?;
    let builder = set(Response::builder(), "location", &format!("/{bucket}"));
    Ok(build(builder, super::reply::empty()))
}

/// The answer to a stored upload, or the callback server's answer when a callback was asked.
async fn stored_answer(
    ctx: &Ctx<'_>,
    ok: Response<Body>,
    callback: Option<Callback>,
    meta: &ObjectMeta,
) -> Response<Body> {
    let Some(callback) = callback else {
        return ok;
    };
    let facts = ObjectFacts {
        bucket: ctx.route.bucket(),
        key: &meta.key,
        etag: meta.etag.trim_matches('"'),
        size: meta.size,
        mime_type: &meta.content_type,
        crc64: meta.crc64,
    };
    let mut answer = match callback.call(&facts).await {
        Outcome::Answered { content_type, body } => {
            let builder = set(Response::builder(), "content-type", &content_type)
                .header(header::CONTENT_LENGTH, body.len());
            build(builder, full(body))
        }
        Outcome::Failed(why) => {
            tracing::info!("upload callback failed: {why}");
            error_response(
                callback::failed(&why),
                ctx.request_id,
                &ctx.shared.host_id,
                false,
            )
        }
    };
    for name in ["etag", "x-oss-hash-crc64ecma", "content-md5"] {
        if let Some(v) = ok.headers().get(name) {
            answer.headers_mut().insert(name, v.clone());
        }
    }
    answer
}

async fn put_object(ctx: &Ctx<'_>, body: &mut Incoming) -> CallResult {
    require_bucket(ctx).await?;
    let (bucket, key) = (ctx.route.bucket().to_owned(), ctx.route.key().to_owned());
    check_key(&key)?;
    let acl = object_acl(ctx.headers)?;
    let expected_md5 = content_md5(ctx.headers)?;
    let callback = callback::parse(ctx.headers)?;
    check_declared_size(ctx.headers, MAX_PUT_OBJECT_SIZE)?;
    let forbid = is_true(ctx.headers, "x-oss-forbid-overwrite");
    if forbid {
        let (b, k) = (bucket.clone(), key.clone());
        if ctx.shared.io(move |s| s.object(&b, &k)).await?.is_some() {
            return Err(file_exists().into());
        }
    }
    let tmp = TmpFile(ctx.shared.store.tmp_path());
    let received = body::receive_to_file(body, &tmp.0, MAX_PUT_OBJECT_SIZE, ctx.counter).await?;
    check_md5(expected_md5, received.md5)?;
    let meta = ObjectMeta {
        key: key.clone(),
        segments: Vec::new(),
        size: received.size,
        etag: format!("\"{}\"", hex_upper(&received.md5)),
        crc64: received.crc64,
        content_type: content_type(ctx.headers),
        acl,
        user_meta: user_meta(ctx.headers),
        last_modified: ctx.shared.now(),
        object_type: "Normal".to_owned(),
    };
    let committed = {
        let _guard = ctx
            .shared
            .locks
            .lock(format!("object:{bucket}/{key}"))
            .await;
        let (m, path) = (meta.clone(), tmp.0.clone());
        ctx.shared
            .io(move |s| {
                if forbid && s.object(&bucket, &m.key)?.is_some() {
                    return Ok(false);
                }
                s.commit_object(&bucket, m, &path).map(|()| true)
            })
            .await?
    };
    if !committed {
        return Err(file_exists().into());
    }
    let md5_b64 = base64::engine::general_purpose::STANDARD.encode(received.md5);
    let builder = Response::builder()
        .header(header::ETAG, meta.etag.as_str())
        .header("x-oss-hash-crc64ecma", meta.crc64.to_string())
        .header("content-md5", md5_b64);
    let ok = build(builder, super::reply::empty());
    Ok(stored_answer(ctx, ok, callback, &meta).await)
}

fn object_headers(
    mut builder: http::response::Builder,
    meta: &ObjectMeta,
) -> http::response::Builder {
    builder = set(builder, "content-type", &meta.content_type)
        .header(header::ETAG, meta.etag.as_str())
        .header(header::LAST_MODIFIED, http_date(meta.last_modified))
        .header(header::ACCEPT_RANGES, "bytes")
        .header("x-oss-hash-crc64ecma", meta.crc64.to_string())
        .header("x-oss-object-type", meta.object_type.as_str())
        .header("x-oss-storage-class", "Standard");
    if let Some(acl) = &meta.acl {
        builder = set(builder, "x-oss-object-acl", acl);
    }
    for (name, value) in &meta.user_meta {
        builder = set(builder, name, value);
    }
    builder
}

/// What a `Range` header asks for, as OSS reads it.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    Whole,
    Part { start: u64, end: u64 },
    Unsatisfiable,
}

/// OSS serves the whole object for a range it cannot satisfy unless the client asks for
/// standard behaviour (`x-oss-range-behavior: standard`), which clamps the end and answers 416
/// only when the start is past the end.
fn parse_range(value: Option<&str>, size: u64, standard: bool) -> RangeAsk {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeAsk::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let bad = if standard {
        RangeAsk::Unsatisfiable
    } else {
        RangeAsk::Whole
    };
    let parsed = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(start), Some(end)) if start <= end => Some((start, end)),
        (Some(start), None) if b.is_empty() => Some((start, size.saturating_sub(1))),
        (None, Some(n)) if a.is_empty() && n > 0 => {
            Some((size.saturating_sub(n), size.saturating_sub(1)))
        }
        _ => return RangeAsk::Whole,
    };
    match parsed {
        Some((start, _)) if start >= size => bad,
        Some((start, end)) if end >= size => {
            if standard {
                RangeAsk::Part {
                    start,
                    end: size - 1,
                }
            } else {
                RangeAsk::Whole
            }
        }
        Some((start, end)) => RangeAsk::Part { start, end },
        None => RangeAsk::Whole,
    }
}

async fn get_object(ctx: &Ctx<'_>, head: bool) -> CallResult {
    require_bucket(ctx).await?;
    let (bucket, key) = (ctx.route.bucket().to_owned(), ctx.route.key().to_owned());
    check_key(&key)?;
    let found = ctx
        .shared
        .io(move |s| {
            for _ in 0..5 {
                let Some(meta) = s.object(&bucket, &key)? else {
                    return Ok(None);
                };
                let paths = s.segment_paths(&bucket, &meta);
                // Opening the first file now notices an overwrite that removed it since the
                // metadata was read; the lookup is then simply repeated.
                match paths
                    .first()
                    .map(|(p, _)| std::fs::File::open(p))
                    .transpose()
                {
                    Ok(first) => return Ok(Some((meta, paths, first))),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(io::Error::other(
                "the object kept changing while being opened",
            ))
        })
        .await?;
    let Some((meta, paths, mut first)) = found else {
        return Err(OssError::no_such_key().into());
    };
    let standard = header_str(ctx.headers, "x-oss-range-behavior")
        .is_some_and(|v| v.eq_ignore_ascii_case("standard"));
    let range = parse_range(header_str(ctx.headers, "range"), meta.size, standard);
    let builder = object_headers(Response::builder(), &meta);
    let (builder, start, len) = match range {
        RangeAsk::Whole => (builder.status(StatusCode::OK), 0, meta.size),
        RangeAsk::Part { start, end } => (
            builder.status(StatusCode::PARTIAL_CONTENT).header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{}", meta.size),
            ),
            start,
            end - start + 1,
        ),
        RangeAsk::Unsatisfiable => {
            let mut err = error_response(
                OssError::new(
                    416,
                    "InvalidRange",
                    "The requested range cannot be satisfied.",
                )
                .ec("0003-00000125"),
                ctx.request_id,
                &ctx.shared.host_id,
                head,
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
                err.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(err);
        }
    };
    let builder = builder.header(header::CONTENT_LENGTH, len);
    if head {
        return Ok(build(builder, super::reply::empty()));
    }
    // The pieces of the segments that overlap the range, as (file, offset, length).
    let mut pieces = Vec::new();
    let (mut pos, end) = (0u64, start + len);
    for (i, (path, size)) in paths.into_iter().enumerate() {
        let (from, to) = (start.max(pos), end.min(pos + size));
        if from < to {
            let opened = if i == 0 { first.take() } else { None };
            pieces.push((path, opened, from - pos, to - from));
        }
        pos += size;
    }
    let stream = futures_util::stream::iter(pieces)
        .then(|(path, opened, offset, len)| async move {
            let mut file = match opened {
                Some(f) => tokio::fs::File::from_std(f),
                None => tokio::fs::File::open(&path).await?,
            };
            if offset > 0 {
                file.seek(io::SeekFrom::Start(offset)).await?;
            }
            Ok::<_, io::Error>(tokio_util::io::ReaderStream::with_capacity(
                file.take(len),
                READ_CHUNK,
            ))
        })
        .try_flatten()
        .map_ok(Frame::data);
    Ok(build(builder, BodyExt::boxed(StreamBody::new(stream))))
}

async fn delete_object(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let (bucket, key) = (ctx.route.bucket().to_owned(), ctx.route.key().to_owned());
    check_key(&key)?;
    let _guard = ctx
        .shared
        .locks
        .lock(format!("object:{bucket}/{key}"))
        .await;
    // OSS answers 204 whether or not the object existed.
    ctx.shared
        .io(move |s| s.delete_object(&bucket, &key))
        .await?;
    Ok(plain_status(StatusCode::NO_CONTENT))
}

async fn initiate(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let (bucket, key) = (ctx.route.bucket().to_owned(), ctx.route.key().to_owned());
    check_key(&key)?;
    let acl = object_acl(ctx.headers)?;
    let forbid = is_true(ctx.headers, "x-oss-forbid-overwrite");
    if forbid {
        let (b, k) = (bucket.clone(), key.clone());
        if ctx.shared.io(move |s| s.object(&b, &k)).await?.is_some() {
            return Err(file_exists().into());
        }
    }
    let upload = UploadMeta {
        upload_id: new_upload_id(),
        key: key.clone(),
        initiated: ctx.shared.now(),
        content_type: content_type(ctx.headers),
        acl,
        user_meta: user_meta(ctx.headers),
        forbid_overwrite: forbid,
    };
    let (b, u) = (bucket.clone(), upload.clone());
    ctx.shared.io(move |s| s.create_upload(&b, &u)).await?;
    let xml = to_xml(&InitiateMultipartUploadResult {
        bucket,
        key,
        upload_id: upload.upload_id,
    })
    .map_err(|e| OssError::internal(e.to_string()))?;
    Ok(xml_response(StatusCode::OK, xml))
}

fn part_number(route: &Route) -> Result<u32, OssError> {
    route
        .param("partNumber")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            OssError::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive.",
            )
            .ec("0042-00000001")
        })
}

async fn upload_part(ctx: &Ctx<'_>, body: &mut Incoming) -> CallResult {
    let number = part_number(ctx.route)?;
    require_bucket(ctx).await?;
    check_key(ctx.route.key())?;
    let upload = require_upload(ctx).await?;
    let expected_md5 = content_md5(ctx.headers)?;
    check_declared_size(ctx.headers, MAX_PART_SIZE)?;
    let tmp = TmpFile(ctx.shared.store.tmp_path());
    let received = body::receive_to_file(body, &tmp.0, MAX_PART_SIZE, ctx.counter).await?;
    check_md5(expected_md5, received.md5)?;
    let part = PartMeta {
        number,
        data_file: String::new(),
        size: received.size,
        md5_hex: hex_upper(&received.md5),
        crc64: received.crc64,
        last_modified: ctx.shared.now(),
    };
    let etag = part.etag();
    let bucket = ctx.route.bucket().to_owned();
    let upload_id = upload.upload_id;
    let committed = {
        let _guard = ctx.shared.locks.lock(format!("upload:{upload_id}")).await;
        let path = tmp.0.clone();
        ctx.shared
            .io(move |s| s.commit_part(&bucket, &upload_id, part, &path))
            .await?
    };
    if !committed {
        return Err(OssError::no_such_upload().into());
    }
    let builder = Response::builder()
        .header(header::ETAG, etag)
        .header("x-oss-hash-crc64ecma", received.crc64.to_string())
        .header(
            "content-md5",
            base64::engine::general_purpose::STANDARD.encode(received.md5),
        );
    Ok(build(builder, super::reply::empty()))
}

fn normalize_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_uppercase()
}

fn md5_from_hex(hex: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    if hex.len() != 32 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The parts a CompleteMultipartUpload names, checked as OSS checks them.
fn chosen_parts(
    ctx: &Ctx<'_>,
    xml: &[u8],
    stored: Vec<PartMeta>,
) -> Result<Vec<PartMeta>, OssError> {
    let complete_all = header_str(ctx.headers, "x-oss-complete-all")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    if complete_all {
        if !xml.iter().all(u8::is_ascii_whitespace) {
            return Err(OssError::invalid_argument(
                "Should not specify the part list when x-oss-complete-all is yes.",
            ));
        }
        if stored.is_empty() {
            return Err(OssError::invalid_argument(
                "The upload has no parts to complete.",
            ));
        }
        return check_sizes(stored);
    }
    let malformed = || {
        OssError::malformed_xml(
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
        .ec("0042-00000203")
    };
    let text = std::str::from_utf8(xml).map_err(|_| malformed())?;
    let request: CompleteMultipartUpload =
        crate::oss::xml::from_xml(text).map_err(|_| malformed())?;
    if request.parts.is_empty() {
        return Err(malformed());
    }
    if request
        .parts
        .windows(2)
        .any(|w| w[0].part_number >= w[1].part_number)
    {
        return Err(OssError::new(
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts list must specified in order by part number.",
        )
        .ec("0042-00000209"));
    }
    let mut by_number: HashMap<u32, PartMeta> = stored.into_iter().map(|p| (p.number, p)).collect();
    let mut chosen = Vec::with_capacity(request.parts.len());
    for wanted in &request.parts {
        match by_number.remove(&wanted.part_number) {
            Some(part) if normalize_etag(&wanted.etag) == part.md5_hex => chosen.push(part),
            _ => {
                return Err(OssError::new(
                    400,
                    "InvalidPart",
                    format!(
                        "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag. PartNumber: {}, ETag: {}.",
                        wanted.part_number, wanted.etag
                    ),
                )
                .ec("0042-00000208"));
            }
        }
    }
    check_sizes(chosen)
}

fn check_sizes(parts: Vec<PartMeta>) -> Result<Vec<PartMeta>, OssError> {
    if let Some(small) = parts[..parts.len().saturating_sub(1)]
        .iter()
        .find(|p| p.size < MIN_PART_SIZE)
    {
        return Err(OssError::new(
            400,
            "EntityTooSmall",
            format!(
                "Your proposed upload is smaller than the minimum allowed size. Part {} is {} bytes; every part but the last must be at least {MIN_PART_SIZE} bytes.",
                small.number, small.size
            ),
        )
        .ec("0042-00000213"));
    }
    Ok(parts)
}

async fn complete(ctx: &Ctx<'_>, body: &mut Incoming) -> CallResult {
    require_bucket(ctx).await?;
    let (bucket, key) = (ctx.route.bucket().to_owned(), ctx.route.key().to_owned());
    check_key(&key)?;
    let xml = body::read_small(body, MAX_XML_BODY, ctx.counter)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge(_) => Failure::Oss(OssError::malformed_xml(
                "The CompleteMultipartUpload body is too large.",
            )),
            other => Failure::Body(other),
        })?;
    let callback = callback::parse(ctx.headers)?;
    let acl_override = object_acl(ctx.headers)?;
    let upload_id = ctx.route.param("uploadId").unwrap_or_default().to_owned();
    // Holding the upload's lock keeps a late UploadPart from changing parts being joined.
    let _upload_guard = ctx.shared.locks.lock(format!("upload:{upload_id}")).await;
    let upload = require_upload(ctx).await?;
    let (b, u) = (bucket.clone(), upload_id.clone());
    let stored = ctx.shared.io(move |s| s.parts(&b, &u)).await?;
    let parts = chosen_parts(ctx, &xml, stored)?;
    let forbid = upload.forbid_overwrite || is_true(ctx.headers, "x-oss-forbid-overwrite");

    let mut md5s = Md5::new();
    let mut crc = 0u64;
    let mut size = 0u64;
    for part in &parts {
        let digest = md5_from_hex(&part.md5_hex)
            .ok_or_else(|| OssError::internal(format!("part {} has a damaged MD5", part.number)))?;
        md5s.update(digest);
        crc = crc64::combine(crc, part.crc64, part.size);
        size += part.size;
    }
    let etag = format!("\"{}-{}\"", hex_upper(&md5s.finalize()), parts.len());
    let meta = ObjectMeta {
        key: key.clone(),
        segments: Vec::new(),
        size,
        etag,
        crc64: crc,
        content_type: upload.content_type.clone(),
        acl: acl_override.or(upload.acl.clone()),
        user_meta: upload.user_meta.clone(),
        last_modified: ctx.shared.now(),
        object_type: "Multipart".to_owned(),
    };

    let committed = {
        let _guard = ctx
            .shared
            .locks
            .lock(format!("object:{bucket}/{key}"))
            .await;
        let (b, u, m) = (bucket.clone(), upload_id.clone(), meta.clone());
        ctx.shared
            .io(move |s| {
                if forbid && s.object(&b, &m.key)?.is_some() {
                    return Ok(false);
                }
                s.commit_multipart(&b, &u, m, &parts)?;
                Ok(true)
            })
            .await?
    };
    if !committed {
        return Err(file_exists().into());
    }
    let xml = to_xml(&CompleteMultipartUploadResult {
        location: format!(
            "http://{}/{}/{}",
            ctx.shared.host_id,
            bucket,
            uri_encode_path(&key)
        ),
        bucket,
        key,
        etag: meta.etag.clone(),
    })
    .map_err(|e| OssError::internal(e.to_string()))?;
    let mut ok = xml_response(StatusCode::OK, xml);
    if let Ok(v) = HeaderValue::from_str(&meta.crc64.to_string()) {
        ok.headers_mut().insert("x-oss-hash-crc64ecma", v);
    }
    if let Ok(v) = HeaderValue::from_str(&meta.etag) {
        ok.headers_mut().insert(header::ETAG, v);
    }
    Ok(stored_answer(ctx, ok, callback, &meta).await)
}

async fn abort(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let upload_id = ctx.route.param("uploadId").unwrap_or_default().to_owned();
    let _guard = ctx.shared.locks.lock(format!("upload:{upload_id}")).await;
    require_upload(ctx).await?;
    let bucket = ctx.route.bucket().to_owned();
    ctx.shared
        .io(move |s| s.remove_upload(&bucket, &upload_id))
        .await?;
    Ok(plain_status(StatusCode::NO_CONTENT))
}

async fn list_parts(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let upload = require_upload(ctx).await?;
    let max_parts = parse_number(ctx.route, "max-parts", 1000, 1000)?;
    if max_parts == 0 {
        return Err(OssError::invalid_argument("max-parts must be between 1 and 1000.").into());
    }
    let marker = parse_number(ctx.route, "part-number-marker", 0, u64::from(MAX_PARTS))?;
    let (b, u) = (ctx.route.bucket().to_owned(), upload.upload_id.clone());
    let stored = ctx.shared.io(move |s| s.parts(&b, &u)).await?;
    let mut after: Vec<PartMeta> = stored
        .into_iter()
        .filter(|p| u64::from(p.number) > marker)
        .collect();
    let truncated = after.len() as u64 > max_parts;
    after.truncate(max_parts as usize);
    let result = ListPartsResult {
        bucket: ctx.route.bucket().to_owned(),
        key: upload.key,
        upload_id: upload.upload_id,
        part_number_marker: marker.to_string(),
        next_part_number_marker: after
            .last()
            .map(|p| p.number.to_string())
            .unwrap_or_default(),
        max_parts: max_parts.to_string(),
        is_truncated: truncated,
        parts: after
            .iter()
            .map(|p| PartSummary {
                part_number: p.number,
                last_modified: iso8601(p.last_modified),
                etag: p.etag(),
                size: p.size,
                hash_crc64ecma: Some(p.crc64),
            })
            .collect(),
    };
    let xml = to_xml(&result).map_err(|e| OssError::internal(e.to_string()))?;
    Ok(xml_response(StatusCode::OK, xml))
}

async fn list_uploads(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let max_uploads = parse_number(ctx.route, "max-uploads", 1000, 1000)?;
    if max_uploads == 0 {
        return Err(OssError::invalid_argument("max-uploads must be between 1 and 1000.").into());
    }
    let prefix = ctx.route.param("prefix").unwrap_or_default().to_owned();
    let key_marker = ctx.route.param("key-marker").unwrap_or_default().to_owned();
    let id_marker = ctx
        .route
        .param("upload-id-marker")
        .unwrap_or_default()
        .to_owned();
    let bucket = ctx.route.bucket().to_owned();
    let b = bucket.clone();
    let all = ctx.shared.io(move |s| s.uploads(&b)).await?;
    let mut page: Vec<UploadMeta> = all
        .into_iter()
        .filter(|u| u.key.starts_with(&prefix))
        .filter(|u| {
            key_marker.is_empty()
                || u.key > key_marker
                || (!id_marker.is_empty() && u.key == key_marker && u.upload_id > id_marker)
        })
        .collect();
    let truncated = page.len() as u64 > max_uploads;
    page.truncate(max_uploads as usize);
    let last = page.last();
    let result = ListMultipartUploadsResult {
        bucket,
        key_marker: key_marker.clone(),
        upload_id_marker: id_marker.clone(),
        next_key_marker: last.map(|u| u.key.clone()).unwrap_or_default(),
        next_upload_id_marker: last.map(|u| u.upload_id.clone()).unwrap_or_default(),
        delimiter: ctx.route.param("delimiter").unwrap_or_default().to_owned(),
        prefix,
        max_uploads: max_uploads.to_string(),
        is_truncated: truncated,
        uploads: page
            .iter()
            .map(|u| UploadSummary {
                key: u.key.clone(),
                upload_id: u.upload_id.clone(),
                initiated: iso8601(u.initiated),
            })
            .collect(),
    };
    let xml = to_xml(&result).map_err(|e| OssError::internal(e.to_string()))?;
    Ok(xml_response(StatusCode::OK, xml))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_oss() {
        use RangeAsk::*;
        assert_eq!(parse_range(None, 10, false), Whole);
        assert_eq!(
            parse_range(Some("bytes=0-3"), 10, false),
            Part { start: 0, end: 3 }
        );
        assert_eq!(
            parse_range(Some("bytes=4-"), 10, false),
            Part { start: 4, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=-3"), 10, false),
            Part { start: 7, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=5-20"), 10, false), Whole);
        assert_eq!(
            parse_range(Some("bytes=5-20"), 10, true),
            Part { start: 5, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=10-20"), 10, false), Whole);
        assert_eq!(parse_range(Some("bytes=10-20"), 10, true), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=3-1"), 10, true), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10, true), Whole);
    }

    #[test]
    fn md5_hex_round_trip() {
        let d = [0xABu8; 16];
        assert_eq!(md5_from_hex(&hex_upper(&d)), Some(d));
        assert_eq!(md5_from_hex("xyz"), None);
    }
}
