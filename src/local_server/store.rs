//! The on-disk store: buckets, objects and multipart uploads under one root, with JSON metadata
//! beside the data so everything survives a restart.
//!
//! Layout (`{h}` is the SHA-256 of the key, so keys of any shape map to short safe names):
//! ```text
//! root/tmp/                                 bodies being received; emptied at start
//! root/buckets/{bucket}/objects/{h}.json    object metadata, names its data segments
//! root/buckets/{bucket}/data/{unique}       object data: one segment per PutObject, one per
//!                                           part after CompleteMultipartUpload
//! root/buckets/{bucket}/uploads/{id}/upload.json
//! root/buckets/{bucket}/uploads/{id}/part-{n}.json   part metadata, names its data file
//! root/buckets/{bucket}/uploads/{id}/part-{n}.{unique}
//! ```
//! A commit writes the data under a fresh unique name, then renames the metadata into place:
//! the rename is the atomic switch, so a reader never sees half an object or half a part. The
//! caller serializes commits on one object or upload with [`Locks`].
//!
//! Completing an upload moves the part files into the bucket as the object's segments instead
//! of copying them into one file: Complete then costs no CPU or disk bandwidth whatever the
//! object's size, as on OSS.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::index::{Index, Keys, Listed, Page};

/// A bucket's ACL when nobody set one.
pub(crate) const PRIVATE: &str = "private";

/// What the server remembers about an object.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ObjectMeta {
    pub key: String,
    /// The data, in order: files under the bucket's `data/` directory.
    pub segments: Vec<Segment>,
    pub size: u64,
    /// With its quotes, as sent in the `ETag` header.
    pub etag: String,
    pub crc64: u64,
    pub content_type: String,
    pub acl: Option<String>,
    /// `x-oss-meta-*` headers, names lowercased.
    pub user_meta: BTreeMap<String, String>,
    pub last_modified: i64,
    /// `Normal` or `Multipart`, as `x-oss-object-type`.
    pub object_type: String,
}

/// One piece of an object's data.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Segment {
    pub file: String,
    pub size: u64,
}

/// An unfinished multipart upload.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct UploadMeta {
    pub upload_id: String,
    pub key: String,
    pub initiated: i64,
    pub content_type: String,
    pub acl: Option<String>,
    pub user_meta: BTreeMap<String, String>,
    pub forbid_overwrite: bool,
}

/// One stored part.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct PartMeta {
    pub number: u32,
    /// File name inside the upload directory.
    pub data_file: String,
    pub size: u64,
    /// Uppercase hex MD5 of the part.
    pub md5_hex: String,
    pub crc64: u64,
    pub last_modified: i64,
}

impl PartMeta {
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.md5_hex)
    }
}

/// Where a new object's data comes from.
pub(crate) enum NewData {
    /// A received PutObject body in `tmp/`.
    Body(PathBuf),
    /// The chosen parts of a multipart upload, which is removed once the object is in place.
    Parts {
        upload_id: String,
        parts: Vec<PartMeta>,
    },
}

pub(crate) struct Store {
    root: PathBuf,
    index: Index,
}

