//! A light automerge-repo peer for the many-devices workloads ([`Peer`]), and the waits built on it.
//! It speaks client-core's wire format but is not the device engine: see [`Peer`] for why. Timing
//! and workload logic live in the workload modules, not here.

use crate::util::{LONG, SHORT, sample_story};
use anyhow::{Context, Result, ensure};
use client_core::DocumentId;
use client_core::automerge::sync::{self, SyncDoc};
use client_core::automerge::{Automerge, ChangeHash};
use client_core::native::now_ms;
use client_core::story;
use client_core::wire::{Message, PROTOCOL_V1, PeerMetadata};
use futures_util::{SinkExt, StreamExt};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// What a [`Peer`] calls when a document changed because of the server, with the new content.
pub type OnChange = Box<dyn Fn(&DocumentId, &Automerge) + Send + Sync>;

/// One document on a [`Peer`].
pub struct PeerDoc {
    pub doc: Automerge,
    pub sync: sync::State,
    /// Asked for with `request` and not received yet.
    pub wanted: bool,
}

/// A [`Peer`]'s state, for [`Peer::wait`] conditions.
#[derive(Default)]
pub struct PeerState {
    pub connected: bool,
    pub closed: bool,
    /// The server's peer id, once the handshake is done.
    pub remote: String,
    pub docs: std::collections::HashMap<DocumentId, PeerDoc>,
}

impl PeerState {
    /// Of the changes in `log` (one document's history, in order), how many at the end the server
    /// has not acknowledged, looking back at most `window` + 1 entries.
    pub fn unacknowledged(&self, id: &DocumentId, log: &[ChangeHash], window: usize) -> usize {
        let theirs = self
            .docs
            .get(id)
            .and_then(|d| d.sync.their_heads.as_deref())
            .unwrap_or_default();
        let recent = &log[log.len().saturating_sub(window + 1)..];
        match recent.iter().rposition(|h| theirs.contains(h)) {
            Some(i) => recent.len() - 1 - i,
            None => recent.len(),
        }
    }

    pub fn document(&self, id: &DocumentId) -> Option<&Automerge> {
        self.docs.get(id).filter(|d| !d.wanted).map(|d| &d.doc)
    }

    /// Whether the server advertised heads that contain all of ours (it acknowledged our changes).
    pub fn is_confirmed(&self, id: &DocumentId) -> bool {
        self.docs.get(id).is_some_and(|d| {
            let ours = d.doc.get_heads();
            let theirs = d.sync.their_heads.as_deref().unwrap_or_default();
            !ours.is_empty() && ours.iter().all(|h| theirs.contains(h))
        })
    }
}

/// A device for the many-devices workload: a minimal automerge-repo client, as automerge-repo's
/// own document synchroniser is: per document an automerge document and a sync state, messages
/// in client-core's wire format. It is not the device engine ([`Engine`]), which also saves the
/// whole document after every sync message: with 2,000 devices in this process, those saves
/// (deflate) were the largest single cost of the load generator, on the two cores the server
/// needs. The server sees the same protocol either way; the catch-up workload uses a full
/// [`Device`].
pub struct Peer {
    pub peer_id: String,
    pub state: Mutex<PeerState>,
    pub out: mpsc::UnboundedSender<Vec<u8>>,
    /// Bumped after every frame handled, and when the link closes.
    pub changed: watch::Sender<u64>,
    pub on_change: Option<OnChange>,
}

