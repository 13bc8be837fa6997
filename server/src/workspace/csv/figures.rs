//! A figures file read into figures: its columns by Dutch or English header, quarters and
//! activities as people write them, every value checked against what the workspace knows. Reading
//! the CSV format itself (separators, quoting, line numbers) is [`super::records`]; storing the
//! figures is the caller's.

use super::{Problem, RowError, records, says};
use crate::db::workspace::{Unit, WsFigure};
use crate::tagging::taxonomy::Entry;
use crate::workspace::labels::{Lang, fold_name};
use crate::workspace::valid_quarter;
use std::collections::{BTreeSet, HashMap};

/// The columns of a figures file, by their Dutch or English header.
const COLUMNS: &[(&str, &[&str])] = &[
    ("activity", &["activiteit", "activity"]),
    ("municipality", &["gemeente", "municipality"]),
    ("quarter", &["periode", "kwartaal", "quarter", "period"]),
    ("metric", &["indicator", "metric"]),
    ("value", &["waarde", "value"]),
    ("unit", &["eenheid", "unit"]),
    ("source", &["bron", "source"]),
];

fn valid_metric(m: &str) -> bool {
    (2..=64).contains(&m.len())
        && m.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A quarter as spreadsheets write it, as `YYYY-Qn`: `2026-Q1`, `2026 Q1`, `2026Q1`, `Q1 2026`,
/// `Q1-2026`, `2026-1`, `2026/1` (and `K1` for kwartaal); any case. `None` for anything else.
pub fn normalise_quarter(written: &str) -> Option<String> {
    // Runs of digits and of letters; anything else separates them.
    let mut parts: Vec<String> = Vec::new();
    let mut last: Option<bool> = None; // Some(true): in digits, Some(false): in letters
    for c in written.trim().chars() {
        let digit = c.is_ascii_digit();
        if c.is_ascii_alphanumeric() {
            if last != Some(digit) {
                parts.push(String::new());
            }
            if let Some(p) = parts.last_mut() {
                p.push(c.to_ascii_uppercase());
            }
            last = Some(digit);
        } else if matches!(c, ' ' | '-' | '/' | '_' | '.') {
            last = None;
        } else {
            return None;
        }
    }
    fn year(s: &str) -> Option<&str> {
        (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
    }
    let quarter = |s: &str| match s.parse::<u8>() {
        Ok(n @ 1..=4) if s.len() <= 2 => Some(n),
        _ => None,
    };
    let marker = |s: &str| matches!(s, "Q" | "K" | "KW");
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let (y, q) = match parts.as_slice() {
        [y, m, q] if marker(m) => (year(y)?, quarter(q)?),
        [m, q, y] if marker(m) => (year(y)?, quarter(q)?),
        [y, q] => (year(y)?, quarter(q)?),
        _ => return None,
    };
    let out = format!("{y}-Q{q}");
    valid_quarter(&out).then_some(out)
}

/// How an import recognises activities: by code, or by a name of the activity (its name, the
/// parts of a name like "CenteringPregnancy / CenteringParenting", its English gloss, its
/// synonyms), compared with case, accents, spaces and punctuation folded away. A name that fits
/// two activities fits none.
#[derive(Debug, Clone, Default)]
pub struct ActivityNames {
    codes: BTreeSet<String>,
    /// folded code → code
    folded_codes: HashMap<String, String>,
    /// folded name → code, or `None` when it names more than one activity.
    names: HashMap<String, Option<String>>,
}

impl ActivityNames {
    pub fn new(entries: &[Entry]) -> ActivityNames {
        let mut out = ActivityNames::default();
        for e in entries {
            out.codes.insert(e.code.clone());
            out.folded_codes.insert(fold_name(&e.code), e.code.clone());
        }
        for e in entries {
            let mut names = vec![e.code.clone()];
            for n in [&e.name, &e.gloss] {
                names.push(n.clone());
                // "Prenataal huisbezoek (Goede Start Gesprek)": both halves, and each
                // alternative of "CenteringPregnancy / CenteringParenting".
                let (outside, inside) = match n.split_once('(') {
                    Some((a, b)) => (a, b.trim_end_matches(')')),
                    None => (n.as_str(), ""),
                };
                for part in outside.split('/').chain(inside.split('/')) {
                    names.push(part.to_string());
                }
            }
            names.extend(e.synonyms.iter().filter(|s| !s.contains('*')).cloned());
            for n in names {
                let key = fold_name(&n);
                // A code, however written, names its own activity only.
                if key.len() < 2 || out.folded_codes.get(&key).is_some_and(|c| c != &e.code) {
                    continue;
                }
                match out.names.get(&key) {
                    Some(Some(code)) if code != &e.code => {
                        out.names.insert(key, None);
                    }
                    Some(_) => {}
                    None => {
                        out.names.insert(key, Some(e.code.clone()));
                    }
                }
            }
        }
        out
    }

    /// Codes only (tests, and callers without names).
    pub fn codes<I: IntoIterator<Item = String>>(codes: I) -> ActivityNames {
        let entries: Vec<Entry> = codes
            .into_iter()
            .map(|code| Entry {
                code,
                ..Entry::default()
            })
            .collect();
        ActivityNames::new(&entries)
    }

    pub(super) fn resolve(&self, written: &str) -> Result<String, Problem> {
        if self.codes.contains(written) {
            return Ok(written.to_string());
        }
        match self.names.get(&fold_name(written)) {
            Some(Some(code)) => Ok(code.clone()),
            Some(None) => Err(Problem::AmbiguousActivity(written.to_string())),
            None => Err(Problem::UnknownActivity(written.to_string())),
        }
    }
}

/// What a workspace's figures are checked against.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub activities: ActivityNames,
    /// Its municipalities (an empty list accepts any name), matched without regard to case.
    pub municipalities: BTreeSet<String>,
}

impl Known {
    fn municipality(&self, written: &str) -> Option<String> {
        if written.is_empty() {
            return None;
        }
        if self.municipalities.is_empty() || self.municipalities.contains(written) {
            return Some(written.to_string());
        }
        let key = fold_name(written);
        self.municipalities
            .iter()
            .find(|m| fold_name(m) == key)
            .cloned()
    }
}

/// One figure's fields as written: a line of an imported file, or the form in the workspace.
pub struct FigureFields<'a> {
    pub activity: &'a str,
    pub municipality: &'a str,
    pub quarter: &'a str,
    pub metric: &'a str,
    pub value: &'a str,
    /// `count`/`aantal` or `percent`/`procent`; empty means a count.
    pub unit: &'a str,
    pub source: &'a str,
}

