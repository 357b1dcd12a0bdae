//! The window: owns the engine handle, the settings and the queue model. Each frame it folds in
//! what happened (engine events, background replies, finished saves, drops, shortcuts, the close
//! request), paints with the `*_ui` painters and the `modals`, and acts on what they return:
//! commands to the engine, work for the background threads, a save for the `secret_place`
//! saver. The frame never waits for the disk, the network or the keychain; only `new` reads the
//! saved settings and secret, once, before the first frame.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use egui::ViewportCommand;

mod accounts;

use accounts::set_credentials;

use super::background::{Background, Desktop, NativeDesktop, Reply};
use super::bucket_picker::{self, BucketList};
use super::demo::Demo;
use super::folder_browser::FolderBrowser;
use super::i18n::{Lang, Tr, tr};
use super::menu_ui::{self, Dismiss, MenuAction, MenuState, Message};
use super::modals::{Answer, Modals, NameQuestion, SecretQuestion};
use super::model::{Filter, QueueModel, Totals};
use super::queue_ui::{self, QueueAction};
use super::secret_place::{self, Plan, SaveJob, Saved, Saver, Step};
use super::settings::{AppSettings, Field, SettingsForm};
use super::settings_ui::{self, FormAction, TestState};
use super::share_ui::{Expiry, Link, ShareDialog, ShareTarget};
use super::startup::{self, AppOptions};
use crate::engine::{AccountId, Command, EngineConfig, EngineHandle};
use crate::oss::sign::Credentials;

mod browse;

/// The longest an engine report waits for its frame; also the shortest time between frames
/// the reports bring about: about one a second while uploading, as download bars in browsers
/// do. With software rendering (no GPU) each frame costs CPU in proportion to the window's
/// size, and two a second measured 6 % of a core against 3.5 % (docs/APP.md). Input (a click,
/// a hover) still paints at once.
const REPAINT_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Screen {
    /// First run: nothing saved yet.
    Setup,
    Settings,
    Queue,
}

/// The whole app; [`UploaderApp::ui`] paints it into any `Ui` (eframe's or a test harness's).
pub struct UploaderApp {
    data_dir: PathBuf,
    language_override: Option<Lang>,
    lang: Lang,
    settings: AppSettings,
    env_credentials: Option<Credentials>,
    /// The active connection's credentials.
    credentials: Option<Credentials>,
    /// Every connection's credentials known in this session, by account.
    account_credentials: HashMap<AccountId, Credentials>,
    /// What the form edits when it is not the active connection: a new one being added.
    form_base: Option<AppSettings>,
    /// "Remove connection" waits for a yes.
    confirm_remove: bool,
    form: SettingsForm,
    form_errors: Vec<(Field, String)>,
    /// The form as it opened: a field's messages show once the user changed it…
    form_start: SettingsForm,
    /// …or tried to save or test.
    form_attempted: bool,
    test: TestState,
    /// "Choose from my buckets" on the form.
    buckets: BucketList,
    screen: Screen,
    engine: Option<EngineHandle>,
    queue: QueueModel,
    background: Background,
    saver: Saver,
    walking: Option<usize>,
    messages: Vec<Message>,
    modals: Modals,
    quitting: bool,
    demo: Option<Demo>,
    title: String,
    /// From the command line; queued on the first frame that shows the queue.
    pending_add: Vec<PathBuf>,
    /// Summed once per frame: with 100,000 rows a sum per use would add up.
    totals: Totals,
    /// Which rows the table shows.
    filter: Filter,
    /// Finished rows folded away.
    hide_finished: bool,
    /// The desktop: the sleep inhibitor and notifications (dialogs go through `background`).
    desktop: Arc<dyn Desktop>,
    /// The inhibitor was asked for and not released since.
    awake: bool,
    /// The folder browser, while open.
    browser: Option<FolderBrowser>,
}

