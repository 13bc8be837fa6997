//! Documents: metadata, change history (chunks), the changes feed and erasure.

use super::accounts::{Member, Role};
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

/// A change to store with [`Db::store`].
pub(crate) enum Write {
    Create {
        id: String,
        meta: DocMeta,
        chunk: Vec<u8>,
        heads: String,
        actors: Vec<ActorClaim>,
    },
    Append {
        id: String,
        chunk: Vec<u8>,
        heads: String,
        doc_type: String,
        actors: Vec<ActorClaim>,
    },
}

/// An actor seen for the first time in a write, recorded for its writer in the same transaction
/// as the changes made with it (`db::actors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorClaim {
    /// Hex.
    pub actor: String,
    pub member_id: Option<i64>,
    pub writer: String,
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
            ..
        } => {
            // An id that exists already (another process created it first) changes nothing,
            // and fails nothing else in the group.
            let inserted = sqlx::query(
                "INSERT INTO documents (id, workspace_id, recorder_id, doc_type, created_at, updated_at, seq, heads, size) \
                 VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
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
            if inserted.rows_affected() == 0 {
                return Ok(None);
            }
            (id, chunk)
        }
        Write::Append {
            id,
            chunk,
            heads,
            doc_type,
            ..
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

/// Most appends in one batch of [`append_batch`] (six bound values each; SQLite allows 32,766).
const APPEND_BATCH: usize = 256;

/// Apply the appends `writes[batch]` (distinct documents, all [`Write::Append`]) with one
/// `UPDATE … FROM (VALUES …)` and one multi-row `INSERT`; write `i` gets sequence number
/// `first + i`. Outcomes as [`apply`]'s, into `outcomes[i]`. SQLite (3.33 on) and PostgreSQL both
/// have `UPDATE … FROM` and name a `VALUES` table's columns `column1`, `column2`, …; the casts give
/// PostgreSQL the types of the bound values.
async fn append_batch(
    tx: &mut Transaction<'static, Any>,
    writes: &[Write],
    batch: &[usize],
    first: i64,
    outcomes: &mut [Option<i64>],
) -> Result<(), DbError> {
    let now = now_ms();
    let rows = (0..batch.len())
        .map(|k| {
            let n = 6 * k;
            format!(
                "(CAST(${} AS TEXT), CAST(${} AS BIGINT), CAST(${} AS TEXT), CAST(${} AS BIGINT), \
                 CAST(${} AS BIGINT), CAST(${} AS TEXT))",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE documents SET seq = v.column2, heads = v.column3, size = documents.size + v.column4, \
         updated_at = v.column5, doc_type = v.column6 FROM (VALUES {rows}) AS v \
         WHERE documents.id = v.column1 AND documents.deleted_at IS NULL RETURNING id"
    );
    // Built from fixed fragments only; every value is bound.
    let mut update = sqlx::query(sqlx::AssertSqlSafe(sql));
    for &i in batch {
        let Write::Append {
            id,
            chunk,
            heads,
            doc_type,
            ..
        } = &writes[i]
        else {
            return Err(DbError::Sqlx(sqlx::Error::Protocol(
                "append batch holds a create".into(),
            )));
        };
        update = update
            .bind(id.as_str())
            .bind(first + i as i64)
            .bind(heads.as_str())
            .bind(chunk.len() as i64)
            .bind(now)
            .bind(doc_type.as_str());
    }
    let live: std::collections::HashSet<String> = update
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.string("id"))
        .collect::<Result<_, _>>()?;
    // Documents erased meanwhile get no chunk: their outcome stays `None`.
    let kept: Vec<usize> = batch
        .iter()
        .copied()
        .filter(|&i| live.contains(writes[i].id()))
        .collect();
    if kept.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO doc_chunks (doc_id, data) VALUES {} RETURNING id, doc_id",
        (0..kept.len())
            .map(|k| format!("(${}, ${})", 2 * k + 1, 2 * k + 2))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
    for &i in &kept {
        insert = insert.bind(writes[i].id()).bind(writes[i].chunk());
    }
    let mut ids = std::collections::HashMap::new();
    for row in insert.fetch_all(&mut **tx).await? {
        ids.insert(row.string("doc_id")?, row.i64("id")?);
    }
    for &i in &kept {
        let chunk_id = ids.get(writes[i].id()).copied().ok_or_else(|| {
            DbError::Sqlx(sqlx::Error::Protocol(format!(
                "no chunk id returned for {}",
                writes[i].id()
            )))
        })?;
        outcomes[i] = Some(chunk_id);
    }
    Ok(())
}

impl Write {
    fn id(&self) -> &str {
        match self {
            Write::Create { id, .. } | Write::Append { id, .. } => id,
        }
    }

    fn chunk(&self) -> &[u8] {
        match self {
            Write::Create { chunk, .. } | Write::Append { chunk, .. } => chunk,
        }
    }

    fn actors(&self) -> &[ActorClaim] {
        match self {
            Write::Create { actors, .. } | Write::Append { actors, .. } => actors,
        }
    }
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
        self.create_doc_by(id, meta, chunk, heads, Vec::new()).await
    }

    /// [`Db::create_doc`], recording the actors first seen in it in the same transaction.
    pub async fn create_doc_by(
        &self,
        id: &str,
        meta: &DocMeta,
        chunk: &[u8],
        heads: &[String],
        actors: Vec<ActorClaim>,
    ) -> Result<i64, DbError> {
        let write = Write::Create {
            id: id.to_string(),
            meta: meta.clone(),
            chunk: chunk.to_vec(),
            heads: heads_to_text(heads),
            actors,
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
        self.append_chunk_by(id, chunk, heads, doc_type, Vec::new())
            .await
    }

    /// [`Db::append_chunk`], recording the actors first seen in it in the same transaction.
    pub async fn append_chunk_by(
        &self,
        id: &str,
        chunk: &[u8],
        heads: &[String],
        doc_type: &str,
        actors: Vec<ActorClaim>,
    ) -> Result<Option<i64>, DbError> {
        let write = Write::Append {
            id: id.to_string(),
            chunk: chunk.to_vec(),
            heads: heads_to_text(heads),
            doc_type: doc_type.to_string(),
            actors,
        };
        self.store(write).await
    }

    /// Commit one write, returning only once it is durable (or failed).
    ///
    /// Writes from concurrent syncs are committed in groups: a write joins the queue and waits for
    /// this process's writer turn; whoever gets the turn commits everything queued in one
    /// transaction and hands each waiter its outcome, so a waiter whose write went with an earlier
    /// group returns without a transaction of its own. Every write still gets its own sequence
    /// number and is acknowledged only after the transaction holding it committed; if that
    /// transaction fails, every write in it fails. This saves a transaction for all but one write
    /// of a group: on SQLite most of the round trips to its worker thread (the server's main cost
    /// per change), on PostgreSQL a commit each, which waits for the WAL to reach the disk while
    /// holding the sequence counter's row lock, so commits never overlap.
    async fn store(&self, write: Write) -> Result<Option<i64>, DbError> {
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
        let committed = self.commit_group(&writes).await;
        self.note_write(&committed);
        match committed {
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
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        // One sequence number per write, in queue order; the counter row is locked until commit.
        let row = sqlx::query(
            "UPDATE counters SET value = value + $1 WHERE name = 'doc_seq' RETURNING value",
        )
        .bind(writes.len() as i64)
        .fetch_one(&mut *tx)
        .await?;
        let first = row.i64("value")? - writes.len() as i64 + 1;
        let mut outcomes = vec![None; writes.len()];
        // Appends go in batches of two statements each, whatever their number: every statement is
        // a round trip (to SQLite's worker thread, or to PostgreSQL), and at thousands of changes
        // a second those round trips were most of the server's work per change. A batch holds
        // each document at most once (its seq and heads must end up those of its last write), and
        // is flushed before a create, which goes alone, so every document sees its writes in
        // queue order.
        let mut batch: Vec<usize> = Vec::new();
        for (i, write) in writes.iter().enumerate() {
            let flush = match write {
                Write::Create { .. } => true,
                Write::Append { id, .. } => {
                    batch.len() >= APPEND_BATCH
                        || batch.iter().any(|&j| writes[j].id() == id.as_str())
                }
            };
            if flush && !batch.is_empty() {
                append_batch(&mut tx, writes, &batch, first, &mut outcomes).await?;
                batch.clear();
            }
            match write {
                Write::Create { .. } => {
                    outcomes[i] = apply(&mut tx, write, first + i as i64).await?
                }
                Write::Append { .. } => batch.push(i),
            }
        }
        if !batch.is_empty() {
            append_batch(&mut tx, writes, &batch, first, &mut outcomes).await?;
        }
        // Actors first seen in the group's writes (in one statement; a claim already recorded,
        // or one whose write did not apply, changes nothing that matters: first claim wins).
        let claims: Vec<&ActorClaim> = writes.iter().flat_map(|w| w.actors()).collect();
        for part in claims.chunks(500) {
            let sql = format!(
                "INSERT INTO actors (actor, member_id, writer, created_at) VALUES {} \
                 ON CONFLICT (actor) DO NOTHING",
                (0..part.len())
                    .map(|k| format!(
                        "(${}, CAST(${} AS BIGINT), ${}, ${})",
                        4 * k + 1,
                        4 * k + 2,
                        4 * k + 3,
                        4 * k + 4
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            // Built from fixed fragments only; every value is bound.
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
            let now = now_ms();
            for c in part {
                insert = insert
                    .bind(c.actor.as_str())
                    .bind(c.member_id)
                    .bind(c.writer.as_str())
                    .bind(now);
            }
            insert.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::db::testing::db;

    fn meta(workspace_id: i64, recorder_id: i64) -> DocMeta {
        DocMeta {
            workspace_id,
            recorder_id,
            doc_type: "story".into(),
            size: 0,
            deleted: false,
        }
    }

    /// Many concurrent appends are committed in groups and batches: each gets its own chunk and
    /// sequence number, each document ends with the heads of its last write, and a document
    /// erased meanwhile takes no chunk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_appends_keep_every_write_in_order_sqlite() {
        grouped_appends_keep_every_write_in_order(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_appends_keep_every_write_in_order_postgres() {
        grouped_appends_keep_every_write_in_order(Backend::Postgres).await;
    }

    async fn grouped_appends_keep_every_write_in_order(backend: Backend) {
        let t = db(backend).await;
        let (db, ws, member) = (t.db.clone(), t.workspace, t.member);
        let viewer = Viewer {
            member_id: member,
            workspace_id: ws,
            sees_workspace: true,
        };
        let ids: Vec<String> = (0..40).map(|i| format!("doc{i}")).collect();
        for id in &ids {
            db.create_doc(id, &meta(ws, member), b"first", &["h0".into()])
                .await
                .expect("create");
        }
        db.erase_doc("doc0", member).await.expect("erase");
        // Five rounds of concurrent appends: every document once per round, plus the same
        // document twice at once (those two may share a group, never a batch).
        let mut outcomes = Vec::new();
        for round in 1..=5 {
            let mut tasks = tokio::task::JoinSet::new();
            for (i, id) in ids.iter().enumerate() {
                let (db, id) = (db.clone(), id.clone());
                tasks.spawn(async move {
                    let heads = [format!("h{round}")];
                    let chunk = format!("{id}-{round}").into_bytes();
                    (i, db.append_chunk(&id, &chunk, &heads, "story").await)
                });
            }
            let (a, b) = (db.clone(), db.clone());
            let heads = [format!("h{round}")];
            let (x, y) = tokio::join!(
                a.append_chunk("doc7", b"extra-a", &heads, "story"),
                b.append_chunk("doc7", b"extra-b", &heads, "story"),
            );
            assert!(x.expect("append").is_some() && y.expect("append").is_some());
            while let Some(done) = tasks.join_next().await {
                let (i, outcome) = done.expect("task");
                outcomes.push((i, outcome.expect("append")));
            }
        }
        for (i, outcome) in &outcomes {
            assert_eq!(outcome.is_none(), *i == 0, "document {i}: {outcome:?}");
        }
        let chunk_ids: std::collections::HashSet<i64> =
            outcomes.iter().filter_map(|(_, o)| *o).collect();
        assert_eq!(chunk_ids.len(), 39 * 5, "every append its own chunk");
        // Creating an id that exists changes nothing and fails nothing.
        assert!(matches!(
            db.create_doc("doc3", &meta(ws, member), b"again", &["x".into()])
                .await,
            Err(DbError::Conflict(_))
        ));
        for id in &ids[1..] {
            let chunks = db.doc_chunks(id, 0).await.expect("chunks");
            let extra = if id == "doc7" { 10 } else { 0 };
            assert_eq!(chunks.len(), 6 + extra, "{id}");
            assert_eq!(chunks[0].1, b"first");
            let ours: Vec<Vec<u8>> = chunks
                .iter()
                .map(|c| c.1.clone())
                .filter(|c| !c.starts_with(b"extra"))
                .collect();
            let expected: Vec<Vec<u8>> = std::iter::once(b"first".to_vec())
                .chain((1..=5).map(|r| format!("{id}-{r}").into_bytes()))
                .collect();
            assert_eq!(ours, expected, "{id}: rounds stored in order");
        }
        assert!(db.doc_chunks("doc0", 0).await.expect("chunks").is_empty());
        let feed = db.changes_since(viewer, 0, 1000).await.expect("feed");
        assert_eq!(feed.len(), 40);
        let mut seqs: Vec<i64> = feed.iter().map(|e| e.seq).collect();
        seqs.dedup();
        assert_eq!(seqs.len(), 40, "distinct sequence numbers");
        for e in &feed {
            assert_eq!(e.deleted, e.id == "doc0", "{e:?}");
            if !e.deleted {
                assert_eq!(e.heads, vec!["h5".to_string()], "{e:?}");
            }
        }
        // Sizes add up: the stored size is the sum of the chunk lengths.
        let (m, _) = db
            .doc_meta("doc3", member)
            .await
            .expect("meta")
            .expect("doc3");
        let total: usize = db
            .doc_chunks("doc3", 0)
            .await
            .expect("chunks")
            .iter()
            .map(|c| c.1.len())
            .sum();
        assert_eq!(m.size as usize, total);
    }
}
