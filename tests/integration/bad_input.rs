//! Malformed CBOR, unknown message types, oversized frames, text frames: each gets a protocol
//! error and a closed connection. A document the server will not take (garbage changes, over the
//! size limit) is refused for that document alone and the connection goes on. Either way the
//! server keeps serving others.

use crate::{WAIT, all_confirmed, parent_story};
use client_core::wire::{DocumentId, Message};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as Ws;
use vertel_tests::{Backend, Env, Server, device};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw(server: &Server, token: &str) -> anyhow::Result<Socket> {
    let (ws, _) =
        tokio_tungstenite::connect_async(format!("{}?token={token}", server.ws_url())).await?;
    Ok(ws)
}

async fn join(ws: &mut Socket) -> anyhow::Result<String> {
    let join = Message::Join {
        sender_id: "raw-peer".into(),
        supported_protocol_versions: vec!["1".into()],
        peer_metadata: None,
    };
    ws.send(Ws::Binary(join.encode().into())).await?;
    match next_message(ws).await? {
        Some(Message::Peer {
            sender_id,
            selected_protocol_version,
            target_id,
            ..
        }) => {
            assert_eq!(selected_protocol_version, "1");
            assert_eq!(target_id, "raw-peer");
            Ok(sender_id)
        }
        other => anyhow::bail!("expected peer, got {other:?}"),
    }
}

async fn next_message(ws: &mut Socket) -> anyhow::Result<Option<Message>> {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await? {
            Some(Ok(Ws::Binary(b))) => return Ok(Some(Message::decode(&b, usize::MAX)?)),
            Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => return Ok(None),
            Some(Ok(_)) => continue,
        }
    }
}

/// After sending something bad: an `error` message arrives and then the connection closes.
async fn expect_error_then_close(ws: &mut Socket, what: &str) -> anyhow::Result<String> {
    let message = match next_message(ws).await? {
        Some(Message::Error { message, .. }) => message,
        other => anyhow::bail!("{what}: expected an error message, got {other:?}"),
    };
    assert!(
        next_message(ws).await?.is_none(),
        "{what}: connection should close"
    );
    Ok(message)
}

