-- The tagger's learning (issue 14): which stories people have judged. `judged` is NULL for a
-- story nobody has judged (no person's tag on an activity), else a fingerprint of its text and
-- the people's decisions, so the worker sees when a workspace's training data changed and retrains
-- that workspace's model. No content: the model is fitted from the documents themselves.
ALTER TABLE doc_index ADD COLUMN judged TEXT;
CREATE INDEX doc_index_judged ON doc_index (workspace_id, judged);
