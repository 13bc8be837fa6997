//! Identifiers found by words and their context: names, streets with house numbers, places,
//! schools, care institutions, dates written with a month's name, children's ages, and digits
//! spoken as words.
//!
//! Dutch writes proper nouns with a capital and little else, so a capitalised word inside a
//! sentence is a candidate; the lists and the words around it decide what it is. A capital at the
//! start of a sentence says nothing, so there only the lists and strong context count.

use super::lists::Lists;
use super::numbers::{classify_digits, spoken_digit};
use super::text::{T, Tok};
use super::{Kind, Span};

/// Words right before a person's name: relations, roles and forms of address.
const PERSON_CUES: &[&str] = &[
    "buurvrouw",
    "buurman",
    "buurjongen",
    "buurmeisje",
    "zoon",
    "zoontje",
    "dochter",
    "dochtertje",
    "kind",
    "kindje",
    "baby",
    "babe",
    "meisje",
    "meisjes",
    "jongen",
    "jongetje",
    "peuter",
    "kleuter",
    "broer",
    "broertje",
    "zus",
    "zusje",
    "zussen",
    "tante",
    "oom",
    "neef",
    "neefje",
    "nicht",
    "nichtje",
    "man",
    "vrouw",
    "vriend",
    "vriendje",
    "vriendin",
    "vriendinnetje",
    "partner",
    "ex",
    "vader",
    "moeder",
    "mama",
    "papa",
    "oma",
    "opa",
    "schoonmoeder",
    "schoonvader",
    "schoonzus",
    "schoonzuster",
    "zwager",
    "schoondochter",
    "kleinzoon",
    "kleindochter",
    "stiefvader",
    "stiefmoeder",
    "pleegmoeder",
    "pleegvader",
    "collega",
    "oppas",
    "vrijwilliger",
    "vrijwilligster",
    "verloskundige",
    "verpleegkundige",
    "kraamverzorgster",
    "kraamverzorgende",
    "mentor",
    "coach",
    "juf",
    "juffrouw",
    "meester",
    "mevrouw",
    "meneer",
    "mevr",
    "mw",
    "dhr",
    "hr",
    "dokter",
    "dr",
    "huisarts",
    "zuster",
    "familie",
    "fam",
    "tweeling",
    "jongste",
    "oudste",
    "middelste",
    "heet",
    "heette",
    "genaamd",
    "noemde",
    "noemt",
    "kinderen",
    "zonen",
    "dochters",
    "pasgeboren",
    "stagiaire",
    "tolk",
    "jeugdverpleegkundige",
    "wijkverpleegkundige",
    "jeugdarts",
    "casemanager",
    "begeleider",
    "begeleidster",
    "hulpverlener",
    "maatschappelijk",
    "werker",
    "sleutelpersoon",
];

/// Forms of address after which a surname follows (also with a particle: `mevrouw de Vries`).
const TITLES: &[&str] = &[
    "mevrouw", "meneer", "mevr", "mw", "dhr", "hr", "dokter", "dr", "juf", "juffrouw", "meester",
    "familie", "fam", "zuster",
];

/// Verbs that follow a person as subject.
const PERSON_VERBS: &[&str] = &[
    "vertelde",
    "vertelt",
    "zei",
    "zegt",
    "belde",
    "belt",
    "vroeg",
    "vraagt",
    "kwam",
    "komt",
    "wil",
    "wilde",
    "heeft",
    "had",
    "woont",
    "woonde",
    "werkt",
    "werkte",
    "helpt",
    "hielp",
    "kreeg",
    "krijgt",
    "sprak",
    "spreekt",
    "moest",
    "moet",
    "durfde",
    "durft",
    "voelt",
    "voelde",
    "huilde",
    "huilt",
    "lachte",
    "lacht",
    "haalt",
    "haalde",
    "bracht",
    "brengt",
    "past",
    "paste",
    "stuurde",
    "stuurt",
    "schreef",
    "schrijft",
    "mailde",
    "appte",
    "appt",
    "zorgt",
    "zorgde",
    "slaapt",
    "sliep",
    "speelt",
    "speelde",
    "gaat",
    "ging",
    "is",
    "was",
    "en",
    "kan",
    "kon",
    "mag",
    "mocht",
    "zit",
    "zat",
    "loopt",
    "liep",
    "kookt",
    "kookte",
    "vindt",
    "vond",
    "denkt",
    "dacht",
    "weet",
    "wist",
    "heb",
    "zag",
    "ziet",
    "leert",
    "leerde",
    "verhuisde",
    "bevalt",
    "beviel",
    "zwijgt",
    "zweeg",
];

