//! Runs a batch of uploads for `upload` and `resume` through the one engine the window uses:
//! spawn it (no queue file), add the jobs, turn Ctrl-C into pause-all, show its events as bars
//! or `START`/`OK`/`RETRY`/`FAILED` lines, and tally the exit status.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::TryRecvError;

use super::display::{Display, JobView};
use super::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, resume_hint};
use crate::engine::{
    Command, EngineConfig, EngineHandle, EngineSettings, Event, JobId, JobOutcome, JobSpec,
    JobState,
};
use crate::oss::sign::Credentials;

/// One file to upload.
pub struct Item {
    pub spec: JobSpec,
    /// How the file is named in the output.
    pub label: String,
}

/// How the batch runs.
pub struct Settings {
    /// The data folder (checkpoints).
    pub data_root: PathBuf,
    pub credentials: Credentials,
    pub engine: EngineSettings,
    /// The `--data-dir` the user gave, repeated in the resume hint.
    pub data_dir: Option<PathBuf>,
    /// `upload` rather than `resume`: running the same command again is also a way on, and the
    /// only one for files that had not started or were sent in one request.
    pub from_upload: bool,
    /// Things in the folders that were not regular files, listed before the run.
    pub left_out: usize,
}

/// How the jobs of a batch ended.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    skipped: usize,
    failed: usize,
    /// Failed or stopped with their work kept: `resume` continues them.
    resumable: usize,
    /// Counted in `ok` too: stored, but the server could not prove the bytes.
    unverified: usize,
}

/// Runs every item and prints the outcome of each; the exit status says whether all succeeded.
pub async fn run_batch(items: Vec<Item>, settings: Settings) -> ExitCode {
    let display = Display::new(settings.engine.retry_for);
    let total = items.len();
    let notify = Arc::new(tokio::sync::Notify::new());
    let wake = {
        let notify = notify.clone();
        Arc::new(move || notify.notify_one())
    };
    let config = EngineConfig {
        data_dir: settings.data_root.clone(),
        credentials: Some(settings.credentials.clone()),
        settings: settings.engine.clone(),
        persist_queue: false,
        resume_when_online: false,
    };
    let engine = match crate::engine::spawn(config, wake) {
        Ok(e) => e,
        Err(e) => {
            display.error_line(&format!("error: cannot start the upload engine: {e}"));
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let mut waiting: VecDeque<(String, String)> = items
        .iter()
        .map(|i| {
            let target = format!("oss://{}/{}", i.spec.bucket, i.spec.key);
            (i.label.clone(), target)
        })
        .collect();
    engine.send(Command::Add(items.into_iter().map(|i| i.spec).collect()));

    let mut views: HashMap<JobId, JobView> = HashMap::with_capacity(total);
    let mut active: usize = 0;
    let mut tally = Tally::default();
    let mut stopping = false;
    let mut engine_gone = false;
    // One listener for the whole run, so a Ctrl-C between two polls is not lost.
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    let mut listening = true;
    loop {
        loop {
            let event = match engine.events.try_recv() {
                Ok(e) => e,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    engine_gone = true;
                    break;
                }
            };
            show(
                &display,
                &mut views,
                &mut waiting,
                &mut active,
                &mut tally,
                event,
            );
        }
        if (waiting.is_empty() && active == 0) || engine_gone {
            break;
        }
        tokio::select! {
            () = notify.notified() => {}
            signal = &mut interrupt, if listening => {
                listening = false;
                if signal.is_err() {
                    // Ctrl-C cannot be caught here: it ends the process as usual.
                    continue;
                }
                stopping = true;
                display.line("Stopping: the parts sent so far are kept (press Ctrl-C again to quit at once).");
                engine.send(Command::PauseAll);
                tokio::spawn(async {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        // Checkpoints are written atomically, so leaving now loses nothing.
                        std::process::exit(i32::from(EXIT_INTERRUPTED));
                    }
                });
            }
        }
    }
    stop_engine(engine).await;
    if engine_gone && (!waiting.is_empty() || active > 0) {
        display
            .error_line("FAILED: the upload engine stopped unexpectedly; what was sent is kept.");
        tally.failed += waiting.len() + active;
    }
    summary(&display, &tally, total, stopping, &settings)
}

