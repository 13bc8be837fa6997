//! The desk's read model in SQL: `story_index` (one row per live story), `story_index_tags`, and
//! full-text search (SQLite FTS5 over the server's Dutch stems; PostgreSQL's `dutch` text search
//! configuration). What goes into a row is decided in `workspace/index.rs`; this module only
//! stores and queries it.
//!
//! A row is written only over one read at an earlier `seq` of its document, and never for a
//! document that is deleted: the document's row is locked first (`FOR UPDATE` on PostgreSQL; on
//! SQLite this process's writers take turns), and erasure deletes the index rows in the same
//! transaction that marks the document deleted.
//!
//! This module holds the row types and the writes; [`query`] the desk's reads. What a row says
//! about a story (its title, excerpt, tags) is not decided here.

mod query;

use super::{Backend, Db, DbError, RowExt};
use sqlx::any::AnyRow;

/// What the desk knows of one story without opening it (filled in by `workspace::index`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexRow {
    pub doc_id: String,
    pub sort_at: i64,
    pub captured_at: Option<i64>,
    pub quarter: Option<String>,
    pub kind: Option<String>,
    pub municipality: Option<String>,
    pub place_type: Option<String>,
    pub phase: Option<String>,
    pub target_group: Option<String>,
    pub language: Option<String>,
    pub review: String,
    pub approved_heads: Option<String>,
    pub changed_after_approval: bool,
    pub consent_scope: Option<String>,
    pub approved_quotable: bool,
    pub told_by_role: Option<String>,
    pub told_by: Option<String>,
    pub persona_id: Option<String>,
    pub title: String,
    pub excerpt: String,
    pub quote: Option<String>,
    pub has_audio: bool,
    pub has_photo: bool,
    pub transcript_state: Option<String>,
    /// Title, text, transcript and sections, for snippets (and PostgreSQL's search vector).
    pub search_title: String,
    pub search_text: String,
    /// Dutch stems of the title and of the rest, space-separated (SQLite's FTS5 columns).
    pub stems_title: String,
    pub stems_text: String,
    /// Activity tags: (code, state).
    pub tags: Vec<(String, String)>,
}

/// A read to store: (row, workspace, recorder, the document's seq it was read at).
pub type IndexWrite = (IndexRow, i64, i64, i64);

/// Where a document stands in `documents`, as the indexer needs it.
#[derive(Debug, Clone)]
pub struct DocState {
    pub workspace_id: i64,
    pub recorder_id: i64,
    pub doc_type: String,
    pub seq: i64,
    pub created_at: i64,
    pub deleted: bool,
}

/// Filters of a desk query, already trimmed (empty = any).
#[derive(Debug, Clone, Default)]
pub struct IndexQuery {
    pub workspace_id: i64,
    pub activity: Option<String>,
    /// With `activity`: only this tag state (`confirmed`, `suggested`); otherwise any but rejected.
    pub tag_state: Option<String>,
    pub municipality: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub phase: Option<String>,
    pub target_group: Option<String>,
    pub place_type: Option<String>,
    pub kind: Option<String>,
    pub review: Option<String>,
    pub persona: Option<String>,
    pub consent_in_reports: bool,
    /// Search: SQLite FTS5 query over stems, or the words for PostgreSQL's `plainto_tsquery`.
    pub search: Option<String>,
    /// With `search`: newest first instead of best match first (a word in thousands of stories,
    /// where ranking every match costs more than it tells).
    pub newest_first: bool,
}

/// Where the previous page ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cursor {
    /// Lists: newest first by (sort_at, id).
    Time { sort_at: i64, id: i64 },
    /// Searches: best first by (rank, id).
    Rank { rank: f64, id: i64 },
}

/// A listed story: the index row, the recorder's name, and (searches) the rank and a snippet.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: i64,
    pub row: IndexRow,
    pub recorded_by: Option<String>,
    pub rank: Option<f64>,
    /// PostgreSQL's headline of the search (`⟦hit⟧` marked); SQLite's is cut in Rust.
    pub headline: Option<String>,
}

