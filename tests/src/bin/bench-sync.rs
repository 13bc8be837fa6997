//! `bench-sync`: sync benchmarks of `vertel-server`, and the same workloads against the reference
//! automerge-repo sync server (`tests/interop/reference-server.mjs`), on loopback.
//!
//! ```text
//! cargo build --release -p vertel-server
//! cargo run --release -p vertel-tests --bin bench-sync -- [--quick] [--no-reference] [--postgres] [--only catchup,editing,crossprocess,memory]
//! ```
//!
//! It prints numbers and a table (metric, ours, reference, ratio, target, pass/fail); it asserts
//! nothing. BENCHMARKS.md ("Sync (issue 2)") describes the workloads and holds the results.
//!
//! * `catchup`: a device pushes N stories; a fresh coordinator device reads the changes feed (the
//!   reference has none: it is given the ids), wants every id, and we time until all are local.
//! * `editing`: D devices connected; E editors each edit their own story at a steady rate while a
//!   watcher device (coordinator) follows the same story. Ingest = changes the server acknowledged
//!   per second; latency = edit on the editor → arrival on the watcher (the send time rides in the
//!   title; arrival is taken by a [`Device::observe`] hook). The idle devices give memory per device.
//! * `crossprocess` (ours, `--postgres` only; skipped with a printed line otherwise): two server
//!   processes A and B on one PostgreSQL database. The editors are on A at the `editing` steady
//!   rate; each story has a watcher on A and one on B, so the same edits are timed in the same run
//!   on arrival within one process and across processes (A stores, notifies B with LISTEN/NOTIFY,
//!   B reads the change back from the database: `server/src/sync/notify.rs`).
//! * `memory` (ours only): RSS with many stored stories after a restart, after one device syncs a
//!   few, and after they are evicted (`--doc-idle-secs`).
//!
//! Device stores live in /dev/shm when it has 2 GB free: the devices' disks are not under test, and their
//! fsyncs would otherwise compete with the server's on one disk. Servers store on disk (a temporary
//! directory). Every server process is started on 127.0.0.1 and killed when its guard drops,
//! including on errors and Ctrl-C. The open-file limit is raised to the hard limit (2,000 devices
//! need ~2,000 descriptors here and as many in the server, which inherits the limit).

use anyhow::{Context, Result, bail, ensure};
use client_core::automerge::sync::{self, SyncDoc};
use client_core::automerge::{self, Automerge, ChangeHash, ReadDoc, ScalarValue};
use client_core::native::{Device, now_ms};
use client_core::story::{self, NewStory};
use client_core::wire::{Message, PROTOCOL_V1, PeerMetadata};
use client_core::{DocumentId, Event};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vertel_tests::{Backend, Env, Server, parent_story, server_binary};

// ---- parameters --------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Params {
    /// Stories a fresh device catches up on.
    catchup_stories: usize,
    /// A second, smaller catch-up (0: none).
    catchup_small: usize,
    /// Devices connected during the editing run (editors + watchers + idle).
    devices: usize,
    /// Devices editing; as many watchers follow them.
    editors: usize,
    /// Edits per second per editor in the steady phase (latency).
    edit_rate: f64,
    /// Length of each editing phase.
    edit_secs: u64,
    /// Edits an editor may have unacknowledged in the max-ingest phase.
    window: usize,
    /// Stories stored for the memory run.
    stored_stories: usize,
    /// Stories one device syncs after the restart.
    synced_after_restart: usize,
    /// `--doc-idle-secs` for the memory run.
    idle_secs: u64,
}

impl Params {
    fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let n = || {
            value
                .parse::<u64>()
                .with_context(|| format!("{name}={value}"))
        };
        match name {
            "catchup_stories" => self.catchup_stories = n()? as usize,
            "catchup_small" => self.catchup_small = n()? as usize,
            "devices" => self.devices = n()? as usize,
            "editors" => self.editors = n()? as usize,
            "edit_rate" => self.edit_rate = value.parse()?,
            "edit_secs" => self.edit_secs = n()?,
            "window" => self.window = n()? as usize,
            "stored_stories" => self.stored_stories = n()? as usize,
            "synced_after_restart" => self.synced_after_restart = n()? as usize,
            "idle_secs" => self.idle_secs = n()?,
            _ => bail!("no parameter {name}"),
        }
        Ok(())
    }

    fn full() -> Self {
        Params {
            catchup_stories: 10_000,
            catchup_small: 1_000,
            devices: 2_000,
            editors: 300,
            edit_rate: 5.0,
            edit_secs: 20,
            window: 8,
            stored_stories: 100_000,
            synced_after_restart: 100,
            idle_secs: 5,
        }
    }

    fn quick() -> Self {
        Params {
            catchup_stories: 1_000,
            catchup_small: 0,
            devices: 200,
            editors: 30,
            edit_rate: 5.0,
            edit_secs: 5,
            window: 8,
            stored_stories: 5_000,
            synced_after_restart: 20,
            idle_secs: 3,
        }
    }
}

struct Opts {
    quick: bool,
    reference: bool,
    only: Option<HashSet<String>>,
    /// `--set name=value` overrides of [`Params`] fields, for exploring (e.g. `edit_secs=60`).
    set: Vec<(String, String)>,
    /// `--server-arg` values for our server (e.g. `--tagger=off`).
    server_args: Vec<String>,
    /// Our server on PostgreSQL (`VERTEL_TEST_PG_URL`, a fresh database per server) instead of
    /// the SQLite default.
    postgres: bool,
}

impl Opts {
    fn parse() -> Result<Opts> {
        let mut opts = Opts {
            quick: false,
            reference: true,
            only: None,
            set: Vec::new(),
            server_args: Vec::new(),
            postgres: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => opts.quick = true,
                "--no-reference" => opts.reference = false,
                "--postgres" => opts.postgres = true,
                "--only" => {
                    let list = args.next().context("--only needs a list")?;
                    opts.only = Some(list.split(',').map(str::to_string).collect());
                }
                "--server-arg" => {
                    opts.server_args
                        .push(args.next().context("--server-arg needs a value")?);
                }
                "--set" => {
                    let kv = args.next().context("--set needs name=value")?;
                    let (k, v) = kv.split_once('=').context("--set needs name=value")?;
                    opts.set.push((k.to_string(), v.to_string()));
                }
                "-h" | "--help" => {
                    println!(
                        "usage: bench-sync [--quick] [--no-reference] [--postgres] [--only catchup,editing,crossprocess,memory] [--set param=value]... [--server-arg ARG]...\n\
                         params: catchup_stories catchup_small devices editors edit_rate edit_secs window stored_stories synced_after_restart idle_secs"
                    );
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?} (try --help)"),
            }
        }
        Ok(opts)
    }

    fn wants(&self, scenario: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(scenario))
    }
}

// ---- small utilities ---------------------------------------------------------------------------

static BASE: OnceLock<Instant> = OnceLock::new();

/// Where our servers store: SQLite unless `--postgres`.
static BACKEND: OnceLock<Backend> = OnceLock::new();

/// `--server-arg` values, passed to every `vertel-server serve` this run starts.
static SERVER_ARGS: OnceLock<Vec<String>> = OnceLock::new();

fn server_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = extra.to_vec();
    args.extend(SERVER_ARGS.get().into_iter().flatten().map(String::as_str));
    args
}

/// Microseconds since the harness started: the clock edit timestamps are written in.
fn micros() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Whether process `pid` is running (exists and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")
}

/// User + system CPU seconds of a process.
fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').context("bad stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3, utime field 14, stime field 15.
    let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(ticks as f64 / hz)
}

/// Wait until the server is quiet (under 3% of a core for three seconds, longer than the tagger's
/// debounce), so background work left by a previous step (the tagger's backlog after thousands
/// of new stories) does not run into the next timed step. Gives up after two minutes.
async fn settle(label: &str, pid: u32) -> Result<()> {
    settle_within(label, pid, Duration::from_secs(120)).await
}

async fn settle_within(label: &str, pid: u32, limit: Duration) -> Result<()> {
    let t = Instant::now();
    loop {
        let before = cpu_secs(pid)?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let busy = cpu_secs(pid)? - before;
        if busy < 0.09 || t.elapsed() > limit {
            if t.elapsed() > Duration::from_secs(4) {
                println!(
                    "  [{label}] server quiet after {:.0} s",
                    t.elapsed().as_secs_f64()
                );
            }
            return Ok(());
        }
    }
}

/// Raise the soft open-file limit to the hard limit (children inherit it).
fn raise_nofile() -> Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the struct we pass.
    unsafe {
        ensure!(
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0,
            "getrlimit"
        );
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            ensure!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0, "setrlimit");
        }
    }
    Ok(lim.rlim_cur)
}

