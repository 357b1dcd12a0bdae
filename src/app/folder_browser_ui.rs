//! Painting the folder browser: breadcrumbs and Up, the folder's sub-folders then its files
//! (size and date; only the rows in view are laid out, so a folder of 100,000 keys scrolls
//! smoothly), a count with a spinner while pages come, a failure in plain words with Retry,
//! "New folder…" and "Choose this folder". Only paints and returns what the user pressed.

use egui::{Align, Id, Layout, Modal, RichText, Sense, TextEdit};
use egui_extras::{Column, TableBuilder};

use super::background::TestOutcome;
use super::folder_browser::{
    FolderBrowser, Loading, NameProblem, folder_key, short_date, short_name,
};
use super::i18n::Tr;
use super::settings_ui::test_text;
use crate::units::human_bytes;

/// What the user pressed in the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrowserAction {
    /// Go to this folder (a row, a crumb, or Up).
    Enter(String),
    Retry,
    /// Make the folder whose name is typed in "New folder…".
    MakeFolder,
    /// Use the folder shown as the destination.
    Choose,
    /// Share the file with this key.
    Share(String),
    Close,
}

/// The dialog's size in a big window; a small one (720 × 420 at least) gets a smaller dialog.
const WIDTH: f32 = 760.0;
const LIST_HEIGHT: f32 = 340.0;
/// Everything but the list: title, crumbs, count, messages, New folder, the buttons.
const AROUND_LIST: f32 = 250.0;
const ROW_HEIGHT: f32 = 24.0;

/// The browser as a dialog over the window.
pub fn folder_browser_ui(ui: &egui::Ui, t: &Tr, b: &mut FolderBrowser) -> Option<BrowserAction> {
    let mut action = None;
    let modal = Modal::new(Id::unique("folder-browser")).show(ui.ctx(), |ui| {
        let room = ui.ctx().content_rect().size();
        ui.set_width(WIDTH.min(room.x - 60.0));
        let list_height = LIST_HEIGHT.min(room.y - AROUND_LIST - 60.0).max(80.0);
        ui.heading(if b.opened.picks() {
            t.browser_pick_title
        } else {
            t.browser_look_title
        });
        ui.add_space(4.0);
        ui.horizontal_wrapped(|ui| {
            let crumbs = b.crumbs();
            let last = crumbs.len() - 1;
            for (i, (name, prefix)) in crumbs.into_iter().enumerate() {
                if i > 0 {
                    ui.label(RichText::new("›").weak());
                }
                let crumb = ui.selectable_label(i == last, name);
                if crumb.clicked() && i != last {
                    action = Some(BrowserAction::Enter(prefix));
                }
            }
        });
        ui.horizontal(|ui| {
            let up = ui
                .add_enabled(b.parent().is_some(), egui::Button::new(t.browser_up))
                .on_hover_text(t.browser_up_tip);
            if up.clicked()
                && let Some(parent) = b.parent()
            {
                action = Some(BrowserAction::Enter(parent));
            }
            ui.separator();
            let count = t
                .browser_count
                .replace("{folders}", &b.folders.len().to_string())
                .replace("{files}", &b.files.len().to_string());
            if b.loading == Loading::Listing {
                ui.spinner();
                ui.label(t.browser_listing.replace("{count}", &count));
            } else {
                ui.label(count);
            }
        });
        ui.separator();
        rows_ui(ui, t, b, list_height, &mut action);
        // The same room whatever shows under the list (a message, the New folder field): a
        // dialog that grew would move, as it stays centred, from under the pointer.
        let below = if b.opened.picks() { 100.0 } else { 26.0 };
        let width = ui.available_width();
        ui.allocate_ui_with_layout(
            egui::vec2(width, below),
            Layout::top_down(Align::Min),
            |ui| {
                ui.set_min_height(below);
                messages_ui(ui, t, b, &mut action);
            },
        );
        ui.separator();
        ui.horizontal(|ui| {
            if b.opened.picks() {
                if ui
                    .button(RichText::new(t.browser_choose).strong())
                    .on_hover_text(t.browser_choose_tip)
                    .clicked()
                {
                    action = Some(BrowserAction::Choose);
                }
                let target = format!("oss://{}/{}", b.bucket, b.chosen());
                ui.label(RichText::new(t.browser_goes_to.replace("{target}", &target)).weak());
            }
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                if ui.button(t.close).clicked() {
                    action = Some(BrowserAction::Close);
                }
            });
        });
    });
    if modal.should_close() && action.is_none() {
        action = Some(BrowserAction::Close);
    }
    action
}

/// Under the list: why the listing stopped (with Retry) or that the folder is empty, and New
/// folder… when the browser picks.
fn messages_ui(
    ui: &mut egui::Ui,
    t: &Tr,
    b: &mut FolderBrowser,
    action: &mut Option<BrowserAction>,
) {
    if let Loading::Failed(outcome) = &b.loading {
        // Retry first: a long message beside it would push it out of the dialog.
        ui.horizontal_wrapped(|ui| {
            if ui.button(t.browser_retry).clicked() {
                *action = Some(BrowserAction::Retry);
            }
            let text = match outcome {
                TestOutcome::NoPermission => t.browser_denied.to_owned(),
                other => test_text(t, other),
            };
            ui.colored_label(ui.visuals().error_fg_color, text);
        });
    } else if b.loading == Loading::Listed && b.rows() == 0 {
        ui.label(RichText::new(t.browser_empty).weak());
    }
    if b.opened.picks() {
        ui.separator();
        new_folder_ui(ui, t, b, action);
    }
}

