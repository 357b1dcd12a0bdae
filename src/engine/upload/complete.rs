//! The end of a multipart upload: the file checked once more, Complete (a lost answer
//! recognised), and the object's CRC-64 compared with the one combined from the parts; when
//! the server keeps no CRC-64, each part's MD5 as the server confirmed it.

use super::proof::md5_of;
use super::{Ctx, JobEvent, Stop, abort_quietly, stop_of};
use crate::engine::checkpoint::{Checkpoint, FileCheck, FinishedPart};
use crate::engine::outcome::{JobError, JobOutcome, Proof};
use crate::oss::client::FileRange;
use crate::oss::crc64;
use crate::oss::digest::{self, EtagCheck};
use crate::oss::xml::CompletePart;
use crate::text::Text;

/// Ends an upload whose file changed while it was sent: the parts may mix two versions, so the
/// server upload is aborted and the record deleted; the user retries with the file as it is.
pub(super) async fn changed_during_upload(cx: &Ctx<'_>, cp: &Checkpoint) -> JobOutcome {
    abort_quietly(&cx.env.client, &cp.bucket, &cp.key, &cp.upload_id).await;
    let _ = cx.env.store.delete(&cp.id());
    JobOutcome::Failed(JobError::plain(Text::new(
        "The file changed while it was being uploaded, so the upload was stopped to avoid storing a mix of old and new content. Retry to upload the file as it is now.",
        "文件在上传过程中被修改，为避免存入新旧混杂的内容，上传已停止。请重试，以上传文件的当前内容。",
    )))
}