fn sample_story(i: usize) -> NewStory {
    NewStory {
        place_type: None,
        ..parent_story(
            &format!("Verhaal {i}"),
            "We spraken bij de speeltuin over de eerste weken thuis, over slapen en over hulp \
             van de buren. Ze vertelde dat de wijkverpleegkundige veel had uitgelegd.",
        )
    }
}

/// The send time an edit wrote into the title (`bench <seq> <micros>`).
fn title_timestamp(doc: &Automerge) -> Option<u64> {
    let (value, _) = doc.get(automerge::ROOT, "title").ok()??;
    let automerge::Value::Scalar(s) = value else {
        return None;
    };
    let ScalarValue::Str(title) = s.as_ref() else {
        return None;
    };
    let mut parts = title.split(' ');
    (parts.next() == Some("bench")).then_some(())?;
    parts.nth(1)?.parse().ok()
}

/// Documents that reached some state, counted once each, with a way to wait for a count.
#[derive(Clone)]
struct Tracker {
    seen: Arc<Mutex<HashSet<DocumentId>>>,
    count: Arc<watch::Sender<usize>>,
}

impl Tracker {
    fn new() -> Tracker {
        Tracker {
            seen: Arc::default(),
            count: Arc::new(watch::Sender::new(0)),
        }
    }

    fn add(&self, id: DocumentId) {
        let n = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if !seen.insert(id) {
                return;
            }
            seen.len()
        };
        self.count.send_modify(|c| *c = (*c).max(n));
    }

    /// Wait until `n` documents are counted; fail early if the server process `pid` died.
    async fn wait(&self, n: usize, timeout: Duration, what: &str, pid: u32) -> Result<()> {
        let mut rx = self.count.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            let slice = Duration::from_millis(500);
            if let Ok(got) = tokio::time::timeout(slice, rx.wait_for(|c| *c >= n)).await {
                got?;
                return Ok(());
            }
            let have = *self.count.borrow();
            ensure!(
                alive(pid),
                "the server died while waiting for {what} ({have} of {n})"
            );
            ensure!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}: {have} of {n}"
            );
        }
    }

    /// Count documents that become confirmed by the server.
    fn confirmations(device: &Device) -> Tracker {
        let t = Tracker::new();
        let t2 = t.clone();
        device.observe(move |e, _| {
            if let Event::SyncStatus {
                id,
                confirmed: true,
            } = e
            {
                t2.add(*id);
            }
        });
        t
    }

    /// Count documents that arrive (change because of the remote).
    fn arrivals(device: &Device) -> Tracker {
        let t = Tracker::new();
        let t2 = t.clone();
        device.observe(move |e, _| {
            if let Event::DocChanged { id } = e {
                t2.add(*id);
            }
        });
        t
    }
}

/// Run `f(0..n)` with at most `limit` at a time; results in order. The first error wins.
async fn concurrently<T, F, Fut>(n: usize, limit: usize, f: F) -> Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let sem = Arc::new(Semaphore::new(limit));
    let mut set = JoinSet::new();
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let fut = f(i);
        set.spawn(async move {
            let r = fut.await;
            drop(permit);
            (i, r)
        });
        // Collect finished ones early so an error stops the run promptly.
        while let Some(done) = set.try_join_next() {
            let (i, r) = done?;
            out[i] = Some(r?);
        }
    }
    while let Some(done) = set.join_next().await {
        let (i, r) = done?;
        out[i] = Some(r?);
    }
    Ok(out
        .into_iter()
        .map(|o| o.expect("every task ran"))
        .collect())
}

fn percentile(sorted: &[u64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1] as f64)
}

// ---- a light device for the many-devices workload ----------------------------------------------

/// What a [`Peer`] calls when a document changed because of the server, with the new content.
type OnChange = Box<dyn Fn(&DocumentId, &Automerge) + Send + Sync>;

/// One document on a [`Peer`].
struct PeerDoc {
    doc: Automerge,
    sync: sync::State,
    /// Asked for with `request` and not received yet.
    wanted: bool,
}

/// A [`Peer`]'s state, for [`Peer::wait`] conditions.
#[derive(Default)]
struct PeerState {
    connected: bool,
    closed: bool,
    /// The server's peer id, once the handshake is done.
    remote: String,
    docs: std::collections::HashMap<DocumentId, PeerDoc>,
}

impl PeerState {
    /// Of the changes in `log` (one document's history, in order), how many at the end the server
    /// has not acknowledged, looking back at most `window` + 1 entries.
    fn unacknowledged(&self, id: &DocumentId, log: &[ChangeHash], window: usize) -> usize {
        let theirs = self
            .docs
            .get(id)
            .and_then(|d| d.sync.their_heads.as_deref())
            .unwrap_or_default();
        let recent = &log[log.len().saturating_sub(window + 1)..];
        match recent.iter().rposition(|h| theirs.contains(h)) {
            Some(i) => recent.len() - 1 - i,
            None => recent.len(),
        }
    }

    fn document(&self, id: &DocumentId) -> Option<&Automerge> {
        self.docs.get(id).filter(|d| !d.wanted).map(|d| &d.doc)
    }

    /// Whether the server advertised heads that contain all of ours (it acknowledged our changes).
    fn is_confirmed(&self, id: &DocumentId) -> bool {
        self.docs.get(id).is_some_and(|d| {
            let ours = d.doc.get_heads();
            let theirs = d.sync.their_heads.as_deref().unwrap_or_default();
            !ours.is_empty() && ours.iter().all(|h| theirs.contains(h))
        })
    }
}

/// A device for the many-devices workload: a minimal automerge-repo client, as automerge-repo's
/// own document synchroniser is: per document an automerge document and a sync state, messages
/// in client-core's wire format. It is not the device engine ([`Engine`]), which also saves the
/// whole document after every sync message: with 2,000 devices in this process, those saves
/// (deflate) were the largest single cost of the load generator, on the two cores the server
/// needs. The server sees the same protocol either way; the catch-up workload uses a full
/// [`Device`].
struct Peer {
    peer_id: String,
    state: Mutex<PeerState>,
    out: mpsc::UnboundedSender<Vec<u8>>,
    /// Bumped after every frame handled, and when the link closes.
    changed: watch::Sender<u64>,
    on_change: Option<OnChange>,
}

