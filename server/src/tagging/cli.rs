//! `vertel-server tag`: tag one story text from standard input, evaluate the tagger on a labelled
//! set, or time it. Uses the same rules and cold-start model the worker uses.

use super::eval;
use super::model::{Settings, Suggester};
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
    /// precision, recall and F1 per activity and micro-averaged on FILE (the held-out set), the
    /// rules alone on FILE, k-fold cross-validation on the tuning corpus, and the learning curve
    /// of a simulated workspace.
    #[arg(long, value_name = "FILE")]
    pub evaluate: Option<PathBuf>,
    /// With --evaluate: folds of the cross-validation on the tuning corpus (0: none, and no
    /// learning curve).
    #[arg(long, default_value_t = 5, requires = "evaluate")]
    pub folds: usize,
    /// The rules alone, without the learned model.
    #[arg(long)]
    pub rules_only: bool,
    /// Fit the cold-start model on the embedded tuning corpus and write it to FILE (JSON; the
    /// build embeds fixtures/eval/cold-start-model.json).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["evaluate", "bench"])]
    pub fit_cold_start: Option<PathBuf>,
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
    if let Some(path) = &args.fit_cold_start {
        let model = super::fit_cold_start().map_err(anyhow::Error::msg)?;
        let stored = model.to_stored(&super::cold_start_fingerprint());
        // One activity per line, so a refit shows as a readable diff.
        let mut out = format!(
            "{{\"format\":{},\"trained_on\":{},\"features\":{},\"activities\":[\n",
            stored.format,
            serde_json::to_string(&stored.trained_on)?,
            serde_json::to_string(&stored.features)?
        );
        for (i, a) in stored.activities.iter().enumerate() {
            out.push_str(&serde_json::to_string(a)?);
            out.push_str(if i + 1 < stored.activities.len() {
                ",\n"
            } else {
                "\n"
            });
        }
        out.push_str("]}\n");
        std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))?;
        println!(
            "cold-start model: {} features, {} activities, fingerprint {}",
            stored.features.len(),
            stored.activities.len(),
            stored.trained_on
        );
        return Ok(());
    }
    let rules = std::sync::Arc::new(Tagger::new(&taxonomy(&args).await?));
    let rules_only = Suggester::rules_only(rules.clone());
    let tagger = if args.rules_only {
        rules_only.clone()
    } else {
        Suggester {
            rules: rules.clone(),
            model: Some(super::cold_start_model().map_err(anyhow::Error::msg)?),
        }
    };
    if let Some(path) = &args.evaluate {
        let set = read_set(path)?;
        let name = path.display().to_string();
        let report = eval::evaluate(&tagger, &set);
        let rules_report = eval::evaluate(&rules_only, &set);
        let settings = Settings {
            folds: args.folds.max(2),
            ..Settings::default()
        };
        let corpus = super::tuning_corpus().map_err(anyhow::Error::msg)?;
        let cv = (args.folds > 0).then(|| eval::cross_validate(&rules, corpus, &settings));
        let curve = match (&tagger.model, args.folds > 0) {
            (Some(cold), true) => {
                let ws = eval::SimulatedWorkspace::parse(eval::SIMULATED_WORKSPACE)
                    .map_err(anyhow::Error::msg)?;
                eval::learning_curve(&rules, corpus, cold, &ws, &[0, 10, 25, 50], &settings)
            }
            _ => Vec::new(),
        };
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "heldout": report,
                    "rules_only": rules_report,
                    "cross_validation": cv,
                    "folds": args.folds,
                    "learning_curve": curve,
                }))?
            );
        } else {
            print!("{}", report.render(&name));
            println!(
                "\nthe rules alone on {name}: precision {:.3} recall {:.3} micro-F1 {:.3}",
                rules_report.micro.precision, rules_report.micro.recall, rules_report.micro.f1
            );
            if let Some(cv) = &cv {
                println!();
                print!(
                    "{}",
                    cv.render(&format!(
                        "{}-fold cross-validation on the tuning corpus",
                        args.folds
                    ))
                );
            }
            if !curve.is_empty() {
                println!(
                    "\nlearning curve of a simulated workspace (fixtures/eval/workspace.toml), {} unjudged stories:",
                    curve[0].report.stories
                );
                for p in &curve {
                    println!(
                        "  after {:>3} confirmations per activity: precision {:.3} recall {:.3} micro-F1 {:.3}",
                        p.confirmations,
                        p.report.micro.precision,
                        p.report.micro.recall,
                        p.report.micro.f1
                    );
                }
            }
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
