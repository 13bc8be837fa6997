use super::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

/// A small Dutch/English page at `/` where a newcomer checks that their login works. The mobile
/// shell takes over `/` when it exists.
pub fn home_router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

async fn home() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("../../assets/home.html"))
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, super::ApiError> {
    sqlx::query("SELECT 1")
        .execute(&state.db.pool)
        .await
        .map_err(crate::db::DbError::from)?;
    let (docs, loaded) = state.hub.stats();
    Ok(Json(
        json!({ "status": "ok", "documents_in_memory": loaded, "documents_tracked": docs }),
    ))
}
