//! Several named connections ("Work", "Family photos"), each its own endpoint, AccessKey,
//! bucket, folder and custom domain, one of them active. The active one's fields stay at the top
//! level of `AppSettings` (and of the settings file), where they always were: every reader of the
//! destination keeps reading `settings.bucket`, a file from before connections reads as one
//! connection, and an older version still reads the active one. The others wait in
//! `other_connections`; switching swaps them.
//!
//! Each connection has an account id (`AccountId`): jobs carry it, so the queue signs a job
//! with its own connection's key whichever one is active later. The connection read from an
//! older settings file keeps the empty id, which is also the id of the jobs in an older queue
//! file: they resume with its key.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::i18n::Tr;
use super::settings::endpoint_of;
use super::settings::{AppSettings, Field, SecretPlace, SettingsForm};
use crate::engine::{AccountId, Connection, JobSpec};
use crate::oss::endpoint::Endpoint;
use crate::oss::sign::SignatureVersion;

/// One connection as saved, apart from the active one (whose fields are `AppSettings`' own).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionSettings {
    pub account: AccountId,
    pub name: String,
    pub region: String,
    pub custom_endpoint: Option<String>,
    pub path_style: bool,
    pub access_key_id: String,
    pub secret_place: SecretPlace,
    pub bucket: String,
    pub prefix: String,
    /// A domain bound to the bucket (CNAME), used as the host of share links.
    pub custom_domain: Option<String>,
}

impl AppSettings {
    /// The active connection as one value.
    pub fn active_connection(&self) -> ConnectionSettings {
        ConnectionSettings {
            account: self.account.clone(),
            name: self.name.clone(),
            region: self.region.clone(),
            custom_endpoint: self.custom_endpoint.clone(),
            path_style: self.path_style,
            access_key_id: self.access_key_id.clone(),
            secret_place: self.secret_place,
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            custom_domain: self.custom_domain.clone(),
        }
    }

    fn set_active(&mut self, c: ConnectionSettings) {
        self.account = c.account;
        self.name = c.name;
        self.region = c.region;
        self.custom_endpoint = c.custom_endpoint;
        self.path_style = c.path_style;
        self.access_key_id = c.access_key_id;
        self.secret_place = c.secret_place;
        self.bucket = c.bucket;
        self.prefix = c.prefix;
        self.custom_domain = c.custom_domain;
    }

    /// Every connection, the active one first.
    pub fn all_connections(&self) -> Vec<ConnectionSettings> {
        let mut all = vec![self.active_connection()];
        all.extend(self.other_connections.iter().cloned());
        all
    }

    /// (account, name) of every connection, sorted by name: the order of the switchers, which
    /// stays the same whichever is active.
    pub fn connection_names(&self) -> Vec<(AccountId, String)> {
        let mut names: Vec<(AccountId, String)> = self
            .all_connections()
            .into_iter()
            .map(|c| (c.account.clone(), c.display_name()))
            .collect();
        names.sort_by_key(|(_, n)| n.to_lowercase());
        names
    }

    /// The connection of `account`, active or not.
    pub fn connection_of(&self, account: &str) -> Option<ConnectionSettings> {
        self.all_connections()
            .into_iter()
            .find(|c| c.account == account)
    }

    /// Makes `account`'s connection the active one; false when there is none.
    pub fn switch_to(&mut self, account: &str) -> bool {
        if self.account == account {
            return true;
        }
        let Some(i) = self
            .other_connections
            .iter()
            .position(|c| c.account == account)
        else {
            return false;
        };
        let next = self.other_connections.remove(i);
        let previous = self.active_connection();
        self.other_connections.insert(i, previous);
        self.set_active(next);
        true
    }

    /// These settings with a new, empty connection active (the previous one among the
    /// others): what "Add connection" edits until it is saved.
    pub fn with_new_connection(&self) -> AppSettings {
        let mut out = self.clone();
        out.other_connections.insert(0, self.active_connection());
        let fresh = AppSettings::default();
        out.set_active(ConnectionSettings {
            account: self.new_account_id(),
            region: fresh.region,
            ..ConnectionSettings::default()
        });
        out
    }