/// Check one figure against the workspace's activities and municipalities: the figure (with the
/// activity's code, the municipality as the workspace writes it and the quarter as `YYYY-Qn`), or
/// every problem with it in plain words, in `lang`.
pub fn check_figure(
    written: &FigureFields,
    known: &Known,
    lang: Lang,
) -> Result<WsFigure, Vec<String>> {
    check(written, known).map_err(|p| says(&p, lang))
}

fn check(written: &FigureFields, known: &Known) -> Result<WsFigure, Vec<Problem>> {
    let mut problems = Vec::new();
    let activity = known
        .activities
        .resolve(written.activity.trim())
        .map_err(|p| problems.push(p))
        .ok();
    let municipality_text = written.municipality.trim();
    let municipality = known.municipality(municipality_text);
    if municipality.is_none() {
        problems.push(Problem::UnknownMunicipality(municipality_text.to_string()));
    }
    let quarter = normalise_quarter(written.quarter);
    if quarter.is_none() {
        problems.push(Problem::Quarter(written.quarter.trim().to_string()));
    }
    let metric = written.metric.trim();
    if !valid_metric(metric) {
        problems.push(Problem::Metric(metric.to_string()));
    }
    let unit_text = written.unit.trim().to_lowercase();
    let unit = if unit_text.is_empty() {
        Some(Unit::Count)
    } else {
        Unit::from_code(&unit_text)
    };
    if unit.is_none() {
        problems.push(Problem::Unit(unit_text.clone()));
    }
    let raw = written.value.trim();
    let value = raw
        .trim_end_matches('%')
        .trim()
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite());
    match (value, unit) {
        (None, _) => problems.push(Problem::NotANumber(raw.to_string())),
        (Some(v), Some(Unit::Count)) if v < 0.0 || v.fract() != 0.0 || v > 1e12 => {
            problems.push(Problem::Count(raw.to_string()))
        }
        (Some(v), Some(Unit::Percent)) if !(0.0..=100.0).contains(&v) => {
            problems.push(Problem::Percent(raw.to_string()))
        }
        _ => {}
    }
    let source = written.source.trim();
    if source.chars().count() > 200 {
        problems.push(Problem::SourceTooLong);
    }
    match (activity, municipality, quarter, value, unit) {
        (Some(activity), Some(municipality), Some(quarter), Some(value), Some(unit))
            if problems.is_empty() =>
        {
            Ok(WsFigure {
                activity_code: activity,
                municipality,
                quarter,
                metric: metric.to_string(),
                unit,
                value,
                source: (!source.is_empty()).then(|| source.to_string()),
            })
        }
        _ => Err(problems),
    }
}

