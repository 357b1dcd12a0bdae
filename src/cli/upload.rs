//! `upload` and `resume`: turning paths and flags (or saved checkpoints) into upload jobs, with
//! every check a user can fix done before the first byte is sent.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::display::printable;
use super::run::{Item, Settings, run_batch};
use super::{CliError, CliResult, ConnectionArgs, EXIT_FAILED, EXIT_OK, credentials, open_store};
use crate::engine::checkpoint::{CheckpointError, CheckpointId, ObjectOptions};
use crate::engine::upload::{DamagedRecord, discard_damaged, reap_intents};
use crate::engine::walk::{FolderName, KeyRule, Problem, walk};
use crate::engine::{Connection, EngineSettings, ExistingPolicy, JobSpec, MAX_THREADS};
use crate::oss::limits::{self, MAX_PART_SIZE, MIN_PART_SIZE};
use crate::oss::sign::Credentials;
use crate::units::{human_bytes, parse_size};

/// What to do when an object with the file's name already exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum IfExists {
    /// Replace it (as a plain upload does).
    #[default]
    Overwrite,
    /// Leave it and the file alone; the file counts as done.
    Skip,
    /// Leave it when it is this very file (same size and CRC-64), replace it otherwise: sending
    /// a folder again uploads only new and changed files.
    SkipIdentical,
    /// Upload under a free numbered name: `name (1).ext`, `name (2).ext`, …
    KeepBoth,
}

impl From<IfExists> for ExistingPolicy {
    fn from(i: IfExists) -> Self {
        match i {
            IfExists::Overwrite => ExistingPolicy::Overwrite,
            IfExists::Skip => ExistingPolicy::Skip,
            IfExists::SkipIdentical => ExistingPolicy::SkipIdentical,
            IfExists::KeepBoth => ExistingPolicy::KeepBoth,
        }
    }
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Files or folders to upload; a folder is uploaded with everything inside it.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The bucket to upload into.
    #[arg(long, value_name = "B")]
    pub bucket: String,
    /// The object name for a single file [default: the file's name].
    #[arg(long, value_name = "K", conflicts_with = "prefix")]
    pub key: Option<String>,
    /// A folder in the bucket to put the files under, e.g. backups/2024 (a missing trailing / is added).
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Size of each piece sent (100KiB to 5GiB), e.g. 8MiB, 16MB [default: chosen per file:
    /// 8MiB, bigger for big files on a fast link]
    #[arg(long, value_name = "SIZE")]
    pub part_size: Option<String>,
    /// Pieces of one file sent at the same time (1 to 64), fixed [default: chosen as the
    /// upload goes, by the speed it measures; with --jobs alone: 3]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Files uploaded at the same time (1 to 64), fixed [default: chosen as the upload goes;
    /// with --threads alone: 3]
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Content-Type for every file [default: guessed from each file's name].
    #[arg(long, value_name = "T")]
    pub content_type: Option<String>,
    /// Access control of the new objects: private, public-read, public-read-write or default.
    #[arg(long, value_name = "A")]
    pub acl: Option<String>,
    /// User metadata stored with each object as x-oss-meta-KEY (repeatable).
    #[arg(long = "meta", value_name = "k=v", value_parser = parse_meta)]
    pub meta: Vec<(String, String)>,
    /// Upload callback: its JSON, as OSS documents it (or that JSON already base64-encoded).
    #[arg(long, value_name = "C")]
    pub callback: Option<String>,
    /// What to do when an object with the same name exists: overwrite, skip, skip-identical or
    /// keep-both.
    #[arg(long, value_enum, default_value = "overwrite", value_name = "WHAT")]
    pub if_exists: IfExists,
    /// Have OSS refuse to replace an object that already exists (x-oss-forbid-overwrite): the
    /// file fails instead of overwriting, even if the object appears while it uploads.
    #[arg(long)]
    pub no_overwrite: bool,
    /// Bandwidth limit for all files together, in bytes per second, e.g. 10MiB.
    #[arg(long, value_name = "RATE")]
    pub limit_rate: Option<String>,
    /// How long to keep trying through a network outage or service trouble before stopping
    /// (what was sent is kept), e.g. 15m, 2h, 30s.
    #[arg(long, value_name = "TIME", default_value = "15m", value_parser = retry_for)]
    pub retry_for: std::time::Duration,
    /// Folder for resume records [default: OSS_UPLOADER_DATA_DIR, else the system's app data folder].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Resume every interrupted upload.
    #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
    pub all: bool,
    /// The uploads to resume, by the id `list` shows (a unique beginning is enough).
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Pieces of one file sent at the same time (1 to 64), fixed [default: chosen as the
    /// upload goes, by the speed it measures; with --jobs alone: 3]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Files uploaded at the same time (1 to 64), fixed [default: chosen as the upload goes;
    /// with --threads alone: 3]
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Bandwidth limit for all files together, in bytes per second, e.g. 10MiB.
    #[arg(long, value_name = "RATE")]
    pub limit_rate: Option<String>,
    /// How long to keep trying through a network outage or service trouble before stopping
    /// (what was sent is kept), e.g. 15m, 2h, 30s.
    #[arg(long, value_name = "TIME", default_value = "15m", value_parser = retry_for)]
    pub retry_for: std::time::Duration,
    /// Folder for resume records [default: OSS_UPLOADER_DATA_DIR, else the system's app data folder].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

fn parse_meta(s: &str) -> Result<(String, String), String> {
    let Some((name, value)) = s.split_once('=') else {
        return Err(format!(
            "\"{s}\" is not a metadata entry; write it as name=value"
        ));
    };
    let name = name.trim();
    // The name becomes part of an HTTP header (x-oss-meta-NAME): letters, digits and - only.
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(format!(
            "\"{name}\" cannot be a metadata name; use letters, digits and - only"
        ));
    }
    if !value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return Err(format!(
            "the value of {name} must be plain ASCII text (OSS stores metadata in HTTP headers)"
        ));
    }
    Ok((name.to_ascii_lowercase(), value.to_owned()))
}

fn retry_for(text: &str) -> Result<std::time::Duration, String> {
    crate::units::parse_duration(text).map_err(|e| e.to_string())
}

fn check_count(flag: &str, n: usize) -> Result<usize, CliError> {
    if (1..=MAX_THREADS).contains(&n) {
        Ok(n)
    } else {
        Err(CliError::Usage(format!(
            "{flag} must be between 1 and {MAX_THREADS}, not {n}"
        )))
    }
}

fn limit_rate(text: Option<&str>) -> Result<Option<u64>, CliError> {
    let Some(text) = text else { return Ok(None) };
    let rate = parse_size(text).map_err(|e| CliError::Usage(format!("--limit-rate: {e}")))?;
    if rate < crate::engine::throttle::MIN_LIMIT {
        return Err(CliError::Usage(format!(
            "--limit-rate must be at least {} per second",
            human_bytes(crate::engine::throttle::MIN_LIMIT)
        )));
    }
    Ok(Some(rate))
}

fn part_size(text: &str) -> Result<u64, CliError> {
    let size = parse_size(text).map_err(|e| CliError::Usage(format!("--part-size: {e}")))?;
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&size) {
        return Err(CliError::Usage(format!(
            "--part-size must be between 100KiB and 5GiB (OSS's limits), not {text}"
        )));
    }
    Ok(size)
}

/// A local file and the object name it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub path: PathBuf,
    pub label: String,
    pub key: String,
}

