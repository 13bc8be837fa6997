//! The hub: every document some connection is syncing, with one automerge sync state per peer.
//!
//! The invariant that makes sync durable: **the server advertises heads only after storing them.**
//! A sync message that brings changes is applied in memory, the new changes are appended to the
//! database, and only then are sync messages generated (which carry the new heads, and so
//! acknowledge the changes). If storing fails, or the task is cancelled while it waits for the
//! database, the in-memory document is dropped and reloaded ([`Unstored`]): nothing that is not
//! stored can be sent, and nothing can be built on it.
//!
//! **Every writer has its own actor.** Devices write with their own actors, which the server
//! records as theirs the first time it stores one of their changes (`actors` table); a device may
//! not push changes by an actor recorded for someone else. The server's own writers (transcription,
//! tagger, review bookkeeping, a coordinator's decision in the workspace) each write with an actor
//! of their own per process start ([`Hub::actor`]). automerge takes two changes with the same
//! (actor, sequence number) for the same change, so an actor's sequence must never be reused.
//!
//! **Refusals are per document.** A push the server may not take (a field the sender does not own,
//! a document over the size limit, changes that do not apply) is refused for that document alone:
//! the sender gets `doc-unavailable` with a reason, the changes are dropped, and the connection
//! keeps syncing its other documents.
//!
//! Memory stays bounded: a document nobody syncs is evicted after an idle period, and a document
//! whose peers are idle keeps only their shared heads, not its content.
//!
//! Here: the types and slots, admission and `handle_sync`; [`judging`] (what a push may change),
//! [`storage`] (loading, storing, compaction, other processes' changes), [`peers`] (queues and
//! sync messages per peer), [`writers`] (the server's own writes). Not here: the websocket
//! (`sync::conn`), SQL (`db/`), what a story's fields mean (`client_core::story`).

mod judging;
mod peers;
mod storage;
mod writers;

use super::measure::{self, Caps, MeasureError};
use crate::db::accounts::Member;
pub use crate::db::actors::ActorOwner;
use crate::db::audit::AuditEntry;
use crate::db::docs::{ActorClaim, DocMeta};
use crate::db::{Db, DbError};
use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, Automerge, ReadDoc};
use client_core::story::ownership::{self, Owned};
use client_core::story::{self, DocType, ReviewState};
use client_core::wire::{DocumentId, Refusal};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Notify, mpsc};

pub type ConnId = u64;

/// What one connection's writer sends.
#[derive(Debug)]
pub enum Outgoing {
    Frame(Vec<u8>),
    /// A websocket ping: a peer that does not read never answers it (`sync::conn`).
    Ping,
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
    /// Bytes queued for this connection and not yet written (the writer subtracts).
    pub queued: Arc<AtomicUsize>,
}

struct PeerLink {
    peer_id: String,
    tx: mpsc::Sender<Outgoing>,
    kill: Arc<Notify>,
    queued: Arc<AtomicUsize>,
    state: sync::State,
    /// When changes were last sent that the peer has not answered yet. Until it answers (or
    /// [`Limits::answer_timeout`] passes) it is sent nothing new: a peer that never answers used to
    /// be sent the whole document again with every change.
    in_flight: Option<Instant>,
    /// Something changed meanwhile: send it when the peer answers.
    pending: bool,
}

#[derive(Default)]
struct Slot {
    /// Metadata from the database has been read (`meta` is then authoritative).
    loaded: bool,
    meta: Option<DocMeta>,
    /// Members known to be allowed; denials are not cached.
    allowed: HashSet<i64>,
    /// For a document not stored yet: the member whose device first offered it. Only that
    /// member's connections may take part until it is stored and the stored record decides. (It
    /// used to be decided by the peer id, which the client chooses: another workspace joining
    /// with the recorder's peer id was sent the story.)
    tentative: Option<Member>,
    doc: Option<Automerge>,
    /// Highest chunk id read from the database into `doc`.
    last_chunk: i64,
    /// Uncompressed bytes of the stored chunks in `doc` ([`measure`]): what the document's size
    /// limit is about. Compressed sizes say little: deflate expands about 1000:1.
    expanded: u64,
    appended_since_compaction: usize,
    peers: HashMap<ConnId, PeerLink>,
    touched: Option<Instant>,
}

/// A slot whose in-memory document may hold changes that are not stored yet. Until
/// [`Unstored::stored`] is called, dropping it (an error returned early, or the task cancelled
/// while it awaited the database) throws the in-memory document away and resets the peers' sync
/// states, so the next reader reloads what is stored. Without this, a cancelled write left a
/// change in memory that was later sent to devices and built upon, but never stored.
struct Unstored<'a> {
    slot: &'a mut Slot,
    armed: bool,
}

