//! Where the AccessKey secret and the STS token live: the system keychain, a private file in
//! the data dir, or this session's memory. Nothing else in the program stores them: settings,
//! logs, checkpoints and the queue file hold at most the AccessKey ID.
//!
//! The keychain sits behind [`KeychainBackend`] so that tests (and the UI tests) run against
//! [`MemoryKeychain`] instead of the user's real keychain.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The service name the keychain files our entries under.
pub const KEYCHAIN_SERVICE: &str = "oss-uploader";
/// The folder in the data dir that holds secret files.
pub const SECRETS_DIR: &str = "secrets";

/// Where the person asked the secret to be kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreChoice {
    /// The operating system's keychain (Keychain, Credential Manager, Secret Service).
    Keychain,
    /// A file only this user can read, in the data dir.
    File,
    /// Memory only: gone when the program quits.
    SessionOnly,
}

/// Where a secret was found or put.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretLocation {
    Keychain,
    File(PathBuf),
    Session,
}

impl fmt::Display for SecretLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Keychain => f.write_str("the system keychain"),
            Self::File(p) => write!(f, "the file {}", p.display()),
            Self::Session => f.write_str("memory, for this session only"),
        }
    }
}

/// A secret and the STS token that goes with it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSecret {
    pub secret: String,
    pub security_token: Option<String>,
    pub location: SecretLocation,
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecret")
            .field("secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("location", &self.location)
            .finish()
    }
}

/// Why a secret could not be kept or removed, worded for the person who chose where.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("The AccessKey ID and the secret must not be empty.")]
    Empty,
    #[error(
        "This computer has no system keychain the app can use (on Linux it needs a running Secret Service such as GNOME Keyring or KWallet). Choose \u{201c}Save in a file\u{201d} or \u{201c}Only for this session\u{201d} instead."
    )]
    NoKeychain,
    #[error(
        "The system keychain did not accept the change: {0}. Unlock the keychain and try again, or choose another place to keep the secret."
    )]
    Keychain(String),
    #[error(
        "The secret file {} could not be written: {source}. Check that the folder exists and is writable, or choose \u{201c}Only for this session\u{201d}.",
        .path.display()
    )]
    FileWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "The secret file {} could not be removed: {source}. Delete it by hand to forget the secret.",
        .path.display()
    )]
    FileRemove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A keychain failure, as the backend reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeychainError {
    /// No keychain service answers (no Secret Service on a headless Linux, a locked session).
    #[error("no keychain is available: {0}")]
    Unavailable(String),
    /// The keychain answered but refused or failed.
    #[error("{0}")]
    Failed(String),
}

/// The few keychain operations we need; one entry per AccessKey ID.
pub trait KeychainBackend: Send + Sync {
    /// The stored value, `None` when there is no entry.
    fn get(&self, account: &str) -> Result<Option<String>, KeychainError>;
    fn set(&self, account: &str, value: &str) -> Result<(), KeychainError>;
    /// Removes the entry; removing a missing entry succeeds.
    fn delete(&self, account: &str) -> Result<(), KeychainError>;
}

/// An in-memory keychain for tests.
#[derive(Default)]
pub struct MemoryKeychain {
    entries: Mutex<HashMap<String, String>>,
    unavailable: bool,
}

impl MemoryKeychain {
    /// A keychain that answers every call with "unavailable", as on a headless Linux.
    pub fn unavailable() -> Self {
        Self {
            entries: Mutex::default(),
            unavailable: true,
        }
    }

    fn check(&self) -> Result<(), KeychainError> {
        if self.unavailable {
            return Err(KeychainError::Unavailable("test keychain is off".into()));
        }
        Ok(())
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KeychainBackend for MemoryKeychain {
    fn get(&self, account: &str) -> Result<Option<String>, KeychainError> {
        self.check()?;
        Ok(self.entries().get(account).cloned())
    }

    fn set(&self, account: &str, value: &str) -> Result<(), KeychainError> {
        self.check()?;
        self.entries().insert(account.to_owned(), value.to_owned());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), KeychainError> {
        self.check()?;
        self.entries().remove(account);
        Ok(())
    }
}

/// The operating system's keychain through the `keyring` crate: macOS Keychain, Windows
/// Credential Manager, the Secret Service (GNOME Keyring, KWallet) on Linux and BSD.
pub struct OsKeychain;

#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "windows"
))]
mod os {
    use super::{KEYCHAIN_SERVICE, KeychainBackend, KeychainError, OsKeychain};

