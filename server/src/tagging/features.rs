//! What the learned model reads of a text: Dutch stems, word pairs and the rules' findings.
//!
//! Every feature is a name, so a weight can be explained, and remembers where in the text it was
//! found, so the words that weighed most can be shown as evidence:
//!
//! - `w:STEM`: a word's stem (and its verb stem), small words (de, het, met, …) left out;
//! - `p:STEM STEM`: two words that follow each other (small words between them skipped);
//! - `r:CODE`: the rules' score for an activity (0 to 1, below the threshold too), i.e. the
//!   taxonomy's terms for it; `n:CODE`: the activity is named (one of its synonyms).
//!
//! Values are 1 (present) except for `r:`. Extraction is deterministic and reads the text once
//! (plus the rules' own pass).

use super::dutch::{self, Token};
use super::tagger::{Evidence, RuleScore};
use super::taxonomy::Dimension;

/// Where a feature was found: a token range, or the rules' evidence for an activity.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Tokens `[start, end)`.
    Tokens(usize, usize),
    /// The rules' evidence (words and the terms they matched).
    Rules(Vec<Evidence>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub name: String,
    pub value: f64,
    pub origin: Origin,
}

/// A text read for the model: its tokens and its features (each name once, first place found,
/// sorted by name).
#[derive(Debug, Clone)]
pub struct Extracted {
    pub tokens: Vec<Token>,
    pub features: Vec<Feature>,
}

/// Shortest folded word that counts as a word feature.
const MIN_WORD: usize = 2;

fn counts(t: &Token) -> bool {
    t.norm.len() >= MIN_WORD
        && !dutch::is_filler(&t.norm)
        && !t.norm.bytes().all(|b| b.is_ascii_digit())
}

/// The features of `text`; `rules` is what the rules found in it ([`Tagger::scores`]), for the
/// `r:`/`n:` features.
///
/// [`Tagger::scores`]: super::tagger::Tagger::scores
pub fn extract(rules: &[RuleScore], text: &str) -> Extracted {
    let tokens = dutch::tokenize(text);
    let mut features: Vec<Feature> = Vec::with_capacity(tokens.len() * 3);
    let push = |features: &mut Vec<Feature>, name: String, value: f64, origin: Origin| {
        features.push(Feature {
            name,
            value,
            origin,
        });
    };
    let mut previous: Option<usize> = None;
    for (i, t) in tokens.iter().enumerate() {
        if !counts(t) {
            continue;
        }
        for s in t.stems() {
            push(
                &mut features,
                format!("w:{s}"),
                1.0,
                Origin::Tokens(i, i + 1),
            );
        }
        if let Some(p) = previous {
            push(
                &mut features,
                format!("p:{} {}", tokens[p].stem, t.stem),
                1.0,
                Origin::Tokens(p, i + 1),
            );
        }
        previous = Some(i);
    }
    for r in rules {
        let s = &r.suggestion;
        if s.dimension != Dimension::Activity {
            continue;
        }
        push(
            &mut features,
            format!("r:{}", s.code),
            s.score,
            Origin::Rules(s.evidence.clone()),
        );
        if r.named {
            push(
                &mut features,
                format!("n:{}", s.code),
                1.0,
                Origin::Rules(s.evidence.clone()),
            );
        }
    }
    // Each name once, where it was first found (a stable sort keeps text order among equals).
    features.sort_by(|a, b| a.name.cmp(&b.name));
    features.dedup_by(|later, first| later.name == first.name);
    Extracted { tokens, features }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tagging::tagger::Tagger;
    use crate::tagging::taxonomy::Taxonomy;

    #[test]
    fn stems_pairs_and_rules_with_their_places() {
        let rules = Tagger::new(&Taxonomy::default_embedded().expect("taxonomy"));
        let text = "De vaders praten in de vadergroep over roken.";
        let x = extract(&rules.scores(text), text);
        let names: Vec<&str> = x.features.iter().map(|f| f.name.as_str()).collect();
        for want in [
            "w:vader",
            "w:prat",
            "p:vader prat",
            "w:vadergroep",
            "r:vadergroep",
            "n:vadergroep",
        ] {
            assert!(names.contains(&want), "{want} in {names:?}");
        }
        // Small words are skipped, also between the words of a pair.
        assert!(!names.contains(&"w:de"));
        assert!(names.contains(&"p:prat vadergroep"), "{names:?}");
        let pair = x
            .features
            .iter()
            .find(|f| f.name == "p:prat vadergroep")
            .expect("pair");
        assert_eq!(pair.origin, Origin::Tokens(2, 6));
    }
}
