//! Who writes with which automerge actor: the server's own record (`actors` table).
//!
//! A device's actor is recorded for the member who first stored a change made with it; each of the
//! server's writers records its own actors (one per writer and process start, `sync::hub`). The
//! workspace shows who did what from this record, never from a name written inside a document.

use super::{Db, DbError, RowExt, now_ms};

/// Who writes with an actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorOwner {
    /// The member, for devices and for a coordinator's decisions in the workspace.
    pub member_id: Option<i64>,
    /// `device`, `coordinator`, `transcriber`, `tagger` or `review`.
    pub writer: String,
    /// The member is a coordinator.
    pub coordinator: bool,
}

impl Db {
    /// The recorded owner of `actor` (hex), if any.
    pub async fn actor_owner(&self, actor: &str) -> Result<Option<ActorOwner>, DbError> {
        let mut owners = self.actor_owners(&[actor.to_string()]).await?;
        Ok(owners.remove(actor).map(|(owner, _)| owner))
    }

    /// Record `actor` (hex) as written by `member_id`/`writer` unless it is recorded already;
    /// returns the owner on record afterwards (the first claim wins).
    pub async fn claim_actor(
        &self,
        actor: &str,
        member_id: Option<i64>,
        writer: &str,
    ) -> Result<ActorOwner, DbError> {
        if let Some(owner) = self.actor_owner(actor).await? {
            return Ok(owner);
        }
        let (mut tx, turn) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO actors (actor, member_id, writer, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (actor) DO NOTHING",
        )
        .bind(actor)
        .bind(member_id)
        .bind(writer)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        drop(turn);
        self.actor_owner(actor)
            .await?
            .ok_or_else(|| DbError::Conflict(format!("actor {actor} was not recorded")))
    }

    /// Owners of several actors at once (hex → owner), for showing who did what.
    pub async fn actor_owners(
        &self,
        actors: &[String],
    ) -> Result<std::collections::HashMap<String, (ActorOwner, Option<String>)>, DbError> {
        let mut out = std::collections::HashMap::new();
        for chunk in actors.chunks(200) {
            let placeholders = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            // Built from fixed fragments only; every value is bound.
            let sql = format!(
                "SELECT a.actor, a.member_id, a.writer, m.role, m.name FROM actors a \
                 LEFT JOIN members m ON m.id = a.member_id WHERE a.actor IN ({placeholders})"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for a in chunk {
                q = q.bind(a.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                let owner = ActorOwner {
                    member_id: r.opt_i64("member_id")?,
                    writer: r.string("writer")?,
                    coordinator: r.opt_string("role")?.as_deref() == Some("coordinator"),
                };
                out.insert(r.string("actor")?, (owner, r.opt_string("name")?));
            }
        }
        Ok(out)
    }
}
