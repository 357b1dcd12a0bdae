//! `clean`: unfinished multipart uploads in a bucket keep their parts (and their cost) until
//! someone aborts them. This lists them with age and size and aborts them when the user agrees.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::Args;

use super::list::age;
use super::{
    CliError, CliResult, ConnectionArgs, EXIT_FAILED, EXIT_OK, client_for, credentials, open_store,
};
use crate::engine::JobError;
use crate::engine::checkpoint::{CheckpointId, CheckpointStore};
use crate::oss::error::parse_iso8601;
use crate::oss::limits;
use crate::units::human_bytes;

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// The bucket to look in.
    #[arg(long, value_name = "B")]
    pub bucket: String,
    /// Only uploads whose object name starts with this.
    #[arg(long, value_name = "P", default_value = "")]
    pub prefix: String,
    /// Abort the uploads found without asking.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Folder of resume records, to mark the uploads this computer can still resume
    /// [default: OSS_UPLOADER_DATA_DIR, else the system's app data folder].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
}

fn ask(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Drops the resume record of an aborted upload: it could only ever start over, and `list`
/// should not offer it.
fn forget(store: Option<&CheckpointStore>, id: Option<CheckpointId>) {
    if let (Some(store), Some(id)) = (store, id) {
        let _ = store.delete(&id);
    }
}

pub async fn clean(args: CleanArgs) -> CliResult {
    limits::validate_bucket(&args.bucket).map_err(|e| CliError::Usage(e.to_string()))?;
    let connection = args.connection.connection()?;
    let client = client_for(&connection, credentials()?)?;
    let uploads = client
        .list_multipart_uploads(&args.bucket, &args.prefix)
        .await
        .map_err(|e| CliError::from_oss("cannot list the unfinished uploads", &e))?;
    let place = if args.prefix.is_empty() {
        format!("oss://{}", args.bucket)
    } else {
        format!("oss://{}/{}", args.bucket, args.prefix)
    };
    if uploads.is_empty() {
        println!("No unfinished uploads in {place}.");
        return Ok(ExitCode::from(EXIT_OK));
    }
    // Uploads this computer can resume are marked, so nobody aborts them by surprise. Without a
    // readable data folder there is simply nothing to mark.
    let local: Vec<(CheckpointId, String)> = open_store(args.data_dir.as_deref())
        .ok()
        .and_then(|(_, store)| store.list().ok())
        .map(|listed| {
            listed
                .into_iter()
                .filter_map(|(id, cp)| {
                    cp.ok()
                        .filter(|cp| cp.bucket == args.bucket)
                        .map(|cp| (id, cp.upload_id))
                })
                .collect()
        })
        .unwrap_or_default();
    let resumable_here = |upload_id: &str| {
        local
            .iter()
            .find(|(_, u)| u == upload_id)
            .map(|(id, _)| id.clone())
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut total = 0u64;
    for u in &uploads {
        let (size, parts) = match client.list_parts(&args.bucket, &u.key, &u.upload_id).await {
            Ok(parts) => {
                let bytes: u64 = parts.iter().map(|p| p.size).sum();
                total += bytes;
                (human_bytes(bytes), parts.len())
            }
            // Gone meanwhile, or not readable: still worth listing; the abort will tell.
            Err(_) => ("size unknown".to_owned(), 0),
        };
        let started = parse_iso8601(&u.initiated)
            .map(|t| format!("started {} ago", age(now - t)))
            .unwrap_or_else(|| "start time unknown".into());
        let mark = resumable_here(&u.upload_id)
            .map(|id| format!("  (this computer can resume it: {id})"))
            .unwrap_or_default();
        println!(
            "{}  upload {}  {started}  {size} in {parts} parts{mark}",
            u.key, u.upload_id
        );
    }
    println!(
        "{} unfinished upload(s) in {place}, {} stored.",
        uploads.len(),
        human_bytes(total)
    );
    let go = if args.yes {
        true
    } else if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        ask("Abort them and delete their parts? Marked uploads would have to start over.")
    } else {
        println!("Nothing was removed. To abort them, run the same command with --yes.");
        return Ok(ExitCode::from(EXIT_OK));
    };
    if !go {
        println!("Nothing was removed.");
        return Ok(ExitCode::from(EXIT_OK));
    }
    let local_store = open_store(args.data_dir.as_deref()).ok().map(|(_, s)| s);
    let mut failed = 0usize;
    for u in &uploads {
        match client
            .abort_multipart_upload(&args.bucket, &u.key, &u.upload_id)
            .await
        {
            Ok(()) => {
                println!("ABORTED {} (upload {})", u.key, u.upload_id);
                forget(local_store.as_ref(), resumable_here(&u.upload_id));
            }
            Err(e) if e.is_no_such_upload() => {
                println!("ABORTED {} (upload {}, already gone)", u.key, u.upload_id);
                forget(local_store.as_ref(), resumable_here(&u.upload_id));
            }
            Err(e) => {
                failed += 1;
                let je = JobError::from_oss(&e);
                eprintln!(
                    "FAILED {} (upload {}): {}{}",
                    u.key,
                    u.upload_id,
                    je.message,
                    super::display::error_tail(&je)
                );
            }
        }
    }
    if failed > 0 {
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(ExitCode::from(EXIT_OK))
}
