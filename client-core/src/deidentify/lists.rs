//! The lookup lists, compiled in (`lists/*.txt`: written by us from general knowledge; see
//! `docs/deidentify.md` for what they hold and why they are small).

use super::text::fold;
use std::collections::HashSet;

pub struct Lists {
    pub first_names: HashSet<String>,
    pub surnames: HashSet<String>,
    /// Places below municipality level, folded, words joined by one space.
    pub places: HashSet<String>,
    /// Municipalities, large cities, countries: never masked as a place, never a name.
    pub municipalities: HashSet<String>,
    /// Capitalised words that are never a name.
    pub common: HashSet<String>,
    /// Institutions known by a proper name alone.
    pub institutions: HashSet<String>,
    /// The most words a multi-word place or institution has.
    pub max_words: usize,
}

fn words(src: &str) -> HashSet<String> {
    src.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
        .map(fold)
        .collect()
}

fn lines(src: &str) -> HashSet<String> {
    src.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| fold(&l.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect()
}

impl Lists {
    pub fn builtin() -> Lists {
        let places = lines(include_str!("lists/places.txt"));
        let institutions = lines(include_str!("lists/institutions.txt"));
        let mut municipalities = HashSet::new();
        for l in include_str!("lists/municipalities.txt").lines() {
            if l.trim_start().starts_with('#') {
                continue;
            }
            // Multi-word names ("den haag", "alphen aan den rijn") and their words.
            for w in l.split_whitespace() {
                municipalities.insert(fold(w));
            }
        }
        for multi in [
            "den haag",
            "alphen aan den rijn",
            "voorne aan zee",
            "hoeksche waard",
            "al hoceima",
        ] {
            municipalities.insert(multi.to_string());
        }
        let max_words = places
            .iter()
            .chain(institutions.iter())
            .map(|p| p.split(' ').count())
            .max()
            .unwrap_or(1);
        Lists {
            first_names: words(include_str!("lists/first_names.txt")),
            surnames: words(include_str!("lists/surnames.txt")),
            places,
            municipalities,
            common: words(include_str!("lists/common.txt")),
            institutions,
            max_words,
        }
    }
}
