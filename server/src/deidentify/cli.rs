//! `vertel-server deidentify`: de-identify Dutch text from standard input, evaluate the engine on
//! a labelled set, or time it.

use client_core::deidentify::{Kind, eval, mask};
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct DeidentifyArgs {
    /// Print the spans as JSON (byte offsets, kind, reason, text) instead of the masked text.
    #[arg(long)]
    pub json: bool,
    /// Evaluate on a labelled set (fixtures/deidentify/): precision and recall per kind.
    #[arg(long, value_name = "FILE")]
    pub evaluate: Option<PathBuf>,
    /// With --evaluate: also list every missed identifier and every extra finding.
    #[arg(long, requires = "evaluate")]
    pub misses: bool,
    /// Time the engine on one core over the sentences of a labelled set: MB of text per second.
    #[arg(long, value_name = "FILE", conflicts_with = "evaluate")]
    pub bench: Option<PathBuf>,
    /// With --bench: how long to run.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Keep these visible (comma-separated: municipalities, partner organisations).
    #[arg(long, env = "VERTEL_DEIDENTIFY_KEEP", value_delimiter = ',')]
    pub keep: Vec<String>,
}

fn read_set(path: &PathBuf) -> anyhow::Result<Vec<eval::Labelled>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    eval::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "    -".into(), |v| format!("{v:.3}"))
}

pub fn run(args: DeidentifyArgs) -> anyhow::Result<()> {
    super::configure(&args.keep);
    let engine = super::engine();
    if let Some(path) = &args.evaluate {
        let set = read_set(path)?;
        let r = eval::evaluate(engine, &set);
        if args.json {
            let kinds: serde_json::Map<String, serde_json::Value> = r
                .per_kind
                .iter()
                .map(|(k, s)| {
                    (
                        k.code().to_string(),
                        serde_json::json!({
                            "labelled": s.gold, "found": s.found, "typed": s.typed,
                            "predicted": s.predicted, "right": s.right,
                            "recall": s.recall(), "typed_recall": s.typed_recall(),
                            "precision": s.precision(),
                        }),
                    )
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "set": path.display().to_string(),
                    "sentences": r.sentences,
                    "kinds": kinds,
                    "overall": {
                        "labelled": r.total.gold, "predicted": r.total.predicted,
                        "recall": r.total.recall(), "typed_recall": r.total.typed_recall(),
                        "precision": r.total.precision(),
                    },
                }))?
            );
            return Ok(());
        }
        println!("{} ({} sentences)", path.display(), r.sentences);
        println!(
            "{:<11} {:>8} {:>7} {:>12} {:>10} {:>10}",
            "kind", "labelled", "recall", "typed recall", "findings", "precision"
        );
        for k in Kind::ALL {
            let Some(s) = r.per_kind.get(&k) else {
                continue;
            };
            println!(
                "{:<11} {:>8} {:>7} {:>12} {:>10} {:>10}",
                k.code(),
                s.gold,
                pct(s.recall()),
                pct(s.typed_recall()),
                s.predicted,
                pct(s.precision())
            );
        }
        let t = &r.total;
        println!(
            "{:<11} {:>8} {:>7} {:>12} {:>10} {:>10}",
            "overall",
            t.gold,
            pct(t.recall()),
            pct(t.typed_recall()),
            t.predicted,
            pct(t.precision())
        );
        if args.misses {
            for m in &r.misses {
                println!(
                    "line {:>4} {:<6} {:<10} {:?} {}",
                    m.line,
                    m.what,
                    m.kind.code(),
                    m.text,
                    m.reason
                );
            }
        }
        return Ok(());
    }
    if let Some(path) = &args.bench {
        let set = read_set(path)?;
        // Stories of about 2 KB, as field notes are: the sentences joined in order.
        let mut stories = Vec::new();
        let mut cur = String::new();
        for l in &set {
            cur.push_str(&l.text);
            cur.push(' ');
            if cur.len() > 2000 {
                stories.push(std::mem::take(&mut cur));
            }
        }
        if !cur.is_empty() {
            stories.push(cur);
        }
        let bytes_per_round: usize = stories.iter().map(String::len).sum();
        let started = Instant::now();
        let (mut bytes, mut spans) = (0usize, 0usize);
        while started.elapsed().as_secs_f64() < args.seconds {
            for s in &stories {
                spans += engine.find(s).len();
            }
            bytes += bytes_per_round;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{} stories of about {} bytes, {:.1} MB in {secs:.2} s on one thread: {:.2} MB/s ({spans} spans)",
            stories.len(),
            bytes_per_round / stories.len().max(1),
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / secs
        );
        return Ok(());
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let spans = engine.find(&text);
    if args.json {
        let out: Vec<serde_json::Value> = spans
            .iter()
            .map(|s| {
                serde_json::json!({
                    "start": s.start, "end": s.end, "kind": s.kind.code(),
                    "label": s.kind.label(), "reason": s.reason,
                    "text": &text[s.start..s.end],
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", mask(&text, &spans));
    }
    Ok(())
}
