//! CSV: reading figures for import (`docs/workspace.md` describes the format) and writing exports.
//!
//! The import takes what coordinators' spreadsheets write: Dutch Excel's `;` and byte-order mark
//! as well as `,`, activity names as well as codes, and quarters as `2026-Q1`, `2026 Q1`,
//! `Q1 2026` or `2026-1`. It is all or nothing: [`parse_figures`] returns every bad row with its
//! line number, in the language of the screen, and the caller imports only when there is none.

use super::escape::csv_field;
use super::labels::{Lang, fold_name, number};
use super::valid_quarter;
use crate::db::workspace::{Unit, WsFigure};
use crate::tagging::taxonomy::Entry;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// A problem with one line of an imported file. `line` counts from 1 (the header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: usize,
    pub message: String,
}

/// What can be wrong with an imported file or figure, said in the screen's language.
#[derive(Debug, Clone, PartialEq)]
enum Problem {
    QuoteNotClosed,
    Empty,
    NoFigures,
    UnknownColumn(String),
    MissingColumn(&'static str),
    FieldCount { expected: usize, found: usize },
    UnknownActivity(String),
    AmbiguousActivity(String),
    UnknownMunicipality(String),
    Quarter(String),
    Metric(String),
    Unit(String),
    NotANumber(String),
    Count(String),
    Percent(String),
    SourceTooLong,
    Duplicate(usize),
}

impl Problem {
    fn say(&self, lang: Lang) -> String {
        let nl = !lang.english();
        match self {
            Problem::QuoteNotClosed if nl => {
                "een veld tussen aanhalingstekens wordt niet gesloten".into()
            }
            Problem::QuoteNotClosed => "a quoted field is not closed".into(),
            Problem::Empty if nl => {
                "het bestand is leeg: de eerste regel moet de kolomnamen geven".into()
            }
            Problem::Empty => "the file is empty: expected a header line".into(),
            Problem::NoFigures if nl => "het bestand bevat geen cijfers".into(),
            Problem::NoFigures => "the file has no figures".into(),
            Problem::UnknownColumn(h) if nl => format!(
                "onbekende kolom \"{h}\" (bekend: activiteit, gemeente, periode, indicator, waarde, eenheid, bron)"
            ),
            Problem::UnknownColumn(h) => format!(
                "unknown column \"{h}\" (known: activity, municipality, quarter, metric, value, unit, source)"
            ),
            Problem::MissingColumn(col) if nl => format!("kolom {} ontbreekt", dutch_column(col)),
            Problem::MissingColumn(col) => format!("missing column {col}"),
            Problem::FieldCount { expected, found } if nl => {
                format!("{expected} velden verwacht, {found} gevonden")
            }
            Problem::FieldCount { expected, found } => {
                format!("expected {expected} fields, found {found}")
            }
            Problem::UnknownActivity(a) if nl => format!(
                "onbekende activiteit \"{a}\": gebruik de code of de naam uit de lijst naast het importeren"
            ),
            Problem::UnknownActivity(a) => format!(
                "unknown activity \"{a}\": use the code or the name from the list beside the import"
            ),
            Problem::AmbiguousActivity(a) if nl => {
                format!("\"{a}\" past bij meer dan één activiteit: gebruik de code")
            }
            Problem::AmbiguousActivity(a) => {
                format!("\"{a}\" fits more than one activity: use the code")
            }
            Problem::UnknownMunicipality(m) if nl => format!("onbekende gemeente \"{m}\""),
            Problem::UnknownMunicipality(m) => format!("unknown municipality \"{m}\""),
            Problem::Quarter(q) if nl => format!(
                "periode \"{q}\" is geen kwartaal zoals 2025-Q3, 2025 Q3, Q3 2025 of 2025-3"
            ),
            Problem::Quarter(q) => {
                format!("period \"{q}\" is not a quarter like 2025-Q3, 2025 Q3, Q3 2025 or 2025-3")
            }
            Problem::Metric(m) if nl => {
                format!("indicator \"{m}\": 2 tot 64 tekens a-z, 0-9 en -")
            }
            Problem::Metric(m) => {
                format!("indicator \"{m}\": 2 to 64 characters a-z, 0-9 and -")
            }
            Problem::Unit(u) if nl => format!("eenheid \"{u}\" is geen aantal en geen procent"),
            Problem::Unit(u) => {
                format!("unit \"{u}\" is neither count (aantal) nor percent (procent)")
            }
            Problem::NotANumber(v) if nl => format!("waarde \"{v}\" is geen getal"),
            Problem::NotANumber(v) => format!("value \"{v}\" is not a number"),
            Problem::Count(v) if nl => {
                format!("een aantal moet een heel getal vanaf 0 zijn: \"{v}\"")
            }
            Problem::Count(v) => format!("a count must be a whole number from 0: \"{v}\""),
            Problem::Percent(v) if nl => format!("een percentage ligt tussen 0 en 100: \"{v}\""),
            Problem::Percent(v) => format!("a percentage must be from 0 to 100: \"{v}\""),
            Problem::SourceTooLong if nl => "de bron heeft hoogstens 200 tekens".into(),
            Problem::SourceTooLong => "source has at most 200 characters".into(),
            Problem::Duplicate(line) if nl => format!("hetzelfde cijfer staat al op regel {line}"),
            Problem::Duplicate(line) => format!("the same figure is already on line {line}"),
        }
    }
}

fn dutch_column(col: &str) -> &'static str {
    match col {
        "activity" => "activiteit",
        "municipality" => "gemeente",
        "quarter" => "periode",
        "metric" => "indicator",
        "value" => "waarde",
        "unit" => "eenheid",
        _ => "bron",
    }
}

