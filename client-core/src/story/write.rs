//! Writing a story: [`change`] (one local change, one automerge commit) and the edits a device
//! makes, each touching only its own keys, with one writer per key ([`write_form`] serves both
//! creation and the shell's form edits). Shell-only and server-only keys are written in
//! `shell.rs` and `media.rs`; nothing here reads a clock or draws an id.

use super::read::{read_tag, review_state};
use super::schema::*;
use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

pub(crate) fn commit(time_ms: i64, message: &str) -> CommitOptions {
    CommitOptions::default()
        .with_time(time_ms / 1000)
        .with_message(message.to_string())
}

/// Run `f` as one local change (one automerge commit). An empty change commits nothing.
pub fn change<T>(
    doc: &mut Automerge,
    now_ms: i64,
    message: &str,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoryError>,
) -> Result<T, StoryError> {
    doc.transact_with(|_| commit(now_ms, message), f)
        .map(|ok| ok.result)
        .map_err(|failure| failure.error)
}

pub(crate) fn put_str(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    key: &str,
    value: &str,
) -> Result<(), StoryError> {
    tx.put(obj, key, value)?;
    Ok(())
}

pub(crate) fn put_person(
    tx: &mut Transaction<'_>,
    key: &str,
    person: &Person,
) -> Result<(), StoryError> {
    let obj = tx.put_object(ROOT, key, ObjType::Map)?;
    put_str(tx, &obj, "role", &person.role)?;
    put_str(tx, &obj, "name", &person.name)?;
    Ok(())
}

/// Map object at `key` under `parent`, created if absent. Concurrent creation of the same key on two
/// devices resolves to one of them; callers only put scalar keys into these maps, so at worst a
/// concurrently written sibling value is lost, never the whole document.
pub(crate) fn ensure_map(
    tx: &mut Transaction<'_>,
    parent: &ObjId,
    key: &str,
) -> Result<ObjId, StoryError> {
    match tx.get(parent, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => Ok(tx.put_object(parent, key, ObjType::Map)?),
    }
}

pub(crate) fn ensure_list(tx: &mut Transaction<'_>, key: &str) -> Result<ObjId, StoryError> {
    match tx.get(ROOT, key)? {
        Some((Value::Object(ObjType::List), id)) => Ok(id),
        _ => Ok(tx.put_object(ROOT, key, ObjType::List)?),
    }
}

pub(crate) fn text_obj(
    tx: &mut Transaction<'_>,
    parent: &ObjId,
    key: &str,
) -> Result<ObjId, StoryError> {
    match tx.get(parent, key)? {
        Some((Value::Object(ObjType::Text), id)) => Ok(id),
        _ => Ok(tx.put_object(parent, key, ObjType::Text)?),
    }
}

pub(crate) fn about_a_person(kind: Option<StoryKind>) -> bool {
    matches!(
        kind,
        Some(StoryKind::ParentStory) | Some(StoryKind::CommunityConversation)
    )
}

/// Write a new story into an empty document. A story about a person (a parent story or a community
/// conversation) needs consent first: the device asks before it lets the user save.
pub fn create_story(doc: &mut Automerge, story: &NewStory) -> Result<(), StoryError> {
    if about_a_person(story.kind) && !story.consent.as_ref().is_some_and(|c| c.given) {
        return Err(StoryError::ConsentRequired);
    }
    create_draft(doc, story)
}

/// Write a new story into an empty document as a draft (`review = draft`), with or without
/// consent: a device keeps what is being told from the first tap. A draft about a person is
/// handed in ([`hand_in`]) only with consent, and until then no edit needs it.
pub fn create_draft(doc: &mut Automerge, story: &NewStory) -> Result<(), StoryError> {
    change(doc, story.captured_at, "create story", |tx| {
        tx.put(ROOT, "schema", SCHEMA_VERSION)?;
        tx.put(ROOT, "type", DocType::Story.code())?;
        write_form(
            tx,
            &FormFields {
                kind: story.kind,
                title: Some(&story.title),
                body: Some(&story.body),
                language: Some(&story.language),
                place_type: story.place_type,
                municipality: story.municipality.as_deref(),
                told_by: story.told_by.as_ref(),
                consent: story.consent.as_ref(),
                persona: story.persona.as_deref(),
            },
        )?;
        tx.put(
            ROOT,
            "capturedAt",
            ScalarValue::Timestamp(story.captured_at),
        )?;
        if let Some(p) = &story.recorded_by {
            put_person(tx, "recordedBy", p)?;
        }
        tx.put(ROOT, "review", ReviewState::Draft.code())?;
        tx.put_object(ROOT, "attachments", ObjType::List)?;
        tx.put_object(ROOT, "tags", ObjType::Map)?;
        tx.put_object(ROOT, "comments", ObjType::List)?;
        Ok(())
    })
}

