//! Resume records: one JSON file per unfinished multipart upload, under
//! `<data dir>/checkpoints/<id>.json`, holding everything needed to carry on after a crash, a
//! reboot or a lost network — and nothing secret (no AccessKey secret, no STS token: those stay in
//! the credential store and are asked for again).
//!
//! Why the file can be trusted after a crash:
//! - It is written atomically: a temporary file in the same folder is written, flushed to disk,
//!   renamed over the old record, and on Unix the folder itself is flushed so the rename survives
//!   a power cut. A reader sees the old record or the new one, never half of one; a leftover
//!   temporary file from a crash is ignored.
//! - It carries a SHA-256 checksum of its contents, so a record damaged by a disk fault or edited
//!   by hand is reported as damaged rather than trusted.
//! - Loading checks the record is consistent with its own part plan, so it never steers an
//!   upload to send parts of the wrong size.
//!
//! The file is `{"version": 1, "checksum": "<hex>", "checkpoint": {…}}`. The checksum is the
//! SHA-256 of the *canonical* form of the `checkpoint` value: compact `serde_json` output of
//! [`Checkpoint`], fields in declaration order, metadata keys sorted. The file itself is
//! pretty-printed for whoever has to read it while helping a user.
//!
//! The id is a hash of (endpoint, bucket, key, absolute local path), so uploading the same file to
//! the same place finds its record again, and two different uploads never share one. The engine
//! should be the only writer of a given record at a time: concurrent saves still leave a valid
//! file, but the last rename wins.

mod intent;
mod lock;
mod store;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::plan::{PlanError, UploadPlan};
use crate::oss::limits;
use crate::oss::sign::SignatureVersion;
pub use intent::{Intent, Salvaged};
pub use lock::{RecordLock, holder_description};
pub use store::{CheckpointStore, ListedCheckpoint, WRITTEN_BY};

/// The format version this program writes. Version 2 added the file's identity (`file_id`);
/// version 1 records, which lack it, are read as before.
pub const CHECKPOINT_VERSION: u64 = 2;
/// The oldest format this program reads.
pub const OLDEST_CHECKPOINT_VERSION: u64 = 1;
/// Hex digits of SHA-256 kept in an id: 64 bits, ample for the uploads of one user.
const ID_HEX_LEN: usize = 16;

/// The name of one resume record: 16 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckpointId(String);

impl CheckpointId {
    /// The id of the upload of `local_path` to `key` in `bucket` at `endpoint`. Each field is
    /// length-prefixed before hashing so that ("ab", "c") and ("a", "bc") differ.
    pub fn for_upload(endpoint: &str, bucket: &str, key: &str, local_path: &Path) -> Self {
        let mut hasher = Sha256::new();
        for field in [
            endpoint.as_bytes(),
            bucket.as_bytes(),
            key.as_bytes(),
            &path_id_bytes(local_path),
        ] {
            hasher.update((field.len() as u64).to_le_bytes());
            hasher.update(field);
        }
        let mut hex = hex_lower(&hasher.finalize());
        hex.truncate(ID_HEX_LEN);
        Self(hex)
    }

    /// Accepts only what [`CheckpointId::for_upload`] produces, so a stray file name or a path
    /// like `../x` can never be taken for an id.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == ID_HEX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn file_name(&self) -> String {
        format!("{}.json", self.0)
    }
}

impl fmt::Display for CheckpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A part OSS has confirmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishedPart {
    pub number: u32,
    pub size: u64,
    /// As OSS returned it, quotes included.
    pub etag: String,
    /// The part's CRC-64 (`x-oss-hash-crc64ecma`), checked when the part was sent; combined
    /// into the whole object's CRC at the end without re-reading the file.
    pub crc64: u64,
    /// The server gave no CRC-64 and its ETag is not an MD5, but it accepted the part with a
    /// `Content-MD5`, which it checks: the one proof for such a part when Complete gives no
    /// CRC-64 either. Absent in records of earlier versions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub md5_checked: bool,
}

