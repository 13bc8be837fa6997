//! People's names: a capitalised word known as a first name or surname, or unknown but in a
//! person's context (a cue before it, a verb of speech after it), with the surname after it.

use super::*;

impl Ctx<'_, '_> {
    pub(super) fn first_name(&self, i: usize) -> bool {
        self.is_word(i)
            && self.toks[i].cap
            && self.lists.first_names.contains(self.low(i))
            && !self.lists.common.contains(self.low(i))
            && !(self.kept)(self.low(i))
    }

    pub(super) fn surname(&self, i: usize) -> bool {
        self.is_word(i)
            && self.toks[i].cap
            && self.lists.surnames.contains(self.low(i))
            && !(self.kept)(self.low(i))
    }

    /// A capitalised word that is no known place, municipality or other proper noun.
    pub(super) fn unknown_proper(&self, i: usize) -> bool {
        self.proper(i)
            && !self.taken[i]
            && !self.lists.municipalities.contains(self.low(i))
            && !self.lists.places.contains(self.low(i))
            && self.toks[i].text.chars().any(char::is_lowercase)
    }

    /// Extend a name from its first word over more names and particles: `Anja de Vries`,
    /// `Youssef El Idrissi`, `Inge van Dam`.
    pub(super) fn name_end(&self, i: usize) -> usize {
        let mut end = i;
        let mut j = i + 1;
        while j < self.toks.len() && !self.taken[j] {
            let cap_particle = self.toks[j].cap
                && matches!(
                    self.low(j),
                    "el" | "al" | "ben" | "van" | "de" | "ter" | "ten" | "da"
                )
                && self.unknown_or_name(j + 1);
            if self.unknown_or_name(j) && !self.toks[j].sent {
                end = j;
                j += 1;
            } else if cap_particle && !self.toks[j].sent {
                j += 1;
            } else if PARTICLES.contains(&self.low(j))
                && !self.toks[j].cap
                && !matches!(self.low(j), "op" | "in" | "te" | "het")
            {
                // `van der`, `van den`, `de`.
                let mut k = j + 1;
                while k < self.toks.len() && PARTICLES.contains(&self.low(k)) && !self.toks[k].cap {
                    k += 1;
                }
                if self.unknown_or_name(k) && !self.toks[k].sent {
                    j = k;
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        end
    }

    pub(super) fn unknown_or_name(&self, i: usize) -> bool {
        i < self.toks.len()
            && !self.taken[i]
            && (self.unknown_proper(i) || self.surname(i) || self.first_name(i))
    }

    pub(super) fn names(&mut self) {
        let n = self.toks.len();
        let mut i = 0;
        while i < n {
            if self.taken[i] || !self.is_word(i) {
                i += 1;
                continue;
            }
            let t = &self.toks[i];
            let prev = if i > 0 { self.low(i - 1) } else { "" };
            let prev_word_is_cue = PERSON_CUES.contains(&prev)
                || (prev == "," && i > 1 && PERSON_CUES.contains(&self.low(i - 2)));
            let title = i > 0 && TITLES.contains(&prev)
                || (prev == "." && i > 1 && TITLES.contains(&self.low(i - 2)));
            let next = self.low(i + 1);
            let followed_by_age = next == "("
                && self
                    .toks
                    .get(i + 2)
                    .is_some_and(|t| t.t == T::Num && t.text.len() <= 2)
                && self.low(i + 3) == ")";
            let mut reason = "";
            if self.first_name(i) {
                reason = "first name";
            } else if title && !t.cap && PARTICLES.contains(&t.low.as_str()) {
                // `mevrouw de Vries`: the particle begins the name.
                let mut k = i;
                while k < n && PARTICLES.contains(&self.low(k)) && !self.toks[k].cap {
                    k += 1;
                }
                if self.unknown_or_name(k) {
                    let end = self.name_end(k);
                    self.push(i, end, Kind::Naam, "surname after a form of address");
                    i = end + 1;
                    continue;
                }
            } else if self.surname(i) && (!t.sent || title || prev_word_is_cue) {
                reason = "surname";
            } else if self.unknown_proper(i) || (title && t.cap && self.is_word(i)) {
                let name_context = prev_word_is_cue || title || followed_by_age;
                let verb_after = PERSON_VERBS.contains(&next)
                    && !matches!(
                        next,
                        "is" | "was"
                            | "en"
                            | "heeft"
                            | "had"
                            | "kan"
                            | "kon"
                            | "mag"
                            | "mocht"
                            | "gaat"
                            | "ging"
                            | "moet"
                            | "moest"
                            | "zit"
                            | "zat"
                            | "weet"
                            | "wist"
                            | "vindt"
                            | "vond"
                            | "heb"
                            | "krijgt"
                            | "kreeg"
                    )
                    && !t.sent;
                let particle_name = t.cap
                    && matches!(t.low.as_str(), "el" | "al" | "van" | "de" | "ben")
                    && self.unknown_or_name(i + 1);
                let and_name = (next == "en" && self.first_name(i + 2))
                    || (prev == "en" && i > 1 && self.name_ends[i - 2]);
                if name_context && (t.cap || title) {
                    reason = "capitalised word after a relation or form of address";
                } else if verb_after {
                    reason = "capitalised word before a verb";
                } else if particle_name && (title || prev_word_is_cue) {
                    reason = "surname with a particle";
                } else if and_name {
                    reason = "capitalised word beside a name";
                } else if !t.sent
                    && self.low(i + 1) == ","
                    && PERSON_CUES.contains(&self.low(i + 2))
                {
                    reason = "capitalised word before a relation";
                } else if t.sent
                    && SPEECH_VERBS.contains(&next)
                    && t.text.chars().count() >= 3
                    && !self.lists.surnames.contains(&t.low)
                {
                    reason = "capitalised word before a verb of speech";
                }
            }
            if reason.is_empty() {
                i += 1;
                continue;
            }
            let end = self.name_end(i);
            self.push(i, end, Kind::Naam, reason);
            i = end + 1;
        }
    }
}
