//! Log files: one file a day in `<data dir>/logs/`, the last week kept, written off the UI
//! thread; with `-v` the same lines also go to stderr. What support needs to read after the
//! fact (each upload's start, resume, retries, end and verified CRC) is logged at `info`.
//!
//! Secrets never reach a log: `Credentials` and `StoredSecret` redact themselves in `Debug`,
//! and HTTP libraries are held at `warn` in the file so that no request headers are written.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, Registry};

/// The folder of log files in the data dir.
pub const LOGS_DIR: &str = "logs";
/// Log files are named `oss-uploader.YYYY-MM-DD.log`.
pub const LOG_FILE_PREFIX: &str = "oss-uploader";
/// How many daily files are kept; older ones are deleted as new days start.
pub const KEEP_FILES: usize = 7;
/// Overrides the filters below, in `tracing_subscriber::EnvFilter` syntax.
pub const LOG_ENV: &str = "OSS_UPLOADER_LOG";

/// Keeps the log writer alive: drop it last, and the lines still queued are written.
pub struct LogGuard {
    _worker: WorkerGuard,
    dir: PathBuf,
}

impl LogGuard {
    /// Where the log files are (for an "open log folder" button).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The folder of log files for this data dir.
pub fn logs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(LOGS_DIR)
}

/// Logs to stderr only (the command line, or the window when its log folder cannot be used):
/// warnings, or more with `-v`/`-vv`; `RUST_LOG` overrides.
pub fn init_stderr(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Starts logging for the whole process: the daily file always, stderr too when `verbose` is
/// above 0 (1: info, 2: debug, 3: everything). Fails when the log folder cannot be made or
/// when logging was already started.
pub fn init(data_dir: &Path, verbose: u8) -> anyhow::Result<LogGuard> {
    let (subscriber, guard) = subscriber(data_dir, verbose)?;
    subscriber
        .try_init()
        .context("logging was already started in this process")?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        dir = %guard.dir.display(),
        "logging started"
    );
    Ok(guard)
}

/// The subscriber `init` installs, for tests that scope it with `with_default`.
fn subscriber(
    data_dir: &Path,
    verbose: u8,
) -> anyhow::Result<(impl tracing::Subscriber + Send + Sync + use<>, LogGuard)> {
    let dir = logs_dir(data_dir);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("the log folder {} could not be created", dir.display()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(LOG_FILE_PREFIX)
        .filename_suffix("log")
        .max_log_files(KEEP_FILES)
        .build(&dir)
        .with_context(|| format!("the log file in {} could not be opened", dir.display()))?;
    let (writer, worker) = tracing_appender::non_blocking(appender);

    let file_filter = filter(match verbose {
        0 => "warn,oss_uploader=info",
        _ => "warn,oss_uploader=debug",
    });
    let file = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer)
        .with_filter(file_filter);
    let stderr = (verbose > 0).then(|| {
        let level = match verbose {
            1 => "warn,oss_uploader=info",
            2 => "info,oss_uploader=debug",
            _ => "debug,oss_uploader=trace",
        };
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter(level))
    });
    let subscriber = Registry::default().with(file).with(stderr);
    Ok((
        subscriber,
        LogGuard {
            _worker: worker,
            dir,
        },
    ))
}

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new(default))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oss::sign::Credentials;
    use crate::secrets::{SecretLocation, StoredSecret};

    fn log_text(dir: &Path) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(dir).expect("logs dir") {
            let path = entry.expect("entry").path();
            text.push_str(&std::fs::read_to_string(&path).expect("read log"));
        }
        text
    }

    #[test]
    fn lines_go_to_a_daily_file_without_secrets() {
        let data = tempfile::tempdir().expect("tempdir");
        let (subscriber, guard) = subscriber(data.path(), 0).expect("subscriber");
        let creds = Credentials::new("LTAI5tExampleId", "S3cr3t-Value-XYZ")
            .with_security_token("STS-Token-ABC");
        let stored = StoredSecret {
            secret: "Other-Secret-987".into(),
            security_token: Some("Other-Token-654".into()),
            location: SecretLocation::Keychain,
        };
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(?creds, "connecting");
            tracing::warn!(credentials = ?creds, secret = ?stored, "retrying");
            tracing::debug!("not at info");
            tracing::info!(target: "hyper::proto", "a library's info line");
        });
        let dir = guard.dir().to_owned();
        drop(guard);
        let files: Vec<_> = std::fs::read_dir(&dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(
            files[0].starts_with("oss-uploader.") && files[0].ends_with(".log"),
            "{files:?}"
        );
        let text = log_text(&dir);
        assert!(
            text.contains("connecting") && text.contains("retrying"),
            "{text}"
        );
        assert!(text.contains("LTAI5tExampleId"), "{text}");
        for secret in [
            "S3cr3t-Value-XYZ",
            "STS-Token-ABC",
            "Other-Secret-987",
            "Other-Token-654",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(!text.contains("not at info"), "{text}");
        assert!(!text.contains("a library's info line"), "{text}");
    }

    #[test]
    fn the_logs_dir_is_in_the_data_dir() {
        let data = tempfile::tempdir().expect("tempdir");
        assert_eq!(logs_dir(data.path()), data.path().join("logs"));
        let (_s, guard) = subscriber(data.path(), 2).expect("subscriber");
        assert_eq!(guard.dir(), data.path().join("logs"));
        assert!(guard.dir().is_dir());
    }

    #[test]
    fn an_unusable_data_dir_is_a_readable_error() {
        let data = tempfile::tempdir().expect("tempdir");
        let not_a_dir = data.path().join("file");
        std::fs::write(&not_a_dir, "x").expect("write");
        let err = subscriber(&not_a_dir, 0).err().expect("error");
        assert!(format!("{err:#}").contains("log folder"), "{err:#}");
    }
}
