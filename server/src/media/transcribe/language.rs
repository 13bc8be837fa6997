//! Which language Whisper transcribes in: the story's, or one detected among those expected.
//!
//! A story (or a voice note) names its language; Whisper is then told it. When it names none, or
//! `auto`, or one Whisper does not know, the language is detected — but only among the expected
//! languages: Whisper base takes Dutch spoken with an accent for German or Afrikaans, and a
//! transcript in a language nobody in the coalition expects helps no one. The expected languages
//! are the workspace's (`vertel-server workspace languages SLUG nl,ar,tr`), else the server's:
//! `VERTEL_TRANSCRIBE_LANGUAGES` (comma-separated codes), else those the capture form offers that
//! Whisper knows ([`EXPECTED`]: Dutch, English, Arabic, Turkish, Polish, Ukrainian). A workspace
//! that expects one language gets it without detection. A language outside the expected ones
//! that Whisper finds likely counts for the expected language it is known to be confused with
//! ([`NEIGHBOURS`]), and a language other than the first expected one (the most common) is chosen
//! only when Whisper is sure of it ([`SURE`]).

/// The language used when nothing else is known (the coalitions work in Dutch).
pub const DEFAULT_LANGUAGE: &str = "nl";

/// The capture form's languages (`mobile-shell/dist/js/codes.js`) that Whisper knows; Tigrinya
/// and Papiamento it does not.
pub const EXPECTED: &[&str] = &["nl", "en", "ar", "tr", "pl", "uk"];

/// What to transcribe in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Language {
    /// This language (a Whisper code such as `nl`).
    Known(String),
    /// Detect it, choosing only among these.
    Detect(Vec<String>),
}

impl Language {
    pub fn known(&self) -> Option<&str> {
        match self {
            Language::Known(l) => Some(l),
            Language::Detect(_) => None,
        }
    }
}

/// The primary subtag of a BCP-47 code if Whisper knows it; `None` for `auto`, `und`, an empty
/// value or a language Whisper does not know.
pub fn whisper_code(code: &str) -> Option<String> {
    let primary = code
        .trim()
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let plausible =
        (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase());
    if !plausible || primary == "auto" || primary == "und" {
        return None;
    }
    lang_id(&primary).map(|_| primary)
}

/// Whisper's id of a language code, `None` for one it does not know. Looked up in its table
/// (whisper.cpp's own lookup logs an error for every unknown code, such as a story in Tigrinya).
fn lang_id(code: &str) -> Option<usize> {
    (0..=whisper_rs::get_lang_max_id())
        .find(|&id| whisper_rs::get_lang_str(id) == Some(code))
        .and_then(|id| usize::try_from(id).ok())
}

/// The server's expected languages: `VERTEL_TRANSCRIBE_LANGUAGES` if set (codes Whisper does not
/// know are left out), else [`EXPECTED`].
pub fn expected() -> Vec<String> {
    let from_env: Vec<String> = std::env::var("VERTEL_TRANSCRIBE_LANGUAGES")
        .unwrap_or_default()
        .split(',')
        .filter_map(whisper_code)
        .collect();
    if from_env.is_empty() {
        EXPECTED.iter().map(|s| s.to_string()).collect()
    } else {
        from_env
    }
}

/// A workspace's expected languages as an admin writes them (`nl,ar,tr`, spaces allowed; `nl-BE`
/// is `nl`), checked: every code must be one Whisper knows, each once. The error names the codes
/// that are not.
pub fn parse_list(list: &str) -> Result<Vec<String>, String> {
    let mut codes: Vec<String> = Vec::new();
    let mut unknown = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match whisper_code(item) {
            Some(code) if !codes.contains(&code) => codes.push(code),
            Some(_) => {}
            None => unknown.push(item.to_string()),
        }
    }
    if !unknown.is_empty() {
        return Err(format!(
            "the speech model does not know {}: give two-letter language codes it knows, such as \
             nl, en, ar, tr, pl, uk, so, fa",
            unknown.join(", ")
        ));
    }
    Ok(codes)
}

