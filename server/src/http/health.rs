use super::AppState;
use crate::db::Backend;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
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

/// What this process can do now, truthfully: whether the database takes a write (a probe, and
/// the last document write), whether it hears other processes (PostgreSQL), and its queues.
/// Always 200 while the process answers; `status` is `ok` or `degraded`. `/readyz` is the answer
/// for a load balancer.
async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let health = check(&state).await;
    let (docs, loaded) = state.hub.stats();
    let (queued, running) = state.media.queue.depth().await.unwrap_or_default();
    let last_error = state.db.last_write_error();
    Json(json!({
        "status": if health.ready && last_error.is_none() { "ok" } else { "degraded" },
        "role": state.role.name(),
        "blob_store": state.media.store.describe.split(' ').next(),
        "storage": {
            "backend": match state.db.backend { Backend::Sqlite => "sqlite", Backend::Postgres => "postgres" },
            "writable": health.writable.is_ok(),
            "reason": health.writable.as_ref().err(),
            "last_write_error": last_error.map(|(at, message)| json!({ "at": at, "message": message })),
        },
        "listener": health.listener,
        "queues": {
            "transcription_queued": queued,
            "transcription_running": running,
            // Jobs of every process not finished yet: what the workers have before them.
            "transcription_depth": queued + running,
        },
        "documents_in_memory": loaded,
        "documents_tracked": docs,
    }))
}

/// 200 when this process can serve: the database takes a write and (PostgreSQL) the listener
/// for other processes' changes is connected; 503 with the reason otherwise.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let health = check(&state).await;
    let status = if health.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "ready": health.ready,
            "writable": health.writable.is_ok(),
            "reason": health.writable.err(),
            "listener": health.listener,
        })),
    )
}

struct Health {
    writable: Result<(), String>,
    /// On PostgreSQL: listening for other processes' changes. Absent on SQLite.
    listener: Option<bool>,
    ready: bool,
}

async fn check(state: &AppState) -> Health {
    let writable = match tokio::time::timeout(PROBE_TIMEOUT, state.db.probe_write()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the database did not take a write within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
    };
    let listener = (state.db.backend == Backend::Postgres)
        .then(|| crate::sync::notify::LISTENING.load(std::sync::atomic::Ordering::Relaxed));
    let ready = writable.is_ok() && listener != Some(false);
    Health {
        writable,
        listener,
        ready,
    }
}

const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
