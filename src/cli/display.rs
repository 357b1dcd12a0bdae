//! What the user sees while uploads run: a bar per file with speed and time left on a terminal,
//! and plain one-line records otherwise (logs, scripts, CI), where a bar would be noise.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::plan::UploadPlan;
use crate::engine::progress::ProgressSnapshot;
use crate::engine::{JobError, JobOutcome, Proof};
use crate::oss::client::CallbackOutcome;
use crate::text::Text;
use crate::units::human_bytes;

/// The output of one run of `upload` or `resume`, shared by its jobs.
#[derive(Clone)]
pub struct Display {
    bars: Option<MultiProgress>,
    // Keeps whole lines from different jobs from interleaving.
    out: Arc<Mutex<()>>,
    /// Jobs are retrying because the network or the service cannot be reached: said once, not
    /// once per attempt and job.
    waiting: Arc<AtomicBool>,
    /// How long retrying goes on, for the waiting line.
    retry_for: Duration,
}

impl Display {
    /// Bars when stdout is a terminal, plain lines otherwise.
    pub fn new(retry_for: Duration) -> Self {
        let bars = std::io::stdout()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Self {
            bars,
            out: Arc::new(Mutex::new(())),
            waiting: Arc::new(AtomicBool::new(false)),
            retry_for,
        }
    }

