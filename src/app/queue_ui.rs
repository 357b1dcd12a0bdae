//! Painting the queue: the toolbar, the table (only visible rows are laid out, so 100,000 rows
//! scroll smoothly), the resume banner, the status bar, error details and the drop overlay; and
//! the queue's keyboard shortcuts and the filters over the table. These functions only paint (or
//! read keys) and return what the user asked for.

use egui::{Align, Color32, Layout, ProgressBar, RichText, Sense};
use egui_extras::{Column, TableBuilder};

use super::background::Pick;
use super::i18n::Tr;
use super::model::{Filter, FilterCounts, QueueModel, Row, Totals};
use super::settings::AppSettings;
use crate::engine::{Command, JobId, JobState};
use crate::units::human_bytes;

/// What the user asked for in the queue screen.
#[derive(Debug)]
pub enum QueueAction {
    Engine(Command),
    Pick(Pick),
    /// Copy the links of these finished rows (one per line).
    CopyUrls(Vec<JobId>),
    /// Open the Share dialog for this finished row.
    Share(JobId),
    /// Open the folder browser, read-only, at this finished row's object.
    ShowInBucket(JobId),
    /// Open the folder browser at the destination, to choose another folder.
    BrowseDestination,
    Details(JobId),
    /// Cancel was clicked: ask first.
    AskCancel(JobId),
    /// Remove was asked for rows of which some hold parts on the server: ask first.
    AskRemove(Vec<JobId>),
    /// Retry on a row cancelled with its parts kept: go on from them.
    Continue(JobId),
    /// Rename was clicked on a row that has not started.
    Rename(JobId),
    /// A click on a row; `add` when Ctrl/Cmd was held.
    Select {
        id: JobId,
        add: bool,
    },
}

const ROW_HEIGHT: f32 = 26.0;

/// Opens "Add files…": Ctrl+O, or ⌘O on a Mac. Menus and tips show it as the platform writes it.
pub const ADD_FILES_SHORTCUT: egui::KeyboardShortcut =
    egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::O);

/// The queue's keys: Ctrl+O (⌘O) adds files; on the selected rows Delete removes and Space
/// pauses (when any of them runs) or resumes. Keys are taken before the frame is painted, so a
/// focused button does not see the Space too.
pub fn shortcuts(ctx: &egui::Context, queue: &QueueModel) -> Vec<QueueAction> {
    let mut out = Vec::new();
    if ctx.input_mut(|i| i.consume_shortcut(&ADD_FILES_SHORTCUT)) {
        out.push(QueueAction::Pick(Pick::Files));
    }
    // Typing in a text field must not pause uploads or remove rows.
    if ctx.egui_wants_keyboard_input() {
        return out;
    }
    let selected = queue.selected_ids();
    if selected.is_empty() {
        return out;
    }
    if ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Delete)) {
        let loses_sent = selected
            .iter()
            .any(|id| queue.get(*id).is_some_and(Row::removing_loses_sent));
        out.extend(remove(selected.clone(), loses_sent));
    }
    // Ctrl/Cmd+C, as in a file manager: the links of the selected uploaded files.
    if ctx.input(|i| i.events.iter().any(|e| matches!(e, egui::Event::Copy))) {
        let done: Vec<JobId> = selected
            .iter()
            .copied()
            .filter(|id| queue.get(*id).is_some_and(Row::has_link))
            .collect();
        if !done.is_empty() {
            out.push(QueueAction::CopyUrls(done));
        }
    }
    if ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Space)) {
        let rows: Vec<&Row> = selected.iter().filter_map(|id| queue.get(*id)).collect();
        let any_running = rows.iter().any(|r| r.can_pause());
        for row in rows {
            if any_running && row.can_pause() {
                out.push(QueueAction::Engine(Command::Pause(row.id)));
            } else if !any_running && row.can_resume() {
                out.push(QueueAction::Engine(Command::Resume(row.id)));
            }
        }
    }
    out
}

pub fn state_text(t: &Tr, row: &Row) -> &'static str {
    if row.is_kept() {
        return t.st_cancelled_kept;
    }
    match row.state {
        JobState::Queued => t.st_queued,
        JobState::Uploading => t.st_uploading,
        JobState::Waiting => t.st_waiting,
        JobState::Paused => t.st_paused,
        // The engine queues it again by itself once the network is back.
        JobState::Interrupted if row.error.as_ref().is_some_and(|e| e.network) => t.st_waiting,
        JobState::Interrupted => t.st_interrupted,
        JobState::Verifying => t.st_verifying,
        JobState::Done => t.st_done,
        JobState::Unverified => t.st_unverified,
        JobState::Skipped => t.st_skipped,
        JobState::Failed => t.st_failed,
        JobState::Cancelled => t.st_cancelled,
    }
}

