//! The labelled evaluation format and its scores (`vertel-server deidentify --evaluate FILE`).
//!
//! One sentence per line; an identifier is marked `[[kind:text]]`, kind being a [`Kind`] code;
//! lines starting with `#` are comments.
//!
//! Scores per kind: **recall** counts a labelled identifier as found when every letter and digit
//! of it (but a leading article) lies inside some finding (of any kind: masked is masked); **typed recall** when a finding
//! of its own kind overlaps it. **Precision** counts a finding as right when it overlaps a
//! labelled identifier (of any kind); a finding that overlaps none masked an ordinary word.

use super::{Deidentifier, Kind, Span};
use std::collections::BTreeMap;

/// One labelled sentence: the plain text and its identifiers (byte offsets into `text`).
#[derive(Debug, Clone)]
pub struct Labelled {
    pub line: usize,
    pub text: String,
    pub gold: Vec<(usize, usize, Kind)>,
}

#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

pub fn parse(src: &str) -> Result<Vec<Labelled>, ParseError> {
    let mut out = Vec::new();
    for (n, raw) in src.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let mut text = String::new();
        let mut gold = Vec::new();
        let mut rest = raw;
        while let Some(i) = rest.find("[[") {
            text.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let close = after.find("]]").ok_or_else(|| ParseError {
                line,
                message: "a [[ is not closed".into(),
            })?;
            let inner = &after[..close];
            let (code, span) = inner.split_once(':').ok_or_else(|| ParseError {
                line,
                message: format!("no kind in [[{inner}]]"),
            })?;
            let kind = Kind::from_code(code).ok_or_else(|| ParseError {
                line,
                message: format!("unknown kind {code:?}"),
            })?;
            let start = text.len();
            text.push_str(span);
            gold.push((start, text.len(), kind));
            rest = &after[close + 2..];
        }
        text.push_str(rest);
        out.push(Labelled { line, text, gold });
    }
    Ok(out)
}

#[derive(Debug, Clone, Default)]
pub struct Score {
    pub gold: usize,
    /// Fully masked (by a finding of any kind).
    pub found: usize,
    /// Overlapped by a finding of its own kind.
    pub typed: usize,
    pub predicted: usize,
    /// Findings that overlap some labelled identifier.
    pub right: usize,
}

impl Score {
    pub fn recall(&self) -> Option<f64> {
        (self.gold > 0).then(|| self.found as f64 / self.gold as f64)
    }
    pub fn typed_recall(&self) -> Option<f64> {
        (self.gold > 0).then(|| self.typed as f64 / self.gold as f64)
    }
    pub fn precision(&self) -> Option<f64> {
        (self.predicted > 0).then(|| self.right as f64 / self.predicted as f64)
    }
}

/// What went wrong on one sentence, for tuning.
#[derive(Debug, Clone)]
pub struct Miss {
    pub line: usize,
    /// `missed` (a labelled identifier not masked) or `extra` (a finding on no identifier).
    pub what: &'static str,
    pub kind: Kind,
    pub text: String,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub sentences: usize,
    pub per_kind: BTreeMap<Kind, Score>,
    pub total: Score,
    pub misses: Vec<Miss>,
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Every letter and digit of `text[s..e]` lies in some span (a leading article, `het Haga
/// Ziekenhuis`, identifies nothing and may stay).
fn covered(text: &str, (s, e): (usize, usize), spans: &[Span]) -> bool {
    let span = &text[s..e];
    let skip = ["de ", "het ", "'t ", "De ", "Het ", "'T "]
        .iter()
        .find(|a| span.starts_with(*a) && span.len() > a.len())
        .map_or(0, |a| a.len());
    let s = s + skip;
    text[s..e].char_indices().all(|(i, c)| {
        let at = s + i;
        !c.is_alphanumeric() || spans.iter().any(|p| p.start <= at && at < p.end)
    })
}

pub fn evaluate(d: &Deidentifier, set: &[Labelled]) -> Report {
    let mut r = Report {
        sentences: set.len(),
        ..Report::default()
    };
    for l in set {
        let spans = d.find(&l.text);
        for &(s, e, kind) in &l.gold {
            let found = covered(&l.text, (s, e), &spans);
            let typed = spans
                .iter()
                .any(|p| p.kind == kind && overlaps((p.start, p.end), (s, e)));
            for sc in [r.per_kind.entry(kind).or_default(), &mut r.total] {
                sc.gold += 1;
                sc.found += usize::from(found);
                sc.typed += usize::from(typed);
            }
            if !found {
                r.misses.push(Miss {
                    line: l.line,
                    what: "missed",
                    kind,
                    text: l.text[s..e].to_string(),
                    reason: "",
                });
            }
        }
        for p in &spans {
            let right = l
                .gold
                .iter()
                .any(|&(s, e, _)| overlaps((p.start, p.end), (s, e)));
            for sc in [r.per_kind.entry(p.kind).or_default(), &mut r.total] {
                sc.predicted += 1;
                sc.right += usize::from(right);
            }
            if !right {
                r.misses.push(Miss {
                    line: l.line,
                    what: "extra",
                    kind: p.kind,
                    text: l.text[p.start..p.end].to_string(),
                    reason: p.reason,
                });
            }
        }
    }
    r
}
