//! The hub: every document some connection is syncing, with one automerge sync state per peer.
//!
//! The invariant that makes sync durable: **the server advertises heads only after storing them.**
//! A sync message that brings changes is applied in memory, the new changes are appended to the
//! database, and only then are sync messages generated (which carry the new heads, and so
//! acknowledge the changes). If storing fails the in-memory document is dropped and reloaded.
//!
//! Memory stays bounded: a document nobody syncs is evicted after an idle period, and a document
//! whose peers are idle keeps only their shared heads, not its content.

use crate::db::accounts::{Member, Role};
use crate::db::docs::DocMeta;
use crate::db::{Backend, Db, DbError};
use automerge::Automerge;
use automerge::sync::{self, SyncDoc};
use client_core::story::{self, ReviewState};
use client_core::wire::{DocumentId, Message};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Notify, mpsc};

pub type ConnId = u64;

/// Frames for one connection's writer.
#[derive(Debug)]
pub enum Outgoing {
    Frame(Vec<u8>),
}

/// A connection as the hub sees it.
#[derive(Clone)]
pub struct Caller {
    pub conn: ConnId,
    pub peer_id: String,
    pub member: Member,
    pub tx: mpsc::Sender<Outgoing>,
    /// Signalled when the hub gives up on this connection (its outbox overflowed).
    pub kill: Arc<Notify>,
}

struct PeerLink {
    peer_id: String,
    tx: mpsc::Sender<Outgoing>,
    kill: Arc<Notify>,
    state: sync::State,
}

#[derive(Default)]
struct Slot {
    /// Metadata from the database has been read (`meta` is then authoritative).
    loaded: bool,
    meta: Option<DocMeta>,
    /// Members known to be allowed; denials are not cached.
    allowed: HashSet<i64>,
    doc: Option<Automerge>,
    /// Highest chunk id read from the database into `doc`.
    last_chunk: i64,
    appended_since_compaction: usize,
    peers: HashMap<ConnId, PeerLink>,
    touched: Option<Instant>,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_doc_bytes: i64,
    pub idle: Duration,
}

/// Why a sync message was refused. The connection gets a protocol error and is closed.
#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    #[error("invalid sync message: {0}")]
    BadMessage(String),
    #[error("document would exceed the size limit of {0} bytes")]
    TooLarge(i64),
    #[error("storage failed")]
    Storage(#[from] DbError),
    #[error("not allowed: {0}")]
    NotAllowed(String),
}

/// How many appended chunks trigger a compaction into one snapshot (see [`compact_after`]).
const COMPACT_AFTER: usize = 64;

/// The compaction threshold of one document: [`COMPACT_AFTER`] plus up to half again, depending on
/// the id. Documents edited in step (hundreds of devices editing since the same moment) would
/// otherwise all compact at once, and that burst of snapshots held up every other write for a
/// second.
fn compact_after(id: &DocumentId) -> usize {
    COMPACT_AFTER + id.as_bytes()[0] as usize % (COMPACT_AFTER / 2)
}

pub struct Hub {
    db: Db,
    pub storage_id: String,
    /// Every document whose stored content changed (from a device, another process or the
    /// server itself). Background workers such as the tagger subscribe.
    changes: tokio::sync::broadcast::Sender<DocumentId>,
    pub peer_id: String,
    process_tag: String,
    limits: Limits,
    slots: std::sync::Mutex<HashMap<DocumentId, Arc<Mutex<Slot>>>>,
    next_conn: AtomicU64,
}

impl Hub {
    /// `storage_id` names this installation's storage (the same for every process on one database),
    /// advertised to peers so automerge-repo clients keep their sync state with us across sessions.
    pub fn new(db: Db, limits: Limits, storage_id: String) -> Arc<Hub> {
        let tag = format!("{:016x}", rand::random::<u64>());
        let (changes, _) = tokio::sync::broadcast::channel(4096);
        Arc::new(Hub {
            db,
            changes,
            peer_id: format!("vertel-server-{tag}"),
            storage_id,
            process_tag: tag,
            limits,
            slots: std::sync::Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
        })
    }

