//! The explainable tagger: taxonomy terms matched against a story's words, scored by weight.
//!
//! Every suggestion is the sum of the weights of the distinct terms of one taxonomy entry found in
//! the text (synonyms 1.0, keywords 0.5, context 0.25, context capped at 0.5 in all), capped at
//! 1.0; an entry is suggested from [`THRESHOLD`] on. Each suggestion carries the words that
//! matched, so a person can see why. Nothing here is random or depends on order of insertion:
//! the same text and taxonomy always give the same suggestions.

use super::dutch::{self, Token};
use super::taxonomy::{Dimension, Entry, Taxonomy};
use serde::Serialize;
use std::collections::HashMap;

/// Lowest score that is suggested.
pub const THRESHOLD: f64 = 0.75;
pub const SYNONYM_WEIGHT: f64 = 1.0;
pub const KEYWORD_WEIGHT: f64 = 0.5;
pub const CONTEXT_WEIGHT: f64 = 0.25;
/// Context words together never add more than this: they support, they do not decide.
pub const CONTEXT_CAP: f64 = 0.5;
/// Small words allowed between the words of a phrase.
const MAX_GAP: usize = 2;
/// Longest evidence string written into a document.
const MAX_EVIDENCE_CHARS: usize = 60;

#[derive(Debug, Clone, PartialEq)]
enum WordPat {
    /// Same stem (or verb stem).
    Stem(String),
    /// The folded word begins with this.
    Prefix(String),
    /// The folded word (or its stem) ends with this.
    Suffix(String),
}

impl WordPat {
    fn matches(&self, t: &Token) -> bool {
        match self {
            WordPat::Stem(s) => t.stems().any(|x| x == s),
            WordPat::Prefix(p) => t.norm.starts_with(p.as_str()),
            WordPat::Suffix(p) => t.norm.ends_with(p.as_str()) || t.stem.ends_with(p.as_str()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strength {
    Synonym,
    Keyword,
    Context,
}

impl Strength {
    fn weight(self) -> f64 {
        match self {
            Strength::Synonym => SYNONYM_WEIGHT,
            Strength::Keyword => KEYWORD_WEIGHT,
            Strength::Context => CONTEXT_WEIGHT,
        }
    }
}

#[derive(Debug, Clone)]
struct Term {
    /// As written in the taxonomy.
    text: String,
    words: Vec<WordPat>,
    /// Stem of the words written as one ("rook vrij" → "rookvrij"), for multi-word terms.
    joined: Option<String>,
    strength: Strength,
}

fn compile_term(text: &str, strength: Strength) -> Option<Term> {
    let mut words = Vec::new();
    let mut plain = Vec::new();
    for raw in text.split_whitespace() {
        let prefix = raw.ends_with('*');
        let suffix = raw.starts_with('*');
        let folded = dutch::fold(raw.trim_matches('*'));
        // A word of the term may fold into several ("stoppen-met-roken").
        let parts: Vec<&str> = folded.split_whitespace().collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let first = i == 0;
            if prefix && last && part.len() >= 3 {
                words.push(WordPat::Prefix(part.to_string()));
            } else if suffix && first && part.len() >= 3 {
                words.push(WordPat::Suffix(part.to_string()));
            } else {
                words.push(WordPat::Stem(dutch::stem(part)));
                plain.push(part.to_string());
            }
        }
    }
    if words.is_empty() {
        return None;
    }
    let joined = (words.len() > 1 && plain.len() == words.len())
        .then(|| dutch::stem(&plain.concat()))
        .filter(|j| j.len() >= 5);
    Some(Term {
        text: text.trim().to_string(),
        words,
        joined,
        strength,
    })
}

#[derive(Debug, Clone)]
struct Compiled {
    dimension: Dimension,
    code: String,
    name: String,
    terms: Vec<Term>,
    excludes: Vec<Term>,
    yields_to: Vec<String>,
}

/// Where one term matched: token range `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Hit {
    term: usize,
    start: usize,
    end: usize,
}

/// One word (or phrase) of the text that counted toward a suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The words as they stand in the text.
    pub text: String,
    /// The taxonomy term they matched.
    pub term: String,
    pub weight: f64,
}

/// A suggested tag with its score and the evidence for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// The tag code as stored in a story (`voorzorg`, `phase:zwangerschap`).
    pub code: String,
    pub dimension: Dimension,
    pub name: String,
    /// 0.75 to 1.0, two decimals.
    pub score: f64,
    pub evidence: Vec<Evidence>,
}

