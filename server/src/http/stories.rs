//! Stories (and personas) as REST resources: the changes feed, sharing and erasure.

use super::auth::AuthMember;
use super::json::ApiJson;
use super::{ApiError, AppState};
use crate::db::accounts::{Member, Role};
use crate::db::docs::{FeedEntry, Viewer};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use client_core::wire::DocumentId;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/stories/changes", get(changes))
        .route("/stories/{id}", delete(erase))
        .route("/stories/{id}/erasure", get(erasure))
        .route("/stories/{id}/shares", post(share))
}

/// Query parameters. Unknown ones are ignored: `token` may travel here too (see `AuthMember`).
#[derive(Deserialize)]
struct ChangesQuery {
    #[serde(default)]
    since: i64,
    limit: Option<i64>,
}

#[derive(Serialize)]
struct ChangesPage {
    changes: Vec<FeedEntry>,
    /// Pass as `since` next time.
    next: i64,
    /// More changes wait beyond this page.
    more: bool,
}

const MAX_PAGE: i64 = 5_000;

/// Story ids (with heads) visible to the caller that changed after the cursor `since`.
async fn changes(
    State(state): State<AppState>,
    auth: AuthMember,
    Query(q): Query<ChangesQuery>,
) -> Result<Json<ChangesPage>, ApiError> {
    let limit = q.limit.unwrap_or(1_000).clamp(1, MAX_PAGE);
    let changes = state
        .db
        .changes_since(Viewer::of(&auth.member), q.since, limit)
        .await?;
    let next = changes.last().map(|c| c.seq).unwrap_or(q.since);
    let more = changes.len() as i64 == limit;
    Ok(Json(ChangesPage {
        changes,
        next,
        more,
    }))
}

fn parse_id(id: &str) -> Result<DocumentId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// Load the document's metadata if the caller may manage it: its recorder or a coordinator of its
/// workspace. Anything else looks exactly like a missing document.
async fn managed(state: &AppState, member: &Member, id: &DocumentId) -> Result<(), ApiError> {
    let (meta, _) = state
        .db
        .doc_meta(&id.to_string(), member.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if meta.visible_to(member, false) {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// Erase a story with its whole history. A tombstone remains so devices purge their copy and a
/// stale device cannot upload it again. The answer says whether the bytes are verified gone from
/// the database's files (200, `verified: true`) or the erasure is still in progress (202): then
/// it completes in the background and `GET /stories/{id}/erasure` tells when it is verified.
async fn erase(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let id = parse_id(&id)?;
    managed(&state, &auth.member, &id).await?;
    let doc = id.to_string();
    let mut verified = state.db.erase_doc(&doc, auth.member.id).await?;
    state.hub.erased(id).await;
    state.media.story_erased(&doc).await;
    state.hub.publish(&doc, true).await;
    state
        .db
        .audit(
            Some(auth.member.workspace_id),
            Some(auth.member.id),
            "story.erased",
            Some(&doc),
            None,
        )
        .await?;
    // A reader may hold the old pages a moment: a few more tries before answering "in progress".
    for _ in 0..2 {
        if verified {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        verified = state.db.verify_erasure(&doc).await?;
    }
    tracing::info!(member = auth.member.id, doc = %id, verified, "story erased");
    if !verified {
        crate::db::erasure::finish_in_background(state.db.clone(), doc.clone());
    }
    let status = if verified {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(serde_json::json!({ "erased": doc, "verified": verified })),
    ))
}

/// Where an erasure stands: for the member who erased the story and the workspace's
/// coordinators.
async fn erasure(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?.to_string();
    let (meta, _) = state
        .db
        .doc_meta(&id, auth.member.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let erased_by = state.db.erased_by(&id).await?;
    let may = meta.workspace_id == auth.member.workspace_id
        && (auth.member.role == Role::Coordinator || erased_by == Some(auth.member.id));
    let status = state.db.erasure_status(&id).await?;
    match status {
        Some(s) if may => Ok(Json(serde_json::json!({
            "erased": id,
            "requested_at": s.requested_at,
            "verified": s.verified_at.is_some(),
            "verified_at": s.verified_at,
        }))),
        _ => Err(ApiError::NotFound),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareRequest {
    member_id: i64,
}

/// Share a story with another member of the same workspace.
async fn share(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ShareRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?;
    managed(&state, &auth.member, &id).await?;
    let other = state
        .db
        .member(req.member_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if other.workspace_id != auth.member.workspace_id {
        return Err(ApiError::NotFound);
    }
    state.db.share_doc(&id.to_string(), other.id).await?;
    state
        .db
        .audit(
            Some(auth.member.workspace_id),
            Some(auth.member.id),
            "story.shared",
            Some(&id.to_string()),
            Some(&format!("member {}", other.id)),
        )
        .await?;
    Ok(Json(serde_json::json!({ "shared_with": other.id })))
}
