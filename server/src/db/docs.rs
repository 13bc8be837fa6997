//! Documents: metadata, change history (chunks), the changes feed and erasure.

use super::{Backend, Db, DbError, RowExt, now_ms};
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

async fn next_seq(tx: &mut Transaction<'static, Any>) -> Result<i64, DbError> {
    // The row lock on the counter is held until commit, so sequence order is commit order and a
    // feed reader never skips a change that commits late.
    let row =
        sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'doc_seq' RETURNING value")
            .fetch_one(&mut **tx)
            .await?;
    Ok(row.i64("value")?)
}

/// A change to store with [`Db::store`].
pub(crate) enum Write {
    Create {
        id: String,
        meta: DocMeta,
        chunk: Vec<u8>,
        heads: String,
    },
    Append {
        id: String,
        chunk: Vec<u8>,
        heads: String,
        doc_type: String,
    },
}

/// Writes waiting to be committed in a group, each with where its outcome goes.
pub(crate) type PendingWrites = std::sync::Mutex<Vec<(Write, GroupOutcome)>>;
type GroupOutcome = tokio::sync::oneshot::Sender<Result<Option<i64>, String>>;

fn lock(pending: &PendingWrites) -> std::sync::MutexGuard<'_, Vec<(Write, GroupOutcome)>> {
    pending.lock().unwrap_or_else(|p| p.into_inner())
}

fn grouped_outcome(
    outcome: Result<Result<Option<i64>, String>, tokio::sync::oneshot::error::RecvError>,
) -> Result<Option<i64>, DbError> {
    match outcome {
        Ok(Ok(chunk)) => Ok(chunk),
        Ok(Err(message)) => Err(DbError::Sqlx(sqlx::Error::Protocol(format!(
            "group commit failed: {message}"
        )))),
        Err(_) => Err(DbError::Sqlx(sqlx::Error::Protocol(
            "group commit abandoned".into(),
        ))),
    }
}