    fn entry(account: &str) -> Result<keyring::Entry, KeychainError> {
        keyring::Entry::new(KEYCHAIN_SERVICE, account).map_err(map)
    }

    fn map(e: keyring::Error) -> KeychainError {
        match e {
            keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
                KeychainError::Unavailable(e.to_string())
            }
            other => KeychainError::Failed(other.to_string()),
        }
    }

    impl KeychainBackend for OsKeychain {
        fn get(&self, account: &str) -> Result<Option<String>, KeychainError> {
            match entry(account)?.get_password() {
                Ok(v) => Ok(Some(v)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(map(e)),
            }
        }

        fn set(&self, account: &str, value: &str) -> Result<(), KeychainError> {
            entry(account)?.set_password(value).map_err(map)
        }

        fn delete(&self, account: &str) -> Result<(), KeychainError> {
            match entry(account)?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(map(e)),
            }
        }
    }
}

// Elsewhere `keyring` would fall back to its in-memory mock, which would look like a keychain
// and lose the secret at exit: say plainly that there is none.
#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "windows"
)))]
impl KeychainBackend for OsKeychain {
    fn get(&self, _: &str) -> Result<Option<String>, KeychainError> {
        Err(KeychainError::Unavailable(
            "not supported on this system".into(),
        ))
    }
    fn set(&self, _: &str, _: &str) -> Result<(), KeychainError> {
        Err(KeychainError::Unavailable(
            "not supported on this system".into(),
        ))
    }
    fn delete(&self, _: &str) -> Result<(), KeychainError> {
        Err(KeychainError::Unavailable(
            "not supported on this system".into(),
        ))
    }
}

/// What a keychain entry or a secret file holds.
#[derive(Serialize, Deserialize)]
struct Record {
    access_key_id: String,
    secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    security_token: Option<String>,
}

type SessionEntry = (String, Option<String>);

/// The secrets of every AccessKey ID this user saved.
pub struct Secrets {
    dir: PathBuf,
    keychain: Box<dyn KeychainBackend>,
    available: OnceLock<bool>,
    session: Mutex<HashMap<String, SessionEntry>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only where they live: the secrets themselves are never formatted.
        f.debug_struct("Secrets")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// Secrets kept in the OS keychain or under `<data_dir>/secrets/`.
    pub fn new(data_dir: &Path) -> Self {
        Self::with_keychain(data_dir, Box::new(OsKeychain))
    }

    /// The same with another keychain (tests use [`MemoryKeychain`]).
    pub fn with_keychain(data_dir: &Path, keychain: Box<dyn KeychainBackend>) -> Self {
        Self {
            dir: data_dir.join(SECRETS_DIR),
            keychain,
            available: OnceLock::new(),
            session: Mutex::default(),
        }
    }

    /// Whether the keychain answers. Asked once: on Linux the first call may wait for D-Bus.
    pub fn keychain_available(&self) -> bool {
        *self
            .available
            .get_or_init(|| match self.keychain.get("oss-uploader-probe") {
                Ok(_) => true,
                Err(e) => {
                    tracing::info!("no system keychain: {e}");
                    false
                }
            })
    }