    /// A line on stdout, above the bars when there are any.
    pub fn line(&self, text: &str) {
        let _guard = self.out.lock();
        match &self.bars {
            Some(m) => {
                let _ = m.println(text);
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
        }
    }

    /// A line on stderr (failures), with the bars out of the way while it is written.
    pub fn error_line(&self, text: &str) {
        let _guard = self.out.lock();
        let write = || {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{text}");
            let _ = err.flush();
        };
        match &self.bars {
            Some(m) => m.suspend(write),
            None => write(),
        }
    }

    /// The view of one file's upload.
    pub fn job(&self, label: String, target: String) -> JobView {
        JobView {
            display: self.clone(),
            label: printable(&label).into_owned(),
            target: printable(&target).into_owned(),
            bar: Mutex::new(None),
            started: AtomicBool::new(false),
        }
    }
}

/// One file's line or bar.
pub struct JobView {
    display: Display,
    /// The local file as the user named it.
    label: String,
    /// `oss://bucket/key`.
    target: String,
    bar: Mutex<Option<ProgressBar>>,
    /// A run began (a job paused before it started has nothing to report).
    started: AtomicBool,
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// `15 min`, `2 h`, `45 s`: a span as people say it.
fn span(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 7200 && s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `text` with control characters written as escapes (`\n`, `\u{1b}`), so a file or object
/// name holding a newline or a terminal escape cannot break the one-line-per-event output a
/// script reads, nor move the cursor.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// ` [Code, request id X]`, or nothing when OSS gave neither.
pub fn error_tail(e: &JobError) -> String {
    let mut bits = Vec::new();
    if let Some(code) = &e.code {
        bits.push(code.clone());
    }
    if let Some(ec) = &e.ec {
        bits.push(format!("EC {ec}"));
    }
    if let Some(id) = &e.request_id {
        bits.push(format!("request id {id}"));
    }
    if bits.is_empty() {
        String::new()
    } else {
        format!(" [{}]", bits.join(", "))
    }
}

impl JobView {
    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Ok(bar) = self.bar.lock()
            && let Some(b) = bar.as_ref()
        {
            f(b);
        }
    }

    /// Something the user should know that does not stop the job.
    pub fn notice(&self, text: &Text) {
        self.display.line(&format!("NOTE {}: {text}", self.label));
    }

    /// The name was taken and the file goes up under another.
    pub fn renamed(&mut self, key: &str) {
        let bucket_end = self
            .target
            .strip_prefix("oss://")
            .and_then(|rest| rest.find('/'))
            .map_or(self.target.len(), |i| "oss://".len() + i + 1);
        self.target.truncate(bucket_end);
        self.target.push_str(&printable(key));
        self.display.line(&format!(
            "NOTE {}: the name was taken; storing it as {}",
            self.label, self.target
        ));
    }

    pub fn progress(&self, snap: &ProgressSnapshot) {
        if self.display.waiting.swap(false, Ordering::Relaxed) {
            self.display.line("CONNECTED again: uploading goes on.");
        }
        self.with_bar(|b| {
            b.set_length(snap.total);
            b.set_position(snap.done);
            let speed = snap
                .bytes_per_second
                .map(|s| format!("{}/s", human_bytes(s)))
                .unwrap_or_default();
            let eta = snap
                .eta
                .map(|d| format!(", {} left", clock(d)))
                .unwrap_or_default();
            b.set_message(format!("{speed}{eta}"));
        })
    }

    pub fn retrying(&self, attempt: u32, delay: Duration, error: &JobError) {
        if error.network {
            if !self.display.waiting.swap(true, Ordering::Relaxed) {
                self.display.line(&format!(
                    "WAITING for the network: {} Trying again for up to {}; Ctrl-C stops and keeps what was sent.",
                    error.message,
                    span(self.display.retry_for)
                ));
            }
            return;
        }
        self.display.line(&format!(
            "RETRY {}: {} (attempt {attempt}, next try in {:.1} s){}",
            self.label,
            error.message,
            delay.as_secs_f64(),
            error_tail(error)
        ))
    }

    pub fn verifying(&self) {
        self.with_bar(|b| b.set_message("checking the stored file…"))
    }

    /// The run fixed its plan: a bar, or a `START` line.
    pub fn started(&self, plan: UploadPlan, resumed_parts: u32, resumed_bytes: u64) {
        self.started.store(true, Ordering::Relaxed);
        let size = plan.size();
        let shape = if plan.is_multipart() {
            format!(
                "{}, {} parts of {}",
                human_bytes(size),
                plan.part_count(),
                human_bytes(plan.part_size())
            )
        } else {
            human_bytes(size)
        };
        let resumed = if resumed_parts > 0 {
            format!(
                "; continuing: {resumed_parts} parts ({}) already sent",
                human_bytes(resumed_bytes)
            )
        } else {
            String::new()
        };
        match &self.display.bars {
            Some(multi) => {
                if !resumed.is_empty() {
                    self.display.line(&format!("{}{resumed}", self.label));
                }
                let bar = multi.add(ProgressBar::new(size));
                bar.set_style(bar_style());
                bar.set_prefix(self.label.clone());
                bar.set_position(resumed_bytes);
                bar.enable_steady_tick(Duration::from_millis(200));
                if let Ok(mut slot) = self.bar.lock() {
                    if let Some(old) = slot.take() {
                        // A restarted upload (the file changed, the server forgot it).
                        multi.remove(&old);
                    }
                    *slot = Some(bar);
                }
            }
            None => self.display.line(&format!(
                "START {} -> {} ({shape}{resumed})",
                self.label, self.target
            )),
        }
    }

    /// Shows how the job ended; `true` when the file is safely in OSS.
    pub fn finish(&self, outcome: &JobOutcome) -> bool {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(bar) = slot.take()
        {
            bar.finish_and_clear();
            if let Some(m) = &self.display.bars {
                m.remove(&bar);
            }
        }
        match outcome {
            JobOutcome::Unverified {
                size,
                callback,
                why,
                ..
            } => {
                self.display.line(&format!(
                    "UPLOADED, NOT VERIFIED {} -> {} ({}: {})",
                    self.label,
                    self.target,
                    human_bytes(*size),
                    why.en
                ));
                callback_note(&self.display, &self.label, callback.as_ref());
                true
            }
            JobOutcome::Verified {
                size,
                crc64,
                callback,
                proof,
                ..
            } => {
                let how = match proof {
                    Proof::Crc64 => format!("CRC-64 {crc64} verified"),
                    Proof::PartMd5 => "verified by MD5; the server gave no CRC-64".to_owned(),
                };
                self.display.line(&format!(
                    "OK {} -> {} ({}, {how})",
                    self.label,
                    self.target,
                    human_bytes(*size)
                ));
                callback_note(&self.display, &self.label, callback.as_ref());
                true
            }
            JobOutcome::Failed(e) | JobOutcome::Interrupted(e) => {
                self.display.error_line(&format!(
                    "FAILED {}: {}{}",
                    self.label,
                    e.message,
                    error_tail(e)
                ));
                false
            }
            JobOutcome::Skipped => {
                self.display.line(&format!(
                    "SKIP {} -> {} (an object with this name exists)",
                    self.label, self.target
                ));
                true
            }
            JobOutcome::Paused => {
                if self.started.load(Ordering::Relaxed) {
                    self.display.line(&format!("STOPPED {}", self.label));
                }
                false
            }
            JobOutcome::Cancelled => {
                self.display.line(&format!("CANCELLED {}", self.label));
                false
            }
        }
    }
}

/// A failed upload callback leaves the object in place: the user is told.
fn callback_note(display: &Display, label: &str, callback: Option<&CallbackOutcome>) {
    if let Some(CallbackOutcome::Failed(e)) = callback {
        display.line(&format!(
            "NOTE {label}: the file is stored, but the upload callback to your application failed: {} [{}, request id {}]",
            e.message, e.code, e.request_id
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("a/b c.txt"), "a/b c.txt");
        assert_eq!(printable("two\nlines"), "two\\nlines");
        assert_eq!(printable("esc\u{1b}[2J"), "esc\\u{1b}[2J");
        assert_eq!(printable("中文\r"), "中文\\r");
    }

    #[test]
    fn tails_and_clocks() {
        let mut e = JobError::plain(crate::text::Text::new("x", "x"));
        assert_eq!(error_tail(&e), "");
        e.code = Some("SignatureDoesNotMatch".into());
        e.request_id = Some("abc".into());
        assert_eq!(error_tail(&e), " [SignatureDoesNotMatch, request id abc]");
        assert_eq!(clock(Duration::from_secs(65)), "1:05");
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
    }
}
