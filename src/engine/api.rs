//! The engine's one public API, used by both faces (the window and the command line):
//! [`spawn`] starts the engine on its own thread with its own tokio runtime and gives an
//! [`EngineHandle`]; [`Command`]s go in, [`Event`]s come out, so a face never blocks on I/O.
//! The face is woken after each batch of events through the `wake` callback (the window
//! repaints, the CLI reads its channel).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use super::outcome::{JobError, JobOutcome};
use super::plan::UploadPlan;
use super::progress::ProgressSnapshot;
use super::spec::{AccountId, JobSpec};
use crate::oss::sign::Credentials;
use crate::text::Text;

/// Identifies a job for the lifetime of the queue (kept across restarts in the queue file).
pub type JobId = u64;

/// What to do when the object's key already exists in the bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExistingPolicy {
    /// Replace the object.
    #[default]
    Overwrite,
    /// Leave the object and mark the job skipped.
    Skip,
    /// Skip when the object is this file (same size and CRC-64), else replace it.
    SkipIdentical,
    /// Upload under a new name: `name (1).ext`, `name (2).ext`, …
    KeepBoth,
}

/// Engine-wide settings that may change while it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineSettings {
    /// Files uploading at once, fixed by a person; `None` lets the engine decide (see
    /// [`EngineSettings::concurrency`]).
    pub jobs: Option<usize>,
    /// Parts of one file in flight, fixed by a person; `None` lets the engine decide.
    pub threads: Option<usize>,
    /// Bytes per second for all uploads together; `None` is unlimited.
    pub bandwidth_limit: Option<u64>,
    pub existing: ExistingPolicy,
    /// How long a request keeps being retried through network or service trouble before the
    /// upload stops (resumable).
    pub retry_for: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            jobs: None,
            threads: None,
            bandwidth_limit: None,
            existing: ExistingPolicy::Overwrite,
            retry_for: super::retry::DEFAULT_MAX_ELAPSED,
        }
    }
}

/// How many requests, files and parts of a file may be in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concurrency {
    /// The engine sizes one pool of requests for the whole queue by the goodput it measures
    /// (`engine::pool`): many small files, or many parts of one big file, as the link allows.
    Automatic,
    /// As a person set it: `jobs` files at once, `threads` parts of each, at most
    /// `jobs × threads` (and never more than [`MAX_IN_FLIGHT`]) requests in all.
    Fixed { jobs: usize, threads: usize },
}

impl EngineSettings {
    /// Automatic unless a person fixed the files or the parts at once; a number fixed alone
    /// takes the other's default beside it, as the command line always did.
    pub fn concurrency(&self) -> Concurrency {
        match (self.jobs, self.threads) {
            (None, None) => Concurrency::Automatic,
            (jobs, threads) => Concurrency::Fixed {
                jobs: jobs.unwrap_or(DEFAULT_JOBS).clamp(1, MAX_THREADS),
                threads: threads.unwrap_or(DEFAULT_THREADS).clamp(1, MAX_THREADS),
            },
        }
    }

    /// A fixed size for the pool of requests in flight, or `None` when the engine sizes it.
    /// Both faces get it from here.
    pub fn fixed_pool(&self) -> Option<usize> {
        match self.concurrency() {
            Concurrency::Automatic => None,
            Concurrency::Fixed { jobs, threads } => {
                Some(jobs.saturating_mul(threads).min(MAX_IN_FLIGHT))
            }
        }
    }

    /// Parts of one file sent at once: as fixed, or as many as the pool allows.
    pub fn threads_per_file(&self) -> usize {
        match self.concurrency() {
            Concurrency::Automatic => MAX_IN_FLIGHT,
            Concurrency::Fixed { threads, .. } => threads,
        }
    }
}

/// Files uploading at once when a person fixes only the parts.
pub const DEFAULT_JOBS: usize = 3;
/// Parts of one file in flight when a person fixes only the files (as Alibaba's resumable
/// upload).
pub const DEFAULT_THREADS: usize = 3;
/// The most parts of one file, or files, in flight that a user may ask for: beyond this a
/// connection only gets slower.
pub const MAX_THREADS: usize = 64;
/// The cap on requests in flight across all jobs.
pub use super::pool::MAX_IN_FLIGHT;

/// What a face asks of the engine.
#[derive(Clone, Debug)]
pub enum Command {
    /// Queue uploads; each becomes a job with a new id (`Event::Added`).
    Add(Vec<JobSpec>),
    Pause(JobId),
    Resume(JobId),
    /// Stop, abort the server upload, delete the checkpoint.
    Cancel(JobId),
    /// Run a failed, interrupted or cancelled job again (resuming what it can).
    Retry(JobId),
    /// Forget a job that is not running (a running one is cancelled first).
    Remove(JobId),
    PauseAll,
    ResumeAll,
    /// Forget every job that ended verified, skipped or cancelled.
    ClearFinished,
    SetSettings(EngineSettings),
    /// The credentials of the default account (jobs whose `account` is empty): the command
    /// line's, and the window's first connection.
    SetCredentials(Credentials),
    /// The credentials of one account (`None` forgets them: the connection was removed). Jobs
    /// of that account that stopped for want of a key are queued again.
    SetAccountCredentials {
        account: AccountId,
        credentials: Option<Credentials>,
    },
    /// Pause everything and stop the engine thread; checkpoints and the queue file stay.
    Shutdown,
}

