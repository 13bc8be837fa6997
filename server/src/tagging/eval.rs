//! Evaluating the tagger on a labelled set (`fixtures/eval/*.toml`): precision, recall and F1 per
//! activity and micro-averaged, and the stories it got wrong. Used by `vertel-server tag
//! --evaluate FILE`; `--bench` times it.

use super::model::{self, Example, Model, Settings, Suggester};
use super::tagger::Tagger;
use super::taxonomy::Dimension;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One labelled story.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelledStory {
    pub id: String,
    /// Who wrote the note (a role), for reading the set; not used by the tagger.
    #[serde(default)]
    pub by: String,
    pub activities: Vec<String>,
    /// `beschrijft` (describes an activity without naming it), `noemt` (names at least one) or
    /// `geen` (no activity), for reading the set; not used by the tagger.
    #[serde(default)]
    pub style: String,
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvalFile {
    story: Vec<LabelledStory>,
}

pub fn parse_set(text: &str) -> Result<Vec<LabelledStory>, String> {
    let f: EvalFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut ids = BTreeSet::new();
    for s in &f.story {
        if !ids.insert(s.id.as_str()) {
            return Err(format!("story id {} is repeated", s.id));
        }
    }
    Ok(f.story)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub tp: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Counts {
    fn finish(&mut self) {
        let p = if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        };
        let r = if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        };
        let f = if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        };
        self.precision = round3(p);
        self.recall = round3(r);
        self.f1 = round3(f);
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A story the tagger got (partly) wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    pub id: String,
    /// Suggested but not labelled.
    pub extra: Vec<String>,
    /// Labelled but not suggested.
    pub missed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub stories: usize,
    pub per_activity: BTreeMap<String, Counts>,
    pub micro: Counts,
    /// Mean F1 over the activities that occur in the labels or the suggestions.
    pub macro_f1: f64,
    pub misses: Vec<Miss>,
}

/// Tag every story and compare the suggested activities with the labels.
pub fn evaluate(tagger: &Suggester, set: &[LabelledStory]) -> Report {
    let tagged: Vec<(LabelledStory, Vec<String>)> = set
        .iter()
        .map(|s| (s.clone(), activities_of(tagger, &s.text)))
        .collect();
    compare(&tagged)
}

/// Counts for stories and the activities suggested for each.
fn compare(tagged: &[(LabelledStory, Vec<String>)]) -> Report {
    let mut per: BTreeMap<String, Counts> = BTreeMap::new();
    let mut misses = Vec::new();
    for (s, suggested) in tagged {
        let gold: BTreeSet<&str> = s.activities.iter().map(String::as_str).collect();
        let got: BTreeSet<&str> = suggested.iter().map(String::as_str).collect();
        for c in gold.union(&got) {
            let e = per.entry((*c).to_string()).or_default();
            match (gold.contains(c), got.contains(c)) {
                (true, true) => e.tp += 1,
                (false, true) => e.fp += 1,
                (true, false) => e.fn_ += 1,
                (false, false) => {}
            }
        }
        if gold != got {
            misses.push(Miss {
                id: s.id.clone(),
                extra: got.difference(&gold).map(|c| c.to_string()).collect(),
                missed: gold.difference(&got).map(|c| c.to_string()).collect(),
            });
        }
    }
    let mut micro = Counts::default();
    for c in per.values_mut() {
        micro.tp += c.tp;
        micro.fp += c.fp;
        micro.fn_ += c.fn_;
        c.finish();
    }
    micro.finish();
    let macro_f1 = if per.is_empty() {
        0.0
    } else {
        round3(per.values().map(|c| c.f1).sum::<f64>() / per.len() as f64)
    };
    Report {
        stories: tagged.len(),
        per_activity: per,
        micro,
        macro_f1,
        misses,
    }
}

impl Report {
    /// A plain-text table.
    pub fn render(&self, name: &str) -> String {
        let mut out = format!("evaluation of {name}: {} stories\n\n", self.stories);
        out.push_str(&format!(
            "{:<30} {:>4} {:>4} {:>4} {:>9} {:>7} {:>6}\n",
            "activity", "tp", "fp", "fn", "precision", "recall", "f1"
        ));
        for (code, c) in &self.per_activity {
            out.push_str(&format!(
                "{:<30} {:>4} {:>4} {:>4} {:>9.3} {:>7.3} {:>6.3}\n",
                code, c.tp, c.fp, c.fn_, c.precision, c.recall, c.f1
            ));
        }
        let m = &self.micro;
        out.push_str(&format!(
            "{:<30} {:>4} {:>4} {:>4} {:>9.3} {:>7.3} {:>6.3}\n",
            "micro-average", m.tp, m.fp, m.fn_, m.precision, m.recall, m.f1
        ));
        out.push_str(&format!("macro-F1 {:.3}\n", self.macro_f1));
        out.push_str(&format!("micro-F1 {:.3}\n", m.f1));
        if !self.misses.is_empty() {
            out.push_str("\nstories with differences (extra: suggested, not labelled; missed: labelled, not suggested):\n");
            for miss in &self.misses {
                out.push_str(&format!(
                    "  {:<6} extra [{}] missed [{}]\n",
                    miss.id,
                    miss.extra.join(", "),
                    miss.missed.join(", ")
                ));
            }
        }
        out
    }
}

