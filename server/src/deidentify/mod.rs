//! The server's use of the de-identifier (`client_core::deidentify`, `docs/deidentify.md`): one
//! engine per process, with what the operator keeps visible (`--deidentify-keep`: partner
//! organisations, the region's municipalities), and the `vertel-server deidentify` command.
//!
//! The workspace's outputs call it through `StoryRow::output_text` and `StoryRow::output_quote`
//! (`workspace/mod.rs`); de-identified text is never logged.

pub mod cli;

use client_core::deidentify::{Deidentifier, Span};
use std::sync::OnceLock;

static ENGINE: OnceLock<Deidentifier> = OnceLock::new();

/// Partner organisations named in stories for what they did: never masked.
pub const PARTNERS: &[&str] = &[
    "GGD",
    "GGD Haaglanden",
    "GGD Rotterdam-Rijnmond",
    "CJG",
    "JGZ",
    "Veilig Thuis",
    "Humanitas",
    "Home-Start",
    "VoorleesExpress",
    "Voedselbank",
    "Stevig Ouderschap",
    "Moeders voor Moeders",
    "Nu Niet Zwanger",
    "Centering Pregnancy",
    "Kansrijke Start",
    "Buurtgezinnen",
    "Babyspullenbank",
    "Jeugdfonds Sport",
];

/// Set what this process keeps visible besides [`PARTNERS`]. Only the first call counts (at
/// start-up, before any output); later calls return `false`.
pub fn configure(keep: &[String]) -> bool {
    ENGINE
        .set(Deidentifier::new().keep(PARTNERS).keep(keep))
        .is_ok()
}

/// The process's de-identifier.
pub fn engine() -> &'static Deidentifier {
    ENGINE.get_or_init(|| Deidentifier::new().keep(PARTNERS))
}

/// The spans in `text`, keeping `extra` (e.g. the story's own municipality) visible.
pub fn spans(text: &str, extra: &[&str]) -> Vec<Span> {
    engine().find_keeping(text, extra)
}
