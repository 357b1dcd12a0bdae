//! What a call handler works with: the state every request shares (`Shared`), the resolved
//! request (`Route`, `Ctx`), how a call fails (`Failure`), and the lookups and commits that
//! several calls make the same way.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Response};

use crate::oss::limits::validate_bucket;

use super::body::BodyError;
use super::calls::{Counters, Op};
use super::config::ServerConfig;
use super::faults::Faults;
use super::reply::{Body, OssError};
use super::store::{Locks, NewData, ObjectMeta, Store, UploadMeta};

/// What every request handler shares.
pub(crate) struct Shared {
    pub config: ServerConfig,
    pub store: Arc<Store>,
    pub locks: Locks,
    pub faults: Faults,
    pub counters: Counters,
    pub(super) host_id: String,
}

impl Shared {
    pub(crate) fn new(config: ServerConfig, store: Store, addr: SocketAddr) -> Self {
        Self {
            config,
            store: Arc::new(store),
            locks: Locks::default(),
            faults: Faults::default(),
            counters: Counters::default(),
            host_id: addr.to_string(),
        }
    }

    /// The server's clock, offset as configured.
    pub(super) fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        real + self.config.clock_offset_secs
    }

    /// Runs file-system work on the blocking pool.
    pub(super) async fn io<T, F>(&self, f: F) -> Result<T, OssError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> io::Result<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| OssError::internal(format!("storage task failed: {e}")))?
            .map_err(OssError::from)
    }

    /// Installs `meta` with its data under the object's lock; refuses with FileAlreadyExists
    /// when `forbid_overwrite` and the key is taken, checked under the same lock.
    pub(super) async fn commit_object(
        &self,
        bucket: &str,
        meta: ObjectMeta,
        data: NewData,
        forbid_overwrite: bool,
    ) -> Result<(), OssError> {
        let _guard = self.lock_object(bucket, &meta.key).await;
        let bucket = bucket.to_owned();
        let committed = self
            .io(move |s| s.commit_object(&bucket, meta, data, forbid_overwrite))
            .await?;
        if committed {
            Ok(())
        } else {
            Err(OssError::file_exists())
        }
    }

    /// Serializes changes to one object.
    pub(super) async fn lock_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> tokio::sync::OwnedMutexGuard<()> {
        self.locks.lock(format!("object:{bucket}/{key}")).await
    }

    /// Serializes changes to one multipart upload.
    pub(super) async fn lock_upload(&self, upload_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.locks.lock(format!("upload:{upload_id}")).await
    }
}

/// A path-style request resolved to a call.
pub(super) struct Route {
    pub(super) op: Op,
    pub(super) bucket: Option<String>,
    pub(super) key: Option<String>,
    /// Percent-decoded, in the order sent.
    pub(super) query: Vec<(String, String)>,
}

impl Route {
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    pub(super) fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or_default()
    }

    pub(super) fn key(&self) -> &str {
        self.key.as_deref().unwrap_or_default()
    }
}

/// Everything a call handler needs about its request.
pub(super) struct Ctx<'a> {
    pub(super) shared: &'a Shared,
    pub(super) route: &'a Route,
    pub(super) headers: &'a HeaderMap,
    pub(super) request_id: &'a str,
}

/// Why a call did not produce an answer of its own.
pub(super) enum Failure {
    Oss(OssError),
    Body(BodyError),
}

impl From<OssError> for Failure {
    fn from(e: OssError) -> Self {
        Failure::Oss(e)
    }
}

impl From<BodyError> for Failure {
    fn from(e: BodyError) -> Self {
        Failure::Body(e)
    }
}

pub(super) type CallResult = Result<Response<Body>, Failure>;

/// Refuses with NoSuchBucket unless the request's bucket exists.
pub(super) async fn require_bucket(ctx: &Ctx<'_>) -> Result<(), OssError> {
    let bucket = ctx.route.bucket().to_owned();
    // A name PutBucket would refuse cannot exist; checking it also keeps decoded names such as
    // `..` from reaching the file system.
    if validate_bucket(&bucket).is_err() {
        return Err(OssError::no_such_bucket());
    }
    if ctx.shared.io(move |s| Ok(s.bucket_exists(&bucket))).await? {
        Ok(())
    } else {
        Err(OssError::no_such_bucket())
    }
}

/// The upload named by `uploadId`, which must belong to the request's key.
pub(super) async fn require_upload(ctx: &Ctx<'_>) -> Result<UploadMeta, OssError> {
    let bucket = ctx.route.bucket().to_owned();
    let upload_id = ctx.route.param("uploadId").unwrap_or_default().to_owned();
    let upload = ctx
        .shared
        .io(move |s| s.upload(&bucket, &upload_id))
        .await?;
    match upload {
        Some(u) if u.key == ctx.route.key() => Ok(u),
        _ => Err(OssError::no_such_upload()),
    }
}

/// A numeric query parameter, `default` when absent or empty, capped at `max`.
pub(super) fn parse_number(
    route: &Route,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, OssError> {
    match route.param(name) {
        None | Some("") => Ok(default),
        Some(v) => v.parse::<u64>().ok().map(|n| n.min(max)).ok_or_else(|| {
            OssError::invalid_argument(format!(
                "{name} must be a non-negative integer, not \"{v}\"."
            ))
        }),
    }
}

/// A body file in `tmp/` that is removed if the request ends before it is committed.
pub(super) struct TmpFile(pub(super) std::path::PathBuf);

impl Drop for TmpFile {
    fn drop(&mut self) {
        // After a commit the file was renamed away and this finds nothing, which is fine.
        let _ = std::fs::remove_file(&self.0);
    }
}
