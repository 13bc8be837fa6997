//! The coordinators' workspace: REST under `/api/v1/workspace/…` (the web app at `/werkruimte/`
//! is served by `http/assets.rs`; the desk's lists and exports are `http/desk.rs`).
//!
//! Coordinators only ([`Coordinator`]), except the audit log ([`Admin`]). A story the caller may not see answers 404.
//! Every answer that carries a whole story is logged as `story.opened` (opening it, and the story
//! returned after a review or tag decision), every export as `workspace.exported`; review and tag
//! decisions are written into the story document through the hub with the coordinator's own
//! actor, so devices receive them.

use super::auth::{Admin, Coordinator};
use super::json::ApiJson;
use super::{ApiError, AppState};
use crate::db::accounts::Member;
use crate::db::workspace::WsFigure;
use crate::sync::hub::Writer;
use crate::workspace::csv::{
    ActivityNames, FigureFields, Known, RowError, check_figure, parse_figures, template,
};
use crate::workspace::desk::attribute_rows;
use crate::workspace::evidence::Evidence;
use crate::workspace::labels::Lang;
use crate::workspace::review;
use crate::workspace::{StoryRow, export};
use automerge::Automerge;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use client_core::story::{self, Comment, ReviewState, StoryError, Tag, TagState, tag_versions};
use client_core::wire::DocumentId;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workspace/stories/{id}", get(open))
        .route("/workspace/stories/{id}/review", post(review))
        .route("/workspace/stories/{id}/tags/{code}", post(decide_tag))
        .route("/workspace/figures", get(figures).put(put_figure))
        .route("/workspace/figures/import", post(import))
        .route("/workspace/figures/template.csv", get(figures_template))
        .route("/workspace/export/figures.csv", get(figures_csv))
        .route("/workspace/audit", get(audit_log))
}

