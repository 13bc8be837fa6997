//! Who owns which field of a story (`docs/schema.md`, "Who writes what").
//!
//! A story is edited by its recorder, by coordinators and by the server's own writers
//! (transcription, tagger). Some fields belong to one of them: a field member (professional,
//! sleutelpersoon) may hand a story in, but only a coordinator judges it; only the server writes
//! transcription progress and the machine translation. The server enforces this per document on every push: it reads the
//! owned fields before and after applying the push ([`Owned::read`]) and refuses the push when
//! [`check`] finds a field the sender may not write. A device that was refused can put the owned
//! fields back as they were at the server's last confirmed version ([`revert_owned`]).
//!
//! The check compares values, not operations: whatever a push does to the document, only its
//! effect on the owned fields counts. Concurrent writes the server already had are not the
//! sender's: they are in `before` as well as in `after`.
//!
//! Approval is of a version: a coordinator's approval records the heads it approved
//! (`approvedHeads`), and [`content`] is what an edit after approval must leave alone for the
//! approval to stand.

use super::{
    Story, StoryDetails, StoryError, change, get_bool, get_i64, get_obj, get_str, list_items,
    put_tag_object, read_tag,
};
use automerge::{
    Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
    transaction::Transactable,
};
use std::collections::BTreeMap;

/// The `by` of a tag the server's tagger suggested.
pub const TAGGER: &str = "vertel-tagger";

/// Who pushed the changes being checked. The server's own writers are not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// A professional or sleutelpersoon (or an admin, who sees stories as a field member does).
    FieldMember,
    Coordinator,
}

/// The owned fields of a story, as one comparable value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Owned {
    pub review: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub approved_heads: Option<Vec<String>>,
    /// What the approving coordinator kept visible in the quote (`kind:text`, issue 16).
    pub approved_keep: Option<Vec<String>>,
    pub changed_after_approval: Option<bool>,
    /// Comments by the id of the object that holds them (`counter@actor`): id, author, at, text.
    pub comments: BTreeMap<String, (String, String, i64, String)>,
    /// The visible value of each tag.
    pub tags: BTreeMap<String, OwnedTag>,
    pub transcript_state: Option<String>,
    /// Each attachment's `transcription` map, by its sha256, as text.
    pub transcriptions: BTreeMap<String, String>,
    /// The transcript's machine `translation`, as text.
    pub translation: Option<String>,
}

/// A tag's visible value, with the actor whose change wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedTag {
    pub state: String,
    pub by: String,
    pub at: i64,
    /// Hex of the actor that wrote the tag object (for "was this a coordinator's decision").
    pub actor: String,
}

/// Why a push was refused: the first owned field it wrote without being allowed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    Review,
    Comments,
    Tags,
    TranscriptApproval,
    Transcription,
    Translation,
}

impl Violation {
    /// The field, as `docs/schema.md` names it.
    pub fn field(self) -> &'static str {
        match self {
            Violation::Review => "review",
            Violation::Comments => "comments",
            Violation::Tags => "tags",
            Violation::TranscriptApproval => "transcript.state",
            Violation::Transcription => "attachments.transcription",
            Violation::Translation => "transcript.translation",
        }
    }

    /// What the device shows (Dutch, plain words).
    pub fn message(self) -> &'static str {
        match self {
            Violation::Review => {
                "Alleen een coördinator mag een verhaal beoordelen of goedkeuren. Je kunt een verhaal wel inleveren."
            }
            Violation::Comments => {
                "Opmerkingen die al geplaatst zijn, mogen niet veranderd of weggehaald worden."
            }
            Violation::Tags => {
                "Een label van de coördinator of van de server mag alleen een coördinator veranderen."
            }
            Violation::TranscriptApproval => {
                "Alleen een coördinator mag een uitgeschreven tekst goedkeuren."
            }
            Violation::Transcription => {
                "De voortgang van het uitschrijven schrijft alleen de server."
            }
            Violation::Translation => "De machinevertaling schrijft alleen de server.",
        }
    }
}