/// Folds one engine event into the output and the tally. Every job added ends with exactly one
/// `Finished`, so the batch is over when as many have come as jobs were added.
fn show(
    display: &Display,
    views: &mut HashMap<JobId, JobView>,
    waiting: &mut VecDeque<(String, String)>,
    active: &mut usize,
    tally: &mut Tally,
    event: Event,
) {
    match event {
        Event::Added(info) => {
            // Jobs are added in the order they were sent: the first label waiting is theirs.
            let (label, target) = waiting.pop_front().unwrap_or_default();
            views.insert(info.id, display.job(label, target));
            *active += 1;
        }
        Event::State {
            id,
            state: JobState::Verifying,
            ..
        } => {
            if let Some(v) = views.get(&id) {
                v.verifying();
            }
        }
        Event::Finished { id, outcome } => {
            *active = active.saturating_sub(1);
            if let Some(v) = views.get(&id) {
                v.finish(&outcome);
            }
            match outcome {
                JobOutcome::Verified { .. } => tally.ok += 1,
                JobOutcome::Unverified { .. } => {
                    tally.ok += 1;
                    tally.unverified += 1;
                }
                JobOutcome::Skipped => tally.skipped += 1,
                JobOutcome::Interrupted(_) | JobOutcome::Paused => {
                    tally.failed += 1;
                    tally.resumable += 1;
                }
                JobOutcome::Failed(_) | JobOutcome::Cancelled => tally.failed += 1,
            }
        }
        Event::Problem(text) => display.error_line(&format!("error: {}", text.en)),
        Event::State { .. }
        | Event::Removed { .. }
        | Event::Restored { .. }
        | Event::Throughput { .. }
        | Event::Stopped => {}
        Event::Renamed { id, key } => {
            if let Some(v) = views.get_mut(&id) {
                v.renamed(&key);
            }
        }
        Event::Started {
            id,
            plan,
            resumed_parts,
            resumed_bytes,
        } => {
            if let Some(v) = views.get(&id) {
                v.started(plan, resumed_parts, resumed_bytes);
            }
        }
        Event::Progress { id, progress } => {
            if let Some(v) = views.get(&id) {
                v.progress(&progress);
            }
        }
        Event::Retrying {
            id,
            attempt,
            delay,
            error,
        } => {
            if let Some(v) = views.get(&id) {
                v.retrying(attempt, delay, &error);
            }
        }
        Event::Notice { id, message } => {
            if let Some(v) = views.get(&id) {
                v.notice(&message);
            }
        }
    }
}

/// Stops the engine thread without holding up the async threads while it winds down.
async fn stop_engine(engine: EngineHandle) {
    let _ = tokio::task::spawn_blocking(move || engine.shutdown()).await;
}

/// The closing lines and the exit status.
fn summary(
    display: &Display,
    tally: &Tally,
    total: usize,
    stopping: bool,
    settings: &Settings,
) -> ExitCode {
    let mut hint = resume_hint(settings.data_dir.as_ref());
    if settings.from_upload {
        hint.push_str(
            " (or the same upload command again, which also sends the files not started yet)",
        );
    }
    let ok = tally.ok;
    if stopping {
        display.line(&format!(
            "Stopped: {ok} of {total} files uploaded. To continue, run: {hint}"
        ));
        return ExitCode::from(EXIT_INTERRUPTED);
    }
    let failed = total.saturating_sub(ok + tally.skipped);
    if failed == 0 {
        let mut notes = Vec::new();
        // One file alone says it on its own OK line; the summary repeats it for many.
        if tally.skipped > 0 {
            notes.push(format!("{} skipped: their names were taken", tally.skipped));
        }
        if settings.left_out > 0 {
            notes.push(format!(
                "{} skipped: not regular files, listed above",
                settings.left_out
            ));
        }
        if total > 1 || !notes.is_empty() {
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            };
            if tally.unverified > 0 {
                display.line(&format!(
                    "All {total} files uploaded; {} of them NOT verified (see above){notes}.",
                    tally.unverified
                ));
            } else {
                display.line(&format!("All {total} files uploaded and verified{notes}."));
            }
        }
        return ExitCode::from(EXIT_OK);
    }
    display.error_line(&format!("{failed} of {total} files were not uploaded."));
    if tally.resumable > 0 {
        display.error_line(&format!(
            "{} of them stopped because of network or service trouble; what was sent is kept. To continue, run: {hint}",
            tally.resumable
        ));
    }
    ExitCode::from(EXIT_FAILED)
}
