//! Storage: one pool over SQLite (the default) or PostgreSQL, chosen by the database URL.
//!
//! Queries are written once, in the SQL both engines accept (`$1` placeholders, `RETURNING`,
//! `ON CONFLICT`), and run through sqlx's `Any` driver. Where the engines differ (migrations, the
//! notification channel between processes, erasing freed pages) the code asks [`Db::backend`].

pub mod accounts;
pub mod actors;
pub mod audit;
pub mod check;
pub mod docs;
pub mod erasure;
pub mod media;
pub(crate) mod sql;
pub mod story_index;
pub mod tagging;
pub mod workspace;

#[cfg(test)]
mod migration_parity;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    pub url: String,
    /// This process's SQLite writers take turns here (see [`Db::begin_write`]).
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Document writes waiting to be committed together (SQLite; see `Db::store` in docs.rs).
    pending: Arc<docs::PendingWrites>,
    /// The last document write that failed, until one succeeds again (for `/healthz`).
    write_error: Arc<std::sync::Mutex<Option<(i64, String)>>>,
}

/// Held by a write transaction until it is dropped: on SQLite, this process's turn to write.
pub(crate) type WriterTurn = Option<tokio::sync::OwnedMutexGuard<()>>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("{0}")]
    Conflict(String),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The default database: an SQLite file in the data directory.
pub fn default_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("vertel.db").display())
}

impl Db {
    /// Connect and bring the schema up to date.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl(url.to_string()));
        };
        let options = AnyPoolOptions::new().max_connections(match backend {
            // One writer at a time in SQLite anyway; a few readers beside it.
            Backend::Sqlite => max_connections.min(8),
            Backend::Postgres => max_connections,
        });
        let options = if backend == Backend::Sqlite {
            // An SQLite connection is a file handle in this process: it cannot go stale, so skip
            // the ping (a round trip to its worker thread) before every use.
            options.test_before_acquire(false).after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL: readers never block the writer. synchronous=NORMAL in WAL mode keeps every
                    // committed transaction across a crash of this process (kill -9); secure_delete
                    // overwrites freed content so erased stories leave no bytes behind.
                    conn.execute(
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON; \
                         PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        // A transaction whose COMMIT failed (a full disk: SQLite has already rolled it back, so
        // the ROLLBACK on drop fails too) stays counted as open by sqlx; back in the pool, every
        // later BEGIN on it failed ("begin_with at non-zero transaction depth") and the server
        // wrote nothing until restarted. Such a connection is closed instead of reused. A
        // transaction merely dropped has its rollback queued: let it run, then look again.
        let options = options.after_release(|conn, _| {
            Box::pin(async move {
                use sqlx::Connection;
                if conn.is_in_transaction() {
                    conn.ping().await?;
                    if conn.is_in_transaction() {
                        tracing::warn!(
                            "closing a database connection left inside a failed transaction"
                        );
                        return Ok(false);
                    }
                }
                Ok(true)
            })
        });
        let pool = options.connect(url).await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Db {
            pool,
            backend,
            url: url.to_string(),
            writer: Arc::default(),
            pending: Arc::default(),
            write_error: Arc::default(),
        })
    }

    /// A stable id for this installation's storage, shared by every process on the same database.
    /// Drawn once, on first use.
    pub async fn storage_id(&self) -> Result<String, DbError> {
        let candidate = rand::random::<i64>() & i64::MAX;
        sqlx::query("INSERT INTO counters (name, value) VALUES ('storage_id', $1) ON CONFLICT (name) DO NOTHING")
            .bind(candidate)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT value FROM counters WHERE name = 'storage_id'")
            .fetch_one(&self.pool)
            .await?;
        Ok(format!("vertel-{:016x}", row.i64("value")?))
    }

    /// Can the database take a write now? A small write transaction, as every writer would
    /// begin it (on SQLite after this process's writers).
    pub async fn probe_write(&self) -> Result<(), DbError> {
        let (mut tx, turn) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO counters (name, value) VALUES ('health_probe', $1) \
             ON CONFLICT (name) DO UPDATE SET value = $1",
        )
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        drop(turn);
        Ok(())
    }

    /// Remember how the last document write went.
    pub(crate) fn note_write<T>(&self, outcome: &Result<T, DbError>) {
        let mut last = self.write_error.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(_) => *last = None,
            Err(e) => *last = Some((now_ms(), e.to_string())),
        }
    }

    /// The last document write that failed (when, why), unless one succeeded since.
    pub fn last_write_error(&self) -> Option<(i64, String)> {
        self.write_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Begin a transaction that writes; keep the turn until the transaction is done.
    ///
    /// SQLite admits one writer at a time, and a transaction that read before it writes fails at
    /// once (SQLITE_BUSY, the busy timeout does not apply) when another writer got in first: under
    /// concurrent sync that dropped devices' connections with "database is locked". So on SQLite
    /// this process's writers queue here (in order, without the busy handler's sleeps) and begin
    /// with `BEGIN IMMEDIATE`, which takes the write lock up front; a writer in another process (an
    /// admin command) is waited for by the busy timeout. PostgreSQL needs neither.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<(sqlx::Transaction<'static, sqlx::Any>, WriterTurn), DbError> {
        match self.backend {
            Backend::Sqlite => {
                let turn = self.writer.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok((tx, Some(turn)))
            }
            Backend::Postgres => Ok((self.pool.begin().await?, None)),
        }
    }
}

