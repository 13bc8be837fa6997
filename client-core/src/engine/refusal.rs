//! When the server refuses a document's changes: the engine marks it refused and holds it back
//! ([`Engine::refusal`]), and the user either undoes what was refused ([`Engine::undo_refused`])
//! or keeps a copy as a new story ([`Engine::keep_copy`]). The link and the sync protocol live in
//! `engine.rs`; the ownership rules themselves in `story::ownership`, not here.

use super::{DocEntry, Effects, Engine, EngineError, Event, fresh};
use crate::story::{self, StoryError, ownership};
use crate::wire::{DocumentId, Refusal};
use automerge::Automerge;
use automerge::sync;

/// A story edit the engine made itself failed. Mapped like the edits of [`Engine::change`] (no
/// variant of its own: it would make every `Result` of the engine larger).
fn story_error(e: StoryError) -> EngineError {
    match e {
        StoryError::Automerge(e) => EngineError::Automerge(e),
        other => EngineError::Protocol(other.to_string()),
    }
}

impl Engine {
    /// Undo what the server refused: the owned fields (review, comments, tag decisions,
    /// transcript approval, transcription status) go back to what they were in the server's last
    /// confirmed version, as one local change; everything else the user wrote stays. The document
    /// is then pushed again from a fresh sync state (the server forgot what it refused), and the
    /// server takes it when the refusal was about owned fields. Does nothing for a document that
    /// is not marked refused.
    pub fn undo_refused(&mut self, id: DocumentId, now_ms: i64) -> Result<Effects, EngineError> {
        let entry = self
            .docs
            .get_mut(&id)
            .filter(|e| !e.wanted)
            .ok_or(EngineError::NoSuchDocument(id))?;
        if entry.refused.is_none() {
            return Ok(Effects::default());
        }
        // Back to the newest version both sides have. What the server wrote since (changes this
        // device has not received) is concurrent to the undo and not touched by it.
        let heads = entry.common_heads.clone();
        let wrote = ownership::revert_owned(&mut entry.doc, &heads, now_ms).map_err(story_error)?;
        entry.refused = None;
        entry.hold = false;
        entry.sync = sync::State::new();
        if wrote {
            return Ok(self.after_local_change(id));
        }
        // Nothing owned to put back (a refusal for size, say): try again as it is.
        let mut fx = Effects::default();
        self.sync_doc(id, false, &mut fx);
        Ok(fx)
    }

    /// Keep a copy of a story as a new document `new_id` (the caller draws it): the story's
    /// content without any field that belongs to someone else, so it syncs as a new story of this
    /// member. The original stays as it is (a refused one stays refused until undone).
    pub fn keep_copy(
        &mut self,
        id: DocumentId,
        new_id: DocumentId,
        now_ms: i64,
    ) -> Result<Effects, EngineError> {
        if self.docs.contains_key(&new_id) {
            return Err(EngineError::Exists(new_id));
        }
        let source = self.document(&id).ok_or(EngineError::NoSuchDocument(id))?;
        let mut doc = fresh(&self.actor);
        write_copy(source, &mut doc, now_ms).map_err(story_error)?;
        self.docs.insert(new_id, DocEntry::new(doc, Vec::new()));
        Ok(self.after_local_change(new_id))
    }

    pub(super) fn receive_refusal(&mut self, id: DocumentId, refusal: Refusal, fx: &mut Effects) {
        let Some(entry) = self.docs.get_mut(&id) else {
            return;
        };
        if entry.wanted {
            // We asked for it and sent nothing of our own: as good as unavailable.
            self.docs.remove(&id);
            fx.events.push(Event::Unavailable { id });
            return;
        }
        if entry.confirmed {
            // The server holds every local change: nothing of ours is outstanding to refuse.
            return;
        }
        // The server discarded what it refused and forgot what it knew of our side; so do we,
        // so the next push starts from what the server really has.
        entry.sync = sync::State::new();
        entry.hold = true;
        entry.refused = Some(refusal.clone());
        fx.events.push(Event::Refused {
            id,
            code: refusal.code,
            message: refusal.message,
        });
    }
}

/// Write a copy of the story (or persona) `source` into the empty `doc`, as new changes: the
/// content, none of the owned fields ([`ownership`]). Copied: the form's fields, the text and
/// sections, consent, attachments (their bytes are named by hash; the transcription status is the
/// server's), a transcript a person wrote or corrected (an automatic one the server makes again),
/// and the activity tags the recorder chose. Not copied: the review, comments, tags of the tagger
/// or of coordinators, and keys this version does not know.
fn write_copy(source: &Automerge, doc: &mut Automerge, now_ms: i64) -> Result<(), StoryError> {
    if story::doc_type(source) == Some(story::DocType::Persona) {
        return story::create_persona(doc, &story::Persona::read(source), now_ms);
    }
    let s = story::Story::read(source);
    let details = story::StoryDetails::read(source);
    // A copy is a new draft: it is handed in (with its consent) like any other.
    story::create_draft(
        doc,
        &story::NewStory {
            kind: s.kind,
            title: s.title.clone(),
            body: s.body.clone(),
            language: s.language.clone().unwrap_or_else(|| "nl".into()),
            captured_at: s.captured_at.unwrap_or(now_ms),
            place_type: s.place_type,
            municipality: s.municipality.clone(),
            told_by: s.told_by.clone(),
            recorded_by: s.recorded_by.clone(),
            consent: s.consent.clone(),
            persona: s.persona.clone(),
        },
    )?;
    let transcript = s
        .transcript
        .as_ref()
        .filter(|t| {
            matches!(
                t.state,
                Some(story::TranscriptState::Corrected | story::TranscriptState::Approved)
            )
        })
        .map(|t| t.text.clone());
    let patch = story::StoryPatch {
        phase: details.phase.clone(),
        target_group: details.target_group.clone(),
        sections: details.sections.clone(),
        transcript,
        consent_clip: details.consent_clip.clone(),
        ..Default::default()
    };
    if patch != story::StoryPatch::default() {
        story::apply_patch(doc, &patch, now_ms)?;
    }
    for a in &s.attachments {
        story::add_attachment(doc, a, now_ms)?;
    }
    // The recorder's own choices are tags by the recorder's name; a suggestion, the tagger's tags
    // and a coordinator's decisions are not theirs to copy.
    let recorder = s.recorded_by.as_ref().map(|p| p.name.as_str());
    for tag in &s.tags {
        if tag.state != story::TagState::Suggested
            && tag.by != ownership::TAGGER
            && recorder.is_some_and(|r| !r.is_empty() && r == tag.by)
        {
            story::set_tag(doc, tag)?;
        }
    }
    Ok(())
}
