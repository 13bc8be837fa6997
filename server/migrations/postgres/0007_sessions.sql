-- Sessions expire (`sessions.rs`): after an idle lifetime counted from the last use, and after an
-- absolute lifetime counted from `created_at`. `last_used_at` is written at most every few minutes
-- per token, not on every request; NULL means not used since it was created.
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
