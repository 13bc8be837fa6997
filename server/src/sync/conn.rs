//! One websocket connection speaking the automerge-repo protocol.
//!
//! The connection checks the handshake, the frame size and the message rate, and hands `sync` and
//! `request` messages to the [`Hub`]. A frame that is not a protocol message (or breaks the
//! handshake, size or rate rules) gets an `error` message and the connection is closed; other
//! connections never notice. What the server will not take for one document (a field the sender
//! does not own, a document over its size limit, changes that do not apply) is refused by the hub
//! for that document alone, and the connection goes on.

use super::hub::{Caller, Hub, Outgoing, SyncFailure};
use crate::db::accounts::Member;
use crate::sessions::OpenSession;
use axum::extract::ws::{Message as WsMessage, WebSocket};
use client_core::wire::{DocumentId, Message, PROTOCOL_V1, PeerMetadata};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch};

/// Frames queued for one connection before it counts as too slow and is cut off.
const OUTBOX: usize = 16 * 1024;
/// Most frames written before a flush.
const WRITE_BATCH: usize = 64;
/// The error a connection gets when its session ends (logout, expiry, revocation): the device
/// should ask its person to log in again.
pub const SESSION_ENDED: &str = "session ended; log in again";
/// How long a client may take to send `join`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub max_frame_bytes: usize,
    pub messages_per_sec: u32,
    pub burst: u32,
    /// How often the server pings a connection.
    pub ping_every: Duration,
    /// A connection from which nothing (not even a pong) arrived for this long is not reading:
    /// it is closed, and everything queued for it is dropped.
    pub silence_timeout: Duration,
    /// Most open sync connections of one member (a phone, a tablet, a laptop, a few tabs).
    pub max_per_member: usize,
}

/// A frame the connection itself sends (handshake, errors), counted like the hub's frames
/// (`Caller::queued`): the writer subtracts every frame it writes.
fn counted(queued: &AtomicUsize, frame: Vec<u8>) -> Outgoing {
    queued.fetch_add(frame.len(), Ordering::AcqRel);
    Outgoing::Frame(frame)
}

