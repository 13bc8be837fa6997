use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

/// A small Dutch/English page at `/` where a newcomer checks that their login works. The mobile
/// shell takes over `/` when it exists. Its script and style are files of their own (the
/// Content-Security-Policy allows no inline script or style).
pub fn home_router() -> Router<AppState> {
    let file = |mime: &'static str, body: &'static str| {
        get(move || async move { ([(header::CONTENT_TYPE, mime)], body) })
    };
    Router::new()
        .route(
            "/",
            file(
                "text/html; charset=utf-8",
                include_str!("../../assets/home.html"),
            ),
        )
        .route(
            "/home.js",
            file(
                "text/javascript; charset=utf-8",
                include_str!("../../assets/home.js"),
            ),
        )
        .route(
            "/home.css",
            file(
                "text/css; charset=utf-8",
                include_str!("../../assets/home.css"),
            ),
        )
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
