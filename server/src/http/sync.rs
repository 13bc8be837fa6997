//! `GET /sync`: the websocket upgrade. The token is checked before the upgrade; afterwards the
//! connection ends with its session (`sessions`).

use super::auth::AuthMember;
use super::{ApiError, AppState};
use crate::sync::conn;
use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;

pub fn router() -> Router<AppState> {
    Router::new().route("/sync", get(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    auth: AuthMember,
    ws: WebSocketUpgrade,
) -> Response {
    let limits = state.conn_limits.clone();
    // A cap per member: each connection holds memory, and no one needs dozens.
    let Some(admitted) = state.hub.admit(auth.member.id, limits.max_per_member) else {
        tracing::info!(member = auth.member.id, "too many sync connections");
        return ApiError::TooManyRequests(std::time::Duration::from_secs(30)).into_response();
    };
    ws.max_message_size(limits.max_frame_bytes)
        .max_frame_size(limits.max_frame_bytes)
        // Small buffers: memory per idle connection matters with thousands of devices.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .on_upgrade(move |socket| {
            // Registered under its token, so that logout and expiry end it (`sessions`).
            let session = state.sessions.open(&auth.token_hash);
            let run = conn::run(
                socket,
                state.hub,
                auth.member,
                session,
                limits,
                state.shutdown,
            );
            async move {
                run.await;
                drop(admitted);
            }
        })
}
