//! The one folder walker and the one key rule, for both faces: files and folders a person
//! chose become (file, object key) pairs under a prefix. A folder's files keep their path inside
//! it, with forward slashes on every system; whether the chosen folder's own name starts the
//! key is the caller's explicit choice ([`FolderName`]). Links to folders are not followed (they
//! can loop); links to files are uploaded as the file they point to. What cannot be uploaded
//! (a FIFO, a device, a socket, a name that is not UTF-8) is not turned into an empty object or
//! mangled: it is reported, so the face can say what was left out.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Whether a folder given to the walk starts its files' keys with its own name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FolderName {
    /// `photos/2024/a.jpg` for a dropped `photos` folder (the window: what was dropped is what
    /// appears in the bucket).
    Keep,
    /// `2024/a.jpg` for `upload photos` (the command line, as `cp -r photos/. dest` and rsync
    /// with a trailing slash do).
    Drop,
}

/// How files get their keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRule {
    /// Normalised: empty, or segments joined by `/` with one trailing `/`.
    prefix: String,
    folder_name: FolderName,
}

impl KeyRule {
    pub fn new(prefix: &str, folder_name: FolderName) -> Self {
        Self {
            prefix: normalise_prefix(prefix),
            folder_name,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key of `path`, found under the chosen `root` (a file or a folder). `None` when a
    /// name on the way is not UTF-8: OSS keys are UTF-8, and a replaced character would store
    /// the file under a name nobody chose.
    pub fn key_for(&self, root: &Path, path: &Path) -> Option<String> {
        let base = match self.folder_name {
            FolderName::Keep => root.parent().unwrap_or(root),
            FolderName::Drop if root == path => root.parent().unwrap_or(root),
            FolderName::Drop => root,
        };
        let relative = path.strip_prefix(base).unwrap_or(path);
        let mut key = self.prefix.clone();
        let mut first = true;
        for c in relative.components() {
            if let Component::Normal(s) = c {
                if !first {
                    key.push('/');
                }
                key.push_str(s.to_str()?);
                first = false;
            }
        }
        Some(key)
    }
}

/// `/photos//2024` → `photos/2024/`; empty stays empty. Backslashes count as separators, as
/// Windows users type them.
pub fn normalise_prefix(prefix: &str) -> String {
    let parts: Vec<&str> = prefix
        .split(['/', '\\'])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{}/", parts.join("/"))
    }
}

/// A file to upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The path as the walk reached it (the chosen path joined with names below it).
    pub path: PathBuf,
    /// The chosen path it was found under.
    pub root: PathBuf,
    pub key: String,
}

/// What is not a regular file, and so cannot be uploaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    /// A file that says it is empty and is not (under /proc and /sys): its size cannot be
    /// known before reading it, so it cannot be sent as a sized object.
    Unsized,
    Other,
}

impl Special {
    fn of(kind: std::fs::FileType) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt as _;
            if kind.is_fifo() {
                return Self::Fifo;
            }
            if kind.is_socket() {
                return Self::Socket;
            }
            if kind.is_char_device() {
                return Self::CharDevice;
            }
            if kind.is_block_device() {
                return Self::BlockDevice;
            }
        }
        let _ = kind;
        Self::Other
    }

    /// "a named pipe (FIFO)" and the like, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Fifo => "a named pipe (FIFO)",
            Self::Socket => "a socket",
            Self::CharDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::Unsized => {
                "a system file that says it is empty but has content (copy it to a regular file and upload the copy)"
            }
            Self::Other => "not a regular file",
        }
    }

    /// The same in Chinese.
    pub fn describe_zh(self) -> &'static str {
        match self {
            Self::Fifo => "命名管道（FIFO）",
            Self::Socket => "套接字",
            Self::CharDevice => "字符设备",
            Self::BlockDevice => "块设备",
            Self::Unsized => "显示大小为 0 却有内容的系统文件（请先复制为普通文件再上传副本）",
            Self::Other => "不是普通文件",
        }
    }
}