    /// Subscribe to ids of documents whose stored content changed. A lagging receiver misses ids
    /// (and is told so by the channel); workers then rescan from the database.
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<DocumentId> {
        self.changes.subscribe()
    }

    /// The actor the server writes its own changes with (transcripts, tag suggestions). One per
    /// process, so two processes never reuse sequence numbers of one actor.
    pub fn server_actor(&self) -> automerge::ActorId {
        automerge::ActorId::from(format!("vertel-server-{}", self.process_tag).into_bytes())
    }

    /// Read a stored document (from memory when loaded, otherwise from the database).
    pub async fn read<T>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&Automerge) -> T,
    ) -> Result<Option<T>, SyncFailure> {
        let slot_arc = self.slot(id);
        let mut slot = slot_arc.lock().await;
        if !slot.loaded {
            slot.meta = self.db.doc_meta(&id.to_string(), 0).await?.map(|(m, _)| m);
            slot.loaded = true;
        }
        if slot.meta.as_ref().is_none_or(|m| m.deleted) {
            return Ok(None);
        }
        self.ensure_loaded(&id, &mut slot).await?;
        Ok(slot.doc.as_ref().map(f))
    }

    /// Make a change as the server (its own actor): `f` edits the document and returns whether it
    /// changed anything. The change is stored, then synced to every connected peer, exactly like a
    /// change from a device. Returns false when the document does not exist (or was erased).
    pub async fn server_change(
        &self,
        id: DocumentId,
        f: impl FnOnce(&mut Automerge) -> bool,
    ) -> Result<bool, SyncFailure> {
        self.change_as(id, self.server_actor(), f).await
    }

    /// The actor this process writes a member's changes with (a coordinator's review in the
    /// workspace). Per process and member, so no actor is ever used by two processes at once;
    /// within a process every change to a document holds the document's lock.
    pub fn member_actor(&self, member_id: i64) -> automerge::ActorId {
        automerge::ActorId::from(
            format!("vertel-server-{}-member-{member_id}", self.process_tag).into_bytes(),
        )
    }

    /// Like [`Hub::server_change`], with the changes written by `actor` (see [`Hub::member_actor`]).
    pub async fn change_as(
        &self,
        id: DocumentId,
        actor: automerge::ActorId,
        f: impl FnOnce(&mut Automerge) -> bool,
    ) -> Result<bool, SyncFailure> {
        let slot_arc = self.slot(id);
        let mut slot = slot_arc.lock().await;
        if !slot.loaded {
            slot.meta = self.db.doc_meta(&id.to_string(), 0).await?.map(|(m, _)| m);
            slot.loaded = true;
        }
        let Some(meta) = slot.meta.clone() else {
            return Ok(false);
        };
        if meta.deleted {
            return Ok(false);
        }
        if slot.doc.is_some() && self.db.backend == Backend::Postgres {
            self.catch_up(&id, &mut slot).await?;
        } else {
            self.ensure_loaded(&id, &mut slot).await?;
        }
        let slot = &mut *slot;
        let Some(doc) = slot.doc.as_mut() else {
            return Ok(false);
        };
        let before = doc.get_heads();
        let previous_actor = doc.get_actor().clone();
        doc.set_actor(actor);
        let changed = f(doc);
        doc.set_actor(previous_actor);
        let after = doc.get_heads();
        if !changed || before == after {
            return Ok(false);
        }
        let owner = crate::db::accounts::Member {
            id: meta.recorder_id,
            workspace_id: meta.workspace_id,
            email: String::new(),
            name: String::new(),
            role: Role::Professional,
        };
        if let Err(e) = self.persist(&id, slot, &owner, &before, &after).await {
            slot.doc = None;
            return Err(e);
        }
        self.broadcast(id, slot, None, true);
        Ok(true)
    }

    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub fn process_tag(&self) -> &str {
        &self.process_tag
    }

    fn slot(&self, id: DocumentId) -> Arc<Mutex<Slot>> {
        let mut map = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id).or_default().clone()
    }

    fn existing_slot(&self, id: &DocumentId) -> Option<Arc<Mutex<Slot>>> {
        let map = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).cloned()
    }

    /// Number of documents with a slot, and of those whose content is in memory.
    pub fn stats(&self) -> (usize, usize) {
        let slots: Vec<_> = {
            let map = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            map.values().cloned().collect()
        };
        let loaded = slots
            .iter()
            .filter(|s| s.try_lock().map(|s| s.doc.is_some()).unwrap_or(true))
            .count();
        (slots.len(), loaded)
    }

    fn unavailable(&self, caller: &Caller, id: DocumentId) {
        send(
            &caller.tx,
            &caller.kill,
            Message::DocUnavailable {
                document_id: id,
                sender_id: self.peer_id.clone(),
                target_id: caller.peer_id.clone(),
            }
            .encode(),
        );
    }

    /// Make sure `slot.doc` holds the stored document.
    async fn ensure_loaded(&self, id: &DocumentId, slot: &mut Slot) -> Result<(), SyncFailure> {
        if slot.doc.is_some() {
            return Ok(());
        }
        let mut doc = Automerge::new();
        let mut last = 0;
        if slot.meta.is_some() {
            for (chunk_id, data) in self.db.doc_chunks(&id.to_string(), 0).await? {
                doc.load_incremental(&data).map_err(|e| {
                    SyncFailure::BadMessage(format!("stored document unreadable: {e}"))
                })?;
                last = chunk_id;
            }
        }
        slot.doc = Some(doc);
        slot.last_chunk = last;
        Ok(())
    }

    /// Load into `slot.doc` the chunks stored after the last one read: those other processes
    /// appended (on PostgreSQL), whose notification may still be on its way. A change the server
    /// makes itself must follow everything stored before it rather than be concurrent with it:
    /// automerge settles concurrent writes to one field by actor order, so a transcription status
    /// written on a stale copy could lose to the older status it replaces. Chunk ids are handed
    /// out under the sequence counter's lock (`Db::store`), so none commits below one read; a
    /// compaction's snapshot may, but it only repeats chunks that were stored before it.
    async fn catch_up(&self, id: &DocumentId, slot: &mut Slot) -> Result<(), SyncFailure> {
        let Some(doc) = slot.doc.as_mut() else {
            return Ok(());
        };
        for (chunk_id, data) in self.db.doc_chunks(&id.to_string(), slot.last_chunk).await? {
            doc.load_incremental(&data)
                .map_err(|e| SyncFailure::BadMessage(format!("stored document unreadable: {e}")))?;
            slot.last_chunk = chunk_id;
        }
        Ok(())
    }

    /// Handle a `sync` or `request` message from a connection.
    pub async fn handle_sync(
        &self,
        caller: &Caller,
        id: DocumentId,
        data: &[u8],
        is_request: bool,
    ) -> Result<(), SyncFailure> {
        let message =
            sync::Message::decode(data).map_err(|e| SyncFailure::BadMessage(e.to_string()))?;
        let slot_arc = self.slot(id);
        let mut slot = slot_arc.lock().await;
        slot.touched = Some(Instant::now());
        let member = &caller.member;

        if !slot.allowed.contains(&member.id) {
            match self.db.doc_meta(&id.to_string(), member.id).await? {
                Some((meta, shared)) => {
                    let ok = meta.visible_to(member, shared);
                    slot.meta = Some(meta);
                    slot.loaded = true;
                    if !ok {
                        // Erased, foreign, or not shared: indistinguishable from nonexistent.
                        self.unavailable(caller, id);
                        return Ok(());
                    }
                    slot.allowed.insert(member.id);
                }
                None => {
                    slot.loaded = true;
                    slot.meta = None;
                    if is_request {
                        self.unavailable(caller, id);
                        return Ok(());
                    }
                    // A new document: it will belong to this member once its first changes are stored.
                    if let Some(other) = slot.peers.values().next()
                        && !slot.peers.contains_key(&caller.conn)
                        && other.peer_id != caller.peer_id
                    {
                        self.unavailable(caller, id);
                        return Ok(());
                    }
                }
            }
        }
        if slot.meta.as_ref().is_some_and(|m| m.deleted) {
            self.unavailable(caller, id);
            return Ok(());
        }
        let size = slot.meta.as_ref().map(|m| m.size).unwrap_or(0);
        if size + data.len() as i64 > self.limits.max_doc_bytes {
            return Err(SyncFailure::TooLarge(self.limits.max_doc_bytes));
        }
        self.ensure_loaded(&id, &mut slot).await?;

        let slot = &mut *slot;
        let peer = slot.peers.entry(caller.conn).or_insert_with(|| PeerLink {
            peer_id: caller.peer_id.clone(),
            tx: caller.tx.clone(),
            kill: caller.kill.clone(),
            state: sync::State::new(),
        });
        let Some(doc) = slot.doc.as_mut() else {
            return Err(SyncFailure::BadMessage("document not loaded".into()));
        };
        let before = doc.get_heads();
        let review_before = story::review_state(doc);
        if let Err(e) = doc.receive_sync_message(&mut peer.state, message) {
            slot.doc = None;
            return Err(SyncFailure::BadMessage(e.to_string()));
        }
        let after = doc.get_heads();
        let changed = before != after;
        if changed && member.role != Role::Coordinator {
            // Only coordinators judge stories: a field member may submit, never approve.
            let review_after = story::review_state(doc);
            let judged = matches!(
                review_after,
                Some(ReviewState::Reviewed | ReviewState::Approved | ReviewState::Returned)
            );
            if judged && review_after != review_before {
                slot.doc = None;
                peer.state = sync::State::new();
                return Err(SyncFailure::NotAllowed(
                    "only a coordinator may set a review state other than submitted".into(),
                ));
            }
        }
        if changed {
            if let Err(e) = self.persist(&id, slot, member, &before, &after).await {
                // Not stored, so not acknowledged: forget the in-memory changes.
                slot.doc = None;
                for p in slot.peers.values_mut() {
                    p.state = sync::State::new();
                }
                return Err(e);
            }
            if slot.meta.as_ref().is_some_and(|m| m.deleted) {
                self.unavailable(caller, id);
                return Ok(());
            }
        }
        self.broadcast(id, slot, Some(caller.conn), changed);
        Ok(())
    }

    /// Append the changes between `before` and `after` to the database.
    async fn persist(
        &self,
        id: &DocumentId,
        slot: &mut Slot,
        member: &Member,
        before: &[automerge::ChangeHash],
        after: &[automerge::ChangeHash],
    ) -> Result<(), SyncFailure> {
        let Some(doc) = slot.doc.as_ref() else {
            return Ok(());
        };
        // A new document is stored as a whole document rather than as its list of changes: the
        // same content, but it loads about twice as fast (the columns are read as they are
        // instead of replaying every change), which is what a device catching up waits for.
        let chunk = if slot.meta.is_none() {
            doc.save()
        } else {
            doc.save_after(before)
        };
        let heads: Vec<String> = after.iter().map(|h| h.to_string()).collect();
        let doc_type = story::doc_type(doc)
            .map(|t| t.code())
            .unwrap_or("story")
            .to_string();
        let id_text = id.to_string();
        match &mut slot.meta {
            None => {
                let meta = DocMeta {
                    workspace_id: member.workspace_id,
                    recorder_id: member.id,
                    doc_type,
                    size: chunk.len() as i64,
                    deleted: false,
                };
                self.db.create_doc(&id_text, &meta, &chunk, &heads).await?;
                slot.meta = Some(meta);
                slot.allowed.insert(member.id);
            }
            Some(meta) => match self
                .db
                .append_chunk(&id_text, &chunk, &heads, &doc_type)
                .await?
            {
                Some(_) => {
                    meta.size += chunk.len() as i64;
                    meta.doc_type = doc_type;
                    slot.appended_since_compaction += 1;
                }
                None => {
                    meta.deleted = true;
                    slot.doc = None;
                    return Ok(());
                }
            },
        }
        if slot.appended_since_compaction >= compact_after(id) && slot.doc.is_some() {
            // Load the chunks stored after the last one read (ours, and any another process
            // appended that we have not loaded yet), so that everything up to the newest stored
            // chunk is in this snapshot before the chunks it replaces are deleted.
            self.catch_up(id, slot).await?;
            if let Some(doc) = slot.doc.as_ref() {
                self.db
                    .compact(&id_text, &doc.save(), slot.last_chunk)
                    .await?;
            }
            slot.appended_since_compaction = 0;
            if let Some(meta) = slot.meta.as_mut()
                && let Ok(Some((m, _))) = self.db.doc_meta(&id_text, member.id).await
            {
                meta.size = m.size;
            }
        }
        self.publish(&id_text, false).await;
        let _ = self.changes.send(*id);
        Ok(())
    }

    /// Generate and send sync messages: to the caller always, to other peers when content changed.
    fn broadcast(&self, id: DocumentId, slot: &mut Slot, caller: Option<ConnId>, changed: bool) {
        let Some(doc) = slot.doc.as_ref() else { return };
        let mut dead = Vec::new();
        for (conn, peer) in slot.peers.iter_mut() {
            if !changed && Some(*conn) != caller {
                continue;
            }
            if let Some(msg) = doc.generate_sync_message(&mut peer.state) {
                let frame = Message::Sync {
                    document_id: id,
                    sender_id: self.peer_id.clone(),
                    target_id: peer.peer_id.clone(),
                    data: msg.encode(),
                }
                .encode();
                if !send(&peer.tx, &peer.kill, frame) {
                    dead.push(*conn);
                }
            }
        }
        for conn in dead {
            slot.peers.remove(&conn);
        }
    }

    /// A connection closed: forget its sync states.
    pub async fn disconnect(&self, conn: ConnId, docs: impl IntoIterator<Item = DocumentId>) {
        for id in docs {
            if let Some(slot) = self.existing_slot(&id) {
                let mut slot = slot.lock().await;
                slot.peers.remove(&conn);
                slot.touched = Some(Instant::now());
            }
        }
    }

    /// Another server process stored changes to `id`: read them and tell our peers.
    pub async fn remote_changed(&self, id: DocumentId) -> Result<(), SyncFailure> {
        let Some(slot_arc) = self.existing_slot(&id) else {
            return Ok(());
        };
        let mut slot = slot_arc.lock().await;
        if slot.peers.is_empty() {
            slot.doc = None;
            return Ok(());
        }
        if slot.meta.is_none() {
            // We only knew it as a tentative new document; it exists now.
            slot.loaded = false;
            slot.allowed.clear();
            if let Some((meta, _)) = self.db.doc_meta(&id.to_string(), 0).await? {
                slot.meta = Some(meta);
            }
        }
        if slot.doc.is_some() {
            self.catch_up(&id, &mut slot).await?;
        } else {
            self.ensure_loaded(&id, &mut slot).await?;
        }
        self.broadcast(id, &mut slot, None, true);
        let _ = self.changes.send(id);
        Ok(())
    }

    /// The document was erased: tell every peer it is gone and drop it from memory.
    pub async fn erased(&self, id: DocumentId) {
        let Some(slot_arc) = self.existing_slot(&id) else {
            return;
        };
        let mut slot = slot_arc.lock().await;
        for peer in slot.peers.values() {
            send(
                &peer.tx,
                &peer.kill,
                Message::DocUnavailable {
                    document_id: id,
                    sender_id: self.peer_id.clone(),
                    target_id: peer.peer_id.clone(),
                }
                .encode(),
            );
        }
        slot.peers.clear();
        slot.doc = None;
        slot.allowed.clear();
        if let Some(meta) = slot.meta.as_mut() {
            meta.deleted = true;
        }
    }

    /// Tell other server processes that `id` changed (PostgreSQL only; SQLite has one process).
    pub async fn publish(&self, id: &str, erased: bool) {
        if self.db.backend != Backend::Postgres {
            return;
        }
        let payload = format!(
            "{}:{}:{}",
            self.process_tag,
            if erased { "erase" } else { "change" },
            id
        );
        if let Err(e) = sqlx::query("SELECT pg_notify('vertel_docs', $1)")
            .bind(payload)
            .execute(&self.db.pool)
            .await
        {
            tracing::warn!(error = %e, "could not notify other server processes");
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

/// Queue a frame for a connection. A full outbox means the peer cannot keep up: it is cut off.
fn send(tx: &mpsc::Sender<Outgoing>, kill: &Notify, frame: Vec<u8>) -> bool {
    match tx.try_send(Outgoing::Frame(frame)) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            kill.notify_one();
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;
    use automerge::{ROOT, ReadDoc, transaction::Transactable};

    fn hub(db: Db) -> Arc<Hub> {
        let limits = Limits {
            max_doc_bytes: 1 << 20,
            idle: Duration::from_secs(600),
        };
        Hub::new(db, limits, "test-storage".into())
    }

    fn put_title(doc: &mut Automerge, title: &str) -> bool {
        let mut tx = doc.transaction();
        tx.put(ROOT, "title", title).is_ok() && {
            tx.commit();
            true
        }
    }

    /// Two server processes on one PostgreSQL, with no notifications between them. Process A
    /// holds a copy loaded before process B wrote; A's next change must follow B's, not be
    /// concurrent with it. (Concurrent, B's value would win: its actor sorts higher.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_change_follows_what_another_process_stored() {
        let t = testing::db(Backend::Postgres).await;
        let other = Db::connect(&t.url, 4).await.expect("second pool");
        let (a, b) = (hub(t.db.clone()), hub(other));
        let id = DocumentId::from_bytes(rand::random());
        let mut doc = Automerge::new();
        assert!(put_title(&mut doc, "start"));
        let heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
        let meta = DocMeta {
            workspace_id: t.workspace,
            recorder_id: t.member,
            doc_type: "story".into(),
            size: 0,
            deleted: false,
        };
        t.db.create_doc(&id.to_string(), &meta, &doc.save(), &heads)
            .await
            .expect("create");
        let (low, high) = (
            automerge::ActorId::from(b"aaaa".as_slice()),
            automerge::ActorId::from(b"zzzz".as_slice()),
        );
        assert!(
            a.change_as(id, low.clone(), |d| put_title(d, "A first"))
                .await
                .expect("A")
        );
        assert!(
            b.change_as(id, high, |d| put_title(d, "B"))
                .await
                .expect("B")
        );
        assert!(
            a.change_as(id, low, |d| put_title(d, "A last"))
                .await
                .expect("A again")
        );

        let fresh = hub(t.db.clone());
        let titles = fresh
            .read(id, |d| {
                d.get_all(ROOT, "title")
                    .expect("title")
                    .into_iter()
                    .map(|(v, _)| match v {
                        automerge::Value::Scalar(s) => s.as_str().unwrap_or_default().to_string(),
                        automerge::Value::Object(_) => "an object".into(),
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(titles, ["A last"], "one value, no conflict");
    }
}
