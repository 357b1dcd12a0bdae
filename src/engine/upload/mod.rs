//! One upload job, from start to a single outcome: plan the parts, start a new multipart upload
//! or resume the one in the checkpoint, send the missing parts (streamed, retried, CRC-checked),
//! make sure the file did not change, complete, and verify the whole object's CRC-64. One file
//! per step, as aws-s3-transfer-manager-rs lays out an operation: `single` (files smaller than a
//! part: one PutObject), `multipart` (initiate and send the parts), `resume` (the checkpoint
//! checked against the file and reconciled with ListParts), `record` (saving the checkpoint as
//! parts finish), `complete` (Complete and the whole-object check), `existing` (what to do when
//! the name is taken). What every step works with travels in a [`Ctx`].
//!
//! Policy on the server-side upload: it is aborted only when its checkpoint is discarded (the
//! file changed, the record is damaged) or the user cancels. Network and server trouble never
//! discard work: the job ends *interrupted* and resumes from the checkpoint.
//!
//! The checkpoint is saved as parts finish, at most every `SAVE_EVERY`, and always before
//! Complete and when sending stops. A part that finished after the last save is not lost: on
//! resume, a part the server lists with the plan's size and the file's CRC-64 is kept.

mod complete;
pub mod existing;
mod multipart;
mod orphans;
mod proof;

pub use orphans::{DamagedRecord, ReapedIntent, discard_damaged, reap_intents};
mod record;
mod resume;
mod single;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::checkpoint::{
    Checkpoint, CheckpointError, CheckpointId, CheckpointStore, FileStamp, RecordLock,
    holder_description,
};
use super::outcome::{JobError, JobOutcome};
use super::plan::UploadPlan;
use super::pool::{Pool, Trouble};
use super::progress::ProgressSnapshot;
use super::retry::{Backoff, with_retry};
use super::spec::{JobSpec, guess_content_type};
use super::throttle::Throttle;
use crate::oss::client::Client;
use crate::oss::error::{Error, ErrorClass};
use crate::text::Text;

/// What a job shares with the other jobs of the engine.
#[derive(Clone)]
pub struct JobEnv {
    pub client: Client,
    pub store: CheckpointStore,
    pub throttle: Throttle,
    /// The one pool of requests in flight across all jobs.
    pub pool: Pool,
    pub backoff: Backoff,
}

/// What the user wants a running job to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Run,
    /// Stop sending, keep the checkpoint.
    Pause,
    /// Stop sending, abort the server upload, delete the checkpoint.
    Cancel,
}

/// What happens during a job, for the UI and the CLI.
#[derive(Clone, Debug, PartialEq)]
pub enum JobEvent {
    /// The plan is fixed: how many parts, and what an earlier run already sent.
    Started {
        plan: UploadPlan,
        resumed_parts: u32,
        resumed_bytes: u64,
    },
    /// Something the user should know that does not stop the job ("starting over because…").
    Notice(Text),
    /// Byte-level progress, at most about ten a second.
    Progress(ProgressSnapshot),
    /// A request failed and will be tried again after `delay`.
    Retrying {
        attempt: u32,
        delay: Duration,
        error: JobError,
    },
    /// All bytes are sent; completing and checking the object.
    Verifying,
}

/// Why the sending phase stopped early.
#[derive(Debug)]
pub(super) enum Stop {
    /// Retries ran out on a temporary problem: keep everything, resume later.
    Interrupted(JobError),
    /// A problem retrying cannot fix.
    Failed(JobError),
    /// The server forgot the upload (`NoSuchUpload`): only this starts a new upload.
    UploadGone,
    /// The local file changed while its parts were read: the upload must not go on.
    FileChanged,
}

impl Stop {
    pub(super) fn outcome(self) -> JobOutcome {
        match self {
            Stop::Interrupted(e) => JobOutcome::Interrupted(e),
            Stop::Failed(e) => JobOutcome::Failed(e),
            Stop::FileChanged => JobOutcome::Failed(JobError::plain(Text::new(
                "The file changed while it was being uploaded. Retry to upload the file as it is now.",
                "文件在上传过程中被修改。请重试，以上传文件的当前内容。",
            ))),
            Stop::UploadGone => JobOutcome::Interrupted(JobError::plain(Text::new(
                "The server no longer knows this upload. Retry to start it again.",
                "服务器上已没有这次上传。请重试，从头开始上传。",
            ))),
        }
    }
}

