//! What the window starts from, read once before its first frame: the options it was opened
//! with, the saved settings, the secret kept for them (unless the environment gives one), and
//! the demo's server and settings. This is the one place the window waits for the disk and the
//! keychain; eframe builds the app before the window shows.

use std::path::PathBuf;
use std::sync::Arc;

use super::background::Desktop;
use super::demo::Demo;
use super::i18n::Lang;
use super::settings::{AppSettings, SecretPlace};
use crate::engine::AccountId;
use crate::oss::sign::Credentials;
use crate::secrets::Secrets;

/// How the window starts.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// The data dir (settings, queue, checkpoints, logs).
    pub data_dir: PathBuf,
    /// Run against an in-process local server.
    pub demo: bool,
    /// Overrides the saved and the system language (tests, screenshots).
    pub language: Option<Lang>,
    /// Credentials from the environment; they win over saved ones (for the connection with
    /// their AccessKey ID, or else the active one).
    pub env_credentials: Option<Credentials>,
    /// Files and folders to queue once the window is ready (from the command line).
    pub add: Vec<PathBuf>,
    /// Where secrets are kept; `None` is the OS keychain with the file fallback. Tests pass
    /// one with an in-memory or absent keychain.
    pub secrets: Option<Arc<Secrets>>,
    /// File dialogs and the file manager; `None` is the real desktop. Tests pass a stand-in.
    pub desktop: Option<Arc<dyn Desktop>>,
}

/// What was found.
pub struct Start {
    pub settings: AppSettings,
    /// The active connection's credentials.
    pub credentials: Option<Credentials>,
    /// The other connections' credentials that are kept on this computer.
    pub others: Vec<(AccountId, Credentials)>,
    pub secrets: Arc<Secrets>,
    pub demo: Option<Demo>,
    pub lang: Lang,
    /// Credentials and a bucket: the queue can show at once, without setup.
    pub ready: bool,
    /// Settings were saved before but their secret was not (it was for one session only).
    pub secret_needed_again: bool,
    /// The settings file could not be read; setup starts afresh.
    pub settings_unreadable: Option<String>,
}

/// Reads the saved settings and their secret, and starts the demo's server when asked.
pub fn load(options: &AppOptions) -> Result<Start, String> {
    let data_dir = &options.data_dir;
    let (saved, settings_unreadable) = match AppSettings::load(data_dir) {
        Ok(s) => (s, None),
        Err(e) => (None, Some(format!("settings.json: {e}"))),
    };
    let mut settings = saved.clone().unwrap_or_default();
    let secrets = options
        .secrets
        .clone()
        .unwrap_or_else(|| Arc::new(Secrets::new(data_dir)));
    // The environment's key belongs to the connection with its AccessKey ID, or else to the
    // active one (as when there was only one connection).
    let env = options.env_credentials.clone();
    let env_owner = env.as_ref().map(|e| {
        settings
            .other_connections
            .iter()
            .find(|c| {
                c.access_key_id == e.access_key_id && settings.access_key_id != c.access_key_id
            })
            .map(|c| c.account.clone())
            .unwrap_or_else(|| settings.account.clone())
    });
    let mut credentials = match &env_owner {
        Some(owner) if *owner == settings.account => env.clone(),
        _ => kept(&secrets, settings.secret_place, &settings.access_key_id),
    };
    let mut others: Vec<(AccountId, Credentials)> = settings
        .other_connections
        .iter()
        .filter_map(|c| {
            let k = match &env_owner {
                Some(owner) if *owner == c.account => env.clone(),
                _ => kept(&secrets, c.secret_place, &c.access_key_id),
            };
            k.map(|k| (c.account.clone(), k))
        })
        .collect();
    let demo = if options.demo {
        let demo = Demo::start(data_dir).map_err(|e| e.to_string())?;
        settings = demo.settings(&settings);
        // The demo is one connection: its own local server.
        settings.other_connections.clear();
        others.clear();
        credentials = Some(Demo::credentials());
        Some(demo)
    } else {
        None
    };
    let lang = options
        .language
        .unwrap_or_else(|| settings.language.resolve());
    let ready = credentials.is_some() && !settings.bucket.is_empty();
    if let Some(endpoint) = std::env::var("OSS_ENDPOINT")
        .ok()
        .filter(|e| saved.is_none() && demo.is_none() && !e.trim().is_empty())
    {
        settings.custom_endpoint = Some(endpoint.trim().to_owned());
    }
    Ok(Start {
        settings,
        credentials,
        others,
        secrets,
        demo,
        lang,
        ready,
        secret_needed_again: !ready && saved.is_some(),
        settings_unreadable,
    })
}

/// The credentials kept at `place` for `access_key_id`, if any.
fn kept(secrets: &Secrets, place: SecretPlace, access_key_id: &str) -> Option<Credentials> {
    if !matches!(place, SecretPlace::Keychain | SecretPlace::File) {
        return None;
    }
    secrets.load(access_key_id).map(|stored| Credentials {
        access_key_id: access_key_id.to_owned(),
        access_key_secret: stored.secret,
        security_token: stored.security_token,
    })
}
