//! Painting the top of the window: the menu bar, and under it the messages and the engine's
//! problems until they are dismissed. Only paints and returns what the user asked for.

use egui::{Color32, RichText};

use super::background::Pick;
use super::connections_ui;
use super::i18n::Tr;
use super::queue_ui;
use crate::engine::AccountId;
use crate::text::Text;

/// What the user picked in the menu bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MenuAction {
    Pick(Pick),
    OpenLogFolder,
    Quit,
    Settings,
    /// Make the connection at this index of the switcher's list the active one.
    Switch(usize),
}

/// A message at the top of the window until dismissed.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub text: String,
    pub is_error: bool,
}

/// Which line of the messages strip was dismissed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dismiss {
    /// The message at this index.
    Message(usize),
    /// The engine's problems, all together.
    Problems,
}

/// What the menu bar shows: the Add entries work once setup is done, the Settings button is
/// on the queue screen, the badge in the demo.
#[derive(Clone, Copy, Debug)]
pub struct MenuState {
    pub can_add: bool,
    pub settings_button: bool,
    pub demo: bool,
}

/// The menu bar; with two connections or more, the queue screen's bar has their switcher.
pub fn menu_bar_ui(
    ui: &mut egui::Ui,
    t: &Tr,
    state: MenuState,
    connections: &[(AccountId, String)],
    active: &str,
) -> Option<MenuAction> {
    let mut action = None;
    egui::Panel::top("menu").show(ui, |ui| {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button(t.menu_file, |ui| {
                if ui
                    .add_enabled(
                        state.can_add,
                        egui::Button::new(t.add_files)
                            .shortcut_text(ui.ctx().format_shortcut(&queue_ui::ADD_FILES_SHORTCUT)),
                    )
                    .clicked()
                {
                    action = Some(MenuAction::Pick(Pick::Files));
                }
                if ui
                    .add_enabled(state.can_add, egui::Button::new(t.add_folder))
                    .clicked()
                {
                    action = Some(MenuAction::Pick(Pick::Folder));
                }
                ui.separator();
                if ui.button(t.open_log_folder).clicked() {
                    action = Some(MenuAction::OpenLogFolder);
                }
                ui.separator();
                if ui.button(t.quit).clicked() {
                    action = Some(MenuAction::Quit);
                }
            });
            if state.settings_button && ui.button(t.settings).clicked() {
                action = Some(MenuAction::Settings);
            }
            if state.settings_button
                && connections.len() > 1
                && let Some(i) = connections_ui::switcher_ui(ui, t, connections, active)
            {
                action = Some(MenuAction::Switch(i));
            }
            if state.demo {
                ui.separator();
                ui.label(RichText::new(t.demo_badge).color(Color32::from_rgb(230, 150, 30)))
                    .on_hover_text(t.demo_badge_tip);
            }
        });
    });
    action
}

/// The messages and the engine's problems, each with a button that dismisses it; nothing when
/// there are none.
pub fn messages_ui(
    ui: &mut egui::Ui,
    t: &Tr,
    messages: &[Message],
    problems: &[Text],
) -> Option<Dismiss> {
    if messages.is_empty() && problems.is_empty() {
        return None;
    }
    let mut dismiss = None;
    egui::Panel::top("messages").show(ui, |ui| {
        for (i, m) in messages.iter().enumerate() {
            ui.horizontal(|ui| {
                let color = if m.is_error {
                    ui.visuals().error_fg_color
                } else {
                    ui.visuals().text_color()
                };
                if ui.small_button("×").on_hover_text(t.dismiss).clicked() {
                    dismiss = Some(Dismiss::Message(i));
                }
                ui.label(RichText::new(&m.text).color(color));
            });
        }
        for p in problems {
            ui.horizontal(|ui| {
                if ui.small_button("×").on_hover_text(t.dismiss).clicked() {
                    dismiss = Some(Dismiss::Problems);
                }
                ui.colored_label(ui.visuals().error_fg_color, p.get(t.lang()));
            });
        }
    });
    dismiss
}
