//! Media's rows: blobs and the stories that reference them, uploads in progress, and the
//! transcription queue (`media_jobs`, `media_turns`). All of `crate::media`'s SQL lives here;
//! the bytes themselves are in the blob store (`media::blobs`), never in the database.

use super::{Backend, Db, DbError, RowExt, now_ms};
use crate::media::blobs::BlobKind;
use serde::Serialize;
use sqlx::any::AnyRow;

// ---------------------------------------------------------------------------------------------
// Blobs and references

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

/// Run a statement whose one parameter (`$1`) is `key`.
async fn run_for(db: &Db, sql: &'static str, key: &str) -> Result<(), DbError> {
    sqlx::query(sql).bind(key).execute(&db.pool).await?;
    Ok(())
}

/// Run a statement whose parameters are the time now (`$1`) and `key` (`$2`).
async fn run_now_for(db: &Db, sql: &'static str, key: &str) -> Result<(), DbError> {
    sqlx::query(sql)
        .bind(now_ms())
        .bind(key)
        .execute(&db.pool)
        .await?;
    Ok(())
}

fn strings(rows: &[AnyRow], col: &str) -> Result<Vec<String>, DbError> {
    rows.iter()
        .map(|r| r.string(col))
        .collect::<Result<_, _>>()
        .map_err(DbError::Sqlx)
}

pub async fn blob(db: &Db, sha256: &str) -> Result<Option<Blob>, DbError> {
    let row = sqlx::query(
        "SELECT sha256, kind, mime, size, stored_mime, stored_size, has_thumbnail, uploaded_by, \
         bytes_deleted_at FROM blobs WHERE sha256 = $1",
    )
    .bind(sha256)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.as_ref().map(blob_from).transpose()?)
}

/// Insert the row of newly stored bytes, or revive a row whose bytes retention had removed.
pub async fn insert_blob(db: &Db, b: &NewBlob<'_>) -> Result<(), DbError> {
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
    strings(&rows, "doc_id")
}

/// Blobs a story references.
pub async fn blobs_of_story(db: &Db, doc_id: &str) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query("SELECT sha256 FROM blob_refs WHERE doc_id = $1")
        .bind(doc_id)
        .fetch_all(&db.pool)
        .await?;
    strings(&rows, "sha256")
}

pub async fn drop_story_refs(db: &Db, doc_id: &str) -> Result<(), DbError> {
    run_for(db, "DELETE FROM blob_refs WHERE doc_id = $1", doc_id).await
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
    run_now_for(
        db,
        "UPDATE blobs SET bytes_deleted_at = $1 WHERE sha256 = $2",
        sha256,
    )
    .await
}

/// Forget a blob entirely (no story references it any more).
pub async fn delete_blob_row(db: &Db, sha256: &str) -> Result<(), DbError> {
    run_for(db, "DELETE FROM blobs WHERE sha256 = $1", sha256).await
}

/// Stories with references that were erased or no longer exist.
pub async fn erased_referencing_stories(db: &Db) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query(
        "SELECT DISTINCT r.doc_id FROM blob_refs r LEFT JOIN documents d ON d.id = r.doc_id \
         WHERE d.id IS NULL OR d.deleted_at IS NOT NULL",
    )
    .fetch_all(&db.pool)
    .await?;
    strings(&rows, "doc_id")
}

/// Blobs created before `before` that no story references.
pub async fn orphan_blobs(db: &Db, before: i64) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query(
        "SELECT sha256 FROM blobs b WHERE created_at < $1 AND NOT EXISTS \
         (SELECT 1 FROM blob_refs r WHERE r.sha256 = b.sha256)",
    )
    .bind(before)
    .fetch_all(&db.pool)
    .await?;
    strings(&rows, "sha256")
}

/// A reference to an audio blob whose bytes are still stored.
pub struct AudioRef {
    pub sha256: String,
    pub doc_id: String,
    /// When the story's transcript was first seen approved.
    pub confirmed_at: Option<i64>,
}

