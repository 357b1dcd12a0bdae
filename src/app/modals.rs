//! The dialogs over the window: a queued file's new name in the bucket, the question before
//! cancelling an upload, the question before removing unfinished uploads that hold parts on
//! the server, a failed upload's details, sharing an uploaded file, the question before quitting
//! with uploads running, and where the secret should be kept. [`Modals`] holds which are open;
//! its painter shows them and returns what the person answered, and the window acts on the
//! answers.

use std::path::PathBuf;

use egui::{Id, Key, Modal};

use super::i18n::{Lang, Tr};
use super::model::QueueModel;
use super::queue_ui;
use super::secret_place::Choice;
use super::settings::{AppSettings, invalid_input};
use super::share_ui::{ShareAnswer, ShareDialog, share_dialog_ui};
use crate::engine::JobId;
use crate::oss::sign::Credentials;
use crate::units::human_bytes;

/// A queued file's name in the bucket, being edited before its upload starts.
pub struct NameQuestion {
    pub id: JobId,
    pub path: PathBuf,
    pub key: String,
    /// The name field has been given the focus once, so Enter confirms right away.
    focused: bool,
}

impl NameQuestion {
    pub fn new(id: JobId, path: PathBuf, key: String) -> Self {
        Self {
            id,
            path,
            key,
            focused: false,
        }
    }
}

/// Settings that passed validation and wait for the person to say where the secret goes.
pub struct SecretQuestion {
    pub settings: AppSettings,
    pub credentials: Credentials,
    /// The file named in the tip of "Save in a private file".
    pub file: PathBuf,
}

/// The open dialogs; each is open while its field is set.
#[derive(Default)]
pub struct Modals {
    pub name: Option<NameQuestion>,
    /// The job whose Cancel waits for a yes.
    pub cancel: Option<JobId>,
    /// Rows whose removal would throw away parts the server holds, waiting for a yes.
    pub remove: Option<Vec<JobId>>,
    pub details: Option<JobId>,
    pub share: Option<ShareDialog>,
    pub quit: bool,
    pub secret: Option<SecretQuestion>,
}

/// What the person answered in a dialog (a dialog that was dismissed just closes).
pub enum Answer {
    /// Give job `id` (not started yet) the name `key` (already trimmed) in the bucket.
    Rename { id: JobId, key: String },
    /// Cancel job `id`, keeping what was sent.
    Cancel(JobId),
    /// Remove these rows, throwing away what they sent.
    Remove(Vec<JobId>),
    /// Put these details on the clipboard.
    Copy(String),
    /// Something changed in the open Share dialog: make its link again.
    ShareChanged,
    /// Copy this shared link.
    CopyLink(super::share_ui::Link),
    /// Quit although uploads are running; they continue next time.
    Quit,
    /// Keep the secret of `question` as chosen.
    PlaceSecret {
        question: Box<SecretQuestion>,
        choice: Choice,
    },
}

impl Modals {
    /// Whether a dialog has the keyboard, so the queue's shortcuts stay quiet.
    pub fn any_open(&self) -> bool {
        self.name.is_some()
            || self.cancel.is_some()
            || self.remove.is_some()
            || self.details.is_some()
            || self.share.is_some()
            || self.quit
            || self.secret.is_some()
    }

    /// Paints the open dialogs over `ui`.
    pub fn ui(&mut self, ui: &egui::Ui, t: &Tr, lang: Lang, queue: &QueueModel) -> Vec<Answer> {
        let mut answers = Vec::new();
        if let Some(question) = &mut self.name {
            match name_question_ui(ui, t, lang, question) {
                Some(true) => {
                    if let Some(q) = self.name.take() {
                        answers.push(Answer::Rename {
                            id: q.id,
                            key: q.key.trim().to_owned(),
                        });
                    }
                }
                Some(false) => self.name = None,
                None => {}
            }
        }
        if let Some(id) = self.cancel {
            match cancel_question_ui(ui, t, queue, id) {
                Some(true) => {
                    self.cancel = None;
                    answers.push(Answer::Cancel(id));
                }
                Some(false) => self.cancel = None,
                None => {}
            }
        }
        if let Some(ids) = &self.remove {
            match remove_question_ui(ui, t, queue, ids) {
                Some(true) => {
                    if let Some(ids) = self.remove.take() {
                        answers.push(Answer::Remove(ids));
                    }
                }
                Some(false) => self.remove = None,
                None => {}
            }
        }
        if let Some(id) = self.details {
            let (copy, close) = details_ui(ui, t, queue, id);
            if copy && let Some(row) = queue.get(id) {
                answers.push(Answer::Copy(queue_ui::details_text(row)));
            }
            if close {
                self.details = None;
            }
        }
        if let Some(dialog) = &mut self.share {
            match share_dialog_ui(ui, t, dialog) {
                Some(ShareAnswer::Changed) => answers.push(Answer::ShareChanged),
                Some(ShareAnswer::Copy(link)) => answers.push(Answer::CopyLink(link)),
                Some(ShareAnswer::Close) => self.share = None,
                None => {}
            }
        }
        if self.quit {
            match quit_prompt_ui(ui, t) {
                Some(true) => {
                    self.quit = false;
                    answers.push(Answer::Quit);
                }
                Some(false) => self.quit = false,
                None => {}
            }
        }
        if let Some(question) = &self.secret
            && let Some(choice) = secret_question_ui(ui, t, question)
            && let Some(question) = self.secret.take()
        {
            answers.push(Answer::PlaceSecret {
                question: Box::new(question),
                choice,
            });
        }
        answers
    }
}

