//! The upload engine, one for both faces. [`api`] is its only door: a face spawns the engine,
//! sends [`Command`]s and reads [`Event`]s. Inside: the queue (`queue`: which jobs run, the
//! queue file), one job's run (`upload`: single PUT, multipart send, resume, checkpoint saves,
//! complete and verify), and the building blocks that need little or no I/O: part planning,
//! the checkpoint store, where our data lives, byte-level progress, retry backoff, the shared
//! bandwidth limit and the folder walker that turns dropped paths into object keys.
//!
//! The engine imports no face: `app` and `cli` sit above it.

pub mod api;
pub mod checkpoint;
pub mod outcome;
pub mod paths;
pub mod plan;
pub mod pool;
pub mod progress;
mod queue;
pub mod retry;
pub mod spec;
pub mod throttle;
pub mod upload;
pub mod walk;

pub use api::{
    Command, CommandSender, Concurrency, DEFAULT_JOBS, DEFAULT_THREADS, EngineConfig, EngineHandle,
    EngineSettings, Event, ExistingPolicy, JobId, JobInfo, JobState, MAX_IN_FLIGHT, MAX_THREADS,
    Wake, spawn,
};
pub use outcome::{JobError, JobOutcome, Proof};
pub use spec::{AccountId, Connection, JobSpec};
