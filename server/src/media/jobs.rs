//! The transcription queue (a table in the database) and the worker pool that drains it.
//!
//! **Durable:** a job is a row; it survives restarts. **Claimed once:** a worker claims a job in one
//! statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several server processes never take the
//! same row; a single atomic `UPDATE … RETURNING` on SQLite, whose writers are serialised), and
//! holds it with a lease it renews while it works. A job whose lease ran out — its server was
//! killed — is claimed again. Every claim increments `attempts`, which fences what a worker may
//! write afterwards: only the holder of the current attempt can report progress, write the
//! transcript into the story, or finish the job, so a job is completed exactly once.
//!
//! Failures that may pass (I/O, a model that would not load) are retried with exponential backoff;
//! a recording that cannot be decoded fails at once with its reason, which the story shows.
//!
//! **Workspaces take turns:** the claim picks the oldest due job of the workspace served least
//! recently (`media_turns`), so one workspace queueing many recordings does not keep another's
//! waiting behind them. A person may queue a recording again only `--max-transcription-requeues`
//! times.

use super::Media;
use super::MediaConfig;
use super::transcribe::{self, TranscribeError, Transcriber};
use crate::db::media::{self as rows, JobEnd};
use crate::db::{Db, DbError, now_ms};
use crate::sync::hub::Writer;
use client_core::story;
use client_core::wire::DocumentId;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// How long a new or requeued job waits before a worker may claim it, unless [`Queue::open`]
/// opens it sooner. The server writes `queued` into the story and then opens the job: a worker
/// (perhaps in another process) that claimed it at once could write `running` or `failed` before
/// that `queued`, which would then overwrite it. The hold only matters if the server stops in
/// between; the job is then claimed a minute later.
const HOLD_MS: i64 = 60_000;

/// What the story shows while no model is installed.
pub const NO_MODEL: &str = "no speech model on this server yet: the recording waits";

pub use crate::db::media::{Claimed, JobStatus};

/// What [`Queue::requeue_story`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requeued {
    /// Jobs queued again.
    pub requeued: u64,
    /// Finished or failed jobs left alone: they were queued again as often as allowed.
    pub at_limit: u64,
    /// `--max-transcription-requeues`.
    pub limit: u64,
}

pub struct Queue {
    db: Db,
    lease_ms: i64,
    max_attempts: i64,
    retry_ms: i64,
    max_requeues: i64,
    pub poll: Duration,
    /// A model file was found at start: without one, jobs wait (and say so).
    pub model_present: bool,
    worker_prefix: String,
    wake: Notify,
}