async fn bad_input_is_refused_and_others_are_served(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    env.workspace("elders")?;
    let server = Server::start(&env, &["--max-frame-bytes", "65536"]).await?;
    let prof = server.login_as("professional", "delft").await?;
    let outsider = server.login_as("professional", "elders").await?;

    // A healthy device stays connected through everything below.
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story("Gezond", "Blijft werken."))
        .await?;
    all_confirmed(&phone).await?;

    // No token: refused before the upgrade.
    assert!(
        tokio_tungstenite::connect_async(server.ws_url())
            .await
            .is_err()
    );

    // Malformed CBOR before and after the handshake.
    let mut ws = raw(&server, &prof.token).await?;
    ws.send(Ws::Binary(vec![0xff, 0xfe, 0x00].into())).await?;
    let msg = expect_error_then_close(&mut ws, "garbage before join").await?;
    assert!(msg.contains("CBOR") || msg.contains("join"), "{msg}");
    let mut ws = raw(&server, &prof.token).await?;
    join(&mut ws).await?;
    ws.send(Ws::Binary(vec![0xa1, 0x64, 0x74].into())).await?;
    expect_error_then_close(&mut ws, "truncated CBOR").await?;

    // An unknown message type.
    let mut ws = raw(&server, &prof.token).await?;
    join(&mut ws).await?;
    let unknown = ciborium::Value::Map(vec![
        ("type".into(), "teleport".into()),
        ("senderId".into(), "raw-peer".into()),
    ]);
    let mut bytes = Vec::new();
    ciborium::into_writer(&unknown, &mut bytes)?;
    ws.send(Ws::Binary(bytes.into())).await?;
    expect_error_then_close(&mut ws, "unknown type").await?;

    // A sync message whose automerge payload is garbage: that document is refused with a reason,
    // nothing is stored, and the connection goes on (the next request is answered).
    let mut ws = raw(&server, &prof.token).await?;
    let server_peer = join(&mut ws).await?;
    let bogus_id = DocumentId::from_bytes(rand::random());
    let bad = Message::Sync {
        document_id: bogus_id,
        sender_id: "raw-peer".into(),
        target_id: server_peer.clone(),
        data: vec![0x42, 1, 2, 3, 4],
    };
    ws.send(Ws::Binary(bad.encode().into())).await?;
    match next_message(&mut ws).await? {
        Some(Message::DocUnavailable {
            document_id,
            refused: Some(refusal),
            ..
        }) => {
            assert_eq!(document_id, bogus_id);
            assert_eq!(refusal.code, client_core::wire::Refusal::INVALID);
        }
        other => anyhow::bail!("bad sync payload: expected a refusal, got {other:?}"),
    }
    let ask = Message::Request {
        document_id: DocumentId::from_bytes(rand::random()),
        sender_id: "raw-peer".into(),
        target_id: server_peer.clone(),
        data: automerge::sync::SyncDoc::generate_sync_message(
            &automerge::Automerge::new(),
            &mut automerge::sync::State::new(),
        )
        .map(|m| m.encode())
        .unwrap_or_default(),
    };
    ws.send(Ws::Binary(ask.encode().into())).await?;
    assert!(
        matches!(
            next_message(&mut ws).await?,
            Some(Message::DocUnavailable { refused: None, .. })
        ),
        "the connection still answers after a refusal"
    );
    assert!(
        server
            .feed(&prof.token)
            .await?
            .iter()
            .all(|c| c["id"] != bogus_id.to_string())
    );

    // An oversized frame.
    let mut ws = raw(&server, &prof.token).await?;
    join(&mut ws).await?;
    let _ = ws.send(Ws::Binary(vec![0u8; 200_000].into())).await;
    let closed = next_message(&mut ws).await?;
    assert!(
        matches!(closed, None | Some(Message::Error { .. })),
        "oversized: {closed:?}"
    );
    if closed.is_some() {
        assert!(next_message(&mut ws).await?.is_none());
    }

    // A text frame.
    let mut ws = raw(&server, &prof.token).await?;
    join(&mut ws).await?;
    ws.send(Ws::Text("hallo".into())).await?;
    expect_error_then_close(&mut ws, "text frame").await?;

    // A request for a foreign document is answered exactly like one for a missing document.
    let mut ws = raw(&server, &outsider.token).await?;
    let server_peer = join(&mut ws).await?;
    let empty_sync = automerge::sync::SyncDoc::generate_sync_message(
        &automerge::Automerge::new(),
        &mut automerge::sync::State::new(),
    )
    .map(|m| m.encode())
    .unwrap_or_default();
    let missing = DocumentId::from_bytes(rand::random());
    let mut answers = Vec::new();
    for doc in [id, missing] {
        let req = Message::Request {
            document_id: doc,
            sender_id: "raw-peer".into(),
            target_id: server_peer.clone(),
            data: empty_sync.clone(),
        };
        ws.send(Ws::Binary(req.encode().into())).await?;
        match next_message(&mut ws).await? {
            Some(Message::DocUnavailable {
                document_id,
                sender_id,
                target_id,
                refused: None,
            }) => {
                assert_eq!(document_id, doc);
                answers.push((sender_id, target_id));
            }
            other => anyhow::bail!("expected doc-unavailable, got {other:?}"),
        }
    }
    assert_eq!(answers[0], answers[1]);

    // The healthy device still syncs, and the garbage document was never stored.
    phone
        .edit(id, |d| {
            client_core::story::set_title(d, "Nog steeds gezond", 50)
        })
        .await?;
    all_confirmed(&phone).await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let feed = server.feed(&coord.token).await?;
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0]["id"], id.to_string());
    assert!(phone.is_connected().await);
    Ok(())
}
both!(bad_input_is_refused_and_others_are_served);

/// A story larger than the document limit is refused (for that story alone) and not stored.
async fn oversized_documents_are_refused(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = Server::start(&env, &["--max-doc-bytes", "20000"]).await?;
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let phone = device(&env, "phone").await?;
    let big: String = (0..60_000)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect();
    let id = phone.create_story(&parent_story("Te groot", &big)).await?;
    let small = phone
        .create_story(&parent_story("Klein", "Past wel."))
        .await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    // Refused for that story alone, with a reason; the connection goes on with the other.
    phone
        .wait_for("refusal", WAIT, move |d| async move {
            d.refused(&id).await.is_some()
        })
        .await?;
    let refusal = phone.refused(&id).await.expect("refused");
    assert_eq!(refusal.code, client_core::wire::Refusal::TOO_LARGE);
    phone
        .wait_for("the small story stored", WAIT, move |d| async move {
            d.is_confirmed(&small).await
        })
        .await?;
    assert!(phone.is_connected().await);
    assert!(!phone.is_confirmed(&id).await);
    let feed = server.feed(&coord.token).await?;
    assert_eq!(feed.len(), 1, "{feed:?}");
    assert_eq!(feed[0]["id"], small.to_string());
    Ok(())
}
both!(oversized_documents_are_refused);

