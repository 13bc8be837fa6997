//! The command line: which workloads run, at what size ([`Params`]), and how our servers start
//! ([`Setup`]). Parsed with clap; nothing here runs a workload.

use crate::util::Clock;
use anyhow::{Context, Result, bail};
use clap::Parser;
use vertel_tests::Backend;

/// The sizes of the workloads.
#[derive(Debug, Clone)]
pub struct Params {
    /// Stories a fresh device catches up on.
    pub catchup_stories: usize,
    /// A second, smaller catch-up (0: none).
    pub catchup_small: usize,
    /// Devices connected during the editing run (editors + watchers + idle).
    pub devices: usize,
    /// Devices editing; as many watchers follow them.
    pub editors: usize,
    /// Edits per second per editor in the steady phase (latency).
    pub edit_rate: f64,
    /// Length of each editing phase.
    pub edit_secs: u64,
    /// Edits an editor may have unacknowledged in the max-ingest phase.
    pub window: usize,
    /// Stories stored for the memory run.
    pub stored_stories: usize,
    /// Stories one device syncs after the restart.
    pub synced_after_restart: usize,
    /// `--doc-idle-secs` for the memory run.
    pub idle_secs: u64,
}

impl Params {
    fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let n = || {
            value
                .parse::<u64>()
                .with_context(|| format!("{name}={value}"))
        };
        match name {
            "catchup_stories" => self.catchup_stories = n()? as usize,
            "catchup_small" => self.catchup_small = n()? as usize,
            "devices" => self.devices = n()? as usize,
            "editors" => self.editors = n()? as usize,
            "edit_rate" => self.edit_rate = value.parse()?,
            "edit_secs" => self.edit_secs = n()?,
            "window" => self.window = n()? as usize,
            "stored_stories" => self.stored_stories = n()? as usize,
            "synced_after_restart" => self.synced_after_restart = n()? as usize,
            "idle_secs" => self.idle_secs = n()?,
            _ => bail!("no parameter {name}"),
        }
        Ok(())
    }

    fn full() -> Self {
        Params {
            catchup_stories: 10_000,
            catchup_small: 1_000,
            devices: 2_000,
            editors: 300,
            edit_rate: 5.0,
            edit_secs: 20,
            window: 8,
            stored_stories: 100_000,
            synced_after_restart: 100,
            idle_secs: 5,
        }
    }

    fn quick() -> Self {
        Params {
            catchup_stories: 1_000,
            catchup_small: 0,
            devices: 200,
            editors: 30,
            edit_rate: 5.0,
            edit_secs: 5,
            window: 8,
            stored_stories: 5_000,
            synced_after_restart: 20,
            idle_secs: 3,
        }
    }
}

/// Sync benchmarks of vertel-server, and the same workloads against the reference automerge-repo
/// sync server, on loopback.
#[derive(Parser, Debug)]
#[command(
    name = "bench-sync",
    after_help = "params: catchup_stories catchup_small devices editors edit_rate edit_secs window stored_stories synced_after_restart idle_secs"
)]
pub struct Opts {
    /// The small workload: shows the harness works (scripts/test.sh runs it).
    #[arg(long)]
    pub quick: bool,
    /// Skip the reference server.
    #[arg(long = "no-reference", action = clap::ArgAction::SetFalse)]
    pub reference: bool,
    /// Workloads to run (default: all).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "catchup,editing,crossprocess,memory"
    )]
    pub only: Option<Vec<String>>,
    /// Overrides of the workload sizes, for exploring (e.g. `edit_secs=60`; names below).
    #[arg(long = "set", value_name = "param=value", value_parser = name_value)]
    pub set: Vec<(String, String)>,
    /// Arguments for our server's `serve` (e.g. `--tagger=off`).
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// Our server on PostgreSQL (`VERTEL_TEST_PG_URL`, a fresh database per server) instead of
    /// the SQLite default.
    #[arg(long)]
    pub postgres: bool,
}

fn name_value(kv: &str) -> Result<(String, String), String> {
    let (k, v) = kv.split_once('=').ok_or("--set needs name=value")?;
    Ok((k.to_string(), v.to_string()))
}

impl Opts {
    pub fn wants(&self, scenario: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == scenario))
    }

    /// The workload sizes: `--quick` or the full ones, with `--set` applied.
    pub fn params(&self) -> Result<Params> {
        let mut p = if self.quick {
            Params::quick()
        } else {
            Params::full()
        };
        for (k, v) in &self.set {
            p.set(k, v)?;
        }
        Ok(p)
    }

    pub fn setup(&self, clock: Clock) -> Setup {
        Setup {
            backend: if self.postgres {
                Backend::Postgres
            } else {
                Backend::Sqlite
            },
            server_args: self.server_args.clone(),
            clock,
        }
    }
}

/// What every workload takes from the run besides its sizes.
#[derive(Clone)]
pub struct Setup {
    /// Where our servers store: SQLite unless `--postgres`.
    pub backend: Backend,
    /// `--server-arg` values, passed to every `vertel-server serve` this run starts.
    pub server_args: Vec<String>,
    /// The clock edit timestamps are written in.
    pub clock: Clock,
}

impl Setup {
    /// `extra`, then the `--server-arg` values.
    pub fn server_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = extra.to_vec();
        args.extend(self.server_args.iter().map(String::as_str));
        args
    }
}
