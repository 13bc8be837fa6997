//! `vertel-server transcribe`: one recording as the server transcribes it, or (`--evaluate DIR`)
//! the evaluation harness over a set made by `fixtures/speech-eval/make-set.sh`.

use super::evaluate;
use super::{language, load_model, mime_for_path};
use crate::media::MediaConfig;
use crate::media::audio::AudioLimits;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(Debug, clap::Args)]
pub struct TranscribeArgs {
    /// A recording: WAV, MP3, Ogg/Opus, WebM/Opus or MP4/AAC.
    #[arg(required_unless_present = "evaluate")]
    pub file: Option<PathBuf>,
    /// Language of the speech (nl, en, ar, …), or `auto` to detect it among the expected
    /// languages (`VERTEL_TRANSCRIBE_LANGUAGES`, default nl, en, ar, tr, pl, uk).
    #[arg(long, default_value = "nl")]
    pub language: String,
    /// The Whisper model [default: ${VERTEL_MODEL_DIR:-~/.cache/vertel/models}/ggml-base.bin].
    #[arg(long, env = "VERTEL_MODEL_PATH")]
    pub model_path: Option<PathBuf>,
    /// CPU threads [default: the number of CPUs].
    #[arg(long, env = "VERTEL_TRANSCRIBE_THREADS")]
    pub threads: Option<usize>,
    /// Print JSON (text, language, model, timed segments with confidence, translation) instead of
    /// the text.
    #[arg(long)]
    pub json: bool,
    /// Evaluate over DIR (its manifest.tsv, from fixtures/speech-eval/make-set.sh) and print a
    /// table: word error rates, silence and noise clips with text, real-time factor.
    #[arg(long, value_name = "DIR")]
    pub evaluate: Option<PathBuf>,
    /// With --evaluate: configurations to compare, comma-separated (`greedy` or `beamN`, then
    /// `+vad`, `+filter`, `+prompt`, `+detect`, `+fit` (the encoder context fitted to short
    /// speech); `server` is the server's) [default: the full
    /// comparison, or `server` with --quick].
    #[arg(long, value_delimiter = ',')]
    pub configs: Vec<String>,
    /// With --evaluate: a subset (every silence and noise clip, 8 Dutch and 2 English sentences)
    /// with the server's configuration, failing when a silence or noise clip gives text or the
    /// Dutch word error rate is over --max-wer-nl.
    #[arg(long)]
    pub quick: bool,
    /// With --evaluate: fail when the last configuration's Dutch word error rate is above this
    /// (0–1) [default with --quick: 0.9].
    #[arg(long)]
    pub max_wer_nl: Option<f64>,
    /// With --evaluate: print every clip's transcript on standard error.
    #[arg(long)]
    pub verbose: bool,
}

/// Run the command.
pub fn run(args: TranscribeArgs) -> anyhow::Result<()> {
    let config = MediaConfig {
        model_path: args.model_path.clone(),
        transcribe_threads: args.threads,
        ..Default::default()
    };
    let threads = config.threads();
    let model = load_model(&config.model_path())?;
    if let Some(dir) = &args.evaluate {
        return evaluate_dir(&model, dir, threads, &args);
    }
    let Some(file) = &args.file else {
        anyhow::bail!("give a recording, or --evaluate DIR");
    };
    let t = model.transcribe_with(
        file,
        mime_for_path(file),
        language::choose(Some(&args.language), &[]),
        &super::Decoding::server(),
        threads,
        AudioLimits::default(),
        |_| {},
        Arc::new(AtomicBool::new(false)),
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else if t.text.is_empty() {
        eprintln!("geen spraak gevonden (no speech found)");
    } else {
        println!("{}", t.text);
    }
    Ok(())
}

fn evaluate_dir(
    model: &super::Model,
    dir: &std::path::Path,
    threads: usize,
    args: &TranscribeArgs,
) -> anyhow::Result<()> {
    let mut clips = evaluate::read_manifest(dir)?;
    if args.quick {
        clips = evaluate::quick_subset(&clips);
    }
    let configs: Vec<String> = if !args.configs.is_empty() {
        args.configs.clone()
    } else if args.quick {
        vec!["server".into()]
    } else {
        evaluate::FULL_CONFIGS
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    for c in &configs {
        evaluate::parse_config(c)?;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let count = |kind: &str, lang: Option<&str>| {
        clips
            .iter()
            .filter(|c| c.kind == kind && lang.is_none_or(|l| c.language == l))
            .count()
    };
    println!(
        "{} · {threads} threads · {} CPUs · load average {} at start · {} Dutch, {} English, {} silence/noise, {} noisy-speech clips · beam of the server {}",
        model.name,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        load.join(" "),
        count("speech", Some("nl")),
        count("speech", Some("en")),
        count("no-speech", None),
        count("noisy-speech", None),
        super::model::BEAM,
    );
    println!();
    println!("{}", evaluate::TABLE_HEAD);
    let mut last = None;
    for name in &configs {
        let s = evaluate::score(model, dir, &clips, name, threads, args.verbose)?;
        println!("{}", s.row());
        last = Some(s);
    }
    let load_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!();
    println!(
        "load average at the end: {}",
        load_end
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let Some(last) = last else {
        return Ok(());
    };
    let max_wer = args.max_wer_nl.or(args.quick.then_some(0.9));
    let mut failed = Vec::new();
    if args.quick && last.silent.1 > 0 {
        failed.push(format!(
            "{} of {} silence/noise clips gave text",
            last.silent.1, last.silent.0
        ));
    }
    if let Some(max) = max_wer
        && last.wer_nl() > max
    {
        failed.push(format!(
            "Dutch word error rate {:.1} % is over {:.1} %",
            100.0 * last.wer_nl(),
            100.0 * max
        ));
    }
    if !failed.is_empty() {
        anyhow::bail!("evaluation failed: {}", failed.join("; "));
    }
    Ok(())
}