impl Peer {
    async fn connect(url: &str, token: &str, on_change: Option<OnChange>) -> Result<Arc<Peer>> {
        let mut req = url.into_client_request()?;
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if frame.is_empty() {
                    break;
                }
                if sink.send(WsMessage::Binary(frame.into())).await.is_err() {
                    return;
                }
            }
            let _ = sink.send(WsMessage::Close(None)).await;
        });
        let peer = Arc::new(Peer {
            peer_id: format!("bench-{:016x}", rand::random::<u64>()),
            state: Mutex::new(PeerState::default()),
            out,
            changed: watch::Sender::new(0),
            on_change,
        });
        peer.send(&Message::Join {
            sender_id: peer.peer_id.clone(),
            supported_protocol_versions: vec![PROTOCOL_V1.into()],
            peer_metadata: Some(PeerMetadata::default()),
        });
        let reader = peer.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let data = match msg {
                    WsMessage::Binary(b) => b,
                    WsMessage::Close(_) => break,
                    _ => continue,
                };
                let ok = reader.receive(&data);
                reader.changed.send_modify(|c| *c += 1);
                if !ok {
                    break;
                }
            }
            reader.lock().closed = true;
            reader.changed.send_modify(|c| *c += 1);
        });
        peer.wait(SHORT, "handshake", |s| s.connected).await?;
        Ok(peer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PeerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, msg: &Message) {
        let _ = self.out.send(msg.encode());
    }

    /// Send what the sync protocol has to say about `id` now.
    fn sync_doc(&self, state: &mut PeerState, id: DocumentId) {
        let remote = state.remote.clone();
        let Some(d) = state.docs.get_mut(&id) else {
            return;
        };
        if let Some(msg) = d.doc.generate_sync_message(&mut d.sync) {
            let (document_id, sender_id, target_id, data) =
                (id, self.peer_id.clone(), remote, msg.encode());
            self.send(&if d.wanted {
                Message::Request {
                    document_id,
                    sender_id,
                    target_id,
                    data,
                }
            } else {
                Message::Sync {
                    document_id,
                    sender_id,
                    target_id,
                    data,
                }
            });
        }
    }

    /// Handle one frame; false when the link must close.
    fn receive(&self, frame: &[u8]) -> bool {
        let Ok(msg) = Message::decode(frame, 64 << 20) else {
            return false;
        };
        let mut state = self.lock();
        match msg {
            Message::Peer { sender_id, .. } => {
                state.remote = sender_id;
                state.connected = true;
            }
            Message::Sync {
                document_id: id,
                data,
                ..
            }
            | Message::Request {
                document_id: id,
                data,
                ..
            } => {
                let Ok(msg) = sync::Message::decode(&data) else {
                    return false;
                };
                let d = state.docs.entry(id).or_insert_with(|| PeerDoc {
                    doc: Automerge::new(),
                    sync: sync::State::new(),
                    wanted: false,
                });
                let before = d.doc.get_heads();
                if d.doc.receive_sync_message(&mut d.sync, msg).is_err() {
                    return false;
                }
                if d.doc.get_heads() != before {
                    d.wanted = false;
                    if let Some(on_change) = &self.on_change {
                        on_change(&id, &d.doc);
                    }
                }
                self.sync_doc(&mut state, id);
            }
            Message::DocUnavailable { document_id, .. }
                if state.docs.get(&document_id).is_some_and(|d| d.wanted) =>
            {
                state.docs.remove(&document_id);
            }
            Message::Error { .. } | Message::Leave { .. } => return false,
            _ => {}
        }
        true
    }

    /// Create a story (as a device does) and send it.
    fn create(&self, i: usize) -> Result<DocumentId> {
        let id = DocumentId::from_bytes(rand::random());
        let mut doc = Automerge::new();
        story::create_story(&mut doc, &sample_story(i))?;
        let mut state = self.lock();
        state.docs.insert(
            id,
            PeerDoc {
                doc,
                sync: sync::State::new(),
                wanted: false,
            },
        );
        self.sync_doc(&mut state, id);
        Ok(id)
    }

    /// Set the title of a story and send the change; returns the change's hash.
    fn edit(&self, id: DocumentId, title: &str) -> Result<ChangeHash> {
        let mut state = self.lock();
        let d = state.docs.get_mut(&id).context("no such document")?;
        story::set_title(&mut d.doc, title, now_ms())?;
        let head = *d.doc.get_heads().first().context("no heads")?;
        self.sync_doc(&mut state, id);
        Ok(head)
    }

    /// Ask the server for a document.
    fn want(&self, id: DocumentId) {
        let mut state = self.lock();
        state.docs.entry(id).or_insert_with(|| PeerDoc {
            doc: Automerge::new(),
            sync: sync::State::new(),
            wanted: true,
        });
        self.sync_doc(&mut state, id);
    }

    /// Wait until `check` holds, re-checking after every frame.
    async fn wait(
        &self,
        timeout: Duration,
        what: &str,
        check: impl Fn(&PeerState) -> bool,
    ) -> Result<()> {
        let mut rx = self.changed.subscribe();
        let done = tokio::time::timeout(timeout, async {
            loop {
                {
                    let state = self.lock();
                    if check(&state) {
                        return true;
                    }
                    if state.closed {
                        return false;
                    }
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await;
        ensure!(
            matches!(done, Ok(true)),
            "{what}: not reached (timeout {timeout:?}, or the server closed the connection)"
        );
        Ok(())
    }

    fn close(&self) {
        let _ = self.out.send(Vec::new());
    }
}

// ---- the servers under test --------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ours,
    Reference,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Reference => "reference",
        }
    }
}

/// `node reference-server.mjs 0 <dir>` on 127.0.0.1; killed on drop.
struct RefServer {
    child: Child,
    port: u16,
    _storage: tempfile::TempDir,
}

fn reference_script() -> PathBuf {
    match std::env::var("VERTEL_REFERENCE_SERVER") {
        Ok(p) => PathBuf::from(p),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/reference-server.mjs"),
    }
}

