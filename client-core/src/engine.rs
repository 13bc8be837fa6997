//! The sans-IO sync engine: one device's side of the automerge-repo protocol.
//!
//! Like quinn-proto, the engine contains no networking code and reads no clock. Every call takes
//! what happened (bytes arrived, the link came up, a save finished, the user edited) plus `now`, and
//! returns [`Effects`]: frames to send, storage tasks to carry out, and events for the application.
//! A driver (the native tokio driver, the wasm shell, a simulated network in tests) carries them out.
//!
//! Two rules make the engine safe to drive:
//! * An edit is reported as [`Event::Saved`] only after the driver says the store finished
//!   ([`Engine::handle_saved`]), so "saved" always means durable.
//! * A document counts as confirmed by the server only when the heads the server last advertised
//!   contain all local heads. A Vertel server advertises heads only after it has stored them.
//!
//! A server may refuse one document's changes (`doc-unavailable` with `refused`: a field the
//! sender may not write, a document over the size limit) and keep syncing the others. The engine
//! then keeps the document, marks it refused ([`Engine::refusal`], [`Event::Refused`]) and stops
//! pushing it until the user chooses: undo the refused change ([`Engine::undo_refused`]) or keep
//! a copy as a new story ([`Engine::keep_copy`]). The mark goes when the server confirms the
//! document.
//!
//! The engine's folder: the link and the sync protocol here, refusals (undo, keep a copy) in
//! `engine/refusal.rs`, the simulated-network tests in `engine/tests.rs`. No I/O, no clock, no
//! randomness: the caller hands in the time, the document ids and the actor id.

use crate::store::StoredDoc;
use crate::wire::{DecodeError, DocumentId, Message, PROTOCOL_V1, PeerMetadata, Refusal};
use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, Automerge, AutomergeError, ChangeHash, ReadDoc};
use std::collections::BTreeMap;

/// Which side of the handshake this engine plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends `join` and waits for `peer` (a device talking to the server).
    Initiating,
    /// Waits for `join` and answers `peer` (a peer that accepts connections, as in tests).
    Receiving,
}

/// Frames the server accepts are bounded; so are the ones we accept.
pub const DEFAULT_FRAME_LIMIT: usize = 8 * 1024 * 1024;

/// A storage task for the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreTask {
    Save { id: DocumentId, doc: StoredDoc },
    Delete { id: DocumentId },
}

/// Something the application should know.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The handshake finished; sync is running.
    Connected { remote: String },
    /// The document's content changed because of a remote change.
    DocChanged { id: DocumentId },
    /// A local edit is now durable in the local store.
    Saved { id: DocumentId },
    /// Whether the server has all local changes of the document changed.
    SyncStatus { id: DocumentId, confirmed: bool },
    /// The remote has no such document (or we may not see it). Requested documents are dropped.
    Unavailable { id: DocumentId },
    /// The document was erased on the server; the local copy is being deleted.
    Purged { id: DocumentId },
    /// The server would not take this document's changes (`code`: [`Refusal`]'s codes; `message`:
    /// the server's words for a person, Dutch). The document stays on the device, marked refused,
    /// until the server confirms it.
    Refused {
        id: DocumentId,
        code: String,
        message: String,
    },
    /// The remote reported a protocol error and will close the link.
    RemoteError { message: String },
}

#[derive(Debug, Default)]
pub struct Effects {
    pub send: Vec<Vec<u8>>,
    pub store: Vec<StoreTask>,
    pub events: Vec<Event>,
}