/// What `plan_files` found.
#[derive(Debug, Default)]
pub struct Plan {
    pub files: Vec<Planned>,
    /// Things inside the folders that are not regular files (pipes, sockets, devices) or whose
    /// names are not UTF-8: left out, and listed for the user.
    pub left_out: Vec<Problem>,
}

/// Every file under `paths` with its key: a file gets `--key` or prefix + its name, a folder's
/// files get prefix + their path inside the folder (the folder's own name left out). A path
/// given that cannot be uploaded, or a folder that cannot be read, is refused here, before the
/// first byte is sent; what inside a folder is not a regular file is left out and listed.
pub fn plan_files(
    paths: &[PathBuf],
    key: Option<&str>,
    prefix: Option<&str>,
) -> Result<Plan, CliError> {
    if key.is_some()
        && let Some(dir) = paths.iter().find(|p| p.is_dir())
    {
        return Err(CliError::Usage(format!(
            "--key names one object, but {} is a folder; use --prefix for folders",
            dir.display()
        )));
    }
    let rule = KeyRule::new(prefix.unwrap_or(""), FolderName::Drop);
    let mut out = Vec::new();
    let report = walk(paths, &rule, &mut |found, _| {
        out.push(Planned {
            label: found.path.display().to_string(),
            path: found.path,
            key: found.key,
        })
    });
    let mut left_out = Vec::new();
    for problem in report.problems {
        let given = paths.iter().any(|p| p == problem.path());
        match problem {
            Problem::Special(..) | Problem::NotUtf8(_) if !given => left_out.push(problem),
            other => return Err(CliError::Usage(other.describe())),
        }
    }
    if key.is_some() && out.len() != 1 {
        return Err(CliError::Usage(
            "--key names one object, so it works with one file only; use --prefix for several"
                .into(),
        ));
    }
    if let (Some(k), Some(only)) = (key, out.first_mut()) {
        k.clone_into(&mut only.key);
    }
    let mut seen: HashMap<&str, &Planned> = HashMap::new();
    for p in &out {
        limits::validate_key(&p.key).map_err(|e| CliError::Usage(format!("{}: {e}", p.label)))?;
        if let Some(other) = seen.insert(&p.key, p) {
            return Err(CliError::Usage(format!(
                "{} and {} would both be stored as {}; upload them separately or with different --prefix values",
                other.label, p.label, p.key
            )));
        }
    }
    Ok(Plan {
        files: out,
        left_out,
    })
}

