//! One upload job, from start to a single outcome: plan the parts, start a new multipart upload
//! or resume the one in the checkpoint, send the missing parts (streamed, retried, CRC-checked),
//! make sure the file did not change, complete, and verify the whole object's CRC-64.
//!
//! Policy on the server-side upload: it is aborted only when its checkpoint is discarded (the
//! file changed, the record is damaged) or the user cancels. Network and server trouble never
//! discard work: the job ends *interrupted* and resumes from the checkpoint.
//!
//! The checkpoint is saved as parts finish, at most every `SAVE_EVERY`, and always before
//! Complete and when sending stops. A part that finished after the last save is not lost: on
//! resume, a part the server lists with the plan's size and the file's CRC-64 is kept.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};

use super::checkpoint::{
    Checkpoint, CheckpointError, CheckpointId, CheckpointStore, FileCheck, FileStamp, FinishedPart,
    ObjectOptions, unix_ms,
};
use super::plan::{PartRange, UploadPlan};
use super::progress::{JobProgress, ProgressSnapshot};
use super::retry::Backoff;
use super::throttle::Throttle;
use crate::oss::client::{Body, CallbackOutcome, Client, ClientConfig, FileRange, Transfer};
use crate::oss::crc64;
use crate::oss::endpoint::Endpoint;
use crate::oss::error::{Error, ErrorClass};
use crate::oss::limits::InvalidInput;
use crate::oss::sign::{Credentials, SignatureVersion};
use crate::oss::xml::{CompletePart, PartSummary};
use crate::text::{Lang, Text};

/// Where the object goes and how to talk to it; stored in the checkpoint so `resume` needs
/// nothing but the credentials.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Connection {
    /// As the user typed it; normalised with [`Connection::endpoint_key`] for checkpoint ids.
    pub endpoint: String,
    pub region: Option<String>,
    pub signature: SignatureVersion,
    pub path_style: bool,
}

impl Connection {
    /// The endpoint in one canonical spelling, so `HTTPS://Host/` and `host` share a checkpoint.
    pub fn endpoint_key(&self) -> String {
        match Endpoint::parse(&self.endpoint) {
            Ok(e) => e.base_url(),
            Err(_) => self.endpoint.trim().to_owned(),
        }
    }

    /// The client configuration for these settings and credentials.
    pub fn client_config(&self, credentials: Credentials) -> Result<ClientConfig, InvalidInput> {
        let mut endpoint = Endpoint::parse(&self.endpoint)?;
        if self.path_style {
            endpoint = endpoint.with_path_style();
        }
        ClientConfig::new(
            endpoint,
            self.region.as_deref(),
            credentials,
            self.signature,
        )
    }
}

/// What to upload where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Absolute path of the local file.
    pub path: PathBuf,
    pub connection: Connection,
    pub bucket: String,
    pub key: String,
    /// The requested part size; a resumed upload keeps the size it started with.
    pub part_size: u64,
    /// Parts in flight for this file.
    pub threads: usize,
    pub options: ObjectOptions,
}

impl JobSpec {
    /// The id of this upload's checkpoint.
    pub fn checkpoint_id(&self) -> CheckpointId {
        CheckpointId::for_upload(
            &self.connection.endpoint_key(),
            &self.bucket,
            &self.key,
            &self.path,
        )
    }

    /// The spec that resumes a checkpoint: its connection, part size and options.
    pub fn from_checkpoint(cp: &Checkpoint, threads: usize) -> Self {
        Self {
            path: cp.local_path.clone(),
            connection: Connection {
                endpoint: cp.endpoint.clone(),
                region: cp.region.clone(),
                signature: cp.signature_version,
                path_style: cp.path_style,
            },
            bucket: cp.bucket.clone(),
            key: cp.key.clone(),
            part_size: cp.part_size,
            threads,
            options: cp.options.clone(),
        }
    }
}

/// What a job shares with the other jobs of the engine.
#[derive(Clone)]
pub struct JobEnv {
    pub client: Client,
    pub store: CheckpointStore,
    pub throttle: Throttle,
    /// The global cap on parts in flight across all jobs.
    pub part_permits: Arc<Semaphore>,
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
        }
    }

    fn checkpoint(e: &CheckpointError) -> Self {
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

    /// The message in the given language.
    pub fn message_in(&self, lang: Lang) -> &str {
        crate::text::pick(lang, &self.message, &self.message_zh)
    }
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

/// How a job ended: exactly one per run.
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    /// The object is in OSS and its CRC-64 equals the file's.
    Verified {
        size: u64,
        crc64: u64,
        etag: String,
        /// A callback failure leaves the object in place; the user is told.
        callback: Option<CallbackOutcome>,
    },
    Paused,
    Cancelled,
    /// The network or the service stayed down past the retry bounds: resumable.
    Interrupted(JobError),
    Failed(JobError),
}

