//! The one error type of the protocol layer and its classification: what the engine should do
//! about it. How each error is worded for a person lives in `wording`.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;

use super::limits::InvalidInput;
use super::xml::{ErrorBody, from_xml};

/// What the engine should do about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Temporary: try again after a pause. `clock_offset` (server minus local clock, in seconds)
    /// is set when the server said our clock is off; requests must be signed with it applied.
    Retry { clock_offset: Option<i64> },
    /// The key, secret or token is wrong or expired: stop, ask the user.
    Credentials,
    /// The bucket, object or upload does not exist (any more).
    Gone,
    /// The credentials work but may not do this.
    Denied,
    /// The request itself is wrong: retrying the same thing cannot help.
    InvalidInput,
    /// Anything else: not worth retrying automatically.
    Other,
}

/// An error answer from OSS (or from something that answered in its place).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: String,
    pub host_id: String,
    pub ec: String,
    /// Seconds to add to the local clock to match the server, learned from `ServerTime` when the
    /// code is `RequestTimeTooSkewed`.
    pub clock_offset: Option<i64>,
    /// Where the bucket must be addressed, when the request went to another region's endpoint.
    pub endpoint: Option<String>,
}

impl ServiceError {
    /// Builds the error from a status and a body that should be OSS error XML. A body that is not
    /// (a proxy's HTML page, an empty body) still gives an error with the status and a snippet.
    pub fn from_response(
        status: u16,
        request_id: Option<&str>,
        body: &str,
        local_now: i64,
    ) -> Self {
        match from_xml::<ErrorBody>(body) {
            Ok(b) => Self::from_body(status, b, local_now),
            Err(_) => {
                let snippet: String = body.trim().chars().take(200).collect();
                Self {
                    status,
                    code: String::new(),
                    message: snippet,
                    request_id: request_id.unwrap_or_default().to_owned(),
                    ..Self::default()
                }
            }
        }
    }

    /// Decodes the base64 XML that OSS puts in `x-oss-err` for HEAD requests, which have no body.
    pub fn from_head(
        status: u16,
        request_id: Option<&str>,
        x_oss_err: Option<&str>,
        local_now: i64,
    ) -> Self {
        let decoded = x_oss_err
            .and_then(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .ok()
            })
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let mut err = Self::from_response(
            status,
            request_id,
            decoded.as_deref().unwrap_or(""),
            local_now,
        );
        if err.code.is_empty() {
            // Without x-oss-err the status is all we know; name it as OSS would.
            err.code = match status {
                404 => "NoSuchKey",
                403 => "AccessDenied",
                _ => "",
            }
            .to_owned();
        }
        err
    }

    fn from_body(status: u16, b: ErrorBody, local_now: i64) -> Self {
        let clock_offset = if b.code == "RequestTimeTooSkewed" {
            b.server_time
                .as_deref()
                .and_then(parse_iso8601)
                .map(|server| server - local_now)
        } else {
            None
        };
        Self {
            status,
            code: b.code,
            message: b.message,
            request_id: b.request_id,
            host_id: b.host_id,
            ec: b.ec,
            clock_offset,
            endpoint: b.endpoint.filter(|e| !e.trim().is_empty()),
        }
    }
}

/// Parses `2019-01-15T07:22:27.000Z` (what OSS puts in `ServerTime`) to a unix time.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// How a request failed before OSS could answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// No answer in time.
    Timeout,
    /// Could not connect: network down, DNS failure, connection refused.
    Connect,
    /// The connection broke while sending or receiving.
    Broken,
    /// TLS failed: a certificate problem.
    Tls,
}

/// Which step of a request made no progress for the stall limit (`ClientConfig::read_timeout`).
/// A stall is a `Transport` error of kind `Timeout`, retryable; its message says which step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stall {
    /// The connection took none of the body: the link or the server stopped taking data.
    Sending,
    /// The request was sent but no answer came.
    NoAnswer,
    /// The answer began but stopped arriving.
    Receiving,
}

impl Stall {
    const SENDING: &str = "the connection stalled while sending";
    const NO_ANSWER: &str = "no answer after the upload";
    const RECEIVING: &str = "the answer stopped arriving";

