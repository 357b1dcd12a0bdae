//! The queue: owns every job, runs up to `jobs` of them at once under one global cap on parts in
//! flight, turns commands into job controls and job events into bridge events, and keeps the
//! queue file so that killing the program at any moment loses nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc as tmpsc, watch};

use super::checkpoint::CheckpointStore;
use super::job::{Connection, Control, JobEnv, JobError, JobEvent, JobOutcome, JobSpec, run_job};
use super::retry::Backoff;
use super::throttle::Throttle;
use crate::bridge::{
    Command, EngineConfig, EngineHandle, EngineSettings, Event, ExistingPolicy, GLOBAL_PART_CAP,
    JobId, JobInfo, JobState, Wake,
};
use crate::oss::client::Client;
use crate::oss::error::ErrorClass;
use crate::oss::sign::Credentials;
use crate::text::Text;

/// The queue file's name in the data dir.
pub const QUEUE_FILE: &str = "queue.json";
const QUEUE_VERSION: u32 = 1;
/// The queue file is written at most this often while jobs change (and always at shutdown).
const PERSIST_EVERY: Duration = Duration::from_secs(1);

/// Starts the engine on its own thread with its own runtime.
pub fn start(config: EngineConfig, wake: Wake) -> std::io::Result<EngineHandle> {
    let (commands_tx, commands_rx) = tmpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::channel();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("oss-engine")
        .enable_all()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("oss-engine".into())
        .spawn(move || {
            runtime.block_on(async move {
                let engine = Engine::new(
                    config,
                    Sink {
                        tx: events_tx,
                        wake,
                    },
                );
                engine.run(commands_rx).await;
            });
        })?;
    Ok(EngineHandle {
        commands: commands_tx,
        events: events_rx,
        thread: Some(thread),
    })
}

/// Sends events to the face and wakes it.
#[derive(Clone)]
struct Sink {
    tx: mpsc::Sender<Event>,
    wake: Wake,
}

impl Sink {
    fn send(&self, e: Event) {
        let _ = self.tx.send(e);
        (self.wake)();
    }
}

struct Job {
    spec: JobSpec,
    size: u64,
    state: JobState,
    confirmed: u64,
    error: Option<JobError>,
    control: Option<watch::Sender<Control>>,
    /// Forget the job once its run ends (removed while running).
    remove_after: bool,
}

/// How a job's task ended.
enum TaskEnd {
    Ran(JobOutcome),
    Skipped,
    Cancelled,
}

struct Engine {
    jobs: BTreeMap<JobId, Job>,
    next_id: JobId,
    settings: EngineSettings,
    credentials: Option<Credentials>,
    clients: HashMap<Connection, Client>,
    store: Option<CheckpointStore>,
    throttle: Throttle,
    part_permits: Arc<Semaphore>,
    running: usize,
    sink: Sink,
    done_tx: tmpsc::UnboundedSender<(JobId, TaskEnd)>,
    done_rx: Option<tmpsc::UnboundedReceiver<(JobId, TaskEnd)>>,
    queue_file: Option<PathBuf>,
    dirty: bool,
    /// The queue file is not written again before this.
    next_persist: Instant,
    /// No job with a smaller id is queued.
    scan_from: JobId,
    shutting_down: bool,
}

#[derive(Serialize, Deserialize)]
struct StoredQueue {
    version: u32,
    next_id: JobId,
    jobs: Vec<StoredJob>,
}

#[derive(Serialize, Deserialize)]
struct StoredJob {
    id: JobId,
    spec: JobSpec,
    size: u64,
    state: JobState,
    #[serde(default)]
    error: Option<JobError>,
}