/// Why the sending phase stopped early.
#[derive(Debug)]
enum Stop {
    /// Retries ran out on a temporary problem: keep everything, resume later.
    Interrupted(JobError),
    /// A problem retrying cannot fix.
    Failed(JobError),
    /// The server forgot the upload (`NoSuchUpload`): only this starts a new upload.
    UploadGone,
}

impl Stop {
    fn outcome(self) -> JobOutcome {
        match self {
            Stop::Interrupted(e) => JobOutcome::Interrupted(e),
            Stop::Failed(e) => JobOutcome::Failed(e),
            Stop::UploadGone => JobOutcome::Interrupted(JobError::plain(Text::new(
                "The server no longer knows this upload. Retry to start it again.",
                "服务器上已没有这次上传。请重试，从头开始上传。",
            ))),
        }
    }
}

type Emit = Arc<dyn Fn(JobEvent) + Send + Sync>;
/// Held while a new upload is being initiated and recorded.
type Starting = Arc<tokio::sync::Mutex<()>>;

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
    let starting = Starting::default();
    tokio::select! {
        biased;
        c = stop => {
            // A checkpoint save already writing finishes first (it holds `starting`): a cancel
            // must not have its delete undone by it, and a later run must not load the record
            // and then see an older one land on top.
            let _started = starting.lock().await;
            if c == Control::Cancel {
                cancel_server_side(spec, env).await;
                JobOutcome::Cancelled
            } else {
                JobOutcome::Paused
            }
        }
        outcome = run(spec, env, &emit, &starting) => outcome,
    }
}

/// On cancel: abort the server upload of the checkpoint, if any, and delete the checkpoint.
pub async fn cancel_server_side(spec: &JobSpec, env: &JobEnv) {
    let id = spec.checkpoint_id();
    if let Ok(cp) = env.store.load(&id) {
        abort_quietly(env, &cp.bucket, &cp.key, &cp.upload_id).await;
    }
    let _ = env.store.delete(&id);
}