/// Where a job stands, as the queue table shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Queued,
    Uploading,
    /// Running, but its requests are being retried because the network or the service cannot
    /// be reached.
    Waiting,
    Paused,
    /// Stopped by network trouble or a crash; resumable.
    Interrupted,
    Verifying,
    /// Uploaded and verified by a check the server made (CRC-64, or each part's MD5).
    Done,
    /// Uploaded with the file's size, but the server's answers could not prove its bytes.
    Unverified,
    /// Left alone because the key existed and the policy said skip.
    Skipped,
    Failed,
    Cancelled,
}

impl JobState {
    /// Whether the job is over and will not run again unless retried.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Done | Self::Unverified | Self::Skipped | Self::Cancelled
        )
    }

    /// Whether the job is sending or about to.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Queued | Self::Uploading | Self::Waiting | Self::Verifying
        )
    }
}

/// A job as the faces see it when it appears.
#[derive(Clone, Debug, PartialEq)]
pub struct JobInfo {
    pub id: JobId,
    pub spec: JobSpec,
    /// The file's size when queued (0 when it could not be read).
    pub size: u64,
    pub state: JobState,
    /// Bytes already confirmed (a restored job's checkpoint).
    pub confirmed: u64,
    pub error: Option<JobError>,
}

/// What the engine tells the faces.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A job entered the queue: from `Command::Add`, or restored from the queue file at start.
    Added(Box<JobInfo>),
    /// A job's key changed (keep-both policy picked a new name).
    Renamed {
        id: JobId,
        key: String,
    },
    State {
        id: JobId,
        state: JobState,
        error: Option<JobError>,
    },
    /// A run fixed its plan: how many parts, and what an earlier run already sent.
    Started {
        id: JobId,
        plan: UploadPlan,
        resumed_parts: u32,
        resumed_bytes: u64,
    },
    Progress {
        id: JobId,
        progress: ProgressSnapshot,
    },
    /// A request failed and will be tried again after `delay`; the job goes on.
    Retrying {
        id: JobId,
        attempt: u32,
        delay: Duration,
        error: JobError,
    },
    /// Something the user should know that does not stop the job.
    Notice {
        id: JobId,
        message: Text,
    },
    /// The job ran to an end: exactly one per run. A queued job that leaves the queue without
    /// a run (paused or cancelled while waiting, or unable to start) gets one too, so a face
    /// that added N jobs knows the batch is over after N of these.
    Finished {
        id: JobId,
        outcome: JobOutcome,
    },
    Removed {
        id: JobId,
    },
    /// Jobs from an earlier session that did not finish: the window offers "Resume all".
    Restored {
        interrupted: Vec<JobId>,
    },
    /// The engine could not do something that is not tied to one job (queue file unwritable…).
    Problem(Text),
    /// What the network is doing, about once a second while uploads run: requests in flight
    /// and the bytes per second they carry together (the status bar says it in plain words).
    Throughput {
        in_flight: usize,
        bytes_per_second: u64,
    },
    /// The engine thread stopped (after `Command::Shutdown`).
    Stopped,
}

/// How the engine starts.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    /// The default account's credentials (more come with [`Command::SetAccountCredentials`]).
    pub credentials: Option<Credentials>,
    pub settings: EngineSettings,
    /// Keep the queue in `<data dir>/queue.json` and restore it at start (the window does; the
    /// CLI does not).
    pub persist_queue: bool,
    /// Queue again by itself a job the network stopped, once the endpoint answers (the window
    /// does; the command line ends with its `--retry-for` budget and says how to resume).
    pub resume_when_online: bool,
}

/// Called after events were sent, so a window can repaint.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// Starts the engine on its own thread with its own runtime.
pub fn spawn(config: EngineConfig, wake: Wake) -> std::io::Result<EngineHandle> {
    super::queue::start(config, wake)
}

/// What a face holds: send commands, read events.
pub struct EngineHandle {
    pub(crate) commands: tokio::sync::mpsc::UnboundedSender<Command>,
    pub events: mpsc::Receiver<Event>,
    pub(crate) thread: Option<std::thread::JoinHandle<()>>,
}

impl EngineHandle {
    /// Sends a command; after the engine stopped this does nothing.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// A sender that can be cloned into other threads (file dialogs, folder walkers).
    pub fn sender(&self) -> CommandSender {
        CommandSender(self.commands.clone())
    }

    /// Every event that has arrived, without waiting.
    pub fn drain(&self) -> Vec<Event> {
        self.events.try_iter().collect()
    }

    /// Stops the engine and waits for its thread: running jobs are paused, checkpoints kept.
    pub fn shutdown(mut self) {
        self.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
    }
}

/// A clonable way to send commands.
#[derive(Clone)]
pub struct CommandSender(tokio::sync::mpsc::UnboundedSender<Command>);

impl CommandSender {
    pub fn send(&self, command: Command) {
        let _ = self.0.send(command);
    }
}
