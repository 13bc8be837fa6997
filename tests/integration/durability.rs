//! The server is killed with SIGKILL during sync and restarted: no acknowledged change is lost and
//! devices resume.

use crate::{WAIT, all_confirmed, parent_story};
use client_core::story;
use std::time::Duration;
use vertel_tests::{Backend, Env, Server, device};

async fn acknowledged_changes_survive_kill_9(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;

    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story("Typen tijdens een crash", ""))
        .await?;
    all_confirmed(&phone).await?;

    // Keep typing while the server is killed.
    let writer = {
        let phone = phone.clone();
        tokio::spawn(async move {
            for i in 0..400 {
                let word = format!("woord{i} ");
                let len = phone
                    .story(&id)
                    .await
                    .map(|s| s.body.chars().count())
                    .unwrap_or(0);
                if phone
                    .edit(id, |d| story::splice_body(d, len, 0, &word, i))
                    .await
                    .is_err()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The heads the server advertised are what it acknowledged: it advertises only stored heads.
    let acknowledged = phone.server_heads(&id).await;
    server.kill9();
    writer.await?;
    let last_confirmed = acknowledged;
    assert!(
        !last_confirmed.is_empty(),
        "the server acknowledged edits before the kill"
    );
    assert_ne!(
        phone.heads(&id).await,
        Some(last_confirmed.clone()),
        "the kill happened while edits were still in flight"
    );

    // Restart on the same data. A fresh device sees at least everything that was confirmed.
    let server = Server::start(&env, &[]).await?;
    let fresh = device(&env, "fresh").await?;
    fresh.connect(&server.ws_url(), &coord.token).await?;
    fresh.want([id]).await?;
    // Every change the server had acknowledged before the kill is in its history.
    fresh
        .wait_for("acknowledged heads after restart", WAIT, |d| {
            let heads = last_confirmed.clone();
            async move { d.contains_heads(&id, &heads).await }
        })
        .await?;
    let kept = fresh.story(&id).await.map(|s| s.body).unwrap_or_default();
    assert!(
        kept.starts_with("woord0 woord1 "),
        "server kept the early words: {kept:.40}"
    );

    // The phone reconnects and everything it typed arrives.
    phone.connect(&server.ws_url(), &prof.token).await?;
    all_confirmed(&phone).await?;
    let full = phone.story(&id).await.map(|s| s.body).unwrap_or_default();
    fresh
        .wait_for("all words after resume", WAIT, |d| {
            let full = full.clone();
            async move { d.story(&id).await.is_some_and(|s| s.body == full) }
        })
        .await?;
    assert!(full.contains("woord399 "));
    Ok(())
}
both!(acknowledged_changes_survive_kill_9);
