//! Reading what OSS answers: headers into outputs, error answers into `ServiceError`, XML bodies
//! into their types. Every body is read as a stream under a size cap, so a server that is not
//! OSS (or a broken proxy) cannot make us buffer or parse without end.

use http::HeaderMap;

use super::crc64;
use super::error::{Error, ServiceError};
use super::types::{CallbackOutcome, ObjectMeta, ObjectOptions};
use super::xml;

/// How much of an error body we read: OSS's are small; anything longer is not OSS speaking.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// The largest ListParts or ListMultipartUploads page we read. A page holds at most 1,000
/// entries; the largest OSS can send is a page of uploads whose keys are all of the longest
/// allowed (1,023 bytes) and made of characters XML must escape (up to 6 bytes each), about
/// 6.3 MiB. Twice and more that leaves room for fields OSS may add, and stops a server that
/// sends without end long before memory or parsing time matter.
pub const MAX_LIST_ANSWER: usize = 16 * 1024 * 1024;
/// The largest other XML answer we read (InitiateMultipartUpload, CompleteMultipartUpload):
/// a few fields and one key, a few KiB at most; 1 MiB is far beyond anything OSS sends.
pub const MAX_XML_ANSWER: usize = 1024 * 1024;

pub(super) fn header_string(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

pub(super) fn request_id(headers: &HeaderMap) -> String {
    header_string(headers, "x-oss-request-id").unwrap_or_default()
}

/// The CRC-64 the server computed, when it sent one.
pub(super) fn server_crc(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("x-oss-hash-crc64ecma")
        .and_then(|v| v.to_str().ok())
        .and_then(crc64::parse_header)
}

/// Compares the server's CRC-64 header with what we sent. A server that gives none (some
/// OSS-compatible ones) is taken at its word: the whole-object check still covers the bytes.
pub(super) fn verify_crc(
    headers: &HeaderMap,
    sent: u64,
    what: impl Fn() -> String,
) -> Result<u64, Error> {
    match server_crc(headers) {
        Some(server) if server != sent => Err(Error::Integrity {
            what: what(),
            expected: sent,
            actual: server,
        }),
        _ => Ok(sent),
    }
}

pub(super) fn object_meta(headers: &HeaderMap) -> ObjectMeta {
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
        crc64: server_crc(headers),
        last_modified: header_string(headers, "last-modified"),
        content_type: header_string(headers, "content-type"),
        acl: header_string(headers, "x-oss-object-acl"),
        metadata,
        request_id: request_id(headers),
    }
}

/// The error a non-2xx answer stands for. HEAD answers have no body: OSS puts the error XML,
/// base64-encoded, in `x-oss-err` instead.
pub(super) async fn service_error(
    response: reqwest::Response,
    is_head: bool,
    local_now: i64,
) -> ServiceError {
    let status = response.status().as_u16();
    let rid = header_string(response.headers(), "x-oss-request-id");
    if is_head {
        let x_oss_err = header_string(response.headers(), "x-oss-err");
        ServiceError::from_head(status, rid.as_deref(), x_oss_err.as_deref(), local_now)
    } else {
        let body = read_limited(response).await;
        ServiceError::from_response(status, rid.as_deref(), &body, local_now)
    }
}

/// What the upload callback did, when one was asked for: the answer's body is the
/// application's, or (HTTP 203) OSS's error saying the callback failed.
pub(super) async fn callback_outcome(
    opts: &ObjectOptions,
    status: u16,
    headers: &HeaderMap,
    resp: reqwest::Response,
    local_now: i64,
) -> Option<CallbackOutcome> {
    if !opts.wants_callback() {
        return None;
    }
    let body = read_limited(resp).await;
    if status == 203 {
        let rid = header_string(headers, "x-oss-request-id");
        return Some(CallbackOutcome::Failed(ServiceError::from_response(
            status,
            rid.as_deref(),
            &body,
            local_now,
        )));
    }
    Some(CallbackOutcome::Delivered(body))
}

/// The start of a body that is only shown to people: what is past the limit is not read.
async fn read_limited(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ERROR_BODY - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Reads an XML answer of at most `cap` bytes into `T`. A longer one is refused as soon as it
/// is known to be longer (from its `Content-Length`, or once that much has arrived), and the
/// rest is never read: the connection is dropped with the response.
pub(super) async fn read_xml<T: serde::de::DeserializeOwned>(
    mut resp: reqwest::Response,
    cap: usize,
    what: &'static str,
) -> Result<T, Error> {
    let status = resp.status().as_u16();
    let rid = request_id(resp.headers());
    let too_large = || Error::AnswerTooLarge {
        what,
        limit: cap as u64,
        request_id: rid.clone(),
    };
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    xml::from_xml(&String::from_utf8_lossy(&body)).map_err(|e| Error::Protocol {
        status,
        message: e.to_string(),
        request_id: rid,
    })
}
