//! How a job ends and how an error reads: one [`JobOutcome`] per run, and a [`JobError`] in
//! plain words (English and Chinese) with the details support needs one click away.

use serde::{Deserialize, Serialize};

use super::checkpoint::CheckpointError;
use crate::oss::client::CallbackOutcome;
use crate::oss::error::Error;
use crate::text::{Lang, Text};

/// An error as the user sees it, with the details support needs one click away.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// Plain words, in English (the command line and the logs).
    pub message: String,
    /// The same in Chinese, for the window; empty in queue files from before it existed.
    #[serde(default)]
    pub message_zh: String,
    /// The technical description.
    pub detail: String,
    pub code: Option<String>,
    pub ec: Option<String>,
    pub request_id: Option<String>,
    /// The network or the service could not be reached (no connection, a reset, no answer):
    /// the window waits for it to come back and goes on by itself.
    #[serde(default)]
    pub network: bool,
}

impl JobError {
    pub fn plain(text: Text) -> Self {
        Self {
            detail: text.en.clone(),
            message: text.en,
            message_zh: text.zh,
            code: None,
            ec: None,
            request_id: None,
            network: false,
        }
    }

    pub fn from_oss(e: &Error) -> Self {
        let ec = match e {
            Error::Service(s) if !s.ec.is_empty() => Some(s.ec.clone()),
            _ => None,
        };
        let text = e.user_text();
        Self {
            message: text.en,
            message_zh: text.zh,
            detail: e.to_string(),
            code: e.code().map(str::to_owned),
            ec,
            request_id: e.request_id().map(str::to_owned),
            network: matches!(
                e,
                Error::Transport { kind, .. } if *kind != crate::oss::error::TransportKind::Tls
            ),
        }
    }

    pub(crate) fn checkpoint(e: &CheckpointError) -> Self {
        Self::plain(Text::new(e.to_string(), format!("续传记录出错：{e}")))
    }

    /// A setting or input the job cannot use (the detail is the English description).
    pub fn invalid(e: impl std::fmt::Display) -> Self {
        Self::plain(Text::new(e.to_string(), format!("设置不正确：{e}")))
    }

    /// Something that should not happen; the detail helps a bug report.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::plain(Text::new(
            format!("internal error: {e}"),
            format!("内部错误：{e}"),
        ))
    }

    /// What a face shows while the job waits to try again after this error.
    pub fn retry_notice(&self, delay: std::time::Duration) -> Text {
        let secs = delay.as_secs_f64().ceil();
        Text::new(
            format!("{} Trying again in {secs:.0} s.", self.message),
            format!("{} {secs:.0} 秒后重试。", self.message_in(Lang::Zh)),
        )
    }

    /// The message in the given language.
    pub fn message_in(&self, lang: Lang) -> &str {
        crate::text::pick(lang, &self.message, &self.message_zh)
    }
}

/// What a server-side check proved about an object that is "verified".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof {
    /// The CRC-64 the server computed over the object equals the file's. The normal case.
    Crc64,
    /// The server gave no CRC-64 (an older deployment, a proxy or gateway that drops it), but
    /// it confirmed every part's MD5 (an ETag equal to the MD5 of the file's bytes, or a
    /// `Content-MD5` it checked), and the object has the file's size.
    PartMd5,
}

/// How a job ended: exactly one per run.
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    /// The object is in OSS and a check made by the server proved it equals the file.
    Verified {
        size: u64,
        /// The file's CRC-64 (the object's too when `proof` is `Crc64`).
        crc64: u64,
        etag: String,
        /// A callback failure leaves the object in place; the user is told.
        callback: Option<CallbackOutcome>,
        proof: Proof,
    },
    /// The object is in OSS with the file's size, but nothing the server said could prove its
    /// bytes are the file's; `why` says what was not checked. Never shown as verified.
    Unverified {
        size: u64,
        etag: String,
        callback: Option<CallbackOutcome>,
        why: Text,
    },
    /// The name was taken and the policy said skip: nothing was sent.
    Skipped,
    Paused,
    Cancelled,
    /// The network or the service stayed down past the retry bounds: resumable.
    Interrupted(JobError),
    Failed(JobError),
}
