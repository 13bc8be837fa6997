//! Login, enrollment, logout, and the [`AuthMember`] extractor every protected handler uses (with
//! [`Coordinator`] and [`Admin`] for handlers of one role).

use super::json::ApiJson;
use super::{ApiError, AppState};
use crate::auth::{self as secrets, policy};
use crate::db::accounts::{Member, Role, Workspace};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
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
            .sessions
            .member(&token_hash)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(AuthMember { member, token_hash })
    }
}

/// The member behind the token if they have `role`: 403 for anyone else signed in.
async fn member_in_role(
    parts: &mut Parts,
    state: &AppState,
    role: Role,
) -> Result<Member, ApiError> {
    let AuthMember { member, .. } = AuthMember::from_request_parts(parts, state).await?;
    if member.role == role {
        Ok(member)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// A coordinator of the workspace (403 for anyone else signed in): the extractor of every
/// coordinator-only handler, in place of checking the role inside it.
pub struct Coordinator(pub Member);

impl FromRequestParts<AppState> for Coordinator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        member_in_role(parts, state, Role::Coordinator)
            .await
            .map(Coordinator)
    }
}

/// An administrator of the workspace (403 for anyone else signed in).
pub struct Admin(pub Member);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        member_in_role(parts, state, Role::Admin).await.map(Admin)
    }
}

/// The client's address for login limits: the peer of the TCP connection, or with
/// `--trust-forwarded-for` the last `X-Forwarded-For` entry (the one the proxy appended).
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.trust_forwarded_for
            && let Some(ip) = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
        {
            return Ok(ClientAddr(ip));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            // Served without connection info (in-process router tests): one shared address.
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Ok(ClientAddr(peer))
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

/// Longest e-mail address (RFC 5321); longer ones cannot be an account.
const MAX_EMAIL: usize = 254;

async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<Session>, ApiError> {
    let email = req.email.trim().to_lowercase();
    if email.len() > MAX_EMAIL {
        return Err(ApiError::BadRequest("e-mail address too long".into()));
    }
    let attempt = state
        .limits
        .begin_login(&email, client, Instant::now())
        .map_err(ApiError::TooManyRequests)?;
    let found = state.db.member_by_email(&email).await?;
    let member = match secrets::check_login(&state.passwords, found, req.password).await {
        Ok(m) => m,
        Err(secrets::Busy) => {
            attempt.not_checked();
            return Err(ApiError::Busy);
        }
    };
    match member {
        Some(member) => {
            attempt.succeeded();
            Ok(Json(session_for(&state, member).await?))
        }
        None => {
            attempt.failed();
            Err(ApiError::Unauthorized)
        }
    }
}

/// Redeem a one-time enrollment code: set a password and get a session.
async fn enroll(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> Result<Json<Session>, ApiError> {
    let attempt = state
        .limits
        .begin_enroll(client, Instant::now())
        .map_err(ApiError::TooManyRequests)?;
    if let Err(problem) = policy::check(&req.password) {
        attempt.not_checked();
        return Err(ApiError::WeakPassword(problem));
    }
    let code_hash = secrets::sha256_hex(&secrets::normalise_code(&req.code));
    // A wrong code costs no password hash.
    if !state.db.enrollment_open(&code_hash).await? {
        attempt.failed();
        return Err(ApiError::Unauthorized);
    }
    let hash = match state.passwords.hash(req.password).await {
        Ok(hash) => hash?,
        Err(secrets::Busy) => {
            attempt.not_checked();
            return Err(ApiError::Busy);
        }
    };
    // The code may have been used meanwhile: redeeming is the one atomic step.
    let Some(member) = state.db.redeem_enrollment(&code_hash, &hash).await? else {
        attempt.failed();
        return Err(ApiError::Unauthorized);
    };
    attempt.succeeded();
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

/// Revoke the caller's token and end its open sync connections on this process (other
/// processes notice within `--session-check-secs`).
async fn logout(
    State(state): State<AppState>,
    auth: AuthMember,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.db.revoke_token(&auth.token_hash).await?;
    state.sessions.end(&auth.token_hash);
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
