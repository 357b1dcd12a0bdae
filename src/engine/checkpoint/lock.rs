//! One run at a time for each upload: a run holds an OS file lock on `<id>.lock` beside the
//! record while it works on it, so a second run (a second `resume --all`, or `upload` while the
//! window uploads the same file) cannot send the same parts again or delete a record in use.
//! The operating system releases the lock when the process ends, however it ends, so a crash
//! never leaves a record locked. The lock file says who holds it, for the message the second
//! run gives. A run that sends a file whole, with no record or intent there for it, takes no
//! lock: it has no record to guard (see `upload::Claim`).

use std::fs::{File, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::PathBuf;

use super::store::{TEMP_PREFIX, TEMP_SUFFIX};
use super::{CheckpointError, CheckpointId, CheckpointStore};

/// Held while a run owns a record; dropping it removes the lock file and releases the lock.
#[derive(Debug)]
pub struct RecordLock {
    file: File,
    path: PathBuf,
}

impl CheckpointStore {
    /// Takes the lock on the record `id` for this process, described as `holder` to anyone who
    /// finds it taken ([`CheckpointError::Busy`]). Temporary files a killed run of this record
    /// left behind are removed once the lock is ours: only the lock's holder writes them.
    pub fn lock(&self, id: &CheckpointId, holder: &str) -> Result<RecordLock, CheckpointError> {
        let path = self.dir().join(format!("{id}.lock"));
        let io_err = |source| CheckpointError::Io {
            path: path.clone(),
            source,
        };
        loop {
            let mut file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_err)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    return Err(CheckpointError::Busy {
                        id: id.clone(),
                        holder: holder.trim().to_owned(),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io_err(e)),
            }
            // The last holder removes the file before it lets go: a lock taken on a file that
            // is no longer at `path` guards nothing, so open the new one and try again.
            if !still_at(&file, &path) {
                continue;
            }
            file.set_len(0).map_err(io_err)?;
            file.seek(SeekFrom::Start(0)).map_err(io_err)?;
            file.write_all(holder.as_bytes()).map_err(io_err)?;
            self.remove_temporaries_of(id);
            return Ok(RecordLock { file, path });
        }
    }

    fn remove_temporaries_of(&self, id: &CheckpointId) {
        let prefix = format!("{TEMP_PREFIX}{id}-");
        let Ok(entries) = std::fs::read_dir(self.dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(TEMP_SUFFIX))
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

impl Drop for RecordLock {
    fn drop(&mut self) {
        // Removed while still locked, so nobody can lock this file and believe it is current.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

#[cfg(unix)]
fn still_at(file: &File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Windows does not let a file that is open be removed, so the file at `path` is ours.
#[cfg(not(unix))]
fn still_at(_file: &File, path: &std::path::Path) -> bool {
    path.exists()
}

/// How this process names itself in a lock file: its id, what it is and since when.
pub fn holder_description(what: &str) -> String {
    let since = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!("process {} ({what}), since {since}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> CheckpointId {
        CheckpointId::parse("0123456789abcdef").unwrap()
    }

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let held = store.lock(&id(), "process 1 (the window)").unwrap();
        match store.lock(&id(), "process 2 (resume)") {
            Err(CheckpointError::Busy { holder, .. }) => {
                assert_eq!(holder, "process 1 (the window)")
            }
            other => panic!("{other:?}"),
        }
        drop(held);
        let again = store.lock(&id(), "process 2 (resume)").unwrap();
        drop(again);
        assert!(
            !store.dir().join(format!("{}.lock", id())).exists(),
            "the lock file goes with its holder"
        );
    }

    #[test]
    fn the_holder_clears_temporaries_a_killed_run_left() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let mine = store
            .dir()
            .join(format!("{TEMP_PREFIX}{}-Ab12Cd{TEMP_SUFFIX}", id()));
        let other = store
            .dir()
            .join(format!("{TEMP_PREFIX}fedcba9876543210-Ab12Cd{TEMP_SUFFIX}"));
        std::fs::write(&mine, b"{").unwrap();
        std::fs::write(&other, b"{").unwrap();
        let _held = store.lock(&id(), "me").unwrap();
        assert!(!mine.exists());
        assert!(
            other.exists(),
            "another record's temporary is not ours to remove"
        );
    }
}
