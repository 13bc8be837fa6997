//! Retention: a voice identifies a person, so raw audio does not stay longer than it is needed.
//!
//! A sweep (every `--retention-sweep-secs`, and at start) does four things:
//! 1. notes when each story's transcript is first seen approved (`blob_refs.confirmed_at`), and
//!    forgets that moment when the approval is withdrawn;
//! 2. deletes the bytes of an audio blob once every story referencing it has had its transcript
//!    approved for `--audio-retention-days` (the story keeps the text; the row stays, marked);
//! 3. drops references from erased stories and deletes blobs nobody references;
//! 4. removes uploads abandoned for a day.
//!
//! Erasing a story also removes its media at once ([`forget_story`]); the sweep is the safety net.

use super::Media;
use super::blobs;
use crate::db::{DbError, RowExt, now_ms};
use client_core::story::{Story, TranscriptState};
use client_core::wire::DocumentId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Unreferenced blobs younger than this are left alone (an upload may be linking them right now).
const ORPHAN_GRACE_MS: i64 = 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error("removing media files failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub approvals_seen: usize,
    pub audio_deleted: usize,
    pub refs_dropped: usize,
    pub blobs_deleted: usize,
    pub uploads_dropped: usize,
}

pub async fn run(media: Arc<Media>, every: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        match sweep(&media, now_ms()).await {
            Ok(r) if r != Report::default() => tracing::info!(?r, "media retention sweep"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "media retention sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
            }
        }
    }
}

/// One sweep at time `now` (milliseconds since the epoch).
pub async fn sweep(media: &Media, now: i64) -> Result<Report, RetentionError> {
    let mut report = Report::default();
    let db = &media.db;

    // 3. References from erased or vanished stories.
    let rows = sqlx::query(
        "SELECT DISTINCT r.doc_id FROM blob_refs r LEFT JOIN documents d ON d.id = r.doc_id \
         WHERE d.id IS NULL OR d.deleted_at IS NOT NULL",
    )
    .fetch_all(&db.pool)
    .await?;
    for r in rows {
        let doc = r.string("doc_id")?;
        let (refs, blobs) = forget_story(media, &doc).await?;
        report.refs_dropped += refs;
        report.blobs_deleted += blobs;
    }
    let rows = sqlx::query(
        "SELECT sha256 FROM blobs b WHERE created_at < $1 AND NOT EXISTS \
         (SELECT 1 FROM blob_refs r WHERE r.sha256 = b.sha256)",
    )
    .bind(now - ORPHAN_GRACE_MS)
    .fetch_all(&db.pool)
    .await?;
    for r in rows {
        let sha = r.string("sha256")?;
        delete_blob(media, &sha).await?;
        report.blobs_deleted += 1;
    }

    // 1. Approvals of stories that still hold audio bytes.
    let rows = sqlx::query(
        "SELECT r.sha256, r.doc_id, r.confirmed_at FROM blob_refs r JOIN blobs b ON b.sha256 = r.sha256 \
         WHERE b.kind = 'audio' AND b.bytes_deleted_at IS NULL ORDER BY r.sha256",
    )
    .fetch_all(&db.pool)
    .await?;
    // sha256 → confirmation times of every referencing story (None: not approved).
    let mut per_blob: HashMap<String, Vec<Option<i64>>> = HashMap::new();
    for r in rows {
        let sha = r.string("sha256")?;
        let doc = r.string("doc_id")?;
        let mut confirmed = r.opt_i64("confirmed_at")?;
        let approved = match doc.parse::<DocumentId>() {
            Ok(id) => media
                .hub
                .read(id, |d| {
                    Story::read(d)
                        .transcript
                        .and_then(|t| t.state)
                        .is_some_and(|s| s == TranscriptState::Approved)
                })
                .await
                .ok()
                .flatten()
                .unwrap_or(false),
            Err(_) => false,
        };
        if approved && confirmed.is_none() {
            set_confirmed(media, &sha, &doc, Some(now)).await?;
            confirmed = Some(now);
            report.approvals_seen += 1;
        } else if !approved && confirmed.is_some() {
            set_confirmed(media, &sha, &doc, None).await?;
            confirmed = None;
        }
        per_blob.entry(sha).or_default().push(confirmed);
    }

    // 2. Audio whose every story has been approved long enough.
    let keep_ms = (media.config.audio_retention_days as i64).saturating_mul(DAY_MS);
    for (sha, confirmations) in per_blob {
        let all: Option<Vec<i64>> = confirmations.into_iter().collect();
        let Some(times) = all else { continue };
        let Some(latest) = times.into_iter().max() else {
            continue;
        };
        if now.saturating_sub(latest) >= keep_ms {
            media.store.remove(&sha)?;
            blobs::mark_bytes_deleted(db, &sha).await?;
            report.audio_deleted += 1;
            tracing::info!("raw audio deleted after its transcript was approved");
        }
    }

    // 4. Uploads abandoned for a day; finished upload rows after a day.
    let rows = sqlx::query(
        "SELECT id, completed_at FROM uploads WHERE updated_at < $1 OR (completed_at IS NOT NULL AND completed_at < $1)",
    )
    .bind(now - DAY_MS)
    .fetch_all(&db.pool)
    .await?;
    for r in rows {
        let id = r.string("id")?;
        if r.opt_i64("completed_at")?.is_none() {
            let _ = tokio::fs::remove_file(media.store.upload_path(&id)).await;
            report.uploads_dropped += 1;
        }
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(&id)
            .execute(&db.pool)
            .await?;
    }
    Ok(report)
}

async fn set_confirmed(
    media: &Media,
    sha: &str,
    doc: &str,
    at: Option<i64>,
) -> Result<(), DbError> {
    sqlx::query("UPDATE blob_refs SET confirmed_at = $1 WHERE sha256 = $2 AND doc_id = $3")
        .bind(at)
        .bind(sha)
        .bind(doc)
        .execute(&media.db.pool)
        .await?;
    Ok(())
}

async fn delete_blob(media: &Media, sha: &str) -> Result<(), RetentionError> {
    if blobs::is_sha256_hex(sha) {
        media.store.remove(sha)?;
    }
    Ok(blobs::delete_row(&media.db, sha).await?)
}

/// Remove everything media a story had: its references, its jobs, its unfinished uploads, and
/// blobs no other story references (bytes included). Returns (references, blobs) removed.
pub async fn forget_story(media: &Media, doc_id: &str) -> Result<(usize, usize), RetentionError> {
    let db = &media.db;
    let rows = sqlx::query("SELECT sha256 FROM blob_refs WHERE doc_id = $1")
        .bind(doc_id)
        .fetch_all(&db.pool)
        .await?;
    let shas: Vec<String> = rows
        .iter()
        .map(|r| r.string("sha256"))
        .collect::<Result<_, _>>()?;
    sqlx::query("DELETE FROM blob_refs WHERE doc_id = $1")
        .bind(doc_id)
        .execute(&db.pool)
        .await?;
    media.queue.delete_for_story(doc_id).await?;
    let uploads = sqlx::query("SELECT id FROM uploads WHERE doc_id = $1")
        .bind(doc_id)
        .fetch_all(&db.pool)
        .await?;
    for u in uploads {
        let id = u.string("id")?;
        let _ = tokio::fs::remove_file(media.store.upload_path(&id)).await;
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(&id)
            .execute(&db.pool)
            .await?;
    }
    let mut deleted = 0;
    for sha in &shas {
        if blobs::refs_of(db, sha).await?.is_empty() {
            delete_blob(media, sha).await?;
            deleted += 1;
        }
    }
    Ok((shas.len(), deleted))
}
