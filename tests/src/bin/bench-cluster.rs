//! bench-cluster: the cluster's figures for BENCHMARKS.md ("A cluster", issue 17).
//!
//! - cross-process edit → arrival: a device edits through sync process A, a coordinator's device
//!   on sync process B receives; one edit at a time, each timed on arrival (p50/p99);
//! - upload throughput: tus uploads of `--upload-mib` MiB each through one process whose blobs are
//!   in the data directory, then through one whose blobs are in an S3 bucket (the s3s-fs server
//!   the test command builds, `VERTEL_TEST_S3_BIN`);
//! - the transcription queue's throughput with one and with two worker processes (`--role
//!   worker`), with the fake transcriber's fixed cost per recording (`--fake-ms`), so the figure is
//!   the queue's (claim, fetch from S3, status and transcript writes) and the workers' scaling, not
//!   Whisper's; `--real N` adds N recordings with the real model.
//!
//! Needs `VERTEL_TEST_PG_URL` and `VERTEL_TEST_S3_BIN` (scripts/lib.sh) and a built
//! `vertel-server` (`cargo build --release -p vertel-server` for release figures).

use anyhow::{Context, Result};
use client_core::story::{self, Attachment};
use client_core::wire::DocumentId;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use vertel_tests::cluster::OwnS3;
use vertel_tests::{Backend, Device, Env, Server, device, parent_story};

struct Args {
    edits: usize,
    uploads: usize,
    upload_mib: usize,
    jobs: usize,
    fake_ms: u64,
    real: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        edits: 200,
        uploads: 12,
        upload_mib: 8,
        jobs: 24,
        fake_ms: 250,
        real: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || -> Result<usize> { Ok(it.next().context("a value")?.parse()?) };
        match flag.as_str() {
            "--edits" => a.edits = value()?,
            "--uploads" => a.uploads = value()?,
            "--upload-mib" => a.upload_mib = value()?,
            "--jobs" => a.jobs = value()?,
            "--fake-ms" => a.fake_ms = value()? as u64,
            "--real" => a.real = value()?,
            "--quick" => {
                a.edits = 40;
                a.uploads = 4;
                a.jobs = 8;
            }
            other => anyhow::bail!(
                "unknown flag {other}: --edits N --uploads N --upload-mib N --jobs N --fake-ms MS --real N --quick"
            ),
        }
    }
    Ok(a)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Upload `bytes` (tus: create, one PATCH) to story `id`.
