//! Dutch text normalisation for the tagger: folding, tokenising and a small, predictable stemmer.
//!
//! The stemmer is deliberately simple (a few suffix rules, not a full Snowball implementation):
//! what matters is that a keyword and the words in a story reduce to the same form, and that a
//! person can see why two words matched. It handles
//!
//! - case and accents: `Babycafé` → `babycafe`, `ĳ` → `ij`, apostrophes vanish (`baby's` → `babys`);
//! - diminutives: `groepje`, `kindje`, `mannetje` → `groep`, `kind`, `man`;
//! - plurals and inflections: `moeders`, `zwangeren`, `gesprekken`, `goede`, `rookvrije`;
//! - spelling changes at the stem's end: `brieven` → `brief`, `huizen` → `huis`, `taal`/`talen`;
//! - a few irregular forms (`kinderen` → `kind`).
//!
//! Verb forms get extra candidate stems when a token is matched (see [`Token::stems`]): `rookt`,
//! `rookte` and `gerookt` also match `roken`; `gefilmd` also matches `filmen`.

/// Small words that may stand between the words of a phrase without breaking it ("stoppen met het
/// roken" matches "stoppen met roken").
const FILLERS: &[&str] = &[
    "de", "het", "een", "en", "met", "van", "voor", "in", "op", "aan", "te", "om", "bij", "haar",
    "zijn", "hun", "je", "mijn", "onze", "ons", "hem", "ze", "zij", "hij", "die", "dat", "er",
    "al", "ook", "nog", "wel", "zo", "s", "t", "is", "was", "wordt", "werd",
];

pub fn is_filler(norm: &str) -> bool {
    FILLERS.contains(&norm)
}

/// Lower case, accents folded, and only `a-z`, `0-9`; anything else becomes a space. Apostrophes
/// (straight and curly) are dropped so `baby's` stays one word.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_folded(&mut out, c);
    }
    out
}

fn push_folded(out: &mut String, c: char) {
    match c {
        'a'..='z' | '0'..='9' => out.push(c),
        'A'..='Z' => out.push(c.to_ascii_lowercase()),
        '\'' | '’' | '‘' | '`' | '´' => {}
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' => {
            out.push('a')
        }
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => out.push('e'),
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => out.push('i'),
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => out.push('o'),
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => out.push('u'),
        'ç' | 'Ç' => out.push('c'),
        'ñ' | 'Ñ' => out.push('n'),
        'ý' | 'ÿ' | 'Ý' => out.push('y'),
        'ĳ' | 'Ĳ' => out.push_str("ij"),
        'ß' => out.push_str("ss"),
        _ => out.push(' '),
    }
}

/// A word of the text: where it is, its folded form and its stem.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Byte range in the original text.
    pub start: usize,
    pub end: usize,
    pub norm: String,
    pub stem: String,
    /// A second stem for verb forms (`rookt` → `rok`, `gerookt` → `rok`), if any.
    pub verb_stem: Option<String>,
}

impl Token {
    pub fn stems(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.stem.as_str()).chain(self.verb_stem.as_deref())
    }
}

/// Split text into tokens. Hyphens, slashes and punctuation separate words ("stoppen-met-roken"
/// is three tokens); byte ranges point into `text` for evidence.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut norm = String::new();
    let mut start = None;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        let mut folded = String::new();
        push_folded(&mut folded, c);
        let apostrophe = matches!(c, '\'' | '’' | '‘' | '`' | '´');
        if apostrophe && start.is_some() {
            // Inside a word ("baby's"): keep going.
            end = i + c.len_utf8();
            continue;
        }
        if !folded.is_empty() && !folded.starts_with(' ') {
            if start.is_none() {
                start = Some(i);
            }
            norm.push_str(&folded);
            end = i + c.len_utf8();
        } else if let Some(s) = start.take() {
            tokens.push(make_token(s, end, std::mem::take(&mut norm)));
        }
    }
    if let Some(s) = start {
        tokens.push(make_token(s, end, norm));
    }
    tokens
}

