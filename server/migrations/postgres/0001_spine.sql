-- Workspaces, members, tokens, documents and their change history. Never edit after release:
-- add a new numbered migration instead.
CREATE TABLE workspaces (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE members (
    id BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    enrollment_hash TEXT,
    enrollment_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    member_id BIGINT NOT NULL REFERENCES members(id),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- One row per document ever pushed. An erased document keeps its row as a tombstone
-- (deleted_at set, heads empty) so that a stale device cannot upload it again.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    recorder_id BIGINT NOT NULL REFERENCES members(id),
    doc_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    heads TEXT NOT NULL,
    size BIGINT NOT NULL,
    deleted_at BIGINT,
    deleted_by BIGINT
);
CREATE INDEX documents_workspace_seq ON documents (workspace_id, seq);
CREATE INDEX documents_recorder_seq ON documents (recorder_id, seq);

-- A document's history: saves of changes (automerge incremental format), loaded in order.
CREATE TABLE doc_chunks (
    id BIGSERIAL PRIMARY KEY,
    doc_id TEXT NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX doc_chunks_doc ON doc_chunks (doc_id, id);

CREATE TABLE doc_shares (
    doc_id TEXT NOT NULL,
    member_id BIGINT NOT NULL REFERENCES members(id),
    PRIMARY KEY (doc_id, member_id)
);
CREATE INDEX doc_shares_member ON doc_shares (member_id);

-- The change cursor. Incremented inside each writing transaction; the row lock orders commits.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('doc_seq', 0);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    workspace_id BIGINT,
    member_id BIGINT,
    action TEXT NOT NULL,
    doc_id TEXT,
    detail TEXT
);
CREATE INDEX audit_log_workspace ON audit_log (workspace_id, at);
