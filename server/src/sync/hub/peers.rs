//! The hub's side of each connection: queueing frames (cutting off a peer that cannot keep up),
//! telling a peer a document is unavailable or refused, generating sync messages for the peers of a
//! document after a change, and forgetting peers and idle documents. Nothing here stores.

use super::{Caller, ConnId, Hub, Outgoing, PeerLink, Slot};
use automerge::Automerge;
use automerge::sync::{self, SyncDoc};
use client_core::wire::{DocumentId, Message, Refusal};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::Mutex;
use tokio::sync::{Notify, mpsc};

impl Hub {
    pub(super) fn unavailable(&self, caller: &Caller, id: DocumentId) {
        self.answer_unavailable(caller, id, None);
    }

    pub(super) fn answer_unavailable(
        &self,
        caller: &Caller,
        id: DocumentId,
        refused: Option<Refusal>,
    ) {
        self.send(
            &caller.tx,
            &caller.kill,
            &caller.queued,
            Message::DocUnavailable {
                document_id: id,
                sender_id: self.peer_id.clone(),
                target_id: caller.peer_id.clone(),
                refused,
            }
            .encode(),
        );
    }

    /// Tell a peer already linked to the document that it is not there for them.
    /// Queue a frame for a connection. A full outbox (in frames, or in bytes past
    /// [`Limits::max_queued_bytes`]) means the peer cannot keep up: it is cut off. One frame is
    /// always let through, however large, so a big document still reaches a reader that keeps up.
    pub(super) fn send(
        &self,
        tx: &mpsc::Sender<Outgoing>,
        kill: &Notify,
        queued: &AtomicUsize,
        frame: Vec<u8>,
    ) -> bool {
        let len = frame.len();
        let before = queued.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > self.limits.max_queued_bytes {
            queued.fetch_sub(len, Ordering::AcqRel);
            kill.notify_one();
            return false;
        }
        match tx.try_send(Outgoing::Frame(frame)) {
            Ok(()) => true,
            Err(e) => {
                queued.fetch_sub(len, Ordering::AcqRel);
                if matches!(e, mpsc::error::TrySendError::Full(_)) {
                    kill.notify_one();
                }
                false
            }
        }
    }

    pub(super) fn tell_unavailable(&self, peer: &PeerLink, id: DocumentId) {
        self.send(
            &peer.tx,
            &peer.kill,
            &peer.queued,
            Message::DocUnavailable {
                document_id: id,
                sender_id: self.peer_id.clone(),
                target_id: peer.peer_id.clone(),
                refused: None,
            }
            .encode(),
        );
    }

    pub(super) fn too_large(&self) -> Refusal {
        let mb = self.limits.max_doc_bytes / (1024 * 1024);
        Refusal::new(
            Refusal::TOO_LARGE,
            format!(
                "Dit verhaal wordt te groot voor de server (meer dan {mb} MB tekst). Maak het korter of begin een nieuw verhaal."
            ),
        )
    }

    /// Refuse what `caller` pushed for this one document: drop it from memory (the stored
    /// document is unchanged), forget the caller's sync state for it, and tell the caller why.
    /// The connection and its other documents go on.
    pub(super) fn refuse(
        &self,
        caller: &Caller,
        id: DocumentId,
        slot: &mut Slot,
        refusal: Refusal,
    ) {
        tracing::info!(doc = %id, member = caller.member.id, code = %refusal.code, "refused a document's changes");
        slot.doc = None;
        if let Some(peer) = slot.peers.get_mut(&caller.conn) {
            peer.state = sync::State::new();
        }
        self.answer_unavailable(caller, id, Some(refusal));
    }

    /// Generate and send sync messages: to the caller always, to other peers when content changed.
    pub(super) fn broadcast(
        &self,
        id: DocumentId,
        slot: &mut Slot,
        caller: Option<ConnId>,
        changed: bool,
    ) {
        let Some(doc) = slot.doc.as_ref() else { return };
        let now = Instant::now();
        let mut dead = Vec::new();
        for (conn, peer) in slot.peers.iter_mut() {
            let is_caller = Some(*conn) == caller;
            if !changed && !is_caller && !peer.pending {
                continue;
            }
            if !is_caller
                && peer
                    .in_flight
                    .is_some_and(|t| now.duration_since(t) < self.limits.answer_timeout)
            {
                peer.pending = true;
                continue;
            }
            if !self.sync_peer(id, doc, peer, now) {
                dead.push(*conn);
            }
        }
        for conn in dead {
            slot.peers.remove(&conn);
        }
    }

    /// Send a peer what it lacks of the document, if anything. False when the connection is gone.
    pub(super) fn sync_peer(
        &self,
        id: DocumentId,
        doc: &Automerge,
        peer: &mut PeerLink,
        now: Instant,
    ) -> bool {
        peer.pending = false;
        let Some(msg) = doc.generate_sync_message(&mut peer.state) else {
            return true;
        };
        if !msg.changes.is_empty() {
            peer.in_flight = Some(now);
        }
        let frame = Message::Sync {
            document_id: id,
            sender_id: self.peer_id.clone(),
            target_id: peer.peer_id.clone(),
            data: msg.encode(),
        }
        .encode();
        self.send(&peer.tx, &peer.kill, &peer.queued, frame)
    }

    /// Peers that left changes unanswered longer than [`Limits::answer_timeout`] (alive but
    /// silent: automerge does not answer changes it already had) are sent what is pending. A
    /// peer that does not read at all is found by its connection (no answer to pings) or by its
    /// byte budget. Called periodically.
    pub fn send_overdue(&self, now: Instant) {
        let slots: Vec<(DocumentId, Arc<Mutex<Slot>>)> = {
            let map = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            map.iter().map(|(id, s)| (*id, s.clone())).collect()
        };
        for (id, slot) in slots {
            let Ok(mut slot) = slot.try_lock() else {
                continue;
            };
            let overdue = slot.peers.values().any(|p| {
                p.pending
                    && p.in_flight
                        .is_some_and(|t| now.duration_since(t) >= self.limits.answer_timeout)
            });
            if overdue {
                self.broadcast(id, &mut slot, None, false);
            }
        }
    }

    /// A connection closed: forget its sync states.
    pub async fn disconnect(&self, conn: ConnId, docs: impl IntoIterator<Item = DocumentId>) {
        for id in docs {
            if let Some(slot) = self.existing_slot(&id) {
                let mut slot = slot.lock().await;
                slot.peers.remove(&conn);
                slot.touched = Some(Instant::now());
                if slot.peers.is_empty() && slot.meta.is_none() {
                    slot.tentative = None;
                }
            }
        }
    }

    /// Evict what nobody needs: slots without peers, and the content of documents idle too long.
    /// Returns how many documents left memory (a slot removed, or its content dropped).
    pub fn evict_idle(&self, now: Instant) -> usize {
        let idle = self.limits.idle;
        let mut map = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let before = map.len();
        let mut dropped = 0;
        map.retain(|_, arc| {
            // Only the map holds this slot and nobody is inside it: safe to decide.
            if Arc::strong_count(arc) > 1 {
                return true;
            }
            let Ok(mut slot) = arc.try_lock() else {
                return true;
            };
            let idle_long = slot.touched.is_none_or(|t| now.duration_since(t) >= idle);
            if !idle_long {
                return true;
            }
            if slot.peers.is_empty() {
                return false;
            }
            if slot.doc.take().is_some() {
                dropped += 1;
                for p in slot.peers.values_mut() {
                    p.state = sync::State::decode(&p.state.encode()).unwrap_or_default();
                }
            }
            true
        });
        before - map.len() + dropped
    }
}
