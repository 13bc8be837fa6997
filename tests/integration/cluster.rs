//! The cluster's parts (README, "Several machines"; `scripts/cluster.sh` starts the same on one
//! machine): two sync processes and a transcription worker on one PostgreSQL and one S3 store.
//! Both are the test's own (a PostgreSQL cluster and the s3s-fs S3 server the test command
//! builds), so the test can restart them without touching the other tests' servers.
//!
//! A device works on sync process one, a coordinator on sync process two. A voice note uploaded
//! half through one process and resumed through the other is transcribed by the worker (the real
//! Whisper model) and appears on the coordinator's device. Then each part is killed or restarted
//! in turn — the worker, a sync process, PostgreSQL, the S3 server — and nothing acknowledged is
//! lost: stories, edits and recordings are all there, and the rest carries on.

use crate::media::{
    attach, create_upload, download, head, http, location, offset, patch, speak, story_on_phone,
};
use crate::{WAIT, all_confirmed};
use anyhow::{Context, Result};
use client_core::story;
use client_core::wire::DocumentId;
use serde_json::Value;
use std::time::{Duration, Instant};
use vertel_tests::cluster::{OwnPostgres, OwnS3, S3_BUCKET};
use vertel_tests::{Backend, Device, Env, Server, device};

/// A transcription with the real model on a loaded 2-core machine, the model loaded first.
const TRANSCRIBED: Duration = Duration::from_secs(240);

async fn health(server: &Server) -> Result<Value> {
    Ok(http()
        .get(server.url("/healthz"))
        .send()
        .await?
        .json()
        .await?)
}

