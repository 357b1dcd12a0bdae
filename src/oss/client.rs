//! The OSS client: one async function per API call, each a single signed attempt. Retrying,
//! resuming and scheduling belong to the engine; the only state here is the clock offset that
//! `RequestTimeTooSkewed` teaches us, so every later request is signed with the server's time.
//!
//! Bodies of PutObject and UploadPart stream from a file range in small chunks, with their
//! CRC-64 computed on the way, so a part is never held whole in memory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};

use super::crc64::{self, Crc64};
use super::endpoint::Endpoint;
use super::error::{Error, ServiceError};
use super::limits::{self, InvalidInput};
use super::sign::{self, Credentials, RequestParts, Resource, SignatureVersion};
use super::xml::{self, CompletePart, PartSummary, UploadSummary};

/// How much of a file is read and sent at a time: small enough for steady progress and flat
/// memory (a few chunks per part in flight), large enough that per-chunk costs (a hop to the
/// blocking pool and back, a socket write) do not matter. Measured on a 1 GiB upload over
/// loopback: 64 KiB chunks cost about twice the client CPU of 512 KiB ones, and 1 MiB chunks
/// about 15% less than 512 KiB; 2 MiB saved nothing more and used more memory.
pub const CHUNK_SIZE: usize = 1024 * 1024;
/// Parts per ListParts page and uploads per ListMultipartUploads page (the OSS maximum).
const LIST_PAGE: u32 = 1000;
/// How much of an error body we read: OSS's are small; anything longer is not OSS speaking.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Where and how to connect, and as whom.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub endpoint: Endpoint,
    /// The V4 region, e.g. `cn-hangzhou`.
    pub region: String,
    pub credentials: Credentials,
    pub signature: SignatureVersion,
    pub connect_timeout: Duration,
    /// How long the connection may stay silent before the request counts as stalled.
    pub read_timeout: Duration,
}

impl ClientConfig {
    /// A configuration with the region taken from `region` or, when absent, from the endpoint's
    /// name. V4 needs a region; V1 does not.
    pub fn new(
        endpoint: Endpoint,
        region: Option<&str>,
        credentials: Credentials,
        signature: SignatureVersion,
    ) -> Result<Self, InvalidInput> {
        let region = match region.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => r.strip_prefix("oss-").unwrap_or(r).to_owned(),
            None => match (endpoint.region(), signature) {
                (Some(r), _) => r,
                (None, SignatureVersion::V1) => String::new(),
                (None, SignatureVersion::V4) => {
                    return Err(InvalidInput::RegionNeeded(endpoint.base_url()));
                }
            },
        };
        Ok(Self {
            endpoint,
            region,
            credentials,
            signature,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        })
    }
}

/// Options of the object being written, carried as OSS headers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectOptions {
    pub content_type: Option<String>,
    /// `private`, `public-read`, `public-read-write` or `default`.
    pub acl: Option<String>,
    /// `Standard`, `IA`, `Archive`, `ColdArchive`, …
    pub storage_class: Option<String>,
    /// User metadata, sent as `x-oss-meta-<name>`.
    pub metadata: BTreeMap<String, String>,
    /// The upload callback: its JSON (or that JSON already base64-encoded).
    pub callback: Option<String>,
    /// Custom callback variables: their JSON (or base64 of it).
    pub callback_var: Option<String>,
    /// Refuse to replace an existing object (`x-oss-forbid-overwrite`).
    pub forbid_overwrite: bool,
}

/// Called with the size of what is ready to send; resolves to how much of it may go now (at
/// least 1 byte, at most all of it), so a bandwidth limit can hold bytes back and have a chunk
/// read from the file sent in smaller pieces.
pub type PaceFn = Arc<dyn Fn(u64) -> BoxFuture<'static, u64> + Send + Sync>;
/// Called after each piece was handed to the connection, with its size.
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// Per-request transfer settings of a body.
#[derive(Clone, Default)]
pub struct Transfer {
    /// Base64 MD5 of the body, checked by the server.
    pub content_md5: Option<String>,
    /// Server-side speed limit of this request in bit/s (`x-oss-traffic-limit`).
    pub traffic_limit: Option<u64>,
    pub pace: Option<PaceFn>,
    pub progress: Option<ProgressFn>,
}

/// A byte range of a local file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRange {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

/// The body of a write.
#[derive(Clone, Debug)]
pub enum Body {
    Empty,
    Bytes(Bytes),
    File(FileRange),
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Self::Empty => 0,
            Self::Bytes(b) => b.len() as u64,
            Self::File(r) => r.len,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the upload callback did, when one was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The application answered; its body.
    Delivered(String),
    /// OSS stored the object but the application's callback failed (HTTP 203).
    Failed(ServiceError),
}

