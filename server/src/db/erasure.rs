//! Erasure that verifies itself: a story counts as erased when its bytes are gone from the
//! database's files, not when the `DELETE` returned.
//!
//! On SQLite, deleted rows are overwritten (`secure_delete`), but the old page images stay in the
//! write-ahead log until a checkpoint copies the zeroed pages into the main file and truncates the
//! log. A reader that holds an old snapshot makes that checkpoint give up (it used to time out
//! silently, and the erasure was reported done with the text still in `vertel.db-wal`). So:
//!
//! - before deleting, [`Traces`] are taken of the stored chunks: 64-bit rolling hashes of windows
//!   of their bytes (never the bytes), kept in the `erasures` row while the erasure is pending;
//! - [`Db::verify_erasure`] checkpoints and, when the checkpoint completed, scans the database
//!   file and its log for any window with one of those hashes; only when none is found is the
//!   erasure marked verified (and the traces dropped);
//! - until then the erasure is "in progress": the API answers 202, a background task retries
//!   ([`finish_in_background`]), and a restarted server resumes every pending erasure
//!   ([`Db::pending_erasures`]).
//!
//! On PostgreSQL the server cannot read the cluster's files. The chunks' table is rewritten
//! (`VACUUM FULL`) and checkpointed; the write-ahead log is switched and checkpointed again where
//! the role may do so, which with `wal_recycle = off` removes the old log segments. Verified
//! means: no row holds the document and those steps succeeded. The test suite scans the cluster's
//! data directory and log for the text (`tests/integration/erasure.rs`).

use super::{Backend, Db, DbError, RowExt, now_ms};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bytes per window, and the distance between sampled windows.
const WINDOW: usize = 32;
const STEP: usize = 61;
/// Most traces kept per erasure (a long story is still found by thousands of them).
const MAX_TRACES: usize = 20_000;
/// A window with fewer distinct bytes is too plain to say anything (zeroed pages are all zeros).
const MIN_DISTINCT: usize = 12;
const BASE: u64 = 0x0000_0100_0000_01b3;

/// Rolling hashes of windows of erased bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traces(HashSet<u64>);

fn window_hash(window: &[u8]) -> u64 {
    window.iter().fold(0u64, |h, &b| {
        h.wrapping_mul(BASE).wrapping_add(u64::from(b))
    })
}

impl Traces {
    /// Sample windows of every chunk (skipping each chunk's header, which is mostly format).
    pub fn of<B: AsRef<[u8]>>(chunks: &[B]) -> Traces {
        let mut traces = HashSet::new();
        for chunk in chunks {
            let bytes = chunk.as_ref();
            let mut at = 16;
            while at + WINDOW <= bytes.len() && traces.len() < MAX_TRACES {
                let window = &bytes[at..at + WINDOW];
                let distinct: HashSet<u8> = window.iter().copied().collect();
                if distinct.len() >= MIN_DISTINCT {
                    traces.insert(window_hash(window));
                }
                at += STEP;
            }
        }
        Traces(traces)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn encode(&self) -> Vec<u8> {
        self.0.iter().flat_map(|h| h.to_le_bytes()).collect()
    }

    pub fn decode(bytes: &[u8]) -> Traces {
        Traces(
            bytes
                .chunks_exact(8)
                .filter_map(|c| c.try_into().ok().map(u64::from_le_bytes))
                .collect(),
        )
    }

    /// Every window of `bytes` (fed in pieces through one `Roller`) whose hash is a trace.
    fn roller(&self) -> Roller<'_> {
        Roller::new(self)
    }

    /// The windows of the file that have one of the traces (at most `MAX_HITS` distinct ones).
    /// A missing file holds nothing.
    pub fn hits_in(&self, path: &Path) -> std::io::Result<HashMap<u64, [u8; WINDOW]>> {
        let mut hits = HashMap::new();
        if self.0.is_empty() {
            return Ok(hits);
        }
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(hits),
            Err(e) => return Err(e),
        };
        let mut roller = self.roller();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 || hits.len() >= MAX_HITS {
                return Ok(hits);
            }
            roller.feed(&buf[..n], |hash, window| {
                hits.insert(hash, window);
            });
        }
    }

    pub fn remove(&mut self, hash: u64) {
        self.0.remove(&hash);
    }
}

const MAX_HITS: usize = 1_000;

/// A rolling hash over a stream of bytes, reporting the windows whose hash is a trace.
struct Roller<'t> {
    traces: &'t Traces,
    /// A bit per hash prefix in front of the set: almost every window is answered by it.
    filter: Vec<u64>,
    top: u64,
    ring: [u8; WINDOW],
    seen: usize,
    hash: u64,
}

