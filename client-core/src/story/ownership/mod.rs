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
//!
//! The check and the revert live here; approval of a version (`approvedHeads`, what an edit after
//! it must leave alone, who wrote what) in `approval.rs`. No key is written here that `story/`'s
//! writers do not also write: this folder decides who may, not how.

use super::media::write_translation;
use super::read::{
    get_bool, get_i64, get_obj, get_str, list_items, list_maps, map_entries, read_tag,
};
use super::write::{change, ensure_map, put_tag_object};
use super::{Story, StoryDetails, StoryError};
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
        let comments = list_maps(doc, "comments")
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
            .collect();
        let tags = map_entries(doc, "tags")
            .into_iter()
            .map(|(code, obj)| {
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
                (code, tag)
            })
            .collect();
        let transcriptions = list_maps(doc, "attachments")
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
            .collect();
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
            let tags = ensure_map(tx, &ROOT, "tags")?;
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
            write_translation(tx, super::transcript_translation(&old_doc).as_ref())?;
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

mod approval;
use approval::write_keep;
pub use approval::*;

#[cfg(test)]
mod tests;
