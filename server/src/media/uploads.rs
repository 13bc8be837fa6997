//! Resumable uploads (the tus 1.0 core protocol; `crate::http::media` speaks the HTTP part) and
//! the access rule for blobs.
//!
//! An upload is a row plus part objects in the blob store, one or more per `PATCH`
//! ([`BlobStore::append_body`]). The parts add up to the offset: whatever was stored before a
//! connection broke counts, and the device resumes from there — through any server process of
//! the same database and store.
//! When the last byte arrives the SHA-256 is checked, then the bytes become a blob — or, if that
//! blob is stored already, are dropped (deduplication). Audio is queued for transcription; a photo
//! is sanitised and only the sanitised copy is kept.

use super::Media;
use super::blobs::{Blob, BlobKind, BlobStore, NewBlob, is_sha256_hex};
use super::photos::{self, PhotoError};
use crate::db::accounts::Member;
use crate::db::media::{self as rows, NewUpload, UploadRow};
use crate::db::{Db, DbError, now_ms};
use base64::Engine;
use client_core::wire::DocumentId;
use futures_util::Stream;
use object_store::path::Path as ObjectPath;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

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

async fn load(db: &Db, id: &str, member: &Member) -> Result<UploadRow, MediaError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MediaError::NotFound);
    }
    rows::upload(db, id)
        .await?
        .filter(|up| up.member_id == member.id)
        .ok_or(MediaError::NotFound)
}

