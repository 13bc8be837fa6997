//! Changes between server processes that share one PostgreSQL: LISTEN/NOTIFY on `vertel_docs`.
//! Payload: `<process tag>:<change|erase>:<document id>`. A process ignores its own notifications.
//!
//! A notification reaches only the processes listening when it is sent: one sent while this
//! process's listening connection was down, or never sent because the writer lost its connection
//! right after committing, is gone. Devices on this process would then stay behind until the next
//! change to the same document. So the process also follows the documents' sequence numbers: it
//! remembers the highest `documents.seq` it has caught up to and, whenever its listening
//! connection comes back and every [`POLL`] besides, tells the hub of every document whose number
//! moved past it. Sequence numbers are handed out in commit order (`Db::store`), so reading them
//! in order never skips a write that commits late.

use super::hub::{Hub, SyncFailure};
use crate::db::{Db, DbError};
use client_core::wire::DocumentId;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How often the sequence numbers are read besides after a reconnection: the longest a device
/// waits for a change whose notification was lost.
const POLL: Duration = Duration::from_secs(2);

/// Documents read per query while catching up.
const PAGE: i64 = 500;

/// Start following other processes' changes. The cursor is read before this returns, so a
/// document loaded from now on cannot miss a change stored after it was read: that change has a
/// higher sequence number than the cursor.
pub async fn start(db: &Db, hub: Arc<Hub>) -> Result<(), DbError> {
    let follower = Arc::new(Follower {
        db: db.clone(),
        hub,
        seen: Mutex::new(db.current_seq().await?),
    });
    tokio::spawn(listen(follower.clone()));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            follower.catch_up().await;
        }
    });
    Ok(())
}

struct Follower {
    db: Db,
    hub: Arc<Hub>,
    /// The highest sequence number whose document the hub has been told of. Held while catching
    /// up, so the poll and a reconnection never catch up at once.
    seen: Mutex<i64>,
}

impl Follower {
    /// Tell the hub of every document changed since the cursor; log rather than fail, the next
    /// poll tries again from where this one stopped.
    async fn catch_up(&self) {
        let mut seen = self.seen.lock().await;
        let start = *seen;
        if let Err(e) = self.catch_up_from(&mut seen).await {
            tracing::warn!(error = %e, "could not catch up with other server processes");
        }
        if *seen > start {
            tracing::debug!(from = start, to = *seen, "caught up with stored changes");
        }
    }

    async fn catch_up_from(&self, seen: &mut i64) -> Result<(), DbError> {
        loop {
            let page = self.db.changed_since(*seen, PAGE).await?;
            for changed in &page {
                // Ids this server stores are document ids; anything else has no peers here.
                if let Ok(id) = changed.id.parse::<DocumentId>() {
                    if changed.erased {
                        self.hub.erased(id).await;
                    } else {
                        // Only a document this process holds with peers costs more than a lookup.
                        match self.hub.remote_changed(id).await {
                            Ok(()) => {}
                            // Try this one again at the next poll, with everything after it.
                            Err(SyncFailure::Storage(e)) => return Err(e),
                            Err(e) => tracing::warn!(
                                doc = %id, error = %e,
                                "could not apply a change from another process"
                            ),
                        }
                    }
                }
                *seen = changed.seq;
            }
            if page.len() < PAGE as usize {
                return Ok(());
            }
        }
    }
}

/// Whether this process is listening for other processes' changes now (for `/healthz`).
pub static LISTENING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn listening(up: bool) {
    LISTENING.store(up, std::sync::atomic::Ordering::Relaxed);
}

async fn listen(follower: Arc<Follower>) {
    let hub = &follower.hub;
    loop {
        match PgListener::connect(&follower.db.url).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen("vertel_docs").await {
                    tracing::warn!(error = %e, "LISTEN failed");
                } else {
                    tracing::info!("listening for changes from other server processes");
                    listening(true);
                    // Listening again: catch up with what was announced while we were not.
                    follower.catch_up().await;
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => handle(hub, n.payload()).await,
                            // The connection was lost and is listening again (sqlx reconnects
                            // before returning): notifications sent meanwhile are lost.
                            Ok(None) => {
                                tracing::info!("notification listener reconnected");
                                follower.catch_up().await;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "notification listener lost");
                                listening(false);
                                break;
                            }
                        }
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