/// Verbs of speech and feeling: a capitalised word before one is a person even at the start of
/// a sentence.
const SPEECH_VERBS: &[&str] = &[
    "vertelde",
    "vertelt",
    "zei",
    "zegt",
    "vroeg",
    "vraagt",
    "belde",
    "huilde",
    "lachte",
    "antwoordde",
    "legde",
    "schreef",
    "appte",
    "mailde",
    "wilde",
    "durfde",
    "voelt",
    "voelde",
    "vindt",
    "vond",
    "hoopt",
    "hoopte",
    "twijfelt",
    "twijfelde",
    "schaamt",
    "schaamde",
];

/// Particles inside Dutch and other surnames.
const PARTICLES: &[&str] = &[
    "van", "de", "der", "den", "ter", "ten", "te", "het", "'t", "el", "al", "ben", "bin", "ibn",
    "da", "dos", "das", "du", "le", "la", "von", "op", "in",
];

/// Words that name a child in a sentence about an age.
const CHILD_WORDS: &[&str] = &[
    "kind",
    "kindje",
    "kinderen",
    "baby",
    "babytje",
    "zoon",
    "zoontje",
    "dochter",
    "dochtertje",
    "meisje",
    "meisjes",
    "jongen",
    "jongetje",
    "peuter",
    "kleuter",
    "tweeling",
    "broertje",
    "zusje",
    "broer",
    "zus",
    "oudste",
    "jongste",
    "middelste",
    "kleine",
    "kleintje",
    "kleintjes",
    "pasgeborene",
    "dreumes",
    "kinderen",
    "zonen",
    "dochters",
    "kleinkind",
];

/// Endings of street names (capitalised, one word: `Molenstraat`, `Zuidweg`).
const STREET_ENDINGS: &[&str] = &[
    "straat",
    "straatje",
    "laan",
    "weg",
    "plein",
    "gracht",
    "kade",
    "singel",
    "dijk",
    "dreef",
    "steeg",
    "pad",
    "hof",
    "park",
    "plantsoen",
    "markt",
    "straatweg",
    "boulevard",
    "promenade",
    "allee",
];

/// Endings that are also the endings of ordinary words (`Monitoring`, `Zorgakkoord`,
/// `Loopbaan`): a street only with a house number after it.
const WEAK_STREET_ENDINGS: &[&str] = &[
    "ring", "oord", "hoek", "tuin", "baan", "berg", "dam", "veld", "weide", "hoven", "haven",
    "erf", "wal", "burcht", "kwartier", "hage", "rade", "akker", "gaarde", "zoom",
];

/// Street words that begin a multi-word street name: `Laan van Meerdervoort`.
const STREET_HEADS: &[&str] = &[
    "laan",
    "plein",
    "kade",
    "weg",
    "dreef",
    "singel",
    "gracht",
    "straat",
    "burgemeester",
];

/// Words before a school's name (`basisschool De Regenboog`, `OBS De Horizon`).
const SCHOOL_HEADS: &[&str] = &[
    "basisschool",
    "school",
    "obs",
    "cbs",
    "rkbs",
    "pcbs",
    "ikc",
    "kindcentrum",
    "kindcentra",
    "montessorischool",
    "daltonschool",
    "jenaplanschool",
    "sbo",
    "so",
    "vso",
    "scholengemeenschap",
    "schoolvereniging",
    "peuterspeelzaal",
    "peuterschool",
];

/// Words after a school's name (`het Westland College`).
const SCHOOL_TAILS: &[&str] = &[
    "college",
    "lyceum",
    "gymnasium",
    "scholengemeenschap",
    "campus",
    "academie",
    "school",
];