async fn abort_quietly(env: &JobEnv, bucket: &str, key: &str, upload_id: &str) {
    for _ in 0..3 {
        match env
            .client
            .abort_multipart_upload(bucket, key, upload_id)
            .await
        {
            Ok(()) => return,
            Err(e) if e.is_no_such_upload() => return,
            Err(e) if matches!(e.class(), ErrorClass::Retry { .. }) => {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => {
                tracing::warn!(bucket, key, "could not abort an unused upload: {e}");
                return;
            }
        }
    }
}

/// Calls `f` until it succeeds, retrying temporary failures within the backoff's bounds.
async fn with_retry<T, F, Fut>(env: &JobEnv, emit: &Emit, mut f: F) -> Result<T, (Error, bool)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                if !matches!(e.class(), ErrorClass::Retry { .. }) {
                    return Err((e, false));
                }
                attempt += 1;
                let Some(delay) = env.backoff.next_delay(attempt, started.elapsed()) else {
                    return Err((e, true));
                };
                emit(JobEvent::Retrying {
                    attempt,
                    delay,
                    error: JobError::from_oss(&e),
                });
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// A retry result as a stop reason: exhausted retries interrupt, anything else fails.
fn stop_of((e, exhausted): (Error, bool)) -> Stop {
    if e.is_no_such_upload() {
        Stop::UploadGone
    } else if exhausted {
        Stop::Interrupted(JobError::from_oss(&e))
    } else {
        Stop::Failed(JobError::from_oss(&e))
    }
}

fn file_error(spec: &JobSpec, e: std::io::Error) -> JobOutcome {
    JobOutcome::Failed(JobError::from_oss(&Error::Io {
        path: spec.path.clone(),
        source: e,
    }))
}

async fn run(spec: &JobSpec, env: &JobEnv, emit: &Emit, starting: &Starting) -> JobOutcome {
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
    if let Ok(meta) = std::fs::metadata(&spec.path)
        && !meta.is_file()
    {
        let p = spec.path.display();
        return JobOutcome::Failed(JobError::plain(Text::new(
            format!("{p} is not a regular file."),
            format!("{p} 不是普通文件。"),
        )));
    }
    let id = spec.checkpoint_id();
    let resumable = match load_usable_checkpoint(spec, env, &id, emit).await {
        Ok(cp) => cp,
        Err(outcome) => return outcome,
    };
    if let Some(cp) = resumable {
        match resume(spec, env, cp, emit, starting).await {
            Ok(outcome) => return outcome,
            Err(Stop::UploadGone) => {
                emit(JobEvent::Notice(Text::new(
                    "The server no longer has the earlier upload of this file; starting again from the beginning.",
                    "服务器上已没有这个文件之前的上传，将从头开始上传。",
                )));
                let _ = env.store.delete(&id);
            }
            Err(stop) => return stop.outcome(),
        }
    }
    let plan = match UploadPlan::new(stamp.size, spec.part_size) {
        Ok(p) => p,
        Err(e) => return JobOutcome::Failed(JobError::invalid(e)),
    };
    if !plan.is_multipart() {
        return put_whole(spec, env, stamp, emit).await;
    }
    match start_multipart(spec, env, stamp, plan, emit, starting).await {
        Ok(outcome) => outcome,
        Err(stop) => stop.outcome(),
    }
}

/// The checkpoint to resume, if there is one that still fits the file. A record that cannot
/// be used is discarded with its server upload, and the user is told why.
async fn load_usable_checkpoint(
    spec: &JobSpec,
    env: &JobEnv,
    id: &CheckpointId,
    emit: &Emit,
) -> Result<Option<Checkpoint>, JobOutcome> {
    match env.store.load(id) {
        Ok(cp) => match cp.file_matches(&spec.path) {
            Ok(FileCheck::Unchanged) => Ok(Some(cp)),
            Ok(FileCheck::Changed { what }) => {
                let why: Vec<String> = what.iter().map(ToString::to_string).collect();
                emit(JobEvent::Notice(Text::new(
                    format!(
                        "The file changed since its upload began ({}); starting again from the beginning.",
                        why.join(", ")
                    ),
                    "文件自开始上传后已被修改，将从头开始上传。",
                )));
                abort_quietly(env, &cp.bucket, &cp.key, &cp.upload_id).await;
                env.store
                    .delete(id)
                    .map_err(|e| JobOutcome::Failed(JobError::checkpoint(&e)))?;
                Ok(None)
            }
            Ok(FileCheck::Missing) => {
                let p = spec.path.display();
                Err(JobOutcome::Failed(JobError::plain(Text::new(
                    format!("The file {p} is no longer there. Put it back to resume its upload."),
                    format!("文件 {p} 已不在原处。放回原处即可继续上传。"),
                ))))
            }
            Err(e) => Err(JobOutcome::Failed(JobError::checkpoint(&e))),
        },
        Err(CheckpointError::NotFound { .. }) => Ok(None),
        Err(e @ (CheckpointError::Damaged { .. } | CheckpointError::UnsupportedVersion { .. })) => {
            emit(JobEvent::Notice(Text::new(
                format!("{e} Starting again from the beginning."),
                "续传记录已损坏或版本不受支持，将从头开始上传。",
            )));
            // The upload id may still be readable from a record whose checksum failed.
            if let Some(upload_id) = salvage_upload_id(&env.store.path_of(id)) {
                abort_quietly(env, &spec.bucket, &spec.key, &upload_id).await;
            }
            env.store
                .delete(id)
                .map_err(|e| JobOutcome::Failed(JobError::checkpoint(&e)))?;
            Ok(None)
        }
        Err(e) => Err(JobOutcome::Failed(JobError::checkpoint(&e))),
    }
}

/// Reads the upload id out of a damaged record, if its JSON still holds one.
fn salvage_upload_id(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("checkpoint")?
        .get("upload_id")?
        .as_str()
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

fn pace_fn(throttle: &Throttle) -> crate::oss::client::PaceFn {
    let throttle = throttle.clone();
    Arc::new(move |n| {
        let t = throttle.clone();
        Box::pin(async move { t.grant(n).await })
    })
}

/// Files smaller than one part: one PutObject, sent again if the file changed meanwhile.
async fn put_whole(spec: &JobSpec, env: &JobEnv, stamp: FileStamp, emit: &Emit) -> JobOutcome {
    let plan = UploadPlan::Single { size: stamp.size };
    emit(JobEvent::Started {
        plan,
        resumed_parts: 0,
        resumed_bytes: 0,
    });
    let progress = Arc::new(Mutex::new(JobProgress::new(stamp.size, Instant::now())));
    let mut stamp = stamp;
    for _ in 0..3 {
        let body = if stamp.size == 0 {
            Body::Empty
        } else {
            Body::File(FileRange {
                path: spec.path.clone(),
                offset: 0,
                len: stamp.size,
            })
        };
        let mut attempts = 0;
        let result = with_retry(env, emit, || {
            attempts += 1;
            let transfer = attempt_transfer(env, &progress, 1, emit);
            let body = body.clone();
            forget_on_failure(progress.clone(), 1, async move {
                env.client
                    .put_object(&spec.bucket, &spec.key, body, &spec.options, &transfer)
                    .await
            })
        })
        .await;
        let out = match result {
            Ok(out) => out,
            // With overwriting forbidden, a retry after an answer that got lost finds our own
            // object: it is ours when it holds exactly the file's bytes.
            Err((e, _)) if e.code() == Some("FileAlreadyExists") && attempts > 1 => {
                let local = match file_crc(&spec.path, 0, stamp.size).await {
                    Ok(c) => c,
                    Err(io) => return file_error(spec, io),
                };
                match existing_object(env, emit, &spec.bucket, &spec.key).await {
                    Ok(Some(meta))
                        if meta.content_length == stamp.size && meta.crc64 == Some(local) =>
                    {
                        crate::oss::client::PutObjectOutput {
                            etag: meta.etag,
                            crc64: local,
                            request_id: meta.request_id,
                            callback: None,
                        }
                    }
                    Ok(_) => return JobOutcome::Failed(JobError::from_oss(&e)),
                    Err(stop) => return stop.outcome(),
                }
            }
            Err(e) => return stop_of(e).outcome(),
        };
        // The bytes sent must be the file as it is now, or the object may mix two versions.
        match FileStamp::of(&spec.path) {
            Ok(now) if now == stamp => {
                return JobOutcome::Verified {
                    size: stamp.size,
                    crc64: out.crc64,
                    etag: out.etag,
                    callback: out.callback,
                };
            }
            Ok(now) => {
                emit(JobEvent::Notice(Text::new(
                    "The file changed while it was being uploaded; sending it again.",
                    "文件在上传过程中被修改，正在重新发送。",
                )));
                stamp = now;
                if let Ok(mut p) = progress.lock() {
                    *p = JobProgress::new(stamp.size, Instant::now());
                }
            }
            Err(e) => return file_error(spec, e),
        }
    }
    JobOutcome::Failed(JobError::plain(Text::new(
        "The file keeps changing while it is uploaded. Wait until the program writing it has finished, then retry.",
        "文件在上传过程中不断变化。请等写入它的程序完成后再重试。",
    )))
}

/// Starts one attempt at sending part `number`: its bytes in flight restart at zero, and the
/// transfer paces by the bandwidth limit and reports each chunk to the bar.
fn attempt_transfer(
    env: &JobEnv,
    progress: &Arc<Mutex<JobProgress>>,
    number: u32,
    emit: &Emit,
) -> Transfer {
    if let Ok(mut p) = progress.lock() {
        p.part_started(number);
    }
    Transfer {
        pace: Some(pace_fn(&env.throttle)),
        progress: Some(progress_fn(progress, number, emit)),
        ..Default::default()
    }
}

/// Awaits an attempt; when it fails, the bar stops counting its bytes in flight.
async fn forget_on_failure<T>(
    progress: Arc<Mutex<JobProgress>>,
    number: u32,
    attempt: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let r = attempt.await;
    if r.is_err()
        && let Ok(mut p) = progress.lock()
    {
        p.part_failed(number);
    }
    r
}

fn progress_fn(
    progress: &Arc<Mutex<JobProgress>>,
    part: u32,
    emit: &Emit,
) -> crate::oss::client::ProgressFn {
    let progress = progress.clone();
    let emit = emit.clone();
    Arc::new(move |n| {
        let snap = match progress.lock() {
            Ok(mut p) => {
                let now = Instant::now();
                p.part_sent(part, n, now);
                p.poll_emit(now)
            }
            Err(_) => None,
        };
        if let Some(s) = snap {
            emit(JobEvent::Progress(s));
        }
    })
}

async fn start_multipart(
    spec: &JobSpec,
    env: &JobEnv,
    stamp: FileStamp,
    plan: UploadPlan,
    emit: &Emit,
    starting: &Starting,
) -> Result<JobOutcome, Stop> {
    if let Some(from) = plan.raised_from() {
        let (from, to) = (human_bytes(from), human_bytes(plan.part_size()));
        emit(JobEvent::Notice(Text::new(
            format!(
                "The part size was raised from {from} to {to} so the file fits in 10,000 parts."
            ),
            format!("分片大小已从 {from} 调大到 {to}，使文件不超过 10,000 个分片。"),
        )));
    }
    // Initiate and the first checkpoint run in a task of their own that pause and cancel do not
    // interrupt: an upload id the server has handed out must reach the checkpoint, or its parts
    // would be orphaned. Cancel waits for `starting` before it aborts what the checkpoint names.
    let guard = starting.clone().lock_owned().await;
    let task = {
        let (spec, env, emit) = (spec.clone(), env.clone(), emit.clone());
        tokio::spawn(async move {
            let _starting = guard;
            let upload_id = with_retry(&env, &emit, || {
                env.client
                    .initiate_multipart_upload(&spec.bucket, &spec.key, &spec.options)
            })
            .await
            .map_err(stop_of)?;
            let now = unix_ms(SystemTime::now());
            let cp = Checkpoint {
                endpoint: spec.connection.endpoint_key(),
                bucket: spec.bucket.clone(),
                key: spec.key.clone(),
                local_path: spec.path.clone(),
                file_size: stamp.size,
                file_mtime_ns: stamp.mtime_ns,
                part_size: plan.part_size(),
                upload_id,
                signature_version: spec.connection.signature,
                region: spec.connection.region.clone(),
                path_style: spec.connection.path_style,
                parts: Vec::new(),
                options: spec.options.clone(),
                created_unix_ms: now,
                updated_unix_ms: now,
            };
            env.store
                .save(&cp)
                .map_err(|e| Stop::Failed(JobError::checkpoint(&e)))?;
            Ok(cp)
        })
    };
    let cp = task
        .await
        .map_err(|e| Stop::Failed(JobError::internal(e)))??;
    send_and_complete(spec, env, cp, plan, emit, starting).await
}

/// Resumes from a checkpoint: the parts the server still has with the same size and CRC-64
/// count as done; the others are sent.
async fn resume(
    spec: &JobSpec,
    env: &JobEnv,
    mut cp: Checkpoint,
    emit: &Emit,
    starting: &Starting,
) -> Result<JobOutcome, Stop> {
    let plan = cp.plan().map_err(|e| Stop::Failed(JobError::invalid(e)))?;
    let listed = with_retry(env, emit, || {
        env.client.list_parts(&cp.bucket, &cp.key, &cp.upload_id)
    })
    .await;
    let server_parts = match listed {
        Ok(p) => p,
        Err((e, _)) if e.is_no_such_upload() => {
            // A crash between Complete and deleting the checkpoint leaves exactly this: the
            // object is there and whole. Check before sending everything again.
            if cp.parts.len() as u32 == plan.part_count() {
                let combined = combined_crc(&cp.parts);
                if let Some(meta) = existing_object(env, emit, &cp.bucket, &cp.key).await?
                    && meta.content_length == cp.file_size
                    && meta.crc64 == Some(combined)
                {
                    let _ = env.store.delete(&cp.id());
                    return Ok(JobOutcome::Verified {
                        size: cp.file_size,
                        crc64: combined,
                        etag: meta.etag,
                        callback: None,
                    });
                }
            }
            return Err(Stop::UploadGone);
        }
        Err(e) => return Err(stop_of(e)),
    };
    let server_parts: std::collections::HashMap<u32, PartSummary> = server_parts
        .into_iter()
        .map(|s| (s.part_number, s))
        .collect();
    let recorded: Vec<u32> = cp.parts.iter().map(|p| p.number).collect();
    cp.parts.retain(|p| {
        server_parts.get(&p.number).is_some_and(|s| {
            s.size == p.size
                && s.etag
                    .trim_matches('"')
                    .eq_ignore_ascii_case(p.etag.trim_matches('"'))
                && s.hash_crc64ecma.is_none_or(|c| c == p.crc64)
        })
    });
    let dropped = recorded.len() - cp.parts.len();
    let adopted = adopt_unrecorded_parts(&spec.path, &plan, &mut cp, &server_parts).await;
    if adopted > 0 {
        tracing::info!(key = %cp.key, adopted, "kept parts the server had beyond the checkpoint");
    }
    // A dropped part may come back through adoption (the server holds a good copy the record
    // describes differently); only those still missing are sent again.
    let resent = recorded.iter().filter(|n| cp.part(**n).is_none()).count();
    if resent > 0 {
        emit(JobEvent::Notice(Text::new(
            format!(
                "{resent} part(s) recorded as sent are not on the server as recorded; sending them again."
            ),
            format!("有 {resent} 个已记录的分片在服务器上与记录不符，正在重新发送。"),
        )));
    }
    if dropped > 0 || adopted > 0 {
        save_off_thread(&env.store, cp.clone(), None).await?;
    }
    send_and_complete(spec, env, cp, plan, emit, starting).await
}

/// The object's metadata, `None` when it does not exist; temporary failures are retried.
async fn existing_object(
    env: &JobEnv,
    emit: &Emit,
    bucket: &str,
    key: &str,
) -> Result<Option<crate::oss::client::ObjectMeta>, Stop> {
    match with_retry(env, emit, || env.client.head_object(bucket, key)).await {
        Ok(meta) => Ok(Some(meta)),
        Err((e, _)) if e.code() == Some("NoSuchKey") => Ok(None),
        Err(e) => Err(stop_of(e)),
    }
}

/// The CRC-64 of `len` bytes of a file from `offset`, read off the async threads.
async fn file_crc(path: &std::path::Path, offset: u64, len: u64) -> std::io::Result<u64> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Seek as _};
        let mut file = std::fs::File::open(&path)?;
        file.seek(std::io::SeekFrom::Start(offset))?;
        let mut f = file.take(len);
        let mut crc = crc64::Crc64::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(crc.value());
            }
            crc.update(&buf[..n]);
        }
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Adds to the checkpoint the parts the server has but the checkpoint does not list (they
/// finished between two saves before a crash or a pause), when their size and CRC-64 match
/// the file. Returns how many were adopted; a part that cannot be checked is simply sent again.
async fn adopt_unrecorded_parts(
    path: &std::path::Path,
    plan: &UploadPlan,
    cp: &mut Checkpoint,
    server_parts: &std::collections::HashMap<u32, PartSummary>,
) -> usize {
    let mut adopted = 0;
    for part in plan.parts() {
        if cp.part(part.number).is_some() {
            continue;
        }
        let Some(found) = server_parts
            .get(&part.number)
            .filter(|s| s.size == part.len)
        else {
            continue;
        };
        let Some(server_crc) = found.hash_crc64ecma else {
            continue;
        };
        if let Ok(local) = file_crc(path, part.offset, part.len).await
            && local == server_crc
        {
            cp.record_part(FinishedPart {
                number: part.number,
                size: part.len,
                etag: found.etag.clone(),
                crc64: local,
            });
            adopted += 1;
        }
    }
    adopted
}

fn combined_crc(parts: &[FinishedPart]) -> u64 {
    let mut sorted: Vec<&FinishedPart> = parts.iter().collect();
    sorted.sort_by_key(|p| p.number);
    sorted
        .iter()
        .fold(0, |acc, p| crc64::combine(acc, p.crc64, p.size))
}

async fn send_and_complete(
    spec: &JobSpec,
    env: &JobEnv,
    cp: Checkpoint,
    plan: UploadPlan,
    emit: &Emit,
    starting: &Starting,
) -> Result<JobOutcome, Stop> {
    let done: Vec<(u32, u64)> = cp.parts.iter().map(|p| (p.number, p.size)).collect();
    emit(JobEvent::Started {
        plan,
        resumed_parts: done.len() as u32,
        resumed_bytes: done.iter().map(|d| d.1).sum(),
    });
    let progress = Arc::new(Mutex::new(JobProgress::resumed(
        plan.size(),
        done.iter().copied(),
        Instant::now(),
    )));
    let pending: Vec<PartRange> = plan
        .parts()
        .filter(|p| cp.part(p.number).is_none())
        .collect();
    let (bucket, key, upload_id) = (cp.bucket.clone(), cp.key.clone(), cp.upload_id.clone());
    let record = Record::new(cp, env, starting);
    let threads = spec.threads.max(1);
    let mut sends = futures_util::stream::iter(pending)
        .map(|part| {
            send_part(
                spec, env, &record, &progress, part, &bucket, &key, &upload_id, emit,
            )
        })
        .buffer_unordered(threads);
    let mut stopped = None;
    while let Some(result) = sends.next().await {
        if let Err(stop) = result {
            stopped = Some(stop);
            break;
        }
    }
    drop(sends);
    // Whatever ends the sending, the checkpoint then lists every part that made it. Before
    // Complete this is essential: a crash after it is recognised by a record of all parts.
    let flushed = record.flush().await;
    if let Some(stop) = stopped {
        return Err(stop);
    }
    flushed?;
    let cp = record
        .saver
        .cp
        .lock()
        .map(|c| c.clone())
        .map_err(|_| lock_poisoned())?;
    complete(spec, env, cp, emit).await
}

#[allow(clippy::too_many_arguments)]
async fn send_part(
    spec: &JobSpec,
    env: &JobEnv,
    record: &Record,
    progress: &Arc<Mutex<JobProgress>>,
    part: PartRange,
    bucket: &str,
    key: &str,
    upload_id: &str,
    emit: &Emit,
) -> Result<(), Stop> {
    let _permit = env.part_permits.acquire().await.map_err(|_| {
        Stop::Interrupted(JobError::plain(Text::new(
            "The engine is shutting down.",
            "上传引擎正在关闭。",
        )))
    })?;
    let out = with_retry(env, emit, || {
        let transfer = attempt_transfer(env, progress, part.number, emit);
        let body = Body::File(FileRange {
            path: spec.path.clone(),
            offset: part.offset,
            len: part.len,
        });
        forget_on_failure(progress.clone(), part.number, async move {
            env.client
                .upload_part(bucket, key, upload_id, part.number, body, &transfer)
                .await
        })
    })
    .await
    .map_err(stop_of)?;
    if let Ok(mut p) = progress.lock() {
        p.part_finished(part.number, part.len, Instant::now());
    }
    {
        let mut cp = record.saver.cp.lock().map_err(|_| lock_poisoned())?;
        cp.record_part(FinishedPart {
            number: part.number,
            size: out.size,
            etag: out.etag,
            crc64: out.crc64,
        });
        cp.touch(SystemTime::now());
    }
    record.part_recorded().await
}

/// The shortest time between two saves of a checkpoint while parts are sent. Parts that finish
/// in between are saved together: a save rewrites the whole record (one line per part) and
/// costs two fsyncs and a new inode, which with small parts on a fast link cost more CPU than
/// the upload itself. A part the checkpoint missed at a crash is not sent again: resume adopts
/// it from ListParts once its CRC-64 matches the file.
const SAVE_EVERY: Duration = Duration::from_millis(500);

/// The checkpoint of a multipart upload while its parts are being sent.
struct Record {
    saver: Saver,
    /// The save that will cover parts that finished too soon after the last one.
    deferred: Mutex<Option<tokio::task::AbortHandle>>,
}

/// What a save needs, shareable with the deferred save task.
#[derive(Clone)]
struct Saver {
    cp: Arc<Mutex<Checkpoint>>,
    store: CheckpointStore,
    /// How many parts the file on disk lists. Within one sending run parts are only added, so
    /// the count orders the versions.
    saved_parts: Arc<AtomicUsize>,
    /// Saves run one at a time under the job's `starting` lock, which pause and cancel take
    /// before they return: a save already writing finishes before anyone else touches the
    /// file, and an older state never lands after a newer.
    lock: Starting,
    /// When the next save may start.
    next_save: Arc<Mutex<tokio::time::Instant>>,
    /// A deferred save is waiting and has not yet taken its snapshot.
    deferred_pending: Arc<std::sync::atomic::AtomicBool>,
}

impl Record {
    fn new(cp: Checkpoint, env: &JobEnv, starting: &Starting) -> Self {
        Self {
            saver: Saver {
                saved_parts: Arc::new(AtomicUsize::new(cp.parts.len())),
                cp: Arc::new(Mutex::new(cp)),
                store: env.store.clone(),
                lock: starting.clone(),
                next_save: Arc::new(Mutex::new(tokio::time::Instant::now())),
                deferred_pending: Arc::default(),
            },
            deferred: Mutex::new(None),
        }
    }

    /// After a part was added to the record: save now, or soon if a save ran moments ago.
    async fn part_recorded(&self) -> Result<(), Stop> {
        let next = *self.saver.next_save.lock().map_err(|_| lock_poisoned())?;
        if tokio::time::Instant::now() >= next {
            return self.saver.save_latest(false).await;
        }
        // One deferred save at a time covers every part recorded before it takes its snapshot;
        // a part recorded after that schedules the next one.
        if self.saver.deferred_pending.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let saver = self.saver.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep_until(next).await;
            // A failure here shows at the next part's save or at the flush before Complete.
            if let Err(e) = saver.save_latest(true).await {
                tracing::warn!("deferred checkpoint save failed: {e:?}");
            }
        });
        if let Ok(mut deferred) = self.deferred.lock() {
            *deferred = Some(task.abort_handle());
        }
        Ok(())
    }

    /// Saves everything recorded so far, now.
    async fn flush(&self) -> Result<(), Stop> {
        if let Ok(mut deferred) = self.deferred.lock()
            && let Some(task) = deferred.take()
        {
            task.abort();
        }
        self.saver.save_latest(false).await
    }
}