/// Options that shape the object and must be the same after a resume: the client's own type,
/// so the checkpoint stores exactly what is sent.
pub use crate::oss::client::ObjectOptions;

/// Everything needed to resume one multipart upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub endpoint: String,
    pub bucket: String,
    pub key: String,
    /// Absolute.
    #[serde(with = "stored_path")]
    pub local_path: PathBuf,
    pub file_size: u64,
    /// Modification time of the file when the upload began, in nanoseconds since 1970.
    pub file_mtime_ns: i64,
    /// Which file it was and when its inode last changed (absent in records written before
    /// this was kept, and on systems that do not say). Left out of the file when absent, so
    /// such records keep their checksum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<FileId>,
    pub part_size: u64,
    pub upload_id: String,
    pub signature_version: SignatureVersion,
    /// The V4 signing region, when it was set rather than derived from the endpoint.
    pub region: Option<String>,
    pub path_style: bool,
    /// Ascending by number, no duplicates.
    pub parts: Vec<FinishedPart>,
    pub options: ObjectOptions,
    /// Milliseconds since 1970.
    pub created_unix_ms: i64,
    pub updated_unix_ms: i64,
}

/// What tells us a local file has not changed since its upload began. Size and modification
/// time are what every official OSS tool checks, but `touch -d` sets the time back after an
/// edit in place; the file's identity (device and inode) and its change time, which no user
/// call can set back, catch that and a file replaced under the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub id: Option<FileId>,
}

/// Which file this is on its file system, and when its inode last changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    /// Nanoseconds since 1970.
    pub ctime_ns: i64,
}

impl FileId {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        Some(Self {
            dev: meta.dev(),
            ino: meta.ino(),
            ctime_ns: meta
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.ctime_nsec()),
        })
    }

    /// Elsewhere std gives no stable file id or change time yet: size and time must do.
    #[cfg(not(unix))]
    fn of(_meta: &std::fs::Metadata) -> Option<Self> {
        None
    }
}

impl FileStamp {
    pub fn of(path: &Path) -> io::Result<Self> {
        Self::from_metadata(&std::fs::metadata(path)?)
    }

    pub fn from_metadata(meta: &std::fs::Metadata) -> io::Result<Self> {
        Ok(Self {
            size: meta.len(),
            mtime_ns: unix_ns(meta.modified()?),
            id: FileId::of(meta),
        })
    }
}

/// Whether the local file is still the one the upload started with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileCheck {
    Unchanged,
    Changed { what: Vec<FileChange> },
    Missing,
}

/// One way a local file differs from when its upload began.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileChange {
    Size {
        was: u64,
        now: u64,
    },
    Modified {
        was_ns: i64,
        now_ns: i64,
    },
    /// Another file now has this name (moved, replaced, restored from a backup).
    Replaced,
    /// Same file, same size and time, but its inode changed since: written to with the
    /// modification time set back, or its permissions changed.
    Rewritten,
    NotAFile,
}

impl fmt::Display for FileChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Size { was, now } => write!(f, "its size changed from {was} to {now} bytes"),
            Self::Modified { .. } => f.write_str("it was modified after the upload began"),
            Self::Replaced => f.write_str("another file has taken its place"),
            Self::Rewritten => f.write_str(
                "it was changed after the upload began (its modification time was kept or set back, or its permissions changed)",
            ),
            Self::NotAFile => f.write_str("it is no longer a regular file"),
        }
    }
}