impl Effects {
    fn send(&mut self, msg: &Message) {
        self.send.push(msg.encode());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("no document {0}")]
    NoSuchDocument(DocumentId),
    #[error("document {0} already exists")]
    Exists(DocumentId),
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
    #[error("bad sync message: {0}")]
    BadSync(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    Down,
    /// `join` sent (initiating) or awaited (receiving) since this time.
    Joining {
        since_ms: i64,
    },
    Up {
        remote: String,
    },
}

struct DocEntry {
    doc: Automerge,
    sync: sync::State,
    /// Heads the remote (the server) advertised last; persisted so status survives restarts.
    server_heads: Vec<ChangeHash>,
    /// The newest version the server advertised whose changes this device holds too: what both
    /// sides have. `server_heads` may name changes that have not arrived (the server wrote a tag
    /// suggestion while this device held back a refused document), and a version cannot be
    /// rebuilt from hashes alone; undoing a refused change goes back to this one.
    common_heads: Vec<ChangeHash>,
    /// We asked for this document and do not have it yet.
    wanted: bool,
    /// Local changes exist whose save has not been acknowledged by the driver.
    unsaved: bool,
    confirmed: bool,
    /// The server refused the local changes, and has not confirmed the document since. Kept in
    /// memory only: after a restart the next push finds out again.
    refused: Option<Refusal>,
    /// Answer nothing the server sends for this document: an answer would carry the refused
    /// changes again and be refused again (a loop, if the server speaks first after forgetting
    /// them). Set by a refusal; a local change or a new connection pushes again.
    hold: bool,
}

impl DocEntry {
    fn new(doc: Automerge, server_heads: Vec<ChangeHash>) -> Self {
        let mut e = DocEntry {
            doc,
            sync: sync::State::new(),
            common_heads: Vec::new(),
            server_heads,
            wanted: false,
            unsaved: false,
            confirmed: false,
            refused: None,
            hold: false,
        };
        e.confirmed = e.compute_confirmed();
        e.note_common_heads();
        e
    }

    /// Remember the server's heads as common when this device holds all of their changes.
    fn note_common_heads(&mut self) {
        if self
            .server_heads
            .iter()
            .all(|h| self.doc.get_change_by_hash(h).is_some())
        {
            self.common_heads = self.server_heads.clone();
        }
    }

    fn compute_confirmed(&self) -> bool {
        let ours = self.doc.get_heads();
        !ours.is_empty() && ours.iter().all(|h| self.server_heads.contains(h))
    }