/// Parse and validate a figures file against what the workspace knows. Every problem is said in
/// `lang`.
pub fn parse_figures(
    text: &str,
    known: &Known,
    lang: Lang,
) -> Result<Vec<WsFigure>, Vec<RowError>> {
    let err = |line: usize, p: Problem| RowError {
        line,
        message: p.say(lang),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or_default();
    // Excel's "sep=;" hint line names the separator; it is not the header.
    let (sep, text, skipped) = match first.trim().strip_prefix("sep=") {
        Some(s) if s.chars().count() == 1 => {
            let rest = text.split_once('\n').map(|(_, r)| r).unwrap_or_default();
            (s.chars().next().unwrap_or(','), rest, 1)
        }
        _ if first.matches(';').count() > first.matches(',').count() => (';', text, 0),
        _ => (',', text, 0),
    };
    let mut recs = records(text, sep, lang).map_err(|e| vec![e])?;
    for (line, _) in recs.iter_mut() {
        *line += skipped;
    }
    let Some((header_line, header)) = recs.first() else {
        return Err(vec![err(1, Problem::Empty)]);
    };
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut errors = Vec::new();
    for (i, h) in header.iter().enumerate() {
        let h = h.trim().to_lowercase();
        match COLUMNS
            .iter()
            .find(|(_, names)| names.contains(&h.as_str()))
        {
            Some((col, _)) => {
                index.insert(col, i);
            }
            None => errors.push(err(*header_line, Problem::UnknownColumn(h))),
        }
    }
    for col in ["activity", "municipality", "quarter", "metric", "value"] {
        if !index.contains_key(col) {
            errors.push(err(*header_line, Problem::MissingColumn(col)));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut figures = Vec::new();
    let mut seen: HashMap<(String, String, String, String), usize> = HashMap::new();
    for (line, fields) in &recs[1..] {
        let line = *line;
        // Spreadsheets write rows of empty cells: a line with nothing in it is no figure.
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if fields.len() != header.len() {
            errors.push(err(
                line,
                Problem::FieldCount {
                    expected: header.len(),
                    found: fields.len(),
                },
            ));
            continue;
        }
        let get = |col: &str| {
            index
                .get(col)
                .and_then(|&i| fields.get(i))
                .map(String::as_str)
                .unwrap_or_default()
        };
        let written = FigureFields {
            activity: get("activity"),
            municipality: get("municipality"),
            quarter: get("quarter"),
            metric: get("metric"),
            value: get("value"),
            unit: get("unit"),
            source: get("source"),
        };
        let checked = check(&written, known).and_then(|f| {
            let key = (
                f.activity_code.clone(),
                f.municipality.clone(),
                f.quarter.clone(),
                f.metric.clone(),
            );
            match seen.insert(key, line) {
                Some(earlier) => Err(vec![Problem::Duplicate(earlier)]),
                None => Ok(f),
            }
        });
        match checked {
            Ok(f) => figures.push(f),
            Err(problems) => errors.push(RowError {
                line,
                message: says(&problems, lang).join("; "),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if figures.is_empty() {
        return Err(vec![err(2 + skipped, Problem::NoFigures)]);
    }
    Ok(figures)
}