impl Engine {
    fn new(config: EngineConfig, sink: Sink) -> Self {
        let (done_tx, done_rx) = tmpsc::unbounded_channel();
        let store = match CheckpointStore::open(&config.data_dir) {
            Ok(s) => Some(s),
            Err(e) => {
                sink.send(Event::Problem(Text::new(
                    e.to_string(),
                    format!("无法使用存放续传记录的文件夹：{e}"),
                )));
                None
            }
        };
        Self {
            jobs: BTreeMap::new(),
            next_id: 1,
            throttle: Throttle::new(config.settings.bandwidth_limit),
            settings: config.settings,
            credentials: config.credentials,
            clients: HashMap::new(),
            store,
            part_permits: Arc::new(Semaphore::new(GLOBAL_PART_CAP)),
            running: 0,
            sink,
            done_tx,
            done_rx: Some(done_rx),
            queue_file: config
                .persist_queue
                .then(|| config.data_dir.join(QUEUE_FILE)),
            dirty: false,
            next_persist: Instant::now(),
            scan_from: 0,
            shutting_down: false,
        }
    }

    async fn run(mut self, mut commands: tmpsc::UnboundedReceiver<Command>) {
        self.restore();
        let Some(mut done_rx) = self.done_rx.take() else {
            return;
        };
        let mut tick = tokio::time::interval(PERSIST_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown) | None => self.begin_shutdown(),
                    Some(cmd) => self.handle(cmd),
                },
                Some((id, end)) = done_rx.recv() => self.finish(id, end),
                _ = tick.tick() => {
                    if self.dirty && Instant::now() >= self.next_persist {
                        let started = Instant::now();
                        self.persist();
                        // A huge queue takes long to write: write it less often, so saving
                        // never takes more than a tenth of the engine's time.
                        self.next_persist = started + started.elapsed() * 10;
                    }
                }
            }
            if self.shutting_down {
                if self.running == 0 {
                    break;
                }
                continue;
            }
            self.schedule();
        }
        self.persist();
        self.sink.send(Event::Stopped);
    }

    fn info(&self, id: JobId, job: &Job) -> JobInfo {
        JobInfo {
            id,
            spec: job.spec.clone(),
            size: job.size,
            state: job.state,
            confirmed: job.confirmed,
            error: job.error.clone(),
        }
    }

    /// Brings back the queue of an earlier session. Jobs that were running or waiting come
    /// back as interrupted: the user chooses when they go on.
    fn restore(&mut self) {
        let Some(path) = self.queue_file.clone() else {
            return;
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                let p = path.display();
                self.sink.send(Event::Problem(Text::new(
                    format!("The saved queue {p} could not be read: {e}."),
                    format!("无法读取保存的上传队列 {p}：{e}。"),
                )));
                return;
            }
        };
        let stored: StoredQueue = match serde_json::from_str(&text) {
            Ok(q) if q_version_ok(&q) => q,
            _ => {
                let aside = path.with_extension("json.damaged");
                let _ = std::fs::rename(&path, &aside);
                let a = aside.display();
                self.sink.send(Event::Problem(Text::new(
                    format!("The saved queue was damaged and could not be restored; it was kept as {a}. Unfinished uploads can still be resumed from the command line (oss-uploader resume --all)."),
                    format!("保存的上传队列已损坏，无法恢复；已另存为 {a}。未完成的上传仍可在命令行中继续（oss-uploader resume --all）。"),
                )));
                return;
            }
        };
        self.next_id = stored.next_id.max(1);
        let mut interrupted = Vec::new();
        for j in stored.jobs {
            let state = match j.state {
                JobState::Queued
                | JobState::Uploading
                | JobState::Verifying
                | JobState::Interrupted => {
                    interrupted.push(j.id);
                    JobState::Interrupted
                }
                other => other,
            };
            let confirmed = match (&self.store, state) {
                (_, JobState::Done) => j.size,
                (Some(store), _) => store
                    .load(&j.spec.checkpoint_id())
                    .map(|cp| cp.bytes_done())
                    .unwrap_or(0),
                _ => 0,
            };
            self.next_id = self.next_id.max(j.id + 1);
            let job = Job {
                spec: j.spec,
                size: j.size,
                state,
                confirmed,
                error: j.error,
                control: None,
                remove_after: false,
            };
            self.sink
                .send(Event::Added(Box::new(self.info(j.id, &job))));
            self.jobs.insert(j.id, job);
        }
        if !interrupted.is_empty() {
            self.sink.send(Event::Restored { interrupted });
        }
    }

    fn persist(&mut self) {
        let Some(path) = self.queue_file.clone() else {
            return;
        };
        let queue = StoredQueue {
            version: QUEUE_VERSION,
            next_id: self.next_id,
            jobs: self
                .jobs
                .iter()
                .map(|(id, j)| StoredJob {
                    id: *id,
                    spec: j.spec.clone(),
                    size: j.size,
                    state: j.state,
                    error: j.error.clone(),
                })
                .collect(),
        };
        match write_atomic(&path, &queue) {
            Ok(()) => self.dirty = false,
            Err(e) => {
                let p = path.display();
                self.sink.send(Event::Problem(Text::new(
                    format!("The queue could not be saved to {p}: {e}. Uploads go on, but the list may not come back after a restart."),
                    format!("无法把上传队列保存到 {p}：{e}。上传会继续，但重启后列表可能无法恢复。"),
                )))
            }
        }
    }

    fn set_state(&mut self, id: JobId, state: JobState, error: Option<JobError>) {
        if let Some(j) = self.jobs.get_mut(&id) {
            j.state = state;
            j.error = error.clone();
            self.dirty = true;
            if state == JobState::Queued {
                self.scan_from = self.scan_from.min(id);
            }
            self.sink.send(Event::State { id, state, error });
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Add(specs) => {
                for spec in specs {
                    let id = self.next_id;
                    self.next_id += 1;
                    let size = std::fs::metadata(&spec.path).map(|m| m.len()).unwrap_or(0);
                    let job = Job {
                        spec,
                        size,
                        state: JobState::Queued,
                        confirmed: 0,
                        error: None,
                        control: None,
                        remove_after: false,
                    };
                    self.sink.send(Event::Added(Box::new(self.info(id, &job))));
                    self.jobs.insert(id, job);
                }
                self.dirty = true;
            }
            Command::Pause(id) => self.pause(id),
            Command::Resume(id) | Command::Retry(id) => self.requeue(id),
            Command::Cancel(id) => self.cancel(id, false),
            Command::Remove(id) => self.cancel(id, true),
            Command::PauseAll => {
                let ids: Vec<JobId> = self.jobs.keys().copied().collect();
                for id in ids {
                    self.pause(id);
                }
            }
            Command::ResumeAll => {
                let ids: Vec<JobId> = self
                    .jobs
                    .iter()
                    .filter(|(_, j)| matches!(j.state, JobState::Paused | JobState::Interrupted))
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.requeue(id);
                }
            }
            Command::ClearFinished => {
                let ids: Vec<JobId> = self
                    .jobs
                    .iter()
                    .filter(|(_, j)| j.state.is_finished())
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.jobs.remove(&id);
                    self.sink.send(Event::Removed { id });
                }
                self.dirty = true;
            }
            Command::SetSettings(s) => {
                self.throttle.set_limit(s.bandwidth_limit);
                self.settings = s;
            }
            Command::SetCredentials(c) => {
                self.credentials = Some(c);
                self.clients.clear();
            }
            Command::Shutdown => self.begin_shutdown(),
        }
    }

    fn pause(&mut self, id: JobId) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        match (&job.control, job.state) {
            (Some(c), _) => {
                let _ = c.send(Control::Pause);
            }
            (None, JobState::Queued | JobState::Interrupted) => {
                self.set_state(id, JobState::Paused, None)
            }
            _ => {}
        }
    }

    fn requeue(&mut self, id: JobId) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        if job.control.is_none()
            && !matches!(
                job.state,
                JobState::Queued | JobState::Done | JobState::Skipped
            )
        {
            self.set_state(id, JobState::Queued, None);
        }
    }

    /// Cancels a job (aborting its server upload), and forgets it when `remove` is set.
    fn cancel(&mut self, id: JobId, remove: bool) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if let Some(c) = &job.control {
            job.remove_after |= remove;
            let _ = c.send(Control::Cancel);
            return;
        }
        let needs_abort = !matches!(
            job.state,
            JobState::Done | JobState::Skipped | JobState::Cancelled
        );
        let spec = job.spec.clone();
        if needs_abort && let Ok(env) = self.make_env(&spec.connection) {
            tokio::spawn(async move { super::job::cancel_server_side(&spec, &env).await });
        }
        if remove {
            self.jobs.remove(&id);
            self.dirty = true;
            self.sink.send(Event::Removed { id });
        } else if needs_abort {
            self.set_state(id, JobState::Cancelled, None);
        }
    }

    fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        for job in self.jobs.values() {
            if let Some(c) = &job.control {
                let _ = c.send(Control::Pause);
            }
        }
    }

    // Called once per job start: a large error type costs nothing worth boxing for.
    #[allow(clippy::result_large_err)]
    fn client_for(&mut self, conn: &Connection) -> Result<Client, JobError> {
        if let Some(c) = self.clients.get(conn) {
            return Ok(c.clone());
        }
        let creds = self.credentials.clone().ok_or_else(|| {
            JobError::plain(Text::new(
                "No AccessKey is set. Enter an AccessKey ID and secret in the settings (or set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET).",
                "尚未设置 AccessKey。请在设置中填写 AccessKey ID 和 Secret（或设置环境变量 OSS_ACCESS_KEY_ID 和 OSS_ACCESS_KEY_SECRET）。",
            ))
        })?;
        let cfg = conn.client_config(creds).map_err(JobError::invalid)?;
        let client = Client::new(cfg).map_err(|e| JobError::from_oss(&e))?;
        self.clients.insert(conn.clone(), client.clone());
        Ok(client)
    }

    /// What a job of this connection needs to run.
    // Called once per job start: a large error type costs nothing worth boxing for.
    #[allow(clippy::result_large_err)]
    fn make_env(&mut self, conn: &Connection) -> Result<JobEnv, JobError> {
        let client = self.client_for(conn)?;
        let store = self.store.clone().ok_or_else(|| {
            JobError::plain(Text::new(
                "The folder for resume records cannot be used; see the message above.",
                "无法使用存放续传记录的文件夹，详见上方的消息。",
            ))
        })?;
        Ok(JobEnv {
            client,
            store,
            throttle: self.throttle.clone(),
            part_permits: self.part_permits.clone(),
            backoff: Backoff::default(),
        })
    }

    /// Starts queued jobs, in queue order, while fewer than `jobs` run.
    fn schedule(&mut self) {
        while self.running < self.settings.jobs.max(1) {
            // Only ids from `scan_from` on can be queued: with 100,000 jobs, most of them done,
            // each scan would otherwise walk the whole queue.
            let Some(id) = self
                .jobs
                .range(self.scan_from..)
                .find(|(_, j)| j.state == JobState::Queued && j.control.is_none())
                .map(|(id, _)| *id)
            else {
                self.scan_from = self.next_id;
                return;
            };
            self.scan_from = id;
            self.launch(id);
        }
    }

    fn launch(&mut self, id: JobId) {
        let Some(spec) = self.jobs.get(&id).map(|j| j.spec.clone()) else {
            return;
        };
        let env = match self.make_env(&spec.connection) {
            Ok(env) => env,
            Err(e) => {
                self.set_state(id, JobState::Failed, Some(e));
                return;
            }
        };
        let (control_tx, control_rx) = watch::channel(Control::Run);
        if let Some(j) = self.jobs.get_mut(&id) {
            j.control = Some(control_tx);
        }
        self.running += 1;
        tracing::info!(
            job = id,
            bucket = %spec.bucket,
            key = %spec.key,
            file = %spec.path.display(),
            "job started"
        );
        self.set_state(id, JobState::Uploading, None);
        let sink = self.sink.clone();
        let done = self.done_tx.clone();
        let existing = self.settings.existing;
        tokio::spawn(async move {
            let end = run_one(id, spec, env, existing, control_rx, sink).await;
            let _ = done.send((id, end));
        });
    }

    fn finish(&mut self, id: JobId, end: TaskEnd) {
        self.running = self.running.saturating_sub(1);
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.control = None;
        let remove = job.remove_after;
        log_end(id, &job.spec, &end);
        let (state, error, outcome) = match end {
            TaskEnd::Skipped => (JobState::Skipped, None, None),
            TaskEnd::Cancelled => (JobState::Cancelled, None, Some(JobOutcome::Cancelled)),
            TaskEnd::Ran(outcome) => {
                let (state, error) = match &outcome {
                    JobOutcome::Verified { size, .. } => {
                        job.confirmed = *size;
                        (JobState::Done, None)
                    }
                    JobOutcome::Paused if self.shutting_down => (JobState::Interrupted, None),
                    JobOutcome::Paused => (JobState::Paused, None),
                    JobOutcome::Cancelled => (JobState::Cancelled, None),
                    JobOutcome::Interrupted(e) => (JobState::Interrupted, Some(e.clone())),
                    JobOutcome::Failed(e) => (JobState::Failed, Some(e.clone())),
                };
                (state, error, Some(outcome))
            }
        };
        self.set_state(id, state, error);
        if let Some(outcome) = outcome {
            self.sink.send(Event::Finished { id, outcome });
        }
        if remove {
            self.jobs.remove(&id);
            self.sink.send(Event::Removed { id });
        }
    }
}