/// Counted stories per (activity, tag state, municipality).
#[derive(Debug, Clone, PartialEq)]
pub struct TagCount {
    pub code: String,
    pub state: String,
    pub municipality: Option<String>,
    pub stories: i64,
}

/// Marks of a hit in PostgreSQL's headline.
pub const HIT_START: &str = "⟦";
pub const HIT_END: &str = "⟧";

const COLUMNS: &str = "i.id, i.doc_id, i.sort_at, i.captured_at, i.quarter, i.kind, i.municipality, \
     i.place_type, i.phase, i.target_group, i.language, i.review, i.approved_heads, \
     i.changed_after_approval, i.consent_scope, i.approved_quotable, i.told_by_role, i.told_by, \
     i.persona_id, i.title, i.excerpt, i.quote, i.has_audio, i.has_photo, i.transcript_state, \
     i.search_text, m.name AS recorder_name";

fn read_row(r: &AnyRow) -> Result<(i64, IndexRow, Option<String>), sqlx::Error> {
    Ok((
        r.i64("id")?,
        IndexRow {
            doc_id: r.string("doc_id")?,
            sort_at: r.i64("sort_at")?,
            captured_at: r.opt_i64("captured_at")?,
            quarter: r.opt_string("quarter")?,
            kind: r.opt_string("kind")?,
            municipality: r.opt_string("municipality")?,
            place_type: r.opt_string("place_type")?,
            phase: r.opt_string("phase")?,
            target_group: r.opt_string("target_group")?,
            language: r.opt_string("language")?,
            review: r.string("review")?,
            approved_heads: r.opt_string("approved_heads")?,
            changed_after_approval: r.i64("changed_after_approval")? != 0,
            consent_scope: r.opt_string("consent_scope")?,
            approved_quotable: r.i64("approved_quotable")? != 0,
            told_by_role: r.opt_string("told_by_role")?,
            told_by: r.opt_string("told_by")?,
            persona_id: r.opt_string("persona_id")?,
            title: r.string("title")?,
            excerpt: r.string("excerpt")?,
            quote: r.opt_string("quote")?,
            has_audio: r.i64("has_audio")? != 0,
            has_photo: r.i64("has_photo")? != 0,
            transcript_state: r.opt_string("transcript_state")?,
            search_title: String::new(),
            search_text: r.string("search_text")?,
            stems_title: String::new(),
            stems_text: String::new(),
            tags: vec![],
        },
        r.opt_string("recorder_name")?,
    ))
}

