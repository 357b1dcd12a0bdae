//! Files smaller than one part: one PutObject, checked against the file as it is afterwards.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::complete::existing_object;
use super::multipart::{attempt_transfer, forget_on_failure};
use super::proof::{Unconfirmed, send_confirmed};
use super::resume::file_crc;
use super::{Ctx, JobEvent, file_error, stop_of};
use crate::engine::checkpoint::FileStamp;
use crate::engine::outcome::{JobError, JobOutcome, Proof};
use crate::engine::plan::UploadPlan;
use crate::engine::progress::JobProgress;
use crate::oss::client::{Body, BodyCheck, FileRange};
use crate::text::Text;

/// Bodies up to this size count as "small" for the pool's answer-time signal.
const SMALL_BODY: u64 = 64 * 1024;

/// Files smaller than one part: one PutObject, sent again if the file changed meanwhile.
pub(super) async fn put_whole(cx: &Ctx<'_>, stamp: FileStamp) -> JobOutcome {
    let Ctx {
        spec, env, emit, ..
    } = *cx;
    let plan = UploadPlan::Single { size: stamp.size };
    emit(JobEvent::Started {
        plan,
        resumed_parts: 0,
        resumed_bytes: 0,
    });
    let progress = Arc::new(Mutex::new(JobProgress::new(stamp.size, Instant::now())));
    let mut stamp = stamp;
    for _ in 0..3 {
        let range = FileRange {
            path: spec.path.clone(),
            offset: 0,
            len: stamp.size,
        };
        let body = if stamp.size == 0 {
            Body::Empty
        } else {
            Body::File(range.clone())
        };
        // A small file is one request of the shared pool, like a part of a big one.
        let permit = env.pool.acquire().await;
        let small = stamp.size <= SMALL_BODY;
        let (body, progress_ref) = (&body, &progress);
        let result = send_confirmed(Some(&range), |content_md5| {
            cx.retry(move || {
                let mut transfer = attempt_transfer(cx, progress_ref, 1);
                transfer.content_md5 = content_md5.clone();
                let body = body.clone();
                let pool = env.pool.clone();
                forget_on_failure(progress_ref.clone(), 1, async move {
                    let sent = tokio::time::Instant::now();
                    let out = env
                        .client
                        .put_object(&spec.bucket, &spec.key, body, &spec.options, &transfer)
                        .await;
                    // A small body's time is mostly the round trip and the server's queue:
                    // answers slowing down tell the pool requests are queueing somewhere.
                    if small && out.is_ok() {
                        pool.answered(sent.elapsed());
                    }
                    out
                })
            })
        })
        .await;
        drop(permit);
        let out = match result {
            Ok(out) => out,
            Err(Unconfirmed::File(e)) => return JobOutcome::Failed(JobError::from_oss(&e)),
            // With overwriting forbidden, a retry after an answer that got lost finds our own
            // object, and a run of the same file elsewhere (the window and the command line;
            // a file sent whole takes no lock) may have stored it first: either way the name
            // holds exactly the file's bytes, which is what this run was to do.
            Err(Unconfirmed::Send((e, _))) if e.code() == Some("FileAlreadyExists") => {
                let local = match file_crc(&spec.path, 0, stamp.size).await {
                    Ok(c) => c,
                    Err(io) => return file_error(spec, io),
                };
                match existing_object(cx, &spec.bucket, &spec.key).await {
                    Ok(Some(meta))
                        if meta.content_length == stamp.size && meta.crc64 == Some(local) =>
                    {
                        crate::oss::client::PutObjectOutput {
                            etag: meta.etag,
                            crc64: local,
                            check: crate::oss::client::BodyCheck::Crc64,
                            request_id: meta.request_id,
                            callback: None,
                        }
                    }
                    Ok(_) => return JobOutcome::Failed(JobError::from_oss(&e)),
                    Err(stop) => return stop.outcome(),
                }
            }
            Err(Unconfirmed::Send(e)) => return stop_of(e).outcome(),
        };
        // The bytes sent must be the file as it is now, or the object may mix two versions.
        match FileStamp::of(&spec.path) {
            Ok(now) if now == stamp => {
                return JobOutcome::Verified {
                    size: stamp.size,
                    crc64: out.crc64,
                    etag: out.etag,
                    callback: out.callback,
                    proof: if out.check == BodyCheck::Crc64 {
                        Proof::Crc64
                    } else {
                        Proof::PartMd5
                    },
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