/// Apply one write inside a transaction. `None`: it does not apply (the document exists already,
/// or was erased meanwhile) and changed nothing.
async fn apply(
    tx: &mut Transaction<'static, Any>,
    write: &Write,
    seq: i64,
) -> Result<Option<i64>, DbError> {
    let (id, chunk) = match write {
        Write::Create {
            id,
            meta,
            chunk,
            heads,
        } => {
            let exists = sqlx::query("SELECT id FROM documents WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut **tx)
                .await?;
            if exists.is_some() {
                return Ok(None);
            }
            sqlx::query(
                "INSERT INTO documents (id, workspace_id, recorder_id, doc_type, created_at, updated_at, seq, heads, size) \
                 VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)",
            )
            .bind(id.as_str())
            .bind(meta.workspace_id)
            .bind(meta.recorder_id)
            .bind(meta.doc_type.as_str())
            .bind(now_ms())
            .bind(seq)
            .bind(heads.as_str())
            .bind(chunk.len() as i64)
            .execute(&mut **tx)
            .await?;
            (id, chunk)
        }
        Write::Append {
            id,
            chunk,
            heads,
            doc_type,
        } => {
            let updated = sqlx::query(
                "UPDATE documents SET seq = $1, heads = $2, size = size + $3, updated_at = $4, doc_type = $5 \
                 WHERE id = $6 AND deleted_at IS NULL",
            )
            .bind(seq)
            .bind(heads.as_str())
            .bind(chunk.len() as i64)
            .bind(now_ms())
            .bind(doc_type.as_str())
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Ok(None);
            }
            (id, chunk)
        }
    };
    let row = sqlx::query("INSERT INTO doc_chunks (doc_id, data) VALUES ($1, $2) RETURNING id")
        .bind(id.as_str())
        .bind(chunk.as_slice())
        .fetch_one(&mut **tx)
        .await?;
    Ok(Some(row.i64("id")?))
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

    /// Store a new document with its first chunk. Fails with `Conflict` if the id exists.
    pub async fn create_doc(
        &self,
        id: &str,
        meta: &DocMeta,
        chunk: &[u8],
        heads: &[String],
    ) -> Result<i64, DbError> {
        let write = Write::Create {
            id: id.to_string(),
            meta: meta.clone(),
            chunk: chunk.to_vec(),
            heads: heads_to_text(heads),
        };
        self.store(write)
            .await?
            .ok_or_else(|| DbError::Conflict(format!("document {id} exists")))
    }

    /// Append changes to a live document. Returns the new chunk id, or `None` if the document was
    /// erased meanwhile (the changes are then dropped).
    pub async fn append_chunk(
        &self,
        id: &str,
        chunk: &[u8],
        heads: &[String],
        doc_type: &str,
    ) -> Result<Option<i64>, DbError> {
        let write = Write::Append {
            id: id.to_string(),
            chunk: chunk.to_vec(),
            heads: heads_to_text(heads),
            doc_type: doc_type.to_string(),
        };
        self.store(write).await
    }

    /// Commit one write, returning only once it is durable (or failed).
    ///
    /// On SQLite, writes from concurrent syncs are committed in groups: a write joins the queue and
    /// waits for the writer turn; whoever gets the turn commits everything queued in one
    /// transaction and hands each waiter its outcome, so a waiter whose write went with an earlier
    /// group returns without a transaction of its own. Every write still gets its own sequence
    /// number and is acknowledged only after the transaction holding it committed; if that
    /// transaction fails, every write in it fails. This saves a transaction (and most round trips
    /// to SQLite's worker thread, the server's main cost per change) for all but one write of a
    /// group. On PostgreSQL each write is its own transaction.
    async fn store(&self, write: Write) -> Result<Option<i64>, DbError> {
        if self.backend != Backend::Sqlite {
            let (mut tx, _turn) = self.begin_write().await?;
            let seq = next_seq(&mut tx).await?;
            let outcome = apply(&mut tx, &write, seq).await?;
            if outcome.is_some() {
                tx.commit().await?;
            }
            return Ok(outcome);
        }
        let (done_tx, mut done) = tokio::sync::oneshot::channel();
        lock(&self.pending).push((write, done_tx));
        let turn = tokio::select! {
            biased;
            outcome = &mut done => return grouped_outcome(outcome),
            turn = self.writer.clone().lock_owned() => turn,
        };
        if let Ok(outcome) = done.try_recv() {
            return grouped_outcome(Ok(outcome));
        }
        // Ours is still queued (a group's leader answers everyone in it before giving the turn up).
        let group = std::mem::take(&mut *lock(&self.pending));
        let (writes, waiters): (Vec<Write>, Vec<_>) = group.into_iter().unzip();
        match self.commit_group(&writes).await {
            Ok(outcomes) => {
                for (waiter, outcome) in waiters.into_iter().zip(outcomes) {
                    let _ = waiter.send(Ok(outcome));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for waiter in waiters {
                    let _ = waiter.send(Err(message.clone()));
                }
            }
        }
        drop(turn);
        grouped_outcome(done.await)
    }

    /// One transaction for a group of writes (the caller holds the writer turn).
    async fn commit_group(&self, writes: &[Write]) -> Result<Vec<Option<i64>>, DbError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // One sequence number per write, in queue order; the counter row is locked until commit.
        let row = sqlx::query(
            "UPDATE counters SET value = value + $1 WHERE name = 'doc_seq' RETURNING value",
        )
        .bind(writes.len() as i64)
        .fetch_one(&mut *tx)
        .await?;
        let first = row.i64("value")? - writes.len() as i64 + 1;
        let mut outcomes = Vec::with_capacity(writes.len());
        for (i, write) in writes.iter().enumerate() {
            outcomes.push(apply(&mut tx, write, first + i as i64).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Replace all chunks up to `upto` by one snapshot of the whole document.
    pub async fn compact(&self, id: &str, snapshot: &[u8], upto: i64) -> Result<i64, DbError> {
        let (mut tx, _turn) = self.begin_write().await?;
        sqlx::query("DELETE FROM doc_chunks WHERE doc_id = $1 AND id <= $2")
            .bind(id)
            .bind(upto)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("INSERT INTO doc_chunks (doc_id, data) VALUES ($1, $2) RETURNING id")
            .bind(id)
            .bind(snapshot)
            .fetch_one(&mut *tx)
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
        Ok(row.i64("id")?)
    }

    /// Documents visible to `viewer` that changed after `since`, oldest first.
    pub async fn changes_since(
        &self,
        viewer: Viewer,
        since: i64,
        limit: i64,
    ) -> Result<Vec<FeedEntry>, DbError> {
        let rows = if viewer.sees_workspace {
            sqlx::query(
                "SELECT id, heads, doc_type, deleted_at, seq FROM documents \
                 WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(viewer.workspace_id)
            .bind(since)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
        } else {
            sqlx::query(
                "SELECT id, heads, doc_type, deleted_at, seq FROM documents d \
                 WHERE workspace_id = $1 AND seq > $2 AND (recorder_id = $3 OR EXISTS \
                 (SELECT 1 FROM doc_shares s WHERE s.doc_id = d.id AND s.member_id = $3)) \
                 ORDER BY seq LIMIT $4",
            )
            .bind(viewer.workspace_id)
            .bind(since)
            .bind(viewer.member_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
        };
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

    /// Erase a document: its history goes, a tombstone stays. Then scrub freed bytes from disk.
    pub async fn erase_doc(&self, id: &str, by: i64) -> Result<(), DbError> {
        let (mut tx, turn) = self.begin_write().await?;
        sqlx::query("DELETE FROM doc_chunks WHERE doc_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let seq = next_seq(&mut tx).await?;
        sqlx::query(
            "UPDATE documents SET deleted_at = $1, deleted_by = $2, heads = '', size = 0, seq = $3 WHERE id = $4",
        )
        .bind(now_ms())
        .bind(by)
        .bind(seq)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        drop(turn);
        self.scrub().await
    }
}