/// One log line per finished run: what a support request needs (key, size, verified CRC, the
/// error and its request id), never credentials.
fn log_end(id: JobId, spec: &JobSpec, end: &TaskEnd) {
    let key = spec.key.as_str();
    match end {
        TaskEnd::Skipped => tracing::info!(job = id, key, "skipped: the object exists"),
        TaskEnd::Cancelled | TaskEnd::Ran(JobOutcome::Cancelled) => {
            tracing::info!(job = id, key, "cancelled")
        }
        TaskEnd::Ran(JobOutcome::Paused) => tracing::info!(job = id, key, "paused"),
        TaskEnd::Ran(JobOutcome::Verified {
            size, crc64, etag, ..
        }) => tracing::info!(
            job = id,
            bucket = %spec.bucket,
            key,
            size,
            crc64 = %format_args!("{crc64:016x}"),
            etag = %etag,
            "upload done, CRC-64 verified"
        ),
        TaskEnd::Ran(JobOutcome::Interrupted(e)) => tracing::warn!(
            job = id,
            key,
            code = e.code.as_deref().unwrap_or(""),
            request_id = e.request_id.as_deref().unwrap_or(""),
            "interrupted (resumable): {}",
            e.detail
        ),
        TaskEnd::Ran(JobOutcome::Failed(e)) => tracing::warn!(
            job = id,
            key,
            code = e.code.as_deref().unwrap_or(""),
            request_id = e.request_id.as_deref().unwrap_or(""),
            "failed: {}",
            e.detail
        ),
    }
}