impl Queue {
    pub fn new(db: Db, config: &MediaConfig, model_present: bool, process_tag: &str) -> Queue {
        Queue {
            db,
            lease_ms: (config.job_lease_secs.max(1) * 1000) as i64,
            max_attempts: config.job_max_attempts.max(1),
            retry_ms: (config.job_retry_secs * 1000) as i64,
            max_requeues: i64::try_from(config.max_transcription_requeues).unwrap_or(i64::MAX),
            poll: Duration::from_millis(config.job_poll_ms.max(50)),
            model_present,
            worker_prefix: process_tag.to_string(),
            wake: Notify::new(),
        }
    }

    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms as u64)
    }

    /// Queue the transcription of `sha256` for story `doc_id`, held until [`Queue::open`] (see
    /// [`HOLD_MS`]). Returns true when a new job was queued (an existing job for the pair is left
    /// as it is).
    pub async fn enqueue(&self, doc_id: &str, sha256: &str) -> Result<bool, DbError> {
        let error = (!self.model_present).then_some(NO_MODEL);
        rows::insert_job(&self.db, doc_id, sha256, now_ms() + HOLD_MS, error).await
    }

    /// Let workers claim the story's held jobs now: their `queued` status is in the story. Jobs
    /// waiting out a retry's backoff (`attempts` above 0) keep waiting.
    pub async fn open(&self, doc_id: &str) -> Result<(), DbError> {
        rows::open_jobs(&self.db, doc_id).await?;
        self.wake.notify_waiters();
        Ok(())
    }

    /// Queue a story's finished or failed jobs again (a person asked for a new transcription),
    /// held until [`Queue::open`] like new ones. Each recording may be queued again at most
    /// `--max-transcription-requeues` times; those that reached it stay as they are.
    pub async fn requeue_story(&self, doc_id: &str) -> Result<Requeued, DbError> {
        let error = (!self.model_present).then_some(NO_MODEL);
        let (requeued, at_limit) = rows::requeue_jobs(
            &self.db,
            doc_id,
            now_ms() + HOLD_MS,
            error,
            self.max_requeues,
        )
        .await?;
        Ok(Requeued {
            requeued,
            at_limit,
            limit: self.max_requeues.max(0) as u64,
        })
    }

    /// Claim the next job that is due, or one whose holder's lease ran out: the oldest of the
    /// workspace whose turn came longest ago (workspaces take turns), then that workspace's turn
    /// is taken.
    pub async fn claim(&self, worker: &str) -> Result<Option<Claimed>, DbError> {
        rows::claim_job(&self.db, worker, self.lease_ms).await
    }

    /// Renew the lease and record progress. False when the job is no longer this worker's.
    pub async fn heartbeat(&self, job: &Claimed, progress: i64) -> Result<bool, DbError> {
        rows::heartbeat_job(&self.db, job, progress, now_ms() + self.lease_ms).await
    }

    async fn finish(
        &self,
        job: &Claimed,
        state: &str,
        error: Option<&str>,
        language: Option<&str>,
        run_after: Option<i64>,
    ) -> Result<bool, DbError> {
        let end = JobEnd {
            state,
            error,
            language,
            run_after,
        };
        rows::finish_job(&self.db, job, &end).await
    }

    pub async fn complete(&self, job: &Claimed, language: &str) -> Result<bool, DbError> {
        self.finish(job, "done", None, Some(language), None).await
    }

    pub async fn fail(&self, job: &Claimed, error: &str) -> Result<bool, DbError> {
        self.finish(job, "failed", Some(error), None, None).await
    }

    /// Back to the queue, due after a backoff that doubles with every attempt (at most an hour).
    pub async fn retry(&self, job: &Claimed, error: &str) -> Result<bool, DbError> {
        let shift = (job.attempts - 1).clamp(0, 20) as u32;
        let delay = self.retry_ms.saturating_mul(1i64 << shift).min(3_600_000);
        self.finish(job, "queued", Some(error), None, Some(now_ms() + delay))
            .await
    }

    /// Give a job back untouched (this server is shutting down): the attempt does not count.
    pub async fn release(&self, job: &Claimed) -> Result<(), DbError> {
        rows::release_job(&self.db, job).await
    }

    pub async fn for_story(&self, doc_id: &str) -> Result<Vec<JobStatus>, DbError> {
        rows::jobs_of_story(&self.db, doc_id).await
    }

    pub async fn delete_for_story(&self, doc_id: &str) -> Result<(), DbError> {
        rows::delete_jobs_of_story(&self.db, doc_id).await
    }

    /// The queue's depth: (queued, running) jobs of every process.
    pub async fn depth(&self) -> Result<(i64, i64), DbError> {
        rows::job_counts(&self.db).await
    }

    pub fn worker_id(&self, n: usize) -> String {
        format!("{}-{n}", self.worker_prefix)
    }
}

/// The workers' shared model, loaded at the first job.
pub struct Pool {
    media: Arc<Media>,
    model_path: PathBuf,
    model: tokio::sync::Mutex<Option<Arc<Transcriber>>>,
    threads: usize,
}

impl Pool {
    pub fn new(media: Arc<Media>, model_path: PathBuf) -> Pool {
        let threads = media.config.threads();
        Pool {
            media,
            model_path,
            model: tokio::sync::Mutex::new(None),
            threads,
        }
    }

    async fn model(&self) -> Result<Arc<Transcriber>, TranscribeError> {
        let mut slot = self.model.lock().await;
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let path = self.model_path.clone();
        let fake = self.media.config.fake_transcriber();
        let started = Instant::now();
        let model = tokio::task::spawn_blocking(move || Transcriber::load(&path, fake))
            .await
            .map_err(|e| TranscribeError::Model(e.to_string()))??;
        tracing::info!(model = %model.name, ms = started.elapsed().as_millis() as u64, "speech model loaded");
        let model = Arc::new(model);
        *slot = Some(model.clone());
        Ok(model)
    }
}

/// Write an attachment's transcription status into the story as the server. `reason`: the code
/// of why a recording cannot be transcribed ([`TranscribeError::reason`]).
pub async fn write_status(
    media: &Media,
    doc: DocumentId,
    sha256: &str,
    status: &str,
    progress: i64,
    error: Option<&str>,
    reason: Option<&str>,
) {
    let result = media
        .hub
        .server_change(doc, Writer::Transcriber, |d| {
            story::set_transcription_status(d, sha256, status, progress, error, reason, now_ms())
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "could not write transcription status");
                    false
                })
        })
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, doc = %doc, "storing transcription status failed");
    }
}