fn options(args: &UploadArgs) -> ObjectOptions {
    // The engine guesses the type from the file name when none is given.
    ObjectOptions {
        content_type: args.content_type.clone(),
        acl: args.acl.clone(),
        metadata: args.meta.iter().cloned().collect::<BTreeMap<_, _>>(),
        callback: args.callback.clone(),
        forbid_overwrite: args.no_overwrite,
        ..Default::default()
    }
}

pub async fn upload(args: UploadArgs) -> CliResult {
    let part_size = match &args.part_size {
        Some(text) => part_size(text)?,
        None => limits::AUTO_PART_SIZE,
    };
    let threads = args
        .threads
        .map(|n| check_count("--threads", n))
        .transpose()?;
    let jobs = args.jobs.map(|n| check_count("--jobs", n)).transpose()?;
    let limit_rate = limit_rate(args.limit_rate.as_deref())?;
    limits::validate_bucket(&args.bucket).map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(acl) = &args.acl
        && !["private", "public-read", "public-read-write", "default"].contains(&acl.as_str())
    {
        return Err(CliError::Usage(format!(
            "--acl must be private, public-read, public-read-write or default, not {acl}"
        )));
    }
    if let Some(cb) = &args.callback {
        let trimmed = cb.trim();
        if trimmed.starts_with('{') && serde_json::from_str::<serde_json::Value>(trimmed).is_err() {
            return Err(CliError::Usage(
                "--callback is not valid JSON; write it as OSS documents it, e.g. '{\"callbackUrl\":\"https://example.com/cb\",\"callbackBody\":\"bucket=${bucket}&object=${object}\"}'".into(),
            ));
        }
    }
    let Plan { files, left_out } =
        plan_files(&args.paths, args.key.as_deref(), args.prefix.as_deref())?;
    for problem in &left_out {
        println!(
            "SKIP {}",
            crate::cli::display::printable(&problem.describe())
        );
    }
    let connection = args.connection.connection()?;
    let credentials = credentials()?;
    check_connection(&connection, &credentials)?;
    let (dir, _store) = open_store(args.data_dir.as_deref())?;
    if files.is_empty() {
        if left_out.is_empty() {
            println!("Nothing to upload: the folders given are empty.");
        } else {
            println!("Nothing to upload: the folders given hold no regular files.");
        }
        return Ok(std::process::ExitCode::from(EXIT_OK));
    }
    let engine = EngineSettings {
        jobs,
        threads,
        bandwidth_limit: limit_rate,
        existing: args.if_exists.into(),
        retry_for: args.retry_for,
    };
    let mut items = Vec::with_capacity(files.len());
    for f in files {
        let path = std::path::absolute(&f.path)
            .map_err(|e| CliError::Usage(format!("cannot resolve {}: {e}", f.path.display())))?;
        items.push(Item {
            spec: JobSpec {
                options: options(&args),
                path,
                connection: connection.clone(),
                bucket: args.bucket.clone(),
                key: f.key,
                part_size,
                threads: engine.threads_per_file(),
                account: String::new(),
            },
            label: f.label,
        });
    }
    let settings = Settings {
        data_root: dir.root().to_owned(),
        credentials,
        engine,
        data_dir: args.data_dir.clone(),
        from_upload: true,
        left_out: left_out.len(),
    };
    Ok(run_batch(items, settings).await)
}

/// Refuses, before anything is sent, a connection no client can be made for (a bad endpoint, a
/// missing region): the user's to fix.
fn check_connection(
    connection: &Connection,
    credentials: &crate::oss::sign::Credentials,
) -> Result<(), CliError> {
    connection
        .client_config(credentials.clone())
        .map(drop)
        .map_err(|e| CliError::Usage(format!("{e}")))
}

