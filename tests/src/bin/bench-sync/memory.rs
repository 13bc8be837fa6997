//! Workload 4, `memory` (ours only): the server's RSS with many stored stories after a restart,
//! after one device syncs a few, and after they are evicted (`--doc-idle-secs`).

use crate::params::{Params, Setup};
use crate::peer::Peer;
use crate::table::{Row, Target, row};
use crate::util::{LONG, Tracker, concurrently, rss_kb, settle_within};
use anyhow::{Result, ensure};
use client_core::DocumentId;
use client_core::native::Device;
use std::path::Path;
use std::time::{Duration, Instant};
use vertel_tests::{Backend, Env, Server};

// ---- 4. memory with many stored stories (ours) -------------------------------------------------

#[derive(Debug, Default, Clone)]
pub struct Stored {
    pub stories: usize,
    pub empty_mb: f64,
    pub seed_secs: f64,
    pub after_seed_mb: f64,
    pub after_seed_idle_mb: f64,
    pub restart_mb: f64,
    pub synced: usize,
    pub synced_mb: f64,
    pub evicted_mb: f64,
}

pub async fn stored(setup: &Setup, p: &Params, dirs: &Path) -> Result<Stored> {
    let n = p.stored_stories;
    let idle = p.idle_secs.to_string();
    let extra = ["--doc-idle-secs", idle.as_str()];
    let env = Env::new(Backend::Sqlite).await?;
    env.workspace("bench")?;
    let args = setup.server_args(&extra);
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
    let args = setup.server_args(&extra);
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
pub async fn hub_stats(server: &Server) -> String {
    let got = async {
        let v: serde_json::Value = reqwest::get(server.url("/healthz")).await?.json().await?;
        anyhow::Ok(format!(
            "{} documents in memory, {} tracked",
            v["documents_in_memory"], v["documents_tracked"]
        ))
    };
    got.await.unwrap_or_else(|e| format!("no /healthz: {e}"))
}
/// The table's rows for the memory workload (ours only).
pub fn rows(s: &Stored) -> Vec<Row> {
    let n = s.stories;
    // Bounded: what a restarted server holds must not grow with what is stored. Allow the
    // empty server's RSS plus SQLite's page caches (8 connections × 2 MB default) and slack.
    let bound = s.empty_mb + 32.0;
    vec![
        row("server RSS, fresh and empty (MB)", Some(s.empty_mb), None),
        row(
            format!("storing {n} stories through sync (stories/s)"),
            Some(n as f64 / s.seed_secs),
            None,
        )
        .digits(0),
        row(
            format!("server RSS right after storing {n} (MB)"),
            Some(s.after_seed_mb),
            None,
        ),
        row(
            "  … after the idle period, no restart (MB)",
            Some(s.after_seed_idle_mb),
            None,
        ),
        row(
            format!("server RSS after restart, {n} stored (MB)"),
            Some(s.restart_mb),
            None,
        )
        .target(Target::Max(bound)),
        row(
            format!("  … after one device synced {} (MB)", s.synced),
            Some(s.synced_mb),
            None,
        )
        .target(Target::Max(bound)),
        row(
            "  … after those were evicted (MB)",
            Some(s.evicted_mb),
            None,
        )
        .target(Target::Max(bound)),
    ]
}
