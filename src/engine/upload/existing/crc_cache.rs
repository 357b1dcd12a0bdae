//! The CRC-64 of local files, remembered in the data folder by path, size, modification time
//! and inode, so comparing a re-dropped folder of 100,000 files with the bucket reads only the
//! files that changed. One JSON line per computed file, appended (a crash loses at most the line
//! being written); the last line for a path wins; the file is rewritten without the stale lines
//! when they outnumber the live ones.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::oss::crc64::Crc64;

/// The cache file, beside the `checkpoints` folder.
pub const FILE_NAME: &str = "crc64-cache.jsonl";
/// Below this many lines the file is never rewritten.
const COMPACT_FLOOR: usize = 10_000;

/// What identifies a version of a file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// 0 where there are no inodes.
    pub inode: u64,
}

impl Stamp {
    pub fn of(meta: &fs::Metadata) -> Stamp {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Stamp {
            size: meta.len(),
            mtime_ns,
            inode,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Line {
    path: String,
    #[serde(flatten)]
    stamp: Stamp,
    crc64: u64,
}

struct Loaded {
    file: PathBuf,
    entries: HashMap<String, (Stamp, u64)>,
}

/// One cache per data folder in this process.
fn caches() -> &'static Mutex<HashMap<PathBuf, Loaded>> {
    static CACHES: OnceLock<Mutex<HashMap<PathBuf, Loaded>>> = OnceLock::new();
    CACHES.get_or_init(Default::default)
}

fn load(file: &Path) -> Loaded {
    let mut entries = HashMap::new();
    let mut lines = 0usize;
    if let Ok(f) = fs::File::open(file) {
        for line in io::BufReader::new(f).lines() {
            let Ok(line) = line else { break };
            lines += 1;
            // A torn last line (a crash mid-write) or a line from a newer format is skipped.
            if let Ok(l) = serde_json::from_str::<Line>(&line) {
                entries.insert(l.path, (l.stamp, l.crc64));
            }
        }
    }
    if lines > COMPACT_FLOOR && lines > 2 * entries.len() {
        compact(file, &entries);
    }
    Loaded {
        file: file.to_owned(),
        entries,
    }
}

fn compact(file: &Path, entries: &HashMap<String, (Stamp, u64)>) {
    let mut text = String::new();
    for (path, (stamp, crc64)) in entries {
        let line = Line {
            path: path.clone(),
            stamp: *stamp,
            crc64: *crc64,
        };
        if let Ok(s) = serde_json::to_string(&line) {
            text.push_str(&s);
            text.push('\n');
        }
    }
    // Only a cache: a failed rewrite leaves the old file, which still reads the same.
    let written = crate::atomic_file::AtomicWrite::default()
        .write(file, |out| out.write_all(text.as_bytes()));
    if let Err(e) = written {
        tracing::debug!("could not compact {}: {e}", file.display());
    }
}

/// The cached CRC of `path` when its stamp still matches.
pub fn lookup(data_dir: &Path, path: &Path, stamp: Stamp) -> Option<u64> {
    let key = path.to_str()?;
    let mut all = caches().lock().unwrap_or_else(|e| e.into_inner());
    let loaded = all
        .entry(data_dir.to_owned())
        .or_insert_with(|| load(&data_dir.join(FILE_NAME)));
    match loaded.entries.get(key) {
        Some((s, crc)) if *s == stamp => Some(*crc),
        _ => None,
    }
}

/// Remembers a computed CRC; failing to write the cache costs a re-read later, nothing more.
pub fn remember(data_dir: &Path, path: &Path, stamp: Stamp, crc64: u64) {
    let Some(key) = path.to_str() else { return };
    let mut all = caches().lock().unwrap_or_else(|e| e.into_inner());
    let loaded = all
        .entry(data_dir.to_owned())
        .or_insert_with(|| load(&data_dir.join(FILE_NAME)));
    loaded.entries.insert(key.to_owned(), (stamp, crc64));
    let line = Line {
        path: key.to_owned(),
        stamp,
        crc64,
    };
    let appended = serde_json::to_string(&line)
        .map_err(io::Error::other)
        .and_then(|mut s| {
            s.push('\n');
            fs::create_dir_all(data_dir)?;
            let mut f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&loaded.file)?;
            f.write_all(s.as_bytes())
        });
    if let Err(e) = appended {
        tracing::debug!("could not add to {}: {e}", loaded.file.display());
    }
}

/// The CRC-64 of the file as it is now: from the cache when unchanged, else read (and then
/// remembered). A file that changes while being read is reported as an error, not a CRC.
pub fn file_crc64(data_dir: &Path, path: &Path) -> io::Result<u64> {
    let before = Stamp::of(&fs::metadata(path)?);
    if let Some(crc) = lookup(data_dir, path, before) {
        return Ok(crc);
    }
    let mut file = fs::File::open(path)?;
    let mut crc = Crc64::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
    }
    let after = Stamp::of(&file.metadata()?);
    if after != before || crc.len() != before.size {
        return Err(io::Error::other(format!(
            "{} changed while it was being read",
            path.display()
        )));
    }
    let value = crc.value();
    remember(data_dir, path, before, value);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_once_then_read_from_the_cache_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let file = dir.path().join("f.txt");
        fs::write(&file, b"123456789").unwrap();
        assert_eq!(file_crc64(&data, &file).unwrap(), 0x995DC9BBDF1939FA);
        let stamp = Stamp::of(&fs::metadata(&file).unwrap());
        assert_eq!(lookup(&data, &file, stamp), Some(0x995DC9BBDF1939FA));
        // The line is on disk: another process (a fresh load) finds it.
        let text = fs::read_to_string(data.join(FILE_NAME)).unwrap();
        let fresh = load(&data.join(FILE_NAME));
        assert_eq!(fresh.entries.len(), 1, "{text}");

        // Same size, new content and time: read again.
        fs::write(&file, b"987654321").unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_ne!(file_crc64(&data, &file).unwrap(), 0x995DC9BBDF1939FA);
        assert_eq!(
            file_crc64(&data, &file).unwrap(),
            crate::oss::crc64::checksum(b"987654321")
        );
    }

    #[test]
    fn a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(FILE_NAME);
        fs::write(
            &f,
            "{\"path\":\"/a\",\"size\":1,\"mtime_ns\":5,\"inode\":7,\"crc64\":9}\n{\"path\":\"/b\",\"si",
        )
        .unwrap();
        let l = load(&f);
        assert_eq!(l.entries.len(), 1);
        assert_eq!(
            l.entries["/a"],
            (
                Stamp {
                    size: 1,
                    mtime_ns: 5,
                    inode: 7
                },
                9
            )
        );
    }
}
