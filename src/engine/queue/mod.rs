//! The queue: owns every job, runs up to `jobs` of them at once under one global cap on parts in
//! flight, turns commands into job controls and job events into API events, and keeps the
//! queue file (`persist`) so that killing the program at any moment loses nothing. How one run
//! of a job is started and reported lives in `run`.

mod accounts;
mod online;
mod persist;
mod run;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc as tmpsc, watch};

use super::checkpoint::CheckpointStore;
use super::outcome::{JobError, JobOutcome};
use super::pool::Pool;
use super::spec::{AccountId, Connection, JobSpec};
use super::throttle::Throttle;
use super::upload::{Control, cancel_idle};
use crate::engine::api::{
    Command, Concurrency, EngineConfig, EngineHandle, EngineSettings, Event, JobId, JobInfo,
    JobState, Wake,
};
use crate::oss::client::Client;
use crate::oss::sign::Credentials;
use crate::text::Text;

/// The queue file is written at most this often while jobs change (and always at shutdown).
const PERSIST_EVERY: Duration = Duration::from_secs(1);
/// How often the pool's controller looks at its window, and room for another job is sought.
const POOL_TICK: Duration = Duration::from_millis(50);
/// How often the faces hear what the network is doing.
const THROUGHPUT_EVERY: Duration = Duration::from_secs(1);