impl<'t> Roller<'t> {
    fn new(traces: &'t Traces) -> Self {
        let mut filter = vec![0u64; 1 << 14];
        for h in &traces.0 {
            let bit = Self::bit(*h);
            filter[bit / 64] |= 1 << (bit % 64);
        }
        Roller {
            traces,
            filter,
            top: (1..WINDOW).fold(1u64, |p, _| p.wrapping_mul(BASE)),
            ring: [0; WINDOW],
            seen: 0,
            hash: 0,
        }
    }

    fn bit(hash: u64) -> usize {
        ((hash >> 44) as usize) & ((1 << 20) - 1)
    }

    fn feed(&mut self, bytes: &[u8], mut hit: impl FnMut(u64, [u8; WINDOW])) {
        for &b in bytes {
            let at = self.seen % WINDOW;
            let out = self.ring[at];
            self.ring[at] = b;
            self.seen += 1;
            self.hash = if self.seen > WINDOW {
                self.hash
                    .wrapping_sub(u64::from(out).wrapping_mul(self.top))
                    .wrapping_mul(BASE)
                    .wrapping_add(u64::from(b))
            } else {
                self.hash.wrapping_mul(BASE).wrapping_add(u64::from(b))
            };
            let bit = Self::bit(self.hash);
            if self.seen >= WINDOW
                && self.filter[bit / 64] & (1 << (bit % 64)) != 0
                && self.traces.0.contains(&self.hash)
            {
                let mut window = [0u8; WINDOW];
                for (i, w) in window.iter_mut().enumerate() {
                    *w = self.ring[(self.seen + i) % WINDOW];
                }
                hit(self.hash, window);
            }
        }
    }

    /// Start over (a new, separate piece of bytes).
    fn reset(&mut self) {
        self.seen = 0;
        self.hash = 0;
    }
}

/// Where an erasure stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ErasureStatus {
    pub requested_at: i64,
    pub verified_at: Option<i64>,
}