/// The answer to PutObject.
#[derive(Clone, Debug)]
pub struct PutObjectOutput {
    pub etag: String,
    /// The object's CRC-64, checked against the bytes we sent.
    pub crc64: u64,
    pub request_id: String,
    pub callback: Option<CallbackOutcome>,
}

/// The answer to UploadPart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartOutput {
    pub etag: String,
    /// The part's CRC-64, checked against the bytes we sent.
    pub crc64: u64,
    pub size: u64,
}

/// The answer to CompleteMultipartUpload.
#[derive(Clone, Debug)]
pub struct CompleteOutput {
    pub etag: String,
    /// The whole object's CRC-64 as the server computed it.
    pub crc64: Option<u64>,
    pub location: String,
    pub request_id: String,
    pub callback: Option<CallbackOutcome>,
}

/// What HeadObject (and GetObject) tell about an object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    pub content_length: u64,
    pub etag: String,
    pub crc64: Option<u64>,
    pub last_modified: Option<String>,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub request_id: String,
}

/// The answer to GetObject: the metadata now, the body as it is read.
pub struct GetObjectOutput {
    pub meta: ObjectMeta,
    /// `Content-Range` when a range was asked for and served.
    pub content_range: Option<String>,
    response: reqwest::Response,
}

impl GetObjectOutput {
    /// The next piece of the body, `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        Ok(self.response.chunk().await?)
    }

    /// The whole body. For small objects and tests; large ones are read with `chunk`.
    pub async fn bytes(self) -> Result<Bytes, Error> {
        Ok(self.response.bytes().await?)
    }
}

/// One signed request, before it is sent.
struct Request<'a> {
    method: Method,
    bucket: Option<&'a str>,
    key: Option<&'a str>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: reqwest::Body,
}

impl<'a> Request<'a> {
    fn new(method: Method, bucket: Option<&'a str>, key: Option<&'a str>) -> Self {
        Self {
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: reqwest::Body::from(Bytes::new()),
        }
    }
    fn query(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.push((k.to_owned(), v.into()));
        self
    }
    fn header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        set_header(&mut self.headers, name, value)?;
        Ok(self)
    }
}

fn set_header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), Error> {
    let n = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| {
        InvalidInput::Other(format!("\"{name}\" cannot be used as a metadata name."))
    })?;
    let v = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
        InvalidInput::Other(format!(
            "The value of \"{name}\" contains characters that cannot be sent (such as line breaks)."
        ))
    })?;
    headers.insert(n, v);
    Ok(())
}