/// Small helpers for reading `AnyRow`s by name.
pub(crate) trait RowExt {
    fn i64(&self, col: &str) -> Result<i64, sqlx::Error>;
    fn opt_i64(&self, col: &str) -> Result<Option<i64>, sqlx::Error>;
    fn string(&self, col: &str) -> Result<String, sqlx::Error>;
    fn opt_string(&self, col: &str) -> Result<Option<String>, sqlx::Error>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>, sqlx::Error>;
}

impl RowExt for AnyRow {
    fn i64(&self, col: &str) -> Result<i64, sqlx::Error> {
        sqlx::Row::try_get(self, col)
    }
    fn opt_i64(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::Row::try_get(self, col)
    }
    fn string(&self, col: &str) -> Result<String, sqlx::Error> {
        sqlx::Row::try_get(self, col)
    }
    fn opt_string(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::Row::try_get(self, col)
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>, sqlx::Error> {
        sqlx::Row::try_get(self, col)
    }
}

/// Databases for unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Backend, Db};

    /// A fresh database for a test, with a workspace and a coordinator in it.
    pub(crate) struct TestDb {
        pub db: Db,
        /// Where it is, for a second connection pool (another server process).
        pub url: String,
        pub workspace: i64,
        pub member: i64,
        _dir: tempfile::TempDir,
    }

    impl TestDb {
        /// The metadata of an empty story recorded by the test's coordinator.
        pub fn story_meta(&self) -> super::docs::DocMeta {
            super::docs::DocMeta {
                workspace_id: self.workspace,
                recorder_id: self.member,
                doc_type: "story".into(),
                size: 0,
                deleted: false,
            }
        }
    }

    /// A fresh database of `backend` (PostgreSQL: a new database on the cluster at
    /// `VERTEL_TEST_PG_URL`, which the test command starts).
    pub(crate) async fn db(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = match backend {
            Backend::Sqlite => super::default_url(dir.path()),
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = std::env::var("VERTEL_TEST_PG_URL").expect(
                    "VERTEL_TEST_PG_URL is not set: PostgreSQL tests need a running cluster \
                     (the test command starts one)",
                );
                let name = format!("vertel_unit_{:016x}", rand::random::<u64>());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("the test cluster");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                let (base, _) = admin.rsplit_once('/').expect("a database in the URL");
                format!("{base}/{name}")
            }
        };
        let db = Db::connect(&url, 8).await.expect("database");
        let ws = db.create_workspace("w", "W").await.expect("workspace");
        let member = db
            .create_member(
                ws.id,
                "a@example.org",
                "A",
                super::accounts::Role::Coordinator,
                None,
                None,
            )
            .await
            .expect("member");
        TestDb {
            db,
            url,
            workspace: ws.id,
            member: member.id,
            _dir: dir,
        }
    }
}
