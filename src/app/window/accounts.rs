//! The window's side of several connections: opening the form on one (or on a new one),
//! switching the active one, removing one after a yes, and which credentials go to the engine
//! for which account. Only the settings change here; secrets are stored and deleted by the
//! `secret_place` saver, in order with every other save.

use super::{Screen, UploaderApp};
use crate::app::connections_ui::{self, BarAction};
use crate::app::secret_place::{SaveJob, Step};
use crate::app::settings::{AppSettings, SettingsForm};
use crate::app::settings_ui::TestState;
use crate::engine::Command;
use crate::oss::sign::Credentials;

/// The command that gives `account`'s credentials to the engine.
pub(super) fn set_credentials(account: &str, c: Credentials) -> Command {
    if account.is_empty() {
        Command::SetCredentials(c)
    } else {
        Command::SetAccountCredentials {
            account: account.to_owned(),
            credentials: Some(c),
        }
    }
}

impl UploaderApp {
    /// Opens the settings on the active connection, or on `base` (a connection being added).
    pub(super) fn open_form(&mut self, base: Option<AppSettings>) {
        let shown = base.as_ref().unwrap_or(&self.settings);
        let credentials = self.account_credentials.get(&shown.account);
        self.form = SettingsForm::from_settings(shown, credentials);
        self.form_start = self.form.clone();
        self.form_base = base;
        self.form_attempted = false;
        self.form_errors.clear();
        self.test = TestState::Idle;
        self.buckets.reset();
        self.screen = Screen::Settings;
    }

    /// Makes `account`'s connection the active one: new drops go there. Without its secret in
    /// this session, the form opens on it to ask for the secret.
    pub(super) fn switch_connection(&mut self, account: &str) {
        let mut next = self.settings.clone();
        if !next.switch_to(account) {
            return;
        }
        self.settings = next.clone();
        self.credentials = self.account_credentials.get(account).cloned();
        if self.demo.is_none() {
            self.saver.send(SaveJob {
                settings: next,
                credentials: None,
                step: Step::Keep(self.settings.secret_place),
            });
        }
        if self.credentials.is_none() {
            let text = self
                .tr()
                .secret_for_connection
                .replace("{name}", &self.settings.active_connection().display_name());
            self.message(text, false);
            self.open_form(None);
        } else if self.screen != Screen::Queue {
            self.open_form(None);
        }
    }

    /// The bar over the settings form, and the question before a removal.
    pub(super) fn connections_bar_ui(&mut self, ui: &mut egui::Ui) {
        let t = self.tr();
        let names = self.settings.connection_names();
        let adding = self.form_base.is_some();
        match connections_ui::bar_ui(ui, t, &names, &self.settings.account, adding) {
            Some(BarAction::Switch(i)) => {
                if let Some((account, _)) = names.get(i) {
                    self.switch_connection(account);
                }
            }
            Some(BarAction::Add) => self.open_form(Some(self.settings.with_new_connection())),
            Some(BarAction::Remove) => self.confirm_remove = true,
            None => {}
        }
        if self.confirm_remove {
            let active = self.settings.active_connection();
            let mut rest = self.settings.clone();
            rest.remove_active();
            let shared = rest.key_in_use(&active.access_key_id);
            match connections_ui::confirm_remove_ui(ui, t, &active.display_name(), shared) {
                Some(true) => {
                    self.confirm_remove = false;
                    self.remove_connection();
                }
                Some(false) => self.confirm_remove = false,
                None => {}
            }
        }
    }

    /// Removes the active connection; its secret goes too unless another connection uses the
    /// same AccessKey. Its jobs already queued keep their key for this session.
    fn remove_connection(&mut self) {
        let mut next = self.settings.clone();
        let Some(removed) = next.remove_active() else {
            return;
        };
        let forget = (!next.key_in_use(&removed.access_key_id)
            && !removed.access_key_id.is_empty())
        .then(|| removed.access_key_id.clone());
        self.settings = next.clone();
        self.credentials = self.account_credentials.get(&next.account).cloned();
        if self.demo.is_none() {
            self.saver.send(SaveJob {
                settings: next,
                credentials: None,
                step: Step::Forget(forget),
            });
        }
        let text = self
            .tr()
            .connection_removed
            .replace("{name}", &removed.display_name());
        self.message(text, false);
        self.open_form(None);
    }
}
