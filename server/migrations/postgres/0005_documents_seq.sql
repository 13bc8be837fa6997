-- Server processes sharing this database follow every document's seq to catch up with changes
-- whose notification they missed (`sync::notify`): `WHERE seq > $1 ORDER BY seq LIMIT n` every
-- two seconds per process. The existing seq indexes lead with workspace_id or recorder_id.
CREATE INDEX documents_seq ON documents (seq);
