//! The audit log: who did what to which document, and when. Never story content.

use super::accounts::Member;
use super::{Db, DbError, now_ms};

/// One entry of the audit log, for [`Db::audit_many`].
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub at: i64,
    pub workspace_id: Option<i64>,
    pub member_id: Option<i64>,
    pub action: &'static str,
    pub doc_id: Option<String>,
    pub detail: Option<String>,
}

impl Db {
    /// Several entries in one transaction (the sync hub's reads, written in batches).
    pub async fn audit_many(&self, entries: &[AuditEntry]) -> Result<(), DbError> {
        let (mut tx, turn) = self.begin_write().await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO audit_log (at, workspace_id, member_id, action, doc_id, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(e.at)
            .bind(e.workspace_id)
            .bind(e.member_id)
            .bind(e.action)
            .bind(e.doc_id.as_deref())
            .bind(e.detail.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        drop(turn);
        Ok(())
    }

    /// [`Db::audit`] of something `member` did in their workspace.
    pub async fn audit_by(
        &self,
        member: &Member,
        action: &str,
        doc_id: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), DbError> {
        self.audit(
            Some(member.workspace_id),
            Some(member.id),
            action,
            doc_id,
            detail,
        )
        .await
    }

    pub async fn audit(
        &self,
        workspace_id: Option<i64>,
        member_id: Option<i64>,
        action: &str,
        doc_id: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO audit_log (at, workspace_id, member_id, action, doc_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now_ms())
        .bind(workspace_id)
        .bind(member_id)
        .bind(action)
        .bind(doc_id)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
