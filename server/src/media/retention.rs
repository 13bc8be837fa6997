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
use crate::db::media as rows;
use crate::db::{DbError, now_ms};
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
    for doc in rows::erased_referencing_stories(db).await? {
        let (refs, blobs) = forget_story(media, &doc).await?;
        report.refs_dropped += refs;
        report.blobs_deleted += blobs;
    }
    for sha in rows::orphan_blobs(db, now - ORPHAN_GRACE_MS).await? {
        delete_blob(media, &sha).await?;
        report.blobs_deleted += 1;
    }

    // 1. Approvals of stories that still hold audio bytes.
    // sha256 → confirmation times of every referencing story (None: not approved).
    let mut per_blob: HashMap<String, Vec<Option<i64>>> = HashMap::new();
    for r in rows::stored_audio_refs(db).await? {
        let mut confirmed = r.confirmed_at;
        let approved = match r.doc_id.parse::<DocumentId>() {
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
            rows::set_confirmed(db, &r.sha256, &r.doc_id, Some(now)).await?;
            confirmed = Some(now);
            report.approvals_seen += 1;
        } else if !approved && confirmed.is_some() {
            rows::set_confirmed(db, &r.sha256, &r.doc_id, None).await?;
            confirmed = None;
        }
        per_blob.entry(r.sha256).or_default().push(confirmed);
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
            media.store.remove(&sha).await?;
            rows::mark_bytes_deleted(db, &sha).await?;
            report.audio_deleted += 1;
            tracing::info!("raw audio deleted after its transcript was approved");
        }
    }

    // 4. Uploads abandoned for a day; finished upload rows after a day.
    for (id, finished) in rows::stale_uploads(db, now - DAY_MS).await? {
        if !finished {
            media.store.remove_upload(&id).await?;
            report.uploads_dropped += 1;
        }
        rows::delete_upload(db, &id).await?;
    }
    Ok(report)
}

async fn delete_blob(media: &Media, sha: &str) -> Result<(), RetentionError> {
    if blobs::is_sha256_hex(sha) {
        media.store.remove(sha).await?;
    }
    Ok(rows::delete_blob_row(&media.db, sha).await?)
}

/// Remove everything media a story had: its references, its jobs, its unfinished uploads, and
/// blobs no other story references (bytes included, verified gone from the store). Returns
/// (references, blobs) removed.
pub async fn forget_story(media: &Media, doc_id: &str) -> Result<(usize, usize), RetentionError> {
    let db = &media.db;
    let shas = rows::blobs_of_story(db, doc_id).await?;
    rows::drop_story_refs(db, doc_id).await?;
    media.queue.delete_for_story(doc_id).await?;
    for id in rows::uploads_of_story(db, doc_id).await? {
        media.store.remove_upload(&id).await?;
        rows::delete_upload(db, &id).await?;
    }
    let mut deleted = 0;
    for sha in &shas {
        if rows::refs_of(db, sha).await?.is_empty() {
            delete_blob(media, sha).await?;
            deleted += 1;
        }
    }
    Ok((shas.len(), deleted))
}
