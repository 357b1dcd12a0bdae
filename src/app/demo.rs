//! Demo mode: the local OSS-compatible server runs inside the app on loopback with a `demo`
//! bucket, so someone without an account can try every button. Its data lives under
//! `<data dir>/demo-server`, and the demo's queue under `<data dir>/demo` so it never mixes with
//! real uploads.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::local_server::{LocalServer, ServerConfig};
use crate::oss::sign::Credentials;

use super::settings::{AppSettings, SecretPlace};

pub const DEMO_BUCKET: &str = "demo";
pub const DEMO_KEY_ID: &str = "demo-access-key";
pub const DEMO_SECRET: &str = "demo-secret";
pub const DEMO_REGION: &str = "cn-hangzhou";
/// Remembers the port so uploads left unfinished in one demo resume in the next.
const PORT_FILE: &str = "port";

/// The running demo server; dropping it stops the server.
pub struct Demo {
    server: Option<LocalServer>,
    runtime: tokio::runtime::Runtime,
    engine_dir: PathBuf,
}

impl Demo {
    /// Starts the server for the data dir `data_dir`.
    pub fn start(data_dir: &Path) -> std::io::Result<Self> {
        let root = data_dir.join("demo-server");
        std::fs::create_dir_all(&root)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("demo-server")
            .enable_all()
            .build()?;
        let config = |port: u16| {
            ServerConfig::new(root.join("store"))
                .with_addr(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
                .with_credentials(Self::credentials())
                .with_bucket(DEMO_BUCKET)
        };
        let port_file = root.join(PORT_FILE);
        let previous = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok());
        let server = match previous {
            Some(port) => match runtime.block_on(LocalServer::start(config(port))) {
                Ok(s) => s,
                // Someone else took the port: a fresh one works, only old demo jobs cannot resume.
                Err(_) => runtime.block_on(LocalServer::start(config(0)))?,
            },
            None => runtime.block_on(LocalServer::start(config(0)))?,
        };
        std::fs::write(&port_file, server.addr().port().to_string())?;
        Ok(Self {
            server: Some(server),
            runtime,
            engine_dir: data_dir.join("demo"),
        })
    }

    pub fn credentials() -> Credentials {
        Credentials::new(DEMO_KEY_ID, DEMO_SECRET)
    }

    pub fn endpoint(&self) -> String {
        self.server
            .as_ref()
            .map(LocalServer::endpoint)
            .unwrap_or_default()
    }

    /// Where the demo engine keeps its queue and checkpoints.
    pub fn engine_dir(&self) -> &Path {
        &self.engine_dir
    }

    /// `base` pointed at the demo server.
    pub fn settings(&self, base: &AppSettings) -> AppSettings {
        AppSettings {
            region: DEMO_REGION.into(),
            custom_endpoint: Some(self.endpoint()),
            path_style: true,
            access_key_id: DEMO_KEY_ID.into(),
            bucket: DEMO_BUCKET.into(),
            secret_place: SecretPlace::Nowhere,
            ..base.clone()
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}
