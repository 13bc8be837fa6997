//! The learned, explainable half of the tagger: one logistic regression per activity over the
//! features of [`features`](super::features) (stems, word pairs, the rules' findings), fitted with
//! `linfa-logistic` (L2-regularised, L-BFGS).
//!
//! - **Cold start**: [`Model::cold_start`] fits on the embedded tuning corpus
//!   (`fixtures/eval/tune.toml`), deterministically; each activity's threshold is chosen on
//!   out-of-fold probabilities of that corpus ([`choose_thresholds`]), never by hand.
//! - **Per workspace**: [`Model::for_workspace`] fits on the same corpus plus the workspace's own
//!   judged stories (its people's confirms and rejects, counted [`WORKSPACE_WEIGHT`] times), and
//!   keeps the cold start's thresholds. A workspace's model is built from, and used for, that
//!   workspace only (`worker.rs`).
//! - **Explained**: a suggestion's evidence is the words whose features weighed most for it
//!   (weight × value), widened to the written words, in the same shape as the rules' evidence.
//!
//! Activities the model has no data for (a workspace's own, until its people judged some) are
//! left to the rules; so are phases, themes and target groups.

use super::dutch::Token;
use super::eval::LabelledStory;
use super::features::{self, Extracted, Origin};
use super::tagger::{Evidence, RuleScore, Suggestion, Tagger, sort_suggestions};
use super::taxonomy::Dimension;
use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How many times a workspace's own judged story counts against one story of the corpus.
pub const WORKSPACE_WEIGHT: usize = 3;
/// Threshold for an activity the cold start has none for (a workspace's own activity).
pub const DEFAULT_THRESHOLD: f64 = 0.5;
/// At most this many features are shown as the evidence of one suggestion.
const MAX_EVIDENCE_FEATURES: usize = 3;

/// How a model is fitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// L2 penalty (on the summed loss).
    pub alpha: f64,
    /// A word or pair must occur in this many training stories to be a feature.
    pub min_stories: usize,
    pub max_iterations: u64,
    /// Folds for choosing thresholds.
    pub folds: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            alpha: 1.0,
            min_stories: 2,
            max_iterations: 100,
            folds: 5,
        }
    }
}

/// A story to learn from: its text and, per activity code, whether it is about it. A code that
/// is absent is unknown and not learned from.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text: String,
    pub labels: BTreeMap<String, bool>,
    /// How many times it counts.
    pub weight: usize,
}

impl Example {
    /// A labelled story of the corpus: every activity of `codes` is known (in its labels or not).
    pub fn from_labelled(s: &LabelledStory, codes: &[String]) -> Example {
        Example {
            text: s.text.clone(),
            labels: codes
                .iter()
                .map(|c| (c.clone(), s.activities.contains(c)))
                .collect(),
            weight: 1,
        }
    }
}

/// One activity's fitted weights.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityModel {
    pub code: String,
    pub bias: f64,
    /// Per feature index.
    pub weights: Vec<f64>,
    pub threshold: f64,
}

/// A fitted model: features by name and one logistic regression per activity it had data for.
#[derive(Debug, Clone)]
pub struct Model {
    features: Vec<String>,
    index: HashMap<String, usize>,
    activities: Vec<ActivityModel>,
}

/// A model as stored (`fixtures/eval/cold-start-model.json`): weights that matter only, rounded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredModel {
    pub format: u32,
    /// [`fingerprint`] of what it was fitted on.
    pub trained_on: String,
    pub features: Vec<String>,
    pub activities: Vec<StoredActivity>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredActivity {
    pub code: String,
    pub bias: f64,
    pub threshold: f64,
    /// (feature index, weight), weights below 1e-4 left out.
    pub weights: Vec<(usize, f64)>,
}

/// Version of the features and of [`StoredModel`]; part of the fingerprint.
pub const FORMAT: u32 = 2;

/// What a cold start is fitted from: the corpus, the taxonomy and the settings. A stored model
/// with another fingerprint is stale.
pub fn fingerprint(corpus: &str, taxonomy: &[&str], settings: &Settings) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(FORMAT.to_le_bytes());
    h.update(corpus.as_bytes());
    for t in taxonomy {
        h.update([0u8]);
        h.update(t.as_bytes());
    }
    h.update(format!("{settings:?}").as_bytes());
    hex::encode(&h.finalize()[..12])
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

impl Model {
    pub fn to_stored(&self, trained_on: &str) -> StoredModel {
        StoredModel {
            format: FORMAT,
            trained_on: trained_on.to_string(),
            features: self.features.clone(),
            activities: self
                .activities
                .iter()
                .map(|a| StoredActivity {
                    code: a.code.clone(),
                    bias: round(a.bias, 5),
                    threshold: a.threshold,
                    weights: a
                        .weights
                        .iter()
                        .enumerate()
                        .filter(|(_, w)| w.abs() >= 1e-4)
                        .map(|(j, w)| (j, round(*w, 5)))
                        .collect(),
                })
                .collect(),
        }
    }

