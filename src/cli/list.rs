//! `list`: the uploads this computer can resume, read from the data folder's checkpoints, with
//! damaged records shown rather than hidden.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;

use super::display::printable;
use super::{CliResult, EXIT_OK, open_store};
use crate::engine::checkpoint::{Checkpoint, CheckpointError, unix_ms};
use crate::units::human_bytes;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Folder for resume records [default: OSS_UPLOADER_DATA_DIR, else the system's app data folder].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// "5 s", "3 min", "2 h", "4 days": how long ago, as people say it.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else if s < 2 * 86_400 {
        format!("{} h", s / 3600)
    } else {
        format!("{} days", s / 86_400)
    }
}

fn describe(cp: &Checkpoint, now_ms: i64) -> String {
    let parts = cp
        .plan()
        .map(|p| format!("{}/{} parts", cp.parts.len(), p.part_count()))
        .unwrap_or_else(|_| format!("{} parts", cp.parts.len()));
    let done = cp.bytes_done();
    let percent = (done * 100).checked_div(cp.file_size).unwrap_or(0);
    format!(
        "{}  oss://{}/{}  {} of {} ({percent}%, {parts})  updated {} ago",
        cp.local_path.display(),
        cp.bucket,
        cp.key,
        human_bytes(done),
        human_bytes(cp.file_size),
        age((now_ms - cp.updated_unix_ms) / 1000)
    )
}

pub fn list(args: ListArgs) -> CliResult {
    let (dir, store) = open_store(args.data_dir.as_deref())?;
    let listed = store
        .list()
        .map_err(|e| super::CliError::Failed(e.to_string()))?;
    let intents = store.intents();
    if listed.is_empty() && intents.is_empty() {
        println!("No interrupted uploads in {}.", dir.root().display());
        return Ok(ExitCode::from(EXIT_OK));
    }
    let now = unix_ms(SystemTime::now());
    for (id, loaded) in &listed {
        match loaded {
            Ok(cp) => println!("{id}  {}", describe(cp, now)),
            Err(e @ CheckpointError::Newer { .. }) => println!("{id}  NEWER: {e}"),
            Err(e) => println!(
                "{id}  DAMAGED: {e} (`oss-uploader resume {id}` cancels its upload on the server and removes it)"
            ),
        }
    }
    for id in &intents {
        if let Some(intent) = store.load_intent(id) {
            println!(
                "{id}  NOT RECORDED: {}  oss://{}/{}  stopped while the upload was being started (`oss-uploader resume --all` cancels what it left on the server)",
                printable(&intent.local_path.display().to_string()),
                intent.bucket,
                printable(&intent.key)
            );
        }
    }
    println!(
        "{} interrupted upload(s). Continue them with: oss-uploader resume --all{}",
        listed.len(),
        args.data_dir
            .as_ref()
            .map(|d| format!(" --data-dir {}", d.display()))
            .unwrap_or_default()
    );
    Ok(ExitCode::from(EXIT_OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(age(-3), "0 s");
        assert_eq!(age(59), "59 s");
        assert_eq!(age(61), "1 min");
        assert_eq!(age(7200), "2 h");
        assert_eq!(age(3 * 86_400), "3 days");
    }
}
