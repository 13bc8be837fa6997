//! Documents: metadata and the access rule (in Rust, [`DocMeta::visible_to`], and in SQL), reading
//! change history (chunks), heads, compaction, the changes feed and shares. Storing changes is
//! [`writes`]. What a document contains is not read here (that is automerge's, in `sync`).

mod writes;

pub use writes::ActorClaim;
pub(crate) use writes::PendingWrites;

use super::accounts::{Member, Role};
use super::sql::{Bind, Sql};
use super::{Backend, Db, DbError, RowExt};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// What the server knows about a document besides its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocMeta {
    pub workspace_id: i64,
    pub recorder_id: i64,
    pub doc_type: String,
    pub size: i64,
    pub deleted: bool,
}

impl DocMeta {
    /// The access rule (`ARCHITECTURE.md`): a live document of the member's workspace, and the
    /// member a coordinator, its recorder, or (`shared`) someone it was shared with. Pass
    /// `shared: false` for what only the recorder and coordinators may do (erase, share).
    pub fn visible_to(&self, member: &Member, shared: bool) -> bool {
        self.workspace_id == member.workspace_id
            && !self.deleted
            && (member.role == Role::Coordinator || self.recorder_id == member.id || shared)
    }
}

/// A row of the changes feed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeedEntry {
    pub id: String,
    pub heads: Vec<String>,
    #[serde(rename = "type")]
    pub doc_type: String,
    pub deleted: bool,
    pub seq: i64,
}

/// Who is asking, for visibility filters.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub member_id: i64,
    pub workspace_id: i64,
    /// Coordinators see every document of their workspace.
    pub sees_workspace: bool,
}

/// Whether the access rule in SQL lets erased documents through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Erased {
    /// Left out, as [`DocMeta::visible_to`] does: lists of documents to read.
    Hidden,
    /// Let through: the changes feed announces an erasure to those who could see the document,
    /// so their devices drop it.
    Announced,
}

impl Viewer {
    /// `member` asking: a coordinator sees every document of the workspace.
    pub fn of(member: &Member) -> Viewer {
        Viewer {
            member_id: member.id,
            workspace_id: member.workspace_id,
            sees_workspace: member.role == Role::Coordinator,
        }
    }

    /// The access rule of [`DocMeta::visible_to`] in SQL, the one place it is written as SQL:
    /// appends ` AND` the conditions on `documents` as `d` (the caller's alias) with their binds.
    /// A coordinator's clause is the workspace alone; anyone else's adds "recorded by them or
    /// shared with them". `tests.rs` checks it against `visible_to` on a table of cases.
    pub(crate) fn may_see(&self, sql: &mut Sql, d: &str, erased: Erased) {
        sql.push(
            &format!(" AND {d}.workspace_id = ?"),
            vec![Bind::I(self.workspace_id)],
        );
        if erased == Erased::Hidden {
            sql.push(&format!(" AND {d}.deleted_at IS NULL"), vec![]);
        }
        if !self.sees_workspace {
            sql.push(
                &format!(
                    " AND ({d}.recorder_id = ? OR EXISTS (SELECT 1 FROM doc_shares ds \
                     WHERE ds.doc_id = {d}.id AND ds.member_id = ?))"
                ),
                vec![Bind::I(self.member_id), Bind::I(self.member_id)],
            );
        }
    }
}

fn meta_from(row: &AnyRow) -> Result<DocMeta, sqlx::Error> {
    Ok(DocMeta {
        workspace_id: row.i64("workspace_id")?,
        recorder_id: row.i64("recorder_id")?,
        doc_type: row.string("doc_type")?,
        size: row.i64("size")?,
        deleted: row.opt_i64("deleted_at")?.is_some(),
    })
}

pub fn heads_to_text(heads: &[String]) -> String {
    heads.join(",")
}

fn heads_from_text(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) async fn next_seq(tx: &mut Transaction<'static, Any>) -> Result<i64, DbError> {
    // The row lock on the counter is held until commit, so sequence order is commit order and a
    // feed reader never skips a change that commits late.
    let row =
        sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'doc_seq' RETURNING value")
            .fetch_one(&mut **tx)
            .await?;
    Ok(row.i64("value")?)
}

impl Db {
    /// Metadata and whether `member_id` has the document shared with them.
    pub async fn doc_meta(
        &self,
        id: &str,
        member_id: i64,
    ) -> Result<Option<(DocMeta, bool)>, DbError> {
        let row = sqlx::query(
            "SELECT workspace_id, recorder_id, doc_type, size, deleted_at, \
             (SELECT COUNT(*) FROM doc_shares s WHERE s.doc_id = d.id AND s.member_id = $2) AS shared \
             FROM documents d WHERE id = $1",
        )
        .bind(id)
        .bind(member_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((meta_from(&r)?, r.i64("shared")? > 0)))
            .transpose()
            .map_err(DbError::Sqlx)
    }

