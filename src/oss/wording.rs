//! How protocol errors are worded for a person who knows nothing of HTTP, in English and
//! Chinese. The error type and what the engine does about each error live in `error`.
//!
//! A message says what happened, never what will happen next: the same words are shown while a
//! retry waits and when the upload has given up, so "the upload will try again" would be false
//! on a final failure. Whether and when it tries again is said by the caller that knows
//! (`engine::JobError::retry_notice` adds "Trying again in N s.").

use crate::text::Text;

use super::error::{Error, ServiceError, Stall, TransportKind};
use super::limits::InvalidInput;

impl Error {
    /// A message a person who knows nothing of HTTP can act on.
    pub fn user_message(&self) -> String {
        self.user_text().en
    }

    /// What a person can act on, in both languages.
    pub fn user_text(&self) -> Text {
        match self {
            Self::Service(e) => service_user_text(e),
            Self::Transport { kind, .. } => match kind {
                TransportKind::Timeout => match self.stall() {
                    Some(Stall::Sending) => Text::new(
                        "The connection stalled while sending: the network stopped taking data. It may be down, or far slower than usual.",
                        "发送时连接停滞：网络不再接收数据。网络可能已断开，或比平时慢得多。",
                    ),
                    Some(Stall::NoAnswer) => Text::new(
                        "The server gave no answer after the data was sent. The network or the server may be overloaded.",
                        "数据发送完毕后服务器没有响应。网络或服务器可能负载过高。",
                    ),
                    Some(Stall::Receiving) => Text::new(
                        "The server's answer stopped arriving. The network may be down, or far slower than usual.",
                        "服务器的响应中途停止。网络可能已断开，或比平时慢得多。",
                    ),
                    None => Text::new(
                        "The server did not answer in time. The network may be slow or down.",
                        "服务器没有及时响应，网络可能较慢或已断开。",
                    ),
                },
                TransportKind::Connect => Text::new(
                    "Cannot reach the storage service. Check the internet connection and the endpoint address.",
                    "无法连接到存储服务。请检查网络连接和 Endpoint 地址。",
                ),
                TransportKind::Broken => Text::new(
                    "The connection broke during the transfer.",
                    "传输过程中连接中断。",
                ),
                TransportKind::Tls if self.is_plain_http_answer() => Text::new(
                    "The server at this address does not speak HTTPS: it answered the secure connection in plain HTTP, so no certificate could be checked. If the address is right, use http:// instead of https://.",
                    "该地址的服务器不支持 HTTPS：它用普通 HTTP 回应了安全连接，因此无法检查证书。如果地址无误，请把 https:// 改为 http://。",
                ),
                TransportKind::Tls => Text::new(
                    "The secure connection failed because of a certificate problem. Check the endpoint address and the computer's date and time; a proxy may be interfering.",
                    "证书问题导致安全连接失败。请检查 Endpoint 地址以及电脑的日期和时间；也可能是代理在干扰。",
                ),
            },
            Self::Integrity { .. } | Self::Md5Mismatch { .. } => Text::new(
                "Data arrived damaged: what the server stored does not match what was sent.",
                "数据在传输中损坏：服务器保存的内容与发送的不一致。",
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
            Self::InvalidInput(InvalidInput::KeyDotSegment(key)) => Text::new(
                InvalidInput::KeyDotSegment(key.clone()).to_string(),
                format!(
                    "对象名“{key}”在斜杠之间含有“.”或“..”。网址无法原样传递它（会指向另一个对象），因此无法向 OSS 请求它。请重命名文件或文件夹，或在存储桶中另选名称。"
                ),
            ),
            Self::InvalidInput(e) => Text::new(e.to_string(), format!("设置不正确：{e}")),
            Self::Protocol { .. } => Text::new(
                "The server sent an answer that could not be understood. If you use a proxy or a custom endpoint, check it.",
                "服务器返回了无法识别的响应。如果使用了代理或自定义 Endpoint，请检查。",
            ),
            Self::AnswerTooLarge { limit, .. } => {
                let mib = limit.div_ceil(1024 * 1024);
                Text::new(
                    format!(
                        "The server sent an answer larger than {mib} MiB, far more than OSS ever sends, so it was not read. Check the endpoint address: it may not be an OSS service, or a proxy may be interfering."
                    ),
                    format!(
                        "服务器返回的响应超过 {mib} MiB，远大于 OSS 的任何响应，因此没有读取。请检查 Endpoint 地址：它可能不是 OSS 服务，也可能是代理在干扰。"
                    ),
                )
            }
        }
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
            "The server no longer knows this upload (it was cancelled, finished or expired).",
            "服务器上已没有这次上传（已取消、已完成或已过期）。",
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
                        "This computer's clock is off by {en} from the server's. Later requests are signed with the server's time; set the clock right to avoid this."
                    ),
                    format!(
                        "这台电脑的时钟与服务器相差 {zh}。之后的请求会按服务器时间签名；请把时钟调准以免再次出现。"
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
            "The server did not accept the list of uploaded pieces.",
            "服务器不接受已上传分片的列表。",
        ),
        "BadDigest" | "InvalidDigest" => Text::new(
            "Data arrived damaged: the server found that its MD5 checksum does not match what was sent.",
            "数据在传输中损坏：服务器发现其 MD5 校验值与发送的不一致。",
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
                    "The storage service had a temporary problem (HTTP {}).",
                    e.status
                ),
                format!("存储服务出现临时问题（HTTP {}）。", e.status),
            ),
            429 => Text::new(
                "The storage service asked us to slow down: too many requests.",
                "存储服务要求降低请求频率：请求过多。",
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

    /// The same message is shown while a retry waits and after the last one failed: it must not
    /// promise another try (issue 9.10).
    #[test]
    fn no_message_promises_a_retry() {
        let transport = |kind, message: &str| Error::Transport {
            kind,
            message: message.into(),
        };
        let mut errors = vec![
            transport(TransportKind::Timeout, "timed out"),
            transport(TransportKind::Broken, "reset"),
            transport(TransportKind::Connect, "refused"),
            transport(TransportKind::Tls, "bad cert"),
            Stall::Sending.error(std::time::Duration::from_secs(60)),
            Stall::NoAnswer.error(std::time::Duration::from_secs(60)),
            Stall::Receiving.error(std::time::Duration::from_secs(60)),
            Error::Integrity {
                what: "part 1".into(),
                expected: 1,
                actual: 2,
            },
            Error::Md5Mismatch {
                what: "part 1".into(),
                expected: "00".into(),
                etag: "11".into(),
            },
            Error::Protocol {
                status: 200,
                message: "garbage".into(),
                request_id: String::new(),
            },
        ];
        for (status, code) in [
            (500, "InternalError"),
            (503, "ServiceUnavailable"),
            (502, ""),
            (429, ""),
            (408, "RequestTimeout"),
            (400, "BadDigest"),
            (400, "InvalidDigest"),
            (404, "NoSuchUpload"),
            (400, "InvalidPart"),
            (403, "RequestTimeTooSkewed"),
        ] {
            errors.push(svc(status, code));
        }
        errors.push(Error::service(ServiceError {
            status: 403,
            code: "RequestTimeTooSkewed".into(),
            clock_offset: Some(600),
            ..Default::default()
        }));
        for e in errors {
            let t = e.user_text();
            for promise in [
                "will try",
                "try again",
                "trying again",
                "will start",
                "being sent again",
                "corrects for it",
            ] {
                assert!(!t.en.to_lowercase().contains(promise), "{e:?}: {}", t.en);
            }
            for promise in ["重试", "重新发送", "重新开始", "将从头", "自动校正"] {
                assert!(!t.zh.contains(promise), "{e:?}: {}", t.zh);
            }
        }
    }

    #[test]
    fn damaged_data_and_stalls_say_what_happened() {
        let damaged = svc(400, "InvalidDigest").user_text();
        assert!(damaged.en.contains("damaged"), "{}", damaged.en);
        assert!(damaged.zh.contains("损坏"), "{}", damaged.zh);
        let sending = Stall::Sending
            .error(std::time::Duration::from_secs(60))
            .user_text();
        assert!(
            sending.en.contains("stalled while sending"),
            "{}",
            sending.en
        );
        assert!(sending.zh.contains("停滞"), "{}", sending.zh);
    }

    #[test]
    fn an_oversized_answer_says_what_to_check() {
        let e = Error::AnswerTooLarge {
            what: "ListParts",
            limit: 16 * 1024 * 1024,
            request_id: String::new(),
        };
        let t = e.user_text();
        assert!(
            t.en.contains("16 MiB") && t.en.contains("endpoint"),
            "{}",
            t.en
        );
        assert!(t.zh.contains("16 MiB"), "{}", t.zh);
    }
}