fn state_color(visuals: &egui::Visuals, state: JobState) -> Color32 {
    match state {
        JobState::Done => Color32::from_rgb(60, 170, 90),
        JobState::Failed => visuals.error_fg_color,
        JobState::Interrupted | JobState::Waiting | JobState::Unverified => visuals.warn_fg_color,
        JobState::Uploading | JobState::Verifying => visuals.hyperlink_color,
        _ => visuals.weak_text_color(),
    }
}

/// The row of buttons that act on every job.
pub fn toolbar_ui(
    ui: &mut egui::Ui,
    t: &Tr,
    totals: &Totals,
    settings: &AppSettings,
) -> Vec<QueueAction> {
    let mut out = Vec::new();
    ui.horizontal(|ui| {
        if ui
            .button(t.add_files)
            .on_hover_text(
                t.add_files_tip
                    .replace("{shortcut}", &ui.ctx().format_shortcut(&ADD_FILES_SHORTCUT)),
            )
            .clicked()
        {
            out.push(QueueAction::Pick(Pick::Files));
        }
        if ui
            .button(t.add_folder)
            .on_hover_text(t.add_folder_tip)
            .clicked()
        {
            out.push(QueueAction::Pick(Pick::Folder));
        }
        ui.separator();
        if ui
            .add_enabled(totals.files > 0, egui::Button::new(t.pause_all))
            .on_hover_text(t.pause_all_tip)
            .clicked()
        {
            out.push(QueueAction::Engine(Command::PauseAll));
        }
        if ui
            .add_enabled(totals.files > 0, egui::Button::new(t.resume_all))
            .on_hover_text(t.resume_all_tip)
            .clicked()
        {
            out.push(QueueAction::Engine(Command::ResumeAll));
        }
        if ui
            .add_enabled(totals.files > 0, egui::Button::new(t.clear_finished))
            .on_hover_text(t.clear_finished_tip)
            .clicked()
        {
            out.push(QueueAction::Engine(Command::ClearFinished));
        }
        // In what room the buttons leave, cut short rather than drawn over them.
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            if ui.button(t.browser).on_hover_text(t.browser_tip).clicked() {
                out.push(QueueAction::BrowseDestination);
            }
            let target = format!("oss://{}/{}", settings.bucket, settings.key_prefix());
            ui.add(
                egui::Label::new(RichText::new(format!("{} {target}", t.destination)).weak())
                    .truncate(),
            )
            .on_hover_text(target);
        });
    });
    out
}

/// What the queue looks like before anything was added.
pub fn empty_ui(ui: &mut egui::Ui, t: &Tr) {
    ui.add_space(ui.available_height() / 3.0);
    ui.vertical_centered(|ui| {
        ui.label(RichText::new(t.empty_title).size(22.0));
        ui.label(t.empty_hint);
    });
}

/// The banner over the table after a restart with unfinished uploads. `Some(true)` resumes all,
/// `Some(false)` hides the banner.
pub fn resume_banner_ui(ui: &mut egui::Ui, t: &Tr, waiting: usize) -> Option<bool> {
    let mut answer = None;
    egui::Frame::new()
        .fill(ui.visuals().warn_fg_color.gamma_multiply(0.15))
        .inner_margin(8.0)
        .corner_radius(4.0)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new(t.banner.replace("{n}", &waiting.to_string())).strong());
                if ui
                    .button(t.resume_all)
                    .on_hover_text(t.banner_resume_tip)
                    .clicked()
                {
                    answer = Some(true);
                }
                if ui.button(t.not_now).clicked() {
                    answer = Some(false);
                }
            });
        });
    ui.add_space(4.0);
    answer
}

