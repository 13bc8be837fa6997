//! The audit log: who did what to which document, and when. Never story content.

use super::{Db, DbError, now_ms};

impl Db {
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
