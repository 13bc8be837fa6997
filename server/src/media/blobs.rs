//! Blobs: content-addressed files in the data directory, and their rows in the database.
//!
//! A blob is named by the SHA-256 (lower-case hex) of the bytes a device uploaded: the name stories
//! reference in their `attachments`. Its bytes are `<data dir>/media/blobs/<first two hex>/<sha256>`
//! (a photo's thumbnail beside it as `<sha256>.thumb`), never inside a document or the database.
//! Files are written to a temporary name, synced and renamed, so a crash leaves either the whole
//! file or none.

use crate::db::{Db, DbError, RowExt, now_ms};
use sqlx::any::AnyRow;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a blob holds, which decides what the server does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    Audio,
    Photo,
}

impl BlobKind {
    pub fn code(self) -> &'static str {
        match self {
            BlobKind::Audio => "audio",
            BlobKind::Photo => "photo",
        }
    }

    pub fn from_code(s: &str) -> Option<BlobKind> {
        match s {
            "audio" => Some(BlobKind::Audio),
            "photo" => Some(BlobKind::Photo),
            _ => None,
        }
    }

    /// The kind for a MIME type a device declared, or `None` when the server does not accept it.
    /// Browsers label audio-only recordings `audio/webm`, `audio/mp4`, `audio/ogg`, sometimes
    /// `video/webm` or `video/mp4`; parameters such as `;codecs=opus` are ignored.
    pub fn for_mime(mime: &str) -> Option<BlobKind> {
        let base = mime
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match base.as_str() {
            "image/jpeg" | "image/png" | "image/webp" => Some(BlobKind::Photo),
            "video/webm" | "video/mp4" | "application/ogg" => Some(BlobKind::Audio),
            b if b.starts_with("audio/") => Some(BlobKind::Audio),
            _ => None,
        }
    }
}

/// A stored blob's row.
#[derive(Debug, Clone)]
pub struct Blob {
    pub sha256: String,
    pub kind: BlobKind,
    /// The MIME type the device declared for the upload.
    pub mime: String,
    /// Size of the uploaded bytes (what counts against the uploader's quota).
    pub size: i64,
    /// MIME type and size of the stored bytes (a photo's sanitised re-encoding).
    pub stored_mime: String,
    pub stored_size: i64,
    pub has_thumbnail: bool,
    pub uploaded_by: i64,
    /// Retention removed the bytes; the row stays while stories reference the blob.
    pub bytes_deleted: bool,
}

fn blob_from(row: &AnyRow) -> Result<Blob, sqlx::Error> {
    let kind = row.string("kind")?;
    Ok(Blob {
        sha256: row.string("sha256")?,
        kind: BlobKind::from_code(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown blob kind {kind}").into()))?,
        mime: row.string("mime")?,
        size: row.i64("size")?,
        stored_mime: row.string("stored_mime")?,
        stored_size: row.i64("stored_size")?,
        has_thumbnail: row.i64("has_thumbnail")? != 0,
        uploaded_by: row.i64("uploaded_by")?,
        bytes_deleted: row.opt_i64("bytes_deleted_at")?.is_some(),
    })
}

const BLOB_COLS: &str = "sha256, kind, mime, size, stored_mime, stored_size, has_thumbnail, uploaded_by, bytes_deleted_at";

/// Whether `s` is a SHA-256 in lower-case hex, the only form blob names take (and so the only
/// form that ever reaches a file path).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The files of blobs and uploads under the data directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// `<data_dir>/media`, with `blobs/` and `uploads/` created.
    pub fn open(data_dir: &Path) -> std::io::Result<BlobStore> {
        let root = data_dir.join("media");
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("uploads"))?;
        Ok(BlobStore { root })
    }

    /// Path of a blob's bytes. `sha256` must be checked with [`is_sha256_hex`] first.
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.root.join("blobs").join(&sha256[..2]).join(sha256)
    }

    pub fn thumbnail_path(&self, sha256: &str) -> PathBuf {
        self.root
            .join("blobs")
            .join(&sha256[..2])
            .join(format!("{sha256}.thumb"))
    }

    /// Where the bytes of an upload in progress are appended. Upload ids are hex.
    pub fn upload_path(&self, upload_id: &str) -> PathBuf {
        self.root.join("uploads").join(upload_id)
    }

    /// Write `bytes` as the file at `path`, atomically (temporary file, sync, rename).
    pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(
            ".tmp-{:016x}",
            rand::random::<u64>() // unique per writer
        ));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Move a completed upload's file into place as a blob (same file system: a rename).
    pub fn adopt(&self, upload_file: &Path, sha256: &str) -> std::io::Result<()> {
        let dest = self.blob_path(sha256);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::File::open(upload_file)?.sync_all()?;
        std::fs::rename(upload_file, &dest)
    }

    /// Remove a blob's bytes and thumbnail. Missing files are fine.
    pub fn remove(&self, sha256: &str) -> std::io::Result<()> {
        for p in [self.blob_path(sha256), self.thumbnail_path(sha256)] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A new blob row.
pub struct NewBlob<'a> {
    pub sha256: &'a str,
    pub kind: BlobKind,
    pub mime: &'a str,
    pub size: i64,
    pub stored_mime: &'a str,
    pub stored_size: i64,
    pub has_thumbnail: bool,
    pub uploaded_by: i64,
}