fn header_string(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn request_id(headers: &HeaderMap) -> String {
    header_string(headers, "x-oss-request-id").unwrap_or_default()
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A header value for the callback options: base64 of the JSON, unless it already is base64.
fn callback_header(value: &str) -> String {
    let v = value.trim();
    if v.starts_with('{') {
        base64::engine::general_purpose::STANDARD.encode(v)
    } else {
        v.to_owned()
    }
}

/// Builds the headers for the object options, for the calls that take them.
fn object_headers(
    req: &mut Request<'_>,
    opts: &ObjectOptions,
    call: OptionsFor,
) -> Result<(), Error> {
    let h = &mut req.headers;
    if matches!(call, OptionsFor::Put | OptionsFor::Initiate) {
        if let Some(ct) = opts.content_type.as_deref().filter(|s| !s.is_empty()) {
            set_header(h, "content-type", ct)?;
        }
        if let Some(sc) = opts.storage_class.as_deref().filter(|s| !s.is_empty()) {
            set_header(h, "x-oss-storage-class", sc)?;
        }
        for (k, v) in &opts.metadata {
            let k = k.trim().to_ascii_lowercase();
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(InvalidInput::Other(format!(
                    "The metadata name \"{k}\" is not allowed: use letters, digits, '-' and '_'."
                ))
                .into());
            }
            set_header(h, &format!("x-oss-meta-{k}"), v)?;
        }
    }
    if matches!(call, OptionsFor::Put | OptionsFor::Complete) {
        if let Some(acl) = opts.acl.as_deref().filter(|s| !s.is_empty()) {
            set_header(h, "x-oss-object-acl", acl)?;
        }
        if let Some(cb) = opts.callback.as_deref().filter(|s| !s.trim().is_empty()) {
            set_header(h, "x-oss-callback", &callback_header(cb))?;
        }
        if let Some(cv) = opts
            .callback_var
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            set_header(h, "x-oss-callback-var", &callback_header(cv))?;
        }
    }
    if opts.forbid_overwrite {
        set_header(h, "x-oss-forbid-overwrite", "true")?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum OptionsFor {
    Put,
    Initiate,
    Complete,
}

/// What streaming a file body observed, read once the request is over.
#[derive(Default)]
struct StreamWatch {
    crc: Crc64,
    error: Option<std::io::Error>,
}

/// A stream of the file range, read `CHUNK_SIZE` at a time and sent in the pieces `pace`
/// grants (whole chunks when nothing limits), that updates `watch` as it goes.
fn file_stream(
    range: FileRange,
    transfer: Transfer,
    watch: Arc<Mutex<StreamWatch>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    struct State {
        file: Option<Arc<std::fs::File>>,
        /// Bytes of the file not yet read.
        remaining: u64,
        /// Read but not yet sent: what is left of the last chunk after a paced piece.
        unsent: Bytes,
        range: FileRange,
        transfer: Transfer,
        watch: Arc<Mutex<StreamWatch>>,
        recent: Recent,
    }
    let state = State {
        file: None,
        remaining: range.len,
        unsent: Bytes::new(),
        range,
        transfer,
        watch,
        recent: Recent::default(),
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.unsent.is_empty() {
            if st.remaining == 0 {
                return None;
            }
            match next_chunk(&mut st.file, &st.range, st.remaining, &mut st.recent).await {
                Ok(chunk) => {
                    st.remaining -= chunk.len() as u64;
                    st.unsent = chunk;
                }
                Err(e) => {
                    let for_caller = std::io::Error::new(e.kind(), e.to_string());
                    if let Ok(mut w) = st.watch.lock() {
                        w.error = Some(e);
                    }
                    st.remaining = 0;
                    return Some((Err(for_caller), st));
                }
            }
        }
        let ready = st.unsent.len() as u64;
        let granted = match &st.transfer.pace {
            Some(pace) => pace(ready).await.clamp(1, ready),
            None => ready,
        };
        // Slicing shares the buffer: a paced piece costs no copy.
        let piece = st.unsent.split_to(granted as usize);
        if let Ok(mut w) = st.watch.lock() {
            w.crc.update(&piece);
        }
        if let Some(progress) = &st.transfer.progress {
            progress(granted);
        }
        Some((Ok(piece), st))
    })
}

/// The last few chunks handed to the connection. Once it has written one and let go of it, its
/// buffer is read into again: a fresh buffer would be zeroed and faulted in for every chunk,
/// which cost more CPU than computing the CRC.
#[derive(Default)]
struct Recent(std::collections::VecDeque<Bytes>);

impl Recent {
    /// Chunks kept: the one the connection is writing and the one before it, which by the
    /// time the next chunk is read has usually been written and can take it.
    const KEEP: usize = 2;

    /// A buffer no one else holds, of at least `len` bytes, truncated to `len`.
    fn take_free(&mut self, len: usize) -> Option<BytesMut> {
        for _ in 0..self.0.len() {
            let chunk = self.0.pop_front()?;
            if chunk.len() < len {
                continue;
            }
            match chunk.try_into_mut() {
                Ok(mut buf) => {
                    buf.truncate(len);
                    return Some(buf);
                }
                Err(chunk) => self.0.push_back(chunk),
            }
        }
        None
    }

    fn remember(&mut self, chunk: &Bytes) {
        if self.0.len() >= Self::KEEP {
            self.0.pop_front();
        }
        self.0.push_back(chunk.clone());
    }
}

/// Reads the next chunk with a positioned read on the blocking pool, straight into the buffer
/// that is sent (tokio's own file type would copy every byte once more).
async fn next_chunk(
    file: &mut Option<Arc<std::fs::File>>,
    range: &FileRange,
    remaining: u64,
    recent: &mut Recent,
) -> std::io::Result<Bytes> {
    let f = match file {
        Some(f) => f.clone(),
        None => {
            let path = range.path.clone();
            let opened = tokio::task::spawn_blocking(move || open_for_upload(&path))
                .await
                .map_err(std::io::Error::other)??;
            let f = Arc::new(opened);
            *file = Some(f.clone());
            f
        }
    };
    let want = remaining.min(CHUNK_SIZE as u64) as usize;
    let offset = range.offset + (range.len - remaining);
    let reused = recent.take_free(want);
    let chunk = tokio::task::spawn_blocking(move || {
        let mut buf = reused.unwrap_or_else(|| BytesMut::zeroed(want));
        read_exact_at(&f, &mut buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file became shorter while it was being uploaded",
                )
            } else {
                e
            }
        })?;
        Ok::<_, std::io::Error>(buf.freeze())
    })
    .await
    .map_err(std::io::Error::other)??;
    recent.remember(&chunk);
    Ok(chunk)
}