/// A client that floods the server past its message rate is cut off; others are unaffected.
async fn message_floods_are_cut_off(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = Server::start(
        &env,
        &["--max-messages-per-sec", "5", "--message-burst", "20"],
    )
    .await?;
    let prof = server.login_as("professional", "delft").await?;
    let mut ws = raw(&server, &prof.token).await?;
    let server_peer = join(&mut ws).await?;
    let empty = automerge::sync::SyncDoc::generate_sync_message(
        &automerge::Automerge::new(),
        &mut automerge::sync::State::new(),
    )
    .map(|m| m.encode())
    .unwrap_or_default();
    for _ in 0..60 {
        let req = Message::Request {
            document_id: DocumentId::from_bytes(rand::random()),
            sender_id: "raw-peer".into(),
            target_id: server_peer.clone(),
            data: empty.clone(),
        };
        if ws.send(Ws::Binary(req.encode().into())).await.is_err() {
            break;
        }
    }
    let mut unavailable = 0;
    let error = loop {
        match next_message(&mut ws).await? {
            Some(Message::DocUnavailable { .. }) => unavailable += 1,
            Some(Message::Error { message, .. }) => break message,
            other => anyhow::bail!("expected answers then an error, got {other:?}"),
        }
    };
    assert!(error.contains("rate"), "{error}");
    assert_eq!(unavailable, 20, "the burst was served before the cut-off");
    assert!(next_message(&mut ws).await?.is_none());
    // Another connection of the same member works.
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    phone
        .create_story(&parent_story("Na de vloed", "Gewoon doorgaan."))
        .await?;
    all_confirmed(&phone).await?;
    Ok(())
}
both!(message_floods_are_cut_off);

/// A sync message for a new story whose one change sets `title` to `text` (or, with `typed`,
/// types it into the body one character per operation).
fn new_story_message(server_peer: &str, id: DocumentId, text: &str, typed: bool) -> Vec<u8> {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ObjType, ROOT};
    let mut doc = AutoCommit::new();
    let put = if typed {
        doc.put_object(ROOT, "body", ObjType::Text)
            .and_then(|body| doc.splice_text(&body, 0, 0, text))
    } else {
        doc.put(ROOT, "title", text)
    };
    put.expect("local edit");
    // The changes themselves, as a device sends them once it knows the server lacks them.
    let mut change = doc.get_last_local_change().expect("a change").clone();
    let data = automerge::sync::Message {
        heads: doc.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![change.bytes().to_vec()].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
    .encode();
    Message::Sync {
        document_id: id,
        sender_id: "raw-peer".into(),
        target_id: server_peer.into(),
        data,
    }
    .encode()
}