fn q_version_ok(q: &StoredQueue) -> bool {
    q.version == QUEUE_VERSION
}

/// One run of a job, with the existing-object policy applied first.
async fn run_one(
    id: JobId,
    mut spec: JobSpec,
    env: JobEnv,
    existing: ExistingPolicy,
    control: watch::Receiver<Control>,
    sink: Sink,
) -> TaskEnd {
    // A job with a checkpoint is resuming its own upload: the object is ours to finish.
    let resuming = env.store.load(&spec.checkpoint_id()).is_ok();
    if existing != ExistingPolicy::Overwrite && !resuming {
        match free_key(&env.client, &spec, existing).await {
            Ok(None) => return TaskEnd::Skipped,
            Ok(Some(key)) if key != spec.key => {
                sink.send(Event::Renamed {
                    id,
                    key: key.clone(),
                });
                spec.key = key;
            }
            Ok(Some(_)) => {}
            Err(e) => return TaskEnd::Ran(e),
        }
        if *control.borrow() == Control::Cancel {
            return TaskEnd::Cancelled;
        }
    }
    let events = sink.clone();
    let emit = Arc::new(move |e: JobEvent| match e {
        JobEvent::Progress(progress) => events.send(Event::Progress { id, progress }),
        JobEvent::Notice(message) => events.send(Event::Notice { id, message }),
        JobEvent::Verifying => events.send(Event::State {
            id,
            state: JobState::Verifying,
            error: None,
        }),
        JobEvent::Retrying {
            error,
            delay,
            attempt,
        } => {
            tracing::warn!(
                job = id,
                attempt,
                delay_ms = delay.as_millis() as u64,
                code = error.code.as_deref().unwrap_or(""),
                request_id = error.request_id.as_deref().unwrap_or(""),
                "retrying: {}",
                error.detail
            );
            let secs = delay.as_secs_f64().ceil();
            events.send(Event::Notice {
                id,
                message: Text::new(
                    format!("{} Trying again in {secs:.0} s.", error.message),
                    format!(
                        "{} {secs:.0} 秒后重试。",
                        error.message_in(crate::text::Lang::Zh)
                    ),
                ),
            })
        }
        JobEvent::Started {
            plan,
            resumed_parts,
            resumed_bytes,
        } => {
            if resumed_parts > 0 {
                tracing::info!(
                    job = id,
                    size = plan.size(),
                    parts = plan.part_count(),
                    part_size = plan.part_size(),
                    resumed_parts,
                    resumed_bytes,
                    "upload resumed"
                );
            } else {
                tracing::info!(
                    job = id,
                    size = plan.size(),
                    parts = plan.part_count(),
                    part_size = plan.part_size(),
                    "upload planned"
                );
            }
        }
    });
    TaskEnd::Ran(run_job(&spec, &env, control, emit).await)
}