impl Report {
    /// Only the totals (no misses, no per-activity rows), for the learning curve.
    fn totals(mut self) -> Report {
        self.misses.clear();
        self
    }
}

/// k-fold cross-validation of the cold start on `corpus` (story `i` in fold `i % folds`): each
/// fold is tagged by a model fitted, with thresholds chosen, on the other folds only. The counts
/// of all folds are added up.
pub fn cross_validate(rules: &Tagger, corpus: &[LabelledStory], settings: &Settings) -> Report {
    let folds = settings.folds.max(2);
    let mut tagged: Vec<(LabelledStory, Vec<String>)> = Vec::new();
    for k in 0..folds {
        let train: Vec<LabelledStory> = corpus
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != k)
            .map(|(_, s)| s.clone())
            .collect();
        let suggester = Suggester {
            rules: std::sync::Arc::new(rules.clone()),
            model: Some(std::sync::Arc::new(Model::cold_start(
                rules, &train, settings,
            ))),
        };
        for (_, s) in corpus.iter().enumerate().filter(|(i, _)| i % folds == k) {
            tagged.push((s.clone(), activities_of(&suggester, &s.text)));
        }
    }
    compare(&tagged)
}

fn activities_of(tagger: &Suggester, text: &str) -> Vec<String> {
    tagger
        .suggest(text)
        .into_iter()
        .filter(|x| x.dimension == Dimension::Activity)
        .map(|x| x.code)
        .collect()
}

/// A simulated workspace for the learning curve (`fixtures/eval/workspace.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedWorkspace {
    neutral: Vec<String>,
    learn_frames: usize,
    frames: Vec<String>,
    activity: Vec<SimulatedActivity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimulatedActivity {
    code: String,
    names: Vec<String>,
    learn: Vec<String>,
    test: Vec<String>,
}

pub const SIMULATED_WORKSPACE: &str = include_str!("../../../fixtures/eval/workspace.toml");

/// A small deterministic generator (64-bit LCG), so the simulated stories never change.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n.max(1) as u64) as usize
    }
}

impl SimulatedWorkspace {
    pub fn parse(text: &str) -> Result<SimulatedWorkspace, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// A story about `codes` from the `learn` or `test` sentences, with one or two neutral ones.
    fn story(&self, rng: &mut Lcg, codes: &[usize], learn: bool, id: String) -> LabelledStory {
        let mut parts: Vec<&str> = Vec::new();
        let neutral = &self.neutral;
        parts.push(&neutral[rng.next(neutral.len())]);
        let mut mentions: Vec<String> = Vec::new();
        for &c in codes {
            let a = &self.activity[c];
            // Three in four by a local name in a frame, one in four by a description.
            if rng.next(4) == 0 {
                let pool = if learn { &a.learn } else { &a.test };
                mentions.push(pool[rng.next(pool.len())].clone());
            } else {
                let split = self.learn_frames.min(self.frames.len() - 1);
                let frame = if learn {
                    &self.frames[rng.next(split)]
                } else {
                    &self.frames[split + rng.next(self.frames.len() - split)]
                };
                let name = &a.names[rng.next(a.names.len())];
                mentions.push(frame.replacen("{}", name, 1));
            }
        }
        parts.extend(mentions.iter().map(String::as_str));
        if codes.is_empty() || rng.next(2) == 0 {
            parts.push(&neutral[rng.next(neutral.len())]);
        }
        let mut activities: Vec<String> = codes
            .iter()
            .map(|&c| self.activity[c].code.clone())
            .collect();
        activities.sort();
        activities.dedup();
        LabelledStory {
            id,
            by: "simulatie".into(),
            activities,
            style: String::new(),
            text: parts.join(" "),
        }
    }

    /// The workspace's confirmed stories: `n` per activity (each about that activity and, one in
    /// four, a second one), from the `learn` sentences. Judged whole: every activity is known.
    pub fn confirmed(&self, n: usize) -> Vec<LabelledStory> {
        let mut rng = Lcg(0x5eed_0001);
        let mut out = Vec::new();
        for round in 0..n {
            for c in 0..self.activity.len() {
                let mut codes = vec![c];
                if rng.next(4) == 0 {
                    codes.push(rng.next(self.activity.len()));
                }
                out.push(self.story(&mut rng, &codes, true, format!("w{round}-{c}")));
            }
        }
        out
    }

