//! Workspaces, members and tokens.

use super::{Db, DbError, RowExt, now_ms};
use serde::Serialize;
use sqlx::any::AnyRow;
use std::collections::HashMap;

/// What a member may do. See `ARCHITECTURE.md` for the access rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Professional,
    Sleutelpersoon,
    Coordinator,
    Admin,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Professional => "professional",
            Role::Sleutelpersoon => "sleutelpersoon",
            Role::Coordinator => "coordinator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "professional" => Some(Role::Professional),
            "sleutelpersoon" => Some(Role::Sleutelpersoon),
            "coordinator" => Some(Role::Coordinator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Workspace {
    pub id: i64,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub id: i64,
    pub workspace_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// A member with the secrets the auth code needs.
pub struct MemberAuth {
    pub member: Member,
    pub password_hash: Option<String>,
    pub disabled: bool,
}

fn workspace_from(row: &AnyRow) -> Result<Workspace, sqlx::Error> {
    Ok(Workspace {
        id: row.i64("id")?,
        slug: row.string("slug")?,
        name: row.string("name")?,
    })
}

fn member_from(row: &AnyRow) -> Result<Member, sqlx::Error> {
    let role = row.string("role")?;
    Ok(Member {
        id: row.i64("id")?,
        workspace_id: row.i64("workspace_id")?,
        email: row.string("email")?,
        name: row.string("name")?,
        role: Role::parse(&role)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown role {role}").into()))?,
    })
}

const MEMBER_COLS: &str = "id, workspace_id, email, name, role, password_hash, disabled";

impl Db {
    pub async fn create_workspace(&self, slug: &str, name: &str) -> Result<Workspace, DbError> {
        if self.workspace_by_slug(slug).await?.is_some() {
            return Err(DbError::Conflict(format!(
                "workspace {slug} already exists"
            )));
        }
        let row = sqlx::query(
            "INSERT INTO workspaces (slug, name, created_at) VALUES ($1, $2, $3) RETURNING id, slug, name",
        )
        .bind(slug)
        .bind(name)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(workspace_from(&row)?)
    }

    pub async fn workspace_by_slug(&self, slug: &str) -> Result<Option<Workspace>, DbError> {
        let row = sqlx::query("SELECT id, slug, name FROM workspaces WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(workspace_from).transpose()?)
    }

    pub async fn workspace(&self, id: i64) -> Result<Option<Workspace>, DbError> {
        let row = sqlx::query("SELECT id, slug, name FROM workspaces WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(workspace_from).transpose()?)
    }

    /// Add a member. Either a password hash (set directly) or an enrollment code hash is stored.
    pub async fn create_member(
        &self,
        workspace_id: i64,
        email: &str,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
        enrollment: Option<(&str, i64)>,
    ) -> Result<Member, DbError> {
        if self.member_by_email(email).await?.is_some() {
            return Err(DbError::Conflict(format!("member {email} already exists")));
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO members (workspace_id, email, name, role, password_hash, enrollment_hash, \
             enrollment_expires_at, created_at, disabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0) \
             RETURNING {MEMBER_COLS}"
        )))
        .bind(workspace_id)
        .bind(email)
        .bind(name)
        .bind(role.code())
        .bind(password_hash)
        .bind(enrollment.map(|e| e.0))
        .bind(enrollment.map(|e| e.1))
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(member_from(&row)?)
    }

    pub async fn member_by_email(&self, email: &str) -> Result<Option<MemberAuth>, DbError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLS} FROM members WHERE email = $1"
        )))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(MemberAuth {
                member: member_from(&r)?,
                password_hash: r.opt_string("password_hash")?,
                disabled: r.i64("disabled")? != 0,
            })
        })
        .transpose()
        .map_err(DbError::Sqlx)
    }

    pub async fn member(&self, id: i64) -> Result<Option<Member>, DbError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLS} FROM members WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(member_from).transpose()?)
    }

    /// Whether an enrollment code is waiting to be redeemed (not used, not expired, member not
    /// disabled).
    pub async fn enrollment_open(&self, code_hash: &str) -> Result<bool, DbError> {
        let row = sqlx::query(
            "SELECT id FROM members WHERE enrollment_hash = $1 AND enrollment_expires_at > $2 \
             AND disabled = 0",
        )
        .bind(code_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Redeem a one-time enrollment code: set the password and forget the code.
    pub async fn redeem_enrollment(
        &self,
        code_hash: &str,
        password_hash: &str,
    ) -> Result<Option<Member>, DbError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE members SET password_hash = $1, enrollment_hash = NULL, enrollment_expires_at = NULL \
             WHERE enrollment_hash = $2 AND enrollment_expires_at > $3 AND disabled = 0 RETURNING {MEMBER_COLS}"
        )))
        .bind(password_hash)
        .bind(code_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(member_from).transpose()?)
    }

    pub async fn insert_token(&self, token_hash: &str, member_id: i64) -> Result<(), DbError> {
        sqlx::query("INSERT INTO tokens (token_hash, member_id, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(member_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn revoke_token(&self, token_hash: &str) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The member a token belongs to, with its times, unless the token was revoked or the member
    /// disabled. Whether it has expired is decided by `sessions` (lifetimes are configuration).
    pub async fn token_session(&self, token_hash: &str) -> Result<Option<TokenSession>, DbError> {
        let row = sqlx::query(
            "SELECT m.id, m.workspace_id, m.email, m.name, m.role, t.created_at, t.last_used_at \
             FROM tokens t JOIN members m ON m.id = t.member_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND m.disabled = 0",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(token_session_from).transpose()?)
    }

    /// [`Db::token_session`] for many tokens at once (token hash → session); revoked tokens and
    /// those of disabled members are absent.
    pub async fn token_sessions(
        &self,
        token_hashes: &[String],
    ) -> Result<HashMap<String, TokenSession>, DbError> {
        let mut out = HashMap::new();
        for chunk in token_hashes.chunks(200) {
            // Built from fixed fragments only; every value is bound.
            let sql = format!(
                "SELECT t.token_hash, m.id, m.workspace_id, m.email, m.name, m.role, t.created_at, \
                 t.last_used_at FROM tokens t JOIN members m ON m.id = t.member_id \
                 WHERE t.token_hash IN ({}) AND t.revoked_at IS NULL AND m.disabled = 0",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for h in chunk {
                q = q.bind(h.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.insert(r.string("token_hash")?, token_session_from(&r)?);
            }
        }
        Ok(out)
    }

    /// Record that these tokens were used at `now_ms`.
    pub async fn touch_tokens(&self, token_hashes: &[String], now_ms: i64) -> Result<(), DbError> {
        for chunk in token_hashes.chunks(200) {
            let sql = format!(
                "UPDATE tokens SET last_used_at = $1 WHERE token_hash IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_ms);
            for h in chunk {
                q = q.bind(h.as_str());
            }
            q.execute(&self.pool).await?;
        }
        Ok(())
    }
}

/// A live token: whose it is and when it was made and last used (milliseconds since the epoch).
#[derive(Debug, Clone)]
pub struct TokenSession {
    pub member: Member,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

fn token_session_from(row: &AnyRow) -> Result<TokenSession, sqlx::Error> {
    Ok(TokenSession {
        member: member_from(row)?,
        created_at: row.i64("created_at")?,
        last_used_at: row.opt_i64("last_used_at")?,
    })
}

/// `$first, $first+1, …` for `n` bound values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
