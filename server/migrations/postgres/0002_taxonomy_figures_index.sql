-- Tagging, figures and personas (issue: stories tagged to Kansrijke Start activities).

-- The municipalities (gemeenten) a workspace works in.
CREATE TABLE workspace_municipalities (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    PRIMARY KEY (workspace_id, name)
);

-- A workspace's own activities, and its renames and retirements of default ones (same code).
-- Term lists are JSON arrays of strings; NULL means "as in the default taxonomy".
CREATE TABLE workspace_activities (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    code TEXT NOT NULL,
    name TEXT,
    gloss TEXT,
    description TEXT,
    synonyms TEXT,
    keywords TEXT,
    context TEXT,
    phases TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    retired_at BIGINT,
    PRIMARY KEY (workspace_id, code)
);

-- Figures (cijfers) per activity, municipality and quarter, e.g. families reached.
CREATE TABLE figures (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    activity_code TEXT NOT NULL,
    municipality TEXT NOT NULL,
    quarter TEXT NOT NULL,
    metric TEXT NOT NULL,
    value BIGINT NOT NULL,
    source TEXT,
    PRIMARY KEY (workspace_id, activity_code, municipality, quarter, metric)
);

-- What the server read from each document's content, for queries the content alone cannot answer
-- quickly: the persona a story links to. indexed_seq: the document's seq when it was last read.
CREATE TABLE doc_index (
    doc_id TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL,
    persona_id TEXT,
    indexed_seq BIGINT NOT NULL
);
CREATE INDEX doc_index_persona ON doc_index (workspace_id, persona_id);