fn make_token(start: usize, end: usize, norm: String) -> Token {
    let stem = stem(&norm);
    let verb_stem = verb_stem(&norm).filter(|v| *v != stem);
    Token {
        start,
        end,
        norm,
        stem,
        verb_stem,
    }
}

const IRREGULAR: &[(&str, &str)] = &[
    ("kinderen", "kind"),
    ("kinderens", "kind"),
    ("eieren", "ei"),
    ("steden", "stad"),
    ("schepen", "schip"),
    ("dagen", "dag"),
    ("wegen", "weg"),
    ("mogelijkheden", "mogelijkheid"),
];

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

/// The stem of one folded word.
pub fn stem(word: &str) -> String {
    if word.len() <= 3 || !word.is_ascii() || word.bytes().any(|b| b.is_ascii_digit()) {
        return word.to_string();
    }
    if let Some((_, s)) = IRREGULAR.iter().find(|(w, _)| *w == word) {
        return s.to_string();
    }
    let mut w = word.to_string();
    // Diminutives (one layer), longest first.
    for suffix in ["etjes", "etje", "tjes", "pjes", "tje", "pje", "jes", "je"] {
        if w.len() >= suffix.len() + 3 && w.ends_with(suffix) {
            let base = &w[..w.len() - suffix.len()];
            // "rookvrije" ends in the digraph ij, not in a diminutive.
            if suffix.starts_with('j') && base.ends_with('i') {
                break;
            }
            let mut base = base.to_string();
            // After m the diminutive is -pje (boompje → boom); otherwise the p is the stem's (kapje).
            if suffix.starts_with('p') && !base.ends_with('m') {
                base.push('p');
            }
            return finish(base);
        }
    }
    if w.ends_with("heden") && w.len() > 7 {
        w.truncate(w.len() - 5);
        w.push_str("heid");
        return w;
    }
    // Plural / inflection endings.
    let plural_s = w.len() > 4 && w.ends_with('s') && plural_s(&w);
    let inflected_e = w.len() > 4 && w.ends_with('e') && !is_vowel(w.as_bytes()[w.len() - 2]);
    if w.len() >= 5 && w.ends_with("en") {
        w.truncate(w.len() - 2);
    } else if plural_s || inflected_e {
        w.truncate(w.len() - 1);
    }
    finish(w)
}

/// Whether a final `s` is a plural ending: after a vowel (`baby's`, `opa's`) or after the endings
/// -er, -el, -em, -en, -je (`moeders`, `tafels`).
fn plural_s(w: &str) -> bool {
    let b = w.as_bytes();
    let prev = b[b.len() - 2];
    if is_vowel(prev) && !w.ends_with("is") && !w.ends_with("us") && !w.ends_with("os") {
        return true;
    }
    ["ers", "els", "ems", "ens", "jes", "ors"]
        .iter()
        .any(|e| w.ends_with(e))
}

/// Undo spelling changes at the end of a stem: double consonants (`gesprekk` → `gesprek`), `v`/`z`
/// for `f`/`s` (`briev` → `brief`, `huiz` → `huis`), and double vowels in a closed syllable
/// (`taal` → `tal`, so that `taal` and `talen` meet).
fn finish(mut w: String) -> String {
    let b = w.as_bytes();
    let n = b.len();
    if n >= 3 && b[n - 1] == b[n - 2] && !is_vowel(b[n - 1]) {
        w.truncate(n - 1);
    }
    let b = w.as_bytes();
    let n = b.len();
    if n >= 3 {
        match b[n - 1] {
            b'v' => {
                w.truncate(n - 1);
                w.push('f');
            }
            b'z' => {
                w.truncate(n - 1);
                w.push('s');
            }
            _ => {}
        }
    }
    let b = w.as_bytes();
    let n = b.len();
    if n >= 4
        && !is_vowel(b[n - 1])
        && b[n - 2] == b[n - 3]
        && matches!(b[n - 2], b'a' | b'o' | b'u')
    {
        // Only a vowel doubled to keep it long ("taal"), not "oe"/"ui"/"ee" and friends.
        if n < 5 || !is_vowel(b[n - 4]) {
            w.remove(n - 2);
        }
    }
    w
}