impl Peer {
    pub async fn connect(url: &str, token: &str, on_change: Option<OnChange>) -> Result<Arc<Peer>> {
        let mut req = url.into_client_request()?;
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if frame.is_empty() {
                    break;
                }
                if sink.send(WsMessage::Binary(frame.into())).await.is_err() {
                    return;
                }
            }
            let _ = sink.send(WsMessage::Close(None)).await;
        });
        let peer = Arc::new(Peer {
            peer_id: format!("bench-{:016x}", rand::random::<u64>()),
            state: Mutex::new(PeerState::default()),
            out,
            changed: watch::Sender::new(0),
            on_change,
        });
        peer.send(&Message::Join {
            sender_id: peer.peer_id.clone(),
            supported_protocol_versions: vec![PROTOCOL_V1.into()],
            peer_metadata: Some(PeerMetadata::default()),
        });
        let reader = peer.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let data = match msg {
                    WsMessage::Binary(b) => b,
                    WsMessage::Close(_) => break,
                    _ => continue,
                };
                let ok = reader.receive(&data);
                reader.changed.send_modify(|c| *c += 1);
                if !ok {
                    break;
                }
            }
            reader.lock().closed = true;
            reader.changed.send_modify(|c| *c += 1);
        });
        peer.wait(SHORT, "handshake", |s| s.connected).await?;
        Ok(peer)
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, PeerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn send(&self, msg: &Message) {
        let _ = self.out.send(msg.encode());
    }

    /// Send what the sync protocol has to say about `id` now.
    pub fn sync_doc(&self, state: &mut PeerState, id: DocumentId) {
        let remote = state.remote.clone();
        let Some(d) = state.docs.get_mut(&id) else {
            return;
        };
        if let Some(msg) = d.doc.generate_sync_message(&mut d.sync) {
            let (document_id, sender_id, target_id, data) =
                (id, self.peer_id.clone(), remote, msg.encode());
            self.send(&if d.wanted {
                Message::Request {
                    document_id,
                    sender_id,
                    target_id,
                    data,
                }
            } else {
                Message::Sync {
                    document_id,
                    sender_id,
                    target_id,
                    data,
                }
            });
        }
    }

    /// Handle one frame; false when the link must close.
    pub fn receive(&self, frame: &[u8]) -> bool {
        let Ok(msg) = Message::decode(frame, 64 << 20) else {
            return false;
        };
        let mut state = self.lock();
        match msg {
            Message::Peer { sender_id, .. } => {
                state.remote = sender_id;
                state.connected = true;
            }
            Message::Sync {
                document_id: id,
                data,
                ..
            }
            | Message::Request {
                document_id: id,
                data,
                ..
            } => {
                let Ok(msg) = sync::Message::decode(&data) else {
                    return false;
                };
                let d = state.docs.entry(id).or_insert_with(|| PeerDoc {
                    doc: Automerge::new(),
                    sync: sync::State::new(),
                    wanted: false,
                });
                let before = d.doc.get_heads();
                if d.doc.receive_sync_message(&mut d.sync, msg).is_err() {
                    return false;
                }
                if d.doc.get_heads() != before {
                    d.wanted = false;
                    if let Some(on_change) = &self.on_change {
                        on_change(&id, &d.doc);
                    }
                }
                self.sync_doc(&mut state, id);
            }
            Message::DocUnavailable { document_id, .. }
                if state.docs.get(&document_id).is_some_and(|d| d.wanted) =>
            {
                state.docs.remove(&document_id);
            }
            Message::Error { .. } | Message::Leave { .. } => return false,
            _ => {}
        }
        true
    }

    /// Create a story (as a device does) and send it.
    pub fn create(&self, i: usize) -> Result<DocumentId> {
        let id = DocumentId::from_bytes(rand::random());
        let mut doc = Automerge::new();
        story::create_story(&mut doc, &sample_story(i))?;
        let mut state = self.lock();
        state.docs.insert(
            id,
            PeerDoc {
                doc,
                sync: sync::State::new(),
                wanted: false,
            },
        );
        self.sync_doc(&mut state, id);
        Ok(id)
    }

    /// Set the title of a story and send the change; returns the change's hash.
    pub fn edit(&self, id: DocumentId, title: &str) -> Result<ChangeHash> {
        let mut state = self.lock();
        let d = state.docs.get_mut(&id).context("no such document")?;
        story::set_title(&mut d.doc, title, now_ms())?;
        let head = *d.doc.get_heads().first().context("no heads")?;
        self.sync_doc(&mut state, id);
        Ok(head)
    }

    /// Ask the server for a document.
    pub fn want(&self, id: DocumentId) {
        let mut state = self.lock();
        state.docs.entry(id).or_insert_with(|| PeerDoc {
            doc: Automerge::new(),
            sync: sync::State::new(),
            wanted: true,
        });
        self.sync_doc(&mut state, id);
    }

    /// Wait until `check` holds, re-checking after every frame.
    pub async fn wait(
        &self,
        timeout: Duration,
        what: &str,
        check: impl Fn(&PeerState) -> bool,
    ) -> Result<()> {
        let mut rx = self.changed.subscribe();
        let done = tokio::time::timeout(timeout, async {
            loop {
                {
                    let state = self.lock();
                    if check(&state) {
                        return true;
                    }
                    if state.closed {
                        return false;
                    }
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await;
        ensure!(
            matches!(done, Ok(true)),
            "{what}: not reached (timeout {timeout:?}, or the server closed the connection)"
        );
        Ok(())
    }

    pub fn close(&self) {
        let _ = self.out.send(Vec::new());
    }
}

pub const STALL: Duration = Duration::from_secs(30);

/// [`Peer::wait`] for up to [`LONG`], printing every [`STALL`] what `missing` says of the peer.
pub async fn wait_reporting(
    peer: &Peer,
    what: &str,
    check: impl Fn(&PeerState) -> bool,
    missing: impl Fn(&PeerState) -> String,
) -> Result<()> {
    let t = Instant::now();
    loop {
        match peer.wait(STALL, what, &check).await {
            Ok(()) => return Ok(()),
            Err(e) if t.elapsed() >= LONG || peer.lock().closed => return Err(e),
            Err(_) => println!(
                "  still waiting after {:.0} s for {what}: {}",
                t.elapsed().as_secs_f64(),
                missing(&peer.lock())
            ),
        }
    }
}

/// Change hashes, shortened for a log line.
pub fn short(heads: Option<&[ChangeHash]>) -> String {
    match heads {
        None => "none".into(),
        Some(h) => {
            let h: Vec<String> = h.iter().map(|h| h.to_string()[..8].to_string()).collect();
            format!("[{}]", h.join(" "))
        }
    }
}

/// A watcher on `url` that wants story `id` and times arrivals with `timer`; returns once the
/// story is on it.
pub async fn follow(url: &str, token: &str, id: DocumentId, timer: OnChange) -> Result<Arc<Peer>> {
    let watcher = Peer::connect(url, token, Some(timer)).await?;
    watcher.want(id);
    watcher
        .wait(SHORT, "story on the watcher", |s| s.document(&id).is_some())
        .await?;
    Ok(watcher)
}

// ---- 3. across processes (ours, PostgreSQL) ----------------------------------------------------
