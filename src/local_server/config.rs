//! How a local server is set up: where it stores, where it listens, whom it lets in, how long
//! and how many clients it waits for, what link it pretends to be behind and what region its
//! buckets say they are in.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::oss::sign::Credentials;

use super::shaping::Shaping;

/// How to run a local server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where buckets, objects and unfinished uploads are kept.
    pub root: PathBuf,
    /// Must be a loopback address; port 0 picks a free port.
    pub addr: SocketAddr,
    /// `None` accepts anonymous requests without checking signatures.
    pub credentials: Option<Credentials>,
    /// Created at start when missing.
    pub buckets: Vec<String>,
    /// Buckets whose ACL is set at start (`public-read`…); the others are private.
    pub bucket_acls: Vec<(String, String)>,
    /// Added to the real clock: lets tests provoke `RequestTimeTooSkewed`.
    pub clock_offset_secs: i64,
    /// How long a client may take to send a request's headers, and how long an idle
    /// keep-alive connection is kept; the connection is closed after that.
    pub header_timeout: Duration,
    /// How long a client may send nothing in the middle of a request body; the request is then
    /// answered 400 RequestTimeout and the connection closed.
    pub body_idle_timeout: Duration,
    /// Connections served at once; further clients wait in the listen queue until one closes.
    pub max_connections: usize,
    /// Latency and throughput caps that make loopback behave like a long, slow link.
    pub shaping: Shaping,
    /// The region the buckets say they are in (ListBuckets, GetBucketInfo, GetBucketLocation),
    /// e.g. `cn-hangzhou`.
    pub region: String,
}

/// The region a local server's buckets are in unless told otherwise.
pub const DEFAULT_REGION: &str = "cn-hangzhou";

/// Defaults generous enough for slow links and client pools, short enough that forgotten or
/// hostile connections do not pile up.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

impl ServerConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            credentials: None,
            buckets: Vec::new(),
            bucket_acls: Vec::new(),
            clock_offset_secs: 0,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_idle_timeout: DEFAULT_BODY_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shaping: Shaping::default(),
            region: DEFAULT_REGION.to_owned(),
        }
    }

    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    pub fn with_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.buckets.push(bucket.into());
        self
    }

    /// A bucket made at start with this ACL (`private`, `public-read`, `public-read-write`).
    pub fn with_bucket_acl(mut self, bucket: impl Into<String>, acl: &str) -> Self {
        let bucket = bucket.into();
        self.buckets.push(bucket.clone());
        self.bucket_acls.push((bucket, acl.to_owned()));
        self
    }

    pub fn with_clock_offset_secs(mut self, secs: i64) -> Self {
        self.clock_offset_secs = secs;
        self
    }

    pub fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    pub fn with_body_idle_timeout(mut self, timeout: Duration) -> Self {
        self.body_idle_timeout = timeout;
        self
    }

    /// At least one.
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// `oss-cn-shanghai` and `cn-shanghai` both name Shanghai.
    pub fn with_region(mut self, region: &str) -> Self {
        let r = region.trim();
        self.region = r.strip_prefix("oss-").unwrap_or(r).to_owned();
        self
    }

    pub fn with_shaping(mut self, shaping: Shaping) -> Self {
        self.shaping = shaping;
        self
    }
}
