//! The shell's side of client-core in plain Rust: the engine plus the story operations the web app
//! needs, with JSON in and out. No wasm-bindgen here, so it is unit-tested natively; `lib.rs` only
//! converts between these types and JavaScript values.

use automerge::{ActorId, Automerge, ReadDoc};
use client_core::engine::{Effects, Engine, EngineError, Role};
use client_core::store::{StoreError, decode_stored};
use client_core::story::{
    self, Attachment, Comment, DocType, NewStory, Persona, ReviewState, Story, StoryDetails,
    StoryPatch, Tag, TagState,
};
use client_core::wire::{DocumentId, InvalidDocumentId, PeerMetadata, Refusal};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Id(#[from] InvalidDocumentId),
    #[error("bad input: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown tag state {0:?}")]
    TagState(String),
    #[error("a document id needs 16 random bytes, got {0}")]
    IdBytes(usize),
    #[error("an actor id needs 16 random bytes, got {0}")]
    ActorBytes(usize),
    #[error("a reply needs text, or must resubmit the story")]
    EmptyReply,
    #[error("a comment has at most {MAX_COMMENT_CHARS} characters")]
    CommentTooLong,
    #[error("only a story the coordinator sent back can be resubmitted")]
    NotReturned,
}

/// The longest comment, in characters: the same limit as the coordinators' workspace.
pub const MAX_COMMENT_CHARS: usize = 4000;

/// The field member's answer to a coordinator's review, as the story screen sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReplyInput {
    /// A fresh id for the comment (the app draws it at random).
    pub comment_id: String,
    /// The member's name, shown beside the comment.
    pub author: String,
    /// The reply; may be empty when the story is only resubmitted.
    pub text: String,
    /// Set the review state back to `submitted` (only for a story that was sent back).
    pub resubmit: bool,
}

/// A new story as the capture form sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StoryInput {
    #[serde(flatten)]
    pub story: NewStory,
    pub phase: Option<String>,
    pub target_group: Option<String>,
    pub sections: BTreeMap<String, String>,
    pub attachments: Vec<Attachment>,
    /// Activity codes the recorder chose: stored as confirmed tags.
    pub activities: Vec<String>,
}

/// Everything the app shows about one document.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub id: String,
    /// `story`, `persona`, or absent while a wanted document has not arrived.
    #[serde(rename = "type")]
    pub doc_type: Option<DocType>,
    /// The server holds every local change.
    pub confirmed: bool,
    /// The document's heads (hex): the list index compares them with the changes feed's.
    pub heads: Vec<String>,
    /// The server would not take this document's changes (`{code, message}`): the app shows it,
    /// never as synced, and offers undo or a copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub story: Option<Story>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<StoryDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persona: Option<Persona>,
}

pub struct Shell {
    engine: Engine,
}

pub fn parse_id(id: &str) -> Result<DocumentId, ShellError> {
    Ok(id.parse()?)
}

/// A document id from 16 random bytes the caller drew (`crypto.getRandomValues`).
pub fn new_document_id(bytes: &[u8]) -> Result<String, ShellError> {
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| ShellError::IdBytes(bytes.len()))?;
    Ok(DocumentId::from_bytes(bytes).to_string())
}

/// Lower-case hex SHA-256, as attachments and uploads name content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