/// Opens a file to upload, telling the kernel it is read once from start to end: larger
/// read-ahead, and its pages do not push the user's working set out of the page cache.
fn open_for_upload(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::File::open(path)?;
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{Advice, fadvise};
        // Advice only: a file system that ignores it reads the same bytes.
        let _ = fadvise(&file, 0, None, Advice::Sequential);
        let _ = fadvise(&file, 0, None, Advice::NoReuse);
    }
    Ok(file)
}

#[cfg(unix)]
fn read_exact_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(f: &std::fs::File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(f, buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// The OSS client. Cheap to clone; clones share connections and the learned clock offset.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    cfg: Arc<ClientConfig>,
    clock_offset: Arc<AtomicI64>,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Self, Error> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .user_agent(concat!("oss-uploader/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| InvalidInput::Other(format!("The network client could not start: {e}")))?;
        Ok(Self {
            http,
            cfg: Arc::new(cfg),
            clock_offset: Arc::new(AtomicI64::new(0)),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Seconds added to the local clock when signing (learned from `RequestTimeTooSkewed`).
    pub fn clock_offset(&self) -> i64 {
        self.clock_offset.load(Ordering::Relaxed)
    }

    pub fn set_clock_offset(&self, secs: i64) {
        self.clock_offset.store(secs, Ordering::Relaxed);
    }

    /// Signs and sends one request; a non-2xx answer becomes `Error::Service`.
    async fn execute(&self, mut req: Request<'_>) -> Result<reqwest::Response, Error> {
        let url = self.cfg.endpoint.url(req.bucket, req.key, &req.query);
        let resource = Resource {
            bucket: req.bucket,
            key: req.key,
        };
        let parts = RequestParts {
            method: req.method.as_str(),
            resource,
            query: &req.query,
        };
        let local_now = now_unix();
        let now = local_now + self.clock_offset();
        match self.cfg.signature {
            SignatureVersion::V4 => sign::sign_v4(
                &parts,
                &mut req.headers,
                &self.cfg.credentials,
                &self.cfg.region,
                now,
                &[],
            ),
            SignatureVersion::V1 => {
                sign::sign_v1(&parts, &mut req.headers, &self.cfg.credentials, now)
            }
        }
        let is_head = req.method == Method::HEAD;
        let response = self
            .http
            .request(req.method, url)
            .headers(req.headers)
            .body(req.body)
            .send()
            .await?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        let rid = header_string(response.headers(), "x-oss-request-id");
        let err = if is_head {
            let x_oss_err = header_string(response.headers(), "x-oss-err");
            ServiceError::from_head(status, rid.as_deref(), x_oss_err.as_deref(), local_now)
        } else {
            let body = read_limited(response).await;
            ServiceError::from_response(status, rid.as_deref(), &body, local_now)
        };
        if let Some(offset) = err.clock_offset {
            self.set_clock_offset(offset);
        }
        Err(Error::service(err))
    }

    /// Attaches a body; for a file range, returns the watch that sees its CRC and read errors.
    fn attach_body(
        req: &mut Request<'_>,
        body: Body,
        transfer: &Transfer,
    ) -> Result<Option<Arc<Mutex<StreamWatch>>>, Error> {
        if let Some(md5) = &transfer.content_md5 {
            set_header(&mut req.headers, "content-md5", md5)?;
        }
        if let Some(limit) = transfer.traffic_limit {
            limits::validate_traffic_limit(limit)?;
            set_header(&mut req.headers, "x-oss-traffic-limit", &limit.to_string())?;
        }
        set_header(&mut req.headers, "content-length", &body.len().to_string())?;
        match body {
            Body::Empty => Ok(None),
            Body::Bytes(b) => {
                let n = b.len() as u64;
                req.body = reqwest::Body::from(b);
                if let Some(p) = &transfer.progress {
                    // The whole buffer goes in one piece; count it as it is handed over.
                    p(n);
                }
                Ok(None)
            }
            Body::File(range) => {
                let watch = Arc::new(Mutex::new(StreamWatch::default()));
                let stream = file_stream(range, transfer.clone(), watch.clone());
                req.body = reqwest::Body::wrap_stream(stream);
                Ok(Some(watch))
            }
        }
    }

    /// The CRC of what was sent, or the local read error that cut the body short.
    fn sent_crc(
        body: &Body,
        watch: Option<&Arc<Mutex<StreamWatch>>>,
        path: Option<&PathBuf>,
    ) -> Result<u64, Error> {
        match (body, watch) {
            (Body::Bytes(b), _) => Ok(crc64::checksum(b)),
            (Body::File(_), Some(w)) => {
                let mut w = w.lock().map_err(|_| Error::Protocol {
                    status: 0,
                    message: "internal lock poisoned".into(),
                    request_id: String::new(),
                })?;
                if let Some(e) = w.error.take() {
                    return Err(Error::Io {
                        path: path.cloned().unwrap_or_default(),
                        source: e,
                    });
                }
                Ok(w.crc.value())
            }
            _ => Ok(0),
        }
    }

    /// Maps a send failure of a file body: when the file itself failed, say that, not "network".
    fn file_failure(err: Error, watch: Option<&Arc<Mutex<StreamWatch>>>, body: &Body) -> Error {
        if let (Some(w), Body::File(r)) = (watch, body)
            && let Ok(mut w) = w.lock()
            && let Some(e) = w.error.take()
        {
            return Error::Io {
                path: r.path.clone(),
                source: e,
            };
        }
        err
    }

    /// Sends a request with a body and checks the server's CRC-64 of it against the bytes sent.
    async fn send_body(
        &self,
        mut req: Request<'_>,
        body: Body,
        transfer: &Transfer,
        what: impl Fn() -> String,
    ) -> Result<(reqwest::Response, u64), Error> {
        let watch = Self::attach_body(&mut req, body.clone(), transfer)?;
        let path = match &body {
            Body::File(r) => Some(r.path.clone()),
            _ => None,
        };
        let resp = self
            .execute(req)
            .await
            .map_err(|e| Self::file_failure(e, watch.as_ref(), &body))?;
        let sent = Self::sent_crc(&body, watch.as_ref(), path.as_ref())?;
        let crc64 = verify_crc(resp.headers(), sent, what)?;
        Ok((resp, crc64))
    }

    /// PutBucket: creates a bucket (optionally with a storage class and ACL).
    pub async fn put_bucket(
        &self,
        bucket: &str,
        storage_class: Option<&str>,
        acl: Option<&str>,
    ) -> Result<(), Error> {
        limits::validate_bucket(bucket)?;
        let mut req = Request::new(Method::PUT, Some(bucket), None);
        if let Some(acl) = acl {
            req = req.header("x-oss-acl", acl)?;
        }
        if let Some(sc) = storage_class {
            let body = xml::to_xml(&xml::CreateBucketConfiguration {
                storage_class: Some(sc.to_owned()),
            })
            .map_err(|e| InvalidInput::Other(e.to_string()))?;
            req = req.header("content-type", "application/xml")?;
            req.body = reqwest::Body::from(body);
        }
        self.execute(req).await?;
        Ok(())
    }

    /// PutObject: a whole object in one request (files smaller than one part).
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Body,
        opts: &ObjectOptions,
        transfer: &Transfer,
    ) -> Result<PutObjectOutput, Error> {
        limits::validate_bucket(bucket)?;
        limits::validate_key(key)?;
        let mut req = Request::new(Method::PUT, Some(bucket), Some(key));
        object_headers(&mut req, opts, OptionsFor::Put)?;
        let (resp, crc64) = self
            .send_body(req, body, transfer, || format!("object {key}"))
            .await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let callback = callback_outcome(opts, status, &headers, resp).await;
        Ok(PutObjectOutput {
            etag: header_string(&headers, "etag").unwrap_or_default(),
            crc64,
            request_id: request_id(&headers),
            callback,
        })
    }

    /// GetObject, optionally of a byte range (`first..=last`, or `first..` when `last` is None).
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<GetObjectOutput, Error> {
        let mut req = Request::new(Method::GET, Some(bucket), Some(key));
        if let Some((first, last)) = range {
            let spec = match last {
                Some(l) => format!("bytes={first}-{l}"),
                None => format!("bytes={first}-"),
            };
            req = req.header("range", &spec)?;
        }
        let response = self.execute(req).await?;
        let meta = object_meta(response.headers());
        let content_range = header_string(response.headers(), "content-range");
        Ok(GetObjectOutput {
            meta,
            content_range,
            response,
        })
    }

    /// HeadObject: the object's size, ETag, CRC-64 and metadata.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, Error> {
        let resp = self
            .execute(Request::new(Method::HEAD, Some(bucket), Some(key)))
            .await?;
        Ok(object_meta(resp.headers()))
    }

    /// DeleteObject. Deleting an object that does not exist succeeds, as in OSS.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), Error> {
        self.execute(Request::new(Method::DELETE, Some(bucket), Some(key)))
            .await?;
        Ok(())
    }

    /// InitiateMultipartUpload: returns the new upload id.
    pub async fn initiate_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        opts: &ObjectOptions,
    ) -> Result<String, Error> {
        limits::validate_bucket(bucket)?;
        limits::validate_key(key)?;
        let mut req = Request::new(Method::POST, Some(bucket), Some(key)).query("uploads", "");
        object_headers(&mut req, opts, OptionsFor::Initiate)?;
        let resp = self.execute(req).await?;
        let r: xml::InitiateMultipartUploadResult = read_xml(resp).await?;
        if r.upload_id.is_empty() {
            return Err(Error::Protocol {
                status: 200,
                message: "no UploadId in the answer".into(),
                request_id: String::new(),
            });
        }
        Ok(r.upload_id)
    }

    /// UploadPart: sends one part, streamed, and checks its CRC-64 against the server's.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Body,
        transfer: &Transfer,
    ) -> Result<PartOutput, Error> {
        limits::validate_part_number(part_number)?;
        let req = Request::new(Method::PUT, Some(bucket), Some(key))
            .query("partNumber", part_number.to_string())
            .query("uploadId", upload_id);
        let size = body.len();
        let (resp, crc64) = self
            .send_body(req, body, transfer, || format!("part {part_number}"))
            .await?;
        let etag = header_string(resp.headers(), "etag").unwrap_or_default();
        if etag.is_empty() {
            return Err(Error::Protocol {
                status: resp.status().as_u16(),
                message: format!("no ETag for part {part_number}"),
                request_id: request_id(resp.headers()),
            });
        }
        Ok(PartOutput { etag, crc64, size })
    }

    /// CompleteMultipartUpload with the parts in ascending order.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletePart],
        opts: &ObjectOptions,
    ) -> Result<CompleteOutput, Error> {
        let mut sorted = parts.to_vec();
        sorted.sort_by_key(|p| p.part_number);
        let body = xml::to_xml(&xml::CompleteMultipartUpload { parts: sorted })
            .map_err(|e| InvalidInput::Other(e.to_string()))?;
        let mut req =
            Request::new(Method::POST, Some(bucket), Some(key)).query("uploadId", upload_id);
        object_headers(&mut req, opts, OptionsFor::Complete)?;
        req = req.header("content-type", "application/xml")?;
        req.body = reqwest::Body::from(body);
        let resp = self.execute(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let crc64 = headers
            .get("x-oss-hash-crc64ecma")
            .and_then(|v| v.to_str().ok())
            .and_then(crc64::parse_header);
        let mut etag = header_string(&headers, "etag").unwrap_or_default();
        let mut location = String::new();
        let wants_callback = opts
            .callback
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty());
        let callback = if wants_callback {
            callback_outcome(opts, status, &headers, resp).await
        } else {
            let r: xml::CompleteMultipartUploadResult = read_xml(resp).await?;
            if !r.etag.is_empty() {
                etag = r.etag;
            }
            location = r.location;
            None
        };
        Ok(CompleteOutput {
            etag,
            crc64,
            location,
            request_id: request_id(&headers),
            callback,
        })
    }

    /// AbortMultipartUpload: the server drops the upload and its parts.
    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), Error> {
        let req =
            Request::new(Method::DELETE, Some(bucket), Some(key)).query("uploadId", upload_id);
        self.execute(req).await?;
        Ok(())
    }

    /// ListParts, following every page.
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<PartSummary>, Error> {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut req = Request::new(Method::GET, Some(bucket), Some(key))
                .query("uploadId", upload_id)
                .query("max-parts", LIST_PAGE.to_string());
            if let Some(m) = &marker {
                req = req.query("part-number-marker", m.clone());
            }
            let resp = self.execute(req).await?;
            let rid = request_id(resp.headers());
            let page: xml::ListPartsResult = read_xml(resp).await?;
            all.extend(page.parts);
            if !page.is_truncated {
                return Ok(all);
            }
            let next = page.next_part_number_marker;
            if next.is_empty() || marker.as_deref() == Some(next.as_str()) {
                return Err(Error::Protocol {
                    status: 200,
                    message: "ListParts said there is more but gave no next marker".into(),
                    request_id: rid,
                });
            }
            marker = Some(next);
        }
    }

    /// ListMultipartUploads under a prefix, following every page.
    pub async fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<UploadSummary>, Error> {
        let mut all = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut req = Request::new(Method::GET, Some(bucket), None)
                .query("uploads", "")
                .query("max-uploads", LIST_PAGE.to_string());
            if !prefix.is_empty() {
                req = req.query("prefix", prefix);
            }
            if let Some((k, u)) = &markers {
                req = req
                    .query("key-marker", k.clone())
                    .query("upload-id-marker", u.clone());
            }
            let resp = self.execute(req).await?;
            let rid = request_id(resp.headers());
            let page: xml::ListMultipartUploadsResult = read_xml(resp).await?;
            all.extend(page.uploads);
            if !page.is_truncated {
                return Ok(all);
            }
            let next = (page.next_key_marker, page.next_upload_id_marker);
            if next.0.is_empty() || markers.as_ref() == Some(&next) {
                return Err(Error::Protocol {
                    status: 200,
                    message: "ListMultipartUploads said there is more but gave no next marker"
                        .into(),
                    request_id: rid,
                });
            }
            markers = Some(next);
        }
    }
}

