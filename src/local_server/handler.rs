//! One request from arrival to answer: routing a path-style URL to a call, outages and fault
//! rules, the signature check, then the call itself (in `objects` and `multipart`), plus the
//! request-header helpers those calls share.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use base64::Engine as _;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;

use crate::oss::limits::{validate_bucket, validate_key};
use crate::oss::sign::Resource;

use super::auth::{self, Signed};
use super::body::{self, BodyError};
use super::callback::{self, Callback, ObjectFacts, Outcome};
use super::faults::{FaultAction, Faults};
use super::reply::{Body, OssError, error_response, finish, full, plain_status, request_id};
use super::store::{Locks, ObjectMeta, Store, UploadMeta};
use super::{Counters, Op, ServerConfig};
use super::{multipart, objects};

/// What every request handler shares.
pub(crate) struct Shared {
    pub config: ServerConfig,
    pub store: Arc<Store>,
    pub locks: Locks,
    pub faults: Faults,
    pub counters: Counters,
    pub(super) host_id: String,
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
    pub(super) fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        real + self.config.clock_offset_secs
    }

    /// Runs file-system work on the blocking pool.
    pub(super) async fn io<T, F>(&self, f: F) -> Result<T, OssError>
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
pub(super) struct Route {
    op: Op,
    bucket: Option<String>,
    key: Option<String>,
    query: Vec<(String, String)>,
}

impl Route {
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    pub(super) fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or_default()
    }

    pub(super) fn key(&self) -> &str {
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
        // Query strings follow form encoding: oss2 (through `requests`) sends a space as `+`
        // and a plus as `%2B`; SDKs that write `%20` are read the same way.
        let form = |s: &str| decode(&s.replace('+', " "));
        query.push((form(k)?, form(v)?));
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
pub(super) struct Ctx<'a> {
    pub(super) shared: &'a Shared,
    pub(super) route: &'a Route,
    pub(super) headers: &'a HeaderMap,
    pub(super) request_id: &'a str,
    pub(super) counter: &'a AtomicU64,
}

/// Why a call did not produce an answer of its own.
pub(super) enum Failure {
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

pub(super) type CallResult = Result<Response<Body>, Failure>;

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
        Op::PutObject => objects::put_object(ctx, body).await,
        Op::GetObject => objects::get_object(ctx, false).await,
        Op::HeadObject => objects::get_object(ctx, true).await,
        Op::DeleteObject => objects::delete_object(ctx).await,
        Op::InitiateMultipartUpload => multipart::initiate(ctx).await,
        Op::UploadPart => multipart::upload_part(ctx, body).await,
        Op::CompleteMultipartUpload => multipart::complete(ctx, body).await,
        Op::AbortMultipartUpload => multipart::abort(ctx).await,
        Op::ListParts => multipart::list_parts(ctx).await,
        Op::ListMultipartUploads => multipart::list_uploads(ctx).await,
    }
}

// ---- request header helpers ----

pub(super) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

pub(super) fn is_true(headers: &HeaderMap, name: &str) -> bool {
    header_str(headers, name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

pub(super) fn content_type(headers: &HeaderMap) -> String {
    header_str(headers, "content-type")
        .filter(|v| !v.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned()
}

pub(super) fn object_acl(headers: &HeaderMap) -> Result<Option<String>, OssError> {
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

pub(super) fn user_meta(headers: &HeaderMap) -> BTreeMap<String, String> {
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
pub(super) fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, OssError> {
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

pub(super) fn check_md5(expected: Option<[u8; 16]>, got: [u8; 16]) -> Result<(), OssError> {
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
pub(super) fn check_declared_size(headers: &HeaderMap, max: u64) -> Result<(), OssError> {
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

pub(super) fn check_key(key: &str) -> Result<(), OssError> {
    validate_key(key)
        .map_err(|e| OssError::new(400, "InvalidObjectName", e.to_string()).ec("0016-00000005"))
}

pub(super) async fn require_bucket(ctx: &Ctx<'_>) -> Result<(), OssError> {
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

pub(super) async fn require_upload(ctx: &Ctx<'_>) -> Result<UploadMeta, OssError> {
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

pub(super) fn file_exists() -> OssError {
    OssError::new(
        409,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
    .ec("0016-00000708")
}

pub(super) fn parse_number(
    route: &Route,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, OssError> {
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
pub(super) struct TmpFile(pub(super) std::path::PathBuf);

impl Drop for TmpFile {
    fn drop(&mut self) {
        // After a commit the file was renamed away and this finds nothing, which is fine.
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(super) fn set(
    builder: http::response::Builder,
    name: &str,
    value: &str,
) -> http::response::Builder {
    match HeaderValue::from_str(value) {
        Ok(v) => builder.header(name, v),
        // Only stored user metadata could fail here, and it came in as a valid header.
        Err(_) => builder,
    }
}

pub(super) fn build(builder: http::response::Builder, body: Body) -> Response<Body> {
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
pub(super) async fn stored_answer(
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