/// Whether `member` may link an already stored blob to a story without sending its bytes: they
/// uploaded it, or they can see a story that references it. Anyone else proves they hold the
/// bytes by uploading them (a hash alone must not open someone else's recording).
async fn may_reuse(media: &Media, member: &Member, blob: &Blob) -> Result<bool, DbError> {
    if blob.uploaded_by == member.id {
        return Ok(true);
    }
    for doc in rows::refs_of(&media.db, &blob.sha256).await? {
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
    let row = NewUpload {
        id: &id,
        member_id: member.id,
        doc_id: &doc_id,
        sha256: &meta.sha256,
        mime: &meta.mime,
        length,
        now: now_ms(),
    };
    if let Some(blob) = rows::blob(&media.db, &meta.sha256).await?
        && !blob.bytes_deleted
        && blob.size as u64 == length
        && may_reuse(media, member, &blob).await?
    {
        rows::insert_completed_upload(&media.db, &row).await?;
        linked(media, &doc_id, &meta.sha256, blob.kind).await?;
        return Ok(UploadInfo {
            id,
            length,
            offset: length,
            complete: true,
        });
    }
    if !rows::reserve_upload(&media.db, &row, media.config.member_quota_bytes).await? {
        return Err(MediaError::QuotaExceeded(media.config.member_quota_bytes));
    }
    Ok(UploadInfo {
        id,
        length,
        offset: 0,
        complete: false,
    })
}

/// `HEAD`: how far an upload got.
pub async fn status(media: &Media, member: &Member, id: &str) -> Result<UploadInfo, MediaError> {
    let up = load(&media.db, id, member).await?;
    let offset = if up.completed {
        up.length
    } else {
        media.store.upload_offset(&up.id).await?
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

/// `PATCH`: append the body at `offset`. Bytes that reached the store count even when the body
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
    let current = media.store.upload_offset(&up.id).await?;
    if offset != current {
        return Err(MediaError::OffsetMismatch {
            current,
            given: offset,
        });
    }
    let appended = media
        .store
        .append_body(&up.id, current, up.length, body)
        .await?;
    let written = appended.offset;
    rows::touch_upload(&media.db, &up.id).await?;
    if written == up.length {
        finish(media, &up).await?;
        return Ok(UploadInfo {
            id: up.id,
            length: up.length,
            offset: written,
            complete: true,
        });
    }
    if let Some(e) = appended.broken {
        tracing::debug!(error = %e, upload = %up.id, written, "upload body broke off");
        return Err(MediaError::Interrupted(written));
    }
    if appended.too_long {
        return Err(MediaError::BadRequest(
            "more bytes than Upload-Length".into(),
        ));
    }
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
    media.store.remove_upload(id).await?;
    rows::delete_upload(&media.db, id).await?;
    Ok(())
}

fn joined<T>(r: Result<T, tokio::task::JoinError>) -> std::io::Result<T> {
    r.map_err(|e| std::io::Error::other(e.to_string()))
}

/// The last byte arrived: verify, store (or deduplicate), reference, queue.
async fn finish(media: &Media, up: &UploadRow) -> Result<(), MediaError> {
    let (file, actual) = media.store.assemble(&up.id).await?;
    if actual != up.sha256 {
        drop(file);
        discard(media, &up.id).await?;
        return Err(MediaError::ChecksumMismatch);
    }
    let kind = BlobKind::for_mime(&up.mime)
        .ok_or_else(|| MediaError::Unsupported(format!("{} is not accepted", up.mime)))?;
    let existing = rows::blob(&media.db, &up.sha256).await?;
    // Stored already (and not removed by retention): these bytes are a duplicate.
    if existing.as_ref().is_none_or(|b| b.bytes_deleted) {
        let (stored_mime, stored_size, has_thumbnail) = match kind {
            BlobKind::Audio => {
                media
                    .store
                    .put_file(&BlobStore::blob_key(&up.sha256), file.path())
                    .await?;
                (up.mime.as_str(), up.length as i64, false)
            }
            BlobKind::Photo => {
                let limits = media.config.photo_limits();
                // One of a few decodes at a time: each may use up to the budget.
                let _turn = media
                    .photo_decodes
                    .acquire()
                    .await
                    .map_err(std::io::Error::other)?;
                let p = file.path().to_path_buf();
                let sanitised = joined(
                    tokio::task::spawn_blocking(move || {
                        let f = std::fs::File::open(&p)?;
                        let len = f.metadata()?.len();
                        Ok::<_, std::io::Error>(photos::sanitise(
                            std::io::BufReader::new(f),
                            len,
                            limits,
                        ))
                    })
                    .await,
                )??;
                let s = match sanitised {
                    Ok(s) => s,
                    Err(e) => {
                        // The original (with its EXIF) is never kept, accepted or not.
                        discard(media, &up.id).await?;
                        return Err(e.into());
                    }
                };
                let size = s.jpeg.len() as i64;
                media
                    .store
                    .put(&BlobStore::thumbnail_key(&up.sha256), s.thumbnail)
                    .await?;
                media
                    .store
                    .put(&BlobStore::blob_key(&up.sha256), s.jpeg)
                    .await?;
                ("image/jpeg", size, true)
            }
        };
        rows::insert_blob(
            &media.db,
            &NewBlob {
                sha256: &up.sha256,
                kind,
                mime: &up.mime,
                size: up.length as i64,
                stored_mime,
                stored_size,
                has_thumbnail,
                uploaded_by: up.member_id,
            },
        )
        .await?;
    }
    drop(file);
    media.store.remove_upload(&up.id).await?;
    rows::complete_upload(&media.db, &up.id).await?;
    linked(media, &up.doc_id, &up.sha256, kind).await?;
    Ok(())
}

/// A story now references a stored blob: record it, and queue audio for transcription.
async fn linked(
    media: &Media,
    doc_id: &str,
    sha256: &str,
    kind: BlobKind,
) -> Result<(), MediaError> {
    rows::add_ref(&media.db, sha256, doc_id).await?;
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
        && rows::has_ref(&media.db, sha256, doc_id).await?
        && rows::blob(&media.db, sha256)
            .await?
            .is_some_and(|b| !b.bytes_deleted))
}

/// A blob the caller may download: its object in the store, length and type.
pub struct Readable {
    pub key: ObjectPath,
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
        || !rows::has_ref(&media.db, sha256, doc_id).await?
    {
        return Err(MediaError::NotFound);
    }
    let blob = rows::blob(&media.db, sha256)
        .await?
        .filter(|b| !b.bytes_deleted)
        .ok_or(MediaError::NotFound)?;
    if thumbnail && !blob.has_thumbnail {
        return Err(MediaError::NotFound);
    }
    let key = if thumbnail {
        BlobStore::thumbnail_key(sha256)
    } else {
        BlobStore::blob_key(sha256)
    };
    let len = media.store.size(&key).await?.ok_or(MediaError::NotFound)?;
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
        key,
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
