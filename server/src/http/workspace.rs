//! The coordinators' workspace: REST under `/api/v1/workspace/…` and the web app at
//! `/werkruimte/` (static files embedded from `server/workspace-ui/`).
//!
//! Coordinators only, except the audit log (admins). A story the caller may not see answers 404.
//! Every answer that carries a whole story is logged as `story.opened` (opening it, and the story
//! returned after a review or tag decision), every export as `workspace.exported`; review and tag
//! decisions are written into the story document through the hub with the coordinator's own
//! actor, so devices receive them.

use super::auth::AuthMember;
use super::json::ApiJson;
use super::stories::viewer;
use super::{ApiError, AppState};
use crate::db::accounts::{Member, Role};
use crate::db::workspace::{Unit, WsFigure};
use crate::sync::hub::Writer;
use crate::workspace::csv::{
    ActivityNames, FigureFields, Known, RowError, check_figure, parse_figures, template,
};
use crate::workspace::evidence::Evidence;
use crate::workspace::labels::Lang;
use crate::workspace::report::{ReportInput, build};
use crate::workspace::{Search, StoryFilter, StoryRow, export, qdpx, valid_quarter};
use automerge::Automerge;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use client_core::story::{
    self, Comment, Persona, ReviewState, StoryError, Tag, TagState, tag_versions,
};
use client_core::wire::DocumentId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workspace/stories", get(list))
        .route("/workspace/stories/{id}", get(open))
        .route("/workspace/stories/{id}/review", post(review))
        .route("/workspace/stories/{id}/tags/{code}", post(decide_tag))
        .route("/workspace/overview", get(overview))
        .route("/workspace/personas", get(personas))
        .route("/workspace/figures", get(figures).put(put_figure))
        .route("/workspace/figures/import", post(import))
        .route("/workspace/figures/template.csv", get(figures_template))
        .route("/workspace/export/stories.csv", get(stories_csv))
        .route("/workspace/export/figures.csv", get(figures_csv))
        .route("/workspace/export/project.qdpx", get(qdpx_export))
        .route("/workspace/report", get(report))
        .route("/workspace/audit", get(audit_log))
}

/// The web app. Everything is embedded in the binary: nothing is fetched at run time. Its
/// Content-Security-Policy and other security headers come from `http/headers.rs`.
pub fn ui_router() -> Router<AppState> {
    Router::new()
        .route(
            "/werkruimte",
            get(|| async { Redirect::permanent("/werkruimte/") }),
        )
        .route("/werkruimte/", get(|| async { asset("index.html") }))
        .route(
            "/werkruimte/{file}",
            get(|Path(f): Path<String>| async move { asset(&f) }),
        )
}

const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../workspace-ui/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../workspace-ui/app.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../../workspace-ui/chart.js"),
    ),
    (
        "i18n-nl.js",
        "text/javascript; charset=utf-8",
        include_str!("../../workspace-ui/i18n-nl.js"),
    ),
    (
        "i18n-en.js",
        "text/javascript; charset=utf-8",
        include_str!("../../workspace-ui/i18n-en.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../workspace-ui/style.css"),
    ),
];

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::NotFound.into_response(),
    }
}