fn unique_name() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Upload ids go into paths, so only ids this server could have made are looked up.
pub(crate) fn valid_upload_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// A new upload id: 32 uppercase hex characters, time first so ids sort by initiation.
pub(crate) fn new_upload_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{nanos:016X}{:016X}", fastrand::u64(..))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl Store {
    pub fn open(root: &Path) -> io::Result<Store> {
        fs::create_dir_all(root.join("buckets"))?;
        let tmp = root.join("tmp");
        // Leftovers are bodies whose connection died while the server was stopped.
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        Ok(Store {
            root: root.to_owned(),
            index: Index::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh path for a body being received.
    pub fn tmp_path(&self) -> PathBuf {
        self.root.join("tmp").join(unique_name())
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join("buckets").join(bucket)
    }

    /// Creates the bucket; `false` when it already existed.
    pub fn create_bucket(&self, bucket: &str) -> io::Result<bool> {
        let dir = self.bucket_dir(bucket);
        if dir.join("objects").is_dir() {
            return Ok(false);
        }
        for sub in ["objects", "data", "uploads"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        Ok(true)
    }

    /// The bucket's ACL: `private` (the default), `public-read` or `public-read-write`. Kept
    /// outside the bucket's directory so setting it does not move the bucket's creation time.
    pub fn bucket_acl(&self, bucket: &str) -> io::Result<String> {
        Ok(read_json(&self.bucket_acl_path(bucket))?.unwrap_or_else(|| PRIVATE.to_owned()))
    }

    pub fn set_bucket_acl(&self, bucket: &str, acl: &str) -> io::Result<()> {
        fs::create_dir_all(self.root.join("bucket-acl"))?;
        self.write_json(&self.bucket_acl_path(bucket), &acl)
    }

    fn bucket_acl_path(&self, bucket: &str) -> PathBuf {
        self.root.join("bucket-acl").join(format!("{bucket}.json"))
    }

    pub fn bucket_exists(&self, bucket: &str) -> bool {
        self.bucket_dir(bucket).join("objects").is_dir()
    }

    /// Every bucket, by name, with when it was created (unix seconds).
    pub fn buckets(&self) -> io::Result<Vec<(String, i64)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.root.join("buckets"))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if self.bucket_exists(&name) {
                let created = self.bucket_created(&name)?;
                out.push((name, created));
            }
        }
        out.sort();
        Ok(out)
    }

    /// When the bucket was made: its directory's modification time, which only changes when
    /// its three subdirectories are made.
    pub fn bucket_created(&self, bucket: &str) -> io::Result<i64> {
        let modified = fs::metadata(self.bucket_dir(bucket))?.modified()?;
        Ok(modified
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0))
    }

    /// One page of the bucket's keys under `prefix` after `after` (see `index::page`).
    pub fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        after: &str,
        max: usize,
    ) -> io::Result<Page> {
        self.index.with(
            bucket,
            || self.load_index(bucket),
            |keys| super::index::page(keys, prefix, delimiter, after, max),
        )
    }

    fn load_index(&self, bucket: &str) -> io::Result<Keys> {
        let mut keys = Keys::new();
        for entry in fs::read_dir(self.bucket_dir(bucket).join("objects"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json")
                && let Some(meta) = read_json::<ObjectMeta>(&path)?
            {
                keys.insert(meta.key.clone(), Listed::from(&meta));
            }
        }
        Ok(keys)
    }

    fn object_meta_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.bucket_dir(bucket)
            .join("objects")
            .join(format!("{}.json", key_hash(key)))
    }

    fn data_path(&self, bucket: &str, file: &str) -> PathBuf {
        self.bucket_dir(bucket).join("data").join(file)
    }

    pub fn object(&self, bucket: &str, key: &str) -> io::Result<Option<ObjectMeta>> {
        read_json(&self.object_meta_path(bucket, key))
    }

    /// The files holding an object's data, in order, with their sizes.
    pub fn segment_paths(&self, bucket: &str, meta: &ObjectMeta) -> Vec<(PathBuf, u64)> {
        meta.segments
            .iter()
            .map(|seg| (self.data_path(bucket, &seg.file), seg.size))
            .collect()
    }

    /// Installs a new object from `data` and switches the metadata to it; `false` (and nothing
    /// changed) when `forbid_overwrite` and an object already has the key. The caller holds the
    /// object's lock, so the check and the switch are one step for other requests.
    pub fn commit_object(
        &self,
        bucket: &str,
        mut meta: ObjectMeta,
        data: NewData,
        forbid_overwrite: bool,
    ) -> io::Result<bool> {
        if forbid_overwrite && self.object(bucket, &meta.key)?.is_some() {
            return Ok(false);
        }
        meta.segments.clear();
        match data {
            NewData::Body(body) => {
                let file = unique_name();
                fs::rename(body, self.data_path(bucket, &file))?;
                meta.segments.push(Segment {
                    file,
                    size: meta.size,
                });
                self.switch_object(bucket, &meta)?;
            }
            // The parts become the object's segments instead of being copied into one file.
            NewData::Parts { upload_id, parts } => {
                for part in &parts {
                    let file = unique_name();
                    fs::rename(
                        self.part_path(bucket, &upload_id, part),
                        self.data_path(bucket, &file),
                    )?;
                    meta.segments.push(Segment {
                        file,
                        size: part.size,
                    });
                }
                self.switch_object(bucket, &meta)?;
                self.remove_upload(bucket, &upload_id)?;
            }
        }
        Ok(true)
    }

    fn switch_object(&self, bucket: &str, meta: &ObjectMeta) -> io::Result<()> {
        let previous = self.object(bucket, &meta.key)?;
        self.write_json(&self.object_meta_path(bucket, &meta.key), meta)?;
        self.index.put(bucket, meta);
        if let Some(previous) = previous {
            self.remove_segments(bucket, &previous)?;
        }
        Ok(())
    }

    fn remove_segments(&self, bucket: &str, meta: &ObjectMeta) -> io::Result<()> {
        for seg in &meta.segments {
            remove_if_exists(&self.data_path(bucket, &seg.file))?;
        }
        Ok(())
    }

    /// `false` when there was no such object.
    pub fn delete_object(&self, bucket: &str, key: &str) -> io::Result<bool> {
        let Some(meta) = self.object(bucket, key)? else {
            return Ok(false);
        };
        remove_if_exists(&self.object_meta_path(bucket, key))?;
        self.index.remove(bucket, key);
        self.remove_segments(bucket, &meta)?;
        Ok(true)
    }

    fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> io::Result<()> {
        let tmp = self.tmp_path();
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec(value).map_err(io::Error::other)?)?;
        drop(file);
        fs::rename(&tmp, path)
    }

    fn upload_dir(&self, bucket: &str, upload_id: &str) -> PathBuf {
        self.bucket_dir(bucket).join("uploads").join(upload_id)
    }

    pub fn create_upload(&self, bucket: &str, meta: &UploadMeta) -> io::Result<()> {
        let dir = self.upload_dir(bucket, &meta.upload_id);
        fs::create_dir_all(&dir)?;
        self.write_json(&dir.join("upload.json"), meta)
    }

    pub fn upload(&self, bucket: &str, upload_id: &str) -> io::Result<Option<UploadMeta>> {
        if !valid_upload_id(upload_id) {
            return Ok(None);
        }
        read_json(&self.upload_dir(bucket, upload_id).join("upload.json"))
    }

    fn part_meta_path(&self, bucket: &str, upload_id: &str, number: u32) -> PathBuf {
        self.upload_dir(bucket, upload_id)
            .join(format!("part-{number:05}.json"))
    }

    /// Moves a received part into the upload, replacing a part of the same number; `false`
    /// when the upload is gone (the body is removed then).
    pub fn commit_part(
        &self,
        bucket: &str,
        upload_id: &str,
        mut part: PartMeta,
        body: &Path,
    ) -> io::Result<bool> {
        if self.upload(bucket, upload_id)?.is_none() {
            remove_if_exists(body)?;
            return Ok(false);
        }
        let dir = self.upload_dir(bucket, upload_id);
        let meta_path = self.part_meta_path(bucket, upload_id, part.number);
        let previous: Option<PartMeta> = read_json(&meta_path)?;
        part.data_file = format!("part-{:05}.{}", part.number, unique_name());
        fs::rename(body, dir.join(&part.data_file))?;
        self.write_json(&meta_path, &part)?;
        if let Some(previous) = previous {
            remove_if_exists(&dir.join(previous.data_file))?;
        }
        Ok(true)
    }

    /// The parts of an upload, by part number.
    pub fn parts(&self, bucket: &str, upload_id: &str) -> io::Result<Vec<PartMeta>> {
        let dir = self.upload_dir(bucket, upload_id);
        let mut parts = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("part-")
                && name.ends_with(".json")
                && let Some(part) = read_json::<PartMeta>(&dir.join(name.as_ref()))?
            {
                parts.push(part);
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    pub fn part_path(&self, bucket: &str, upload_id: &str, part: &PartMeta) -> PathBuf {
        self.upload_dir(bucket, upload_id).join(&part.data_file)
    }

    pub fn remove_upload(&self, bucket: &str, upload_id: &str) -> io::Result<()> {
        if !valid_upload_id(upload_id) {
            return Ok(());
        }
        match fs::remove_dir_all(self.upload_dir(bucket, upload_id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every unfinished upload of a bucket, by key and then upload id.
    pub fn uploads(&self, bucket: &str) -> io::Result<Vec<UploadMeta>> {
        let mut uploads = Vec::new();
        for entry in fs::read_dir(self.bucket_dir(bucket).join("uploads"))? {
            let entry = entry?;
            if let Some(meta) = read_json::<UploadMeta>(&entry.path().join("upload.json"))? {
                uploads.push(meta);
            }
        }
        uploads.sort_by(|a, b| (&a.key, &a.upload_id).cmp(&(&b.key, &b.upload_id)));
        Ok(uploads)
    }
}

/// Named async locks: one per object or upload, so commits on the same name take turns while
/// different names proceed in parallel.
#[derive(Default)]
pub(crate) struct Locks {
    map: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Locks {
    pub async fn lock(&self, name: String) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() > 1024 {
                // Entries nobody holds or waits for are only memory.
                map.retain(|_, l| Arc::strong_count(l) > 1);
            }
            map.entry(name).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_are_checked_and_ordered() {
        let a = new_upload_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_upload_id();
        assert!(valid_upload_id(&a) && valid_upload_id(&b));
        assert!(a < b);
        assert!(!valid_upload_id("../../etc"));
        assert!(!valid_upload_id(&a.to_lowercase()));
    }
}
