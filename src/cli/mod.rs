//! The command-line face: argument parsing (the binary's whole command line, including what
//! the window takes), exit codes and the dispatch to the subcommands, each in its own file. What every subcommand shares (credentials, connection
//! flags, the data folder) lives here so all of them treat it alike.

mod clean;
mod display;
mod list;
mod run;
mod serve;
mod share;
mod upload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::Connection;
use crate::engine::checkpoint::CheckpointStore;
use crate::engine::paths::DataDir;
use crate::oss::client::Client;
use crate::oss::sign::{Credentials, SignatureVersion};

pub use clean::CleanArgs;
pub use list::ListArgs;
pub use serve::ServeArgs;
pub use share::{BucketsArgs, LsArgs, ShareArgs};
pub use upload::{ResumeArgs, UploadArgs};

/// Every file uploaded and verified, or nothing to do.
pub const EXIT_OK: u8 = 0;
/// At least one upload or call failed.
pub const EXIT_FAILED: u8 = 1;
/// The command line or the environment is wrong; nothing was sent.
pub const EXIT_USAGE: u8 = 2;
/// Stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "oss-uploader",
    version,
    about = "Resumable uploads to Alibaba Cloud OSS",
    args_conflicts_with_subcommands = true,
    after_help = "Without a command the window opens (with FILEs queued when given). Credentials come from the environment: OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET \
                  and, for a temporary STS key, OSS_SESSION_TOKEN."
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Open the window against a test server on this computer: try everything without an account.
    #[arg(long)]
    pub demo: bool,
    /// Files and folders to queue in the window (as from a file manager's "Open with").
    #[arg(value_name = "FILE")]
    pub paths: Vec<PathBuf>,
    /// Without a command the window opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upload files and folders; an interrupted upload continues where it stopped.
    Upload(UploadArgs),
    /// Continue uploads that were interrupted (see `list`).
    Resume(ResumeArgs),
    /// Show the uploads this computer can resume.
    List(ListArgs),
    /// Find unfinished uploads in a bucket (they cost storage) and remove them.
    Clean(CleanArgs),
    /// Run a local OSS-compatible server on loopback (for tests, benchmarks and demos).
    Serve(ServeArgs),
    /// Print a link to an object that anyone can open until it expires (1s to 7d).
    Share(ShareArgs),
    /// Show the buckets this key can see, with their regions.
    Buckets(BucketsArgs),
    /// Show the folders and objects in a bucket folder.
    Ls(LsArgs),
}

/// How a command failed, which decides the exit status.
#[derive(Debug)]
pub enum CliError {
    /// A wrong option or missing setting: exit 2.
    Usage(String),
    /// Something went wrong while working: exit 1.
    Failed(String),
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failed(format!("{e:#}"))
    }
}

impl CliError {
    /// `what` failed because of `e`: the protocol error in the words and with the support
    /// details (code, EC, request id) every command prints.
    pub fn from_oss(what: &str, e: &crate::oss::error::Error) -> Self {
        let je = crate::engine::JobError::from_oss(e);
        CliError::Failed(format!(
            "{what}: {}{}",
            je.message,
            display::error_tail(&je)
        ))
    }
}

pub type CliResult = Result<ExitCode, CliError>;

/// The signature flag's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SignatureArg {
    /// OSS4-HMAC-SHA256, the current signature.
    V4,
    /// The older HMAC-SHA1 signature, for old endpoints and gateways.
    V1,
}

impl From<SignatureArg> for SignatureVersion {
    fn from(s: SignatureArg) -> Self {
        match s {
            SignatureArg::V4 => SignatureVersion::V4,
            SignatureArg::V1 => SignatureVersion::V1,
        }
    }
}

