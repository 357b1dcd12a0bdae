//! The desktop app: the egui window and what it needs from the system.

pub mod fonts;
pub mod icon;