    fn prefix(self) -> &'static str {
        match self {
            Self::Sending => Self::SENDING,
            Self::NoAnswer => Self::NO_ANSWER,
            Self::Receiving => Self::RECEIVING,
        }
    }

    /// The error for this stall after `limit` without progress.
    pub(super) fn error(self, limit: Duration) -> Error {
        Error::Transport {
            kind: TransportKind::Timeout,
            message: format!(
                "{} (no progress for {} s)",
                self.prefix(),
                limit.as_secs_f64().round()
            ),
        }
    }

    fn of(message: &str) -> Option<Self> {
        [Self::Sending, Self::NoAnswer, Self::Receiving]
            .into_iter()
            .find(|s| message.starts_with(s.prefix()))
    }
}

/// How a TLS failure begins when the server answered the handshake in plain HTTP.
const PLAIN_HTTP: &str = "the server answered in plain HTTP, not HTTPS";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", service_summary(.0))]
    Service(Box<ServiceError>),
    #[error("network error ({kind:?}): {message}")]
    Transport {
        kind: TransportKind,
        message: String,
    },
    #[error("data check failed: {what}: expected CRC-64 {expected}, server has {actual}")]
    Integrity {
        what: String,
        expected: u64,
        actual: u64,
    },
    /// The server stored a body whose MD5 (its ETag) is not the MD5 of what was sent.
    #[error("data check failed: {what}: expected MD5 {expected}, the server's ETag is {etag}")]
    Md5Mismatch {
        what: String,
        /// The MD5 of what was sent, in hex.
        expected: String,
        etag: String,
    },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The server answered with a success status but a body we cannot read.
    #[error("the server sent an answer that could not be understood (HTTP {status}): {message}")]
    Protocol {
        status: u16,
        message: String,
        request_id: String,
    },
    /// The answer to `what` was longer than any OSS sends; the rest of it was not read.
    #[error(
        "the server's answer to {what} is longer than {limit} bytes, far more than OSS sends; it was not read"
    )]
    AnswerTooLarge {
        what: &'static str,
        limit: u64,
        request_id: String,
    },
}

fn service_summary(e: &ServiceError) -> String {
    let mut s = format!("HTTP {}", e.status);
    if !e.code.is_empty() {
        s.push_str(&format!(" {}", e.code));
    }
    if !e.message.is_empty() {
        s.push_str(&format!(": {}", e.message));
    }
    if !e.request_id.is_empty() {
        s.push_str(&format!(" (request id {})", e.request_id));
    }
    s
}

impl Error {
    pub fn service(e: ServiceError) -> Self {
        Self::Service(Box::new(e))
    }

    /// The OSS error code, when OSS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service(e) if !e.code.is_empty() => Some(&e.code),
            _ => None,
        }
    }

    /// The request id, for support: every OSS answer carries one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Service(e) if !e.request_id.is_empty() => Some(&e.request_id),
            Self::Protocol { request_id, .. } | Self::AnswerTooLarge { request_id, .. }
                if !request_id.is_empty() =>
            {
                Some(request_id)
            }
            _ => None,
        }
    }

    pub fn is_no_such_upload(&self) -> bool {
        self.code() == Some("NoSuchUpload")
    }

    /// Which step stalled, when the request was given up for making no progress.
    pub fn stall(&self) -> Option<Stall> {
        match self {
            Self::Transport {
                kind: TransportKind::Timeout,
                message,
            } => Stall::of(message),
            _ => None,
        }
    }

    /// Whether an `https://` address was answered in plain HTTP: the server there does not
    /// speak HTTPS, and `http://` is what reaches it.
    pub fn is_plain_http_answer(&self) -> bool {
        matches!(self, Self::Transport { kind: TransportKind::Tls, message } if message.starts_with(PLAIN_HTTP))
    }

    /// What the engine should do about this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Service(e) => classify_service(e),
            Self::Transport { kind, .. } => match kind {
                TransportKind::Tls => ErrorClass::Other,
                _ => ErrorClass::Retry { clock_offset: None },
            },
            // The bytes were damaged on the way: sending them again fixes it.
            Self::Integrity { .. } | Self::Md5Mismatch { .. } => {
                ErrorClass::Retry { clock_offset: None }
            }
            Self::Io { .. } => ErrorClass::Other,
            Self::InvalidInput(_) => ErrorClass::InvalidInput,
            // A garbled answer is usually a proxy or a broken connection: worth a bounded retry.
            Self::Protocol { .. } => ErrorClass::Retry { clock_offset: None },
            // Not a hiccup: whatever answers is not OSS, and would answer the same again.
            Self::AnswerTooLarge { .. } => ErrorClass::Other,
        }
    }
}