pub async fn get(db: &Db, sha256: &str) -> Result<Option<Blob>, DbError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BLOB_COLS} FROM blobs WHERE sha256 = $1"
    )))
    .bind(sha256)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.as_ref().map(blob_from).transpose()?)
}

/// Insert the row of newly stored bytes, or revive a row whose bytes retention had removed.
pub async fn insert(db: &Db, b: &NewBlob<'_>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO blobs (sha256, kind, mime, size, stored_mime, stored_size, has_thumbnail, uploaded_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (sha256) DO UPDATE SET kind = $2, mime = $3, size = $4, stored_mime = $5, \
         stored_size = $6, has_thumbnail = $7, uploaded_by = $8, created_at = $9, bytes_deleted_at = NULL",
    )
    .bind(b.sha256)
    .bind(b.kind.code())
    .bind(b.mime)
    .bind(b.size)
    .bind(b.stored_mime)
    .bind(b.stored_size)
    .bind(i64::from(b.has_thumbnail))
    .bind(b.uploaded_by)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Record that a story references a blob. Returns true when the reference is new.
pub async fn add_ref(db: &Db, sha256: &str, doc_id: &str) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO blob_refs (sha256, doc_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(sha256)
    .bind(doc_id)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn has_ref(db: &Db, sha256: &str, doc_id: &str) -> Result<bool, DbError> {
    let row = sqlx::query("SELECT 1 AS one FROM blob_refs WHERE sha256 = $1 AND doc_id = $2")
        .bind(sha256)
        .bind(doc_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.is_some())
}

/// Stories referencing a blob.
pub async fn refs_of(db: &Db, sha256: &str) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query("SELECT doc_id FROM blob_refs WHERE sha256 = $1 ORDER BY doc_id")
        .bind(sha256)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| r.string("doc_id"))
        .collect::<Result<_, _>>()
        .map_err(DbError::Sqlx)
}

/// Bytes a member has stored or reserved: blobs they uploaded whose bytes are kept, plus the
/// declared length of their unfinished uploads.
pub async fn member_usage<'e, E>(exec: E, member_id: i64) -> Result<i64, DbError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    // SUM over BIGINT is NUMERIC in PostgreSQL, which the Any driver cannot read: cast it.
    let row = sqlx::query(
        "SELECT CAST((SELECT COALESCE(SUM(size), 0) FROM blobs WHERE uploaded_by = $1 AND bytes_deleted_at IS NULL) \
         + (SELECT COALESCE(SUM(length), 0) FROM uploads WHERE member_id = $1 AND completed_at IS NULL) AS BIGINT) AS used",
    )
    .bind(member_id)
    .fetch_one(exec)
    .await?;
    Ok(row.i64("used")?)
}

/// Mark a blob's bytes as removed by retention.
pub async fn mark_bytes_deleted(db: &Db, sha256: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE blobs SET bytes_deleted_at = $1 WHERE sha256 = $2")
        .bind(now_ms())
        .bind(sha256)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Forget a blob entirely (no story references it any more).
pub async fn delete_row(db: &Db, sha256: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM blobs WHERE sha256 = $1")
        .bind(sha256)
        .execute(&db.pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lower_case_hex_names_a_blob() {
        let ok = "a".repeat(64);
        assert!(is_sha256_hex(&ok));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex(&format!("../{}", "a".repeat(61))));
        assert!(!is_sha256_hex("abc"));
    }

    #[test]
    fn kinds_follow_what_phones_declare() {
        assert_eq!(
            BlobKind::for_mime("audio/webm;codecs=opus"),
            Some(BlobKind::Audio)
        );
        assert_eq!(BlobKind::for_mime("audio/mp4"), Some(BlobKind::Audio));
        assert_eq!(BlobKind::for_mime("video/webm"), Some(BlobKind::Audio));
        assert_eq!(BlobKind::for_mime("image/jpeg"), Some(BlobKind::Photo));
        assert_eq!(BlobKind::for_mime("text/html"), None);
        assert_eq!(BlobKind::for_mime("image/svg+xml"), None);
    }
}
