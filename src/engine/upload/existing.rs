//! What to do when the object's name is already taken in the bucket: overwrite it, skip the
//! file, skip it only when the object is the same file (size and CRC-64, the local CRC from
//! `crc_cache`), or keep both by finding a free numbered name (`photo (1).jpg`).
//!
//! The HEAD here only chooses; the upload that follows carries `x-oss-forbid-overwrite` when
//! the chosen name was free, so an object that appears in the meantime is never replaced: the
//! upload is refused with FileAlreadyExists and the queue chooses again (`chooses_again`).

mod crc_cache;

use std::path::Path;

use crate::engine::api::ExistingPolicy;
use crate::engine::outcome::{JobError, JobOutcome};
use crate::engine::spec::JobSpec;
use crate::oss::client::{Client, ObjectMeta};
use crate::oss::error::ErrorClass;
use crate::text::Text;

pub use crc_cache::file_crc64;

/// Where to upload, and whether the name must still be free when the upload ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub key: String,
    /// Send `x-oss-forbid-overwrite`: the name was free when chosen and must stay so.
    pub forbid_overwrite: bool,
}

/// The key to upload under: the job's own when free (or when overwriting, or when the object
/// there differs under skip-identical), a numbered variant for keep-both, `None` when the file
/// is skipped. `data_dir` holds the CRC cache.
pub async fn free_key(
    client: &Client,
    spec: &JobSpec,
    policy: ExistingPolicy,
    data_dir: &Path,
) -> Result<Option<Target>, JobOutcome> {
    let head = |key: String| async move {
        match client.head_object(&spec.bucket, &key).await {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
            Err(e) => {
                let je = JobError::from_oss(&e);
                Err(if matches!(e.class(), ErrorClass::Retry { .. }) {
                    JobOutcome::Interrupted(je)
                } else {
                    JobOutcome::Failed(je)
                })
            }
        }
    };
    let free = |key: String| Target {
        key,
        forbid_overwrite: policy != ExistingPolicy::Overwrite,
    };
    let Some(existing) = head(spec.key.clone()).await? else {
        return Ok(Some(free(spec.key.clone())));
    };
    let taken = Target {
        key: spec.key.clone(),
        forbid_overwrite: false,
    };
    match policy {
        ExistingPolicy::Overwrite => Ok(Some(taken)),
        ExistingPolicy::Skip => Ok(None),
        ExistingPolicy::SkipIdentical => {
            if same_content(&existing, &spec.path, data_dir).await? {
                Ok(None)
            } else {
                Ok(Some(taken))
            }
        }
        ExistingPolicy::KeepBoth => {
            for n in 1..10_000 {
                let candidate = numbered_key(&spec.key, n);
                if head(candidate.clone()).await?.is_none() {
                    return Ok(Some(free(candidate)));
                }
            }
            Err(JobOutcome::Failed(JobError::plain(Text::new(
                "No free name was found for this file in the bucket.",
                "在存储桶中找不到可用的新文件名。",
            ))))
        }
    }
}

/// Whether the object holds the local file: same size, then same CRC-64 (the local one read
/// only when the sizes match, and then from the cache when the file is unchanged). An object
/// without a CRC (some OSS-compatible servers) cannot be compared and counts as different.
async fn same_content(
    object: &ObjectMeta,
    path: &Path,
    data_dir: &Path,
) -> Result<bool, JobOutcome> {
    let Some(remote) = object.crc64 else {
        return Ok(false);
    };
    let size = object.content_length;
    let (path, dir) = (path.to_owned(), data_dir.to_owned());
    let local = tokio::task::spawn_blocking(move || {
        if std::fs::metadata(&path)?.len() != size {
            return Ok(None);
        }
        crc_cache::file_crc64(&dir, &path).map(Some)
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))
    .and_then(|r| r);
    match local {
        Ok(local) => Ok(local == Some(remote)),
        Err(e) => Err(JobOutcome::Failed(JobError::plain(Text::new(
            format!("The file could not be read to compare it with the bucket: {e}"),
            format!("无法读取文件以与存储桶中的对象比较：{e}"),
        )))),
    }
}

/// Whether a finished run says the chosen name was taken before the upload ended (another
/// writer was faster), so the name has to be chosen again.
pub fn chooses_again(outcome: &JobOutcome, target: &Target) -> bool {
    target.forbid_overwrite
        && matches!(outcome, JobOutcome::Failed(e) if e.code.as_deref() == Some("FileAlreadyExists"))
}

/// `dir/name.ext` → `dir/name (n).ext`.
pub fn numbered_key(key: &str, n: u32) -> String {
    let (dir, file) = match key.rfind('/') {
        Some(i) => key.split_at(i + 1),
        None => ("", key),
    };
    match file.rfind('.') {
        Some(i) if i > 0 => format!("{dir}{} ({n}){}", &file[..i], &file[i..]),
        _ => format!("{dir}{file} ({n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_keys() {
        assert_eq!(numbered_key("a/b/photo.jpg", 1), "a/b/photo (1).jpg");
        assert_eq!(numbered_key("notes", 2), "notes (2)");
        assert_eq!(numbered_key("dir/.hidden", 3), "dir/.hidden (3)");
        assert_eq!(numbered_key("x.tar.gz", 1), "x.tar (1).gz");
    }
}