/// The language to transcribe a recording in: `code` (the voice note's, else the story's) when
/// Whisper knows it; else the only expected language, or detection among the `expected` ones
/// (the workspace's; the server's [`expected`] when the workspace set none).
pub fn choose(code: Option<&str>, expected: &[String]) -> Language {
    if let Some(l) = code.and_then(whisper_code) {
        return Language::Known(l);
    }
    let expected = if expected.is_empty() {
        self::expected()
    } else {
        expected.to_vec()
    };
    match expected.as_slice() {
        [only] => Language::Known(only.clone()),
        _ => Language::Detect(expected),
    }
}

/// Languages Whisper takes an expected language for, by the expected language: a recording
/// cannot be in a language outside the expected ones, so such a language's probability counts for
/// the expected language it is a confusion of (Dutch heard as German, Afrikaans or Luxembourgish;
/// Ukrainian as Russian or Belarusian; Polish as Czech or Slovak; Turkish as Azerbaijani; Arabic as
/// Persian or Urdu, which share its script's sounds less but its words more).
pub const NEIGHBOURS: &[(&str, &[&str])] = &[
    ("nl", &["de", "af", "lb"]),
    ("uk", &["ru", "be"]),
    ("pl", &["cs", "sk"]),
    ("tr", &["az"]),
    ("ar", &["fa", "ur"]),
];

fn probability(probs: &[f32], code: &str) -> f32 {
    lang_id(code)
        .and_then(|i| probs.get(i))
        .copied()
        .unwrap_or(0.0)
}

/// How sure Whisper must be of a language other than the first expected one (the workspace's most
/// common, Dutch by default) to transcribe in it: otherwise the first one is used. Chosen on the
/// development set (`fixtures/speech-dev`, `BENCHMARKS.md`): Whisper base gave espeak-ng's Dutch up
/// to 0.82 for English, and real English 0.92 or more.
pub const SURE: f32 = 0.9;

