//! The client's public vocabulary: how to connect, what a write carries (options, body,
//! transfer hooks) and what each call answers. Plain data; `oss::client` re-exports all of it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::endpoint::Endpoint;
use super::error::{Error, ServiceError};
use super::limits::InvalidInput;
use super::response::next_chunk;
use super::sign::{Credentials, SignatureVersion};

/// Where and how to connect, and as whom.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub endpoint: Endpoint,
    /// The V4 region, e.g. `cn-hangzhou`.
    pub region: String,
    pub credentials: Credentials,
    pub signature: SignatureVersion,
    pub connect_timeout: Duration,
    /// The stall limit: how long a request may make no progress before it is given up with a
    /// retryable timeout (`Error::stall` says which step stalled). Progress is the connection
    /// taking body bytes while sending, an answer after the body was sent, and answer bytes
    /// while reading it. There is no limit on a request's total time: a slow transfer that
    /// keeps moving is never cut, and time held back by the bandwidth limit (`Transfer::pace`)
    /// does not count.
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

impl ObjectOptions {
    /// Whether an upload callback was asked for: then the answer's body is the application's.
    pub(super) fn wants_callback(&self) -> bool {
        self.callback
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty())
    }
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
    /// Base64 MD5 of the body (`digest::content_md5`), sent as `Content-MD5`: OSS refuses a
    /// body whose MD5 differs (`InvalidDigest`, retryable), and when the answer has no CRC-64
    /// the client compares the ETag with it. A value that is not base64 of 16 bytes is
    /// refused before sending.
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

/// What the server confirmed about a body it stored (PutObject, UploadPart). Only the first
/// three say the server holds the bytes that were sent; "verified" needs one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyCheck {
    /// The server's CRC-64 (`x-oss-hash-crc64ecma`) equals the CRC-64 of the bytes sent. The
    /// normal case with OSS.
    Crc64,
    /// No CRC-64 came back, but the ETag is the MD5 given as `Content-MD5`, which is the MD5
    /// of the bytes sent.
    EtagMd5,
    /// No CRC-64 came back and the ETag is not an MD5 (encryption, say), but `Content-MD5` was
    /// sent and the server accepted the body: OSS refuses one whose MD5 differs.
    ContentMd5,
    /// Nothing in the answer confirms the bytes: no CRC-64, and no `Content-MD5` was sent.
    /// The caller may check the ETag itself (`digest::compare_etag` with `md5_of_range`) or
    /// send again with `Content-MD5`.
    Unconfirmed,
}

impl BodyCheck {
    /// Whether the server confirmed it holds the bytes that were sent.
    pub fn confirmed(self) -> bool {
        !matches!(self, Self::Unconfirmed)
    }
}

/// The answer to PutObject.
#[derive(Clone, Debug)]
pub struct PutObjectOutput {
    pub etag: String,
    /// The CRC-64 of the bytes sent; the server's equals it when `check` is `Crc64`.
    pub crc64: u64,
    /// What the server confirmed about the bytes it stored.
    pub check: BodyCheck,
    pub request_id: String,
    pub callback: Option<CallbackOutcome>,
}

/// The answer to UploadPart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartOutput {
    pub etag: String,
    /// The CRC-64 of the bytes sent; the server's equals it when `check` is `Crc64`.
    pub crc64: u64,
    pub size: u64,
    /// What the server confirmed about the bytes it stored.
    pub check: BodyCheck,
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
    /// The object's ACL when the server says it (OSS itself answers it only to GetObjectAcl).
    pub acl: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub request_id: String,
}

/// The answer to GetObject: the metadata now, the body as it is read.
pub struct GetObjectOutput {
    pub meta: ObjectMeta,
    /// `Content-Range` when a range was asked for and served.
    pub content_range: Option<String>,
    response: reqwest::Response,
    /// The stall limit: how long the body may stop arriving.
    stall: Duration,
}

impl GetObjectOutput {
    pub(super) fn new(
        meta: ObjectMeta,
        content_range: Option<String>,
        response: reqwest::Response,
        stall: Duration,
    ) -> Self {
        Self {
            meta,
            content_range,
            response,
            stall,
        }
    }

    /// The next piece of the body, `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        next_chunk(&mut self.response, self.stall).await
    }

    /// The whole body. For small objects and tests; large ones are read with `chunk`.
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let mut all = bytes::BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(all.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