    fn stored(&self) -> StoredDoc {
        StoredDoc {
            bytes: self.doc.save(),
            server_heads: self.server_heads.iter().map(|h| h.to_string()).collect(),
        }
    }
}

/// The engine. One per device, holding its documents and one link to one remote peer.
pub struct Engine {
    peer_id: String,
    /// The actor id of every change this engine writes, in every document it holds.
    actor: ActorId,
    metadata: PeerMetadata,
    role: Role,
    link: Link,
    frame_limit: usize,
    docs: BTreeMap<DocumentId, DocEntry>,
}

/// An empty document whose changes carry `actor`.
fn fresh(actor: &ActorId) -> Automerge {
    Automerge::new().with_actor(actor.clone())
}

/// A stored document, whose further changes carry `actor`.
fn loaded(bytes: &[u8], actor: &ActorId) -> Result<Automerge, AutomergeError> {
    Ok(Automerge::load(bytes)?.with_actor(actor.clone()))
}

/// How long the initiating side waits for `peer` before giving up on a link.
pub const HANDSHAKE_TIMEOUT_MS: i64 = 15_000;

impl Engine {
    /// An engine whose changes carry `actor`: the caller draws it (like the time and the document
    /// ids, client-core draws nothing), a fresh one for every engine it starts. Never reuse one:
    /// a change lost before it was saved would be written again under the same actor and sequence
    /// number, and the server would take the two for one.
    pub fn new(
        peer_id: impl Into<String>,
        actor: ActorId,
        role: Role,
        metadata: PeerMetadata,
    ) -> Self {
        Engine {
            peer_id: peer_id.into(),
            actor,
            metadata,
            role,
            link: Link::Down,
            frame_limit: DEFAULT_FRAME_LIMIT,
            docs: BTreeMap::new(),
        }
    }

    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.link, Link::Up { .. })
    }

    // ---- documents ---------------------------------------------------------------------------

    /// Add a document read from the local store (at start-up).
    pub fn load(&mut self, id: DocumentId, stored: &StoredDoc) -> Result<(), EngineError> {
        let doc = loaded(&stored.bytes, &self.actor)?;
        let heads = stored
            .server_heads
            .iter()
            .filter_map(|h| h.parse::<ChangeHash>().ok())
            .collect();
        self.docs.insert(id, DocEntry::new(doc, heads));
        Ok(())
    }

    /// Add a document from the local store while the device runs: a shell that keeps a list index
    /// loads a document only when it is opened, edited or named by the changes feed. As
    /// [`Engine::load`], and when the link is up the document's sync starts at once. A document
    /// already held is left as it is.
    pub fn load_and_sync(
        &mut self,
        id: DocumentId,
        stored: &StoredDoc,
    ) -> Result<Effects, EngineError> {
        let mut fx = Effects::default();
        if self.docs.contains_key(&id) {
            return Ok(fx);
        }
        self.load(id, stored)?;
        if self.is_connected() {
            self.sync_doc(id, false, &mut fx);
        }
        Ok(fx)
    }

    pub fn document(&self, id: &DocumentId) -> Option<&Automerge> {
        self.docs.get(id).filter(|e| !e.wanted).map(|e| &e.doc)
    }

    pub fn document_ids(&self) -> impl Iterator<Item = &DocumentId> {
        self.docs
            .iter()
            .filter(|(_, e)| !e.wanted)
            .map(|(id, _)| id)
    }

    /// Whether the server holds every local change of this document.
    pub fn is_confirmed(&self, id: &DocumentId) -> bool {
        self.docs.get(id).is_some_and(|e| e.confirmed)
    }

    /// The heads the remote last advertised for a document (hex).
    pub fn server_heads(&self, id: &DocumentId) -> Vec<String> {
        self.docs
            .get(id)
            .map(|e| e.server_heads.iter().map(|h| h.to_string()).collect())
            .unwrap_or_default()
    }

    /// Why the server refused this document's changes, while it is marked refused.
    pub fn refusal(&self, id: &DocumentId) -> Option<&Refusal> {
        self.docs.get(id).and_then(|e| e.refused.as_ref())
    }

    /// Documents the server refused and has not confirmed since.
    pub fn refused(&self) -> Vec<DocumentId> {
        self.docs
            .iter()
            .filter(|(_, e)| e.refused.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Documents with local changes the server has not confirmed.
    pub fn unconfirmed(&self) -> Vec<DocumentId> {
        self.docs
            .iter()
            .filter(|(_, e)| !e.wanted && !e.confirmed)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Create a new document and make a first local change in it.
    pub fn create<T, E>(
        &mut self,
        id: DocumentId,
        f: impl FnOnce(&mut Automerge) -> Result<T, E>,
    ) -> Result<(T, Effects), EngineError>
    where
        E: std::fmt::Display,
    {
        if self.docs.contains_key(&id) {
            return Err(EngineError::Exists(id));
        }
        let mut doc = fresh(&self.actor);
        let out = f(&mut doc).map_err(|e| EngineError::Protocol(e.to_string()))?;
        self.docs.insert(id, DocEntry::new(doc, Vec::new()));
        let fx = self.after_local_change(id);
        Ok((out, fx))
    }

    /// Make a local change to a document: `f` edits it (see [`crate::story`]).
    pub fn change<T, E>(
        &mut self,
        id: DocumentId,
        f: impl FnOnce(&mut Automerge) -> Result<T, E>,
    ) -> Result<(T, Effects), EngineError>
    where
        E: std::fmt::Display,
    {
        let entry = self
            .docs
            .get_mut(&id)
            .filter(|e| !e.wanted)
            .ok_or(EngineError::NoSuchDocument(id))?;
        let out = f(&mut entry.doc).map_err(|e| EngineError::Protocol(e.to_string()))?;
        let fx = self.after_local_change(id);
        Ok((out, fx))
    }

    fn after_local_change(&mut self, id: DocumentId) -> Effects {
        let mut fx = Effects::default();
        let Some(entry) = self.docs.get_mut(&id) else {
            return fx;
        };
        entry.unsaved = true;
        entry.hold = false;
        fx.store.push(StoreTask::Save {
            id,
            doc: entry.stored(),
        });
        self.update_status(id, &mut fx);
        self.sync_doc(id, false, &mut fx);
        fx
    }

    /// Ask the remote for a document this device does not have (catch-up from the changes feed).
    pub fn want(&mut self, id: DocumentId) -> Effects {
        let mut fx = Effects::default();
        if self.docs.contains_key(&id) {
            return fx;
        }
        let mut entry = DocEntry::new(fresh(&self.actor), Vec::new());
        entry.wanted = true;
        self.docs.insert(id, entry);
        self.sync_doc(id, true, &mut fx);
        fx
    }

    /// Delete the local copy (the server erased the story, or the user logs out).
    pub fn purge(&mut self, id: DocumentId) -> Effects {
        let mut fx = Effects::default();
        if self.docs.remove(&id).is_some() {
            fx.store.push(StoreTask::Delete { id });
            fx.events.push(Event::Purged { id });
        }
        fx
    }

    /// The driver finished a [`StoreTask::Save`] for `id`.
    pub fn handle_saved(&mut self, id: DocumentId) -> Effects {
        let mut fx = Effects::default();
        if let Some(e) = self.docs.get_mut(&id)
            && e.unsaved
        {
            e.unsaved = false;
            fx.events.push(Event::Saved { id });
        }
        fx
    }

    // ---- the link ----------------------------------------------------------------------------

    /// The transport is open. The initiating side sends `join`.
    pub fn handle_connected(&mut self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        self.link = Link::Joining { since_ms: now_ms };
        if self.role == Role::Initiating {
            fx.send(&Message::Join {
                sender_id: self.peer_id.clone(),
                supported_protocol_versions: vec![PROTOCOL_V1.into()],
                peer_metadata: Some(self.metadata.clone()),
            });
        }
        fx
    }

    /// The transport closed. Sync states are kept (their shared heads make the next sync short).
    pub fn handle_disconnected(&mut self) {
        self.link = Link::Down;
        for e in self.docs.values_mut() {
            e.sync = sync::State::decode(&e.sync.encode()).unwrap_or_default();
        }
    }

    /// Time passes. Returns true when the link should be dropped (handshake took too long).
    pub fn poll_timeout(&self, now_ms: i64) -> bool {
        matches!(self.link, Link::Joining { since_ms } if now_ms - since_ms > HANDSHAKE_TIMEOUT_MS)
    }

    /// A frame arrived. An error means the link must be closed; the engine's documents are intact.
    pub fn handle_frame(&mut self, frame: &[u8], now_ms: i64) -> Result<Effects, EngineError> {
        let msg = Message::decode(frame, self.frame_limit)?;
        self.handle_message(msg, now_ms)
    }

    pub fn handle_message(&mut self, msg: Message, _now_ms: i64) -> Result<Effects, EngineError> {
        let mut fx = Effects::default();
        match (&self.link, msg) {
            (
                Link::Joining { .. },
                Message::Peer {
                    sender_id,
                    selected_protocol_version,
                    ..
                },
            ) if self.role == Role::Initiating => {
                if selected_protocol_version != PROTOCOL_V1 {
                    return Err(EngineError::Protocol(format!(
                        "unsupported protocol version {selected_protocol_version}"
                    )));
                }
                self.link_up(sender_id, &mut fx);
            }
            (
                Link::Joining { .. },
                Message::Join {
                    sender_id,
                    supported_protocol_versions,
                    ..
                },
            ) if self.role == Role::Receiving => {
                if !supported_protocol_versions.iter().any(|v| v == PROTOCOL_V1) {
                    fx.send(&Message::Error {
                        message: "unsupported protocol version".into(),
                        sender_id: Some(self.peer_id.clone()),
                        target_id: Some(sender_id),
                    });
                    return Ok(fx);
                }
                fx.send(&Message::Peer {
                    sender_id: self.peer_id.clone(),
                    selected_protocol_version: PROTOCOL_V1.into(),
                    target_id: sender_id.clone(),
                    peer_metadata: Some(self.metadata.clone()),
                });
                self.link_up(sender_id, &mut fx);
            }
            (_, Message::Error { message, .. }) => {
                self.link = Link::Down;
                fx.events.push(Event::RemoteError { message });
            }
            (
                Link::Up { .. },
                Message::Sync {
                    document_id, data, ..
                },
            ) => {
                self.receive_sync(document_id, &data, false, &mut fx)?;
            }
            (
                Link::Up { .. },
                Message::Request {
                    document_id, data, ..
                },
            ) => {
                self.receive_sync(document_id, &data, true, &mut fx)?;
            }
            (
                Link::Up { .. },
                Message::DocUnavailable {
                    document_id,
                    refused,
                    ..
                },
            ) => match refused {
                Some(refusal) => self.receive_refusal(document_id, refusal, &mut fx),
                None => self.receive_unavailable(document_id, &mut fx),
            },
            (Link::Up { .. }, Message::Leave { .. }) => {
                self.handle_disconnected();
            }
            (
                Link::Up { .. },
                Message::Ephemeral { .. }
                | Message::RemoteHeadsChanged { .. }
                | Message::RemoteSubscriptionChange { .. },
            ) => {}
            (link, msg) => {
                return Err(EngineError::Protocol(format!(
                    "unexpected {} message while link is {link:?}",
                    msg.type_name()
                )));
            }
        }
        Ok(fx)
    }

    fn link_up(&mut self, remote: String, fx: &mut Effects) {
        self.link = Link::Up {
            remote: remote.clone(),
        };
        fx.events.push(Event::Connected { remote });
        let ids: Vec<DocumentId> = self.docs.keys().copied().collect();
        // A new connection pushes refused documents once more: the server's rules or the
        // member's role may have changed since.
        for e in self.docs.values_mut() {
            e.hold = false;
        }
        for id in ids {
            let wanted = self.docs.get(&id).is_some_and(|e| e.wanted);
            self.sync_doc(id, wanted, fx);
        }
    }

    fn remote(&self) -> Option<&str> {
        match &self.link {
            Link::Up { remote } => Some(remote),
            _ => None,
        }
    }

    /// Send whatever the automerge sync protocol wants to send for this document now.
    fn sync_doc(&mut self, id: DocumentId, as_request: bool, fx: &mut Effects) {
        let Some(remote) = self.remote().map(str::to_string) else {
            return;
        };
        let Some(entry) = self.docs.get_mut(&id) else {
            return;
        };
        if let Some(msg) = entry.doc.generate_sync_message(&mut entry.sync) {
            let data = msg.encode();
            let message = if as_request {
                Message::Request {
                    document_id: id,
                    sender_id: self.peer_id.clone(),
                    target_id: remote,
                    data,
                }
            } else {
                Message::Sync {
                    document_id: id,
                    sender_id: self.peer_id.clone(),
                    target_id: remote,
                    data,
                }
            };
            fx.send(&message);
        }
    }

    fn receive_sync(
        &mut self,
        id: DocumentId,
        data: &[u8],
        is_request: bool,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let msg = sync::Message::decode(data).map_err(|e| EngineError::BadSync(e.to_string()))?;
        if !self.docs.contains_key(&id) {
            if is_request {
                // A request for something we do not have.
                let remote = self.remote().unwrap_or_default().to_string();
                fx.send(&Message::DocUnavailable {
                    document_id: id,
                    sender_id: self.peer_id.clone(),
                    target_id: remote,
                    refused: None,
                });
                return Ok(());
            }
            // A document someone shares with us; or, as initiating side, one the server pushes.
            self.docs
                .insert(id, DocEntry::new(fresh(&self.actor), Vec::new()));
        }
        let entry = self
            .docs
            .get_mut(&id)
            .ok_or(EngineError::NoSuchDocument(id))?;
        let before = entry.doc.get_heads();
        if let Err(e) = entry.doc.receive_sync_message(&mut entry.sync, msg) {
            // Nothing from a bad message may linger: reload the last saved state.
            let saved = entry.stored();
            entry.doc = loaded(&saved.bytes, &self.actor).unwrap_or_else(|_| fresh(&self.actor));
            return Err(EngineError::BadSync(e.to_string()));
        }
        let after = entry.doc.get_heads();
        if let Some(theirs) = &entry.sync.their_heads {
            entry.server_heads = theirs.clone();
            entry.note_common_heads();
        }
        let changed = before != after;
        if changed {
            entry.wanted = false;
            fx.events.push(Event::DocChanged { id });
        }
        if changed || !entry.wanted {
            fx.store.push(StoreTask::Save {
                id,
                doc: entry.stored(),
            });
        }
        self.update_status(id, fx);
        let (wanted, hold) = self
            .docs
            .get(&id)
            .map_or((false, false), |e| (e.wanted, e.hold));
        // What the server sent is applied either way; see `DocEntry::hold`.
        if !hold {
            self.sync_doc(id, wanted, fx);
        }
        Ok(())
    }

    fn receive_unavailable(&mut self, id: DocumentId, fx: &mut Effects) {
        let Some(entry) = self.docs.get(&id) else {
            return;
        };
        if entry.wanted {
            self.docs.remove(&id);
            fx.events.push(Event::Unavailable { id });
        } else if !entry.server_heads.is_empty() {
            // The server had this document and now says it does not exist: it was erased.
            fx.store.extend(self.purge(id).store);
            fx.events.push(Event::Purged { id });
        } else {
            fx.events.push(Event::Unavailable { id });
        }
    }

    fn update_status(&mut self, id: DocumentId, fx: &mut Effects) {
        if let Some(e) = self.docs.get_mut(&id) {
            let now = e.compute_confirmed();
            if now {
                // The server took every local change: whatever it refused before is settled.
                e.refused = None;
                e.hold = false;
            }
            if now != e.confirmed {
                e.confirmed = now;
                fx.events.push(Event::SyncStatus { id, confirmed: now });
            }
        }
    }
}

mod refusal;
#[cfg(test)]
mod tests;
