//! Where someone lives or goes: streets with a house number, places below municipality level,
//! schools and care institutions by their name and the words around it.

use super::*;

impl Ctx<'_, '_> {
    pub(super) fn institutions_and_schools(&mut self) {
        let n = self.toks.len();
        for i in 0..n {
            if self.taken[i] || !self.is_word(i) {
                continue;
            }
            let low = self.low(i).to_string();
            // A head word, then an optional article, then capitalised words.
            let school_head = SCHOOL_HEADS.contains(&low.as_str());
            let inst_head = INSTITUTION_HEADS.contains(&low.as_str());
            if school_head || inst_head {
                let mut j = i + 1;
                if matches!(self.low(j), "de" | "het" | "'t") && self.proper(j + 1) {
                    j += 1;
                }
                if (self.proper(j) || (j > i + 1 && self.toks[j].cap))
                    && self.toks.get(j).is_some_and(|t| !t.sent)
                {
                    let end = self.proper_run(j);
                    let (kind, reason) = if school_head {
                        (Kind::School, "school's name after a school word")
                    } else {
                        (Kind::Instelling, "institution's name after a care word")
                    };
                    self.push(i, end, kind, reason);
                    continue;
                }
            }
            // Capitalised words, then a tail word: `Juliana Kinderziekenhuis`, `Erasmus MC`.
            let school_tail = SCHOOL_TAILS.contains(&low.as_str()) && self.toks[i].cap;
            let inst_tail = INSTITUTION_TAILS.contains(&low.as_str())
                && (self.toks[i].cap || self.toks[i].text.chars().all(char::is_uppercase));
            let school_word = self.toks[i].cap
                && low.len() > 8
                && low.ends_with("school")
                && !self.lists.common.contains(&low);
            if (school_tail || inst_tail) && i > 0 && self.proper_before(i - 1).is_some() {
                let from = self.proper_before(i - 1).unwrap_or(i);
                let (kind, reason) = if school_tail {
                    (Kind::School, "name before a school word")
                } else {
                    (Kind::Instelling, "name before a care word")
                };
                self.push(from, i, kind, reason);
                continue;
            }
            if school_word {
                let from = if i > 0 {
                    self.proper_before(i - 1).unwrap_or(i)
                } else {
                    i
                };
                self.push(from, i, Kind::School, "a school's name");
                continue;
            }
            // Known names: `Parnassia`, `Reinier de Graaf`.
            if self.toks[i].cap
                && let Some(end) = self.match_list(i, &self.lists.institutions)
            {
                self.push(i, end, Kind::Instelling, "known care institution");
            }
        }
        // `zit op De Klimop in groep 6`: a name after `op`/`naar` in a sentence about a school.
        for i in 1..n {
            let candidate = !self.taken[i]
                && matches!(self.low(i - 1), "op" | "naar" | "van")
                && self.toks[i].cap
                && matches!(self.low(i), "de" | "het" | "'t")
                && self.proper(i + 1);
            if !candidate {
                continue;
            }
            let end = self.proper_run(i + 1);
            let near = self.toks[i.saturating_sub(5)..i]
                .iter()
                .chain(&self.toks[end + 1..(end + 6).min(n)]);
            let school = near
                .into_iter()
                .any(|t| matches!(t.low.as_str(), "groep" | "klas" | "juf" | "meester"));
            if school {
                self.push(
                    i,
                    end,
                    Kind::School,
                    "name of a school (groep, klas nearby)",
                );
            }
        }
    }

    /// The first token of a run of capitalised words (with particles) ending at `i`.
    pub(super) fn proper_before(&self, i: usize) -> Option<usize> {
        if !(self.proper(i) || self.toks[i].cap && self.lists.municipalities.contains(self.low(i)))
        {
            return None;
        }
        let mut from = i;
        let mut j = i;
        while j > 0 {
            let k = j - 1;
            if self.proper(k) && !self.taken[k] {
                from = k;
                j = k;
            } else if PARTICLES.contains(&self.low(k))
                && !self.toks[k].cap
                && k > 0
                && self.proper(k - 1)
            {
                j = k;
            } else {
                break;
            }
        }
        Some(from)
    }

    /// The longest multi-word entry of `list` starting at token `i`, as its last token.
    pub(super) fn match_list(
        &self,
        i: usize,
        list: &std::collections::HashSet<String>,
    ) -> Option<usize> {
        let mut key = String::new();
        let mut best = None;
        for j in i..(i + self.lists.max_words).min(self.toks.len()) {
            if !self.is_word(j) {
                break;
            }
            if j > i {
                key.push(' ');
            }
            key.push_str(self.low(j));
            if list.contains(&key) {
                best = Some(j);
            }
        }
        best
    }