/// Words before an institution's name (`huisartsenpraktijk De Linde`, `Kraamzorg Rianne`).
const INSTITUTION_HEADS: &[&str] = &[
    "huisartsenpraktijk",
    "huisartspraktijk",
    "verloskundigenpraktijk",
    "verloskundigen",
    "verloskundigenpraktijk",
    "praktijk",
    "kraamzorg",
    "kraamzorgorganisatie",
    "kraambureau",
    "kinderdagverblijf",
    "kdv",
    "bso",
    "kinderopvang",
    "stichting",
    "zorggroep",
    "gezondheidscentrum",
    "apotheek",
    "ziekenhuis",
    "kliniek",
    "tandartspraktijk",
    "fysiotherapiepraktijk",
    "opvang",
    "zorgboerderij",
    "inloophuis",
    "moederhuis",
    "gezinshuis",
    "jeugdzorginstelling",
    "ggz-instelling",
    "woonzorgcentrum",
    "verpleeghuis",
];

/// Words after an institution's name (`Juliana Kinderziekenhuis`, `Erasmus MC`).
const INSTITUTION_TAILS: &[&str] = &[
    "ziekenhuis",
    "kinderziekenhuis",
    "gasthuis",
    "mc",
    "umc",
    "kliniek",
    "ziekenhuizen",
    "zorggroep",
    "zorg",
    "kraamzorg",
    "jeugdzorg",
    "ggz",
];

const MONTHS: &[&str] = &[
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
    "jan",
    "feb",
    "mrt",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "okt",
    "nov",
    "dec",
];

/// Units of a child's age.
const AGE_UNITS: &[&str] = &[
    "jaar", "jaartje", "maanden", "maand", "maandjes", "weken", "week", "weekjes", "dagen", "dag",
    "jaren",
];

/// Words before a number that make it an age (`van 3`, `is 2 jaar`, `wordt 3`).
const AGE_BEFORE: &[&str] = &[
    "van",
    "is",
    "wordt",
    "werd",
    "zijn",
    "was",
    "net",
    "bijna",
    "pas",
    "ruim",
    "nu",
    "en",
    "(",
    ",",
    "al",
    "inmiddels",
    "intussen",
];

/// After the unit: the number is a duration, not an age.
const NOT_AGE_AFTER: &[&str] = &[
    "zwanger",
    "geleden",
    "later",
    "lang",
    "getrouwd",
    "samen",
    "in",
    "bij",
    "op",
    "na",
    "geen",
    "wachten",
    "gewacht",
    "wachtlijst",
    "verlof",
];

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

    fn institutions_and_schools(&mut self) {
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
    fn proper_before(&self, i: usize) -> Option<usize> {
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
    fn match_list(&self, i: usize, list: &std::collections::HashSet<String>) -> Option<usize> {
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
    fn house_number(&self, i: usize) -> Option<usize> {
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

    fn streets(&mut self) {
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

    fn places(&mut self) {
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

    fn first_name(&self, i: usize) -> bool {
        self.is_word(i)
            && self.toks[i].cap
            && self.lists.first_names.contains(self.low(i))
            && !self.lists.common.contains(self.low(i))
            && !(self.kept)(self.low(i))
    }

    fn surname(&self, i: usize) -> bool {
        self.is_word(i)
            && self.toks[i].cap
            && self.lists.surnames.contains(self.low(i))
            && !(self.kept)(self.low(i))
    }

    /// A capitalised word that is no known place, municipality or other proper noun.
    fn unknown_proper(&self, i: usize) -> bool {
        self.proper(i)
            && !self.taken[i]
            && !self.lists.municipalities.contains(self.low(i))
            && !self.lists.places.contains(self.low(i))
            && self.toks[i].text.chars().any(char::is_lowercase)
    }

    /// Extend a name from its first word over more names and particles: `Anja de Vries`,
    /// `Youssef El Idrissi`, `Inge van Dam`.
    fn name_end(&self, i: usize) -> usize {
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

    fn unknown_or_name(&self, i: usize) -> bool {
        i < self.toks.len()
            && !self.taken[i]
            && (self.unknown_proper(i) || self.surname(i) || self.first_name(i))
    }

    fn names(&mut self) {
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
