//! What to do when the object's name is already taken in the bucket: overwrite it, skip the
//! file, or keep both by finding a free numbered name (`photo (1).jpg`).

use crate::engine::api::ExistingPolicy;
use crate::engine::outcome::{JobError, JobOutcome};
use crate::engine::spec::JobSpec;
use crate::oss::client::Client;
use crate::oss::error::ErrorClass;
use crate::text::Text;

/// The key to upload under: the job's own when free (or when overwriting), a numbered variant
/// for keep-both, `None` for skip when the key exists.
pub async fn free_key(
    client: &Client,
    spec: &JobSpec,
    policy: ExistingPolicy,
) -> Result<Option<String>, JobOutcome> {
    let exists = |key: String| async move {
        match client.head_object(&spec.bucket, &key).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("NoSuchKey") => Ok(false),
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
    if !exists(spec.key.clone()).await? {
        return Ok(Some(spec.key.clone()));
    }
    match policy {
        ExistingPolicy::Overwrite => Ok(Some(spec.key.clone())),
        ExistingPolicy::Skip => Ok(None),
        ExistingPolicy::KeepBoth => {
            for n in 1..10_000 {
                let candidate = numbered_key(&spec.key, n);
                if !exists(candidate.clone()).await? {
                    return Ok(Some(candidate));
                }
            }
            Err(JobOutcome::Failed(JobError::plain(Text::new(
                "No free name was found for this file in the bucket.",
                "在存储桶中找不到可用的新文件名。",
            ))))
        }
    }
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