pub type Emit = Arc<dyn Fn(JobEvent) + Send + Sync>;

/// Held while a new upload is being initiated and recorded.
pub(super) type Starting = Arc<tokio::sync::Mutex<()>>;

/// What every step of one run works with, passed down instead of the same four arguments.
#[derive(Clone, Copy)]
pub(super) struct Ctx<'a> {
    pub spec: &'a JobSpec,
    pub env: &'a JobEnv,
    pub emit: &'a Emit,
    /// Held while a new upload is initiated and recorded, and while a checkpoint save writes.
    pub starting: &'a Starting,
}

impl Ctx<'_> {
    /// Calls `f` until it succeeds, retrying temporary failures within the job's backoff and
    /// telling the face about each wait.
    pub async fn retry<T, F, Fut>(&self, f: F) -> Result<T, (Error, bool)>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        with_retry(
            &self.env.backoff,
            retry_notice(self.emit, &self.env.pool),
            f,
        )
        .await
    }
}

/// Turns each retry into a [`JobEvent::Retrying`], and tells the pool when the failure says
/// the link or the service has more than it can take.
pub(super) fn retry_notice<'a>(
    emit: &'a Emit,
    pool: &'a Pool,
) -> impl FnMut(u32, Duration, &Error) + 'a {
    move |attempt, delay, e| {
        if let Some(kind) = trouble_of(e) {
            pool.trouble(kind);
        }
        emit(JobEvent::Retrying {
            attempt,
            delay,
            error: JobError::from_oss(e),
        })
    }
}

/// Whether a failure is a sign of too many requests at once: a timeout or a connection broken
/// under load, or the service saying it is busy. A network that is down is not: fewer requests
/// would not bring it back.
fn trouble_of(e: &Error) -> Option<Trouble> {
    use crate::oss::error::TransportKind;
    match e {
        Error::Transport {
            kind: TransportKind::Timeout | TransportKind::Broken,
            ..
        } => Some(Trouble::Timeout),
        Error::Service(s) if s.status >= 500 || s.code == "SlowDown" => Some(Trouble::Busy),
        _ => None,
    }
}

/// Runs a job until it ends or `control` says pause or cancel.
pub async fn run_job(
    spec: &JobSpec,
    env: &JobEnv,
    mut control: watch::Receiver<Control>,
    emit: Emit,
) -> JobOutcome {
    let stop = async {
        loop {
            let c = *control.borrow_and_update();
            if c != Control::Run {
                return c;
            }
            if control.changed().await.is_err() {
                // Nobody can tell us to stop any more: run to the end.
                std::future::pending::<()>().await;
            }
        }
    };
    let guessed;
    let spec = if spec.options.content_type.is_none() {
        let mut s = spec.clone();
        s.options.content_type = guess_content_type(&s.path);
        guessed = s;
        &guessed
    } else {
        spec
    };
    let stamp = match FileStamp::of(&spec.path) {
        Ok(s) => s,
        Err(e) => return file_error(spec, e),
    };
    // Held until this run has ended, cancel included.
    let claim = match Claim::take(spec, env, &stamp) {
        Ok(claim) => claim,
        Err(e @ CheckpointError::Busy { .. }) => return busy(&e),
        Err(e) => return JobOutcome::Failed(JobError::checkpoint(&e)),
    };
    let starting = Starting::default();
    let cx = Ctx {
        spec,
        env,
        emit: &emit,
        starting: &starting,
    };
    tokio::select! {
        biased;
        c = stop => {
            // A checkpoint save already writing finishes first (it holds `starting`): a cancel
            // must not have its delete undone by it, and a later run must not load the record
            // and then see an older one land on top.
            let _started = starting.lock().await;
            if c == Control::Cancel {
                if let Claim::Record { .. } = claim {
                    cancel_server_side(spec, env).await;
                }
                JobOutcome::Cancelled
            } else {
                JobOutcome::Paused
            }
        }
        outcome = run(&cx, stamp, &claim) => outcome,
    }
}

