//! Queries of `vertel-server check` (stored documents against their recorded heads) and of a
//! process catching up with changes other processes stored (`sync::notify`).

use super::{Backend, Db, DbError, RowExt};

/// One live document as stored: its recorded heads and its chunks in load order, read in one
/// snapshot so that a concurrent append cannot make the two disagree.
#[derive(Debug, Clone)]
pub struct StoredDoc {
    /// `documents.heads` as written: comma-separated hex change hashes.
    pub heads: String,
    /// `(chunk id, data)` in id order.
    pub chunks: Vec<(i64, Vec<u8>)>,
}

/// A document whose `seq` moved past a cursor (see [`Db::changed_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub id: String,
    pub seq: i64,
    pub erased: bool,
}

impl Db {
    /// Ids of live (not erased) documents after `after` in id order, at most `limit`: one page of
    /// the check, so it never holds every document at once.
    pub async fn live_doc_ids(&self, after: &str, limit: i64) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT id FROM documents WHERE deleted_at IS NULL AND id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.string("id"))
            .collect::<Result<_, _>>()
            .map_err(DbError::Sqlx)
    }

    /// The recorded heads and chunks of a live document, or `None` if it does not exist or was
    /// erased.
    pub async fn stored_doc(&self, id: &str) -> Result<Option<StoredDoc>, DbError> {
        // Two statements, one snapshot: SQLite's WAL keeps a read transaction's view from its
        // first read on; PostgreSQL's default (read committed) would take a new one per statement.
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        };
        let Some(row) =
            sqlx::query("SELECT heads FROM documents WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(None);
        };
        let heads = row.string("heads")?;
        let chunks = sqlx::query("SELECT id, data FROM doc_chunks WHERE doc_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| Ok((r.i64("id")?, r.bytes("data")?)))
            .collect::<Result<_, sqlx::Error>>()?;
        tx.commit().await?;
        Ok(Some(StoredDoc { heads, chunks }))
    }

    /// Record `heads` as a live document's heads and give it a new sequence number, so every
    /// device's changes feed announces it again (as [`Db::share_doc`] does). Only if its recorded
    /// heads are still `expected`: any append since the check read it wrote new heads, and the
    /// check must not overwrite those with older ones. Returns whether it was updated.
    pub async fn repair_heads(
        &self,
        id: &str,
        expected: &str,
        heads: &str,
    ) -> Result<bool, DbError> {
        let (mut tx, _turn) = self.begin_write().await?;
        // The counter's row lock is held until commit, so sequence order stays commit order.
        let seq = sqlx::query(
            "UPDATE counters SET value = value + 1 WHERE name = 'doc_seq' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await?
        .i64("value")?;
        let updated = sqlx::query(
            "UPDATE documents SET heads = $1, seq = $2 \
             WHERE id = $3 AND heads = $4 AND deleted_at IS NULL",
        )
        .bind(heads)
        .bind(seq)
        .bind(id)
        .bind(expected)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The newest sequence number handed out. Every write that took a number up to it has
    /// committed: the counter row stays locked until its writer commits.
    pub(crate) async fn current_seq(&self) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT value FROM counters WHERE name = 'doc_seq'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.i64("value")?)
    }

    /// Documents (live or erased) whose `seq` is above `after`, lowest first, at most `limit`.
    /// A document changed twice appears once, with its latest number. Since sequence numbers are
    /// handed out in commit order, no write below the highest number returned commits later.
    pub(crate) async fn changed_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Changed>, DbError> {
        let rows = sqlx::query(
            "SELECT id, seq, deleted_at FROM documents WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Changed {
                    id: r.string("id")?,
                    seq: r.i64("seq")?,
                    erased: r.opt_i64("deleted_at")?.is_some(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::Sqlx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;

    /// What a process catching up reads: every document past the cursor once, with its latest
    /// number, lowest first, erased ones marked; the cursor is the newest number handed out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changed_since_follows_the_sequence_numbers() {
        let t = testing::db(Backend::Postgres).await;
        let db = &t.db;
        let meta = t.story_meta();
        let start = db.current_seq().await.expect("cursor");
        for id in ["a", "b", "c"] {
            db.create_doc(id, &meta, b"x", &["h".into()])
                .await
                .expect("create");
        }
        db.append_chunk("a", b"y", &["h2".into()], "story")
            .await
            .expect("append");
        db.erase_doc("b", t.member).await.expect("erase");
        let now = db.current_seq().await.expect("cursor");
        assert_eq!(now, start + 5);
        let all = db.changed_since(start, 10).await.expect("changed");
        let seen: Vec<(&str, bool)> = all.iter().map(|c| (c.id.as_str(), c.erased)).collect();
        assert_eq!(seen, [("c", false), ("a", false), ("b", true)]);
        assert_eq!(all.last().map(|c| c.seq), Some(now));
        // In pages, from where the last page ended.
        let first = db.changed_since(start, 2).await.expect("page");
        let rest = db.changed_since(first[1].seq, 2).await.expect("page");
        assert_eq!(first.into_iter().chain(rest).collect::<Vec<_>>(), all);
        assert!(db.changed_since(now, 10).await.expect("none").is_empty());
    }
}
