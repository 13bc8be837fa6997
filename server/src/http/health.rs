use super::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
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