    pub fn from_stored(stored: &StoredModel) -> Result<Model, String> {
        if stored.format != FORMAT {
            return Err(format!(
                "model format {} (expected {FORMAT})",
                stored.format
            ));
        }
        let n = stored.features.len();
        let mut activities = Vec::new();
        for a in &stored.activities {
            let mut weights = vec![0.0; n];
            for &(j, w) in &a.weights {
                *weights
                    .get_mut(j)
                    .ok_or_else(|| format!("{}: feature {j} of {n}", a.code))? = w;
            }
            activities.push(ActivityModel {
                code: a.code.clone(),
                bias: a.bias,
                weights,
                threshold: a.threshold,
            });
        }
        Ok(Model {
            index: stored
                .features
                .iter()
                .enumerate()
                .map(|(i, f)| (f.clone(), i))
                .collect(),
            features: stored.features.clone(),
            activities,
        })
    }
}

/// One activity's probability for a text and the features that weighed most for it.
#[derive(Debug, Clone)]
pub struct Scored {
    pub code: String,
    pub probability: f64,
    pub threshold: f64,
    /// (feature index in the extracted text, weight × value), largest first, positive only.
    pub top: Vec<(usize, f64)>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Model {
    /// Fit one regression per code that has both positive and negative examples.
    /// Deterministic: same examples, same model.
    pub fn fit(
        rules: &Tagger,
        examples: &[Example],
        thresholds: &BTreeMap<String, f64>,
        settings: &Settings,
    ) -> Model {
        let extracted: Vec<Extracted> = examples
            .iter()
            .map(|e| features::extract(&rules.scores(&e.text), &e.text))
            .collect();
        // Features: words and pairs in at least `min_stories` stories; the rules' always.
        let mut stories_with: BTreeMap<&str, usize> = BTreeMap::new();
        for x in &extracted {
            for f in &x.features {
                *stories_with.entry(f.name.as_str()).or_default() += 1;
            }
        }
        let features: Vec<String> = stories_with
            .iter()
            .filter(|(name, n)| {
                **n >= settings.min_stories || name.starts_with("r:") || name.starts_with("n:")
            })
            .map(|(name, _)| name.to_string())
            .collect();
        let index: HashMap<String, usize> = features
            .iter()
            .enumerate()
            .map(|(i, f)| (f.clone(), i))
            .collect();
        let mut codes: Vec<&String> = examples.iter().flat_map(|e| e.labels.keys()).collect();
        codes.sort();
        codes.dedup();
        let mut activities = Vec::new();
        for code in codes {
            let rows: Vec<usize> = (0..examples.len())
                .filter(|&i| examples[i].labels.contains_key(code))
                .flat_map(|i| std::iter::repeat_n(i, examples[i].weight.max(1)))
                .collect();
            let y: Array1<bool> = rows
                .iter()
                .map(|&i| examples[i].labels.get(code).copied().unwrap_or(false))
                .collect();
            if !y.iter().any(|&v| v) || y.iter().all(|&v| v) {
                continue;
            }
            let mut x = Array2::<f64>::zeros((rows.len(), features.len()));
            for (r, &i) in rows.iter().enumerate() {
                for f in &extracted[i].features {
                    if let Some(&j) = index.get(&f.name) {
                        x[[r, j]] = f.value;
                    }
                }
            }
            let fitted = LogisticRegression::default()
                .alpha(settings.alpha)
                .max_iterations(settings.max_iterations)
                .fit(&DatasetBase::new(x, y));
            let Ok(fitted) = fitted else {
                tracing::warn!(code, "could not fit the model for this activity");
                continue;
            };
            // linfa calls the more frequent label "positive"; orient the weights towards `true`.
            let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
            activities.push(ActivityModel {
                code: code.clone(),
                bias: sign * fitted.intercept(),
                weights: fitted.params().iter().map(|w| sign * w).collect(),
                threshold: thresholds.get(code).copied().unwrap_or(DEFAULT_THRESHOLD),
            });
        }
        Model {
            features,
            index,
            activities,
        }
    }

    /// The cold start: fitted on the labelled corpus, thresholds chosen on its folds.
    pub fn cold_start(rules: &Tagger, corpus: &[LabelledStory], settings: &Settings) -> Model {
        let codes = activity_codes(rules);
        let thresholds = choose_thresholds(&out_of_fold(rules, corpus, &codes, settings));
        let examples: Vec<Example> = corpus
            .iter()
            .map(|s| Example::from_labelled(s, &codes))
            .collect();
        Model::fit(rules, &examples, &thresholds, settings)
    }

    /// A workspace's model: the corpus and the workspace's judged stories, with the cold start's
    /// thresholds (`cold`).
    pub fn for_workspace(
        rules: &Tagger,
        corpus: &[LabelledStory],
        own: &[Example],
        cold: &Model,
        settings: &Settings,
    ) -> Model {
        let codes = activity_codes(rules);
        let mut examples: Vec<Example> = corpus
            .iter()
            .map(|s| Example::from_labelled(s, &codes))
            .collect();
        examples.extend(own.iter().map(|e| Example {
            weight: e.weight.max(1) * WORKSPACE_WEIGHT,
            ..e.clone()
        }));
        Model::fit(rules, &examples, &cold.thresholds(), settings)
    }

    /// Threshold per activity.
    pub fn thresholds(&self) -> BTreeMap<String, f64> {
        self.activities
            .iter()
            .map(|a| (a.code.clone(), a.threshold))
            .collect()
    }

    pub fn with_thresholds(mut self, thresholds: &BTreeMap<String, f64>) -> Model {
        for a in &mut self.activities {
            if let Some(t) = thresholds.get(&a.code) {
                a.threshold = *t;
            }
        }
        self
    }

    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.activities.iter().map(|a| a.code.as_str())
    }