pub(super) async fn complete(cx: &Ctx<'_>, cp: Checkpoint) -> Result<JobOutcome, Stop> {
    let Ctx {
        spec, env, emit, ..
    } = *cx;
    // A file changed during the upload must never become a mixed object.
    match cp.file_matches(&spec.path) {
        Ok(FileCheck::Unchanged) => {}
        Ok(_) | Err(_) => return Ok(changed_during_upload(cx, &cp).await),
    }
    emit(JobEvent::Verifying);
    // A killed run's Initiate that landed late is found now, while the record still exists.
    super::orphans::reap_before_complete(env, &cp.id(), &cp.upload_id).await;
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
    let result = cx
        .retry(|| {
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
        // An earlier attempt completed but its answer was lost, or a killed run's Complete
        // landed after this run listed the parts: the object tells. Without an attempt of
        // ours before, only an object with exactly the file's CRC-64 is taken as that one.
        Err((e, _)) if e.is_no_such_upload() => {
            match existing_object(cx, &cp.bucket, &cp.key).await? {
                Some(meta)
                    if meta.content_length == cp.file_size
                        && (attempts > 1 || meta.crc64 == Some(combined)) =>
                {
                    (meta.etag, meta.crc64, None)
                }
                _ => return Err(Stop::UploadGone),
            }
        }
        // Replacing was forbidden and the name is taken: nothing was replaced, and the parts
        // can never become this object, so they are not left on the server.
        Err((e, _)) if e.code() == Some("FileAlreadyExists") => {
            abort_quietly(&env.client, &cp.bucket, &cp.key, &cp.upload_id).await;
            let _ = env.store.delete(&cp.id());
            return Ok(JobOutcome::Failed(JobError::from_oss(&e)));
        }
        Err(e) => return Err(stop_of(e)),
    };
    let server_crc = match server_crc {
        Some(c) => Some(c),
        // Complete gave no CRC: ask the object. A server that keeps none is judged by size.
        None => match existing_object(cx, &cp.bucket, &cp.key).await? {
            Some(m) if m.content_length == cp.file_size => m.crc64,
            _ => {
                return Ok(JobOutcome::Failed(JobError::plain(Text::new(
                    "After the upload was completed, the object in the bucket does not have the file's size. Retry the upload.",
                    "上传完成后，存储桶中对象的大小与文件不一致。请重试上传。",
                ))));
            }
        },
    };
    let proof = match server_crc {
        Some(c) if c != combined => {
            return Ok(JobOutcome::Failed(JobError::plain(Text::new(
                format!(
                    "The stored object does not match the file (CRC-64 {c} instead of {combined}). Retry the upload."
                ),
                format!("存储的对象与文件不一致（CRC-64 为 {c}，应为 {combined}）。请重试上传。"),
            ))));
        }
        Some(_) => Some(Proof::Crc64),
        None => match prove_parts(cx, &cp).await? {
            PartsProof::Md5 => Some(Proof::PartMd5),
            PartsProof::Differs(number) => {
                return Ok(JobOutcome::Failed(JobError::plain(Text::new(
                    format!(
                        "Part {number} of the stored object does not match the file (its MD5 differs). Retry the upload."
                    ),
                    format!("存储的对象第 {number} 段与文件不一致（MD5 不同）。请重试上传。"),
                ))));
            }
            PartsProof::Unknown => None,
        },
    };
    env.store
        .delete(&cp.id())
        .map_err(|e| Stop::Failed(JobError::checkpoint(&e)))?;
    Ok(match proof {
        Some(proof) => JobOutcome::Verified {
            size: cp.file_size,
            crc64: combined,
            etag,
            callback,
            proof,
        },
        None => JobOutcome::Unverified {
            size: cp.file_size,
            etag,
            callback,
            why: Text::new(
                "the server returned no CRC-64 and its ETags are not MD5s, so only the size was checked",
                "服务器没有返回 CRC-64，其 ETag 也不是 MD5，因此只核对了大小",
            ),
        },
    })
}

/// What the parts' MD5s prove when the server gave no CRC-64 of the object.
enum PartsProof {
    /// Every part the object was made of holds the file's bytes.
    Md5,
    /// This part's ETag is an MD5, and not the MD5 of the file's bytes.
    Differs(u32),
    /// Some part cannot be checked: its ETag is not an MD5 and no `Content-MD5` was checked.
    Unknown,
}

/// Reads the file once more and compares each part's MD5 with its ETag (a part's ETag is the
/// MD5 of its body). Costs a read of the file, only on servers that keep no CRC-64.
async fn prove_parts(cx: &Ctx<'_>, cp: &Checkpoint) -> Result<PartsProof, Stop> {
    let mut unknown = false;
    for part in &cp.parts {
        if part.md5_checked {
            continue;
        }
        let range = FileRange {
            path: cx.spec.path.clone(),
            offset: u64::from(part.number.saturating_sub(1)) * cp.part_size,
            len: part.size,
        };
        let md5 = md5_of(Some(&range))
            .await
            .map_err(|e| Stop::Failed(JobError::from_oss(&e)))?;
        match digest::compare_etag(&part.etag, &md5) {
            EtagCheck::Matches => {}
            EtagCheck::Differs => return Ok(PartsProof::Differs(part.number)),
            EtagCheck::NotAnMd5 => unknown = true,
        }
    }
    Ok(if unknown {
        PartsProof::Unknown
    } else {
        PartsProof::Md5
    })
}

/// The object's metadata, `None` when it does not exist; temporary failures are retried.
pub(super) async fn existing_object(
    cx: &Ctx<'_>,
    bucket: &str,
    key: &str,
) -> Result<Option<crate::oss::client::ObjectMeta>, Stop> {
    match cx.retry(|| cx.env.client.head_object(bucket, key)).await {
        Ok(meta) => Ok(Some(meta)),
        Err((e, _)) if e.code() == Some("NoSuchKey") => Ok(None),
        Err(e) => Err(stop_of(e)),
    }
}

pub(super) fn combined_crc(parts: &[FinishedPart]) -> u64 {
    let mut sorted: Vec<&FinishedPart> = parts.iter().collect();
    sorted.sort_by_key(|p| p.number);
    sorted
        .iter()
        .fold(0, |acc, p| crc64::combine(acc, p.crc64, p.size))
}
