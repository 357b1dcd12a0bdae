//! The window's picture of the queue: one row per job, kept up to date from engine events, the
//! filters' counts, the current batch (what the title's percent and the notification speak
//! of) and the rows the user cancelled while keeping their parts. It never talks to the engine;
//! it only folds `Event`s into rows and totals the table paints. (Longer than 600 lines with
//! its tests.)

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use crate::engine::{Event, JobId, JobInfo, JobState};
use crate::engine::{JobError, JobOutcome};
use crate::oss::endpoint::Endpoint;

/// One job as the table shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub id: JobId,
    /// The file name, for the first column.
    pub name: String,
    pub path: PathBuf,
    pub bucket: String,
    pub key: String,
    pub endpoint: String,
    pub path_style: bool,
    /// The connection (account) the job uploads with.
    pub account: crate::engine::AccountId,
    pub size: u64,
    pub state: JobState,
    /// Bytes the bar shows.
    pub done: u64,
    /// Bytes OSS has confirmed: what survives a crash.
    pub confirmed: u64,
    pub bytes_per_second: Option<u64>,
    pub eta: Option<Duration>,
    pub error: Option<JobError>,
    /// The last notice from the engine ("starting over because…").
    pub notice: Option<crate::text::Text>,
    /// Set once the engine said the object's CRC-64 matched.
    pub verified: bool,
    /// Cancelled by the user with its uploaded parts kept: the engine holds it paused, and
    /// Retry continues it; Remove throws the parts away (see docs/APP.md, "Cancel").
    pub kept: bool,
    removed: bool,
}

impl Row {
    fn from_info(info: &JobInfo) -> Self {
        let name = info
            .spec
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| info.spec.path.display().to_string());
        Self {
            id: info.id,
            name,
            path: info.spec.path.clone(),
            bucket: info.spec.bucket.clone(),
            account: info.spec.account.clone(),
            key: info.spec.key.clone(),
            endpoint: info.spec.connection.endpoint.clone(),
            path_style: info.spec.connection.path_style,
            size: info.size,
            state: info.state,
            done: info.confirmed.min(info.size),
            confirmed: info.confirmed,
            bytes_per_second: None,
            eta: None,
            error: info.error.clone(),
            notice: None,
            verified: info.state == JobState::Done,
            kept: false,
            removed: false,
        }
    }

    /// Cancelled by the user and held paused with its parts (a job that ended before the
    /// pause reached it is not).
    pub fn is_kept(&self) -> bool {
        self.kept && matches!(self.state, JobState::Paused | JobState::Interrupted)
    }

    /// Which filter's rows this one counts among.
    pub fn category(&self) -> Option<Filter> {
        match self.state {
            JobState::Done | JobState::Unverified | JobState::Skipped => Some(Filter::Done),
            JobState::Failed => Some(Filter::Failed),
            // Cancelled by an older version, parts gone: only "All" shows it.
            JobState::Cancelled => None,
            _ => Some(Filter::Active),
        }
    }

    /// Finished for good: what "Hide finished" folds away.
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }

    /// Done as a fraction from 0 to 1; a finished empty file is full.
    pub fn fraction(&self) -> f32 {
        if matches!(self.state, JobState::Done | JobState::Unverified) {
            1.0
        } else if self.size == 0 {
            0.0
        } else {
            (self.done as f64 / self.size as f64).clamp(0.0, 1.0) as f32
        }
    }

    /// The object's address, for "Copy link".
    pub fn object_url(&self) -> Option<String> {
        let mut endpoint = Endpoint::parse(&self.endpoint).ok()?;
        if self.path_style {
            endpoint = endpoint.with_path_style();
        }
        Some(endpoint.object_url(&self.bucket, &self.key))
    }

    /// Whether the object is there to link to (uploaded; checked or not).
    pub fn has_link(&self) -> bool {
        matches!(self.state, JobState::Done | JobState::Unverified)
    }

    /// Whether Pause makes sense now.
    pub fn can_pause(&self) -> bool {
        self.state.is_active()
    }

    /// Whether Resume makes sense now (a paused or interrupted job continues where it stopped).
    pub fn can_resume(&self) -> bool {
        !self.is_kept() && matches!(self.state, JobState::Paused | JobState::Interrupted)
    }

    /// Whether Retry makes sense now (a cancelled row continues from its kept parts).
    pub fn can_retry(&self) -> bool {
        self.is_kept() || matches!(self.state, JobState::Failed | JobState::Cancelled)
    }

    /// Whether Cancel makes sense now: the job may still send or is paused.
    pub fn can_cancel(&self) -> bool {
        !self.kept
            && !matches!(
                self.state,
                JobState::Done
                    | JobState::Unverified
                    | JobState::Skipped
                    | JobState::Cancelled
                    | JobState::Failed
            )
    }

    /// Whether the row can be taken off the list (a running job is paused or cancelled first).
    pub fn can_remove(&self) -> bool {
        !self.state.is_active()
    }

    /// Whether taking the row off the list throws away parts the server holds: an unfinished
    /// upload that has some. Removing such a row asks first.
    pub fn removing_loses_sent(&self) -> bool {
        self.confirmed > 0 && !self.state.is_finished()
    }

    /// Whether the name in the bucket may still change: nothing of the file was sent yet and
    /// no run is under way.
    pub fn can_rename(&self) -> bool {
        self.confirmed == 0
            && self.done == 0
            && matches!(
                self.state,
                JobState::Queued
                    | JobState::Paused
                    | JobState::Interrupted
                    | JobState::Failed
                    | JobState::Cancelled
            )
    }
}

