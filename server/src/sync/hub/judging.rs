//! Judging a device's push before it is stored: whether every change is by an actor the sender may
//! write with and touches only fields the sender owns, and what a review decision in it means for
//! the document's bookkeeping. Judging reads, it does not store or send.

use super::{
    FOREIGN_ACTOR_MESSAGE, Hub, Judged, SERVER_ACTOR_PREFIX, Slot, SyncFailure, Unstored, Writer,
};
use crate::db::accounts::{Member, Role};
use crate::db::actors::ActorOwner;
use crate::db::docs::ActorClaim;
use automerge::{ActorId, Automerge, ChangeHash};
use client_core::story::ownership::{self, Owned};
use client_core::story::{self, ReviewState};
use client_core::wire::{DocumentId, Refusal};
use std::collections::{BTreeSet, HashSet};

impl Hub {
    /// May `member` push the changes between `before` and the document's heads? Every new change
    /// must be by an actor of theirs (recorded as theirs now if new), and the owned fields may
    /// change only as their role allows (`client_core::story::ownership`).
    pub(super) async fn judge(
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
    pub(super) async fn follow_review(
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
}
