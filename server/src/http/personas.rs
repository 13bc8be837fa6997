//! Personas as REST resources: the personas a member can see, and the stories linked to one.
//!
//! Persona documents sync like stories (same access rule: coordinators see their workspace, others
//! what they recorded or what was shared with them). Which persona a story links to is read from
//! the story by the tagging worker into `doc_index`, so a link made on a device shows here a few
//! seconds after the device synced it.

use super::auth::AuthMember;
use super::{ApiError, AppState};
use crate::db::docs::Viewer;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use client_core::story::{Persona, Story};
use client_core::wire::DocumentId;
use serde::Serialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/personas", get(list))
        .route("/personas/{id}/stories", get(stories))
}

#[derive(Serialize)]
struct PersonaItem {
    id: String,
    name: String,
    age_band: Option<String>,
}

#[derive(Serialize)]
struct StoryItem {
    id: String,
    title: String,
    kind: Option<String>,
    municipality: Option<String>,
}

#[derive(Serialize)]
struct PersonaStories {
    persona: PersonaItem,
    stories: Vec<StoryItem>,
}

async fn read_persona(state: &AppState, id: &str) -> Result<PersonaItem, ApiError> {
    let doc_id: DocumentId = id.parse().map_err(|_| ApiError::NotFound)?;
    let p = state
        .hub
        .read(doc_id, Persona::read)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .ok_or(ApiError::NotFound)?;
    Ok(PersonaItem {
        id: id.to_string(),
        name: p.name,
        age_band: p.age_band,
    })
}

/// Personas visible to the caller.
async fn list(
    State(state): State<AppState>,
    auth: AuthMember,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ids = state
        .db
        .visible_docs(Viewer::of(&auth.member), "persona")
        .await?;
    let mut personas = Vec::with_capacity(ids.len());
    for id in ids {
        match read_persona(&state, &id).await {
            Ok(p) => personas.push(p),
            Err(ApiError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Json(serde_json::json!({ "personas": personas })))
}

/// The stories linked to a persona that the caller may see.
async fn stories(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(id): Path<String>,
) -> Result<Json<PersonaStories>, ApiError> {
    let member = &auth.member;
    let _: DocumentId = id.parse().map_err(|_| ApiError::NotFound)?;
    let (meta, shared) = state
        .db
        .doc_meta(&id, member.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if meta.doc_type != "persona" || !meta.visible_to(member, shared) {
        return Err(ApiError::NotFound);
    }
    let persona = read_persona(&state, &id).await?;
    let ids = state.db.persona_stories(Viewer::of(member), &id).await?;
    let mut stories = Vec::with_capacity(ids.len());
    for story_id in ids {
        let Ok(doc_id) = story_id.parse::<DocumentId>() else {
            continue;
        };
        let read = state
            .hub
            .read(doc_id, Story::read)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        // The index lags the document by the tagger's debounce: check the link still holds.
        if let Some(s) = read
            && s.persona.as_deref() == Some(id.as_str())
        {
            stories.push(StoryItem {
                id: story_id,
                title: s.title,
                kind: s.kind.map(|k| k.code().to_string()),
                municipality: s.municipality,
            });
        }
    }
    Ok(Json(PersonaStories { persona, stories }))
}
