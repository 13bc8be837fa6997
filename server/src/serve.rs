//! `vertel-server serve`: open the database, start the hub and its housekeeping, serve HTTP until
//! SIGTERM or Ctrl-C, then close sync connections and stop.

use crate::auth::PasswordWork;
use crate::config::ServeConfig;
use crate::db::{Backend, Db};
use crate::http::{self, AppState};
use crate::sessions::{SessionPolicy, Sessions};
use crate::sync::conn::ConnLimits;
use crate::sync::hub::{self, Hub};
use crate::sync::measure::Caps;
use crate::sync::notify;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    crate::deidentify::configure(&config.deidentify_keep);
    std::fs::create_dir_all(&config.storage.data_dir).with_context(|| {
        format!(
            "creating data directory {}",
            config.storage.data_dir.display()
        )
    })?;
    let db = Db::connect(&config.storage.url(), config.storage.db_connections)
        .await
        .context("opening the database")?;
    tracing::info!(backend = ?db.backend, "database ready");
    let storage_id = db.storage_id().await.context("reading the storage id")?;
    let hub = Hub::new(
        db.clone(),
        hub::Limits {
            max_doc_bytes: config.max_doc_bytes,
            max_doc_ops: config.max_doc_ops,
            message: Caps {
                bytes: config.max_message_bytes,
                ops: config.max_message_ops,
                changes: config.max_message_changes,
            },
            idle: Duration::from_secs(config.doc_idle_secs),
            compact_after: config.compact_after,
            max_queued_bytes: config.max_queued_bytes,
            answer_timeout: Duration::from_millis(config.answer_timeout_ms),
        },
        storage_id,
    );
    // Erasures a previous run could not verify yet: keep at them.
    for id in db
        .pending_erasures()
        .await
        .context("reading pending erasures")?
    {
        crate::db::erasure::finish_in_background(db.clone(), id);
    }
    if db.backend == Backend::Postgres {
        notify::start(&db, hub.clone())
            .await
            .context("reading the change cursor")?;
    }
    let role = config.role;
    tracing::info!(role = role.name(), "role");
    if role.runs_workers() {
        crate::tagging::worker::spawn(hub.clone(), db.clone(), &config.tagger);
    }
    let index = crate::workspace::index::spawn(hub.clone(), db.clone());
    {
        let hub = hub.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                hub.send_overdue(Instant::now());
                let evicted = hub.evict_idle(Instant::now());
                if evicted > 0 {
                    tracing::debug!(evicted, "evicted idle documents");
                    // Hand the freed pages back, so a burst (a device catching up on thousands of
                    // stories) does not leave the process at its peak size for good.
                    let _ = tokio::task::spawn_blocking(crate::memory::release_free).await;
                }
            }
        });
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let store = crate::media::blobs::BlobStore::open(&config.storage.data_dir, &config.blobs)
        .context("opening the blob store")?;
    tracing::info!(store = %store.describe, "blob store");
    let media = crate::media::Media::start(
        &config.media,
        store,
        role,
        db.clone(),
        hub.clone(),
        shutdown_rx.clone(),
    )
    .context("opening the media store")?;
    let sessions = Sessions::new(db.clone(), SessionPolicy::from_args(&config.sessions));
    sessions.spawn_checker();
    let state = AppState {
        db,
        hub,
        limits: Arc::new(crate::auth::limits::Limits::default()),
        passwords: Arc::new(PasswordWork::from_args(&config.auth)?),
        sessions,
        trust_forwarded_for: config.auth.trust_forwarded_for,
        conn_limits: ConnLimits {
            max_frame_bytes: config.max_frame_bytes,
            messages_per_sec: config.max_messages_per_sec,
            burst: config.message_burst,
            ping_every: Duration::from_secs(config.ping_secs.max(1)),
            silence_timeout: Duration::from_secs(config.silence_timeout_secs.max(1)),
            max_per_member: config.max_connections_per_member,
        },
        shutdown: shutdown_rx,
        shell_dir: config.shell_dir.clone(),
        media,
        index,
        role,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "vertel-server listening");
    // Tests and scripts read this line to learn the port when listening on port 0.
    println!("listening on http://{addr}");
    // With the peer address of every connection: login limits are per client address.
    let app = if role.serves_devices() {
        http::router(state)
    } else {
        http::worker_router(state)
    }
    .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = shutdown_tx.send(true);
        })
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
