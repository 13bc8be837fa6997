//! Who sees which story: field members their own and shared ones, coordinators their workspace.

use crate::{WAIT, all_confirmed, parent_story};
use client_core::Event;
use serde_json::json;
use vertel_tests::{Backend, Env, device};

async fn field_members_see_their_own_and_shared_stories(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let sleutel = server.login_as("sleutelpersoon", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;

    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let mine = phone
        .create_story(&parent_story("Van mij", "Thuis, na de bevalling."))
        .await?;
    let shared = phone
        .create_story(&parent_story("Gedeeld", "Op het consultatiebureau."))
        .await?;
    all_confirmed(&phone).await?;

    // The sleutelpersoon sees nothing yet: feed empty, request unavailable.
    assert!(server.feed(&sleutel.token).await?.is_empty());
    let other = device(&env, "other").await?;
    other.connect(&server.ws_url(), &sleutel.token).await?;
    other.want([mine]).await?;
    other
        .wait_for("unavailable", WAIT, |d| async move {
            d.take_events()
                .iter()
                .any(|e| matches!(e, Event::Unavailable { .. }))
        })
        .await?;
    assert!(other.story(&mine).await.is_none());

    // Sharing one story makes exactly that one visible.
    let client = reqwest::Client::new();
    let resp = client
        .post(server.url(&format!("/api/v1/stories/{shared}/shares")))
        .bearer_auth(&prof.token)
        .json(&json!({ "member_id": sleutel.member_id }))
        .send()
        .await?;
    assert!(resp.status().is_success(), "share: {}", resp.status());
    let feed = server.feed(&sleutel.token).await?;
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0]["id"], shared.to_string());
    other.want([shared]).await?;
    other
        .wait_for("shared story", WAIT, |d| async move {
            d.story(&shared).await.is_some()
        })
        .await?;

    // The sleutelpersoon may not share or erase someone else's story: it looks like it is missing.
    let resp = client
        .delete(server.url(&format!("/api/v1/stories/{mine}")))
        .bearer_auth(&sleutel.token)
        .send()
        .await?;
    assert_eq!(resp.status(), 404);

    // The coordinator sees both.
    assert_eq!(server.feed(&coord.token).await?.len(), 2);
    Ok(())
}
both!(field_members_see_their_own_and_shared_stories);

/// A document first pushed by a member belongs to that member's workspace, and counts as recorded
/// by them, whichever client created it.
async fn first_push_decides_ownership(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("a")?;
    env.workspace("b")?;
    let server = env.start().await?;
    let a = server.login_as("professional", "a").await?;
    let b = server.login_as("professional", "b").await?;
    let b_coord = server.login_as("coordinator", "b").await?;

    // A device of workspace b creates the story offline; the b professional pushes it first.
    let shared_device = device(&env, "shared").await?;
    let id = shared_device
        .create_story(&parent_story("Eerste push", "Wie was eerst?"))
        .await?;
    shared_device.connect(&server.ws_url(), &b.token).await?;
    all_confirmed(&shared_device).await?;
    shared_device.disconnect().await;

    // Later the same document (with an extra change) comes from a member of workspace a: refused.
    shared_device
        .edit(id, |d| client_core::story::set_title(d, "Gekaapt", 99))
        .await?;
    shared_device.connect(&server.ws_url(), &a.token).await?;
    shared_device
        .wait_for("refusal", WAIT, |d| async move {
            let ev = d.take_events();
            ev.iter()
                .any(|e| matches!(e, Event::Unavailable { .. } | Event::Purged { .. }))
        })
        .await?;
    let feed = server.feed(&b_coord.token).await?;
    assert_eq!(feed.len(), 1);
    assert!(server.feed(&a.token).await?.is_empty());
    let check = device(&env, "check").await?;
    check.connect(&server.ws_url(), &b_coord.token).await?;
    check.want([id]).await?;
    check
        .wait_for(
            "story",
            WAIT,
            |d| async move { d.story(&id).await.is_some() },
        )
        .await?;
    assert_eq!(
        check.story(&id).await.map(|s| s.title),
        Some("Eerste push".to_string())
    );
    Ok(())
}
both!(first_push_decides_ownership);

