-- Who writes with which automerge actor (`db::actors`): a device's actor belongs to the member who
-- first stored a change made with it; each of the server's writers (transcriber, tagger, review,
-- a coordinator's decisions in the workspace) has actors of its own, new at every process start.
CREATE TABLE actors (
    actor TEXT PRIMARY KEY,
    member_id BIGINT REFERENCES members(id),
    writer TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
