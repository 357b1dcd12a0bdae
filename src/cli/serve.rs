//! `serve`: the local OSS-compatible server on loopback until Ctrl-C or SIGTERM, with the
//! fault rules tests and benchmarks ask for on its command line.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;

use crate::local_server::{FaultRule, LocalServer, ServerConfig, parse_duration, parse_fault};
use crate::oss::sign::Credentials;

const FAULT_HELP: &str = "\
Fault rules (--fault, repeatable): OP[@N[xTIMES]]=ACTION
  OP      any, put_bucket, put_object, get_object, head_object, delete_object,
          initiate, upload_part, complete, abort, list_parts, list_uploads
  N       hit the Nth matching request (1-based, default 1); xTIMES: that many in a row
  ACTION  status:HTTP[:Code[:Message]]  answer with OSS error XML (body discarded)
          drop:BYTES                    read BYTES of the body (64KiB, 1MiB), then close
          delay:DURATION                answer normally after a delay (500ms, 2s, 1m)
          stall                         never answer
          reset                         handle the request, then close without answering
Examples:
  --fault upload_part@3=status:503:ServiceUnavailable
  --fault upload_part@2=drop:65536 --fault any@1=delay:2s --fault complete@1=stall
  --fault upload_part@2x3=reset --outage 5s";

#[derive(Debug, Args)]
#[command(after_help = FAULT_HELP)]
pub struct ServeArgs {
    /// Directory holding buckets, objects and unfinished uploads (kept across restarts).
    #[arg(long)]
    pub root: PathBuf,
    /// Loopback address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Access key id that requests must be signed with; without it, signatures are not checked.
    #[arg(long, requires = "access_key_secret")]
    pub access_key_id: Option<String>,
    /// Secret of --access-key-id.
    #[arg(long, requires = "access_key_id")]
    pub access_key_secret: Option<String>,
    /// STS token that requests must carry in x-oss-security-token.
    #[arg(long, requires = "access_key_id")]
    pub security_token: Option<String>,
    /// Bucket to create at start if missing (repeatable).
    #[arg(long = "bucket")]
    pub buckets: Vec<String>,
    /// Pretend the server clock is off by this many seconds.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub clock_offset_secs: i64,
    /// Fault rule, see below (repeatable).
    #[arg(long = "fault", value_parser = parse_fault_arg)]
    pub faults: Vec<FaultRule>,
    /// Fail every request with 503 ServiceUnavailable for this long after start (e.g. 5s).
    #[arg(long, value_parser = parse_duration_arg)]
    pub outage: Option<Duration>,
}

fn parse_fault_arg(s: &str) -> Result<FaultRule, String> {
    parse_fault(s).map_err(|e| e.to_string())
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

impl ServeArgs {
    /// The server configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<ServerConfig> {
        if !self.addr.ip().is_loopback() {
            bail!(
                "refusing to listen on {}: the local server is for this machine only; use 127.0.0.1 or [::1]",
                self.addr
            );
        }
        let mut config = ServerConfig::new(&self.root)
            .with_addr(self.addr)
            .with_clock_offset_secs(self.clock_offset_secs);
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.access_key_secret) {
            let mut creds = Credentials::new(id, secret);
            creds.security_token = self.security_token.clone();
            config = config.with_credentials(creds);
        }
        for bucket in &self.buckets {
            crate::oss::limits::validate_bucket(bucket)?;
            config = config.with_bucket(bucket);
        }
        Ok(config)
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let root = config.root.clone();
    let server = LocalServer::start(config)
        .await
        .with_context(|| format!("cannot start the local server (root {})", root.display()))?;
    for rule in &args.faults {
        server.faults().add(rule.clone());
    }
    if let Some(d) = args.outage {
        server.faults().outage(d);
    }
    {
        // Scripts wait for this exact first line to learn the port.
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", server.endpoint()).context("cannot write to stdout")?;
        out.flush().context("cannot write to stdout")?;
    }
    wait_for_stop().await?;
    server.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_stop() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_stop() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")
}
