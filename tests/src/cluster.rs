//! The parts of a cluster that a test may restart: a PostgreSQL cluster and an S3 server of the
//! test's own (the shared ones of the test command must stay up for the other tests).
//!
//! The S3 server is s3s-fs, the real S3 implementation the test command builds and names in
//! `VERTEL_TEST_S3_BIN` (scripts/lib.sh); PostgreSQL is the system's `initdb` and `pg_ctl`.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn wait_listening(port: u16, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what} does not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn pg_bindir() -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed (scripts/test.sh installs it)")?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop().context("no initdb under /usr/lib/postgresql")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A PostgreSQL cluster in a temporary directory, on a fixed port across restarts.
pub struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl OwnPostgres {
    fn pg(&self, tool: &str) -> Command {
        let mut cmd = if is_root() {
            // PostgreSQL refuses to run as root: as the postgres user the package created.
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
            c
        } else {
            Command::new(self.bin.join(tool))
        };
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    }

    pub fn start() -> Result<OwnPostgres> {
        let dir = tempfile::Builder::new()
            .prefix("vertel-own-pg-")
            .tempdir()?;
        if is_root() {
            Command::new("chown")
                .arg("postgres")
                .arg(dir.path())
                .status()?;
        }
        let pg = OwnPostgres {
            dir,
            bin: pg_bindir()?,
            port: free_port()?,
        };
        let status = pg
            .pg("initdb")
            .arg("-D")
            .arg(pg.data())
            .args(["-U", "vertel", "--auth=trust", "-E", "UTF8"])
            .status()?;
        anyhow::ensure!(status.success(), "initdb failed");
        pg.up()?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn up(&self) -> Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let status = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(log)
            .args(["-w", "start", "-o", &opts])
            .status()?;
        anyhow::ensure!(status.success(), "pg_ctl start failed");
        Ok(())
    }

    /// Stop at once (`-m immediate`: like a crash) and start again on the same port.
    pub fn restart(&self) -> Result<()> {
        self.stop()?;
        self.up()
    }

    fn stop(&self) -> Result<()> {
        let status = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .status()?;
        anyhow::ensure!(status.success(), "pg_ctl stop failed");
        Ok(())
    }

    /// The admin URL of the cluster.
    pub fn url(&self) -> String {
        format!("postgres://vertel@127.0.0.1:{}/postgres", self.port)
    }

    /// A new database on the cluster; its URL.
    pub async fn database(&self, name: &str) -> Result<String> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url()).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        Ok(format!("postgres://vertel@127.0.0.1:{}/{name}", self.port))
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// An S3 server (s3s-fs) with one bucket, on a fixed port across restarts.
pub struct OwnS3 {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
}

pub const S3_BUCKET: &str = "vertel";
const S3_KEY: &str = "vertel-cluster";
const S3_SECRET: &str = "vertel-cluster-secret";

impl OwnS3 {
    pub fn start() -> Result<OwnS3> {
        let dir = tempfile::Builder::new()
            .prefix("vertel-own-s3-")
            .tempdir()?;
        std::fs::create_dir_all(dir.path().join(S3_BUCKET))?;
        let mut s3 = OwnS3 {
            dir,
            child: None,
            port: free_port()?,
        };
        s3.up()?;
        Ok(s3)
    }

    fn up(&mut self) -> Result<()> {
        let bin = std::env::var("VERTEL_TEST_S3_BIN").context(
            "VERTEL_TEST_S3_BIN is not set: the cluster tests need the S3 server the test command \
             builds (scripts/lib.sh ensure_s3s_fs)",
        )?;
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", S3_KEY, "--secret-key", S3_SECRET])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        self.child = Some(child);
        wait_listening(self.port, "the S3 server")
    }

    /// Kill (SIGKILL) and start again on the same port, over the same files.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.up()
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Where the bucket's objects are, to check what the store holds.
    pub fn bucket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment of a server process that stores its blobs here.
    pub fn server_env(&self) -> Vec<(String, String)> {
        [
            ("VERTEL_BLOB_URL", format!("s3://{S3_BUCKET}/blobs-of-test")),
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", S3_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET.into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl Drop for OwnS3 {
    fn drop(&mut self) {
        self.kill();
    }
}