/// Wait until `/readyz` says the process serves again (its database is back).
async fn ready(server: &Server) -> Result<()> {
    let deadline = Instant::now() + WAIT * 3;
    loop {
        if let Ok(r) = http().get(server.url("/readyz")).send().await
            && r.status() == 200
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} never ready again",
            server.addr
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Wait until the device shows a transcript containing `word` (the transcript of one voice
/// note: each note's text joins the story's transcript when it is done).
async fn transcript_on(desk: &Device, id: DocumentId, word: &str) -> Result<()> {
    let word = word.to_string();
    desk.wait_for("the worker's transcript", TRANSCRIBED, move |d| {
        let word = word.clone();
        async move {
            d.story(&id)
                .await
                .and_then(|s| s.transcript)
                .is_some_and(|t| t.text.to_lowercase().contains(&word))
        }
    })
    .await?;
    Ok(())
}

/// Upload `bytes` through `server` in one request and check it was stored (204).
async fn stored(server: &Server, token: &str, id: DocumentId, bytes: &[u8]) -> Result<()> {
    let resp = crate::media::upload(server, token, id, bytes, "audio/ogg").await?;
    anyhow::ensure!(resp.status() == 204, "upload: {}", resp.status());
    Ok(())
}

fn ogg(dir: &std::path::Path, name: &str, text: &str) -> Result<Vec<u8>> {
    let path = speak(dir, name, "en", text, &["-c:a", "libopus", "-b:a", "24k"])?;
    Ok(std::fs::read(path)?)
}

/// PostgreSQL only: several server processes share one database only on PostgreSQL (with SQLite
/// one process serves the database; ARCHITECTURE.md, "Several processes need PostgreSQL").
/// It starts its own PostgreSQL, to restart it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_loses_nothing_acknowledged_when_any_part_restarts() -> Result<()> {
    let pg = OwnPostgres::start()?;
    let mut s3 = OwnS3::start()?;
    let env = Env {
        backend: Backend::Postgres,
        dir: tempfile::Builder::new().prefix("vertel-test-").tempdir()?,
        devices: tempfile::Builder::new()
            .prefix("vertel-devices-")
            .tempdir()?,
        database_url: Some(pg.database("vertel_cluster").await?),
    };
    env.workspace("delft")?;
    let vars = s3.server_env();
    let sync = ["--role", "sync"];
    let worker_args = [
        "--role",
        "worker",
        "--job-poll-ms",
        "200",
        "--job-lease-secs",
        "10",
        "--job-retry-secs",
        "1",
    ];
    let one = Server::start_with_env(&env, &sync, &vars).await?;
    let two = Server::start_with_env(&env, &sync, &vars).await?;
    let mut worker = Server::start_with_env(&env, &worker_args, &vars).await?;

    // Each says what it is; the worker accepts no devices.
    assert_eq!(health(&one).await?["role"], "sync");
    let h = health(&worker).await?;
    assert_eq!(h["role"], "worker");
    assert_eq!(h["blob_store"], format!("s3://{S3_BUCKET}/blobs-of-test"));
    for path in ["/api/v1/uploads", "/sync", "/api/v1/auth/login"] {
        let status = http().post(worker.url(path)).send().await?.status();
        assert_eq!(status, 404, "{path} on the worker");
    }

    let prof = one.login_as("professional", "delft").await?;
    let coord = two.login_as("coordinator", "delft").await?;
    let (phone, id) = story_on_phone(&env, &one, &prof.token, "phone", "en").await?;
    let desk = device(&env, "desk").await?;
    desk.connect(&two.ws_url(), &coord.token).await?;
    desk.want([id]).await?;

    // 1. A voice note, half through process one, the rest through process two.
    let dir = tempfile::tempdir()?;
    let note = ogg(dir.path(), "one.ogg", "Hello from the cluster.")?;
    let sha = attach(&phone, id, &note, "audio/ogg").await?;
    all_confirmed(&phone).await?;
    let created = create_upload(&one, &prof.token, id, &sha, "audio/ogg", note.len()).await?;
    assert_eq!(created.status(), 201);
    let loc = location(&created)?;
    let half = note.len() / 2;
    let first = patch(&one, &prof.token, &loc, 0, &note[..half]).await?;
    assert_eq!(
        (first.status().as_u16(), offset(&first)),
        (204, Some(half as u64))
    );
    let resumed = head(&two, &prof.token, &loc).await?;
    assert_eq!(
        offset(&resumed),
        Some(half as u64),
        "the other process sees the parts"
    );
    let rest = patch(&two, &prof.token, &loc, half as u64, &note[half..]).await?;
    assert_eq!(rest.status(), 204);
    // In the bucket, not in a data directory.
    let object = s3
        .bucket_dir()
        .join(S3_BUCKET)
        .join("blobs-of-test/blobs")
        .join(&sha[..2])
        .join(&sha);
    assert_eq!(std::fs::read(&object).context("the object")?, note);
    assert!(
        !env.data_dir().join("media/blobs").exists(),
        "nothing local"
    );
    transcript_on(&desk, id, "hello").await?;
    // Served by the other process, ranges included.
    let got = download(&two, &coord.token, &sha, id, "").await?;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await?.as_ref(), note.as_slice());
    let part = http()
        .get(two.url(&format!("/api/v1/blobs/{sha}?story={id}")))
        .bearer_auth(&coord.token)
        .header("Range", "bytes=10-19")
        .send()
        .await?;
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await?.as_ref(), &note[10..20]);

    // 2. The worker is killed; a note uploaded meanwhile is transcribed by its successor.
    worker.kill9();
    let note2 = ogg(dir.path(), "two.ogg", "The children played outside.")?;
    let sha2 = attach(&phone, id, &note2, "audio/ogg").await?;
    all_confirmed(&phone).await?;
    stored(&one, &prof.token, id, &note2).await?;
    assert!(health(&two).await?["queues"]["transcription_depth"].as_i64() >= Some(1));
    worker = Server::start_with_env(&env, &worker_args, &vars).await?;
    transcript_on(&desk, id, "children").await?;

    // 3. Sync process one is killed after an acknowledged edit: nothing of it is lost, and the
    // phone carries on through process two.
    phone
        .edit(id, |d| story::set_title(d, "Voor de storing", 20))
        .await?;
    all_confirmed(&phone).await?;
    one.kill9();
    desk.wait_for("the edit made on process one", WAIT, |d| async move {
        d.story(&id)
            .await
            .is_some_and(|s| s.title == "Voor de storing")
    })
    .await?;
    let prof2 = two.login_as("professional", "delft").await?;
    phone.connect(&two.ws_url(), &prof2.token).await?;
    phone
        .edit(id, |d| story::set_title(d, "Na de storing", 21))
        .await?;
    all_confirmed(&phone).await?;

    // 4. PostgreSQL restarts (immediately, like a crash): the processes reconnect.
    pg.restart()?;
    ready(&two).await?;
    ready(&worker).await?;
    phone.disconnect().await;
    phone.connect(&two.ws_url(), &prof2.token).await?;
    phone
        .edit(id, |d| story::set_title(d, "Na de herstart", 22))
        .await?;
    all_confirmed(&phone).await?;
    desk.disconnect().await;
    desk.connect(&two.ws_url(), &coord.token).await?;
    desk.want([id]).await?;
    desk.wait_for(
        "the edit after PostgreSQL's restart",
        WAIT,
        |d| async move {
            d.story(&id)
                .await
                .is_some_and(|s| s.title == "Na de herstart")
        },
    )
    .await?;

    // 5. The S3 server is down: an upload is refused, not acknowledged; after its restart the
    // upload resumes and completes, and what was stored before is all there.
    let note3 = ogg(dir.path(), "three.ogg", "Good morning everyone.")?;
    let sha3 = attach(&phone, id, &note3, "audio/ogg").await?;
    all_confirmed(&phone).await?;
    s3.kill();
    let created = create_upload(&two, &prof2.token, id, &sha3, "audio/ogg", note3.len()).await?;
    assert_eq!(created.status(), 201);
    let loc = location(&created)?;
    let refused = patch(&two, &prof2.token, &loc, 0, &note3).await?;
    assert_eq!(
        refused.status(),
        500,
        "not acknowledged while the store is down"
    );
    s3.restart()?;
    let at = offset(&head(&two, &prof2.token, &loc).await?).context("offset")?;
    let done = patch(&two, &prof2.token, &loc, at, &note3[at as usize..]).await?;
    assert_eq!(done.status(), 204);
    transcript_on(&desk, id, "morning").await?;
    for (s, bytes) in [(&sha, &note), (&sha2, &note2), (&sha3, &note3)] {
        let got = download(&two, &coord.token, s, id, "").await?;
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await?.as_ref(), bytes.as_slice());
    }
    let final_story = desk.story(&id).await.context("story")?;
    assert_eq!(final_story.title, "Na de herstart");
    Ok(())
}
