//! A new multipart upload (Initiate, then the first checkpoint) and the sending of its parts:
//! streamed from the file, paced by the bandwidth limit, counted for the progress bar, each
//! recorded in the checkpoint as it finishes.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use futures_util::StreamExt as _;

use super::complete::{changed_during_upload, complete};
use super::proof::{Unconfirmed, send_confirmed};
use super::record::Record;
use super::{
    Ctx, Emit, JobEvent, Stop, abort_quietly, lock_poisoned, orphans, retry_notice, stop_of,
};
use crate::engine::checkpoint::{Checkpoint, FileStamp, FinishedPart, Intent, unix_ms};
use crate::engine::outcome::{JobError, JobOutcome};
use crate::engine::plan::{PartRange, UploadPlan};
use crate::engine::pool::Pool;
use crate::engine::progress::JobProgress;
use crate::engine::retry::with_retry;
use crate::engine::throttle::Throttle;
use crate::oss::client::{Body, BodyCheck, FileRange, Transfer};
use crate::oss::error::Error;
use crate::text::Text;
use crate::units::human_bytes;

/// The server upload the parts go to, and the file as it was when the upload began.
#[derive(Clone, Copy)]
struct UploadRef<'a> {
    bucket: &'a str,
    key: &'a str,
    upload_id: &'a str,
    began: FileStamp,
}

pub(super) async fn start_multipart(
    cx: &Ctx<'_>,
    stamp: FileStamp,
    plan: UploadPlan,
) -> Result<JobOutcome, Stop> {
    let Ctx {
        spec,
        env,
        emit,
        starting,
    } = *cx;
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
            let id = spec.checkpoint_id();
            // An intent an earlier, killed run left stays (its Initiate may land late); being
            // older, it covers this run's Initiate too.
            let earlier = env.store.load_intent(&id);
            let intent = match &earlier {
                Some(i) => i.clone(),
                None => Intent {
                    connection: spec.connection.clone(),
                    bucket: spec.bucket.clone(),
                    key: spec.key.clone(),
                    local_path: spec.path.clone(),
                    started_unix_ms: unix_ms(SystemTime::now()),
                },
            };
            // Before anything exists on the server: a full disk stops here, costing nothing.
            if earlier.is_none() {
                env.store
                    .save_intent(&id, &intent)
                    .map_err(|e| Stop::Failed(JobError::checkpoint(&e)))?;
            }
            let mut attempts = 0;
            let asked = tokio::time::Instant::now();
            let upload_id = with_retry(&env.backoff, retry_notice(&emit, &env.pool), || {
                attempts += 1;
                env.client
                    .initiate_multipart_upload(&spec.bucket, &spec.key, &spec.options)
            })
            .await
            .map_err(stop_of)?;
            if attempts == 1 {
                // A small request's answer: how far the service is, for the pool's windows.
                env.pool.answered(asked.elapsed());
            }
            if attempts > 1 {
                // An earlier attempt may have started an upload whose answer was lost.
                if let Err(e) = orphans::reap(&env, &intent, Some(&upload_id)).await {
                    tracing::warn!(key = %spec.key, "could not look for unrecorded uploads: {e}");
                }
            }
            let now = unix_ms(SystemTime::now());
            let cp = Checkpoint {
                endpoint: spec.connection.endpoint_key(),
                bucket: spec.bucket.clone(),
                key: spec.key.clone(),
                local_path: spec.path.clone(),
                file_size: stamp.size,
                file_mtime_ns: stamp.mtime_ns,
                file_id: stamp.id,
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
            if let Err(e) = env.store.save(&cp) {
                // Without its record the new upload could never be resumed or found again.
                if abort_quietly(&env.client, &cp.bucket, &cp.key, &cp.upload_id).await
                    && earlier.is_none()
                {
                    let _ = env.store.delete_intent(&id);
                }
                return Err(Stop::Failed(JobError::checkpoint(&e)));
            }
            // This run's own intent is done with; an earlier run's waits for the completion.
            if earlier.is_none() {
                let _ = env.store.delete_intent(&id);
            }
            Ok(cp)
        })
    };
    let cp = task
        .await
        .map_err(|e| Stop::Failed(JobError::internal(e)))??;
    send_and_complete(cx, cp, plan).await
}

