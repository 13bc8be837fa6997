//! The server recovers from storage faults on its own (issue 11): a database that refuses writes
//! for a while (a full disk on SQLite, failing commits on PostgreSQL) loses nothing acknowledged,
//! says so in `/healthz` and `/readyz`, and takes every device's changes again as soon as it can,
//! without a restart.

use crate::{WAIT, parent_story};
use client_core::native::Device;
use client_core::wire::{DocumentId, Message};
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as Ws;
use vertel_tests::{Backend, Env, Server, device};

/// Words, so that bodies do not compress to nothing.
fn body(n: usize) -> String {
    const WORDS: [&str; 12] = [
        "moeder",
        "kraamzorg",
        "wijk",
        "slaap",
        "voeding",
        "buurvrouw",
        "taal",
        "huisarts",
        "zorgen",
        "vader",
        "consultatiebureau",
        "week",
    ];
    (0..n)
        .map(|_| WORDS[rand::random_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

async fn ready(server: &Server) -> anyhow::Result<(u16, serde_json::Value)> {
    let r = reqwest::get(server.url("/readyz")).await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await?))
}

async fn health(server: &Server) -> anyhow::Result<serde_json::Value> {
    Ok(reqwest::get(server.url("/healthz")).await?.json().await?)
}

/// Reconnect whenever the server closed the connection, until nothing is unconfirmed.
async fn converge(phone: &Device, server: &Server, token: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT * 3;
    let mut failed_connects = Vec::new();
    loop {
        if !phone.is_connected().await
            && let Err(e) = phone.connect(&server.ws_url(), token).await
        {
            failed_connects.push(e.to_string());
        }
        if phone.unconfirmed().await.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the device never converged: {:?} unconfirmed; connected: {}; failed reconnects: {:?}; \
             device events: {:?}; server log: {}",
            phone.unconfirmed().await,
            phone.is_connected().await,
            failed_connects,
            phone.take_events(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// After the fault: every write goes through at once, on every connection of the pool.
async fn writes_go_through(phone: &Device, server: &Server, token: &str) -> anyhow::Result<()> {
    for i in 0..12 {
        let (status, body) = ready(server).await?;
        assert_eq!(status, 200, "readyz after the fault: {body}");
        let id = phone
            .create_story(&parent_story(
                &format!("Na de storing {i}"),
                "Gaat meteen door.",
            ))
            .await?;
        let stored = Instant::now() + WAIT;
        while !phone.is_confirmed(&id).await {
            anyhow::ensure!(
                phone.is_connected().await,
                "a write after the fault failed: {}",
                server.log()
            );
            anyhow::ensure!(Instant::now() < stored, "write {i} never confirmed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let h = health(server).await?;
    assert_eq!(h["status"], "ok", "{h}");
    let _ = token;
    Ok(())
}

/// Cap the size of every file the server writes (RLIMIT_FSIZE; the server ignores SIGXFSZ, so
/// growing a file past it fails like a full disk), or lift the cap.
fn cap_file_size(pid: u32, bytes: Option<u64>) -> anyhow::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit reads `limit` and writes nothing (old limit pointer is null).
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    anyhow::ensure!(rc == 0, "prlimit: {}", std::io::Error::last_os_error());
    Ok(())
}

/// SQLite only: a full disk under the server's own database file; its PostgreSQL counterpart is
/// `postgres_takes_writes_again_after_failing_commits`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_takes_writes_again_after_a_full_disk() -> anyhow::Result<()> {
    let env = Env::new(Backend::Sqlite).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    for i in 0..3 {
        phone
            .create_story(&parent_story(&format!("Vooraf {i}"), &body(50)))
            .await?;
    }
    converge(&phone, &server, &prof.token).await?;

    // The disk is full: no file may grow.
    let size = |name: &str| std::fs::metadata(env.data_dir().join(name)).map_or(0, |m| m.len());
    cap_file_size(
        server.pid(),
        Some(size("vertel.db").max(size("vertel.db-wal"))),
    )?;
    let mut written = Vec::new();
    for i in 0..30 {
        written.push(
            phone
                .create_story(&parent_story(&format!("Tijdens {i}"), &body(3000)))
                .await?,
        );
        if !phone.is_connected().await {
            let _ = phone.connect(&server.ws_url(), &prof.token).await;
        }
    }
    // The server says so, and acknowledges nothing it could not store.
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = ready(&server).await?;
        if status == 503 {
            assert_eq!(body["writable"], false, "{body}");
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "readyz never said the disk is full"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let h = health(&server).await?;
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(
        !phone.unconfirmed().await.is_empty(),
        "nothing can have been stored"
    );

    // Space returns. No restart: the same process takes every change, and then every write.
    let pid = server.pid();
    cap_file_size(pid, None)?;
    converge(&phone, &server, &prof.token).await?;
    writes_go_through(&phone, &server, &prof.token).await?;
    assert_eq!(server.pid(), pid);

    // Everything the phone wrote is stored: a fresh device gets all of it.
    let coord = server.login_as("coordinator", "delft").await?;
    let feed = server.feed(&coord.token).await?;
    for id in &written {
        assert!(
            feed.iter().any(|c| c["id"] == id.to_string()),
            "{id} missing after the fault"
        );
    }
    Ok(())
}

/// PostgreSQL refuses every commit of a chunk for a while (a deferred constraint trigger fails at
/// COMMIT, as a full disk or a lost primary would); then it takes them again.
///
/// PostgreSQL only: failing commits from the database server; its SQLite counterpart is
/// `sqlite_takes_writes_again_after_a_full_disk`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_takes_writes_again_after_failing_commits() -> anyhow::Result<()> {
    use sqlx::Connection;
    let env = Env::new(Backend::Postgres).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    phone
        .create_story(&parent_story("Vooraf", &body(50)))
        .await?;
    converge(&phone, &server, &prof.token).await?;

    let url = env.database_url.clone().unwrap_or_default();
    let mut admin = sqlx::PgConnection::connect(&url).await?;
    for statement in [
        "CREATE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device (test)'; END $$",
        "CREATE CONSTRAINT TRIGGER refuse_writes AFTER INSERT ON doc_chunks \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_writes()",
    ] {
        sqlx::query(statement).execute(&mut admin).await?;
    }
    let mut written = Vec::new();
    for i in 0..5 {
        written.push(
            phone
                .create_story(&parent_story(&format!("Tijdens {i}"), &body(200)))
                .await?,
        );
        if !phone.is_connected().await {
            let _ = phone.connect(&server.ws_url(), &prof.token).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + WAIT;
    while health(&server).await?["storage"]["last_write_error"].is_null() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "healthz never showed the failed writes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!phone.unconfirmed().await.is_empty());

    sqlx::query("DROP TRIGGER refuse_writes ON doc_chunks")
        .execute(&mut admin)
        .await?;
    let pid = server.pid();
    converge(&phone, &server, &prof.token).await?;
    writes_go_through(&phone, &server, &prof.token).await?;
    assert_eq!(server.pid(), pid);
    let feed = server.feed(&prof.token).await?;
    for id in &written {
        assert!(
            feed.iter().any(|c| c["id"] == id.to_string()),
            "{id} missing"
        );
    }
    Ok(())
}

/// Clients that stop reading while a story they asked for is edited cost the server a bounded
/// amount of memory (one copy in flight each, not one per change; a byte budget behind that),
/// are closed once they do not answer pings, and the readers that keep up get every change.
async fn readers_that_stop_reading_are_bounded_and_closed(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = Server::start(
        &env,
        &[
            "--ping-secs",
            "1",
            "--silence-timeout-secs",
            "4",
            "--max-queued-bytes",
            "4000000",
        ],
    )
    .await?;
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story("Lang verhaal", &body(2000)))
        .await?;
    converge(&phone, &server, &prof.token).await?;

    let laptop = device(&env, "laptop").await?;
    laptop.connect(&server.ws_url(), &coord.token).await?;
    laptop.want([id]).await?;
    let mut stalled = Vec::new();
    for _ in 0..3 {
        stalled.push(vertel_tests::stalled_reader(&server, &coord.token, id).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = vertel_tests::proc_status_kb(server.pid(), "VmRSS:").unwrap_or(0) * 1024;

    // A burst of edits: every one changes the story the stalled clients asked for.
    const EDITS: i64 = 200;
    for i in 0..EDITS {
        phone
            .edit(id, |d| {
                client_core::story::splice_body(d, 0, 0, &format!("{i} "), i)
            })
            .await?;
    }
    converge(&phone, &server, &prof.token).await?;
    let heads = phone.heads(&id).await.unwrap_or_default();
    laptop
        .wait_for("every change on the laptop", WAIT, |d| {
            let heads = heads.clone();
            async move { d.heads(&id).await == Some(heads) }
        })
        .await?;
    let peak = vertel_tests::proc_status_kb(server.pid(), "VmHWM:").unwrap_or(0) * 1024;
    let grew = peak.saturating_sub(before);
    println!(
        "server memory: {} MB before the burst, peak {} MB",
        before >> 20,
        peak >> 20
    );
    assert!(
        grew < 40 << 20,
        "the server grew by {} MB for three readers that do not read",
        grew >> 20
    );

    // Nothing from them, not even a pong, for longer than --silence-timeout-secs (4): closed.
    // (Reading any earlier would answer the pings and make them alive again.) Reading now finds
    // what they were sent, then the end of the stream: a copy or two, not one per change.
    tokio::time::sleep(Duration::from_secs(6)).await;
    for mut ws in stalled {
        let copies = tokio::time::timeout(WAIT, async {
            let mut copies = 0;
            while let Some(Ok(frame)) = ws.next().await {
                match frame {
                    Ws::Binary(b) => {
                        if let Ok(Message::Sync { .. }) = Message::decode(&b, usize::MAX) {
                            copies += 1;
                        }
                    }
                    Ws::Close(_) => break,
                    _ => {}
                }
            }
            copies
        })
        .await;
        let Ok(copies) = copies else {
            anyhow::bail!("a reader that stopped reading was never closed");
        };
        assert!(
            (1..=5).contains(&copies),
            "a reader that never answered was sent {copies} copies for {EDITS} changes"
        );
    }
    assert!(
        laptop.is_connected().await,
        "the reader that kept up stays connected"
    );
    Ok(())
}
both!(readers_that_stop_reading_are_bounded_and_closed);

/// How many chunks hold a document now.
async fn chunks_of(env: &Env, id: DocumentId) -> anyhow::Result<i64> {
    use sqlx::Connection;
    let query = "SELECT COUNT(*) FROM doc_chunks WHERE doc_id = $1";
    Ok(match &env.database_url {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx::query_scalar(query)
                .bind(id.to_string())
                .fetch_one(&mut conn)
                .await?
        }
        None => {
            let path = env.data_dir().join("vertel.db");
            let mut conn =
                sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
            sqlx::query_scalar(query)
                .bind(id.to_string())
                .fetch_one(&mut conn)
                .await?
        }
    })
}

/// A story edited in many short sessions, with the server restarted (killed or stopped) or the
/// story evicted from memory in between, is still compacted: what counts is the number of chunks
/// stored, not a counter in memory that every restart and eviction reset.
async fn stories_edited_in_short_sessions_are_compacted(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let args = ["--compact-after", "4", "--doc-idle-secs", "1"];
    let phone = device(&env, "phone").await?;
    let mut server = Server::start(&env, &args).await?;
    let mut token = server.login_as("professional", "delft").await?.token;
    phone.connect(&server.ws_url(), &token).await?;
    let id = phone
        .create_story(&parent_story("Kort en vaak", "Begin."))
        .await?;
    converge(&phone, &server, &token).await?;
    for session in 0..8i64 {
        if session % 2 == 0 {
            // A restart: killed on even sessions past the first half, stopped otherwise.
            phone.disconnect().await;
            if session >= 4 {
                server.kill9();
            } else {
                server.terminate()?;
            }
            server = Server::start(&env, &args).await?;
            token = server.login_as("professional", "delft").await?.token;
        } else {
            // An eviction: nobody syncs the story for a while.
            phone.disconnect().await;
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
        phone.connect(&server.ws_url(), &token).await?;
        for i in 0..2 {
            phone
                .edit(id, |d| {
                    client_core::story::splice_body(d, 0, 0, &format!("{session}.{i} "), session)
                })
                .await?;
        }
        converge(&phone, &server, &token).await?;
    }
    let chunks = chunks_of(&env, id).await?;
    assert!(
        chunks <= 6,
        "{chunks} chunks after 8 short sessions of 2 edits (compaction after 4 or 5)"
    );
    Ok(())
}
both!(stories_edited_in_short_sessions_are_compacted);