    /// Removes the active connection and makes the next one active; `None` when it is the
    /// only one.
    pub fn remove_active(&mut self) -> Option<ConnectionSettings> {
        if self.other_connections.is_empty() {
            return None;
        }
        let removed = self.active_connection();
        let next = self.other_connections.remove(0);
        self.set_active(next);
        Some(removed)
    }

    /// Whether any connection uses `access_key_id`: the keychain entry and the file are per
    /// AccessKey ID, so connections with one key share its secret.
    pub fn key_in_use(&self, access_key_id: &str) -> bool {
        self.all_connections()
            .iter()
            .any(|c| c.access_key_id == access_key_id)
    }

    /// An id no connection has.
    fn new_account_id(&self) -> AccountId {
        let taken: Vec<AccountId> = self
            .all_connections()
            .into_iter()
            .map(|c| c.account)
            .collect();
        (1..)
            .map(|n| format!("c{n}"))
            .find(|id| !taken.contains(id))
            .unwrap_or_default()
    }

    /// The job for one file under `key` on `account`'s connection (when it still exists).
    pub fn spec_on(&self, account: &str, path: PathBuf, key: String) -> Option<JobSpec> {
        let mut on = self.clone();
        on.switch_to(account).then(|| on.spec(path, key))
    }
}

impl ConnectionSettings {
    /// Where and how requests of this connection go (its key aside).
    pub fn connection(&self) -> Connection {
        Connection {
            endpoint: endpoint_of(&self.region, self.custom_endpoint.as_deref()),
            region: Some(self.region.clone()).filter(|r| !r.is_empty()),
            signature: SignatureVersion::V4,
            path_style: self.path_style,
        }
    }

    /// The name shown: as given, or the bucket's for a connection that has none.
    pub fn display_name(&self) -> String {
        if self.name.trim().is_empty() {
            self.bucket.clone()
        } else {
            self.name.clone()
        }
    }
}

/// Settings files from before connections: the one connection they describe is named after
/// its bucket.
pub(super) fn name_old_connection(map: &mut serde_json::Map<String, serde_json::Value>) {
    if !map.contains_key("name")
        && let Some(bucket) = map.get("bucket").cloned()
    {
        map.insert("name".to_owned(), bucket);
    }
}

