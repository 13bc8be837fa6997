//! Configuration: flags and `VERTEL_*` environment variables.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

/// What one `serve` process does (README, "Several machines").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Devices and coordinators, transcription and the tagger: one process does everything.
    #[default]
    All,
    /// Devices and coordinators (sync, the REST API, uploads); never loads the speech model.
    Sync,
    /// Transcription and the tagger from the shared queue; accepts no devices (health only).
    Worker,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Sync => "sync",
            Role::Worker => "worker",
        }
    }

    /// Whether the process accepts devices and people (sync, REST, uploads).
    pub fn serves_devices(self) -> bool {
        self != Role::Worker
    }

    /// Whether the process runs the background workers (transcription, tagger, retention).
    pub fn runs_workers(self) -> bool {
        self != Role::Sync
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "VERTEL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// What this process does: `all`, `sync` (devices, no speech model) or `worker`
    /// (transcription and the tagger from the shared queue, no devices). Several processes need
    /// PostgreSQL and, on more than one machine, an S3 blob store (`--blob-url`).
    #[arg(long, env = "VERTEL_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    #[command(flatten)]
    pub storage: StorageConfig,
    #[command(flatten)]
    pub blobs: crate::media::blobs::BlobArgs,
    /// Words the de-identifier keeps visible in every output, comma-separated: partner
    /// organisations and places that are the point of the stories (`docs/deidentify.md`). The
    /// story's own municipality is always kept.
    #[arg(long, env = "VERTEL_DEIDENTIFY_KEEP", value_delimiter = ',')]
    pub deidentify_keep: Vec<String>,
    /// Largest websocket frame accepted, in bytes.
    #[arg(long, env = "VERTEL_MAX_FRAME_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_frame_bytes: usize,
    /// Largest size of one document, in bytes uncompressed (what it holds, not what it takes on
    /// the wire or on disk).
    #[arg(long, env = "VERTEL_MAX_DOC_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_doc_bytes: i64,
    /// Most operations (a character typed, a field set) in one document.
    #[arg(long, env = "VERTEL_MAX_DOC_OPS", default_value_t = 2_000_000)]
    pub max_doc_ops: u64,
    /// Most uncompressed bytes one sync message may add to a document.
    #[arg(long, env = "VERTEL_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_message_bytes: u64,
    /// Most operations one sync message may carry.
    #[arg(long, env = "VERTEL_MAX_MESSAGE_OPS", default_value_t = 1_000_000)]
    pub max_message_ops: u64,
    /// Most changes one sync message may carry.
    #[arg(long, env = "VERTEL_MAX_MESSAGE_CHANGES", default_value_t = 100_000)]
    pub max_message_changes: u64,
    /// Sustained sync messages per second per connection.
    #[arg(long, env = "VERTEL_MAX_MESSAGES_PER_SEC", default_value_t = 2_000)]
    pub max_messages_per_sec: u32,
    /// Burst of sync messages per connection (a device catching up sends many at once).
    #[arg(long, env = "VERTEL_MESSAGE_BURST", default_value_t = 50_000)]
    pub message_burst: u32,
    /// Most bytes queued for one sync connection and not yet written; a reader that falls
    /// further behind is disconnected.
    #[arg(long, env = "VERTEL_MAX_QUEUED_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_queued_bytes: usize,
    /// Most open sync connections of one member.
    #[arg(long, env = "VERTEL_MAX_CONNECTIONS_PER_MEMBER", default_value_t = 32)]
    pub max_connections_per_member: usize,
    /// Seconds between pings on a sync connection.
    #[arg(long, env = "VERTEL_PING_SECS", default_value_t = 15)]
    pub ping_secs: u64,
    /// Seconds without a word (not even a pong) after which a sync connection counts as not
    /// reading and is closed.
    #[arg(long, env = "VERTEL_SILENCE_TIMEOUT_SECS", default_value_t = 60)]
    pub silence_timeout_secs: u64,
    /// Milliseconds a device may leave changes unanswered before it is sent what changed since
    /// (until then it is sent nothing new: one document copy in flight per device, not one per
    /// change). Tests set it low.
    #[arg(
        long,
        env = "VERTEL_ANSWER_TIMEOUT_MS",
        default_value_t = 10_000,
        hide = true
    )]
    pub answer_timeout_ms: u64,
    /// Seconds an unsynced document stays in memory before it is evicted.
    #[arg(long, env = "VERTEL_DOC_IDLE_SECS", default_value_t = 30)]
    pub doc_idle_secs: u64,
    /// Appended chunks after which a document is compacted into one snapshot (0: 64, staggered
    /// per document up to 95). Tests set it low to exercise compaction.
    #[arg(long, env = "VERTEL_COMPACT_AFTER", default_value_t = 0, hide = true)]
    pub compact_after: usize,
    /// Directory of the built mobile shell (`mobile-shell/build.sh`), served at `/`.
    #[arg(long, env = "VERTEL_SHELL_DIR", default_value = "mobile-shell/dist")]
    pub shell_dir: PathBuf,
    #[command(flatten)]
    pub media: crate::media::MediaConfig,
    #[command(flatten)]
    pub tagger: crate::tagging::worker::TaggerArgs,
    #[command(flatten)]
    pub sessions: crate::sessions::SessionArgs,
    #[command(flatten)]
    pub auth: crate::auth::AuthArgs,
}

#[derive(Debug, Clone, Args)]
pub struct StorageConfig {
    /// Directory for the SQLite database and other server data.
    #[arg(long, env = "VERTEL_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Database URL; empty means an SQLite file in the data directory. `postgres://` selects PostgreSQL.
    #[arg(long, env = "VERTEL_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Most database connections in the pool.
    #[arg(long, env = "VERTEL_DB_CONNECTIONS", default_value_t = 16)]
    pub db_connections: u32,
}

impl StorageConfig {
    pub fn url(&self) -> String {
        match &self.database_url {
            Some(u) if !u.is_empty() => u.clone(),
            _ => crate::db::default_url(&self.data_dir),
        }
    }
}
