//! Login, enrollment, logout, and the [`AuthMember`] extractor every protected handler uses.

use super::json::ApiJson;
use super::{ApiError, AppState};
use crate::auth::{self as secrets};
use crate::db::accounts::{Member, Workspace};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::time::Instant;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/enroll", post(enroll))
        .route("/auth/logout", post(logout))
        .route("/me", get(me))
}

/// The member behind the bearer token (from `Authorization: Bearer` or the `token` query
/// parameter, since browsers cannot set headers on websockets).
pub struct AuthMember {
    pub member: Member,
    pub token_hash: String,
}

fn token_from(parts: &Parts) -> Option<String> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION)
        && let Ok(s) = h.to_str()
        && let Some(t) = s.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_string());
    }
    parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("token=").map(str::to_string))
    })
}

impl FromRequestParts<AppState> for AuthMember {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token_from(parts).ok_or(ApiError::Unauthorized)?;
        let token_hash = secrets::sha256_hex(&token);
        let member = state
            .db
            .member_by_token(&token_hash)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(AuthMember { member, token_hash })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollRequest {
    code: String,
    password: String,
}

#[derive(Serialize)]
struct Session {
    token: String,
    member: Member,
    workspace: Workspace,
}

async fn session_for(state: &AppState, member: Member) -> Result<Session, ApiError> {
    let token = secrets::new_token();
    state
        .db
        .insert_token(&secrets::sha256_hex(&token), member.id)
        .await?;
    let workspace = state
        .db
        .workspace(member.workspace_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Session {
        token,
        member,
        workspace,
    })
}

async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<Session>, ApiError> {
    let email = req.email.trim().to_lowercase();
    let now = Instant::now();
    if !state.login_limiter.allowed(&email, now) {
        return Err(ApiError::TooManyRequests);
    }
    let found = state.db.member_by_email(&email).await?;
    let password = req.password;
    let ok_member = tokio::task::spawn_blocking(move || match found {
        Some(m) if !m.disabled => match m.password_hash {
            Some(hash) if secrets::verify_password(&password, &hash) => Some(m.member),
            _ => None,
        },
        _ => {
            secrets::burn_verification(&password);
            None
        }
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    match ok_member {
        Some(member) => {
            state.login_limiter.clear(&email);
            Ok(Json(session_for(&state, member).await?))
        }
        None => {
            state.login_limiter.record_failure(&email, now);
            Err(ApiError::Unauthorized)
        }
    }
}

/// Redeem a one-time enrollment code: set a password and get a session.
async fn enroll(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> Result<Json<Session>, ApiError> {
    let code = secrets::normalise_code(&req.code);
    let now = Instant::now();
    let key = "enroll";
    if !state.login_limiter.allowed(key, now) {
        return Err(ApiError::TooManyRequests);
    }
    if req.password.chars().count() < 8 {
        return Err(ApiError::BadRequest(
            "password must have at least 8 characters".into(),
        ));
    }
    let password = req.password;
    let hash = tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    match state
        .db
        .redeem_enrollment(&secrets::sha256_hex(&code), &hash)
        .await?
    {
        Some(member) => {
            state
                .db
                .audit(
                    Some(member.workspace_id),
                    Some(member.id),
                    "member.enrolled",
                    None,
                    None,
                )
                .await?;
            Ok(Json(session_for(&state, member).await?))
        }
        None => {
            state.login_limiter.record_failure(key, now);
            Err(ApiError::Unauthorized)
        }
    }
}

async fn logout(
    State(state): State<AppState>,
    auth: AuthMember,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.db.revoke_token(&auth.token_hash).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

async fn me(
    State(state): State<AppState>,
    auth: AuthMember,
) -> Result<Json<serde_json::Value>, ApiError> {
    let workspace = state
        .db
        .workspace(auth.member.workspace_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(
        serde_json::json!({ "member": auth.member, "workspace": workspace }),
    ))
}