impl UploaderApp {
    /// Starts the engine (restoring the saved queue) and loads the settings.
    pub fn new(ctx: &egui::Context, options: AppOptions) -> Result<Self, String> {
        let start = startup::load(&options)?;
        let data_dir = options.data_dir;
        let engine_dir = start
            .demo
            .as_ref()
            .map(|d| d.engine_dir().to_owned())
            .unwrap_or_else(|| data_dir.clone());
        let mut account_credentials: HashMap<AccountId, Credentials> =
            start.others.into_iter().collect();
        if let Some(c) = &start.credentials {
            account_credentials.insert(start.settings.account.clone(), c.clone());
        }
        let wake_ctx = ctx.clone();
        let engine = crate::engine::spawn(
            EngineConfig {
                data_dir: engine_dir,
                credentials: account_credentials.get("").cloned(),
                settings: start.settings.engine_settings(),
                persist_queue: true,
                resume_when_online: true,
            },
            // The engine reports each job's progress ten times a second: painting on every
            // report cost most of a core with software rendering. A report asks for a frame
            // within REPAINT_EVERY instead, so frames follow the engine at a few a second.
            Arc::new(move || wake_ctx.request_repaint_after(REPAINT_EVERY)),
        )
        .map_err(|e| e.to_string())?;
        // Jobs restored from the queue file wait for their own account's key.
        for (account, c) in account_credentials.iter().filter(|(a, _)| !a.is_empty()) {
            engine.send(Command::SetAccountCredentials {
                account: account.clone(),
                credentials: Some(c.clone()),
            });
        }
        let wake_ctx = ctx.clone();
        let saver = Saver::start(start.secrets, data_dir.clone(), move || {
            wake_ctx.request_repaint();
        })
        .map_err(|e| e.to_string())?;
        let mut messages = Vec::new();
        if let Some(text) = start.settings_unreadable {
            messages.push(Message {
                text,
                is_error: true,
            });
        }
        if start.secret_needed_again {
            messages.push(Message {
                text: tr(start.lang).secret_needed_again.to_owned(),
                is_error: false,
            });
        }
        let form = SettingsForm::from_settings(&start.settings, start.credentials.as_ref());
        let desktop = options.desktop.unwrap_or_else(|| Arc::new(NativeDesktop));
        Ok(Self {
            form_start: form.clone(),
            form_attempted: false,
            data_dir,
            language_override: options.language,
            lang: start.lang,
            settings: start.settings,
            env_credentials: options.env_credentials,
            credentials: start.credentials,
            account_credentials,
            form_base: None,
            confirm_remove: false,
            form,
            form_errors: Vec::new(),
            test: TestState::Idle,
            buckets: BucketList::default(),
            screen: if start.ready {
                Screen::Queue
            } else {
                Screen::Setup
            },
            engine: Some(engine),
            queue: QueueModel::default(),
            background: Background::new(ctx.clone(), desktop.clone()),
            desktop,
            awake: false,
            saver,
            walking: None,
            messages,
            modals: Modals::default(),
            quitting: false,
            demo: start.demo,
            title: String::new(),
            pending_add: options.add,
            totals: Totals::default(),
            filter: Filter::All,
            hide_finished: false,
            browser: None,
        })
    }

    /// The queue as the window sees it (tests read it).
    pub fn queue(&self) -> &QueueModel {
        &self.queue
    }

    /// The settings in use.
    pub fn settings(&self) -> &AppSettings {
        &self.settings
    }

    /// The settings form as typed so far (tests and automation fill it in directly).
    pub fn form_mut(&mut self) -> &mut SettingsForm {
        &mut self.form
    }

    /// The link the open Share dialog shows (tests read it as a person reads the text box).
    pub fn share_link(&self) -> Option<Link> {
        self.modals.share.as_ref().and_then(|d| d.link.clone())
    }

