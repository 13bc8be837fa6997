//! Benchmark harness for voice notes (BENCHMARKS.md, "Voice notes (issue 4)").
//!
//! Measures, on the same recording and thread count, interleaved and repeated:
//! - `whisper`: whisper.cpp alone — one `whisper_full` call on 16 kHz samples already in memory,
//!   with exactly the parameters the server uses (`transcribe::full_params`);
//! - `file-wav`: the server's transcription path on the 16 kHz WAV (`Model::transcribe_file`:
//!   container probe, decoding, whisper, segments);
//! - `file-opus`: the same on the recording as Ogg/Opus (libopus decoding, 48 → 16 kHz resampling);
//! - `job`: the whole server pipeline in-process: a queued job on SQLite claimed by a worker, the
//!   recording decoded and transcribed on a blocking thread, progress heartbeats, the transcript
//!   written into the story document and stored, the job finished.
//!
//! ```text
//! cargo run --release -p vertel-server --bin bench-media -- [--runs 5] [--threads 2] [--model PATH]
//! ```
//! Needs espeak-ng and ffmpeg to make the recording (or pass `--wav FILE` with 16 kHz mono speech).
//!
//! `photos` (BENCHMARKS.md, "Photos under load"): the peak resident memory (`VmHWM`) of a real
//! `vertel-server` process while `--parallel` uploads of one small-file, large-dimension PNG
//! (`--side` × `--side` pixels of one colour) complete at once, the server started with the flags
//! after `--`:
//!
//! ```text
//! cargo run -p vertel-server --bin bench-media -- photos [--server PATH] [--parallel 4] \
//!     [--side 7000] [-- --max-image-pixels 50000000 …]
//! ```
//! `--server` defaults to the `vertel-server` beside this binary; another build (an older commit)
//! shows the difference. It sets up its storage with that binary's own CLI and so runs any version.

use anyhow::{Context, Result};
use automerge::Automerge;
use client_core::story;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use vertel_server::db::docs::DocMeta;
use vertel_server::db::{Db, default_url};
use vertel_server::media::{Media, MediaConfig, audio, blobs, transcribe};
use vertel_server::sync::hub::{Hub, Limits};

const TEXT: &str = "Every morning the nurse visits young families in the neighbourhood. \
    She listens to the parents and writes down what they need. \
    Some mothers ask about sleep, others about food or about money. \
    The coalition meets every month to read these stories together.";

/// CPU seconds (user + system, all threads) of this process so far.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

struct Stat {
    wall: Vec<f64>,
    cpu: Vec<f64>,
}