impl Suggestion {
    /// The distinct evidence words, in text order, as written into the document.
    pub fn evidence_words(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.evidence {
            if !out.contains(&e.text) {
                out.push(e.text.clone());
            }
        }
        out
    }
}

/// An entry's score from the rules alone, below the threshold too.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleScore {
    /// The entry's suggestion as the rules would write it (score 0 to 1, evidence).
    pub suggestion: Suggestion,
    /// Found by one of its names (a synonym).
    pub named: bool,
    /// The rules alone suggest it: score from [`THRESHOLD`], and not yielding to a named entry.
    pub passes: bool,
}

/// Activities first, then phases, themes and target groups; within a dimension by score (highest
/// first), then code.
pub fn sort_suggestions(out: &mut [Suggestion]) {
    out.sort_by(|a, b| {
        a.dimension
            .cmp(&b.dimension)
            .then(b.score.total_cmp(&a.score))
            .then(a.code.cmp(&b.code))
    });
}

/// A compiled taxonomy, ready to tag text. Cheap to share (`Arc`), immutable.
#[derive(Debug, Clone)]
pub struct Tagger {
    entries: Vec<Compiled>,
    /// First-word stem (or joined stem) → (entry, term) whose match may start there.
    by_stem: HashMap<String, Vec<(usize, usize)>>,
    /// Terms whose first word is a prefix or suffix pattern: tried at every token.
    wildcard: Vec<(usize, usize)>,
}

impl Tagger {
    /// Compile the suggested dimensions of `taxonomy`. Retired activities are left out.
    pub fn new(taxonomy: &Taxonomy) -> Tagger {
        let mut entries = Vec::new();
        for d in Dimension::SUGGESTED {
            for e in taxonomy.dimension(d) {
                if e.retired {
                    continue;
                }
                entries.push(compile_entry(d, e));
            }
        }
        let mut by_stem: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        let mut wildcard = Vec::new();
        for (ei, e) in entries.iter().enumerate() {
            for (ti, t) in e.terms.iter().chain(e.excludes.iter()).enumerate() {
                match &t.words[0] {
                    WordPat::Stem(s) => by_stem.entry(s.clone()).or_default().push((ei, ti)),
                    _ => wildcard.push((ei, ti)),
                }
                if let Some(j) = &t.joined {
                    by_stem.entry(j.clone()).or_default().push((ei, ti));
                }
            }
        }
        for v in by_stem.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        Tagger {
            entries,
            by_stem,
            wildcard,
        }
    }

    /// Suggestions for a text, activities first, then phases, themes and target groups; within a
    /// dimension by score (highest first), then code.
    pub fn suggest(&self, text: &str) -> Vec<Suggestion> {
        let mut out: Vec<Suggestion> = self
            .scores(text)
            .into_iter()
            .filter(|r| r.passes)
            .map(|r| r.suggestion)
            .collect();
        sort_suggestions(&mut out);
        out
    }

