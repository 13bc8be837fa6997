//! Small tools the workloads share: the clock edits are timed in, a process's memory and CPU from
//! /proc, waiting for a quiet server, counting documents that reached a state, running tasks with a
//! limit, the sample story, where device stores go. Nothing here starts a server or a device.

use anyhow::{Context, Result, ensure};
use client_core::automerge::{self, Automerge, ReadDoc, ScalarValue};
use client_core::native::Device;
use client_core::story::NewStory;
use client_core::{DocumentId, Event};
use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use vertel_tests::parent_story;

/// The clock edit timestamps are written in: microseconds since the harness started. Editors write
/// it into the title, watchers read it on arrival, all in this process.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn start() -> Clock {
        Clock(Instant::now())
    }

    pub fn micros(self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }
}

/// Whether process `pid` is running (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

pub fn rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")
}

/// User + system CPU seconds of a process.
pub fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').context("bad stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3, utime field 14, stime field 15.
    let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(ticks as f64 / hz)
}

/// Wait until the server is quiet (under 3% of a core for three seconds, longer than the tagger's
/// debounce), so background work left by a previous step (the tagger's backlog after thousands
/// of new stories) does not run into the next timed step. Gives up after two minutes.
pub async fn settle(label: &str, pid: u32) -> Result<()> {
    settle_within(label, pid, Duration::from_secs(120)).await
}

pub async fn settle_within(label: &str, pid: u32, limit: Duration) -> Result<()> {
    let t = Instant::now();
    loop {
        let before = cpu_secs(pid)?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let busy = cpu_secs(pid)? - before;
        if busy < 0.09 || t.elapsed() > limit {
            if t.elapsed() > Duration::from_secs(4) {
                println!(
                    "  [{label}] server quiet after {:.0} s",
                    t.elapsed().as_secs_f64()
                );
            }
            return Ok(());
        }
    }
}

/// Raise the soft open-file limit to the hard limit (children inherit it).
pub fn raise_nofile() -> Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the struct we pass.
    unsafe {
        ensure!(
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0,
            "getrlimit"
        );
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            ensure!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0, "setrlimit");
        }
    }
    Ok(lim.rlim_cur)
}

pub fn sample_story(i: usize) -> NewStory {
    NewStory {
        place_type: None,
        ..parent_story(
            &format!("Verhaal {i}"),
            "We spraken bij de speeltuin over de eerste weken thuis, over slapen en over hulp \
             van de buren. Ze vertelde dat de wijkverpleegkundige veel had uitgelegd.",
        )
    }
}

/// The send time an edit wrote into the title (`bench <seq> <micros>`).
pub fn title_timestamp(doc: &Automerge) -> Option<u64> {
    let (value, _) = doc.get(automerge::ROOT, "title").ok()??;
    let automerge::Value::Scalar(s) = value else {
        return None;
    };
    let ScalarValue::Str(title) = s.as_ref() else {
        return None;
    };
    let mut parts = title.split(' ');
    (parts.next() == Some("bench")).then_some(())?;
    parts.nth(1)?.parse().ok()
}

/// Documents that reached some state, counted once each, with a way to wait for a count.
#[derive(Clone)]
pub struct Tracker {
    pub seen: Arc<Mutex<HashSet<DocumentId>>>,
    pub count: Arc<watch::Sender<usize>>,
}

impl Tracker {
    pub fn new() -> Tracker {
        Tracker {
            seen: Arc::default(),
            count: Arc::new(watch::Sender::new(0)),
        }
    }

    pub fn add(&self, id: DocumentId) {
        let n = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if !seen.insert(id) {
                return;
            }
            seen.len()
        };
        self.count.send_modify(|c| *c = (*c).max(n));
    }

    /// Wait until `n` documents are counted; fail early if the server process `pid` died.
    pub async fn wait(&self, n: usize, timeout: Duration, what: &str, pid: u32) -> Result<()> {
        let mut rx = self.count.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            let slice = Duration::from_millis(500);
            if let Ok(got) = tokio::time::timeout(slice, rx.wait_for(|c| *c >= n)).await {
                got?;
                return Ok(());
            }
            let have = *self.count.borrow();
            ensure!(
                alive(pid),
                "the server died while waiting for {what} ({have} of {n})"
            );
            ensure!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}: {have} of {n}"
            );
        }
    }

    /// Count documents that become confirmed by the server.
    pub fn confirmations(device: &Device) -> Tracker {
        let t = Tracker::new();
        let t2 = t.clone();
        device.observe(move |e, _| {
            if let Event::SyncStatus {
                id,
                confirmed: true,
            } = e
            {
                t2.add(*id);
            }
        });
        t
    }

    /// Count documents that arrive (change because of the remote).
    pub fn arrivals(device: &Device) -> Tracker {
        let t = Tracker::new();
        let t2 = t.clone();
        device.observe(move |e, _| {
            if let Event::DocChanged { id } = e {
                t2.add(*id);
            }
        });
        t
    }
}

/// Run `f(0..n)` with at most `limit` at a time; results in order. The first error wins.
pub async fn concurrently<T, F, Fut>(n: usize, limit: usize, f: F) -> Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let sem = Arc::new(Semaphore::new(limit));
    let mut set = JoinSet::new();
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let fut = f(i);
        set.spawn(async move {
            let r = fut.await;
            drop(permit);
            (i, r)
        });
        // Collect finished ones early so an error stops the run promptly.
        while let Some(done) = set.try_join_next() {
            let (i, r) = done?;
            out[i] = Some(r?);
        }
    }
    while let Some(done) = set.join_next().await {
        let (i, r) = done?;
        out[i] = Some(r?);
    }
    Ok(out
        .into_iter()
        .map(|o| o.expect("every task ran"))
        .collect())
}

pub fn percentile(sorted: &[u64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1] as f64)
}

pub fn devices_dir() -> Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new()
        .prefix("vertel-bench-devices-")
        .clone();
    // Only a roomy one: containers often mount a 64 MB /dev/shm, and a run stores tens of MB.
    let free_kb = Command::new("df")
        .args(["-Pk", "/dev/shm"])
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.lines()
                .nth(1)?
                .split_whitespace()
                .nth(3)?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    if shm.is_dir()
        && free_kb >= 2 * 1024 * 1024
        && let Ok(d) = b.tempdir_in(shm)
    {
        return Ok(d);
    }
    Ok(b.tempdir()?)
}

/// Waits for a whole workload.
pub const LONG: Duration = Duration::from_secs(600);
/// Waits for one device's setup step.
pub const SHORT: Duration = Duration::from_secs(60);