    /// The secret for this AccessKey ID: this session's first, then the keychain, then the file.
    pub fn load(&self, access_key_id: &str) -> Option<StoredSecret> {
        if let Some((secret, security_token)) = self.session().get(access_key_id).cloned() {
            return Some(StoredSecret {
                secret,
                security_token,
                location: SecretLocation::Session,
            });
        }
        if self.keychain_available() {
            match self.keychain.get(access_key_id) {
                Ok(Some(text)) => match serde_json::from_str::<Record>(&text) {
                    Ok(r) if r.access_key_id == access_key_id => {
                        return Some(StoredSecret {
                            secret: r.secret,
                            security_token: r.security_token,
                            location: SecretLocation::Keychain,
                        });
                    }
                    _ => tracing::warn!(access_key_id, "unreadable keychain entry ignored"),
                },
                Ok(None) => {}
                Err(e) => tracing::warn!(access_key_id, "keychain read failed: {e}"),
            }
        }
        let path = self.file_path(access_key_id);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), "secret file unreadable: {e}");
                return None;
            }
        };
        match serde_json::from_str::<Record>(&text) {
            Ok(r) if r.access_key_id == access_key_id => Some(StoredSecret {
                secret: r.secret,
                security_token: r.security_token,
                location: SecretLocation::File(path),
            }),
            _ => {
                tracing::warn!(path = %path.display(), "damaged secret file ignored");
                None
            }
        }
    }

    /// Keeps the secret where the person chose, and removes copies kept anywhere else, so
    /// that "only for this session" leaves nothing on disk.
    pub fn store(
        &self,
        access_key_id: &str,
        secret: &str,
        token: Option<&str>,
        choice: StoreChoice,
    ) -> Result<SecretLocation, SecretError> {
        let access_key_id = access_key_id.trim();
        if access_key_id.is_empty() || secret.is_empty() {
            return Err(SecretError::Empty);
        }
        let token = token.filter(|t| !t.is_empty()).map(str::to_owned);
        let record = Record {
            access_key_id: access_key_id.to_owned(),
            secret: secret.to_owned(),
            security_token: token.clone(),
        };
        let location = match choice {
            StoreChoice::Keychain => {
                if !self.keychain_available() {
                    return Err(SecretError::NoKeychain);
                }
                let text = serde_json::to_string(&record)
                    .map_err(|e| SecretError::Keychain(e.to_string()))?;
                self.keychain
                    .set(access_key_id, &text)
                    .map_err(|e| match e {
                        KeychainError::Unavailable(_) => SecretError::NoKeychain,
                        KeychainError::Failed(m) => SecretError::Keychain(m),
                    })?;
                SecretLocation::Keychain
            }
            StoreChoice::File => {
                let path = self.file_path(access_key_id);
                write_private(&path, &record).map_err(|source| SecretError::FileWrite {
                    path: path.clone(),
                    source,
                })?;
                SecretLocation::File(path)
            }
            StoreChoice::SessionOnly => {
                self.session()
                    .insert(access_key_id.to_owned(), (secret.to_owned(), token));
                SecretLocation::Session
            }
        };
        self.remove_except(access_key_id, &location)?;
        tracing::info!(access_key_id, "secret kept in {location}");
        Ok(location)
    }

    /// Removes the secret from every place it may be.
    pub fn forget(&self, access_key_id: &str) -> Result<(), SecretError> {
        self.remove_except(access_key_id.trim(), &SecretLocation::Session)?;
        self.session().remove(access_key_id.trim());
        tracing::info!(access_key_id, "secret forgotten");
        Ok(())
    }

    /// The secret file of an AccessKey ID: named by a hash, so the ID is not in a file name.
    pub fn file_path(&self, access_key_id: &str) -> PathBuf {
        let digest = Sha256::digest(access_key_id.as_bytes());
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.json"))
    }

    /// Removes the persistent copies other than `keep` (the session copy too unless kept).
    fn remove_except(&self, access_key_id: &str, keep: &SecretLocation) -> Result<(), SecretError> {
        if !matches!(keep, SecretLocation::Session) {
            self.session().remove(access_key_id);
        }
        if !matches!(keep, SecretLocation::File(_)) {
            let path = self.file_path(access_key_id);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(SecretError::FileRemove { path, source }),
            }
        }
        if !matches!(keep, SecretLocation::Keychain) && self.keychain_available() {
            self.keychain.delete(access_key_id).map_err(|e| match e {
                KeychainError::Unavailable(_) => SecretError::NoKeychain,
                KeychainError::Failed(m) => SecretError::Keychain(m),
            })?;
        }
        Ok(())
    }

    fn session(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionEntry>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes `value` as JSON to `path` so that no other user can read it at any moment: the
/// folder is made 0700, the temporary file is created 0600, then renamed over the old one.
fn write_private(path: &Path, value: &Record) -> std::io::Result<()> {
    let write = crate::atomic_file::AtomicWrite {
        prefix: ".secret",
        suffix: "",
        private: true,
    };
    write.write_json(path, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(dir: &Path) -> Secrets {
        Secrets::with_keychain(dir, Box::new(MemoryKeychain::default()))
    }

    #[test]
    fn keychain_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = secrets(dir.path());
        assert!(s.keychain_available());
        let at = s
            .store("LTAI-one", "sk-1", Some("sts-1"), StoreChoice::Keychain)
            .expect("store");
        assert_eq!(at, SecretLocation::Keychain);
        let got = s.load("LTAI-one").expect("loaded");
        assert_eq!(got.secret, "sk-1");
        assert_eq!(got.security_token.as_deref(), Some("sts-1"));
        assert_eq!(got.location, SecretLocation::Keychain);
        assert!(s.load("LTAI-other").is_none());
        // Nothing written to disk.
        assert!(!dir.path().join(SECRETS_DIR).exists());
    }

    #[test]
    fn file_round_trip_survives_a_new_secrets_and_names_no_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = secrets(dir.path())
            .store("LTAI-file", "sk-2", None, StoreChoice::File)
            .expect("store");
        let SecretLocation::File(path) = at else {
            panic!("not a file: {at:?}");
        };
        assert!(path.starts_with(dir.path().join(SECRETS_DIR)));
        assert!(!path.to_string_lossy().contains("LTAI"));
        // Another run of the program, with a keychain that knows nothing.
        let got = secrets(dir.path()).load("LTAI-file").expect("loaded");
        assert_eq!(got.secret, "sk-2");
        assert_eq!(got.security_token, None);
        assert_eq!(got.location, SecretLocation::File(path));
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_0600_in_a_0700_folder() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join(SECRETS_DIR);
        std::fs::create_dir_all(&folder).expect("mkdir");
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let s = secrets(dir.path());
        let SecretLocation::File(path) = s
            .store("LTAI-mode", "sk", None, StoreChoice::File)
            .expect("store")
        else {
            panic!("not a file");
        };
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&folder), 0o700);
        // Overwriting keeps the mode and leaves no temporary file behind.
        s.store("LTAI-mode", "sk2", None, StoreChoice::File)
            .expect("store again");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_dir(&folder).expect("ls").count(), 1);
    }

    #[test]
    fn session_only_stays_in_memory_and_removes_saved_copies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = secrets(dir.path());
        s.store("LTAI-s", "old-file", None, StoreChoice::File)
            .expect("file");
        s.store("LTAI-s", "old-keychain", None, StoreChoice::Keychain)
            .expect("keychain");
        // Moving to the keychain removed the file.
        assert!(!s.file_path("LTAI-s").exists());
        let at = s
            .store("LTAI-s", "sk-3", Some("tok"), StoreChoice::SessionOnly)
            .expect("session");
        assert_eq!(at, SecretLocation::Session);
        let got = s.load("LTAI-s").expect("loaded");
        assert_eq!(
            (got.secret.as_str(), got.location),
            ("sk-3", SecretLocation::Session)
        );
        // A new run finds nothing anywhere.
        assert!(secrets(dir.path()).load("LTAI-s").is_none());
        assert!(s.keychain.get("LTAI-s").expect("get").is_none());
    }

    #[test]
    fn forget_removes_every_copy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = secrets(dir.path());
        s.store("LTAI-f", "a", None, StoreChoice::File)
            .expect("file");
        let file = s.file_path("LTAI-f");
        assert!(file.exists());
        s.forget("LTAI-f").expect("forget");
        assert!(!file.exists());
        assert!(s.load("LTAI-f").is_none());
        s.store("LTAI-f", "b", None, StoreChoice::Keychain)
            .expect("keychain");
        s.forget("LTAI-f").expect("forget");
        assert!(s.load("LTAI-f").is_none());
        s.store("LTAI-f", "c", None, StoreChoice::SessionOnly)
            .expect("session");
        s.forget("LTAI-f").expect("forget");
        assert!(s.load("LTAI-f").is_none());
        // Forgetting what is not there is fine.
        s.forget("LTAI-never").expect("forget nothing");
    }

    #[test]
    fn without_a_keychain_the_choice_fails_clearly_and_files_still_work() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Secrets::with_keychain(dir.path(), Box::new(MemoryKeychain::unavailable()));
        assert!(!s.keychain_available());
        let err = s
            .store("LTAI-n", "sk", None, StoreChoice::Keychain)
            .expect_err("no keychain");
        assert!(matches!(err, SecretError::NoKeychain));
        assert!(err.to_string().contains("Save in a file"), "{err}");
        s.store("LTAI-n", "sk", None, StoreChoice::File)
            .expect("file");
        assert_eq!(s.load("LTAI-n").map(|x| x.secret).as_deref(), Some("sk"));
        s.forget("LTAI-n").expect("forget");
        assert!(s.load("LTAI-n").is_none());
    }

    #[test]
    fn empty_input_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = secrets(dir.path());
        for (id, secret) in [("", "sk"), ("  ", "sk"), ("LTAI", "")] {
            assert!(matches!(
                s.store(id, secret, None, StoreChoice::SessionOnly),
                Err(SecretError::Empty)
            ));
        }
    }

    #[test]
    fn a_damaged_file_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = secrets(dir.path());
        let path = s.file_path("LTAI-d");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, "{not json").expect("write");
        assert!(s.load("LTAI-d").is_none());
    }

    #[test]
    fn debug_redacts_the_secret_and_the_token() {
        let s = StoredSecret {
            secret: "very-secret-value".into(),
            security_token: Some("sts-token-value".into()),
            location: SecretLocation::Keychain,
        };
        let text = format!("{s:?} {s:#?}");
        assert!(!text.contains("very-secret-value"), "{text}");
        assert!(!text.contains("sts-token-value"), "{text}");
        assert!(
            text.contains("<redacted>") && text.contains("Keychain"),
            "{text}"
        );
    }

    #[test]
    fn the_real_keychain_probe_answers_promptly() {
        // Either answer is right (CI has no Secret Service, a desktop has one); hanging is not.
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Secrets::new(dir.path());
        let start = std::time::Instant::now();
        let available = s.keychain_available();
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
        if !available {
            assert!(matches!(
                s.store("LTAI-probe", "sk", None, StoreChoice::Keychain),
                Err(SecretError::NoKeychain)
            ));
        }
    }

    #[test]
    fn the_keychain_probe_is_cached() {
        struct Counting(std::sync::atomic::AtomicUsize);
        impl KeychainBackend for Counting {
            fn get(&self, _: &str) -> Result<Option<String>, KeychainError> {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err(KeychainError::Unavailable("off".into()))
            }
            fn set(&self, _: &str, _: &str) -> Result<(), KeychainError> {
                Err(KeychainError::Unavailable("off".into()))
            }
            fn delete(&self, _: &str) -> Result<(), KeychainError> {
                Err(KeychainError::Unavailable("off".into()))
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let counting = std::sync::Arc::new(Counting(Default::default()));
        struct Shared(std::sync::Arc<Counting>);
        impl KeychainBackend for Shared {
            fn get(&self, a: &str) -> Result<Option<String>, KeychainError> {
                self.0.get(a)
            }
            fn set(&self, a: &str, v: &str) -> Result<(), KeychainError> {
                self.0.set(a, v)
            }
            fn delete(&self, a: &str) -> Result<(), KeychainError> {
                self.0.delete(a)
            }
        }
        let s = Secrets::with_keychain(dir.path(), Box::new(Shared(counting.clone())));
        for _ in 0..3 {
            assert!(!s.keychain_available());
            assert!(s.load("LTAI-x").is_none());
        }
        assert_eq!(counting.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
