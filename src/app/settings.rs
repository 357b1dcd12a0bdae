//! The window's settings: what is saved (non-secret, JSON in the data dir, written atomically),
//! the editable form with its validation, and where the secret went. The secret itself is never
//! part of `AppSettings`, so it cannot reach the settings file, a log or the queue file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::connections::ConnectionSettings;
use super::i18n::{Lang, LanguageChoice, Tr};
use crate::engine::checkpoint::ObjectOptions;
use crate::engine::walk::normalise_prefix;
use crate::engine::{AccountId, Connection, JobSpec};
use crate::engine::{DEFAULT_JOBS, DEFAULT_THREADS, EngineSettings, ExistingPolicy, MAX_THREADS};
use crate::oss::limits::{self, AUTO_PART_SIZE, DEFAULT_PART_SIZE, InvalidInput};
use crate::oss::regions::REGIONS;
use crate::oss::sign::Credentials;
use crate::units::{human_bytes, parse_size};

/// The settings file's name in the data dir.
pub const SETTINGS_FILE: &str = "settings.json";

/// Where the secret was put when the settings were saved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretPlace {
    /// Not saved: the environment gives it, or it was kept for one session only.
    #[default]
    Nowhere,
    Keychain,
    File,
}

/// What is saved between sessions. No secret in here. The connection fields (from `account`
/// to `custom_domain`, and `secret_place`) are the active connection's; the others are in
/// `other_connections` (see `connections`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppSettings {
    pub language: LanguageChoice,
    /// The active connection's account id: its jobs carry it (empty for the connection of a
    /// settings file from before connections).
    pub account: AccountId,
    /// The active connection's name, as the switchers show it.
    pub name: String,
    /// A region id from `REGIONS` (the signature needs it even with a custom endpoint).
    pub region: String,
    /// Set when the user gives an endpoint instead of picking a region's.
    pub custom_endpoint: Option<String>,
    pub path_style: bool,
    pub access_key_id: String,
    pub bucket: String,
    pub prefix: String,
    /// A domain bound to the bucket (CNAME): share links use it as their host.
    pub custom_domain: Option<String>,
    /// Bytes per part as a person fixed it; `AUTO_PART_SIZE` (the default) lets the engine
    /// choose (8 MiB or more, see `engine::plan`).
    pub part_size: u64,
    /// Parts of one file in flight as a person fixed it; `None` (the default) lets the engine
    /// size one pool of requests by what the link carries (`engine::pool`).
    pub parts_at_once: Option<usize>,
    /// Files uploading at once as a person fixed it; `None` (the default) is automatic.
    pub files_at_once: Option<usize>,
    pub existing: ExistingPolicy,
    /// Bytes per second for all uploads together; `None` is unlimited.
    pub bandwidth_limit: Option<u64>,
    pub secret_place: SecretPlace,
    /// Keep the computer from sleeping while uploads run (the window).
    pub keep_awake: bool,
    /// A desktop notification when a batch ends (the window).
    pub notify: bool,
    /// The connections that are not active.
    pub other_connections: Vec<ConnectionSettings>,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            language: LanguageChoice::System,
            account: AccountId::new(),
            name: String::new(),
            region: "cn-hangzhou".into(),
            custom_endpoint: None,
            path_style: false,
            access_key_id: String::new(),
            bucket: String::new(),
            prefix: String::new(),
            custom_domain: None,
            part_size: AUTO_PART_SIZE,
            parts_at_once: None,
            files_at_once: None,
            existing: ExistingPolicy::Overwrite,
            bandwidth_limit: None,
            secret_place: SecretPlace::Nowhere,
            keep_awake: true,
            notify: true,
            other_connections: Vec::new(),
        }
    }
}

