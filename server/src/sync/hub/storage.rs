//! Loading documents from the database into their slots and storing new changes (appending chunks,
//! compacting into snapshots, counting the uncompressed size against the limit), and following what
//! other processes stored or erased. The durability rule of the hub lives here: heads are advertised
//! only after [`Hub::persist`] has stored them.

use super::super::measure::{self, Caps};
use super::{Hub, Slot, SyncFailure, compact_after};
use crate::db::Backend;
use crate::db::accounts::{Member, Role};
use crate::db::actors::ActorOwner;
use crate::db::docs::{ActorClaim, DocMeta};
use automerge::{ActorId, Automerge};
use client_core::story;
use client_core::wire::DocumentId;

impl Hub {
    /// Read the document's metadata unless it is known. "Does not exist" is never taken from
    /// memory: the document may have been stored since (by another process, or by a device
    /// whose first push this process only saw as a request), and a server write skipped on a
    /// stale "does not exist" was a transcript lost with its job marked done.
    pub(super) async fn load_meta(
        &self,
        id: &DocumentId,
        slot: &mut Slot,
    ) -> Result<(), SyncFailure> {
        if !slot.loaded || slot.meta.is_none() {
            slot.meta = self.db.doc_meta(&id.to_string(), 0).await?.map(|(m, _)| m);
            slot.loaded = true;
        }
        Ok(())
    }

    /// Make the document in memory current: loaded, and on PostgreSQL with every chunk other
    /// processes stored since it was read (see [`Hub::catch_up`]).
    pub(super) async fn load_latest(
        &self,
        id: &DocumentId,
        slot: &mut Slot,
    ) -> Result<(), SyncFailure> {
        if slot.doc.is_some() && self.db.backend == Backend::Postgres {
            self.catch_up(id, slot).await
        } else {
            self.ensure_loaded(id, slot).await
        }
    }

    /// Make sure `slot.doc` holds the stored document.
    pub(super) async fn ensure_loaded(
        &self,
        id: &DocumentId,
        slot: &mut Slot,
    ) -> Result<(), SyncFailure> {
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
    pub(super) async fn catch_up(
        &self,
        id: &DocumentId,
        slot: &mut Slot,
    ) -> Result<(), SyncFailure> {
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

    /// Append the changes between `before` and `after` to the database.
    pub(super) async fn persist(
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
}

/// The uncompressed size of a stored chunk. What automerge stored and loaded measures; the
/// fallback (its stored size) is for nothing that automerge writes.
pub(super) fn stored_cost(chunk: &[u8]) -> u64 {
    measure::measure(&[chunk], Caps::NONE).map_or(chunk.len() as u64, |c| c.bytes)
}
