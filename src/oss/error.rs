//! The one error type of the protocol layer, its classification (what the engine should do about
//! it) and the plain-language message a person reads.

use crate::text::Text;
use std::path::PathBuf;

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
            Self::Protocol { request_id, .. } if !request_id.is_empty() => Some(request_id),
            _ => None,
        }
    }

    pub fn is_no_such_upload(&self) -> bool {
        self.code() == Some("NoSuchUpload")
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
            Self::Integrity { .. } => ErrorClass::Retry { clock_offset: None },
            Self::Io { .. } => ErrorClass::Other,
            Self::InvalidInput(_) => ErrorClass::InvalidInput,
            // A garbled answer is usually a proxy or a broken connection: worth a bounded retry.
            Self::Protocol { .. } => ErrorClass::Retry { clock_offset: None },
        }
    }

    /// A message a person who knows nothing of HTTP can act on.
    pub fn user_message(&self) -> String {
        self.user_text().en
    }

    /// What a person can act on, in both languages.
    pub fn user_text(&self) -> Text {
        match self {
            Self::Service(e) => service_user_text(e),
            Self::Transport { kind, .. } => match kind {
                TransportKind::Timeout => Text::new(
                    "The server did not answer in time. The network may be slow or down; the upload will try again.",
                    "服务器没有及时响应，网络可能较慢或已断开；上传会自动重试。",
                ),
                TransportKind::Connect => Text::new(
                    "Cannot reach the storage service. Check the internet connection and the endpoint address.",
                    "无法连接到存储服务。请检查网络连接和 Endpoint 地址。",
                ),
                TransportKind::Broken => Text::new(
                    "The connection broke during the transfer. The upload will try again.",
                    "传输过程中连接中断，上传会自动重试。",
                ),
                TransportKind::Tls => Text::new(
                    "The secure connection failed because of a certificate problem. Check the endpoint address and the computer's date and time; a proxy may be interfering.",
                    "证书问题导致安全连接失败。请检查 Endpoint 地址以及电脑的日期和时间；也可能是代理在干扰。",
                ),
            },
            Self::Integrity { .. } => Text::new(
                "Data arrived damaged and is being sent again.",
                "数据在传输中损坏，正在重新发送。",
            ),
            Self::Io { path, source } => {
                let p = path.display();
                match source.kind() {
                    std::io::ErrorKind::NotFound => Text::new(
                        format!("The file {p} is no longer there. Was it moved or deleted?"),
                        format!("文件 {p} 已不在原处，是否被移动或删除了？"),
                    ),
                    std::io::ErrorKind::PermissionDenied => Text::new(
                        format!("This program may not read {p}. Check the file's permissions."),
                        format!("本程序无权读取 {p}，请检查文件权限。"),
                    ),
                    _ => Text::new(
                        format!("The file {p} could not be read: {source}."),
                        format!("无法读取文件 {p}：{source}。"),
                    ),
                }
            }
            Self::InvalidInput(e) => Text::new(e.to_string(), format!("设置不正确：{e}")),
            Self::Protocol { .. } => Text::new(
                "The server sent an answer that could not be understood. If you use a proxy or a custom endpoint, check it; the upload will try again.",
                "服务器返回了无法识别的响应。如果使用了代理或自定义 Endpoint，请检查；上传会自动重试。",
            ),
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
    // The body was damaged on the way (its MD5 did not match): sending it again fixes it.
    if code == "BadDigest" || code == "RequestTimeout" {
        return ErrorClass::Retry { clock_offset: None };
    }
    match e.status {
        500..=599 | 408 | 429 => ErrorClass::Retry { clock_offset: None },
        400..=499 => ErrorClass::InvalidInput,
        _ => ErrorClass::Other,
    }
}

fn service_user_text(e: &ServiceError) -> Text {
    match e.code.as_str() {
        "InvalidAccessKeyId" => Text::new(
            "The AccessKey ID is not recognised. Check that it was copied completely and that the key is enabled.",
            "AccessKey ID 无法识别。请检查是否完整复制，以及该密钥是否已启用。",
        ),
        "SignatureDoesNotMatch" => Text::new(
            "The AccessKey secret does not match the AccessKey ID. Check the secret (it is case-sensitive).",
            "AccessKey Secret 与 AccessKey ID 不匹配。请检查 Secret（区分大小写）。",
        ),
        "SecurityTokenExpired" | "InvalidSecurityToken" => Text::new(
            "The temporary (STS) token is expired or invalid. Get a new token and try again.",
            "临时（STS）令牌已过期或无效。请获取新令牌后重试。",
        ),
        "AccessKeyDisabled" => Text::new(
            "This AccessKey has been disabled. Enable it or use another key.",
            "此 AccessKey 已被禁用。请启用它或换用其他密钥。",
        ),
        "NoSuchBucket" => Text::new(
            "The bucket does not exist in this region. Check the bucket name and the region.",
            "该地域中不存在这个存储桶。请检查存储桶名称和地域。",
        ),
        "NoSuchKey" => Text::new("The file is not in the bucket.", "存储桶中没有这个文件。"),
        "NoSuchUpload" => Text::new(
            "The server no longer knows this upload (it was cancelled, finished or expired). It will start again from the beginning.",
            "服务器上已没有这次上传（已取消、已完成或已过期），将从头开始上传。",
        ),
        "AccessDenied" => Text::new(
            "This AccessKey is not allowed to do this. Ask the account owner for upload permission on this bucket.",
            "此 AccessKey 没有执行该操作的权限。请向账号所有者申请该存储桶的上传权限。",
        ),
        "RequestTimeTooSkewed" => match e.clock_offset {
            Some(off) => {
                let (en, zh) = human_secs(off);
                Text::new(
                    format!(
                        "This computer's clock is off by {en} from the server's. The upload corrects for it; set the clock right to avoid this."
                    ),
                    format!(
                        "这台电脑的时钟与服务器相差 {zh}。上传会自动校正；请把时钟调准以免再次出现。"
                    ),
                )
            }
            None => Text::new(
                "This computer's clock is too far from the server's. Set the date and time correctly.",
                "这台电脑的时钟与服务器相差太多。请正确设置日期和时间。",
            ),
        },
        "FileAlreadyExists" => Text::new(
            "A file with this name already exists in the bucket, and overwriting is turned off.",
            "存储桶中已有同名文件，且已关闭覆盖。",
        ),
        "EntityTooSmall" => Text::new(
            "A piece of the upload was smaller than OSS allows (100 KiB). Use a larger part size.",
            "上传的分片小于 OSS 允许的最小值（100 KiB）。请使用更大的分片大小。",
        ),
        "InvalidPart" | "InvalidPartOrder" => Text::new(
            "The server did not accept the list of uploaded pieces. The upload will start again.",
            "服务器不接受已上传分片的列表，将重新开始上传。",
        ),
        "CallbackFailed" => Text::new(
            "The file was uploaded, but the server's notification (callback) to your application failed.",
            "文件已上传，但服务器通知你的应用（回调）失败。",
        ),
        "QuotaExceeded" | "TooManyBuckets" => Text::new(
            "The account's storage quota has been reached.",
            "账号的存储配额已用完。",
        ),
        _ => match e.status {
            500..=599 => Text::new(
                format!(
                    "The storage service had a temporary problem (HTTP {}). The upload will try again.",
                    e.status
                ),
                format!(
                    "存储服务出现临时问题（HTTP {}），上传会自动重试。",
                    e.status
                ),
            ),
            429 => Text::new(
                "The storage service asks us to slow down. The upload will try again shortly.",
                "存储服务要求降低请求频率，稍后会自动重试。",
            ),
            _ if !e.message.is_empty() => Text::new(
                format!("The storage service refused the request: {}", e.message),
                format!("存储服务拒绝了请求：{}", e.message),
            ),
            _ => Text::new(
                format!(
                    "The storage service refused the request (HTTP {}).",
                    e.status
                ),
                format!("存储服务拒绝了请求（HTTP {}）。", e.status),
            ),
        },
    }
}

/// A clock difference in words: (English, Chinese).
fn human_secs(s: i64) -> (String, String) {
    let a = s.unsigned_abs();
    if a >= 3600 {
        let h = a as f64 / 3600.0;
        (format!("{h:.1} hours"), format!("{h:.1} 小时"))
    } else if a >= 60 {
        (format!("{} minutes", a / 60), format!("{} 分钟", a / 60))
    } else {
        (format!("{a} seconds"), format!("{a} 秒"))
    }
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        let message = error_chain(&e);
        let lower = message.to_ascii_lowercase();
        let kind = if e.is_timeout() {
            TransportKind::Timeout
        } else if is_tls(&e) || TLS_MARKERS.iter().any(|m| lower.contains(m)) {
            TransportKind::Tls
        } else if e.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Broken
        };
        Self::Transport { kind, message }
    }
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
            Error::from(InvalidInput::EmptyKey).class(),
            ErrorClass::InvalidInput
        );
        assert!(svc(404, "NoSuchUpload").is_no_such_upload());
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

    #[test]
    fn user_messages_are_plain() {
        for (status, code, needle) in [
            (403, "InvalidAccessKeyId", "AccessKey ID"),
            (403, "SignatureDoesNotMatch", "secret"),
            (404, "NoSuchBucket", "bucket"),
            (403, "AccessDenied", "not allowed"),
            (503, "", "temporary problem"),
        ] {
            let m = svc(status, code).user_message();
            assert!(m.contains(needle), "{code}: {m}");
            assert!(!m.contains("HTTP 4"), "{m}");
        }
        let io = Error::Io {
            path: "/x/y".into(),
            source: std::io::ErrorKind::NotFound.into(),
        };
        assert!(io.user_message().contains("/x/y"));
    }
}
