//! The servers under test: ours (`vertel-server`, through vertel-tests' [`Server`]) and the
//! reference automerge-repo sync server (`node tests/interop/reference-server.mjs`), each killed
//! when its guard drops. [`Running`] is either, with the tokens the workloads log in with.

use crate::params::Setup;
use crate::util::rss_kb;
use anyhow::{Context, Result, bail, ensure};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use vertel_tests::{Env, Server};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ours,
    Reference,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Reference => "reference",
        }
    }
}

/// `node reference-server.mjs 0 <dir>` on 127.0.0.1; killed on drop.
pub struct RefServer {
    pub child: Child,
    pub port: u16,
    pub _storage: tempfile::TempDir,
}

pub fn reference_script() -> PathBuf {
    match std::env::var("VERTEL_REFERENCE_SERVER") {
        Ok(p) => PathBuf::from(p),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/reference-server.mjs"),
    }
}

/// Why the reference server cannot run here, if it cannot.
pub fn reference_unavailable() -> Option<String> {
    let script = reference_script();
    if !script.is_file() {
        return Some(format!("{} does not exist", script.display()));
    }
    let modules = script
        .parent()
        .map(|d| d.join("node_modules/@automerge/automerge-repo"));
    if !modules.is_some_and(|m| m.exists()) {
        return Some("its node_modules are missing: run `npm ci --prefix tests/interop`".into());
    }
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("`node` is not on PATH".into()),
    }
}

impl RefServer {
    pub async fn start() -> Result<RefServer> {
        let storage = tempfile::Builder::new()
            .prefix("vertel-bench-ref-")
            .tempdir()?;
        let (child, port) = spawn_reference(storage.path()).await?;
        Ok(RefServer {
            child,
            port,
            _storage: storage,
        })
    }

    /// SIGTERM (the script shuts the repo down, flushing storage), then start again on the same
    /// storage: nothing in memory.
    pub async fn restart(&mut self) -> Result<()> {
        stop_gracefully(&mut self.child)?;
        let (child, port) = spawn_reference(self._storage.path()).await?;
        self.child = child;
        self.port = port;
        Ok(())
    }
}

/// SIGTERM a child and wait for it (SIGKILL after 30 s).
pub fn stop_gracefully(child: &mut Child) -> Result<()> {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()?;
    for _ in 0..300 {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Still busy (the reference after a stalled catch-up): what it stores was flushed long ago.
    println!("  (a server did not stop within 30 s of SIGTERM: killed)");
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

pub async fn spawn_reference(dir: &Path) -> Result<(Child, u16)> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("stderr.log"))?;
    let mut child = Command::new("node")
        .arg(reference_script())
        .arg("0")
        .arg(dir.join("store"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("spawning node reference-server.mjs")?;
    let stdout = child.stdout.take().context("stdout")?;
    let port = tokio::task::spawn_blocking(move || -> Result<u16> {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            ensure!(
                reader.read_line(&mut line)? > 0,
                "reference server exited before listening"
            );
            if let Some(rest) = line.trim().strip_prefix("listening on ws://127.0.0.1:") {
                std::thread::spawn(move || for _ in reader.lines() {});
                return Ok(rest.parse()?);
            }
        }
    });
    match tokio::time::timeout(Duration::from_secs(30), port).await {
        Ok(Ok(Ok(port))) => Ok((child, port)),
        other => {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
            bail!("reference server did not start: {other:?}\n{log}");
        }
    }
}

impl Drop for RefServer {
    fn drop(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait()
            && !status.success()
        {
            let log = std::fs::read_to_string(self._storage.path().join("stderr.log"))
                .unwrap_or_default();
            let tail: String = log
                .chars()
                .rev()
                .take(1500)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            println!("  [reference] the server had exited ({status}); its stderr ends:\n{tail}");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running server of either kind, with tokens for the roles the workloads use.
pub struct Running {
    // Field order is drop order: the server stops before its data directory goes.
    pub ours: Option<Server>,
    pub reference: Option<RefServer>,
    pub _env: Option<Env>,
    /// Extra `serve` arguments (ours), for restarts.
    pub args: Vec<String>,
    pub editor_token: String,
    pub watcher_token: String,
    pub idle_token: String,
}

impl Running {
    pub async fn start(setup: &Setup, kind: Kind, extra: &[&str]) -> Result<Running> {
        match kind {
            Kind::Ours => {
                let env = Env::new(setup.backend).await?;
                env.workspace("bench")?;
                let args = setup.server_args(extra);
                let server = Server::start(&env, &args).await?;
                let editor = server.login_as("professional", "bench").await?;
                let watcher = server.login_as("coordinator", "bench").await?;
                let idle = server.login_as("sleutelpersoon", "bench").await?;
                Ok(Running {
                    ours: Some(server),
                    reference: None,
                    _env: Some(env),
                    args: args.iter().map(|a| a.to_string()).collect(),
                    editor_token: editor.token,
                    watcher_token: watcher.token,
                    idle_token: idle.token,
                })
            }
            Kind::Reference => {
                let server = RefServer::start().await?;
                Ok(Running {
                    ours: None,
                    reference: Some(server),
                    _env: None,
                    args: Vec::new(),
                    editor_token: "ignored".into(),
                    watcher_token: "ignored".into(),
                    idle_token: "ignored".into(),
                })
            }
        }
    }

    /// Stop the server gracefully and start it again on the same storage: nothing in memory.
    pub async fn restart(&mut self) -> Result<()> {
        if let Some(server) = self.ours.take() {
            let status = server.terminate()?;
            ensure!(status.success(), "server exited with {status}");
            let env = self._env.as_ref().context("no environment")?;
            let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
            self.ours = Some(Server::start(env, &args).await?);
        }
        if let Some(reference) = self.reference.as_mut() {
            reference.restart().await?;
        }
        Ok(())
    }

    pub fn kind(&self) -> Kind {
        if self.ours.is_some() {
            Kind::Ours
        } else {
            Kind::Reference
        }
    }

    pub fn ws_url(&self) -> String {
        match (&self.ours, &self.reference) {
            (Some(s), _) => s.ws_url(),
            (_, Some(r)) => format!("ws://127.0.0.1:{}/", r.port),
            _ => unreachable!(),
        }
    }

    pub fn pid(&self) -> u32 {
        match (&self.ours, &self.reference) {
            (Some(s), _) => s.pid(),
            (_, Some(r)) => r.child.id(),
            _ => unreachable!(),
        }
    }

    pub fn rss_mb(&self) -> Result<f64> {
        Ok(rss_kb(self.pid())? as f64 / 1024.0)
    }
}
