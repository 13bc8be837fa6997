//! Who owns which field (`docs/schema.md`, "Who writes what"), enforced by the server per
//! document: a field member's write to a field that belongs to a coordinator or to the server is
//! refused for that document alone, the device says why, and the connection keeps syncing the
//! device's other stories. And an approval is of a version: an edit after approval changes
//! nothing in a report until the story is approved again.

use crate::workspace::{call, get_json, post_json};
use crate::{WAIT, all_confirmed, parent_story};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT, ReadDoc};
use client_core::story::{
    self, Attachment, ConsentScope, ReviewState, StoryError, Tag, TagState, TranscriptState,
};
use client_core::wire::{DocumentId, Refusal};
use serde_json::json;
use vertel_tests::{Backend, Device, Env, Server, device};

/// A forbidden write a buggy or old app could make, by field.
type Write = fn(&mut Automerge) -> Result<(), StoryError>;

fn approve(d: &mut Automerge) -> Result<(), StoryError> {
    story::set_field(d, "review", "approved", 10)
}

fn sign_review(d: &mut Automerge) -> Result<(), StoryError> {
    story::set_field(d, "reviewedBy", "Coördinator Coco", 10)
}

fn tag_as_tagger(d: &mut Automerge) -> Result<(), StoryError> {
    story::set_tag(d, &tag("voorzorg", TagState::Confirmed, "vertel-tagger"))
}

fn overturn_coordinators_tag(d: &mut Automerge) -> Result<(), StoryError> {
    story::set_tag(d, &tag("centering", TagState::Rejected, "Nina"))
}

fn edit_coordinators_comment(d: &mut Automerge) -> Result<(), StoryError> {
    story::change(d, 10, "edit comment", |tx| {
        let Some((_, list)) = tx.get(ROOT, "comments")? else {
            return Ok(());
        };
        if let Some((_, first)) = tx.get(&list, 0)? {
            tx.put(&first, "text", "Alles goedgekeurd, zegt de coördinator.")?;
        }
        Ok(())
    })
}

fn approve_transcript(d: &mut Automerge) -> Result<(), StoryError> {
    story::correct_transcript(d, "Wat ze vertelde.", TranscriptState::Approved, 10)
}

fn write_transcription_status(d: &mut Automerge) -> Result<(), StoryError> {
    story::set_transcription_status(d, SHA, "done", 100, None, None, 10).map(|_| ())
}

const SHA: &str = "5f1c0bf6a7d2c0a1b4f0e6d9c3b2a19087f6e5d4c3b2a1908f7e6d5c4b3a2910";

fn tag(code: &str, state: TagState, by: &str) -> Tag {
    Tag {
        code: code.into(),
        state,
        by: by.into(),
        at: 10,
        score: None,
        evidence: vec![],
    }
}

async fn wait_refused(phone: &Device, id: DocumentId, what: &str) -> anyhow::Result<Refusal> {
    phone
        .wait_for(&format!("{what}: refused"), WAIT, move |d| async move {
            d.refused(&id).await.is_some()
        })
        .await?;
    phone
        .refused(&id)
        .await
        .ok_or_else(|| anyhow::anyhow!("{what}: refusal gone"))
}

async fn owned_fields_are_refused_per_document(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let other = phone
        .create_story(&parent_story("Gaat door", "Deze blijft synchroniseren."))
        .await?;

    let cases: [(&str, Write); 7] = [
        ("review state", approve),
        ("reviewer's name", sign_review),
        ("tag as the tagger", tag_as_tagger),
        ("coordinator's tag decision", overturn_coordinators_tag),
        ("coordinator's comment", edit_coordinators_comment),
        ("transcript approval", approve_transcript),
        ("transcription status", write_transcription_status),
    ];
    for (n, (what, write)) in cases.into_iter().enumerate() {
        let id = phone
            .create_story(&parent_story(what, "Een verhaal van de markt."))
            .await?;
        phone
            .edit(id, |d| {
                story::add_attachment(
                    d,
                    &Attachment {
                        sha256: SHA.into(),
                        mime: "audio/webm".into(),
                        size: 10,
                    },
                    5,
                )
            })
            .await?;
        all_confirmed(&phone).await?;
        // The coordinator decides a tag and comments, through the workspace.
        let (s, b) = post_json(
            &server,
            &coord.token,
            &format!("/workspace/stories/{id}/tags/centering"),
            json!({"state": "confirmed"}),
        )
        .await?;
        anyhow::ensure!(s == 200, "{what}: tag decision {s} {b}");
        let (s, b) = post_json(
            &server,
            &coord.token,
            &format!("/workspace/stories/{id}/review"),
            json!({"state": "reviewed", "comment": "Dank je, goed verhaal."}),
        )
        .await?;
        anyhow::ensure!(s == 200, "{what}: review {s} {b}");
        phone
            .wait_for(
                &format!("{what}: coordinator's comment"),
                WAIT,
                move |d| async move { d.story(&id).await.is_some_and(|s| !s.comments.is_empty()) },
            )
            .await?;

        phone.edit(id, write).await?;
        let refusal = wait_refused(&phone, id, what).await?;
        assert_eq!(refusal.code, Refusal::NOT_YOURS, "{what}");
        assert!(!refusal.message.is_empty(), "{what}: a reason to show");

        // The connection goes on: another story's edit is confirmed.
        phone
            .edit(other, |d| {
                story::set_title(d, &format!("Nog steeds {n}"), 20)
            })
            .await?;
        phone
            .wait_for(
                &format!("{what}: other story confirmed"),
                WAIT,
                move |d| async move { d.is_confirmed(&other).await },
            )
            .await?;
        assert!(phone.is_connected().await, "{what}: still connected");

        // Nothing of the refused change is stored.
        let (_, row) = get_json(&server, &coord.token, &format!("/workspace/stories/{id}")).await?;
        assert_eq!(row["review"], "reviewed", "{what}: {row}");
        assert_eq!(
            row["comments"][0]["text"], "Dank je, goed verhaal.",
            "{what}"
        );
        assert_eq!(
            row["comments"][0]["written_by"], "coordinator",
            "{what}: {row}"
        );

        // The way out: undo, and the story syncs again.
        phone.undo_refused(id).await?;
        all_confirmed(&phone).await?;
        assert!(
            phone.refused(&id).await.is_none(),
            "{what}: refusal cleared"
        );
    }
    Ok(())
}
both!(owned_fields_are_refused_per_document);