/// Which rows the table shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Filter {
    #[default]
    All,
    /// Not finished yet: queued, sending, paused, interrupted, cancelled with parts kept.
    Active,
    Failed,
    /// Verified, or skipped because the name was taken.
    Done,
}

impl Filter {
    /// Whether a row of `category` shows under this filter.
    pub fn shows(self, category: Option<Filter>) -> bool {
        self == Filter::All || category == Some(self)
    }
}

/// How many rows each filter shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterCounts {
    pub all: usize,
    pub active: usize,
    pub failed: usize,
    pub done: usize,
    /// Finished rows ("Hide finished" folds them away).
    pub finished: usize,
}

impl FilterCounts {
    pub fn get(&self, filter: Filter) -> usize {
        match filter {
            Filter::All => self.all,
            Filter::Active => self.active,
            Filter::Failed => self.failed,
            Filter::Done => self.done,
        }
    }
}

/// How a batch ended: what the notification says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchEnd {
    pub files: usize,
    pub uploaded: usize,
    pub skipped: usize,
    /// Of `uploaded`, those whose content nothing could check (see `JobOutcome::Unverified`).
    pub unverified: usize,
    pub failed: usize,
    /// Paused, cancelled or interrupted: stopped by the user or by the app closing.
    pub stopped: usize,
    /// The first failure's message and the name of its file.
    pub first_failure: Option<(String, JobError)>,
    /// The one file's name, when the batch had one file.
    pub single_name: Option<String>,
}

/// Sums for the status bar and the window title.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    pub files: usize,
    pub finished: usize,
    pub failed: usize,
    pub active: usize,
    pub bytes: u64,
    pub done: u64,
    pub bytes_per_second: u64,
    /// Requests the engine has in flight (its last `Throughput`), 0 when idle.
    pub connections: usize,
    pub counts: FilterCounts,
    /// Bytes of the current batch, and how many of them are sent: the title's percent.
    pub batch_bytes: u64,
    pub batch_done: u64,
}

impl Totals {
    /// Everything left at the current overall speed.
    pub fn eta(&self) -> Option<Duration> {
        if self.bytes_per_second == 0 || self.active == 0 {
            return None;
        }
        let left = self.bytes.saturating_sub(self.done);
        Some(Duration::from_secs(left.div_ceil(self.bytes_per_second)))
    }

    /// The overall percent, while something is uploading.
    pub fn percent(&self) -> Option<u32> {
        if self.active == 0 || self.bytes == 0 {
            return None;
        }
        Some(((self.done as f64 / self.bytes as f64) * 100.0).floor() as u32)
    }

    /// The current batch's percent for the title, while something is uploading: files that
    /// finished in an earlier batch do not count.
    pub fn batch_percent(&self) -> Option<u32> {
        if self.active == 0 || self.batch_bytes == 0 {
            return None;
        }
        Some(((self.batch_done as f64 / self.batch_bytes as f64) * 100.0).floor() as u32)
    }
}

