//! Workspace taxonomy (municipalities, own activities) and the document index (which persona a
//! story links to). Figures are in `workspace.rs`.

use super::docs::{Erased, Viewer};
use super::sql::{Bind, Sql};
use super::{Db, DbError, RowExt, now_ms};
use crate::tagging::taxonomy::WorkspaceActivity;
use sqlx::any::AnyRow;

fn list_from(s: Option<String>) -> Result<Option<Vec<String>>, sqlx::Error> {
    s.map(|s| serde_json::from_str(&s).map_err(|e| sqlx::Error::Decode(e.into())))
        .transpose()
}

fn list_to(v: &Option<Vec<String>>) -> Option<String> {
    v.as_ref()
        .map(|v| serde_json::to_string(v).unwrap_or_else(|_| "[]".into()))
}

fn activity_from(row: &AnyRow) -> Result<WorkspaceActivity, sqlx::Error> {
    Ok(WorkspaceActivity {
        code: row.string("code")?,
        name: row.opt_string("name")?,
        gloss: row.opt_string("gloss")?,
        description: row.opt_string("description")?,
        synonyms: list_from(row.opt_string("synonyms")?)?,
        keywords: list_from(row.opt_string("keywords")?)?,
        context: list_from(row.opt_string("context")?)?,
        phases: list_from(row.opt_string("phases")?)?,
        retired: row.opt_i64("retired_at")?.is_some(),
    })
}