    /// Every entry with any match in the text, whether or not it reaches the threshold, in entry
    /// order: what the learned model reads of the rules (`model.rs`).
    pub fn scores(&self, text: &str) -> Vec<RuleScore> {
        let tokens = dutch::tokenize(text);
        // Per entry: hits of its terms (index < terms.len()) and of its excludes (after).
        let mut hits: Vec<Vec<Hit>> = vec![Vec::new(); self.entries.len()];
        let mut candidates: Vec<(usize, usize)> = Vec::new();
        for (i, tok) in tokens.iter().enumerate() {
            candidates.clear();
            for s in tok.stems() {
                if let Some(v) = self.by_stem.get(s) {
                    candidates.extend_from_slice(v);
                }
            }
            candidates.extend_from_slice(&self.wildcard);
            candidates.sort_unstable();
            candidates.dedup();
            for &(ei, ti) in &candidates {
                let e = &self.entries[ei];
                let term = if ti < e.terms.len() {
                    &e.terms[ti]
                } else {
                    &e.excludes[ti - e.terms.len()]
                };
                if let Some(end) = match_at(term, &tokens, i) {
                    hits[ei].push(Hit {
                        term: ti,
                        start: i,
                        end,
                    });
                }
            }
        }
        let mut scored: Vec<(usize, f64, bool, Vec<Hit>)> = Vec::new();
        for (ei, e) in self.entries.iter().enumerate() {
            let entry_hits = std::mem::take(&mut hits[ei]);
            if entry_hits.is_empty() {
                continue;
            }
            let (score, named, accepted) = score_entry(e, entry_hits);
            if score > 0.0 {
                scored.push((ei, score, named, accepted));
            }
        }
        // An entry that yields to a named one is dropped when it was not named itself.
        let named_codes: Vec<&str> = scored
            .iter()
            .filter(|(_, _, named, _)| *named)
            .map(|(ei, ..)| self.entries[*ei].code.as_str())
            .collect();
        scored
            .into_iter()
            .map(|(ei, score, named, accepted)| {
                let e = &self.entries[ei];
                let passes = score >= THRESHOLD
                    && (named
                        || !e
                            .yields_to
                            .iter()
                            .any(|y| named_codes.contains(&y.as_str())));
                RuleScore {
                    named,
                    passes,
                    suggestion: Suggestion {
                        code: e.dimension.tag_code(&e.code),
                        dimension: e.dimension,
                        name: e.name.clone(),
                        score,
                        evidence: accepted
                            .iter()
                            .map(|h| {
                                let term = &e.terms[h.term];
                                Evidence {
                                    text: surface(text, &tokens, h.start, h.end),
                                    term: term.text.clone(),
                                    weight: term.strength.weight(),
                                }
                            })
                            .collect(),
                    },
                }
            })
            .collect()
    }

    /// The activities (code, name) this tagger can suggest: not retired.
    pub fn activities(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .filter(|e| e.dimension == Dimension::Activity)
            .map(|e| (e.code.as_str(), e.name.as_str()))
    }

    /// The name of an activity this tagger can suggest.
    pub fn activity_name(&self, code: &str) -> Option<&str> {
        self.activities().find(|(c, _)| *c == code).map(|(_, n)| n)
    }

    /// Codes (tag codes) this tagger can suggest.
    pub fn codes(&self) -> impl Iterator<Item = String> + '_ {
        self.entries.iter().map(|e| e.dimension.tag_code(&e.code))
    }
}

fn compile_entry(d: Dimension, e: &Entry) -> Compiled {
    let mut terms: Vec<Term> = Vec::new();
    let lists = [
        (&e.synonyms, Strength::Synonym),
        (&e.keywords, Strength::Keyword),
        (&e.context, Strength::Context),
    ];
    for (list, strength) in lists {
        terms.extend(list.iter().filter_map(|t| compile_term(t, strength)));
    }
    // An activity a workspace added with only a name is found by its name.
    if terms.is_empty() && !e.name.is_empty() {
        terms.extend(compile_term(&e.name, Strength::Synonym));
    }
    Compiled {
        dimension: d,
        code: e.code.clone(),
        name: e.name.clone(),
        terms,
        excludes: e
            .exclude
            .iter()
            .filter_map(|t| compile_term(t, Strength::Context))
            .collect(),
        yields_to: e.yields_to.clone(),
    }
}

/// If `term` matches starting at token `i`, the end of the match (exclusive).
fn match_at(term: &Term, tokens: &[Token], i: usize) -> Option<usize> {
    let first = &tokens[i];
    if let Some(j) = &term.joined
        && first.stems().any(|s| s == j)
    {
        return Some(i + 1);
    }
    if !term.words[0].matches(first) {
        return None;
    }
    let mut last = i;
    for w in &term.words[1..] {
        let mut found = None;
        for (gap, k) in (last + 1..tokens.len()).enumerate() {
            if w.matches(&tokens[k]) {
                found = Some(k);
                break;
            }
            if gap >= MAX_GAP || !dutch::is_filler(&tokens[k].norm) {
                break;
            }
        }
        last = found?;
    }
    Some(last + 1)
}