/// Something the walk could not turn into an upload.
#[derive(Debug)]
pub enum Problem {
    /// A chosen path that does not exist.
    Missing(PathBuf),
    /// A path that exists but cannot be read (permissions, I/O).
    Unreadable(PathBuf, io::Error),
    /// Not a regular file: left out.
    Special(PathBuf, Special),
    /// A name on the way is not UTF-8: left out.
    NotUtf8(PathBuf),
}

impl Problem {
    pub fn path(&self) -> &Path {
        match self {
            Self::Missing(p) | Self::Unreadable(p, _) | Self::Special(p, _) | Self::NotUtf8(p) => p,
        }
    }

    /// One line in English, naming the path.
    pub fn describe(&self) -> String {
        match self {
            Self::Missing(p) => format!("{} does not exist", p.display()),
            Self::Unreadable(p, e) => format!("cannot read {}: {e}", p.display()),
            Self::Special(p, kind) => format!(
                "{} is {}; only regular files can be uploaded",
                p.display(),
                kind.describe()
            ),
            Self::NotUtf8(p) => format!(
                "the name of {} is not valid UTF-8, which object names must be",
                p.display()
            ),
        }
    }
}

/// What one walk found, so far or in all.
#[derive(Debug, Default)]
pub struct WalkReport {
    /// Files handed to the caller.
    pub found: usize,
    /// Paths left out, in the order met.
    pub problems: Vec<Problem>,
}

/// Walks `paths` in name order (a folder's entries sorted, depth first), calling `on_file` for
/// each regular file with the report so far. Problems are collected, never fatal: the caller
/// decides whether one stops everything (the command line refuses before sending anything) or
/// is reported beside the rest (the window).
pub fn walk(
    paths: &[PathBuf],
    rule: &KeyRule,
    on_file: &mut dyn FnMut(Found, &WalkReport),
) -> WalkReport {
    let mut report = WalkReport::default();
    for root in paths {
        let mut stack = vec![root.clone()];
        while let Some(path) = stack.pop() {
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound && path == *root => {
                    report.problems.push(Problem::Missing(path));
                    continue;
                }
                Err(e) => {
                    report.problems.push(Problem::Unreadable(path, e));
                    continue;
                }
            };
            // A link is judged by what it points to, except that folders behind links are not
            // entered (a link loop could walk forever).
            let kind = if meta.file_type().is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(target) if target.is_dir() => continue,
                    Ok(target) => target.file_type(),
                    // A dangling link: nothing to upload, and nothing the user can act on here.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        report.problems.push(Problem::Missing(path));
                        continue;
                    }
                    Err(e) => {
                        report.problems.push(Problem::Unreadable(path, e));
                        continue;
                    }
                }
            } else {
                meta.file_type()
            };
            if kind.is_dir() {
                match read_children(&path) {
                    Ok(mut children) => {
                        // Reversed so the stack yields them in name order.
                        children.sort_unstable_by(|a, b| b.cmp(a));
                        stack.extend(children);
                    }
                    Err(e) => report.problems.push(Problem::Unreadable(path, e)),
                }
            } else if kind.is_file() && says_empty_but_is_not(&path, &meta) {
                report
                    .problems
                    .push(Problem::Special(path, Special::Unsized));
            } else if kind.is_file() {
                match rule.key_for(root, &path) {
                    Some(key) => {
                        report.found += 1;
                        let found = Found {
                            path,
                            root: root.clone(),
                            key,
                        };
                        on_file(found, &report);
                    }
                    None => report.problems.push(Problem::NotUtf8(path)),
                }
            } else {
                report
                    .problems
                    .push(Problem::Special(path, Special::of(kind)));
            }
        }
    }
    report
}

/// Files under /proc and /sys report size 0 and have content: sent as their size says, they
/// would become empty objects. Only files that say they are empty are opened.
pub fn says_empty_but_is_not(path: &Path, meta: &std::fs::Metadata) -> bool {
    use std::io::Read as _;
    if meta.len() != 0 {
        return false;
    }
    let mut byte = [0u8; 1];
    std::fs::File::open(path).is_ok_and(|mut f| f.read(&mut byte).is_ok_and(|n| n > 0))
}

