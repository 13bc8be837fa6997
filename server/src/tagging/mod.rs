//! Tagging stories with Kansrijke Start activities, phases, themes and target groups.
//!
//! - [`taxonomy`]: the data (embedded from `fixtures/taxonomy/`), merged with a workspace's own
//!   activities;
//! - [`dutch`]: normalisation, tokens and stems;
//! - [`tagger`]: the rules: explainable, deterministic suggestions with scores and evidence;
//! - [`features`] and [`model`]: the learned model (logistic regression per activity over stems,
//!   word pairs and the rules' findings), a cold start from the tuning corpus and one per
//!   workspace from its people's decisions; [`model::Suggester`] combines it with the rules;
//! - [`plan`]: the merge rule (what the tagger writes, never over a person's decision);
//! - [`worker`]: re-tags stories after they change and writes suggestions into the documents;
//! - [`eval`]: precision / recall / F1 on a labelled set (`vertel-server tag --evaluate`).
//!
//! `docs/tagger.md` explains how it works and where it fails.

pub mod cli;
pub mod dutch;
pub mod eval;
pub mod features;
pub mod model;
pub mod plan;
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

/// The labelled corpus the cold-start model is fitted on (`fixtures/eval/tune.toml`).
pub const TUNING_CORPUS: &str = include_str!("../../../fixtures/eval/tune.toml");

/// The tuning corpus, parsed once.
pub fn tuning_corpus() -> Result<&'static [eval::LabelledStory], String> {
    static CORPUS: OnceLock<Result<Vec<eval::LabelledStory>, String>> = OnceLock::new();
    CORPUS
        .get_or_init(|| eval::parse_set(TUNING_CORPUS))
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

/// The cold-start model as fitted at build time (`vertel-server tag --fit-cold-start`), embedded.
pub const STORED_COLD_START: &str = include_str!("../../../fixtures/eval/cold-start-model.json");

/// The fingerprint a cold start fitted now would have: the tuning corpus, the taxonomy, the
/// settings.
pub fn cold_start_fingerprint() -> String {
    model::fingerprint(
        TUNING_CORPUS,
        &taxonomy::Taxonomy::embedded_sources(),
        &model::Settings::default(),
    )
}

/// Fit the cold start now (deterministic; tens of seconds in a debug build).
pub fn fit_cold_start() -> Result<model::Model, String> {
    let rules = tagger::Tagger::new(default_taxonomy()?);
    Ok(model::Model::cold_start(
        &rules,
        tuning_corpus()?,
        &model::Settings::default(),
    ))
}

/// The cold-start model over the default taxonomy: the embedded one, or, when that is stale (the
/// corpus, taxonomy or settings changed since it was fitted), one fitted now, once per process.
pub fn cold_start_model() -> Result<std::sync::Arc<model::Model>, String> {
    static MODEL: OnceLock<Result<std::sync::Arc<model::Model>, String>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let fingerprint = cold_start_fingerprint();
            let stored = serde_json::from_str::<model::StoredModel>(STORED_COLD_START)
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    if s.trained_on == fingerprint {
                        model::Model::from_stored(&s)
                    } else {
                        Err("stale: run vertel-server tag --fit-cold-start".into())
                    }
                });
            match stored {
                Ok(m) => Ok(std::sync::Arc::new(m)),
                Err(e) => {
                    tracing::warn!(error = %e, "embedded cold-start model not used; fitting it now");
                    fit_cold_start().map(std::sync::Arc::new)
                }
            }
        })
        .as_ref()
        .map(Clone::clone)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded cold start was fitted from the corpus, taxonomy and settings this build has;
    /// after changing any of them, run `vertel-server tag --fit-cold-start
    /// fixtures/eval/cold-start-model.json`.
    #[test]
    fn the_embedded_cold_start_is_current() {
        let stored: model::StoredModel =
            serde_json::from_str(STORED_COLD_START).expect("fixtures/eval/cold-start-model.json");
        assert_eq!(stored.trained_on, cold_start_fingerprint());
        let m = model::Model::from_stored(&stored).expect("loads");
        let rules = tagger::Tagger::new(default_taxonomy().expect("taxonomy"));
        assert_eq!(
            m.codes().collect::<Vec<_>>(),
            model::activity_codes(&rules),
            "a model for every activity"
        );
    }
}
