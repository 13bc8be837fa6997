//! Identifiers found by words and their context: names, streets with house numbers, places,
//! schools, care institutions, dates written with a month's name, children's ages, and digits
//! spoken as words.
//!
//! Dutch writes proper nouns with a capital and little else, so a capitalised word inside a
//! sentence is a candidate; the lists and the words around it decide what it is. A capital at the
//! start of a sentence says nothing, so there only the lists and strong context count.
//!
//! This folder holds the finders by words: spoken digits, dates and ages here, names in
//! `names.rs`, streets, places, schools and institutions in `places.rs`, and the cue words they
//! look at in `cues.rs`. Not here: the lists of known names and places (`../lists/`), numbers
//! written in digits (`../numbers.rs`), or how findings are masked (`../mod.rs`).

use super::lists::Lists;
use super::numbers::{classify_digits, spoken_digit};
use super::text::{T, Tok};
use super::{Kind, Span};

mod cues;
mod names;
mod places;

use cues::*;

fn number_word(low: &str) -> Option<u32> {
    Some(match low {
        "één" | "eén" => 1,
        "twee" => 2,
        "drie" => 3,
        "vier" => 4,
        "vijf" => 5,
        "zes" => 6,
        "zeven" => 7,
        "acht" => 8,
        "negen" => 9,
        "tien" => 10,
        "elf" => 11,
        "twaalf" => 12,
        "dertien" => 13,
        "veertien" => 14,
        "vijftien" => 15,
        "zestien" => 16,
        "zeventien" => 17,
        "achttien" => 18,
        _ => return None,
    })
}

struct Ctx<'a, 'b> {
    toks: &'b [Tok<'a>],
    lists: &'b Lists,
    kept: &'b dyn Fn(&str) -> bool,
    out: Vec<Span>,
    /// Tokens already inside a finding (by index).
    taken: Vec<bool>,
    /// Tokens inside a name.
    in_name: Vec<bool>,
    /// Tokens that end a name.
    name_ends: Vec<bool>,
}