impl AppSettings {
    /// The saved settings, `Ok(None)` on first run.
    pub fn load(data_dir: &Path) -> std::io::Result<Option<Self>> {
        match std::fs::read_to_string(data_dir.join(SETTINGS_FILE)) {
            Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
                .map(migrated)
                .and_then(serde_json::from_value)
                .map(Some)
                .map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        crate::atomic_file::write_json(&data_dir.join(SETTINGS_FILE), self)
    }

    pub fn endpoint(&self) -> String {
        endpoint_of(&self.region, self.custom_endpoint.as_deref())
    }

    /// The active connection's endpoint, region and addressing.
    pub fn connection(&self) -> Connection {
        self.active_connection().connection()
    }

    pub fn engine_settings(&self) -> EngineSettings {
        EngineSettings {
            jobs: self.files_at_once,
            threads: self.parts_at_once,
            bandwidth_limit: self.bandwidth_limit,
            existing: self.existing,
            ..EngineSettings::default()
        }
    }

    /// The job for one file under `key`.
    pub fn spec(&self, path: PathBuf, key: String) -> JobSpec {
        JobSpec {
            path,
            connection: self.connection(),
            bucket: self.bucket.clone(),
            key,
            part_size: self.part_size,
            threads: self.engine_settings().threads_per_file(),
            options: ObjectOptions::default(),
            account: self.account.clone(),
        }
    }

    /// The prefix as keys start with it: no leading slash, one trailing slash when not empty.
    pub fn key_prefix(&self) -> String {
        normalise_prefix(&self.prefix)
    }
}

/// The endpoint typed, or the region's.
pub(super) fn endpoint_of(region: &str, custom_endpoint: Option<&str>) -> String {
    match custom_endpoint {
        Some(e) => e.to_owned(),
        None => REGIONS
            .iter()
            .find(|r| r.id == region)
            .map(|r| r.endpoint())
            .unwrap_or_else(|| format!("oss-{region}.aliyuncs.com")),
    }
}

/// Which input a validation message belongs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Endpoint,
    KeyId,
    Secret,
    Bucket,
    Prefix,
    PartSize,
    Threads,
    Jobs,
    Bandwidth,
    /// The connection's name.
    Name,
    CustomDomain,
}

/// Settings files written before automatic concurrency and part size have `threads` and
/// `jobs`, and a `part_size`: the old fixed defaults (3, 3 and 8 MiB) for everyone who never
/// opened the settings. Those become automatic, and only a number a person changed stays (as
/// `parts_at_once` / `files_at_once`, and `part_size`).
fn migrated(mut value: serde_json::Value) -> serde_json::Value {
    let Some(map) = value.as_object_mut() else {
        return value;
    };
    super::connections::name_old_connection(map);
    if !map.contains_key("parts_at_once")
        && !map.contains_key("files_at_once")
        && map.get("part_size").and_then(|v| v.as_u64()) == Some(DEFAULT_PART_SIZE)
    {
        map.remove("part_size");
    }
    for (old, new, default) in [
        ("threads", "parts_at_once", DEFAULT_THREADS),
        ("jobs", "files_at_once", DEFAULT_JOBS),
    ] {
        let Some(n) = map.remove(old) else {
            continue;
        };
        if !map.contains_key(new) && n.as_u64() != Some(default as u64) {
            map.insert(new.to_owned(), n);
        }
    }
    value
}

/// The settings as typed, before they are checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SettingsForm {
    pub language: LanguageChoice,
    /// The connection's name (empty: the bucket's).
    pub name: String,
    /// A custom domain for share links; empty for none.
    pub custom_domain: String,
    pub region: String,
    pub use_custom_endpoint: bool,
    pub endpoint: String,
    pub path_style: bool,
    pub access_key_id: String,
    pub secret: String,
    pub use_sts: bool,
    pub token: String,
    pub bucket: String,
    pub prefix: String,
    pub part_size: String,
    /// Files and parts at once chosen by the engine (the default); unticked, the two numbers
    /// below it apply.
    pub automatic: bool,
    pub threads: String,
    pub jobs: String,
    pub existing: ExistingPolicy,
    pub bandwidth: String,
    pub keep_awake: bool,
    pub notify: bool,
}

impl SettingsForm {
    /// The form showing `s` and the credentials in use.
    pub fn from_settings(s: &AppSettings, credentials: Option<&Credentials>) -> Self {
        Self {
            language: s.language,
            name: s.name.clone(),
            custom_domain: s.custom_domain.clone().unwrap_or_default(),
            region: s.region.clone(),
            use_custom_endpoint: s.custom_endpoint.is_some(),
            endpoint: s.custom_endpoint.clone().unwrap_or_default(),
            path_style: s.path_style,
            access_key_id: credentials
                .map(|c| c.access_key_id.clone())
                .unwrap_or_else(|| s.access_key_id.clone()),
            secret: credentials
                .map(|c| c.access_key_secret.clone())
                .unwrap_or_default(),
            use_sts: credentials.is_some_and(|c| c.security_token.is_some()),
            token: credentials
                .and_then(|c| c.security_token.clone())
                .unwrap_or_default(),
            bucket: s.bucket.clone(),
            prefix: s.prefix.clone(),
            part_size: if s.part_size == AUTO_PART_SIZE {
                String::new()
            } else {
                human_bytes(s.part_size)
            },
            automatic: s.parts_at_once.is_none() && s.files_at_once.is_none(),
            threads: s.parts_at_once.unwrap_or(DEFAULT_THREADS).to_string(),
            jobs: s.files_at_once.unwrap_or(DEFAULT_JOBS).to_string(),
            existing: s.existing,
            bandwidth: s.bandwidth_limit.map(human_bytes).unwrap_or_default(),
            keep_awake: s.keep_awake,
            notify: s.notify,
        }
    }

