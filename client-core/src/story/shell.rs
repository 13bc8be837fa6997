//! The keys the shells add beside the core story (`docs/schema.md`): phase, target group, impact
//! sections, a person's transcript correction, the spoken-consent clip; their reader
//! ([`StoryDetails`]) and the shell's whole-form edit ([`apply_patch`], which writes the core form
//! keys through `write.rs`'s one writer). Like everything in `story/`, each edit touches only its
//! own keys. What the server writes (transcription, machine transcripts) is in `media.rs`.

use super::read::{get_bool, get_i64, get_obj, get_str, list_maps};
use super::schema::*;
use super::write::{
    FormFields, about_a_person, change, ensure_map, put_or_delete, text_obj, write_form,
};
use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ObjType, ROOT, ReadDoc};
use serde::{Deserialize, Serialize};

/// The guided prompts of an impact narrative, in the order the shell asks them. Their answers are
/// stored as `sections` of the story, keyed by these codes.
pub const IMPACT_SECTIONS: &[&str] = &["what-we-did", "what-changed", "why-it-matters", "evidence"];

/// What the server reports about transcribing one audio attachment (`docs/media.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptionStatus {
    /// The attachment's content hash.
    pub sha256: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// 0–100.
    pub progress: Option<i64>,
    pub error: Option<String>,
    /// Why the recording cannot be transcribed, as a code shells put in the person's language
    /// (`too-long`, `no-sound`, `unsupported`, `damaged`; with status `done`, `no-speech`: the
    /// recording holds no speech and the transcript is empty); `error` says it in English.
    pub reason: Option<String>,
}

/// The story fields the shells add beside [`Story`]: read with [`StoryDetails::read`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoryDetails {
    /// Phase of the first 1000 days the story is about (a code, e.g. `zwangerschap`).
    pub phase: Option<String>,
    /// Target group the story is about (a code, e.g. `nieuwkomers`).
    pub target_group: Option<String>,
    /// Impact narrative sections by code ([`IMPACT_SECTIONS`]); other codes are kept as well.
    pub sections: std::collections::BTreeMap<String, String>,
    /// Transcription progress per audio attachment, as the server wrote it.
    pub transcriptions: Vec<TranscriptionStatus>,
    /// The sha256 of the audio attachment in which the teller gave consent aloud (`consent.clip`).
    pub consent_clip: Option<String>,
}

impl StoryDetails {
    pub fn read<R: ReadDoc>(doc: &R) -> StoryDetails {
        let sections = get_obj(doc, &ROOT, "sections", ObjType::Map)
            .map(|m| {
                doc.keys(&m)
                    .filter_map(|k| get_str(doc, &m, &k).map(|v| (k, v)))
                    .collect()
            })
            .unwrap_or_default();
        let transcriptions = list_maps(doc, "attachments")
            .into_iter()
            .filter_map(|a| {
                let t = get_obj(doc, &a, "transcription", ObjType::Map)?;
                Some(TranscriptionStatus {
                    sha256: get_str(doc, &a, "sha256")?,
                    status: get_str(doc, &t, "status")?,
                    progress: get_i64(doc, &t, "progress"),
                    error: get_str(doc, &t, "error"),
                    reason: get_str(doc, &t, "reason"),
                })
            })
            .collect();
        StoryDetails {
            phase: get_str(doc, &ROOT, "phase"),
            target_group: get_str(doc, &ROOT, "targetGroup"),
            sections,
            transcriptions,
            consent_clip: get_obj(doc, &ROOT, "consent", ObjType::Map)
                .and_then(|c| get_str(doc, &c, "clip")),
        }
    }
}

