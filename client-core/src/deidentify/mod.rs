//! A Dutch de-identifier: finds the people, places and numbers in a story that make it personal
//! data (issue 16, `docs/deidentify.md`), and masks them with bracketed Dutch labels.
//!
//! **Design.** Rules and small lookup lists, no learned model: it runs on the server for every
//! export and could run in the shell as a person types, so it is pure (no IO, no clock), depends
//! on nothing but `std`, and compiles to `wasm32-unknown-unknown`. The lists are written by us
//! from general knowledge (`lists/*.txt`, compiled in); a workspace adds what must stay visible
//! (its municipalities and partner organisations) with [`Deidentifier::keep`].
//!
//! Patterns find e-mail addresses, phone numbers (Dutch notations, spoken digits), BSNs (only
//! those that pass the 11-proef), postcodes and dates ([`numbers`]); words and their context find
//! names, streets with house numbers, places below municipality level, schools, care institutions
//! and children's ages ([`words`]). Where two findings overlap, the more specific kind wins
//! (a phone number before a date, an institution before the name inside it).

pub mod eval;
mod lists;
mod numbers;
mod text;
mod words;

use std::collections::HashSet;

pub use lists::Lists;

/// What a span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Naam,
    Adres,
    Postcode,
    Plaats,
    School,
    Instelling,
    Telefoon,
    Email,
    Bsn,
    Datum,
    Leeftijd,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Naam,
        Kind::Adres,
        Kind::Postcode,
        Kind::Plaats,
        Kind::School,
        Kind::Instelling,
        Kind::Telefoon,
        Kind::Email,
        Kind::Bsn,
        Kind::Datum,
        Kind::Leeftijd,
    ];

    /// The Dutch code, also the word inside the label (`naam` → `[naam]`).
    pub fn code(self) -> &'static str {
        match self {
            Kind::Naam => "naam",
            Kind::Adres => "adres",
            Kind::Postcode => "postcode",
            Kind::Plaats => "plaats",
            Kind::School => "school",
            Kind::Instelling => "instelling",
            Kind::Telefoon => "telefoon",
            Kind::Email => "e-mail",
            Kind::Bsn => "bsn",
            Kind::Datum => "datum",
            Kind::Leeftijd => "leeftijd",
        }
    }

    pub fn from_code(code: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The text that replaces a span of this kind.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Naam => "[naam]",
            Kind::Adres => "[adres]",
            Kind::Postcode => "[postcode]",
            Kind::Plaats => "[plaats]",
            Kind::School => "[school]",
            Kind::Instelling => "[instelling]",
            Kind::Telefoon => "[telefoon]",
            Kind::Email => "[e-mail]",
            Kind::Bsn => "[bsn]",
            Kind::Datum => "[datum]",
            Kind::Leeftijd => "[leeftijd]",
        }
    }

    /// Which finding wins an overlap: lower first.
    fn rank(self) -> u8 {
        match self {
            Kind::Email => 0,
            Kind::Bsn => 1,
            Kind::Telefoon => 2,
            Kind::Postcode => 3,
            Kind::Datum => 4,
            Kind::Instelling | Kind::School => 5,
            Kind::Adres => 6,
            Kind::Plaats => 7,
            Kind::Naam => 8,
            Kind::Leeftijd => 9,
        }
    }
}

/// One finding: byte offsets into the text, what it is, and why (a short English phrase naming
/// the rule, for the desk and for tuning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
    pub reason: &'static str,
}

/// The de-identifier: lookup lists plus what a workspace keeps visible.
pub struct Deidentifier {
    lists: Lists,
    keep: HashSet<String>,
}

impl Default for Deidentifier {
    fn default() -> Self {
        Deidentifier::new()
    }
}

impl Deidentifier {
    /// With the built-in lists.
    pub fn new() -> Deidentifier {
        Deidentifier {
            lists: Lists::builtin(),
            keep: HashSet::new(),
        }
    }

    /// Keep these visible (a workspace's municipalities, partner organisations): a finding whose
    /// whole text is one of them is not masked, and a word that is one of them is never taken
    /// for a name. Compared without case and accents.
    pub fn keep<I, S>(mut self, words: I) -> Deidentifier
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for w in words {
            let w = text::fold(w.as_ref().trim());
            if !w.is_empty() {
                self.keep.insert(w);
            }
        }
        self
    }

    /// Every identifier in `text`, in order, not overlapping.
    pub fn find(&self, text: &str) -> Vec<Span> {
        self.find_keeping(text, &[])
    }

    /// Like [`Deidentifier::find`], also keeping `extra` visible (e.g. the story's own
    /// municipality).
    pub fn find_keeping(&self, text: &str, extra: &[&str]) -> Vec<Span> {
        let extra: Vec<String> = extra.iter().map(|e| text::fold(e.trim())).collect();
        let kept = |w: &str| self.keep.contains(w) || extra.iter().any(|e| e == w);
        let mut found = numbers::find(text);
        let toks = text::tokens(text);
        let by_words = words::find(text, &toks, &self.lists, &kept, &found);
        found.extend(by_words);
        resolve(text, found, &kept)
    }
}

/// Overlaps resolved by kind, then length; kept texts dropped; sorted by position.
fn resolve(text: &str, mut found: Vec<Span>, kept: &dyn Fn(&str) -> bool) -> Vec<Span> {
    found.sort_by(|a, b| {
        a.kind
            .rank()
            .cmp(&b.kind.rank())
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    let mut out: Vec<Span> = Vec::with_capacity(found.len());
    // What is accepted, kept sorted and without overlaps: only the last one that starts before
    // a span's end can overlap it.
    let mut accepted: Vec<(usize, usize)> = Vec::with_capacity(found.len());
    for s in found {
        let at = accepted.partition_point(|a| a.0 < s.end);
        if s.start >= s.end || (at > 0 && accepted[at - 1].1 > s.start) {
            continue;
        }
        let t = text::fold(text.get(s.start..s.end).unwrap_or_default());
        let bare = t
            .strip_prefix("de ")
            .or_else(|| t.strip_prefix("het "))
            .unwrap_or(&t);
        if kept(&t) || kept(bare) {
            continue;
        }
        accepted.insert(at, (s.start, s.end));
        out.push(s);
    }
    out.sort_by_key(|s| s.start);
    out
}

/// `text` with each span replaced by its label.
pub fn mask(text: &str, spans: &[Span]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in spans {
        if s.start < at || s.end > text.len() {
            continue;
        }
        out.push_str(&text[at..s.start]);
        out.push_str(s.kind.label());
        at = s.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests;