/// Why a resume record cannot be read, written or used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("There is no resume record {id}.")]
    NotFound { id: CheckpointId },
    #[error("The resume record {} is damaged and cannot be used: {reason}.", path.display())]
    Damaged { path: PathBuf, reason: String },
    #[error(
        "The resume record {} was written by another version of oss-uploader (format {found}; \
         this version reads format {CHECKPOINT_VERSION}) and cannot be used.",
        path.display()
    )]
    UnsupportedVersion { path: PathBuf, found: u64 },
    #[error(
        "The resume record {} was written by {written_by} in a newer format (format {found}; \
         this version reads format {CHECKPOINT_VERSION}). It is left as it is: continue this upload \
         with {written_by} or a later version.",
        path.display()
    )]
    Newer {
        path: PathBuf,
        found: u64,
        written_by: String,
    },
    #[error(
        "Another oss-uploader is working on this upload right now ({holder}); it is left to that one."
    )]
    Busy { id: CheckpointId, holder: String },
    #[error(
        "The resume record for {} cannot be saved because it is inconsistent: {reason}. This is \
         a bug in oss-uploader; please report it.",
        key
    )]
    Invalid { key: String, reason: String },
    #[error(
        "Could not read or write {}: {source}. Check that the disk is available and that you may \
         write to this folder.",
        path.display()
    )]
    Io { path: PathBuf, source: io::Error },
}

impl Checkpoint {
    pub fn id(&self) -> CheckpointId {
        CheckpointId::for_upload(&self.endpoint, &self.bucket, &self.key, &self.local_path)
    }

    /// The part plan this upload follows.
    pub fn plan(&self) -> Result<UploadPlan, PlanError> {
        UploadPlan::new(self.file_size, self.part_size)
    }

    /// Records a confirmed part, replacing an earlier record of the same number: OSS keeps only
    /// the last upload of a part number, and so must we.
    pub fn record_part(&mut self, part: FinishedPart) {
        match self.parts.binary_search_by_key(&part.number, |p| p.number) {
            Ok(i) => self.parts[i] = part,
            Err(i) => self.parts.insert(i, part),
        }
    }

    pub fn part(&self, number: u32) -> Option<&FinishedPart> {
        self.parts
            .binary_search_by_key(&number, |p| p.number)
            .ok()
            .map(|i| &self.parts[i])
    }

    /// Bytes OSS has confirmed.
    pub fn bytes_done(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum()
    }

    /// Sets the last-updated time.
    pub fn touch(&mut self, now: SystemTime) {
        self.updated_unix_ms = unix_ms(now);
    }

    /// Compares the file at `path` with the size and modification time recorded when the upload
    /// began. Any difference means the parts already sent may not match the file any more.
    pub fn file_matches(&self, path: &Path) -> Result<FileCheck, CheckpointError> {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FileCheck::Missing),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        if !meta.is_file() {
            return Ok(FileCheck::Changed {
                what: vec![FileChange::NotAFile],
            });
        }
        let now = FileStamp::from_metadata(&meta).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(self.compare(&now))
    }

    /// The stamp the file had when this upload began.
    pub fn stamp(&self) -> FileStamp {
        FileStamp {
            size: self.file_size,
            mtime_ns: self.file_mtime_ns,
            id: self.file_id,
        }
    }

    /// How `now` differs from the file as it was when the upload began.
    pub fn compare(&self, now: &FileStamp) -> FileCheck {
        let mut what = Vec::new();
        if now.size != self.file_size {
            what.push(FileChange::Size {
                was: self.file_size,
                now: now.size,
            });
        }
        if now.mtime_ns != self.file_mtime_ns {
            what.push(FileChange::Modified {
                was_ns: self.file_mtime_ns,
                now_ns: now.mtime_ns,
            });
        }
        // A record from before identities were kept has none: size and time decide alone.
        if let (Some(was), Some(is)) = (self.file_id, now.id) {
            if (was.dev, was.ino) != (is.dev, is.ino) {
                what.push(FileChange::Replaced);
            } else if was.ctime_ns != is.ctime_ns && what.is_empty() {
                // Any change of size or time changes the inode's time too: this says more
                // only when nothing else shows.
                what.push(FileChange::Rewritten);
            }
        }
        if what.is_empty() {
            FileCheck::Unchanged
        } else {
            FileCheck::Changed { what }
        }
    }

    /// Checks the record against its own plan, so a wrong record is caught before it steers an
    /// upload.
    fn validate(&self) -> Result<(), String> {
        if self.upload_id.is_empty() {
            return Err("it has no upload id".into());
        }
        if self.bucket.is_empty() || self.key.is_empty() || self.endpoint.is_empty() {
            return Err("it does not say where the file goes".into());
        }
        limits::validate_part_size(self.part_size).map_err(|e| e.to_string())?;
        let plan = self.plan().map_err(|e| e.to_string())?;
        if plan.part_size() != self.part_size || !plan.is_multipart() {
            return Err(format!(
                "a {} byte file with {} byte parts is not a multipart upload",
                self.file_size, self.part_size
            ));
        }
        let mut previous = 0;
        for part in &self.parts {
            if part.number <= previous {
                return Err(format!("part {} is out of order or repeated", part.number));
            }
            previous = part.number;
            let Some(range) = plan.part(part.number) else {
                return Err(format!(
                    "part {} is beyond the end of the file",
                    part.number
                ));
            };
            if range.len != part.size {
                return Err(format!(
                    "part {} is recorded as {} bytes but the plan says {}",
                    part.number, part.size, range.len
                ));
            }
            if part.etag.is_empty() {
                return Err(format!("part {} has no ETag", part.number));
            }
        }
        Ok(())
    }
}