/// Why the reference server cannot run here, if it cannot.
fn reference_unavailable() -> Option<String> {
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
    async fn start() -> Result<RefServer> {
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
    async fn restart(&mut self) -> Result<()> {
        stop_gracefully(&mut self.child)?;
        let (child, port) = spawn_reference(self._storage.path()).await?;
        self.child = child;
        self.port = port;
        Ok(())
    }
}

/// SIGTERM a child and wait for it (SIGKILL after 30 s).
fn stop_gracefully(child: &mut Child) -> Result<()> {
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

async fn spawn_reference(dir: &Path) -> Result<(Child, u16)> {
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
struct Running {
    // Field order is drop order: the server stops before its data directory goes.
    ours: Option<Server>,
    reference: Option<RefServer>,
    _env: Option<Env>,
    /// Extra `serve` arguments (ours), for restarts.
    args: Vec<String>,
    editor_token: String,
    watcher_token: String,
    idle_token: String,
}

impl Running {
    async fn start(kind: Kind, extra: &[&str]) -> Result<Running> {
        match kind {
            Kind::Ours => {
                let env = Env::new(*BACKEND.get_or_init(|| Backend::Sqlite)).await?;
                env.workspace("bench")?;
                let args = server_args(extra);
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
    async fn restart(&mut self) -> Result<()> {
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

    fn kind(&self) -> Kind {
        if self.ours.is_some() {
            Kind::Ours
        } else {
            Kind::Reference
        }
    }

    fn ws_url(&self) -> String {
        match (&self.ours, &self.reference) {
            (Some(s), _) => s.ws_url(),
            (_, Some(r)) => format!("ws://127.0.0.1:{}/", r.port),
            _ => unreachable!(),
        }
    }

    fn pid(&self) -> u32 {
        match (&self.ours, &self.reference) {
            (Some(s), _) => s.pid(),
            (_, Some(r)) => r.child.id(),
            _ => unreachable!(),
        }
    }

    fn rss_mb(&self) -> Result<f64> {
        Ok(rss_kb(self.pid())? as f64 / 1024.0)
    }
}

/// Where device stores go: tmpfs when there is one.
fn devices_dir() -> Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new()
        .prefix("vertel-bench-devices-")
        .clone();
    // Only a roomy one: containers often mount a 64 MB /dev/shm, and a run stores tens of MB.
    let free_kb = Command::new("df")
        .args(["-Pk", "/dev/shm"])
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.lines()
                .nth(1)?
                .split_whitespace()
                .nth(3)?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    if shm.is_dir()
        && free_kb >= 2 * 1024 * 1024
        && let Ok(d) = b.tempdir_in(shm)
    {
        return Ok(d);
    }
    Ok(b.tempdir()?)
}

/// Waits for a whole workload.
const LONG: Duration = Duration::from_secs(600);
/// Waits for one device's setup step.
const SHORT: Duration = Duration::from_secs(60);

// ---- 1. catch-up -------------------------------------------------------------------------------

/// One fresh device's catch-up.
#[derive(Debug, Clone)]
struct Fetch {
    secs: f64,
    /// Reading the changes feed (ours only: the reference has none).
    feed_secs: Option<f64>,
    /// CPU seconds of the server and of this process (the device) meanwhile.
    server_cpu: f64,
    device_cpu: f64,
}

#[derive(Debug, Clone)]
struct CatchUp {
    push_secs: f64,
    /// Every id wanted at once; `Err` says how it failed.
    at_once: Result<Fetch, String>,
    /// Wanted in rounds of [`ROUND`], each complete before the next.
    rounds: Fetch,
    rss_mb: f64,
}

/// Stories per round when pushing, and when catching up in rounds.
const ROUND: usize = 500;

async fn catch_up(kind: Kind, n: usize, dirs: &Path) -> Result<CatchUp> {
    let mut srv = Running::start(kind, &[]).await?;
    let label = kind.name();
    let dirs = dirs.join(format!("{label}-{n}"));
    let dirs = dirs.as_path();
    let creator = Device::open(dirs.join("creator")).await?;
    let confirmed = Tracker::confirmations(&creator);
    let mut ids = Vec::with_capacity(n);
    // The creator pushes in rounds, each confirmed before the next: the reference server gives up
    // (an unhandled 60 s timeout ends its process) when one connection brings it 10,000 new
    // documents at once.
    let t = Instant::now();
    creator.connect(&srv.ws_url(), &srv.editor_token).await?;
    for round in (0..n).step_by(ROUND) {
        for i in round..(round + ROUND).min(n) {
            ids.push(creator.create_story(&sample_story(i)).await?);
        }
        confirmed
            .wait(
                ids.len(),
                LONG,
                "the server to confirm new stories",
                srv.pid(),
            )
            .await?;
    }
    let push_secs = t.elapsed().as_secs_f64();
    println!("  [{label}] pushed {n} stories in {push_secs:.2} s");
    creator.disconnect().await;
    settle(label, srv.pid()).await?;

    // Catch-up is of stories stored earlier: restart first, so none is in the server's memory.
    srv.restart().await?;
    settle(label, srv.pid()).await?;
    let at_once = fetch(&srv, dirs, "fresh", &ids, &creator, None).await;
    let at_once = match at_once {
        Ok(f) => Ok(f),
        Err(e) => {
            println!("  [{label}] catch-up with every id at once failed: {e:#}");
            Err(format!("{e:#}"))
        }
    };
    let rss_mb = srv.rss_mb()?;
    println!("  [{label}] server RSS after the catch-up {rss_mb:.1} MB");

    srv.restart().await?;
    settle(label, srv.pid()).await?;
    let rounds = fetch(&srv, dirs, "fresh-rounds", &ids, &creator, Some(ROUND)).await?;
    Ok(CatchUp {
        push_secs,
        at_once,
        rounds,
        rss_mb,
    })
}

/// A fresh coordinator device reads the changes feed (ours) and wants every story, all at once or
/// in rounds; timed until every story is stored on the device.
async fn fetch(
    srv: &Running,
    dirs: &Path,
    name: &str,
    ids: &[DocumentId],
    creator: &Device,
    rounds: Option<usize>,
) -> Result<Fetch> {
    let n = ids.len();
    let label = srv.kind().name();
    let fresh = Device::open(dirs.join(name)).await?;
    let arrived = Tracker::arrivals(&fresh);
    let (cpu0, self0) = (cpu_secs(srv.pid())?, cpu_secs(std::process::id())?);
    let t0 = Instant::now();
    let (wanted, feed_secs) = match &srv.ours {
        Some(server) => {
            let feed = server.feed(&srv.watcher_token).await?;
            let ids: Vec<DocumentId> = feed
                .iter()
                .map(|c| c["id"].as_str().unwrap_or_default().parse())
                .collect::<Result<_, _>>()?;
            (ids, Some(t0.elapsed().as_secs_f64()))
        }
        // The reference has no changes feed: the device is handed the ids.
        None => (ids.to_vec(), None),
    };
    ensure!(
        wanted.len() == n,
        "feed lists {} of {n} stories",
        wanted.len()
    );
    fresh.connect(&srv.ws_url(), &srv.watcher_token).await?;
    // Everything at once may stall a server for good: give up after two minutes.
    let limit = Duration::from_secs(120);
    let result = async {
        match rounds {
            None => {
                fresh.want(wanted).await?;
                arrived
                    .wait(n, limit, "every story on the fresh device", srv.pid())
                    .await
            }
            Some(size) => {
                for (k, chunk) in wanted.chunks(size).enumerate() {
                    fresh.want(chunk.iter().copied()).await?;
                    let have = (k * size + chunk.len()).min(n);
                    arrived
                        .wait(have, limit, "a round of stories", srv.pid())
                        .await?;
                }
                Ok(())
            }
        }
    }
    .await;
    let secs = t0.elapsed().as_secs_f64();
    let server_cpu = cpu_secs(srv.pid())? - cpu0;
    let device_cpu = cpu_secs(std::process::id())? - self0;
    if let Err(e) = result {
        fresh.disconnect().await;
        return Err(e);
    }
    ensure!(fresh.ids().await.len() == n, "fresh device misses stories");
    for id in ids.iter().step_by((n / 50).max(1)) {
        ensure!(
            fresh.heads(id).await == creator.heads(id).await,
            "story {id} differs after catch-up"
        );
    }
    println!(
        "  [{label}] caught up on {n} stories{} in {secs:.2} s{}; CPU: server {server_cpu:.2} s, device {device_cpu:.2} s",
        rounds
            .map(|r| format!(" in rounds of {r}"))
            .unwrap_or_default(),
        feed_secs
            .map(|f| format!(" (changes feed {f:.2} s)"))
            .unwrap_or_default()
    );
    fresh.disconnect().await;
    Ok(Fetch {
        secs,
        feed_secs,
        server_cpu,
        device_cpu,
    })
}

// ---- 2. many devices, some editing -------------------------------------------------------------

/// One editing phase.
#[derive(Debug, Default, Clone)]
struct Phase {
    edits: u64,
    /// Edits made per second.
    offered_per_sec: f64,
    /// Edits over the time until the server acknowledged the last one.
    ingest_per_sec: f64,
    /// Edit→arrival per group of watchers, in the order of [`Pair::watchers`].
    arrivals: Vec<Arrival>,
    /// Per server process, in the order given to [`edit_phase`].
    server_cpu_ms_per_1k: Vec<f64>,
    harness_cpu_ms_per_1k: f64,
}

impl Phase {
    /// Edit→arrival on the `group`th group of watchers (NaN when it timed nothing).
    fn arrival(&self, group: usize) -> Arrival {
        self.arrivals.get(group).cloned().unwrap_or(Arrival {
            samples: 0,
            p50_ms: f64::NAN,
            p99_ms: f64::NAN,
            p999_ms: f64::NAN,
            max_ms: f64::NAN,
        })
    }

    /// Server CPU per 1,000 changes, all server processes together.
    fn server_cpu(&self) -> f64 {
        self.server_cpu_ms_per_1k.iter().sum()
    }
}

/// Edit→arrival on one group of watchers.
#[derive(Debug, Default, Clone)]
struct Arrival {
    samples: usize,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
}

/// (send time, edit→arrival) in µs, one per arrival a group of watchers timed.
type Latencies = Arc<Mutex<Vec<(u64, u64)>>>;

/// Where a group of watchers reports its arrivals, and its name in the output.
struct Group {
    name: &'static str,
    latencies: Latencies,
}

impl Group {
    fn new(name: &'static str) -> Group {
        Group {
            name,
            latencies: Latencies::default(),
        }
    }

    /// The hook for a watcher of this group: takes the send time out of the title when a change
    /// arrives.
    fn timer(&self) -> OnChange {
        let latencies = self.latencies.clone();
        Box::new(move |_, doc| {
            if let Some(sent) = title_timestamp(doc) {
                let now = micros();
                latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((sent, now.saturating_sub(sent)));
            }
        })
    }

    fn take(&self) -> Vec<(u64, u64)> {
        std::mem::take(&mut *self.latencies.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[derive(Debug, Default, Clone)]
struct Editing {
    idle_devices: usize,
    kb_per_device: f64,
    steady: Phase,
    max: Phase,
    rss_mb: f64,
}

/// How the editors pace their edits.
#[derive(Clone, Copy)]
enum Pace {
    /// Edits per second per editor, each editor on its own clock, spread evenly.
    Steady(f64),
    /// As fast as acknowledged, with at most this many unacknowledged per editor.
    Window(usize),
}

/// An editor, its story, and the watchers following the story (one per [`Group`]).
struct Pair {
    editor: Arc<Peer>,
    id: DocumentId,
    watchers: Vec<Arc<Peer>>,
}

impl Pair {
    fn close(&self) {
        self.editor.close();
        for w in &self.watchers {
            w.close();
        }
    }
}

/// Let every editor edit for `secs`, then wait until the server acknowledged every edit and every
/// watcher has it. `server_pids`: the server processes whose CPU time is counted.
async fn edit_phase(
    label: &str,
    pairs: &[Pair],
    pace: Pace,
    secs: u64,
    server_pids: &[u32],
    groups: &[Group],
) -> Result<Phase> {
    for g in groups {
        g.take();
    }
    let me = std::process::id();
    let server_cpu = || -> Result<Vec<f64>> { server_pids.iter().map(|p| cpu_secs(*p)).collect() };
    let (cpu0, self0) = (server_cpu()?, cpu_secs(me)?);
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let stop = start + Duration::from_secs(secs);
    let edits = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for (i, pair) in pairs.iter().enumerate() {
        let (editor, id, edits) = (pair.editor.clone(), pair.id, edits.clone());
        let n = pairs.len();
        tasks.spawn(async move {
            let mut seq = 0u64;
            match pace {
                Pace::Steady(rate) => {
                    let period = Duration::from_secs_f64(1.0 / rate);
                    let offset = period.mul_f64(i as f64 / n as f64);
                    let mut tick = tokio::time::interval_at(start + offset, period);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                    while tick.tick().await < stop {
                        editor.edit(id, &format!("bench {seq} {}", micros()))?;
                        edits.fetch_add(1, Ordering::Relaxed);
                        seq += 1;
                    }
                }
                Pace::Window(window) => {
                    tokio::time::sleep_until(start).await;
                    let mut log = Vec::new();
                    while tokio::time::Instant::now() < stop {
                        editor
                            .wait(LONG, "edit window", |s| {
                                s.unacknowledged(&id, &log, window) < window
                            })
                            .await?;
                        log.push(editor.edit(id, &format!("bench {seq} {}", micros()))?);
                        edits.fetch_add(1, Ordering::Relaxed);
                        seq += 1;
                    }
                }
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let generated = start.elapsed().as_secs_f64();
    let edits = edits.load(Ordering::Relaxed);
    for (i, pair) in pairs.iter().enumerate() {
        let id = &pair.id;
        let what = format!("editor {i}'s edits acknowledged");
        wait_reporting(
            &pair.editor,
            &what,
            |s| s.is_confirmed(id),
            |s| {
                let d = s.docs.get(id);
                format!(
                    "heads {}, the server's {}",
                    short(d.map(|d| d.doc.get_heads()).as_deref()),
                    short(d.and_then(|d| d.sync.their_heads.as_deref()))
                )
            },
        )
        .await?;
    }
    let acked = start.elapsed().as_secs_f64();
    let (cpu1, self1) = (server_cpu()?, cpu_secs(me)?);
    // Every watcher ends with its editor's document.
    for (i, pair) in pairs.iter().enumerate() {
        let id = &pair.id;
        let want = pair
            .editor
            .lock()
            .document(id)
            .map(|d| d.get_heads())
            .unwrap_or_default();
        for (g, watcher) in pair.watchers.iter().enumerate() {
            let group = groups.get(g).map_or("watcher", |g| g.name);
            let what = format!("editor {i}'s {group} watcher to catch up");
            wait_reporting(
                watcher,
                &what,
                |s| s.document(id).is_some_and(|d| d.get_heads() == want),
                |s| {
                    format!(
                        "heads {}, the editor's {}",
                        short(s.document(id).map(|d| d.get_heads()).as_deref()),
                        short(Some(&want))
                    )
                },
            )
            .await?;
        }
    }
    let per_1k = |secs: f64| secs * 1000.0 / (edits.max(1) as f64 / 1000.0);
    let phase_name = match pace {
        Pace::Steady(_) => "steady",
        Pace::Window(_) => "max",
    };
    println!(
        "  [{label}] {edits} edits in {generated:.1} s ({:.0}/s), all acknowledged after {acked:.2} s: {:.0} changes/s",
        edits as f64 / generated,
        edits as f64 / acked
    );
    let mut arrivals = Vec::with_capacity(groups.len());
    for group in groups {
        let samples = group.take();
        if let Ok(dir) = std::env::var("VERTEL_BENCH_TRACE") {
            // Every edit's send time and edit→arrival latency (µs), for looking at stalls over time.
            let file = match groups.len() {
                1 => format!("{label}-{phase_name}.csv"),
                _ => format!("{label}-{phase_name}-{}.csv", group.name.replace(' ', "-")),
            };
            let csv: String = samples
                .iter()
                .map(|(sent, lat)| format!("{sent},{lat}\n"))
                .collect();
            std::fs::write(Path::new(&dir).join(file), csv)?;
        }
        let mut lat: Vec<u64> = samples.into_iter().map(|(_, l)| l).collect();
        lat.sort_unstable();
        let ms = |p: f64| {
            percentile(&lat, p)
                .map(|us| us / 1000.0)
                .unwrap_or(f64::NAN)
        };
        let a = Arrival {
            samples: lat.len(),
            p50_ms: ms(50.0),
            p99_ms: ms(99.0),
            p999_ms: ms(99.9),
            max_ms: ms(100.0),
        };
        println!(
            "  [{label}] edit→arrival{} over {} samples: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            match groups.len() {
                1 => String::new(),
                _ => format!(" ({})", group.name),
            },
            a.samples,
            a.p50_ms,
            a.p99_ms,
            a.p999_ms,
            a.max_ms
        );
        arrivals.push(a);
    }
    let r = Phase {
        edits,
        offered_per_sec: edits as f64 / generated,
        ingest_per_sec: edits as f64 / acked,
        arrivals,
        server_cpu_ms_per_1k: cpu1
            .iter()
            .zip(&cpu0)
            .map(|(after, before)| per_1k(after - before))
            .collect(),
        harness_cpu_ms_per_1k: per_1k(self1 - self0),
    };
    let servers: Vec<String> = r
        .server_cpu_ms_per_1k
        .iter()
        .map(|ms| format!("{ms:.0} ms"))
        .collect();
    println!(
        "  [{label}] CPU per 1,000 changes: server {}, harness (all devices) {:.0} ms",
        servers.join(" + "),
        r.harness_cpu_ms_per_1k
    );
    Ok(r)
}

async fn editing(kind: Kind, p: &Params) -> Result<Editing> {
    let srv = Arc::new(Running::start(kind, &[]).await?);
    let label = kind.name();
    let url = srv.ws_url();
    let idle_n = p.devices.saturating_sub(2 * p.editors);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss0 = rss_kb(srv.pid())?;

    // Idle devices: connected, syncing nothing.
    let t = Instant::now();
    let idle = concurrently(idle_n, 32, |_| {
        let (url, token) = (url.clone(), srv.idle_token.clone());
        async move { Peer::connect(&url, &token, None).await }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = rss_kb(srv.pid())?;
    let kb_per_device = (rss1 as f64 - rss0 as f64) / idle_n.max(1) as f64;
    println!(
        "  [{label}] {idle_n} idle devices connected in {:.1} s; server RSS {:.1} → {:.1} MB ({kb_per_device:.1} KB per device)",
        t.elapsed().as_secs_f64(),
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0
    );

    // Editors with a story each, and a watcher (coordinator) following each story. A watcher
    // takes the send time out of the title when a change arrives.
    let watchers = Arc::new([Group::new("watcher")]);
    let t = Instant::now();
    let pairs = concurrently(p.editors, 32, |i| {
        let srv = srv.clone();
        let watchers = watchers.clone();
        async move {
            let url = srv.ws_url();
            let editor = Peer::connect(&url, &srv.editor_token, None).await?;
            let id = editor.create(i)?;
            editor
                .wait(SHORT, "story confirmed", |s| s.is_confirmed(&id))
                .await?;
            let timer = watchers[0].timer();
            let watcher = follow(&url, &srv.watcher_token, id, timer).await?;
            Ok(Pair {
                editor,
                id,
                watchers: vec![watcher],
            })
        }
    })
    .await?;
    println!(
        "  [{label}] {} editors and {} watchers ready in {:.1} s",
        p.editors,
        p.editors,
        t.elapsed().as_secs_f64()
    );
    let pid = srv.pid();
    settle(label, pid).await?;
    println!(
        "  [{label}] steady: every editor {} edits/s ({:.0} changes/s)",
        p.edit_rate,
        p.edit_rate * p.editors as f64
    );
    let steady = edit_phase(
        label,
        &pairs,
        Pace::Steady(p.edit_rate),
        p.edit_secs,
        &[pid],
        &watchers[..],
    )
    .await?;
    settle(label, pid).await?;
    println!(
        "  [{label}] max ingest: every editor as fast as acknowledged, at most {} unacknowledged",
        p.window
    );
    let max = edit_phase(
        label,
        &pairs,
        Pace::Window(p.window),
        p.edit_secs,
        &[pid],
        &watchers[..],
    )
    .await?;
    let rss_mb = srv.rss_mb()?;
    println!("  [{label}] server RSS {rss_mb:.1} MB");
    let r = Editing {
        idle_devices: idle_n,
        kb_per_device,
        steady,
        max,
        rss_mb,
    };
    for pair in &pairs {
        pair.close();
    }
    for peer in &idle {
        peer.close();
    }
    Ok(r)
}

/// How long a wait at the end of a phase goes before it says what it is still waiting for.
const STALL: Duration = Duration::from_secs(30);

/// [`Peer::wait`] for up to [`LONG`], printing every [`STALL`] what `missing` says of the peer.
async fn wait_reporting(
    peer: &Peer,
    what: &str,
    check: impl Fn(&PeerState) -> bool,
    missing: impl Fn(&PeerState) -> String,
) -> Result<()> {
    let t = Instant::now();
    loop {
        match peer.wait(STALL, what, &check).await {
            Ok(()) => return Ok(()),
            Err(e) if t.elapsed() >= LONG || peer.lock().closed => return Err(e),
            Err(_) => println!(
                "  still waiting after {:.0} s for {what}: {}",
                t.elapsed().as_secs_f64(),
                missing(&peer.lock())
            ),
        }
    }
}

/// Change hashes, shortened for a log line.
fn short(heads: Option<&[ChangeHash]>) -> String {
    match heads {
        None => "none".into(),
        Some(h) => {
            let h: Vec<String> = h.iter().map(|h| h.to_string()[..8].to_string()).collect();
            format!("[{}]", h.join(" "))
        }
    }
}

/// A watcher on `url` that wants story `id` and times arrivals with `timer`; returns once the
/// story is on it.
async fn follow(url: &str, token: &str, id: DocumentId, timer: OnChange) -> Result<Arc<Peer>> {
    let watcher = Peer::connect(url, token, Some(timer)).await?;
    watcher.want(id);
    watcher
        .wait(SHORT, "story on the watcher", |s| s.document(&id).is_some())
        .await?;
    Ok(watcher)
}

// ---- 3. across processes (ours, PostgreSQL) ----------------------------------------------------

/// The steady editing load on process A, timed on arrival at watchers on A and on B.
#[derive(Debug, Clone)]
struct CrossProcess {
    idle_devices: usize,
    /// `arrivals[SAME]`, `arrivals[OTHER]`; `server_cpu_ms_per_1k`: A, then B.
    steady: Phase,
}

/// The watcher groups of [`cross_process`]: on the editors' process (A), on the other (B).
const SAME: usize = 0;
const OTHER: usize = 1;

/// Two server processes on one PostgreSQL database (one data directory, ports of their own).
/// Editors and their watchers of one group on A, the other group's watchers on B, idle devices
/// half on each; the editors edit at the `editing` steady rate. Every edit is timed on both
/// watchers of its story, so both figures come from the same edits under the same load.
async fn cross_process(p: &Params) -> Result<CrossProcess> {
    let label = "ours, 2 processes";
    let env = Env::new(Backend::Postgres).await?;
    env.workspace("bench")?;
    let args = server_args(&[]);
    // Declared after `env`: the servers stop before its storage check runs.
    let a = Server::start(&env, &args).await?;
    let b = Server::start(&env, &args).await?;
    for (name, server) in [("A", &a), ("B", &b)] {
        wait_listening(name, server).await?;
    }
    // Tokens are stored in the database: each is good on both processes.
    let editor_token = a.login_as("professional", "bench").await?.token;
    let watcher_token = a.login_as("coordinator", "bench").await?.token;
    let idle_token = a.login_as("sleutelpersoon", "bench").await?.token;
    let (url_a, url_b) = (a.ws_url(), b.ws_url());

    let idle_n = p.devices.saturating_sub(3 * p.editors);
    let t = Instant::now();
    let idle = concurrently(idle_n, 32, |i| {
        let url = if i % 2 == 0 { &url_a } else { &url_b }.clone();
        let token = idle_token.clone();
        async move { Peer::connect(&url, &token, None).await }
    })
    .await?;
    println!(
        "  [{label}] {idle_n} idle devices connected in {:.1} s, half to each process",
        t.elapsed().as_secs_f64()
    );

    let groups = Arc::new([Group::new("same process"), Group::new("other process")]);
    let t = Instant::now();
    let pairs = concurrently(p.editors, 32, |i| {
        let (url_a, url_b, groups) = (url_a.clone(), url_b.clone(), groups.clone());
        let (editor_token, watcher_token) = (editor_token.clone(), watcher_token.clone());
        async move {
            let editor = Peer::connect(&url_a, &editor_token, None).await?;
            let id = editor.create(i)?;
            editor
                .wait(SHORT, "story confirmed", |s| s.is_confirmed(&id))
                .await?;
            let same = follow(&url_a, &watcher_token, id, groups[SAME].timer()).await?;
            let other = follow(&url_b, &watcher_token, id, groups[OTHER].timer()).await?;
            Ok(Pair {
                editor,
                id,
                watchers: vec![same, other],
            })
        }
    })
    .await?;
    println!(
        "  [{label}] {} editors on A, each story followed by a watcher on A and one on B, ready in {:.1} s",
        p.editors,
        t.elapsed().as_secs_f64()
    );
    settle("A", a.pid()).await?;
    settle("B", b.pid()).await?;
    println!(
        "  [{label}] steady: every editor {} edits/s ({:.0} changes/s)",
        p.edit_rate,
        p.edit_rate * p.editors as f64
    );
    let steady = edit_phase(
        label,
        &pairs,
        Pace::Steady(p.edit_rate),
        p.edit_secs,
        &[a.pid(), b.pid()],
        &groups[..],
    )
    .await?;
    for pair in &pairs {
        pair.close();
    }
    for peer in &idle {
        peer.close();
    }
    Ok(CrossProcess {
        idle_devices: idle_n,
        steady,
    })
}

/// Wait until `server` listens for the other processes' changes (`/healthz`): a notification
/// sent before that reaches it only with the next catch-up poll, seconds later.
async fn wait_listening(name: &str, server: &Server) -> Result<()> {
    let deadline = Instant::now() + SHORT;
    loop {
        let v: serde_json::Value = reqwest::get(server.url("/healthz")).await?.json().await?;
        if v["listener"] == serde_json::Value::Bool(true) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "server {name} is not listening for other processes' changes after {SHORT:?}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- 4. memory with many stored stories (ours) -------------------------------------------------

#[derive(Debug, Default, Clone)]
struct Stored {
    stories: usize,
    empty_mb: f64,
    seed_secs: f64,
    after_seed_mb: f64,
    after_seed_idle_mb: f64,
    restart_mb: f64,
    synced: usize,
    synced_mb: f64,
    evicted_mb: f64,
}

async fn stored(p: &Params, dirs: &Path) -> Result<Stored> {
    let n = p.stored_stories;
    let idle = p.idle_secs.to_string();
    let extra = ["--doc-idle-secs", idle.as_str()];
    let env = Env::new(Backend::Sqlite).await?;
    env.workspace("bench")?;
    let args = server_args(&extra);
    let server = Server::start(&env, &args).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mb = |pid: u32| -> Result<f64> { Ok(rss_kb(pid)? as f64 / 1024.0) };
    // Before anyone logs in: a login's password hash (argon2) alone takes ~19 MB for a while.
    let empty_mb = mb(server.pid())?;
    let prof = server.login_as("professional", "bench").await?;
    let coord = server.login_as("coordinator", "bench").await?;

    // Seed through the protocol: devices of 2,500 stories each, four pushing at a time.
    let per_device = 2_500.min(n);
    let devices = n.div_ceil(per_device);
    let url = server.ws_url();
    let t = Instant::now();
    let keep = p.synced_after_restart.div_ceil(devices);
    let seeded = concurrently(devices, 4, |i| {
        let (url, token) = (url.clone(), prof.token.clone());
        let count = per_device.min(n - i * per_device);
        async move {
            let peer = Peer::connect(&url, &token, None).await?;
            let mut ids = Vec::with_capacity(count);
            for k in 0..count {
                ids.push(peer.create(i * per_device + k)?);
            }
            let deadline = Instant::now() + LONG;
            while !ids.iter().all(|id| peer.lock().is_confirmed(id)) {
                ensure!(
                    Instant::now() < deadline && !peer.lock().closed,
                    "seeded stories not confirmed"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peer.close();
            ids.truncate(keep);
            Ok(ids)
        }
    })
    .await?;
    let seed_secs = t.elapsed().as_secs_f64();
    let after_seed_mb = mb(server.pid())?;
    println!(
        "  [ours] stored {n} stories in {seed_secs:.1} s ({:.0}/s); server RSS {empty_mb:.1} MB empty → {after_seed_mb:.1} MB; {}",
        n as f64 / seed_secs,
        hub_stats(&server).await
    );
    settle_within("ours", server.pid(), LONG).await?;
    tokio::time::sleep(Duration::from_secs(p.idle_secs + 4)).await;
    let after_seed_idle_mb = mb(server.pid())?;
    println!(
        "  [ours] after the idle period, without restart: {after_seed_idle_mb:.1} MB; {}",
        hub_stats(&server).await
    );

    let status = server.terminate()?;
    ensure!(status.success(), "server exited with {status}");
    let args = server_args(&extra);
    let server = Server::start(&env, &args).await?;
    settle_within("ours", server.pid(), LONG).await?;
    let restart_mb = mb(server.pid())?;
    println!(
        "  [ours] restarted with {n} stored: {restart_mb:.1} MB; {}",
        hub_stats(&server).await
    );

    let wanted: Vec<DocumentId> = seeded
        .into_iter()
        .flatten()
        .take(p.synced_after_restart)
        .collect();
    let synced = wanted.len();
    let d = Device::open(dirs.join("coordinator")).await?;
    let arrived = Tracker::arrivals(&d);
    d.connect(&server.ws_url(), &coord.token).await?;
    d.want(wanted).await?;
    arrived
        .wait(synced, LONG, "synced stories", server.pid())
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let synced_mb = mb(server.pid())?;
    println!(
        "  [ours] one device synced {synced}: {synced_mb:.1} MB; {}",
        hub_stats(&server).await
    );
    d.disconnect().await;
    tokio::time::sleep(Duration::from_secs(p.idle_secs + 4)).await;
    let evicted_mb = mb(server.pid())?;
    println!(
        "  [ours] after eviction: {evicted_mb:.1} MB; {}",
        hub_stats(&server).await
    );
    drop(server);
    Ok(Stored {
        stories: n,
        empty_mb,
        seed_secs,
        after_seed_mb,
        after_seed_idle_mb,
        restart_mb,
        synced,
        synced_mb,
        evicted_mb,
    })
}

/// What `/healthz` says about documents in the hub.
async fn hub_stats(server: &Server) -> String {
    let got = async {
        let v: serde_json::Value = reqwest::get(server.url("/healthz")).await?.json().await?;
        anyhow::Ok(format!(
            "{} documents in memory, {} tracked",
            v["documents_in_memory"], v["documents_tracked"]
        ))
    };
    got.await.unwrap_or_else(|e| format!("no /healthz: {e}"))
}

// ---- the table ---------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Target {
    None,
    Max(f64),
    Min(f64),
}

struct Row {
    metric: String,
    ours: Option<f64>,
    reference: Option<f64>,
    target: Target,
    digits: usize,
}

fn row(metric: impl Into<String>, ours: Option<f64>, reference: Option<f64>) -> Row {
    Row {
        metric: metric.into(),
        ours,
        reference,
        target: Target::None,
        digits: 1,
    }
}

impl Row {
    fn target(mut self, t: Target) -> Row {
        self.target = t;
        self
    }
    fn digits(mut self, d: usize) -> Row {
        self.digits = d;
        self
    }
}

/// Print the results. `columns`: the headings of the two value columns and of their ratio.
/// `unjudged`: why the targets (set for the full workload on release builds) do not apply to this
/// run; its result column then says so instead of pass or FAIL.
fn print_table(rows: &[Row], columns: [&str; 3], unjudged: Option<&str>) {
    let fmt = |v: Option<f64>, d: usize| match v {
        Some(v) if v.is_finite() => format!("{v:.d$}"),
        Some(v) if v.is_infinite() => "failed".into(),
        Some(_) => "n/a".into(),
        None => "—".into(),
    };
    let mut lines = vec![[
        "metric".to_string(),
        columns[0].into(),
        columns[1].into(),
        columns[2].into(),
        "target".into(),
        "result".into(),
    ]];
    for r in rows {
        let ratio = match (r.ours, r.reference) {
            (Some(o), Some(f)) if f != 0.0 && o.is_finite() && f.is_finite() => {
                format!("{:.2}", o / f)
            }
            _ => "—".into(),
        };
        let (target, result): (String, String) = match (r.target, r.ours) {
            (Target::None, _) => ("".into(), "".into()),
            (Target::Max(m), v) => (
                format!("< {}", fmt(Some(m), r.digits.min(1))),
                v.map(|v| if v < m { "pass" } else { "FAIL" })
                    .unwrap_or("—")
                    .into(),
            ),
            (Target::Min(m), v) => (
                format!(">= {}", fmt(Some(m), 0)),
                v.map(|v| if v >= m { "pass" } else { "FAIL" })
                    .unwrap_or("—")
                    .into(),
            ),
        };
        let result = match unjudged {
            Some(_) if !result.is_empty() => "n/a¹".to_string(),
            _ => result,
        };
        lines.push([
            r.metric.clone(),
            fmt(r.ours, r.digits),
            fmt(r.reference, r.digits),
            ratio,
            target,
            result,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (i, l) in lines.iter().enumerate() {
        let cells: Vec<String> = l
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (s, w))| {
                let pad = w - s.chars().count();
                if c == 0 {
                    format!("{s}{}", " ".repeat(pad))
                } else {
                    format!("{}{s}", " ".repeat(pad))
                }
            })
            .collect();
        println!("| {} |", cells.join(" | "));
        if i == 0 {
            let rule: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(c, w)| {
                    if c == 0 {
                        "-".repeat(w + 2)
                    } else {
                        format!("{}:", "-".repeat(w + 1))
                    }
                })
                .collect();
            println!("|{}|", rule.join("|"));
        }
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores ({cpu}), {mem} memory")
}

// ---- main --------------------------------------------------------------------------------------

async fn run(opts: Opts) -> Result<bool> {
    let mut p = if opts.quick {
        Params::quick()
    } else {
        Params::full()
    };
    for (k, v) in &opts.set {
        p.set(k, v)?;
    }
    if !opts.server_args.is_empty() {
        println!("extra server arguments: {:?}", opts.server_args);
    }
    let _ = SERVER_ARGS.set(opts.server_args.clone());
    if opts.postgres {
        ensure!(
            std::env::var_os("VERTEL_TEST_PG_URL").is_some(),
            "--postgres needs VERTEL_TEST_PG_URL (a PostgreSQL server where databases may be created)"
        );
        println!("our server stores in PostgreSQL");
    }
    let _ = BACKEND.set(if opts.postgres {
        Backend::Postgres
    } else {
        Backend::Sqlite
    });
    let nofile = raise_nofile()?;
    let server_bin = server_binary();
    println!("bench-sync{}", if opts.quick { " --quick" } else { "" });
    println!("machine: {}", machine());
    println!("server: {}", server_bin.display());
    println!("open-file limit: {nofile}");
    // Each device is a socket here and one in the server (which inherits the limit).
    let fits = (nofile as usize).saturating_sub(256) / 2;
    if opts.quick && p.devices > fits && fits > p.editors * 2 {
        // The small run only shows the harness works: fewer idle devices will do.
        println!(
            "open-file limit {nofile}: {fits} devices instead of {}",
            p.devices
        );
        p.devices = fits;
    }
    ensure!(
        p.devices <= fits,
        "the open-file limit {nofile} is too low for {} devices: raise it (ulimit -n)",
        p.devices
    );
    let reference = if opts.reference {
        match reference_unavailable() {
            None => {
                println!("reference: node {}", reference_script().display());
                true
            }
            Some(why) => {
                println!("reference: skipped, {why}");
                false
            }
        }
    } else {
        println!("reference: skipped (--no-reference)");
        false
    };
    println!("parameters: {p:?}");
    let dirs = devices_dir()?;
    println!("device stores: {}", dirs.path().display());
    let mut errors = Vec::new();
    let mut rows = Vec::new();

    async fn attempt<T>(
        what: &str,
        errors: &mut Vec<String>,
        f: impl Future<Output = Result<T>>,
    ) -> Option<T> {
        match f.await {
            Ok(v) => Some(v),
            Err(e) => {
                println!("  {what} failed: {e:#}");
                errors.push(format!("{what}: {e:#}"));
                None
            }
        }
    }

    let sizes = [p.catchup_stories, p.catchup_small];
    for n in sizes
        .into_iter()
        .filter(|n| *n > 0 && opts.wants("catchup"))
    {
        println!("\n== catch-up of {n} stories ==");
        let ours = attempt(
            "catch-up (ours)",
            &mut errors,
            catch_up(Kind::Ours, n, dirs.path()),
        )
        .await;
        let theirs = if reference {
            attempt(
                "catch-up (reference)",
                &mut errors,
                catch_up(Kind::Reference, n, dirs.path()),
            )
            .await
        } else {
            None
        };
        let all = |c: &Option<CatchUp>| c.as_ref().and_then(|c| c.at_once.as_ref().ok()).cloned();
        let (oa, ta) = (all(&ours), all(&theirs));
        let failed = |c: &Option<CatchUp>| {
            c.as_ref()
                .is_some_and(|c| c.at_once.is_err())
                .then_some(f64::INFINITY)
        };
        rows.push(
            row(
                format!("catch-up of {n} stories, fresh device, cold server (s)"),
                oa.as_ref().map(|f| f.secs).or(failed(&ours)),
                ta.as_ref().map(|f| f.secs).or(failed(&theirs)),
            )
            .target(Target::Max(5.0))
            .digits(2),
        );
        rows.push(
            row(
                "  of which: changes feed (s)",
                oa.as_ref().and_then(|f| f.feed_secs),
                None,
            )
            .digits(2),
        );
        rows.push(
            row(
                "  server CPU (s)",
                oa.as_ref().map(|f| f.server_cpu),
                ta.as_ref().map(|f| f.server_cpu),
            )
            .digits(2),
        );
        rows.push(
            row(
                "  device CPU (s)",
                oa.as_ref().map(|f| f.device_cpu),
                ta.as_ref().map(|f| f.device_cpu),
            )
            .digits(2),
        );
        rows.push(
            row(
                format!("catch-up of {n}, wanting {ROUND} at a time (s)"),
                ours.as_ref().map(|c| c.rounds.secs),
                theirs.as_ref().map(|c| c.rounds.secs),
            )
            .digits(2),
        );
        rows.push(
            row(
                format!("push of {n} new stories from one device, {ROUND} at a time (s)"),
                ours.as_ref().map(|c| c.push_secs),
                theirs.as_ref().map(|c| c.push_secs),
            )
            .digits(2),
        );
        rows.push(row(
            format!("server RSS after the catch-up of {n} (MB)"),
            ours.as_ref().map(|c| c.rss_mb),
            theirs.as_ref().map(|c| c.rss_mb),
        ));
    }

    if opts.wants("editing") {
        println!(
            "\n== {} devices connected, {} editing: {} s steady at {}/s each, {} s at max ingest ==",
            p.devices, p.editors, p.edit_secs, p.edit_rate, p.edit_secs
        );
        let ours = attempt("editing (ours)", &mut errors, editing(Kind::Ours, &p)).await;
        let theirs = if reference {
            attempt(
                "editing (reference)",
                &mut errors,
                editing(Kind::Reference, &p),
            )
            .await
        } else {
            None
        };
        let pick = |f: fn(&Editing) -> f64| (ours.as_ref().map(f), theirs.as_ref().map(f));
        let steady_rate = p.edit_rate * p.editors as f64;
        let (o, t) = pick(|e| e.max.ingest_per_sec);
        rows.push(
            row(
                format!(
                    "ingest, {} editors at most {} unacknowledged (changes/s)",
                    p.editors, p.window
                ),
                o,
                t,
            )
            .target(Target::Min(4000.0))
            .digits(0),
        );
        let (o, t) = pick(|e| e.max.server_cpu());
        rows.push(row("  server CPU per 1,000 changes (ms)", o, t).digits(0));
        let (o, t) = pick(|e| e.max.harness_cpu_ms_per_1k);
        rows.push(row("  load generator CPU per 1,000 changes (ms)", o, t).digits(0));
        let (o, t) = pick(|e| e.steady.ingest_per_sec);
        rows.push(
            row(
                format!(
                    "steady editing, offered {steady_rate:.0} changes/s: acknowledged (changes/s)"
                ),
                o,
                t,
            )
            .digits(0),
        );
        let (o, t) = pick(|e| e.steady.arrival(0).p50_ms);
        rows.push(
            row("  edit→arrival on another device p50 (ms)", o, t)
                .target(Target::Max(10.0))
                .digits(2),
        );
        let (o, t) = pick(|e| e.steady.arrival(0).p99_ms);
        rows.push(
            row("  edit→arrival p99 (ms)", o, t)
                .target(Target::Max(100.0))
                .digits(2),
        );
        let (o, t) = pick(|e| e.steady.arrival(0).p999_ms);
        rows.push(row("  edit→arrival p99.9 (ms)", o, t).digits(2));
        let (o, t) = pick(|e| e.steady.arrival(0).max_ms);
        rows.push(row("  edit→arrival max (ms)", o, t).digits(2));
        let (o, t) =
            pick(|e| e.steady.arrival(0).samples as f64 / e.steady.edits.max(1) as f64 * 100.0);
        rows.push(row("  edits timed on arrival (%)", o, t));
        let (o, t) = pick(|e| e.steady.server_cpu());
        rows.push(row("  server CPU per 1,000 changes (ms)", o, t).digits(0));
        let idle = ours
            .as_ref()
            .or(theirs.as_ref())
            .map(|e| e.idle_devices)
            .unwrap_or(0);
        let (o, t) = pick(|e| e.kb_per_device);
        rows.push(
            row(
                format!("server memory per connected device, {idle} idle (KB)"),
                o,
                t,
            )
            .target(Target::Max(100.0)),
        );
        let (o, t) = pick(|e| e.rss_mb);
        rows.push(row(
            format!("server RSS with {} devices connected (MB)", p.devices),
            o,
            t,
        ));
    }

    let mut cross = None;
    if opts.wants("crossprocess") {
        if opts.postgres {
            println!(
                "\n== across processes: 2 server processes on one PostgreSQL, {} editors on A, {} s steady at {}/s each, watchers on A and on B ==",
                p.editors, p.edit_secs, p.edit_rate
            );
            cross = attempt("across processes (ours)", &mut errors, cross_process(&p)).await;
        } else {
            println!(
                "\n== across processes: skipped, it needs --postgres (two server processes share one PostgreSQL database) =="
            );
        }
    }

    if opts.wants("memory") {
        println!(
            "\n== memory with {} stored stories (ours) ==",
            p.stored_stories
        );
        if let Some(s) = attempt("memory (ours)", &mut errors, stored(&p, dirs.path())).await {
            let n = s.stories;
            // Bounded: what a restarted server holds must not grow with what is stored. Allow the
            // empty server's RSS plus SQLite's page caches (8 connections × 2 MB default) and slack.
            let bound = s.empty_mb + 32.0;
            rows.push(row(
                "server RSS, fresh and empty (MB)",
                Some(s.empty_mb),
                None,
            ));
            rows.push(
                row(
                    format!("storing {n} stories through sync (stories/s)"),
                    Some(n as f64 / s.seed_secs),
                    None,
                )
                .digits(0),
            );
            rows.push(row(
                format!("server RSS right after storing {n} (MB)"),
                Some(s.after_seed_mb),
                None,
            ));
            rows.push(row(
                "  … after the idle period, no restart (MB)",
                Some(s.after_seed_idle_mb),
                None,
            ));
            rows.push(
                row(
                    format!("server RSS after restart, {n} stored (MB)"),
                    Some(s.restart_mb),
                    None,
                )
                .target(Target::Max(bound)),
            );
            rows.push(
                row(
                    format!("  … after one device synced {} (MB)", s.synced),
                    Some(s.synced_mb),
                    None,
                )
                .target(Target::Max(bound)),
            );
            rows.push(
                row(
                    "  … after those were evicted (MB)",
                    Some(s.evicted_mb),
                    None,
                )
                .target(Target::Max(bound)),
            );
        }
    }

    let unjudged = if opts.quick || !opts.set.is_empty() {
        Some("a smaller workload than the targets are set for (--quick or --set)")
    } else if cfg!(debug_assertions) || !server_bin.components().any(|c| c.as_os_str() == "release")
    {
        Some("a debug build (build and run with --release)")
    } else {
        None
    };
    println!("\n== results ({}) ==", machine());
    if !rows.is_empty() {
        print_table(&rows, ["ours", "reference", "ours/ref"], unjudged);
        if let Some(why) = unjudged {
            println!("¹ targets not judged: {why}");
        }
    }
    if let Some(c) = &cross {
        println!(
            "\nacross processes (PostgreSQL): {} editors on A × {} edits/s, offered {:.0} changes/s, {:.0} acknowledged; {} idle devices",
            p.editors,
            p.edit_rate,
            c.steady.offered_per_sec,
            c.steady.ingest_per_sec,
            c.idle_devices
        );
        let (same, other) = (c.steady.arrival(SAME), c.steady.arrival(OTHER));
        let both = |f: fn(&Arrival) -> f64| (Some(f(&other)), Some(f(&same)));
        let latency = |metric: &str, f: fn(&Arrival) -> f64| {
            let (b, a) = both(f);
            row(metric, b, a).digits(2)
        };
        let timed = |a: &Arrival| a.samples as f64 / c.steady.edits.max(1) as f64 * 100.0;
        let cpu = |i: usize| c.steady.server_cpu_ms_per_1k.get(i).copied();
        let rows = [
            latency("edit→arrival p50 (ms)", |a| a.p50_ms),
            latency("edit→arrival p99 (ms)", |a| a.p99_ms),
            latency("edit→arrival p99.9 (ms)", |a| a.p999_ms),
            latency("edit→arrival max (ms)", |a| a.max_ms),
            row(
                "edits timed on arrival (%)",
                Some(timed(&other)),
                Some(timed(&same)),
            ),
            row(
                "server CPU per 1,000 changes, process B / A (ms)",
                cpu(OTHER),
                cpu(SAME),
            )
            .digits(0),
        ];
        print_table(&rows, ["watcher on B", "watcher on A", "B/A"], None);
    }
    if !errors.is_empty() {
        println!("\nerrors:");
        for e in &errors {
            println!("  {e}");
        }
    }
    Ok(errors.is_empty())
}

/// The server's limit on one member's open sync connections.
const PER_MEMBER_LIMIT: &str = "VERTEL_MAX_CONNECTIONS_PER_MEMBER";

fn main() -> Result<()> {
    BASE.get_or_init(Instant::now);
    let opts = Opts::parse()?;
    // The devices here share three accounts, so one member has up to 2,000 connections: lift the
    // per-member limit (set for a person's few devices) in every server this run starts. An
    // environment variable, not `--server-arg`: a server built before the limit ignores it.
    if std::env::var_os(PER_MEMBER_LIMIT).is_none() {
        // SAFETY: no other thread runs yet (the runtime is built below).
        unsafe { std::env::set_var(PER_MEMBER_LIMIT, "1000000") };
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Ctrl-C or SIGTERM drops the run: every server guard kills its process on the way out.
    let ok = rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = run(opts) => r,
            _ = tokio::signal::ctrl_c() => bail!("interrupted"),
            _ = term.recv() => bail!("terminated"),
        }
    })?;
    rt.shutdown_timeout(Duration::from_secs(2));
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