async fn upload(server: &Server, token: &str, id: DocumentId, bytes: &[u8]) -> Result<()> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let http = reqwest::Client::new();
    let created = http
        .post(server.url("/api/v1/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len().to_string())
        .header(
            "Upload-Metadata",
            format!(
                "sha256 {},story {},mime {}",
                b64(&sha256_hex(bytes)),
                b64(&id.to_string()),
                b64("audio/ogg")
            ),
        )
        .send()
        .await?;
    anyhow::ensure!(created.status() == 201, "create: {}", created.status());
    if created
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        == Some(bytes.len().to_string().as_str())
    {
        return Ok(()); // stored already (deduplicated): nothing to send
    }
    let loc = created
        .headers()
        .get("location")
        .context("Location")?
        .to_str()?
        .to_string();
    let done = http
        .patch(server.url(&loc))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body(bytes.to_vec())
        .send()
        .await?;
    anyhow::ensure!(done.status() == 204, "patch: {}", done.status());
    Ok(())
}

async fn story_with_note(phone: &Device, bytes: &[u8]) -> Result<DocumentId> {
    let id = phone.create_story(&parent_story("Meting", "")).await?;
    let a = Attachment {
        sha256: sha256_hex(bytes),
        mime: "audio/ogg".into(),
        size: bytes.len() as u64,
    };
    phone
        .edit(id, |d| story::add_attachment(d, &a, 1_763_900_100_000))
        .await?;
    Ok(id)
}

async fn confirmed(d: &Device) -> Result<()> {
    d.wait_for("confirmation", Duration::from_secs(60), |d| async move {
        d.unconfirmed().await.is_empty()
    })
    .await?;
    Ok(())
}

/// A database of its own for each measurement: jobs and blobs of one never count in another (a
/// database's processes must share one blob store).
async fn fresh_env() -> Result<Env> {
    let env = Env::new(Backend::Postgres).await?;
    env.workspace("bench")?;
    Ok(env)
}

async fn edit_to_arrival(env: &Env, vars: &[(String, String)], edits: usize) -> Result<()> {
    let a = Server::start_with_env(env, &["--role", "sync"], vars).await?;
    let b = Server::start_with_env(env, &["--role", "sync"], vars).await?;
    let prof = a.login_as("professional", "bench").await?;
    let coord = b.login_as("coordinator", "bench").await?;
    let phone = device(env, "edit-phone").await?;
    phone.connect(&a.ws_url(), &prof.token).await?;
    let desk = device(env, "edit-desk").await?;
    desk.connect(&b.ws_url(), &coord.token).await?;
    let id = phone.create_story(&parent_story("Meting", "")).await?;
    confirmed(&phone).await?;
    desk.want([id]).await?;
    desk.wait_for("story", Duration::from_secs(30), |d| async move {
        d.story(&id).await.is_some()
    })
    .await?;
    let mut ms = Vec::with_capacity(edits);
    for n in 0..edits {
        let title = format!("edit {n}");
        let started = Instant::now();
        let t = title.clone();
        phone
            .edit(id, move |d| story::set_title(d, &t, 10 + n as i64))
            .await?;
        desk.wait_for("arrival", Duration::from_secs(30), |d| {
            let title = title.clone();
            async move { d.story(&id).await.is_some_and(|s| s.title == title) }
        })
        .await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "edit → arrival across processes ({edits} edits, one at a time): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        percentile(&ms, 1.0)
    );
    Ok(())
}

async fn upload_throughput(
    env: &Env,
    vars: &[(String, String)],
    what: &str,
    uploads: usize,
    mib: usize,
) -> Result<()> {
    let server = Server::start_with_env(env, &["--role", "sync"], vars).await?;
    let prof = server.login_as("professional", "bench").await?;
    let phone = device(env, &format!("upload-{what}")).await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let mut notes = Vec::new();
    for _ in 0..uploads {
        let bytes: Vec<u8> = (0..mib * 1024 * 1024)
            .map(|_| rand::random::<u8>())
            .collect();
        let id = story_with_note(&phone, &bytes).await?;
        notes.push((id, bytes));
    }
    confirmed(&phone).await?;
    let started = Instant::now();
    for (id, bytes) in &notes {
        if let Err(e) = upload(&server, &prof.token, *id, bytes).await {
            let log = server.log();
            let tail = &log[log.len().saturating_sub(2000)..];
            anyhow::bail!("{e:#}; the server's log ends:\n{tail}");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "upload throughput, {what}: {uploads} × {mib} MiB in {secs:.2} s = {:.1} MiB/s ({:.0} ms per upload)",
        (uploads * mib) as f64 / secs,
        secs * 1000.0 / uploads as f64
    );
    Ok(())
}

async fn depth(server: &Server) -> Result<i64> {
    let h: Value = reqwest::get(server.url("/healthz")).await?.json().await?;
    h["queues"]["transcription_depth"]
        .as_i64()
        .context("transcription_depth")
}

/// `jobs` recordings queued through a sync process, drained by `workers` worker processes.
async fn queue_throughput(
    env: &Env,
    vars: &[(String, String)],
    workers: usize,
    jobs: usize,
    transcriber: &[&str],
    notes: &[Vec<u8>],
) -> Result<f64> {
    let sync = Server::start_with_env(env, &["--role", "sync"], vars).await?;
    let prof = sync.login_as("professional", "bench").await?;
    let phone = device(env, &format!("queue-{workers}-{}", rand::random::<u32>())).await?;
    phone.connect(&sync.ws_url(), &prof.token).await?;
    let mut queued = Vec::new();
    for n in 0..jobs {
        let bytes = notes[n % notes.len()].clone();
        let id = story_with_note(&phone, &bytes).await?;
        queued.push((id, bytes));
    }
    confirmed(&phone).await?;
    for (id, bytes) in &queued {
        upload(&sync, &prof.token, *id, bytes).await?;
    }
    let mut args = vec!["--role", "worker", "--job-poll-ms", "100"];
    args.extend_from_slice(transcriber);
    let started = Instant::now();
    let mut running = Vec::new();
    for _ in 0..workers {
        running.push(Server::start_with_env(env, &args, vars).await?);
    }
    let deadline = started + Duration::from_secs(1800);
    while depth(&sync).await? > 0 {
        anyhow::ensure!(Instant::now() < deadline, "the queue was not drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(started.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let a = args()?;
    println!(
        "bench-cluster on {} CPUs, load average {} at the start; server {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
        vertel_tests::server_binary().display()
    );
    let s3 = OwnS3::start()?;
    let env = Env::new(Backend::Postgres).await?;
    env.workspace("bench")?;
    let on_s3 = s3.server_env();

    edit_to_arrival(&env, &on_s3, a.edits).await?;
    upload_throughput(&env, &[], "local data directory", a.uploads, a.upload_mib).await?;
    upload_throughput(
        &env,
        &on_s3,
        "S3 (s3s-fs on loopback)",
        a.uploads,
        a.upload_mib,
    )
    .await?;

    let fake = a.fake_ms.to_string();
    let fake_args = ["--fake-transcriber", fake.as_str()];
    // A recording of its own per job (the fake transcriber hashes the bytes, decodes nothing).
    let junk: Vec<Vec<u8>> = (0..a.jobs)
        .map(|_| (0..64 * 1024).map(|_| rand::random::<u8>()).collect())
        .collect();
    for workers in [1, 2] {
        let env = fresh_env().await?;
        let secs = queue_throughput(&env, &on_s3, workers, a.jobs, &fake_args, &junk).await?;
        println!(
            "transcription queue, fake transcriber {} ms, {workers} worker process(es): {} jobs in {secs:.2} s = {:.2} jobs/s",
            a.fake_ms,
            a.jobs,
            a.jobs as f64 / secs
        );
    }
    if a.real > 0 {
        let dir = tempfile::tempdir()?;
        let wav = dir.path().join("note.wav");
        let ogg = dir.path().join("note.ogg");
        let ok = std::process::Command::new("espeak-ng")
            .args(["-v", "en", "-w"])
            .arg(&wav)
            .arg("The children played outside all afternoon, and the parents talked.")
            .status()?
            .success()
            && std::process::Command::new("ffmpeg")
                .args(["-loglevel", "error", "-y", "-i"])
                .arg(&wav)
                .args(["-c:a", "libopus"])
                .arg(&ogg)
                .status()?
                .success();
        anyhow::ensure!(ok, "espeak-ng and ffmpeg make the recording");
        let note = vec![std::fs::read(&ogg)?];
        for workers in [1, 2] {
            let threads = ["--transcribe-threads", if workers == 1 { "2" } else { "1" }];
            let env = fresh_env().await?;
            let secs = queue_throughput(&env, &on_s3, workers, a.real, &threads, &note).await?;
            println!(
                "transcription queue, Whisper base, {workers} worker process(es) ({} threads each): {} recordings of ~4 s in {secs:.1} s = {:.3} recordings/s (model loading included)",
                threads[1],
                a.real,
                a.real as f64 / secs
            );
        }
    }
    println!("load average at the end: {}", load_average());
    drop(s3);
    Ok(())
}