pub(super) async fn send_and_complete(
    cx: &Ctx<'_>,
    cp: Checkpoint,
    plan: UploadPlan,
) -> Result<JobOutcome, Stop> {
    let Ctx {
        spec,
        env,
        emit,
        starting,
    } = *cx;
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
    let upload = UploadRef {
        bucket: &bucket,
        key: &key,
        upload_id: &upload_id,
        began: cp.stamp(),
    };
    let record = Record::new(cp, env, starting);
    let threads = spec.threads.max(1);
    let unstarted = AtomicUsize::new(pending.len());
    let mut sends = futures_util::stream::iter(pending)
        .map(|part| send_part(cx, &record, &progress, part, &upload, &unstarted))
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
    if let Some(Stop::FileChanged) = stopped {
        let cp = record
            .saver
            .cp
            .lock()
            .map(|c| c.clone())
            .map_err(|_| lock_poisoned())?;
        return Ok(changed_during_upload(cx, &cp).await);
    }
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
    complete(cx, cp).await
}

async fn send_part(
    cx: &Ctx<'_>,
    record: &Record,
    progress: &Arc<Mutex<JobProgress>>,
    part: PartRange,
    upload: &UploadRef<'_>,
    unstarted: &AtomicUsize,
) -> Result<(), Stop> {
    let Ctx { spec, env, .. } = *cx;
    let UploadRef {
        bucket,
        key,
        upload_id,
        began,
    } = *upload;
    let _permit = env.pool.acquire_part(unstarted).await;
    let range = FileRange {
        path: spec.path.clone(),
        offset: part.offset,
        len: part.len,
    };
    let range_ref = &range;
    let sent = send_confirmed(Some(&range), |content_md5| {
        cx.retry(move || {
            let mut transfer = attempt_transfer(cx, progress, part.number);
            transfer.content_md5 = content_md5.clone();
            let body = Body::File(range_ref.clone());
            forget_on_failure(progress.clone(), part.number, async move {
                env.client
                    .upload_part(bucket, key, upload_id, part.number, body, &transfer)
                    .await
            })
        })
    })
    .await;
    let out = match sent {
        Ok(out) => out,
        Err(Unconfirmed::Send(e)) => return Err(stop_of(e)),
        Err(Unconfirmed::File(e)) => return Err(Stop::Failed(JobError::from_oss(&e))),
    };
    // The part is recorded only if the file is still the one the upload began with: bytes read
    // from a file being rewritten may belong to neither version.
    match FileStamp::of(&spec.path) {
        Ok(now) if now == began => {}
        _ => return Err(Stop::FileChanged),
    }
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
            md5_checked: out.check == BodyCheck::ContentMd5,
        });
        cp.touch(SystemTime::now());
    }
    record.part_recorded().await
}

/// Paces by the user's bandwidth limit; a wait tells the pool that the limit, not the link,
/// binds (so it does not grow for nothing).
fn pace_fn(throttle: &Throttle, pool: &Pool) -> crate::oss::client::PaceFn {
    let throttle = throttle.clone();
    let pool = pool.clone();
    Arc::new(move |n| {
        let t = throttle.clone();
        let pool = pool.clone();
        Box::pin(async move {
            let asked = std::time::Instant::now();
            let granted = t.grant(n).await;
            if asked.elapsed() > std::time::Duration::from_millis(1) {
                pool.throttled();
            }
            granted
        })
    })
}

/// Starts one attempt at sending part `number`: its bytes in flight restart at zero, and the
/// transfer paces by the bandwidth limit and reports each chunk to the bar.
pub(super) fn attempt_transfer(
    cx: &Ctx<'_>,
    progress: &Arc<Mutex<JobProgress>>,
    number: u32,
) -> Transfer {
    let Ctx { env, emit, .. } = *cx;
    if let Ok(mut p) = progress.lock() {
        p.part_started(number);
    }
    Transfer {
        pace: Some(pace_fn(&env.throttle, &env.pool)),
        progress: Some(progress_fn(progress, number, emit, &env.pool)),
        ..Default::default()
    }
}

/// Awaits an attempt; when it fails, the bar stops counting its bytes in flight.
pub(super) async fn forget_on_failure<T>(
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
    pool: &Pool,
) -> crate::oss::client::ProgressFn {
    let progress = progress.clone();
    let emit = emit.clone();
    let pool = pool.clone();
    Arc::new(move |n| {
        pool.sent(n);
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