const CREDENTIAL_CODES: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "SecurityTokenExpired",
    "InvalidSecurityToken",
    "AccessKeyDisabled",
];
const GONE_CODES: &[&str] = &["NoSuchBucket", "NoSuchKey", "NoSuchUpload"];

fn classify_service(e: &ServiceError) -> ErrorClass {
    let code = e.code.as_str();
    if code == "RequestTimeTooSkewed" {
        return ErrorClass::Retry {
            clock_offset: e.clock_offset,
        };
    }
    if CREDENTIAL_CODES.contains(&code) {
        return ErrorClass::Credentials;
    }
    if GONE_CODES.contains(&code) {
        return ErrorClass::Gone;
    }
    if code == "AccessDenied" || (code.is_empty() && e.status == 403) {
        return ErrorClass::Denied;
    }
    // The body was damaged on the way (its MD5 did not match what we said): sending it again
    // fixes it. OSS says `InvalidDigest` both for that and for a Content-MD5 that is not an
    // MD5 at all, but the client only sends well-formed ones (checked before sending), so
    // here it means damage; the retry bound of the engine stops a server that always says so.
    if matches!(code, "BadDigest" | "InvalidDigest" | "RequestTimeout") {
        return ErrorClass::Retry { clock_offset: None };
    }
    match e.status {
        500..=599 | 408 | 429 => ErrorClass::Retry { clock_offset: None },
        400..=499 => ErrorClass::InvalidInput,
        _ => ErrorClass::Other,
    }
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        let mut message = error_chain(&e);
        let lower = message.to_ascii_lowercase();
        let kind = if e.is_timeout() {
            TransportKind::Timeout
        } else if is_tls(&e) || TLS_MARKERS.iter().any(|m| lower.contains(m)) {
            if answered_in_plain_http(&e, &message) {
                message = format!("{PLAIN_HTTP}: {message}");
            }
            TransportKind::Tls
        } else if e.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Broken
        };
        Self::Transport { kind, message }
    }
}

/// Whether the TLS handshake was answered with something that is not TLS at all. A TLS record
/// begins with a content type byte (20 to 24); an HTTP answer begins with `H`, which rustls
/// refuses as an invalid content type before anything else.
fn answered_in_plain_http(e: &(dyn std::error::Error + 'static), message: &str) -> bool {
    let plain = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
    let mut cur = Some(e);
    while let Some(c) = cur {
        let inner = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>());
        if c.downcast_ref::<rustls::Error>().or(inner) == Some(&plain) {
            return true;
        }
        cur = c.source();
    }
    // The type can hide behind a wrapper that only keeps the text.
    message.contains("InvalidContentType")
}

/// How rustls describes its failures, for when the error's type is hidden behind a wrapper.
const TLS_MARKERS: &[&str] = &[
    "certificate",
    "received corrupt message",
    "peer is incompatible",
    "peer misbehaved",
    "received fatal alert",
    "handshake",
];

/// Whether a TLS error (rustls) is anywhere in the chain: those are not fixed by retrying.
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return true;
        }
        cur = c.source();
    }
    false
}

