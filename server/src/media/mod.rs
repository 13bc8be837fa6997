//! Voice notes and photos (`docs/media.md` is the contract with devices).
//!
//! - [`blobs`]: the blob store (the data directory or an S3-compatible bucket, `object_store`):
//!   content-addressed objects, upload parts, verified deletion;
//! - [`uploads`]: resumable uploads (tus 1.0 core), hash check, deduplication, limits;
//! - [`audio`]: WebM/Opus, MP4/AAC, Ogg/Opus, WAV and MP3 to 16 kHz mono;
//! - [`transcribe`]: whisper.cpp through whisper-rs;
//! - [`jobs`]: the durable transcription queue in the database and the worker pool;
//! - [`photos`]: decoding with limits, orientation, metadata removed, thumbnails;
//! - [`retention`]: raw audio deleted some days after its transcript was approved.
//!
//! Only `crate::http::media` knows HTTP; this module returns typed errors. Its rows (blobs,
//! uploads, the queue) are read and written through `crate::db::media`, never with SQL here.
//! Which parts run in a process follows its role (`crate::config::Role`): transcription workers
//! and the retention sweep in `worker` and `all`, never in `sync`.

pub mod audio;
pub mod blobs;
pub mod jobs;
pub mod photos;
pub mod retention;
pub mod transcribe;
pub mod uploads;

use crate::config::Role;
use crate::db::Db;
use crate::sync::hub::Hub;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Flags and `VERTEL_*` variables of the media part of `serve`.
#[derive(Debug, Clone, Args)]
pub struct MediaConfig {
    /// Largest upload (one voice note or photo), in bytes.
    #[arg(long, env = "VERTEL_MAX_UPLOAD_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    /// Most bytes of stored media per member (uploads in progress count with their full length).
    #[arg(long, env = "VERTEL_MEMBER_QUOTA_BYTES", default_value_t = 2 * 1024 * 1024 * 1024)]
    pub member_quota_bytes: u64,
    /// Most pixels (width × height) of a photo; larger ones are refused before decoding. The
    /// default is what fits the decode budget in the worst case (`docs/media.md`, "Photos").
    #[arg(long, env = "VERTEL_MAX_IMAGE_PIXELS", default_value_t = photos::DEFAULT_MAX_PIXELS)]
    pub max_image_pixels: u64,
    /// Most bytes one photo may need while it is decoded, turned and re-encoded; a photo that
    /// would need more is refused before it is decoded.
    #[arg(long, env = "VERTEL_IMAGE_DECODE_BUDGET_BYTES", default_value_t = photos::DEFAULT_BUDGET_BYTES)]
    pub image_decode_budget_bytes: u64,
    /// Photos decoded at the same time per process; further uploads wait for their turn.
    #[arg(long, env = "VERTEL_IMAGE_DECODE_WORKERS", default_value_t = 2)]
    pub image_decode_workers: usize,
    /// Longest recording transcribed, in seconds; longer ones fail with that reason. Read from
    /// the file's headers before decoding and enforced again while decoding.
    #[arg(long, env = "VERTEL_MAX_RECORDING_SECS", default_value_t = 30 * 60)]
    pub max_recording_secs: u64,
    /// How often a person may have one recording transcribed again (`POST …/transcription`).
    #[arg(long, env = "VERTEL_MAX_TRANSCRIPTION_REQUEUES", default_value_t = 3)]
    pub max_transcription_requeues: u64,
    /// The Whisper model in ggml format [default: ${VERTEL_MODEL_DIR:-~/.cache/vertel/models}/ggml-base.bin].
    #[arg(long, env = "VERTEL_MODEL_PATH")]
    pub model_path: Option<PathBuf>,
    /// Transcriptions run at the same time (each loads no extra model: they share one).
    #[arg(long, env = "VERTEL_TRANSCRIBE_WORKERS", default_value_t = 1)]
    pub transcribe_workers: usize,
    /// CPU threads whisper.cpp uses per transcription [default: the number of CPUs].
    #[arg(long, env = "VERTEL_TRANSCRIBE_THREADS")]
    pub transcribe_threads: Option<usize>,
    /// Seconds a claimed job stays reserved without a heartbeat; after that (its server died)
    /// another worker takes it over.
    #[arg(long, env = "VERTEL_JOB_LEASE_SECS", default_value_t = 60)]
    pub job_lease_secs: u64,
    /// Attempts before a job that keeps failing for a passing reason is given up.
    #[arg(long, env = "VERTEL_JOB_MAX_ATTEMPTS", default_value_t = 5)]
    pub job_max_attempts: i64,
    /// First retry delay in seconds; doubled for every further attempt (at most an hour).
    #[arg(long, env = "VERTEL_JOB_RETRY_SECS", default_value_t = 30)]
    pub job_retry_secs: u64,
    /// How often idle workers look for jobs queued by other server processes, in milliseconds.
    #[arg(long, env = "VERTEL_JOB_POLL_MS", default_value_t = 2000)]
    pub job_poll_ms: u64,
    /// Days raw audio is kept after its story's transcript was approved (0: at the next sweep).
    #[arg(long, env = "VERTEL_AUDIO_RETENTION_DAYS", default_value_t = 30)]
    pub audio_retention_days: u64,
    /// Seconds between retention sweeps (approved transcripts, erased stories, stale uploads).
    #[arg(long, env = "VERTEL_RETENTION_SWEEP_SECS", default_value_t = 3600)]
    pub retention_sweep_secs: u64,
    /// Tests only: transcribe without a model, taking this many milliseconds per recording and
    /// writing `nep-transcript <hash>`. Hidden: a real installation never wants it, and tests of
    /// the queue under load and kills must not depend on the Whisper model being installed.
    #[arg(long, env = "VERTEL_FAKE_TRANSCRIBER", hide = true)]
    pub fake_transcriber: Option<u64>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            max_upload_bytes: 64 * 1024 * 1024,
            member_quota_bytes: 2 * 1024 * 1024 * 1024,
            max_image_pixels: photos::DEFAULT_MAX_PIXELS,
            image_decode_budget_bytes: photos::DEFAULT_BUDGET_BYTES,
            image_decode_workers: 2,
            max_recording_secs: 30 * 60,
            max_transcription_requeues: 3,
            model_path: None,
            transcribe_workers: 1,
            transcribe_threads: None,
            job_lease_secs: 60,
            job_max_attempts: 5,
            job_retry_secs: 30,
            job_poll_ms: 2000,
            audio_retention_days: 30,
            retention_sweep_secs: 3600,
            fake_transcriber: None,
        }
    }
}