/// The filters over the table, each with its count, and "Hide finished".
pub fn filter_bar_ui(
    ui: &mut egui::Ui,
    t: &Tr,
    counts: &FilterCounts,
    filter: &mut Filter,
    hide_finished: &mut bool,
) {
    ui.horizontal(|ui| {
        for (f, name) in [
            (Filter::All, t.filter_all),
            (Filter::Active, t.filter_active),
            (Filter::Failed, t.filter_failed),
            (Filter::Done, t.filter_done),
        ] {
            ui.selectable_value(filter, f, format!("{name} ({})", counts.get(f)))
                .on_hover_text(t.filter_tip);
        }
        ui.separator();
        ui.checkbox(
            hide_finished,
            t.hide_finished.replace("{n}", &counts.finished.to_string()),
        )
        .on_hover_text(t.hide_finished_tip);
    });
}

/// Which of the columns that give way in a narrow window still fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Columns {
    pub key: bool,
    pub speed: bool,
    pub eta: bool,
}

impl Columns {
    /// The columns for a table `width` points wide: time left goes first, then the speed, then
    /// the name in the bucket, so the state and the buttons always stay in view.
    pub fn for_width(width: f32) -> Self {
        Self {
            eta: width >= 1000.0,
            speed: width >= 900.0,
            key: width >= 800.0,
        }
    }
}

/// The table of jobs: `visible` (indices into the rows, `None` for all) in the order added,
/// scrolled to `scroll_to` (an index into `visible`) when given. Only rows in view are laid out.
pub fn table_ui(
    ui: &mut egui::Ui,
    t: &Tr,
    queue: &QueueModel,
    visible: Option<&[usize]>,
    scroll_to: Option<usize>,
    modifiers: egui::Modifiers,
) -> Vec<QueueAction> {
    let mut out = Vec::new();
    let rows = queue.rows();
    let count = visible.map_or(rows.len(), <[usize]>::len);
    if count == 0 {
        ui.add_space(12.0);
        ui.vertical_centered(|ui| {
            ui.label(RichText::new(t.nothing_in_filter).weak());
        });
        return out;
    }
    let cols = Columns::for_width(ui.available_width());
    // Once the key column has given way, the others start narrower too, so that the actions
    // (the last column) fit in the smallest window.
    let narrow = !cols.key;
    // A click anywhere on a row selects it; selectable text would take the click instead.
    ui.style_mut().interaction.selectable_labels = false;
    let mut table = TableBuilder::new(ui)
        // Column widths are remembered per set of columns.
        .id_salt(("queue", cols))
        .striped(true)
        .sense(Sense::click())
        .cell_layout(Layout::left_to_right(Align::Center))
        .column(
            Column::initial(if narrow { 130.0 } else { 170.0 })
                .at_least(80.0)
                .clip(true)
                .resizable(true),
        )
        .column(Column::initial(65.0).at_least(50.0));
    if cols.key {
        table = table.column(
            Column::initial(180.0)
                .at_least(80.0)
                .clip(true)
                .resizable(true),
        );
    }
    table = table.column(
        Column::initial(if narrow { 150.0 } else { 180.0 })
            .at_least(110.0)
            .resizable(true),
    );
    if cols.speed {
        table = table.column(Column::initial(75.0).at_least(50.0));
    }
    if cols.eta {
        table = table.column(Column::initial(65.0).at_least(50.0));
    }
    table = table
        .column(
            Column::initial(if narrow { 110.0 } else { 150.0 })
                .at_least(90.0)
                .clip(true)
                .resizable(true),
        )
        .column(Column::remainder().at_least(200.0));
    if let Some(i) = scroll_to {
        table = table.scroll_to_row(i, Some(Align::BOTTOM));
    }
    let titles = [
        (t.col_name, true),
        (t.col_size, true),
        (t.col_key, cols.key),
        (t.col_progress, true),
        (t.col_speed, cols.speed),
        (t.col_eta, cols.eta),
        (t.col_state, true),
        (t.col_actions, true),
    ];
    table
        .header(22.0, |mut header| {
            for (title, _) in titles.iter().filter(|(_, shown)| *shown) {
                header.col(|ui| {
                    ui.strong(*title);
                });
            }
        })
        .body(|body| {
            body.rows(ROW_HEIGHT, count, |mut table_row| {
                let i = table_row.index();
                let index = visible.map_or(Some(i), |v| v.get(i).copied());
                let Some(row) = index.and_then(|i| rows.get(i)) else {
                    return;
                };
                table_row.set_selected(queue.selection.contains(&row.id));
                table_row.col(|ui| {
                    ui.label(&row.name)
                        .on_hover_text(row.path.display().to_string());
                });
                table_row.col(|ui| {
                    ui.label(human_bytes(row.size));
                });
                if cols.key {
                    table_row.col(|ui| {
                        ui.label(&row.key).on_hover_text(&row.key);
                    });
                }
                table_row.col(|ui| {
                    let text = format!(
                        "{:.0}%  {} / {}",
                        row.fraction() * 100.0,
                        human_bytes(row.done.min(row.size)),
                        human_bytes(row.size)
                    );
                    ui.add(ProgressBar::new(row.fraction()).text(text));
                });
                if cols.speed {
                    table_row.col(|ui| {
                        if let Some(bps) = row.bytes_per_second {
                            ui.label(format!("{}/s", human_bytes(bps)));
                        }
                    });
                }
                if cols.eta {
                    table_row.col(|ui| {
                        if let Some(eta) = row.eta {
                            ui.label(t.duration(eta));
                        }
                    });
                }
                table_row.col(|ui| state_cell_ui(ui, t, row));
                table_row.col(|ui| {
                    actions_ui(ui, t, row, &mut out);
                });
                if table_row.response().clicked() {
                    out.push(QueueAction::Select {
                        id: row.id,
                        add: modifiers.command,
                    });
                }
            });
        });
    out
}