impl Db {
    pub async fn municipalities(&self, workspace_id: i64) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT name FROM workspace_municipalities WHERE workspace_id = $1 ORDER BY name",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.string("name"))
            .collect::<Result<_, _>>()?)
    }

    pub async fn add_municipality(&self, workspace_id: i64, name: &str) -> Result<(), DbError> {
        let (mut tx, _turn) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO workspace_municipalities (workspace_id, name) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(workspace_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The workspace's own activities and changes to default ones, by code.
    pub async fn workspace_activities(
        &self,
        workspace_id: i64,
    ) -> Result<Vec<WorkspaceActivity>, DbError> {
        let rows = sqlx::query(
            "SELECT code, name, gloss, description, synonyms, keywords, context, phases, retired_at \
             FROM workspace_activities WHERE workspace_id = $1 ORDER BY code",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(activity_from).collect::<Result<_, _>>()?)
    }

    /// Changes whenever the workspace's activities change: (rows, newest update).
    pub async fn workspace_activities_revision(
        &self,
        workspace_id: i64,
    ) -> Result<(i64, i64), DbError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS at \
             FROM workspace_activities WHERE workspace_id = $1",
        )
        .bind(workspace_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.i64("n")?, row.i64("at")?))
    }

    /// Insert or replace a workspace activity row. A retired row keeps the time it was retired.
    pub async fn put_workspace_activity(
        &self,
        workspace_id: i64,
        a: &WorkspaceActivity,
    ) -> Result<(), DbError> {
        let (mut tx, _turn) = self.begin_write().await?;
        // updated_at only grows, so the revision changes even for two edits in one millisecond.
        let newest = sqlx::query(
            "SELECT COALESCE(MAX(updated_at), 0) AS at FROM workspace_activities WHERE workspace_id = $1",
        )
        .bind(workspace_id)
        .fetch_one(&mut *tx)
        .await?
        .i64("at")?;
        let now = now_ms().max(newest + 1);
        sqlx::query(
            "INSERT INTO workspace_activities (workspace_id, code, name, gloss, description, synonyms, \
             keywords, context, phases, created_at, updated_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) \
             ON CONFLICT (workspace_id, code) DO UPDATE SET name = excluded.name, \
             gloss = excluded.gloss, description = excluded.description, synonyms = excluded.synonyms, \
             keywords = excluded.keywords, context = excluded.context, phases = excluded.phases, \
             updated_at = excluded.updated_at, retired_at = CASE WHEN excluded.retired_at IS NULL \
             THEN NULL ELSE COALESCE(workspace_activities.retired_at, excluded.retired_at) END",
        )
        .bind(workspace_id)
        .bind(&a.code)
        .bind(a.name.as_deref())
        .bind(a.gloss.as_deref())
        .bind(a.description.as_deref())
        .bind(list_to(&a.synonyms))
        .bind(list_to(&a.keywords))
        .bind(list_to(&a.context))
        .bind(list_to(&a.phases))
        .bind(now)
        .bind(a.retired.then_some(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The change cursor of a document (`None` if it does not exist).
    pub async fn doc_seq(&self, id: &str) -> Result<Option<i64>, DbError> {
        let row = sqlx::query("SELECT seq FROM documents WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.i64("seq")).transpose()?)
    }

    /// Record what was read from a document at change cursor `seq`.
    pub async fn index_doc(
        &self,
        id: &str,
        workspace_id: i64,
        persona_id: Option<&str>,
        seq: i64,
    ) -> Result<(), DbError> {
        let (mut tx, _turn) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO doc_index (doc_id, workspace_id, persona_id, indexed_seq) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (doc_id) DO UPDATE SET persona_id = excluded.persona_id, \
             indexed_seq = excluded.indexed_seq",
        )
        .bind(id)
        .bind(workspace_id)
        .bind(persona_id)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether people judged a story, as the tagger last recorded it: the fingerprint of its text
    /// and their decisions, `None` when nobody has (or it was never indexed).
    pub async fn doc_judged(&self, id: &str) -> Result<Option<String>, DbError> {
        let row = sqlx::query("SELECT judged FROM doc_index WHERE doc_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.opt_string("judged")).transpose()?.flatten())
    }

    /// Record whether people judged an indexed story (see [`Db::doc_judged`]).
    pub async fn set_doc_judged(&self, id: &str, judged: Option<&str>) -> Result<(), DbError> {
        let (mut tx, _turn) = self.begin_write().await?;
        sqlx::query("UPDATE doc_index SET judged = $1 WHERE doc_id = $2")
            .bind(judged)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A workspace's live stories that people judged (`judged`) or that nobody judged, by id.
    pub async fn docs_by_judgement(
        &self,
        workspace_id: i64,
        judged: bool,
    ) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT i.doc_id FROM doc_index i JOIN documents d ON d.id = i.doc_id \
             WHERE i.workspace_id = $1 AND d.workspace_id = $1 AND d.deleted_at IS NULL \
             AND d.doc_type = 'story' AND (CASE WHEN i.judged IS NULL THEN 0 ELSE 1 END) = $2 \
             ORDER BY i.doc_id",
        )
        .bind(workspace_id)
        .bind(i64::from(judged))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.string("doc_id"))
            .collect::<Result<_, _>>()?)
    }

    /// Workspaces with at least one live story people judged.
    pub async fn workspaces_with_judged_docs(&self) -> Result<Vec<i64>, DbError> {
        let rows = sqlx::query(
            "SELECT DISTINCT i.workspace_id AS w FROM doc_index i JOIN documents d ON d.id = i.doc_id \
             WHERE i.judged IS NOT NULL AND d.deleted_at IS NULL ORDER BY i.workspace_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.i64("w")).collect::<Result<_, _>>()?)
    }

    /// Live documents changed since they were last indexed (or never indexed), oldest first.
    pub async fn docs_to_index(&self, limit: i64) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT d.id FROM documents d LEFT JOIN doc_index i ON i.doc_id = d.id \
             WHERE d.deleted_at IS NULL AND (i.doc_id IS NULL OR i.indexed_seq < d.seq) \
             ORDER BY d.seq LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.string("id"))
            .collect::<Result<_, _>>()?)
    }

    /// Ids of live documents of one type visible to `viewer`, oldest first.
    pub async fn visible_docs(
        &self,
        viewer: Viewer,
        doc_type: &str,
    ) -> Result<Vec<String>, DbError> {
        let mut sql = Sql::new("SELECT d.id FROM documents d WHERE d.doc_type = ");
        sql.push("?", vec![Bind::T(doc_type.to_string())]);
        viewer.may_see(&mut sql, "d", Erased::Hidden);
        sql.push(" ORDER BY d.created_at, d.id", vec![]);
        let rows = sql.query().fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| r.string("id"))
            .collect::<Result<_, _>>()?)
    }

    /// Ids of live stories linked to `persona_id` and visible to `viewer`, oldest first.
    pub async fn persona_stories(
        &self,
        viewer: Viewer,
        persona_id: &str,
    ) -> Result<Vec<String>, DbError> {
        let mut sql = Sql::new(
            "SELECT d.id FROM doc_index i JOIN documents d ON d.id = i.doc_id \
             WHERE d.doc_type = 'story' AND i.persona_id = ",
        );
        sql.push("?", vec![Bind::T(persona_id.to_string())]);
        viewer.may_see(&mut sql, "d", Erased::Hidden);
        sql.push(" ORDER BY d.created_at, d.id", vec![]);
        let rows = sql.query().fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| r.string("id"))
            .collect::<Result<_, _>>()?)
    }
}