impl MediaConfig {
    pub fn model_path(&self) -> PathBuf {
        self.model_path
            .clone()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(transcribe::default_model_path)
    }

    /// How long the fake transcriber takes per recording, when it is on (`VERTEL_FAKE_TRANSCRIBER`).
    pub fn fake_transcriber(&self) -> Option<Duration> {
        self.fake_transcriber.map(Duration::from_millis)
    }

    /// What one recording may cost to decode.
    pub fn audio_limits(&self) -> audio::AudioLimits {
        audio::AudioLimits {
            max_seconds: self.max_recording_secs.max(1),
        }
    }

    /// What one photo may cost to decode.
    pub fn photo_limits(&self) -> photos::PhotoLimits {
        photos::PhotoLimits {
            max_pixels: self.max_image_pixels,
            budget_bytes: self.image_decode_budget_bytes,
        }
    }

    pub fn threads(&self) -> usize {
        self.transcribe_threads
            .filter(|t| *t > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            })
    }
}

/// Everything the media routes and workers share.
pub struct Media {
    pub db: Db,
    pub hub: Arc<Hub>,
    pub store: blobs::BlobStore,
    pub config: MediaConfig,
    pub uploads: uploads::Locks,
    pub queue: jobs::Queue,
    /// Turns to decode a photo (`--image-decode-workers`): each decode may use up to
    /// `--image-decode-budget-bytes`, so this bounds what photos take together.
    pub photo_decodes: tokio::sync::Semaphore,
}

impl Media {
    /// Open the blob store, and (roles `worker` and `all`) start the transcription workers and
    /// the retention sweeper. They stop when `shutdown` turns true.
    pub fn start(
        config: &MediaConfig,
        store: blobs::BlobStore,
        role: Role,
        db: Db,
        hub: Arc<Hub>,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<Arc<Media>> {
        let model_path = config.model_path();
        let fake = config.fake_transcriber();
        // The fake stands in for a model: jobs are claimed and transcribed, not left waiting. A
        // sync process never loads the model: worker processes transcribe what it queues.
        let model_present = role == Role::Sync || fake.is_some() || model_path.is_file();
        if role == Role::Sync {
            tracing::info!("role sync: recordings are queued for the worker processes");
        } else if let Some(d) = fake {
            tracing::warn!(
                ms = d.as_millis() as u64,
                "fake transcriber on (VERTEL_FAKE_TRANSCRIBER): transcripts are not real, for tests only"
            );
        } else if model_present {
            tracing::info!(model = %model_path.display(), workers = config.transcribe_workers,
                threads = config.threads(), "transcription enabled");
        } else {
            tracing::warn!(model = %model_path.display(),
                "no speech model there: voice notes are stored but not transcribed \
                 (fixtures/models/fetch-whisper-base.sh, then restart)");
        }
        let queue = jobs::Queue::new(db.clone(), config, model_present, hub.process_tag());
        let media = Arc::new(Media {
            db,
            hub,
            store,
            config: config.clone(),
            uploads: uploads::Locks::default(),
            queue,
            photo_decodes: tokio::sync::Semaphore::new(config.image_decode_workers.max(1)),
        });
        if role == Role::Sync {
            return Ok(media);
        }
        if model_present {
            let pool = Arc::new(jobs::Pool::new(media.clone(), model_path));
            for n in 0..config.transcribe_workers.max(1) {
                tokio::spawn(jobs::run_worker(pool.clone(), n, shutdown.clone()));
            }
        }
        tokio::spawn(retention::run(
            media.clone(),
            Duration::from_secs(config.retention_sweep_secs.max(1)),
            shutdown,
        ));
        Ok(media)
    }

    /// A story was erased: its references go, and blobs no other story references are deleted
    /// with their bytes at once.
    pub async fn story_erased(&self, doc_id: &str) {
        if let Err(e) = retention::forget_story(self, doc_id).await {
            tracing::warn!(error = %e, doc = doc_id, "could not remove an erased story's media yet; the sweep retries");
        }
    }
}