/// Every row, in the order jobs were added, with lookups by id.
#[derive(Default)]
pub struct QueueModel {
    rows: Vec<Row>,
    index: HashMap<JobId, usize>,
    /// Rows marked removed wait for one compaction per frame: clearing 100,000 finished rows
    /// must not shift the vector 100,000 times.
    dirty: bool,
    /// Jobs an earlier session left unfinished; non-empty shows the "Resume all" banner.
    pub restored: Vec<JobId>,
    pub banner_dismissed: bool,
    pub selection: BTreeSet<JobId>,
    /// Problems the engine reported that belong to no single job.
    pub problems: Vec<crate::text::Text>,
    /// Requests in flight, from the engine's last `Throughput` event.
    pub connections: usize,
    /// Jobs cancelled with their parts kept (the window's own mark; see [`Row::kept`]).
    kept: BTreeSet<JobId>,
    /// Jobs that ran since the queue was last idle: the title's percent and the notification.
    batch: HashSet<JobId>,
    /// The newest job added in this session, until the table scrolled to it.
    pub newest: Option<JobId>,
}

impl QueueModel {
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Where job `id`'s row is in [`Self::rows`].
    pub fn index_of(&self, id: JobId) -> Option<usize> {
        self.index.get(&id).copied()
    }

    pub fn get(&self, id: JobId) -> Option<&Row> {
        self.index.get(&id).and_then(|&i| self.rows.get(i))
    }

    fn get_mut(&mut self, id: JobId) -> Option<&mut Row> {
        match self.index.get(&id) {
            Some(&i) => self.rows.get_mut(i),
            None => None,
        }
    }

    /// Marks a job cancelled with its parts kept, or clears the mark.
    pub fn set_kept(&mut self, id: JobId, kept: bool) {
        if kept {
            self.kept.insert(id);
        } else {
            self.kept.remove(&id);
        }
        if let Some(r) = self.get_mut(id) {
            r.kept = kept;
        }
    }

    /// The jobs cancelled with their parts kept.
    pub fn kept(&self) -> &BTreeSet<JobId> {
        &self.kept
    }