/// The error and its causes on one line: reqwest's own message alone says little.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(status: u16, code: &str) -> Error {
        Error::service(ServiceError {
            status,
            code: code.into(),
            ..Default::default()
        })
    }

    #[test]
    fn classes() {
        let retry = ErrorClass::Retry { clock_offset: None };
        assert_eq!(svc(503, "ServiceUnavailable").class(), retry);
        assert_eq!(svc(500, "InternalError").class(), retry);
        assert_eq!(svc(408, "").class(), retry);
        assert_eq!(svc(429, "").class(), retry);
        assert_eq!(
            svc(403, "InvalidAccessKeyId").class(),
            ErrorClass::Credentials
        );
        assert_eq!(
            svc(403, "SignatureDoesNotMatch").class(),
            ErrorClass::Credentials
        );
        assert_eq!(
            svc(403, "SecurityTokenExpired").class(),
            ErrorClass::Credentials
        );
        assert_eq!(svc(404, "NoSuchBucket").class(), ErrorClass::Gone);
        assert_eq!(svc(404, "NoSuchKey").class(), ErrorClass::Gone);
        assert_eq!(svc(404, "NoSuchUpload").class(), ErrorClass::Gone);
        assert_eq!(svc(403, "AccessDenied").class(), ErrorClass::Denied);
        assert_eq!(
            svc(400, "InvalidArgument").class(),
            ErrorClass::InvalidInput
        );
        assert_eq!(svc(400, "EntityTooSmall").class(), ErrorClass::InvalidInput);
        assert_eq!(svc(400, "BadDigest").class(), retry);
        assert_eq!(svc(400, "InvalidDigest").class(), retry);
        assert_eq!(svc(304, "").class(), ErrorClass::Other);
        let t = |kind| {
            Error::Transport {
                kind,
                message: String::new(),
            }
            .class()
        };
        assert_eq!(t(TransportKind::Timeout), retry);
        assert_eq!(t(TransportKind::Connect), retry);
        assert_eq!(t(TransportKind::Broken), retry);
        assert_eq!(t(TransportKind::Tls), ErrorClass::Other);
        assert_eq!(
            Error::Integrity {
                what: "part 1".into(),
                expected: 1,
                actual: 2
            }
            .class(),
            retry
        );
        assert_eq!(
            Error::Md5Mismatch {
                what: "part 1".into(),
                expected: "00".into(),
                etag: "\"11\"".into(),
            }
            .class(),
            retry
        );
        assert_eq!(
            Error::from(InvalidInput::EmptyKey).class(),
            ErrorClass::InvalidInput
        );
        assert!(svc(404, "NoSuchUpload").is_no_such_upload());
    }

    #[test]
    fn stalls_say_which_step_and_are_retryable() {
        for stall in [Stall::Sending, Stall::NoAnswer, Stall::Receiving] {
            let e = stall.error(Duration::from_secs(60));
            assert_eq!(e.stall(), Some(stall));
            assert_eq!(e.class(), ErrorClass::Retry { clock_offset: None });
            assert!(e.to_string().contains("60 s"), "{e}");
        }
        let plain = Error::Transport {
            kind: TransportKind::Timeout,
            message: "operation timed out".into(),
        };
        assert_eq!(plain.stall(), None);
        let broken = Error::Transport {
            kind: TransportKind::Broken,
            message: Stall::SENDING.into(),
        };
        assert_eq!(broken.stall(), None);
        assert!(!plain.is_plain_http_answer());
    }

    #[test]
    fn skew_offset_comes_from_server_time() {
        let body = "<Error><Code>RequestTimeTooSkewed</Code><Message>m</Message><RequestId>R1</RequestId>\
            <ServerTime>2019-01-15T07:22:27.000Z</ServerTime></Error>";
        let local = parse_iso8601("2019-01-15T07:00:27Z").unwrap();
        let e = ServiceError::from_response(403, None, body, local);
        assert_eq!(e.clock_offset, Some(22 * 60));
        assert_eq!(e.request_id, "R1");
        let err = Error::service(e);
        assert_eq!(
            err.class(),
            ErrorClass::Retry {
                clock_offset: Some(1320)
            }
        );
        assert!(
            err.user_message().contains("22 minutes"),
            "{}",
            err.user_message()
        );
    }

    #[test]
    fn head_errors_come_from_x_oss_err() {
        let xml = "<Error><Code>NoSuchKey</Code><Message>gone</Message><RequestId>RID</RequestId><EC>0026-00000001</EC></Error>";
        let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
        let e = ServiceError::from_head(404, Some("RID"), Some(&b64), 0);
        assert_eq!(
            (e.code.as_str(), e.ec.as_str(), e.request_id.as_str()),
            ("NoSuchKey", "0026-00000001", "RID")
        );
        let e = ServiceError::from_head(403, Some("X"), None, 0);
        assert_eq!(
            (e.code.as_str(), e.request_id.as_str()),
            ("AccessDenied", "X")
        );
    }

    #[test]
    fn garbage_bodies_still_make_errors() {
        let e =
            ServiceError::from_response(502, Some("Q"), "<html><body>Bad Gateway</body></html>", 0);
        assert_eq!(e.status, 502);
        assert_eq!(e.request_id, "Q");
        assert!(e.message.contains("Bad Gateway"));
        assert_eq!(
            Error::service(e).class(),
            ErrorClass::Retry { clock_offset: None }
        );
    }
}
