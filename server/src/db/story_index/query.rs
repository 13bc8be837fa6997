//! The desk's queries over `story_index`: a page of stories (newest first or best match first,
//! with search hits marked), counts, ids, tag counts and counts by a column, built from an
//! [`IndexQuery`]'s filters. Reading only: rows are written in [`super`].

use super::{COLUMNS, Cursor, HIT_END, HIT_START, IndexQuery, Listed, TagCount, read_row};
use crate::db::sql::{Bind, Sql};
use crate::db::{Backend, Db, DbError, RowExt};

impl Db {
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

    pub(super) async fn ids_where(
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
    pub(super) async fn attach_tags(&self, out: &mut [Listed]) -> Result<(), DbError> {
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

    pub(super) async fn index_tags(
        &self,
        ids: &[i64],
    ) -> Result<Vec<(i64, String, String)>, DbError> {
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
pub(super) fn newest_after(sql: &mut Sql, after: Option<(i64, i64)>, limit: i64) {
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
pub(super) fn filters(sql: &mut Sql, q: &IndexQuery) {
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
