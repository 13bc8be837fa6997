//! Sessions end everywhere: logout and expiry close the sync connections of that token, and a
//! push that arrives after logout is not stored (issue 10, finding 2: the old websocket kept full
//! read and write access after logout, and tokens never expired).

use crate::{WAIT, parent_story};
use anyhow::Context;
use automerge::Automerge;
use automerge::sync::{self, SyncDoc};
use client_core::wire::{DocumentId, Message};
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as Ws;
use vertel_tests::{Backend, Env, Server, device};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw automerge-repo peer: a websocket after the handshake, and the server's peer id.
async fn raw_peer(server: &Server, token: &str) -> anyhow::Result<(Socket, String)> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{}?token={token}", server.ws_url())).await?;
    let join = Message::Join {
        sender_id: "raw-peer".into(),
        supported_protocol_versions: vec!["1".into()],
        peer_metadata: None,
    };
    ws.send(Ws::Binary(join.encode().into())).await?;
    match next_message(&mut ws, WAIT).await? {
        Some(Message::Peer { sender_id, .. }) => Ok((ws, sender_id)),
        other => anyhow::bail!("expected peer, got {other:?}"),
    }
}

async fn next_message(ws: &mut Socket, wait: Duration) -> anyhow::Result<Option<Message>> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await? {
            Some(Ok(Ws::Binary(b))) => return Ok(Some(Message::decode(&b, usize::MAX)?)),
            Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => return Ok(None),
            Some(Ok(_)) => continue,
        }
    }
}

/// One story document being pushed by hand, message by message.
struct Push {
    id: DocumentId,
    doc: Automerge,
    state: sync::State,
}

impl Push {
    fn new(title: &str) -> anyhow::Result<Push> {
        let mut doc = Automerge::new();
        client_core::story::create_story(&mut doc, &parent_story(title, "Op het bankje."))?;
        Ok(Push {
            id: DocumentId::from_bytes(rand::random()),
            doc,
            state: sync::State::new(),
        })
    }

    /// The next sync message, if automerge has one to send.
    fn message(&mut self, server_peer: &str) -> Option<(Message, usize)> {
        let m = self.doc.generate_sync_message(&mut self.state)?;
        let changes = m.changes.len();
        Some((
            Message::Sync {
                document_id: self.id,
                sender_id: "raw-peer".into(),
                target_id: server_peer.into(),
                data: m.encode(),
            },
            changes,
        ))
    }

    /// Send what automerge has to send and take in the server's answers, for at most `rounds`
    /// rounds or until the server has nothing more to say about this document.
    async fn exchange(
        &mut self,
        ws: &mut Socket,
        server_peer: &str,
        rounds: usize,
    ) -> anyhow::Result<()> {
        for _ in 0..rounds {
            if let Some((m, _)) = self.message(server_peer) {
                ws.send(Ws::Binary(m.encode().into())).await?;
            }
            match next_message(ws, Duration::from_secs(2)).await {
                Ok(Some(Message::Sync {
                    document_id, data, ..
                })) if document_id == self.id => {
                    self.doc
                        .receive_sync_message(&mut self.state, sync::Message::decode(&data)?)?;
                }
                Ok(other) => anyhow::bail!("unexpected answer: {other:?}"),
                Err(_) => return Ok(()), // quiet
            }
        }
        Ok(())
    }
}

async fn stored_ids(server: &Server, token: &str) -> anyhow::Result<Vec<String>> {
    Ok(server
        .feed(token)
        .await?
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect())
}

async fn logout(server: &Server, token: &str) -> anyhow::Result<()> {
    let resp = reqwest::Client::new()
        .post(server.url("/api/v1/auth/logout"))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(resp.status().is_success(), "logout: {}", resp.status());
    Ok(())
}