/// The key to upload under: the job's own when free (or when overwriting), a numbered variant
/// for keep-both, `None` for skip when the key exists.
async fn free_key(
    client: &Client,
    spec: &JobSpec,
    policy: ExistingPolicy,
) -> Result<Option<String>, JobOutcome> {
    let exists = |key: String| async move {
        match client.head_object(&spec.bucket, &key).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("NoSuchKey") => Ok(false),
            Err(e) => {
                let je = JobError::from_oss(&e);
                Err(if matches!(e.class(), ErrorClass::Retry { .. }) {
                    JobOutcome::Interrupted(je)
                } else {
                    JobOutcome::Failed(je)
                })
            }
        }
    };
    if !exists(spec.key.clone()).await? {
        return Ok(Some(spec.key.clone()));
    }
    match policy {
        ExistingPolicy::Overwrite => Ok(Some(spec.key.clone())),
        ExistingPolicy::Skip => Ok(None),
        ExistingPolicy::KeepBoth => {
            for n in 1..10_000 {
                let candidate = numbered_key(&spec.key, n);
                if !exists(candidate.clone()).await? {
                    return Ok(Some(candidate));
                }
            }
            Err(JobOutcome::Failed(JobError::plain(Text::new(
                "No free name was found for this file in the bucket.",
                "在存储桶中找不到可用的新文件名。",
            ))))
        }
    }
}