    /// Stories nobody judged, from the `test` sentences: four per activity, one in four with a
    /// second activity, and as many with none as there are activities.
    pub fn unjudged(&self) -> Vec<LabelledStory> {
        let mut rng = Lcg(0x7e57_0002);
        let mut out = Vec::new();
        for round in 0..4 {
            for c in 0..self.activity.len() {
                let mut codes = vec![c];
                if rng.next(4) == 0 {
                    codes.push(rng.next(self.activity.len()));
                }
                out.push(self.story(&mut rng, &codes, false, format!("u{round}-{c}")));
            }
        }
        for c in 0..self.activity.len() {
            out.push(self.story(&mut rng, &[], false, format!("u-none-{c}")));
        }
        out
    }
}

/// One point of the learning curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Confirmed stories per activity in the workspace.
    pub confirmations: usize,
    pub report: Report,
}

/// The learning curve of one simulated workspace: micro-F1 on its unjudged stories after `n`
/// confirmations per activity, for each `n` (0 is the cold start).
pub fn learning_curve(
    rules: &Tagger,
    corpus: &[LabelledStory],
    cold: &Model,
    workspace: &SimulatedWorkspace,
    points: &[usize],
    settings: &Settings,
) -> Vec<CurvePoint> {
    let unjudged = workspace.unjudged();
    let codes = model::activity_codes(rules);
    points
        .iter()
        .map(|&n| {
            let own: Vec<Example> = workspace
                .confirmed(n)
                .iter()
                .map(|s| Example::from_labelled(s, &codes))
                .collect();
            let fitted = if own.is_empty() {
                cold.clone()
            } else {
                Model::for_workspace(rules, corpus, &own, cold, settings)
            };
            let suggester = Suggester {
                rules: std::sync::Arc::new(rules.clone()),
                model: Some(std::sync::Arc::new(fitted)),
            };
            CurvePoint {
                confirmations: n,
                report: evaluate(&suggester, &unjudged).totals(),
            }
        })
        .collect()
}

/// Stories per second on the calling thread: tag every story of `set` over and over for about
/// `seconds`. Returns (stories tagged, seconds taken, words tagged).
pub fn bench(tagger: &Suggester, set: &[LabelledStory], seconds: f64) -> (usize, f64, usize) {
    let start = std::time::Instant::now();
    let mut stories = 0;
    let mut words = 0;
    if set.is_empty() {
        return (0, 0.0, 0);
    }
    while start.elapsed().as_secs_f64() < seconds {
        for s in set {
            let out = tagger.suggest(&s.text);
            std::hint::black_box(&out);
            stories += 1;
            words += s.text.split_whitespace().count();
        }
    }
    (stories, start.elapsed().as_secs_f64(), words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tagging::taxonomy::Taxonomy;

    const TUNE: &str = include_str!("../../../fixtures/eval/tune.toml");
    const HELDOUT: &str = include_str!("../../../fixtures/eval/heldout.toml");

    #[test]
    fn the_sets_parse_use_known_codes_and_are_large_enough() {
        let tax = Taxonomy::default_embedded().expect("taxonomy");
        let tune = parse_set(TUNE).expect("tune");
        let heldout = parse_set(HELDOUT).expect("heldout");
        assert!(tune.len() + heldout.len() >= 60);
        assert!(heldout.len() >= 30);
        for s in tune.iter().chain(&heldout) {
            for c in &s.activities {
                assert!(tax.activities.iter().any(|a| &a.code == c), "{}: {c}", s.id);
            }
        }
        let tune_ids: BTreeSet<&str> = tune.iter().map(|s| s.id.as_str()).collect();
        assert!(heldout.iter().all(|s| !tune_ids.contains(s.id.as_str())));
    }

    #[test]
    fn counts_add_up() {
        let tax = Taxonomy::default_embedded().expect("taxonomy");
        let t = Suggester::rules_only(std::sync::Arc::new(Tagger::new(&tax)));
        let set = parse_set(
            r#"
[[story]]
id = "a"
activities = ["voorzorg"]
text = "Ze doet mee aan VoorZorg."
[[story]]
id = "b"
activities = ["vadergroep"]
text = "Ze doet mee aan VoorZorg."
[[story]]
id = "c"
activities = []
text = "Niets bijzonders."
"#,
        )
        .expect("set");
        let r = evaluate(&t, &set);
        let v = &r.per_activity["voorzorg"];
        assert_eq!((v.tp, v.fp, v.fn_), (1, 1, 0));
        let g = &r.per_activity["vadergroep"];
        assert_eq!((g.tp, g.fp, g.fn_), (0, 0, 1));
        assert_eq!((r.micro.tp, r.micro.fp, r.micro.fn_), (1, 1, 1));
        assert_eq!(r.micro.f1, 0.5);
        assert_eq!(r.misses.len(), 1);
        assert!(r.render("x").contains("micro-F1 0.500"));
        assert!(parse_set("[[story]]\nid = \"a\"\nactivities = []\ntext = \"\"\n[[story]]\nid = \"a\"\nactivities = []\ntext = \"\"").is_err());
    }
}
