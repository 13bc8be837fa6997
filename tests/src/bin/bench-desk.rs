//! bench-desk: the coordinators' desk at scale (issue 12). It starts a real `vertel-server serve`
//! (SQLite, or PostgreSQL with `--postgres`: a fresh database on `VERTEL_TEST_PG_URL`), fills one
//! workspace with `--stories` stories through the real sync path (several devices at once, each
//! story a document created on a device and synced; one in ten with a voice-note reference, one
//! in twenty with a photo reference), waits until the desk's index holds them all and the tagger
//! is quiet, then times each desk endpoint from a client on loopback (`--runs` requests each;
//! exports once) and prints median, p99 and the server's memory (resident, and its peak).
//! It asserts nothing; the results go to BENCHMARKS.md ("The desk at 50,000 stories").
//!
//! Usage: `cargo build --release -p vertel-server -p vertel-tests --bin bench-desk &&
//! target/release/bench-desk [--stories 50000] [--devices 8] [--runs 40] [--postgres] [--no-exports]`

use anyhow::Context;
use client_core::story::{Attachment, ConsentScope, NewStory};
use std::time::{Duration, Instant};
use vertel_tests::{Backend, Env, Server, device, parent_story, proc_status_kb};

const COMMON: &[&str] = &[
    "moeder",
    "vader",
    "baby",
    "zwanger",
    "consultatiebureau",
    "verloskundige",
    "kraamzorg",
    "buurvrouw",
    "gesprek",
    "groep",
    "huisbezoek",
    "zorgen",
    "slapen",
    "voeding",
    "geld",
    "taal",
    "school",
    "werk",
    "familie",
    "wijkteam",
    "spreekuur",
    "vertrouwen",
    "hulp",
];
const PLACES: &[&str] = &["Delft", "Den Haag", "Westland", "Rijswijk"];
/// A word in about one story in a thousand: the "rare word" search.
const RARE: &str = "tweelingwagen";

fn text(i: usize) -> String {
    let mut words = Vec::with_capacity(60);
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..(30 + i % 40) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        words.push(COMMON[(x % COMMON.len() as u64) as usize]);
    }
    if i % 1000 == 7 {
        words.push(RARE);
    }
    format!("Ze vertelde: {}.", words.join(" "))
}

/// Stories tagged with an overview activity (confirmed or suggested).
fn tagged(activity: &serde_json::Value) -> i64 {
    activity["suggested"].as_i64().unwrap_or(0) + activity["confirmed"].as_i64().unwrap_or(0)
}

