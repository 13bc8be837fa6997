-- Erasures that verify themselves (issue 10): an erased story's bytes must be gone from the
-- database's files before the erasure counts as done. `traces` holds 64-bit rolling hashes of
-- windows of the erased chunks (never the bytes), to look for while it is not verified; it is
-- cleared once the erasure is verified. One row per erased document.
CREATE TABLE erasures (
    doc_id TEXT PRIMARY KEY,
    requested_at INTEGER NOT NULL,
    verified_at INTEGER,
    traces BLOB,
    -- PostgreSQL: the deleting transaction's id (VACUUM FULL keeps rows a snapshot older than it may see).
    delete_xid INTEGER
);