/// Where OSS is and how to address it.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// OSS endpoint, e.g. oss-cn-hangzhou.aliyuncs.com or http://127.0.0.1:9000
    /// [default: the OSS_ENDPOINT environment variable]
    #[arg(long, value_name = "E")]
    pub endpoint: Option<String>,
    /// Region for the signature, e.g. cn-hangzhou [default: read from the endpoint's name]
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
    /// Address the bucket in the path (http://host/bucket/key), for IP addresses and local servers.
    #[arg(long)]
    pub path_style: bool,
    /// Request signature version.
    #[arg(long, value_enum, default_value = "v4", value_name = "v4|v1")]
    pub signature: SignatureArg,
}

impl ConnectionArgs {
    /// The connection these flags describe, checked far enough to build a client with.
    pub fn connection(&self) -> Result<Connection, CliError> {
        let endpoint = match self.endpoint.as_deref().map(str::trim) {
            Some(e) if !e.is_empty() => e.to_owned(),
            _ => match std::env::var("OSS_ENDPOINT") {
                Ok(e) if !e.trim().is_empty() => e.trim().to_owned(),
                _ => {
                    return Err(CliError::Usage(
                        "no endpoint given: pass --endpoint (for example --endpoint oss-cn-hangzhou.aliyuncs.com) or set OSS_ENDPOINT".into(),
                    ));
                }
            },
        };
        Ok(Connection {
            endpoint,
            region: self.region.clone().filter(|r| !r.trim().is_empty()),
            signature: self.signature.into(),
            path_style: self.path_style,
        })
    }
}

/// The credentials from the environment, or the one line that says how to give them.
pub fn credentials() -> Result<Credentials, CliError> {
    Credentials::from_env().ok_or_else(|| {
        CliError::Usage(
            "no credentials: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET in the environment (and OSS_SESSION_TOKEN for a temporary STS key)".into(),
        )
    })
}

/// A client for `connection`; a bad endpoint or missing region is the user's to fix (exit 2).
pub fn client_for(connection: &Connection, credentials: Credentials) -> Result<Client, CliError> {
    let config = connection
        .client_config(credentials)
        .map_err(|e| CliError::Usage(format!("{e}")))?;
    Client::new(config).map_err(|e| CliError::Failed(e.user_message()))
}

/// The data folder and its checkpoint store.
pub fn open_store(explicit: Option<&Path>) -> Result<(DataDir, CheckpointStore), CliError> {
    let dir = DataDir::resolve(explicit).map_err(|e| CliError::Failed(e.to_string()))?;
    let store = CheckpointStore::open(dir.root()).map_err(|e| CliError::Failed(e.to_string()))?;
    Ok((dir, store))
}

/// The `resume` command a user should type, naming the data folder only when they chose one.
pub fn resume_hint(data_dir: Option<&PathBuf>) -> String {
    match data_dir {
        Some(d) => format!(
            "oss-uploader resume --all --data-dir {}",
            shell_quote(&d.display().to_string())
        ),
        None => "oss-uploader resume --all".into(),
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=,@".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Runs one command; the binary's `main` calls this when the command line names one (without
/// a command the window opens, which is the app's, not ours).
pub fn run(command: Command, demo: bool, verbose: u8) -> ExitCode {
    crate::logging::init_stderr(verbose);
    if demo {
        eprintln!("error: --demo opens the window; leave out the command");
        return ExitCode::from(EXIT_USAGE);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Upload(args) => upload::upload(args).await,
            Command::Resume(args) => upload::resume(args).await,
            Command::List(args) => list::list(args),
            Command::Clean(args) => clean::clean(args).await,
            Command::Share(args) => share::share(args).await,
            Command::Buckets(args) => share::buckets(args).await,
            Command::Ls(args) => share::ls(args).await,
            Command::Serve(args) => serve::serve(args)
                .await
                .map(|()| ExitCode::SUCCESS)
                .map_err(CliError::from),
        }
    });
    // Jobs left waiting on a stalled connection must not hold the exit up.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(CliError::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_for_the_resume_hint() {
        assert_eq!(shell_quote("/tmp/data"), "/tmp/data");
        assert_eq!(shell_quote("/tmp/my data"), "'/tmp/my data'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(
            resume_hint(Some(&PathBuf::from("/d"))),
            "oss-uploader resume --all --data-dir /d"
        );
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
