//! HTTP: the REST API under `/api/v1`, the sync websocket at `/sync` and `/healthz`.
//!
//! Only this module knows about HTTP status codes. One module per resource, each with a
//! `router()`, merged here around one cloneable [`AppState`].

mod assets;
mod auth;
mod desk;
mod error;
mod headers;
mod health;
mod json;
mod media;
mod personas;
mod shell;
mod stories;
mod sync;
mod taxonomy;
mod workspace;

pub use error::ApiError;

use crate::auth::PasswordWork;
use crate::auth::limits::Limits;
use crate::db::Db;
use crate::sessions::Sessions;
use crate::sync::conn::ConnLimits;
use crate::sync::hub::Hub;
use axum::Router;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub hub: Arc<Hub>,
    /// Login and enrollment backoff per client address and account (`auth::limits`).
    pub limits: Arc<Limits>,
    /// Every password hash and verification, behind one semaphore.
    pub passwords: Arc<PasswordWork>,
    /// Token lifetimes and the open sync connections per token.
    pub sessions: Arc<Sessions>,
    /// Take client addresses from `X-Forwarded-For` (`--trust-forwarded-for`).
    pub trust_forwarded_for: bool,
    pub conn_limits: ConnLimits,
    pub shutdown: watch::Receiver<bool>,
    /// The built mobile shell served at `/` (`--shell-dir`).
    pub shell_dir: PathBuf,
    /// Voice notes and photos: blob store, upload locks, transcription queue.
    pub media: Arc<crate::media::Media>,
    /// The desk's read model (`workspace::index`).
    pub index: Arc<crate::workspace::index::Indexer>,
    /// What this process does (`--role`): `/healthz` says it.
    pub role: crate::config::Role,
}

/// The routes of a `worker` process: health only, no devices or people.
pub fn worker_router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .nest("/api/v1", health::router())
        .with_state(state)
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(auth::router())
        .merge(stories::router())
        .merge(personas::router())
        .merge(taxonomy::router())
        .merge(workspace::router())
        .merge(desk::router())
        .merge(health::router());
    Router::new()
        .nest("/api/v1", api)
        .merge(health::router())
        .merge(assets::workspace_ui())
        .merge(shell::router(&state.shell_dir))
        .merge(sync::router())
        .layer(RequestBodyLimitLayer::new(1024 * 1024))
        // Uploads stream to disk under their own limit (--max-upload-bytes), so after the layer.
        .merge(media::router())
        // Content-Security-Policy, Permissions-Policy, Referrer-Policy, … on every response.
        .layer(axum::middleware::from_fn(headers::security_headers))
        // Spans carry the path only: a query string may hold a bearer token.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}
