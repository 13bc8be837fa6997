//! The seeded concurrency test (issue 9): devices editing, voice notes transcribed, the tagger, a
//! coordinator reviewing, compaction and eviction made frequent, and `kill -9` of the server at
//! random moments; on SQLite, and on PostgreSQL with two server processes. At the end nothing any
//! device or server writer was told is stored may be missing (`vertel_tests::chaos` says exactly
//! what is checked).
//!
//! `VERTEL_CHAOS_SEEDS=1,2,3` runs those seeds (to replay a failure); by default two fixed seeds and
//! one taken from the clock (printed). `VERTEL_CHAOS_SECS` sets the chaos per seed (default 15).
//! Long runs: `VERTEL_CHAOS_SEEDS=$(seq -s, 1 20) VERTEL_CHAOS_SECS=20 cargo test -p vertel-tests
//! --test integration chaos -- --nocapture`.

use std::time::Duration;
use vertel_tests::Backend;
use vertel_tests::chaos::{self as harness, Options};

/// Seeds every default run covers, so a regression they caught stays caught.
const FIXED_SEEDS: [u64; 2] = [1, 2];

/// Chaos per seed by default: the whole default run (both backends, three seeds each) stays near a
/// minute and a half on a two-core machine.
const DEFAULT_SECS: f64 = 15.0;

fn seeds() -> anyhow::Result<Vec<u64>> {
    if let Ok(list) = std::env::var("VERTEL_CHAOS_SEEDS")
        && !list.trim().is_empty()
    {
        return list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .map_err(|e| anyhow::anyhow!("VERTEL_CHAOS_SEEDS: {s:?}: {e}"))
            })
            .collect();
    }
    // A new seed each run widens what the suite explores over time; it is printed, so a failure
    // can be replayed.
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000)
        .unwrap_or(3);
    let mut seeds = FIXED_SEEDS.to_vec();
    seeds.push(clock);
    Ok(seeds)
}

fn duration() -> anyhow::Result<Duration> {
    let secs = match std::env::var("VERTEL_CHAOS_SECS") {
        Ok(s) if !s.trim().is_empty() => s
            .trim()
            .parse::<f64>()
            .map_err(|e| anyhow::anyhow!("VERTEL_CHAOS_SECS: {s:?}: {e}"))?,
        _ => DEFAULT_SECS,
    };
    anyhow::ensure!(secs > 0.0, "VERTEL_CHAOS_SECS must be positive");
    Ok(Duration::from_secs_f64(secs))
}

async fn chaos(backend: Backend) -> anyhow::Result<()> {
    let seeds = seeds()?;
    let duration = duration()?;
    println!("chaos on {backend:?}: seeds {seeds:?}, {duration:?} each");
    let mut failed = Vec::new();
    for seed in seeds {
        let opts = Options {
            backend,
            seed,
            duration,
        };
        // Every seed runs, even after a failure: a long run reports all of them.
        match harness::run(&opts).await {
            Ok(report) => println!("chaos ok: {report}"),
            Err(_) => failed.push(seed),
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "chaos on {backend:?} failed for seed(s) {failed:?}; each failure is printed above with \
         its replay command"
    );
    Ok(())
}
both!(chaos);
