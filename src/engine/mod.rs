//! The upload engine's building blocks that need little or no I/O: part planning, the
//! checkpoint store that makes uploads resumable across crashes, where our data lives on disk,
//! byte-level progress, retry backoff and the shared bandwidth limit. The job and queue logic
//! that drives the OSS client is built on these.

pub mod checkpoint;
pub mod job;
pub mod paths;
pub mod plan;
pub mod progress;
pub mod queue;
pub mod retry;
pub mod throttle;