/// Nanoseconds since 1970 (negative before), saturating outside the years 1677–2262.
pub fn unix_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// Milliseconds since 1970 (negative before).
pub fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |n| -n),
    }
}

/// The bytes that identify a path in an id: its text when it is valid Unicode, else its raw
/// platform form, tagged so the two can never collide.
fn path_id_bytes(path: &Path) -> Vec<u8> {
    match stored_path::StoredPath::from(path) {
        stored_path::StoredPath::Text(s) => [b"t".as_slice(), s.as_bytes()].concat(),
        stored_path::StoredPath::UnixBytes { unix_bytes } => {
            [b"u".as_slice(), &unix_bytes].concat()
        }
        stored_path::StoredPath::WindowsWide { windows_wide } => {
            let mut out = b"w".to_vec();
            out.extend(windows_wide.iter().flat_map(|u| u.to_le_bytes()));
            out
        }
    }
}

/// Paths as JSON without losing any: plain text when the path is valid Unicode (nearly always),
/// else the raw bytes (Unix) or UTF-16 units (Windows), so even a file with an oddly encoded name
/// can be resumed.
mod stored_path {
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    pub(super) enum StoredPath {
        Text(String),
        UnixBytes { unix_bytes: Vec<u8> },
        WindowsWide { windows_wide: Vec<u16> },
    }

    impl From<&Path> for StoredPath {
        fn from(path: &Path) -> Self {
            if let Some(s) = path.to_str() {
                return Self::Text(s.to_owned());
            }
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStrExt;
                Self::UnixBytes {
                    unix_bytes: path.as_os_str().as_bytes().to_vec(),
                }
            }
            #[cfg(windows)]
            {
                use std::os::windows::ffi::OsStrExt;
                Self::WindowsWide {
                    windows_wide: path.as_os_str().encode_wide().collect(),
                }
            }
            #[cfg(not(any(unix, windows)))]
            {
                Self::Text(path.to_string_lossy().into_owned())
            }
        }
    }

    pub(super) fn serialize<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        StoredPath::from(path).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        match StoredPath::deserialize(d)? {
            StoredPath::Text(s) => Ok(PathBuf::from(s)),
            #[cfg(unix)]
            StoredPath::UnixBytes { unix_bytes } => {
                use std::os::unix::ffi::OsStringExt;
                Ok(PathBuf::from(std::ffi::OsString::from_vec(unix_bytes)))
            }
            #[cfg(windows)]
            StoredPath::WindowsWide { windows_wide } => {
                use std::os::windows::ffi::OsStringExt;
                Ok(PathBuf::from(std::ffi::OsString::from_wide(&windows_wide)))
            }
            #[allow(unreachable_patterns)]
            _ => Err(serde::de::Error::custom(
                "the file path was recorded on another kind of system",
            )),
        }
    }
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests;
