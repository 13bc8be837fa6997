//! What people read instead of codes: the language of a screen or file, names for the codes of
//! the taxonomy and the story model, and numbers as the language writes them (62,5 in Dutch).
//!
//! Exports, reports and the figures import take these from one place, so a spreadsheet, a report
//! and the desk name things alike.

use crate::tagging::dutch;
use crate::tagging::taxonomy::{Entry, Taxonomy};
use std::collections::HashMap;

/// The language of what a person reads. Dutch unless English is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Nl,
    En,
}

impl Lang {
    /// From a `lang` parameter (`nl`, `en`), else the first of Dutch or English in an
    /// `Accept-Language` header by preference; Dutch otherwise.
    pub fn pick(param: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(l) = param.and_then(Lang::from_tag) {
            return l;
        }
        let mut offered: Vec<(f32, usize, Lang)> = accept_language
            .unwrap_or_default()
            .split(',')
            .enumerate()
            .filter_map(|(i, item)| {
                let mut parts = item.split(';');
                let lang = Lang::from_tag(parts.next()?)?;
                let q = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (q > 0.0).then_some((q, i, lang))
            })
            .collect();
        offered.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        offered.first().map(|o| o.2).unwrap_or_default()
    }

    /// `nl`, `nl-NL`, `en-GB`, ...: the primary subtag, when it is one of ours.
    fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "nl" => Some(Lang::Nl),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn english(self) -> bool {
        self == Lang::En
    }
}

/// Names of a workspace's taxonomy codes: activities, phases, target groups and place types.
/// A code it does not know is shown as itself.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    /// code → (Dutch name, English gloss)
    names: HashMap<(Dimension, String), (String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Dimension {
    Activity,
    Phase,
    TargetGroup,
    PlaceType,
}

impl Labels {
    pub fn new(t: &Taxonomy) -> Labels {
        let mut names = HashMap::new();
        let mut add = |d: Dimension, entries: &[Entry]| {
            for e in entries {
                names.insert((d, e.code.clone()), (e.name.clone(), e.gloss.clone()));
            }
        };
        add(Dimension::Activity, &t.activities);
        add(Dimension::Phase, &t.phases);
        add(Dimension::TargetGroup, &t.target_groups);
        add(Dimension::PlaceType, &t.place_types);
        Labels { names }
    }

    /// The names of the default taxonomy (without a workspace's own activities).
    pub fn default_taxonomy() -> Labels {
        crate::tagging::default_taxonomy()
            .map(Labels::new)
            .unwrap_or_default()
    }

    fn name(&self, d: Dimension, code: &str, lang: Lang) -> String {
        match self.names.get(&(d, code.to_string())) {
            Some((_, gloss)) if lang.english() && !gloss.is_empty() => gloss.clone(),
            Some((name, _)) if !name.is_empty() => name.clone(),
            _ => code.to_string(),
        }
    }

    pub fn activity(&self, code: &str, lang: Lang) -> String {
        self.name(Dimension::Activity, code, lang)
    }

    pub fn phase(&self, code: &str, lang: Lang) -> String {
        self.name(Dimension::Phase, code, lang)
    }

    pub fn target_group(&self, code: &str, lang: Lang) -> String {
        self.name(Dimension::TargetGroup, code, lang)
    }

    pub fn place_type(&self, code: &str, lang: Lang) -> String {
        self.name(Dimension::PlaceType, code, lang)
    }
}

/// The kind of a story (`parent-story`), as people call it.
pub fn kind(code: &str, lang: Lang) -> String {
    let (nl, en) = match code {
        "parent-story" => ("Ouderverhaal", "Parent story"),
        "community-conversation" => ("Gesprek in de gemeenschap", "Community conversation"),
        "persona-story" => ("Personaverhaal", "Persona story"),
        "impact-narrative" => ("Impactverhaal", "Impact narrative"),
        other => return other.to_string(),
    };
    pick(lang, nl, en)
}

/// A review state (`approved`), as the desk shows it.
pub fn review(code: &str, lang: Lang) -> String {
    let (nl, en) = match code {
        "draft" => ("concept", "draft"),
        "submitted" => ("ingediend", "submitted"),
        "reviewed" => ("beoordeeld", "reviewed"),
        "approved" => ("goedgekeurd voor rapportage", "approved for reporting"),
        "returned" => ("teruggestuurd", "sent back"),
        other => return other.to_string(),
    };
    pick(lang, nl, en)
}

/// A consent scope (`may-be-quoted`), as the desk shows it.
pub fn consent(code: &str, lang: Lang) -> String {
    let (nl, en) = match code {
        "internal-only" => ("alleen intern", "internal only"),
        "anonymised-in-reports" => ("anoniem in rapporten", "anonymised in reports"),
        "may-be-quoted" => ("mag geciteerd worden", "may be quoted"),
        other => return other.to_string(),
    };
    pick(lang, nl, en)
}

/// A tag state (`suggested`).
pub fn tag_state(code: &str, lang: Lang) -> String {
    let (nl, en) = match code {
        "suggested" => ("voorgesteld", "suggested"),
        "confirmed" => ("bevestigd", "confirmed"),
        "rejected" => ("afgewezen", "rejected"),
        other => return other.to_string(),
    };
    pick(lang, nl, en)
}

fn pick(lang: Lang, nl: &str, en: &str) -> String {
    if lang.english() { en } else { nl }.to_string()
}

/// A figure's indicator code (`trajecten-lopend`) as a name: the known ones by name, any other
/// with its hyphens as spaces and a capital ("Trajecten lopend").
pub fn metric(code: &str, lang: Lang) -> String {
    let known: Option<(&str, &str)> = match code {
        "gezinnen-bereikt" => Some(("Gezinnen bereikt", "Families reached")),
        "gezinnen-bezocht" => Some(("Gezinnen bezocht", "Families visited")),
        "gezinnen-doorverwezen" => Some(("Gezinnen doorverwezen", "Families referred")),
        "trajecten-lopend" => Some(("Lopende trajecten", "Ongoing programmes")),
        "trajecten-gestart" => Some(("Gestarte trajecten", "Programmes started")),
        "deelnemers" => Some(("Deelnemers", "Participants")),
        "gesprekken" => Some(("Gesprekken", "Conversations")),
        "consulten" => Some(("Consulten", "Consultations")),
        "bijeenkomsten" => Some(("Bijeenkomsten", "Meetings")),
        "bezoekers-per-week" => Some(("Bezoekers per week", "Visitors per week")),
        "besproken-gezinnen" => Some(("Besproken gezinnen", "Families discussed")),
        "ouders-gestopt" => Some(("Ouders gestopt met roken", "Parents who quit smoking")),
        "ouders-in-taaltraject" => {
            Some(("Ouders in een taaltraject", "Parents in language courses"))
        }
        "adviesvragen-veilig-thuis" => Some((
            "Adviesvragen bij Veilig Thuis",
            "Requests for advice to Veilig Thuis",
        )),
        "in-zorg-voor-week-10" => Some(("In zorg vóór week 10", "In care before week 10")),
        _ => None,
    };
    if let Some((nl, en)) = known {
        return pick(lang, nl, en);
    }
    let words = code.replace('-', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A number as the language writes it: whole numbers without decimals, otherwise at most two,
/// with a decimal comma in Dutch (62,5) and a point in English (62.5). No thousands separator, so
/// a spreadsheet reads it back as the same number.
pub fn number(v: f64, lang: Lang) -> String {
    let s = if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_string()
        } else {
            s.to_string()
        }
    };
    if lang.english() {
        s
    } else {
        s.replace('.', ",")
    }
}

/// A date and time in milliseconds since the epoch as `YYYY-MM-DD HH:MM` (UTC), which Excel and
/// LibreOffice read as a date in both languages.
pub fn date_time(ms: i64) -> String {
    let (y, m, d) = super::civil(ms);
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        secs / 60 % 60
    )
}