/// The story if the coordinator may see it; 404 otherwise (other workspace, erased, persona).
async fn visible_story(
    state: &AppState,
    member: &Member,
    id: &str,
) -> Result<(DocumentId, StoryRow), ApiError> {
    let doc_id: DocumentId = id.parse().map_err(|_| ApiError::NotFound)?;
    let (meta, _) = state
        .db
        .doc_meta(id, member.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if meta.workspace_id != member.workspace_id || meta.deleted || meta.doc_type != "story" {
        return Err(ApiError::NotFound);
    }
    let r = state
        .hub
        .read(doc_id, crate::workspace::read_story)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .ok_or(ApiError::NotFound)?;
    let municipalities = state.db.municipalities(member.workspace_id).await?;
    let row = r.row_in(id.to_string(), &municipalities);
    let mut rows = attribute_rows(&state.db, vec![(row, r.authors)]).await?;
    let row = rows.pop().ok_or(ApiError::NotFound)?;
    Ok((doc_id, row))
}

/// A story as the story window shows it: the row, what was recorded beside the text (voice
/// notes, photos, timed transcript, the words behind each tag suggestion) and who recorded it.
#[derive(Serialize)]
struct StoryView {
    #[serde(flatten)]
    row: StoryRow,
    #[serde(flatten)]
    evidence: Evidence,
    /// The member who recorded the story, by the name the server knows them by (never an
    /// address, never the name written inside the document).
    recorded_by: Option<String>,
}

/// One story, whole. Logged: who opened which story, when.
async fn open(
    State(state): State<AppState>,
    Coordinator(member): Coordinator,
    Path(id): Path<String>,
) -> Result<Json<StoryView>, ApiError> {
    let (doc_id, row) = visible_story(&state, &member, &id).await?;
    let mut evidence = state
        .hub
        .read(doc_id, crate::workspace::evidence::read)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .unwrap_or_default();
    for m in &mut evidence.media {
        m.available = crate::media::uploads::available(&state.media, &m.sha256, &id).await?;
    }
    let recorded_by = match state.db.doc_meta(&id, member.id).await? {
        // A name is never an address: one typed as such shows only its part before the `@`.
        Some((meta, _)) => {
            state
                .db
                .member(meta.recorder_id)
                .await?
                .map(|m| match m.name.split_once('@') {
                    Some((local, _)) => local.to_string(),
                    None => m.name,
                })
        }
        None => None,
    };
    opened(&state, &member, &id, None).await?;
    Ok(Json(StoryView {
        row,
        evidence,
        recorded_by,
    }))
}

/// Log that `member` received the whole of story `id` (`story.opened`): every answer that
/// carries a story's content writes it, `via` naming the answer when it is not `open`.
async fn opened(
    state: &AppState,
    member: &Member,
    id: &str,
    via: Option<&str>,
) -> Result<(), ApiError> {
    state
        .db
        .audit_by(member, "story.opened", Some(id), via)
        .await?;
    Ok(())
}

/// Write into a story as the coordinator, with their own actor, so the field member's device
/// receives it like any change. False when the story no longer exists.
async fn change_as_coordinator(
    state: &AppState,
    member: &Member,
    doc_id: DocumentId,
    f: impl FnOnce(&mut Automerge) -> Result<(), StoryError>,
) -> Result<bool, ApiError> {
    let mut failed = None;
    let changed = state
        .hub
        .server_change(doc_id, Writer::Coordinator(member.id), |doc| {
            f(doc).map_err(|e| failed = Some(e)).is_ok()
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    if changed {
        // The desk shows the decision at once, not after the indexer's debounce.
        state.index.index(&doc_id.to_string()).await?;
    }
    match failed {
        Some(e) => Err(ApiError::Internal(e.into())),
        None => Ok(changed),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewRequest {
    state: ReviewState,
    #[serde(default)]
    comment: Option<String>,
    /// With an approval: the quote's spans kept visible on purpose, `kind:text` (issue 16).
    #[serde(default)]
    keep: Vec<String>,
}

/// Set the review state, with a comment (required when sending a story back). Written into the
/// story as the coordinator, so the field member's device receives it.
async fn review(
    State(state): State<AppState>,
    Coordinator(member): Coordinator,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> Result<Json<StoryRow>, ApiError> {
    let member = &member;
    let (doc_id, _) = visible_story(&state, member, &id).await?;
    let comment = review::comment(req.comment);
    if let Some(why) = review::refused(req.state, comment.as_deref(), &req.keep) {
        return Err(ApiError::BadRequest(why.into()));
    }
    let now = crate::db::now_ms();
    let by = member.name.clone();
    let comment_id = format!("c{:016x}", rand::random::<u64>());
    let changed = change_as_coordinator(&state, member, doc_id, |doc| {
        // An approval is of a version: it records the heads it approved.
        if req.state == ReviewState::Approved {
            story::ownership::approve_keeping(doc, &by, now, &req.keep)?;
        } else {
            story::set_review(doc, req.state, &by, now)?;
        }
        match &comment {
            Some(text) => story::add_comment(
                doc,
                &Comment {
                    id: comment_id.clone(),
                    author: by.clone(),
                    at: now,
                    text: text.clone(),
                },
            ),
            None => Ok(()),
        }
    })
    .await?;
    if !changed {
        return Err(ApiError::NotFound);
    }
    state
        .db
        .audit_by(member, "story.reviewed", Some(&id), Some(req.state.code()))
        .await?;
    let (_, row) = visible_story(&state, member, &id).await?;
    opened(&state, member, &id, Some("review")).await?;
    Ok(Json(row))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagRequest {
    state: TagState,
}

/// Confirm or reject an activity tag (a suggested one, or add a confirmed one).
async fn decide_tag(
    State(state): State<AppState>,
    Coordinator(member): Coordinator,
    Path((id, code)): Path<(String, String)>,
    ApiJson(req): ApiJson<TagRequest>,
) -> Result<Json<StoryRow>, ApiError> {
    let member = &member;
    let (doc_id, _) = visible_story(&state, member, &id).await?;
    if req.state == TagState::Suggested {
        return Err(ApiError::BadRequest("confirm or reject a tag".into()));
    }
    let taxonomy = super::taxonomy::merged(&state, member).await?;
    if !taxonomy.activities.iter().any(|a| a.code == code) {
        return Err(ApiError::NotFound);
    }
    let now = crate::db::now_ms();
    let by = member.name.clone();
    change_as_coordinator(&state, member, doc_id, |doc| {
        let current = tag_versions(&*doc)
            .remove(&code)
            .and_then(|v| v.into_iter().next());
        let tag = Tag {
            code: code.clone(),
            state: req.state,
            by: by.clone(),
            at: now,
            score: current.as_ref().and_then(|t| t.score),
            evidence: current.map(|t| t.evidence).unwrap_or_default(),
        };
        story::set_tag(doc, &tag)
    })
    .await?;
    state
        .db
        .audit_by(
            member,
            "story.tagged",
            Some(&id),
            Some(&format!("{code} {}", req.state.code())),
        )
        .await?;
    let (_, row) = visible_story(&state, member, &id).await?;
    opened(&state, member, &id, Some("tag")).await?;
    Ok(Json(row))
}

#[derive(Deserialize)]
struct FigureQuery {
    activity: Option<String>,
}

async fn figures(
    State(state): State<AppState>,
    Coordinator(member): Coordinator,
    Query(q): Query<FigureQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let figures = state
        .db
        .ws_figures(member.workspace_id, q.activity.as_deref())
        .await?;
    Ok(Json(serde_json::json!({ "figures": figures })))
}

/// What figures are checked against: the workspace's activities (codes and names) and its
/// municipalities.
async fn known(state: &AppState, member: &Member) -> Result<Known, ApiError> {
    let taxonomy = super::taxonomy::merged(state, member).await?;
    let municipalities = state
        .db
        .municipalities(member.workspace_id)
        .await?
        .into_iter()
        .collect();
    Ok(Known {
        activities: ActivityNames::new(&taxonomy.activities),
        municipalities,
    })
}

/// The language of the screen that sent the request: `?lang=`, else `Accept-Language`, else
/// Dutch.
#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

fn screen_lang(q: &LangQuery, headers: &HeaderMap) -> Lang {
    Lang::pick(
        q.lang.as_deref(),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Nothing imported: every bad row, with its line, in the screen's language (422).
fn invalid(errors: Vec<RowError>, lang: Lang) -> ApiError {
    let message = if lang.english() {
        format!(
            "{} line(s) are not valid; nothing was imported",
            errors.len()
        )
    } else {
        format!(
            "{} regel(s) kloppen niet; er is niets geïmporteerd",
            errors.len()
        )
    };
    let mut detail = serde_json::Map::new();
    detail.insert("imported".into(), 0.into());
    detail.insert("errors".into(), serde_json::json!(errors));
    ApiError::Unprocessable { message, detail }
}

/// Import figures from CSV (`docs/workspace.md`). All rows or none: every bad row is reported
/// with its line number, in the screen's language, and nothing is stored.
async fn import(
    State(state): State<AppState>,
    Coordinator(member): Coordinator,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let member = &member;
    let lang = screen_lang(&q, &headers);
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::BadRequest(if lang.english() {
            "the file is not UTF-8 text: save it as \"CSV UTF-8\"".into()
        } else {
            "het bestand is geen UTF-8-tekst: sla het op als \"CSV UTF-8\"".into()
        })
    })?;
    let known = known(&state, member).await?;
    let figures = match parse_figures(text, &known, lang) {
        Ok(f) => f,
        Err(errors) => return Err(invalid(errors, lang)),
    };
    state
        .db
        .put_ws_figures(member.workspace_id, Some(member.id), &figures)
        .await?;
    state
        .db
        .audit_by(
            member,
            "figures.imported",
            None,
            Some(&format!("{} figures", figures.len())),
        )
        .await?;
    Ok(Json(serde_json::json!({ "imported": figures.len() })).into_response())
}

/// A figures file to fill in, in the screen's language, with the workspace's activities by name.
async fn figures_template(
    State(state): State<AppState>,
    Coordinator(member): Coordinator,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let member = &member;
    let lang = screen_lang(&q, &headers);
    let taxonomy = super::taxonomy::merged(&state, member).await?;
    let activities: Vec<(String, String)> = taxonomy
        .activities
        .iter()
        .filter(|a| !a.retired)
        .map(|a| (a.code.clone(), a.name.clone()))
        .collect();
    let municipalities = state.db.municipalities(member.workspace_id).await?;
    let name = if lang.english() {
        "figures-template.csv"
    } else {
        "cijfers-sjabloon.csv"
    };
    Ok(download(
        "text/csv; charset=utf-8",
        name,
        template(lang, &activities, &municipalities),
    ))
}

/// Enter or correct one figure by hand (same validation as an import).
async fn put_figure(
    State(state): State<AppState>,
    Coordinator(member): Coordinator,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    ApiJson(f): ApiJson<WsFigure>,
) -> Result<Response, ApiError> {
    let member = &member;
    let lang = screen_lang(&q, &headers);
    let known = known(&state, member).await?;
    let value = f.value.to_string();
    let written = FigureFields {
        activity: &f.activity_code,
        municipality: &f.municipality,
        quarter: &f.quarter,
        metric: &f.metric,
        value: &value,
        unit: f.unit.code(),
        source: f.source.as_deref().unwrap_or_default(),
    };
    let figures = [check_figure(&written, &known, lang)
        .map_err(|problems| ApiError::BadRequest(problems.join("; ")))?];
    state
        .db
        .put_ws_figures(member.workspace_id, Some(member.id), &figures)
        .await?;
    state
        .db
        .audit_by(
            member,
            "figures.edited",
            None,
            Some(&format!(
                "{} {} {} {}",
                f.activity_code, f.municipality, f.quarter, f.metric
            )),
        )
        .await?;
    Ok(Json(serde_json::json!({ "saved": figures })).into_response())
}

pub(super) fn download(
    mime: &'static str,
    name: &str,
    body: impl Into<axum::body::Body>,
) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut resp = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body.into(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

pub(super) async fn exported(
    state: &AppState,
    member: &Member,
    what: &str,
) -> Result<(), ApiError> {
    state
        .db
        .audit_by(member, "workspace.exported", None, Some(what))
        .await?;
    Ok(())
}

async fn figures_csv(
    State(state): State<AppState>,
    Coordinator(member): Coordinator,
    Query(q): Query<FigureQuery>,
) -> Result<Response, ApiError> {
    let figures = state
        .db
        .ws_figures(member.workspace_id, q.activity.as_deref())
        .await?;
    exported(&state, &member, "figures.csv").await?;
    Ok(download(
        "text/csv; charset=utf-8",
        "cijfers.csv",
        export::figures_csv(&figures),
    ))
}

#[derive(Deserialize)]
struct AuditQuery {
    action: Option<String>,
    limit: Option<i64>,
}

/// The audit log of the workspace, newest first: admins only.
async fn audit_log(
    State(state): State<AppState>,
    Admin(member): Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = q.limit.unwrap_or(500).clamp(1, 5000);
    let entries = state
        .db
        .audit_entries(member.workspace_id, q.action.as_deref(), limit)
        .await?;
    Ok(Json(serde_json::json!({ "entries": entries })))
}
