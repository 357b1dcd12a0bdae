//! `serve`: the local OSS-compatible server on loopback until Ctrl-C or SIGTERM, with the
//! fault rules and network shaping tests and benchmarks ask for on its command line. The secret it checks
//! signatures against can come from a file or the environment, out of sight of `ps`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;

use crate::local_server::{
    DEFAULT_MAX_CONNECTIONS, FaultRule, LocalServer, Rate, ServerConfig, Shaping, parse_duration,
    parse_fault, parse_rate,
};
use crate::oss::sign::Credentials;

const AFTER_HELP: &str = "\
Credentials: with --access-key-id, requests must be signed with its secret, read from
  --access-key-secret-file PATH or the OSS_SERVE_ACCESS_KEY_SECRET environment variable
  (--access-key-secret also works, but other users can read it in `ps`).

Network shaping, to reproduce a long, per-flow-limited link on loopback (no root needed):
  --latency 40ms --conn-rate 24Mbit --link-rate 300Mbit
  Rates: Xbit, Xkbit, XMbit, XGbit are bits per second (decimal, as link speeds are quoted);
  XB, XkB, XMB, XGB bytes per second (decimal); XKiB, XMiB, XGiB bytes per second (binary).

Fault rules (--fault, repeatable): OP[@N[xTIMES]]=ACTION
  OP      any, put_bucket, put_object, get_object, head_object, delete_object,
          initiate, upload_part, complete, abort, list_parts, list_uploads,
          list_buckets, get_bucket_info, get_bucket_location, list_objects, list_objects_v2
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
#[command(after_help = AFTER_HELP)]
pub struct ServeArgs {
    /// Directory holding buckets, objects and unfinished uploads (kept across restarts).
    #[arg(long)]
    pub root: PathBuf,
    /// Loopback address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Access key id that requests must be signed with; without it, signatures are not checked.
    #[arg(long, env = "OSS_SERVE_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,
    /// Secret of --access-key-id. A command-line value is visible to every user of the machine
    /// (ps, /proc): prefer --access-key-secret-file or the environment variable.
    #[arg(long, env = "OSS_SERVE_ACCESS_KEY_SECRET", hide_env_values = true)]
    pub access_key_secret: Option<String>,
    /// File holding the secret of --access-key-id (one line; a final newline is ignored).
    #[arg(long, value_name = "PATH")]
    pub access_key_secret_file: Option<PathBuf>,
    /// STS token that requests must carry in x-oss-security-token.
    #[arg(
        long,
        env = "OSS_SERVE_SECURITY_TOKEN",
        hide_env_values = true,
        requires = "access_key_id"
    )]
    pub security_token: Option<String>,
    /// Bucket to create at start if missing (repeatable).
    #[arg(long = "bucket")]
    pub buckets: Vec<String>,
    /// Region the buckets say they are in (ListBuckets, GetBucketInfo, GetBucketLocation).
    #[arg(long, default_value = crate::local_server::DEFAULT_REGION)]
    pub region: String,
    /// Pretend the server clock is off by this many seconds.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub clock_offset_secs: i64,
    /// Fault rule, see below (repeatable).
    #[arg(long = "fault", value_parser = parse_fault_arg)]
    pub faults: Vec<FaultRule>,
    /// Fail every request with 503 ServiceUnavailable for this long after start (e.g. 5s).
    #[arg(long, value_parser = parse_duration_arg)]
    pub outage: Option<Duration>,
    /// Close a connection that has not sent a request's headers within this time (also ends
    /// idle keep-alive connections).
    #[arg(long, value_parser = parse_duration_arg, default_value = "30s")]
    pub header_timeout: Duration,
    /// Answer 400 RequestTimeout and close the connection when a client sends nothing for this
    /// long in the middle of a request body.
    #[arg(long, value_parser = parse_duration_arg, default_value = "60s")]
    pub body_idle_timeout: Duration,
    /// One-way delay added to every request and every answer (e.g. 40ms): each round trip
    /// costs twice this more, a new connection's first one four times (the handshake).
    #[arg(long, value_parser = parse_duration_arg, default_value = "0s")]
    pub latency: Duration,
    /// Throughput cap of each connection, each direction: bits per second (24Mbit, 512kbit;
    /// decimal) or bytes per second (10MiB, 3MB).
    #[arg(long, value_name = "RATE", value_parser = parse_rate_arg)]
    pub conn_rate: Option<Rate>,
    /// Throughput cap of all connections together, each direction (same units as --conn-rate).
    #[arg(long, value_name = "RATE", value_parser = parse_rate_arg)]
    pub link_rate: Option<Rate>,
    /// Connections served at once; more clients wait until one closes.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(usize))]
    pub max_connections: usize,
}

fn parse_fault_arg(s: &str) -> Result<FaultRule, String> {
    parse_fault(s).map_err(|e| e.to_string())
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn parse_rate_arg(s: &str) -> Result<Rate, String> {
    parse_rate(s).map_err(|e| e.to_string())
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
        if self.header_timeout.is_zero() || self.body_idle_timeout.is_zero() {
            bail!("--header-timeout and --body-idle-timeout must be above zero");
        }
        if self.max_connections == 0 {
            bail!("--max-connections must be at least 1");
        }
        let mut config = ServerConfig::new(&self.root)
            .with_addr(self.addr)
            .with_clock_offset_secs(self.clock_offset_secs)
            .with_header_timeout(self.header_timeout)
            .with_body_idle_timeout(self.body_idle_timeout)
            .with_max_connections(self.max_connections)
            .with_region(&self.region)
            .with_shaping(Shaping {
                latency: self.latency,
                conn_rate: self.conn_rate,
                link_rate: self.link_rate,
            });
        match (&self.access_key_id, self.secret()?) {
            (Some(id), Some(secret)) => {
                let mut creds = Credentials::new(id, secret);
                creds.security_token = self.security_token.clone();
                config = config.with_credentials(creds);
            }
            (Some(_), None) => bail!(
                "--access-key-id needs its secret: --access-key-secret-file PATH, the \
                 OSS_SERVE_ACCESS_KEY_SECRET environment variable, or --access-key-secret"
            ),
            (None, Some(_)) => bail!(
                "a secret was given (--access-key-secret-file, --access-key-secret or \
                 OSS_SERVE_ACCESS_KEY_SECRET) without --access-key-id"
            ),
            (None, None) => {}
        }
        for bucket in &self.buckets {
            crate::oss::limits::validate_bucket(bucket)?;
            config = config.with_bucket(bucket);
        }
        Ok(config)
    }

    /// The secret from --access-key-secret-file, or from --access-key-secret or its environment
    /// variable; giving both is refused rather than guessing which was meant.
    fn secret(&self) -> anyhow::Result<Option<String>> {
        let Some(path) = &self.access_key_secret_file else {
            return Ok(self.access_key_secret.clone());
        };
        if self.access_key_secret.is_some() {
            bail!(
                "the secret is given twice: --access-key-secret-file and --access-key-secret \
                 (or OSS_SERVE_ACCESS_KEY_SECRET); keep one"
            );
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the secret file {}", path.display()))?;
        let secret = text
            .strip_suffix('\n')
            .map(|s| s.strip_suffix('\r').unwrap_or(s))
            .unwrap_or(&text);
        if secret.is_empty() || secret.contains(['\n', '\r']) {
            bail!(
                "the secret file {} must hold the secret on one line",
                path.display()
            );
        }
        Ok(Some(secret.to_owned()))
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