async fn me_status(server: &Server, token: &str) -> anyhow::Result<u16> {
    Ok(reqwest::Client::new()
        .get(server.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await?
        .status()
        .as_u16())
}

async fn logout_ends_the_tokens_open_sync_connections(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("dwo")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "dwo").await?;
    let tablet = server.login_as("professional", "dwo").await?;
    let coord = server.login_as("coordinator", "dwo").await?;

    // A device on the token that logs out, and the same member's tablet on a token of its own.
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let other = device(&env, "tablet").await?;
    other.connect(&server.ws_url(), &tablet.token).await?;

    // The raw peer pushes a story while the session lives: it is stored.
    let (mut ws, server_peer) = raw_peer(&server, &prof.token).await?;
    let mut before = Push::new("Voor het uitloggen")?;
    before.exchange(&mut ws, &server_peer, 10).await?;
    let stored = stored_ids(&server, &coord.token).await?;
    assert!(
        stored.contains(&before.id.to_string()),
        "control push stored"
    );

    // A second story: the first round (heads only, no changes yet) before logout.
    let mut after = Push::new("Na het uitloggen")?;
    after.exchange(&mut ws, &server_peer, 1).await?;
    assert!(
        !stored_ids(&server, &coord.token)
            .await?
            .contains(&after.id.to_string())
    );

    logout(&server, &prof.token).await?;
    let logged_out = Instant::now();
    // The old connection pushes the story's changes right after the logout answered.
    let (push, changes) = after.message(&server_peer).context("a push with changes")?;
    assert!(changes > 0, "the message carries the story's changes");
    let _ = ws.send(Ws::Binary(push.encode().into())).await;
    match next_message(&mut ws, Duration::from_secs(5)).await? {
        Some(Message::Error { message, .. }) => {
            assert!(message.contains("session ended"), "{message}")
        }
        other => anyhow::bail!("expected the session-ended error, got {other:?}"),
    }
    assert!(
        next_message(&mut ws, Duration::from_secs(5))
            .await?
            .is_none()
    );
    // The device on that token is cut off too, within seconds, and cannot come back.
    phone
        .wait_for(
            "phone disconnected",
            Duration::from_secs(5),
            |d| async move { !d.is_connected().await },
        )
        .await?;
    assert!(logged_out.elapsed() < Duration::from_secs(5));
    assert!(phone.connect(&server.ws_url(), &prof.token).await.is_err());

    // Nothing of the push after logout was stored.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored = stored_ids(&server, &coord.token).await?;
    assert!(
        !stored.contains(&after.id.to_string()),
        "push after logout stored"
    );

    // The same member's other session goes on syncing.
    assert!(other.is_connected().await);
    let id = other
        .create_story(&parent_story("Van de tablet", "Nog steeds verbonden."))
        .await?;
    crate::all_confirmed(&other).await?;
    assert!(
        stored_ids(&server, &coord.token)
            .await?
            .contains(&id.to_string())
    );
    Ok(())
}
both!(logout_ends_the_tokens_open_sync_connections);

async fn sessions_expire_when_idle_or_old(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("dwo")?;
    let server = Server::start(
        &env,
        &[
            "--session-idle-secs",
            "2",
            "--session-max-secs",
            "6",
            "--session-check-secs",
            "1",
        ],
    )
    .await?;
    let connected = server.login_as("professional", "dwo").await?;
    let used = server.login_as("professional", "dwo").await?;
    let unused = server.login_as("professional", "dwo").await?;
    let start = Instant::now();
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &connected.token).await?;

    // A token in use stays valid past the idle lifetime: its last use is recorded.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(me_status(&server, &used.token).await?, 200, "token in use");
    }
    // An unused one does not.
    assert_eq!(me_status(&server, &unused.token).await?, 401, "idle token");
    // An open sync connection is use too.
    assert!(phone.is_connected().await);
    assert_eq!(me_status(&server, &connected.token).await?, 200);

    // At the absolute lifetime the connection is ended, and the token is refused.
    phone
        .wait_for(
            "connection ended at the lifetime",
            Duration::from_secs(15),
            |d| async move { !d.is_connected().await },
        )
        .await?;
    let ended = start.elapsed();
    assert!(
        ended >= Duration::from_secs(5) && ended < Duration::from_secs(12),
        "ended after {ended:?}"
    );
    assert_eq!(me_status(&server, &connected.token).await?, 401);
    assert_eq!(me_status(&server, &used.token).await?, 401);
    assert!(
        phone
            .connect(&server.ws_url(), &connected.token)
            .await
            .is_err()
    );
    Ok(())
}
both!(sessions_expire_when_idle_or_old);

/// Logout on one server process ends the token's connection on another process sharing the
/// PostgreSQL database, within the check interval.
///
/// PostgreSQL only: several server processes share one database only on PostgreSQL (with SQLite
/// one process serves the database; ARCHITECTURE.md, "Several processes need PostgreSQL").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_through_one_process_ends_the_connection_on_another() -> anyhow::Result<()> {
    let env = Env::new(Backend::Postgres).await?;
    env.workspace("dwo")?;
    let one = Server::start(&env, &["--session-check-secs", "1"]).await?;
    let two = Server::start(&env, &["--session-check-secs", "1"]).await?;
    let prof = one.login_as("professional", "dwo").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&two.ws_url(), &prof.token).await?;
    logout(&one, &prof.token).await?;
    let logged_out = Instant::now();
    phone
        .wait_for(
            "disconnected by the other process",
            Duration::from_secs(5),
            |d| async move { !d.is_connected().await },
        )
        .await?;
    assert!(logged_out.elapsed() < Duration::from_secs(5));
    assert_eq!(me_status(&two, &prof.token).await?, 401);
    Ok(())
}