/// The keys a device's form writes, both when a story is created ([`create_draft`]) and when it
/// is edited ([`apply_patch`](super::apply_patch)): one writer for each of them. `None` leaves a
/// key alone; an empty municipality or persona removes it.
#[derive(Debug, Default)]
pub(crate) struct FormFields<'a> {
    pub kind: Option<StoryKind>,
    pub title: Option<&'a str>,
    /// The whole new body; turned into splices so concurrent edits survive.
    pub body: Option<&'a str>,
    pub language: Option<&'a str>,
    pub place_type: Option<PlaceType>,
    pub municipality: Option<&'a str>,
    pub told_by: Option<&'a Person>,
    pub consent: Option<&'a Consent>,
    pub persona: Option<&'a str>,
}

/// Write the form's keys ([`FormFields`]) inside a change.
pub(crate) fn write_form(tx: &mut Transaction<'_>, f: &FormFields<'_>) -> Result<(), StoryError> {
    if let Some(kind) = f.kind {
        tx.put(ROOT, "kind", kind.code())?;
    }
    if let Some(title) = f.title {
        tx.put(ROOT, "title", title)?;
    }
    if let Some(body) = f.body {
        let obj = text_obj(tx, &ROOT, "body")?;
        tx.update_text(&obj, body)?;
    }
    if let Some(language) = f.language {
        tx.put(ROOT, "language", language)?;
    }
    if let Some(place) = f.place_type {
        tx.put(ROOT, "placeType", place.code())?;
    }
    if let Some(m) = f.municipality {
        put_or_delete(tx, "municipality", m)?;
    }
    if let Some(person) = f.told_by {
        put_person(tx, "toldBy", person)?;
    }
    if let Some(c) = f.consent {
        write_consent(tx, c)?;
    }
    if let Some(persona) = f.persona {
        put_or_delete(tx, "persona", persona)?;
    }
    Ok(())
}

/// Put a string at a root key; an empty one deletes the key.
pub(crate) fn put_or_delete(
    tx: &mut Transaction<'_>,
    key: &str,
    value: &str,
) -> Result<(), StoryError> {
    if value.is_empty() {
        tx.delete(ROOT, key)?;
    } else {
        tx.put(ROOT, key, value)?;
    }
    Ok(())
}

/// Write a new persona into an empty document.
pub fn create_persona(
    doc: &mut Automerge,
    persona: &Persona,
    now_ms: i64,
) -> Result<(), StoryError> {
    change(doc, now_ms, "create persona", |tx| {
        tx.put(ROOT, "schema", SCHEMA_VERSION)?;
        tx.put(ROOT, "type", DocType::Persona.code())?;
        tx.put(ROOT, "name", persona.name.as_str())?;
        if let Some(a) = &persona.age_band {
            tx.put(ROOT, "ageBand", a.as_str())?;
        }
        let s = tx.put_object(ROOT, "situation", ObjType::Text)?;
        tx.splice_text(&s, 0, 0, &persona.situation)?;
        let n = tx.put_object(ROOT, "needs", ObjType::Text)?;
        tx.splice_text(&n, 0, 0, &persona.needs)?;
        Ok(())
    })
}

