//! The one way this program replaces a file it owns (the queue, checkpoints, settings, the
//! secret file): write a temporary file beside it, flush it to disk, rename it over the old one,
//! then flush the folder. A crash or power cut at any moment leaves either the old file or the
//! new one, never a mix or an empty file.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How the temporary file is named and who may read the result.
#[derive(Clone, Copy, Debug)]
pub struct AtomicWrite<'a> {
    /// The temporary file's name starts with this (so stale ones can be recognised).
    pub prefix: &'a str,
    /// …and ends with this.
    pub suffix: &'a str,
    /// Only the owner may read the file or list its folder (Unix: 0600 file, 0700 folder).
    pub private: bool,
}

impl Default for AtomicWrite<'_> {
    fn default() -> Self {
        Self {
            prefix: ".tmp",
            suffix: "",
            private: false,
        }
    }
}

impl AtomicWrite<'_> {
    /// Replaces `path` with what `fill` writes. The folder is created when missing.
    pub fn write(
        &self,
        path: &Path,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let dir = parent_of(path);
        if self.private {
            create_private_dir(&dir)?;
        } else {
            std::fs::create_dir_all(&dir)?;
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix(self.prefix).suffix(self.suffix);
        #[cfg(unix)]
        if self.private {
            use std::os::unix::fs::PermissionsExt as _;
            builder.permissions(std::fs::Permissions::from_mode(0o600));
        }
        let tmp = builder.tempfile_in(&dir)?;
        // Buffered: serde_json writes each token on its own, and a queue of 100,000 jobs was
        // millions of write calls (11 s to close the window) instead of a few thousand.
        let mut out = io::BufWriter::new(tmp);
        fill(&mut out)?;
        let tmp = out.into_inner().map_err(|e| e.into_error())?;
        // Data must be on disk before the rename makes it the file, or a power cut could leave
        // a renamed but empty file.
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        // The rename itself must reach the disk, or a power cut could bring back the old file.
        sync_dir(&dir)
    }

    /// Replaces `path` with `value` as JSON.
    pub fn write_json<T: serde::Serialize + ?Sized>(
        &self,
        path: &Path,
        value: &T,
    ) -> io::Result<()> {
        self.write(path, |out| {
            serde_json::to_writer(out, value).map_err(io::Error::other)
        })
    }
}

/// Replaces `path` with `value` as JSON, readable as the folder allows.
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> io::Result<()> {
    AtomicWrite::default().write_json(path, value)
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Flushes a folder's entries (a rename or delete in it) to disk.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Windows cannot open a folder as a file to flush it; NTFS journals the rename itself.
#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // An older or hand-made folder may be wider than 0700.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Elsewhere the file inherits the ACL of the user's own data folder.
#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/q.json");
        write_json(&path, &[1, 2, 3]).unwrap();
        write_json(&path, &[4]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[4]");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["q.json"]);
    }

    #[test]
    fn a_failed_fill_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_json(&path, "old").unwrap();
        let e = AtomicWrite::default()
            .write(&path, |_| Err(io::Error::other("full")))
            .unwrap_err();
        assert_eq!(e.to_string(), "full");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "\"old\"");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_for_the_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("secret");
        let path = folder.join("s.json");
        let private = AtomicWrite {
            private: true,
            ..Default::default()
        };
        private.write_json(&path, "x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&folder), 0o700);
    }
}
