//! Where the AccessKey secret goes when the settings are saved, and what is said about it.
//!
//! The rules: the demo writes nothing; a secret that came from the environment, or the one
//! already kept, needs no new home, so only the settings file is written; a new secret goes to
//! the system keychain, and when there is none (or it refuses) the person chooses between this
//! session only and a private 0600 file. Whatever happened to the secret, the settings are then
//! written and apply, and the window says where the secret is.
//!
//! The keychain and the files can block (a keychain may wait for the user to unlock it), so the
//! saving runs on one [`Saver`] thread, one save after another, in the order they were asked
//! for: a later save can never be overwritten by an earlier one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use super::i18n::Tr;
use super::settings::{AppSettings, SecretPlace};
use crate::oss::sign::Credentials;
use crate::secrets::{SecretLocation, Secrets, StoreChoice};

/// What saving the settings does with the secret typed in the form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The demo: the settings apply for this run and nothing is written.
    ApplyOnly,
    /// The secret needs no new home; the settings are written with it kept at this place.
    Keep(SecretPlace),
    /// A new secret: into the keychain if it takes it, otherwise the person is asked.
    NewSecret,
}

/// The rules for a save. `typed` is the form's credentials, `from_env` those given by the
/// environment, `in_use` and `place_in_use` the credentials in use and where they are kept.
pub fn plan(
    demo: bool,
    typed: &Credentials,
    from_env: Option<&Credentials>,
    in_use: Option<&Credentials>,
    place_in_use: SecretPlace,
) -> Plan {
    if demo {
        Plan::ApplyOnly
    } else if from_env == Some(typed) {
        // The environment gives it again next time: storing it would only leave a copy.
        Plan::Keep(SecretPlace::Nowhere)
    } else if in_use == Some(typed) && place_in_use != SecretPlace::Nowhere {
        Plan::Keep(place_in_use)
    } else {
        Plan::NewSecret
    }
}

/// The person's answer when there is no keychain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    SessionOnly,
    File,
}

/// One save for the [`Saver`] thread.
#[derive(Clone, Debug)]
pub struct SaveJob {
    pub settings: AppSettings,
    /// The active connection's credentials; `None` when they are not known (a switch to a
    /// connection whose secret is not on this computer).
    pub credentials: Option<Credentials>,
    pub step: Step,
}

/// Which part of the rules a [`SaveJob`] carries out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// [`Plan::Keep`]: only the settings file is written.
    Keep(SecretPlace),
    /// [`Plan::NewSecret`]: the keychain, or a question.
    NewSecret,
    /// The person answered the question.
    Answered(Choice),
    /// A connection was removed: the secret kept for this AccessKey ID goes too (when no
    /// other connection uses it: the window checks), then the settings are written.
    Forget(Option<String>),
}

/// What a save did, for the window to word (see [`Notice::message`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    InKeychain,
    InFile(PathBuf),
    FileFailed(String),
    ForSession,
    SettingsNotSaved(String),
    ForgetFailed(String),
}

impl Notice {
    /// The words for the user, and whether they tell of a failure.
    pub fn message(&self, t: &Tr) -> (String, bool) {
        match self {
            Self::InKeychain => (t.secret_in_keychain.to_owned(), false),
            Self::InFile(path) => (
                t.secret_in_file
                    .replace("{file}", &path.display().to_string()),
                false,
            ),
            Self::FileFailed(e) => (t.secret_file_failed.replace("{error}", e), true),
            Self::ForSession => (t.secret_for_session.to_owned(), false),
            Self::SettingsNotSaved(e) => (t.settings_not_saved.replace("{error}", e), true),
            Self::ForgetFailed(e) => (t.secret_not_deleted.replace("{error}", e), true),
        }
    }
}