pub(crate) fn write_consent(tx: &mut Transaction<'_>, c: &Consent) -> Result<(), StoryError> {
    let obj = ensure_map(tx, &ROOT, "consent")?;
    tx.put(&obj, "given", c.given)?;
    match c.how {
        Some(how) => tx.put(&obj, "how", how.code())?,
        None => tx.delete(&obj, "how")?,
    }
    match c.scope {
        Some(scope) => tx.put(&obj, "scope", scope.code())?,
        None => tx.delete(&obj, "scope")?,
    }
    if let Some(at) = c.recorded_at {
        tx.put(&obj, "recordedAt", ScalarValue::Timestamp(at))?;
    }
    Ok(())
}

/// Set the title (last writer wins: titles are short and edited whole).
pub fn set_title(doc: &mut Automerge, title: &str, now_ms: i64) -> Result<(), StoryError> {
    change(doc, now_ms, "set title", |tx| {
        put_str(tx, &ROOT, "title", title)
    })
}

/// Insert and delete characters in the body, as a keyboard does. Positions count Unicode scalar
/// values. Concurrent splices into the same paragraph merge character by character.
pub fn splice_body(
    doc: &mut Automerge,
    pos: usize,
    delete: isize,
    insert: &str,
    now_ms: i64,
) -> Result<(), StoryError> {
    change(doc, now_ms, "edit body", |tx| {
        let body = text_obj(tx, &ROOT, "body")?;
        tx.splice_text(&body, pos, delete, insert)?;
        Ok(())
    })
}

/// Replace the body with `text`, turning the difference into splices so concurrent edits survive.
pub fn update_body(doc: &mut Automerge, text: &str, now_ms: i64) -> Result<(), StoryError> {
    change(doc, now_ms, "edit body", |tx| {
        let body = text_obj(tx, &ROOT, "body")?;
        tx.update_text(&body, text)?;
        Ok(())
    })
}

/// Set a plain scalar field by its document key (`language`, `municipality`, `placeType`, `kind`).
pub fn set_field(
    doc: &mut Automerge,
    key: &str,
    value: &str,
    now_ms: i64,
) -> Result<(), StoryError> {
    change(doc, now_ms, "set field", |tx| {
        put_str(tx, &ROOT, key, value)
    })
}

pub fn set_consent(doc: &mut Automerge, consent: &Consent, now_ms: i64) -> Result<(), StoryError> {
    change(doc, now_ms, "set consent", |tx| write_consent(tx, consent))
}

/// Hand a draft in: `review = submitted` (the recorder's "Indienen"). A story about a person needs
/// given consent first. A story that is no longer a draft is left as it is (a second tap, or a
/// coordinator who already reviewed it), so handing in twice is harmless.
pub fn hand_in(doc: &mut Automerge, now_ms: i64) -> Result<(), StoryError> {
    if review_state(doc) != Some(ReviewState::Draft) {
        return Ok(());
    }
    let s = Story::read(doc);
    if about_a_person(s.kind) && !s.consent.as_ref().is_some_and(|c| c.given) {
        return Err(StoryError::ConsentRequired);
    }
    change(doc, now_ms, "hand in", |tx| {
        put_str(tx, &ROOT, "review", ReviewState::Submitted.code())
    })
}

pub fn set_review(
    doc: &mut Automerge,
    state: ReviewState,
    by: &str,
    now_ms: i64,
) -> Result<(), StoryError> {
    change(doc, now_ms, "review", |tx| {
        tx.put(ROOT, "review", state.code())?;
        tx.put(ROOT, "reviewedBy", by)?;
        tx.put(ROOT, "reviewedAt", ScalarValue::Timestamp(now_ms))?;
        Ok(())
    })
}

/// Set an activity tag's state. Tags are a map keyed by activity code, so two devices tagging the
/// same activity never produce duplicates.
pub fn set_tag(doc: &mut Automerge, tag: &Tag) -> Result<(), StoryError> {
    change(doc, tag.at, "tag", |tx| {
        let tags = ensure_map(tx, &ROOT, "tags")?;
        put_tag_object(tx, &tags, tag)
    })
}

/// One tag edit for [`write_tags`].
#[derive(Debug, Clone, PartialEq)]
pub enum TagWrite {
    /// Create the tag, or, when its key holds exactly one tag object, change that object's fields
    /// in place (only those that differ; `at` is kept). A concurrent [`set_tag`] by a person
    /// replaces the whole object and so always wins over such an update.
    Update(Tag),
    /// Write a new tag object that supersedes every value of the key this document has seen,
    /// conflicting ones included.
    Replace(Tag),
    /// Delete the tag.
    Remove(String),
}

