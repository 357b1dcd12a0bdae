//! Painting the connections: the switcher (in the menu bar and over the settings form), Add
//! and Remove beside it on the settings screen, and the question before a removal. Only paints
//! and returns what the user picked; the window switches, saves and forgets.

use super::i18n::Tr;
use crate::engine::AccountId;

/// What the user did in the connections bar over the settings form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarAction {
    /// Edit (and use) the connection at this index of the list.
    Switch(usize),
    Add,
    Remove,
}

/// A combo box with the connections' names, the active one shown; the index picked.
pub fn switcher_ui(
    ui: &mut egui::Ui,
    t: &Tr,
    connections: &[(AccountId, String)],
    active: &str,
) -> Option<usize> {
    let mut picked = None;
    let shown = connections
        .iter()
        .find(|(a, _)| a == active)
        .map(|(_, n)| n.as_str())
        .unwrap_or_default();
    let label = ui.label(t.connection).on_hover_text(t.connection_tip);
    egui::ComboBox::from_id_salt("connection")
        .selected_text(shown)
        .show_ui(ui, |ui| {
            for (i, (account, name)) in connections.iter().enumerate() {
                if ui.selectable_label(account == active, name).clicked() && account != active {
                    picked = Some(i);
                }
            }
        })
        .response
        .labelled_by(label.id)
        .on_hover_text(t.connection_tip);
    picked
}

/// The bar over the settings form: which connection is edited, Add and Remove. `adding` is
/// set while a new connection is edited (it is not in the list yet).
pub fn bar_ui(
    ui: &mut egui::Ui,
    t: &Tr,
    connections: &[(AccountId, String)],
    active: &str,
    adding: bool,
) -> Option<BarAction> {
    let mut action = None;
    ui.horizontal(|ui| {
        if connections.len() > 1 && !adding {
            if let Some(i) = switcher_ui(ui, t, connections, active) {
                action = Some(BarAction::Switch(i));
            }
            if ui
                .button(t.remove_connection)
                .on_hover_text(t.remove_connection_tip)
                .clicked()
            {
                action = Some(BarAction::Remove);
            }
        }
        if !adding
            && ui
                .button(t.add_connection)
                .on_hover_text(t.add_connection_tip)
                .clicked()
        {
            action = Some(BarAction::Add);
        }
    });
    action
}

/// Asked before a connection is removed: `shared` when its secret stays (another connection
/// uses the same AccessKey). `Some(true)` removes it.
pub fn confirm_remove_ui(ui: &egui::Ui, t: &Tr, name: &str, shared: bool) -> Option<bool> {
    let body = if shared {
        t.remove_connection_shared
    } else {
        t.remove_connection_body
    };
    super::modals::question_ui(
        ui.ctx(),
        "remove-connection",
        &t.remove_connection_title.replace("{name}", name),
        &body.replace("{name}", name),
        t.remove,
        t.cancel,
    )
}