    /// The credentials typed in, when there are enough of them.
    pub fn credentials(&self) -> Option<Credentials> {
        let id = self.access_key_id.trim();
        let secret = self.secret.trim();
        if id.is_empty() || secret.is_empty() {
            return None;
        }
        let c = Credentials::new(id, secret);
        Some(if self.use_sts && !self.token.trim().is_empty() {
            c.with_security_token(self.token.trim())
        } else {
            c
        })
    }

    /// The settings this form describes, or every problem with the field it belongs to.
    pub fn validate(
        &self,
        tr: &Tr,
        lang: Lang,
        previous: &AppSettings,
    ) -> Result<AppSettings, Vec<(Field, String)>> {
        let mut errors = Vec::new();
        let mut out = previous.clone();
        out.language = self.language;
        out.region = self.region.trim().to_owned();
        out.custom_endpoint = if self.use_custom_endpoint {
            Some(self.endpoint.trim().to_owned())
        } else {
            None
        };
        out.path_style = self.path_style;
        out.access_key_id = self.access_key_id.trim().to_owned();
        out.bucket = self.bucket.trim().to_owned();
        out.prefix = self.prefix.trim().to_owned();
        out.existing = self.existing;
        out.keep_awake = self.keep_awake;
        out.notify = self.notify;

        if self.use_custom_endpoint && self.endpoint.trim().is_empty() {
            errors.push((Field::Endpoint, tr.need_endpoint.to_owned()));
        } else if let Err(e) = out
            .connection()
            .client_config(Credentials::new("check", "check"))
        {
            errors.push((Field::Endpoint, invalid_input(tr, lang, &e)));
        }
        if out.access_key_id.is_empty() {
            errors.push((Field::KeyId, tr.need_key_id.to_owned()));
        }
        if self.secret.trim().is_empty() {
            errors.push((Field::Secret, tr.need_secret.to_owned()));
        }
        if out.bucket.is_empty() {
            errors.push((Field::Bucket, tr.need_bucket.to_owned()));
        } else if let Err(e) = limits::validate_bucket(&out.bucket) {
            errors.push((Field::Bucket, invalid_input(tr, lang, &e)));
        }
        let prefix = out.key_prefix();
        if !prefix.is_empty()
            && let Err(e) = limits::validate_key(&prefix)
        {
            errors.push((Field::Prefix, invalid_input(tr, lang, &e)));
        }
        match parse_size(&self.part_size) {
            _ if self.part_size.trim().is_empty() => out.part_size = AUTO_PART_SIZE,
            Ok(size) => match limits::validate_part_size(size) {
                Ok(()) => out.part_size = size,
                Err(e) => errors.push((Field::PartSize, invalid_input(tr, lang, &e))),
            },
            Err(_) => errors.push((Field::PartSize, tr.not_a_size.to_owned())),
        }
        if self.automatic {
            out.parts_at_once = None;
            out.files_at_once = None;
        } else {
            match self.threads.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_THREADS).contains(&n) => out.parts_at_once = Some(n),
                _ => errors.push((
                    Field::Threads,
                    tr.threads_range.replace("{max}", &MAX_THREADS.to_string()),
                )),
            }
            match self.jobs.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_THREADS).contains(&n) => out.files_at_once = Some(n),
                _ => errors.push((
                    Field::Jobs,
                    tr.jobs_range.replace("{max}", &MAX_THREADS.to_string()),
                )),
            }
        }
        super::connections::check_connection_fields(self, tr, &mut out, &mut errors);
        let bw = self.bandwidth.trim();
        if bw.is_empty() || bw == "0" {
            out.bandwidth_limit = None;
        } else {
            match parse_size(bw) {
                Ok(n) if n > 0 => out.bandwidth_limit = Some(n),
                _ => errors.push((Field::Bandwidth, tr.not_a_speed.to_owned())),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

/// The message for a refused value, in the user's language. English reuses `oss::limits`' own
/// messages so there is one wording for the CLI and the window.
pub fn invalid_input(tr: &Tr, lang: Lang, e: &InvalidInput) -> String {
    if lang == Lang::En {
        return e.to_string();
    }
    match e {
        InvalidInput::BucketName(n) => tr.bad_bucket.replace("{name}", n),
        InvalidInput::PartSize(n) => tr.bad_part_size.replace("{size}", &human_bytes(*n)),
        InvalidInput::Endpoint(n) => tr.bad_endpoint.replace("{name}", n),
        InvalidInput::RegionNeeded(n) => tr.region_needed.replace("{name}", n),
        InvalidInput::KeyLeadingSlash(_) | InvalidInput::KeyTooLong(_) | InvalidInput::EmptyKey => {
            tr.bad_key.to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::i18n::tr;

    #[test]
    fn prefixes_are_normalised() {
        assert_eq!(normalise_prefix(""), "");
        assert_eq!(normalise_prefix("/photos//2024"), "photos/2024/");
        assert_eq!(normalise_prefix("a\\b/"), "a/b/");
    }

    #[test]
    fn the_form_checks_every_field() {
        let mut form = SettingsForm::from_settings(&AppSettings::default(), None);
        form.part_size = "50 KiB".into();
        form.bucket = "Bad_Bucket".into();
        // The numbers count only once a person turns automatic off.
        assert!(form.automatic);
        form.automatic = false;
        form.threads = "0".into();
        let errors = form
            .validate(tr(Lang::En), Lang::En, &AppSettings::default())
            .unwrap_err();
        let fields: Vec<Field> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            [
                Field::KeyId,
                Field::Secret,
                Field::Bucket,
                Field::PartSize,
                Field::Threads
            ]
        );
        assert!(errors[3].1.contains("100 KiB to 5 GiB"), "{}", errors[3].1);

        form.access_key_id = "id".into();
        form.secret = "secret".into();
        form.bucket = "good-bucket".into();
        form.part_size = "16 MiB".into();
        form.threads = "8".into();
        form.bandwidth = "2 MiB".into();
        let s = form
            .validate(tr(Lang::En), Lang::En, &AppSettings::default())
            .unwrap();
        assert_eq!(
            (s.part_size, s.parts_at_once, s.files_at_once),
            (16 << 20, Some(8), Some(3))
        );
        assert_eq!(s.bandwidth_limit, Some(2 << 20));
        assert_eq!(s.endpoint(), "oss-cn-hangzhou.aliyuncs.com");
        assert_eq!(
            s.engine_settings().concurrency(),
            crate::engine::Concurrency::Fixed {
                jobs: 3,
                threads: 8
            }
        );

        // Back to automatic: a bad number left in the hidden fields does not matter.
        form.automatic = true;
        form.threads = "0".into();
        let s = form
            .validate(tr(Lang::En), Lang::En, &AppSettings::default())
            .unwrap();
        assert_eq!((s.parts_at_once, s.files_at_once), (None, None));
        assert_eq!(
            s.engine_settings().concurrency(),
            crate::engine::Concurrency::Automatic
        );
    }

    #[test]
    fn concurrency_is_automatic_unless_a_person_changed_it() {
        let dir = tempfile::tempdir().unwrap();
        let load = |json: &str| {
            std::fs::write(dir.path().join(SETTINGS_FILE), json).unwrap();
            AppSettings::load(dir.path()).unwrap().unwrap()
        };
        let fresh = AppSettings::default();
        assert_eq!(
            fresh.engine_settings().concurrency(),
            crate::engine::Concurrency::Automatic
        );
        // Files from before automatic concurrency: the old defaults everyone had become
        // automatic; a number a person changed stays.
        let old = load(r#"{"bucket":"b","part_size":8388608,"threads":3,"jobs":3}"#);
        assert_eq!((old.parts_at_once, old.files_at_once), (None, None));
        assert_eq!(old.part_size, AUTO_PART_SIZE);
        let own_parts = load(r#"{"bucket":"b","part_size":1048576,"threads":3,"jobs":3}"#);
        assert_eq!(own_parts.part_size, 1 << 20);
        let tuned = load(r#"{"bucket":"b","threads":8,"jobs":3}"#);
        assert_eq!((tuned.parts_at_once, tuned.files_at_once), (Some(8), None));
        // Saved again, only the new names are written, and they read back the same.
        tuned.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(SETTINGS_FILE)).unwrap();
        assert!(!text.contains("\"threads\""), "{text}");
        assert_eq!(AppSettings::load(dir.path()).unwrap().unwrap(), tuned);
        // A person who fixes 3 and 3 now keeps them.
        let fixed = AppSettings {
            parts_at_once: Some(3),
            files_at_once: Some(3),
            ..AppSettings::default()
        };
        fixed.save(dir.path()).unwrap();
        assert_eq!(AppSettings::load(dir.path()).unwrap().unwrap(), fixed);
    }
}
