//! The seeded concurrency test (issue 9): devices, voice notes, the tagger, a coordinator's reviews
//! and `kill -9` of the server at random moments, then a check that nothing anyone was told is
//! stored got lost.
//!
//! Every random choice comes from a [`StdRng`] seeded from the run's seed (one generator per
//! actor, derived from it), so a seed replays the same sequence of actions. The interleaving with
//! the servers' own work (transcription, tagging, compaction, eviction) still depends on timing:
//! a failing seed reproduces often, not always.
//!
//! What is checked at the end (after the chaos stopped, everything reconnected and settled, and the
//! servers were killed once more and replaced by a passive one that loads every story from the
//! database):
//!
//! - every change a device saw the server acknowledge (heads the server advertised, and a
//!   document's heads whenever the device reported it confirmed) is in the fresh load;
//! - every change a device holds is in the fresh load, and after reconnecting each device has no
//!   unconfirmed change and the same heads as the fresh load;
//! - the heads the database records for each story (the changes feed) name only changes its
//!   chunks hold;
//! - every transcription job that is done has its transcript in the story, every review the
//!   workspace API answered 200 for has its comment in the story, and each activity tag is as the
//!   last decision answered 200 (or a later unanswered one) left it: people's tags are never
//!   changed by the tagger;
//! - `vertel-server check` passes.

use crate::{Backend, Device, Env, Server, device, parent_story};
use anyhow::{Context, Result};
use base64::Engine as _;
use client_core::DocumentId;
use client_core::Event;
use client_core::automerge::Automerge;
use client_core::native::now_ms;
use client_core::story::{self, Attachment, Story, StoryDetails, TranscriptSegment};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Milliseconds the fake transcriber takes per voice note: long enough for several progress writes
/// (and for a kill to land in the middle of one), short enough for many jobs per run.
const TRANSCRIBE_MS: u64 = 600;

/// How long the settling phase may take before the run counts as failed (nothing converging is a
/// finding in itself).
const SETTLE: Duration = Duration::from_secs(60);

/// How long a device may take to converge with the passive server at the end. Shorter than
/// [`SETTLE`]: nothing writes then, so only a real divergence takes longer.
const CONVERGE: Duration = Duration::from_secs(20);

/// Text that makes the tagger suggest activities (see `tests/integration/tagging.rs`), so it writes
/// as the server while devices edit.
const SNIPPETS: &[&str] = &[
    "Ze zit sinds week 16 in VoorZorg. ",
    "Haar vriend rookt in huis, wel twintig sigaretten per dag. ",
    "Moeder gaat elke week naar het babycafé. ",
    "Ze doet mee met CenteringZwangerschap. ",
    "De buurvrouw helpt met de boodschappen. ",
    "ë ü — ✓ ",
];

/// Activity codes the coordinator confirms or rejects through the workspace API.
const TAG_CODES: &[&str] = &[
    "voorzorg",
    "rookvrije-start",
    "ouderinitiatief",
    "centering",
];

const AUDIO_MIMES: &[&str] = &["audio/ogg", "audio/webm;codecs=opus", "audio/mp4"];

/// One seed's run.
#[derive(Debug, Clone)]
pub struct Options {
    pub backend: Backend,
    pub seed: u64,
    /// How long the chaos lasts (settling and checking come on top).
    pub duration: Duration,
}

/// What a run did, for the log and `TESTING.md`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub backend: Option<Backend>,
    pub processes: usize,
    pub devices: usize,
    /// Wall time of the whole run: setup, chaos, settling and checks.
    pub wall: Duration,
    pub chaos: Duration,
    pub stories: usize,
    /// Edits and new stories made on devices.
    pub device_edits: usize,
    /// Reviews and tag decisions answered 200 by the workspace API.
    pub coordinator_writes: usize,
    pub voice_notes: usize,
    pub uploads: usize,
    pub transcripts_done: usize,
    pub kills: usize,
    pub reconnects: usize,
    /// Changes in the final documents, and how many of them the servers wrote (transcription,
    /// tagger, workspace API).
    pub changes: usize,
    pub server_changes: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} on {:?} ({} process(es), {} devices): {:.1} s chaos, {:.1} s in all; \
             {} stories, {} changes ({} by servers), {} device edits, {} coordinator writes, \
             {} voice notes ({} uploaded, {} transcribed), {} kills, {} reconnects",
            self.seed,
            self.backend.unwrap_or(Backend::Sqlite),
            self.processes,
            self.devices,
            self.chaos.as_secs_f64(),
            self.wall.as_secs_f64(),
            self.stories,
            self.changes,
            self.server_changes,
            self.device_edits,
            self.coordinator_writes,
            self.voice_notes,
            self.uploads,
            self.transcripts_done,
            self.kills,
            self.reconnects,
        )
    }
}

