//! The server's own writes into documents: the actor each server writer writes with, who owns an
//! actor (a device's, claimed the first time it is stored), and a change made by the server
//! (transcription, tagger, review bookkeeping, a coordinator's decision) applied and stored under
//! the document's lock. Nothing here talks to peers except through [`Hub::persist`]'s broadcast.

use super::{Hub, Slot, SyncFailure, Unstored, Writer};
use crate::db::DbError;
use crate::db::accounts::{Member, Role};
use crate::db::actors::ActorOwner;
use crate::db::docs::DocMeta;
use automerge::{ActorId, Automerge, ChangeHash};
use client_core::wire::DocumentId;
use std::sync::Arc;

impl Hub {
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

    pub(super) fn cached_owner(&self, actor: &ActorId) -> Option<ActorOwner> {
        let map = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        map.get(actor).cloned()
    }

    pub(super) fn cache_owner(&self, actor: &ActorId, owner: ActorOwner) {
        let mut map = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(actor.clone(), owner);
    }

    /// Record `actor` as `owner`'s unless someone owns it already; returns the owner on record.
    pub(super) async fn claim_actor(
        &self,
        actor: &ActorId,
        owner: ActorOwner,
    ) -> Result<ActorOwner, DbError> {
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
    pub(super) async fn change_as(
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

    /// Apply `f` as `actor` to the loaded document and store what it changed. The caller holds
    /// the slot's lock inside an [`Unstored`] guard.
    pub(super) async fn write_locked(
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
}

/// Apply `f` to `doc` as `actor`; the heads before and after, or `None` when nothing changed.
/// Whatever `f` returns, a change it made is in the document now and must be stored: a change left
/// in memory unstored would reach devices with the next sync and then be lost.
pub(super) fn apply_as(
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

/// The recorder of a stored document, as [`Hub::persist`] needs a member for it (its changes are
/// appended to an existing document, so only the ids matter).
pub(super) fn recorder(meta: &DocMeta) -> Member {
    Member {
        id: meta.recorder_id,
        workspace_id: meta.workspace_id,
        email: String::new(),
        name: String::new(),
        role: Role::Professional,
    }
}
