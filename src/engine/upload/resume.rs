//! Resuming from a checkpoint: the record checked against the file (a changed file or a
//! damaged record starts over, aborting the old server upload), then reconciled with what the
//! server lists (ListParts), adopting parts the record missed when their CRC-64 matches.

use super::complete::{combined_crc, existing_object};
use super::multipart::send_and_complete;
use super::record::save_off_thread;
use super::{Ctx, JobEvent, Stop, abort_quietly, stop_of};
use crate::engine::checkpoint::ObjectOptions;
use crate::engine::checkpoint::{
    Checkpoint, CheckpointError, CheckpointId, FileCheck, FinishedPart,
};
use crate::engine::outcome::{JobError, JobOutcome};
use crate::engine::plan::UploadPlan;
use crate::oss::crc64;
use crate::oss::limits::AUTO_PART_SIZE;
use crate::oss::xml::PartSummary;
use crate::text::Text;
use crate::units::human_bytes;

/// The checkpoint to resume, if there is one that still fits the file. A record that cannot
/// be used is discarded with its server upload, and the user is told why.
pub(super) async fn load_usable_checkpoint(
    cx: &Ctx<'_>,
    id: &CheckpointId,
) -> Result<Option<Checkpoint>, JobOutcome> {
    let Ctx {
        spec, env, emit, ..
    } = *cx;
    match env.store.load(id) {
        Ok(cp) => match cp.file_matches(&spec.path) {
            Ok(FileCheck::Unchanged) => adopt_what_is_asked_now(cx, cp).await,
            Ok(FileCheck::Changed { what }) => {
                let why: Vec<String> = what.iter().map(ToString::to_string).collect();
                emit(JobEvent::Notice(Text::new(
                    format!(
                        "The file changed since its upload began ({}); starting again from the beginning.",
                        why.join(", ")
                    ),
                    "文件自开始上传后已被修改，将从头开始上传。",
                )));
                abort_quietly(&env.client, &cp.bucket, &cp.key, &cp.upload_id).await;
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
        // Written by a newer version: left exactly as it is, server upload included.
        Err(e @ CheckpointError::Newer { .. }) => {
            Err(JobOutcome::Failed(JobError::plain(Text::new(
                e.to_string(),
                "这个上传的续传记录由更新版本的 oss-uploader 写入，本版本不会改动它。请用那个版本或更新的版本继续上传。",
            ))))
        }
        Err(e @ (CheckpointError::Damaged { .. } | CheckpointError::UnsupportedVersion { .. })) => {
            emit(JobEvent::Notice(Text::new(
                format!("{e} Starting again from the beginning."),
                "续传记录已损坏或版本不受支持，将从头开始上传。",
            )));
            // What can still be read names the server upload, even in a record cut short.
            if let Some(s) = env.store.salvage(id) {
                let bucket = s.bucket.unwrap_or_else(|| spec.bucket.clone());
                let key = s.key.unwrap_or_else(|| spec.key.clone());
                abort_quietly(&env.client, &bucket, &key, &s.upload_id).await;
            }
            env.store
                .delete(id)
                .map_err(|e| JobOutcome::Failed(JobError::checkpoint(&e)))?;
            Ok(None)
        }
        Err(e) => Err(JobOutcome::Failed(JobError::checkpoint(&e))),
    }
}

/// Which of the options asked for now differ from those the earlier run started with.
#[derive(Debug, Default, PartialEq, Eq)]
struct OptionChanges {
    /// Fixed when the upload was started (Content-Type, metadata, storage class): only a new
    /// upload can take them.
    at_start: Vec<&'static str>,
    /// Sent with Complete (ACL, callback, forbid-overwrite): the earlier upload can take them.
    at_complete: Vec<&'static str>,
}

fn option_changes(was: &ObjectOptions, now: &ObjectOptions) -> OptionChanges {
    let mut c = OptionChanges::default();
    if was.content_type != now.content_type {
        c.at_start.push("content type");
    }
    if was.metadata != now.metadata {
        c.at_start.push("metadata");
    }
    if was.storage_class != now.storage_class {
        c.at_start.push("storage class");
    }
    if was.acl != now.acl {
        c.at_complete.push("access control (ACL)");
    }
    if was.callback != now.callback || was.callback_var != now.callback_var {
        c.at_complete.push("upload callback");
    }
    if was.forbid_overwrite != now.forbid_overwrite {
        c.at_complete.push("overwrite rule");
    }
    c
}

/// What is asked for now wins over what an earlier run recorded: options sent with Complete are
/// taken into the record; options fixed at the start mean the earlier upload is cancelled and
/// the file sent again; a different part size keeps the earlier upload's parts (they are on the
/// server already) and says so. The user is told which.
async fn adopt_what_is_asked_now(
    cx: &Ctx<'_>,
    mut cp: Checkpoint,
) -> Result<Option<Checkpoint>, JobOutcome> {
    let Ctx {
        spec, env, emit, ..
    } = *cx;
    let changes = option_changes(&cp.options, &spec.options);
    if !changes.at_start.is_empty() {
        let what = changes.at_start.join(", ");
        emit(JobEvent::Notice(Text::new(
            format!(
                "The earlier upload of this file was started with another {what}; it was cancelled and the file is sent again with what was asked for now."
            ),
            "这个文件之前的上传使用了不同的设置（内容类型、元数据或存储类型），已取消并按现在的设置重新上传。",
        )));
        abort_quietly(&env.client, &cp.bucket, &cp.key, &cp.upload_id).await;
        env.store
            .delete(&cp.id())
            .map_err(|e| JobOutcome::Failed(JobError::checkpoint(&e)))?;
        return Ok(None);
    }
    let mut save = false;
    if !changes.at_complete.is_empty() {
        let what = changes.at_complete.join(", ");
        emit(JobEvent::Notice(Text::new(
            format!(
                "Continuing the earlier upload of this file; the {what} asked for now applies when it is completed."
            ),
            "继续这个文件之前的上传；现在设置的访问权限、回调或覆盖规则将在完成上传时生效。",
        )));
        cp.options = spec.options.clone();
        save = true;
    }
    // A size the engine chose is not worth a word: the recorded layout is kept either way.
    if spec.part_size != AUTO_PART_SIZE
        && let Ok(asked) = UploadPlan::new(cp.file_size, spec.part_size)
        && asked.part_size() != cp.part_size
    {
        let (was, now) = (human_bytes(cp.part_size), human_bytes(asked.part_size()));
        emit(JobEvent::Notice(Text::new(
            format!(
                "Continuing the earlier upload with its parts of {was} (the parts already sent are kept); the part size asked for now ({now}) applies to new uploads."
            ),
            format!(
                "继续之前的上传，沿用其 {was} 的分片（已发送的分片保留）；现在设置的分片大小（{now}）用于新的上传。"
            ),
        )));
    }
    if save {
        save_off_thread(&env.store, cp.clone(), None)
            .await
            .map_err(Stop::outcome)?;
    }
    Ok(Some(cp))
}

/// Resumes from a checkpoint: the parts the server still has with the same size and CRC-64
/// count as done; the others are sent.
pub(super) async fn resume(cx: &Ctx<'_>, mut cp: Checkpoint) -> Result<JobOutcome, Stop> {
    let Ctx {
        spec, env, emit, ..
    } = *cx;
    let plan = cp.plan().map_err(|e| Stop::Failed(JobError::invalid(e)))?;
    let listed = cx
        .retry(|| env.client.list_parts(&cp.bucket, &cp.key, &cp.upload_id))
        .await;
    let server_parts = match listed {
        Ok(p) => p,
        Err((e, _)) if e.is_no_such_upload() => {
            // A crash between Complete and deleting the checkpoint leaves exactly this: the
            // object is there and whole. Check before sending everything again.
            if cp.parts.len() as u32 == plan.part_count() {
                let combined = combined_crc(&cp.parts);
                if let Some(meta) = existing_object(cx, &cp.bucket, &cp.key).await?
                    && meta.content_length == cp.file_size
                    && meta.crc64 == Some(combined)
                {
                    let _ = env.store.delete(&cp.id());
                    return Ok(JobOutcome::Verified {
                        size: cp.file_size,
                        crc64: combined,
                        etag: meta.etag,
                        callback: None,
                        proof: crate::engine::outcome::Proof::Crc64,
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
    send_and_complete(cx, cp, plan).await
}

/// The CRC-64 of `len` bytes of a file from `offset`, read off the async threads.
pub(super) async fn file_crc(
    path: &std::path::Path,
    offset: u64,
    len: u64,
) -> std::io::Result<u64> {
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
                md5_checked: false,
            });
            adopted += 1;
        }
    }
    adopted
}
