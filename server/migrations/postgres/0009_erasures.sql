-- Erasures that verify themselves (issue 10): see the SQLite migration of the same name. On
-- PostgreSQL the server cannot read the cluster's files; `traces` stays empty and an erasure is
-- verified when no row holds the document and the table has been rewritten and checkpointed.
CREATE TABLE erasures (
    doc_id TEXT PRIMARY KEY,
    requested_at BIGINT NOT NULL,
    verified_at BIGINT,
    traces BYTEA,
    -- PostgreSQL: the deleting transaction's id (VACUUM FULL keeps rows a snapshot older than it may see).
    delete_xid BIGINT
);