    /// A house number after a street: `12`, `7a`, `5 b`, `12-3`, `45-II`.
    pub(super) fn house_number(&self, i: usize) -> Option<usize> {
        let t = self.toks.get(i)?;
        if t.t != T::Num || t.text.len() > 4 {
            return None;
        }
        let mut end = i;
        if let Some(n) = self.toks.get(i + 1)
            && n.t == T::Word
            && n.start == t.end
            && n.text.chars().count() <= 3
        {
            end = i + 1;
        } else if self
            .toks
            .get(i + 1)
            .is_some_and(|h| h.text == "-" && h.start == t.end)
            && self.toks.get(i + 2).is_some_and(|x| {
                x.start == t.end + 1
                    && (x.t == T::Num || (x.t == T::Word && x.text.chars().count() <= 4))
            })
        {
            end = i + 2;
        }
        Some(end)
    }

    pub(super) fn streets(&mut self) {
        let n = self.toks.len();
        for i in 0..n {
            if self.taken[i] || !self.is_word(i) || !self.toks[i].cap {
                continue;
            }
            let low = self.low(i);
            let mut last = None;
            let mut reason = "street name";
            let ends = |list: &[&str]| {
                list.iter()
                    .any(|e| low.len() > e.len() + 2 && low.ends_with(e))
            };
            let numbered = self.house_number(i + 1).is_some();
            if let Some(end) = (ends(STREET_ENDINGS) || (numbered && ends(WEAK_STREET_ENDINGS)))
                .then_some(i)
                .filter(|_| {
                    !self.lists.places.contains(low)
                        && !self.lists.common.contains(low)
                        && !self.lists.municipalities.contains(low)
                        && !(self.kept)(low)
                })
            {
                last = Some(end);
            } else if STREET_HEADS.contains(&low)
                && PARTICLES.contains(&self.low(i + 1))
                && self.proper(i + 2)
            {
                // `Laan van Meerdervoort`, `Laan van Nieuw Oost-Indië`.
                last = Some(self.proper_run(i + 2));
                reason = "street name (laan van ...)";
            }
            let Some(mut end) = last else { continue };
            // Words before it: `Prins Hendrikstraat`, `Van Heemskerckstraat`, `Johan de Wittlaan`.
            let mut from = i;
            while from > 0 {
                let k = from - 1;
                let cap_prefix = self.toks[k].cap
                    && self.is_word(k)
                    && !self.taken[k]
                    && (!self.lists.common.contains(self.low(k))
                        || matches!(self.low(k), "van" | "de" | "den" | "der" | "sint"))
                    && !(self.toks[k].sent
                        && self.lists.common.contains(self.low(k))
                        && k + 1 == from
                        && !matches!(self.low(k), "van"));
                let particle = !self.toks[k].cap
                    && matches!(self.low(k), "van" | "de" | "der" | "den")
                    && k > 0
                    && self.toks[k - 1].cap
                    && self.proper(k - 1);
                if cap_prefix || particle {
                    from = k;
                } else {
                    break;
                }
            }
            if let Some(e) = self.house_number(end + 1) {
                end = e;
                reason = "street and house number";
            }
            self.push(from, end, Kind::Adres, reason);
        }
        // `huisnummer 17`, and a capitalised name with a number after `aan de`/`op de`.
        for i in 0..n {
            if self.taken[i] {
                continue;
            }
            if matches!(self.low(i), "huisnummer" | "nummer" | "nr")
                && let Some(e) = self.house_number(i + 1)
                && (self.low(i) == "huisnummer"
                    || self.out.last().is_some_and(|s| s.kind == Kind::Adres))
            {
                self.push(i + 1, e, Kind::Adres, "house number");
            }
        }
        for i in 2..n {
            if self.taken[i]
                || !matches!(self.low(i - 1), "de" | "het")
                || !matches!(self.low(i - 2), "aan" | "op" | "in")
                || !self.proper(i)
            {
                continue;
            }
            let end = self.proper_run(i);
            if let Some(e) = self.house_number(end + 1) {
                self.push(i, e, Kind::Adres, "name and house number after aan/op de");
            }
        }
    }

    pub(super) fn places(&mut self) {
        let n = self.toks.len();
        for i in 0..n {
            if self.taken[i] || !self.is_word(i) || !self.toks[i].cap {
                continue;
            }
            if let Some(end) = self.match_list(i, &self.lists.places) {
                let key: Vec<&str> = (i..=end).map(|k| self.low(k)).collect();
                if (self.kept)(&key.join(" ")) {
                    continue;
                }
                self.push(i, end, Kind::Plaats, "place below municipality level");
            }
        }
        // `in de wijk X`, `wijk X`.
        for i in 1..n {
            if !self.taken[i]
                && matches!(
                    self.low(i - 1),
                    "wijk" | "buurt" | "dorp" | "kern" | "woonwijk"
                )
                && self.proper(i)
                && !self.lists.municipalities.contains(self.low(i))
            {
                let end = self.proper_run(i);
                self.push(i, end, Kind::Plaats, "name of a neighbourhood");
            }
        }
    }
}