/// Apply several tag edits as one change. Used by the server's tagger, which must never win over a
/// person's concurrent decision: see [`TagWrite`].
pub fn write_tags(doc: &mut Automerge, now_ms: i64, writes: &[TagWrite]) -> Result<(), StoryError> {
    if writes.is_empty() {
        return Ok(());
    }
    change(doc, now_ms, "tag suggestions", |tx| {
        let tags = ensure_map(tx, &ROOT, "tags")?;
        for w in writes {
            match w {
                TagWrite::Remove(code) => {
                    if tx.get(&tags, code.as_str())?.is_some() {
                        tx.delete(&tags, code.as_str())?;
                    }
                }
                TagWrite::Replace(tag) => put_tag_object(tx, &tags, tag)?,
                TagWrite::Update(tag) => {
                    let existing = tx.get_all(&tags, tag.code.as_str())?;
                    match existing.as_slice() {
                        [(Value::Object(ObjType::Map), obj)] => {
                            let obj = obj.clone();
                            let old = read_tag(&*tx, tag.code.clone(), &obj);
                            if old.as_ref().map(|t| t.state) != Some(tag.state) {
                                tx.put(&obj, "state", tag.state.code())?;
                            }
                            if old.as_ref().map(|t| t.by.as_str()) != Some(tag.by.as_str()) {
                                tx.put(&obj, "by", tag.by.as_str())?;
                            }
                            if old.as_ref().and_then(|t| t.score) != tag.score {
                                match tag.score {
                                    Some(score) => tx.put(&obj, "score", score)?,
                                    None => tx.delete(&obj, "score")?,
                                }
                            }
                            if old.as_ref().map(|t| &t.evidence) != Some(&tag.evidence) {
                                let ev = tx.put_object(&obj, "evidence", ObjType::List)?;
                                for (i, e) in tag.evidence.iter().enumerate() {
                                    tx.insert(&ev, i, e.as_str())?;
                                }
                            }
                        }
                        _ => put_tag_object(tx, &tags, tag)?,
                    }
                }
            }
        }
        Ok(())
    })
}

pub(crate) fn put_tag_object(
    tx: &mut Transaction<'_>,
    tags: &ObjId,
    tag: &Tag,
) -> Result<(), StoryError> {
    let t = tx.put_object(tags, tag.code.as_str(), ObjType::Map)?;
    tx.put(&t, "state", tag.state.code())?;
    tx.put(&t, "by", tag.by.as_str())?;
    tx.put(&t, "at", ScalarValue::Timestamp(tag.at))?;
    if let Some(score) = tag.score {
        tx.put(&t, "score", score)?;
    }
    let ev = tx.put_object(&t, "evidence", ObjType::List)?;
    for (i, e) in tag.evidence.iter().enumerate() {
        tx.insert(&ev, i, e.as_str())?;
    }
    Ok(())
}

pub fn add_comment(doc: &mut Automerge, comment: &Comment) -> Result<(), StoryError> {
    change(doc, comment.at, "comment", |tx| {
        let list = ensure_list(tx, "comments")?;
        let len = tx.length(&list);
        let c = tx.insert_object(&list, len, ObjType::Map)?;
        tx.put(&c, "id", comment.id.as_str())?;
        tx.put(&c, "author", comment.author.as_str())?;
        tx.put(&c, "at", ScalarValue::Timestamp(comment.at))?;
        tx.put(&c, "text", comment.text.as_str())?;
        Ok(())
    })
}

pub fn add_attachment(doc: &mut Automerge, a: &Attachment, now_ms: i64) -> Result<(), StoryError> {
    change(doc, now_ms, "attach", |tx| {
        let list = ensure_list(tx, "attachments")?;
        let len = tx.length(&list);
        let obj = tx.insert_object(&list, len, ObjType::Map)?;
        tx.put(&obj, "sha256", a.sha256.as_str())?;
        tx.put(&obj, "mime", a.mime.as_str())?;
        tx.put(&obj, "size", a.size)?;
        Ok(())
    })
}