fn coordinator(member: &Member) -> Result<(), ApiError> {
    if member.role == Role::Coordinator {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Every story of the coordinator's workspace, read from the documents.
async fn rows(state: &AppState, member: &Member) -> Result<Vec<StoryRow>, ApiError> {
    let ids = state.db.visible_docs(viewer(member), "story").await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Ok(doc_id) = id.parse::<DocumentId>() else {
            continue;
        };
        let read = state
            .hub
            .read(doc_id, crate::workspace::read_story)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        if let Some(r) = read {
            out.push((r.row(id), r.authors));
        }
    }
    attribute_rows(state, out).await
}

/// The story if the coordinator may see it; 404 otherwise (other workspace, erased, persona).
async fn visible_story(
    state: &AppState,
    member: &Member,
    id: &str,
) -> Result<(DocumentId, StoryRow), ApiError> {
    coordinator(member)?;
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
    let row = r.row(id.to_string());
    let mut rows = attribute_rows(state, vec![(row, r.authors)]).await?;
    let row = rows.pop().ok_or(ApiError::NotFound)?;
    Ok((doc_id, row))
}

/// Who wrote the comments, tags and review states of `rows`, from the server's own record of
/// actors (one query for all), never from the names written inside the documents.
async fn attribute_rows(
    state: &AppState,
    rows: Vec<(StoryRow, client_core::story::ownership::Authors)>,
) -> Result<Vec<StoryRow>, ApiError> {
    let mut actors: Vec<String> = rows
        .iter()
        .flat_map(|(_, a)| {
            a.comments
                .iter()
                .chain(a.tags.values())
                .chain(a.review.iter())
                .cloned()
        })
        .collect();
    actors.sort();
    actors.dedup();
    let names: std::collections::HashMap<String, String> = state
        .db
        .actor_owners(&actors)
        .await?
        .into_iter()
        .map(|(actor, (owner, name))| {
            (
                actor,
                crate::workspace::writer_name(&owner, name.as_deref()),
            )
        })
        .collect();
    Ok(rows
        .into_iter()
        .map(|(mut row, authors)| {
            crate::workspace::attribute(&mut row, &authors, &names);
            row
        })
        .collect())
}

#[derive(Serialize)]
struct ListItem {
    id: String,
    title: String,
    /// The beginning of the story (the whole story is read through `open`, which is logged).
    excerpt: String,
    kind: Option<&'static str>,
    municipality: Option<String>,
    quarter: Option<String>,
    phase: Option<String>,
    target_group: Option<String>,
    place_type: Option<&'static str>,
    review: &'static str,
    consent_scope: Option<&'static str>,
    told_by: Option<String>,
    persona: Option<String>,
    tags: Vec<crate::workspace::RowTag>,
    quote: Option<String>,
    changed_after_approval: bool,
}

fn item(r: StoryRow) -> ListItem {
    let excerpt: String = r.body.chars().take(160).collect();
    let quote = if r.quotable() { r.quote.clone() } else { None };
    ListItem {
        id: r.id,
        title: r.title,
        excerpt,
        kind: r.kind,
        municipality: r.municipality,
        quarter: r.quarter,
        phase: r.phase,
        target_group: r.target_group,
        place_type: r.place_type,
        review: r.review,
        consent_scope: r.consent_scope,
        told_by: r.told_by,
        persona: r.persona,
        tags: r.tags,
        quote,
        changed_after_approval: r.changed_after_approval,
    }
}

/// Stories of the workspace that match the filters (and the search words in `q`).
async fn list(
    State(state): State<AppState>,
    auth: AuthMember,
    Query(filter): Query<StoryFilter>,
) -> Result<Json<serde_json::Value>, ApiError> {
    coordinator(&auth.member)?;
    let search = Search::new(filter.q.as_deref());
    let mut stories: Vec<StoryRow> = rows(&state, &auth.member)
        .await?
        .into_iter()
        .filter(|r| filter.matches(r, &search))
        .collect();
    stories.sort_by(|a, b| b.captured_at.cmp(&a.captured_at).then(a.id.cmp(&b.id)));
    let items: Vec<ListItem> = stories.into_iter().map(item).collect();
    Ok(Json(serde_json::json!({ "stories": items })))
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
    auth: AuthMember,
    Path(id): Path<String>,
) -> Result<Json<StoryView>, ApiError> {
    let (doc_id, row) = visible_story(&state, &auth.member, &id).await?;
    let mut evidence = state
        .hub
        .read(doc_id, crate::workspace::evidence::read)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .unwrap_or_default();
    for m in &mut evidence.media {
        m.available = crate::media::uploads::available(&state.media, &m.sha256, &id).await?;
    }
    let recorded_by = match state.db.doc_meta(&id, auth.member.id).await? {
        Some((meta, _)) => state.db.member(meta.recorder_id).await?.map(|m| m.name),
        None => None,
    };
    opened(&state, &auth.member, &id, None).await?;
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
        .audit(
            Some(member.workspace_id),
            Some(member.id),
            "story.opened",
            Some(id),
            via,
        )
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
}

/// Set the review state, with a comment (required when sending a story back). Written into the
/// story as the coordinator, so the field member's device receives it.
async fn review(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> Result<Json<StoryRow>, ApiError> {
    let member = &auth.member;
    let (doc_id, _) = visible_story(&state, member, &id).await?;
    if req.state == ReviewState::Draft {
        return Err(ApiError::BadRequest(
            "a coordinator sets submitted, reviewed, approved or returned".into(),
        ));
    }
    let comment = req
        .comment
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.chars().count() > 4000) {
        return Err(ApiError::BadRequest(
            "a comment has at most 4000 characters".into(),
        ));
    }
    if req.state == ReviewState::Returned && comment.is_none() {
        return Err(ApiError::BadRequest(
            "say why the story goes back: a comment is required".into(),
        ));
    }
    let now = crate::db::now_ms();
    let by = member.name.clone();
    let comment_id = format!("c{:016x}", rand::random::<u64>());
    let changed = change_as_coordinator(&state, member, doc_id, |doc| {
        // An approval is of a version: it records the heads it approved.
        if req.state == ReviewState::Approved {
            story::ownership::approve(doc, &by, now)?;
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
        .audit(
            Some(member.workspace_id),
            Some(member.id),
            "story.reviewed",
            Some(&id),
            Some(req.state.code()),
        )
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
    auth: AuthMember,
    Path((id, code)): Path<(String, String)>,
    ApiJson(req): ApiJson<TagRequest>,
) -> Result<Json<StoryRow>, ApiError> {
    let member = &auth.member;
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
        .audit(
            Some(member.workspace_id),
            Some(member.id),
            "story.tagged",
            Some(&id),
            Some(&format!("{code} {}", req.state.code())),
        )
        .await?;
    let (_, row) = visible_story(&state, member, &id).await?;
    opened(&state, member, &id, Some("tag")).await?;
    Ok(Json(row))
}

#[derive(Serialize)]
struct OverviewActivity {
    code: String,
    name: String,
    /// Confirmed stories per municipality.
    stories: BTreeMap<String, usize>,
    confirmed: usize,
    suggested: usize,
    /// Metric codes with figures.
    metrics: Vec<String>,
    /// Latest value per metric and municipality: metric → municipality → (quarter, value).
    latest: BTreeMap<String, BTreeMap<String, (String, f64)>>,
    units: BTreeMap<String, Unit>,
}

/// Per activity: how many stories (per municipality) and which figures.
async fn overview(
    State(state): State<AppState>,
    auth: AuthMember,
) -> Result<Json<serde_json::Value>, ApiError> {
    let member = &auth.member;
    coordinator(member)?;
    let taxonomy = super::taxonomy::merged(&state, member).await?;
    let stories = rows(&state, member).await?;
    let figures = state.db.ws_figures(member.workspace_id, None).await?;
    let mut out = Vec::new();
    for a in &taxonomy.activities {
        let mut o = OverviewActivity {
            code: a.code.clone(),
            name: a.name.clone(),
            stories: BTreeMap::new(),
            confirmed: 0,
            suggested: 0,
            metrics: vec![],
            latest: BTreeMap::new(),
            units: BTreeMap::new(),
        };
        for s in &stories {
            match s.tag_state(&a.code) {
                Some("confirmed") => {
                    o.confirmed += 1;
                    *o.stories
                        .entry(s.municipality.clone().unwrap_or_else(|| "-".into()))
                        .or_insert(0) += 1;
                }
                Some(_) => o.suggested += 1,
                None => {}
            }
        }
        for f in figures.iter().filter(|f| f.activity_code == a.code) {
            if !o.metrics.contains(&f.metric) {
                o.metrics.push(f.metric.clone());
            }
            o.units.insert(f.metric.clone(), f.unit);
            let slot = o
                .latest
                .entry(f.metric.clone())
                .or_default()
                .entry(f.municipality.clone())
                .or_insert_with(|| (f.quarter.clone(), f.value));
            if f.quarter > slot.0 {
                *slot = (f.quarter.clone(), f.value);
            }
        }
        if o.confirmed + o.suggested > 0 || !o.metrics.is_empty() {
            out.push(o);
        }
    }
    Ok(Json(serde_json::json!({
        "activities": out,
        "municipalities": state.db.municipalities(member.workspace_id).await?,
        "taxonomy": {
            "activities": taxonomy.activities,
            "phases": taxonomy.phases,
            "target_groups": taxonomy.target_groups,
            "place_types": taxonomy.place_types,
        },
        "stories_total": stories.len(),
    })))
}

/// Personas with the stories linked to them (titles, kinds, municipalities).
async fn personas(
    State(state): State<AppState>,
    auth: AuthMember,
) -> Result<Json<serde_json::Value>, ApiError> {
    let member = &auth.member;
    coordinator(member)?;
    let ids = state.db.visible_docs(viewer(member), "persona").await?;
    let stories = rows(&state, member).await?;
    let mut out = Vec::new();
    for id in ids {
        let Ok(doc_id) = id.parse::<DocumentId>() else {
            continue;
        };
        let Some(p) = state
            .hub
            .read(doc_id, Persona::read)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
        else {
            continue;
        };
        let linked: Vec<serde_json::Value> = stories
            .iter()
            .filter(|s| s.persona.as_deref() == Some(id.as_str()))
            .map(|s| {
                serde_json::json!({
                    "id": s.id, "title": s.title, "kind": s.kind,
                    "municipality": s.municipality, "review": s.review,
                    "tags": s.tags.iter().filter(|t| t.state == "confirmed")
                        .map(|t| t.code.clone()).collect::<Vec<_>>(),
                })
            })
            .collect();
        out.push(serde_json::json!({
            "id": id, "name": p.name, "age_band": p.age_band,
            "situation": p.situation, "needs": p.needs, "stories": linked,
        }));
    }
    Ok(Json(serde_json::json!({ "personas": out })))
}

#[derive(Deserialize)]
struct FigureQuery {
    activity: Option<String>,
}

async fn figures(
    State(state): State<AppState>,
    auth: AuthMember,
    Query(q): Query<FigureQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    coordinator(&auth.member)?;
    let figures = state
        .db
        .ws_figures(auth.member.workspace_id, q.activity.as_deref())
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

fn invalid(errors: Vec<RowError>, lang: Lang) -> Response {
    let error = if lang.english() {
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
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(serde_json::json!({
            "error": error,
            "imported": 0,
            "errors": errors,
        })),
    )
        .into_response()
}

/// Import figures from CSV (`docs/workspace.md`). All rows or none: every bad row is reported
/// with its line number, in the screen's language, and nothing is stored.
async fn import(
    State(state): State<AppState>,
    auth: AuthMember,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let member = &auth.member;
    coordinator(member)?;
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
        Err(errors) => return Ok(invalid(errors, lang)),
    };
    state
        .db
        .put_ws_figures(member.workspace_id, Some(member.id), &figures)
        .await?;
    state
        .db
        .audit(
            Some(member.workspace_id),
            Some(member.id),
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
    auth: AuthMember,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let member = &auth.member;
    coordinator(member)?;
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
    auth: AuthMember,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    ApiJson(f): ApiJson<WsFigure>,
) -> Result<Response, ApiError> {
    let member = &auth.member;
    coordinator(member)?;
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
        .audit(
            Some(member.workspace_id),
            Some(member.id),
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

fn download(mime: &'static str, name: &str, body: impl Into<axum::body::Body>) -> Response {
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

async fn exported(state: &AppState, member: &Member, what: &str) -> Result<(), ApiError> {
    state
        .db
        .audit(
            Some(member.workspace_id),
            Some(member.id),
            "workspace.exported",
            None,
            Some(what),
        )
        .await?;
    Ok(())
}

async fn stories_csv(
    State(state): State<AppState>,
    auth: AuthMember,
    Query(filter): Query<StoryFilter>,
) -> Result<Response, ApiError> {
    coordinator(&auth.member)?;
    let search = Search::new(filter.q.as_deref());
    let rows: Vec<StoryRow> = rows(&state, &auth.member)
        .await?
        .into_iter()
        .filter(|r| filter.matches(r, &search))
        .collect();
    exported(&state, &auth.member, "stories.csv").await?;
    Ok(download(
        "text/csv; charset=utf-8",
        "verhalen.csv",
        export::stories_csv(&rows),
    ))
}

async fn figures_csv(
    State(state): State<AppState>,
    auth: AuthMember,
    Query(q): Query<FigureQuery>,
) -> Result<Response, ApiError> {
    coordinator(&auth.member)?;
    let figures = state
        .db
        .ws_figures(auth.member.workspace_id, q.activity.as_deref())
        .await?;
    exported(&state, &auth.member, "figures.csv").await?;
    Ok(download(
        "text/csv; charset=utf-8",
        "cijfers.csv",
        export::figures_csv(&figures),
    ))
}

async fn qdpx_export(
    State(state): State<AppState>,
    auth: AuthMember,
) -> Result<Response, ApiError> {
    let member = &auth.member;
    coordinator(member)?;
    let taxonomy = super::taxonomy::merged(&state, member).await?;
    let activities: Vec<qdpx::Activity<'_>> = taxonomy
        .activities
        .iter()
        .map(|a| qdpx::Activity {
            code: &a.code,
            name: &a.name,
            description: &a.description,
        })
        .collect();
    let stories = rows(&state, member).await?;
    let workspace = state
        .db
        .workspace(member.workspace_id)
        .await?
        .map(|w| w.name)
        .unwrap_or_else(|| "Vertel".into());
    let (_, zip) = qdpx::project(&workspace, crate::db::now_ms(), &activities, &stories)
        .map_err(|e| ApiError::Internal(e.into()))?;
    exported(&state, member, "project.qdpx").await?;
    Ok(download("application/zip", "vertel-project.qdpx", zip))
}

#[derive(Deserialize)]
struct ReportQuery {
    activity: String,
    from: Option<String>,
    to: Option<String>,
    municipality: Option<String>,
    /// `html` (default) or `md`.
    format: Option<String>,
    /// `nl` (default) or `en`.
    lang: Option<String>,
}

/// A report for one activity and period, as printable HTML or Markdown.
async fn report(
    State(state): State<AppState>,
    auth: AuthMember,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let member = &auth.member;
    coordinator(member)?;
    let clean = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (from, to, municipality) = (clean(&q.from), clean(&q.to), clean(&q.municipality));
    for p in [&from, &to].into_iter().flatten() {
        if !valid_quarter(p) {
            return Err(ApiError::BadRequest(format!(
                "{p} is not a quarter like 2025-Q3"
            )));
        }
    }
    let taxonomy = super::taxonomy::merged(&state, member).await?;
    let activity = taxonomy
        .activities
        .iter()
        .find(|a| a.code == q.activity)
        .ok_or(ApiError::NotFound)?;
    let figures = state
        .db
        .ws_figures(member.workspace_id, Some(&activity.code))
        .await?;
    let stories = rows(&state, member).await?;
    let workspace = state
        .db
        .workspace(member.workspace_id)
        .await?
        .map(|w| w.name)
        .unwrap_or_default();
    let english = q.lang.as_deref() == Some("en");
    let r = build(&ReportInput {
        workspace: &workspace,
        activity_code: &activity.code,
        activity_name: if english && !activity.gloss.is_empty() {
            &activity.gloss
        } else {
            &activity.name
        },
        from: from.as_deref(),
        to: to.as_deref(),
        municipality: municipality.as_deref(),
        english,
        figures: &figures,
        stories: &stories,
    });
    exported(&state, member, &format!("report {}", activity.code)).await?;
    let name = format!("rapport-{}", activity.code);
    Ok(match q.format.as_deref() {
        Some("md") => download(
            "text/markdown; charset=utf-8",
            &format!("{name}.md"),
            r.markdown(),
        ),
        _ => download(
            "text/html; charset=utf-8",
            &format!("{name}.html"),
            r.html(),
        ),
    })
}

#[derive(Deserialize)]
struct AuditQuery {
    action: Option<String>,
    limit: Option<i64>,
}

/// The audit log of the workspace, newest first: admins only.
async fn audit_log(
    State(state): State<AppState>,
    auth: AuthMember,
    Query(q): Query<AuditQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if auth.member.role != Role::Admin {
        return Err(ApiError::Forbidden);
    }
    let limit = q.limit.unwrap_or(500).clamp(1, 5000);
    let entries = state
        .db
        .audit_entries(auth.member.workspace_id, q.action.as_deref(), limit)
        .await?;
    Ok(Json(serde_json::json!({ "entries": entries })))
}