impl Drop for Record {
    /// A paused or cancelled job drops its record: a deferred save not yet started is not
    /// made (one already writing finishes, and pause and cancel wait for it).
    fn drop(&mut self) {
        if let Ok(mut deferred) = self.deferred.lock()
            && let Some(task) = deferred.take()
        {
            task.abort();
        }
    }
}

impl Saver {
    /// Writes what is recorded at the moment the save lock is taken, unless a save already
    /// wrote as much. The write runs on the blocking pool (two fsyncs must not stall the async
    /// threads) and finishes even if the job is paused meanwhile.
    async fn save_latest(&self, deferred: bool) -> Result<(), Stop> {
        let guard = self.lock.clone().lock_owned().await;
        if deferred {
            self.deferred_pending.store(false, Ordering::Release);
        }
        let snapshot = {
            let cp = self.cp.lock().map_err(|_| lock_poisoned())?;
            if self.saved_parts.load(Ordering::Acquire) >= cp.parts.len() {
                return Ok(());
            }
            cp.clone()
        };
        let parts = snapshot.parts.len();
        let started = tokio::time::Instant::now();
        save_off_thread(&self.store, snapshot, Some(guard)).await?;
        self.saved_parts.fetch_max(parts, Ordering::AcqRel);
        // A slow disk saves less often: at most a tenth of the time goes to saving.
        let took = started.elapsed();
        if let Ok(mut next) = self.next_save.lock() {
            *next = tokio::time::Instant::now() + SAVE_EVERY.max(took * 10);
        }
        Ok(())
    }
}