/// Compares the server's CRC-64 header with what we sent. A server that gives none (some
/// OSS-compatible ones) is taken at its word: the whole-object check still covers the bytes.
fn verify_crc(headers: &HeaderMap, sent: u64, what: impl Fn() -> String) -> Result<u64, Error> {
    match headers
        .get("x-oss-hash-crc64ecma")
        .and_then(|v| v.to_str().ok())
        .and_then(crc64::parse_header)
    {
        Some(server) if server != sent => Err(Error::Integrity {
            what: what(),
            expected: sent,
            actual: server,
        }),
        _ => Ok(sent),
    }
}

fn object_meta(headers: &HeaderMap) -> ObjectMeta {
    let metadata = headers
        .iter()
        .filter_map(|(n, v)| {
            n.as_str().strip_prefix("x-oss-meta-").map(|k| {
                (
                    k.to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
        })
        .collect();
    ObjectMeta {
        content_length: headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        etag: header_string(headers, "etag").unwrap_or_default(),
        crc64: headers
            .get("x-oss-hash-crc64ecma")
            .and_then(|v| v.to_str().ok())
            .and_then(crc64::parse_header),
        last_modified: header_string(headers, "last-modified"),
        content_type: header_string(headers, "content-type"),
        metadata,
        request_id: request_id(headers),
    }
}

async fn callback_outcome(
    opts: &ObjectOptions,
    status: u16,
    headers: &HeaderMap,
    resp: reqwest::Response,
) -> Option<CallbackOutcome> {
    opts.callback.as_deref().filter(|c| !c.trim().is_empty())?;
    let body = read_limited(resp).await;
    if status == 203 {
        let rid = header_string(headers, "x-oss-request-id");
        return Some(CallbackOutcome::Failed(ServiceError::from_response(
            status,
            rid.as_deref(),
            &body,
            now_unix(),
        )));
    }
    Some(CallbackOutcome::Delivered(body))
}

async fn read_limited(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        buf.extend_from_slice(&chunk);
        if buf.len() >= MAX_ERROR_BODY {
            buf.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

async fn read_xml<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, Error> {
    let status = resp.status().as_u16();
    let rid = request_id(resp.headers());
    let body = resp.text().await?;
    xml::from_xml(&body).map_err(|e| Error::Protocol {
        status,
        message: e.to_string(),
        request_id: rid,
    })
}

/// rustls needs a process-wide crypto provider; ours is ring (lean to build, no C toolchain).
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when another provider is already installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_buffer_is_reused_only_once_no_one_else_holds_it() {
        let mut recent = Recent::default();
        let sent = Bytes::from(vec![7u8; 64]);
        let ptr = sent.as_ptr();
        recent.remember(&sent);
        // The connection still holds the chunk: its memory must not be written into.
        assert!(recent.take_free(64).is_none());
        drop(sent);
        let buf = recent.take_free(40).expect("the released chunk is reused");
        assert_eq!(buf.as_ptr(), ptr);
        assert_eq!(buf.len(), 40);
        // A chunk too small for the next read is let go rather than kept.
        let small = Bytes::from(vec![1u8; 8]);
        recent.remember(&small);
        drop(small);
        assert!(recent.take_free(16).is_none());
        assert!(recent.0.is_empty());
    }

    #[test]
    fn recent_chunks_are_bounded() {
        let mut recent = Recent::default();
        let held: Vec<Bytes> = (0..10).map(|i| Bytes::from(vec![i; 4])).collect();
        for chunk in &held {
            recent.remember(chunk);
        }
        assert_eq!(recent.0.len(), Recent::KEEP);
    }

    #[test]
    fn region_comes_from_endpoint_or_argument() {
        let creds = Credentials::new("a", "b");
        let e = Endpoint::parse("oss-cn-beijing.aliyuncs.com").unwrap();
        let c = ClientConfig::new(e.clone(), None, creds.clone(), SignatureVersion::V4).unwrap();
        assert_eq!(c.region, "cn-beijing");
        let c = ClientConfig::new(
            e,
            Some("oss-cn-hangzhou"),
            creds.clone(),
            SignatureVersion::V4,
        )
        .unwrap();
        assert_eq!(c.region, "cn-hangzhou");
        let local = Endpoint::parse("http://127.0.0.1:1").unwrap();
        assert!(matches!(
            ClientConfig::new(local.clone(), None, creds.clone(), SignatureVersion::V4),
            Err(InvalidInput::RegionNeeded(_))
        ));
        assert!(ClientConfig::new(local, None, creds, SignatureVersion::V1).is_ok());
    }

    #[test]
    fn object_options_become_headers() {
        let mut opts = ObjectOptions {
            content_type: Some("text/plain".into()),
            acl: Some("private".into()),
            storage_class: Some("IA".into()),
            callback: Some(r#"{"callbackUrl":"http://x/"}"#.into()),
            callback_var: Some("eyJ4OmEiOiJiIn0=".into()),
            forbid_overwrite: true,
            ..Default::default()
        };
        opts.metadata.insert("Author".into(), "alice".into());
        let mut put = Request::new(Method::PUT, Some("b"), Some("k"));
        object_headers(&mut put, &opts, OptionsFor::Put).unwrap();
        let h = &put.headers;
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h["x-oss-object-acl"], "private");
        assert_eq!(h["x-oss-storage-class"], "IA");
        assert_eq!(h["x-oss-meta-author"], "alice");
        assert_eq!(h["x-oss-forbid-overwrite"], "true");
        assert_eq!(h["x-oss-callback"], "eyJjYWxsYmFja1VybCI6Imh0dHA6Ly94LyJ9");
        assert_eq!(h["x-oss-callback-var"], "eyJ4OmEiOiJiIn0=");

        let mut init = Request::new(Method::POST, Some("b"), Some("k"));
        object_headers(&mut init, &opts, OptionsFor::Initiate).unwrap();
        assert!(
            init.headers.get("x-oss-callback").is_none()
                && init.headers.get("x-oss-object-acl").is_none()
        );
        assert_eq!(init.headers["x-oss-meta-author"], "alice");

        let mut done = Request::new(Method::POST, Some("b"), Some("k"));
        object_headers(&mut done, &opts, OptionsFor::Complete).unwrap();
        assert!(done.headers.get("x-oss-meta-author").is_none());
        assert_eq!(done.headers["x-oss-object-acl"], "private");

        opts.metadata.insert("bad name".into(), "x".into());
        let mut r = Request::new(Method::PUT, Some("b"), Some("k"));
        assert!(matches!(
            object_headers(&mut r, &opts, OptionsFor::Put),
            Err(Error::InvalidInput(_))
        ));
    }

    #[tokio::test]
    async fn file_stream_reads_the_range_and_its_crc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let watch = Arc::new(Mutex::new(StreamWatch::default()));
        let seen = Arc::new(AtomicI64::new(0));
        let seen2 = seen.clone();
        let transfer = Transfer {
            progress: Some(Arc::new(move |n| {
                seen2.fetch_add(n as i64, Ordering::Relaxed);
            })),
            ..Default::default()
        };
        let range = FileRange {
            path: path.clone(),
            offset: 1000,
            len: 200_001,
        };
        let chunks: Vec<_> =
            futures_util::StreamExt::collect(file_stream(range, transfer, watch.clone())).await;
        let mut got = Vec::new();
        for c in chunks {
            let c = c.unwrap();
            assert!(c.len() <= CHUNK_SIZE);
            got.extend_from_slice(&c);
        }
        assert_eq!(got, &data[1000..201_001]);
        assert_eq!(watch.lock().unwrap().crc.value(), crc64::checksum(&got));
        assert_eq!(seen.load(Ordering::Relaxed), 200_001);

        // A file shorter than the range fails instead of sending too few bytes.
        let watch = Arc::new(Mutex::new(StreamWatch::default()));
        let range = FileRange {
            path,
            offset: 299_000,
            len: 5000,
        };
        let chunks: Vec<_> = futures_util::StreamExt::collect(file_stream(
            range,
            Transfer::default(),
            watch.clone(),
        ))
        .await;
        assert!(chunks.last().unwrap().is_err());
        assert!(watch.lock().unwrap().error.is_some());
    }
}
