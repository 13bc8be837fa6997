//! Server processes on one PostgreSQL tell each other of stored changes with NOTIFY, which reaches
//! only a process listening at that moment. A process whose database connection was down catches
//! up from the documents' sequence numbers once it is back, without waiting for another edit.

use crate::{WAIT, all_confirmed, parent_story};
use anyhow::Context;
use client_core::story;
use std::time::{Duration, Instant};
use vertel_tests::proxy::Proxy;
use vertel_tests::{Backend, Env, Server, device};

/// How long process two's database connection stays cut (the outage in the bug report).
const OUTAGE: Duration = Duration::from_secs(5);
/// How soon after the database is back the edit must reach the desk: longer than the catch-up
/// poll (2 s) plus a reconnection's backoff, far shorter than "until someone edits again".
const CATCH_UP: Duration = Duration::from_secs(10);

/// PostgreSQL only: several server processes share one database only on PostgreSQL (with SQLite
/// one process serves the database; ARCHITECTURE.md, "Several processes need PostgreSQL").
/// The notification it loses and catches up with is PostgreSQL's LISTEN/NOTIFY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_while_a_process_was_cut_off_reaches_its_devices() -> anyhow::Result<()> {
    let env = Env::new(Backend::Postgres).await?;
    env.workspace("delft")?;
    let url = env.database_url.clone().context("a PostgreSQL URL")?;
    // Declared before the servers, so process two is gone before its proxy.
    let (proxy, proxied) = Proxy::for_database(&url).await?;
    let one = Server::start(&env, &[]).await?;
    let two = Server::start(&env, &["--database-url", &proxied]).await?;
    let prof = one.login_as("professional", "delft").await?;
    let coord = two.login_as("coordinator", "delft").await?;

    let phone = device(&env, "phone").await?;
    phone.connect(&one.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story("Storing", "De database was even weg."))
        .await?;
    all_confirmed(&phone).await?;
    let desk = device(&env, "desk").await?;
    desk.connect(&two.ws_url(), &coord.token).await?;
    desk.want([id]).await?;
    desk.wait_for("story via process two", WAIT, |d| async move {
        d.story(&id).await.is_some()
    })
    .await?;

    // Process two loses its database; process one stores an edit and notifies while two is not
    // listening.
    let cut_at = Instant::now();
    proxy.cut();
    phone
        .edit(id, |d| story::set_title(d, "Tijdens de storing", 20))
        .await?;
    all_confirmed(&phone).await?;
    tokio::time::sleep(OUTAGE.saturating_sub(cut_at.elapsed())).await;
    assert!(
        desk.story(&id).await.is_some_and(|s| s.title == "Storing"),
        "the edit cannot have reached process two while it was cut off"
    );
    proxy.heal();
    let healed = Instant::now();

    // No further edit anywhere: process two must find the change itself.
    desk.wait_for(
        "the edit made during the outage",
        CATCH_UP,
        |d| async move {
            d.story(&id)
                .await
                .is_some_and(|s| s.title == "Tijdens de storing")
        },
    )
    .await
    .with_context(|| {
        format!(
            "not caught up {:?} after the database came back; process two's log:\n{}",
            healed.elapsed(),
            two.log()
        )
    })?;
    println!(
        "caught up {:?} after the database came back",
        healed.elapsed()
    );
    assert!(desk.is_connected().await, "the desk kept its connection");
    Ok(())
}
