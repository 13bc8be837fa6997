//! Resumable uploads (the tus 1.0 core protocol; `crate::http::media` speaks the HTTP part) and
//! the access rule for blobs.
//!
//! An upload is a row plus a file that grows with every `PATCH`. The file's length is the offset:
//! whatever reached the disk before a connection broke counts, and the device resumes from there.
//! When the last byte arrives the SHA-256 is checked, then the bytes become a blob — or, if that
//! blob is stored already, are dropped (deduplication). Audio is queued for transcription; a photo
//! is sanitised and only the sanitised copy is kept.

use super::Media;
use super::blobs::{self, BlobKind, BlobStore, NewBlob, is_sha256_hex};
use super::photos::{self, PhotoError};
use crate::db::accounts::Member;
use crate::db::{Backend, Db, DbError, RowExt, now_ms};
use base64::Engine;
use client_core::wire::DocumentId;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Missing, someone else's, or not visible: all look the same.
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("the upload is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("this upload would exceed your storage quota of {0} bytes")]
    QuotaExceeded(u64),
    #[error("{0}")]
    Unsupported(String),
    #[error("the upload is at offset {current}, not {given}")]
    OffsetMismatch { current: u64, given: u64 },
    #[error("checksum mismatch: the bytes received do not have the declared SHA-256")]
    ChecksumMismatch,
    #[error(transparent)]
    Photo(#[from] PhotoError),
    #[error("another request is writing this upload; try again")]
    Busy,
    #[error("the connection broke after {0} bytes; resume from there")]
    Interrupted(u64),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One lock per upload id, so two `PATCH`es of one upload never interleave in this process.
#[derive(Default)]
pub struct Locks(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl Locks {
    fn get(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, l| Arc::strong_count(l) > 1);
        map.entry(id.to_string()).or_default().clone()
    }
}

/// `Upload-Metadata` of a creation request.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub sha256: String,
    pub story: DocumentId,
    pub mime: String,
}

/// Parse tus `Upload-Metadata`: `key base64value` pairs separated by commas.
pub fn parse_metadata(header: &str) -> Result<Metadata, MediaError> {
    let mut pairs = HashMap::new();
    for item in header.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (key, value) = item.split_once(' ').unwrap_or((item, ""));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| MediaError::BadRequest(format!("metadata {key}: not base64")))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| MediaError::BadRequest(format!("metadata {key}: not UTF-8")))?;
        pairs.insert(key.to_string(), text);
    }
    let get = |k: &str| {
        pairs
            .get(k)
            .map(|v| v.trim().to_string())
            .ok_or_else(|| MediaError::BadRequest(format!("Upload-Metadata needs {k}")))
    };
    let sha256 = get("sha256")?.to_ascii_lowercase();
    if !is_sha256_hex(&sha256) {
        return Err(MediaError::BadRequest(
            "metadata sha256 must be 64 hex digits".into(),
        ));
    }
    let story = get("story")?
        .parse::<DocumentId>()
        .map_err(|_| MediaError::BadRequest("metadata story is not a document id".into()))?;
    let mime = get("mime")?;
    Ok(Metadata {
        sha256,
        story,
        mime,
    })
}

/// Whether the caller may see the story (`DocMeta::visible_to`).
pub async fn may_access_story(db: &Db, member: &Member, doc_id: &str) -> Result<bool, DbError> {
    Ok(db
        .doc_meta(doc_id, member.id)
        .await?
        .is_some_and(|(meta, shared)| meta.visible_to(member, shared)))
}

/// An upload's state as `HEAD` reports it.
#[derive(Debug, Clone)]
pub struct UploadInfo {
    pub id: String,
    pub length: u64,
    pub offset: u64,
    pub complete: bool,
}

struct UploadRow {
    id: String,
    member_id: i64,
    doc_id: String,
    sha256: String,
    mime: String,
    length: u64,
    completed: bool,
}