/// A queued file's new name in the bucket. `Some(true)` renames, `Some(false)` leaves it.
fn name_question_ui(ui: &egui::Ui, t: &Tr, lang: Lang, q: &mut NameQuestion) -> Option<bool> {
    let mut decision = None;
    Modal::new(Id::unique("rename")).show(ui.ctx(), |ui| {
        ui.set_max_width(460.0);
        ui.heading(t.rename_title);
        ui.label(q.path.display().to_string());
        ui.add_space(6.0);
        ui.label(t.name_in_bucket)
            .on_hover_text(t.name_in_bucket_tip);
        let edit = ui.add(egui::TextEdit::singleline(&mut q.key).desired_width(f32::INFINITY));
        // Focus the name at once: Enter confirms, typing renames. Without it a quick
        // Tab + Enter could arrive in one frame, before the Tab's focus took effect,
        // and the Enter was lost.
        if !q.focused {
            edit.request_focus();
            q.focused = true;
        }
        let error = crate::oss::limits::validate_key(&q.key).err();
        if let Some(e) = &error {
            ui.colored_label(ui.visuals().error_fg_color, invalid_input(t, lang, e));
        }
        ui.horizontal(|ui| {
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            if ui
                .add_enabled(error.is_none(), egui::Button::new(t.rename))
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
    decision
}

/// A question with two answers, in a dialog named `id`: `Some(true)` when `yes` was clicked,
/// `Some(false)` for `no`, `None` while it waits.
pub(super) fn question_ui(
    ctx: &egui::Context,
    id: &str,
    title: &str,
    body: &str,
    yes: &str,
    no: &str,
) -> Option<bool> {
    let mut decision = None;
    Modal::new(Id::unique(id)).show(ctx, |ui| {
        ui.set_max_width(460.0);
        ui.heading(title);
        ui.label(body);
        ui.add_space(6.0);
        decision = answer_ui(ui, yes, no);
    });
    decision
}

/// The `yes` and `no` buttons of a question, side by side.
fn answer_ui(ui: &mut egui::Ui, yes: &str, no: &str) -> Option<bool> {
    ui.horizontal(|ui| {
        let yes = ui.button(yes).clicked();
        let no = ui.button(no).clicked();
        (yes || no).then_some(!no)
    })
    .inner
}

/// Asked before a Cancel: what stops and what is kept. `Some(true)` cancels.
fn cancel_question_ui(ui: &egui::Ui, t: &Tr, queue: &QueueModel, id: JobId) -> Option<bool> {
    let body = match queue.get(id) {
        Some(row) => t
            .cancel_body
            .replace("{name}", &row.name)
            .replace("{sent}", &human_bytes(row.confirmed.min(row.size))),
        None => t.job_gone.to_owned(),
    };
    question_ui(
        ui.ctx(),
        "cancel",
        t.cancel_title,
        &body,
        t.cancel_confirm,
        t.keep_uploading,
    )
}

/// Asked before removing rows that hold parts on the server: what is lost. `Some(true)`
/// removes.
fn remove_question_ui(ui: &egui::Ui, t: &Tr, queue: &QueueModel, ids: &[JobId]) -> Option<bool> {
    let losing: Vec<_> = ids
        .iter()
        .filter_map(|id| queue.get(*id))
        .filter(|row| row.removing_loses_sent())
        .collect();
    let sent = human_bytes(losing.iter().map(|r| r.confirmed.min(r.size)).sum());
    let body = match losing.as_slice() {
        [] => t.job_gone.to_owned(),
        [row] => t
            .remove_sent_body
            .replace("{name}", &row.name)
            .replace("{sent}", &sent),
        rows => t
            .remove_sent_body_many
            .replace("{n}", &rows.len().to_string())
            .replace("{sent}", &sent),
    };
    question_ui(
        ui.ctx(),
        "remove",
        t.remove_sent_title,
        &body,
        t.remove_sent_confirm,
        t.remove_sent_keep,
    )
}

/// A failed upload's details; returns (Copy was clicked, Close was clicked).
fn details_ui(ui: &egui::Ui, t: &Tr, queue: &QueueModel, id: JobId) -> (bool, bool) {
    let mut copy = false;
    let mut close = false;
    Modal::new(Id::unique("details")).show(ui.ctx(), |ui| {
        ui.set_max_width(520.0);
        match queue.get(id) {
            Some(row) => copy = queue_ui::details_ui(ui, t, row),
            None => {
                ui.label(t.job_gone);
            }
        }
        close = ui.button(t.close).clicked();
    });
    (copy, close)
}

/// Asked when the window is closed while uploads run. `Some(true)` quits.
fn quit_prompt_ui(ui: &egui::Ui, t: &Tr) -> Option<bool> {
    let mut decision = None;
    Modal::new(Id::unique("close")).show(ui.ctx(), |ui| {
        ui.set_max_width(420.0);
        ui.heading(t.quit_title);
        ui.label(t.quit_body);
        decision = answer_ui(ui, t.quit_anyway, t.keep_uploading);
    });
    decision
}

/// Asked when no keychain took the secret.
fn secret_question_ui(ui: &egui::Ui, t: &Tr, question: &SecretQuestion) -> Option<Choice> {
    let mut choice = None;
    Modal::new(Id::unique("secret")).show(ui.ctx(), |ui| {
        ui.set_max_width(460.0);
        ui.heading(t.secret_where_title);
        ui.label(t.secret_where_body);
        ui.add_space(6.0);
        if ui
            .button(t.secret_session)
            .on_hover_text(t.secret_session_tip)
            .clicked()
        {
            choice = Some(Choice::SessionOnly);
        }
        if ui
            .button(t.secret_file)
            .on_hover_text(
                t.secret_file_tip
                    .replace("{file}", &question.file.display().to_string()),
            )
            .clicked()
        {
            choice = Some(Choice::File);
        }
    });
    choice
}
