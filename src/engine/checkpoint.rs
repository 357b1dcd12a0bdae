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

use std::fmt;
use std::io::{self, Read};

use crate::atomic_file::{AtomicWrite, sync_dir};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::paths::CHECKPOINTS_DIR;
use crate::engine::plan::{PlanError, UploadPlan};
use crate::oss::limits;
use crate::oss::sign::SignatureVersion;

/// The format version this program writes and reads.
pub const CHECKPOINT_VERSION: u64 = 1;
/// Records larger than this are refused unread: 10,000 parts take about 2 MB, so anything this
/// big is not ours.
const MAX_RECORD_BYTES: u64 = 32 * 1024 * 1024;
/// Hex digits of SHA-256 kept in an id: 64 bits, ample for the uploads of one user.
const ID_HEX_LEN: usize = 16;
const TEMP_PREFIX: &str = ".checkpoint-";
const TEMP_SUFFIX: &str = ".tmp";

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

/// Size and modification time of a local file: what tells us it has not changed since an upload
/// began, as every official OSS tool checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i64,
}

impl FileStamp {
    pub fn of(path: &Path) -> io::Result<Self> {
        Self::from_metadata(&std::fs::metadata(path)?)
    }

    pub fn from_metadata(meta: &std::fs::Metadata) -> io::Result<Self> {
        Ok(Self {
            size: meta.len(),
            mtime_ns: unix_ns(meta.modified()?),
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
    Size { was: u64, now: u64 },
    Modified { was_ns: i64, now_ns: i64 },
    NotAFile,
}

impl fmt::Display for FileChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Size { was, now } => write!(f, "its size changed from {was} to {now} bytes"),
            Self::Modified { .. } => f.write_str("it was modified after the upload began"),
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
        Ok(if what.is_empty() {
            FileCheck::Unchanged
        } else {
            FileCheck::Changed { what }
        })
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
        Ok(Self { dir })
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
        let write = AtomicWrite {
            prefix: TEMP_PREFIX,
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
    checksum: String,
    checkpoint: &'a Checkpoint,
}

fn canonical(checkpoint: &Checkpoint) -> io::Result<Vec<u8>> {
    serde_json::to_vec(checkpoint).map_err(io::Error::other)
}

fn checksum(canonical: &[u8]) -> String {
    hex_lower(&Sha256::digest(canonical))
}

fn encode(checkpoint: &Checkpoint) -> io::Result<Vec<u8>> {
    let checksum = checksum(&canonical(checkpoint)?);
    let mut bytes = serde_json::to_vec_pretty(&Envelope {
        version: CHECKPOINT_VERSION,
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
    if version != CHECKPOINT_VERSION {
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

fn hex_lower(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oss::limits::MIB;
    use std::collections::BTreeMap;

    fn sample(local_path: &Path) -> Checkpoint {
        let mut metadata = BTreeMap::new();
        metadata.insert("author".to_owned(), "小明".to_owned());
        metadata.insert("project".to_owned(), "q3".to_owned());
        Checkpoint {
            endpoint: "oss-cn-hangzhou.aliyuncs.com".into(),
            bucket: "photos".into(),
            key: "2024/旅行/video.mp4".into(),
            local_path: local_path.to_path_buf(),
            file_size: 20 * MIB + 7,
            file_mtime_ns: 1_700_000_000_123_456_789,
            part_size: 8 * MIB,
            upload_id: "0004B9894A22E5B1888A1E29F823****".into(),
            signature_version: SignatureVersion::V4,
            region: Some("cn-hangzhou".into()),
            path_style: false,
            parts: vec![
                FinishedPart {
                    number: 1,
                    size: 8 * MIB,
                    etag: "\"A1\"".into(),
                    crc64: 11_051_210_869_376_104_954,
                },
                FinishedPart {
                    number: 3,
                    size: 4 * MIB + 7,
                    etag: "\"C3\"".into(),
                    crc64: 7,
                },
            ],
            options: ObjectOptions {
                content_type: Some("video/mp4".into()),
                acl: Some("private".into()),
                storage_class: Some("IA".into()),
                metadata,
                callback: Some("eyJjYWxsYmFja1VybCI6Imh0dHA6Ly9leGFtcGxlLmNvbSJ9".into()),
                callback_var: Some("eyJ4OnYiOiIxIn0=".into()),
                forbid_overwrite: true,
            },
            created_unix_ms: 1_700_000_000_000,
            updated_unix_ms: 1_700_000_100_000,
        }
    }

    fn store() -> (tempfile::TempDir, CheckpointStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(tmp.path()).unwrap();
        (tmp, store)
    }

    #[test]
    fn round_trip() {
        let (tmp, store) = store();
        assert_eq!(store.dir(), tmp.path().join("checkpoints"));
        let cp = sample(Path::new("/home/u/video.mp4"));
        let id = store.save(&cp).unwrap();
        assert_eq!(id, cp.id());
        assert!(
            tmp.path()
                .join("checkpoints")
                .join(format!("{id}.json"))
                .is_file()
        );
        assert_eq!(store.load(&id).unwrap(), cp);
    }

    #[test]
    fn id_is_stable_and_tells_uploads_apart() {
        let path = Path::new("/home/u/video.mp4");
        let id = CheckpointId::for_upload("oss-cn-hangzhou.aliyuncs.com", "photos", "a.mp4", path);
        // Pinned: changing how ids are made would orphan every record users already have.
        assert_eq!(id.as_str(), "c796ace427e93b17");
        assert_eq!(CheckpointId::parse(id.as_str()), Some(id.clone()));
        let others = [
            CheckpointId::for_upload("oss-cn-beijing.aliyuncs.com", "photos", "a.mp4", path),
            CheckpointId::for_upload("oss-cn-hangzhou.aliyuncs.com", "photo", "sa.mp4", path),
            CheckpointId::for_upload("oss-cn-hangzhou.aliyuncs.com", "photos", "b.mp4", path),
            CheckpointId::for_upload(
                "oss-cn-hangzhou.aliyuncs.com",
                "photos",
                "a.mp4",
                Path::new("/home/u/v.mp4"),
            ),
        ];
        for other in others {
            assert_ne!(other, id);
        }
        for bad in [
            "",
            "C796ACE427E93B17",
            "c796ace427e93b1",
            "../../etc/passwd",
            "c796ace427e93b1g",
        ] {
            assert_eq!(CheckpointId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn tampered_record_is_damaged() {
        let (_tmp, store) = store();
        let id = store.save(&sample(Path::new("/f"))).unwrap();
        let path = store.path_of(&id);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\\\"C3\\\""));
        std::fs::write(&path, text.replace("\\\"C3\\\"", "\\\"C4\\\"")).unwrap();
        let err = store.load(&id).unwrap_err();
        let CheckpointError::Damaged { reason, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(reason.contains("checksum"), "{reason}");
    }

    #[test]
    fn truncated_record_is_damaged() {
        let (_tmp, store) = store();
        let id = store.save(&sample(Path::new("/f"))).unwrap();
        let path = store.path_of(&id);
        let bytes = std::fs::read(&path).unwrap();
        for len in [0, 1, bytes.len() / 2, bytes.len() - 3] {
            std::fs::write(&path, &bytes[..len]).unwrap();
            let err = store.load(&id).unwrap_err();
            assert!(
                matches!(err, CheckpointError::Damaged { .. }),
                "{len}: {err:?}"
            );
        }
    }

    #[test]
    fn other_version_is_reported_as_such() {
        let (_tmp, store) = store();
        let id = store.save(&sample(Path::new("/f"))).unwrap();
        let path = store.path_of(&id);
        let mut value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        value["version"] = 99.into();
        std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
        let err = store.load(&id).unwrap_err();
        assert!(
            matches!(err, CheckpointError::UnsupportedVersion { found: 99, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("another version"), "{err}");

        value.as_object_mut().unwrap().remove("version");
        std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
        assert!(matches!(
            store.load(&id),
            Err(CheckpointError::Damaged { .. })
        ));
    }

    #[test]
    fn missing_record_is_not_found_and_delete_is_idempotent() {
        let (_tmp, store) = store();
        let cp = sample(Path::new("/f"));
        let id = cp.id();
        assert!(matches!(
            store.load(&id),
            Err(CheckpointError::NotFound { .. })
        ));
        store.save(&cp).unwrap();
        store.delete(&id).unwrap();
        assert!(matches!(
            store.load(&id),
            Err(CheckpointError::NotFound { .. })
        ));
        store.delete(&id).unwrap();
    }

    #[test]
    fn record_under_another_name_is_damaged() {
        let (_tmp, store) = store();
        let id = store.save(&sample(Path::new("/f"))).unwrap();
        let other = sample(Path::new("/g")).id();
        std::fs::copy(store.path_of(&id), store.path_of(&other)).unwrap();
        assert!(matches!(
            store.load(&other),
            Err(CheckpointError::Damaged { .. })
        ));
    }

    #[test]
    fn list_shows_damaged_records_and_skips_leftovers() {
        let (_tmp, store) = store();
        let good = store.save(&sample(Path::new("/a"))).unwrap();
        let bad = store.save(&sample(Path::new("/b"))).unwrap();
        std::fs::write(store.path_of(&bad), b"{\"version\": 1, \"chec").unwrap();
        // What a crash between creating and renaming the temporary file leaves behind.
        std::fs::write(
            store
                .dir()
                .join(format!("{TEMP_PREFIX}Xy12ab{TEMP_SUFFIX}")),
            b"{",
        )
        .unwrap();
        std::fs::write(store.dir().join("notes.txt"), b"hello").unwrap();
        std::fs::write(store.dir().join("0123.json"), b"{}").unwrap();

        let listed = store.list().unwrap();
        let ids: Vec<_> = listed.iter().map(|(id, _)| id.clone()).collect();
        let mut expected = vec![good.clone(), bad.clone()];
        expected.sort();
        assert_eq!(ids, expected);
        for (id, result) in listed {
            if id == good {
                assert_eq!(result.unwrap(), sample(Path::new("/a")));
            } else {
                assert!(matches!(result, Err(CheckpointError::Damaged { .. })));
            }
        }
    }

    fn json_keys(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    out.push(k.to_lowercase());
                    json_keys(v, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| json_keys(v, out)),
            _ => {}
        }
    }

    #[test]
    fn no_secret_is_ever_written() {
        let (_tmp, store) = store();
        let id = store.save(&sample(Path::new("/f"))).unwrap();
        let text = std::fs::read_to_string(store.path_of(&id)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut keys = Vec::new();
        json_keys(&value, &mut keys);
        assert!(keys.contains(&"upload_id".to_owned()) && keys.contains(&"etag".to_owned()));
        for key in &keys {
            for word in [
                "secret",
                "token",
                "password",
                "credential",
                "authorization",
                "access_key",
            ] {
                assert!(!key.contains(word), "field {key} looks like a secret");
            }
        }
        let lower = text.to_lowercase();
        for word in ["secret", "security-token", "security_token", "accesskey"] {
            assert!(!lower.contains(word), "{word} in {text}");
        }
    }

    #[test]
    fn concurrent_saves_leave_a_valid_record() {
        let (_tmp, store) = store();
        let base = sample(Path::new("/f"));
        let id = base.id();
        let versions: Vec<Checkpoint> = (0..8u32)
            .map(|t| {
                let mut cp = base.clone();
                cp.record_part(FinishedPart {
                    number: 2,
                    size: 8 * MIB,
                    etag: format!("\"T{t}\""),
                    crc64: u64::from(t),
                });
                cp.updated_unix_ms += i64::from(t);
                cp
            })
            .collect();
        std::thread::scope(|s| {
            for cp in &versions {
                let store = &store;
                s.spawn(move || {
                    for _ in 0..25 {
                        store.save(cp).unwrap();
                    }
                });
            }
        });
        let loaded = store.load(&id).unwrap();
        assert!(versions.contains(&loaded));
        let names: Vec<_> = std::fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from(format!("{id}.json"))]);
    }

    #[test]
    fn inconsistent_record_is_refused_on_save_and_load() {
        let (_tmp, store) = store();
        let mut cp = sample(Path::new("/f"));
        cp.parts[1].size = 8 * MIB; // part 3 is the 4 MiB + 7 byte tail
        let err = store.save(&cp).unwrap_err();
        assert!(matches!(err, CheckpointError::Invalid { .. }), "{err:?}");

        let mut single = sample(Path::new("/f"));
        single.file_size = 8 * MIB;
        single.parts.clear();
        assert!(matches!(
            store.save(&single),
            Err(CheckpointError::Invalid { .. })
        ));

        // Written with a correct checksum but inconsistent contents: still refused on load.
        let id = cp.id();
        let canonical = canonical(&cp).unwrap();
        let envelope = serde_json::json!({
            "version": CHECKPOINT_VERSION,
            "checksum": checksum(&canonical),
            "checkpoint": serde_json::from_slice::<serde_json::Value>(&canonical).unwrap(),
        });
        std::fs::write(store.path_of(&id), serde_json::to_vec(&envelope).unwrap()).unwrap();
        let err = store.load(&id).unwrap_err();
        let CheckpointError::Damaged { reason, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(reason.contains("part 3"), "{reason}");
    }

    #[test]
    fn record_part_keeps_order_and_replaces() {
        let mut cp = sample(Path::new("/f"));
        cp.record_part(FinishedPart {
            number: 2,
            size: 8 * MIB,
            etag: "\"B\"".into(),
            crc64: 2,
        });
        cp.record_part(FinishedPart {
            number: 1,
            size: 8 * MIB,
            etag: "\"A2\"".into(),
            crc64: 1,
        });
        let numbers: Vec<_> = cp.parts.iter().map(|p| p.number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        assert_eq!(cp.part(1).unwrap().etag, "\"A2\"");
        assert_eq!(cp.bytes_done(), 20 * MIB + 7);
        assert!(cp.validate().is_ok());
    }

    #[test]
    fn file_check_sees_size_time_and_absence() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("data.bin");
        std::fs::write(&path, vec![7u8; 1000]).unwrap();
        let stamp = FileStamp::of(&path).unwrap();
        let mut cp = sample(&path);
        cp.file_size = stamp.size;
        cp.file_mtime_ns = stamp.mtime_ns;
        assert_eq!(cp.file_matches(&path).unwrap(), FileCheck::Unchanged);

        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000))
            .unwrap();
        drop(file);
        let FileCheck::Changed { what } = cp.file_matches(&path).unwrap() else {
            panic!()
        };
        assert_eq!(
            what,
            [FileChange::Modified {
                was_ns: stamp.mtime_ns,
                now_ns: 1_000_000_000_000_000_000
            }]
        );

        std::fs::write(&path, vec![7u8; 999]).unwrap();
        let FileCheck::Changed { what } = cp.file_matches(&path).unwrap() else {
            panic!()
        };
        assert_eq!(
            what[0],
            FileChange::Size {
                was: 1000,
                now: 999
            }
        );
        assert!(what[0].to_string().contains("1000 to 999"));

        assert_eq!(
            cp.file_matches(tmp.path()).unwrap(),
            FileCheck::Changed {
                what: vec![FileChange::NotAFile]
            }
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(cp.file_matches(&path).unwrap(), FileCheck::Missing);
    }

    #[test]
    fn times_before_1970_are_negative() {
        let t = UNIX_EPOCH - std::time::Duration::from_millis(1500);
        assert_eq!(unix_ms(t), -1500);
        assert_eq!(unix_ns(t), -1_500_000_000);
        assert_eq!(unix_ns(UNIX_EPOCH + std::time::Duration::from_nanos(5)), 5);
    }

    #[cfg(unix)]
    #[test]
    fn path_that_is_not_unicode_survives() {
        use std::os::unix::ffi::OsStrExt;
        let (_tmp, store) = store();
        let odd = Path::new(std::ffi::OsStr::from_bytes(b"/data/\xff\xfename.bin"));
        let cp = sample(odd);
        let id = store.save(&cp).unwrap();
        assert_eq!(store.load(&id).unwrap().local_path, odd);
        assert_ne!(id, sample(Path::new("/data/\u{fffd}\u{fffd}name.bin")).id());
    }
}
