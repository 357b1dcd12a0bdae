//! Benchmark, not a test: starts the release `oss-uploader serve` as its own process, sends
//! 1 GiB (by default) as UploadPart requests, completes the upload, and reports the server's
//! CPU seconds per GiB received (utime + stime from /proc/PID/stat) and its peak memory.
//!
//! `cargo run --release --example server_cpu -- [--gib N] [--part-mib M] [--parallel P] [--server PATH]`

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use bytes::Bytes;

struct Args {
    gib: u64,
    part_mib: u64,
    parallel: usize,
    server: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        gib: 1,
        part_mib: 8,
        parallel: 2,
        server: "target/release/oss-uploader".to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--gib" => args.gib = value.parse()?,
            "--part-mib" => args.part_mib = value.parse()?,
            "--parallel" => args.parallel = value.parse()?,
            "--server" => args.server = value,
            _ => bail!("unknown flag {flag}"),
        }
    }
    Ok(args)
}

/// utime + stime of a whole process, in seconds.
fn cpu_seconds(pid: u32, ticks_per_second: f64) -> anyhow::Result<f64> {
    let (user, system) = cpu_split(pid, ticks_per_second)?;
    Ok(user + system)
}

/// utime and stime of a whole process, in seconds.
fn cpu_split(pid: u32, ticks_per_second: f64) -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces; fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime / ticks_per_second, stime / ticks_per_second))
}

fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM")?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .context("odd VmHWM")?
        .parse()?;
    Ok(kib / 1024.0)
}

fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn tag(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_owned())
}

/// Stops the server and removes its data on every way out, errors included.
struct KillOnDrop(std::process::Child, std::path::PathBuf);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let root = std::env::temp_dir().join(format!("oss-bench-{}", std::process::id()));
    let mut child = KillOnDrop(
        Command::new(&args.server)
            .args(["serve", "--bucket", "bench", "--root"])
            .arg(&root)
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", args.server))?,
        root.clone(),
    );
    let pid = child.0.id();
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().context("no stdout")?).read_line(&mut line)?;
    let endpoint = line
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected first line: {line}"))?
        .to_owned();

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("{endpoint}/bench/big.bin");
    let xml = http
        .post(format!("{url}?uploads"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let upload_id = tag(&xml, "UploadId").context("no UploadId")?;

    let part_size = args.part_mib * 1024 * 1024;
    let total = args.gib * 1024 * 1024 * 1024;
    let parts = total.div_ceil(part_size);
    let payload = Bytes::from(
        (0..part_size)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    );
    let ticks = ticks_per_second();
    let split_before = cpu_split(pid, ticks)?;
    let cpu_before = split_before.0 + split_before.1;
    let started = Instant::now();

    let next = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let mut workers = Vec::new();
    for _ in 0..args.parallel {
        let (http, url, id, next, payload) = (
            http.clone(),
            url.clone(),
            upload_id.clone(),
            next.clone(),
            payload.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut etags = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n > parts {
                    break;
                }
                let r = http
                    .put(format!("{url}?partNumber={n}&uploadId={id}"))
                    .body(payload.clone())
                    .send()
                    .await?
                    .error_for_status()?;
                let etag = r
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                etags.push((n, etag));
            }
            anyhow::Ok(etags)
        }));
    }
    let mut etags = Vec::new();
    for w in workers {
        etags.extend(w.await??);
    }
    etags.sort();
    let upload_elapsed = started.elapsed();
    let split_parts = cpu_split(pid, ticks)?;
    let cpu_parts = split_parts.0 + split_parts.1 - cpu_before;

    let body: String = etags
        .iter()
        .map(|(n, e)| format!("<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"))
        .collect();
    let complete_started = Instant::now();
    http.post(format!("{url}?uploadId={upload_id}"))
        .body(format!(
            "<CompleteMultipartUpload>{body}</CompleteMultipartUpload>"
        ))
        .send()
        .await?
        .error_for_status()?;
    let complete_elapsed = complete_started.elapsed();
    let cpu_all = cpu_seconds(pid, ticks)? - cpu_before;
    let rss = peak_rss_mib(pid)?;

    let gib = total as f64 / (1024.0 * 1024.0 * 1024.0);
    println!(
        "sent {gib:.2} GiB in {parts} parts of {} MiB, {} in parallel",
        args.part_mib, args.parallel
    );
    println!(
        "upload parts: {:.2} s wall, {:.0} MiB/s; server CPU {:.2} s = {:.2} s/GiB (MD5 + CRC-64 + write)",
        upload_elapsed.as_secs_f64(),
        gib * 1024.0 / upload_elapsed.as_secs_f64(),
        cpu_parts,
        cpu_parts / gib
    );
    println!(
        "  of which user {:.2} s, system {:.2} s",
        split_parts.0 - split_before.0,
        split_parts.1 - split_before.1
    );
    println!(
        "complete: {:.2} s wall; server CPU including complete {:.2} s = {:.2} s/GiB",
        complete_elapsed.as_secs_f64(),
        cpu_all,
        cpu_all / gib
    );
    println!("server peak RSS: {rss:.1} MiB");

    drop(child);
    Ok(())
}
