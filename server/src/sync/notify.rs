//! Changes between server processes that share one PostgreSQL: LISTEN/NOTIFY on `vertel_docs`.
//! Payload: `<process tag>:<change|erase>:<document id>`. A process ignores its own notifications.

use super::hub::Hub;
use client_core::wire::DocumentId;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;

pub async fn listen(url: String, hub: Arc<Hub>) {
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen("vertel_docs").await {
                    tracing::warn!(error = %e, "LISTEN failed");
                } else {
                    tracing::info!("listening for changes from other server processes");
                    while let Ok(n) = listener.recv().await {
                        handle(&hub, n.payload()).await;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect notification listener"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn handle(hub: &Hub, payload: &str) {
    let mut parts = payload.splitn(3, ':');
    let (Some(tag), Some(kind), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    if tag == hub.process_tag() {
        return;
    }
    let Ok(id) = id.parse::<DocumentId>() else {
        return;
    };
    match kind {
        "erase" => hub.erased(id).await,
        _ => {
            if let Err(e) = hub.remote_changed(id).await {
                tracing::warn!(error = %e, "could not apply a change from another process");
            }
        }
    }
}