    /// Folds one engine event into the rows.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Throughput { in_flight, .. } => self.connections = in_flight,
            Event::Added(info) => {
                let mut row = Row::from_info(&info);
                row.kept = self.kept.contains(&row.id);
                // Restored jobs arrive in other states; a new one is always queued.
                if info.state == JobState::Queued {
                    self.newest = Some(row.id);
                    self.batch.insert(row.id);
                }
                if let Some(existing) = self.get_mut(row.id) {
                    *existing = row;
                } else {
                    self.index.insert(row.id, self.rows.len());
                    self.rows.push(row);
                }
            }
            Event::Renamed { id, key } => {
                if let Some(r) = self.get_mut(id) {
                    r.key = key;
                }
            }
            Event::State { id, state, error } => {
                if state.is_active() {
                    self.batch.insert(id);
                }
                if let Some(r) = self.get_mut(id) {
                    r.state = state;
                    if state != JobState::Uploading {
                        r.bytes_per_second = None;
                        r.eta = None;
                    }
                    match state {
                        JobState::Failed | JobState::Interrupted => r.error = error,
                        JobState::Queued | JobState::Uploading | JobState::Verifying => {
                            r.error = None;
                            r.notice = None;
                        }
                        JobState::Done | JobState::Unverified => {
                            r.error = None;
                            r.done = r.size;
                        }
                        _ => {}
                    }
                    if holds_only_confirmed(state) {
                        r.done = r.confirmed.min(r.size);
                    }
                }
            }
            Event::Progress { id, progress } => {
                if let Some(r) = self.get_mut(id) {
                    if progress.total > 0 {
                        r.size = progress.total;
                    }
                    r.confirmed = progress.confirmed;
                    r.done = if holds_only_confirmed(r.state) {
                        progress.confirmed.min(r.size)
                    } else {
                        progress.done
                    };
                    r.bytes_per_second = progress.bytes_per_second;
                    r.eta = progress.eta;
                }
            }
            Event::Notice { id, message } => {
                if let Some(r) = self.get_mut(id) {
                    r.notice = Some(message);
                }
            }
            Event::Retrying {
                id, delay, error, ..
            } => {
                if let Some(r) = self.get_mut(id) {
                    r.notice = Some(error.retry_notice(delay));
                }
            }
            Event::Started { .. } => {}
            Event::Finished { id, outcome } => {
                if let Some(r) = self.get_mut(id) {
                    r.bytes_per_second = None;
                    r.eta = None;
                    match outcome {
                        JobOutcome::Verified { size, .. } => {
                            r.verified = true;
                            r.size = size;
                            r.done = size;
                        }
                        JobOutcome::Unverified { size, why, .. } => {
                            r.size = size;
                            r.done = size;
                            r.notice = Some(why);
                        }
                        JobOutcome::Failed(e) | JobOutcome::Interrupted(e) => r.error = Some(e),
                        JobOutcome::Skipped | JobOutcome::Paused | JobOutcome::Cancelled => {}
                    }
                }
            }
            Event::Removed { id } => {
                if let Some(r) = self.get_mut(id) {
                    r.removed = true;
                    self.dirty = true;
                }
                self.selection.remove(&id);
                self.restored.retain(|&r| r != id);
                self.batch.remove(&id);
                self.kept.remove(&id);
            }
            Event::Restored { interrupted } => {
                self.restored = interrupted;
                self.banner_dismissed = false;
            }
            Event::Problem(message) => {
                if !self.problems.contains(&message) {
                    self.problems.push(message);
                }
            }
            Event::Stopped => {}
        }
    }

    /// Drops rows marked removed; call once after a batch of events.
    pub fn compact(&mut self) {
        if !self.dirty {
            return;
        }
        self.rows.retain(|r| !r.removed);
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect();
        self.dirty = false;
    }

    /// Restored jobs that still wait for the user to resume them.
    pub fn waiting_restored(&self) -> usize {
        self.restored
            .iter()
            .filter(|&&id| {
                self.get(id)
                    .is_some_and(|r| matches!(r.state, JobState::Interrupted | JobState::Paused))
            })
            .count()
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for r in self.rows.iter().filter(|r| !r.removed) {
            t.files += 1;
            t.counts.all += 1;
            match r.category() {
                Some(Filter::Active) => t.counts.active += 1,
                Some(Filter::Failed) => t.counts.failed += 1,
                Some(Filter::Done) => t.counts.done += 1,
                _ => {}
            }
            if r.is_finished() {
                t.counts.finished += 1;
            }
            if r.state == JobState::Cancelled || r.state == JobState::Skipped {
                continue;
            }
            let done = if matches!(r.state, JobState::Done | JobState::Unverified) {
                r.size
            } else {
                r.done.min(r.size)
            };
            t.bytes += r.size;
            t.done += done;
            if self.batch.contains(&r.id) && !r.is_kept() {
                t.batch_bytes += r.size;
                t.batch_done += done;
            }
            match r.state {
                JobState::Done | JobState::Unverified => t.finished += 1,
                JobState::Failed => t.failed += 1,
                s if s.is_active() => t.active += 1,
                _ => {}
            }
            t.bytes_per_second += r.bytes_per_second.unwrap_or(0);
        }
        if t.active > 0 {
            t.connections = self.connections;
        }
        t
    }

    /// Whether jobs ran since the queue was last idle.
    pub fn batch_running(&self) -> bool {
        !self.batch.is_empty()
    }

    /// Ends the current batch (call once nothing is active any more) and says how it went.
    pub fn end_batch(&mut self) -> Option<BatchEnd> {
        if self.batch.is_empty() {
            return None;
        }
        let batch = std::mem::take(&mut self.batch);
        let mut end = BatchEnd::default();
        // In table order, so "the first failure" is the one highest in the list.
        for r in self
            .rows
            .iter()
            .filter(|r| batch.contains(&r.id) && !r.removed)
        {
            end.files += 1;
            match r.state {
                JobState::Done => end.uploaded += 1,
                JobState::Unverified => {
                    end.uploaded += 1;
                    end.unverified += 1;
                }
                JobState::Skipped => end.skipped += 1,
                JobState::Failed => {
                    end.failed += 1;
                    if end.first_failure.is_none()
                        && let Some(e) = &r.error
                    {
                        end.first_failure = Some((r.name.clone(), e.clone()));
                    }
                }
                _ => end.stopped += 1,
            }
            end.single_name = (end.files == 1).then(|| r.name.clone());
        }
        (end.files > 0).then_some(end)
    }

    /// The rows `filter` shows, as indices into [`Self::rows`]; finished ones left out when
    /// `hide_finished`. `None` means every row (no list is built for the common case).
    pub fn visible(&self, filter: Filter, hide_finished: bool) -> Option<Vec<usize>> {
        if filter == Filter::All && !hide_finished {
            return None;
        }
        Some(
            self.rows
                .iter()
                .enumerate()
                .filter(|(_, r)| filter.shows(r.category()) && !(hide_finished && r.is_finished()))
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// The selected rows' ids, in table order.
    pub fn selected_ids(&self) -> Vec<JobId> {
        self.selection.iter().copied().collect()
    }
}

/// A job held in this state keeps only the parts OSS confirmed: the bytes of parts that were in
/// flight when it stopped are sent again, so its bar shows what is kept. A paused upload showed
/// 13 MiB of 64 sent where 1 MiB was kept (16 parts of 1 MiB in flight).
fn holds_only_confirmed(state: JobState) -> bool {
    matches!(
        state,
        JobState::Paused | JobState::Interrupted | JobState::Failed | JobState::Cancelled
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::checkpoint::ObjectOptions;
    use crate::engine::progress::ProgressSnapshot;
    use crate::engine::{Connection, JobSpec};
    use crate::oss::sign::SignatureVersion;

    fn info(id: JobId, size: u64) -> Box<JobInfo> {
        Box::new(JobInfo {
            id,
            spec: JobSpec {
                path: PathBuf::from(format!("/tmp/f{id}.bin")),
                connection: Connection {
                    endpoint: "http://127.0.0.1:9000".into(),
                    region: Some("cn-hangzhou".into()),
                    signature: SignatureVersion::V4,
                    path_style: true,
                },
                bucket: "demo".into(),
                key: format!("up/f{id}.bin"),
                part_size: 1 << 20,
                threads: 2,
                options: ObjectOptions::default(),
                account: String::new(),
            },
            size,
            state: JobState::Queued,
            confirmed: 0,
            error: None,
        })
    }

    #[test]
    fn a_held_upload_shows_what_the_server_kept_not_what_was_in_flight() {
        let mut q = QueueModel::default();
        q.apply(Event::Added(info(1, 64 << 20)));
        q.apply(Event::State {
            id: 1,
            state: JobState::Uploading,
            error: None,
        });
        let progress = |done, confirmed| Event::Progress {
            id: 1,
            progress: ProgressSnapshot {
                total: 64 << 20,
                done,
                confirmed,
                bytes_per_second: None,
                eta: None,
            },
        };
        q.apply(progress(13 << 20, 1 << 20));
        assert_eq!(q.rows()[0].done, 13 << 20);
        q.apply(Event::State {
            id: 1,
            state: JobState::Paused,
            error: None,
        });
        assert_eq!(q.rows()[0].done, 1 << 20);
        // A last report of the parts that were in flight changes nothing.
        q.apply(progress(14 << 20, 2 << 20));
        assert_eq!(q.rows()[0].done, 2 << 20);
    }

    #[test]
    fn events_become_rows_and_totals() {
        let mut q = QueueModel::default();
        q.apply(Event::Added(info(1, 100)));
        q.apply(Event::Added(info(2, 300)));
        q.apply(Event::State {
            id: 1,
            state: JobState::Uploading,
            error: None,
        });
        q.apply(Event::Progress {
            id: 1,
            progress: ProgressSnapshot {
                total: 100,
                done: 50,
                confirmed: 0,
                bytes_per_second: Some(10),
                eta: Some(Duration::from_secs(5)),
            },
        });
        let t = q.totals();
        assert_eq!((t.files, t.bytes, t.done, t.active), (2, 400, 50, 2));
        assert_eq!(t.percent(), Some(12));
        assert_eq!(t.eta(), Some(Duration::from_secs(35)));
        assert_eq!(
            q.get(1).and_then(Row::object_url).as_deref(),
            Some("http://127.0.0.1:9000/demo/up/f1.bin")
        );
        q.apply(Event::Removed { id: 1 });
        q.compact();
        assert_eq!(q.rows().len(), 1);
        assert_eq!(q.get(2).map(|r| r.size), Some(300));
        assert!(q.get(1).is_none());
    }

    /// An upload nothing could check is finished and there to share, counted with the done
    /// ones, and the batch's end says how many were not verified.
    #[test]
    fn an_unverified_upload_counts_as_done_but_not_as_verified() {
        let mut q = QueueModel::default();
        for id in [1, 2] {
            q.apply(Event::Added(info(id, 100)));
            q.apply(Event::State {
                id,
                state: JobState::Uploading,
                error: None,
            });
        }
        for (id, state) in [(1, JobState::Done), (2, JobState::Unverified)] {
            q.apply(Event::State {
                id,
                state,
                error: None,
            });
        }
        let row = q.get(2).unwrap();
        assert_eq!(row.category(), Some(Filter::Done));
        assert!(row.has_link() && !row.can_cancel() && row.is_finished());
        let t = q.totals();
        assert_eq!((t.counts.done, t.counts.active, t.active), (2, 0, 0));
        assert_eq!((t.finished, t.done), (2, 200));
        let end = q.end_batch().unwrap();
        assert_eq!((end.files, end.uploaded, end.unverified), (2, 2, 1));
    }
}
