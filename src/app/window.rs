//! The window: owns the engine handle, the settings and the queue model; each frame it folds in
//! engine events and background replies, handles drops, shortcuts and the close request, then
//! paints. Painting lives in `queue_ui` and `settings_ui`; this file decides what happens.

use std::path::PathBuf;
use std::sync::Arc;

use egui::{Color32, Id, Key, Modal, RichText, ViewportCommand};

use super::background::{Background, Desktop, NativeDesktop, Pick, Reply};
use super::demo::Demo;
use super::i18n::{Lang, LanguageChoice, Tr, tr};
use super::model::{QueueModel, Totals};
use super::queue_ui::{self, QueueAction};
use super::settings::{AppSettings, Field, SecretPlace, SettingsForm};
use super::settings_ui::{self, FormAction, TestState};
use crate::engine::{Command, EngineConfig, EngineHandle, JobId};
use crate::oss::sign::Credentials;

/// How the window starts.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// The data dir (settings, queue, checkpoints, logs).
    pub data_dir: PathBuf,
    /// Run against an in-process local server.
    pub demo: bool,
    /// Overrides the saved and the system language (tests, screenshots).
    pub language: Option<Lang>,
    /// Credentials from the environment; they win over saved ones.
    pub env_credentials: Option<Credentials>,
    /// Files and folders to queue once the window is ready (from the command line).
    pub add: Vec<PathBuf>,
    /// Where secrets are kept; `None` is the OS keychain with the file fallback. Tests pass
    /// one with an in-memory or absent keychain.
    pub secrets: Option<std::sync::Arc<crate::secrets::Secrets>>,
    /// File dialogs and the file manager; `None` is the real desktop. Tests pass a stand-in.
    pub desktop: Option<Arc<dyn Desktop>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Screen {
    /// First run: nothing saved yet.
    Setup,
    Settings,
    Queue,
}

/// One file about to be queued, with its key still editable.
struct SingleAdd {
    path: PathBuf,
    key: String,
    /// The name field has been given the focus once, so Enter confirms right away.
    focused: bool,
}

/// Settings that passed validation and wait for the user to say where the secret goes.
struct SecretQuestion {
    settings: AppSettings,
    credentials: Credentials,
}

/// A message at the top of the window until dismissed.
#[derive(Clone, Debug, PartialEq)]
struct Message {
    text: String,
    is_error: bool,
}

/// The whole app; `show` paints it into any `Ui` (eframe's or a test harness's).
pub struct UploaderApp {
    data_dir: PathBuf,
    secrets: std::sync::Arc<crate::secrets::Secrets>,
    language_override: Option<Lang>,
    lang: Lang,
    settings: AppSettings,
    env_credentials: Option<Credentials>,
    credentials: Option<Credentials>,
    form: SettingsForm,
    form_errors: Vec<(Field, String)>,
    test: TestState,
    screen: Screen,
    engine: Option<EngineHandle>,
    queue: QueueModel,
    background: Background,
    walking: Option<(usize, usize)>,
    messages: Vec<Message>,
    single: Option<SingleAdd>,
    details: Option<JobId>,
    close_prompt: bool,
    quitting: bool,
    secret_question: Option<SecretQuestion>,
    demo: Option<Demo>,
    title: String,
    /// From the command line; queued on the first frame that shows the queue.
    pending_add: Vec<PathBuf>,
    /// Summed once per frame: with 100,000 rows a sum per use would add up.
    totals: Totals,
}