/// The connection's own fields of the form, checked into `out`: a name no other connection has
/// (empty: the bucket's), and a custom domain that is a host or an http(s) URL of one.
pub(super) fn check_connection_fields(
    form: &SettingsForm,
    tr: &Tr,
    out: &mut AppSettings,
    errors: &mut Vec<(Field, String)>,
) {
    let name = form.name.trim();
    out.name = if name.is_empty() {
        form.bucket.trim().to_owned()
    } else {
        name.to_owned()
    };
    let taken = out
        .other_connections
        .iter()
        .any(|c| c.display_name().trim().to_lowercase() == out.name.to_lowercase());
    if taken && !out.name.is_empty() {
        errors.push((Field::Name, tr.name_taken.replace("{name}", &out.name)));
    }
    let domain = form.custom_domain.trim();
    out.custom_domain = None;
    if !domain.is_empty() {
        match Endpoint::cname(domain) {
            Ok(_) => out.custom_domain = Some(domain.to_owned()),
            Err(_) => errors.push((Field::CustomDomain, tr.bad_domain.replace("{name}", domain))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::i18n::{Lang, tr};
    use crate::app::settings::SETTINGS_FILE;

    #[test]
    fn an_old_settings_file_becomes_one_connection_named_after_its_bucket() {
        let dir = tempfile::tempdir().unwrap();
        // As version 0.x wrote it, before connections.
        let old = r#"{
            "language": "chinese",
            "region": "cn-shanghai",
            "custom_endpoint": "http://127.0.0.1:9000",
            "path_style": true,
            "access_key_id": "LTAI-old",
            "bucket": "family-photos",
            "prefix": "2024/",
            "part_size": 1048576,
            "parts_at_once": 4,
            "files_at_once": null,
            "existing": "skip",
            "bandwidth_limit": 2097152,
            "secret_place": "keychain",
            "keep_awake": false,
            "notify": true
        }"#;
        std::fs::write(dir.path().join(SETTINGS_FILE), old).unwrap();
        let s = AppSettings::load(dir.path()).unwrap().unwrap();
        let all = s.all_connections();
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0],
            ConnectionSettings {
                account: String::new(),
                name: "family-photos".into(),
                region: "cn-shanghai".into(),
                custom_endpoint: Some("http://127.0.0.1:9000".into()),
                path_style: true,
                access_key_id: "LTAI-old".into(),
                secret_place: SecretPlace::Keychain,
                bucket: "family-photos".into(),
                prefix: "2024/".into(),
                custom_domain: None,
            }
        );
        // The app-wide options are all still there.
        assert_eq!(s.language, crate::app::i18n::LanguageChoice::Chinese);
        assert_eq!((s.part_size, s.parts_at_once), (1 << 20, Some(4)));
        assert_eq!(s.existing, crate::engine::ExistingPolicy::Skip);
        assert_eq!(s.bandwidth_limit, Some(2 << 20));
        assert!(!s.keep_awake && s.notify);
        // Saved and read again, nothing changes.
        s.save(dir.path()).unwrap();
        assert_eq!(AppSettings::load(dir.path()).unwrap().unwrap(), s);
    }

    fn two() -> AppSettings {
        let mut s = AppSettings {
            name: "Work".into(),
            bucket: "work-b".into(),
            access_key_id: "LTAI-w".into(),
            secret_place: SecretPlace::Keychain,
            ..AppSettings::default()
        };
        let mut fresh = s.with_new_connection();
        fresh.name = "Family".into();
        fresh.bucket = "family-b".into();
        fresh.access_key_id = "LTAI-f".into();
        s = fresh;
        s
    }

    #[test]
    fn connections_switch_and_keep_their_own_fields() {
        let mut s = two();
        assert_eq!(s.account, "c1");
        assert_eq!(
            s.connection_names(),
            [
                ("c1".to_owned(), "Family".to_owned()),
                (String::new(), "Work".to_owned())
            ]
        );
        assert!(s.switch_to(""));
        assert_eq!((s.name.as_str(), s.bucket.as_str()), ("Work", "work-b"));
        assert_eq!(s.connection_of("c1").unwrap().bucket, "family-b");
        assert!(!s.switch_to("c9"));
        let spec = s.spec_on("c1", "/f".into(), "k".into()).unwrap();
        assert_eq!(
            (spec.account.as_str(), spec.bucket.as_str()),
            ("c1", "family-b")
        );
        assert_eq!(s.spec("/f".into(), "k".into()).account, "");
        assert_eq!(s.with_new_connection().account, "c2");
    }

    #[test]
    fn removing_keeps_the_others_and_a_shared_key() {
        let mut s = two();
        assert!(s.key_in_use("LTAI-w"));
        let removed = s.remove_active().unwrap();
        assert_eq!(removed.name, "Family");
        assert_eq!(s.name, "Work");
        assert!(s.remove_active().is_none(), "the last one stays");
        assert!(!s.key_in_use("LTAI-f"));
    }

    #[test]
    fn names_are_unique_and_domains_are_hosts() {
        let t = tr(Lang::En);
        let s = two();
        let mut form = SettingsForm::from_settings(&s, None);
        form.secret = "sk".into();
        form.name = " work ".into();
        form.custom_domain = "https://files.example.com/some/path".into();
        let errors = form.validate(t, Lang::En, &s).unwrap_err();
        let fields: Vec<Field> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, [Field::Name, Field::CustomDomain], "{errors:?}");
        assert!(errors[0].1.contains("work"), "{}", errors[0].1);

        form.name = String::new();
        form.custom_domain = "https://files.example.com".into();
        let ok = form.validate(t, Lang::En, &s).unwrap();
        // No name: the bucket's.
        assert_eq!(ok.name, "family-b");
        assert_eq!(
            ok.custom_domain.as_deref(),
            Some("https://files.example.com")
        );
    }
}