/// One worker: claim, transcribe, write back, repeat, until shutdown.
pub async fn run_worker(pool: Arc<Pool>, n: usize, mut shutdown: watch::Receiver<bool>) {
    let worker = pool.media.queue.worker_id(n);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let queue = &pool.media.queue;
        let wake = queue.wake.notified();
        match queue.claim(&worker).await {
            Ok(Some(job)) => {
                tracing::info!(
                    job = job.id,
                    attempt = job.attempts,
                    "transcription claimed"
                );
                process(&pool, &job, &shutdown).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "claiming a transcription job failed"),
        }
        tokio::select! {
            _ = wake => {}
            _ = tokio::time::sleep(queue.poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn process(pool: &Pool, job: &Claimed, shutdown: &watch::Receiver<bool>) {
    let media = &pool.media;
    let queue = &media.queue;
    let Ok(doc) = job.doc_id.parse::<DocumentId>() else {
        let _ = queue.fail(job, "not a story id").await;
        return;
    };
    if job.attempts > queue.max_attempts {
        let reason = format!(
            "gave up after {} attempts (the server stopped while transcribing)",
            job.attempts - 1
        );
        if queue.fail(job, &reason).await.unwrap_or(false) {
            write_status(media, doc, &job.sha256, "failed", 0, Some(&reason), None).await;
        }
        return;
    }
    // What the story says about the recording: its type and the language chosen on the device.
    let sha = job.sha256.clone();
    let info = media
        .hub
        .read(doc, |d| {
            let s = story::Story::read(d);
            let mime = s
                .attachments
                .iter()
                .find(|a| a.sha256 == sha)
                .map(|a| a.mime.clone());
            let language = story::attachment_language(d, &sha).or(s.language);
            let consent_clip = story::StoryDetails::read(d).consent_clip.as_deref() == Some(&sha);
            (mime, language, consent_clip)
        })
        .await;
    let (mime, language, consent_clip) = match info {
        Ok(Some(info)) => info,
        Ok(None) => {
            let _ = queue.fail(job, "the story no longer exists").await;
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, job = job.id, "reading the story failed");
            let _ = queue.retry(job, "the story could not be read").await;
            return;
        }
    };
    if consent_clip {
        // The teller's spoken consent is kept as evidence of consent, never transcribed into
        // the story: it is not part of what they told.
        if queue.complete(job, "").await.unwrap_or(false) {
            write_status(
                media,
                doc,
                &job.sha256,
                "done",
                100,
                None,
                Some("consent-clip"),
            )
            .await;
        }
        return;
    }
    let blob = match rows::blob(&media.db, &job.sha256).await {
        Ok(Some(b)) if !b.bytes_deleted => b,
        Ok(_) => {
            let reason = "the recording is no longer stored on the server";
            if queue.fail(job, reason).await.unwrap_or(false) {
                write_status(media, doc, &job.sha256, "failed", 0, Some(reason), None).await;
            }
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading the blob failed");
            let _ = queue.retry(job, "storage error").await;
            return;
        }
    };
    // The story's language, or detection among the workspace's expected ones; its prompt.
    let (decoding, expected) = transcribe::prompt::for_story(&media.db, &job.doc_id).await;
    let language = transcribe::language::choose(language.as_deref(), &expected);
    let mime = mime.unwrap_or(blob.mime);
    write_status(media, doc, &job.sha256, "running", 0, None, None).await;

    // Progress from whisper's thread → heartbeat and story, at most every few seconds.
    let (progress_tx, mut progress_rx) = watch::channel(0i32);
    let abort = Arc::new(AtomicBool::new(false));
    let lost = Arc::new(AtomicBool::new(false));
    // The heartbeat task writes progress into the story; it is asked to stop and awaited, never
    // aborted: an abort in the middle of a story write would cancel it between the change and
    // its storing.
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let beat = {
        let abort = abort.clone();
        let lost = lost.clone();
        let mut shutdown = shutdown.clone();
        let job = job.clone();
        let sha = job.sha256.clone();
        let every = (queue.lease() / 4).clamp(Duration::from_millis(250), Duration::from_secs(10));
        let media = pool.media.clone();
        tokio::spawn(async move {
            let mut written = 0i64;
            let mut written_at = Instant::now();
            loop {
                tokio::select! {
                    _ = stop_rx.changed() => return,
                    changed = progress_rx.changed() => if changed.is_err() { return; },
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.changed() => {
                        if *shutdown.borrow() { abort.store(true, Ordering::Relaxed); return; }
                    }
                }
                let p = i64::from(*progress_rx.borrow());
                match media.queue.heartbeat(&job, p).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(job = job.id, "lost the job's lease; stopping");
                        lost.store(true, Ordering::Relaxed);
                        abort.store(true, Ordering::Relaxed);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
                }
                if p != written
                    && (p - written >= 10 || written_at.elapsed() >= Duration::from_secs(5))
                {
                    written = p;
                    written_at = Instant::now();
                    write_status(&media, doc, &sha, "running", p, None, None).await;
                }
            }
        })
    };

    // The recording, fetched from the blob store into a local file for the decoder; removed
    // when this job is done with it.
    let local = match pool.model().await {
        Ok(model) => match media
            .store
            .fetch_to_temp(&super::blobs::BlobStore::blob_key(&job.sha256))
            .await
        {
            Ok(file) => Ok((model, file)),
            Err(e) => Err(TranscribeError::Audio(super::audio::AudioError::Io(e))),
        },
        Err(e) => Err(e),
    };
    let result = match local {
        Ok((model, file)) => {
            let path = file.path().to_path_buf();
            let threads = pool.threads;
            let limits = media.config.audio_limits();
            let abort = abort.clone();
            tokio::task::spawn_blocking(move || {
                model.transcribe(
                    &path,
                    Some(&mime),
                    language,
                    &decoding,
                    threads,
                    limits,
                    move |p| {
                        let _ = progress_tx.send(p);
                    },
                    abort,
                )
            })
            .await
            .unwrap_or_else(|e| Err(TranscribeError::Whisper(format!("worker panicked: {e}"))))
        }
        Err(e) => Err(e),
    };
    let _ = stop_tx.send(true);
    let _ = beat.await;
    if lost.load(Ordering::Relaxed) {
        return;
    }

    match result {
        Ok(t) => {
            // Still ours? Then write the transcript, then finish: the fencing makes this once.
            if !queue.heartbeat(job, 100).await.unwrap_or(false) {
                tracing::warn!(
                    job = job.id,
                    "job taken over before its transcript was written"
                );
                return;
            }
            let outcome = t.story_result();
            let sha = job.sha256.clone();
            let mut kept = false;
            let written = media
                .hub
                .server_change(doc, Writer::Transcriber, |d| {
                    match story::set_transcript(d, &sha, &outcome, now_ms()) {
                        Ok(w) => {
                            kept = w == story::TranscriptWrite::KeptByPerson;
                            true
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "could not write the transcript");
                            false
                        }
                    }
                })
                .await;
            // A job is done only when the story says so: "nothing written" can also mean the
            // story is gone, or (a bug once) a write skipped; then the job must not read "done".
            let written = match written {
                Ok(false) => {
                    media
                        .hub
                        .read(doc, |d| {
                            story::StoryDetails::read(d)
                                .transcriptions
                                .iter()
                                .any(|x| x.sha256 == sha && x.status == "done")
                        })
                        .await
                }
                Ok(true) => Ok(Some(true)),
                Err(e) => Err(e),
            };
            match written {
                Ok(Some(true)) => {
                    let _ = queue.complete(job, &t.language).await;
                    tracing::info!(job = job.id, seconds = t.audio_seconds, language = %t.language,
                        kept_persons_version = kept, "transcription done");
                }
                Ok(None) => {
                    let _ = queue.fail(job, "the story no longer exists").await;
                }
                Ok(Some(false)) => {
                    tracing::warn!(job = job.id, "the transcript is not in the story; retrying");
                    let _ = queue.retry(job, "the transcript was not written").await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, job = job.id, "storing the transcript failed");
                    let _ = queue.retry(job, "storing the transcript failed").await;
                }
            }
        }
        Err(TranscribeError::Aborted) if *shutdown.borrow() => {
            let _ = queue.release(job).await;
            write_status(media, doc, &job.sha256, "queued", 0, None, None).await;
        }
        Err(e) if e.is_transient() && job.attempts < queue.max_attempts => {
            let reason = e.to_string();
            tracing::warn!(job = job.id, attempt = job.attempts, error = %reason, "transcription will be retried");
            if queue.retry(job, &reason).await.unwrap_or(false) {
                write_status(media, doc, &job.sha256, "queued", 0, Some(&reason), None).await;
            }
        }
        Err(e) => {
            let reason = e.to_string();
            tracing::info!(job = job.id, error = %reason, "transcription failed");
            if queue.fail(job, &reason).await.unwrap_or(false) {
                write_status(
                    media,
                    doc,
                    &job.sha256,
                    "failed",
                    0,
                    Some(&reason),
                    e.reason(),
                )
                .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Backend, testing};
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        media: MediaConfig,
    }

    /// A new job waits until its story says `queued` (`open`); a job waiting out a retry's
    /// backoff is not opened early.
    async fn held_until_opened(backend: Backend) {
        let t = testing::db(backend).await;
        let config = Flags::parse_from(["test", "--job-retry-secs", "600"]).media;
        let queue = Queue::new(t.db.clone(), &config, true, "test");
        assert!(queue.enqueue("story-1", "abc").await.expect("enqueue"));
        assert!(
            !queue.enqueue("story-1", "abc").await.expect("again"),
            "one job per pair"
        );
        assert!(queue.claim("w").await.expect("claim").is_none(), "held");
        queue.open("story-2").await.expect("open another");
        assert!(
            queue.claim("w").await.expect("claim").is_none(),
            "still held"
        );
        queue.open("story-1").await.expect("open");
        let job = queue.claim("w").await.expect("claim").expect("claimable");
        assert_eq!((job.doc_id.as_str(), job.attempts), ("story-1", 1));
        assert!(queue.retry(&job, "passing trouble").await.expect("retry"));
        queue.open("story-1").await.expect("open");
        assert!(
            queue.claim("w").await.expect("claim").is_none(),
            "backoff kept"
        );
    }

    #[tokio::test]
    async fn held_until_opened_sqlite() {
        held_until_opened(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn held_until_opened_postgres() {
        held_until_opened(Backend::Postgres).await;
    }

    /// Issue 10: one workspace's many recordings kept another's waiting. The claim takes
    /// workspaces in turn: Delft's first, then Leiden's (queued after all of Delft's), then the
    /// rest of Delft's.
    async fn workspaces_take_turns(backend: Backend) {
        use crate::db::docs::DocMeta;
        let t = testing::db(backend).await;
        let leiden =
            t.db.create_workspace("leiden", "Leiden")
                .await
                .expect("workspace");
        for (doc, workspace) in [("delft-story", t.workspace), ("leiden-story", leiden.id)] {
            let meta = DocMeta {
                workspace_id: workspace,
                recorder_id: t.member,
                doc_type: "story".into(),
                size: 1,
                deleted: false,
            };
            t.db.create_doc(doc, &meta, b"x", &[]).await.expect("story");
        }
        let config = Flags::parse_from(["test"]).media;
        let queue = Queue::new(t.db.clone(), &config, true, "test");
        for sha in ["d1", "d2", "d3"] {
            queue.enqueue("delft-story", sha).await.expect("enqueue");
        }
        queue.open("delft-story").await.expect("open");
        queue.enqueue("leiden-story", "l1").await.expect("enqueue");
        queue.open("leiden-story").await.expect("open");
        let mut order = Vec::new();
        while let Some(job) = queue.claim("w").await.expect("claim") {
            order.push(job.sha256.clone());
            assert!(queue.complete(&job, "nl").await.expect("complete"));
        }
        assert_eq!(order, ["d1", "l1", "d2", "d3"]);
    }

    #[tokio::test]
    async fn workspaces_take_turns_sqlite() {
        workspaces_take_turns(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn workspaces_take_turns_postgres() {
        workspaces_take_turns(Backend::Postgres).await;
    }

    /// A recording may be queued again `--max-transcription-requeues` times, then no more.
    async fn requeues_are_bounded(backend: Backend) {
        let t = testing::db(backend).await;
        let config = Flags::parse_from(["test", "--max-transcription-requeues", "2"]).media;
        let queue = Queue::new(t.db.clone(), &config, true, "test");
        queue.enqueue("story-1", "abc").await.expect("enqueue");
        for round in 0..3 {
            queue.open("story-1").await.expect("open");
            let job = queue.claim("w").await.expect("claim").expect("claimable");
            assert!(queue.fail(&job, "too long").await.expect("fail"));
            let outcome = queue.requeue_story("story-1").await.expect("requeue");
            let expected = if round < 2 {
                Requeued {
                    requeued: 1,
                    at_limit: 0,
                    limit: 2,
                }
            } else {
                Requeued {
                    requeued: 0,
                    at_limit: 1,
                    limit: 2,
                }
            };
            assert_eq!(outcome, expected, "round {round}");
        }
        assert_eq!(
            queue.for_story("story-1").await.expect("jobs")[0].status,
            "failed"
        );
    }

    #[tokio::test]
    async fn requeues_are_bounded_sqlite() {
        requeues_are_bounded(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn requeues_are_bounded_postgres() {
        requeues_are_bounded(Backend::Postgres).await;
    }
}
