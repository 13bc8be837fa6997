//! Workload 1, `catchup`: a device pushes N stories; a fresh coordinator device reads the changes
//! feed (the reference has none: it is given the ids), wants every id, and we time until all are
//! local.

use crate::params::Setup;
use crate::servers::{Kind, Running};
use crate::table::{Row, Target, row};
use crate::util::{LONG, Tracker, cpu_secs, sample_story, settle};
use anyhow::{Result, ensure};
use client_core::DocumentId;
use client_core::native::Device;
use std::path::Path;
use std::time::{Duration, Instant};

// ---- 1. catch-up -------------------------------------------------------------------------------

/// One fresh device's catch-up.
#[derive(Debug, Clone)]
pub struct Fetch {
    pub secs: f64,
    /// Reading the changes feed (ours only: the reference has none).
    pub feed_secs: Option<f64>,
    /// CPU seconds of the server and of this process (the device) meanwhile.
    pub server_cpu: f64,
    pub device_cpu: f64,
}

#[derive(Debug, Clone)]
pub struct CatchUp {
    pub push_secs: f64,
    /// Every id wanted at once; `Err` says how it failed.
    pub at_once: Result<Fetch, String>,
    /// Wanted in rounds of [`ROUND`], each complete before the next.
    pub rounds: Fetch,
    pub rss_mb: f64,
}

/// Stories per round when pushing, and when catching up in rounds.
pub const ROUND: usize = 500;

pub async fn catch_up(setup: &Setup, kind: Kind, n: usize, dirs: &Path) -> Result<CatchUp> {
    let mut srv = Running::start(setup, kind, &[]).await?;
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
pub async fn fetch(
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

/// The table's rows for the catch-up of `n` stories, ours and the reference's.
pub fn rows(n: usize, ours: &Option<CatchUp>, theirs: &Option<CatchUp>) -> Vec<Row> {
    let all = |c: &Option<CatchUp>| c.as_ref().and_then(|c| c.at_once.as_ref().ok()).cloned();
    let (oa, ta) = (all(ours), all(theirs));
    let failed = |c: &Option<CatchUp>| {
        c.as_ref()
            .is_some_and(|c| c.at_once.is_err())
            .then_some(f64::INFINITY)
    };
    vec![
        row(
            format!("catch-up of {n} stories, fresh device, cold server (s)"),
            oa.as_ref().map(|f| f.secs).or(failed(ours)),
            ta.as_ref().map(|f| f.secs).or(failed(theirs)),
        )
        .target(Target::Max(5.0))
        .digits(2),
        row(
            "  of which: changes feed (s)",
            oa.as_ref().and_then(|f| f.feed_secs),
            None,
        )
        .digits(2),
        row(
            "  server CPU (s)",
            oa.as_ref().map(|f| f.server_cpu),
            ta.as_ref().map(|f| f.server_cpu),
        )
        .digits(2),
        row(
            "  device CPU (s)",
            oa.as_ref().map(|f| f.device_cpu),
            ta.as_ref().map(|f| f.device_cpu),
        )
        .digits(2),
        row(
            format!("catch-up of {n}, wanting {ROUND} at a time (s)"),
            ours.as_ref().map(|c| c.rounds.secs),
            theirs.as_ref().map(|c| c.rounds.secs),
        )
        .digits(2),
        row(
            format!("push of {n} new stories from one device, {ROUND} at a time (s)"),
            ours.as_ref().map(|c| c.push_secs),
            theirs.as_ref().map(|c| c.push_secs),
        )
        .digits(2),
        row(
            format!("server RSS after the catch-up of {n} (MB)"),
            ours.as_ref().map(|c| c.rss_mb),
            theirs.as_ref().map(|c| c.rss_mb),
        ),
    ]
}
