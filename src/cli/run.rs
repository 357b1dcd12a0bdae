//! Runs a batch of upload jobs for `upload` and `resume`: a few files at once, a global cap on
//! parts in flight, one shared bandwidth limit, Ctrl-C as "stop and keep what was sent", and a
//! summary that decides the exit status.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::display::{Display, JobView};
use super::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, resume_hint};
use crate::engine::checkpoint::CheckpointStore;
use crate::engine::job::{Control, JobEnv, JobOutcome, JobSpec, run_job};
use crate::engine::retry::Backoff;
use crate::engine::throttle::Throttle;
use crate::oss::client::Client;

/// One file to upload, with the client for its endpoint.
pub struct Item {
    pub spec: JobSpec,
    pub client: Client,
    /// How the file is named in the output.
    pub label: String,
}

/// How the batch runs.
pub struct Settings {
    /// Files at once.
    pub jobs: usize,
    /// Bytes per second for all files together.
    pub limit_rate: Option<u64>,
    /// The `--data-dir` the user gave, repeated in the resume hint.
    pub data_dir: Option<PathBuf>,
    /// `upload` rather than `resume`: running the same command again is also a way on, and the
    /// only one for files that had not started or were sent in one request.
    pub from_upload: bool,
}

/// Runs every item and prints the outcome of each; the exit status says whether all succeeded.
pub async fn run_batch(items: Vec<Item>, store: CheckpointStore, settings: Settings) -> ExitCode {
    let display = Display::new();
    let jobs = settings.jobs.max(1);
    let max_threads = items.iter().map(|i| i.spec.threads).max().unwrap_or(1);
    let throttle = Throttle::new(settings.limit_rate);
    // One cap for the whole run: `jobs` files each with `threads` parts in flight.
    let part_permits = Arc::new(Semaphore::new(jobs * max_threads.max(1)));
    let (control_tx, control_rx) = watch::channel(Control::Run);
    let total = items.len();
    let start_job = |item: Item, tasks: &mut JoinSet<(Arc<JobView>, JobOutcome)>| {
        let env = JobEnv {
            client: item.client,
            store: store.clone(),
            throttle: throttle.clone(),
            part_permits: part_permits.clone(),
            backoff: Backoff::default(),
        };
        let control = control_rx.clone();
        let target = format!("oss://{}/{}", item.spec.bucket, item.spec.key);
        let view = Arc::new(display.job(item.label, target));
        tasks.spawn(async move {
            let sink = view.clone();
            let outcome =
                run_job(&item.spec, &env, control, Arc::new(move |e| sink.event(e))).await;
            (view, outcome)
        });
    };

    // Only `jobs` tasks exist at a time: a job's future is large, and a folder may hold a
    // hundred thousand files.
    let mut waiting = VecDeque::from(items);
    let mut tasks = JoinSet::new();
    while tasks.len() < jobs
        && let Some(item) = waiting.pop_front()
    {
        start_job(item, &mut tasks);
    }

    let mut ok = 0usize;
    let mut failed = 0usize;
    let mut resumable = 0usize;
    let mut stopping = false;
    // One listener for the whole run, so a Ctrl-C between two polls is not lost.
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    let mut listening = true;
    loop {
        tokio::select! {
            joined = tasks.join_next() => {
                let Some(joined) = joined else { break };
                if !stopping && let Some(item) = waiting.pop_front() {
                    start_job(item, &mut tasks);
                }
                match joined {
                    Ok((view, outcome)) => {
                        if view.finish(&outcome) {
                            ok += 1;
                        } else {
                            failed += 1;
                            if matches!(outcome, JobOutcome::Interrupted(_) | JobOutcome::Paused) {
                                resumable += 1;
                            }
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        display.error_line(&format!("FAILED: an upload task ended unexpectedly: {e}"));
                    }
                }
            }
            signal = &mut interrupt, if listening => {
                listening = false;
                if signal.is_err() {
                    // Ctrl-C cannot be caught here: it ends the process as usual.
                    continue;
                }
                stopping = true;
                display.line("Stopping: the parts sent so far are kept (press Ctrl-C again to quit at once).");
                let _ = control_tx.send(Control::Pause);
                tokio::spawn(async {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        // Checkpoints are written atomically, so leaving now loses nothing.
                        std::process::exit(i32::from(EXIT_INTERRUPTED));
                    }
                });
            }
        }
    }

    let mut hint = resume_hint(settings.data_dir.as_ref());
    if settings.from_upload {
        hint.push_str(
            " (or the same upload command again, which also sends the files not started yet)",
        );
    }
    if stopping {
        display.line(&format!(
            "Stopped: {ok} of {total} files uploaded. To continue, run: {hint}"
        ));
        return ExitCode::from(EXIT_INTERRUPTED);
    }
    if failed == 0 {
        if total > 1 {
            display.line(&format!("All {total} files uploaded and verified."));
        }
        return ExitCode::from(EXIT_OK);
    }
    display.error_line(&format!("{failed} of {total} files were not uploaded."));
    if resumable > 0 {
        display.error_line(&format!(
            "{resumable} of them stopped because of network or service trouble; what was sent is kept. To continue, run: {hint}"
        ));
    }
    ExitCode::from(EXIT_FAILED)
}