/// Starts the engine on its own thread with its own runtime.
pub fn start(config: EngineConfig, wake: Wake) -> std::io::Result<EngineHandle> {
    let (commands_tx, commands_rx) = tmpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::channel();
    // Two threads keep a laptop's other work responsive; more help only when many parts are
    // CRC-checked at once on a fast link.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
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

/// How a job's task ended. One per finished run, moved once: boxing the outcome would buy
/// nothing.
#[allow(clippy::large_enum_variant)]
enum TaskEnd {
    Ran(JobOutcome),
    Skipped,
    Cancelled,
}

struct Engine {
    jobs: BTreeMap<JobId, Job>,
    next_id: JobId,
    settings: EngineSettings,
    /// Each account's credentials; the empty id is the default account.
    credentials: HashMap<AccountId, Credentials>,
    clients: HashMap<(AccountId, Connection), Client>,
    /// Jobs that could not start because their account had no credentials: they go on when
    /// the credentials come.
    no_key: std::collections::BTreeSet<JobId>,
    store: Option<CheckpointStore>,
    throttle: Throttle,
    /// The one pool of requests in flight, for every job.
    pool: Pool,
    /// When the last throughput event went out.
    last_throughput: Instant,
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
    /// Queue network-stopped jobs again when the endpoint answers.
    resume_when_online: bool,
    /// Jobs the network stopped, waiting for it to come back.
    offline: std::collections::BTreeSet<JobId>,
    /// A reachability check is under way.
    probing: bool,
    /// When the next check starts, and the wait after it if it fails.
    next_probe: Option<tokio::time::Instant>,
    probe_wait: Duration,
    probe_tx: tmpsc::UnboundedSender<bool>,
    probe_rx: Option<tmpsc::UnboundedReceiver<bool>>,
    shutting_down: bool,
}

impl Engine {
    fn new(config: EngineConfig, sink: Sink) -> Self {
        let (probe_tx, probe_rx) = tmpsc::unbounded_channel();
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
            pool: Pool::new(config.settings.fixed_pool()),
            settings: config.settings,
            credentials: config
                .credentials
                .map(|c| (AccountId::new(), c))
                .into_iter()
                .collect(),
            clients: HashMap::new(),
            no_key: std::collections::BTreeSet::new(),
            store,
            last_throughput: Instant::now(),
            running: 0,
            sink,
            done_tx,
            done_rx: Some(done_rx),
            queue_file: config
                .persist_queue
                .then(|| config.data_dir.join(persist::QUEUE_FILE)),
            dirty: false,
            next_persist: Instant::now(),
            scan_from: 0,
            resume_when_online: config.resume_when_online,
            offline: std::collections::BTreeSet::new(),
            probing: false,
            next_probe: None,
            probe_wait: Duration::ZERO,
            probe_tx,
            probe_rx: Some(probe_rx),
            shutting_down: false,
        }
    }

    async fn run(mut self, mut commands: tmpsc::UnboundedReceiver<Command>) {
        self.restore();
        let (Some(mut done_rx), Some(mut probe_rx)) = (self.done_rx.take(), self.probe_rx.take())
        else {
            return;
        };
        let mut tick = tokio::time::interval(PERSIST_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pool_tick = tokio::time::interval(POOL_TICK);
        pool_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown) | None => self.begin_shutdown(),
                    Some(cmd) => self.handle(cmd),
                },
                Some((id, end)) = done_rx.recv() => self.finish(id, end),
                Some(reachable) = probe_rx.recv() => self.network_probed(reachable),
                () = sleep_until_some(self.next_probe) => self.probe_network(),
                _ = pool_tick.tick(), if self.running > 0 => self.pool_tick(),
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
                self.pool.set_fixed(s.fixed_pool());
                self.settings = s;
            }
            Command::SetCredentials(c) => self.set_credentials(AccountId::new(), Some(c)),
            Command::SetAccountCredentials {
                account,
                credentials,
            } => self.set_credentials(account, credentials),
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
            (None, JobState::Queued) => {
                self.set_state(id, JobState::Paused, None);
                // A job waiting for its run ends that wait here: the one terminal event.
                self.sink.send(Event::Finished {
                    id,
                    outcome: JobOutcome::Paused,
                });
            }
            (None, JobState::Interrupted) => self.set_state(id, JobState::Paused, None),
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
                JobState::Queued | JobState::Done | JobState::Unverified | JobState::Skipped
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
        let needs_abort = !job.state.is_finished();
        let was_queued = job.state == JobState::Queued;
        let spec = job.spec.clone();
        if needs_abort && let Ok(env) = self.make_env(&spec.account, &spec.connection) {
            tokio::spawn(async move { cancel_idle(&spec, &env).await });
        }
        if remove {
            self.jobs.remove(&id);
            self.dirty = true;
            self.sink.send(Event::Removed { id });
        } else if needs_abort {
            self.set_state(id, JobState::Cancelled, None);
            if was_queued {
                self.sink.send(Event::Finished {
                    id,
                    outcome: JobOutcome::Cancelled,
                });
            }
        }
    }

    /// Lets the pool judge its window, and tells the faces what the network does.
    fn pool_tick(&mut self) {
        self.pool.tick();
        if self.last_throughput.elapsed() >= THROUGHPUT_EVERY {
            self.last_throughput = Instant::now();
            let (in_flight, goodput) = self.pool.load();
            self.sink.send(Event::Throughput {
                in_flight,
                bytes_per_second: goodput as u64,
            });
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

    /// Starts queued jobs in queue order: with a fixed concurrency while fewer than `jobs` run;
    /// automatically while the pool has room for more requests (a big file's parts may fill it
    /// alone, a folder of small files needs a job per request), never more than twice the
    /// pool's size, so that some wait ready for the next free place.
    /// Whether a job waits to be started (from `scan_from` on, as in `schedule`).
    fn has_queued(&self) -> bool {
        self.jobs
            .range(self.scan_from..)
            .any(|(_, j)| j.state == JobState::Queued && j.control.is_none())
    }

    fn schedule(&mut self) {
        loop {
            let more = match self.settings.concurrency() {
                Concurrency::Fixed { jobs, .. } => self.running < jobs,
                Concurrency::Automatic => {
                    let limit = self.pool.limit();
                    self.running < limit || (self.running < 2 * limit && self.pool.has_room())
                }
            };
            if !more {
                let queued = self.has_queued();
                self.pool.set_files_waiting(queued);
                if self.settings.concurrency() == Concurrency::Automatic && queued {
                    // Files wait for room: the pool's controller counts that as demand.
                    self.pool.backlog();
                }
                return;
            }
            // Only ids from `scan_from` on can be queued: with 100,000 jobs, most of them done,
            // each scan would otherwise walk the whole queue.
            let Some(id) = self
                .jobs
                .range(self.scan_from..)
                .find(|(_, j)| j.state == JobState::Queued && j.control.is_none())
                .map(|(id, _)| *id)
            else {
                self.scan_from = self.next_id;
                self.pool.set_files_waiting(false);
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
        let env = match self.make_env(&spec.account, &spec.connection) {
            Ok(env) => env,
            Err(e) => {
                if !self.credentials.contains_key(&spec.account) {
                    self.no_key.insert(id);
                }
                tracing::warn!(job = id, key = %spec.key, "cannot start: {}", e.detail);
                self.set_state(id, JobState::Failed, Some(e.clone()));
                self.sink.send(Event::Finished {
                    id,
                    outcome: JobOutcome::Failed(e),
                });
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
            let end = run::run_one(id, spec, env, existing, control_rx, sink).await;
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
        run::log_end(id, &job.spec, &end);
        let (state, error, outcome) = match end {
            TaskEnd::Skipped => (JobState::Skipped, None, Some(JobOutcome::Skipped)),
            TaskEnd::Cancelled => (JobState::Cancelled, None, Some(JobOutcome::Cancelled)),
            TaskEnd::Ran(outcome) => {
                let (state, error) = match &outcome {
                    JobOutcome::Verified { size, .. } => {
                        job.confirmed = *size;
                        (JobState::Done, None)
                    }
                    JobOutcome::Unverified { size, .. } => {
                        job.confirmed = *size;
                        (JobState::Unverified, None)
                    }
                    JobOutcome::Skipped => (JobState::Skipped, None),
                    JobOutcome::Paused if self.shutting_down => (JobState::Interrupted, None),
                    JobOutcome::Paused => (JobState::Paused, None),
                    JobOutcome::Cancelled => (JobState::Cancelled, None),
                    JobOutcome::Interrupted(e) => (JobState::Interrupted, Some(e.clone())),
                    JobOutcome::Failed(e) => (JobState::Failed, Some(e.clone())),
                };
                (state, error, Some(outcome))
            }
        };
        let network_stop = matches!(&error, Some(e) if e.network) && state == JobState::Interrupted;
        self.set_state(id, state, error);
        if network_stop {
            self.wait_for_network(id);
        }
        if let Some(outcome) = outcome {
            self.sink.send(Event::Finished { id, outcome });
        }
        if remove {
            self.jobs.remove(&id);
            self.sink.send(Event::Removed { id });
        }
    }
}

/// Sleeps until `at`, or for ever when there is nothing to wait for.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