async fn get(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    path: &str,
) -> anyhow::Result<serde_json::Value> {
    Ok(client
        .get(server.url(&format!("/api/v1{path}")))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Timing {
    name: String,
    median: f64,
    p99: f64,
    bytes: usize,
}

async fn time(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    name: &str,
    path: &str,
    runs: usize,
) -> anyhow::Result<Timing> {
    let mut t = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let resp = client
            .get(server.url(&format!("/api/v1{path}")))
            .bearer_auth(token)
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "{path}: {}", resp.status());
        bytes = resp.bytes().await?.len();
        t.push(ms(start.elapsed()));
    }
    t.sort_by(f64::total_cmp);
    let p = |q: f64| t[((t.len() as f64 * q).ceil() as usize).clamp(1, t.len()) - 1];
    Ok(Timing {
        name: name.into(),
        median: p(0.5),
        p99: p(0.99),
        bytes,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let (mut stories, mut devices, mut runs, mut postgres) = (50_000usize, 8usize, 40usize, false);
    let mut exports = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().context("a value");
        match a.as_str() {
            "--stories" => stories = value()?.parse()?,
            "--devices" => devices = value()?.parse()?,
            "--runs" => runs = value()?.parse()?,
            "--postgres" => postgres = true,
            "--no-exports" => exports = false,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let backend = if postgres {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = Server::start(&env, &[]).await?;
    let pid = server.pid();
    let coord = server.login_as("coordinator", "delft").await?;
    let prof = server.login_as("professional", "delft").await?;
    println!(
        "bench-desk: {stories} stories, {devices} devices, {:?}",
        backend
    );

    // Fill through the sync path.
    let start = Instant::now();
    let mut tasks = Vec::new();
    for d in 0..devices {
        let dev = device(&env, &format!("d{d}")).await?;
        dev.connect(&server.ws_url(), &prof.token).await?;
        let n = stories / devices + usize::from(d < stories % devices);
        tasks.push(tokio::spawn(async move {
            for k in 0..n {
                let i = k * devices + d;
                let mut s: NewStory = parent_story(&format!("Verhaal {i}"), &text(i));
                s.municipality = (i % 9 != 0).then(|| PLACES[i % PLACES.len()].to_string());
                s.captured_at = 1_700_000_000_000 + (i as i64) * 60_000;
                if i % 5 == 0
                    && let Some(c) = s.consent.as_mut()
                {
                    c.scope = Some(ConsentScope::MayBeQuoted);
                }
                let id = dev.create_story(&s).await?;
                if i % 10 == 0 || i % 20 == 3 {
                    let (mime, size) = if i % 10 == 0 {
                        ("audio/webm", 180_000)
                    } else {
                        ("image/jpeg", 900_000)
                    };
                    let sha = format!("{:064x}", i);
                    dev.edit(id, |doc| {
                        client_core::story::add_attachment(
                            doc,
                            &Attachment {
                                sha256: sha,
                                mime: mime.into(),
                                size,
                            },
                            1,
                        )
                    })
                    .await?;
                }
            }
            dev.wait_for(
                "all stories stored",
                Duration::from_secs(3600),
                |d| async move { d.unconfirmed().await.is_empty() },
            )
            .await?;
            Ok::<_, anyhow::Error>(dev)
        }));
    }
    let mut held = Vec::new();
    for t in tasks {
        held.push(t.await??);
    }
    let filled = start.elapsed();
    println!(
        "filled: {stories} stories stored in {:.1} s ({:.0}/s)",
        filled.as_secs_f64(),
        stories as f64 / filled.as_secs_f64()
    );
    for d in &held {
        d.disconnect().await;
    }
    drop(held);

    // Wait for the index, then for the tagger to go quiet.
    let client = reqwest::Client::new();
    let mut last = (0i64, 0i64);
    let mut quiet_since = Instant::now();
    loop {
        let v = get(&client, &server, &coord.token, "/workspace/overview").await?;
        let total = v["stories_total"].as_i64().unwrap_or(0);
        let tagged: i64 = v["activities"]
            .as_array()
            .map(|a| a.iter().map(tagged).sum())
            .unwrap_or(0);
        if (total, tagged) != last {
            last = (total, tagged);
            quiet_since = Instant::now();
        }
        if total as usize >= stories && quiet_since.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!(
        "indexed and tagged: {} stories, {} activity tags, {:.1} s after the fill",
        last.0,
        last.1,
        (start.elapsed() - filled).as_secs_f64()
    );
    let rss_before = proc_status_kb(pid, "VmRSS:").unwrap_or(0);

    // The next page's cursor and an activity with stories.
    let first = get(&client, &server, &coord.token, "/workspace/stories").await?;
    // A server from before the index answers every story at once (no `next`).
    let next = first["next"].as_str().map(str::to_string);
    let v = get(&client, &server, &coord.token, "/workspace/overview").await?;
    let activity = v["activities"]
        .as_array()
        .and_then(|a| a.iter().max_by_key(|x| tagged(x)))
        .and_then(|x| x["code"].as_str())
        .unwrap_or("centering")
        .to_string();
    let t = &coord.token;
    let mut results = Vec::new();
    for (name, path) in [
        ("overview", "/workspace/overview".to_string()),
        ("first page", "/workspace/stories".to_string()),
        (
            "next page",
            next.as_ref()
                .map(|n| format!("/workspace/stories?after={n}"))
                .unwrap_or_else(|| "/workspace/stories".into()),
        ),
        (
            "filter by activity",
            format!("/workspace/stories?activity={activity}"),
        ),
        (
            "filter by municipality",
            "/workspace/stories?municipality=Delft".to_string(),
        ),
        (
            "search, common word",
            "/workspace/stories?q=moeder".to_string(),
        ),
        ("search, rare word", format!("/workspace/stories?q={RARE}")),
        (
            "activity view (stories + figures)",
            format!("/workspace/stories?activity={activity}&tag_state=confirmed"),
        ),
        ("report", format!("/workspace/report?activity={activity}")),
    ] {
        results.push(time(&client, &server, t, name, &path, runs).await?);
    }
    let rss_pages = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
    // The exports' own peak: sampled while they run.
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                let kb = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
                peak.fetch_max(kb, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let all_exports = [
        ("stories.csv (all)", "/workspace/export/stories.csv"),
        ("project.qdpx (all)", "/workspace/export/project.qdpx"),
    ];
    for (name, path) in all_exports.into_iter().filter(|_| exports) {
        results.push(time(&client, &server, t, name, path, 1).await?);
    }
    sampler.abort();
    let export_peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    let rss_after = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
    let hwm = proc_status_kb(pid, "VmHWM:").unwrap_or(0);
    println!("\n| endpoint | median ms | p99 ms | answer bytes |");
    println!("|---|---:|---:|---:|");
    for r in &results {
        println!(
            "| {} | {:.1} | {:.1} | {} |",
            r.name, r.median, r.p99, r.bytes
        );
    }
    let mb = |kb: u64| kb as f64 / 1024.0;
    let during_exports = if exports {
        format!(", {:.0} MB at most during the exports", mb(export_peak))
    } else {
        String::new()
    };
    println!(
        "\nserver memory (resident): {:.0} MB before the requests, {:.0} MB after the pages and \
         searches{during_exports}, {:.0} MB after; peak of the whole run {:.0} MB (includes the fill)",
        mb(rss_before),
        mb(rss_pages),
        mb(rss_after),
        mb(hwm)
    );
    server.terminate()?;
    Ok(())
}
