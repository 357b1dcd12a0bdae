//! Reading what OSS answers: headers into outputs (and what they confirm about a body sent),
//! error answers into `ServiceError`, XML bodies into their types. Every body is read as a
//! stream under a size cap and the stall limit, so a server that is not OSS (or a broken proxy)
//! cannot make us buffer, parse or wait without end.

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;

use super::crc64;
use super::digest::{self, EtagCheck};
use super::error::{Error, ServiceError, Stall};
use super::types::{BodyCheck, CallbackOutcome, ObjectMeta, ObjectOptions};
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

/// What the answer to a write confirms about the body sent: the server's CRC-64 against ours,
/// or, when it gives none (older deployments, proxies, gateways), its ETag against the
/// `Content-MD5` we sent. A mismatch of either is a retryable integrity error; an answer that
/// confirms nothing says so (`Unconfirmed`) rather than passing for checked.
pub(super) fn check_body(
    headers: &HeaderMap,
    sent_crc: u64,
    sent_md5: Option<&digest::Md5Digest>,
    what: impl Fn() -> String,
) -> Result<BodyCheck, Error> {
    match (server_crc(headers), sent_md5) {
        (Some(server), _) if server != sent_crc => Err(Error::Integrity {
            what: what(),
            expected: sent_crc,
            actual: server,
        }),
        (Some(_), _) => Ok(BodyCheck::Crc64),
        (None, None) => Ok(BodyCheck::Unconfirmed),
        (None, Some(md5)) => {
            let etag = header_string(headers, "etag").unwrap_or_default();
            match digest::compare_etag(&etag, md5) {
                EtagCheck::Matches => Ok(BodyCheck::EtagMd5),
                EtagCheck::NotAnMd5 => Ok(BodyCheck::ContentMd5),
                EtagCheck::Differs => Err(Error::Md5Mismatch {
                    what: what(),
                    expected: digest::to_hex(md5),
                    etag,
                }),
            }
        }
    }
}

/// The next piece of an answer's body, `None` at the end; a body that stops arriving for
/// `stall` is a retryable timeout.
pub(super) async fn next_chunk(
    resp: &mut reqwest::Response,
    stall: Duration,
) -> Result<Option<Bytes>, Error> {
    match tokio::time::timeout(stall, resp.chunk()).await {
        Ok(chunk) => Ok(chunk?),
        Err(_) => Err(Stall::Receiving.error(stall)),
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
    stall: Duration,
) -> ServiceError {
    let status = response.status().as_u16();
    let rid = header_string(response.headers(), "x-oss-request-id");
    if is_head {
        let x_oss_err = header_string(response.headers(), "x-oss-err");
        ServiceError::from_head(status, rid.as_deref(), x_oss_err.as_deref(), local_now)
    } else {
        let body = read_limited(response, stall).await;
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
    stall: Duration,
) -> Option<CallbackOutcome> {
    if !opts.wants_callback() {
        return None;
    }
    let body = read_limited(resp, stall).await;
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

/// The start of a body that is only shown to people: what is past the limit is not read, and
/// what stalls is cut where it stopped.
async fn read_limited(mut resp: reqwest::Response, stall: Duration) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = next_chunk(&mut resp, stall).await {
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
    stall: Duration,
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
    while let Some(chunk) = next_chunk(&mut resp, stall).await? {
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
