//! The test harness: real `vertel-server` processes on loopback, on SQLite or PostgreSQL.
//!
//! PostgreSQL tests need a running cluster whose admin URL is in `VERTEL_TEST_PG_URL`; the test
//! command (`.ci/run` → `scripts/test.sh`) starts a throwaway one. Each test gets its own database.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use client_core::native::Device;

pub mod chaos;
pub mod cluster;
pub mod proxy;
pub mod webm;
use client_core::story::{
    Consent, ConsentHow, ConsentScope, NewStory, Person, PlaceType, StoryKind,
};

/// A parent's story as a professional records it, with consent to use it anonymised.
pub fn parent_story(title: &str, body: &str) -> NewStory {
    NewStory {
        kind: Some(StoryKind::ParentStory),
        title: title.into(),
        body: body.into(),
        language: "nl".into(),
        captured_at: 1_763_900_000_000,
        place_type: Some(PlaceType::Speeltuin),
        municipality: Some("Delft".into()),
        told_by: Some(Person {
            role: "moeder".into(),
            name: "Roos".into(),
        }),
        recorded_by: None,
        consent: Some(Consent {
            given: true,
            how: Some(ConsentHow::Spoken),
            scope: Some(ConsentScope::AnonymisedInReports),
            recorded_at: Some(1_763_900_000_000),
        }),
        persona: None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a test's server keeps its data: a data directory, and a database URL for PostgreSQL.
pub struct Env {
    pub backend: Backend,
    /// The server's data directory (and SQLite database).
    pub dir: tempfile::TempDir,
    /// Devices' stores, apart from the server's files.
    pub devices: tempfile::TempDir,
    pub database_url: Option<String>,
}

/// The `vertel-server` binary to run: `VERTEL_SERVER_BIN` if set, else the one built in the same
/// target profile directory as the running executable (`target/<profile>/vertel-server` beside a
/// binary such as `bench-sync`, or one level up from a test in `target/<profile>/deps/`).
pub fn server_binary() -> PathBuf {
    if let Ok(p) = std::env::var("VERTEL_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("executable path");
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join("vertel-server"))
        .collect();
    let found = candidates.iter().find(|b| b.is_file()).cloned();
    found.unwrap_or_else(|| {
        panic!(
            "vertel-server is missing (looked for {candidates:?}): build it first with \
             `cargo build -p vertel-server` (add --release for a release binary), or set VERTEL_SERVER_BIN"
        )
    })
}

impl Env {
    pub async fn new(backend: Backend) -> Result<Env> {
        let dir = tempfile::Builder::new().prefix("vertel-test-").tempdir()?;
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(create_pg_database().await?),
        };
        let devices = tempfile::Builder::new()
            .prefix("vertel-devices-")
            .tempdir()?;
        Ok(Env {
            backend,
            dir,
            devices,
            database_url,
        })
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    fn apply(&self, cmd: &mut Command) {
        cmd.env_remove("VERTEL_DATABASE_URL")
            .env("VERTEL_DATA_DIR", self.data_dir())
            .env("VERTEL_LOG", "warn");
        if let Some(url) = &self.database_url {
            cmd.env("VERTEL_DATABASE_URL", url);
        }
    }

    /// Run a `vertel-server` subcommand to completion; returns stdout.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let mut cmd = Command::new(server_binary());
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.apply(&mut cmd);
        let mut child = cmd.spawn().context("spawning vertel-server")?;
        if let Some(mut input) = child.stdin.take()
            && let Some(s) = stdin
        {
            input.write_all(s.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        anyhow::ensure!(
            out.status.success(),
            "vertel-server {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    }

    /// A workspace with members of each role, all with password [`PASSWORD`].
    pub fn workspace(&self, slug: &str) -> Result<()> {
        self.cli(&["workspace", "add", slug, "--name", slug], None)?;
        for role in ["professional", "sleutelpersoon", "coordinator", "admin"] {
            let email = format!("{role}@{slug}.test");
            self.cli(
                &[
                    "member",
                    "add",
                    "--workspace",
                    slug,
                    "--email",
                    &email,
                    "--role",
                    role,
                    "--password-stdin",
                ],
                Some(PASSWORD),
            )?;
        }
        Ok(())
    }

    pub async fn start(&self) -> Result<Server> {
        Server::start(self, &[]).await
    }

    /// Run `vertel-server check` on this environment's storage: every stored document loads and
    /// its recorded heads are its stored heads. Returns the report; an error holds the report of
    /// the inconsistent documents (ids and kinds of problem, no content).
    pub fn check(&self) -> Result<String> {
        let mut cmd = Command::new(server_binary());
        cmd.arg("check");
        self.apply(&mut cmd);
        let out = cmd.output().context("spawning vertel-server check")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "vertel-server check failed ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(stdout.into_owned())
    }
}

/// Every scenario ends with a consistency check of what it stored. Servers are dropped before
/// this (tests declare the `Env` first), so the check sees their final state. Skipped while a
/// panic unwinds: the test failed already, and a second panic would abort the process.
impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Err(e) = self.check() {
            panic!("storage is inconsistent after the scenario: {e:#}");
        }
    }
}

/// Long and uncommon enough for the password policy (`server/src/auth/policy.rs`).
pub const PASSWORD: &str = "fietsbel-dinsdag-42";

async fn create_pg_database() -> Result<String> {
    use sqlx::Connection;
    let admin = std::env::var("VERTEL_TEST_PG_URL").context(
        "VERTEL_TEST_PG_URL is not set: PostgreSQL tests need a running cluster (the test command starts one)",
    )?;
    let name = format!("vertel_test_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .context("connecting to the test cluster")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .context("admin URL has no database")?;
    Ok(format!("{base}/{name}"))
}

/// A running `vertel-server serve` process.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    stderr_log: PathBuf,
}

impl Server {
    pub async fn start(env: &Env, extra: &[&str]) -> Result<Server> {
        Server::start_with_env(env, extra, &[]).await
    }

    /// Start with environment variables of its own (an S3 blob store's `AWS_*`).
    pub async fn start_with_env(
        env: &Env,
        extra: &[&str],
        vars: &[(String, String)],
    ) -> Result<Server> {
        let stderr_log = env
            .data_dir()
            .join(format!("server-{:08x}.log", rand::random::<u32>()));
        let mut cmd = Command::new(server_binary());
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(extra);
        env.apply(&mut cmd);
        cmd.envs(vars.iter().map(|(k, v)| (k, v)));
        cmd.stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log)?);
        let mut child = cmd.spawn().context("spawning vertel-server serve")?;
        let stdout = child.stdout.take().context("stdout")?;
        let addr = tokio::task::spawn_blocking(move || -> Result<SocketAddr> {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                anyhow::ensure!(
                    reader.read_line(&mut line)? > 0,
                    "server exited before listening"
                );
                if let Some(rest) = line.trim().strip_prefix("listening on http://") {
                    // Keep draining stdout so the server never blocks on a full pipe.
                    std::thread::spawn(move || for _ in reader.lines() {});
                    return Ok(rest.parse()?);
                }
            }
        })
        .await??;
        Ok(Server {
            child,
            addr,
            stderr_log,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/sync", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to flush or shut down.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a graceful exit.
    pub fn terminate(mut self) -> Result<std::process::ExitStatus> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!("server did not stop within 10 s of SIGTERM")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<Session> {
        let resp = reqwest::Client::new()
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "login {email}: {}",
            resp.status()
        );
        let v: Value = resp.json().await?;
        Ok(Session {
            token: v["token"].as_str().context("token")?.to_string(),
            member_id: v["member"]["id"].as_i64().context("member id")?,
            body: v,
        })
    }

    /// Log in as `<role>@<workspace>.test` (see [`Env::workspace`]).
    pub async fn login_as(&self, role: &str, workspace: &str) -> Result<Session> {
        self.login(&format!("{role}@{workspace}.test"), PASSWORD)
            .await
    }

    /// All changes visible to `token`, following the cursor until the end.
    pub async fn feed(&self, token: &str) -> Result<Vec<Value>> {
        let client = reqwest::Client::new();
        let mut since = 0;
        let mut all = Vec::new();
        loop {
            let v: Value = client
                .get(self.url(&format!("/api/v1/stories/changes?since={since}&limit=5000")))
                .bearer_auth(token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            all.extend(v["changes"].as_array().cloned().unwrap_or_default());
            since = v["next"].as_i64().context("next")?;
            if !v["more"].as_bool().unwrap_or(false) {
                return Ok(all);
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Session {
    pub token: String,
    pub member_id: i64,
    pub body: Value,
}

/// A device with its own temporary store directory.
pub async fn device(env: &Env, name: &str) -> Result<Device> {
    Ok(Device::open(env.devices.path().join(name)).await?)
}

/// A field of `/proc/<pid>/status` in kB (`"VmRSS:"`, `"VmHWM:"`): a server's memory, for
/// benchmarks and the tests that bound it.
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A raw websocket client of the sync protocol.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A client that joins, asks for story `id` and then never reads again (until the caller does):
/// what a peer that stopped reading looks like to the server.
pub async fn stalled_reader(
    server: &Server,
    token: &str,
    id: client_core::DocumentId,
) -> Result<Socket> {
    use client_core::wire::Message;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Ws;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{}?token={token}", server.ws_url())).await?;
    let join = Message::Join {
        sender_id: format!("stalled-{:x}", rand::random::<u32>()),
        supported_protocol_versions: vec!["1".into()],
        peer_metadata: None,
    };
    ws.send(Ws::Binary(join.encode().into())).await?;
    let server_peer = loop {
        match ws.next().await {
            Some(Ok(Ws::Binary(b))) => {
                if let Message::Peer { sender_id, .. } = Message::decode(&b, usize::MAX)? {
                    break sender_id;
                }
            }
            Some(Ok(_)) => {}
            other => anyhow::bail!("no peer message: {other:?}"),
        }
    };
    let ask = Message::Request {
        document_id: id,
        sender_id: "stalled".into(),
        target_id: server_peer,
        data: automerge::sync::SyncDoc::generate_sync_message(
            &automerge::Automerge::new(),
            &mut automerge::sync::State::new(),
        )
        .map(|m| m.encode())
        .unwrap_or_default(),
    };
    ws.send(Ws::Binary(ask.encode().into())).await?;
    Ok(ws)
}