    pub fn has(&self, code: &str) -> bool {
        self.activities.iter().any(|a| a.code == code)
    }

    /// Whether a feature (by name, e.g. `w:kraamkring`) is known to this model.
    pub fn knows(&self, feature: &str) -> bool {
        self.index.contains_key(feature)
    }

    /// Probability of every activity the model has, with the features that weighed most.
    pub fn score(&self, x: &Extracted) -> Vec<Scored> {
        let present: Vec<(usize, usize, f64)> = x
            .features
            .iter()
            .enumerate()
            .filter_map(|(k, f)| self.index.get(&f.name).map(|&j| (k, j, f.value)))
            .collect();
        self.activities
            .iter()
            .map(|a| {
                let mut z = a.bias;
                let mut top: Vec<(usize, f64)> = Vec::new();
                for &(k, j, v) in &present {
                    let c = a.weights[j] * v;
                    z += c;
                    if c > 0.0 {
                        top.push((k, c));
                    }
                }
                top.sort_by(|p, q| q.1.total_cmp(&p.1).then(p.0.cmp(&q.0)));
                top.truncate(MAX_EVIDENCE_FEATURES);
                Scored {
                    code: a.code.clone(),
                    probability: sigmoid(z),
                    threshold: a.threshold,
                    top,
                }
            })
            .collect()
    }
}

/// The activity codes the rules know (not retired), sorted.
pub fn activity_codes(rules: &Tagger) -> Vec<String> {
    let mut codes: Vec<String> = rules
        .activities()
        .map(|(code, _)| code.to_string())
        .collect();
    codes.sort();
    codes
}

/// One story scored out of fold: per activity code its probability, or 1.0 when the rules find it
/// named (a name is enough, [`Suggester::suggest`]); and its labels.
pub type OutOfFold = (BTreeMap<String, f64>, Vec<String>);

/// Out-of-fold probabilities: each story scored by a model fitted on the other folds (story `i`
/// is in fold `i % folds`).
pub fn out_of_fold(
    rules: &Tagger,
    corpus: &[LabelledStory],
    codes: &[String],
    settings: &Settings,
) -> Vec<OutOfFold> {
    let folds = settings.folds.max(2);
    let mut out = vec![(BTreeMap::new(), Vec::new()); corpus.len()];
    for k in 0..folds {
        let train: Vec<Example> = corpus
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != k)
            .map(|(_, s)| Example::from_labelled(s, codes))
            .collect();
        let model = Model::fit(rules, &train, &BTreeMap::new(), settings);
        for (i, s) in corpus.iter().enumerate().filter(|(i, _)| i % folds == k) {
            let scores = rules.scores(&s.text);
            let x = features::extract(&scores, &s.text);
            let mut probs: BTreeMap<String, f64> = model
                .score(&x)
                .into_iter()
                .map(|sc| (sc.code, sc.probability))
                .collect();
            for r in scores.iter().filter(|r| r.passes && r.named) {
                if let Some(p) = probs.get_mut(&r.suggestion.code) {
                    *p = 1.0;
                }
            }
            out[i] = (probs, s.activities.clone());
        }
    }
    out
}