/// `dir/name.ext` → `dir/name (n).ext`.
pub fn numbered_key(key: &str, n: u32) -> String {
    let (dir, file) = match key.rfind('/') {
        Some(i) => key.split_at(i + 1),
        None => ("", key),
    };
    match file.rfind('.') {
        Some(i) if i > 0 => format!("{dir}{} ({n}){}", &file[..i], &file[i..]),
        _ => format!("{dir}{file} ({n})"),
    }
}

/// Writes JSON atomically: a temporary file in the same folder, synced, renamed over the old.
pub fn write_atomic<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // Buffered: serde_json writes each token on its own, and a queue of 100,000 jobs was
    // millions of write calls (11 s to close the window) instead of a few thousand (0.1 s).
    let mut tmp = std::io::BufWriter::new(tempfile::NamedTempFile::new_in(dir)?);
    serde_json::to_writer(&mut tmp, value).map_err(std::io::Error::other)?;
    let tmp = tmp.into_inner().map_err(|e| e.into_error())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself must reach the disk, or a power cut could bring back the old file.
    super::checkpoint::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_keys() {
        assert_eq!(numbered_key("a/b/photo.jpg", 1), "a/b/photo (1).jpg");
        assert_eq!(numbered_key("notes", 2), "notes (2)");
        assert_eq!(numbered_key("dir/.hidden", 3), "dir/.hidden (3)");
        assert_eq!(numbered_key("x.tar.gz", 1), "x.tar (1).gz");
    }
}