fn quotable(title: &str, body: &str) -> story::NewStory {
    let mut s = parent_story(title, body);
    if let Some(c) = s.consent.as_mut() {
        c.scope = Some(ConsentScope::MayBeQuoted);
    }
    s
}

async fn report(server: &Server, token: &str) -> anyhow::Result<String> {
    let (s, r) = call(
        server,
        token,
        reqwest::Method::GET,
        "/workspace/report?activity=centering",
        None,
        None,
    )
    .await?;
    anyhow::ensure!(s == 200, "report {s}");
    Ok(r)
}

async fn an_edit_after_approval_changes_no_report(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;

    let id = phone
        .create_story(&quotable("Centering", "Ze zei: de groep gaf me moed."))
        .await?;
    all_confirmed(&phone).await?;
    for (path, body) in [
        (
            format!("/workspace/stories/{id}/tags/centering"),
            json!({"state": "confirmed"}),
        ),
        (
            format!("/workspace/stories/{id}/review"),
            json!({"state": "approved"}),
        ),
    ] {
        let (s, b) = post_json(&server, &coord.token, &path, body).await?;
        anyhow::ensure!(s == 200, "{path}: {s} {b}");
    }
    let before = report(&server, &coord.token).await?;
    assert!(before.contains("de groep gaf me moed."), "{before}");

    // The recorder rewrites the story after approval.
    phone
        .wait_for("approval on the phone", WAIT, move |d| async move {
            d.story(&id)
                .await
                .is_some_and(|s| s.review == Some(ReviewState::Approved))
        })
        .await?;
    phone
        .edit(id, |d| {
            story::update_body(d, "Ze zei: iets heel anders nu.", 30)
        })
        .await?;
    all_confirmed(&phone).await?;
    // Back to submitted, marked, on the desk and on the phone.
    let mut row = serde_json::Value::Null;
    for _ in 0..100 {
        row = get_json(&server, &coord.token, &format!("/workspace/stories/{id}"))
            .await?
            .1;
        if row["review"] == "submitted" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(row["review"], "submitted", "{row}");
    assert_eq!(row["changed_after_approval"], true, "{row}");
    assert_eq!(
        row["approved"]["body"], "Ze zei: de groep gaf me moed.",
        "{row}"
    );
    phone
        .wait_for(
            "back to submitted on the phone",
            WAIT,
            move |d| async move {
                d.story(&id)
                    .await
                    .is_some_and(|s| s.review == Some(ReviewState::Submitted))
            },
        )
        .await?;

    // The report still quotes the approved version, never the new text.
    let after = report(&server, &coord.token).await?;
    assert!(after.contains("de groep gaf me moed."), "{after}");
    assert!(!after.contains("iets heel anders"), "{after}");

    // Approved again: the new text is what reports quote.
    let (s, b) = post_json(
        &server,
        &coord.token,
        &format!("/workspace/stories/{id}/review"),
        json!({"state": "approved"}),
    )
    .await?;
    anyhow::ensure!(s == 200, "{s} {b}");
    let again = report(&server, &coord.token).await?;
    assert!(again.contains("iets heel anders nu."), "{again}");
    assert!(!again.contains("de groep gaf me moed."), "{again}");
    Ok(())
}
both!(an_edit_after_approval_changes_no_report);

/// A document the server never stored, refused on its first push, is not stored at all.
async fn a_refused_new_story_is_not_stored(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let phone = device(&env, "phone").await?;
    // Made offline, with an approval the recorder may not give.
    let id = phone
        .create_story(&parent_story("Al goedgekeurd?", "Een oude app."))
        .await?;
    phone.edit(id, approve).await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let refusal = wait_refused(&phone, id, "new story").await?;
    assert_eq!(refusal.code, Refusal::NOT_YOURS);
    let feed = server.feed(&prof.token).await?;
    assert!(
        feed.iter().all(|c| c["id"] != id.to_string()),
        "not stored: {feed:?}"
    );
    // Undo: the story is stored, unjudged (the server never had a review state for it).
    phone.undo_refused(id).await?;
    all_confirmed(&phone).await?;
    let review = phone.story(&id).await.and_then(|s| s.review);
    assert!(
        matches!(review, None | Some(ReviewState::Draft)),
        "{review:?}"
    );
    let feed = server.feed(&prof.token).await?;
    assert!(
        feed.iter().any(|c| c["id"] == id.to_string()),
        "stored after undo: {feed:?}"
    );
    Ok(())
}
both!(a_refused_new_story_is_not_stored);