pub fn find(
    text: &str,
    toks: &[Tok<'_>],
    lists: &Lists,
    kept: &dyn Fn(&str) -> bool,
    numbers: &[Span],
) -> Vec<Span> {
    let _ = text;
    // Both are in text order: one pass marks the tokens the number spans cover.
    let mut sorted: Vec<&Span> = numbers.iter().collect();
    sorted.sort_by_key(|s| s.start);
    let mut k = 0;
    let taken = toks
        .iter()
        .map(|t| {
            while k < sorted.len() && sorted[k].end <= t.start {
                k += 1;
            }
            sorted[k..]
                .iter()
                .take_while(|s| s.start < t.end)
                .any(|s| s.start < t.end && t.start < s.end)
        })
        .collect();
    let mut c = Ctx {
        toks,
        lists,
        kept,
        out: Vec::new(),
        taken,
        in_name: vec![false; toks.len()],
        name_ends: vec![false; toks.len()],
    };
    c.spoken_digits();
    c.dates();
    c.institutions_and_schools();
    c.streets();
    c.places();
    c.names();
    c.ages();
    c.out
}

impl Ctx<'_, '_> {
    fn push(&mut self, from: usize, to: usize, kind: Kind, reason: &'static str) {
        let (start, end) = (self.toks[from].start, self.toks[to].end);
        for t in &mut self.taken[from..=to] {
            *t = true;
        }
        if kind == Kind::Naam {
            for t in &mut self.in_name[from..=to] {
                *t = true;
            }
            self.name_ends[to] = true;
        }
        self.out.push(Span {
            start,
            end,
            kind,
            reason,
        });
    }

    fn low(&self, i: usize) -> &str {
        self.toks.get(i).map_or("", |t| t.low.as_str())
    }

    fn is_word(&self, i: usize) -> bool {
        self.toks.get(i).is_some_and(|t| t.t == T::Word)
    }

    /// A capitalised word that could be (part of) a proper noun.
    fn proper(&self, i: usize) -> bool {
        self.toks.get(i).is_some_and(|t| {
            t.t == T::Word && t.cap && !self.lists.common.contains(&t.low) && !(self.kept)(&t.low)
        })
    }

    fn spoken_digits(&mut self) {
        let n = self.toks.len();
        let mut i = 0;
        while i < n {
            let mut digits = String::new();
            let mut j = i;
            let mut last = i;
            while j < n {
                let t = &self.toks[j];
                if let Some(d) = (t.t == T::Word).then(|| spoken_digit(&t.low)).flatten() {
                    digits.push(d);
                    last = j;
                } else if t.t == T::Num && t.text.len() <= 4 && !digits.is_empty() {
                    digits.push_str(t.text);
                    last = j;
                } else if !(t.t == T::Punct && matches!(t.text, "," | "-") && !digits.is_empty()) {
                    break;
                }
                j += 1;
            }
            let words = (i..=last).filter(|&k| self.toks[k].t == T::Word).count();
            if words >= 4
                && let Some((kind, reason)) = classify_digits(&digits)
            {
                self.push(i, last, kind, reason);
                i = last + 1;
            } else {
                i += 1;
            }
        }
    }

    /// `14 maart 2024`, `1 augustus`, `3 mei '19`.
    fn dates(&mut self) {
        for i in 0..self.toks.len() {
            let t = &self.toks[i];
            if t.t != T::Num || self.taken[i] || t.text.len() > 2 {
                continue;
            }
            let day: u32 = t.text.parse().unwrap_or(0);
            if !(1..=31).contains(&day) || !MONTHS.contains(&self.low(i + 1)) {
                continue;
            }
            let mut end = i + 1;
            if self
                .toks
                .get(i + 2)
                .is_some_and(|y| y.t == T::Num && y.text.len() == 4)
            {
                end = i + 2;
            }
            self.push(i, end, Kind::Datum, "day and month");
        }
    }

    /// The end of a run of capitalised words from `i` (with particles between them).
    fn proper_run(&self, i: usize) -> usize {
        let mut end = i;
        let mut j = i + 1;
        while j < self.toks.len() && !self.toks[j].sent {
            if self.proper(j)
                || (self.toks[j].cap && self.lists.municipalities.contains(self.low(j)))
            {
                end = j;
                j += 1;
            } else if PARTICLES.contains(&self.low(j)) && !self.toks[j].cap && self.proper(j + 1) {
                j += 1;
            } else {
                break;
            }
        }
        end
    }

    fn ages(&mut self) {
        let n = self.toks.len();
        // Sentence bounds, for "a child is named in this sentence".
        let mut s = 0;
        let sentence_of: Vec<usize> = self
            .toks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if t.sent && t.t == T::Word {
                    s = i;
                }
                s
            })
            .collect();
        // A child word or a name in the sentence (at most 40 tokens either side: a transcript
        // without full stops is one long sentence).
        let child_in = |from: usize, to: usize, c: &Ctx<'_, '_>| {
            (from..to.min(n)).any(|k| CHILD_WORDS.contains(&c.low(k)) || c.in_name[k])
        };
        for i in 0..n {
            if self.taken[i] {
                continue;
            }
            let t = &self.toks[i];
            let value = if t.t == T::Num && t.text.len() <= 2 {
                t.text.parse::<u32>().ok()
            } else if t.t == T::Word {
                number_word(&t.low)
            } else {
                None
            };
            let Some(v) = value else { continue };
            if v > 18 {
                continue;
            }
            let prev = if i > 0 { self.low(i - 1) } else { "" };
            let next = self.low(i + 1);
            let end_of_sentence = (i + 1..n.min(i + 40))
                .find(|&k| self.toks[k].sent)
                .unwrap_or(n.min(i + 40));
            let from = sentence_of
                .get(i)
                .copied()
                .unwrap_or(0)
                .max(i.saturating_sub(40));
            // `Noor (4)`.
            if prev == "(" && next == ")" && i > 1 && self.name_ends[i - 2] {
                self.push(i, i, Kind::Leeftijd, "age in brackets after a name");
                continue;
            }
            let unit = AGE_UNITS.contains(&next);
            let and_unit = next == "en"
                && self
                    .toks
                    .get(i + 2)
                    .is_some_and(|t| t.t == T::Num || number_word(&t.low).is_some())
                && AGE_UNITS.contains(&self.low(i + 3));
            let before_ok = AGE_BEFORE.contains(&prev);
            if before_ok && unit {
                let after = self.low(i + 2);
                let old = after == "oud";
                if NOT_AGE_AFTER.contains(&after)
                    || (!old && !child_in(from, end_of_sentence, self))
                {
                    continue;
                }
                let end = if old { i + 2 } else { i + 1 };
                self.push(i, end, Kind::Leeftijd, "age of a child");
            } else if before_ok && and_unit && child_in(from, end_of_sentence, self) {
                self.push(i, i, Kind::Leeftijd, "age of a child");
            } else if matches!(prev, "van" | "is" | "wordt" | "werd" | "was")
                && !unit
                && !AGE_UNITS.contains(&next)
                && !matches!(next, "uur" | "keer" | "euro" | "procent" | "%")
                && i >= 2
                && ((CHILD_WORDS.contains(&self.low(i - 2)) || self.name_ends[i - 2])
                    || (prev != "van"
                        && self.toks.get(i + 1).is_none_or(|x| {
                            x.t != T::Word || x.sent || matches!(x.low.as_str(), "en" | "oud")
                        })
                        && child_in(from, i, self)))
            {
                // `het meisje van 7`, `Sara is 14`, `wordt 3`.
                self.push(i, i, Kind::Leeftijd, "age of a child");
            } else if !unit
                && t.t == T::Num
                && matches!(next, "." | "," | "!" | "")
                && (from..i).any(|k| matches!(self.low(k), "wordt" | "werd"))
                && child_in(from, end_of_sentence, self)
            {
                // `Ze werd op 21 december 4.`
                self.push(i, i, Kind::Leeftijd, "age a child turns");
            }
        }
    }
}