/// The end of a [`SaveJob`].
#[derive(Clone, Debug)]
pub enum Saved {
    /// The settings apply now (saved or not: the notices say), in the order of the notices.
    Done {
        settings: AppSettings,
        credentials: Option<Credentials>,
        notices: Vec<Notice>,
    },
    /// No keychain took the secret: the person chooses where it goes.
    Ask {
        settings: AppSettings,
        credentials: Credentials,
    },
}

/// Carries out one save. It blocks on the keychain and the disk: the [`Saver`] thread's work.
pub fn carry_out(secrets: &Secrets, data_dir: &Path, job: SaveJob) -> Saved {
    let SaveJob {
        mut settings,
        credentials,
        step,
    } = job;
    let mut notices = Vec::new();
    if let Step::Forget(Some(id)) = &step
        && let Err(e) = secrets.forget(id)
    {
        notices.push(Notice::ForgetFailed(e.to_string()));
    }
    let Some(credentials) = credentials else {
        // Nothing to store: only the settings are written (a switch, a removal).
        if let Err(e) = settings.save(data_dir) {
            notices.push(Notice::SettingsNotSaved(e.to_string()));
        }
        return Saved::Done {
            settings,
            credentials: None,
            notices,
        };
    };
    match step {
        Step::Keep(place) => settings.secret_place = place,
        Step::Forget(_) => {}
        Step::NewSecret => {
            let stored = secrets.keychain_available()
                && match store(secrets, &credentials, StoreChoice::Keychain) {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::warn!("keychain refused the secret: {e}");
                        false
                    }
                };
            if !stored {
                return Saved::Ask {
                    settings,
                    credentials,
                };
            }
            settings.secret_place = SecretPlace::Keychain;
            notices.push(Notice::InKeychain);
        }
        Step::Answered(Choice::File) => match store(secrets, &credentials, StoreChoice::File) {
            Ok(location) => {
                let path = match location {
                    SecretLocation::File(p) => p,
                    _ => secrets.file_path(&credentials.access_key_id),
                };
                settings.secret_place = SecretPlace::File;
                notices.push(Notice::InFile(path));
            }
            Err(e) => {
                settings.secret_place = SecretPlace::Nowhere;
                notices.push(Notice::FileFailed(e.to_string()));
            }
        },
        Step::Answered(Choice::SessionOnly) => {
            // Kept in memory for this session; any copy saved earlier is removed.
            if let Err(e) = store(secrets, &credentials, StoreChoice::SessionOnly) {
                tracing::warn!("could not remove an earlier copy of the secret: {e}");
            }
            settings.secret_place = SecretPlace::Nowhere;
            notices.push(Notice::ForSession);
        }
    }
    if let Err(e) = settings.save(data_dir) {
        notices.push(Notice::SettingsNotSaved(e.to_string()));
    }
    Saved::Done {
        settings,
        credentials: Some(credentials),
        notices,
    }
}

fn store(
    secrets: &Secrets,
    c: &Credentials,
    choice: StoreChoice,
) -> Result<SecretLocation, crate::secrets::SecretError> {
    secrets.store(
        &c.access_key_id,
        &c.access_key_secret,
        c.security_token.as_deref(),
        choice,
    )
}

/// The thread that saves, so the window never waits for the keychain or the disk. Dropping it
/// waits for the saves already asked for: a save clicked just before quitting is not lost.
pub struct Saver {
    jobs: Option<mpsc::Sender<SaveJob>>,
    done: mpsc::Receiver<Saved>,
    thread: Option<JoinHandle<()>>,
}

