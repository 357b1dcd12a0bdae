//! SHIM (branch `app` only): the colleague's secret storage replaces this file on merge. Only the
//! calls the window makes are here: no keychain, and a 0600 file when the user agrees to it.

use std::path::{Path, PathBuf};

const FILE: &str = "secret.json";

/// Whether an OS keychain can hold the secret on this computer.
pub fn keychain_available() -> bool {
    false
}

/// Saves the secret in the OS keychain.
pub fn save_keychain(_account: &str, _secret: &str) -> std::io::Result<()> {
    Err(std::io::Error::other("no keychain on this computer"))
}

/// Saves the secret in a file only this user can read; returns the file.
pub fn save_file(data_dir: &Path, account: &str, secret: &str) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options.open(&path)?;
    let body = serde_json::json!({ "account": account, "secret": secret });
    f.write_all(body.to_string().as_bytes())?;
    f.sync_all()?;
    Ok(path)
}

/// The saved secret for `account`, from the keychain or the file.
pub fn load(data_dir: &Path, account: &str) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join(FILE)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    if v.get("account")?.as_str()? != account {
        return None;
    }
    v.get("secret")?.as_str().map(str::to_owned)
}

/// Forgets the saved secret wherever it is.
pub fn delete(data_dir: &Path, _account: &str) {
    let _ = std::fs::remove_file(data_dir.join(FILE));
}
