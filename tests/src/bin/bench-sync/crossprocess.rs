//! Workload 3, `crossprocess` (ours, `--postgres` only): two server processes A and B on one
//! PostgreSQL database, the steady editing load on A, every edit timed on a watcher on A and one
//! on B.

use crate::editing::{Arrival, Group, Pair, Phase, steady_phase};
use crate::params::{Params, Setup};
use crate::peer::{Peer, follow};
use crate::table::{print_table, row};
use crate::util::{SHORT, concurrently, settle};
use anyhow::{Result, ensure};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vertel_tests::{Backend, Env, Server};

/// The steady editing load on process A, timed on arrival at watchers on A and on B.
#[derive(Debug, Clone)]
pub struct CrossProcess {
    pub idle_devices: usize,
    /// `arrivals[SAME]`, `arrivals[OTHER]`; `server_cpu_ms_per_1k`: A, then B.
    pub steady: Phase,
}

/// The watcher groups of [`cross_process`]: on the editors' process (A), on the other (B).
pub const SAME: usize = 0;
pub const OTHER: usize = 1;

/// Two server processes on one PostgreSQL database (one data directory, ports of their own).
/// Editors and their watchers of one group on A, the other group's watchers on B, idle devices
/// half on each; the editors edit at the `editing` steady rate. Every edit is timed on both
/// watchers of its story, so both figures come from the same edits under the same load.
pub async fn cross_process(setup: &Setup, p: &Params) -> Result<CrossProcess> {
    let label = "ours, 2 processes";
    let env = Env::new(Backend::Postgres).await?;
    env.workspace("bench")?;
    let args = setup.server_args(&[]);
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

    let groups = Arc::new([
        Group::new("same process", setup.clock),
        Group::new("other process", setup.clock),
    ]);
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
    let pids = [a.pid(), b.pid()];
    let steady = steady_phase(label, &pairs, p, &pids, &groups[..], setup.clock).await?;
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
pub async fn wait_listening(name: &str, server: &Server) -> Result<()> {
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
/// Print the cross-process results: a line on the load, and a table of the watcher on B against
/// the watcher on A.
pub fn print(p: &Params, c: &CrossProcess) {
    println!(
        "\nacross processes (PostgreSQL): {} editors on A × {} edits/s, offered {:.0} changes/s, {:.0} acknowledged; {} idle devices",
        p.editors, p.edit_rate, c.steady.offered_per_sec, c.steady.ingest_per_sec, c.idle_devices
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
