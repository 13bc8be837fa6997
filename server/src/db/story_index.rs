//! The desk's read model in SQL: `story_index` (one row per live story), `story_index_tags`, and
//! full-text search (SQLite FTS5 over the server's Dutch stems; PostgreSQL's `dutch` text search
//! configuration). What goes into a row is decided in `workspace/index.rs`; this module only
//! stores and queries it.
//!
//! A row is written only over one read at an earlier `seq` of its document, and never for a
//! document that is deleted: the document's row is locked first (`FOR UPDATE` on PostgreSQL; on
//! SQLite this process's writers take turns), and erasure deletes the index rows in the same
//! transaction that marks the document deleted.

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

enum Bind {
    I(i64),
    T(String),
    F(f64),
}

struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            binds: vec![],
        }
    }
    /// Append `fragment`, where `?` stands for the next placeholder, bound to `value`.
    fn push(&mut self, fragment: &str, values: Vec<Bind>) {
        let mut values = values.into_iter();
        for c in fragment.chars() {
            if c == '?' {
                if let Some(v) = values.next() {
                    self.binds.push(v);
                    self.text.push_str(&format!("${}", self.binds.len()));
                }
            } else {
                self.text.push(c);
            }
        }
    }
    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.text.as_str()));
        for b in &self.binds {
            q = match b {
                Bind::I(v) => q.bind(*v),
                Bind::T(v) => q.bind(v.as_str()),
                Bind::F(v) => q.bind(*v),
            };
        }
        q
    }
}

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

    /// A page of the desk's list: stories of the workspace matching `q`, after `cursor`.
    pub async fn index_page(
        &self,
        q: &IndexQuery,
        cursor: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<Listed>, DbError> {
        // Best match first, or (lists, and searches of very common words) newest first.
        let ranked = q.search.as_ref().filter(|_| !q.newest_first);
        let mut sql = match (ranked, self.backend) {
            (Some(_), Backend::Sqlite) => Sql::new(&format!(
                "SELECT {COLUMNS}, f.rank AS rank, NULL AS headline FROM \
                 (SELECT rowid AS fid, -bm25(story_fts, 4.0, 1.0) AS rank FROM story_fts \
                  WHERE story_fts MATCH "
            )),
            (Some(_), Backend::Postgres) => Sql::new(&format!(
                "SELECT * FROM (SELECT {COLUMNS}, \
                 ts_rank(i.search, plainto_tsquery('dutch', "
            )),
            (None, Backend::Postgres) if q.search.is_some() => Sql::new(&format!(
                "SELECT {COLUMNS}, ts_headline('dutch', i.search_text, plainto_tsquery('dutch', "
            )),
            (None, _) => Sql::new(&format!(
                "SELECT {COLUMNS} FROM story_index i LEFT JOIN members m ON m.id = i.recorder_id WHERE "
            )),
        };
        if let (None, Some(s), Backend::Postgres) = (ranked, &q.search, self.backend) {
            sql.push(
                &format!(
                    "?), 'StartSel={HIT_START}, StopSel={HIT_END}, MaxWords=30, MinWords=12, \
                     MaxFragments=1') AS headline FROM story_index i \
                     LEFT JOIN members m ON m.id = i.recorder_id WHERE "
                ),
                vec![Bind::T(s.clone())],
            );
        }
        match (ranked, self.backend) {
            (Some(s), Backend::Sqlite) => {
                // CROSS JOIN keeps the full-text matches as the outer loop: SQLite's planner
                // otherwise may run the MATCH once per story of the workspace (seconds at 2,000).
                sql.push(
                    "?) f CROSS JOIN story_index i ON i.id = f.fid \
                     LEFT JOIN members m ON m.id = i.recorder_id WHERE ",
                    vec![Bind::T(s.clone())],
                );
            }
            (Some(s), Backend::Postgres) => {
                sql.push(
                    &format!(
                        "?))::float8 AS rank, ts_headline('dutch', i.search_text, \
                         plainto_tsquery('dutch', ?), 'StartSel={HIT_START}, StopSel={HIT_END}, \
                         MaxWords=30, MinWords=12, MaxFragments=1') AS headline \
                         FROM story_index i LEFT JOIN members m ON m.id = i.recorder_id \
                         WHERE i.search @@ plainto_tsquery('dutch', ?) AND "
                    ),
                    vec![Bind::T(s.clone()), Bind::T(s.clone()), Bind::T(s.clone())],
                );
            }
            _ => {}
        }
        filters(&mut sql, q);
        if let (None, Some(s)) = (ranked, &q.search) {
            // Newest first among the matches: the list's order, the search as a filter.
            match self.backend {
                // `+i.id`: the matches are a filter on the list's index walked newest first
                // (stopping at a page), not rows to fetch one by one and sort.
                Backend::Sqlite => sql.push(
                    " AND +i.id IN (SELECT rowid FROM story_fts WHERE story_fts MATCH ?)",
                    vec![Bind::T(s.clone())],
                ),
                Backend::Postgres => sql.push(
                    " AND i.search @@ plainto_tsquery('dutch', ?)",
                    vec![Bind::T(s.clone())],
                ),
            }
        }
        match (ranked, self.backend) {
            (Some(_), Backend::Sqlite) => {
                if let Some(Cursor::Rank { rank, id }) = cursor {
                    sql.push(
                        " AND (f.rank < ? OR (f.rank = ? AND i.id > ?))",
                        vec![Bind::F(rank), Bind::F(rank), Bind::I(id)],
                    );
                }
                sql.push(" ORDER BY f.rank DESC, i.id LIMIT ?", vec![Bind::I(limit)]);
            }
            (Some(_), Backend::Postgres) => {
                sql.push(") p", vec![]);
                if let Some(Cursor::Rank { rank, id }) = cursor {
                    sql.push(
                        " WHERE (p.rank < ? OR (p.rank = ? AND p.id > ?))",
                        vec![Bind::F(rank), Bind::F(rank), Bind::I(id)],
                    );
                }
                sql.push(" ORDER BY p.rank DESC, p.id LIMIT ?", vec![Bind::I(limit)]);
            }
            (None, _) => {
                let after = match cursor {
                    Some(Cursor::Time { sort_at, id }) => Some((sort_at, id)),
                    _ => None,
                };
                newest_after(&mut sql, after, limit);
            }
        }
        let rows = sql.query().fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let (id, row, recorded_by) = read_row(r)?;
            let rank: Option<f64> = if ranked.is_some() {
                Some(sqlx::Row::try_get(r, "rank")?)
            } else {
                None
            };
            let headline = if q.search.is_some() && self.backend == Backend::Postgres {
                r.opt_string("headline")?
            } else {
                None
            };
            out.push(Listed {
                id,
                row,
                recorded_by,
                rank,
                headline,
            });
        }
        self.attach_tags(&mut out).await?;
        Ok(out)
    }

    /// How many stories match `q`.
    pub async fn index_count(&self, q: &IndexQuery) -> Result<i64, DbError> {
        let mut sql = match (&q.search, self.backend) {
            (Some(s), Backend::Sqlite) => {
                let mut sql = Sql::new(
                    "SELECT COUNT(*) AS n FROM story_fts f CROSS JOIN story_index i ON i.id = f.rowid \
                     WHERE ",
                );
                sql.push("story_fts MATCH ? AND ", vec![Bind::T(s.clone())]);
                sql
            }
            (Some(s), Backend::Postgres) => {
                let mut sql = Sql::new("SELECT COUNT(*) AS n FROM story_index i WHERE ");
                sql.push(
                    "i.search @@ plainto_tsquery('dutch', ?) AND ",
                    vec![Bind::T(s.clone())],
                );
                sql
            }
            (None, _) => Sql::new("SELECT COUNT(*) AS n FROM story_index i WHERE "),
        };
        filters(&mut sql, q);
        Ok(sql.query().fetch_one(&self.pool).await?.i64("n")?)
    }

    /// Every matching story's document id, in list order, a page at a time (exports).
    pub async fn index_ids(
        &self,
        q: &IndexQuery,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<(i64, i64, String)>, DbError> {
        self.ids_where(q, false, after, limit).await
    }

    /// Like [`Db::index_ids`], only stories whose approved version may be quoted (reports).
    pub async fn index_quotable_ids(
        &self,
        q: &IndexQuery,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<(i64, i64, String)>, DbError> {
        self.ids_where(q, true, after, limit).await
    }

    async fn ids_where(
        &self,
        q: &IndexQuery,
        quotable: bool,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<(i64, i64, String)>, DbError> {
        let mut sql = Sql::new("SELECT i.id, i.sort_at, i.doc_id FROM story_index i WHERE ");
        filters(&mut sql, q);
        if quotable {
            sql.push(" AND i.approved_quotable = 1", vec![]);
        }
        newest_after(&mut sql, after, limit);
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.i64("id")?, r.i64("sort_at")?, r.string("doc_id")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Stories per activity, tag state and municipality (rejected tags not counted).
    pub async fn index_tag_counts(&self, q: &IndexQuery) -> Result<Vec<TagCount>, DbError> {
        let mut sql = Sql::new(
            "SELECT t.code, t.state, i.municipality, COUNT(*) AS n FROM story_index_tags t \
             JOIN story_index i ON i.id = t.story_id WHERE t.state <> 'rejected' AND ",
        );
        filters(&mut sql, q);
        sql.push(" GROUP BY t.code, t.state, i.municipality", vec![]);
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(TagCount {
                    code: r.string("code")?,
                    state: r.string("state")?,
                    municipality: r.opt_string("municipality")?,
                    stories: r.i64("n")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Stories matching `q` counted by one column (`municipality` or `kind`).
    pub async fn index_counts_by(
        &self,
        q: &IndexQuery,
        column: &'static str,
    ) -> Result<Vec<(Option<String>, i64)>, DbError> {
        let column = match column {
            "kind" => "kind",
            _ => "municipality",
        };
        let mut sql = Sql::new(&format!(
            "SELECT i.{column} AS v, COUNT(*) AS n FROM story_index i WHERE "
        ));
        filters(&mut sql, q);
        sql.push(&format!(" GROUP BY i.{column}"), vec![]);
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.opt_string("v")?, r.i64("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Stories of a workspace per persona: (persona id, doc id, title, kind, municipality,
    /// review, confirmed activity codes).
    pub async fn index_by_persona(&self, workspace_id: i64) -> Result<Vec<Listed>, DbError> {
        let q = IndexQuery {
            workspace_id,
            ..IndexQuery::default()
        };
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM story_index i LEFT JOIN members m ON m.id = i.recorder_id \
             WHERE i.persona_id IS NOT NULL AND "
        ));
        filters(&mut sql, &q);
        sql.push(" ORDER BY i.sort_at, i.id", vec![]);
        let rows = sql.query().fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let (id, row, recorded_by) = read_row(r)?;
            out.push(Listed {
                id,
                row,
                recorded_by,
                rank: None,
                headline: None,
            });
        }
        self.attach_tags(&mut out).await?;
        Ok(out)
    }

    /// Fill in each listed story's activity tags (one query per 200 stories).
    async fn attach_tags(&self, out: &mut [Listed]) -> Result<(), DbError> {
        let ids: Vec<i64> = out.iter().map(|l| l.id).collect();
        let tags = self.index_tags(&ids).await?;
        for l in out {
            l.row.tags = tags
                .iter()
                .filter(|(id, _, _)| *id == l.id)
                .map(|(_, c, s)| (c.clone(), s.clone()))
                .collect();
        }
        Ok(())
    }

    async fn index_tags(&self, ids: &[i64]) -> Result<Vec<(i64, String, String)>, DbError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(200) {
            let mut sql =
                Sql::new("SELECT story_id, code, state FROM story_index_tags WHERE story_id IN (");
            for (n, id) in chunk.iter().enumerate() {
                sql.push(if n == 0 { "?" } else { ", ?" }, vec![Bind::I(*id)]);
            }
            sql.push(") ORDER BY story_id, code", vec![]);
            for r in sql.query().fetch_all(&self.pool).await? {
                out.push((r.i64("story_id")?, r.string("code")?, r.string("state")?));
            }
        }
        Ok(out)
    }
}

/// Newest first, after the keyset (sort_at, id) where the previous page ended.
fn newest_after(sql: &mut Sql, after: Option<(i64, i64)>, limit: i64) {
    if let Some((sort_at, id)) = after {
        sql.push(
            " AND (i.sort_at < ? OR (i.sort_at = ? AND i.id < ?))",
            vec![Bind::I(sort_at), Bind::I(sort_at), Bind::I(id)],
        );
    }
    sql.push(
        " ORDER BY i.sort_at DESC, i.id DESC LIMIT ?",
        vec![Bind::I(limit)],
    );
}

/// The WHERE conditions of a desk query on `story_index i` (after the caller's own).
fn filters(sql: &mut Sql, q: &IndexQuery) {
    sql.push("i.workspace_id = ?", vec![Bind::I(q.workspace_id)]);
    let eq = [
        ("i.kind", &q.kind),
        ("i.place_type", &q.place_type),
        ("i.phase", &q.phase),
        ("i.target_group", &q.target_group),
        ("i.review", &q.review),
        ("i.persona_id", &q.persona),
    ];
    for (col, v) in eq {
        if let Some(v) = v {
            sql.push(&format!(" AND {col} = ?"), vec![Bind::T(v.clone())]);
        }
    }
    match q.municipality.as_deref() {
        // The desk's word for stories without one.
        Some("") => sql.push(" AND i.municipality IS NULL", vec![]),
        Some(m) => sql.push(
            " AND LOWER(i.municipality) = LOWER(?)",
            vec![Bind::T(m.to_string())],
        ),
        None => {}
    }
    if let Some(f) = &q.from {
        sql.push(" AND i.quarter >= ?", vec![Bind::T(f.clone())]);
    }
    if let Some(t) = &q.to {
        sql.push(" AND i.quarter <= ?", vec![Bind::T(t.clone())]);
    }
    if q.consent_in_reports {
        sql.push(
            " AND i.consent_scope IN ('anonymised-in-reports', 'may-be-quoted')",
            vec![],
        );
    }
    // Driven by the tags' index (workspace, code, state, story): the stories of an activity are
    // found there, not by testing every story of the workspace (an EXISTS per story cost 76 ms
    // for an activity with no confirmed story among 50,000).
    if let Some(a) = &q.activity {
        match &q.tag_state {
            Some(s) => sql.push(
                " AND i.id IN (SELECT x.story_id FROM story_index_tags x WHERE x.workspace_id = ? \
                 AND x.code = ? AND x.state = ?)",
                vec![
                    Bind::I(q.workspace_id),
                    Bind::T(a.clone()),
                    Bind::T(s.clone()),
                ],
            ),
            None => sql.push(
                " AND i.id IN (SELECT x.story_id FROM story_index_tags x WHERE x.workspace_id = ? \
                 AND x.code = ? AND x.state IN ('suggested', 'confirmed'))",
                vec![Bind::I(q.workspace_id), Bind::T(a.clone())],
            ),
        }
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
mod tests {
    use super::*;
    use crate::db::docs::DocMeta;
    use crate::db::testing;

    fn row(doc_id: &str, title: &str) -> IndexRow {
        IndexRow {
            doc_id: doc_id.into(),
            sort_at: 10,
            review: "draft".into(),
            title: title.into(),
            excerpt: title.into(),
            search_title: title.into(),
            search_text: title.into(),
            stems_title: crate::workspace::index::stems(title),
            stems_text: String::new(),
            tags: vec![("centering".into(), "suggested".into())],
            ..IndexRow::default()
        }
    }

    /// A row is replaced only by a read at a later seq, never written for a deleted document,
    /// and a version change makes every row stale.
    async fn rows_only_move_forward(backend: Backend) {
        let t = testing::db(backend).await;
        let db = &t.db;
        let meta = DocMeta {
            workspace_id: t.workspace,
            recorder_id: t.member,
            doc_type: "story".into(),
            size: 0,
            deleted: false,
        };
        for id in ["a", "b"] {
            db.create_doc(id, &meta, b"x", &["h".into()])
                .await
                .expect("create");
        }
        let q = IndexQuery {
            workspace_id: t.workspace,
            ..IndexQuery::default()
        };
        let ws = t.workspace;
        assert!(
            db.put_index_row(&row("a", "nieuw"), ws, t.member, 5)
                .await
                .expect("put")
        );
        // An older read (another indexer that was slower) does not overwrite it.
        assert!(
            !db.put_index_row(&row("a", "oud"), ws, t.member, 4)
                .await
                .expect("put")
        );
        assert!(
            db.put_index_row(&row("b", "ander"), ws, t.member, 5)
                .await
                .expect("put")
        );
        let page = db.index_page(&q, None, 10).await.expect("page");
        let mut titles: Vec<&str> = page.iter().map(|l| l.row.title.as_str()).collect();
        titles.sort();
        assert_eq!(titles, vec!["ander", "nieuw"]);
        assert_eq!(
            page[0].row.tags,
            vec![("centering".to_string(), "suggested".to_string())]
        );
        let search = match backend {
            Backend::Sqlite => {
                crate::workspace::index::fts_query(&crate::workspace::index::search_words("nieuw"))
            }
            Backend::Postgres => Some("nieuw".to_string()),
        };
        let found = IndexQuery {
            search,
            ..q.clone()
        };
        assert_eq!(db.index_count(&found).await.expect("count"), 1);
        // The same search newest first (what a very common word gets): the same story, unranked,
        // with its snippet on PostgreSQL.
        let newest = IndexQuery {
            newest_first: true,
            ..found.clone()
        };
        let page = db.index_page(&newest, None, 10).await.expect("page");
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].row.title, "nieuw");
        assert_eq!(page[0].rank, None);
        if backend == Backend::Postgres {
            assert!(
                page[0]
                    .headline
                    .as_deref()
                    .is_some_and(|h| h.contains(HIT_START))
            );
        }
        let ranked = db.index_page(&found, None, 10).await.expect("page");
        assert!(ranked[0].rank.is_some());

        // Erased: the rows go in the erasure's transaction, and a late indexer writes nothing.
        db.erase_doc("a", t.member).await.expect("erase");
        assert_eq!(db.index_count(&q).await.expect("count"), 1);
        assert_eq!(db.index_count(&found).await.expect("count"), 0);
        assert!(
            !db.put_index_row(&row("a", "nieuw"), ws, t.member, 99)
                .await
                .expect("put")
        );
        assert_eq!(db.index_count(&q).await.expect("count"), 1);

        // A fresh database has no version: every row is stale once, then not again.
        assert!(db.index_version_is(1).await.expect("version"));
        assert!(
            db.stories_to_index(0, 10)
                .await
                .expect("todo")
                .iter()
                .any(|(id, _)| id == "b")
        );
        assert!(
            db.put_index_row(&row("b", "ander"), ws, t.member, 5)
                .await
                .expect("put")
        );
        assert!(!db.index_version_is(1).await.expect("version"));
        assert!(db.stories_to_index(0, 10).await.expect("todo").is_empty());
        assert!(db.index_version_is(2).await.expect("version"));
        assert_eq!(db.stories_to_index(0, 10).await.expect("todo").len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_only_move_forward_sqlite() {
        rows_only_move_forward(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_only_move_forward_postgres() {
        rows_only_move_forward(Backend::Postgres).await;
    }
}