/// Only coordinators judge stories: a field member's device that sets "approved" is refused and
/// nothing of that change is stored.
async fn field_members_cannot_approve_their_own_stories(backend: Backend) -> anyhow::Result<()> {
    use client_core::story::{self, ReviewState};
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = vertel_tests::Server::start(&env, &["--tagger", "off"]).await?;
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story("Zelf goedgekeurd?", "Mag niet."))
        .await?;
    // Handing in is the recorder's (the shell writes only the state).
    phone
        .edit(id, |d| {
            story::set_field(d, "review", ReviewState::Submitted.code(), 5)
        })
        .await?;
    all_confirmed(&phone).await?;

    // Approving is not: refused for this story alone, with a reason, and the phone stays connected.
    phone
        .edit(id, |d| {
            story::set_review(d, ReviewState::Approved, "prof", 6)
        })
        .await?;
    phone
        .wait_for("refusal", WAIT, move |d| async move {
            d.refused(&id).await.is_some()
        })
        .await?;
    let refusal = phone.refused(&id).await.expect("refused");
    assert_eq!(refusal.code, client_core::wire::Refusal::NOT_YOURS);
    assert!(
        refusal.message.contains("coördinator"),
        "{}",
        refusal.message
    );
    assert!(phone.is_connected().await);
    assert!(!phone.is_confirmed(&id).await);

    let desk = device(&env, "desk").await?;
    desk.connect(&server.ws_url(), &coord.token).await?;
    desk.want([id]).await?;
    desk.wait_for(
        "story",
        WAIT,
        |d| async move { d.story(&id).await.is_some() },
    )
    .await?;
    assert_eq!(
        desk.story(&id).await.and_then(|s| s.review),
        Some(ReviewState::Submitted)
    );
    // The coordinator may approve.
    desk.edit(id, |d| {
        story::set_review(d, ReviewState::Approved, "coord", 7)
    })
    .await?;
    all_confirmed(&desk).await?;
    Ok(())
}
both!(field_members_cannot_approve_their_own_stories);

/// A story sent over `/sync` to someone other than its recorder is a read, in the audit log as
/// `story.opened` (detail `sync`), once per connection and story; the recorder's own sync is not.
async fn stories_read_over_sync_are_in_the_audit_log(backend: Backend) -> anyhow::Result<()> {
    use anyhow::Context;
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let admin = server.login_as("admin", "delft").await?;

    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story("Gelezen", "Over de eerste weken."))
        .await?;
    all_confirmed(&phone).await?;

    let laptop = device(&env, "laptop").await?;
    laptop.connect(&server.ws_url(), &coord.token).await?;
    laptop.want([id]).await?;
    laptop
        .wait_for("story on the laptop", WAIT, |d| async move {
            d.story(&id).await.is_some()
        })
        .await?;

    // The batch writer runs beside the sync: wait for the entry rather than for a fixed time.
    let mut entries = Vec::new();
    for _ in 0..50 {
        let (status, log) = crate::workspace::get_json(
            &server,
            &admin.token,
            "/workspace/audit?action=story.opened",
        )
        .await?;
        assert_eq!(status, 200);
        entries = log["entries"].as_array().context("entries")?.clone();
        if !entries.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let reads: Vec<(i64, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["member_id"].as_i64().unwrap_or_default(),
                e["doc_id"].as_str().unwrap_or_default(),
                e["detail"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        reads,
        [(coord.member_id, id.to_string().as_str(), "sync")],
        "one read by the coordinator, none by the recorder"
    );
    Ok(())
}
both!(stories_read_over_sync_are_in_the_audit_log);