impl Db {
    /// Where a document stands (`None` if there is no such document).
    pub async fn doc_state(&self, doc_id: &str) -> Result<Option<DocState>, DbError> {
        let row = sqlx::query(
            "SELECT workspace_id, recorder_id, doc_type, seq, created_at, deleted_at \
             FROM documents WHERE id = $1",
        )
        .bind(doc_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok::<_, sqlx::Error>(DocState {
                workspace_id: r.i64("workspace_id")?,
                recorder_id: r.i64("recorder_id")?,
                doc_type: r.string("doc_type")?,
                seq: r.i64("seq")?,
                created_at: r.i64("created_at")?,
                deleted: r.opt_i64("deleted_at")?.is_some(),
            })
        })
        .transpose()
        .map_err(DbError::from)
    }

    /// Store what was read of a story at `seq`. Returns false (and writes nothing) when the
    /// index already holds a read at `seq` or later, or the document is gone.
    pub async fn put_index_row(
        &self,
        row: &IndexRow,
        workspace_id: i64,
        recorder_id: i64,
        seq: i64,
    ) -> Result<bool, DbError> {
        Ok(self
            .put_index_rows(&[(row.clone(), workspace_id, recorder_id, seq)])
            .await?
            > 0)
    }

    /// Store several reads in one transaction: (row, workspace, recorder, seq). Returns how many
    /// were written.
    pub async fn put_index_rows(
        &self,
        rows: &[(IndexRow, i64, i64, i64)],
    ) -> Result<usize, DbError> {
        if self.backend == Backend::Postgres && rows.len() > 1 {
            // One transaction per row: each locks its document's row, and several such locks
            // in one transaction could deadlock with a group commit of document writes.
            let mut written = 0;
            for r in rows {
                written += Box::pin(self.put_index_rows(std::slice::from_ref(r))).await?;
            }
            return Ok(written);
        }
        let (mut tx, turn) = self.begin_write().await?;
        let mut written = 0;
        for (row, workspace_id, recorder_id, seq) in rows {
            if put_in(
                &mut tx,
                self.backend,
                row,
                *workspace_id,
                *recorder_id,
                *seq,
            )
            .await?
            {
                written += 1;
            }
        }
        tx.commit().await?;
        drop(turn);
        Ok(written)
    }

    /// Remove a document from the index (it was deleted).
    pub async fn delete_index_row(&self, doc_id: &str) -> Result<(), DbError> {
        let (mut tx, turn) = self.begin_write().await?;
        delete_index_in(&mut tx, self.backend, doc_id).await?;
        tx.commit().await?;
        drop(turn);
        Ok(())
    }

    /// Stories whose index row is missing or older than the document (or rows of documents that
    /// are gone), oldest change first. `after`: only documents changed after this seq (the
    /// caller's cursor; 0 for a full scan).
    pub async fn stories_to_index(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, DbError> {
        let rows = sqlx::query(
            "SELECT d.id, d.seq FROM documents d LEFT JOIN story_index i ON i.doc_id = d.id \
             WHERE d.seq > $1 AND d.doc_type = 'story' AND ( \
               (d.deleted_at IS NULL AND (i.id IS NULL OR i.indexed_seq < d.seq)) \
               OR (d.deleted_at IS NOT NULL AND i.id IS NOT NULL)) \
             ORDER BY d.seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.string("id")?, r.i64("seq")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// The highest change cursor.
    pub async fn max_doc_seq(&self) -> Result<i64, DbError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM documents")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// Make sure the index was written by this version of the reader (`version`): when it was
    /// not (the stemmer or the row's meaning changed), forget every row's read so the indexer
    /// reads every story again. Returns whether it did.
    pub async fn index_version_is(&self, version: i64) -> Result<bool, DbError> {
        let (mut tx, turn) = self.begin_write().await?;
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT value FROM counters WHERE name = 'story_index_version'")
                .fetch_optional(&mut *tx)
                .await?;
        let stale = stored != Some(version);
        if stale {
            sqlx::query("UPDATE story_index SET indexed_seq = -1")
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO counters (name, value) VALUES ('story_index_version', $1) \
                 ON CONFLICT (name) DO UPDATE SET value = $1",
            )
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        drop(turn);
        Ok(stale)
    }

    /// Forget every index row's read, so that the indexer reads every story again.
    pub async fn invalidate_index(&self) -> Result<u64, DbError> {
        let (mut tx, turn) = self.begin_write().await?;
        let n = sqlx::query("UPDATE story_index SET indexed_seq = -1")
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        drop(turn);
        Ok(n)
    }
}

/// Write one read inside a transaction (see [`Db::put_index_rows`]).
async fn put_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    row: &IndexRow,
    workspace_id: i64,
    recorder_id: i64,
    seq: i64,
) -> Result<bool, DbError> {
    // Lock the document's row: an erasure (which updates it) waits for us, or we see it.
    let lock = match backend {
        Backend::Postgres => "SELECT deleted_at FROM documents WHERE id = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT deleted_at FROM documents WHERE id = $1",
    };
    let live = sqlx::query(lock)
        .bind(&row.doc_id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.opt_i64("deleted_at"))
        .transpose()?
        .is_some_and(|d| d.is_none());
    if !live {
        delete_index_in(tx, backend, &row.doc_id).await?;
        return Ok(false);
    }
    let existing = sqlx::query("SELECT id, indexed_seq FROM story_index WHERE doc_id = $1")
        .bind(&row.doc_id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| Ok::<_, sqlx::Error>((r.i64("id")?, r.i64("indexed_seq")?)))
        .transpose()?;
    if existing.is_some_and(|(_, s)| s >= seq) {
        return Ok(false);
    }
    let pg = backend == Backend::Postgres;
    let sql = format!(
        "INSERT INTO story_index (doc_id, workspace_id, recorder_id, indexed_seq, sort_at, \
         captured_at, quarter, kind, municipality, place_type, phase, target_group, language, \
         review, approved_heads, changed_after_approval, consent_scope, approved_quotable, \
         told_by_role, told_by, persona_id, title, excerpt, quote, has_audio, has_photo, \
         transcript_state, search_text{cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28{vals}) \
         ON CONFLICT (doc_id) DO UPDATE SET workspace_id = excluded.workspace_id, \
         recorder_id = excluded.recorder_id, indexed_seq = excluded.indexed_seq, \
         sort_at = excluded.sort_at, captured_at = excluded.captured_at, \
         quarter = excluded.quarter, kind = excluded.kind, municipality = excluded.municipality, \
         place_type = excluded.place_type, phase = excluded.phase, \
         target_group = excluded.target_group, language = excluded.language, \
         review = excluded.review, approved_heads = excluded.approved_heads, \
         changed_after_approval = excluded.changed_after_approval, \
         consent_scope = excluded.consent_scope, approved_quotable = excluded.approved_quotable, \
         told_by_role = excluded.told_by_role, told_by = excluded.told_by, \
         persona_id = excluded.persona_id, title = excluded.title, excerpt = excluded.excerpt, quote = excluded.quote, \
         has_audio = excluded.has_audio, has_photo = excluded.has_photo, \
         transcript_state = excluded.transcript_state, search_text = excluded.search_text{set} \
         RETURNING id",
        cols = if pg { ", search" } else { "" },
        vals = if pg {
            ", setweight(to_tsvector('dutch', $29), 'A') || setweight(to_tsvector('dutch', $30), 'B')"
        } else {
            ""
        },
        set = if pg { ", search = excluded.search" } else { "" },
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(&row.doc_id)
        .bind(workspace_id)
        .bind(recorder_id)
        .bind(seq)
        .bind(row.sort_at)
        .bind(row.captured_at)
        .bind(row.quarter.as_deref())
        .bind(row.kind.as_deref())
        .bind(row.municipality.as_deref())
        .bind(row.place_type.as_deref())
        .bind(row.phase.as_deref())
        .bind(row.target_group.as_deref())
        .bind(row.language.as_deref())
        .bind(row.review.as_str())
        .bind(row.approved_heads.as_deref())
        .bind(i64::from(row.changed_after_approval))
        .bind(row.consent_scope.as_deref())
        .bind(i64::from(row.approved_quotable))
        .bind(row.told_by_role.as_deref())
        .bind(row.told_by.as_deref())
        .bind(row.persona_id.as_deref())
        .bind(row.title.as_str())
        .bind(row.excerpt.as_str())
        .bind(row.quote.as_deref())
        .bind(i64::from(row.has_audio))
        .bind(i64::from(row.has_photo))
        .bind(row.transcript_state.as_deref())
        .bind(row.search_text.as_str());
    if pg {
        q = q
            .bind(row.search_title.as_str())
            .bind(row.search_text.as_str());
    }
    let id: i64 = q.fetch_one(&mut **tx).await?.i64("id")?;
    sqlx::query("DELETE FROM story_index_tags WHERE story_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    for (code, state) in &row.tags {
        sqlx::query(
            "INSERT INTO story_index_tags (story_id, workspace_id, code, state) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (story_id, code) DO UPDATE SET state = excluded.state",
        )
        .bind(id)
        .bind(workspace_id)
        .bind(code.as_str())
        .bind(state.as_str())
        .execute(&mut **tx)
        .await?;
    }
    if backend == Backend::Sqlite {
        if existing.is_some() {
            sqlx::query("DELETE FROM story_fts WHERE rowid = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query("INSERT INTO story_fts (rowid, title, body) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(row.stems_title.as_str())
            .bind(row.stems_text.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(true)
}

/// Delete a document's index rows inside a write transaction (erasure uses this too).
pub(crate) async fn delete_index_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    doc_id: &str,
) -> Result<(), DbError> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM story_index WHERE doc_id = $1")
        .bind(doc_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(id) = id else {
        return Ok(());
    };
    if backend == Backend::Sqlite {
        sqlx::query("DELETE FROM story_fts WHERE rowid = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("DELETE FROM story_index_tags WHERE story_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM story_index WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