impl Shell {
    /// A shell whose engine writes its changes as the actor `actor`: 16 random bytes the caller
    /// drew (`crypto.getRandomValues`), fresh for every start (`Engine::new`).
    pub fn new(peer_id: String, actor: &[u8]) -> Result<Shell, ShellError> {
        let actor: [u8; 16] = actor
            .try_into()
            .map_err(|_| ShellError::ActorBytes(actor.len()))?;
        Ok(Shell {
            engine: Engine::new(
                peer_id,
                ActorId::from(actor),
                Role::Initiating,
                PeerMetadata {
                    storage_id: None,
                    is_ephemeral: false,
                },
            ),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Add a document from the local store: `stored` is `client_core::store::encode_stored`'s
    /// bytes, exactly what a save effect handed the store.
    pub fn load(&mut self, id: &str, stored: &[u8]) -> Result<(), ShellError> {
        let id = parse_id(id)?;
        let doc = decode_stored(stored)?;
        self.engine.load(id, &doc)?;
        Ok(())
    }

    /// Add a document from the local store while running (opened, edited, or named by the
    /// changes feed): it syncs at once when the link is up (`Engine::load_and_sync`).
    pub fn load_and_sync(&mut self, id: &str, stored: &[u8]) -> Result<Effects, ShellError> {
        let id = parse_id(id)?;
        let doc = decode_stored(stored)?;
        Ok(self.engine.load_and_sync(id, &doc)?)
    }

    pub fn create_story(&mut self, id: &str, input: &str) -> Result<Effects, ShellError> {
        let id = parse_id(id)?;
        let input: StoryInput = serde_json::from_str(input)?;
        let (_, fx) = self
            .engine
            .create(id, |doc| write_new_story(doc, &input, false))?;
        Ok(fx)
    }

    /// Create a draft from the capture screen's first tap: stored at once, consent asked later
    /// (`story::create_draft`).
    pub fn create_draft(&mut self, id: &str, input: &str) -> Result<Effects, ShellError> {
        let id = parse_id(id)?;
        let input: StoryInput = serde_json::from_str(input)?;
        let (_, fx) = self
            .engine
            .create(id, |doc| write_new_story(doc, &input, true))?;
        Ok(fx)
    }

    /// "Indienen": the draft becomes `submitted` (`story::hand_in`; a story about a person needs
    /// consent).
    pub fn hand_in(&mut self, id: &str, now_ms: i64) -> Result<Effects, ShellError> {
        let id = parse_id(id)?;
        let (_, fx) = self.engine.change(id, |doc| story::hand_in(doc, now_ms))?;
        Ok(fx)
    }

    pub fn create_persona(
        &mut self,
        id: &str,
        input: &str,
        now_ms: i64,
    ) -> Result<Effects, ShellError> {
        let id = parse_id(id)?;
        let persona: Persona = serde_json::from_str(input)?;
        let (_, fx) = self
            .engine
            .create(id, |doc| story::create_persona(doc, &persona, now_ms))?;
        Ok(fx)
    }

    /// Edit a story with a [`StoryPatch`] (JSON) as one change.
    pub fn edit_story(
        &mut self,
        id: &str,
        patch: &str,
        now_ms: i64,
    ) -> Result<Effects, ShellError> {
        let id = parse_id(id)?;
        let patch: StoryPatch = serde_json::from_str(patch)?;
        let (_, fx) = self
            .engine
            .change(id, |doc| story::apply_patch(doc, &patch, now_ms))?;
        Ok(fx)
    }

    /// Confirm, reject or suggest an activity tag, keeping the suggestion's score and evidence.
    pub fn set_tag(
        &mut self,
        id: &str,
        code: &str,
        state: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Effects, ShellError> {
        let id = parse_id(id)?;
        let state = TagState::from_code(state).ok_or_else(|| ShellError::TagState(state.into()))?;
        let (_, fx) = self.engine.change(id, |doc| {
            let old = Story::read(doc).tags.into_iter().find(|t| t.code == code);
            let tag = Tag {
                code: code.to_string(),
                state,
                by: by.to_string(),
                at: now_ms,
                score: old.as_ref().and_then(|t| t.score),
                evidence: old.map(|t| t.evidence).unwrap_or_default(),
            };
            story::set_tag(doc, &tag)
        })?;
        Ok(fx)
    }

    pub fn add_attachment(
        &mut self,
        id: &str,
        attachment: &str,
        now_ms: i64,
    ) -> Result<Effects, ShellError> {
        let id = parse_id(id)?;
        let a: Attachment = serde_json::from_str(attachment)?;
        let (_, fx) = self
            .engine
            .change(id, |doc| story::add_attachment(doc, &a, now_ms))?;
        Ok(fx)
    }

    /// Answer a coordinator's review: add the reply as a comment and, with `resubmit`, set the
    /// review state of a returned story back to `submitted` (by the member), in one edit.
    pub fn reply(&mut self, id: &str, input: &str, now_ms: i64) -> Result<Effects, ShellError> {
        let id = parse_id(id)?;
        let input: ReplyInput = serde_json::from_str(input)?;
        let text = input.text.trim();
        if text.is_empty() && !input.resubmit {
            return Err(ShellError::EmptyReply);
        }
        if text.chars().count() > MAX_COMMENT_CHARS {
            return Err(ShellError::CommentTooLong);
        }
        let returned = self
            .engine
            .document(&id)
            .is_some_and(|doc| Story::read(doc).review == Some(ReviewState::Returned));
        if input.resubmit && !returned {
            return Err(ShellError::NotReturned);
        }
        let (_, fx) = self.engine.change(id, |doc| {
            if !text.is_empty() {
                story::add_comment(
                    doc,
                    &Comment {
                        id: input.comment_id.clone(),
                        author: input.author.clone(),
                        at: now_ms,
                        text: text.to_string(),
                    },
                )?;
            }
            // Only the state: who reviewed and when are the coordinator's fields, and the server
            // refuses a member's push that writes them (client_core::story::ownership).
            if input.resubmit {
                story::set_field(doc, "review", ReviewState::Submitted.code(), now_ms)?;
            }
            Ok::<_, story::StoryError>(())
        })?;
        Ok(fx)
    }

    /// Undo the change the server refused (see `Engine::undo_refused`): the fields that belong to
    /// someone else go back to the server's version, the rest stays, and the story syncs again.
    pub fn undo_refused(&mut self, id: &str, now_ms: i64) -> Result<Effects, ShellError> {
        Ok(self.engine.undo_refused(parse_id(id)?, now_ms)?)
    }

    /// Keep a copy of a story as the new story `new_id` (see `Engine::keep_copy`).
    pub fn keep_copy(
        &mut self,
        id: &str,
        new_id: &str,
        now_ms: i64,
    ) -> Result<Effects, ShellError> {
        Ok(self
            .engine
            .keep_copy(parse_id(id)?, parse_id(new_id)?, now_ms)?)
    }

    /// Ids of documents the server refused (and has not confirmed since).
    pub fn refused(&self) -> Vec<String> {
        self.engine
            .refused()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    pub fn want(&mut self, id: &str) -> Result<Effects, ShellError> {
        Ok(self.engine.want(parse_id(id)?))
    }

    pub fn purge(&mut self, id: &str) -> Result<Effects, ShellError> {
        Ok(self.engine.purge(parse_id(id)?))
    }

    pub fn handle_saved(&mut self, id: &str) -> Result<Effects, ShellError> {
        Ok(self.engine.handle_saved(parse_id(id)?))
    }

    pub fn view(&self, id: &str) -> Result<Option<View>, ShellError> {
        let id = parse_id(id)?;
        Ok(self.engine.document(&id).map(|doc| self.view_of(&id, doc)))
    }

    /// Every document this device holds.
    pub fn views(&self) -> Vec<View> {
        self.engine
            .document_ids()
            .filter_map(|id| self.engine.document(id).map(|d| self.view_of(id, d)))
            .collect()
    }

    fn view_of(&self, id: &DocumentId, doc: &Automerge) -> View {
        let doc_type = story::doc_type(doc);
        let is_persona = doc_type == Some(DocType::Persona);
        let has_content = doc.length(automerge::ROOT) > 0;
        View {
            id: id.to_string(),
            doc_type,
            confirmed: self.engine.is_confirmed(id),
            heads: doc.get_heads().iter().map(ToString::to_string).collect(),
            refused: self.engine.refusal(id).cloned(),
            story: (!is_persona && has_content).then(|| Story::read(doc)),
            details: (!is_persona && has_content).then(|| StoryDetails::read(doc)),
            persona: is_persona.then(|| Persona::read(doc)),
        }
    }

    pub fn unconfirmed(&self) -> Vec<String> {
        self.engine
            .unconfirmed()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

fn write_new_story(
    doc: &mut Automerge,
    input: &StoryInput,
    draft: bool,
) -> Result<(), story::StoryError> {
    let mut new = input.story.clone();
    if new.language.is_empty() {
        new.language = "nl".into();
    }
    new.municipality = new.municipality.filter(|m| !m.is_empty());
    new.persona = new.persona.filter(|p| !p.is_empty());
    if draft {
        story::create_draft(doc, &new)?;
    } else {
        story::create_story(doc, &new)?;
    }
    let now = new.captured_at;
    let extras = StoryPatch {
        phase: input.phase.clone().filter(|p| !p.is_empty()),
        target_group: input.target_group.clone().filter(|g| !g.is_empty()),
        sections: input.sections.clone(),
        ..StoryPatch::default()
    };
    if extras != StoryPatch::default() {
        story::apply_patch(doc, &extras, now)?;
    }
    for a in &input.attachments {
        story::add_attachment(doc, a, now)?;
    }
    let by = new
        .recorded_by
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    for code in &input.activities {
        story::set_tag(
            doc,
            &Tag {
                code: code.clone(),
                state: TagState::Confirmed,
                by: by.clone(),
                at: now,
                score: None,
                evidence: Vec::new(),
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::engine::StoreTask;
    use client_core::store::encode_stored;
    use client_core::story::TranscriptState;

    const ID: &str = "2j9Sx1Ez5vUyAZuNwJKxAa2s3Z8c";

    fn id() -> String {
        new_document_id(&[3; 16]).unwrap()
    }

    fn parent_story() -> String {
        serde_json::json!({
            "kind": "parent-story",
            "title": "Op het bankje",
            "body": "Ze vertelde over de nachten.",
            "captured_at": 1_763_900_000_000i64,
            "place_type": "speeltuin",
            "told_by": {"role": "moeder", "name": "Roos"},
            "recorded_by": {"role": "professional", "name": "Nina"},
            "consent": {"given": true, "how": "spoken", "scope": "may-be-quoted", "recorded_at": 1_763_900_000_000i64},
            "phase": "na-geboorte",
            "attachments": [{"sha256": "ab", "mime": "audio/webm", "size": 3}],
            "activities": ["voorzorg"],
        })
        .to_string()
    }

    fn saved(fx: &Effects) -> Vec<(DocumentId, Vec<u8>)> {
        fx.store
            .iter()
            .filter_map(|t| match t {
                StoreTask::Save { id, doc } => Some((*id, encode_stored(doc))),
                StoreTask::Delete { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_captured_story_is_saved_and_survives_a_reload() {
        let mut shell = Shell::new("device-a".into(), &[1; 16]).unwrap();
        let fx = shell.create_story(&id(), &parent_story()).unwrap();
        let saves = saved(&fx);
        assert_eq!(saves.len(), 1);
        // Not saved until the store says so.
        let fx = shell.handle_saved(&id()).unwrap();
        assert_eq!(fx.events.len(), 1);

        let mut again = Shell::new("device-a2".into(), &[2; 16]).unwrap();
        again.load(&id(), &saves[0].1).unwrap();
        let view = again.view(&id()).unwrap().unwrap();
        assert_eq!(view.doc_type, Some(DocType::Story));
        assert!(!view.confirmed);
        let story = view.story.unwrap();
        assert_eq!(story.title, "Op het bankje");
        assert_eq!(story.attachments.len(), 1);
        assert_eq!(story.tags[0].state, TagState::Confirmed);
        assert_eq!(story.tags[0].by, "Nina");
        assert_eq!(view.details.unwrap().phase.as_deref(), Some("na-geboorte"));
        assert_eq!(again.unconfirmed(), vec![id()]);
    }

    #[test]
    fn consent_is_required_for_a_story_about_a_person() {
        let mut shell = Shell::new("d".into(), &[3; 16]).unwrap();
        let mut input: serde_json::Value = serde_json::from_str(&parent_story()).unwrap();
        input["consent"] = serde_json::Value::Null;
        let err = shell.create_story(&id(), &input.to_string()).unwrap_err();
        assert!(err.to_string().contains("consent"), "{err}");
        assert!(shell.view(&id()).unwrap().is_none());
    }

    #[test]
    fn edits_tags_and_transcript_corrections() {
        let mut shell = Shell::new("d".into(), &[4; 16]).unwrap();
        shell.create_story(&id(), &parent_story()).unwrap();
        let patch = serde_json::json!({"title": "Nieuwe titel", "transcript": "Goed gehoord."});
        shell
            .edit_story(&id(), &patch.to_string(), 1_763_900_100_000)
            .unwrap();
        shell
            .set_tag(&id(), "voorzorg", "rejected", "Nina", 1_763_900_200_000)
            .unwrap();
        assert!(
            shell
                .set_tag(&id(), "voorzorg", "maybe", "Nina", 1)
                .is_err()
        );
        let view = shell.view(&id()).unwrap().unwrap();
        let story = view.story.unwrap();
        assert_eq!(story.title, "Nieuwe titel");
        assert_eq!(
            story.transcript.unwrap().state,
            Some(TranscriptState::Corrected)
        );
        assert_eq!(story.tags[0].state, TagState::Rejected);
        // Bad input is an error, not a panic.
        assert!(shell.edit_story(&id(), "{not json", 1).is_err());
        assert!(shell.edit_story("nonsense", "{}", 1).is_err());
        assert!(shell.load(ID, &[1, 2]).is_err());
    }

    #[test]
    fn personas_and_views() {
        let mut shell = Shell::new("d".into(), &[5; 16]).unwrap();
        let pid = new_document_id(&[9; 16]).unwrap();
        shell
            .create_persona(
                &pid,
                r#"{"name":"Samira","age_band":"18-25","situation":"Net verhuisd","needs":"Uitleg"}"#,
                5,
            )
            .unwrap();
        let mut input: serde_json::Value = serde_json::from_str(&parent_story()).unwrap();
        input["persona"] = pid.clone().into();
        shell.create_story(&id(), &input.to_string()).unwrap();
        let views = shell.views();
        assert_eq!(views.len(), 2);
        let persona = views.iter().find(|v| v.id == pid).unwrap();
        assert_eq!(persona.persona.as_ref().unwrap().name, "Samira");
        assert!(persona.story.is_none());
        let story = views.iter().find(|v| v.id == id()).unwrap();
        assert_eq!(
            story.story.as_ref().unwrap().persona.as_deref(),
            Some(pid.as_str())
        );
        let json = serde_json::to_value(story).unwrap();
        assert_eq!(json["type"], "story");
        assert_eq!(json["story"]["kind"], "parent-story");
    }

    #[test]
    fn replies_to_a_returned_story_and_resubmits_it() {
        let mut shell = Shell::new("d".into(), &[6; 16]).unwrap();
        shell.create_story(&id(), &parent_story()).unwrap();
        let reply = |text: &str, resubmit: bool| {
            serde_json::json!({"comment_id": format!("c-{text}"), "author": "Nina", "text": text, "resubmit": resubmit})
                .to_string()
        };
        // Only a story that was sent back can be resubmitted; an empty reply says nothing.
        let err = shell.reply(&id(), &reply("", true), 2).unwrap_err();
        assert!(matches!(err, ShellError::NotReturned), "{err}");
        let err = shell.reply(&id(), &reply("  ", false), 2).unwrap_err();
        assert!(matches!(err, ShellError::EmptyReply), "{err}");
        let long = "a".repeat(MAX_COMMENT_CHARS + 1);
        let err = shell.reply(&id(), &reply(&long, false), 2).unwrap_err();
        assert!(matches!(err, ShellError::CommentTooLong), "{err}");

        // The coordinator sends it back with a comment (as the server does).
        let coordinator_comment = Comment {
            id: "c1".into(),
            author: "Carla".into(),
            at: 10,
            text: "Klopt de toestemming?".into(),
        };
        shell
            .engine_mut()
            .change(parse_id(&id()).unwrap(), |doc| {
                story::set_review(doc, ReviewState::Returned, "Carla", 10)
                    .and_then(|_| story::add_comment(doc, &coordinator_comment))
            })
            .unwrap();
        let story = shell.view(&id()).unwrap().unwrap().story.unwrap();
        assert_eq!(story.review, Some(ReviewState::Returned));

        // A reply alone keeps it returned; the reply with a resubmit sets it to submitted.
        let fx = shell
            .reply(&id(), &reply(" Ja, mondeling. ", false), 20)
            .unwrap();
        assert_eq!(saved(&fx).len(), 1);
        let story = shell.view(&id()).unwrap().unwrap().story.unwrap();
        assert_eq!(story.review, Some(ReviewState::Returned));
        shell.reply(&id(), &reply("Nagekeken.", true), 30).unwrap();
        let view = shell.view(&id()).unwrap().unwrap();
        assert!(!view.confirmed);
        let story = view.story.unwrap();
        assert_eq!(story.review, Some(ReviewState::Submitted));
        let texts: Vec<_> = story
            .comments
            .iter()
            .map(|c| (c.author.as_str(), c.at, c.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            vec![
                ("Carla", 10, "Klopt de toestemming?"),
                ("Nina", 20, "Ja, mondeling."),
                ("Nina", 30, "Nagekeken."),
            ]
        );
        // Resubmitting again is refused: it is no longer returned.
        assert!(shell.reply(&id(), &reply("", true), 40).is_err());
        let json = serde_json::to_value(shell.view(&id()).unwrap().unwrap()).unwrap();
        assert_eq!(json["story"]["review"], "submitted");
        assert_eq!(json["story"]["comments"][2]["author"], "Nina");
    }

    /// The engine's link comes up as against a server that answered `peer`.
    fn online(shell: &mut Shell) {
        shell.engine_mut().handle_connected(1);
        shell
            .engine_mut()
            .handle_message(
                client_core::wire::Message::Peer {
                    sender_id: "server".into(),
                    selected_protocol_version: client_core::wire::PROTOCOL_V1.into(),
                    target_id: "d".into(),
                    peer_metadata: None,
                },
                2,
            )
            .unwrap();
    }

    #[test]
    fn a_refused_story_is_shown_refused_and_can_be_undone_or_copied() {
        let mut shell = Shell::new("d".into(), &[7; 16]).unwrap();
        shell.create_story(&id(), &parent_story()).unwrap();
        online(&mut shell);
        shell
            .set_tag(&id(), "centering", "confirmed", story::ownership::TAGGER, 5)
            .unwrap();
        let fx = shell
            .engine_mut()
            .handle_message(
                client_core::wire::Message::DocUnavailable {
                    document_id: parse_id(&id()).unwrap(),
                    sender_id: "server".into(),
                    target_id: "d".into(),
                    refused: Some(Refusal::new(Refusal::NOT_YOURS, "Niet van jou.")),
                },
                6,
            )
            .unwrap();
        assert!(fx.store.is_empty(), "kept, nothing deleted");
        let view = shell.view(&id()).unwrap().unwrap();
        assert!(!view.confirmed);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(
            json["refused"],
            serde_json::json!({"code": "field-not-yours", "message": "Niet van jou."})
        );
        assert_eq!(shell.refused(), vec![id()]);

        let copy = new_document_id(&[4; 16]).unwrap();
        shell.keep_copy(&id(), &copy, 7).unwrap();
        let view = shell.view(&copy).unwrap().unwrap();
        assert!(view.refused.is_none());
        let story = view.story.unwrap();
        assert_eq!(story.title, "Op het bankje");
        let codes: Vec<_> = story.tags.iter().map(|t| t.code.as_str()).collect();
        assert_eq!(
            codes,
            ["voorzorg"],
            "the recorder's activity, not the forged tag"
        );
        assert_eq!(shell.refused(), vec![id()], "the original stays refused");
        assert!(shell.keep_copy(&id(), "nonsense", 8).is_err());

        shell.undo_refused(&id(), 9).unwrap();
        let view = shell.view(&id()).unwrap().unwrap();
        assert!(view.refused.is_none());
        assert!(
            !view
                .story
                .unwrap()
                .tags
                .iter()
                .any(|t| t.code == "centering")
        );
        assert!(shell.refused().is_empty());
    }

    #[test]
    fn resubmitting_writes_only_the_review_state() {
        let mut shell = Shell::new("d".into(), &[8; 16]).unwrap();
        shell.create_story(&id(), &parent_story()).unwrap();
        let doc_id = parse_id(&id()).unwrap();
        shell
            .engine_mut()
            .change(doc_id, |doc| {
                story::set_review(doc, ReviewState::Returned, "Carla", 10)
            })
            .unwrap();
        let before = story::ownership::Owned::read(shell.engine().document(&doc_id).unwrap());
        let reply = r#"{"comment_id": "c1", "author": "Nina", "text": "", "resubmit": true}"#;
        shell.reply(&id(), reply, 20).unwrap();
        let after = story::ownership::Owned::read(shell.engine().document(&doc_id).unwrap());
        assert_eq!(after.review.as_deref(), Some("submitted"));
        assert_eq!(
            story::ownership::check(
                &before,
                &after,
                story::ownership::Writer::FieldMember,
                |_| { false }
            ),
            Ok(()),
            "a field member may hand a story in again"
        );
    }

    #[test]
    fn a_draft_is_kept_from_the_first_tap_and_handed_in_with_consent() {
        let mut shell = Shell::new("d".into(), &[9; 16]).unwrap();
        let input = r#"{"kind": "parent-story", "captured_at": 5, "recorded_by": {"role": "professional", "name": "Nina"}}"#;
        assert!(shell.create_story(&id(), input).is_err());
        let fx = shell.create_draft(&id(), input).unwrap();
        assert_eq!(saved(&fx).len(), 1, "stored at once");
        shell
            .edit_story(&id(), r#"{"body": "Op de markt"}"#, 6)
            .unwrap();
        let err = shell.hand_in(&id(), 7).unwrap_err();
        assert!(err.to_string().contains("consent"), "{err}");
        let consent = r#"{"consent": {"given": true, "how": "spoken", "scope": "internal-only", "recorded_at": 8}}"#;
        shell.edit_story(&id(), consent, 8).unwrap();
        let fx = shell.hand_in(&id(), 9).unwrap();
        assert_eq!(saved(&fx).len(), 1);
        let json = serde_json::to_value(shell.view(&id()).unwrap().unwrap()).unwrap();
        assert_eq!(json["story"]["review"], "submitted");
        assert_eq!(json["story"]["body"], "Op de markt");
    }

    #[test]
    fn ids_and_hashes() {
        assert!(new_document_id(&[1; 15]).is_err());
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
