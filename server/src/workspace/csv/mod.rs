//! CSV: reading figures for import (`docs/workspace.md` describes the format) and writing exports.
//!
//! The import takes what coordinators' spreadsheets write: Dutch Excel's `;` and byte-order mark
//! as well as `,`, activity names as well as codes, and quarters as `2026-Q1`, `2026 Q1`,
//! `Q1 2026` or `2026-1`. It is all or nothing: [`parse_figures`] returns every bad row with its
//! line number, in the language of the screen, and the caller imports only when there is none.
//!
//! Here: the CSV format (records, lines, the template) and the problems' wording; [`figures`]:
//! what a figures file's rows mean. Not here: storing figures (`db/workspace.rs`) or HTTP.

mod figures;

pub use figures::{
    ActivityNames, FigureFields, Known, check_figure, normalise_quarter, parse_figures,
};

use super::escape::csv_field;
use super::labels::{Lang, number};

use serde::Serialize;

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

/// The Dutch header of a figures file (what an export writes and the Dutch template offers).
pub const FIGURES_HEADER: [&str; 7] = [
    "activiteit",
    "gemeente",
    "periode",
    "indicator",
    "waarde",
    "eenheid",
    "bron",
];

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
        FIGURES_HEADER
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
mod tests;
