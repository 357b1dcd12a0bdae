//! The window's side of the folder browser: opening it from the setup form, from the
//! destination on the main window, or on an uploaded row ("Show in bucket"); handing its
//! listings and new folders to the background; and what "Choose this folder" and "Share…" do.

use super::UploaderApp;
use crate::app::background::Reply;
use crate::app::bucket_picker;
use crate::app::folder_browser::{BrowserAction, FolderBrowser, Make, Opened, folder_browser_ui};
use crate::app::share_ui::ShareTarget;
use crate::engine::JobId;

impl UploaderApp {
    /// The browser as it is now (tests read it).
    pub fn folder_browser(&self) -> Option<&FolderBrowser> {
        self.browser.as_ref()
    }

    /// Opens the browser on the form's bucket at the form's folder, with the form's key.
    pub(super) fn browse_from_form(&mut self) {
        let Some(credentials) = self.form.credentials() else {
            return;
        };
        let connection = bucket_picker::listing_connection(&self.form);
        let mut browser = FolderBrowser::new(
            Opened::Form,
            &self.form.bucket,
            &self.form.prefix,
            connection,
            credentials,
        );
        browser.custom_domain =
            Some(self.form.custom_domain.trim().to_owned()).filter(|d| !d.is_empty());
        self.open_browser(browser);
    }

    /// Opens the browser on the saved destination.
    pub(super) fn browse_destination(&mut self) {
        let Some(credentials) = self.credentials.clone() else {
            self.message(self.tr().browser_needs_key, true);
            return;
        };
        let mut browser = FolderBrowser::new(
            Opened::Destination,
            &self.settings.bucket,
            &self.settings.prefix,
            self.settings.connection(),
            credentials,
        );
        browser.custom_domain = self.settings.custom_domain.clone();
        self.open_browser(browser);
    }

    /// Opens the browser, read-only, at the folder of row `id`'s object, with it highlighted.
    pub(super) fn show_in_bucket(&mut self, id: JobId) {
        let Some(row) = self.queue.get(id) else {
            return;
        };
        // The row's own connection (account): its key and its custom domain.
        let target = self.share_target(row);
        let Some(credentials) = target.credentials else {
            self.message(self.tr().browser_needs_key, true);
            return;
        };
        let mut browser =
            FolderBrowser::show_object(&row.bucket, &row.key, target.connection, credentials);
        browser.custom_domain = target.custom_domain;
        self.open_browser(browser);
    }

    fn open_browser(&mut self, mut browser: FolderBrowser) {
        let prefix = browser.prefix.clone();
        let request = browser.enter(&prefix);
        self.background.list_folder(request);
        self.browser = Some(browser);
    }

    /// Takes a background reply meant for the browser; gives back any other.
    pub(super) fn browser_reply(&mut self, reply: Reply) -> Option<Reply> {
        match reply {
            Reply::FolderPage { generation, result } => {
                if let Some(b) = &mut self.browser {
                    b.page(generation, result);
                }
                None
            }
            Reply::FolderMade { generation, result } => {
                let next = self
                    .browser
                    .as_mut()
                    .and_then(|b| b.made(generation, result));
                if let Some(request) = next {
                    self.background.list_folder(request);
                }
                None
            }
            other => Some(other),
        }
    }

    /// Paints the open browser and acts on what was pressed in it.
    pub(super) fn browser_ui(&mut self, ui: &egui::Ui) {
        let t = self.tr();
        let Some(browser) = &mut self.browser else {
            return;
        };
        let Some(action) = folder_browser_ui(ui, t, browser) else {
            return;
        };
        match action {
            BrowserAction::Enter(prefix) => {
                let request = browser.enter(&prefix);
                self.background.list_folder(request);
            }
            BrowserAction::Retry => {
                let request = browser.retry();
                self.background.list_folder(request);
            }
            BrowserAction::MakeFolder => match browser.make() {
                Make::Refused => {}
                Make::Enter(request) => self.background.list_folder(request),
                Make::Make(request, key) => self.background.make_folder(request, key),
            },
            BrowserAction::Share(key) => {
                let (connection, credentials) = browser.connection();
                let name = key.rsplit('/').next().unwrap_or(&key).to_owned();
                let target = ShareTarget {
                    connection: connection.clone(),
                    custom_domain: browser.custom_domain.clone(),
                    credentials: Some(credentials.clone()),
                    bucket: browser.bucket.clone(),
                    key,
                    name,
                };
                self.open_share(target);
            }
            BrowserAction::Choose => {
                let chosen = browser.chosen();
                let opened = browser.opened;
                self.browser = None;
                self.choose_folder(opened, chosen);
            }
            BrowserAction::Close => self.browser = None,
        }
    }

    /// Makes `prefix` the folder uploads go to: in the form (saved with it), or in the saved
    /// settings at once.
    fn choose_folder(&mut self, opened: Opened, prefix: String) {
        match opened {
            Opened::Form => self.form.prefix = prefix,
            Opened::Destination => {
                let Some(credentials) = self.credentials.clone() else {
                    return;
                };
                // Saved as the form's Save does; the toolbar shows the folder once it applies.
                let mut settings = self.settings.clone();
                settings.prefix = prefix;
                self.save(settings, credentials);
            }
            Opened::ShowObject => {}
        }
    }
}
