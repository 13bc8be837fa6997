//! Approval is of a version: the heads a coordinator approved (`approvedHeads`), what an edit
//! after approval must leave alone for the approval to stand ([`content`]), and who wrote what a
//! reader may want attributed ([`authors`]). Which writer may change which field is decided in
//! `mod.rs`, not here.

use super::*;
use crate::story::ReviewState;

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
    let comments = list_maps(doc, "comments").iter().map(op_actor).collect();
    let tags = map_entries(doc, "tags")
        .into_iter()
        .map(|(code, obj)| (code, op_actor(&obj)))
        .collect();
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
        tx.put(ROOT, "review", ReviewState::Approved.code())?;
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

pub(super) fn write_keep(
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
        tx.put(ROOT, "review", ReviewState::Submitted.code())?;
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
