//! Several server processes share one PostgreSQL: an edit made through one reaches devices
//! connected to another.

use crate::{WAIT, all_confirmed, parent_story};
use client_core::story;
use vertel_tests::{Backend, Env, Server, device};

/// PostgreSQL only: several server processes share one database only on PostgreSQL (with SQLite
/// one process serves the database; ARCHITECTURE.md, "Several processes need PostgreSQL").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_through_one_process_reaches_a_device_on_another() -> anyhow::Result<()> {
    let env = Env::new(Backend::Postgres).await?;
    env.workspace("delft")?;
    let one = Server::start(&env, &[]).await?;
    let two = Server::start(&env, &[]).await?;
    let prof = one.login_as("professional", "delft").await?;
    let coord = two.login_as("coordinator", "delft").await?;

    let phone = device(&env, "phone").await?;
    phone.connect(&one.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story("Twee servers", "Eén database."))
        .await?;
    all_confirmed(&phone).await?;

    let desk = device(&env, "desk").await?;
    desk.connect(&two.ws_url(), &coord.token).await?;
    desk.want([id]).await?;
    desk.wait_for("story via the other process", WAIT, |d| async move {
        d.story(&id).await.is_some()
    })
    .await?;

    // Live: an edit on the phone (process one) appears on the desk (process two) without asking.
    phone
        .edit(id, |d| story::set_title(d, "Live via NOTIFY", 9))
        .await?;
    desk.wait_for("live edit across processes", WAIT, |d| async move {
        d.story(&id)
            .await
            .is_some_and(|s| s.title == "Live via NOTIFY")
    })
    .await?;
    // And back the other way.
    desk.edit(id, |d| story::splice_body(d, 0, 0, "Terug: ", 10))
        .await?;
    phone
        .wait_for("edit back", WAIT, |d| async move {
            d.story(&id)
                .await
                .is_some_and(|s| s.body.starts_with("Terug: "))
        })
        .await?;
    Ok(())
}