impl<'a> Unstored<'a> {
    fn new(slot: &'a mut Slot) -> Self {
        Unstored { slot, armed: true }
    }

    /// Everything in memory is stored now.
    fn stored(&mut self) {
        self.armed = false;
    }
}

impl std::ops::Deref for Unstored<'_> {
    type Target = Slot;
    fn deref(&self) -> &Slot {
        self.slot
    }
}

impl std::ops::DerefMut for Unstored<'_> {
    fn deref_mut(&mut self) -> &mut Slot {
        self.slot
    }
}

impl Drop for Unstored<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.slot.doc = None;
            for p in self.slot.peers.values_mut() {
                p.state = sync::State::new();
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// Most uncompressed bytes of one document.
    pub max_doc_bytes: i64,
    /// Most operations in one document.
    pub max_doc_ops: u64,
    /// Most one sync message may carry (uncompressed bytes, operations, changes).
    pub message: Caps,
    pub idle: Duration,
    /// Appended chunks that trigger a compaction (0: [`COMPACT_AFTER`], staggered per document).
    pub compact_after: usize,
    /// Most bytes queued for one connection and not yet written; past it the peer is too slow
    /// and is disconnected.
    pub max_queued_bytes: usize,
    /// How long a peer may leave changes unanswered before it is sent what is pending anyway.
    pub answer_timeout: Duration,
}

impl Default for Limits {
    /// The server's defaults (`vertel-server serve --help`).
    fn default() -> Self {
        Limits {
            max_doc_bytes: 32 * 1024 * 1024,
            max_doc_ops: 2_000_000,
            message: Caps {
                bytes: 16 * 1024 * 1024,
                ops: 1_000_000,
                changes: 100_000,
            },
            idle: Duration::from_secs(30),
            compact_after: 0,
            max_queued_bytes: 16 * 1024 * 1024,
            answer_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a sync message failed in a way that ends the connection. Refusals of one document are
/// not failures: they are answered on the connection, which goes on.
#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    #[error("invalid sync message: {0}")]
    BadMessage(String),
    #[error("storage failed")]
    Storage(#[from] DbError),
}

/// What [`Hub::judge`] decided about a push.
enum Judged {
    /// Take it; the actors first seen in it are recorded with it.
    Accepted(Vec<ActorClaim>),
    Refused(Refusal),
}

/// The server's own writers. Each writes with an actor of its own, new at every process start
/// ([`Hub::actor`]), so no two writers, processes or starts ever share an actor's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Writer {
    /// Transcription status and transcripts (`media::jobs`).
    Transcriber,
    /// Tag suggestions (`tagging::worker`).
    Tagger,
    /// The server's review bookkeeping: the heads a coordinator approved, "changed after approval".
    Review,
    /// A coordinator's decision in the workspace (review, tags, comments), by member id.
    Coordinator(i64),
}

impl Writer {
    /// The `writer` recorded for its actors in the `actors` table.
    fn code(self) -> &'static str {
        match self {
            Writer::Transcriber => "transcriber",
            Writer::Tagger => "tagger",
            Writer::Review => "review",
            Writer::Coordinator(_) => "coordinator",
        }
    }

    /// How the `actors` table records this writer's actors.
    fn owner(self) -> ActorOwner {
        ActorOwner {
            member_id: match self {
                Writer::Coordinator(m) => Some(m),
                _ => None,
            },
            writer: self.code().to_string(),
            coordinator: matches!(self, Writer::Coordinator(_)),
        }
    }
}

/// The prefix of every actor the server writes with; devices may not use it.
const SERVER_ACTOR_PREFIX: &[u8] = b"vertel-server-";

/// How many appended chunks trigger a compaction into one snapshot (see [`compact_after`]).
const COMPACT_AFTER: usize = 64;

/// The compaction threshold of one document: [`COMPACT_AFTER`] plus up to half again, depending on
/// the id. Documents edited in step (hundreds of devices editing since the same moment) would
/// otherwise all compact at once, and that burst of snapshots held up every other write for a
/// second.
fn compact_after(id: &DocumentId, configured: usize) -> usize {
    let base = if configured == 0 {
        COMPACT_AFTER
    } else {
        configured
    };
    base + id.as_bytes()[0] as usize % (base / 2).max(1)
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
    /// Owners of the actors seen so far (the `actors` table is the record; this is its cache).
    actors: std::sync::Mutex<HashMap<ActorId, ActorOwner>>,
    next_conn: AtomicU64,
    /// `story.opened` entries for stories sent to someone other than their recorder, written in
    /// batches by a task of their own (a coordinator's laptop catching up opens thousands).
    reads: mpsc::UnboundedSender<AuditEntry>,
    /// Open sync connections per member ([`Hub::admit`]).
    connections: std::sync::Mutex<HashMap<i64, usize>>,
}

/// An admitted sync connection; dropping it gives the member's place back.
pub struct Admitted {
    hub: Arc<Hub>,
    member: i64,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut map = self
            .hub
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.member) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.member);
            }
        }
    }
}