impl Db {
    /// Erase a document: its history goes, a tombstone stays, and the erasure is recorded as
    /// pending. Then one attempt to verify it; `Ok(true)` when the bytes are gone already.
    pub async fn erase_doc(&self, id: &str, by: i64) -> Result<bool, DbError> {
        let (mut tx, turn) = self.begin_write().await?;
        let traces = if self.backend == Backend::Sqlite {
            let rows = sqlx::query("SELECT data FROM doc_chunks WHERE doc_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            let mut chunks = rows
                .iter()
                .map(|r| r.bytes("data"))
                .collect::<Result<Vec<_>, _>>()?;
            // The desk's index holds the text itself (and the search index its words).
            let text: Option<String> =
                sqlx::query_scalar("SELECT search_text FROM story_index WHERE doc_id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            chunks.extend(text.map(|t| {
                let mut b = vec![0u8; 16];
                b.extend(t.into_bytes());
                b
            }));
            Traces::of(&chunks)
        } else {
            Traces::default()
        };
        let delete_xid: Option<i64> = if self.backend == Backend::Postgres {
            Some(
                sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
                    .fetch_one(&mut *tx)
                    .await?,
            )
        } else {
            None
        };
        sqlx::query("DELETE FROM doc_chunks WHERE doc_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        super::story_index::delete_index_in(&mut tx, self.backend, id).await?;
        let seq = super::docs::next_seq(&mut tx).await?;
        sqlx::query(
            "UPDATE documents SET deleted_at = $1, deleted_by = $2, heads = '', size = 0, seq = $3 WHERE id = $4",
        )
        .bind(now_ms())
        .bind(by)
        .bind(seq)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO erasures (doc_id, requested_at, verified_at, traces, delete_xid) \
             VALUES ($1, $2, NULL, $3, $4) ON CONFLICT (doc_id) DO UPDATE \
             SET requested_at = $2, verified_at = NULL, traces = $3, delete_xid = $4",
        )
        .bind(id)
        .bind(now_ms())
        .bind(traces.encode())
        .bind(delete_xid)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        drop(turn);
        self.verify_erasure(id).await
    }

    /// Make the erased bytes leave the files and check that they did. `Ok(true)` once verified
    /// (recorded, with a `story.erasure-verified` audit entry); `Ok(false)` while something
    /// still holds them (try again later).
    pub async fn verify_erasure(&self, id: &str) -> Result<bool, DbError> {
        let Some(row) =
            sqlx::query("SELECT verified_at, traces, delete_xid FROM erasures WHERE doc_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(false);
        };
        if row.opt_i64("verified_at")?.is_some() {
            return Ok(true);
        }
        let traces: Option<Vec<u8>> = sqlx::Row::try_get(&row, "traces")?;
        let done = match self.backend {
            Backend::Sqlite => {
                let traces = Traces::decode(traces.as_deref().unwrap_or_default());
                self.scrub_sqlite(id, traces).await?
            }
            Backend::Postgres => {
                self.scrub_postgres(id, row.opt_i64("delete_xid")?.unwrap_or(0))
                    .await?
            }
        };
        if !done {
            return Ok(false);
        }
        let updated = sqlx::query(
            "UPDATE erasures SET verified_at = $1, traces = NULL WHERE doc_id = $2 AND verified_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 1 {
            let workspace: Option<i64> =
                sqlx::query_scalar("SELECT workspace_id FROM documents WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
            self.audit(workspace, None, "story.erasure-verified", Some(id), None)
                .await?;
        }
        Ok(true)
    }

    /// Checkpoint (truncating the log) while this process's writers wait, then scan the files.
    async fn scrub_sqlite(&self, id: &str, traces: Traces) -> Result<bool, DbError> {
        let (complete, files) = {
            let _turn = self.writer.clone().lock_owned().await;
            let mut conn = self.pool.acquire().await?;
            // Wait a second for readers, not the usual ten (`Db::connect`): the caller tries again.
            sqlx::query("PRAGMA busy_timeout=1000")
                .execute(&mut *conn)
                .await?;
            // The search index keeps an erased story's words in its old segments until they are
            // merged: merge them all (the freed pages are zeroed, `secure_delete`).
            sqlx::query("INSERT INTO story_fts (story_fts) VALUES ('optimize')")
                .execute(&mut *conn)
                .await?;
            let outcome = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&mut *conn)
                .await;
            sqlx::query("PRAGMA busy_timeout=10000")
                .execute(&mut *conn)
                .await?;
            let row = outcome?;
            // busy = 1: a reader or writer kept it from finishing; log/checkpointed: frames.
            let busy: i64 = sqlx::Row::try_get(&row, 0usize)?;
            let files = sqlx::query("PRAGMA database_list")
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .filter_map(|r| sqlx::Row::try_get::<String, _>(r, 2usize).ok())
                .filter(|f| !f.is_empty())
                .flat_map(|f| [PathBuf::from(format!("{f}-wal")), PathBuf::from(f)])
                .collect::<Vec<_>>();
            (busy == 0, files)
        };
        if !complete {
            tracing::info!("erasure: the checkpoint could not finish yet (a reader holds the log)");
            return Ok(false);
        }
        let scan = traces.clone();
        let mut hits = tokio::task::spawn_blocking(move || {
            let mut hits = HashMap::new();
            for file in &files {
                hits.extend(scan.hits_in(file)?);
            }
            Ok::<_, std::io::Error>(hits)
        })
        .await
        .map_err(|e| DbError::Conflict(format!("scanning for erased bytes failed: {e}")))?
        .map_err(|e| DbError::Conflict(format!("scanning for erased bytes failed: {e}")))?;
        if hits.is_empty() {
            return Ok(true);
        }
        // A window found may be one the erased story shared with stories that remain (the same
        // keys in the same order, the same device's actor id): those are no trace of it. Every
        // window that a stored chunk still holds is dropped from the traces for good.
        let mut traces = traces;
        let shared = self.held_by_stored_chunks(&hits).await?;
        for hash in &shared {
            hits.remove(hash);
            traces.remove(*hash);
        }
        if !shared.is_empty() {
            sqlx::query(
                "UPDATE erasures SET traces = $1 WHERE doc_id = $2 AND verified_at IS NULL",
            )
            .bind(traces.encode())
            .bind(id)
            .execute(&self.pool)
            .await?;
        }
        if !hits.is_empty() {
            tracing::warn!(
                windows = hits.len(),
                "erasure: erased bytes still found; trying again later"
            );
            return Ok(false);
        }
        Ok(true)
    }

    /// The hits (hash and window) that some stored chunk holds, byte for byte.
    async fn held_by_stored_chunks(
        &self,
        hits: &HashMap<u64, [u8; WINDOW]>,
    ) -> Result<HashSet<u64>, DbError> {
        use futures_util::TryStreamExt;
        let wanted = Traces(hits.keys().copied().collect());
        let mut roller = wanted.roller();
        let mut held = HashSet::new();
        let mut rows = sqlx::query("SELECT data FROM doc_chunks").fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            let data = row.bytes("data")?;
            roller.reset();
            roller.feed(&data, |hash, window| {
                if hits.get(&hash) == Some(&window) {
                    held.insert(hash);
                }
            });
            if held.len() == hits.len() {
                break;
            }
        }
        Ok(held)
    }

    async fn scrub_postgres(&self, id: &str, delete_xid: i64) -> Result<bool, DbError> {
        // VACUUM FULL keeps the rows a snapshot older than the deleting transaction may still
        // see. Rewrite only when none can: no transaction that was running when the rows were
        // deleted still runs anywhere (so every snapshot taken from now on is newer), and no
        // session that counts for this database's horizon (its own, and those connected to none)
        // holds a snapshot now. (Checking this database's sessions alone was not enough: the
        // full test suite, with other databases busy, found the text in the rewritten table.)
        let older: i64 = sqlx::query_scalar(
            "SELECT (CASE WHEN pg_snapshot_xmin(pg_current_snapshot())::text::bigint > $1 THEN 0 ELSE 1 END) \
             + (SELECT COUNT(*) FROM pg_stat_activity \
                WHERE (datname = current_database() OR datname IS NULL) \
                AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL)",
        )
        .bind(delete_xid)
        .fetch_one(&self.pool)
        .await?;
        if older > 0 {
            tracing::info!(
                transactions = older,
                "erasure: waiting for open snapshots to end"
            );
            return Ok(false);
        }
        // Rewrite the table that held the content so no dead tuple keeps its bytes, and
        // checkpoint so the old files are removed.
        for table in ["doc_chunks", "story_index", "story_index_tags"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM FULL {table}")))
                .execute(&self.pool)
                .await?;
        }
        sqlx::query("CHECKPOINT").execute(&self.pool).await?;
        // The old log segments still hold the deleted rows' page images: switch to a new segment
        // and checkpoint, so that they are recycled (removed, with wal_recycle = off). This needs
        // pg_checkpoint and EXECUTE on pg_switch_wal; without them the log keeps the bytes until
        // PostgreSQL recycles it (SECURITY.md).
        for _ in 0..2 {
            if let Err(e) = sqlx::query("SELECT pg_switch_wal()::text")
                .fetch_one(&self.pool)
                .await
            {
                tracing::warn!(error = %e, "erasure: cannot switch the write-ahead log; erased bytes stay in it until it is recycled");
                break;
            }
            sqlx::query("CHECKPOINT").execute(&self.pool).await?;
        }
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM doc_chunks WHERE doc_id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(left == 0)
    }

    /// Erasures not verified yet (to resume after a restart).
    pub async fn pending_erasures(&self) -> Result<Vec<String>, DbError> {
        Ok(
            sqlx::query_scalar("SELECT doc_id FROM erasures WHERE verified_at IS NULL")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Who erased a document (None: not erased).
    pub async fn erased_by(&self, id: &str) -> Result<Option<i64>, DbError> {
        Ok(sqlx::query_scalar::<_, Option<i64>>(
            "SELECT deleted_by FROM documents WHERE id = $1 AND deleted_at IS NOT NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }

    pub async fn erasure_status(&self, id: &str) -> Result<Option<ErasureStatus>, DbError> {
        let row = sqlx::query("SELECT requested_at, verified_at FROM erasures WHERE doc_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(ErasureStatus {
                requested_at: r.i64("requested_at")?,
                verified_at: r.opt_i64("verified_at")?,
            })
        })
        .transpose()
        .map_err(DbError::Sqlx)
    }
}

/// Keep trying to verify an erasure, backing off up to a minute between tries, until it is.
pub fn finish_in_background(db: Db, id: String) {
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(500);
        loop {
            tokio::time::sleep(wait).await;
            match db.verify_erasure(&id).await {
                Ok(true) => {
                    tracing::info!(doc = %id, "erasure verified");
                    return;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(doc = %id, error = %e, "erasure check failed"),
            }
            wait = (wait * 2).min(Duration::from_secs(60));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_find_a_window_anywhere_in_a_file_and_nothing_else() {
        let secret: Vec<u8> = (0..4000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let traces = Traces::of(&[&secret]);
        assert!(traces.0.len() > 50);
        assert_eq!(Traces::decode(&traces.encode()), traces);

        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("f");
        // A piece of the chunk, at an odd offset, across the reader's 1 MiB buffer boundary.
        let mut file = vec![0u8; (1 << 20) - 100];
        file.extend_from_slice(&secret[1000..1400]);
        file.extend(vec![0u8; 5000]);
        std::fs::write(&path, &file).expect("write");
        assert!(!traces.hits_in(&path).expect("scan").is_empty());

        // Zeroed where the secret was (as secure_delete leaves it): nothing found.
        let mut zeroed = file.clone();
        for b in &mut zeroed[(1 << 20) - 100..(1 << 20) + 300] {
            *b = 0;
        }
        std::fs::write(&path, &zeroed).expect("write");
        assert!(traces.hits_in(&path).expect("scan").is_empty());
        assert!(
            traces
                .hits_in(&dir.path().join("missing"))
                .expect("scan")
                .is_empty()
        );
        // Plain runs (zeros, one letter) are never traces.
        assert!(Traces::of(&[vec![0u8; 500], vec![b'a'; 500]]).is_empty());
    }
}