/// A second stem for verb forms: a final -t/-te/-ten/-de/-den of the past tense or third person,
/// and the ge- of a participle (`gerookt` → `rook` → `rok`).
pub fn verb_stem(word: &str) -> Option<String> {
    if word.len() <= 4 || !word.is_ascii() {
        return None;
    }
    let mut w = word;
    let mut changed = false;
    if w.len() > 6 && w.starts_with("ge") && (w.ends_with('t') || w.ends_with('d')) {
        w = &w[2..];
        changed = true;
    }
    for suffix in ["ten", "den", "te", "de", "t", "d"] {
        if w.len() > suffix.len() + 2 && w.ends_with(suffix) {
            let base = &w[..w.len() - suffix.len()];
            let last = base.as_bytes()[base.len() - 1];
            if !is_vowel(last) || base.ends_with("aa") || base.ends_with("oo") {
                return Some(stem_verb_base(base));
            }
        }
    }
    changed.then(|| stem(w))
}

/// Stem a verb base (`rook`, `stop`, `film`) so it meets the stem of its infinitive (`roken` →
/// `rok`, `stoppen` → `stop`, `filmen` → `film`).
fn stem_verb_base(base: &str) -> String {
    finish(base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(w: &str) -> String {
        stem(&fold(w))
    }

    #[test]
    fn folding_drops_case_accents_and_apostrophes() {
        assert_eq!(fold("Babycafé"), "babycafe");
        assert_eq!(fold("baby's"), "babys");
        assert_eq!(fold("Casuïstiek"), "casuistiek");
        assert_eq!(fold("vóór"), "voor");
    }

    #[test]
    fn inflections_meet_their_base_form() {
        for (a, b) in [
            ("moeders", "moeder"),
            ("zwangeren", "zwanger"),
            ("gesprekken", "gesprek"),
            ("goede", "goed"),
            ("rookvrije", "rookvrij"),
            ("brieven", "brief"),
            ("huizen", "huis"),
            ("talen", "taal"),
            ("groepje", "groep"),
            ("groepen", "groep"),
            ("mannetje", "man"),
            ("kinderen", "kind"),
            ("kindje", "kind"),
            ("baby's", "baby"),
            ("prenatale", "prenataal"),
            ("sigaretten", "sigaret"),
            ("gezinnen", "gezin"),
            ("vaders", "vader"),
            ("huisbezoeken", "huisbezoek"),
            ("mogelijkheden", "mogelijkheid"),
            ("roken", "rook"),
            ("boompje", "boom"),
        ] {
            assert_eq!(s(a), s(b), "{a} vs {b}");
        }
    }

    #[test]
    fn different_words_stay_apart() {
        assert_ne!(s("moeder"), s("moe"));
        assert_ne!(s("huis"), s("hui"));
        assert_ne!(s("vader"), s("vaderschap"));
    }

    #[test]
    fn verb_forms_get_a_second_stem() {
        let roken = s("roken");
        for w in ["rookt", "rookte", "rookten", "gerookt"] {
            let t = &tokenize(w)[0];
            assert!(t.stems().any(|x| x == roken), "{w}: {t:?}");
        }
        let t = &tokenize("gefilmd")[0];
        assert!(t.stems().any(|x| x == s("filmen")), "{t:?}");
        let t = &tokenize("gestopt")[0];
        assert!(t.stems().any(|x| x == s("stoppen")), "{t:?}");
    }

    #[test]
    fn tokens_point_into_the_text_and_hyphens_split() {
        let text = "De stoppen-met-roken-coach (VoorZorg) hielp.";
        let t = tokenize(text);
        let words: Vec<&str> = t.iter().map(|t| &text[t.start..t.end]).collect();
        assert_eq!(
            words,
            [
                "De", "stoppen", "met", "roken", "coach", "VoorZorg", "hielp"
            ]
        );
        assert_eq!(t[5].norm, "voorzorg");
        let t = tokenize("baby’s");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].norm, "babys");
    }
}