/// What refusing a push tells the device (Dutch; `docs/schema.md`).
const INVALID_MESSAGE: &str =
    "De wijziging kon niet gelezen worden. Werk de app bij of maak de wijziging ongedaan.";
const FOREIGN_ACTOR_MESSAGE: &str =
    "Deze wijziging is gemaakt met de sleutel van iemand anders. Maak de wijziging ongedaan.";

impl Hub {
    /// `storage_id` names this installation's storage (the same for every process on one database),
    /// advertised to peers so automerge-repo clients keep their sync state with us across sessions.
    pub fn new(db: Db, limits: Limits, storage_id: String) -> Arc<Hub> {
        let tag = format!("{:016x}", rand::random::<u64>());
        let (changes, _) = tokio::sync::broadcast::channel(4096);
        let (reads, mut queued) = mpsc::unbounded_channel::<AuditEntry>();
        let audit_db = db.clone();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while queued.recv_many(&mut batch, 1000).await > 0 {
                if let Err(e) = audit_db.audit_many(&batch).await {
                    tracing::error!(error = %e, entries = batch.len(), "writing story reads to the audit log failed");
                }
                batch.clear();
            }
        });
        Arc::new(Hub {
            reads,
            connections: std::sync::Mutex::new(HashMap::new()),
            db,
            changes,
            peer_id: format!("vertel-server-{tag}"),
            storage_id,
            process_tag: tag,
            limits,
            slots: std::sync::Mutex::new(HashMap::new()),
            actors: std::sync::Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
        })
    }

    /// Subscribe to ids of documents whose stored content changed. A lagging receiver misses ids
    /// (and is told so by the channel); workers then rescan from the database.
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<DocumentId> {
        self.changes.subscribe()
    }

    /// Read a stored document (from memory when loaded, otherwise from the database).
    pub async fn read<T>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&Automerge) -> T,
    ) -> Result<Option<T>, SyncFailure> {
        let slot_arc = self.slot(id);
        let mut slot = slot_arc.lock().await;
        self.load_meta(&id, &mut slot).await?;
        if slot.meta.as_ref().is_none_or(|m| m.deleted) {
            return Ok(None);
        }
        self.ensure_loaded(&id, &mut slot).await?;
        Ok(slot.doc.as_ref().map(f))
    }

    /// Admit one more sync connection of `member`, unless they have `max` open already.
    pub fn admit(self: &Arc<Self>, member: i64, max: usize) -> Option<Admitted> {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(member).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Admitted {
            hub: Arc::clone(self),
            member,
        })
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

    /// Handle a `sync` or `request` message from a connection. Whatever goes wrong with one
    /// document is answered for that document; only a storage failure ends the connection (the
    /// device retries, and nothing unstored was acknowledged).
    pub async fn handle_sync(
        self: &Arc<Self>,
        caller: &Caller,
        id: DocumentId,
        data: &[u8],
        is_request: bool,
    ) -> Result<(), SyncFailure> {
        // A task of its own: once the message is applied in memory, storing it runs to the end
        // even if the connection's task is dropped meanwhile (a cancelled write that was still
        // queued could commit after the document had been reloaded without it).
        let (hub, task_caller, data) = (Arc::clone(self), caller.clone(), data.to_vec());
        let outcome =
            tokio::spawn(
                async move { hub.sync_document(&task_caller, id, &data, is_request).await },
            )
            .await
            .unwrap_or_else(|e| Err(SyncFailure::BadMessage(format!("sync task failed: {e}"))));
        match outcome {
            Err(SyncFailure::BadMessage(reason)) => {
                tracing::error!(doc = %id, %reason, "document could not be synced");
                self.answer_unavailable(
                    caller,
                    id,
                    Some(Refusal::new(
                        Refusal::INVALID,
                        "De server kan dit verhaal nu niet lezen. Het blijft op je telefoon.",
                    )),
                );
                Ok(())
            }
            other => other,
        }
    }

    async fn sync_document(
        &self,
        caller: &Caller,
        id: DocumentId,
        data: &[u8],
        is_request: bool,
    ) -> Result<(), SyncFailure> {
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
                    // A new document: it will belong to the member who first stores changes for
                    // it. Until then another member asking for it learns nothing (the access
                    // check above runs again once it exists). Decided by who is logged in,
                    // never by the peer id a client chose.
                    match &slot.tentative {
                        Some(first) if first.id != member.id => {
                            self.unavailable(caller, id);
                            return Ok(());
                        }
                        Some(_) => {}
                        None => slot.tentative = Some(member.clone()),
                    }
                }
            }
        }
        if slot.meta.as_ref().is_some_and(|m| m.deleted) {
            self.unavailable(caller, id);
            return Ok(());
        }
        let message = match sync::Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(doc = %id, error = %e, "undecodable sync message");
                self.refuse(
                    caller,
                    id,
                    &mut slot,
                    Refusal::new(Refusal::INVALID, INVALID_MESSAGE),
                );
                return Ok(());
            }
        };
        // Measured before anything is applied: what the chunks hold uncompressed, not what they
        // take on the wire, against the limits per message and per document.
        let cost = match measure::measure(
            &message.changes.iter().collect::<Vec<_>>(),
            self.limits.message,
        ) {
            Ok(cost) => cost,
            Err(e) => {
                tracing::info!(doc = %id, member = member.id, error = %e, "sync message refused");
                let refusal = match e {
                    MeasureError::Exceeds { .. } => self.too_large(),
                    MeasureError::Invalid(_) => Refusal::new(Refusal::INVALID, INVALID_MESSAGE),
                };
                self.refuse(caller, id, &mut slot, refusal);
                return Ok(());
            }
        };
        if message.changes.is_empty() {
            self.ensure_loaded(&id, &mut slot).await?;
        } else {
            // Changes judged against a stale copy would be misjudged (a change another process
            // stored, relayed by a device, would look new), and recorded with stale heads.
            self.load_latest(&id, &mut slot).await?;
            let ops = slot.doc.as_ref().map_or(0, |d| d.stats().num_ops);
            if slot.expanded.saturating_add(cost.bytes) > self.limits.max_doc_bytes.max(0) as u64
                || ops.saturating_add(cost.ops) > self.limits.max_doc_ops
            {
                tracing::info!(doc = %id, member = member.id, bytes = slot.expanded, ops, ?cost, "document would grow past its limit");
                let refusal = self.too_large();
                self.refuse(caller, id, &mut slot, refusal);
                return Ok(());
            }
        }

        if !slot.peers.contains_key(&caller.conn)
            && let Some(meta) = slot.meta.as_ref()
            && meta.recorder_id != member.id
        {
            // Someone else's story goes to this connection from now on: a read, for the audit
            // log, once per connection and story.
            let _ = self.reads.send(AuditEntry {
                at: crate::db::now_ms(),
                workspace_id: Some(meta.workspace_id),
                member_id: Some(member.id),
                action: "story.opened",
                doc_id: Some(id.to_string()),
                detail: Some("sync".into()),
            });
        }
        let mut guard = Unstored::new(&mut slot);
        let s: &mut Slot = &mut guard;
        let peer = s.peers.entry(caller.conn).or_insert_with(|| PeerLink {
            peer_id: caller.peer_id.clone(),
            tx: caller.tx.clone(),
            kill: caller.kill.clone(),
            queued: caller.queued.clone(),
            state: sync::State::new(),
            in_flight: None,
            pending: false,
        });
        // Whatever the peer says, it has read what it was sent.
        peer.in_flight = None;
        let Some(doc) = s.doc.as_mut() else {
            return Err(SyncFailure::BadMessage("document not loaded".into()));
        };
        let before = doc.get_heads();
        let persona = story::doc_type(doc) == Some(DocType::Persona);
        let owned_before = (!persona && !message.changes.is_empty()).then(|| Owned::read(doc));
        let approved_content = (story::review_state(doc) == Some(ReviewState::Approved))
            .then(|| ownership::content(doc));
        if let Err(e) = doc.receive_sync_message(&mut peer.state, message) {
            tracing::debug!(doc = %id, error = %e, "sync message does not apply");
            self.refuse(
                caller,
                id,
                s,
                Refusal::new(Refusal::INVALID, INVALID_MESSAGE),
            );
            guard.stored();
            return Ok(());
        }
        let after = doc.get_heads();
        let changed = before != after;
        if changed {
            let judged = self
                .judge(member, doc, &before, owned_before.as_ref())
                .await?;
            let claims = match judged {
                Judged::Accepted(claims) => claims,
                Judged::Refused(refusal) => {
                    self.refuse(caller, id, s, refusal);
                    guard.stored();
                    return Ok(());
                }
            };
            // Not stored, so not acknowledged: on failure the guard forgets the changes.
            self.persist(&id, s, member, &before, &after, claims)
                .await?;
            guard.stored();
            let s: &mut Slot = &mut guard;
            if s.meta.as_ref().is_some_and(|m| m.deleted) {
                self.unavailable(caller, id);
                return Ok(());
            }
            self.follow_review(&id, s, member, owned_before.as_ref(), approved_content)
                .await?;
        }
        guard.stored();
        self.broadcast(id, &mut guard, Some(caller.conn), changed);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