/// The state in words; a failure says why on the row itself (all of it on hover), with Details
/// one click away in the actions.
fn state_cell_ui(ui: &mut egui::Ui, t: &Tr, row: &Row) {
    let label =
        ui.label(RichText::new(state_text(t, row)).color(state_color(ui.visuals(), row.state)));
    let hover = match (&row.error, &row.notice) {
        (Some(e), _) => Some(e.message_in(t.lang())),
        (None, Some(n)) => Some(n.get(t.lang())),
        (None, None) => None,
    };
    let Some(hover) = hover else {
        return;
    };
    label.on_hover_text(hover);
    if row.error.is_some() && matches!(row.state, JobState::Failed | JobState::Interrupted) {
        ui.add(egui::Label::new(RichText::new(hover).weak()).truncate())
            .on_hover_text(hover);
    }
}

fn actions_ui(ui: &mut egui::Ui, t: &Tr, row: &Row, out: &mut Vec<QueueAction>) {
    let id = row.id;
    if row.can_pause()
        && ui
            .small_button(t.pause)
            .on_hover_text(t.pause_tip)
            .clicked()
    {
        out.push(QueueAction::Engine(Command::Pause(id)));
    }
    if row.can_resume()
        && ui
            .small_button(t.resume)
            .on_hover_text(t.resume_tip)
            .clicked()
    {
        out.push(QueueAction::Engine(Command::Resume(id)));
    }
    if row.can_retry() {
        let tip = if row.is_kept() {
            t.retry_kept_tip
        } else {
            t.retry_tip
        };
        if ui.small_button(t.retry).on_hover_text(tip).clicked() {
            out.push(if row.is_kept() {
                QueueAction::Continue(id)
            } else {
                QueueAction::Engine(Command::Retry(id))
            });
        }
    }
    if row.error.is_some()
        && matches!(row.state, JobState::Failed | JobState::Interrupted)
        && ui.small_button(t.details).clicked()
    {
        out.push(QueueAction::Details(id));
    }
    if row.can_cancel()
        && ui
            .small_button(t.cancel)
            .on_hover_text(t.cancel_tip)
            .clicked()
    {
        out.push(QueueAction::AskCancel(id));
    }
    if row.can_rename()
        && row.state == JobState::Queued
        && ui
            .small_button(t.rename)
            .on_hover_text(t.rename_tip)
            .clicked()
    {
        out.push(QueueAction::Rename(id));
    }
    if row.has_link()
        && ui
            .small_button(t.share)
            .on_hover_text(t.share_tip)
            .clicked()
    {
        out.push(QueueAction::Share(id));
    }
    if row.has_link()
        && ui
            .small_button(t.show_in_bucket)
            .on_hover_text(t.show_in_bucket_tip)
            .clicked()
    {
        out.push(QueueAction::ShowInBucket(id));
    }
    if row.can_remove()
        && ui
            .small_button(t.remove)
            .on_hover_text(if row.removing_loses_sent() {
                t.remove_kept_tip
            } else {
                t.remove_tip
            })
            .clicked()
    {
        out.extend(remove(vec![id], row.removing_loses_sent()));
    }
}

