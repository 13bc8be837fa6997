//! `vertel-server tag`: tag one story text from standard input, evaluate the tagger on a labelled
//! set, or time it. Uses the same [`Tagger`] the worker uses.

use super::eval;
use super::tagger::Tagger;
use super::taxonomy::Taxonomy;
use crate::config::StorageConfig;
use anyhow::Context;
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Evaluate on a labelled set (TOML, see fixtures/eval/) instead of tagging standard input:
    /// precision, recall and F1 per activity and micro-averaged.
    #[arg(long, value_name = "FILE")]
    pub evaluate: Option<PathBuf>,
    /// With --evaluate: fail (exit 1) when the micro-averaged F1 is below this.
    #[arg(long, value_name = "F1", requires = "evaluate")]
    pub min_f1: Option<f64>,
    /// Time the tagger on one core over the stories of a labelled set: stories per second.
    #[arg(long, value_name = "FILE", conflicts_with = "evaluate")]
    pub bench: Option<PathBuf>,
    /// With --bench: how long to run.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Use this workspace's own activities too (reads the database).
    #[arg(long)]
    pub workspace: Option<String>,
    #[command(flatten)]
    pub storage: StorageConfig,
}

async fn taxonomy(args: &TagArgs) -> anyhow::Result<Taxonomy> {
    let base = super::default_taxonomy()
        .map_err(anyhow::Error::msg)?
        .clone();
    let Some(slug) = &args.workspace else {
        return Ok(base);
    };
    let db = crate::admin::open(&args.storage).await?;
    let ws = db
        .workspace_by_slug(slug)
        .await?
        .with_context(|| format!("no workspace {slug}"))?;
    Ok(base.merged(&db.workspace_activities(ws.id).await?))
}

fn read_set(path: &PathBuf) -> anyhow::Result<Vec<eval::LabelledStory>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    eval::parse_set(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub async fn run(args: TagArgs) -> anyhow::Result<()> {
    let tagger = Tagger::new(&taxonomy(&args).await?);
    if let Some(path) = &args.evaluate {
        let set = read_set(path)?;
        let report = eval::evaluate(&tagger, &set);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", report.render(&path.display().to_string()));
        }
        if let Some(min) = args.min_f1 {
            anyhow::ensure!(
                report.micro.f1 >= min,
                "micro-F1 {:.3} is below {min}",
                report.micro.f1
            );
        }
        return Ok(());
    }
    if let Some(path) = &args.bench {
        let set = read_set(path)?;
        // Warm up, then measure on this thread only.
        let _ = eval::bench(&tagger, &set, 0.2);
        let (stories, secs, words) = eval::bench(&tagger, &set, args.seconds.max(0.1));
        let per_sec = stories as f64 / secs.max(f64::EPSILON);
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "stories": stories,
                    "seconds": secs,
                    "stories_per_second": per_sec,
                    "words_per_second": words as f64 / secs.max(f64::EPSILON),
                    "mean_words_per_story": words as f64 / stories.max(1) as f64,
                })
            );
        } else {
            println!(
                "{stories} stories in {secs:.2} s on one thread: {per_sec:.0} stories/s \
                 ({:.0} words/s, {:.0} words per story)",
                words as f64 / secs.max(f64::EPSILON),
                words as f64 / stories.max(1) as f64
            );
        }
        return Ok(());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the story from standard input")?;
    let suggestions = tagger.suggest(&text);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "suggestions": suggestions }))?
        );
    } else if suggestions.is_empty() {
        println!("no suggestions");
    } else {
        for s in &suggestions {
            let evidence: Vec<String> = s
                .evidence
                .iter()
                .map(|e| format!("\"{}\" ({} {:.2})", e.text, e.term, e.weight))
                .collect();
            println!("{:<32} {:.2}  {}", s.code, s.score, evidence.join(", "));
        }
    }
    Ok(())
}