/// The checkpoint ids `wanted` names: each must match exactly one id, or be the beginning of one.
fn select_ids(all: &[CheckpointId], wanted: &[String]) -> Result<Vec<CheckpointId>, CliError> {
    let mut out: Vec<CheckpointId> = Vec::new();
    for w in wanted {
        let w = w.trim();
        let hits: Vec<&CheckpointId> = all
            .iter()
            .filter(|id| id.as_str() == w || (!w.is_empty() && id.as_str().starts_with(w)))
            .collect();
        match hits.as_slice() {
            [one] => {
                if !out.contains(one) {
                    out.push((*one).clone());
                }
            }
            [] => {
                return Err(CliError::Usage(format!(
                    "there is no interrupted upload with id {w}; `oss-uploader list` shows them"
                )));
            }
            _ => {
                return Err(CliError::Usage(format!(
                    "{w} is the beginning of several ids; type more of it"
                )));
            }
        }
    }
    Ok(out)
}

pub async fn resume(args: ResumeArgs) -> CliResult {
    let threads = args
        .threads
        .map(|n| check_count("--threads", n))
        .transpose()?;
    let jobs = args.jobs.map(|n| check_count("--jobs", n)).transpose()?;
    let limit_rate = limit_rate(args.limit_rate.as_deref())?;
    let (dir, store) = open_store(args.data_dir.as_deref())?;
    let listed = store.list().map_err(|e| CliError::Failed(e.to_string()))?;
    let ids: Vec<CheckpointId> = listed.iter().map(|(id, _)| id.clone()).collect();
    let chosen = if args.all {
        ids
    } else {
        select_ids(&ids, &args.ids)?
    };
    let mut damaged = 0usize;
    let mut checkpoints = Vec::new();
    // Only asked for when something needs the server: a damaged record, or an upload that
    // was started and never recorded.
    let mut creds: Option<Credentials> = None;
    for (id, loaded) in listed {
        if !chosen.contains(&id) {
            continue;
        }
        match loaded {
            Ok(cp) => checkpoints.push(cp),
            Err(
                e @ (CheckpointError::Damaged { .. } | CheckpointError::UnsupportedVersion { .. }),
            ) => {
                damaged += 1;
                let credentials = match &creds {
                    Some(c) => c.clone(),
                    None => creds.insert(credentials()?).clone(),
                };
                let what = match discard_damaged(&store, &id, &credentials).await {
                    Ok(DamagedRecord::Discarded { .. }) => "; its unfinished upload was cancelled on the server and it was removed. Upload that file again to start over".to_owned(),
                    Ok(DamagedRecord::NothingToAbort) => "; it names no upload on the server, and it was removed. Upload that file again to start over".to_owned(),
                    Ok(DamagedRecord::Kept { why }) => format!("; it is kept because its upload on the server could not be cancelled ({why}); try again later, or run `oss-uploader clean`"),
                    Err(d) => format!("; it was left as it is: {d}"),
                };
                eprintln!("DAMAGED {id}: {e}{what}");
            }
            Err(e @ CheckpointError::Newer { .. }) => {
                damaged += 1;
                eprintln!("NEWER {id}: {e}");
            }
            Err(e) => {
                damaged += 1;
                eprintln!("FAILED {id}: {e}");
            }
        }
    }
    // Uploads started before a crash and never recorded: nothing to resume, but their
    // beginnings on the server are found and cancelled.
    if args.all && !store.intents().is_empty() {
        let credentials = match &creds {
            Some(c) => c.clone(),
            None => creds.insert(credentials()?).clone(),
        };
        for reaped in reap_intents(&store, &credentials).await {
            let target = format!("oss://{}/{}", reaped.intent.bucket, reaped.intent.key);
            match reaped.aborted {
                Ok(n) => println!(
                    "NOTE {}: its upload to {} was interrupted before it was recorded; {n} unfinished upload(s) of it were cancelled on the server. Upload the file again to send it.",
                    printable(&reaped.intent.local_path.display().to_string()),
                    printable(&target)
                ),
                Err(why) => {
                    damaged += 1;
                    eprintln!(
                        "FAILED {}: could not look for the unrecorded upload to {}: {why}",
                        reaped.id,
                        printable(&target)
                    );
                }
            }
        }
    }
    if checkpoints.is_empty() {
        if damaged == 0 {
            println!(
                "Nothing to resume: no interrupted uploads in {}.",
                dir.root().display()
            );
            return Ok(std::process::ExitCode::from(EXIT_OK));
        }
        return Ok(std::process::ExitCode::from(EXIT_FAILED));
    }
    let credentials = match creds {
        Some(c) => c,
        None => credentials()?,
    };
    let engine = EngineSettings {
        jobs,
        threads,
        bandwidth_limit: limit_rate,
        existing: ExistingPolicy::Overwrite,
        retry_for: args.retry_for,
    };
    let mut checked: Vec<Connection> = Vec::new();
    let mut items = Vec::with_capacity(checkpoints.len());
    for cp in &checkpoints {
        let spec = JobSpec::from_checkpoint(cp, engine.threads_per_file());
        if !checked.contains(&spec.connection) {
            check_connection(&spec.connection, &credentials)?;
            checked.push(spec.connection.clone());
        }
        items.push(Item {
            label: spec.path.display().to_string(),
            spec,
        });
    }
    let settings = Settings {
        data_root: dir.root().to_owned(),
        credentials,
        engine,
        data_dir: args.data_dir.clone(),
        from_upload: false,
        left_out: 0,
    };
    let code = run_batch(items, settings).await;
    if damaged > 0 && code == std::process::ExitCode::from(EXIT_OK) {
        return Ok(std::process::ExitCode::from(EXIT_FAILED));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_map_to_prefix_and_relative_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("photos");
        std::fs::create_dir_all(root.join("2024/summer")).unwrap();
        std::fs::write(root.join("a.jpg"), b"a").unwrap();
        std::fs::write(root.join("2024/summer/b.jpg"), b"b").unwrap();
        let single = dir.path().join("c.txt");
        std::fs::write(&single, b"c").unwrap();
        let planned = plan_files(&[root.clone(), single.clone()], None, Some("backup"))
            .unwrap()
            .files;
        let keys: Vec<&str> = planned.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["backup/2024/summer/b.jpg", "backup/a.jpg", "backup/c.txt"]
        );
        assert_eq!(planned[0].path, root.join("2024/summer/b.jpg"));

        let keyed = plan_files(std::slice::from_ref(&single), Some("x/y.txt"), None)
            .unwrap()
            .files;
        assert_eq!(keyed[0].key, "x/y.txt");
        assert!(matches!(
            plan_files(std::slice::from_ref(&root), Some("k"), None),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            plan_files(&[single.clone(), root.join("a.jpg")], Some("k"), None),
            Err(CliError::Usage(_))
        ));
        // Same name from two places: refused before anything is sent.
        let other = dir.path().join("a.jpg");
        std::fs::write(&other, b"x").unwrap();
        let Err(CliError::Usage(m)) = plan_files(&[root, other], None, None) else {
            panic!("duplicate keys accepted");
        };
        assert!(m.contains("would both be stored as a.jpg"), "{m}");
        assert!(matches!(
            plan_files(&[dir.path().join("missing")], None, None),
            Err(CliError::Usage(m)) if m.contains("does not exist")
        ));
    }

    #[test]
    fn flag_checks() {
        assert!(part_size("8MiB").is_ok());
        assert!(part_size("100KiB").is_ok());
        assert!(
            matches!(part_size("99KiB"), Err(CliError::Usage(m)) if m.contains("between 100KiB and 5GiB"))
        );
        assert!(matches!(part_size("6GiB"), Err(CliError::Usage(_))));
        assert!(matches!(part_size("lots"), Err(CliError::Usage(m)) if m.contains("not a size")));
        assert!(check_count("--threads", 0).is_err());
        assert!(check_count("--threads", 65).is_err());
        assert_eq!(check_count("--threads", 64).ok(), Some(64));
        assert_eq!(
            parse_meta("Author=Alice"),
            Ok(("author".into(), "Alice".into()))
        );
        assert!(parse_meta("novalue").is_err());
        assert!(parse_meta("a b=c").is_err());
        assert!(parse_meta("=c").is_err());
        assert!(parse_meta("x=中文").is_err());
        assert_eq!(parse_meta("x-y=a b=c"), Ok(("x-y".into(), "a b=c".into())));
        assert_eq!(limit_rate(Some("10MiB")).ok(), Some(Some(10 << 20)));
        assert!(limit_rate(Some("1")).is_err());
    }

    #[test]
    fn ids_by_unique_beginning() {
        let ids: Vec<CheckpointId> = ["aaaa111100000000", "aaaa222200000000", "bbbb000000000000"]
            .iter()
            .map(|s| CheckpointId::parse(s).unwrap())
            .collect();
        assert_eq!(
            select_ids(&ids, &["bb".into()]).unwrap(),
            vec![ids[2].clone()]
        );
        assert!(select_ids(&ids, &["aaaa".into()]).is_err());
        assert!(select_ids(&ids, &["cc".into()]).is_err());
    }
}
