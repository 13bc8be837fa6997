//! The coordinators' workspace: figures with their unit (count or share), and the audit log as
//! admins read it.

use super::{Db, DbError, RowExt, now_ms};
use serde::{Deserialize, Serialize};

/// What a figure's value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A number of people, visits, conversations, ...
    Count,
    /// A share in percent; stored in hundredths of a percent.
    Percent,
}

impl Unit {
    pub fn code(self) -> &'static str {
        match self {
            Unit::Count => "count",
            Unit::Percent => "percent",
        }
    }

    pub fn from_code(s: &str) -> Option<Unit> {
        match s {
            "count" | "aantal" => Some(Unit::Count),
            "percent" | "procent" | "%" => Some(Unit::Percent),
            _ => None,
        }
    }
}

/// One figure as the workspace shows it. `value` is the number as people read it (a percentage
/// for shares); `stored` is what the database holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WsFigure {
    pub activity_code: String,
    pub municipality: String,
    pub quarter: String,
    pub metric: String,
    pub unit: Unit,
    pub value: f64,
    pub source: Option<String>,
}

impl WsFigure {
    /// The integer stored for this figure (hundredths of a percent for shares).
    pub fn stored(&self) -> i64 {
        match self.unit {
            Unit::Count => self.value.round() as i64,
            Unit::Percent => (self.value * 100.0).round() as i64,
        }
    }
}

/// One row of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub member_id: Option<i64>,
    pub member_name: Option<String>,
    pub member_email: Option<String>,
    pub action: String,
    pub doc_id: Option<String>,
    pub detail: Option<String>,
}

impl Db {
    /// Insert or replace figures as one transaction: all of them or none. `member_id`: who
    /// entered them (`None` for seeded figures, which carry no author or time).
    pub async fn put_ws_figures(
        &self,
        workspace_id: i64,
        member_id: Option<i64>,
        figures: &[WsFigure],
    ) -> Result<(), DbError> {
        let (mut tx, _turn) = self.begin_write().await?;
        let now = member_id.map(|_| now_ms());
        for f in figures {
            sqlx::query(
                "INSERT INTO figures (workspace_id, activity_code, municipality, quarter, metric, \
                 value, source, unit, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (workspace_id, activity_code, municipality, quarter, metric) \
                 DO UPDATE SET value = excluded.value, source = excluded.source, \
                 unit = excluded.unit, updated_by = excluded.updated_by, \
                 updated_at = excluded.updated_at",
            )
            .bind(workspace_id)
            .bind(&f.activity_code)
            .bind(&f.municipality)
            .bind(&f.quarter)
            .bind(&f.metric)
            .bind(f.stored())
            .bind(f.source.as_deref())
            .bind(f.unit.code())
            .bind(member_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every figure of the workspace (optionally of one activity), ordered for charts.
    pub async fn ws_figures(
        &self,
        workspace_id: i64,
        activity: Option<&str>,
    ) -> Result<Vec<WsFigure>, DbError> {
        let rows = sqlx::query(
            "SELECT activity_code, municipality, quarter, metric, value, source, unit FROM figures \
             WHERE workspace_id = $1 AND ($2 = '' OR activity_code = $2) \
             ORDER BY activity_code, metric, municipality, quarter",
        )
        .bind(workspace_id)
        .bind(activity.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let unit = Unit::from_code(&r.string("unit")?).unwrap_or(Unit::Count);
            let stored = r.i64("value")?;
            out.push(WsFigure {
                activity_code: r.string("activity_code")?,
                municipality: r.string("municipality")?,
                quarter: r.string("quarter")?,
                metric: r.string("metric")?,
                unit,
                value: match unit {
                    Unit::Count => stored as f64,
                    Unit::Percent => stored as f64 / 100.0,
                },
                source: r.opt_string("source")?,
            });
        }
        Ok(out)
    }

    /// The newest audit entries of a workspace (at most `limit`), newest first.
    pub async fn audit_entries(
        &self,
        workspace_id: i64,
        action: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, DbError> {
        let rows = sqlx::query(
            "SELECT a.id, a.at, a.member_id, m.name AS member_name, m.email AS member_email, \
             a.action, a.doc_id, a.detail FROM audit_log a \
             LEFT JOIN members m ON m.id = a.member_id \
             WHERE a.workspace_id = $1 AND ($2 = '' OR a.action = $2) \
             ORDER BY a.at DESC, a.id DESC LIMIT $3",
        )
        .bind(workspace_id)
        .bind(action.unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.i64("id")?,
                    at: r.i64("at")?,
                    member_id: r.opt_i64("member_id")?,
                    member_name: r.opt_string("member_name")?,
                    member_email: r.opt_string("member_email")?,
                    action: r.string("action")?,
                    doc_id: r.opt_string("doc_id")?,
                    detail: r.opt_string("detail")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::Sqlx)
    }
    /// The languages the workspace expects its stories in, in the admin's order; empty when none
    /// were set (the transcriber then uses the server's list).
    pub async fn workspace_languages(&self, workspace_id: i64) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT code FROM workspace_languages WHERE workspace_id = $1 ORDER BY position",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.string("code"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::Sqlx)
    }

    /// Replace the workspace's expected languages (an empty list: back to the server's), as one
    /// transaction. The caller checks the codes.
    pub async fn set_workspace_languages(
        &self,
        workspace_id: i64,
        codes: &[String],
    ) -> Result<(), DbError> {
        let (mut tx, _turn) = self.begin_write().await?;
        sqlx::query("DELETE FROM workspace_languages WHERE workspace_id = $1")
            .bind(workspace_id)
            .execute(&mut *tx)
            .await?;
        for (position, code) in codes.iter().enumerate() {
            sqlx::query(
                "INSERT INTO workspace_languages (workspace_id, code, position) VALUES ($1, $2, $3)",
            )
            .bind(workspace_id)
            .bind(code)
            .bind(position as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
