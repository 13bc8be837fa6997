//! Storing a document's changes: creating a document and appending chunks, grouped so that many
//! writers' appends share one transaction (group commit), each write with its own outcome. A write
//! to a document erased meanwhile stores nothing. Reading documents is [`super`]'s.

use super::{DocMeta, heads_to_text};
use crate::db::{Backend, Db, DbError, RowExt, now_ms};
use sqlx::{Any, Transaction};

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
    pub(super) async fn store(&self, write: Write) -> Result<Option<i64>, DbError> {
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
    pub(super) async fn commit_group(&self, writes: &[Write]) -> Result<Vec<Option<i64>>, DbError> {
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
}
