//! bench-login: what a flood of logins does to the server's memory (issue 10, finding 3: 100
//! parallel logins with distinct unknown addresses took a server from 212 MB to 2.13 GB).
//!
//! For each configuration it starts a real `vertel-server serve` (SQLite, one workspace), sends
//! `--logins` (default 100) logins at once, each for a distinct unknown e-mail address, and
//! samples the server's `/proc/<pid>/status` every 5 ms. It prints the resident memory before,
//! the peak (VmHWM) and after, the answers by status and the wall time. It asserts nothing; the
//! results go to BENCHMARKS.md ("Login flood").
//!
//! Configurations:
//! - `uncapped`: `--password-hash-concurrency` and `--password-hash-queue` as large as the flood,
//!   so every argon2 check runs at once, as before the fix; each login comes from its own client
//!   address (`X-Forwarded-For` with `--trust-forwarded-for`), so the address limit does not
//!   stop any.
//! - `botnet`: the defaults (one check per CPU, 64 waiting), each login from its own address.
//! - `one-client`: the defaults, every login from one address (the address limit cuts in).
//!
//! Usage: `cargo build -p vertel-server && cargo run -p vertel-tests --bin bench-login
//! [-- --logins N] [--only uncapped,botnet,one-client]` (add `--release` to both for a release
//! server).

use anyhow::Context;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vertel_tests::{Backend, Env, Server, proc_status_kb};

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

struct Outcome {
    before_kb: u64,
    peak_kb: u64,
    hwm_kb: u64,
    after_kb: u64,
    statuses: BTreeMap<u16, usize>,
    wall: Duration,
}

async fn flood(name: &str, logins: usize) -> anyhow::Result<Outcome> {
    let env = Env::new(Backend::Sqlite).await?;
    env.workspace("bench")?;
    let n = logins.to_string();
    let extra: Vec<&str> = match name {
        "uncapped" => vec![
            "--trust-forwarded-for",
            "--password-hash-concurrency",
            &n,
            "--password-hash-queue",
            &n,
        ],
        "botnet" => vec!["--trust-forwarded-for"],
        "one-client" => vec![],
        other => anyhow::bail!("unknown configuration {other}"),
    };
    let server = Server::start(&env, &extra).await?;
    let pid = server.pid();
    // Warm up: one login, so the process has done its first argon2 and opened its pool.
    let _ = server.login_as("professional", "bench").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_kb = proc_status_kb(pid, "VmRSS:").context("VmRSS")?;

    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(before_kb));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Some(kb) = proc_status_kb(pid, "VmRSS:") {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let start = Instant::now();
    let requests = (0..logins).map(|i| {
        let client = client.clone();
        let url = server.url("/api/v1/auth/login");
        async move {
            let resp = client
                .post(url)
                .header(
                    "x-forwarded-for",
                    format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                )
                .json(&json!({ "email": format!("onbekend{i}@x.test"), "password": "raden-raden-123" }))
                .send()
                .await?;
            anyhow::Ok(resp.status().as_u16())
        }
    });
    let answers = futures_util::future::join_all(requests).await;
    let wall = start.elapsed();
    tokio::time::sleep(Duration::from_millis(100)).await;
    done.store(true, Ordering::Relaxed);
    sampler.await?;
    let mut statuses = BTreeMap::new();
    for a in answers {
        *statuses.entry(a.unwrap_or(0)).or_insert(0) += 1;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hwm_kb = proc_status_kb(pid, "VmHWM:").context("VmHWM")?;
    let after_kb = proc_status_kb(pid, "VmRSS:").context("VmRSS")?;
    Ok(Outcome {
        before_kb,
        peak_kb: peak.load(Ordering::Relaxed),
        hwm_kb,
        after_kb,
        statuses,
        wall,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut logins = 100;
    let mut only: Vec<String> = vec!["uncapped".into(), "botnet".into(), "one-client".into()];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--logins" => logins = args.next().context("--logins N")?.parse()?,
            "--only" => {
                only = args
                    .next()
                    .context("--only a,b")?
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            "--help" | "-h" => {
                println!("bench-login [--logins N] [--only uncapped,botnet,one-client]");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other} (--help)"),
        }
    }
    println!(
        "server: {}  cpus: {}  logins per flood: {logins}",
        vertel_tests::server_binary().display(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "| configuration | RSS before (MB) | peak RSS sampled (MB) | VmHWM (MB) | RSS 1 s after (MB) | answers | wall (s) |"
    );
    println!("|---|--:|--:|--:|--:|---|--:|");
    for name in &only {
        let o = flood(name, logins).await?;
        let answers = o
            .statuses
            .iter()
            .map(|(s, n)| format!("{n}× {s}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {answers} | {:.2} |",
            mb(o.before_kb),
            mb(o.peak_kb),
            mb(o.hwm_kb),
            mb(o.after_kb),
            o.wall.as_secs_f64()
        );
    }
    Ok(())
}
