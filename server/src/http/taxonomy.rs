//! The taxonomy of the caller's workspace (default plus its own activities), managing its
//! activities (coordinators and admins: add, rename, retire), and figures per activity,
//! municipality and quarter.

use super::auth::AuthMember;
use super::json::ApiJson;
use super::{ApiError, AppState};
use crate::db::accounts::{Member, Role};
use crate::tagging::taxonomy::{Entry, Source, Taxonomy, WorkspaceActivity, valid_code};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/taxonomy", get(taxonomy))
        .route("/activities", get(activities).post(add))
        .route(
            "/activities/{code}",
            axum::routing::patch(change).delete(retire),
        )
        .route("/figures", get(figures))
}

fn base() -> Result<&'static Taxonomy, ApiError> {
    crate::tagging::default_taxonomy().map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))
}

/// The default taxonomy with the caller's workspace's own activities.
pub(super) async fn merged(state: &AppState, member: &Member) -> Result<Taxonomy, ApiError> {
    let own = state.db.workspace_activities(member.workspace_id).await?;
    Ok(base()?.merged(&own))
}

#[derive(Serialize)]
struct TaxonomyView {
    activities: Vec<Entry>,
    phases: Vec<Entry>,
    themes: Vec<Entry>,
    target_groups: Vec<Entry>,
    place_types: Vec<Entry>,
    roles: Vec<Entry>,
    municipalities: Vec<String>,
    sources: Vec<Source>,
    /// How tag codes of each dimension are written in a story's `tags`.
    tag_prefixes: serde_json::Value,
}

/// Everything a shell needs to show and choose codes.
async fn taxonomy(
    State(state): State<AppState>,
    auth: AuthMember,
) -> Result<Json<TaxonomyView>, ApiError> {
    let t = merged(&state, &auth.member).await?;
    Ok(Json(TaxonomyView {
        activities: t.activities,
        phases: t.phases,
        themes: t.themes,
        target_groups: t.target_groups,
        place_types: t.place_types,
        roles: t.roles,
        municipalities: state.db.municipalities(auth.member.workspace_id).await?,
        sources: t.sources,
        tag_prefixes: serde_json::json!({
            "activity": "", "phase": "phase:", "theme": "theme:", "target_group": "group:"
        }),
    }))
}

async fn activities(
    State(state): State<AppState>,
    auth: AuthMember,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = merged(&state, &auth.member).await?;
    Ok(Json(serde_json::json!({ "activities": t.activities })))
}

