//! Erasure: the story's text leaves the server's files; devices purge; stale devices can't re-upload.

use crate::{WAIT, all_confirmed, parent_story};
use client_core::Event;
use std::path::Path;
use vertel_tests::{Backend, Env, device};

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in rd.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

/// The PostgreSQL cluster's data directory (the test's role may read it: it runs the cluster).
async fn pg_data_directory(env: &Env) -> anyhow::Result<std::path::PathBuf> {
    use sqlx::Connection;
    let url = env.database_url.clone().unwrap_or_default();
    let mut conn = sqlx::PgConnection::connect(&url).await?;
    let dir: String = sqlx::query_scalar("SHOW data_directory")
        .fetch_one(&mut conn)
        .await?;
    Ok(dir.into())
}

async fn erased_stories_leave_no_trace(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;

    let marker = format!("Unieke zin om te wissen {:016x}.", rand::random::<u64>());
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let keep = phone
        .create_story(&parent_story("Blijft", "Dit verhaal blijft staan."))
        .await?;
    let id = phone
        .create_story(&parent_story("Wordt gewist", &marker))
        .await?;
    // More history on the story, so that the marker sits in several chunks.
    for i in 0..5 {
        phone
            .edit(id, |d| {
                client_core::story::splice_body(d, 0, 0, &format!("{i} "), i)
            })
            .await?;
    }
    all_confirmed(&phone).await?;

    let stale = device(&env, "stale").await?;
    stale.connect(&server.ws_url(), &coord.token).await?;
    stale.want([id]).await?;
    stale
        .wait_for("story on the stale device", WAIT, |d| async move {
            d.story(&id).await.is_some()
        })
        .await?;
    all_confirmed(&stale).await?;
    stale.disconnect().await;

    if backend == Backend::Sqlite {
        assert!(
            !files_containing(env.data_dir(), marker.as_bytes()).is_empty(),
            "marker stored before erasure"
        );
    }

    let resp = reqwest::Client::new()
        .delete(server.url(&format!("/api/v1/stories/{id}")))
        .bearer_auth(&prof.token)
        .send()
        .await?;
    // Verified at once, or (a query of the server's own held a snapshot a moment) soon after.
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await?;
    assert!(
        (status == 200 && body["verified"] == true) || (status == 202 && body["verified"] == false),
        "erase: {status} {body}"
    );
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let state: serde_json::Value = reqwest::Client::new()
            .get(server.url(&format!("/api/v1/stories/{id}/erasure")))
            .bearer_auth(&prof.token)
            .send()
            .await?
            .json()
            .await?;
        if state["verified"] == true {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "erasure never verified: {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // The connected device purges its copy at once.
    phone
        .wait_for("purge on the phone", WAIT, |d| async move {
            d.story(&id).await.is_none()
        })
        .await?;

    // No byte of the text remains in the server's data directory (SQLite database, WAL, ...).
    let hits = files_containing(env.data_dir(), marker.as_bytes());
    assert!(hits.is_empty(), "marker still in {hits:?}");
    if backend == Backend::Postgres {
        // Nor in the cluster's files: tables, indexes and the write-ahead log (the test cluster
        // runs with wal_recycle = off, as SECURITY.md asks of operators).
        let hits = files_containing(&pg_data_directory(&env).await?, marker.as_bytes());
        if !hits.is_empty() {
            // Name the relations, for whoever reads the failure.
            use sqlx::Connection;
            let url = env.database_url.clone().unwrap_or_default();
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            let mut names = Vec::new();
            for hit in &hits {
                let node = hit
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .split('.')
                    .next()
                    .unwrap_or_default();
                let name: Option<String> = sqlx::query_scalar(
                    "SELECT relname::text FROM pg_class WHERE relfilenode::text = $1",
                )
                .bind(node)
                .fetch_optional(&mut conn)
                .await?;
                names.push(name);
            }
            panic!("marker still in the PostgreSQL cluster: {hits:?} {names:?}");
        }
        // Nothing readable through the database either.
        use sqlx::Connection;
        let url = env.database_url.clone().unwrap_or_default();
        let mut conn = sqlx::PgConnection::connect(&url).await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM doc_chunks WHERE doc_id = $1")
            .bind(id.to_string())
            .fetch_one(&mut conn)
            .await?;
        assert_eq!(n, 0);
    }

    // The feed reports the tombstone, so devices that were offline purge on catch-up.
    let feed = server.feed(&coord.token).await?;
    let entry = feed
        .iter()
        .find(|c| c["id"] == id.to_string())
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["deleted"], true);

    // The stale device edits its old copy offline and reconnects: the upload is refused and its
    // copy purged; the other story is untouched.
    stale
        .edit(id, |d| {
            client_core::story::set_title(d, "Toch weer terug?", 70)
        })
        .await?;
    stale.connect(&server.ws_url(), &coord.token).await?;
    stale
        .wait_for("stale copy purged", WAIT, |d| async move {
            d.story(&id).await.is_none()
                || d.take_events()
                    .iter()
                    .any(|e| matches!(e, Event::Purged { .. }))
        })
        .await?;
    let hits = files_containing(env.data_dir(), marker.as_bytes());
    assert!(hits.is_empty(), "marker came back in {hits:?}");
    let check = device(&env, "check").await?;
    check.connect(&server.ws_url(), &coord.token).await?;
    check.want([id, keep]).await?;
    check
        .wait_for("kept story", WAIT, |d| async move {
            d.story(&keep).await.is_some()
        })
        .await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        check.story(&id).await.is_none(),
        "erased story never comes back"
    );

    // Only the recorder or a coordinator may erase; a second erase finds nothing.
    let resp = reqwest::Client::new()
        .delete(server.url(&format!("/api/v1/stories/{id}")))
        .bearer_auth(&coord.token)
        .send()
        .await?;
    assert_eq!(resp.status(), 404);
    Ok(())
}
both!(erased_stories_leave_no_trace);

