-- Voice notes and photos (docs/media.md): stored blobs, which stories reference them, resumable
-- uploads in progress, and the durable transcription queue. Never edit after release.

-- One row per stored blob, keyed by the SHA-256 of the bytes a device uploaded (what stories
-- reference). The bytes live in the data directory, never in the database. A photo is stored as
-- its sanitised re-encoding (stored_mime, stored_size); audio as uploaded.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    mime TEXT NOT NULL,
    size BIGINT NOT NULL,
    stored_mime TEXT NOT NULL,
    stored_size BIGINT NOT NULL,
    has_thumbnail BIGINT NOT NULL DEFAULT 0,
    uploaded_by BIGINT NOT NULL REFERENCES members(id),
    created_at BIGINT NOT NULL,
    -- Set when retention removed the bytes (the row stays while stories reference it).
    bytes_deleted_at BIGINT
);
CREATE INDEX blobs_uploader ON blobs (uploaded_by);

-- A story that references a blob: set when an upload for that story completes.
-- confirmed_at: when the server first saw the story's transcript approved (retention clock).
CREATE TABLE blob_refs (
    sha256 TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    PRIMARY KEY (sha256, doc_id)
);
CREATE INDEX blob_refs_doc ON blob_refs (doc_id);

-- tus uploads in progress. The received bytes are in the data directory (uploads/<id>).
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    member_id BIGINT NOT NULL REFERENCES members(id),
    doc_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    mime TEXT NOT NULL,
    length BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX uploads_member ON uploads (member_id);

-- The transcription queue. A worker claims a job by setting state = 'running', its worker id and a
-- lease; a job whose lease ran out (its server died) is claimed again. attempts fences writes.
CREATE TABLE media_jobs (
    id BIGSERIAL PRIMARY KEY,
    doc_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    run_after BIGINT NOT NULL,
    worker TEXT,
    lease_until BIGINT,
    progress BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    language TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT,
    UNIQUE (doc_id, sha256)
);
CREATE INDEX media_jobs_ready ON media_jobs (state, run_after);