fn read_children(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_get_one_trailing_slash_and_no_empty_segments() {
        assert_eq!(normalise_prefix(""), "");
        assert_eq!(normalise_prefix("/"), "");
        assert_eq!(normalise_prefix("a"), "a/");
        assert_eq!(normalise_prefix("a/b/"), "a/b/");
        assert_eq!(normalise_prefix("/a"), "a/");
        assert_eq!(normalise_prefix("/photos//2024"), "photos/2024/");
        assert_eq!(normalise_prefix(r"a\b"), "a/b/");
    }

    #[test]
    fn keys_keep_or_drop_the_chosen_folder_and_use_forward_slashes() {
        let keep = KeyRule::new("up", FolderName::Keep);
        let drop = KeyRule::new("up", FolderName::Drop);
        let root = Path::new("/home/u/photos");
        let file = Path::new("/home/u/photos/2024/a.jpg");
        assert_eq!(keep.key_for(root, file).unwrap(), "up/photos/2024/a.jpg");
        assert_eq!(drop.key_for(root, file).unwrap(), "up/2024/a.jpg");
        // A chosen file is its own name under the prefix either way.
        let single = Path::new("/home/u/a.txt");
        assert_eq!(keep.key_for(single, single).unwrap(), "up/a.txt");
        assert_eq!(drop.key_for(single, single).unwrap(), "up/a.txt");
        assert_eq!(
            KeyRule::new("", FolderName::Keep)
                .key_for(single, single)
                .unwrap(),
            "a.txt"
        );
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_get_no_key() {
        use std::os::unix::ffi::OsStrExt as _;
        let root = Path::new("/d");
        let bad = root.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
        assert_eq!(KeyRule::new("", FolderName::Drop).key_for(root, &bad), None);
    }

    #[test]
    fn walks_in_name_order_and_reports_what_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        std::fs::create_dir_all(top.join("sub")).unwrap();
        std::fs::write(top.join("b.txt"), b"b").unwrap();
        std::fs::write(top.join("a.txt"), b"a").unwrap();
        std::fs::write(top.join("sub/c.txt"), b"c").unwrap();
        let missing = dir.path().join("missing");
        let mut keys = Vec::new();
        let report = walk(
            &[top.clone(), missing.clone()],
            &KeyRule::new("in", FolderName::Keep),
            &mut |f, so_far| {
                assert_eq!(so_far.found, keys.len() + 1);
                keys.push(f.key);
            },
        );
        assert_eq!(keys, ["in/top/a.txt", "in/top/b.txt", "in/top/sub/c.txt"]);
        assert_eq!(report.found, 3);
        assert!(matches!(&report.problems[..], [Problem::Missing(p)] if *p == missing));
    }

    #[cfg(unix)]
    #[test]
    fn special_files_and_links_to_folders_are_not_uploaded() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        std::fs::create_dir_all(&top).unwrap();
        std::fs::write(top.join("real.txt"), b"x").unwrap();
        std::os::unix::fs::symlink(&top, top.join("loop")).unwrap();
        std::os::unix::fs::symlink(top.join("real.txt"), top.join("link.txt")).unwrap();
        let fifo = top.join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        let mut keys = Vec::new();
        let report = walk(
            std::slice::from_ref(&top),
            &KeyRule::new("", FolderName::Drop),
            &mut |f, _| keys.push(f.key),
        );
        assert_eq!(keys, ["link.txt", "real.txt"]);
        if made.is_ok_and(|s| s.success()) {
            assert!(
                matches!(&report.problems[..], [Problem::Special(p, Special::Fifo)] if *p == fifo),
                "{:?}",
                report.problems
            );
            assert!(report.problems[0].describe().contains("named pipe"));
        }
    }
}
