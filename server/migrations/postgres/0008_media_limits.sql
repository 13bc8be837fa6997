-- Media limits (issue 10): the transcription queue takes workspaces in turn, and a person may ask
-- for a recording to be transcribed again only a few times. Never edit after release.

-- The workspace of a job's story, so the queue can serve workspaces in turn (NULL: the story was
-- gone when the job was queued; such jobs share one turn).
ALTER TABLE media_jobs ADD COLUMN workspace_id BIGINT;
UPDATE media_jobs SET workspace_id = (SELECT d.workspace_id FROM documents d WHERE d.id = media_jobs.doc_id);
-- How often a person had the job queued again (`POST …/transcription`); bounded by
-- --max-transcription-requeues.
ALTER TABLE media_jobs ADD COLUMN requeues BIGINT NOT NULL DEFAULT 0;

-- When each workspace was last served by a transcription worker: the claim takes the oldest due
-- job of the workspace whose turn is lowest. `turn` grows by one with every claim.
CREATE TABLE media_turns (
    workspace_id BIGINT PRIMARY KEY,
    turn BIGINT NOT NULL
);
