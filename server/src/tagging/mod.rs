//! Tagging stories with Kansrijke Start activities, phases, themes and target groups.
//!
//! - [`taxonomy`]: the data (embedded from `fixtures/taxonomy/`), merged with a workspace's own
//!   activities;
//! - [`dutch`]: normalisation, tokens and stems;
//! - [`tagger`]: explainable, deterministic suggestions with scores and evidence;
//! - [`worker`]: re-tags stories after they change and writes suggestions into the documents;
//! - [`eval`]: precision / recall / F1 on a labelled set (`vertel-server tag --evaluate`).
//!
//! `docs/tagger.md` explains how it works and where it fails.

pub mod cli;
pub mod dutch;
pub mod eval;
pub mod tagger;
pub mod taxonomy;
pub mod worker;

use client_core::story::Story;
use std::sync::OnceLock;

/// The `by` of every tag the tagger writes. Any other `by` is a person.
pub const TAGGER_ID: &str = "vertel-tagger";

/// The embedded default taxonomy, parsed once.
pub fn default_taxonomy() -> Result<&'static taxonomy::Taxonomy, String> {
    static DEFAULT: OnceLock<Result<taxonomy::Taxonomy, String>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| taxonomy::Taxonomy::default_embedded().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// The text the tagger reads from a story: title, body and transcript.
pub fn story_text(s: &Story) -> String {
    let mut text = String::with_capacity(s.title.len() + s.body.len() + 2);
    text.push_str(&s.title);
    text.push_str(".\n");
    text.push_str(&s.body);
    if let Some(t) = &s.transcript
        && !t.text.is_empty()
    {
        text.push('\n');
        text.push_str(&t.text);
    }
    text
}