/// What a run may do with the resume records.
enum Claim {
    /// The run holds the record's lock (one run at a time per upload): it may load, resume,
    /// save and delete the record and its intent.
    Record { _held: RecordLock },
    /// The file goes whole in one PutObject and no record or intent was there for it: the run
    /// touches neither, so it needs no lock. Another run that records an upload of the same
    /// file meanwhile keeps it. A lock file made and removed for every file was a third of the
    /// CPU time of a folder of small files (a file system allocates and frees an inode each
    /// time, under the folder's lock).
    Whole,
}

impl Claim {
    fn take(spec: &JobSpec, env: &JobEnv, stamp: &FileStamp) -> Result<Self, CheckpointError> {
        let id = spec.checkpoint_id();
        if UploadPlan::always_whole(stamp.size, spec.part_size) && !env.store.holds(&id) {
            return Ok(Self::Whole);
        }
        let held = env.store.lock(&id, &lock_holder())?;
        Ok(Self::Record { _held: held })
    }
}

/// Whether a file that says it is empty yields bytes when read.
async fn has_content(path: &std::path::Path) -> bool {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        std::fs::metadata(&path)
            .is_ok_and(|meta| crate::engine::walk::says_empty_but_is_not(&path, &meta))
    })
    .await
    .unwrap_or(false)
}

/// On cancel: abort the server upload of the checkpoint, if any, and delete the checkpoint.
async fn cancel_server_side(spec: &JobSpec, env: &JobEnv) {
    let id = spec.checkpoint_id();
    let kept = match env.store.load(&id) {
        Ok(cp) => {
            abort_quietly(&env.client, &cp.bucket, &cp.key, &cp.upload_id).await;
            None
        }
        // A record written by a newer version is that version's to finish or cancel.
        Err(CheckpointError::Newer { .. }) => Some(()),
        Err(_) => {
            if let Some(s) = env.store.salvage(&id) {
                let bucket = s.bucket.unwrap_or_else(|| spec.bucket.clone());
                let key = s.key.unwrap_or_else(|| spec.key.clone());
                abort_quietly(&env.client, &bucket, &key, &s.upload_id).await;
            }
            None
        }
    };
    if kept.is_none() {
        let _ = env.store.delete(&id);
    }
    orphans::reap_left_intent(env, &id, None).await;
}

/// Cancels the server side of a job that is not running: its record is locked first, so a run
/// elsewhere (another window, the command line) is not pulled from under it.
pub async fn cancel_idle(spec: &JobSpec, env: &JobEnv) {
    match env.store.lock(&spec.checkpoint_id(), &lock_holder()) {
        Ok(_lock) => cancel_server_side(spec, env).await,
        Err(e) => tracing::warn!(key = %spec.key, "not cancelled on the server: {e}"),
    }
}

/// How this process describes itself in a record's lock: the command it runs, or the window.
fn lock_holder() -> String {
    let what = match std::env::args().nth(1) {
        Some(command) if !command.starts_with('-') && !command.contains(['/', '\\', '.']) => {
            format!("oss-uploader {command}")
        }
        _ => "the oss-uploader window".to_owned(),
    };
    holder_description(&what)
}

/// The record is held by another run: this run leaves it alone and says who has it.
fn busy(e: &CheckpointError) -> JobOutcome {
    let holder = match e {
        CheckpointError::Busy { holder, .. } => holder.as_str(),
        _ => "",
    };
    JobOutcome::Interrupted(JobError::plain(Text::new(
        format!(
            "Another oss-uploader is uploading this file right now ({holder}); it is left to that one. Try again when it has finished."
        ),
        format!("另一个 oss-uploader 正在上传这个文件（{holder}），本次已略过。请在它完成后再试。"),
    )))
}