/// A story is measured by what it holds, not by what it takes on the wire: a few kilobytes of
/// compressed change that expand to megabytes, or a handful of bytes that say "this operation,
/// a hundred thousand times", are refused for that story before anything is applied; the
/// connection goes on and nothing of them is stored.
async fn compressed_bombs_are_refused_before_they_grow_a_story(
    backend: Backend,
) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = Server::start(
        &env,
        &["--max-doc-bytes", "2000000", "--max-doc-ops", "50000"],
    )
    .await?;
    let prof = server.login_as("professional", "delft").await?;
    let mut ws = raw(&server, &prof.token).await?;
    let server_peer = join(&mut ws).await?;

    let cases = [
        // 8 MB of one letter: about 8 KB once deflated, four times the document limit.
        ("deflate", "a".repeat(8_000_000), false),
        // 100,000 characters typed at once: small on the wire, twice the operation limit.
        ("operations", "ab".repeat(50_000), true),
    ];
    let mut refused_ids = Vec::new();
    for (what, text, typed) in cases {
        let id = DocumentId::from_bytes(rand::random());
        let frame = new_story_message(&server_peer, id, &text, typed);
        assert!(
            frame.len() < 400_000,
            "{what}: {} bytes on the wire",
            frame.len()
        );
        ws.send(Ws::Binary(frame.into())).await?;
        match next_message(&mut ws).await? {
            Some(Message::DocUnavailable {
                document_id,
                refused: Some(refusal),
                ..
            }) => {
                assert_eq!(document_id, id, "{what}");
                assert_eq!(
                    refusal.code,
                    client_core::wire::Refusal::TOO_LARGE,
                    "{what}"
                );
            }
            other => anyhow::bail!("{what}: expected a refusal, got {other:?}"),
        }
        refused_ids.push(id.to_string());
    }

    // The connection goes on: a story within the limits is taken on it.
    let fine = DocumentId::from_bytes(rand::random());
    ws.send(Ws::Binary(
        new_story_message(&server_peer, fine, &"b".repeat(20_000), true).into(),
    ))
    .await?;
    match next_message(&mut ws).await? {
        Some(Message::Sync { document_id, .. }) => assert_eq!(document_id, fine),
        other => anyhow::bail!("a story within the limits: expected sync, got {other:?}"),
    }
    let feed = server.feed(&prof.token).await?;
    let ids: Vec<String> = feed
        .iter()
        .map(|c| c["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(ids.contains(&fine.to_string()), "{ids:?}");
    for id in &refused_ids {
        assert!(!ids.contains(id), "refused story {id} was stored");
    }
    Ok(())
}
both!(compressed_bombs_are_refused_before_they_grow_a_story);

/// Who may take part in a story that is not stored yet is decided by who is logged in, not by the
/// peer id a client chose: a member of another workspace joining with the recorder's peer id
/// learns nothing of it, before or after it is stored.
async fn a_borrowed_peer_id_does_not_open_a_new_story(backend: Backend) -> anyhow::Result<()> {
    use automerge::transaction::Transactable;
    let env = Env::new(backend).await?;
    env.workspace("a")?;
    env.workspace("b")?;
    let server = env.start().await?;
    let recorder = server.login_as("professional", "a").await?;
    let other = server.login_as("professional", "b").await?;

    // The recorder's device offers a new story: its first message has heads, not yet changes.
    let id = DocumentId::from_bytes(rand::random());
    let mut doc = automerge::AutoCommit::new();
    doc.put(automerge::ROOT, "title", "Alleen voor werkruimte a")?;
    let mut ws = raw(&server, &recorder.token).await?;
    let server_peer = join(&mut ws).await?;
    let offer = automerge::sync::SyncDoc::generate_sync_message(
        doc.document(),
        &mut automerge::sync::State::new(),
    )
    .map(|m| m.encode())
    .unwrap_or_default();
    let sync = |data: Vec<u8>| {
        Message::Sync {
            document_id: id,
            sender_id: "raw-peer".into(),
            target_id: server_peer.clone(),
            data,
        }
        .encode()
    };
    ws.send(Ws::Binary(sync(offer).into())).await?;
    let reply = next_message(&mut ws).await?;
    assert!(
        matches!(reply, Some(Message::Sync { .. })),
        "{reply:?} {}",
        server.log()
    );

    // Another workspace joins with the same peer id ("raw-peer") and asks for the same story.
    let mut spy = raw(&server, &other.token).await?;
    join(&mut spy).await?;
    let empty = automerge::sync::SyncDoc::generate_sync_message(
        &automerge::Automerge::new(),
        &mut automerge::sync::State::new(),
    )
    .map(|m| m.encode())
    .unwrap_or_default();
    spy.send(Ws::Binary(sync(empty).into())).await?;
    match next_message(&mut spy).await? {
        Some(Message::DocUnavailable {
            document_id,
            refused: None,
            ..
        }) => assert_eq!(document_id, id),
        other => anyhow::bail!("the other workspace was answered {other:?}"),
    }

    // The recorder stores it; the spy is sent nothing.
    ws.send(Ws::Binary(
        new_story_message(&server_peer, id, "Alleen voor werkruimte a", false).into(),
    ))
    .await?;
    assert!(matches!(
        next_message(&mut ws).await?,
        Some(Message::Sync { .. })
    ));
    let feed = server.feed(&recorder.token).await?;
    assert!(feed.iter().any(|c| c["id"] == id.to_string()), "{feed:?}");
    if let Ok(Some(Ok(Ws::Binary(b)))) =
        tokio::time::timeout(std::time::Duration::from_secs(1), spy.next()).await
    {
        anyhow::bail!("the spy was sent {:?}", Message::decode(&b, usize::MAX));
    }
    Ok(())
}
both!(a_borrowed_peer_id_does_not_open_a_new_story);