impl Saver {
    /// Starts the thread; `wake` runs after each save so the window picks up the answer.
    pub fn start(
        secrets: Arc<Secrets>,
        data_dir: PathBuf,
        wake: impl Fn() + Send + 'static,
    ) -> std::io::Result<Self> {
        let (jobs, queued) = mpsc::channel::<SaveJob>();
        let (finished, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("save-settings".into())
            .spawn(move || {
                for job in queued {
                    if finished.send(carry_out(&secrets, &data_dir, job)).is_err() {
                        return;
                    }
                    wake();
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }

    pub fn send(&self, job: SaveJob) {
        let sent = self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok());
        if !sent {
            tracing::error!("the settings thread has stopped; the save is lost");
        }
    }

    /// Every save that has finished since the last call.
    pub fn drain(&self) -> Vec<Saved> {
        self.done.try_iter().collect()
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the settings thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::i18n::{Lang, tr};
    use crate::secrets::MemoryKeychain;

    fn creds(secret: &str) -> Credentials {
        Credentials::new("LTAI-place", secret)
    }

    #[test]
    fn the_demo_writes_nothing() {
        let c = creds("a");
        assert_eq!(
            plan(true, &c, Some(&c), Some(&c), SecretPlace::File),
            Plan::ApplyOnly
        );
    }

    #[test]
    fn a_secret_from_the_environment_is_never_stored() {
        let c = creds("a");
        for place in [
            SecretPlace::Nowhere,
            SecretPlace::Keychain,
            SecretPlace::File,
        ] {
            assert_eq!(
                plan(false, &c, Some(&c), Some(&c), place),
                Plan::Keep(SecretPlace::Nowhere)
            );
        }
    }

    #[test]
    fn the_secret_already_kept_stays_where_it_is() {
        let c = creds("a");
        assert_eq!(
            plan(false, &c, None, Some(&c), SecretPlace::Keychain),
            Plan::Keep(SecretPlace::Keychain)
        );
        assert_eq!(
            plan(false, &c, None, Some(&c), SecretPlace::File),
            Plan::Keep(SecretPlace::File)
        );
    }

    #[test]
    fn a_new_or_session_only_secret_needs_a_home() {
        let c = creds("a");
        // Kept for the session only: saving again is the moment to offer a place.
        assert_eq!(
            plan(false, &c, None, Some(&c), SecretPlace::Nowhere),
            Plan::NewSecret
        );
        assert_eq!(
            plan(
                false,
                &c,
                Some(&creds("env")),
                Some(&creds("old")),
                SecretPlace::File
            ),
            Plan::NewSecret
        );
        assert_eq!(
            plan(false, &c, None, None, SecretPlace::Nowhere),
            Plan::NewSecret
        );
    }

    #[test]
    fn notices_are_worded_and_failures_marked() {
        let t = tr(Lang::En);
        let (text, error) = Notice::InFile(PathBuf::from("/d/s.json")).message(t);
        assert!(text.contains("/d/s.json") && !error, "{text}");
        let (text, error) = Notice::SettingsNotSaved("disk full".into()).message(t);
        assert!(text.contains("disk full") && error, "{text}");
        assert!(Notice::FileFailed("x".into()).message(t).1);
        assert!(!Notice::InKeychain.message(t).1);
        assert!(!Notice::ForSession.message(t).1);
    }

    fn job(step: Step) -> SaveJob {
        SaveJob {
            settings: AppSettings {
                access_key_id: "LTAI-place".into(),
                bucket: "b-1".into(),
                ..AppSettings::default()
            },
            credentials: Some(creds("sk-place")),
            step,
        }
    }

    fn done(saved: Saved) -> (AppSettings, Vec<Notice>) {
        match saved {
            Saved::Done {
                settings, notices, ..
            } => (settings, notices),
            Saved::Ask { .. } => panic!("asked"),
        }
    }

    #[test]
    fn a_new_secret_goes_to_the_keychain_and_the_settings_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Secrets::with_keychain(dir.path(), Box::new(MemoryKeychain::default()));
        let (settings, notices) = done(carry_out(&secrets, dir.path(), job(Step::NewSecret)));
        assert_eq!(settings.secret_place, SecretPlace::Keychain);
        assert_eq!(notices, [Notice::InKeychain]);
        assert_eq!(secrets.load("LTAI-place").unwrap().secret, "sk-place");
        let saved = AppSettings::load(dir.path()).unwrap().unwrap();
        assert_eq!(saved.secret_place, SecretPlace::Keychain);
    }

    #[test]
    fn without_a_keychain_the_person_is_asked_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Secrets::with_keychain(dir.path(), Box::new(MemoryKeychain::unavailable()));
        let saved = carry_out(&secrets, dir.path(), job(Step::NewSecret));
        assert!(matches!(saved, Saved::Ask { .. }), "{saved:?}");
        assert!(AppSettings::load(dir.path()).unwrap().is_none());
    }

    #[test]
    fn the_answers_put_the_secret_in_a_file_or_keep_it_for_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Secrets::with_keychain(dir.path(), Box::new(MemoryKeychain::unavailable()));
        let (settings, notices) = done(carry_out(
            &secrets,
            dir.path(),
            job(Step::Answered(Choice::File)),
        ));
        let file = secrets.file_path("LTAI-place");
        assert_eq!(settings.secret_place, SecretPlace::File);
        assert_eq!(notices, [Notice::InFile(file.clone())]);
        assert!(file.exists());

        let (settings, notices) = done(carry_out(
            &secrets,
            dir.path(),
            job(Step::Answered(Choice::SessionOnly)),
        ));
        assert_eq!(settings.secret_place, SecretPlace::Nowhere);
        assert_eq!(notices, [Notice::ForSession]);
        assert!(!file.exists(), "the earlier copy is removed");
        let saved = AppSettings::load(dir.path()).unwrap().unwrap();
        assert_eq!(saved.secret_place, SecretPlace::Nowhere);
    }

    #[test]
    fn settings_that_cannot_be_written_still_apply_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the data dir should be: nothing can be written under it.
        let blocked = dir.path().join("not-a-dir");
        std::fs::write(&blocked, b"x").unwrap();
        let secrets = Secrets::with_keychain(&blocked, Box::new(MemoryKeychain::default()));
        let (settings, notices) = done(carry_out(
            &secrets,
            &blocked,
            job(Step::Keep(SecretPlace::Keychain)),
        ));
        assert_eq!(settings.secret_place, SecretPlace::Keychain);
        assert!(
            matches!(notices.as_slice(), [Notice::SettingsNotSaved(_)]),
            "{notices:?}"
        );
    }