/// Aborts a server upload, trying a few times; `true` when it is gone.
pub(super) async fn abort_quietly(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> bool {
    for _ in 0..3 {
        match client.abort_multipart_upload(bucket, key, upload_id).await {
            Ok(()) => return true,
            Err(e) if e.is_no_such_upload() => return true,
            Err(e) if matches!(e.class(), ErrorClass::Retry { .. }) => {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => {
                tracing::warn!(bucket, key, "could not abort an unused upload: {e}");
                return false;
            }
        }
    }
    false
}

/// A retry result as a stop reason: exhausted retries interrupt, anything else fails.
pub(super) fn stop_of((e, exhausted): (Error, bool)) -> Stop {
    if e.is_no_such_upload() {
        Stop::UploadGone
    } else if exhausted {
        Stop::Interrupted(JobError::from_oss(&e))
    } else {
        Stop::Failed(JobError::from_oss(&e))
    }
}

pub(super) fn file_error(spec: &JobSpec, e: std::io::Error) -> JobOutcome {
    JobOutcome::Failed(JobError::from_oss(&Error::Io {
        path: spec.path.clone(),
        source: e,
    }))
}

pub(super) fn lock_poisoned() -> Stop {
    Stop::Failed(JobError::internal("checkpoint lock"))
}

async fn run(cx: &Ctx<'_>, stamp: FileStamp, claim: &Claim) -> JobOutcome {
    let Ctx { spec, env, .. } = *cx;
    if let Ok(meta) = std::fs::metadata(&spec.path)
        && !meta.is_file()
    {
        let p = spec.path.display();
        return JobOutcome::Failed(JobError::plain(Text::new(
            format!("{p} is not a regular file."),
            format!("{p} 不是普通文件。"),
        )));
    }
    // Files under /proc and /sys say they are empty and are not: sent as their size says, they
    // would become empty objects reported as verified.
    if stamp.size == 0 && has_content(&spec.path).await {
        let p = spec.path.display();
        return JobOutcome::Failed(JobError::plain(Text::new(
            format!(
                "{p} says it is empty but has content (a system file such as those under /proc): its size cannot be known before reading it, so it cannot be uploaded as it is. Copy it to a regular file and upload the copy."
            ),
            format!(
                "{p} 显示大小为 0 却有内容（例如 /proc 下的系统文件），无法预先知道其大小，因此不能直接上传。请先复制为普通文件再上传副本。"
            ),
        )));
    }
    if let Claim::Whole = claim {
        return single::put_whole(cx, stamp).await;
    }
    let id = spec.checkpoint_id();
    let resumable = match resume::load_usable_checkpoint(cx, &id).await {
        Ok(cp) => cp,
        Err(outcome) => return outcome,
    };
    // An earlier run that never recorded its upload (killed while Initiate was in flight, or
    // unable to write the first checkpoint) may have left one on the server.
    orphans::reap_left_intent(env, &id, resumable.as_ref().map(|cp| cp.upload_id.as_str())).await;
    continue_or_start(cx, stamp, &id, resumable).await
}

/// Continues the upload a record names, or starts a new one.
async fn continue_or_start(
    cx: &Ctx<'_>,
    stamp: FileStamp,
    id: &CheckpointId,
    resumable: Option<Checkpoint>,
) -> JobOutcome {
    let Ctx {
        env, emit, spec, ..
    } = *cx;
    if let Some(cp) = resumable {
        match resume::resume(cx, cp).await {
            Ok(outcome) => return outcome,
            Err(Stop::UploadGone) => {
                emit(JobEvent::Notice(Text::new(
                    "The server no longer has the earlier upload of this file; starting again from the beginning.",
                    "服务器上已没有这个文件之前的上传，将从头开始上传。",
                )));
                let _ = env.store.delete(id);
            }
            Err(stop) => return stop.outcome(),
        }
    }
    let plan = match UploadPlan::for_job(stamp.size, spec.part_size, env.pool.per_request_goodput())
    {
        Ok(p) => p,
        Err(e) => return JobOutcome::Failed(JobError::invalid(e)),
    };
    if !plan.is_multipart() {
        return single::put_whole(cx, stamp).await;
    }
    match multipart::start_multipart(cx, stamp, plan).await {
        Ok(outcome) => outcome,
        Err(stop) => stop.outcome(),
    }
}