/// Per activity, the threshold (0.05 to 0.95 in steps of 0.05) with the best F1 on out-of-fold
/// probabilities; on a tie the one nearest 0.5.
pub fn choose_thresholds(oof: &[OutOfFold]) -> BTreeMap<String, f64> {
    let mut codes: Vec<&String> = oof.iter().flat_map(|(p, _)| p.keys()).collect();
    codes.sort();
    codes.dedup();
    let mut out = BTreeMap::new();
    for code in codes {
        let mut best = (f64::MIN, f64::MAX, DEFAULT_THRESHOLD);
        for step in 1..20 {
            let t = step as f64 * 0.05;
            let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
            for (probs, gold) in oof {
                let got = probs.get(code).is_some_and(|p| *p >= t);
                match (got, gold.contains(code)) {
                    (true, true) => tp += 1,
                    (true, false) => fp += 1,
                    (false, true) => fn_ += 1,
                    _ => {}
                }
            }
            let f1 = if tp == 0 {
                0.0
            } else {
                2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
            };
            let distance = (t - 0.5).abs();
            if f1 > best.0 + 1e-12 || ((f1 - best.0).abs() <= 1e-12 && distance < best.1) {
                best = (f1, distance, (t * 100.0).round() / 100.0);
            }
        }
        out.insert(code.clone(), best.2);
    }
    out
}

/// The rules with, where there is one, a learned model: what the worker, `vertel-server tag` and
/// the evaluation use to suggest.
#[derive(Debug, Clone)]
pub struct Suggester {
    pub rules: Arc<Tagger>,
    pub model: Option<Arc<Model>>,
}

impl Suggester {
    pub fn rules_only(rules: Arc<Tagger>) -> Suggester {
        Suggester { rules, model: None }
    }

    /// Suggestions, sorted like [`Tagger::suggest`]. An activity named in the text (one of its
    /// synonyms, as the rules find it) is suggested as the rules say: a name is enough. Any other
    /// activity the model has is suggested when its probability reaches the activity's threshold
    /// (score: the probability, evidence: the words that weighed most). Activities the model
    /// has nothing for, and phases, themes and target groups, as the rules say.
    pub fn suggest(&self, text: &str) -> Vec<Suggestion> {
        let scores = self.rules.scores(text);
        let Some(model) = &self.model else {
            let mut out: Vec<Suggestion> = scores
                .into_iter()
                .filter(|r| r.passes)
                .map(|r| r.suggestion)
                .collect();
            sort_suggestions(&mut out);
            return out;
        };
        let x = features::extract(&scores, text);
        let by_rules = |r: &RuleScore| {
            r.passes
                && (r.suggestion.dimension != Dimension::Activity
                    || r.named
                    || !model.has(&r.suggestion.code))
        };
        let mut out: Vec<Suggestion> = Vec::new();
        for sc in model.score(&x) {
            if sc.probability < sc.threshold
                || scores
                    .iter()
                    .any(|r| r.suggestion.code == sc.code && by_rules(r))
            {
                continue;
            }
            let Some(name) = self.rules.activity_name(&sc.code) else {
                // Retired, or not an activity of this workspace.
                continue;
            };
            out.push(Suggestion {
                code: sc.code.clone(),
                dimension: Dimension::Activity,
                name: name.to_string(),
                score: (sc.probability * 100.0).round() / 100.0,
                evidence: evidence(text, &x, &sc),
            });
        }
        out.extend(
            scores
                .into_iter()
                .filter(|r| by_rules(r))
                .map(|r| r.suggestion),
        );
        sort_suggestions(&mut out);
        out
    }
}

/// The words of the features that weighed most, as evidence (text, what it stands for, weight).
fn evidence(text: &str, x: &Extracted, sc: &Scored) -> Vec<Evidence> {
    let mut out: Vec<Evidence> = Vec::new();
    for &(k, contribution) in &sc.top {
        let f = &x.features[k];
        let weight = (contribution * 100.0).round() / 100.0;
        match &f.origin {
            Origin::Tokens(start, end) => out.push(Evidence {
                text: words(text, &x.tokens, *start, *end),
                term: f.name.clone(),
                weight,
            }),
            Origin::Rules(found) => out.extend(found.iter().map(|e| Evidence {
                text: e.text.clone(),
                term: e.term.clone(),
                weight,
            })),
        }
    }
    // In text order, like the rules' evidence.
    out.sort_by_key(|e| text.find(&e.text).unwrap_or(usize::MAX));
    out.dedup_by(|a, b| a.text == b.text);
    out
}

/// The text of tokens `[start, end)` as written.
fn words(text: &str, tokens: &[Token], start: usize, end: usize) -> String {
    let (Some(a), Some(b)) = (tokens.get(start), tokens.get(end.saturating_sub(1))) else {
        return String::new();
    };
    text.get(a.start..b.end).unwrap_or_default().to_string()
}