impl Stat {
    fn new() -> Stat {
        Stat {
            wall: Vec::new(),
            cpu: Vec::new(),
        }
    }
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return f64::NAN;
    }
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    if std::env::args().nth(1).as_deref() == Some("photos") {
        return photos::run(std::env::args().skip(2).collect()).await;
    }
    let mut runs = 5usize;
    let mut threads = 2usize;
    let mut model_path = transcribe::default_model_path();
    let mut wav_in: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            "--threads" => threads = args.next().context("--threads N")?.parse()?,
            "--model" => model_path = PathBuf::from(args.next().context("--model PATH")?),
            "--wav" => wav_in = Some(PathBuf::from(args.next().context("--wav FILE")?)),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let tmp =
        std::env::temp_dir().join(format!("vertel-bench-media-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&tmp)?;
    let wav = tmp.join("speech16k.wav");
    match &wav_in {
        Some(p) => {
            std::fs::copy(p, &wav)?;
        }
        None => {
            let raw = tmp.join("speech.wav");
            run(Command::new("espeak-ng")
                .args(["-v", "en", "-w"])
                .arg(&raw)
                .arg(TEXT))?;
            run(Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
                .arg(&raw)
                .args(["-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le"])
                .arg(&wav))?;
        }
    }
    let opus = tmp.join("speech.ogg");
    run(Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&wav)
        .args(["-c:a", "libopus", "-b:a", "32k"])
        .arg(&opus))?;

    // whisper.cpp alone gets the samples of the same file, decoded beforehand: the same audio,
    // so the same tokens and the same work; only decoding and the server's glue differ.
    let limits = audio::AudioLimits::default();
    let wav_samples = audio::decode_file(&wav, Some("audio/wav"), limits)?;
    let opus_samples = audio::decode_file(&opus, Some("audio/ogg"), limits)?;
    let seconds = wav_samples.len() as f64 / 16_000.0;
    let model = Arc::new(
        transcribe::Model::load(&model_path)
            .map_err(|e| anyhow::anyhow!("{e}: {}", model_path.display()))?,
    );
    println!(
        "model {} · audio {seconds:.1} s · {threads} threads · {runs} runs per variant · {} CPUs, load {}",
        model.name,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    // The in-process server pipeline.
    let job = JobBench::new(&tmp, &model_path, threads, &opus).await?;

    let lang = Some("en");
    let names = [
        "whisper.cpp alone, WAV samples",
        "transcribe_file, 16 kHz WAV",
        "whisper.cpp alone, Ogg/Opus samples",
        "transcribe_file, Ogg/Opus",
        "server job (queue → story), Ogg/Opus",
        "decoding only, Ogg/Opus → 16 kHz",
    ];
    let mut stats: Vec<Stat> = names.iter().map(|_| Stat::new()).collect();
    // One warm-up round, not counted; then the variants interleaved, so load from other processes
    // spreads over all of them.
    for round in 0..=runs {
        let mut record = |i: usize, w: f64, c: f64| {
            if round > 0 {
                stats[i].wall.push(w);
                stats[i].cpu.push(c);
            }
        };
        // Alternate which goes first, so a burst of load from other processes hits both.
        for phase in 0..2 {
            if (round + phase) % 2 == 0 {
                for (i, samples) in [(0usize, &wav_samples), (2, &opus_samples)] {
                    let mut state = model.context().create_state()?;
                    let (c0, t0) = (cpu_seconds(), Instant::now());
                    state.full(transcribe::full_params(threads, lang), samples)?;
                    record(i, t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
                }
            } else {
                for (i, path, mime) in [(1usize, &wav, "audio/wav"), (3, &opus, "audio/ogg")] {
                    let m = model.clone();
                    let p = path.clone();
                    let (c0, t0) = (cpu_seconds(), Instant::now());
                    let out = tokio::task::spawn_blocking(move || {
                        m.transcribe_file(
                            &p,
                            Some(mime),
                            lang,
                            threads,
                            limits,
                            |_| {},
                            Arc::new(AtomicBool::new(false)),
                        )
                    })
                    .await??;
                    record(i, t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
                    if round == 0 {
                        println!("{mime}: {}", out.text);
                    }
                }
            }
        }
        let (c0, t0) = (cpu_seconds(), Instant::now());
        job.run_once().await?;
        record(4, t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        let (c0, t0) = (cpu_seconds(), Instant::now());
        audio::decode_file(&opus, Some("audio/ogg"), limits)?;
        record(5, t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        eprintln!("round {round} done");
    }

    println!();
    println!(
        "| variant | wall min (s) | wall median (s) | RTF (median) | CPU median (s) | vs whisper.cpp alone on the same file: median wall / min wall |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, name) in names.iter().enumerate() {
        let s = &stats[i];
        let base = match i {
            1 => Some(&stats[0]),
            3..=5 => Some(&stats[2]),
            _ => None,
        };
        let vs = base
            .map(|b| {
                format!(
                    "{:+.1}% / {:+.1}%",
                    (median(&s.wall) / median(&b.wall) - 1.0) * 100.0,
                    (min(&s.wall) / min(&b.wall) - 1.0) * 100.0
                )
            })
            .unwrap_or_else(|| "baseline".into());
        let vs = if i == 5 {
            format!(
                "{:.1}% of whisper (median)",
                median(&s.wall) / median(&stats[2].wall) * 100.0
            )
        } else {
            vs
        };
        println!(
            "| {name} | {:.3} | {:.3} | {:.2} | {:.2} | {vs} |",
            min(&s.wall),
            median(&s.wall),
            median(&s.wall) / seconds,
            median(&s.cpu),
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// A story with one Ogg/Opus voice note on a private SQLite database, and a running worker pool.
struct JobBench {
    media: Arc<Media>,
    hub: Arc<Hub>,
    doc: String,
    _shutdown: tokio::sync::watch::Sender<bool>,
}

impl JobBench {
    async fn new(tmp: &Path, model: &Path, threads: usize, opus: &Path) -> Result<JobBench> {
        let data = tmp.join("data");
        std::fs::create_dir_all(&data)?;
        let db = Db::connect(&default_url(&data), 4).await?;
        let ws = vertel_server::admin::add_workspace(&db, "bench", "Bench").await?;
        let member = vertel_server::admin::add_member(
            &db,
            &ws.slug,
            "bench@example.org",
            "professional",
            None,
            Some("bench-password"),
        )
        .await?
        .member;
        let hub = Hub::new(
            db.clone(),
            Limits {
                max_doc_bytes: 64 * 1024 * 1024,
                idle: Duration::from_secs(3600),
                compact_after: 0,
                ..Limits::default()
            },
            "bench".into(),
        );
        let config = MediaConfig {
            model_path: Some(model.to_path_buf()),
            transcribe_threads: Some(threads),
            job_poll_ms: 20,
            retention_sweep_secs: 3600,
            // Every run queues the recording again.
            max_transcription_requeues: u64::MAX,
            ..MediaConfig::default()
        };
        let (tx, rx) = tokio::sync::watch::channel(false);
        let store = blobs::BlobStore::open(&data, &blobs::BlobArgs::default())?;
        let media = Media::start(
            &config,
            store,
            vertel_server::config::Role::All,
            db.clone(),
            hub.clone(),
            rx,
        )?;

        let bytes = std::fs::read(opus)?;
        let sha = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&bytes))
        };
        let mut doc = Automerge::new();
        story::create_story(
            &mut doc,
            &story::NewStory {
                kind: Some(story::StoryKind::ImpactNarrative),
                title: "bench".into(),
                language: "en".into(),
                captured_at: 1,
                ..Default::default()
            },
        )?;
        story::add_attachment(
            &mut doc,
            &story::Attachment {
                sha256: sha.clone(),
                mime: "audio/ogg".into(),
                size: bytes.len() as u64,
            },
            2,
        )?;
        let id = client_core::wire::DocumentId::from_bytes(rand::random()).to_string();
        let saved = doc.save();
        let heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
        db.create_doc(
            &id,
            &DocMeta {
                workspace_id: ws.id,
                recorder_id: member.id,
                doc_type: "story".into(),
                size: saved.len() as i64,
                deleted: false,
            },
            &saved,
            &heads,
        )
        .await?;
        media
            .store
            .put(&blobs::BlobStore::blob_key(&sha), bytes.clone())
            .await?;
        vertel_server::db::media::insert_blob(
            &db,
            &blobs::NewBlob {
                sha256: &sha,
                kind: blobs::BlobKind::Audio,
                mime: "audio/ogg",
                size: bytes.len() as i64,
                stored_mime: "audio/ogg",
                stored_size: bytes.len() as i64,
                has_thumbnail: false,
                uploaded_by: member.id,
            },
        )
        .await?;
        vertel_server::db::media::add_ref(&db, &sha, &id).await?;
        media.queue.enqueue(&id, &sha).await?;
        let bench = JobBench {
            media,
            hub,
            doc: id,
            _shutdown: tx,
        };
        // The first job loads the model (once per process): not part of any measured run.
        bench.wait_done().await?;
        Ok(bench)
    }

    async fn wait_done(&self) -> Result<()> {
        loop {
            let jobs = self.media.queue.for_story(&self.doc).await?;
            match jobs.first().map(|j| j.status.as_str()) {
                Some("done") => return Ok(()),
                Some("failed") => anyhow::bail!("job failed: {:?}", jobs[0].error),
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Queue the recording again and wait until the transcript is in the stored story.
    async fn run_once(&self) -> Result<()> {
        anyhow::ensure!(self.media.queue.requeue_story(&self.doc).await?.requeued == 1);
        self.wait_done().await?;
        let id = self.doc.parse()?;
        let has = self
            .hub
            .read(id, |d| story::Story::read(d).transcript.is_some())
            .await?
            .unwrap_or(false);
        anyhow::ensure!(has, "no transcript in the story");
        Ok(())
    }
}

/// `bench-media photos`: a server process's peak memory under parallel photo uploads.
mod photos;