impl UploaderApp {
    /// Starts the engine (restoring the saved queue) and loads the settings.
    pub fn new(ctx: &egui::Context, options: AppOptions) -> Result<Self, String> {
        let data_dir = options.data_dir.clone();
        let mut messages = Vec::new();
        let saved = match AppSettings::load(&data_dir) {
            Ok(s) => s,
            Err(e) => {
                messages.push(Message {
                    text: format!("settings.json: {e}"),
                    is_error: true,
                });
                None
            }
        };
        let mut settings = saved.clone().unwrap_or_default();
        let secrets = options
            .secrets
            .clone()
            .unwrap_or_else(|| std::sync::Arc::new(crate::secrets::Secrets::new(&data_dir)));
        let mut credentials = options.env_credentials.clone();
        if credentials.is_none()
            && matches!(
                settings.secret_place,
                SecretPlace::Keychain | SecretPlace::File
            )
        {
            credentials = secrets
                .load(&settings.access_key_id)
                .map(|stored| Credentials {
                    access_key_id: settings.access_key_id.clone(),
                    access_key_secret: stored.secret,
                    security_token: stored.security_token,
                });
        }
        let demo = if options.demo {
            let demo = Demo::start(&data_dir).map_err(|e| e.to_string())?;
            settings = demo.settings(&settings);
            credentials = Some(Demo::credentials());
            Some(demo)
        } else {
            None
        };
        let engine_dir = demo
            .as_ref()
            .map(|d| d.engine_dir().to_owned())
            .unwrap_or_else(|| data_dir.clone());
        let wake_ctx = ctx.clone();
        let engine = crate::engine::spawn(
            EngineConfig {
                data_dir: engine_dir,
                credentials: credentials.clone(),
                settings: settings.engine_settings(),
                persist_queue: true,
            },
            Arc::new(move || wake_ctx.request_repaint()),
        )
        .map_err(|e| e.to_string())?;
        let lang = options
            .language
            .unwrap_or_else(|| settings.language.resolve());
        let ready = credentials.is_some() && !settings.bucket.is_empty();
        let screen = if ready {
            Screen::Queue
        } else {
            if saved.is_some() {
                messages.push(Message {
                    text: tr(lang).secret_needed_again.to_owned(),
                    is_error: false,
                });
            }
            Screen::Setup
        };
        if let Some(endpoint) = std::env::var("OSS_ENDPOINT")
            .ok()
            .filter(|e| saved.is_none() && demo.is_none() && !e.trim().is_empty())
        {
            settings.custom_endpoint = Some(endpoint.trim().to_owned());
        }
        let form = SettingsForm::from_settings(&settings, credentials.as_ref());
        Ok(Self {
            data_dir,
            secrets,
            language_override: options.language,
            lang,
            settings,
            env_credentials: options.env_credentials,
            credentials,
            form,
            form_errors: Vec::new(),
            test: TestState::Idle,
            screen,
            engine: Some(engine),
            queue: QueueModel::default(),
            background: Background::new(
                ctx.clone(),
                options.desktop.unwrap_or_else(|| Arc::new(NativeDesktop)),
            ),
            walking: None,
            messages,
            single: None,
            details: None,
            close_prompt: false,
            quitting: false,
            secret_question: None,
            demo,
            title: String::new(),
            pending_add: options.add,
            totals: Totals::default(),
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

    /// Queues files and folders as the settings say; one file may get its own key first.
    pub fn add_paths(&mut self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            return;
        }
        if self.screen == Screen::Setup {
            self.message(self.tr().finish_setup_first, true);
            return;
        }
        if paths.len() == 1 && paths[0].is_file() {
            let path = paths[0].clone();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            self.single = Some(SingleAdd {
                key: format!("{}{name}", self.settings.key_prefix()),
                path,
                focused: false,
            });
            return;
        }
        if let Some(engine) = &self.engine {
            self.walking = Some((0, 0));
            self.background
                .add_paths(paths, self.settings.clone(), engine.sender());
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
            match reply {
                Reply::Picked(paths) => self.add_paths(paths),
                Reply::NoDialog => self.message(self.tr().no_dialog, true),
                Reply::Walking {
                    found,
                    unreadable,
                    finished,
                } => {
                    if finished {
                        self.walking = None;
                        if found == 0 {
                            self.message(self.tr().nothing_to_add, true);
                        }
                        if unreadable > 0 {
                            let text = self.tr().unreadable.replace("{n}", &unreadable.to_string());
                            self.message(text, true);
                        }
                    } else {
                        self.walking = Some((found, unreadable));
                    }
                }
                Reply::Tested(outcome) => self.test = TestState::Done(outcome),
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
        if self.screen != Screen::Queue || self.modal_open() {
            return;
        }
        let open = ctx.input_mut(|i| i.consume_shortcut(&queue_ui::ADD_FILES_SHORTCUT));
        if open {
            self.background.pick(Pick::Files);
        }
        // Typing in a text field must not pause uploads or remove rows.
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let selected = self.queue.selected_ids();
        if selected.is_empty() {
            return;
        }
        if ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, Key::Delete)) {
            for id in &selected {
                self.send(Command::Remove(*id));
            }
        }
        if ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, Key::Space)) {
            let any_running = selected
                .iter()
                .filter_map(|id| self.queue.get(*id))
                .any(|r| r.can_pause());
            for id in selected {
                let Some(row) = self.queue.get(id) else {
                    continue;
                };
                if any_running && row.can_pause() {
                    self.send(Command::Pause(id));
                } else if !any_running && row.can_resume() {
                    self.send(Command::Resume(id));
                }
            }
        }
    }

