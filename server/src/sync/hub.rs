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

use super::measure::{self, Caps, MeasureError};
use crate::db::accounts::{Member, Role};
pub use crate::db::actors::ActorOwner;
use crate::db::audit::AuditEntry;
use crate::db::docs::{ActorClaim, DocMeta};
use crate::db::{Backend, Db, DbError};
use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};
use client_core::story::ownership::{self, Owned};
use client_core::story::{self, DocType, ReviewState};
use client_core::wire::{DocumentId, Message, Refusal};
use std::collections::{BTreeSet, HashMap, HashSet};
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

    /// The actor `writer` writes with in this process: new at every start (the process tag is
    /// random), one per writer (and per coordinator), never used by a device.
    pub fn actor(&self, writer: Writer) -> ActorId {
        let name = match writer {
            Writer::Coordinator(member) => format!("member-{member}"),
            other => other.code().to_string(),
        };
        ActorId::from(format!("vertel-server-{}-{name}", self.process_tag).into_bytes())
    }

    /// Who writes with `actor`, from the server's record (`None`: nobody it knows of).
    pub async fn actor_owner(&self, actor: &ActorId) -> Result<Option<ActorOwner>, DbError> {
        if let Some(owner) = self.cached_owner(actor) {
            return Ok(Some(owner));
        }
        let owner = self.db.actor_owner(&actor.to_hex_string()).await?;
        if let Some(owner) = &owner {
            self.cache_owner(actor, owner.clone());
        }
        Ok(owner)
    }

    fn cached_owner(&self, actor: &ActorId) -> Option<ActorOwner> {
        let map = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        map.get(actor).cloned()
    }

    fn cache_owner(&self, actor: &ActorId, owner: ActorOwner) {
        let mut map = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(actor.clone(), owner);
    }

    /// Record `actor` as `owner`'s unless someone owns it already; returns the owner on record.
    async fn claim_actor(&self, actor: &ActorId, owner: ActorOwner) -> Result<ActorOwner, DbError> {
        if let Some(known) = self.cached_owner(actor) {
            return Ok(known);
        }
        let recorded = self
            .db
            .claim_actor(&actor.to_hex_string(), owner.member_id, &owner.writer)
            .await?;
        self.cache_owner(actor, recorded.clone());
        Ok(recorded)
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

    /// Make a change as one of the server's writers: `f` edits the document (its return value
    /// says whether it meant to; whatever it changed is stored either way). The change is stored,
    /// then synced to every connected peer, exactly like a change from a device. Returns false
    /// when nothing changed or the document does not exist (or was erased).
    pub async fn server_change(
        self: &Arc<Self>,
        id: DocumentId,
        writer: Writer,
        f: impl FnOnce(&mut Automerge) -> bool,
    ) -> Result<bool, SyncFailure> {
        self.change_as(id, self.actor(writer), writer.owner(), f)
            .await
    }

    /// [`Hub::server_change`] with an explicit actor, recorded for `owner`.
    async fn change_as(
        self: &Arc<Self>,
        id: DocumentId,
        actor: ActorId,
        owner: ActorOwner,
        f: impl FnOnce(&mut Automerge) -> bool,
    ) -> Result<bool, SyncFailure> {
        self.claim_actor(&actor, owner).await?;
        let mut slot = self.slot(id).lock_owned().await;
        self.load_meta(&id, &mut slot).await?;
        let Some(meta) = slot.meta.clone().filter(|m| !m.deleted) else {
            return Ok(false);
        };
        // Server writers read, decide and write (a transcript's segments, tag suggestions): two
        // processes doing that at once would write concurrent values and one would be lost.
        // On PostgreSQL they take turns per document, across processes, until their change is
        // stored; the catch-up after taking the turn sees the other's change.
        let turn = self.db.document_turn(&id.to_string()).await?;
        self.load_latest(&id, &mut slot).await?;
        let Some(doc) = slot.doc.as_mut() else {
            return Ok(false);
        };
        let Some((before, after)) = apply_as(doc, actor, f) else {
            return Ok(false);
        };
        // From here the change is in memory and not stored: finish in a task of its own, holding
        // the document's lock, so that cancelling the caller cannot leave it half done.
        let hub = Arc::clone(self);
        tokio::spawn(async move {
            let mut guard = Unstored::new(&mut slot);
            hub.persist(
                &id,
                &mut guard,
                &recorder(&meta),
                &before,
                &after,
                Vec::new(),
            )
            .await?;
            guard.stored();
            drop(turn);
            hub.broadcast(id, &mut guard, None, true);
            Ok(true)
        })
        .await
        .map_err(|e| SyncFailure::BadMessage(format!("the write task failed: {e}")))?
    }

    /// Read the document's metadata unless it is known. "Does not exist" is never taken from
    /// memory: the document may have been stored since (by another process, or by a device
    /// whose first push this process only saw as a request), and a server write skipped on a
    /// stale "does not exist" was a transcript lost with its job marked done.
    async fn load_meta(&self, id: &DocumentId, slot: &mut Slot) -> Result<(), SyncFailure> {
        if !slot.loaded || slot.meta.is_none() {
            slot.meta = self.db.doc_meta(&id.to_string(), 0).await?.map(|(m, _)| m);
            slot.loaded = true;
        }
        Ok(())
    }

    /// Make the document in memory current: loaded, and on PostgreSQL with every chunk other
    /// processes stored since it was read (see [`Hub::catch_up`]).
    async fn load_latest(&self, id: &DocumentId, slot: &mut Slot) -> Result<(), SyncFailure> {
        if slot.doc.is_some() && self.db.backend == Backend::Postgres {
            self.catch_up(id, slot).await
        } else {
            self.ensure_loaded(id, slot).await
        }
    }

    /// Apply `f` as `actor` to the loaded document and store what it changed. The caller holds
    /// the slot's lock inside an [`Unstored`] guard.
    async fn write_locked(
        &self,
        id: &DocumentId,
        slot: &mut Slot,
        actor: ActorId,
        f: impl FnOnce(&mut Automerge) -> bool,
    ) -> Result<bool, SyncFailure> {
        let Some(meta) = slot.meta.clone() else {
            return Ok(false);
        };
        let Some(doc) = slot.doc.as_mut() else {
            return Ok(false);
        };
        let Some((before, after)) = apply_as(doc, actor, f) else {
            return Ok(false);
        };
        self.persist(id, slot, &recorder(&meta), &before, &after, Vec::new())
            .await?;
        Ok(true)
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

    fn unavailable(&self, caller: &Caller, id: DocumentId) {
        self.answer_unavailable(caller, id, None);
    }

    fn answer_unavailable(&self, caller: &Caller, id: DocumentId, refused: Option<Refusal>) {
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
    fn send(
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

    fn tell_unavailable(&self, peer: &PeerLink, id: DocumentId) {
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

    fn too_large(&self) -> Refusal {
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
    fn refuse(&self, caller: &Caller, id: DocumentId, slot: &mut Slot, refusal: Refusal) {
        tracing::info!(doc = %id, member = caller.member.id, code = %refusal.code, "refused a document's changes");
        slot.doc = None;
        if let Some(peer) = slot.peers.get_mut(&caller.conn) {
            peer.state = sync::State::new();
        }
        self.answer_unavailable(caller, id, Some(refusal));
    }

    /// Make sure `slot.doc` holds the stored document.
    async fn ensure_loaded(&self, id: &DocumentId, slot: &mut Slot) -> Result<(), SyncFailure> {
        if slot.doc.is_some() {
            return Ok(());
        }
        let mut doc = Automerge::new();
        let mut last = 0;
        let mut chunks: usize = 0;
        let mut expanded = 0;
        if slot.meta.is_some() {
            for (chunk_id, data) in self.db.doc_chunks(&id.to_string(), 0).await? {
                doc.load_incremental(&data).map_err(|e| {
                    SyncFailure::BadMessage(format!("stored document unreadable: {e}"))
                })?;
                last = chunk_id;
                chunks += 1;
                expanded += stored_cost(&data);
            }
        }
        slot.doc = Some(doc);
        slot.last_chunk = last;
        slot.expanded = expanded;
        // Count what is stored, not what this process appended since it loaded the document: a
        // story edited in short sessions (evicted or restarted in between) must still compact.
        slot.appended_since_compaction = chunks.saturating_sub(1);
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
            slot.expanded += stored_cost(&data);
        }
        Ok(())
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

    /// May `member` push the changes between `before` and the document's heads? Every new change
    /// must be by an actor of theirs (recorded as theirs now if new), and the owned fields may
    /// change only as their role allows (`client_core::story::ownership`).
    async fn judge(
        &self,
        member: &Member,
        doc: &Automerge,
        before: &[ChangeHash],
        owned_before: Option<&Owned>,
    ) -> Result<Judged, SyncFailure> {
        let mut claims = Vec::new();
        let actors: BTreeSet<ActorId> = doc
            .get_changes(before)
            .iter()
            .map(|c| c.actor_id().clone())
            .collect();
        let coordinator = member.role == Role::Coordinator;
        let mine = ActorOwner {
            member_id: Some(member.id),
            writer: "device".into(),
            coordinator,
        };
        for actor in &actors {
            if actor.to_bytes().starts_with(SERVER_ACTOR_PREFIX) {
                return Ok(Judged::Refused(Refusal::new(
                    Refusal::NOT_YOURS,
                    FOREIGN_ACTOR_MESSAGE,
                )));
            }
            match self.actor_owner(actor).await? {
                Some(owner) if owner.member_id != mine.member_id || owner.writer != mine.writer => {
                    return Ok(Judged::Refused(Refusal::new(
                        Refusal::NOT_YOURS,
                        FOREIGN_ACTOR_MESSAGE,
                    )));
                }
                Some(_) => {}
                // New: recorded as this member's with the changes made with it.
                None => claims.push(ActorClaim {
                    actor: actor.to_hex_string(),
                    member_id: mine.member_id,
                    writer: mine.writer.clone(),
                }),
            }
        }
        let Some(owned_before) = owned_before else {
            return Ok(Judged::Accepted(claims));
        };
        let owned_after = Owned::read(doc);
        if &owned_after == owned_before {
            return Ok(Judged::Accepted(claims));
        }
        // Whose decision a tag was: known from the actor that wrote it.
        let mut coordinator_actors = HashSet::new();
        for tag in owned_before.tags.values() {
            let Ok(actor) = ActorId::try_from(tag.actor.as_str()) else {
                continue;
            };
            if self
                .actor_owner(&actor)
                .await?
                .is_some_and(|o| o.coordinator)
            {
                coordinator_actors.insert(tag.actor.clone());
            }
        }
        let writer = if coordinator {
            ownership::Writer::Coordinator
        } else {
            ownership::Writer::FieldMember
        };
        Ok(
            match ownership::check(owned_before, &owned_after, writer, |a| {
                coordinator_actors.contains(a)
            }) {
                Ok(()) => Judged::Accepted(claims),
                Err(v) => Judged::Refused(Refusal::new(Refusal::NOT_YOURS, v.message())),
            },
        )
    }

    /// After a stored push: an approval is of a version. A coordinator's approval through sync
    /// gets the heads it approved recorded; a field member's edit of an approved story's content
    /// sends it back to `submitted`, marked as changed after approval (reports keep the approved
    /// version until it is approved again).
    async fn follow_review(
        &self,
        id: &DocumentId,
        slot: &mut Slot,
        member: &Member,
        owned_before: Option<&Owned>,
        approved_content: Option<ownership::Content>,
    ) -> Result<(), SyncFailure> {
        let Some(doc) = slot.doc.as_ref() else {
            return Ok(());
        };
        let approved_now = story::review_state(doc) == Some(ReviewState::Approved);
        let heads = doc.get_heads();
        let record_heads = member.role == Role::Coordinator
            && approved_now
            && owned_before.is_some_and(|o| o.review.as_deref() != Some("approved"));
        let reopen = member.role != Role::Coordinator
            && approved_now
            && approved_content.is_some_and(|c| ownership::content(doc) != c);
        if !record_heads && !reopen {
            return Ok(());
        }
        let now = crate::db::now_ms();
        let actor = self.actor(Writer::Review);
        self.claim_actor(&actor, Writer::Review.owner()).await?;
        let mut slot = Unstored::new(slot);
        self.write_locked(id, &mut slot, actor, |d| {
            if record_heads {
                ownership::record_approved_heads(d, &heads, now).is_ok()
            } else {
                ownership::reopen_after_edit(d, now).is_ok()
            }
        })
        .await?;
        slot.stored();
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
        claims: Vec<ActorClaim>,
    ) -> Result<(), SyncFailure> {
        let Some(doc) = slot.doc.as_ref() else {
            return Ok(());
        };
        let claimed: Vec<(ActorId, ActorOwner)> = claims
            .iter()
            .filter_map(|c| {
                let actor = ActorId::try_from(c.actor.as_str()).ok()?;
                let owner = ActorOwner {
                    member_id: c.member_id,
                    writer: c.writer.clone(),
                    coordinator: member.role == Role::Coordinator,
                };
                Some((actor, owner))
            })
            .collect();
        // A new document is stored as a whole document rather than as its list of changes: the
        // same content, but it loads about twice as fast (the columns are read as they are
        // instead of replaying every change), which is what a device catching up waits for.
        let chunk = if slot.meta.is_none() {
            doc.save()
        } else {
            doc.save_after(before)
        };
        let chunk_cost = stored_cost(&chunk);
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
                self.db
                    .create_doc_by(&id_text, &meta, &chunk, &heads, claims)
                    .await?;
                slot.meta = Some(meta);
                slot.allowed.insert(member.id);
                slot.expanded = chunk_cost;
            }
            Some(meta) => match self
                .db
                .append_chunk_by(&id_text, &chunk, &heads, &doc_type, claims)
                .await?
            {
                Some(_) => {
                    meta.size += chunk.len() as i64;
                    slot.expanded += chunk_cost;
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
        for (actor, owner) in claimed {
            self.cache_owner(&actor, owner);
        }
        if slot.appended_since_compaction >= compact_after(id, self.limits.compact_after)
            && slot.doc.is_some()
        {
            // Load the chunks stored after the last one read (ours, and any another process
            // appended that we have not loaded yet), so that everything up to the newest stored
            // chunk is in this snapshot before the chunks it replaces are deleted.
            self.catch_up(id, slot).await?;
            if let Some(doc) = slot.doc.as_ref() {
                let snapshot = doc.save();
                self.db
                    .compact(&id_text, &snapshot, slot.last_chunk)
                    .await?;
                slot.expanded = stored_cost(&snapshot);
            }
            slot.appended_since_compaction = 0;
            if let Some(meta) = slot.meta.as_mut()
                && let Ok(Some((m, _))) = self.db.doc_meta(&id_text, member.id).await
            {
                meta.size = m.size;
            }
        }
        if self.db.backend == Backend::Postgres {
            // Another process may have appended since this copy was read: record heads that
            // cover its changes too (`Db::record_heads`), so the feed never lags behind them.
            self.catch_up(id, slot).await?;
            if let Some(doc) = slot.doc.as_ref() {
                let stored = doc.get_heads();
                if stored != after {
                    let text: Vec<String> = stored.iter().map(|h| h.to_string()).collect();
                    self.db
                        .record_heads(&id_text, &text, slot.last_chunk)
                        .await?;
                }
            }
        }
        self.publish(&id_text, false).await;
        let _ = self.changes.send(*id);
        Ok(())
    }

    /// Generate and send sync messages: to the caller always, to other peers when content changed.
    fn broadcast(&self, id: DocumentId, slot: &mut Slot, caller: Option<ConnId>, changed: bool) {
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
    fn sync_peer(
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
            // We only knew it as a tentative new document; it exists now, stored by another
            // process. Our peers are the tentative member's: they stay only if the stored
            // record lets that member see it.
            slot.loaded = false;
            slot.allowed.clear();
            let tentative = slot.tentative.take();
            let viewer = tentative.as_ref().map_or(0, |m| m.id);
            if let Some((meta, shared)) = self.db.doc_meta(&id.to_string(), viewer).await? {
                let visible = tentative
                    .as_ref()
                    .is_some_and(|m| meta.visible_to(m, shared));
                slot.meta = Some(meta);
                if !visible {
                    for (_, peer) in slot.peers.drain() {
                        self.tell_unavailable(&peer, id);
                    }
                    slot.doc = None;
                    return Ok(());
                }
            }
        }
        if let Some(doc) = slot.doc.as_ref() {
            let before = doc.get_heads();
            self.catch_up(&id, &mut slot).await?;
            if slot.doc.as_ref().is_some_and(|d| d.get_heads() == before) {
                // Nothing new (our own change, or one already loaded): nothing to tell anyone.
                return Ok(());
            }
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
            self.tell_unavailable(peer, id);
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

/// Apply `f` to `doc` as `actor`; the heads before and after, or `None` when nothing changed.
/// Whatever `f` returns, a change it made is in the document now and must be stored: a change left
/// in memory unstored would reach devices with the next sync and then be lost.
fn apply_as(
    doc: &mut Automerge,
    actor: ActorId,
    f: impl FnOnce(&mut Automerge) -> bool,
) -> Option<(Vec<ChangeHash>, Vec<ChangeHash>)> {
    let before = doc.get_heads();
    let previous_actor = doc.get_actor().clone();
    doc.set_actor(actor);
    let _ = f(doc);
    doc.set_actor(previous_actor);
    let after = doc.get_heads();
    (before != after).then_some((before, after))
}

/// The uncompressed size of a stored chunk. What automerge stored and loaded measures; the
/// fallback (its stored size) is for nothing that automerge writes.
fn stored_cost(chunk: &[u8]) -> u64 {
    measure::measure(&[chunk], Caps::NONE).map_or(chunk.len() as u64, |c| c.bytes)
}

/// The recorder of a stored document, as [`Hub::persist`] needs a member for it (its changes are
/// appended to an existing document, so only the ids matter).
fn recorder(meta: &DocMeta) -> Member {
    Member {
        id: meta.recorder_id,
        workspace_id: meta.workspace_id,
        email: String::new(),
        name: String::new(),
        role: Role::Professional,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;
    use automerge::{ROOT, ReadDoc, transaction::Transactable};

    fn hub_with(db: Db, compact_after: usize) -> Arc<Hub> {
        let limits = Limits {
            max_doc_bytes: 1 << 20,
            idle: Duration::from_secs(600),
            compact_after,
            ..Limits::default()
        };
        Hub::new(db, limits, "test-storage".into())
    }

    fn hub(db: Db) -> Arc<Hub> {
        hub_with(db, 0)
    }

    fn tagger() -> ActorOwner {
        Writer::Tagger.owner()
    }

    fn put_title(doc: &mut Automerge, title: &str) -> bool {
        let mut tx = doc.transaction();
        tx.put(ROOT, "title", title).is_ok() && {
            tx.commit();
            true
        }
    }

    /// Every value the title holds (more than one after concurrent writes).
    fn titles(doc: &Automerge) -> Vec<String> {
        doc.get_all(ROOT, "title")
            .unwrap_or_default()
            .into_iter()
            .map(|(v, _)| match v {
                automerge::Value::Scalar(s) => s.as_str().unwrap_or_default().to_string(),
                automerge::Value::Object(_) => "an object".into(),
            })
            .collect()
    }

    /// A stored story titled "start", recorded by the test member.
    async fn stored_story(t: &testing::TestDb, id: DocumentId) {
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
        stored_story(&t, id).await;
        let (low, high) = (
            automerge::ActorId::from(b"aaaa".as_slice()),
            automerge::ActorId::from(b"zzzz".as_slice()),
        );
        assert!(
            a.change_as(id, low.clone(), tagger(), |d| put_title(d, "A first"))
                .await
                .expect("A")
        );
        assert!(
            b.change_as(id, high, tagger(), |d| put_title(d, "B"))
                .await
                .expect("B")
        );
        assert!(
            a.change_as(id, low, tagger(), |d| put_title(d, "A last"))
                .await
                .expect("A again")
        );
        let fresh = hub(t.db.clone());
        let titles = fresh.read(id, titles).await.expect("read").expect("stored");
        assert_eq!(titles, ["A last"], "one value, no conflict");
    }

    /// The loss found on the demo server: a server write cancelled while it waited for the
    /// database (an aborted task) left its change in memory unstored; the next change by the same
    /// writer was built on it and sent to devices, and a reload lost both. Now a write runs to
    /// its end once its change is made, and every change by one actor is stored in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_server_write_is_stored_or_forgotten_never_half() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let t = testing::db(backend).await;
            let hub = hub_with(t.db.clone(), 2);
            let id = DocumentId::from_bytes(rand::random());
            stored_story(&t, id).await;
            for round in 0..6 {
                // Hold the writers' turn and the sequence row: the write waits inside persist.
                let (mut turn, writer) = t.db.begin_write().await.expect("turn");
                sqlx::query("UPDATE counters SET value = value WHERE name = 'doc_seq'")
                    .execute(&mut *turn)
                    .await
                    .expect("lock the sequence row");
                let write = hub.server_change(id, Writer::Transcriber, |d| {
                    put_title(d, &format!("cancelled {round}"))
                });
                let _ = tokio::time::timeout(Duration::from_millis(50), write).await;
                drop(turn);
                drop(writer);
                // Whether it finished in time or not, the next write by the same writer follows it.
                let next = format!("kept {round}");
                assert!(
                    hub.server_change(id, Writer::Transcriber, |d| put_title(d, &next))
                        .await
                        .expect("write")
                );
            }
            let actor = hub.actor(Writer::Transcriber);
            let (titles, missing, mut seqs) = hub_with(t.db.clone(), 0)
                .read(id, |d| {
                    let seqs: Vec<u64> = d
                        .get_changes(&[])
                        .iter()
                        .filter(|c| c.actor_id() == &actor)
                        .map(|c| c.seq())
                        .collect();
                    (titles(d), d.get_missing_deps(&[]), seqs)
                })
                .await
                .expect("read")
                .expect("stored");
            assert_eq!(titles, ["kept 5"], "{backend:?}");
            assert!(missing.is_empty(), "{backend:?}: {missing:?}");
            // Every sequence number of the writer's actor is stored once, with no gap.
            seqs.sort();
            let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
            assert_eq!(seqs, expected, "{backend:?}");
            assert!(seqs.len() >= 6, "{backend:?}: {seqs:?}");
        }
    }

    /// A story edited in short sessions (a new process, or an evicted document, each time) is
    /// compacted by what is stored, not by what one process appended since it loaded it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stories_edited_in_short_sessions_are_compacted() {
        let t = testing::db(Backend::Sqlite).await;
        // First byte 0: the threshold is exactly the configured one, without the stagger.
        let id = DocumentId::from_bytes([0; 16]);
        stored_story(&t, id).await;
        for session in 0..30 {
            // Every session is a fresh process: nothing in memory from the last one.
            let hub = hub_with(t.db.clone(), 4);
            let title = format!("session {session}");
            assert!(
                hub.server_change(id, Writer::Tagger, |d| put_title(d, &title))
                    .await
                    .expect("write")
            );
            let chunks = t.db.doc_chunks(&id.to_string(), 0).await.expect("chunks");
            // The threshold of 4 appended chunks, plus the snapshot.
            assert!(
                chunks.len() <= 5,
                "session {session}: {} chunks",
                chunks.len()
            );
        }
    }
}
