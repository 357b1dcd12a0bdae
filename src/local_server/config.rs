//! How a local server is set up: where it stores, where it listens, whom it lets in.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::oss::sign::Credentials;

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
    /// Added to the real clock: lets tests provoke `RequestTimeTooSkewed`.
    pub clock_offset_secs: i64,
}

impl ServerConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            credentials: None,
            buckets: Vec::new(),
            clock_offset_secs: 0,
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

    pub fn with_clock_offset_secs(mut self, secs: i64) -> Self {
        self.clock_offset_secs = secs;
        self
    }
}
