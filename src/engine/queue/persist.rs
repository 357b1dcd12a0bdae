//! The queue file (`<data dir>/queue.json`): written atomically at most every second while jobs
//! change and at shutdown, read back at start so a killed app loses nothing. Jobs that were
//! running come back interrupted; the user chooses when they go on.

use serde::{Deserialize, Serialize};

use super::{Engine, Job};
use crate::engine::api::{Event, JobId, JobState};
use crate::engine::outcome::JobError;
pub(super) use crate::engine::paths::QUEUE_FILE;
use crate::engine::spec::JobSpec;
use crate::text::Text;

const QUEUE_VERSION: u32 = 1;

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
    /// Brings back the queue of an earlier session. Jobs that were running or waiting come
    /// back as interrupted: the user chooses when they go on.
    pub(super) fn restore(&mut self) {
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
        // Ids are numbered afresh: they only name rows within a session, and the file's may be
        // anything (duplicates, u64::MAX) if it was edited or damaged in a way JSON allows.
        let mut interrupted = Vec::new();
        for j in stored.jobs {
            let id = self.next_id;
            self.next_id += 1;
            let state = match j.state {
                JobState::Queued
                | JobState::Uploading
                | JobState::Waiting
                | JobState::Verifying
                | JobState::Interrupted => {
                    interrupted.push(id);
                    JobState::Interrupted
                }
                other => other,
            };
            let confirmed = match (&self.store, state) {
                (_, JobState::Done | JobState::Unverified) => j.size,
                (Some(store), _) => store
                    .load(&j.spec.checkpoint_id())
                    .map(|cp| cp.bytes_done())
                    .unwrap_or(0),
                _ => 0,
            };
            let job = Job {
                spec: j.spec,
                size: j.size,
                state,
                confirmed,
                error: j.error,
                control: None,
                remove_after: false,
            };
            self.sink.send(Event::Added(Box::new(self.info(id, &job))));
            self.jobs.insert(id, job);
        }
        if !interrupted.is_empty() {
            self.sink.send(Event::Restored { interrupted });
        }
    }

    pub(super) fn persist(&mut self) {
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
        match crate::atomic_file::write_json(&path, &queue) {
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
}

fn q_version_ok(q: &StoredQueue) -> bool {
    q.version == QUEUE_VERSION
}