async fn load(db: &Db, id: &str, member: &Member) -> Result<UploadRow, MediaError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MediaError::NotFound);
    }
    let row = sqlx::query(
        "SELECT id, member_id, doc_id, sha256, mime, length, completed_at FROM uploads WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await
    .map_err(DbError::from)?
    .ok_or(MediaError::NotFound)?;
    let up = UploadRow {
        id: row.string("id").map_err(DbError::from)?,
        member_id: row.i64("member_id").map_err(DbError::from)?,
        doc_id: row.string("doc_id").map_err(DbError::from)?,
        sha256: row.string("sha256").map_err(DbError::from)?,
        mime: row.string("mime").map_err(DbError::from)?,
        length: row.i64("length").map_err(DbError::from)?.max(0) as u64,
        completed: row
            .opt_i64("completed_at")
            .map_err(DbError::from)?
            .is_some(),
    };
    if up.member_id != member.id {
        return Err(MediaError::NotFound);
    }
    Ok(up)
}

async fn file_len(path: &Path) -> Result<u64, MediaError> {
    match tokio::fs::metadata(path).await {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Whether `member` may link an already stored blob to a story without sending its bytes: they
/// uploaded it, or they can see a story that references it. Anyone else proves they hold the
/// bytes by uploading them (a hash alone must not open someone else's recording).
async fn may_reuse(media: &Media, member: &Member, blob: &blobs::Blob) -> Result<bool, DbError> {
    if blob.uploaded_by == member.id {
        return Ok(true);
    }
    for doc in blobs::refs_of(&media.db, &blob.sha256).await? {
        if may_access_story(&media.db, member, &doc).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `POST`: create an upload. If the blob is stored and the caller may reuse it, the upload is
/// complete at once (nothing to send).
pub async fn create(
    media: &Media,
    member: &Member,
    length: u64,
    meta: &Metadata,
) -> Result<UploadInfo, MediaError> {
    BlobKind::for_mime(&meta.mime).ok_or_else(|| {
        MediaError::Unsupported(format!(
            "{} is not accepted: upload audio (voice notes) or JPEG, PNG or WebP photos",
            meta.mime
        ))
    })?;
    if length == 0 {
        return Err(MediaError::BadRequest(
            "Upload-Length must be above 0".into(),
        ));
    }
    if length > media.config.max_upload_bytes {
        return Err(MediaError::TooLarge(media.config.max_upload_bytes));
    }
    let doc_id = meta.story.to_string();
    if !may_access_story(&media.db, member, &doc_id).await? {
        return Err(MediaError::NotFound);
    }
    let id = hex::encode(rand::random::<[u8; 16]>());
    let now = now_ms();
    if let Some(blob) = blobs::get(&media.db, &meta.sha256).await?
        && !blob.bytes_deleted
        && blob.size as u64 == length
        && may_reuse(media, member, &blob).await?
    {
        sqlx::query(
            "INSERT INTO uploads (id, member_id, doc_id, sha256, mime, length, created_at, updated_at, completed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7)",
        )
        .bind(&id)
        .bind(member.id)
        .bind(&doc_id)
        .bind(&meta.sha256)
        .bind(&meta.mime)
        .bind(length as i64)
        .bind(now)
        .execute(&media.db.pool)
        .await
        .map_err(DbError::from)?;
        linked(media, &doc_id, &meta.sha256, blob.kind).await?;
        return Ok(UploadInfo {
            id,
            length,
            offset: length,
            complete: true,
        });
    }
    reserve(media, member, &id, &doc_id, meta, length, now).await?;
    Ok(UploadInfo {
        id,
        length,
        offset: 0,
        complete: false,
    })
}

/// Record a new upload if the member's quota has room for its full length. Checking and
/// recording are one step per member: on SQLite this process's writers take turns
/// ([`Db::begin_write`]); on PostgreSQL the member's row stays locked until the upload is
/// recorded, across server processes. (Checked in one query and recorded in another, six of
/// twelve parallel creations of a third of the quota each once passed the check.)
async fn reserve(
    media: &Media,
    member: &Member,
    id: &str,
    doc_id: &str,
    meta: &Metadata,
    length: u64,
    now: i64,
) -> Result<(), MediaError> {
    let (mut tx, _turn) = media.db.begin_write().await?;
    if media.db.backend == Backend::Postgres {
        sqlx::query("SELECT id FROM members WHERE id = $1 FOR UPDATE")
            .bind(member.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(DbError::from)?;
    }
    let used = blobs::member_usage(&mut *tx, member.id).await?.max(0) as u64;
    if used.saturating_add(length) > media.config.member_quota_bytes {
        return Err(MediaError::QuotaExceeded(media.config.member_quota_bytes));
    }
    sqlx::query(
        "INSERT INTO uploads (id, member_id, doc_id, sha256, mime, length, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(id)
    .bind(member.id)
    .bind(doc_id)
    .bind(&meta.sha256)
    .bind(&meta.mime)
    .bind(length as i64)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}

/// `HEAD`: how far an upload got.
pub async fn status(media: &Media, member: &Member, id: &str) -> Result<UploadInfo, MediaError> {
    let up = load(&media.db, id, member).await?;
    let offset = if up.completed {
        up.length
    } else {
        file_len(&media.store.upload_path(&up.id)).await?
    };
    if !up.completed && offset == up.length {
        // Every byte arrived but the server stopped before storing them: finish now, or a client
        // that sees a full offset would wait forever.
        let nothing = futures_util::stream::empty::<Result<&[u8], std::convert::Infallible>>();
        return append(media, member, id, offset, nothing).await;
    }
    Ok(UploadInfo {
        id: up.id,
        length: up.length,
        offset,
        complete: up.completed,
    })
}

/// `PATCH`: append the body at `offset`. Bytes that reached the disk count even when the body
/// breaks off. When the upload is complete it is verified and stored.
pub async fn append<S, B, E>(
    media: &Media,
    member: &Member,
    id: &str,
    offset: u64,
    body: S,
) -> Result<UploadInfo, MediaError>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let lock = media.uploads.get(id);
    let _guard = tokio::time::timeout(Duration::from_secs(15), lock.lock_owned())
        .await
        .map_err(|_| MediaError::Busy)?;
    let up = load(&media.db, id, member).await?;
    if up.completed {
        return if offset == up.length {
            Ok(UploadInfo {
                id: up.id,
                length: up.length,
                offset: up.length,
                complete: true,
            })
        } else {
            Err(MediaError::OffsetMismatch {
                current: up.length,
                given: offset,
            })
        };
    }
    let path = media.store.upload_path(&up.id);
    let current = file_len(&path).await?;
    if offset != current {
        return Err(MediaError::OffsetMismatch {
            current,
            given: offset,
        });
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .await?;
    let mut written = current;
    let mut body = std::pin::pin!(body);
    let mut outcome = Ok(());
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => {
                let bytes = bytes.as_ref();
                let room = up.length - written;
                if bytes.len() as u64 > room {
                    file.write_all(&bytes[..room as usize]).await?;
                    written += room;
                    outcome = Err(MediaError::BadRequest(
                        "more bytes than Upload-Length".into(),
                    ));
                    break;
                }
                file.write_all(bytes).await?;
                written += bytes.len() as u64;
            }
            Err(e) => {
                tracing::debug!(error = %e, upload = %up.id, written, "upload body broke off");
                outcome = Err(MediaError::Interrupted(written));
                break;
            }
        }
    }
    file.flush().await?;
    file.sync_data().await?;
    drop(file);
    sqlx::query("UPDATE uploads SET updated_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(&up.id)
        .execute(&media.db.pool)
        .await
        .map_err(DbError::from)?;
    if written == up.length {
        finish(media, &up, &path).await?;
        return Ok(UploadInfo {
            id: up.id,
            length: up.length,
            offset: written,
            complete: true,
        });
    }
    outcome?;
    Ok(UploadInfo {
        id: up.id,
        length: up.length,
        offset: written,
        complete: false,
    })
}

/// `DELETE`: abandon an upload and its bytes.
pub async fn abandon(media: &Media, member: &Member, id: &str) -> Result<(), MediaError> {
    let lock = media.uploads.get(id);
    let _guard = tokio::time::timeout(Duration::from_secs(15), lock.lock_owned())
        .await
        .map_err(|_| MediaError::Busy)?;
    let up = load(&media.db, id, member).await?;
    discard(media, &up.id).await
}

async fn discard(media: &Media, id: &str) -> Result<(), MediaError> {
    match tokio::fs::remove_file(media.store.upload_path(id)).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    sqlx::query("DELETE FROM uploads WHERE id = $1")
        .bind(id)
        .execute(&media.db.pool)
        .await
        .map_err(DbError::from)?;
    Ok(())
}

/// SHA-256 of a file, in lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The last byte arrived: verify, store (or deduplicate), reference, queue.
async fn finish(media: &Media, up: &UploadRow, path: &Path) -> Result<(), MediaError> {
    let p = path.to_path_buf();
    let actual = tokio::task::spawn_blocking(move || sha256_file(&p))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    if actual != up.sha256 {
        discard(media, &up.id).await?;
        return Err(MediaError::ChecksumMismatch);
    }
    let kind = BlobKind::for_mime(&up.mime)
        .ok_or_else(|| MediaError::Unsupported(format!("{} is not accepted", up.mime)))?;
    let existing = blobs::get(&media.db, &up.sha256).await?;
    if existing.as_ref().is_some_and(|b| !b.bytes_deleted) {
        // Stored already: these bytes are a duplicate.
        tokio::fs::remove_file(path).await?;
    } else {
        match kind {
            BlobKind::Audio => {
                let store = media.store.clone();
                let (p, sha) = (path.to_path_buf(), up.sha256.clone());
                tokio::task::spawn_blocking(move || store.adopt(&p, &sha))
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))??;
                blobs::insert(
                    &media.db,
                    &NewBlob {
                        sha256: &up.sha256,
                        kind,
                        mime: &up.mime,
                        size: up.length as i64,
                        stored_mime: &up.mime,
                        stored_size: up.length as i64,
                        has_thumbnail: false,
                        uploaded_by: up.member_id,
                    },
                )
                .await?;
            }
            BlobKind::Photo => {
                let limits = media.config.photo_limits();
                // One of a few decodes at a time: each may use up to the budget.
                let _turn = media
                    .photo_decodes
                    .acquire()
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                let store = media.store.clone();
                let (p, sha) = (path.to_path_buf(), up.sha256.clone());
                let sanitised = tokio::task::spawn_blocking(move || {
                    let file = std::fs::File::open(&p)?;
                    let len = file.metadata()?.len();
                    let reader = std::io::BufReader::new(file);
                    let s = match photos::sanitise(reader, len, limits) {
                        Ok(s) => s,
                        Err(e) => return Ok(Err(e)),
                    };
                    BlobStore::write_atomic(&store.blob_path(&sha), &s.jpeg)?;
                    BlobStore::write_atomic(&store.thumbnail_path(&sha), &s.thumbnail)?;
                    Ok::<_, std::io::Error>(Ok(s.jpeg.len()))
                })
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
                // The original (with its EXIF) is never kept, accepted or not.
                discard_file(path).await?;
                let stored_size = match sanitised {
                    Ok(n) => n,
                    Err(e) => {
                        discard(media, &up.id).await?;
                        return Err(e.into());
                    }
                };
                blobs::insert(
                    &media.db,
                    &NewBlob {
                        sha256: &up.sha256,
                        kind,
                        mime: &up.mime,
                        size: up.length as i64,
                        stored_mime: "image/jpeg",
                        stored_size: stored_size as i64,
                        has_thumbnail: true,
                        uploaded_by: up.member_id,
                    },
                )
                .await?;
            }
        }
    }
    sqlx::query("UPDATE uploads SET completed_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(&up.id)
        .execute(&media.db.pool)
        .await
        .map_err(DbError::from)?;
    linked(media, &up.doc_id, &up.sha256, kind).await?;
    Ok(())
}

async fn discard_file(path: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A story now references a stored blob: record it, and queue audio for transcription.
async fn linked(
    media: &Media,
    doc_id: &str,
    sha256: &str,
    kind: BlobKind,
) -> Result<(), MediaError> {
    blobs::add_ref(&media.db, sha256, doc_id).await?;
    if kind == BlobKind::Audio && media.queue.enqueue(doc_id, sha256).await? {
        if let Ok(doc) = doc_id.parse::<DocumentId>() {
            let note = (!media.queue.model_present).then_some(super::jobs::NO_MODEL);
            super::jobs::write_status(media, doc, sha256, "queued", 0, note, None).await;
        }
        media.queue.open(doc_id).await?;
        tracing::info!(doc = doc_id, "voice note queued for transcription");
    }
    Ok(())
}

/// Whether story `doc_id` references the blob and its bytes are still stored (retention removes
/// a voice note's audio after approval). Says nothing about who may fetch it: [`open_for`] does.
pub async fn available(media: &Media, sha256: &str, doc_id: &str) -> Result<bool, DbError> {
    Ok(is_sha256_hex(sha256)
        && blobs::has_ref(&media.db, sha256, doc_id).await?
        && blobs::get(&media.db, sha256)
            .await?
            .is_some_and(|b| !b.bytes_deleted))
}

/// A blob the caller may download: open file, its length and type.
pub struct Readable {
    pub file: tokio::fs::File,
    pub len: u64,
    pub mime: String,
    /// SHA-256 of the bytes served (for photos: of the sanitised copy).
    pub etag: String,
}

/// Open a blob (or its thumbnail) for `member`, if they may see `doc_id` and it references the
/// blob. Everything else — no such blob, bytes removed by retention, a story they may not see —
/// is `NotFound`, indistinguishable.
pub async fn open_for(
    media: &Media,
    member: &Member,
    sha256: &str,
    doc_id: &str,
    thumbnail: bool,
) -> Result<Readable, MediaError> {
    if !is_sha256_hex(sha256) {
        return Err(MediaError::NotFound);
    }
    if doc_id.parse::<DocumentId>().is_err()
        || !may_access_story(&media.db, member, doc_id).await?
        || !blobs::has_ref(&media.db, sha256, doc_id).await?
    {
        return Err(MediaError::NotFound);
    }
    let blob = blobs::get(&media.db, sha256)
        .await?
        .filter(|b| !b.bytes_deleted)
        .ok_or(MediaError::NotFound)?;
    if thumbnail && !blob.has_thumbnail {
        return Err(MediaError::NotFound);
    }
    let path = if thumbnail {
        media.store.thumbnail_path(sha256)
    } else {
        media.store.blob_path(sha256)
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(MediaError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata().await?.len();
    let mime = if thumbnail || blob.kind == BlobKind::Photo {
        "image/jpeg".to_string()
    } else {
        blob.stored_mime.clone()
    };
    let etag = if blob.kind == BlobKind::Audio && !thumbnail {
        sha256.to_string()
    } else {
        format!("{sha256}-{}", if thumbnail { "thumb" } else { "clean" })
    };
    Ok(Readable {
        file,
        len,
        mime,
        etag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn metadata_is_parsed_and_checked() {
        let story = DocumentId::from_bytes([7; 16]).to_string();
        let sha = "ab".repeat(32);
        let h = format!(
            "sha256 {},story {},mime {}",
            b64(&sha),
            b64(&story),
            b64("audio/webm")
        );
        let m = parse_metadata(&h).unwrap();
        assert_eq!(m.sha256, sha);
        assert_eq!(m.story.to_string(), story);
        assert_eq!(m.mime, "audio/webm");
        let bad = format!("sha256 {},story {}", b64("xyz"), b64(&story));
        assert!(parse_metadata(&bad).is_err());
        assert!(parse_metadata("sha256 !!!").is_err());
    }
}