    fn modal_open(&self) -> bool {
        self.single.is_some()
            || self.details.is_some()
            || self.close_prompt
            || self.secret_question.is_some()
    }

    fn handle_close(&mut self, ctx: &egui::Context) {
        if !ctx.input(|i| i.viewport().close_requested()) || self.quitting {
            return;
        }
        if self.totals.active > 0 {
            ctx.send_viewport_cmd(ViewportCommand::CancelClose);
            self.close_prompt = true;
        }
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let t = self.tr();
        let title = match self.totals.percent() {
            Some(p) => format!("{p}% — {}", t.app_name),
            None => t.app_name.to_owned(),
        };
        if title != self.title {
            ctx.send_viewport_cmd(ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }

    /// One frame: fold in what happened, then paint.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.apply_events();
        self.totals = self.queue.totals();
        self.apply_replies();
        if self.screen == Screen::Queue && !self.pending_add.is_empty() {
            let paths = std::mem::take(&mut self.pending_add);
            self.add_paths(paths);
        }
        self.handle_drops(&ctx);
        self.handle_keys(&ctx);
        self.handle_close(&ctx);
        self.update_title(&ctx);

        self.menu_bar(ui);
        if self.screen == Screen::Queue {
            self.status_bar(ui);
        }
        egui::CentralPanel::default().show(ui, |ui| match self.screen {
            Screen::Setup | Screen::Settings => self.settings_screen(ui),
            Screen::Queue => self.queue_screen(ui),
        });
        self.modals(&ctx);
        let t = self.tr();
        let target = format!("{}/{}", self.settings.bucket, self.settings.key_prefix());
        queue_ui::drop_overlay_ui(&ctx, t, &target, self.screen == Screen::Setup);
        // While bytes move, the speed and ETA change even between engine events.
        if self.totals.active > 0 || self.walking.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(250));
        }
    }

    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        let t = self.tr();
        egui::Panel::top("menu").show(ui, |ui| {
            egui::MenuBar::new().ui(ui, |ui| {
                ui.menu_button(t.menu_file, |ui| {
                    let ready = self.screen != Screen::Setup;
                    if ui
                        .add_enabled(
                            ready,
                            egui::Button::new(t.add_files).shortcut_text(
                                ui.ctx().format_shortcut(&queue_ui::ADD_FILES_SHORTCUT),
                            ),
                        )
                        .clicked()
                    {
                        self.background.pick(Pick::Files);
                    }
                    if ui
                        .add_enabled(ready, egui::Button::new(t.add_folder))
                        .clicked()
                    {
                        self.background.pick(Pick::Folder);
                    }
                    ui.separator();
                    if ui.button(t.open_log_folder).clicked() {
                        self.background
                            .open_folder(self.data_dir.join(crate::engine::paths::LOGS_DIR));
                    }
                    ui.separator();
                    if ui.button(t.quit).clicked() {
                        ui.ctx().send_viewport_cmd(ViewportCommand::Close);
                    }
                });
                if self.screen == Screen::Queue && ui.button(t.settings).clicked() {
                    self.form =
                        SettingsForm::from_settings(&self.settings, self.credentials.as_ref());
                    self.form_errors.clear();
                    self.test = TestState::Idle;
                    self.screen = Screen::Settings;
                }
                if self.demo.is_some() {
                    ui.separator();
                    ui.label(RichText::new(t.demo_badge).color(Color32::from_rgb(230, 150, 30)))
                        .on_hover_text(t.demo_badge_tip);
                }
            });
        });
        if !self.messages.is_empty() || !self.queue.problems.is_empty() {
            egui::Panel::top("messages").show(ui, |ui| {
                let mut dismiss = None;
                for (i, m) in self.messages.iter().enumerate() {
                    ui.horizontal(|ui| {
                        let color = if m.is_error {
                            ui.visuals().error_fg_color
                        } else {
                            ui.visuals().text_color()
                        };
                        if ui.small_button("×").on_hover_text(t.dismiss).clicked() {
                            dismiss = Some(i);
                        }
                        ui.label(RichText::new(&m.text).color(color));
                    });
                }
                if let Some(i) = dismiss {
                    self.messages.remove(i);
                }
                let mut clear_problems = false;
                for p in &self.queue.problems {
                    ui.horizontal(|ui| {
                        if ui.small_button("×").on_hover_text(t.dismiss).clicked() {
                            clear_problems = true;
                        }
                        ui.colored_label(ui.visuals().error_fg_color, p.get(t.lang()));
                    });
                }
                if clear_problems {
                    self.queue.problems.clear();
                }
            });
        }
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        let t = self.tr();
        let totals = self.totals;
        let walking = self.walking;
        egui::Panel::bottom("status").show(ui, |ui| {
            queue_ui::status_bar_ui(ui, t, &totals, walking);
        });
    }

    fn queue_screen(&mut self, ui: &mut egui::Ui) {
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
            let modifiers = ui.ctx().input(|i| i.modifiers);
            actions.extend(queue_ui::table_ui(ui, t, &self.queue, modifiers));
        }
        for action in actions {
            self.perform(ui.ctx(), action);
        }
    }

    fn perform(&mut self, ctx: &egui::Context, action: QueueAction) {
        match action {
            QueueAction::Engine(c) => self.send(c),
            QueueAction::Pick(p) => self.background.pick(p),
            QueueAction::CopyUrl(id) => {
                if let Some(url) = self.queue.get(id).and_then(|r| r.object_url()) {
                    ctx.copy_text(url);
                    self.message(self.tr().link_copied, false);
                }
            }
            QueueAction::Details(id) => self.details = Some(id),
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

    fn settings_screen(&mut self, ui: &mut egui::Ui) {
        let t = self.tr();
        let first_run = self.screen == Screen::Setup;
        let action = settings_ui::form_ui(
            ui,
            t,
            self.lang,
            &mut self.form,
            &self.form_errors,
            &self.test,
            first_run,
            self.demo.is_some(),
        );
        match action {
            FormAction::None => {}
            FormAction::Cancel => {
                self.form_errors.clear();
                self.screen = Screen::Queue;
            }
            FormAction::Test => match self.validated() {
                Some((settings, credentials)) => {
                    self.test = TestState::Running;
                    self.background.test_connection(settings, credentials);
                }
                None => self.test = TestState::Idle,
            },
            FormAction::Save => {
                if let Some((settings, credentials)) = self.validated() {
                    self.save(settings, credentials);
                }
            }
        }
    }

    fn validated(&mut self) -> Option<(AppSettings, Credentials)> {
        let lang = self
            .language_override
            .unwrap_or_else(|| self.form.language.resolve());
        match self.form.validate(tr(lang), lang, &self.settings) {
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

    fn save(&mut self, mut settings: AppSettings, credentials: Credentials) {
        if self.demo.is_some() {
            // The demo never touches the real settings file.
            self.apply(settings, credentials);
            return;
        }
        let t = self.tr();
        let from_env = self.env_credentials.as_ref() == Some(&credentials);
        let same_as_saved = self.credentials.as_ref() == Some(&credentials)
            && self.settings.secret_place != SecretPlace::Nowhere;
        if from_env || same_as_saved {
            if from_env {
                settings.secret_place = SecretPlace::Nowhere;
            }
            self.persist(&settings);
            self.apply(settings, credentials);
            return;
        }
        if self.secrets.keychain_available() {
            match self.secrets.store(
                &credentials.access_key_id,
                &credentials.access_key_secret,
                credentials.security_token.as_deref(),
                crate::secrets::StoreChoice::Keychain,
            ) {
                Ok(_) => {
                    settings.secret_place = SecretPlace::Keychain;
                    self.message(t.secret_in_keychain, false);
                    self.persist(&settings);
                    self.apply(settings, credentials);
                    return;
                }
                Err(e) => {
                    tracing::warn!("keychain refused the secret: {e}");
                }
            }
        }
        self.secret_question = Some(SecretQuestion {
            settings,
            credentials,
        });
    }

    fn persist(&mut self, settings: &AppSettings) {
        if let Err(e) = settings.save(&self.data_dir) {
            let text = self
                .tr()
                .settings_not_saved
                .replace("{error}", &e.to_string());
            self.message(text, true);
        }
    }

    fn apply(&mut self, settings: AppSettings, credentials: Credentials) {
        self.send(Command::SetSettings(settings.engine_settings()));
        self.send(Command::SetCredentials(credentials.clone()));
        self.lang = self
            .language_override
            .unwrap_or_else(|| settings.language.resolve());
        self.settings = settings;
        self.credentials = Some(credentials);
        self.screen = Screen::Queue;
    }

    fn modals(&mut self, ctx: &egui::Context) {
        let t = self.tr();
        if let Some(single) = &mut self.single {
            let mut decision = None;
            Modal::new(Id::unique("single-add")).show(ctx, |ui| {
                ui.set_max_width(460.0);
                ui.heading(t.add_one_title);
                ui.label(single.path.display().to_string());
                ui.add_space(6.0);
                ui.label(t.name_in_bucket)
                    .on_hover_text(t.name_in_bucket_tip);
                let edit = ui
                    .add(egui::TextEdit::singleline(&mut single.key).desired_width(f32::INFINITY));
                // Focus the name at once: Enter confirms, typing renames. Without it a quick
                // Tab + Enter could arrive in one frame, before the Tab's focus took effect,
                // and the Enter was lost.
                if !single.focused {
                    edit.request_focus();
                    single.focused = true;
                }
                let error = crate::oss::limits::validate_key(&single.key).err();
                if let Some(e) = &error {
                    ui.colored_label(
                        ui.visuals().error_fg_color,
                        super::settings::invalid_input(t, self.lang, e),
                    );
                }
                ui.horizontal(|ui| {
                    let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
                    if ui
                        .add_enabled(error.is_none(), egui::Button::new(t.upload))
                        .clicked()
                        || (enter && error.is_none())
                    {
                        decision = Some(true);
                    }
                    if ui.button(t.cancel).clicked() {
                        decision = Some(false);
                    }
                });
            });
            match decision {
                Some(true) => {
                    let spec = self
                        .settings
                        .spec(single.path.clone(), single.key.trim().to_owned());
                    self.single = None;
                    self.send(Command::Add(vec![spec]));
                }
                Some(false) => self.single = None,
                None => {}
            }
        }
        if let Some(id) = self.details {
            let row = self.queue.get(id).cloned();
            let mut close = false;
            Modal::new(Id::unique("details")).show(ctx, |ui| {
                ui.set_max_width(520.0);
                match row {
                    Some(row) => {
                        if queue_ui::details_ui(ui, t, &row) {
                            ui.ctx().copy_text(queue_ui::details_text(&row));
                        }
                    }
                    None => {
                        ui.label(t.job_gone);
                    }
                }
                if ui.button(t.close).clicked() {
                    close = true;
                }
            });
            if close {
                self.details = None;
            }
        }
        if self.close_prompt {
            let mut decision = None;
            Modal::new(Id::unique("close")).show(ctx, |ui| {
                ui.set_max_width(420.0);
                ui.heading(t.quit_title);
                ui.label(t.quit_body);
                ui.horizontal(|ui| {
                    if ui.button(t.quit_anyway).clicked() {
                        decision = Some(true);
                    }
                    if ui.button(t.keep_uploading).clicked() {
                        decision = Some(false);
                    }
                });
            });
            match decision {
                Some(true) => {
                    self.close_prompt = false;
                    self.quitting = true;
                    self.shutdown();
                    ctx.send_viewport_cmd(ViewportCommand::Close);
                }
                Some(false) => self.close_prompt = false,
                None => {}
            }
        }
        if let Some(q) = &self.secret_question {
            let mut decision = None;
            let file = self.data_dir.join("secret.json");
            Modal::new(Id::unique("secret")).show(ctx, |ui| {
                ui.set_max_width(460.0);
                ui.heading(t.secret_where_title);
                ui.label(t.secret_where_body);
                ui.add_space(6.0);
                if ui
                    .button(t.secret_session)
                    .on_hover_text(t.secret_session_tip)
                    .clicked()
                {
                    decision = Some(false);
                }
                if ui
                    .button(t.secret_file)
                    .on_hover_text(
                        t.secret_file_tip
                            .replace("{file}", &file.display().to_string()),
                    )
                    .clicked()
                {
                    decision = Some(true);
                }
            });
            if let Some(to_file) = decision {
                let mut settings = q.settings.clone();
                let credentials = q.credentials.clone();
                self.secret_question = None;
                if to_file {
                    match self.secrets.store(
                        &credentials.access_key_id,
                        &credentials.access_key_secret,
                        credentials.security_token.as_deref(),
                        crate::secrets::StoreChoice::File,
                    ) {
                        Ok(location) => {
                            let path = match location {
                                crate::secrets::SecretLocation::File(p) => p,
                                _ => self.secrets.file_path(&credentials.access_key_id),
                            };
                            settings.secret_place = SecretPlace::File;
                            let text = t
                                .secret_in_file
                                .replace("{file}", &path.display().to_string());
                            self.message(text, false);
                        }
                        Err(e) => {
                            settings.secret_place = SecretPlace::Nowhere;
                            let text = t.secret_file_failed.replace("{error}", &e.to_string());
                            self.message(text, true);
                        }
                    }
                } else {
                    // Kept in memory for this session; any copy saved earlier is removed.
                    if let Err(e) = self.secrets.store(
                        &credentials.access_key_id,
                        &credentials.access_key_secret,
                        credentials.security_token.as_deref(),
                        crate::secrets::StoreChoice::SessionOnly,
                    ) {
                        tracing::warn!("could not remove an earlier copy of the secret: {e}");
                    }
                    settings.secret_place = SecretPlace::Nowhere;
                    self.message(t.secret_for_session, false);
                }
                self.persist(&settings);
                self.apply(settings, credentials);
            }
        }
    }
}

impl eframe::App for UploaderApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
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

impl LanguageChoice {
    /// The language this choice means on this computer.
    pub fn resolve(self) -> Lang {
        match self {
            LanguageChoice::English => Lang::En,
            LanguageChoice::Chinese => Lang::Zh,
            LanguageChoice::System => Lang::from_system(),
        }
    }
}
