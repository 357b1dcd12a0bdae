//! Answers as OSS writes them: the error type with OSS's codes and statuses, the error XML (in
//! `x-oss-err` for HEAD, which has no body), and the headers every answer carries.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};

use crate::oss::xml::{ErrorBody, to_xml};

/// Every answer's body type: small XML, empty, or a file streamed from disk.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An error answer before the request id and host are known.
#[derive(Clone, Debug)]
pub(crate) struct OssError {
    pub status: StatusCode,
    /// Boxed: errors travel through every `Result` in the handlers and should stay small.
    pub body: Box<ErrorBody>,
}

impl OssError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: Box::new(ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                ..Default::default()
            }),
        }
    }

    pub fn ec(mut self, ec: &str) -> Self {
        self.body.ec = ec.to_owned();
        self
    }

    pub fn no_such_bucket() -> Self {
        Self::new(404, "NoSuchBucket", "The specified bucket does not exist.").ec("0015-00000101")
    }

    pub fn no_such_key() -> Self {
        Self::new(404, "NoSuchKey", "The specified key does not exist.").ec("0026-00000001")
    }

    pub fn no_such_upload() -> Self {
        Self::new(
            404,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .ec("0042-00000002")
    }

    pub fn file_exists() -> Self {
        Self::new(
            409,
            "FileAlreadyExists",
            "The object you specified already exists and can not be overwritten.",
        )
        .ec("0016-00000708")
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidArgument", message)
    }

    pub fn malformed_xml(message: impl Into<String>) -> Self {
        Self::new(400, "MalformedXML", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            501,
            "NotImplemented",
            format!("The local OSS server does not implement {what}."),
        )
    }
}

impl From<std::io::Error> for OssError {
    fn from(e: std::io::Error) -> Self {
        OssError::internal(format!("Storage error on the local server: {e}"))
    }
}

/// Renders an error; a HEAD answer carries the XML base64-encoded in `x-oss-err`.
pub(crate) fn error_response(
    mut err: OssError,
    request_id: &str,
    host_id: &str,
    is_head: bool,
) -> Response<Body> {
    err.body.request_id = request_id.to_owned();
    err.body.host_id = host_id.to_owned();
    let xml = to_xml(&err.body).unwrap_or_else(|e| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>{e}</Message></Error>"
        )
    });
    let mut builder = Response::builder()
        .status(err.status)
        .header(header::CONTENT_TYPE, "application/xml");
    if !err.body.ec.is_empty() {
        builder = builder.header("x-oss-ec", err.body.ec.as_str());
    }
    let response = if is_head {
        let encoded = base64::engine::general_purpose::STANDARD.encode(xml.as_bytes());
        builder.header("x-oss-err", encoded).body(empty())
    } else {
        builder
            .header(header::CONTENT_LENGTH, xml.len())
            .body(full(xml))
    };
    response.unwrap_or_else(|_| plain_status(err.status))
}

/// An answer with an XML document.
pub(crate) fn xml_response(status: StatusCode, xml: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/xml")
        .header(header::CONTENT_LENGTH, xml.len())
        .body(full(xml))
        .unwrap_or_else(|_| plain_status(StatusCode::INTERNAL_SERVER_ERROR))
}

pub(crate) fn plain_status(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r
}

/// Adds a header whose value may not be a valid header value (stored user metadata).
pub(crate) fn set(
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

/// Finishes an answer; a builder that went wrong becomes a plain 500.
pub(crate) fn build(builder: http::response::Builder, body: Body) -> Response<Body> {
    builder
        .body(body)
        .unwrap_or_else(|_| plain_status(StatusCode::INTERNAL_SERVER_ERROR))
}

/// A fresh request id: 24 uppercase hex characters, as OSS's.
pub(crate) fn request_id() -> String {
    format!("{:016X}{:08X}", fastrand::u64(..), fastrand::u32(..))
}

/// Adds the headers every OSS answer carries.
pub(crate) fn finish(response: &mut Response<Body>, request_id: &str, now_unix: i64) {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-oss-request-id", v);
    }
    headers.insert(header::SERVER, HeaderValue::from_static("AliyunOSS"));
    if let Ok(v) = HeaderValue::from_str(&http_date(now_unix)) {
        headers.insert(header::DATE, v);
    }
}

/// An RFC 7231 date, as in `Date` and `Last-Modified`.
pub(crate) fn http_date(unix: i64) -> String {
    httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0).unsigned_abs()),
    )
}

/// `2012-02-23T07:01:34.000Z`, the form OSS uses in XML (oss2 parses exactly this shape).
pub(crate) fn iso8601(unix: i64) -> String {
    let dt =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Uppercase hex, as OSS writes MD5s in ETags.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02X}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ids() {
        assert_eq!(iso8601(1702743657), "2023-12-16T16:20:57.000Z");
        assert_eq!(http_date(1672223261), "Wed, 28 Dec 2022 10:27:41 GMT");
        let id = request_id();
        assert_eq!(id.len(), 24);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert_eq!(hex_upper(&[0xab, 0x01]), "AB01");
    }
}
