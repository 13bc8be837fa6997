-- Coordinator workspace (issue 6): figures may be counts or shares.
-- unit 'count': value is the number itself. unit 'percent': value is the share in hundredths of a
-- percent (6350 = 63.50 %), so the value stays an exact integer on both backends.
ALTER TABLE figures ADD COLUMN unit TEXT NOT NULL DEFAULT 'count';
-- Who entered or last corrected the figure by hand or by import, and when (NULL for seeded rows).
ALTER TABLE figures ADD COLUMN updated_by BIGINT;
ALTER TABLE figures ADD COLUMN updated_at BIGINT;
CREATE INDEX audit_log_action ON audit_log (workspace_id, action, at);