/// An edit of a story from a shell's form: every field that is `Some` (or, for `sections`,
/// present) is written, everything else is left alone. Applied as one change by [`apply_patch`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoryPatch {
    pub kind: Option<StoryKind>,
    pub title: Option<String>,
    /// The whole new body; turned into splices so concurrent edits survive.
    pub body: Option<String>,
    pub language: Option<String>,
    pub place_type: Option<PlaceType>,
    /// An empty string removes the municipality.
    pub municipality: Option<String>,
    pub told_by: Option<Person>,
    pub consent: Option<Consent>,
    /// A persona's document id; an empty string unlinks the persona.
    pub persona: Option<String>,
    /// An empty string removes the phase.
    pub phase: Option<String>,
    /// An empty string removes the target group.
    pub target_group: Option<String>,
    /// Section code → whole new text.
    pub sections: std::collections::BTreeMap<String, String>,
    /// A person's correction of the transcript: sets its text and the state `corrected`.
    pub transcript: Option<String>,
    /// The sha256 of the attachment that holds the spoken consent (`consent.clip`).
    pub consent_clip: Option<String>,
}

pub(crate) fn write_section(
    tx: &mut Transaction<'_>,
    code: &str,
    text: &str,
) -> Result<(), StoryError> {
    let sections = ensure_map(tx, &ROOT, "sections")?;
    let obj = text_obj(tx, &sections, code)?;
    tx.update_text(&obj, text)?;
    Ok(())
}

pub(crate) fn write_transcript(
    tx: &mut Transaction<'_>,
    text: &str,
    state: TranscriptState,
) -> Result<(), StoryError> {
    let t = ensure_map(tx, &ROOT, "transcript")?;
    tx.put(&t, "text", text)?;
    tx.put(&t, "state", state.code())?;
    Ok(())
}

/// Write one section of a story (an impact narrative's answer to a guided prompt).
pub fn set_section(
    doc: &mut Automerge,
    code: &str,
    text: &str,
    now_ms: i64,
) -> Result<(), StoryError> {
    change(doc, now_ms, "edit section", |tx| {
        write_section(tx, code, text)
    })
}

/// Set the transcript's text with a person's state (`corrected` or `approved`). The server never
/// overwrites a transcript in either state.
pub fn correct_transcript(
    doc: &mut Automerge,
    text: &str,
    state: TranscriptState,
    now_ms: i64,
) -> Result<(), StoryError> {
    change(doc, now_ms, "edit transcript", |tx| {
        write_transcript(tx, text, state)
    })
}

/// Apply a [`StoryPatch`] as one change. Refused as a whole (nothing is written) when the result is
/// a story about a person without given consent that is no longer a draft.
pub fn apply_patch(doc: &mut Automerge, p: &StoryPatch, now_ms: i64) -> Result<(), StoryError> {
    change(doc, now_ms, "edit story", |tx| {
        write_form(
            tx,
            &FormFields {
                kind: p.kind,
                title: p.title.as_deref(),
                body: p.body.as_deref(),
                language: p.language.as_deref(),
                place_type: p.place_type,
                municipality: p.municipality.as_deref(),
                told_by: p.told_by.as_ref(),
                consent: p.consent.as_ref(),
                persona: p.persona.as_deref(),
            },
        )?;
        if let Some(phase) = &p.phase {
            put_or_delete(tx, "phase", phase)?;
        }
        if let Some(group) = &p.target_group {
            put_or_delete(tx, "targetGroup", group)?;
        }
        for (code, text) in &p.sections {
            write_section(tx, code, text)?;
        }
        if let Some(text) = &p.transcript {
            write_transcript(tx, text, TranscriptState::Corrected)?;
        }
        if let Some(clip) = &p.consent_clip {
            let obj = ensure_map(tx, &ROOT, "consent")?;
            tx.put(&obj, "clip", clip.as_str())?;
        }
        let kind = get_str(tx, &ROOT, "kind").and_then(|k| StoryKind::from_code(&k));
        let consented = get_obj(tx, &ROOT, "consent", ObjType::Map)
            .and_then(|c| get_bool(tx, &c, "given"))
            .unwrap_or(false);
        let draft = get_str(tx, &ROOT, "review").as_deref() == Some(ReviewState::Draft.code());
        if about_a_person(kind) && !consented && !draft {
            return Err(StoryError::ConsentRequired);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests;