/// The folders, then the files; only the rows in view are laid out.
fn rows_ui(
    ui: &mut egui::Ui,
    t: &Tr,
    b: &mut FolderBrowser,
    height: f32,
    action: &mut Option<BrowserAction>,
) {
    let mut table = TableBuilder::new(ui)
        .id_salt("folder-rows")
        .striped(true)
        .sense(Sense::click())
        .cell_layout(Layout::left_to_right(Align::Center))
        .min_scrolled_height(height)
        .max_scroll_height(height)
        .auto_shrink([false, false])
        .column(Column::remainder().at_least(200.0).clip(true))
        .column(Column::exact(90.0))
        .column(Column::exact(130.0))
        .column(Column::exact(80.0));
    // Once the listing is whole, the highlighted object is brought into view (rows before it
    // may still arrive while pages come).
    if b.scroll_pending && b.loading != Loading::Listing {
        b.scroll_pending = false;
        if let Some(i) = b.highlighted_row() {
            table = table.scroll_to_row(i, Some(Align::Center));
        }
    }
    let folders = b.folders.len();
    table
        .header(20.0, |mut header| {
            for title in [t.browser_name, t.col_size, t.browser_modified, ""] {
                header.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(ROW_HEIGHT, b.rows(), |mut row| {
                let i = row.index();
                if let Some(prefix) = b.folders.get(i) {
                    row.col(|ui| {
                        let name = format!("{}/", short_name(&b.prefix, prefix));
                        if ui
                            .selectable_label(false, RichText::new(name).strong())
                            .on_hover_text(t.browser_open_tip)
                            .clicked()
                        {
                            *action = Some(BrowserAction::Enter(prefix.clone()));
                        }
                    });
                    row.col(|ui| {
                        ui.label(RichText::new(t.browser_folder).weak());
                    });
                    row.col(|_| {});
                    row.col(|_| {});
                    // The whole row is the target, not only the name.
                    if row.response().clicked() {
                        *action = Some(BrowserAction::Enter(prefix.clone()));
                    }
                    return;
                }
                let Some(file) = b.files.get(i - folders) else {
                    return;
                };
                row.set_selected(b.highlight.as_deref() == Some(file.key.as_str()));
                row.col(|ui| {
                    ui.label(short_name(&b.prefix, &file.key))
                        .on_hover_text(&file.key);
                });
                row.col(|ui| {
                    ui.label(human_bytes(file.size));
                });
                row.col(|ui| {
                    ui.label(short_date(&file.modified));
                });
                row.col(|ui| {
                    if ui
                        .small_button(t.share)
                        .on_hover_text(t.share_tip)
                        .clicked()
                    {
                        *action = Some(BrowserAction::Share(file.key.clone()));
                    }
                });
            });
        });
}

/// "New folder…", and once pressed: the name, Create and what is wrong with the name.
fn new_folder_ui(
    ui: &mut egui::Ui,
    t: &Tr,
    b: &mut FolderBrowser,
    action: &mut Option<BrowserAction>,
) {
    let prefix = b.prefix.clone();
    let Some(nf) = &mut b.new_folder else {
        if ui
            .button(t.browser_new_folder)
            .on_hover_text(t.browser_new_folder_tip)
            .clicked()
        {
            b.new_folder = Some(Default::default());
        }
        return;
    };
    ui.horizontal(|ui| {
        let label = ui.label(t.browser_folder_name);
        let field = ui
            .add(
                TextEdit::singleline(&mut nf.name)
                    .desired_width(280.0)
                    .hint_text(t.browser_folder_hint),
            )
            .labelled_by(label.id);
        if !nf.focused {
            field.request_focus();
            nf.focused = true;
        }
        if field.changed() {
            nf.problem = None;
        }
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let create = ui.add_enabled(!nf.making, egui::Button::new(t.browser_create));
        if (create.clicked() || enter) && !nf.making {
            *action = Some(BrowserAction::MakeFolder);
        }
        if nf.making {
            ui.spinner();
        }
    });
    // A name that cannot be used says so as it is typed; an empty one once Create is pressed.
    let problem = nf
        .problem
        .or_else(|| folder_key(&prefix, &nf.name).err())
        .filter(|p| *p != NameProblem::Empty || nf.problem.is_some());
    if let Some(p) = problem {
        ui.colored_label(ui.visuals().error_fg_color, name_problem_text(t, p));
    }
    if let Some(outcome) = &nf.failed {
        ui.colored_label(ui.visuals().error_fg_color, test_text(t, outcome));
    }
}

/// Why a folder name cannot be used, in plain words.
pub fn name_problem_text(t: &Tr, p: NameProblem) -> &'static str {
    match p {
        NameProblem::Empty => t.folder_name_empty,
        NameProblem::Slash => t.folder_name_slash,
        NameProblem::Dots => t.folder_name_dots,
        NameProblem::TooLong => t.folder_name_long,
    }
}