/// Score one entry: strongest terms first, each term once, each stretch of text once.
/// Returns (score, named by a synonym, accepted hits in text order).
fn score_entry(e: &Compiled, mut hits: Vec<Hit>) -> (f64, bool, Vec<Hit>) {
    let n_terms = e.terms.len();
    let excluded: Vec<(usize, usize)> = hits
        .iter()
        .filter(|h| h.term >= n_terms)
        .map(|h| (h.start, h.end))
        .collect();
    hits.retain(|h| {
        h.term < n_terms && !excluded.iter().any(|&(s, end)| h.start < end && s < h.end)
    });
    hits.sort_by(|a, b| {
        let (wa, wb) = (
            e.terms[a.term].strength.weight(),
            e.terms[b.term].strength.weight(),
        );
        wb.total_cmp(&wa)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
            .then(a.term.cmp(&b.term))
    });
    let mut accepted: Vec<Hit> = Vec::new();
    let mut strong = 0.0;
    let mut context = 0.0;
    let mut named = false;
    for h in hits {
        let overlaps = accepted.iter().any(|a| h.start < a.end && a.start < h.end);
        let repeated = accepted.iter().any(|a| a.term == h.term);
        if overlaps || repeated {
            continue;
        }
        let strength = e.terms[h.term].strength;
        match strength {
            Strength::Context => {
                if context >= CONTEXT_CAP {
                    continue;
                }
                context += strength.weight();
            }
            Strength::Synonym => {
                named = true;
                strong += strength.weight();
            }
            Strength::Keyword => strong += strength.weight(),
        }
        accepted.push(h);
    }
    accepted.sort_by_key(|h| (h.start, h.term));
    let score = (strong + context.min(CONTEXT_CAP)).min(1.0);
    ((score * 100.0).round() / 100.0, named, accepted)
}