    fn tr(&self) -> &'static Tr {
        tr(self.lang)
    }

    fn send(&self, command: Command) {
        if let Some(e) = &self.engine {
            e.send(command);
        }
    }

    /// Stops the engine: running uploads pause and resume next time.
    pub fn shutdown(&mut self) {
        if self.awake {
            self.desktop.keep_awake(None);
            self.awake = false;
        }
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
    }

    fn message(&mut self, text: impl Into<String>, is_error: bool) {
        let m = Message {
            text: text.into(),
            is_error,
        };
        if !self.messages.contains(&m) {
            self.messages.push(m);
        }
    }

    /// Queues files and folders as the settings say, one file as many: at once (a queued row
    /// can be renamed before it starts).
    pub fn add_paths(&mut self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            return;
        }
        if self.screen == Screen::Setup {
            self.message(self.tr().finish_setup_first, true);
            return;
        }
        if let Some(engine) = &self.engine {
            self.walking = Some(0);
            self.background
                .add_paths(paths, self.settings.clone(), engine.sender());
        }
    }

    /// One frame: fold in what happened, then paint and act on what the user did.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.fold_in(&ctx);

        let t = self.tr();
        let menu = MenuState {
            can_add: self.screen != Screen::Setup,
            settings_button: self.screen == Screen::Queue,
            demo: self.demo.is_some(),
        };
        let names = self.settings.connection_names();
        if let Some(action) = menu_ui::menu_bar_ui(ui, t, menu, &names, &self.settings.account) {
            self.on_menu(&ctx, action);
        }
        match menu_ui::messages_ui(ui, t, &self.messages, &self.queue.problems) {
            Some(Dismiss::Message(i)) => {
                self.messages.remove(i);
            }
            Some(Dismiss::Problems) => self.queue.problems.clear(),
            None => {}
        }
        if self.screen == Screen::Queue {
            let (totals, walking) = (self.totals, self.walking);
            egui::Panel::bottom("status").show(ui, |ui| {
                queue_ui::status_bar_ui(ui, t, &totals, walking);
            });
        }
        // The window's background is the frame's clear colour (`clear_color` below, the same
        // `panel_fill`), not a quad over the whole window: with software rendering (no GPU:
        // Mesa's llvmpipe) that quad was half of each frame's cost (docs/APP.md).
        let central = egui::Frame::central_panel(ui.style()).fill(egui::Color32::TRANSPARENT);
        egui::CentralPanel::default()
            .frame(central)
            .show(ui, |ui| match self.screen {
                Screen::Setup | Screen::Settings => self.settings_screen_ui(ui),
                Screen::Queue => self.queue_screen_ui(ui),
            });
        // Before the dialogs: a Share… opened from the browser shows over it.
        self.browser_ui(ui);
        for answer in self.modals.ui(ui, t, self.lang, &self.queue) {
            self.on_answer(&ctx, answer);
        }
        let target = format!("{}/{}", self.settings.bucket, self.settings.key_prefix());
        queue_ui::drop_overlay_ui(ui, t, &target, self.screen == Screen::Setup);
        // Nothing repaints on a timer: the engine's reports (throttled, see `new`) bring the
        // frames while bytes move, so a stalled or idle queue costs nothing. The folder walk
        // reports through `background`, which wakes the window itself.
    }

    fn fold_in(&mut self, ctx: &egui::Context) {
        self.apply_events();
        self.totals = self.queue.totals();
        self.desktop_follows_queue();
        self.apply_replies();
        self.apply_saves();
        if self.screen == Screen::Queue && !self.pending_add.is_empty() {
            let paths = std::mem::take(&mut self.pending_add);
            self.add_paths(paths);
        }
        self.handle_drops(ctx);
        self.handle_keys(ctx);
        self.handle_close(ctx);
        self.update_title(ctx);
    }

    /// Keeps the computer awake while something uploads (as the settings allow), and says how
    /// a batch ended once nothing runs any more.
    fn desktop_follows_queue(&mut self) {
        let t = self.tr();
        let awake = self.settings.keep_awake && self.totals.active > 0;
        if awake != self.awake {
            self.desktop.keep_awake(awake.then_some(t.awake_reason));
            self.awake = awake;
        }
        if self.totals.active == 0
            && self.queue.batch_running()
            && let Some(end) = self.queue.end_batch()
            && self.settings.notify
        {
            let target = format!("{}/{}", self.settings.bucket, self.settings.key_prefix());
            if let Some((summary, body)) = super::desktop_bus::batch_message(t, &end, &target) {
                self.desktop.notify(&summary, &body);
            }
        }
    }

    fn apply_events(&mut self) {
        let Some(engine) = &self.engine else {
            return;
        };
        let events = engine.drain();
        if events.is_empty() {
            return;
        }
        for e in events {
            self.queue.apply(e);
        }
        self.queue.compact();
    }

    fn apply_replies(&mut self) {
        for reply in self.background.drain() {
            let Some(reply) = self.browser_reply(reply) else {
                continue;
            };
            match reply {
                Reply::Picked(paths) => self.add_paths(paths),
                Reply::NoDialog => self.message(self.tr().no_dialog, true),
                Reply::Walking {
                    found,
                    finished,
                    left_out,
                } => {
                    if finished {
                        self.walking = None;
                        if found == 0 {
                            self.message(self.tr().nothing_to_add, true);
                        }
                        let t = self.tr();
                        for (paths, text) in [
                            (&left_out.missing, t.missing),
                            (&left_out.unreadable, t.unreadable),
                            (&left_out.special, t.left_out),
                        ] {
                            if !paths.is_empty() {
                                let text = text
                                    .replace("{n}", &paths.len().to_string())
                                    .replace("{names}", &some_names(paths));
                                self.message(text, true);
                            }
                        }
                    } else {
                        self.walking = Some(found);
                    }
                }
                Reply::Tested(outcome) => self.test = TestState::Done(outcome),
                Reply::Buckets { generation, result } => self.buckets.answer(generation, result),
                // Taken by `browser_reply`.
                Reply::FolderPage { .. } | Reply::FolderMade { .. } => {}
                Reply::Public { url, public } => {
                    if let Some(d) = &mut self.modals.share
                        && d.target.object_url().as_deref() == Some(url.as_str())
                        && d.learn_public(public)
                    {
                        d.link = d.target.link(unix_now(), d.expiry, d.download);
                    }
                }
                Reply::Located { generation, result } => {
                    self.buckets.located(generation, result, &mut self.form)
                }
                Reply::OpenFailed(dir) => {
                    let text = self
                        .tr()
                        .open_failed
                        .replace("{dir}", &dir.display().to_string());
                    self.message(text, true);
                }
            }
        }
    }

    fn apply_saves(&mut self) {
        for saved in self.saver.drain() {
            match saved {
                Saved::Done {
                    settings,
                    credentials,
                    notices,
                } => {
                    for notice in notices {
                        let (text, is_error) = notice.message(self.tr());
                        self.message(text, is_error);
                    }
                    // A switch or a removal applied when it was asked for: its save only
                    // reports (a later switch must not be undone by an earlier save).
                    if let Some(credentials) = credentials {
                        self.apply(settings, credentials);
                    }
                }
                Saved::Ask {
                    settings,
                    credentials,
                } => {
                    self.modals.secret = Some(SecretQuestion {
                        settings,
                        credentials,
                        file: self.data_dir.join("secret.json"),
                    });
                }
            }
        }
    }

    fn handle_drops(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        self.add_paths(dropped);
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        if self.screen != Screen::Queue || self.modals.any_open() || self.browser.is_some() {
            return;
        }
        for action in queue_ui::shortcuts(ctx, &self.queue) {
            self.perform(ctx, action);
        }
    }

    fn handle_close(&mut self, ctx: &egui::Context) {
        if !ctx.input(|i| i.viewport().close_requested()) || self.quitting {
            return;
        }
        if self.totals.active > 0 {
            ctx.send_viewport_cmd(ViewportCommand::CancelClose);
            self.modals.quit = true;
        }
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let t = self.tr();
        let title = match self.totals.batch_percent() {
            Some(p) => format!("{p}% — {}", t.app_name),
            None => t.app_name.to_owned(),
        };
        if title != self.title {
            ctx.send_viewport_cmd(ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }

    fn on_menu(&mut self, ctx: &egui::Context, action: MenuAction) {
        match action {
            MenuAction::Pick(what) => self.background.pick(what),
            MenuAction::OpenLogFolder => self
                .background
                .open_folder(self.data_dir.join(crate::engine::paths::LOGS_DIR)),
            MenuAction::Quit => ctx.send_viewport_cmd(ViewportCommand::Close),
            MenuAction::Settings => self.open_form(None),
            MenuAction::Switch(i) => {
                if let Some((account, _)) = self.settings.connection_names().get(i).cloned() {
                    self.switch_connection(&account);
                }
            }
        }
    }

    fn on_answer(&mut self, ctx: &egui::Context, answer: Answer) {
        match answer {
            Answer::Rename { id, key } => {
                let path = self
                    .queue
                    .get(id)
                    .filter(|r| r.can_rename())
                    .map(|r| r.path.clone());
                match path {
                    // Renamed by queueing it again under the new name: nothing was sent yet.
                    Some(path) => {
                        let account = self.queue.get(id).map(|r| r.account.clone());
                        let spec = account
                            .and_then(|a| self.settings.spec_on(&a, path.clone(), key.clone()))
                            .unwrap_or_else(|| self.settings.spec(path, key));
                        self.send(Command::Remove(id));
                        self.send(Command::Add(vec![spec]));
                    }
                    None => self.message(self.tr().rename_too_late, true),
                }
            }
            Answer::Cancel(id) => {
                // Held paused with its parts: Retry goes on from them, Remove throws them away.
                self.send(Command::Pause(id));
                self.queue.set_kept(id, true);
            }
            Answer::Remove(ids) => {
                for id in ids {
                    self.send(Command::Remove(id));
                }
            }
            Answer::Copy(text) => ctx.copy_text(text),
            Answer::ShareChanged => {
                let Some(dialog) = &self.modals.share else {
                    return;
                };
                let link = dialog
                    .target
                    .link(unix_now(), dialog.expiry, dialog.download);
                if let Some(dialog) = &mut self.modals.share {
                    dialog.link = link;
                }
            }
            Answer::CopyLink(link) => {
                let text = match link.expires_at {
                    Some(at) => self
                        .tr()
                        .link_copied_until
                        .replace("{when}", &crate::units::utc_minute(at)),
                    None => self.tr().link_copied.to_owned(),
                };
                ctx.copy_text(link.url);
                self.message(text, false);
            }
            Answer::Quit => {
                self.quitting = true;
                self.shutdown();
                ctx.send_viewport_cmd(ViewportCommand::Close);
            }
            Answer::PlaceSecret { question, choice } => self.saver.send(SaveJob {
                settings: question.settings,
                credentials: Some(question.credentials),
                step: Step::Answered(choice),
            }),
        }
    }

    fn queue_screen_ui(&mut self, ui: &mut egui::Ui) {
        let t = self.tr();
        let waiting = self.queue.waiting_restored();
        if waiting > 0 && !self.queue.banner_dismissed {
            match queue_ui::resume_banner_ui(ui, t, waiting) {
                Some(true) => {
                    for id in self.queue.restored.clone() {
                        self.send(Command::Resume(id));
                    }
                    self.queue.banner_dismissed = true;
                }
                Some(false) => self.queue.banner_dismissed = true,
                None => {}
            }
        }
        let totals = self.totals;
        let mut actions = queue_ui::toolbar_ui(ui, t, &totals, &self.settings);
        ui.separator();
        if self.queue.rows().is_empty() {
            queue_ui::empty_ui(ui, t);
        } else {
            queue_ui::filter_bar_ui(
                ui,
                t,
                &totals.counts,
                &mut self.filter,
                &mut self.hide_finished,
            );
            let visible = self.queue.visible(self.filter, self.hide_finished);
            // The newest addition is scrolled into view once, when it shows under the filter.
            let scroll_to = self.queue.newest.take().and_then(|id| {
                let i = self.queue.index_of(id)?;
                match &visible {
                    Some(v) => v.binary_search(&i).ok(),
                    None => Some(i),
                }
            });
            let modifiers = ui.ctx().input(|i| i.modifiers);
            actions.extend(queue_ui::table_ui(
                ui,
                t,
                &self.queue,
                visible.as_deref(),
                scroll_to,
                modifiers,
            ));
        }
        for action in actions {
            self.perform(ui.ctx(), action);
        }
    }

    fn perform(&mut self, ctx: &egui::Context, action: QueueAction) {
        match action {
            // Rows cancelled with their parts kept wait for their own Retry.
            QueueAction::Engine(Command::ResumeAll) => {
                let ids: Vec<_> = self
                    .queue
                    .rows()
                    .iter()
                    .filter(|r| r.can_resume())
                    .map(|r| r.id)
                    .collect();
                for id in ids {
                    self.send(Command::Resume(id));
                }
            }
            QueueAction::Engine(c) => self.send(c),
            QueueAction::AskCancel(id) => self.modals.cancel = Some(id),
            QueueAction::AskRemove(ids) => self.modals.remove = Some(ids),
            QueueAction::Continue(id) => {
                self.queue.set_kept(id, false);
                self.send(Command::Resume(id));
            }
            QueueAction::Rename(id) => {
                if let Some(row) = self.queue.get(id) {
                    self.modals.name =
                        Some(NameQuestion::new(id, row.path.clone(), row.key.clone()));
                }
            }
            QueueAction::Pick(p) => self.background.pick(p),
            QueueAction::CopyUrls(ids) => {
                let links: Vec<Link> = ids
                    .iter()
                    .filter_map(|id| self.queue.get(*id))
                    .filter_map(|row| self.share_target(row).link(unix_now(), Expiry::Week, false))
                    .collect();
                if links.is_empty() {
                    return;
                }
                let signed = links.iter().all(|l| l.expires_at.is_some());
                let text: Vec<String> = links.into_iter().map(|l| l.url).collect();
                ctx.copy_text(text.join("\n"));
                let t = self.tr();
                self.message(
                    if signed {
                        t.share_link_copied
                    } else {
                        t.link_copied
                    },
                    false,
                );
            }
            QueueAction::Share(id) => {
                if let Some(row) = self.queue.get(id) {
                    self.open_share(self.share_target(row));
                }
            }
            QueueAction::ShowInBucket(id) => self.show_in_bucket(id),
            QueueAction::BrowseDestination => self.browse_destination(),
            QueueAction::Details(id) => self.modals.details = Some(id),
            QueueAction::Select { id, add } => {
                if add {
                    if !self.queue.selection.remove(&id) {
                        self.queue.selection.insert(id);
                    }
                } else {
                    self.queue.selection.clear();
                    self.queue.selection.insert(id);
                }
            }
        }
    }

    fn settings_screen_ui(&mut self, ui: &mut egui::Ui) {
        self.check_form_live();
        self.buckets.follow(&self.form);
        let t = self.tr();
        let first_run = self.screen == Screen::Setup;
        if !first_run {
            self.connections_bar_ui(ui);
        }
        let action = settings_ui::form_ui(
            ui,
            t,
            self.lang,
            &mut self.form,
            &self.form_errors,
            &self.test,
            &self.buckets,
            first_run,
            self.demo.is_some(),
        );
        match action {
            FormAction::None => {}
            FormAction::Cancel => {
                self.form_errors.clear();
                self.form_base = None;
                self.screen = Screen::Queue;
            }
            FormAction::Test => match self.validated() {
                Some((settings, credentials)) => {
                    self.test = TestState::Running;
                    self.background.test_connection(settings, credentials);
                }
                None => self.test = TestState::Idle,
            },
            FormAction::ListBuckets => {
                if let Some(credentials) = self.form.credentials() {
                    let generation = self.buckets.start(&self.form);
                    let connection = bucket_picker::listing_connection(&self.form);
                    self.background
                        .list_buckets(generation, connection, credentials);
                }
            }
            FormAction::PickBucket(i) => self.buckets.pick(i, &mut self.form),
            FormAction::Browse => self.browse_from_form(),
            FormAction::LocateBucket => {
                if let Some(credentials) = self.form.credentials() {
                    let generation = self.buckets.start_locate(&self.form);
                    let connection = bucket_picker::locating_connection(&self.form);
                    let bucket = self.form.bucket.trim().to_owned();
                    self.background
                        .locate_bucket(generation, connection, credentials, bucket);
                }
            }
            FormAction::Save => {
                if let Some((settings, credentials)) = self.validated() {
                    self.save(settings, credentials);
                }
            }
        }
    }

    /// Checks the form as it is typed: the messages of the fields the user changed (all of them
    /// after a Save or Test) show, and each goes as soon as its field is right.
    fn check_form_live(&mut self) {
        let lang = self
            .language_override
            .unwrap_or_else(|| self.form.language.resolve());
        let base = self.form_base.as_ref().unwrap_or(&self.settings);
        let errors = match self.form.validate(tr(lang), lang, base) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        };
        self.form_errors = errors
            .into_iter()
            .filter(|(f, _)| {
                self.form_attempted || settings_ui::touched(&self.form_start, &self.form, *f)
            })
            .collect();
    }

    fn validated(&mut self) -> Option<(AppSettings, Credentials)> {
        self.form_attempted = true;
        let lang = self
            .language_override
            .unwrap_or_else(|| self.form.language.resolve());
        let base = self.form_base.as_ref().unwrap_or(&self.settings);
        match self.form.validate(tr(lang), lang, base) {
            Ok(s) => {
                self.form_errors.clear();
                let c = self.form.credentials()?;
                Some((s, c))
            }
            Err(errors) => {
                self.form_errors = errors;
                None
            }
        }
    }

    /// Hands the save to the saver as `secret_place`'s rules say; the demo writes nothing.
    fn save(&mut self, settings: AppSettings, credentials: Credentials) {
        // The connection's own secret so far (none for a connection being added).
        let plan = secret_place::plan(
            self.demo.is_some(),
            &credentials,
            self.env_credentials.as_ref(),
            self.account_credentials.get(&settings.account),
            settings.secret_place,
        );
        let step = match plan {
            Plan::ApplyOnly => return self.apply(settings, credentials),
            Plan::Keep(place) => Step::Keep(place),
            Plan::NewSecret => Step::NewSecret,
        };
        self.saver.send(SaveJob {
            settings,
            credentials: Some(credentials),
            step,
        });
    }

    /// Settings that were saved (or apply without saving), with the active connection's
    /// credentials when the form gave them: the queue shows.
    fn apply(&mut self, settings: AppSettings, credentials: Credentials) {
        self.send(Command::SetSettings(settings.engine_settings()));
        self.send(set_credentials(&settings.account, credentials.clone()));
        self.lang = self
            .language_override
            .unwrap_or_else(|| settings.language.resolve());
        self.account_credentials
            .insert(settings.account.clone(), credentials.clone());
        self.credentials = Some(credentials);
        self.settings = settings;
        self.form_base = None;
        self.screen = Screen::Queue;
    }
}