fn may_manage(member: &Member) -> Result<(), ApiError> {
    if matches!(member.role, Role::Coordinator | Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// What a request may set on an activity. Absent fields stay as they are.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivityFields {
    /// Required when adding; when changing, absent or the same as in the path.
    code: Option<String>,
    /// Only when changing: true retires, false brings a retired activity back.
    retired: Option<bool>,
    name: Option<String>,
    gloss: Option<String>,
    description: Option<String>,
    synonyms: Option<Vec<String>>,
    keywords: Option<Vec<String>>,
    context: Option<Vec<String>>,
    phases: Option<Vec<String>>,
}

fn check_text(what: &str, s: &str, max: usize) -> Result<(), ApiError> {
    if s.trim().is_empty() || s.chars().count() > max {
        return Err(ApiError::BadRequest(format!(
            "{what} must have 1 to {max} characters"
        )));
    }
    Ok(())
}

fn check_fields(f: &ActivityFields) -> Result<(), ApiError> {
    if let Some(n) = &f.name {
        check_text("name", n, 200)?;
    }
    if let Some(g) = &f.gloss {
        check_text("gloss", g, 200)?;
    }
    if let Some(d) = &f.description
        && d.chars().count() > 4000
    {
        return Err(ApiError::BadRequest(
            "description has at most 4000 characters".into(),
        ));
    }
    for list in [&f.synonyms, &f.keywords, &f.context].into_iter().flatten() {
        if list.len() > 200 {
            return Err(ApiError::BadRequest("at most 200 terms per list".into()));
        }
        for term in list {
            check_text("a term", term, 100)?;
        }
    }
    if let Some(phases) = &f.phases {
        let known = &base()?.phases;
        if let Some(p) = phases.iter().find(|p| !known.iter().any(|k| &k.code == *p)) {
            return Err(ApiError::BadRequest(format!("unknown phase {p}")));
        }
    }
    Ok(())
}

fn apply(row: &mut WorkspaceActivity, f: ActivityFields) {
    let ActivityFields {
        code: _,
        retired,
        name,
        gloss,
        description,
        synonyms,
        keywords,
        context,
        phases,
    } = f;
    row.name = name.or(row.name.take());
    row.gloss = gloss.or(row.gloss.take());
    row.description = description.or(row.description.take());
    row.synonyms = synonyms.or(row.synonyms.take());
    row.keywords = keywords.or(row.keywords.take());
    row.context = context.or(row.context.take());
    row.phases = phases.or(row.phases.take());
    if let Some(r) = retired {
        row.retired = r;
    }
}

async fn audit(
    state: &AppState,
    member: &Member,
    action: &str,
    code: &str,
) -> Result<(), ApiError> {
    state
        .db
        .audit_by(member, action, None, Some(&format!("activity {code}")))
        .await?;
    Ok(())
}

/// Add a workspace activity. Its terms (synonyms, keywords, context) make the tagger suggest it;
/// with none, its name is used.
async fn add(
    State(state): State<AppState>,
    auth: AuthMember,
    ApiJson(fields): ApiJson<ActivityFields>,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    let member = &auth.member;
    may_manage(member)?;
    let code = fields.code.clone().unwrap_or_default();
    if !valid_code(&code) {
        return Err(ApiError::BadRequest(
            "code: 2 to 64 characters a-z, 0-9 and -".into(),
        ));
    }
    if fields.name.is_none() {
        return Err(ApiError::BadRequest("name is required".into()));
    }
    if fields.retired.is_some() {
        return Err(ApiError::BadRequest(
            "a new activity cannot be retired".into(),
        ));
    }
    check_fields(&fields)?;
    let current = merged(&state, member).await?;
    if current.activities.iter().any(|a| a.code == code) {
        return Err(ApiError::Conflict(format!(
            "activity {code} already exists"
        )));
    }
    let mut row = WorkspaceActivity {
        code: code.clone(),
        ..Default::default()
    };
    apply(&mut row, fields);
    state
        .db
        .put_workspace_activity(member.workspace_id, &row)
        .await?;
    audit(&state, member, "activity.added", &code).await?;
    let t = merged(&state, member).await?;
    let entry = t
        .activities
        .into_iter()
        .find(|a| a.code == code)
        .ok_or(ApiError::NotFound)?;
    Ok((StatusCode::CREATED, Json(entry)))
}

async fn update(
    state: &AppState,
    member: &Member,
    code: &str,
    change: ActivityFields,
) -> Result<Entry, ApiError> {
    may_manage(member)?;
    if change.code.as_deref().is_some_and(|c| c != code) {
        return Err(ApiError::BadRequest(
            "a code never changes: retire it and add a new one".into(),
        ));
    }
    check_fields(&change)?;
    let own = state.db.workspace_activities(member.workspace_id).await?;
    if !base()?
        .merged(&own)
        .activities
        .iter()
        .any(|a| a.code == code)
    {
        return Err(ApiError::NotFound);
    }
    let mut row = own
        .into_iter()
        .find(|a| a.code == code)
        .unwrap_or_else(|| WorkspaceActivity {
            code: code.to_string(),
            ..Default::default()
        });
    apply(&mut row, change);
    state
        .db
        .put_workspace_activity(member.workspace_id, &row)
        .await?;
    let t = merged(state, member).await?;
    t.activities
        .into_iter()
        .find(|a| a.code == code)
        .ok_or(ApiError::NotFound)
}

/// Rename an activity, change its terms, or retire (`"retired": true`) or restore it.
async fn change(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(code): Path<String>,
    ApiJson(req): ApiJson<ActivityFields>,
) -> Result<Json<Entry>, ApiError> {
    let entry = update(&state, &auth.member, &code, req).await?;
    audit(&state, &auth.member, "activity.changed", &code).await?;
    Ok(Json(entry))
}

/// Retire an activity: no longer suggested or offered, still valid on the stories that have it.
async fn retire(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(code): Path<String>,
) -> Result<Json<Entry>, ApiError> {
    let change = ActivityFields {
        retired: Some(true),
        ..Default::default()
    };
    let entry = update(&state, &auth.member, &code, change).await?;
    audit(&state, &auth.member, "activity.retired", &code).await?;
    Ok(Json(entry))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FigureQuery {
    activity: Option<String>,
    municipality: Option<String>,
    quarter: Option<String>,
}

/// Figures of the caller's workspace, optionally for one activity, municipality or quarter.
async fn figures(
    State(state): State<AppState>,
    auth: AuthMember,
    Query(q): Query<FigureQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut figures = state
        .db
        .ws_figures(auth.member.workspace_id, q.activity.as_deref())
        .await?;
    figures.retain(|f| {
        q.municipality.as_ref().is_none_or(|m| &f.municipality == m)
            && q.quarter.as_ref().is_none_or(|x| &f.quarter == x)
    });
    Ok(Json(serde_json::json!({ "figures": figures })))
}
