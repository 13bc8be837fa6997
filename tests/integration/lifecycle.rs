//! Memory stays bounded (idle documents are evicted and reloaded on demand), and the server shuts
//! down gracefully on SIGTERM.

use crate::{WAIT, all_confirmed, parent_story};
use client_core::story;
use serde_json::Value;
use std::time::Duration;
use vertel_tests::{Backend, Env, Server, device};

async fn health(server: &Server) -> anyhow::Result<Value> {
    Ok(reqwest::get(server.url("/healthz"))
        .await?
        .error_for_status()?
        .json()
        .await?)
}

async fn wait_health(
    server: &Server,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let h = health(server).await?;
        if check(&h) {
            return Ok(h);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {h}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn idle_documents_are_evicted_and_reloaded(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = Server::start(&env, &["--doc-idle-secs", "1"]).await?;
    let prof = server.login_as("professional", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(
            phone
                .create_story(&parent_story(
                    &format!("Verhaal {i}"),
                    "Bij het consultatiebureau.",
                ))
                .await?,
        );
    }
    all_confirmed(&phone).await?;
    let h = health(&server).await?;
    assert_eq!(h["documents_in_memory"], 40, "{h}");

    // The phone stays connected but idle: content leaves memory, the subscriptions stay.
    wait_health(&server, "content evicted", |h| {
        h["documents_in_memory"] == 0 && h["documents_tracked"] == 40
    })
    .await?;
    // An edit still syncs: the document is reloaded on demand.
    phone
        .edit(ids[7], |d| story::set_title(d, "Na het uitladen", 99))
        .await?;
    all_confirmed(&phone).await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let desk = device(&env, "desk").await?;
    desk.connect(&server.ws_url(), &coord.token).await?;
    desk.want([ids[7]]).await?;
    desk.wait_for("reloaded story", WAIT, |d| {
        let id = ids[7];
        async move {
            d.story(&id)
                .await
                .is_some_and(|s| s.title == "Na het uitladen")
        }
    })
    .await?;

    // Nobody syncing: the documents leave memory entirely.
    phone.disconnect().await;
    desk.disconnect().await;
    wait_health(&server, "slots evicted", |h| h["documents_tracked"] == 0).await?;
    Ok(())
}
both!(idle_documents_are_evicted_and_reloaded);

/// SIGTERM closes the devices' connections and exits 0, with everything acknowledged stored.
async fn sigterm_closes_connections_and_exits_cleanly(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    phone
        .create_story(&parent_story("Voor het afsluiten", "Opgeslagen."))
        .await?;
    all_confirmed(&phone).await?;
    let status = server.terminate()?;
    assert!(status.success(), "exit status {status}");
    phone
        .wait_for(
            "disconnect",
            WAIT,
            |d| async move { !d.is_connected().await },
        )
        .await?;
    // Nothing was lost: a restarted server has the story.
    let server = env.start().await?;
    let coord = server.login_as("coordinator", "delft").await?;
    assert_eq!(server.feed(&coord.token).await?.len(), 1);
    Ok(())
}
both!(sigterm_closes_connections_and_exits_cleanly);
