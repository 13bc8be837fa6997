//! Stories travel offline → server → other devices, and concurrent edits converge.

use crate::{WAIT, all_confirmed, parent_story};
use client_core::story;
use vertel_tests::{Backend, Env, device};

/// Two devices edit the same story offline (title on one, body on the other, concurrent inserts
/// into the same paragraph), reconnect, and converge; the server holds the merge.
async fn offline_edits_converge(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;

    let phone = device(&env, "phone").await?;
    let id = phone
        .create_story(&parent_story(
            "Op de speeltuin",
            "Ze sliep slecht. Het ging beter.",
        ))
        .await?;
    assert!(
        !phone.is_confirmed(&id).await,
        "not confirmed before any connection"
    );
    phone.connect(&server.ws_url(), &prof.token).await?;
    all_confirmed(&phone).await?;

    let laptop = device(&env, "laptop").await?;
    laptop.connect(&server.ws_url(), &coord.token).await?;
    laptop.want([id]).await?;
    laptop
        .wait_for("story on laptop", WAIT, |d| async move {
            d.story(&id).await.is_some()
        })
        .await?;

    phone.disconnect().await;
    laptop.disconnect().await;
    // Offline: title on the phone plus an insert at the paragraph's start; an insert in the middle
    // of the same paragraph on the laptop.
    phone
        .edit(id, |d| story::set_title(d, "Op de speeltuin in Delft", 10))
        .await?;
    phone
        .edit(id, |d| story::splice_body(d, 0, 0, "Moeder vertelt: ", 11))
        .await?;
    laptop
        .edit(id, |d| story::splice_body(d, 16, 0, " Veel huilen.", 12))
        .await?;
    assert!(!phone.is_confirmed(&id).await);

    phone.connect(&server.ws_url(), &prof.token).await?;
    laptop.connect(&server.ws_url(), &coord.token).await?;
    all_confirmed(&phone).await?;
    all_confirmed(&laptop).await?;
    let expected = "Moeder vertelt: Ze sliep slecht. Veel huilen. Het ging beter.";
    for d in [&phone, &laptop] {
        d.wait_for("convergence", WAIT, |d| async move {
            d.story(&id)
                .await
                .is_some_and(|s| s.body == expected && s.title == "Op de speeltuin in Delft")
        })
        .await?;
    }
    // A fresh device gets the merged story from the server alone.
    let fresh = device(&env, "fresh").await?;
    fresh.connect(&server.ws_url(), &coord.token).await?;
    fresh.want([id]).await?;
    fresh
        .wait_for("merged story from the server", WAIT, |d| async move {
            d.story(&id).await.is_some_and(|s| s.body == expected)
        })
        .await?;
    assert_eq!(fresh.heads(&id).await, phone.heads(&id).await);
    Ok(())
}
both!(offline_edits_converge);

/// 1,000 stories created offline arrive on a coordinator's fresh device via the changes feed; a
/// member of another workspace sees none of them, by id or by feed.
async fn thousand_stories_catch_up(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("westland")?;
    env.workspace("elders")?;
    let server = env.start().await?;
    let prof = server.login_as("sleutelpersoon", "westland").await?;
    let coord = server.login_as("coordinator", "westland").await?;
    let outsider = server.login_as("coordinator", "elders").await?;

    let phone = device(&env, "phone").await?;
    let mut ids = Vec::new();
    for i in 0..1000 {
        ids.push(
            phone
                .create_story(&parent_story(
                    &format!("Gesprek {i}"),
                    "In de moskee na het gebed.",
                ))
                .await?,
        );
    }
    phone.connect(&server.ws_url(), &prof.token).await?;
    phone
        .wait_for(
            "1000 confirmed",
            std::time::Duration::from_secs(120),
            |d| async move { d.unconfirmed().await.is_empty() },
        )
        .await?;

    let feed = server.feed(&coord.token).await?;
    assert_eq!(feed.len(), 1000);
    let feed_ids: Vec<client_core::DocumentId> = feed
        .iter()
        .map(|c| c["id"].as_str().unwrap_or_default().parse())
        .collect::<Result<_, _>>()?;
    let fresh = device(&env, "coordinator").await?;
    fresh.connect(&server.ws_url(), &coord.token).await?;
    fresh.want(feed_ids).await?;
    fresh
        .wait_for(
            "1000 stories on the coordinator's device",
            std::time::Duration::from_secs(120),
            |d| async move { d.ids().await.len() == 1000 },
        )
        .await?;
    for id in ids.iter().step_by(97) {
        assert_eq!(fresh.heads(id).await, phone.heads(id).await);
    }
    // Heads in the feed match the device's heads.
    let first = &feed[0];
    let first_id: client_core::DocumentId = first["id"].as_str().unwrap_or_default().parse()?;
    let heads: Vec<String> = serde_json::from_value(first["heads"].clone())?;
    assert_eq!(Some(heads), phone.heads(&first_id).await);

    // The other workspace: nothing in the feed, and requests by id are "unavailable".
    assert!(server.feed(&outsider.token).await?.is_empty());
    let spy = device(&env, "spy").await?;
    spy.connect(&server.ws_url(), &outsider.token).await?;
    spy.want(ids.iter().take(20).copied()).await?;
    // Wait for the 20 answers, then check nothing arrived.
    let mut unavailable = 0;
    for _ in 0..100 {
        unavailable += spy
            .take_events()
            .iter()
            .filter(|e| matches!(e, client_core::Event::Unavailable { .. }))
            .count();
        if unavailable == 20 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(unavailable, 20);
    assert!(spy.ids().await.is_empty());
    Ok(())
}
both!(thousand_stories_catch_up);

/// A change on one device reaches another device that is connected, without asking.
async fn live_edits_arrive(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("pn")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "pn").await?;
    let coord = server.login_as("coordinator", "pn").await?;
    let phone = device(&env, "phone").await?;
    let desk = device(&env, "desk").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    desk.connect(&server.ws_url(), &coord.token).await?;
    let id = phone
        .create_story(&parent_story("Babycafé", "Koffie en vragen."))
        .await?;
    all_confirmed(&phone).await?;
    desk.want([id]).await?;
    desk.wait_for(
        "story",
        WAIT,
        |d| async move { d.story(&id).await.is_some() },
    )
    .await?;
    desk.edit(id, |d| {
        story::add_comment(
            d,
            &story::Comment {
                id: "c1".into(),
                author: "coordinator".into(),
                at: 5,
                text: "Mag dit in het kwartaalverslag?".into(),
            },
        )
    })
    .await?;
    phone
        .wait_for("comment on the phone", WAIT, |d| async move {
            d.story(&id).await.is_some_and(|s| {
                s.comments
                    .iter()
                    .any(|c| c.text.contains("kwartaalverslag"))
            })
        })
        .await?;
    Ok(())
}
both!(live_edits_arrive);