pub async fn stored_audio_refs(db: &Db) -> Result<Vec<AudioRef>, DbError> {
    let rows = sqlx::query(
        "SELECT r.sha256, r.doc_id, r.confirmed_at FROM blob_refs r JOIN blobs b ON b.sha256 = r.sha256 \
         WHERE b.kind = 'audio' AND b.bytes_deleted_at IS NULL ORDER BY r.sha256",
    )
    .fetch_all(&db.pool)
    .await?;
    let refs = rows
        .iter()
        .map(|r| {
            Ok(AudioRef {
                sha256: r.string("sha256")?,
                doc_id: r.string("doc_id")?,
                confirmed_at: r.opt_i64("confirmed_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(refs)
}

pub async fn set_confirmed(
    db: &Db,
    sha256: &str,
    doc_id: &str,
    at: Option<i64>,
) -> Result<(), DbError> {
    sqlx::query("UPDATE blob_refs SET confirmed_at = $1 WHERE sha256 = $2 AND doc_id = $3")
        .bind(at)
        .bind(sha256)
        .bind(doc_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Uploads

/// An upload's row.
pub struct UploadRow {
    pub id: String,
    pub member_id: i64,
    pub doc_id: String,
    pub sha256: String,
    pub mime: String,
    pub length: u64,
    pub completed: bool,
}

/// A new upload's row.
pub struct NewUpload<'a> {
    pub id: &'a str,
    pub member_id: i64,
    pub doc_id: &'a str,
    pub sha256: &'a str,
    pub mime: &'a str,
    pub length: u64,
    pub now: i64,
}

pub async fn upload(db: &Db, id: &str) -> Result<Option<UploadRow>, DbError> {
    let row = sqlx::query(
        "SELECT id, member_id, doc_id, sha256, mime, length, completed_at FROM uploads WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(UploadRow {
        id: row.string("id")?,
        member_id: row.i64("member_id")?,
        doc_id: row.string("doc_id")?,
        sha256: row.string("sha256")?,
        mime: row.string("mime")?,
        length: row.i64("length")?.max(0) as u64,
        completed: row.opt_i64("completed_at")?.is_some(),
    }))
}

/// Record an upload that is complete at once (the blob was stored already).
pub async fn insert_completed_upload(db: &Db, u: &NewUpload<'_>) -> Result<(), DbError> {
    insert_upload(&db.pool, u, Some(u.now)).await
}

/// One row of `uploads`, complete at `completed_at` or still receiving bytes (`None`).
async fn insert_upload<'e, E>(
    exec: E,
    u: &NewUpload<'_>,
    completed_at: Option<i64>,
) -> Result<(), DbError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO uploads (id, member_id, doc_id, sha256, mime, length, created_at, updated_at, completed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
    )
    .bind(u.id)
    .bind(u.member_id)
    .bind(u.doc_id)
    .bind(u.sha256)
    .bind(u.mime)
    .bind(u.length as i64)
    .bind(u.now)
    .bind(completed_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// Record a new upload if the member's quota (`quota` bytes) has room for its full length;
/// `Ok(false)` when it has not. Checking and recording are one step per member: on SQLite this
/// process's writers take turns ([`Db::begin_write`]); on PostgreSQL the member's row stays
/// locked until the upload is recorded, across server processes. (Checked in one query and
/// recorded in another, six of twelve parallel creations of a third of the quota each once
/// passed the check.)
pub async fn reserve_upload(db: &Db, u: &NewUpload<'_>, quota: u64) -> Result<bool, DbError> {
    let (mut tx, _turn) = db.begin_write().await?;
    if db.backend == Backend::Postgres {
        sqlx::query("SELECT id FROM members WHERE id = $1 FOR UPDATE")
            .bind(u.member_id)
            .fetch_optional(&mut *tx)
            .await?;
    }
    let used = member_usage(&mut *tx, u.member_id).await?.max(0) as u64;
    if used.saturating_add(u.length) > quota {
        return Ok(false);
    }
    insert_upload(&mut *tx, u, None).await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn touch_upload(db: &Db, id: &str) -> Result<(), DbError> {
    run_now_for(db, "UPDATE uploads SET updated_at = $1 WHERE id = $2", id).await
}

pub async fn complete_upload(db: &Db, id: &str) -> Result<(), DbError> {
    run_now_for(db, "UPDATE uploads SET completed_at = $1 WHERE id = $2", id).await
}

pub async fn delete_upload(db: &Db, id: &str) -> Result<(), DbError> {
    run_for(db, "DELETE FROM uploads WHERE id = $1", id).await
}

pub async fn uploads_of_story(db: &Db, doc_id: &str) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query("SELECT id FROM uploads WHERE doc_id = $1")
        .bind(doc_id)
        .fetch_all(&db.pool)
        .await?;
    strings(&rows, "id")
}

/// Uploads untouched since `before`, or finished before it: (id, finished).
pub async fn stale_uploads(db: &Db, before: i64) -> Result<Vec<(String, bool)>, DbError> {
    let rows = sqlx::query(
        "SELECT id, completed_at FROM uploads WHERE updated_at < $1 OR (completed_at IS NOT NULL AND completed_at < $1)",
    )
    .bind(before)
    .fetch_all(&db.pool)
    .await?;
    let out = rows
        .iter()
        .map(|r| Ok((r.string("id")?, r.opt_i64("completed_at")?.is_some())))
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The transcription queue

/// A job's state as devices and the REST API see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JobStatus {
    pub id: i64,
    pub sha256: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// 0–100.
    pub progress: i64,
    pub error: Option<String>,
    /// The language transcribed (when done).
    pub language: Option<String>,
    pub attempts: i64,
    pub updated_at: i64,
}

fn status_from(row: &AnyRow) -> Result<JobStatus, sqlx::Error> {
    Ok(JobStatus {
        id: row.i64("id")?,
        sha256: row.string("sha256")?,
        status: row.string("state")?,
        progress: row.i64("progress")?,
        error: row.opt_string("error")?,
        language: row.opt_string("language")?,
        attempts: row.i64("attempts")?,
        updated_at: row.i64("updated_at")?,
    })
}

/// A job a worker holds: `attempts` is its fencing token.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub doc_id: String,
    pub sha256: String,
    pub attempts: i64,
    pub worker: String,
}

/// Insert a job for the pair unless one exists, due at `run_after`. True when it was new.
pub async fn insert_job(
    db: &Db,
    doc_id: &str,
    sha256: &str,
    run_after: i64,
    error: Option<&str>,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO media_jobs (doc_id, sha256, state, attempts, run_after, progress, error, created_at, updated_at, workspace_id) \
         VALUES ($1, $2, 'queued', 0, $3, 0, $4, $5, $5, (SELECT workspace_id FROM documents WHERE id = $1)) \
         ON CONFLICT (doc_id, sha256) DO NOTHING",
    )
    .bind(doc_id)
    .bind(sha256)
    .bind(run_after)
    .bind(error)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Make the story's held first attempts due now.
pub async fn open_jobs(db: &Db, doc_id: &str) -> Result<(), DbError> {
    run_now_for(
        db,
        "UPDATE media_jobs SET run_after = $1 \
         WHERE doc_id = $2 AND state = 'queued' AND attempts = 0 AND run_after > $1",
        doc_id,
    )
    .await
}

/// Queue a story's finished or failed jobs again (below `max_requeues`), due at `run_after`.
/// Returns (queued again, left at the limit).
pub async fn requeue_jobs(
    db: &Db,
    doc_id: &str,
    run_after: i64,
    error: Option<&str>,
    max_requeues: i64,
) -> Result<(u64, u64), DbError> {
    let done = sqlx::query(
        "UPDATE media_jobs SET state = 'queued', attempts = 0, run_after = $1, progress = 0, \
         error = $2, worker = NULL, lease_until = NULL, updated_at = $4, finished_at = NULL, \
         requeues = requeues + 1 \
         WHERE doc_id = $3 AND state IN ('done', 'failed') AND requeues < $5",
    )
    .bind(run_after)
    .bind(error)
    .bind(doc_id)
    .bind(now_ms())
    .bind(max_requeues)
    .execute(&db.pool)
    .await?;
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM media_jobs \
         WHERE doc_id = $1 AND state IN ('done', 'failed') AND requeues >= $2",
    )
    .bind(doc_id)
    .bind(max_requeues)
    .fetch_one(&db.pool)
    .await?;
    Ok((done.rows_affected(), row.i64("n")?.max(0) as u64))
}

/// Claim the next due job, or one whose lease ran out, for `worker` with a lease of
/// `lease_ms`: the oldest of the workspace whose turn came longest ago, whose turn is then
/// taken. Once per job across processes (`SKIP LOCKED` on PostgreSQL; SQLite's writers take
/// turns).
pub async fn claim_job(db: &Db, worker: &str, lease_ms: i64) -> Result<Option<Claimed>, DbError> {
    let now = now_ms();
    // Jobs whose story was gone when queued (no workspace) share turn 0's group.
    let pick = "SELECT j.id FROM media_jobs j \
                LEFT JOIN media_turns t ON t.workspace_id = COALESCE(j.workspace_id, 0) \
                WHERE (j.state = 'queued' AND j.run_after <= $3) OR (j.state = 'running' AND j.lease_until < $3) \
                ORDER BY COALESCE(t.turn, 0), j.run_after, j.id LIMIT 1";
    let lock = match db.backend {
        Backend::Postgres => " FOR UPDATE OF j SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE media_jobs SET state = 'running', worker = $1, lease_until = $2, \
         attempts = attempts + 1, updated_at = $3, progress = 0 \
         WHERE id = ({pick}{lock}) RETURNING id, doc_id, sha256, attempts, workspace_id"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(worker)
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let job = Claimed {
        id: row.i64("id")?,
        doc_id: row.string("doc_id")?,
        sha256: row.string("sha256")?,
        attempts: row.i64("attempts")?,
        worker: worker.to_string(),
    };
    let workspace = row.opt_i64("workspace_id")?.unwrap_or(0);
    // The workspace's turn is taken: its next job waits until every other workspace with a due
    // job had one. Two processes claiming at once may draw the same number; that only makes
    // their workspaces equal for a moment.
    sqlx::query(
        "INSERT INTO media_turns (workspace_id, turn) \
         VALUES ($1, (SELECT COALESCE(MAX(turn), 0) + 1 FROM media_turns)) \
         ON CONFLICT (workspace_id) DO UPDATE SET turn = excluded.turn",
    )
    .bind(workspace)
    .execute(&db.pool)
    .await?;
    Ok(Some(job))
}

/// Renew the lease to `lease_until` and record progress. False when the job is no longer held
/// by this attempt.
pub async fn heartbeat_job(
    db: &Db,
    job: &Claimed,
    progress: i64,
    lease_until: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE media_jobs SET lease_until = $1, progress = $2, updated_at = $3, error = NULL \
         WHERE id = $4 AND worker = $5 AND attempts = $6 AND state = 'running'",
    )
    .bind(lease_until)
    .bind(progress.clamp(0, 100))
    .bind(now_ms())
    .bind(job.id)
    .bind(&job.worker)
    .bind(job.attempts)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How a held job ends (or goes back to the queue).
pub struct JobEnd<'a> {
    pub state: &'a str,
    pub error: Option<&'a str>,
    pub language: Option<&'a str>,
    pub run_after: Option<i64>,
}

/// End this attempt of a job. False when the job is no longer held by this attempt.
pub async fn finish_job(db: &Db, job: &Claimed, end: &JobEnd<'_>) -> Result<bool, DbError> {
    let now = now_ms();
    let finished = (end.state == "done" || end.state == "failed").then_some(now);
    let done = sqlx::query(
        "UPDATE media_jobs SET state = $1, error = $2, language = COALESCE($3, language), \
         run_after = COALESCE($4, run_after), progress = CASE WHEN $1 = 'done' THEN 100 ELSE progress END, \
         worker = NULL, lease_until = NULL, updated_at = $5, finished_at = $6 \
         WHERE id = $7 AND worker = $8 AND attempts = $9 AND state = 'running'",
    )
    .bind(end.state)
    .bind(end.error)
    .bind(end.language)
    .bind(end.run_after)
    .bind(now)
    .bind(finished)
    .bind(job.id)
    .bind(&job.worker)
    .bind(job.attempts)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Give a job back untouched: the attempt does not count.
pub async fn release_job(db: &Db, job: &Claimed) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE media_jobs SET state = 'queued', attempts = attempts - 1, worker = NULL, \
         lease_until = NULL, progress = 0, updated_at = $1 \
         WHERE id = $2 AND worker = $3 AND attempts = $4 AND state = 'running'",
    )
    .bind(now_ms())
    .bind(job.id)
    .bind(&job.worker)
    .bind(job.attempts)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn jobs_of_story(db: &Db, doc_id: &str) -> Result<Vec<JobStatus>, DbError> {
    let rows = sqlx::query(
        "SELECT id, sha256, state, progress, error, language, attempts, updated_at \
         FROM media_jobs WHERE doc_id = $1 ORDER BY id",
    )
    .bind(doc_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(status_from)
        .collect::<Result<_, _>>()
        .map_err(DbError::Sqlx)
}

pub async fn delete_jobs_of_story(db: &Db, doc_id: &str) -> Result<(), DbError> {
    run_for(db, "DELETE FROM media_jobs WHERE doc_id = $1", doc_id).await
}

/// The queue's depth: (queued, running) jobs.
pub async fn job_counts(db: &Db) -> Result<(i64, i64), DbError> {
    let rows = sqlx::query(
        "SELECT state, CAST(COUNT(*) AS BIGINT) AS n FROM media_jobs \
         WHERE state IN ('queued', 'running') GROUP BY state",
    )
    .fetch_all(&db.pool)
    .await?;
    let (mut queued, mut running) = (0, 0);
    for r in rows {
        match r.string("state")?.as_str() {
            "queued" => queued = r.i64("n")?,
            _ => running = r.i64("n")?,
        }
    }
    Ok((queued, running))
}