fn says(problems: &[Problem], lang: Lang) -> Vec<String> {
    problems.iter().map(|p| p.say(lang)).collect()
}

/// Split CSV text into records, each with the line it starts on. Quotes (`"`) may enclose
/// separators, line breaks and doubled quotes. A byte-order mark is skipped.
pub fn records(text: &str, sep: char, lang: Lang) -> Result<Vec<(usize, Vec<String>)>, RowError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut line = 1;
    let mut start_line = 1;
    let mut field = String::new();
    let mut fields = Vec::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                any = true;
            }
            c if c == sep => {
                fields.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' => {}
            '\n' => {
                if any || !field.is_empty() {
                    fields.push(std::mem::take(&mut field));
                    out.push((start_line, std::mem::take(&mut fields)));
                }
                any = false;
                line += 1;
                start_line = line;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(RowError {
            line: start_line,
            message: Problem::QuoteNotClosed.say(lang),
        });
    }
    if any || !field.is_empty() {
        fields.push(field);
        out.push((start_line, fields));
    }
    Ok(out)
}

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

    fn resolve(&self, written: &str) -> Result<String, Problem> {
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

/// A figures file to fill in: Dutch Excel's `;` with a byte-order mark, the header in `lang`, and
/// example rows with an activity by name (`activities`: code and name) and quarters as people
/// write them.
pub fn template(lang: Lang, activities: &[(String, String)], municipalities: &[String]) -> String {
    let header: [&str; 7] = if lang.english() {
        [
            "activity",
            "municipality",
            "quarter",
            "metric",
            "value",
            "unit",
            "source",
        ]
    } else {
        [
            "activiteit",
            "gemeente",
            "periode",
            "indicator",
            "waarde",
            "eenheid",
            "bron",
        ]
    };
    let (count, percent, source) = if lang.english() {
        ("count", "percent", "Municipal health service")
    } else {
        ("aantal", "procent", "GGD")
    };
    let place = municipalities
        .first()
        .cloned()
        .unwrap_or_else(|| "Delft".into());
    let mut out = String::from("\u{feff}");
    out.push_str(&line_sep(&header.map(String::from), ';'));
    for (i, (code, name)) in activities.iter().take(2).enumerate() {
        let activity = if name.is_empty() { code } else { name };
        let row = if i == 0 {
            [
                activity,
                &place,
                "2026 Q1",
                "deelnemers",
                "12",
                count,
                source,
            ]
        } else {
            [
                activity,
                &place,
                "2026-Q1",
                "in-zorg-voor-week-10",
                "",
                percent,
                source,
            ]
        };
        let mut fields = row.map(String::from);
        if i == 1 {
            fields[4] = number(63.5, lang);
        }
        out.push_str(&line_sep(&fields, ';'));
    }
    out
}

/// One line of an export: every field through [`csv_field`], so no field can start a formula.
pub fn line(fields: &[String]) -> String {
    line_sep(fields, ',')
}

/// [`line`] with another separator (`;` for Dutch Excel).
pub fn line_sep(fields: &[String], sep: char) -> String {
    let mut l = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(sep.encode_utf8(&mut [0; 4]));
    l.push_str("\r\n");
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known {
        Known {
            activities: ActivityNames::codes(["centering".to_string()]),
            municipalities: ["Delft".to_string(), "Westland".to_string()].into(),
        }
    }

    /// The workspace's real activities, with their names.
    fn default_known() -> Known {
        let t = crate::tagging::default_taxonomy().expect("taxonomy");
        Known {
            activities: ActivityNames::new(&t.activities),
            municipalities: ["Delft".to_string(), "Westland".to_string()].into(),
        }
    }

    #[test]
    fn good_file_with_shares_and_semicolons() {
        let text = "activiteit;gemeente;periode;indicator;waarde;eenheid;bron\n\
                    centering;Delft;2025-Q3;deelnemers;31;aantal;GGD\n\
                    centering;Westland;2025-q3;in-zorg-voor-week-10;63,5;procent;\n";
        let f = parse_figures(text, &known(), Lang::En).expect("valid");
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].unit, Unit::Percent);
        assert_eq!(f[1].stored(), 6350);
        assert_eq!(f[1].quarter, "2025-Q3");
    }

    #[test]
    fn every_bad_row_with_its_line() {
        let text = "activity,municipality,quarter,metric,value\n\
                    centering,Delft,2025-Q3,deelnemers,31\n\
                    onbekend,Delft,2025-Q3,deelnemers,3\n\
                    \"centering\",\"Westland\",\"2025-Q9\",deelnemers,-2\n\
                    centering,Delft,2025-Q3,deelnemers,32\n";
        let errs = parse_figures(text, &known(), Lang::En).expect_err("invalid");
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(errs[0].message.contains("unknown activity"));
        assert!(errs[1].message.contains("2025-Q9"));
        assert!(errs[1].message.contains("whole number"));
        assert!(errs[2].message.contains("line 2"));
    }

    /// What Dutch Excel saves: a byte-order mark, `;`, CRLF, activity names in any case and
    /// spacing, quarters as people write them, a municipality in lower case, empty rows.
    #[test]
    fn an_excel_file_with_names_and_quarters_as_written() {
        let text = "\u{feff}Activiteit;Gemeente;Periode;Indicator;Waarde;Eenheid;Bron\r\n\
                    VoorZorg;Delft;2026 Q1;trajecten-lopend;14;aantal;GGD\r\n\
                    CenteringPregnancy;westland;Q1 2026;deelnemers;31;aantal;\r\n\
                    centering pregnancy;Delft;2026-1;in-zorg-voor-week-10;62,5;procent;\r\n\
                    Goede Start Gesprek;Delft;2026q2;gezinnen-bereikt;40;;\r\n\
                    ;;;;;;\r\n";
        let f = parse_figures(text, &default_known(), Lang::Nl).expect("valid");
        let got: Vec<(&str, &str, &str, f64)> = f
            .iter()
            .map(|f| {
                (
                    f.activity_code.as_str(),
                    f.municipality.as_str(),
                    f.quarter.as_str(),
                    f.value,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("voorzorg", "Delft", "2026-Q1", 14.0),
                ("centering", "Westland", "2026-Q1", 31.0),
                ("centering", "Delft", "2026-Q1", 62.5),
                ("prenataal-huisbezoek", "Delft", "2026-Q2", 40.0),
            ]
        );
        // Excel's "sep=;" line before the header.
        let hinted =
            "sep=;\nactiviteit;gemeente;periode;indicator;waarde\nVoorZorg;Delft;2026 Q1;x1;3\n";
        let errs = parse_figures(hinted, &default_known(), Lang::Nl).expect("valid");
        assert_eq!(errs[0].metric, "x1");
    }

    #[test]
    fn errors_in_the_screens_language() {
        let text = "activiteit;gemeente;periode;indicator;waarde\n\
                    Atlantis-zorg;Atlantis;2026 Q5;deelnemers;veel\n";
        let nl = parse_figures(text, &default_known(), Lang::Nl).expect_err("invalid");
        assert_eq!(nl[0].line, 2);
        assert!(
            nl[0]
                .message
                .contains("onbekende activiteit \"Atlantis-zorg\""),
            "{nl:?}"
        );
        assert!(
            nl[0].message.contains("onbekende gemeente \"Atlantis\""),
            "{nl:?}"
        );
        assert!(
            nl[0]
                .message
                .contains("periode \"2026 Q5\" is geen kwartaal"),
            "{nl:?}"
        );
        assert!(
            nl[0].message.contains("waarde \"veel\" is geen getal"),
            "{nl:?}"
        );
        let en = parse_figures(text, &default_known(), Lang::En).expect_err("invalid");
        assert!(en[0].message.contains("unknown municipality"), "{en:?}");
        let header = parse_figures("wat;waarde\n", &default_known(), Lang::Nl).expect_err("bad");
        assert_eq!(
            header
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()[1..],
            [
                "kolom activiteit ontbreekt",
                "kolom gemeente ontbreekt",
                "kolom periode ontbreekt",
                "kolom indicator ontbreekt"
            ]
        );
    }

    #[test]
    fn quarters_as_spreadsheets_write_them() {
        for written in [
            "2026-Q1",
            "2026 Q1",
            "Q1 2026",
            "2026-1",
            "2026Q1",
            "q1-2026",
            " 2026 q1 ",
            "2026/1",
            "K1 2026",
            "2026-01",
        ] {
            assert_eq!(
                normalise_quarter(written).as_deref(),
                Some("2026-Q1"),
                "{written}"
            );
        }
        assert_eq!(normalise_quarter("Q4 2025").as_deref(), Some("2025-Q4"));
        for bad in [
            "2026-Q5",
            "2026-0",
            "26-Q1",
            "2026",
            "Q1",
            "2026-Q1-2",
            "1-2026",
            "2026 Q1x",
            "2026:Q1",
            "",
            "2026-13",
        ] {
            assert_eq!(normalise_quarter(bad), None, "{bad}");
        }
    }

    #[test]
    fn activity_names_fold_case_spacing_and_accents() {
        let names = default_known().activities;
        for (written, code) in [
            ("VoorZorg", "voorzorg"),
            ("voorzorg", "voorzorg"),
            ("VOORZORG", "voorzorg"),
            ("CenteringPregnancy", "centering"),
            ("Centering Parenting", "centering"),
            ("centering pregnancy", "centering"),
            ("CenteringPregnancy / CenteringParenting", "centering"),
            ("Prenataal huisbezoek", "prenataal-huisbezoek"),
            ("Video-hometraining (VHT)", "videohometraining"),
            ("VHT", "videohometraining"),
            ("Babycafé", "ouderinitiatief"),
            ("stevig-ouderschap", "stevig-ouderschap"),
        ] {
            assert_eq!(names.resolve(written).as_deref(), Ok(code), "{written}");
        }
        assert!(matches!(
            names.resolve("Kansrijke Start"),
            Err(Problem::UnknownActivity(_))
        ));
    }

    /// The form's figure is checked like a line of a file, and stored as typed: a source that
    /// looks like a formula is made safe when exported, not changed when saved.
    #[test]
    fn one_figure_from_the_form() {
        let form = |value: &'static str, unit: &'static str, source: &'static str| FigureFields {
            activity: "centering",
            municipality: " Delft ",
            quarter: "2025-q3",
            metric: "deelnemers",
            value,
            unit,
            source,
        };
        let f = check_figure(&form("33", "count", "=SUM(A1)"), &known(), Lang::En).expect("valid");
        assert_eq!(
            (f.municipality.as_str(), f.quarter.as_str(), f.value, f.unit),
            ("Delft", "2025-Q3", 33.0, Unit::Count)
        );
        assert_eq!(f.source.as_deref(), Some("=SUM(A1)"));
        assert_eq!(
            check_figure(&form("-5", "count", ""), &known(), Lang::En).expect_err("negative"),
            ["a count must be a whole number from 0: \"-5\""]
        );
        let problems =
            check_figure(&form("101", "percent", ""), &known(), Lang::Nl).expect_err("over 100");
        assert_eq!(problems, ["een percentage ligt tussen 0 en 100: \"101\""]);
    }

    #[test]
    fn the_template_imports() {
        let t = crate::tagging::default_taxonomy().expect("taxonomy");
        let activities: Vec<(String, String)> = t
            .activities
            .iter()
            .map(|a| (a.code.clone(), a.name.clone()))
            .collect();
        for lang in [Lang::Nl, Lang::En] {
            let file = template(lang, &activities, &["Delft".to_string()]);
            assert!(file.starts_with('\u{feff}'));
            let f = parse_figures(&file, &default_known(), lang).expect("the template imports");
            assert_eq!(f.len(), 2);
            assert_eq!(f[1].value, 63.5);
        }
    }

    #[test]
    fn quoted_line_breaks_count_lines() {
        let r = records("a,b\n\"x\ny\",z\nc,d\n", ',', Lang::Nl).expect("ok");
        assert_eq!(r.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![1, 2, 4]);
        assert_eq!(r[1].1[0], "x\ny");
    }
}
