//! Where oss-uploader keeps its own files (checkpoints, logs): the data folder, chosen once at
//! start-up and created if missing.
//!
//! Chosen in this order: an explicit folder (the `--data-dir` option), the
//! `OSS_UPLOADER_DATA_DIR` environment variable, then the platform's per-user local data folder
//! (`~/.local/share/oss-uploader` on Linux, `%LOCALAPPDATA%\oss-uploader\oss-uploader\data` on
//! Windows, `~/Library/Application Support/com.oss-uploader.oss-uploader` on macOS). The *local*
//! folder rather than the roaming one on Windows: checkpoints name absolute paths of files on this
//! machine, which mean nothing on another computer a roaming profile would copy them to.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// The environment variable that chooses the data folder when `--data-dir` is not given.
pub const DATA_DIR_ENV: &str = "OSS_UPLOADER_DATA_DIR";
/// The subfolder holding one checkpoint file per unfinished multipart upload.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The subfolder holding log files.
pub const LOGS_DIR: &str = "logs";
/// The window's queue, kept so a killed app loses nothing.
pub const QUEUE_FILE: &str = "queue.json";

/// Why the data folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error(
        "Could not find a folder for oss-uploader's data because your home folder is unknown. \
         Choose a folder with --data-dir or the {DATA_DIR_ENV} environment variable."
    )]
    NoHome,
    #[error(
        "Could not create the folder {path} where oss-uploader keeps its resume records and logs: \
         {source}. Check that the disk is available and that you may write there, or choose \
         another folder with --data-dir or the {DATA_DIR_ENV} environment variable."
    )]
    Create { path: PathBuf, source: io::Error },
}

/// The data folder, known to exist with its subfolders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Chooses the data folder from `explicit` (the `--data-dir` option), then the
    /// `OSS_UPLOADER_DATA_DIR` environment variable, then the platform default, and creates it.
    pub fn resolve(explicit: Option<&Path>) -> Result<Self, PathsError> {
        Self::resolve_with(explicit, std::env::var_os(DATA_DIR_ENV))
    }

    /// [`DataDir::resolve`] with the environment variable's value passed in, so the choice can be
    /// tested without changing the process environment. An empty value counts as unset, as a
    /// shell `VAR=` usually means "no preference".
    pub fn resolve_with(
        explicit: Option<&Path>,
        env: Option<OsString>,
    ) -> Result<Self, PathsError> {
        Self::at(&choose(explicit, env, default_dir())?)
    }

    /// Uses `root` as the data folder, creating it and its subfolders when missing. A relative
    /// path is made absolute now, so a later change of working folder cannot move our data.
    pub fn at(root: &Path) -> Result<Self, PathsError> {
        let root = std::path::absolute(root).map_err(|source| PathsError::Create {
            path: root.to_path_buf(),
            source,
        })?;
        for dir in [
            root.clone(),
            root.join(CHECKPOINTS_DIR),
            root.join(LOGS_DIR),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|source| PathsError::Create { path: dir, source })?;
        }
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn checkpoints(&self) -> PathBuf {
        self.root.join(CHECKPOINTS_DIR)
    }

    pub fn logs(&self) -> PathBuf {
        self.root.join(LOGS_DIR)
    }
}

/// The pure choice behind [`DataDir::resolve_with`], with the platform default passed in.
fn choose(
    explicit: Option<&Path>,
    env: Option<OsString>,
    default: Option<PathBuf>,
) -> Result<PathBuf, PathsError> {
    match (explicit, env.filter(|v| !v.is_empty())) {
        (Some(dir), _) => Ok(dir.to_path_buf()),
        (None, Some(dir)) => Ok(PathBuf::from(dir)),
        (None, None) => default.ok_or(PathsError::NoHome),
    }
}

/// The platform's per-user local data folder for oss-uploader, if the home folder is known.
pub fn default_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("com", "oss-uploader", "oss-uploader")
        .map(|dirs| dirs.data_local_dir().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_wins_over_environment() {
        let tmp = tempfile::tempdir().unwrap();
        let explicit = tmp.path().join("explicit");
        let env = tmp.path().join("env");
        let dir = DataDir::resolve_with(Some(&explicit), Some(env.clone().into())).unwrap();
        assert_eq!(dir.root(), explicit);
        assert!(explicit.join("checkpoints").is_dir() && explicit.join("logs").is_dir());
        assert!(!env.exists());
    }

    #[test]
    fn environment_used_when_no_explicit_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let env = tmp.path().join("a").join("b");
        let dir = DataDir::resolve_with(None, Some(env.clone().into())).unwrap();
        assert_eq!(dir.root(), env);
        assert_eq!(dir.checkpoints(), env.join("checkpoints"));
        assert_eq!(dir.logs(), env.join("logs"));
        assert!(dir.checkpoints().is_dir() && dir.logs().is_dir());
    }

    #[test]
    fn empty_environment_value_falls_back_to_the_platform_folder() {
        let default = PathBuf::from("/home/u/.local/share/oss-uploader");
        let chosen = choose(None, Some(OsString::new()), Some(default.clone())).unwrap();
        assert_eq!(chosen, default);
        let chosen = choose(None, Some("/e".into()), Some(default.clone())).unwrap();
        assert_eq!(chosen, Path::new("/e"));
        let chosen = choose(Some(Path::new("/x")), Some("/e".into()), Some(default)).unwrap();
        assert_eq!(chosen, Path::new("/x"));
    }

    #[test]
    fn unknown_home_without_a_choice_is_a_clear_error() {
        let err = choose(None, None, None).unwrap_err();
        assert!(matches!(err, PathsError::NoHome));
        assert!(err.to_string().contains("--data-dir"), "{err}");
    }

    #[test]
    fn platform_folder_is_named_for_the_app() {
        if let Some(dir) = default_dir() {
            assert!(
                dir.to_string_lossy().contains("oss-uploader"),
                "{}",
                dir.display()
            );
        }
    }

    #[test]
    fn a_file_in_the_way_gives_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("not-a-folder");
        std::fs::write(&file, b"x").unwrap();
        let err = DataDir::at(&file.join("data")).unwrap_err();
        let PathsError::Create { path, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(path, &file.join("data"));
        let msg = err.to_string();
        assert!(
            msg.contains("--data-dir") && msg.contains(DATA_DIR_ENV),
            "{msg}"
        );
    }
}
