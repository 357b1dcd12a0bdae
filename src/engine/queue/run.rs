//! One run of a job as the queue starts it: the name-taken policy first, then the upload, with
//! the job's own events turned into the engine's [`Event`]s and one log line per finished run.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::watch;

use super::{Sink, TaskEnd};
use crate::engine::api::{Event, ExistingPolicy, JobId, JobState};
use crate::engine::outcome::JobOutcome;
use crate::engine::spec::JobSpec;
use crate::engine::upload::existing::{chooses_again, free_key};
use crate::engine::upload::{Control, JobEnv, JobEvent, run_job};

/// One run of a job, with the existing-object policy applied first.
pub(super) async fn run_one(
    id: JobId,
    mut spec: JobSpec,
    env: JobEnv,
    existing: ExistingPolicy,
    control: watch::Receiver<Control>,
    sink: Sink,
) -> TaskEnd {
    // A job with a checkpoint is resuming its own upload: the object is ours to finish.
    let resuming = env.store.load(&spec.checkpoint_id()).is_ok();
    let choose = existing != ExistingPolicy::Overwrite && !resuming;
    let data_dir = env
        .store
        .dir()
        .parent()
        .unwrap_or(env.store.dir())
        .to_owned();
    let user_forbids = spec.options.forbid_overwrite;
    let wanted = spec.key.clone();
    // The name is chosen again when another writer takes it first (bounded: each round
    // needs someone else to win a race), always starting from the file's own name.
    for _ in 0..5 {
        let mut target = None;
        if choose {
            let shown = std::mem::replace(&mut spec.key, wanted.clone());
            match free_key(&env.client, &spec, existing, &data_dir).await {
                Ok(None) => return TaskEnd::Skipped,
                Ok(Some(t)) => {
                    if t.key != shown {
                        sink.send(Event::Renamed {
                            id,
                            key: t.key.clone(),
                        });
                    }
                    spec.key = t.key.clone();
                    spec.options.forbid_overwrite = user_forbids || t.forbid_overwrite;
                    target = Some(t);
                }
                Err(e) => return TaskEnd::Ran(e),
            }
            if *control.borrow() == Control::Cancel {
                return TaskEnd::Cancelled;
            }
        }
        let outcome = upload(id, &spec, &env, control.clone(), &sink).await;
        match target {
            Some(t) if !user_forbids && chooses_again(&outcome, &t) => {
                tracing::info!(job = id, key = %spec.key, "the name was taken meanwhile; choosing again");
            }
            _ => return TaskEnd::Ran(outcome),
        }
    }
    TaskEnd::Ran(JobOutcome::Failed(crate::engine::outcome::JobError::plain(
        crate::text::Text::new(
            "Other uploads kept taking this file's name in the bucket.",
            "其他上传不断占用此文件在存储桶中的名称。",
        ),
    )))
}

/// The upload itself, its events sent to the queue.
async fn upload(
    id: JobId,
    spec: &JobSpec,
    env: &JobEnv,
    control: watch::Receiver<Control>,
    sink: &Sink,
) -> JobOutcome {
    let events = sink.clone();
    // Whether the row says "waiting for the network": from the first retry the network caused
    // until bytes flow again.
    let waiting = std::sync::atomic::AtomicBool::new(false);
    let emit = Arc::new(move |e: JobEvent| match e {
        JobEvent::Progress(progress) => {
            if waiting.swap(false, Ordering::Relaxed) {
                events.send(Event::State {
                    id,
                    state: JobState::Uploading,
                    error: None,
                });
            }
            events.send(Event::Progress { id, progress })
        }
        JobEvent::Notice(message) => events.send(Event::Notice { id, message }),
        JobEvent::Verifying => events.send(Event::State {
            id,
            state: JobState::Verifying,
            error: None,
        }),
        JobEvent::Retrying {
            error,
            delay,
            attempt,
        } => {
            tracing::warn!(
                job = id,
                attempt,
                delay_ms = delay.as_millis() as u64,
                code = error.code.as_deref().unwrap_or(""),
                request_id = error.request_id.as_deref().unwrap_or(""),
                "retrying: {}",
                error.detail
            );
            if error.network && !waiting.swap(true, Ordering::Relaxed) {
                events.send(Event::State {
                    id,
                    state: JobState::Waiting,
                    error: None,
                });
            }
            events.send(Event::Retrying {
                id,
                attempt,
                delay,
                error,
            })
        }
        JobEvent::Started {
            plan,
            resumed_parts,
            resumed_bytes,
        } => {
            if resumed_parts > 0 {
                tracing::info!(
                    job = id,
                    size = plan.size(),
                    parts = plan.part_count(),
                    part_size = plan.part_size(),
                    resumed_parts,
                    resumed_bytes,
                    "upload resumed"
                );
            } else {
                tracing::info!(
                    job = id,
                    size = plan.size(),
                    parts = plan.part_count(),
                    part_size = plan.part_size(),
                    "upload planned"
                );
            }
            events.send(Event::Started {
                id,
                plan,
                resumed_parts,
                resumed_bytes,
            })
        }
    });
    run_job(spec, env, control, emit).await
}

/// One log line per finished run: what a support request needs (key, size, verified CRC, the
/// error and its request id), never credentials.
pub(super) fn log_end(id: JobId, spec: &JobSpec, end: &TaskEnd) {
    let key = spec.key.as_str();
    match end {
        TaskEnd::Skipped | TaskEnd::Ran(JobOutcome::Skipped) => {
            tracing::info!(job = id, key, "skipped: the object exists")
        }
        TaskEnd::Cancelled | TaskEnd::Ran(JobOutcome::Cancelled) => {
            tracing::info!(job = id, key, "cancelled")
        }
        TaskEnd::Ran(JobOutcome::Paused) => tracing::info!(job = id, key, "paused"),
        TaskEnd::Ran(JobOutcome::Verified {
            size, crc64, etag, ..
        }) => tracing::info!(
            job = id,
            bucket = %spec.bucket,
            key,
            size,
            crc64 = %format_args!("{crc64:016x}"),
            etag = %etag,
            "upload done, verified"
        ),
        TaskEnd::Ran(JobOutcome::Unverified {
            size, etag, why, ..
        }) => tracing::warn!(
            job = id,
            bucket = %spec.bucket,
            key,
            size,
            etag = %etag,
            "upload done, NOT verified: {}",
            why.en
        ),
        TaskEnd::Ran(JobOutcome::Interrupted(e)) => tracing::warn!(
            job = id,
            key,
            code = e.code.as_deref().unwrap_or(""),
            request_id = e.request_id.as_deref().unwrap_or(""),
            "interrupted (resumable): {}",
            e.detail
        ),
        TaskEnd::Ran(JobOutcome::Failed(e)) => tracing::warn!(
            job = id,
            key,
            code = e.code.as_deref().unwrap_or(""),
            request_id = e.request_id.as_deref().unwrap_or(""),
            "failed: {}",
            e.detail
        ),
    }
}
