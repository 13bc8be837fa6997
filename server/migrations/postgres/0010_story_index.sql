-- The desk's read model (issue 12): what the coordinators' desk filters, sorts, counts and shows
-- of every live story, kept in step with the stored documents by the indexer
-- (`server/src/workspace/index.rs`), which follows `documents.seq`. `indexed_seq` is the document's
-- seq the row was read at: a row is only ever replaced by one read at a later seq, so several
-- indexers (processes on one PostgreSQL) and a rebuild (`vertel-server reindex`) can run at once.
-- Erasing a story deletes its rows here in the same transaction as its chunks.
CREATE TABLE story_index (
    id BIGSERIAL PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    workspace_id BIGINT NOT NULL,
    recorder_id BIGINT,
    indexed_seq BIGINT NOT NULL,
    sort_at BIGINT NOT NULL,
    captured_at BIGINT,
    quarter TEXT,
    kind TEXT,
    municipality TEXT,
    place_type TEXT,
    phase TEXT,
    target_group TEXT,
    language TEXT,
    review TEXT NOT NULL,
    approved_heads TEXT,
    changed_after_approval BIGINT NOT NULL,
    consent_scope TEXT,
    approved_quotable BIGINT NOT NULL,
    told_by_role TEXT,
    told_by TEXT,
    persona_id TEXT,
    title TEXT NOT NULL,
    excerpt TEXT NOT NULL,
    -- The quote the desk shows while the current consent allows quoting.
    quote TEXT,
    has_audio BIGINT NOT NULL,
    has_photo BIGINT NOT NULL,
    transcript_state TEXT,
    search_text TEXT NOT NULL,
    -- Full-text search with PostgreSQL's Dutch configuration (snowball stemmer): title weighs A.
    search tsvector NOT NULL
);
CREATE INDEX story_index_list ON story_index (workspace_id, sort_at, id);
CREATE INDEX story_index_municipality ON story_index (workspace_id, municipality);
CREATE INDEX story_index_review ON story_index (workspace_id, review, sort_at);
CREATE INDEX story_index_search ON story_index USING GIN (search);

CREATE TABLE story_index_tags (
    story_id BIGINT NOT NULL REFERENCES story_index(id) ON DELETE CASCADE,
    workspace_id BIGINT NOT NULL,
    code TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (story_id, code)
);
CREATE INDEX story_index_tags_code ON story_index_tags (workspace_id, code, state, story_id);