/// The language to transcribe in, from whisper.cpp's per-language probabilities (indexed by
/// Whisper's language id): the first of `allowed` unless another allowed language is at least
/// [`SURE`], each counting with its [`NEIGHBOURS`] that are not allowed themselves. The first
/// allowed language also when there are no probabilities.
pub fn best_allowed(probs: &[f32], allowed: &[String]) -> String {
    let mut best: Option<(&String, f32)> = None;
    for l in allowed {
        if lang_id(l).is_none() {
            continue;
        }
        let folded: f32 = NEIGHBOURS
            .iter()
            .filter(|(to, _)| to == l)
            .flat_map(|(_, from)| from.iter())
            .filter(|n| !allowed.iter().any(|a| a == *n))
            .map(|n| probability(probs, n))
            .sum();
        let p = probability(probs, l) + folded;
        if best.is_none_or(|(_, b)| p > b) {
            best = Some((l, p));
        }
    }
    let first = allowed
        .first()
        .cloned()
        .unwrap_or_else(|| DEFAULT_LANGUAGE.to_string());
    match best {
        Some((l, p)) if p >= SURE => l.clone(),
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_checked_before_whisper_sees_them() {
        assert_eq!(whisper_code("nl").as_deref(), Some("nl"));
        assert_eq!(whisper_code("nl-BE").as_deref(), Some("nl"));
        assert_eq!(whisper_code("AR").as_deref(), Some("ar"));
        assert_eq!(whisper_code("auto"), None);
        assert_eq!(whisper_code("und"), None);
        assert_eq!(whisper_code("x\0y"), None);
        assert_eq!(whisper_code("zzz"), None);
        // Tigrinya and Papiamento are on the capture form; Whisper knows neither.
        assert_eq!(whisper_code("ti"), None);
        assert_eq!(whisper_code("pap"), None);
    }

    #[test]
    fn an_unknown_language_is_detected_among_the_expected_ones() {
        assert_eq!(choose(Some("tr"), &[]), Language::Known("tr".into()));
        match choose(None, &[]) {
            Language::Detect(allowed) => assert!(allowed.contains(&"nl".to_string())),
            other => panic!("{other:?}"),
        }
        assert!(matches!(choose(Some("auto"), &[]), Language::Detect(_)));
        // A workspace's own list replaces the server's; one language needs no detection.
        let own = vec!["ar".to_string(), "so".to_string()];
        assert_eq!(choose(None, &own), Language::Detect(own.clone()));
        assert_eq!(choose(Some("ti"), &own[..1]), Language::Known("ar".into()));
        assert_eq!(choose(Some("nl"), &own), Language::Known("nl".into()));
    }

    #[test]
    fn a_workspace_s_list_is_checked() {
        assert_eq!(
            parse_list(" nl, ar,nl-BE,TR ,"),
            Ok(vec!["nl".to_string(), "ar".into(), "tr".into()])
        );
        assert_eq!(parse_list(""), Ok(Vec::new()));
        let err = parse_list("nl,ti,xx").expect_err("unknown codes");
        assert!(err.contains("ti, xx"), "{err}");
    }

    #[test]
    fn detection_never_picks_a_language_outside_the_allowed_ones() {
        let id = |l: &str| lang_id(l).expect("known");
        let mut probs = vec![0.0f32; 100];
        probs[id("de")] = 0.6;
        probs[id("nl")] = 0.3;
        probs[id("en")] = 0.1;
        let allowed: Vec<String> = ["nl", "en"].iter().map(|s| s.to_string()).collect();
        assert_eq!(best_allowed(&probs, &allowed), "nl");
        assert_eq!(best_allowed(&[], &allowed), "nl");
        // German and Afrikaans are not expected: heard in place of Dutch, they count for Dutch.
        let mut probs = vec![0.0f32; 100];
        probs[id("pl")] = 0.05;
        probs[id("nl")] = 0.02;
        probs[id("de")] = 0.9;
        probs[id("af")] = 0.03;
        let allowed: Vec<String> = ["pl", "nl"].iter().map(|s| s.to_string()).collect();
        assert_eq!(best_allowed(&probs, &allowed), "nl");
        // Unless German is expected itself.
        let with_german: Vec<String> = ["pl", "nl", "de"].iter().map(|s| s.to_string()).collect();
        assert_eq!(best_allowed(&probs, &with_german), "de");
    }

    #[test]
    fn whisper_knows_every_neighbour() {
        for (to, from) in NEIGHBOURS {
            for code in std::iter::once(to).chain(from.iter()) {
                assert!(lang_id(code).is_some(), "{code}");
            }
        }
        assert_eq!(lang_id("en"), Some(0));
        assert_eq!(lang_id("fy"), None);
    }

    #[test]
    fn another_language_than_the_first_needs_whisper_to_be_sure() {
        let id = |l: &str| lang_id(l).expect("known");
        let allowed: Vec<String> = ["nl", "en", "ar"].iter().map(|s| s.to_string()).collect();
        let mut probs = vec![0.0f32; 100];
        probs[id("en")] = 0.82;
        probs[id("nl")] = 0.1;
        assert_eq!(best_allowed(&probs, &allowed), "nl");
        probs[id("en")] = 0.0;
        probs[id("ar")] = 0.95;
        assert_eq!(best_allowed(&probs, &allowed), "ar");
        // The workspace's first language is its most common: English here.
        let english_first: Vec<String> = ["en", "nl"].iter().map(|s| s.to_string()).collect();
        let mut probs = vec![0.0f32; 100];
        probs[id("nl")] = 0.6;
        assert_eq!(best_allowed(&probs, &english_first), "en");
    }
}