impl UploaderApp {
    /// Opens the Share dialog on `target` with the default link, and asks whether its plain
    /// address opens for anyone (then the dialog offers that, never expiring).
    pub(super) fn open_share(&mut self, target: ShareTarget) {
        let mut dialog = ShareDialog::new(target);
        dialog.link = dialog
            .target
            .link(unix_now(), dialog.expiry, dialog.download);
        if let Some(url) = dialog.target.object_url() {
            self.background.check_public(url);
        }
        self.modals.share = Some(dialog);
    }

    /// What a link to an uploaded row's object is made from: the row's own connection (its
    /// region, its key and its custom domain).
    fn share_target(&self, row: &super::model::Row) -> ShareTarget {
        let own = self.settings.connection_of(&row.account);
        let base = own
            .as_ref()
            .map(|c| c.connection())
            .unwrap_or_else(|| self.settings.connection());
        ShareTarget {
            connection: crate::engine::Connection {
                endpoint: row.endpoint.clone(),
                path_style: row.path_style,
                ..base
            },
            custom_domain: own.and_then(|c| c.custom_domain),
            credentials: self.account_credentials.get(&row.account).cloned(),
            bucket: row.bucket.clone(),
            key: row.key.clone(),
            name: row.name.clone(),
        }
    }
}

/// Now in unix seconds, for a link's expiry.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl eframe::App for UploaderApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        UploaderApp::ui(self, ui);
    }

    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        visuals.panel_fill.to_normalized_gamma_f32()
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shutdown();
    }
}

impl Drop for UploaderApp {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The first few of `paths`, for a message that names what it concerns: a folder of many
/// unreadable files must not fill the window.
fn some_names(paths: &[PathBuf]) -> String {
    const SHOWN: usize = 5;
    let names: Vec<String> = paths
        .iter()
        .take(SHOWN)
        .map(|p| p.display().to_string())
        .collect();
    let more = if paths.len() > SHOWN { ", …" } else { "" };
    format!("{}{more}", names.join(", "))
}