/// Removing `ids`: at once, or after a question when that throws away parts the server holds
/// (`loses_sent`).
fn remove(ids: Vec<JobId>, loses_sent: bool) -> Vec<QueueAction> {
    if loses_sent {
        vec![QueueAction::AskRemove(ids)]
    } else {
        ids.into_iter()
            .map(|id| QueueAction::Engine(Command::Remove(id)))
            .collect()
    }
}

/// The failure of one job, with what support needs. Returns true when Copy was clicked.
pub fn details_ui(ui: &mut egui::Ui, t: &Tr, row: &Row) -> bool {
    ui.heading(&row.name);
    let Some(e) = &row.error else {
        ui.label(state_text(t, row));
        return false;
    };
    ui.label(RichText::new(e.message_in(t.lang())).strong());
    ui.add_space(6.0);
    egui::Grid::new("error-details")
        .num_columns(2)
        .spacing([12.0, 4.0])
        .show(ui, |ui| {
            let dash = "—".to_owned();
            for (name, value) in [
                (t.err_code, e.code.clone().unwrap_or_else(|| dash.clone())),
                (t.err_ec, e.ec.clone().unwrap_or_else(|| dash.clone())),
                (
                    t.err_request,
                    e.request_id.clone().unwrap_or_else(|| dash.clone()),
                ),
                (t.col_key, row.key.clone()),
            ] {
                ui.label(name);
                ui.monospace(value);
                ui.end_row();
            }
        });
    ui.add_space(4.0);
    ui.label(RichText::new(&e.detail).monospace().small());
    ui.add_space(6.0);
    ui.button(t.copy_details).clicked()
}

/// The details as text for the clipboard (what a support ticket needs).
pub fn details_text(row: &Row) -> String {
    match &row.error {
        Some(e) => format!(
            "{}\n{}\ncode: {}\nEC: {}\nrequest id: {}\nbucket: {}\nkey: {}\nfile: {}",
            e.message,
            e.detail,
            e.code.as_deref().unwrap_or("-"),
            e.ec.as_deref().unwrap_or("-"),
            e.request_id.as_deref().unwrap_or("-"),
            row.bucket,
            row.key,
            row.path.display()
        ),
        None => String::new(),
    }
}

/// Totals along the bottom of the window.
pub fn status_bar_ui(ui: &mut egui::Ui, t: &Tr, totals: &Totals, walking: Option<usize>) {
    ui.horizontal(|ui| {
        ui.label(
            t.status_files
                .replace("{done}", &totals.finished.to_string())
                .replace("{total}", &totals.files.to_string()),
        );
        ui.separator();
        ui.label(
            t.status_bytes
                .replace("{done}", &human_bytes(totals.done))
                .replace("{total}", &human_bytes(totals.bytes)),
        );
        if totals.bytes_per_second > 0 {
            ui.separator();
            ui.label(format!("{}/s", human_bytes(totals.bytes_per_second)));
        }
        if totals.connections > 0 {
            ui.separator();
            ui.label(
                t.status_connections
                    .replace("{n}", &totals.connections.to_string()),
            );
        }
        if let Some(eta) = totals.eta() {
            ui.separator();
            ui.label(t.status_eta.replace("{eta}", &t.duration(eta)));
        }
        if totals.failed > 0 {
            ui.separator();
            ui.colored_label(
                ui.visuals().error_fg_color,
                t.status_failed.replace("{n}", &totals.failed.to_string()),
            );
        }
        if let Some(found) = walking {
            ui.separator();
            ui.spinner();
            ui.label(t.status_walking.replace("{n}", &found.to_string()));
        }
    });
}

/// Dims the window and says what a drop will do while files are dragged over it.
pub fn drop_overlay_ui(ui: &egui::Ui, t: &Tr, target: &str, blocked: bool) {
    let ctx = ui.ctx();
    let hovered = ctx.input(|i| i.raw.hovered_files.len());
    if hovered == 0 {
        return;
    }
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop-overlay"),
    ));
    let rect = ctx.content_rect();
    painter.rect_filled(rect, 0.0, Color32::from_black_alpha(180));
    let text = if blocked {
        t.drop_blocked.to_owned()
    } else if hovered == 1 {
        t.drop_here_one.replace("{target}", target)
    } else {
        t.drop_here
            .replace("{n}", &hovered.to_string())
            .replace("{target}", target)
    };
    painter.text(
        rect.center(),
        egui::Align2::CENTER_CENTER,
        text,
        egui::FontId::proportional(22.0),
        Color32::WHITE,
    );
}
