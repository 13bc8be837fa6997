-- The languages a workspace expects its stories in (issue 15): a voice note whose language is not
-- known is transcribed in the most likely of these, never in another. In order, as the admin gave
-- them (`vertel-server workspace languages`); no rows: the server's default list.
CREATE TABLE workspace_languages (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    code TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, code)
);