/// The text of tokens `[start, end)`, widened to whole words (so "stoppen-met-roken-coach" shows in
/// full) and trimmed of punctuation.
fn surface(text: &str, tokens: &[Token], start: usize, end: usize) -> String {
    let mut from = tokens[start].start;
    let mut to = tokens[end - 1].end;
    let bytes = text.as_bytes();
    while from > 0 && !bytes[from - 1].is_ascii_whitespace() {
        from -= 1;
    }
    while to < bytes.len() && !bytes[to].is_ascii_whitespace() {
        to += 1;
    }
    // Both ends now sit on char boundaries: only ASCII whitespace or the text's ends stop them.
    let word = text.get(from..to).unwrap_or_default();
    let trimmed = word.trim_matches(|c: char| !c.is_alphanumeric());
    if trimmed.chars().count() > MAX_EVIDENCE_CHARS {
        // Very long "words" (a URL, a run of hyphens): just the matched tokens.
        let inner = text
            .get(tokens[start].start..tokens[end - 1].end)
            .unwrap_or_default();
        return inner.chars().take(MAX_EVIDENCE_CHARS).collect();
    }
    trimmed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tagging::taxonomy::WorkspaceActivity;

    fn tagger() -> Tagger {
        Tagger::new(&Taxonomy::default_embedded().expect("taxonomy"))
    }

    fn codes(s: &[Suggestion]) -> Vec<&str> {
        s.iter()
            .filter(|s| s.dimension == Dimension::Activity)
            .map(|s| s.code.as_str())
            .collect()
    }

    fn find<'a>(s: &'a [Suggestion], code: &str) -> &'a Suggestion {
        s.iter()
            .find(|x| x.code == code)
            .unwrap_or_else(|| panic!("{code} not suggested in {s:#?}"))
    }

    #[test]
    fn known_texts_get_their_codes_with_evidence() {
        let t = tagger();
        let s = t.suggest(
            "Leo sluit zich aan bij een aanstaande-vadergroep en heeft contact met zijn \
             stoppen-met-roken-coach.",
        );
        assert_eq!(codes(&s), ["rookvrije-start", "vadergroep"]);
        let rook = find(&s, "rookvrije-start");
        assert_eq!(rook.score, 1.0);
        assert_eq!(rook.evidence_words(), ["stoppen-met-roken-coach"]);
        assert_eq!(rook.evidence[0].term, "stoppen met roken");
        let vader = find(&s, "vadergroep");
        assert_eq!(vader.evidence_words(), ["aanstaande-vadergroep"]);

        let s =
            t.suggest("Ze kreeg het Goede Start Gesprek van de JGZ toen ze 30 weken zwanger was.");
        let gsg = find(&s, "prenataal-huisbezoek");
        assert_eq!(gsg.evidence_words()[0], "Goede Start Gesprek");
        assert_eq!(
            find(&s, "phase:zwangerschap").evidence_words(),
            ["Goede Start Gesprek", "weken zwanger"]
        );
    }

    #[test]
    fn inflections_and_compounds_match() {
        let t = tagger();
        // Plural, compound with a prefix pattern, written-together phrase.
        let s = t.suggest("Twee moedergroepjes en een babycafé in de wijk.");
        assert_eq!(codes(&s), ["ouderinitiatief"]);
        assert_eq!(
            find(&s, "ouderinitiatief").evidence_words(),
            ["moedergroepjes", "babycafé"]
        );
        let s = t.suggest("De schuldhulpverlener regelde een betalingsregeling.");
        assert_eq!(codes(&s), ["armoede-schulden"]);
        // Verb forms: "rookt" and "gerookt" meet "roken".
        let s = t.suggest("Hij rookt nog, al heeft ze zelf nooit sigaretten gerookt.");
        let r = find(&s, "rookvrije-start");
        assert_eq!(r.evidence_words(), ["rookt", "sigaretten", "gerookt"]);
    }

    #[test]
    fn one_keyword_is_not_enough_and_excludes_cancel() {
        let t = tagger();
        assert!(
            codes(&t.suggest("Ze rookt.")).is_empty(),
            "one keyword scores 0.5"
        );
        assert!(codes(&t.suggest("Uit voorzorg bleef ze thuis.")).is_empty());
        assert!(codes(&t.suggest("Ze voelde zich schuldig en had een schuldgevoel.")).is_empty());
        assert_eq!(
            codes(&t.suggest("Ze zit in het VoorZorg-traject.")),
            ["voorzorg"]
        );
    }

    #[test]
    fn a_home_visit_in_a_named_programme_is_that_programme() {
        let t = tagger();
        let s = t.suggest("Het huisbezoek tijdens de zwangerschap ging over de bevalling.");
        assert!(codes(&s).contains(&"prenataal-huisbezoek"), "{s:#?}");
        let s =
            t.suggest("Het VoorZorg huisbezoek tijdens de zwangerschap ging over de bevalling.");
        assert_eq!(codes(&s), ["voorzorg"]);
    }

    #[test]
    fn the_same_text_gives_the_same_suggestions() {
        let t = tagger();
        let text =
            "Bij de moedergroep vertelde ze over schulden en de voedselbank; haar man rookt.";
        let a = t.suggest(text);
        for _ in 0..5 {
            assert_eq!(a, tagger().suggest(text));
        }
    }

    #[test]
    fn a_workspace_activity_is_suggested_and_a_retired_one_is_not() {
        let base = Taxonomy::default_embedded().expect("taxonomy");
        let merged = base.merged(&[
            WorkspaceActivity {
                code: "kraamcafe-delft".into(),
                name: Some("Kraamcafé Delft".into()),
                synonyms: Some(vec!["kraamcafe".into()]),
                ..Default::default()
            },
            WorkspaceActivity {
                code: "buurtgezinscoach".into(),
                name: Some("Buurtgezinscoach".into()),
                ..Default::default()
            },
            WorkspaceActivity {
                code: "rookvrije-start".into(),
                retired: true,
                ..Default::default()
            },
        ]);
        let t = Tagger::new(&merged);
        let s = t.suggest(
            "In het kraamcafé sprak ik de buurtgezinscoach. Ze rookt en wil stoppen met roken.",
        );
        assert_eq!(codes(&s), ["buurtgezinscoach", "kraamcafe-delft"]);
        assert_eq!(find(&s, "kraamcafe-delft").evidence_words(), ["kraamcafé"]);
    }

    #[test]
    fn phases_themes_and_groups_are_prefixed() {
        let t = tagger();
        let s = t.suggest(
            "Een statushouder uit Eritrea, net in Nederland, is 20 weken zwanger en heeft geldzorgen.",
        );
        let all: Vec<&str> = s.iter().map(|s| s.code.as_str()).collect();
        for c in [
            "phase:zwangerschap",
            "theme:geld-bestaanszekerheid",
            "group:nieuwkomers",
        ] {
            assert!(all.contains(&c), "{c} in {all:?}");
        }
    }

    #[test]
    fn odd_input_is_harmless() {
        let t = tagger();
        for text in [
            "",
            "   ",
            "----",
            "ĳĳĳ",
            "😀 zwanger 😀",
            &"a".repeat(10_000),
        ] {
            let _ = t.suggest(text);
        }
        let s = t.suggest("Zwangerschapsgroep---------------------------------------------------------------------------");
        for x in &s {
            for e in &x.evidence {
                assert!(e.text.chars().count() <= MAX_EVIDENCE_CHARS);
            }
        }
    }
}