    #[test]
    fn a_removal_forgets_the_secret_and_writes_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Secrets::with_keychain(dir.path(), Box::new(MemoryKeychain::default()));
        secrets
            .store("LTAI-gone", "sk", None, StoreChoice::Keychain)
            .unwrap();
        let mut j = job(Step::Forget(Some("LTAI-gone".into())));
        j.credentials = None;
        let (settings, notices) = done(carry_out(&secrets, dir.path(), j));
        assert!(notices.is_empty(), "{notices:?}");
        assert!(secrets.load("LTAI-gone").is_none());
        assert_eq!(AppSettings::load(dir.path()).unwrap().unwrap(), settings);
        // Without a key to forget (another connection shares it), only the settings.
        secrets
            .store("LTAI-kept", "sk", None, StoreChoice::Keychain)
            .unwrap();
        let mut j = job(Step::Forget(None));
        j.credentials = None;
        done(carry_out(&secrets, dir.path(), j));
        assert!(secrets.load("LTAI-kept").is_some());
    }

    #[test]
    fn the_saver_saves_in_order_and_finishes_before_it_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(Secrets::with_keychain(
            dir.path(),
            Box::new(MemoryKeychain::default()),
        ));
        let saver = Saver::start(secrets, dir.path().to_owned(), || {}).unwrap();
        for bucket in ["first", "second", "third"] {
            let mut j = job(Step::Keep(SecretPlace::Keychain));
            j.settings.bucket = bucket.into();
            saver.send(j);
        }
        drop(saver);
        let saved = AppSettings::load(dir.path()).unwrap().unwrap();
        assert_eq!(saved.bucket, "third");
    }
}