/// Writes a checkpoint on the blocking pool (two fsyncs must not stall the async threads). The
/// write finishes even if the caller is dropped meanwhile, holding `hold` until it is done.
async fn save_off_thread(
    store: &CheckpointStore,
    cp: Checkpoint,
    hold: Option<tokio::sync::OwnedMutexGuard<()>>,
) -> Result<(), Stop> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let _held = hold;
        store.save(&cp)
    })
    .await
    .map_err(|e| Stop::Failed(JobError::internal(e)))?
    .map(drop)
    .map_err(|e| Stop::Failed(JobError::checkpoint(&e)))
}

fn lock_poisoned() -> Stop {
    Stop::Failed(JobError::internal("checkpoint lock"))
}

async fn complete(
    spec: &JobSpec,
    env: &JobEnv,
    cp: Checkpoint,
    emit: &Emit,
) -> Result<JobOutcome, Stop> {
    // A file changed during the upload must never become a mixed object.
    match cp.file_matches(&spec.path) {
        Ok(FileCheck::Unchanged) => {}
        Ok(_) | Err(_) => {
            abort_quietly(env, &cp.bucket, &cp.key, &cp.upload_id).await;
            let _ = env.store.delete(&cp.id());
            return Ok(JobOutcome::Failed(JobError::plain(Text::new(
                "The file changed while it was being uploaded, so the upload was stopped to avoid storing a mix of old and new content. Retry to upload the file as it is now.",
                "文件在上传过程中被修改，为避免存入新旧混杂的内容，上传已停止。请重试，以上传文件的当前内容。",
            ))));
        }
    }
    emit(JobEvent::Verifying);
    let combined = combined_crc(&cp.parts);
    let parts: Vec<CompletePart> = cp
        .parts
        .iter()
        .map(|p| CompletePart {
            part_number: p.number,
            etag: p.etag.clone(),
        })
        .collect();
    let mut attempts = 0;
    let result = with_retry(env, emit, || {
        attempts += 1;
        env.client.complete_multipart_upload(
            &cp.bucket,
            &cp.key,
            &cp.upload_id,
            &parts,
            &cp.options,
        )
    })
    .await;
    let (etag, server_crc, callback) = match result {
        Ok(out) => (out.etag, out.crc64, out.callback),
        // An earlier attempt completed but its answer was lost: the object tells.
        Err((e, _)) if e.is_no_such_upload() && attempts > 1 => {
            match existing_object(env, emit, &cp.bucket, &cp.key).await? {
                Some(meta) if meta.content_length == cp.file_size => (meta.etag, meta.crc64, None),
                _ => return Err(Stop::UploadGone),
            }
        }
        Err(e) => return Err(stop_of(e)),
    };
    let server_crc = match server_crc {
        Some(c) => Some(c),
        // Complete gave no CRC: ask the object. A server that keeps none is judged by size.
        None => match existing_object(env, emit, &cp.bucket, &cp.key).await? {
            Some(m) if m.content_length == cp.file_size => m.crc64,
            _ => {
                return Ok(JobOutcome::Failed(JobError::plain(Text::new(
                    "After the upload was completed, the object in the bucket does not have the file's size. Retry the upload.",
                    "上传完成后，存储桶中对象的大小与文件不一致。请重试上传。",
                ))));
            }
        },
    };
    if let Some(c) = server_crc
        && c != combined
    {
        return Ok(JobOutcome::Failed(JobError::plain(Text::new(
            format!(
                "The stored object does not match the file (CRC-64 {c} instead of {combined}). Retry the upload."
            ),
            format!("存储的对象与文件不一致（CRC-64 为 {c}，应为 {combined}）。请重试上传。"),
        ))));
    }
    env.store
        .delete(&cp.id())
        .map_err(|e| Stop::Failed(JobError::checkpoint(&e)))?;
    Ok(JobOutcome::Verified {
        size: cp.file_size,
        crc64: combined,
        etag,
        callback,
    })
}

/// The Content-Type for a file, from its name (`.jpg` → `image/jpeg`); `None` when unknown,
/// which OSS stores as `application/octet-stream`.
pub fn guess_content_type(path: &std::path::Path) -> Option<String> {
    mime_guess::from_path(path).first_raw().map(str::to_owned)
}

/// `8 MiB`, `1.5 GiB`: sizes as people read them.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(8 * 1024 * 1024), "8 MiB");
        assert_eq!(human_bytes(1536 * 1024 * 1024), "1.5 GiB");
    }

    #[test]
    fn endpoint_spellings_share_a_checkpoint() {
        let conn = |e: &str| Connection {
            endpoint: e.into(),
            region: None,
            signature: SignatureVersion::V4,
            path_style: false,
        };
        assert_eq!(
            conn("oss-cn-hangzhou.aliyuncs.com").endpoint_key(),
            conn("HTTPS://oss-cn-hangzhou.aliyuncs.com/").endpoint_key()
        );
        assert_ne!(
            conn("http://127.0.0.1:1").endpoint_key(),
            conn("http://127.0.0.1:2").endpoint_key()
        );
    }
}