/// The key an activity name or code is compared by: lower case, accents folded, without spaces
/// or punctuation ("Centering Pregnancy", "centeringpregnancy" and "CenteringPregnancy" agree).
pub fn fold_name(s: &str) -> String {
    dutch::fold(s).replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_from_parameter_then_header() {
        assert_eq!(Lang::pick(None, None), Lang::Nl);
        assert_eq!(Lang::pick(Some("en"), Some("nl-NL")), Lang::En);
        assert_eq!(Lang::pick(Some("fr"), Some("en-GB,en;q=0.9")), Lang::En);
        assert_eq!(Lang::pick(None, Some("de-DE,en;q=0.5,nl;q=0.8")), Lang::Nl);
        assert_eq!(Lang::pick(None, Some("en;q=0")), Lang::Nl);
        assert_eq!(Lang::pick(None, Some("fr")), Lang::Nl);
    }

    #[test]
    fn dutch_numbers_have_a_decimal_comma() {
        assert_eq!(number(62.5, Lang::Nl), "62,5");
        assert_eq!(number(62.5, Lang::En), "62.5");
        assert_eq!(number(12.0, Lang::Nl), "12");
        assert_eq!(number(0.126, Lang::Nl), "0,13");
        assert_eq!(number(15.0 + 1.0 / 3.0, Lang::Nl), "15,33");
        assert_eq!(number(1250.0, Lang::Nl), "1250");
        assert_eq!(number(-0.001, Lang::Nl), "0");
    }

    #[test]
    fn names_for_codes() {
        let l = Labels::default_taxonomy();
        assert_eq!(l.activity("voorzorg", Lang::Nl), "VoorZorg");
        assert_eq!(l.phase("na-geboorte", Lang::Nl), "Na de geboorte");
        assert_eq!(l.activity("iets-eigens", Lang::Nl), "iets-eigens");
        assert_eq!(kind("parent-story", Lang::Nl), "Ouderverhaal");
        assert_eq!(kind("parent-story", Lang::En), "Parent story");
        assert_eq!(consent("may-be-quoted", Lang::Nl), "mag geciteerd worden");
        assert_eq!(metric("trajecten-lopend", Lang::Nl), "Lopende trajecten");
        assert_eq!(metric("nieuwe-meting", Lang::Nl), "Nieuwe meting");
        assert_eq!(date_time(1_739_277_000_000), "2025-02-11 12:30");
        assert_eq!(fold_name(" Centering  Pregnancy "), "centeringpregnancy");
        assert_eq!(fold_name("Babycafé"), "babycafe");
    }
}
