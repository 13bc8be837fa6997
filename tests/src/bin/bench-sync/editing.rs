//! Workload 2, `editing`: many devices connected, some editing their own story at a steady rate
//! and then as fast as acknowledged, each followed by a watcher that times edit→arrival.
//! [`edit_phase`] is also the cross-process workload's phase.

use crate::params::{Params, Setup};
use crate::peer::{OnChange, Peer, follow, short, wait_reporting};
use crate::servers::{Kind, Running};
use crate::table::{Row, Target, row};
use crate::util::{
    Clock, LONG, SHORT, concurrently, cpu_secs, percentile, rss_kb, settle, title_timestamp,
};
use anyhow::Result;
use client_core::DocumentId;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// One editing phase.
#[derive(Debug, Default, Clone)]
pub struct Phase {
    pub edits: u64,
    /// Edits made per second.
    pub offered_per_sec: f64,
    /// Edits over the time until the server acknowledged the last one.
    pub ingest_per_sec: f64,
    /// Edit→arrival per group of watchers, in the order of [`Pair::watchers`].
    pub arrivals: Vec<Arrival>,
    /// Per server process, in the order given to [`edit_phase`].
    pub server_cpu_ms_per_1k: Vec<f64>,
    pub harness_cpu_ms_per_1k: f64,
}

impl Phase {
    /// Edit→arrival on the `group`th group of watchers (NaN when it timed nothing).
    pub fn arrival(&self, group: usize) -> Arrival {
        self.arrivals.get(group).cloned().unwrap_or(Arrival {
            samples: 0,
            p50_ms: f64::NAN,
            p99_ms: f64::NAN,
            p999_ms: f64::NAN,
            max_ms: f64::NAN,
        })
    }

    /// Server CPU per 1,000 changes, all server processes together.
    pub fn server_cpu(&self) -> f64 {
        self.server_cpu_ms_per_1k.iter().sum()
    }
}

/// Edit→arrival on one group of watchers.
#[derive(Debug, Default, Clone)]
pub struct Arrival {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// (send time, edit→arrival) in µs, one per arrival a group of watchers timed.
pub type Latencies = Arc<Mutex<Vec<(u64, u64)>>>;

/// Where a group of watchers reports its arrivals, and its name in the output.
pub struct Group {
    pub name: &'static str,
    pub latencies: Latencies,
    /// The clock the editors write send times in.
    pub clock: Clock,
}

impl Group {
    pub fn new(name: &'static str, clock: Clock) -> Group {
        Group {
            name,
            latencies: Latencies::default(),
            clock,
        }
    }

    /// The hook for a watcher of this group: takes the send time out of the title when a change
    /// arrives.
    pub fn timer(&self) -> OnChange {
        let (latencies, clock) = (self.latencies.clone(), self.clock);
        Box::new(move |_, doc| {
            if let Some(sent) = title_timestamp(doc) {
                let now = clock.micros();
                latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((sent, now.saturating_sub(sent)));
            }
        })
    }

    pub fn take(&self) -> Vec<(u64, u64)> {
        std::mem::take(&mut *self.latencies.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[derive(Debug, Default, Clone)]
pub struct Editing {
    pub idle_devices: usize,
    pub kb_per_device: f64,
    pub steady: Phase,
    pub max: Phase,
    pub rss_mb: f64,
}

/// How the editors pace their edits.
#[derive(Clone, Copy)]
pub enum Pace {
    /// Edits per second per editor, each editor on its own clock, spread evenly.
    Steady(f64),
    /// As fast as acknowledged, with at most this many unacknowledged per editor.
    Window(usize),
}

/// An editor, its story, and the watchers following the story (one per [`Group`]).
pub struct Pair {
    pub editor: Arc<Peer>,
    pub id: DocumentId,
    pub watchers: Vec<Arc<Peer>>,
}

impl Pair {
    pub fn close(&self) {
        self.editor.close();
        for w in &self.watchers {
            w.close();
        }
    }
}

/// The steady phase: every editor at `p.edit_rate` for `p.edit_secs` ([`edit_phase`]).
pub async fn steady_phase(
    label: &str,
    pairs: &[Pair],
    p: &Params,
    server_pids: &[u32],
    groups: &[Group],
    clock: Clock,
) -> Result<Phase> {
    println!(
        "  [{label}] steady: every editor {} edits/s ({:.0} changes/s)",
        p.edit_rate,
        p.edit_rate * p.editors as f64
    );
    edit_phase(
        label,
        pairs,
        Pace::Steady(p.edit_rate),
        p.edit_secs,
        server_pids,
        groups,
        clock,
    )
    .await
}

/// Let every editor edit for `secs`, then wait until the server acknowledged every edit and every
/// watcher has it. `server_pids`: the server processes whose CPU time is counted. The editors write
/// send times in `clock`, as the groups' timers read them.
pub async fn edit_phase(
    label: &str,
    pairs: &[Pair],
    pace: Pace,
    secs: u64,
    server_pids: &[u32],
    groups: &[Group],
    clock: Clock,
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
                        editor.edit(id, &format!("bench {seq} {}", clock.micros()))?;
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
                        log.push(editor.edit(id, &format!("bench {seq} {}", clock.micros()))?);
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

pub async fn editing(setup: &Setup, kind: Kind, p: &Params) -> Result<Editing> {
    let srv = Arc::new(Running::start(setup, kind, &[]).await?);
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
    let watchers = Arc::new([Group::new("watcher", setup.clock)]);
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
    let steady = steady_phase(label, &pairs, p, &[pid], &watchers[..], setup.clock).await?;
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
        setup.clock,
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

/// The table's rows for the editing workload, ours and the reference's.
pub fn rows(p: &Params, ours: &Option<Editing>, theirs: &Option<Editing>) -> Vec<Row> {
    let pick = |f: fn(&Editing) -> f64| (ours.as_ref().map(f), theirs.as_ref().map(f));
    let steady_rate = p.edit_rate * p.editors as f64;
    let mut rows = Vec::new();
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
            format!("steady editing, offered {steady_rate:.0} changes/s: acknowledged (changes/s)"),
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
    rows
}
