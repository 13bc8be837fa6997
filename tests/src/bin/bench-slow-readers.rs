//! bench-slow-readers: what clients that stop reading cost the server (issue 11: for a peer that
//! never answers, every change queued a full copy of the document; three such clients during a
//! burst of 20,000 changes took a server from 83 to 264 MB).
//!
//! It starts a real `vertel-server serve` (SQLite, one workspace; `VERTEL_SERVER_BIN` picks another
//! build, such as one from before the fix), stores one story of `--words` random words, connects
//! `--stalled` clients that ask for it and then never read, and a coordinator's device that keeps
//! reading; then a professional's device edits the story `--edits` times. It samples the server's
//! `/proc/<pid>/status` every 10 ms and prints the resident memory before the burst, the peak
//! during it and after; then it reads what each stalled client was sent (sync messages and bytes)
//! and whether the server closed it. It asserts nothing; the results go to BENCHMARKS.md
//! ("Slow readers").
//!
//! Usage: `cargo build -p vertel-server && cargo run -p vertel-tests --bin bench-slow-readers
//! [-- --stalled 3] [--edits 2000] [--words 4000] [--server-arg ARG]...`

use anyhow::Context;
use client_core::wire::Message;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as Ws;
use vertel_tests::{Backend, Env, Server, device, parent_story, proc_status_kb, stalled_reader};

fn status_kb(pid: u32, field: &str) -> u64 {
    proc_status_kb(pid, field).unwrap_or(0)
}

/// Random letters in words: text that deflate cannot shrink to nothing.
fn words(n: usize) -> String {
    (0..n)
        .map(|_| {
            (0..rand::random_range(3..10))
                .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let (mut n_stalled, mut edits, mut n_words) = (3usize, 2000i64, 4000usize);
    let mut server_args: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().context("a value");
        match a.as_str() {
            "--stalled" => n_stalled = value()?.parse()?,
            "--edits" => edits = value()?.parse()?,
            "--words" => n_words = value()?.parse()?,
            "--server-arg" => server_args.push(value()?),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let env = Env::new(Backend::Sqlite).await?;
    env.workspace("delft")?;
    let extra: Vec<&str> = server_args.iter().map(String::as_str).collect();
    let server = Server::start(&env, &extra).await?;
    let pid = server.pid();
    println!(
        "server {} (pid {pid}); {n_stalled} stalled clients, {edits} edits of a story of {n_words} words",
        vertel_tests::server_binary().display()
    );
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story("Lang verhaal", &words(n_words)))
        .await?;
    phone
        .wait_for("stored", Duration::from_secs(60), |d| async move {
            d.is_confirmed(&id).await
        })
        .await?;
    let laptop = device(&env, "laptop").await?;
    laptop.connect(&server.ws_url(), &coord.token).await?;
    laptop.want([id]).await?;
    let mut clients = Vec::new();
    for _ in 0..n_stalled {
        clients.push(stalled_reader(&server, &coord.token, id).await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = status_kb(pid, "VmRSS:");

    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(status_kb(pid, "VmRSS:"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let t0 = Instant::now();
    for i in 0..edits {
        phone
            .edit(id, |d| {
                client_core::story::splice_body(d, 0, 0, &format!("{i} "), i)
            })
            .await?;
    }
    phone
        .wait_for("burst stored", Duration::from_secs(300), |d| async move {
            d.is_confirmed(&id).await
        })
        .await?;
    let heads = phone.heads(&id).await.unwrap_or_default();
    laptop
        .wait_for("burst on the laptop", Duration::from_secs(300), |d| {
            let heads = heads.clone();
            async move { d.heads(&id).await == Some(heads) }
        })
        .await?;
    let burst = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let after = status_kb(pid, "VmRSS:");
    let peak = peak.load(Ordering::Relaxed);
    println!(
        "burst: {:.1} s; server RSS before {:.1} MB, peak {:.1} MB (+{:.1} MB), after {:.1} MB",
        burst.as_secs_f64(),
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / 1024.0,
        after as f64 / 1024.0
    );
    for (n, mut ws) in clients.into_iter().enumerate() {
        let (mut copies, mut bytes, mut closed) = (0usize, 0usize, false);
        loop {
            match tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
                Ok(Some(Ok(Ws::Binary(b)))) => {
                    bytes += b.len();
                    if let Ok(Message::Sync { .. }) = Message::decode(&b, usize::MAX) {
                        copies += 1;
                    }
                }
                Ok(Some(Ok(Ws::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                    closed = true;
                    break;
                }
                Ok(Some(Ok(_))) => {}
                Err(_) => break,
            }
        }
        println!(
            "stalled client {n}: {copies} sync messages, {:.1} MB; closed by the server: {closed}",
            bytes as f64 / 1_048_576.0
        );
    }
    Ok(())
}