fn scalar_text(v: &Value<'_>) -> String {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => format!("{s:?}"),
            other => other.to_string(),
        },
        Value::Object(t) => format!("<{t:?}>"),
    }
}

/// `counter@actor` of an object, or its actor alone.
fn op_key(id: &ObjId) -> String {
    match id {
        ObjId::Root => "root".into(),
        ObjId::Id(counter, actor, _) => format!("{counter}@{actor}"),
    }
}

fn op_actor(id: &ObjId) -> String {
    match id {
        ObjId::Root => String::new(),
        ObjId::Id(_, actor, _) => actor.to_hex_string(),
    }
}

impl Owned {
    pub fn read<R: ReadDoc>(doc: &R) -> Owned {
        let strings = |key: &str| {
            get_obj(doc, &ROOT, key, ObjType::List).map(|l| {
                (0..doc.length(&l))
                    .filter_map(|i| match doc.get(&l, i).ok()?? {
                        (Value::Scalar(s), _) => s.as_str().map(str::to_string),
                        _ => None,
                    })
                    .collect::<Vec<String>>()
            })
        };
        let approved_heads = strings("approvedHeads");
        let approved_keep = strings("approvedKeep");
        let comments = get_obj(doc, &ROOT, "comments", ObjType::List)
            .map(|l| {
                list_items(doc, &l)
                    .into_iter()
                    .map(|c| {
                        let fields = (
                            get_str(doc, &c, "id").unwrap_or_default(),
                            get_str(doc, &c, "author").unwrap_or_default(),
                            get_i64(doc, &c, "at").unwrap_or(0),
                            get_str(doc, &c, "text").unwrap_or_default(),
                        );
                        (op_key(&c), fields)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let tags = get_obj(doc, &ROOT, "tags", ObjType::Map)
            .map(|m| {
                doc.keys(&m)
                    .filter_map(|code| {
                        let obj = get_obj(doc, &m, &code, ObjType::Map)?;
                        let actor = op_actor(&obj);
                        let t = read_tag(doc, code.clone(), &obj);
                        let tag = match t {
                            Some(t) => OwnedTag {
                                state: t.state.code().to_string(),
                                by: t.by,
                                at: t.at,
                                actor,
                            },
                            // Unreadable tags still count: writing one is still writing a tag.
                            None => OwnedTag {
                                state: get_str(doc, &obj, "state").unwrap_or_default(),
                                by: get_str(doc, &obj, "by").unwrap_or_default(),
                                at: get_i64(doc, &obj, "at").unwrap_or(0),
                                actor,
                            },
                        };
                        Some((code, tag))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let transcriptions = get_obj(doc, &ROOT, "attachments", ObjType::List)
            .map(|l| {
                list_items(doc, &l)
                    .into_iter()
                    .filter_map(|a| {
                        let sha = get_str(doc, &a, "sha256")?;
                        let t = get_obj(doc, &a, "transcription", ObjType::Map)?;
                        let text = doc
                            .keys(&t)
                            .filter_map(|k| {
                                let (v, _) = doc.get(&t, k.as_str()).ok()??;
                                Some(format!("{k}={}", scalar_text(&v)))
                            })
                            .collect::<Vec<_>>()
                            .join(";");
                        Some((sha, text))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Owned {
            review: get_str(doc, &ROOT, "review"),
            reviewed_by: get_str(doc, &ROOT, "reviewedBy"),
            reviewed_at: get_i64(doc, &ROOT, "reviewedAt"),
            approved_heads,
            approved_keep,
            changed_after_approval: get_bool(doc, &ROOT, "changedAfterApproval"),
            comments,
            tags,
            transcript_state: get_obj(doc, &ROOT, "transcript", ObjType::Map)
                .and_then(|t| get_str(doc, &t, "state")),
            transcriptions,
            translation: super::transcript_translation(doc).map(|t| format!("{t:?}")),
        }
    }
}

/// May `writer` turn `before` into `after`? `coordinator_actor` says whether an actor (hex)
/// belongs to a coordinator, from the server's own record of who wrote with which actor.
pub fn check(
    before: &Owned,
    after: &Owned,
    writer: Writer,
    coordinator_actor: impl Fn(&str) -> bool,
) -> Result<(), Violation> {
    // Transcription progress is the server's alone, for everyone who pushes. An attachment that
    // was removed takes its status with it; that is the attachment's owner's call.
    for (sha, t) in &after.transcriptions {
        if before.transcriptions.get(sha) != Some(t) {
            return Err(Violation::Transcription);
        }
    }
    // So is the machine translation: no person writes words into it.
    if before.translation != after.translation {
        return Err(Violation::Translation);
    }
    if writer == Writer::Coordinator {
        return Ok(());
    }
    if before.review != after.review
        && !matches!(after.review.as_deref(), Some("draft" | "submitted"))
    {
        return Err(Violation::Review);
    }
    if before.reviewed_by != after.reviewed_by
        || before.reviewed_at != after.reviewed_at
        || before.approved_heads != after.approved_heads
        || before.approved_keep != after.approved_keep
        || before.changed_after_approval != after.changed_after_approval
    {
        return Err(Violation::Review);
    }
    // Comments are appended; what was posted stays as it was.
    for (key, c) in &before.comments {
        if after.comments.get(key) != Some(c) {
            return Err(Violation::Comments);
        }
    }
    let codes: std::collections::BTreeSet<&String> =
        before.tags.keys().chain(after.tags.keys()).collect();
    for code in codes {
        let (b, a) = (before.tags.get(code), after.tags.get(code));
        let same = match (b, a) {
            (Some(b), Some(a)) => (&b.state, &b.by, b.at) == (&a.state, &a.by, a.at),
            (None, None) => true,
            _ => false,
        };
        if same {
            continue;
        }
        if a.is_some_and(|a| a.by == TAGGER) {
            return Err(Violation::Tags);
        }
        if b.is_some_and(|b| b.state != "suggested" && coordinator_actor(&b.actor)) {
            return Err(Violation::Tags);
        }
    }
    if after.transcript_state.as_deref() == Some("approved")
        && before.transcript_state.as_deref() != Some("approved")
    {
        return Err(Violation::TranscriptApproval);
    }
    Ok(())
}

/// Write the owned fields back to what they were at `heads` (the server's last confirmed
/// version), as one change by this document's actor. What else the refused changes did (a new
/// text, a new photo) stays. Returns whether anything was written.
pub fn revert_owned(
    doc: &mut Automerge,
    heads: &[ChangeHash],
    now_ms: i64,
) -> Result<bool, StoryError> {
    let old_doc = doc.fork_at(heads)?;
    let old = Owned::read(&old_doc);
    let now = Owned::read(doc);
    // A tag put back is a new object by this actor: equal when its fields are.
    let same_tag = |a: Option<&OwnedTag>, b: Option<&OwnedTag>| match (a, b) {
        (Some(a), Some(b)) => (&a.state, &a.by, a.at) == (&b.state, &b.by, b.at),
        (a, b) => a.is_none() && b.is_none(),
    };
    let tags_same = old
        .tags
        .keys()
        .chain(now.tags.keys())
        .all(|c| same_tag(old.tags.get(c), now.tags.get(c)));
    let rest_same = Owned {
        tags: BTreeMap::new(),
        ..old.clone()
    } == Owned {
        tags: BTreeMap::new(),
        ..now.clone()
    };
    if tags_same && rest_same {
        return Ok(false);
    }
    change(doc, now_ms, "undo refused change", |tx| {
        // A story the server never had goes back to a draft, not to no review state at all.
        let review = old
            .review
            .as_deref()
            .or(now.review.as_ref().map(|_| "draft"));
        put_or_delete_str(tx, "review", review)?;
        put_or_delete_str(tx, "reviewedBy", old.reviewed_by.as_deref())?;
        match old.reviewed_at {
            Some(t) => tx.put(ROOT, "reviewedAt", ScalarValue::Timestamp(t))?,
            None => delete_key(tx, &ROOT, "reviewedAt")?,
        }
        match &old.approved_heads {
            Some(h) => {
                let l = tx.put_object(ROOT, "approvedHeads", ObjType::List)?;
                for (i, x) in h.iter().enumerate() {
                    tx.insert(&l, i, x.as_str())?;
                }
            }
            None => delete_key(tx, &ROOT, "approvedHeads")?,
        }
        write_keep(tx, old.approved_keep.as_deref().unwrap_or_default())?;
        match old.changed_after_approval {
            Some(b) => tx.put(ROOT, "changedAfterApproval", b)?,
            None => delete_key(tx, &ROOT, "changedAfterApproval")?,
        }
        // Comments: put back the posted fields of every comment that is still there.
        if let Some(list) = get_obj(tx, &ROOT, "comments", ObjType::List) {
            for c in list_items(tx, &list) {
                if let Some((id, author, at, text)) = old.comments.get(&op_key(&c)) {
                    tx.put(&c, "id", id.as_str())?;
                    tx.put(&c, "author", author.as_str())?;
                    tx.put(&c, "at", ScalarValue::Timestamp(*at))?;
                    tx.put(&c, "text", text.as_str())?;
                }
            }
        }
        // Tags: what a field member may not write goes back to its old value (or goes): a tag
        // written as the tagger, and a changed decision (which may have been a coordinator's).
        // The member's own picks stay.
        let old_tags = super::tag_versions(&old_doc);
        let codes: std::collections::BTreeSet<String> =
            old.tags.keys().chain(now.tags.keys()).cloned().collect();
        for code in codes {
            let (was, is) = (old.tags.get(&code), now.tags.get(&code));
            if same_tag(was, is) {
                continue;
            }
            let as_tagger = is.is_some_and(|t| t.by == TAGGER);
            let decision_changed = was.is_some_and(|t| t.state != "suggested");
            if !as_tagger && !decision_changed {
                continue;
            }
            let tags = super::ensure_map(tx, &ROOT, "tags")?;
            match old_tags.get(&code).and_then(|v| v.first()) {
                Some(t) => put_tag_object(tx, &tags, t)?,
                None => tx.delete(&tags, code.as_str())?,
            }
        }
        if old.transcript_state != now.transcript_state
            && let Some(t) = get_obj(tx, &ROOT, "transcript", ObjType::Map)
        {
            match &old.transcript_state {
                Some(s) => tx.put(&t, "state", s.as_str())?,
                None => delete_key(tx, &t, "state")?,
            }
        }
        if old.translation != now.translation {
            super::write_translation(tx, super::transcript_translation(&old_doc).as_ref())?;
        }
        // Transcription maps: the attachments that still exist get the old map's values.
        if let Some(list) = get_obj(tx, &ROOT, "attachments", ObjType::List) {
            for a in list_items(tx, &list) {
                let Some(sha) = get_str(tx, &a, "sha256") else {
                    continue;
                };
                if old.transcriptions.get(&sha) == now.transcriptions.get(&sha) {
                    continue;
                }
                let old_map = old_transcription(&old_doc, &sha);
                match old_map {
                    Some(values) => {
                        let t = tx.put_object(&a, "transcription", ObjType::Map)?;
                        for (k, v) in values {
                            tx.put(&t, k.as_str(), v)?;
                        }
                    }
                    None => delete_key(tx, &a, "transcription")?,
                }
            }
        }
        Ok(())
    })?;
    Ok(true)
}

fn old_transcription(doc: &Automerge, sha: &str) -> Option<Vec<(String, ScalarValue)>> {
    let list = get_obj(doc, &ROOT, "attachments", ObjType::List)?;
    let a = list_items(doc, &list)
        .into_iter()
        .find(|a| get_str(doc, a, "sha256").as_deref() == Some(sha))?;
    let t = get_obj(doc, &a, "transcription", ObjType::Map)?;
    Some(
        doc.keys(&t)
            .filter_map(|k| match doc.get(&t, k.as_str()).ok()?? {
                (Value::Scalar(s), _) => Some((k, s.into_owned())),
                (Value::Object(_), _) => None,
            })
            .collect(),
    )
}

fn put_or_delete_str(
    tx: &mut automerge::transaction::Transaction<'_>,
    key: &str,
    value: Option<&str>,
) -> Result<(), StoryError> {
    match value {
        Some(v) => tx.put(ROOT, key, v)?,
        None => delete_key(tx, &ROOT, key)?,
    }
    Ok(())
}

fn delete_key(
    tx: &mut automerge::transaction::Transaction<'_>,
    obj: &ObjId,
    key: &str,
) -> Result<(), StoryError> {
    if tx.get(obj, key)?.is_some() {
        tx.delete(obj, key)?;
    }
    Ok(())
}

/// The actors (hex) that wrote what a reader may want attributed: each comment (in list order),
/// each tag's visible value, and the review state. The server maps them to members through its
/// own record; the names written inside the document are not evidence of who wrote them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authors {
    pub comments: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub review: Option<String>,
}

pub fn authors<R: ReadDoc>(doc: &R) -> Authors {
    let comments = get_obj(doc, &ROOT, "comments", ObjType::List)
        .map(|l| list_items(doc, &l).iter().map(op_actor).collect())
        .unwrap_or_default();
    let tags = get_obj(doc, &ROOT, "tags", ObjType::Map)
        .map(|m| {
            doc.keys(&m)
                .filter_map(|code| {
                    let obj = get_obj(doc, &m, &code, ObjType::Map)?;
                    Some((code, op_actor(&obj)))
                })
                .collect()
        })
        .unwrap_or_default();
    let review = match doc.get(&ROOT, "review") {
        Ok(Some((_, id))) => Some(op_actor(&id)),
        _ => None,
    };
    Authors {
        comments,
        tags,
        review,
    }
}

/// What an approval is of: everything a report may print or count (text, consent, tags, the
/// transcript, the form's fields), without the review itself, comments and transcription progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    story: Story,
    details: StoryDetails,
}

pub fn content<R: ReadDoc>(doc: &R) -> Content {
    let mut story = Story::read(doc);
    story.review = None;
    story.comments.clear();
    let mut details = StoryDetails::read(doc);
    details.transcriptions.clear();
    Content { story, details }
}

/// The heads a coordinator approved, when the story carries an approval.
pub fn approved_heads<R: ReadDoc>(doc: &R) -> Option<Vec<ChangeHash>> {
    Owned::read(doc)
        .approved_heads?
        .iter()
        .map(|h| h.parse().ok())
        .collect()
}

/// Record an approval of the story as it is now: `review = approved`, who and when, and the
/// heads approved. One change, by the coordinator's actor.
pub fn approve(doc: &mut Automerge, by: &str, now_ms: i64) -> Result<(), StoryError> {
    approve_keeping(doc, by, now_ms, &[])
}

/// [`approve`], with the spans of the quote the coordinator keeps visible on purpose
/// (`kind:text`, e.g. `naam:Anja`; issue 16, `docs/deidentify.md`): stored with the approval, in
/// the same change, and replaced by the next approval.
pub fn approve_keeping(
    doc: &mut Automerge,
    by: &str,
    now_ms: i64,
    keep: &[String],
) -> Result<(), StoryError> {
    let heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    change(doc, now_ms, "review", |tx| {
        tx.put(ROOT, "review", super::ReviewState::Approved.code())?;
        tx.put(ROOT, "reviewedBy", by)?;
        tx.put(ROOT, "reviewedAt", ScalarValue::Timestamp(now_ms))?;
        write_heads(tx, &heads)?;
        write_keep(tx, keep)?;
        delete_key(tx, &ROOT, "changedAfterApproval")?;
        Ok(())
    })
}

/// The spans kept visible with the approval that stands (empty without one).
pub fn approved_keep<R: ReadDoc>(doc: &R) -> Vec<String> {
    Owned::read(doc).approved_keep.unwrap_or_default()
}

fn write_keep(
    tx: &mut automerge::transaction::Transaction<'_>,
    keep: &[String],
) -> Result<(), StoryError> {
    if keep.is_empty() {
        delete_key(tx, &ROOT, "approvedKeep")?;
        return Ok(());
    }
    let l = tx.put_object(ROOT, "approvedKeep", ObjType::List)?;
    for (i, k) in keep.iter().enumerate() {
        tx.insert(&l, i, k.as_str())?;
    }
    Ok(())
}

/// After a coordinator's device set `approved` through sync: record the heads it approved, so a
/// later edit can be told from the approved version.
pub fn record_approved_heads(
    doc: &mut Automerge,
    heads: &[ChangeHash],
    now_ms: i64,
) -> Result<(), StoryError> {
    let heads: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    change(doc, now_ms, "approved version", |tx| {
        write_heads(tx, &heads)?;
        // A new approval replaces what the last one kept visible.
        write_keep(tx, &[])?;
        delete_key(tx, &ROOT, "changedAfterApproval")?;
        Ok(())
    })
}

fn write_heads(
    tx: &mut automerge::transaction::Transaction<'_>,
    heads: &[String],
) -> Result<(), StoryError> {
    let l = tx.put_object(ROOT, "approvedHeads", ObjType::List)?;
    for (i, h) in heads.iter().enumerate() {
        tx.insert(&l, i, h.as_str())?;
    }
    Ok(())
}

/// An edit after approval: the story goes back to `submitted`, marked "gewijzigd na goedkeuring";
/// the approved heads stay, so the coordinator sees what changed and reports keep printing the
/// approved version until it is approved again.
pub fn reopen_after_edit(doc: &mut Automerge, now_ms: i64) -> Result<(), StoryError> {
    change(doc, now_ms, "changed after approval", |tx| {
        tx.put(ROOT, "review", super::ReviewState::Submitted.code())?;
        tx.put(ROOT, "changedAfterApproval", true)?;
        Ok(())
    })
}

/// The version of a story a report may use: the approved one, when the story was approved and
/// has not been returned since. `None`: the story has no approved version.
pub fn approved_version(doc: &Automerge) -> Option<Automerge> {
    let owned = Owned::read(doc);
    let live = match owned.review.as_deref() {
        Some("approved") => true,
        Some("submitted") => owned.changed_after_approval == Some(true),
        _ => false,
    };
    if !live {
        return None;
    }
    let heads = approved_heads(doc)?;
    doc.fork_at(&heads).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::story::{self, ReviewState, Tag, TagState};
    use automerge::ActorId;

    fn doc_with_story() -> Automerge {
        let mut doc = Automerge::new();
        doc.set_actor(ActorId::from(b"device".as_slice()));
        story::create_story(
            &mut doc,
            &story::NewStory {
                kind: Some(story::StoryKind::ParentStory),
                title: "Op de markt".into(),
                body: "Ze vertelde over de kraamzorg.".into(),
                language: "nl".into(),
                captured_at: 1,
                consent: Some(story::Consent {
                    given: true,
                    how: Some(story::ConsentHow::Spoken),
                    scope: Some(story::ConsentScope::InternalOnly),
                    recorded_at: Some(1),
                }),
                ..Default::default()
            },
        )
        .unwrap();
        doc
    }

    fn as_actor(doc: &mut Automerge, name: &str, f: impl FnOnce(&mut Automerge)) {
        let previous = doc.get_actor().clone();
        doc.set_actor(ActorId::from(name.as_bytes()));
        f(doc);
        doc.set_actor(previous);
    }

    fn field(before: &Automerge, after: &Automerge) -> Result<(), Violation> {
        let coordinator = ActorId::from(b"coordinator".as_slice()).to_hex_string();
        check(
            &Owned::read(before),
            &Owned::read(after),
            Writer::FieldMember,
            |a| a == coordinator,
        )
    }

    #[test]
    fn a_field_member_hands_in_but_never_judges() {
        let before = doc_with_story();
        let mut after = before.clone();
        story::set_review(&mut after, ReviewState::Submitted, "", 2).unwrap();
        // Handing in writes reviewedBy/At through set_review; the shell sets only the state.
        assert_eq!(field(&before, &after), Err(Violation::Review));
        let mut handed_in = before.clone();
        story::set_field(&mut handed_in, "review", "submitted", 2).unwrap();
        assert_eq!(field(&before, &handed_in), Ok(()));
        // The shell's "Indienen" (story::hand_in) writes only the state, with the spoken consent
        // clip (content) beforehand.
        let mut handed_in = before.clone();
        story::apply_patch(
            &mut handed_in,
            &story::StoryPatch {
                consent_clip: Some("c0ffee".into()),
                ..Default::default()
            },
            2,
        )
        .unwrap();
        story::hand_in(&mut handed_in, 3).unwrap();
        assert_eq!(
            story::review_state(&handed_in),
            Some(ReviewState::Submitted)
        );
        assert_eq!(field(&before, &handed_in), Ok(()));
        let mut approved = before.clone();
        story::set_field(&mut approved, "review", "approved", 2).unwrap();
        assert_eq!(field(&before, &approved), Err(Violation::Review));
        // A coordinator may.
        assert_eq!(
            check(
                &Owned::read(&before),
                &Owned::read(&approved),
                Writer::Coordinator,
                |_| false
            ),
            Ok(())
        );
    }

    #[test]
    fn tags_of_the_tagger_and_decisions_of_a_coordinator_are_theirs() {
        let mut before = doc_with_story();
        as_actor(&mut before, "coordinator", |d| {
            story::set_tag(d, &tag("voorzorg", TagState::Confirmed, "Coco")).unwrap()
        });
        // Writing as the tagger.
        let mut forged = before.clone();
        story::set_tag(&mut forged, &tag("centering", TagState::Confirmed, TAGGER)).unwrap();
        assert_eq!(field(&before, &forged), Err(Violation::Tags));
        // Overturning a coordinator's decision.
        let mut overturned = before.clone();
        story::set_tag(
            &mut overturned,
            &tag("voorzorg", TagState::Rejected, "Nina"),
        )
        .unwrap();
        assert_eq!(field(&before, &overturned), Err(Violation::Tags));
        // Picking an activity of one's own is fine.
        let mut own = before.clone();
        story::set_tag(&mut own, &tag("centering", TagState::Confirmed, "Nina")).unwrap();
        assert_eq!(field(&before, &own), Ok(()));
    }

    #[test]
    fn comments_stay_as_posted_and_transcription_is_the_servers() {
        let mut before = doc_with_story();
        let c = story::Comment {
            id: "c1".into(),
            author: "Coco".into(),
            at: 3,
            text: "Mooi verhaal".into(),
        };
        story::add_comment(&mut before, &c).unwrap();
        let mut reply = before.clone();
        story::add_comment(
            &mut reply,
            &story::Comment {
                id: "c2".into(),
                text: "Dank je".into(),
                ..c.clone()
            },
        )
        .unwrap();
        assert_eq!(field(&before, &reply), Ok(()));
        let mut edited = before.clone();
        story::change(&mut edited, 4, "edit", |tx| {
            let list = get_obj(tx, &ROOT, "comments", ObjType::List).expect("comments");
            let first = list_items(tx, &list)[0].clone();
            tx.put(&first, "text", "anders")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(field(&before, &edited), Err(Violation::Comments));

        let a = story::Attachment {
            sha256: "ab".repeat(32),
            mime: "audio/webm".into(),
            size: 10,
        };
        story::add_attachment(&mut before, &a, 5).unwrap();
        let mut status = before.clone();
        story::set_transcription_status(&mut status, &a.sha256, "done", 100, None, None, 6)
            .unwrap();
        assert_eq!(field(&before, &status), Err(Violation::Transcription));
        assert_eq!(
            check(
                &Owned::read(&before),
                &Owned::read(&status),
                Writer::Coordinator,
                |_| false
            ),
            Err(Violation::Transcription)
        );
    }

    #[test]
    fn the_machine_translation_is_the_servers_and_goes_back_when_refused() {
        let mut doc = doc_with_story();
        let a = story::Attachment {
            sha256: "cd".repeat(32),
            mime: "audio/webm".into(),
            size: 10,
        };
        story::add_attachment(&mut doc, &a, 5).unwrap();
        let segment = story::TranscriptSegment {
            end_ms: 900,
            text: "Merhaba".into(),
            ..Default::default()
        };
        let result = story::TranscriptResult {
            text: "Merhaba".into(),
            language: "tr".into(),
            model: "whisper-base".into(),
            segments: vec![segment.clone()],
            reason: None,
            translation: Some(story::MachineTranslation {
                text: "Hello".into(),
                language: "en".into(),
                model: "whisper-base".into(),
                segments: vec![story::TranscriptSegment {
                    text: "Hello".into(),
                    ..segment
                }],
            }),
        };
        story::set_transcript(&mut doc, &a.sha256, &result, 6).unwrap();
        let confirmed = doc.get_heads();
        let before = doc.clone();
        let mut forged = doc.clone();
        story::change(&mut forged, 7, "forge", |tx| {
            let t = get_obj(tx, &ROOT, "transcript", ObjType::Map).expect("transcript");
            let m = get_obj(tx, &t, "translation", ObjType::Map).expect("translation");
            tx.put(&m, "text", "Goodbye")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(field(&before, &forged), Err(Violation::Translation));
        let coordinator = check(
            &Owned::read(&before),
            &Owned::read(&forged),
            Writer::Coordinator,
            |_| true,
        );
        assert_eq!(coordinator, Err(Violation::Translation));
        // A person's correction of the transcript itself leaves the translation alone: allowed.
        let mut corrected = doc.clone();
        story::correct_transcript(
            &mut corrected,
            "Merhaba!",
            story::TranscriptState::Corrected,
            8,
        )
        .unwrap();
        assert_eq!(field(&before, &corrected), Ok(()));
        assert!(revert_owned(&mut forged, &confirmed, 9).unwrap());
        assert_eq!(
            story::transcript_translation(&forged).map(|t| t.text),
            Some("Hello".into())
        );
        assert_eq!(field(&before, &forged), Ok(()));
    }

    #[test]
    fn revert_puts_owned_fields_back_and_keeps_the_rest() {
        let mut doc = doc_with_story();
        as_actor(&mut doc, "coordinator", |d| {
            story::set_tag(d, &tag("voorzorg", TagState::Confirmed, "Coco")).unwrap()
        });
        let confirmed = doc.get_heads();
        let before = doc.clone();
        story::set_field(&mut doc, "review", "approved", 7).unwrap();
        story::set_tag(&mut doc, &tag("voorzorg", TagState::Rejected, "Nina")).unwrap();
        story::set_title(&mut doc, "Nieuwe titel", 8).unwrap();
        assert!(field(&before, &doc).is_err());
        assert!(revert_owned(&mut doc, &confirmed, 9).unwrap());
        assert_eq!(field(&before, &doc), Ok(()));
        assert_eq!(Story::read(&doc).title, "Nieuwe titel", "the rest stays");
        assert!(
            !revert_owned(&mut doc, &confirmed, 10).unwrap(),
            "nothing left to undo"
        );
    }

    #[test]
    fn an_approval_is_of_a_version() {
        let mut doc = doc_with_story();
        approve(&mut doc, "Coco", 5).unwrap();
        let approved = content(&approved_version(&doc).expect("approved"));
        assert_eq!(approved, content(&doc));
        story::set_title(&mut doc, "Herschreven", 6).unwrap();
        assert_ne!(content(&doc), approved);
        reopen_after_edit(&mut doc, 7).unwrap();
        assert_eq!(story::review_state(&doc), Some(ReviewState::Submitted));
        let still = approved_version(&doc).expect("the approved version stays for reports");
        assert_eq!(Story::read(&still).title, "Op de markt");
        // Returned: no version for reports.
        story::set_field(&mut doc, "review", "returned", 8).unwrap();
        assert!(approved_version(&doc).is_none());
    }

    fn tag(code: &str, state: TagState, by: &str) -> Tag {
        Tag {
            code: code.into(),
            state,
            by: by.into(),
            at: 3,
            score: None,
            evidence: vec![],
        }
    }
}