    /// All stored chunks of a document after chunk id `after`, in order.
    pub async fn doc_chunks(&self, id: &str, after: i64) -> Result<Vec<(i64, Vec<u8>)>, DbError> {
        let rows = sqlx::query(
            "SELECT id, data FROM doc_chunks WHERE doc_id = $1 AND id > $2 ORDER BY id",
        )
        .bind(id)
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.i64("id")?, r.bytes("data")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::Sqlx)
    }

    /// Record `heads` for a document whose stored chunks up to `upto` they cover, unless a later
    /// chunk was stored meanwhile (its writer records heads that include this document's chunks).
    /// Several processes on one PostgreSQL append concurrently: each records its own heads with
    /// its append, and afterwards the union of what it loaded, so the last one to commit leaves
    /// heads that cover every stored change.
    pub async fn record_heads(&self, id: &str, heads: &[String], upto: i64) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE documents SET heads = $1 WHERE id = $2 AND deleted_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM doc_chunks c WHERE c.doc_id = $2 AND c.id > $3)",
        )
        .bind(heads_to_text(heads))
        .bind(id)
        .bind(upto)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// On PostgreSQL, this process's turn to make a server change to document `id`, held until
    /// the returned transaction is dropped (a transaction-level advisory lock, released by the
    /// rollback on drop, or by PostgreSQL when the process dies). `None` on SQLite, where one
    /// process holds each document's lock in memory.
    pub async fn document_turn(
        &self,
        id: &str,
    ) -> Result<Option<Transaction<'static, Any>>, DbError> {
        if self.backend != super::Backend::Postgres {
            return Ok(None);
        }
        let mut tx = self.pool.begin().await?;
        // A stable 64-bit key from the id (FNV-1a); a collision only makes two documents wait
        // for each other.
        let key = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        }) as i64;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        Ok(Some(tx))
    }

    /// Replace all chunks up to `upto` by one snapshot of the whole document.
    pub async fn compact(&self, id: &str, snapshot: &[u8], upto: i64) -> Result<(), DbError> {
        let (mut tx, _turn) = self.begin_write().await?;
        sqlx::query("DELETE FROM doc_chunks WHERE doc_id = $1 AND id <= $2")
            .bind(id)
            .bind(upto)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO doc_chunks (doc_id, data) VALUES ($1, $2)")
            .bind(id)
            .bind(snapshot)
            .execute(&mut *tx)
            .await?;
        let total = sqlx::query(
            "SELECT COALESCE(SUM(LENGTH(data)), 0) AS total FROM doc_chunks WHERE doc_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let total: i64 = match self.backend {
            // SUM over BIGINT is NUMERIC in PostgreSQL; cast for a uniform type.
            Backend::Postgres => total
                .i64("total")
                .or_else(|_| sqlx::Row::try_get::<f64, _>(&total, "total").map(|f| f as i64))?,
            Backend::Sqlite => total.i64("total")?,
        };
        sqlx::query("UPDATE documents SET size = $1 WHERE id = $2")
            .bind(total)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Documents visible to `viewer` that changed after `since`, oldest first.
    pub async fn changes_since(
        &self,
        viewer: Viewer,
        since: i64,
        limit: i64,
    ) -> Result<Vec<FeedEntry>, DbError> {
        // Erased documents are in the feed: it tells devices to drop them.
        let mut sql = Sql::new(
            "SELECT d.id, d.heads, d.doc_type, d.deleted_at, d.seq FROM documents d WHERE",
        );
        sql.push(" d.seq > ?", vec![Bind::I(since)]);
        viewer.may_see(&mut sql, "d", Erased::Announced);
        sql.push(" ORDER BY d.seq LIMIT ?", vec![Bind::I(limit)]);
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(FeedEntry {
                    id: r.string("id")?,
                    heads: heads_from_text(&r.string("heads")?),
                    doc_type: r.string("doc_type")?,
                    deleted: r.opt_i64("deleted_at")?.is_some(),
                    seq: r.i64("seq")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::Sqlx)
    }

    pub async fn share_doc(&self, id: &str, member_id: i64) -> Result<(), DbError> {
        let (mut tx, _turn) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO doc_shares (doc_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(member_id)
        .execute(&mut *tx)
        .await?;
        // Bump the document so the new viewer's feed picks it up.
        let seq = next_seq(&mut tx).await?;
        sqlx::query("UPDATE documents SET seq = $1 WHERE id = $2")
            .bind(seq)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