/// A token bucket for the message rate.
struct RateLimit {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl RateLimit {
    fn new(rate: u32, burst: u32) -> Self {
        RateLimit {
            tokens: burst as f64,
            rate: rate as f64,
            burst: burst as f64,
            last: Instant::now(),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub async fn run(
    socket: WebSocket,
    hub: Arc<Hub>,
    member: Member,
    session: OpenSession,
    limits: ConnLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let conn = hub.next_conn_id();
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Outgoing>(OUTBOX);
    let kill = Arc::new(Notify::new());
    let queued = Arc::new(AtomicUsize::new(0));
    let written = queued.clone();
    let mut writer = tokio::spawn(async move {
        // Frames already queued behind this one go out with it and are flushed once: a device
        // catching up gets thousands of answers, and one write per frame was a system call each.
        'frames: while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            let mut batched = 0;
            while let Some(out) = next.take() {
                let (message, len) = match out {
                    Outgoing::Frame(frame) => {
                        let len = frame.len();
                        (WsMessage::Binary(frame.into()), len)
                    }
                    Outgoing::Ping => (WsMessage::Ping(Default::default()), 0),
                };
                if sink.feed(message).await.is_err() {
                    break 'frames;
                }
                written.fetch_sub(len, Ordering::AcqRel);
                batched += 1;
                if batched < WRITE_BATCH
                    && let Ok(more) = rx.try_recv()
                {
                    next = Some(more);
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.send(WsMessage::Close(None)).await;
    });

    let server_peer = hub.peer_id.clone();
    let error_frame = |message: String, target: Option<String>| {
        Message::Error {
            message,
            sender_id: Some(server_peer.clone()),
            target_id: target,
        }
        .encode()
    };

    // Handshake: the first message must be `join` with protocol version 1.
    let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.next()).await;
    let peer_id = match first {
        Ok(Some(Ok(WsMessage::Binary(b)))) => match Message::decode(&b, limits.max_frame_bytes) {
            Ok(Message::Join {
                sender_id,
                supported_protocol_versions,
                ..
            }) if supported_protocol_versions.iter().any(|v| v == PROTOCOL_V1) => sender_id,
            Ok(Message::Join { sender_id, .. }) => {
                let _ = tx
                    .send(counted(
                        &queued,
                        error_frame("unsupported protocol version".into(), Some(sender_id)),
                    ))
                    .await;
                drop(tx);
                let _ = writer.await;
                return;
            }
            Ok(other) => {
                let _ = tx
                    .send(counted(
                        &queued,
                        error_frame(format!("expected join, got {}", other.type_name()), None),
                    ))
                    .await;
                drop(tx);
                let _ = writer.await;
                return;
            }
            Err(e) => {
                let _ = tx
                    .send(counted(&queued, error_frame(e.to_string(), None)))
                    .await;
                drop(tx);
                let _ = writer.await;
                return;
            }
        },
        _ => {
            drop(tx);
            let _ = writer.await;
            return;
        }
    };
    let _ = tx
        .send(counted(
            &queued,
            Message::Peer {
                sender_id: hub.peer_id.clone(),
                selected_protocol_version: PROTOCOL_V1.into(),
                target_id: peer_id.clone(),
                peer_metadata: Some(PeerMetadata {
                    storage_id: Some(hub.storage_id.clone()),
                    is_ephemeral: false,
                }),
            }
            .encode(),
        ))
        .await;
    tracing::debug!(conn, member = member.id, "sync connection up");

    let caller = Caller {
        conn,
        peer_id: peer_id.clone(),
        member,
        tx: tx.clone(),
        kill: kill.clone(),
        queued: queued.clone(),
    };
    let mut docs: HashSet<DocumentId> = HashSet::new();
    let mut rate = RateLimit::new(limits.messages_per_sec, limits.burst);
    let mut ping = tokio::time::interval(limits.ping_every);
    ping.tick().await;
    let mut heard = Instant::now();
    let failure: Option<String> = loop {
        let frame = tokio::select! {
            // Biased: a frame that arrives after logout is never handled, even when the signal
            // and the frame are ready at once.
            biased;
            _ = session.ended.notified() => break Some(SESSION_ENDED.into()),
            _ = kill.notified() => break Some("connection too slow; closing".into()),
            _ = shutdown.changed() => break Some("server shutting down".into()),
            _ = ping.tick() => {
                if heard.elapsed() >= limits.silence_timeout {
                    // Not reading: pings go unanswered behind what it has not read.
                    break Some("connection not reading; closing".into());
                }
                let _ = tx.try_send(Outgoing::Ping);
                continue;
            }
            f = stream.next() => f,
        };
        heard = Instant::now();
        let bytes = match frame {
            None | Some(Ok(WsMessage::Close(_))) => break None,
            Some(Ok(WsMessage::Binary(b))) => b,
            Some(Ok(WsMessage::Text(_))) => {
                break Some("text frames are not part of the protocol".into());
            }
            Some(Ok(_)) => continue, // ping/pong
            Some(Err(e)) => break Some(format!("bad frame: {e}")),
        };
        if !rate.take(Instant::now()) {
            break Some("message rate limit exceeded".into());
        }
        let msg = match Message::decode(&bytes, limits.max_frame_bytes) {
            Ok(m) => m,
            Err(e) => break Some(e.to_string()),
        };
        let result = match msg {
            Message::Sync {
                document_id, data, ..
            } => {
                docs.insert(document_id);
                hub.handle_sync(&caller, document_id, &data, false).await
            }
            Message::Request {
                document_id, data, ..
            } => {
                docs.insert(document_id);
                hub.handle_sync(&caller, document_id, &data, true).await
            }
            Message::Leave { .. } => break None,
            Message::Error { message, .. } => {
                tracing::debug!(conn, %message, "peer reported an error");
                break None;
            }
            // Accepted and not relayed: Vertel devices talk to the server only.
            Message::Ephemeral { .. }
            | Message::RemoteHeadsChanged { .. }
            | Message::RemoteSubscriptionChange { .. }
            | Message::DocUnavailable { .. } => Ok(()),
            Message::Join { .. } | Message::Peer { .. } => {
                break Some("handshake messages are not allowed after the handshake".into());
            }
        };
        match result {
            Ok(()) => {}
            Err(SyncFailure::Storage(e)) => {
                tracing::error!(conn, error = %e, "storage failed during sync");
                break Some("internal error; try again later".into());
            }
            Err(e) => break Some(e.to_string()),
        }
    };
    if let Some(reason) = &failure {
        tracing::info!(conn, reason = %reason, "closing sync connection");
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            tx.send(counted(&queued, error_frame(reason.clone(), Some(peer_id)))),
        )
        .await;
    }
    hub.disconnect(conn, docs).await;
    drop(caller);
    drop(tx);
    // Close politely: the writer sends the error and a Close frame; meanwhile keep reading (and
    // discarding) what the client still sends. Closing a socket with unread input makes the kernel
    // reset the connection, and the client would lose the error message.
    let drain = async {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, WsMessage::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    // A writer stuck on a peer that does not read would wait on the socket for ever, holding
    // every frame queued for it.
    if tokio::time::timeout(Duration::from_secs(5), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}
