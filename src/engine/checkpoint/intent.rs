//! What is written before an upload exists, and what can still be read from a record that is
//! damaged: the two ways a server upload could otherwise be left behind with nobody knowing.
//!
//! - An *intent* (`<id>.intent.json`) is saved before InitiateMultipartUpload is sent and removed
//!   once the checkpoint names the new upload. If the answer to Initiate is lost (a reset, a
//!   truncated answer, a kill while it is in flight), OSS may hold an upload nobody recorded; the
//!   intent says where and since when to look for it (ListMultipartUploads by key), so the next
//!   run can abort it.
//! - *Salvage* reads the fields of a record whose JSON is cut short or whose checksum fails, so
//!   its server upload can still be aborted before the record is discarded.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{CheckpointError, CheckpointId, CheckpointStore};
use crate::atomic_file::AtomicWrite;
use crate::engine::spec::Connection;
use crate::oss::sign::SignatureVersion;

/// An upload about to be started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub connection: Connection,
    pub bucket: String,
    pub key: String,
    pub local_path: PathBuf,
    /// When Initiate was first sent, in milliseconds since 1970 (local clock).
    pub started_unix_ms: i64,
}

impl CheckpointStore {
    fn intent_path(&self, id: &CheckpointId) -> PathBuf {
        self.dir().join(format!("{id}.intent.json"))
    }

    /// Whether the folder holds a record or an intent for `id`, or cannot tell.
    pub fn holds(&self, id: &CheckpointId) -> bool {
        [self.path_of(id), self.intent_path(id)]
            .iter()
            .any(|path| match std::fs::symlink_metadata(path) {
                Ok(_) => true,
                Err(e) => e.kind() != std::io::ErrorKind::NotFound,
            })
    }

    /// Records that an upload for `id` is about to be started.
    pub fn save_intent(&self, id: &CheckpointId, intent: &Intent) -> Result<(), CheckpointError> {
        let path = self.intent_path(id);
        let write = AtomicWrite {
            prefix: &format!("{}{id}-", super::store::TEMP_PREFIX),
            suffix: super::store::TEMP_SUFFIX,
            private: false,
        };
        write
            .write_json(&path, intent)
            .map_err(|source| CheckpointError::Io { path, source })
    }

    /// The intent left for `id`, if any. One that cannot be read is treated as absent: it holds
    /// no upload id, and the record or `clean` still finds what it would have.
    pub fn load_intent(&self, id: &CheckpointId) -> Option<Intent> {
        let bytes = std::fs::read(self.intent_path(id)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn delete_intent(&self, id: &CheckpointId) -> Result<(), CheckpointError> {
        let path = self.intent_path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CheckpointError::Io { path, source }),
        }
    }

    /// Every record id with an intent left behind.
    pub fn intents(&self) -> Vec<CheckpointId> {
        let Ok(entries) = std::fs::read_dir(self.dir()) else {
            return Vec::new();
        };
        let mut ids: Vec<CheckpointId> = entries
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".intent.json"))
                    .and_then(CheckpointId::parse)
            })
            .collect();
        ids.sort();
        ids
    }

    /// What can still be read of the record `id` when it cannot be loaded.
    pub fn salvage(&self, id: &CheckpointId) -> Option<Salvaged> {
        let bytes = std::fs::read(self.path_of(id)).ok()?;
        Salvaged::read(&String::from_utf8_lossy(&bytes))
    }
}

/// The fields of a damaged record that say which server upload it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Salvaged {
    pub upload_id: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub connection: Option<Connection>,
}

impl Salvaged {
    /// Reads the fields from the text of a record, however it is damaged: it only looks for
    /// `"name": "value"` pairs, so a record cut off after its upload id still gives it.
    pub fn read(text: &str) -> Option<Self> {
        let upload_id = string_field(text, "upload_id").filter(|u| {
            !u.is_empty()
                && u.len() <= 256
                && u.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })?;
        let endpoint = string_field(text, "endpoint");
        let connection = endpoint.map(|endpoint| Connection {
            endpoint,
            region: string_field(text, "region"),
            signature: match string_field(text, "signature_version").as_deref() {
                Some("v1") => SignatureVersion::V1,
                _ => SignatureVersion::V4,
            },
            path_style: text.contains("\"path_style\": true")
                || text.contains("\"path_style\":true"),
        });
        Some(Self {
            upload_id,
            bucket: string_field(text, "bucket"),
            key: string_field(text, "key"),
            connection,
        })
    }
}

/// The first string value of `"name": "…"` in `text`, JSON escapes undone.
fn string_field(text: &str, name: &str) -> Option<String> {
    let pattern = format!("\"{name}\"");
    let mut rest = text;
    while let Some(at) = rest.find(&pattern) {
        rest = &rest[at + pattern.len()..];
        let after = rest.trim_start();
        let Some(after) = after.strip_prefix(':') else {
            continue;
        };
        let after = after.trim_start();
        let Some(body) = after.strip_prefix('"') else {
            continue;
        };
        // The value ends at the first quote that no backslash escapes.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let raw = &body[..end?];
        return serde_json::from_str::<String>(&format!("\"{raw}\"")).ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_cut_short_still_gives_its_upload() {
        let text = r#"{
  "version": 1,
  "checksum": "ab",
  "checkpoint": {
    "endpoint": "http://127.0.0.1:9000",
    "bucket": "b-1",
    "key": "dir/\"quoted\" name.bin",
    "local_path": "/tmp/x",
    "file_size": 10485760,
    "file_mtime_ns": 1,
    "part_size": 1048576,
    "upload_id": "0004B9894A22E5B1888A1E29F8236E2D",
    "signature_version": "v4",
    "region": "cn-hangzhou",
    "path_style": true,
    "par"#;
        let s = Salvaged::read(text).unwrap();
        assert_eq!(s.upload_id, "0004B9894A22E5B1888A1E29F8236E2D");
        assert_eq!(s.bucket.as_deref(), Some("b-1"));
        assert_eq!(s.key.as_deref(), Some("dir/\"quoted\" name.bin"));
        let c = s.connection.unwrap();
        assert_eq!(c.endpoint, "http://127.0.0.1:9000");
        assert_eq!(c.region.as_deref(), Some("cn-hangzhou"));
        assert!(c.path_style);
    }

    #[test]
    fn without_an_upload_id_there_is_nothing_to_salvage() {
        assert_eq!(
            Salvaged::read(r#"{"version": 1, "checkpoint": {"bucket": "b"#),
            None
        );
        assert_eq!(
            Salvaged::read(r#"{"upload_id": "bad id with spaces"}"#),
            None
        );
        assert_eq!(Salvaged::read(""), None);
    }

    #[test]
    fn intents_are_saved_listed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let id = CheckpointId::parse("00112233445566aa").unwrap();
        let intent = Intent {
            connection: Connection {
                endpoint: "http://127.0.0.1:1".into(),
                region: None,
                signature: SignatureVersion::V4,
                path_style: true,
            },
            bucket: "b".into(),
            key: "k".into(),
            local_path: "/tmp/f".into(),
            started_unix_ms: 5,
        };
        store.save_intent(&id, &intent).unwrap();
        assert_eq!(store.intents(), vec![id.clone()]);
        assert_eq!(store.load_intent(&id), Some(intent));
        // An intent is not a record.
        assert!(store.list().unwrap().is_empty());
        store.delete_intent(&id).unwrap();
        assert!(store.intents().is_empty());
    }
}
