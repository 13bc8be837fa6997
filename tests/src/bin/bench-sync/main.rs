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
//!
//! This folder: `main.rs` runs the workloads and prints the results; `params.rs` is the command
//! line, `util.rs` small shared tools, `peer.rs` the light automerge-repo peer, `servers.rs` the
//! servers under test, `catchup.rs`, `editing.rs`, `crossprocess.rs` and `memory.rs` one workload
//! each (with their rows of the table), `table.rs` the table. Nothing here asserts: it measures.

mod catchup;
mod crossprocess;
mod editing;
mod memory;
mod params;
mod peer;
mod servers;
mod table;
mod util;

use anyhow::{Result, bail, ensure};
use clap::Parser;
use params::{Opts, Params, Setup};
use servers::{Kind, reference_script, reference_unavailable};
use std::future::Future;
use std::time::Duration;
use table::{Row, print_table};
use util::{Clock, devices_dir, raise_nofile};
use vertel_tests::server_binary;

/// Run `f`; on an error, print it and keep it in `errors` (the other workloads still run).
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

/// The devices this machine's open-file limit allows (each is a socket here and one in the
/// server, which inherits the limit); `--quick` runs with fewer idle devices rather than fail.
fn fit_devices(opts: &Opts, p: &mut Params, nofile: u64) -> Result<()> {
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
    Ok(())
}

/// Whether the reference server runs, saying why not.
fn use_reference(opts: &Opts) -> bool {
    if !opts.reference {
        println!("reference: skipped (--no-reference)");
        return false;
    }
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
}

async fn run(opts: Opts, clock: Clock) -> Result<bool> {
    let mut p = opts.params()?;
    if !opts.server_args.is_empty() {
        println!("extra server arguments: {:?}", opts.server_args);
    }
    if opts.postgres {
        ensure!(
            std::env::var_os("VERTEL_TEST_PG_URL").is_some(),
            "--postgres needs VERTEL_TEST_PG_URL (a PostgreSQL server where databases may be created)"
        );
        println!("our server stores in PostgreSQL");
    }
    let setup: Setup = opts.setup(clock);
    let nofile = raise_nofile()?;
    let server_bin = server_binary();
    println!("bench-sync{}", if opts.quick { " --quick" } else { "" });
    println!("machine: {}", table::machine());
    println!("server: {}", server_bin.display());
    println!("open-file limit: {nofile}");
    fit_devices(&opts, &mut p, nofile)?;
    let reference = use_reference(&opts);
    println!("parameters: {p:?}");
    let dirs = devices_dir()?;
    println!("device stores: {}", dirs.path().display());
    let mut errors = Vec::new();
    let mut rows: Vec<Row> = Vec::new();

    let sizes = [p.catchup_stories, p.catchup_small];
    for n in sizes
        .into_iter()
        .filter(|n| *n > 0 && opts.wants("catchup"))
    {
        println!("\n== catch-up of {n} stories ==");
        let ours = attempt(
            "catch-up (ours)",
            &mut errors,
            catchup::catch_up(&setup, Kind::Ours, n, dirs.path()),
        )
        .await;
        let theirs = if reference {
            attempt(
                "catch-up (reference)",
                &mut errors,
                catchup::catch_up(&setup, Kind::Reference, n, dirs.path()),
            )
            .await
        } else {
            None
        };
        rows.extend(catchup::rows(n, &ours, &theirs));
    }

    if opts.wants("editing") {
        println!(
            "\n== {} devices connected, {} editing: {} s steady at {}/s each, {} s at max ingest ==",
            p.devices, p.editors, p.edit_secs, p.edit_rate, p.edit_secs
        );
        let ours = attempt(
            "editing (ours)",
            &mut errors,
            editing::editing(&setup, Kind::Ours, &p),
        )
        .await;
        let theirs = if reference {
            attempt(
                "editing (reference)",
                &mut errors,
                editing::editing(&setup, Kind::Reference, &p),
            )
            .await
        } else {
            None
        };
        rows.extend(editing::rows(&p, &ours, &theirs));
    }

    let mut cross = None;
    if opts.wants("crossprocess") {
        if opts.postgres {
            println!(
                "\n== across processes: 2 server processes on one PostgreSQL, {} editors on A, {} s steady at {}/s each, watchers on A and on B ==",
                p.editors, p.edit_secs, p.edit_rate
            );
            cross = attempt(
                "across processes (ours)",
                &mut errors,
                crossprocess::cross_process(&setup, &p),
            )
            .await;
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
        let stored = memory::stored(&setup, &p, dirs.path());
        if let Some(s) = attempt("memory (ours)", &mut errors, stored).await {
            rows.extend(memory::rows(&s));
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
    println!("\n== results ({}) ==", table::machine());
    if !rows.is_empty() {
        print_table(&rows, ["ours", "reference", "ours/ref"], unjudged);
        if let Some(why) = unjudged {
            println!("¹ targets not judged: {why}");
        }
    }
    if let Some(c) = &cross {
        crossprocess::print(&p, c);
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
    let clock = Clock::start();
    let opts = Opts::parse();
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
            r = run(opts, clock) => r,
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