/// The flags of the servers under test: compaction after every few chunks, eviction after a
/// second, the fake transcriber with a short lease (a killed worker's job is taken over quickly),
/// and a tagger that reacts at once.
fn chaos_args() -> Vec<String> {
    [
        "--compact-after",
        "3",
        "--doc-idle-secs",
        "1",
        "--fake-transcriber",
        &TRANSCRIBE_MS.to_string(),
        "--transcribe-workers",
        "2",
        "--job-lease-secs",
        "3",
        "--job-retry-secs",
        "1",
        "--job-poll-ms",
        "200",
        "--tag-debounce-ms",
        "100",
        "--model-path",
        "/nonexistent/ggml-base.bin",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The flags of the server the end state is read from: nothing of its own writes into stories (no
/// tagger, no transcription), so what it serves is exactly what the database holds.
const PASSIVE_ARGS: &[&str] = &[
    "--tagger",
    "off",
    "--model-path",
    "/nonexistent/ggml-base.bin",
];

/// The server processes under test, each of which may be down (killed, not yet restarted).
struct Cluster {
    /// Declared before `env`, so the servers are gone before the environment's own end-of-test
    /// checks run on its storage.
    servers: Vec<Mutex<Option<Server>>>,
    env: Env,
    args: Vec<String>,
}

impl Cluster {
    fn addr(&self, i: usize) -> Option<SocketAddr> {
        self.servers.get(i)?.lock().ok()?.as_ref().map(|s| s.addr)
    }

    /// A running server, chosen with `rng` among those up.
    fn pick(&self, rng: &mut StdRng) -> Option<SocketAddr> {
        let live: Vec<SocketAddr> = (0..self.servers.len())
            .filter_map(|i| self.addr(i))
            .collect();
        live.choose(rng).copied()
    }

    async fn start(&self, i: usize) -> Result<()> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let server = Server::start(&self.env, &args).await?;
        if let Some(slot) = self.servers.get(i)
            && let Ok(mut s) = slot.lock()
        {
            *s = Some(server);
        }
        Ok(())
    }

    /// `kill -9` server `i`. False when it was already down.
    fn kill(&self, i: usize) -> bool {
        let taken = self
            .servers
            .get(i)
            .and_then(|slot| slot.lock().ok().and_then(|mut s| s.take()));
        match taken {
            Some(server) => {
                server.kill9();
                true
            }
            None => false,
        }
    }

    /// Start every server that is down; a start can fail while the database recovers, so retry.
    async fn start_missing(&self) -> Result<()> {
        for i in 0..self.servers.len() {
            let mut tries = 0;
            while self.addr(i).is_none() {
                tries += 1;
                match self.start(i).await {
                    Ok(()) => {}
                    Err(e) if tries < 5 => {
                        eprintln!("restarting server {i} failed ({e:#}); retrying");
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    Err(e) => return Err(e.context(format!("restarting server {i}"))),
                }
            }
        }
        Ok(())
    }

    /// Warnings and errors of every server process that ran (killed ones included).
    fn server_log_tail(&self, lines: usize) -> String {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.env.data_dir()) {
            let mut logs: Vec<_> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect();
            logs.sort();
            for log in logs {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let name = log
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                out.extend(
                    text.lines()
                        .map(strip_ansi)
                        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                        // Said at every start of these servers: no news.
                        .filter(|l| {
                            !l.contains("fake transcriber on") && !l.contains("no speech model")
                        })
                        .map(|l| format!("{name}: {l}")),
                );
            }
        }
        let skip = out.len().saturating_sub(lines);
        out[skip..].join("\n")
    }
}

/// A log line without its colour codes (the servers colour their log even into a file).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn http_url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/sync")
}

/// A device in the run: whose it is and what it does.
#[derive(Clone)]
struct Actor {
    name: String,
    device: Device,
    token: String,
    /// Records new stories (a field member's phone); the others fetch stories from the feed.
    records: bool,
}

/// What the run learned that must hold at the end, shared by all actors.
#[derive(Default)]
struct Ledger {
    /// Per story, every head the server told some device it has stored.
    acknowledged: BTreeMap<DocumentId, BTreeSet<String>>,
    /// Stories known to be on the server (a device saw them confirmed).
    on_server: BTreeSet<DocumentId>,
    /// Voice notes attached on a device and not yet uploaded: story, bytes, type.
    pending_uploads: Vec<(String, DocumentId, Vec<u8>, String)>,
    /// Voice notes whose upload finished (204): story and sha256.
    uploaded: BTreeSet<(DocumentId, String)>,
    /// Comments written through a review answered 200.
    comments: BTreeSet<(DocumentId, String)>,
    /// Tag decisions sent through the workspace API, per story and activity code, in order: the
    /// state and whether it was answered 200 (`false`: no answer, so it may or may not be stored).
    tags: BTreeMap<(DocumentId, String), Vec<(String, bool)>>,
    /// Jobs the REST API reported done during the run: story and sha256.
    done_during_run: BTreeSet<(DocumentId, String)>,
    /// What happened, in order, for the failure report.
    log: Vec<String>,
}

struct Shared {
    cluster: Cluster,
    started: Instant,
    deadline: Instant,
    ledger: Mutex<Ledger>,
    device_edits: AtomicUsize,
    coordinator_writes: AtomicUsize,
    voice_notes: AtomicUsize,
    kills: AtomicUsize,
    reconnects: AtomicUsize,
}

impl Shared {
    fn note(&self, what: String) {
        let at = self.started.elapsed().as_secs_f64();
        if let Ok(mut l) = self.ledger.lock() {
            l.log.push(format!("{at:7.2}s {what}"));
        }
    }

    fn ledger<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> Option<T> {
        self.ledger.lock().ok().map(|mut l| f(&mut l))
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The transcript the fake transcriber writes for a recording (`server/src/media/transcribe.rs`).
fn fake_transcript(sha: &str) -> String {
    format!("nep-transcript {}", sha.get(..8).unwrap_or(sha))
}

/// An HTTP client that gives up quickly: a request to a server being killed must not hold the
/// actor up for long.
fn http() -> reqwest::Client {
    http_within(Duration::from_secs(5))
}

fn http_within(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap_or_default()
}

/// Upload `bytes` with tus in one go (`docs/media.md`); true when the server stored them.
async fn upload(
    client: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
    story: DocumentId,
    bytes: &[u8],
    mime: &str,
) -> Result<bool> {
    let sha = sha256_hex(bytes);
    let created = client
        .post(http_url(addr, "/api/v1/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len().to_string())
        .header(
            "Upload-Metadata",
            format!(
                "sha256 {},story {},mime {}",
                b64(&sha),
                b64(&story.to_string()),
                b64(mime)
            ),
        )
        .send()
        .await?;
    if created.status() != 201 {
        return Ok(false);
    }
    let offset = created
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if offset == Some(bytes.len()) {
        return Ok(true);
    }
    let location = created
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("upload without a Location")?
        .to_string();
    let done = client
        .patch(http_url(addr, &location))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body(bytes.to_vec())
        .send()
        .await?;
    Ok(done.status() == 204)
}

/// Ids of the live stories `token` may see, from the changes feed, with the heads the database
/// records for each.
async fn feed(addr: SocketAddr, token: &str) -> Result<BTreeMap<DocumentId, Vec<String>>> {
    let mut since = 0;
    let mut out = BTreeMap::new();
    loop {
        let v: Value = http()
            .get(http_url(
                addr,
                &format!("/api/v1/stories/changes?since={since}&limit=5000"),
            ))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for c in v["changes"].as_array().into_iter().flatten() {
            let Some(id) = c["id"].as_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if c["deleted"].as_bool() == Some(true) || c["type"].as_str() != Some("story") {
                out.remove(&id);
                continue;
            }
            let heads = c["heads"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h.as_str().map(str::to_string))
                .collect();
            out.insert(id, heads);
        }
        since = v["next"].as_i64().context("feed without next")?;
        if !v["more"].as_bool().unwrap_or(false) {
            return Ok(out);
        }
    }
}

/// Transcription jobs of a story as the REST API reports them: (sha256, status).
async fn jobs(addr: SocketAddr, token: &str, story: DocumentId) -> Result<Vec<(String, String)>> {
    let v: Value = http()
        .get(http_url(
            addr,
            &format!("/api/v1/stories/{story}/transcription"),
        ))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(v["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|j| {
            Some((
                j["sha256"].as_str()?.to_string(),
                j["status"].as_str()?.to_string(),
            ))
        })
        .collect())
}

async fn login(addr: SocketAddr, role: &str) -> Result<String> {
    let v: Value = http()
        .post(http_url(addr, "/api/v1/auth/login"))
        .json(&json!({ "email": format!("{role}@chaos.test"), "password": crate::PASSWORD }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(v["token"].as_str().context("token")?.to_string())
}

/// Connect to a running server, giving up after a few seconds (the server may die during the
/// handshake, and the driver would then wait its full handshake timeout).
async fn reconnect(shared: &Shared, actor: &Actor, rng: &mut StdRng) -> bool {
    let Some(addr) = shared.cluster.pick(rng) else {
        return false;
    };
    actor.device.disconnect().await;
    let connected = tokio::time::timeout(
        Duration::from_secs(4),
        actor.device.connect(&ws_url(addr), &actor.token),
    )
    .await;
    match connected {
        Ok(Ok(())) => {
            shared.reconnects.fetch_add(1, Ordering::Relaxed);
            shared.note(format!("{} connected to {addr}", actor.name));
            true
        }
        _ => {
            actor.device.disconnect().await;
            false
        }
    }
}

/// Remember what the server told this device it has stored: the heads it advertised per story.
async fn record_acknowledged(shared: &Shared, actor: &Actor) {
    let mut seen = Vec::new();
    for id in actor.device.ids().await {
        let heads = actor.device.server_heads(&id).await;
        let confirmed = actor.device.is_confirmed(&id).await;
        seen.push((id, heads, confirmed));
    }
    shared.ledger(|l| {
        for (id, heads, confirmed) in seen {
            if !heads.is_empty() {
                l.acknowledged.entry(id).or_default().extend(heads);
            }
            if confirmed {
                l.on_server.insert(id);
            }
        }
    });
}

/// Record, the moment a device reports a story confirmed, the heads it then holds: the server has
/// acknowledged all of them.
fn observe_confirmations(shared: &Arc<Shared>, actor: &Actor) {
    let shared = shared.clone();
    actor.device.observe(move |event, doc| {
        if let (
            Event::SyncStatus {
                id,
                confirmed: true,
            },
            Some(d),
        ) = (event, doc)
        {
            let heads: Vec<String> = d.get_heads().iter().map(|h| h.to_string()).collect();
            shared.ledger(|l| {
                l.acknowledged.entry(*id).or_default().extend(heads);
                l.on_server.insert(*id);
            });
        }
    });
}

/// One device's random life until the deadline.
async fn device_loop(shared: Arc<Shared>, actor: Actor, mut seq: StdRng) -> Result<()> {
    let mut created = 0usize;
    while Instant::now() < shared.deadline {
        // The sequence of steps draws the same numbers whatever happens; each step's own choices
        // come from a generator of its own, so a step that draws more or less (it depends on
        // timing: connected or not, which stories arrived) does not shift the steps after it.
        let mut rng = StdRng::seed_from_u64(seq.random());
        let reconnect_now = seq.random_bool(0.6);
        let roll = seq.random_range(0..100);
        let pause = Duration::from_millis(seq.random_range(20..200));
        if reconnect_now && !actor.device.is_connected().await {
            reconnect(&shared, &actor, &mut rng).await;
        }
        let ids = actor.device.ids().await;
        let connected = actor.device.is_connected().await;
        match roll {
            // A new story (phones only, a handful per run).
            0..=7 if actor.records && (created < 4 || ids.is_empty()) => {
                created += 1;
                let title = format!("{} verhaal {created}", actor.name);
                let body = SNIPPETS.choose(&mut rng).copied().unwrap_or_default();
                let id = actor
                    .device
                    .create_story(&parent_story(&title, body))
                    .await?;
                shared.device_edits.fetch_add(1, Ordering::Relaxed);
                shared.note(format!("{} created {id}", actor.name));
            }
            // A voice note on one of this member's stories: attached now, uploaded once the story
            // with the attachment is on the server.
            8..=15 if actor.records && !ids.is_empty() => {
                let id = ids[rng.random_range(0..ids.len())];
                let len = rng.random_range(800..4000);
                let mut bytes = b"chaos-audio ".to_vec();
                bytes.extend((0..len).map(|_| rng.random::<u8>()));
                let mime = AUDIO_MIMES.choose(&mut rng).copied().unwrap_or("audio/ogg");
                let a = Attachment {
                    sha256: sha256_hex(&bytes),
                    mime: mime.into(),
                    size: bytes.len() as u64,
                };
                actor
                    .device
                    .edit(id, |d| story::add_attachment(d, &a, now_ms()))
                    .await?;
                shared.device_edits.fetch_add(1, Ordering::Relaxed);
                shared.voice_notes.fetch_add(1, Ordering::Relaxed);
                shared.note(format!(
                    "{} attached {} to {id}",
                    actor.name,
                    &a.sha256[..8]
                ));
                shared.ledger(|l| {
                    l.pending_uploads
                        .push((actor.token.clone(), id, bytes, mime.to_string()))
                });
            }
            16..=23 if actor.records => {
                try_upload(&shared, &actor, &mut rng).await;
            }
            // Fetch the stories this member may see (laptop, tablet).
            22..=27 if !actor.records => {
                if let Some(addr) = shared.cluster.pick(&mut rng)
                    && let Ok(listed) = feed(addr, &actor.token).await
                {
                    let new: Vec<DocumentId> = listed
                        .keys()
                        .filter(|id| !ids.contains(id))
                        .copied()
                        .collect();
                    if !new.is_empty() {
                        shared.note(format!("{} wants {} stories", actor.name, new.len()));
                        actor.device.want(new).await?;
                    }
                }
            }
            // The connection drops (a phone in a lift).
            28..=31 if connected => {
                actor.device.disconnect().await;
                shared.note(format!("{} disconnected", actor.name));
            }
            32..=41 if !ids.is_empty() => {
                let id = ids[rng.random_range(0..ids.len())];
                let title = format!("{} titel {}", actor.name, rng.random_range(0..1000));
                actor
                    .device
                    .edit(id, |d| story::set_title(d, &title, now_ms()))
                    .await?;
                shared.device_edits.fetch_add(1, Ordering::Relaxed);
            }
            _ if !ids.is_empty() => {
                let id = ids[rng.random_range(0..ids.len())];
                // Where and how much, as fractions of the body: a remote change may shorten it
                // between reading it and editing, so positions are taken inside the edit.
                let at = rng.random::<f64>();
                let delete = if rng.random_bool(0.3) {
                    rng.random_range(1..=12usize)
                } else {
                    0
                };
                let insert = if delete == 0 || rng.random_bool(0.5) {
                    SNIPPETS.choose(&mut rng).copied().unwrap_or_default()
                } else {
                    ""
                };
                actor
                    .device
                    .edit(id, |d| {
                        let len = Story::read(&*d).body.chars().count();
                        let pos = ((len as f64 * at) as usize).min(len);
                        let delete = delete.min(len - pos);
                        story::splice_body(d, pos, delete as isize, insert, now_ms())
                    })
                    .await?;
                shared.device_edits.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        record_acknowledged(&shared, &actor).await;
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

/// Upload one pending voice note of this device's member whose story is confirmed (the server has
/// the attachment). A failed upload stays pending.
async fn try_upload(shared: &Shared, actor: &Actor, rng: &mut StdRng) {
    let mut candidates = Vec::new();
    for (n, (token, id, _, _)) in shared
        .ledger(|l| l.pending_uploads.clone())
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        if token == actor.token && actor.device.is_confirmed(&id).await {
            candidates.push(n);
        }
    }
    let Some(&n) = candidates.choose(rng) else {
        return;
    };
    let Some((_, id, bytes, mime)) = shared
        .ledger(|l| l.pending_uploads.get(n).cloned())
        .flatten()
    else {
        return;
    };
    let Some(addr) = shared.cluster.pick(rng) else {
        return;
    };
    let sha = sha256_hex(&bytes);
    // Sometimes the phone loses the connection just as the last bytes went out: the server's
    // handler is dropped while it stores the upload and writes `queued` into the story.
    let client = if rng.random_bool(0.2) {
        http_within(Duration::from_millis(rng.random_range(5..80)))
    } else {
        http()
    };
    match upload(&client, addr, &actor.token, id, &bytes, &mime).await {
        Ok(true) => {
            shared.note(format!("{} uploaded {} for {id}", actor.name, &sha[..8]));
            shared.ledger(|l| {
                l.pending_uploads.retain(|(_, _, b, _)| *b != bytes);
                l.uploaded.insert((id, sha));
            });
        }
        Ok(false) => shared.note(format!("{} upload of {} refused", actor.name, &sha[..8])),
        Err(e) => shared.note(format!(
            "{} upload of {} failed: {e}",
            actor.name,
            &sha[..8]
        )),
    }
}

/// The coordinator in the workspace: reviews, comments and tag decisions through the REST API, and
/// a look at the transcription status now and then.
async fn coordinator_loop(shared: Arc<Shared>, token: String, mut seq: StdRng) -> Result<()> {
    let mut n = 0u32;
    while Instant::now() < shared.deadline {
        // As in `device_loop`: one generator per step.
        let mut rng = StdRng::seed_from_u64(seq.random());
        tokio::time::sleep(Duration::from_millis(seq.random_range(100..500))).await;
        let stories: Vec<DocumentId> = shared
            .ledger(|l| l.on_server.iter().copied().collect())
            .unwrap_or_default();
        let (Some(&id), Some(addr)) = (stories.choose(&mut rng), shared.cluster.pick(&mut rng))
        else {
            continue;
        };
        n += 1;
        let roll = rng.random_range(0..10);
        // Now and then the coordinator gives up on a request almost at once (a closed tab): the
        // server's handler is then dropped wherever it was, in the middle of a story write too.
        let client = if rng.random_bool(0.25) {
            http_within(Duration::from_millis(rng.random_range(1..40)))
        } else {
            http()
        };
        if roll < 4 {
            let state = ["submitted", "reviewed", "approved", "returned"]
                .choose(&mut rng)
                .copied()
                .unwrap_or("reviewed");
            // Every review carries a comment of its own: written in the same change as the state,
            // it shows whether that change was stored. (The state itself is no such proof: an edit
            // after approval sends a story back to `submitted`.)
            let comment = format!("chaos-opmerking {n}");
            let body = json!({ "state": state, "comment": comment });
            let sent = client
                .post(http_url(
                    addr,
                    &format!("/api/v1/workspace/stories/{id}/review"),
                ))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await;
            if let Some(certain) = stored(&sent) {
                shared.note(format!("review {state} of {id}: stored {certain}"));
                if certain {
                    shared.coordinator_writes.fetch_add(1, Ordering::Relaxed);
                }
                if certain {
                    shared.ledger(|l| l.comments.insert((id, comment)));
                }
            }
        } else if roll < 8 {
            let code = TAG_CODES.choose(&mut rng).copied().unwrap_or("centering");
            let state = if rng.random_bool(0.6) {
                "confirmed"
            } else {
                "rejected"
            };
            let sent = client
                .post(http_url(
                    addr,
                    &format!("/api/v1/workspace/stories/{id}/tags/{code}"),
                ))
                .bearer_auth(&token)
                .json(&json!({ "state": state }))
                .send()
                .await;
            if let Some(certain) = stored(&sent) {
                shared.note(format!("tag {code} {state} on {id}: stored {certain}"));
                if certain {
                    shared.coordinator_writes.fetch_add(1, Ordering::Relaxed);
                }
                shared.ledger(|l| {
                    l.tags
                        .entry((id, code.to_string()))
                        .or_default()
                        .push((state.to_string(), certain));
                });
            }
        } else if let Ok(list) = jobs(addr, &token, id).await {
            shared.ledger(|l| {
                for (sha, status) in list {
                    if status == "done" {
                        l.done_during_run.insert((id, sha));
                    }
                }
            });
        }
    }
    Ok(())
}

/// What the answer to a write through the workspace API says: `Some(true)`, stored (200);
/// `Some(false)`, no telling (no answer because the server was killed, or a server error, which may
/// come after the change was stored); `None`, refused (4xx: nothing was written, nothing to record).
fn stored(sent: &reqwest::Result<reqwest::Response>) -> Option<bool> {
    match sent {
        Ok(r) if r.status() == 200 => Some(true),
        Ok(r) if r.status().is_client_error() => None,
        _ => Some(false),
    }
}

/// The values a field may hold at the end, given the writes sent to it in order: the last one
/// answered 200, and any sent after it whose answer never came. `None` when no write was answered
/// 200 (then nothing is certain).
fn acceptable(writes: &[(String, bool)]) -> Option<BTreeSet<String>> {
    let last = writes.iter().rposition(|(_, certain)| *certain)?;
    Some(writes[last..].iter().map(|(v, _)| v.clone()).collect())
}

/// `kill -9` a random server every few seconds, and start it again on the same data.
async fn killer_loop(shared: Arc<Shared>, mut rng: StdRng) -> Result<()> {
    loop {
        let pause = Duration::from_millis(rng.random_range(1_200..3_500));
        if Instant::now() + pause >= shared.deadline {
            return Ok(());
        }
        tokio::time::sleep(pause).await;
        let i = rng.random_range(0..shared.cluster.servers.len());
        if shared.cluster.kill(i) {
            shared.kills.fetch_add(1, Ordering::Relaxed);
            shared.note(format!("kill -9 of server {i}"));
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..800))).await;
        shared.cluster.start_missing().await?;
        shared.note(format!("server {i} restarted"));
    }
}

/// What the passive server's copy of a story holds, captured by the verifying device's observer.
#[derive(Debug, Clone)]
struct Snapshot {
    story: Story,
    details: StoryDetails,
    segments: Vec<TranscriptSegment>,
    changes: usize,
    server_changes: usize,
}

fn snapshot(d: &Automerge) -> Snapshot {
    let all = d.get_changes(&[]);
    let server_changes = all
        .iter()
        .filter(|c| c.actor_id().to_bytes().starts_with(b"vertel-server-"))
        .count();
    Snapshot {
        story: Story::read(d),
        details: StoryDetails::read(d),
        segments: story::transcript_segments(d),
        changes: all.len(),
        server_changes,
    }
}

/// A generator for one actor, derived from the run's seed.
fn rng_for(seed: u64, actor: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ actor.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Run one seed. An `Err` is a broken invariant (or the run could not settle); its text names
/// what, with the last actions and the servers' warnings.
pub async fn run(opts: &Options) -> Result<Report> {
    let wall = Instant::now();
    let mut rng = rng_for(opts.seed, 0);
    let env = Env::new(opts.backend).await?;
    env.cli(&["workspace", "add", "chaos", "--name", "chaos"], None)?;
    for role in ["professional", "sleutelpersoon", "coordinator"] {
        let email = format!("{role}@chaos.test");
        env.cli(
            &[
                "member",
                "add",
                "--workspace",
                "chaos",
                "--email",
                &email,
                "--role",
                role,
                "--password-stdin",
            ],
            Some(crate::PASSWORD),
        )?;
    }
    // SQLite is one process; PostgreSQL runs two that share the database.
    let processes = match opts.backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 2,
    };
    let cluster = Cluster {
        servers: (0..processes).map(|_| Mutex::new(None)).collect(),
        env,
        args: chaos_args(),
    };
    cluster.start_missing().await?;
    let first = cluster.addr(0).context("server 0")?;
    let prof = login(first, "professional").await?;
    let sleutel = login(first, "sleutelpersoon").await?;
    let coord = login(first, "coordinator").await?;

    let mut actors = vec![
        ("phone-prof", prof.clone(), true),
        ("phone-sleutel", sleutel.clone(), true),
        ("laptop-coord", coord.clone(), false),
    ];
    if rng.random_bool(0.5) {
        actors.push(("tablet-prof", prof.clone(), false));
    }
    let mut devices = Vec::new();
    for (name, token, records) in actors {
        devices.push(Actor {
            name: name.to_string(),
            device: device(&cluster.env, name).await?,
            token,
            records,
        });
    }

    let chaos_started = Instant::now();
    let shared = Arc::new(Shared {
        cluster,
        started: wall,
        deadline: chaos_started + opts.duration,
        ledger: Mutex::new(Ledger::default()),
        device_edits: AtomicUsize::new(0),
        coordinator_writes: AtomicUsize::new(0),
        voice_notes: AtomicUsize::new(0),
        kills: AtomicUsize::new(0),
        reconnects: AtomicUsize::new(0),
    });
    let mut tasks = Vec::new();
    for (n, actor) in devices.iter().enumerate() {
        observe_confirmations(&shared, actor);
        tasks.push(tokio::spawn(device_loop(
            shared.clone(),
            actor.clone(),
            rng_for(opts.seed, 10 + n as u64),
        )));
    }
    tasks.push(tokio::spawn(coordinator_loop(
        shared.clone(),
        coord.clone(),
        rng_for(opts.seed, 1),
    )));
    tasks.push(tokio::spawn(killer_loop(
        shared.clone(),
        rng_for(opts.seed, 2),
    )));
    let mut chaos_errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => chaos_errors.push(format!("{e:#}")),
            Err(e) => chaos_errors.push(format!("actor panicked: {e}")),
        }
    }
    let chaos = chaos_started.elapsed();

    let mut report = Report {
        seed: opts.seed,
        backend: Some(opts.backend),
        processes,
        devices: devices.len(),
        chaos,
        ..Report::default()
    };
    let outcome = if chaos_errors.is_empty() {
        settle_and_check(&shared, &devices, &coord, &mut rng, &mut report).await
    } else {
        Err(anyhow::anyhow!(
            "an actor failed during the chaos: {}",
            chaos_errors.join("; ")
        ))
    };
    // The observers hold the shared state (and with it the environment): let it go, so the data
    // directory is removed and the environment's checks run when this run ends.
    for actor in &devices {
        actor.device.observe(|_, _| {});
        actor.device.disconnect().await;
    }
    report.device_edits = shared.device_edits.load(Ordering::Relaxed);
    report.coordinator_writes = shared.coordinator_writes.load(Ordering::Relaxed);
    report.voice_notes = shared.voice_notes.load(Ordering::Relaxed);
    report.kills = shared.kills.load(Ordering::Relaxed);
    report.reconnects = shared.reconnects.load(Ordering::Relaxed);
    report.uploads = shared.ledger(|l| l.uploaded.len()).unwrap_or(0);
    report.wall = wall.elapsed();
    match outcome {
        Ok(()) => Ok(report),
        Err(e) => {
            let log = shared
                .ledger(|l| {
                    let skip = l.log.len().saturating_sub(40);
                    l.log[skip..].join("\n")
                })
                .unwrap_or_default();
            let e = anyhow::anyhow!(
                "{}\n{e:#}\n{report}\n--- last actions ---\n{log}\n--- server warnings ---\n{}",
                replay_line(opts.seed),
                shared.cluster.server_log_tail(40)
            );
            eprintln!("{e}");
            keep_evidence(shared);
            Err(e)
        }
    }
}

/// After a failure, keep the data directory, the devices' stores and the database for a look
/// afterwards, and skip the environment's own end-of-test check: it would fail on the same
/// storage and panic, which would end the remaining seeds of the run.
fn keep_evidence(shared: Arc<Shared>) {
    let Ok(shared) = Arc::try_unwrap(shared) else {
        eprintln!("chaos: the run's state is still shared; its files are removed");
        return;
    };
    let Cluster { servers, env, .. } = shared.cluster;
    drop(servers);
    eprintln!(
        "chaos: kept the server's data in {}, the devices' stores in {}{}",
        env.data_dir().display(),
        env.devices.path().display(),
        env.database_url
            .as_deref()
            .map(|u| format!(", the database {}", u.rsplit('/').next().unwrap_or(u)))
            .unwrap_or_default()
    );
    std::mem::forget(env);
}

/// What a failing seed prints first: how to run it again.
pub fn replay_line(seed: u64) -> String {
    format!(
        "chaos seed {seed} failed (replay: VERTEL_CHAOS_SEEDS={seed} cargo test -p vertel-tests \
         --test integration chaos)"
    )
}

/// Wait until `check` holds for a device, reconnecting it whenever it is not connected.
async fn settle_device(
    shared: &Shared,
    actor: &Actor,
    rng: &mut StdRng,
    what: &str,
    check: impl Fn(Device) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>,
) -> Result<()> {
    let deadline = Instant::now() + SETTLE;
    loop {
        if !actor.device.is_connected().await {
            reconnect(shared, actor, rng).await;
        }
        let waited = actor
            .device
            .wait_for(what, Duration::from_secs(2), &check)
            .await;
        if waited.is_ok() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{}: {what} within {SETTLE:?}",
            actor.name
        );
    }
}

/// Stop, settle, kill once more, load everything fresh and check every invariant. Collects all
/// violations before failing, so one run shows the whole picture.
async fn settle_and_check(
    shared: &Arc<Shared>,
    devices: &[Actor],
    coord: &str,
    rng: &mut StdRng,
    report: &mut Report,
) -> Result<()> {
    let cluster = &shared.cluster;
    cluster.start_missing().await?;
    // Upload what is still pending, so the transcription part has work to check.
    for actor in devices.iter().filter(|a| a.records) {
        settle_device(shared, actor, rng, "no unconfirmed changes", |d| {
            Box::pin(async move { d.unconfirmed().await.is_empty() })
        })
        .await?;
    }
    let pending = shared
        .ledger(|l| std::mem::take(&mut l.pending_uploads))
        .unwrap_or_default();
    for (token, id, bytes, mime) in pending {
        if let Some(addr) = cluster.pick(rng)
            && let Ok(true) = upload(&http(), addr, &token, id, &bytes, &mime).await
        {
            shared.ledger(|l| l.uploaded.insert((id, sha256_hex(&bytes))));
        }
    }
    // Let running transcriptions finish (a killed worker's job comes back after its lease).
    let deadline = Instant::now() + SETTLE;
    let queued_until = Instant::now() + Duration::from_secs(6);
    loop {
        let Some(addr) = cluster.pick(rng) else {
            anyhow::bail!("no server up while settling");
        };
        let stories: Vec<DocumentId> = shared
            .ledger(|l| {
                l.uploaded
                    .iter()
                    .map(|(id, _)| *id)
                    .collect::<BTreeSet<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .collect();
        // Queued jobs get a few seconds too (more transcripts to check), but not the minute a job
        // is held when the server died between queueing it and writing `queued` into the story.
        let wait_queued = Instant::now() < queued_until;
        let mut busy = 0;
        for id in stories {
            busy += jobs(addr, coord, id)
                .await?
                .iter()
                .filter(|(_, status)| status == "running" || (wait_queued && status == "queued"))
                .count();
        }
        if busy == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{busy} transcription(s) still running after {SETTLE:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Every device syncs everything it holds; a little quiet for the tagger's last round.
    for actor in devices {
        settle_device(shared, actor, rng, "no unconfirmed changes", |d| {
            Box::pin(async move { d.unconfirmed().await.is_empty() })
        })
        .await?;
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    for actor in devices {
        settle_device(shared, actor, rng, "no unconfirmed changes", |d| {
            Box::pin(async move { d.unconfirmed().await.is_empty() })
        })
        .await?;
        record_acknowledged(shared, actor).await;
    }

    // The end state is what the database holds after one more kill -9.
    for i in 0..cluster.servers.len() {
        if cluster.kill(i) {
            shared.note(format!("final kill -9 of server {i}"));
        }
    }
    for actor in devices {
        actor.device.disconnect().await;
    }
    let mut failures: Vec<String> = Vec::new();
    // `vertel-server check`: every stored document loads and its recorded heads are the heads of
    // its chunks. Run on what the kill left, before any server touches it again.
    if let Err(e) = cluster.env.check() {
        failures.push(format!(
            "`vertel-server check` failed after the kill: {e:#}"
        ));
    }

    let passive = Server::start(&cluster.env, PASSIVE_ARGS).await?;
    let listed = feed(passive.addr, coord).await?;
    report.stories = listed.len();
    let verifier = device(&cluster.env, "verifier").await?;
    let snapshots: Arc<Mutex<BTreeMap<DocumentId, Snapshot>>> = Arc::default();
    {
        let snapshots = snapshots.clone();
        verifier.observe(move |event, doc| {
            if let (Some(id), Some(d)) = (event_story(event), doc)
                && let Ok(mut s) = snapshots.lock()
            {
                s.insert(id, snapshot(d));
            }
        });
    }
    verifier.connect(&passive.ws_url(), coord).await?;
    verifier.want(listed.keys().copied()).await?;
    let ids: Vec<DocumentId> = listed.keys().copied().collect();
    verifier
        .wait_for("a fresh copy of every story", SETTLE, |d| {
            let ids = ids.clone();
            async move { fully_synced(&d, &ids).await }
        })
        .await
        .context("loading every story from the restarted server")?;
    let fresh: BTreeMap<DocumentId, Vec<String>> = {
        let mut m = BTreeMap::new();
        for id in &ids {
            m.insert(*id, sorted(verifier.heads(id).await.unwrap_or_default()));
        }
        m
    };
    let snaps = snapshots.lock().map(|s| s.clone()).unwrap_or_default();
    report.changes = snaps.values().map(|s| s.changes).sum();
    report.server_changes = snaps.values().map(|s| s.server_changes).sum();

    // The heads the database records name changes its chunks hold. (Not necessarily all of its
    // heads: with two processes, each records the heads of its own copy.)
    for (id, recorded) in &listed {
        if fresh.get(id) != Some(&sorted(recorded.clone())) {
            // Told, not failed here: `vertel-server check` judges whether the difference counts.
            shared.note(format!(
                "story {id}: documents.heads {recorded:?}, the chunks load to {:?}",
                fresh.get(id)
            ));
        }
        let missing = missing_heads(&verifier, id, recorded).await;
        if !missing.is_empty() {
            failures.push(format!(
                "story {id}: documents.heads names change(s) no stored chunk holds: {missing:?} \
                 (the chunks load to {:?})",
                fresh.get(id)
            ));
        }
    }
    // Everything a device was told is stored is in the fresh load.
    let (acknowledged, on_server) = shared
        .ledger(|l| (l.acknowledged.clone(), l.on_server.clone()))
        .unwrap_or_default();
    for (id, heads) in &acknowledged {
        if !listed.contains_key(id) {
            failures.push(format!(
                "story {id}: acknowledged to a device but missing from the database"
            ));
            continue;
        }
        let heads: Vec<String> = heads.iter().cloned().collect();
        let lost = missing_heads(&verifier, id, &heads).await;
        if !lost.is_empty() {
            failures.push(format!(
                "story {id}: {} acknowledged change(s) missing from a fresh load: {lost:?}",
                lost.len()
            ));
        }
    }
    for id in &on_server {
        if !listed.contains_key(id) {
            failures.push(format!("story {id} was confirmed but is not in the feed"));
        }
    }
    // Every change a device holds (all confirmed before the kill) is in the fresh load.
    for actor in devices {
        for id in actor.device.ids().await {
            let heads = actor.device.heads(&id).await.unwrap_or_default();
            let lost = missing_heads(&verifier, &id, &heads).await;
            if !lost.is_empty() {
                failures.push(format!(
                    "{}: story {id} holds change(s) the fresh load lacks: {lost:?}",
                    actor.name
                ));
            }
        }
    }
    // Transcripts, reviews, comments and tag decisions that were reported done are there.
    let (uploaded, done_during_run, comments, tags) = shared
        .ledger(|l| {
            (
                l.uploaded.clone(),
                l.done_during_run.clone(),
                l.comments.clone(),
                l.tags.clone(),
            )
        })
        .unwrap_or_default();
    let mut done: BTreeSet<(DocumentId, String)> = BTreeSet::new();
    let voice_stories: BTreeSet<DocumentId> = uploaded.iter().map(|(id, _)| *id).collect();
    for id in &voice_stories {
        for (sha, status) in jobs(passive.addr, coord, *id).await? {
            if status == "done" {
                done.insert((*id, sha));
            }
        }
    }
    for (id, sha) in &done_during_run {
        if !done.contains(&(*id, sha.clone())) {
            failures.push(format!(
                "story {id}: job {} reported done during the run is no longer done",
                &sha[..8.min(sha.len())]
            ));
        }
    }
    for (id, snap) in &snaps {
        for t in &snap.details.transcriptions {
            if t.status == "done" {
                done.insert((*id, t.sha256.clone()));
            }
        }
    }
    report.transcripts_done = done.len();
    for (id, sha) in &done {
        let want = fake_transcript(sha);
        let found = snaps.get(id).is_some_and(|s| {
            s.segments
                .iter()
                .any(|seg| seg.source.as_deref() == Some(sha.as_str()) && seg.text == want)
        });
        if !found {
            failures.push(format!(
                "story {id}: transcription of {} is done but its transcript ({want}) is not in \
                 the story",
                &sha[..8.min(sha.len())]
            ));
        }
    }
    for (id, text) in &comments {
        let found = snaps
            .get(id)
            .is_some_and(|s| s.story.comments.iter().any(|c| &c.text == text));
        if !found {
            failures.push(format!(
                "story {id}: comment {text:?} answered 200 is missing"
            ));
        }
    }
    for ((id, code), writes) in &tags {
        let got = snaps.get(id).and_then(|s| {
            s.story
                .tags
                .iter()
                .find(|t| &t.code == code)
                .map(|t| t.state.code().to_string())
        });
        if let Some(ok) = acceptable(writes)
            && !got.as_ref().is_some_and(|g| ok.contains(g))
        {
            failures.push(format!(
                "story {id}: tag {code} should be one of {ok:?} (the last decision answered 200 \
                 and any unanswered after it), the story says {got:?}"
            ));
        }
    }

    // Each device reconnects to the fresh server and converges with it.
    for actor in devices {
        let held = actor.device.ids().await;
        let expected: BTreeMap<DocumentId, Vec<String>> = held
            .iter()
            .filter_map(|id| fresh.get(id).map(|h| (*id, h.clone())))
            .collect();
        for id in &held {
            if !fresh.contains_key(id) {
                failures.push(format!(
                    "{}: holds story {id}, which the server does not list",
                    actor.name
                ));
            }
        }
        actor
            .device
            .connect(&passive.ws_url(), &actor.token)
            .await?;
        let converged = actor
            .device
            .wait_for("convergence with the fresh server", CONVERGE, |d| {
                let expected = expected.clone();
                async move {
                    if !d.unconfirmed().await.is_empty() {
                        return false;
                    }
                    for (id, heads) in &expected {
                        if sorted(d.heads(id).await.unwrap_or_default()) != *heads {
                            return false;
                        }
                    }
                    true
                }
            })
            .await;
        if converged.is_err() {
            let mut diff = Vec::new();
            for (id, heads) in &expected {
                let mine = sorted(actor.device.heads(id).await.unwrap_or_default());
                if mine != *heads {
                    diff.push(format!("{id}: device {mine:?} vs server {heads:?}"));
                }
            }
            failures.push(format!(
                "{}: no convergence with the fresh server (unconfirmed {:?}; {})",
                actor.name,
                actor.device.unconfirmed().await,
                diff.join("; ")
            ));
        }
        actor.device.disconnect().await;
    }
    // And the server did not learn anything new from them: nothing stored had been lost.
    for id in &ids {
        let now = sorted(verifier.heads(id).await.unwrap_or_default());
        if fresh.get(id) != Some(&now) {
            failures.push(format!(
                "story {id}: devices brought changes back that the database had lost \
                 (heads {:?} → {now:?})",
                fresh.get(id)
            ));
        }
    }
    verifier.disconnect().await;
    passive.kill9();
    if let Err(e) = cluster.env.check() {
        failures.push(format!("`vertel-server check` failed at the end: {e:#}"));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} invariant violation(s):\n  {}",
            failures.len(),
            failures.join("\n  ")
        )
    }
}

fn event_story(event: &Event) -> Option<DocumentId> {
    match event {
        Event::DocChanged { id } | Event::Saved { id } | Event::SyncStatus { id, .. } => Some(*id),
        _ => None,
    }
}

fn sorted(mut heads: Vec<String>) -> Vec<String> {
    heads.sort();
    heads
}

/// Whether the device holds every story in `ids` with exactly the heads the server advertised.
async fn fully_synced(d: &Device, ids: &[DocumentId]) -> bool {
    for id in ids {
        let server = d.server_heads(id).await;
        let Some(mine) = d.heads(id).await else {
            return false;
        };
        if server.is_empty() || sorted(server) != sorted(mine) {
            return false;
        }
    }
    true
}

/// The heads (change hashes) of `heads` that the device's copy of `id` does not contain.
async fn missing_heads(d: &Device, id: &DocumentId, heads: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for h in heads {
        if !d.contains_heads(id, std::slice::from_ref(h)).await {
            out.push(h.clone());
        }
    }
    out
}