/// An erasure is done when the bytes are gone, not when the DELETE returned. A reader that holds
/// an old snapshot of the SQLite database keeps the erased pages in the write-ahead log: the
/// erasure is answered "in progress" (202) and completes, verified, once the reader lets go.
///
/// SQLite only: the old snapshot that keeps erased bytes is SQLite's write-ahead log; PostgreSQL's
/// erasure is verified by `erased_stories_leave_no_trace` on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_is_verified_only_when_the_bytes_are_gone() -> anyhow::Result<()> {
    use sqlx::Connection;
    let env = Env::new(Backend::Sqlite).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let marker = format!("Tekst die verdwijnen moet {:016x}.", rand::random::<u64>());
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story("Wordt gewist", &marker))
        .await?;
    all_confirmed(&phone).await?;
    assert!(!files_containing(env.data_dir(), marker.as_bytes()).is_empty());

    // Someone reads the database (a backup, a report) and keeps the snapshot open.
    let path = env.data_dir().join("vertel.db");
    let mut reader =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
    sqlx::query("BEGIN").execute(&mut reader).await?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM doc_chunks")
        .fetch_one(&mut reader)
        .await?;
    assert!(n > 0);

    let client = reqwest::Client::new();
    let resp = client
        .delete(server.url(&format!("/api/v1/stories/{id}")))
        .bearer_auth(&prof.token)
        .send()
        .await?;
    assert_eq!(
        resp.status(),
        202,
        "in progress while the reader holds the log"
    );
    let body: serde_json::Value = resp.json().await?;
    assert_eq!(body["verified"], false, "{body}");
    let status = |token: String| {
        let (client, url) = (
            client.clone(),
            server.url(&format!("/api/v1/stories/{id}/erasure")),
        );
        async move {
            let r = client.get(url).bearer_auth(token).send().await?;
            anyhow::ensure!(r.status() == 200, "status: {}", r.status());
            Ok::<_, anyhow::Error>(r.json::<serde_json::Value>().await?)
        }
    };
    assert_eq!(status(prof.token.clone()).await?["verified"], false);

    // The reader lets go: the erasure completes on its own, and then no byte is left.
    sqlx::query("ROLLBACK").execute(&mut reader).await?;
    reader.close().await?;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if status(prof.token.clone()).await?["verified"] == true {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "erasure never verified"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let hits = files_containing(env.data_dir(), marker.as_bytes());
    assert!(hits.is_empty(), "verified, yet the marker is in {hits:?}");
    Ok(())
}
