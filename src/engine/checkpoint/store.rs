//! The folder of resume records and the file format: atomic saves, the checksummed envelope,
//! loading with every check, listing and deleting.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{
    CHECKPOINT_VERSION, Checkpoint, CheckpointError, CheckpointId, OLDEST_CHECKPOINT_VERSION,
    hex_lower,
};
use crate::atomic_file::{AtomicWrite, sync_dir};
use crate::engine::paths::CHECKPOINTS_DIR;

/// A temporary file this old was left by a run that was killed while saving (a live save takes
/// milliseconds); a new run of the same record removes its own at once (see `lock`).
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Records larger than this are refused unread: 10,000 parts take about 2 MB, so anything this
/// big is not ours.
const MAX_RECORD_BYTES: u64 = 32 * 1024 * 1024;
pub(super) const TEMP_PREFIX: &str = ".checkpoint-";
pub(super) const TEMP_SUFFIX: &str = ".tmp";

/// One entry of [`CheckpointStore::list`]: a record's id and what loading it gave.
pub type ListedCheckpoint = (CheckpointId, Result<Checkpoint, CheckpointError>);

/// The folder of resume records.
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    dir: PathBuf,
}

impl CheckpointStore {
    /// Opens `<data_dir>/checkpoints`, creating it when missing.
    pub fn open(data_dir: &Path) -> Result<Self, CheckpointError> {
        let dir = data_dir.join(CHECKPOINTS_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| CheckpointError::Io {
            path: dir.clone(),
            source,
        })?;
        let store = Self { dir };
        store.remove_stale_temporaries();
        Ok(store)
    }

    /// Removes temporary files that killed runs left behind long ago.
    fn remove_stale_temporaries(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let ours = name
                .to_str()
                .is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX));
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_TEMPORARY));
            if ours && stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the record with this id lives.
    pub fn path_of(&self, id: &CheckpointId) -> PathBuf {
        self.dir.join(id.file_name())
    }

    /// Writes the record atomically, replacing any earlier version, and returns its id.
    pub fn save(&self, checkpoint: &Checkpoint) -> Result<CheckpointId, CheckpointError> {
        checkpoint
            .validate()
            .map_err(|reason| CheckpointError::Invalid {
                key: checkpoint.key.clone(),
                reason,
            })?;
        let id = checkpoint.id();
        let path = self.path_of(&id);
        let io_err = |source| CheckpointError::Io {
            path: path.clone(),
            source,
        };
        let bytes = encode(checkpoint).map_err(io_err)?;
        // Named after the record, so the next holder of its lock can tell its leftovers.
        let write = AtomicWrite {
            prefix: &format!("{TEMP_PREFIX}{id}-"),
            suffix: TEMP_SUFFIX,
            private: false,
        };
        write
            .write(&path, |out| out.write_all(&bytes))
            .map_err(io_err)?;
        Ok(id)
    }

    /// Reads and checks one record.
    pub fn load(&self, id: &CheckpointId) -> Result<Checkpoint, CheckpointError> {
        let path = self.path_of(id);
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CheckpointError::NotFound { id: id.clone() });
            }
            Err(source) => return Err(CheckpointError::Io { path, source }),
        };
        let mut bytes = Vec::new();
        file.take(MAX_RECORD_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| CheckpointError::Io {
                path: path.clone(),
                source,
            })?;
        if bytes.len() as u64 > MAX_RECORD_BYTES {
            return Err(CheckpointError::Damaged {
                path,
                reason: "the file is far too large".into(),
            });
        }
        let checkpoint = decode(&bytes, &path)?;
        if checkpoint.id() != *id {
            return Err(CheckpointError::Damaged {
                path,
                reason: "it describes a different upload than its file name says".into(),
            });
        }
        Ok(checkpoint)
    }

    /// Removes a record. Removing one that is already gone is not an error: finishing an upload
    /// twice (say, after a crash right after the first removal) must not fail.
    pub fn delete(&self, id: &CheckpointId) -> Result<(), CheckpointError> {
        let path = self.path_of(id);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        }
        sync_dir(&self.dir).map_err(|source| CheckpointError::Io {
            path: self.dir.clone(),
            source,
        })
    }

    /// Every record in the folder with the result of loading it, sorted by id. Damaged records
    /// are listed with their error rather than hidden, so the user can be told; files that are
    /// not records (leftover temporary files, anything else) are skipped.
    pub fn list(&self) -> Result<Vec<ListedCheckpoint>, CheckpointError> {
        let io_err = |source| CheckpointError::Io {
            path: self.dir.clone(),
            source,
        };
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_err)? {
            let name = entry.map_err(io_err)?.file_name();
            let id = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(CheckpointId::parse);
            ids.extend(id);
        }
        ids.sort();
        Ok(ids
            .into_iter()
            .map(|id| {
                let loaded = self.load(&id);
                (id, loaded)
            })
            .collect())
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    version: u64,
    /// Which program wrote it, so a version that cannot read it can say which can.
    written_by: &'a str,
    checksum: String,
    checkpoint: &'a Checkpoint,
}

/// This program as it names itself in the records it writes.
pub const WRITTEN_BY: &str = concat!("oss-uploader ", env!("CARGO_PKG_VERSION"));

pub(super) fn canonical(checkpoint: &Checkpoint) -> io::Result<Vec<u8>> {
    serde_json::to_vec(checkpoint).map_err(io::Error::other)
}

pub(super) fn checksum(canonical: &[u8]) -> String {
    hex_lower(&Sha256::digest(canonical))
}

fn encode(checkpoint: &Checkpoint) -> io::Result<Vec<u8>> {
    let checksum = checksum(&canonical(checkpoint)?);
    let mut bytes = serde_json::to_vec_pretty(&Envelope {
        version: CHECKPOINT_VERSION,
        written_by: WRITTEN_BY,
        checksum,
        checkpoint,
    })
    .map_err(io::Error::other)?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn decode(bytes: &[u8], path: &Path) -> Result<Checkpoint, CheckpointError> {
    let damaged = |reason: String| CheckpointError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| damaged(format!("it is not valid JSON ({e})")))?;
    // The version is read first and on its own: a newer format may differ in every other field.
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| damaged("it has no format version".into()))?;
    if version > CHECKPOINT_VERSION {
        // Not ours to judge, let alone discard: the newer program that wrote it can resume it.
        return Err(CheckpointError::Newer {
            path: path.to_path_buf(),
            found: version,
            written_by: value
                .get("written_by")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("a newer oss-uploader")
                .to_owned(),
        });
    }
    if version < OLDEST_CHECKPOINT_VERSION {
        return Err(CheckpointError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
        });
    }
    let expected = value
        .get("checksum")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| damaged("it has no checksum".into()))?
        .to_owned();
    let body = value
        .get_mut("checkpoint")
        .map(serde_json::Value::take)
        .ok_or_else(|| damaged("it has no upload details".into()))?;
    let checkpoint: Checkpoint = serde_json::from_value(body)
        .map_err(|e| damaged(format!("its upload details are unreadable ({e})")))?;
    let actual = checksum(&canonical(&checkpoint).map_err(|e| damaged(e.to_string()))?);
    if actual != expected {
        return Err(damaged("its checksum does not match its contents".into()));
    }
    checkpoint.validate().map_err(damaged)?;
    Ok(checkpoint)
}
