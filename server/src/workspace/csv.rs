//! CSV: reading figures for import (`docs/workspace.md` describes the format) and writing exports.
//!
//! Import is all or nothing: [`parse_figures`] returns every bad row with its line number, and
//! the caller imports only when there is none.

use super::escape::csv_field;
use super::valid_quarter;
use crate::db::workspace::{Unit, WsFigure};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// A problem with one line of an imported file. `line` counts from 1 (the header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: usize,
    pub message: String,
}

/// Split CSV text into records, each with the line it starts on. Quotes (`"`) may enclose
/// separators, line breaks and doubled quotes. A byte-order mark is skipped.
pub fn records(text: &str, sep: char) -> Result<Vec<(usize, Vec<String>)>, RowError> {
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
            message: "a quoted field is not closed".into(),
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

/// Check one figure against the workspace's activity codes and municipality names (an empty list
/// accepts any name): the figure, or every problem with it in plain words.
pub fn check_figure(
    written: &FigureFields,
    activities: &BTreeSet<String>,
    municipalities: &BTreeSet<String>,
) -> Result<WsFigure, Vec<String>> {
    let mut problems = Vec::new();
    let activity = written.activity.trim();
    if !activities.contains(activity) {
        problems.push(format!("unknown activity \"{activity}\""));
    }
    let municipality = written.municipality.trim();
    if municipality.is_empty()
        || (!municipalities.is_empty() && !municipalities.contains(municipality))
    {
        problems.push(format!("unknown municipality \"{municipality}\""));
    }
    let quarter = written.quarter.trim().to_uppercase();
    if !valid_quarter(&quarter) {
        problems.push(format!(
            "period \"{quarter}\" is not a quarter like 2025-Q3"
        ));
    }
    let metric = written.metric.trim();
    if !valid_metric(metric) {
        problems.push(format!(
            "indicator \"{metric}\": 2 to 64 characters a-z, 0-9 and -"
        ));
    }
    let unit_text = written.unit.trim().to_lowercase();
    let unit = if unit_text.is_empty() {
        Some(Unit::Count)
    } else {
        Unit::from_code(&unit_text)
    };
    if unit.is_none() {
        problems.push(format!(
            "unit \"{unit_text}\" is neither count (aantal) nor percent (procent)"
        ));
    }
    let raw = written.value.trim();
    let value = raw
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite());
    match (value, unit) {
        (None, _) => problems.push(format!("value \"{raw}\" is not a number")),
        (Some(v), Some(Unit::Count)) if v < 0.0 || v.fract() != 0.0 || v > 1e12 => {
            problems.push(format!("a count must be a whole number from 0: \"{raw}\""))
        }
        (Some(v), Some(Unit::Percent)) if !(0.0..=100.0).contains(&v) => {
            problems.push(format!("a percentage must be from 0 to 100: \"{raw}\""))
        }
        _ => {}
    }
    let source = written.source.trim();
    if source.chars().count() > 200 {
        problems.push("source has at most 200 characters".into());
    }
    match (value, unit) {
        (Some(value), Some(unit)) if problems.is_empty() => Ok(WsFigure {
            activity_code: activity.to_string(),
            municipality: municipality.to_string(),
            quarter,
            metric: metric.to_string(),
            unit,
            value,
            source: (!source.is_empty()).then(|| source.to_string()),
        }),
        _ => Err(problems),
    }
}

/// Parse and validate a figures file. `activities` and `municipalities` are the codes and names
/// the workspace knows (an empty municipality list accepts any name).
pub fn parse_figures(
    text: &str,
    activities: &BTreeSet<String>,
    municipalities: &BTreeSet<String>,
) -> Result<Vec<WsFigure>, Vec<RowError>> {
    let first = text.lines().next().unwrap_or_default();
    let sep = if first.matches(';').count() > first.matches(',').count() {
        ';'
    } else {
        ','
    };
    let recs = records(text, sep).map_err(|e| vec![e])?;
    let Some((header_line, header)) = recs.first() else {
        return Err(vec![RowError {
            line: 1,
            message: "the file is empty: expected a header line".into(),
        }]);
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
            None => errors.push(RowError {
                line: *header_line,
                message: format!("unknown column \"{h}\""),
            }),
        }
    }
    for col in ["activity", "municipality", "quarter", "metric", "value"] {
        if !index.contains_key(col) {
            errors.push(RowError {
                line: *header_line,
                message: format!("missing column {col}"),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut figures = Vec::new();
    let mut seen: HashMap<(String, String, String, String), usize> = HashMap::new();
    for (line, fields) in &recs[1..] {
        let line = *line;
        if fields.len() != header.len() {
            errors.push(RowError {
                line,
                message: format!("expected {} fields, found {}", header.len(), fields.len()),
            });
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
        let checked = check_figure(&written, activities, municipalities).and_then(|f| {
            let key = (
                f.activity_code.clone(),
                f.municipality.clone(),
                f.quarter.clone(),
                f.metric.clone(),
            );
            match seen.insert(key, line) {
                Some(earlier) => Err(vec![format!(
                    "the same figure is already on line {earlier}"
                )]),
                None => Ok(f),
            }
        });
        match checked {
            Ok(f) => figures.push(f),
            Err(problems) => errors.push(RowError {
                line,
                message: problems.join("; "),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if figures.is_empty() {
        return Err(vec![RowError {
            line: 2,
            message: "the file has no figures".into(),
        }]);
    }
    Ok(figures)
}

/// One line of an export: every field through [`csv_field`], so no field can start a formula.
pub fn line(fields: &[String]) -> String {
    let mut l = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    l.push_str("\r\n");
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> (BTreeSet<String>, BTreeSet<String>) {
        (
            ["centering".to_string()].into(),
            ["Delft".to_string(), "Westland".to_string()].into(),
        )
    }

    #[test]
    fn good_file_with_shares_and_semicolons() {
        let (a, m) = known();
        let text = "activiteit;gemeente;periode;indicator;waarde;eenheid;bron\n\
                    centering;Delft;2025-Q3;deelnemers;31;aantal;GGD\n\
                    centering;Westland;2025-q3;in-zorg-voor-week-10;63,5;procent;\n";
        let f = parse_figures(text, &a, &m).expect("valid");
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].unit, Unit::Percent);
        assert_eq!(f[1].stored(), 6350);
        assert_eq!(f[1].quarter, "2025-Q3");
    }

    #[test]
    fn every_bad_row_with_its_line() {
        let (a, m) = known();
        let text = "activity,municipality,quarter,metric,value\n\
                    centering,Delft,2025-Q3,deelnemers,31\n\
                    onbekend,Delft,2025-Q3,deelnemers,3\n\
                    \"centering\",\"Westland\",\"2025-Q9\",deelnemers,-2\n\
                    centering,Delft,2025-Q3,deelnemers,32\n";
        let errs = parse_figures(text, &a, &m).expect_err("invalid");
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(errs[0].message.contains("unknown activity"));
        assert!(errs[1].message.contains("2025-Q9"));
        assert!(errs[1].message.contains("whole number"));
        assert!(errs[2].message.contains("line 2"));
    }

    /// The form's figure is checked like a line of a file, and stored as typed: a source that
    /// looks like a formula is made safe when exported, not changed when saved.
    #[test]
    fn one_figure_from_the_form() {
        let (a, m) = known();
        let form = |value: &'static str, unit: &'static str, source: &'static str| FigureFields {
            activity: "centering",
            municipality: " Delft ",
            quarter: "2025-q3",
            metric: "deelnemers",
            value,
            unit,
            source,
        };
        let f = check_figure(&form("33", "count", "=SUM(A1)"), &a, &m).expect("valid");
        assert_eq!(
            (f.municipality.as_str(), f.quarter.as_str(), f.value, f.unit),
            ("Delft", "2025-Q3", 33.0, Unit::Count)
        );
        assert_eq!(f.source.as_deref(), Some("=SUM(A1)"));
        assert_eq!(
            check_figure(&form("-5", "count", ""), &a, &m).expect_err("negative"),
            ["a count must be a whole number from 0: \"-5\""]
        );
        let problems = check_figure(&form("101", "percent", ""), &a, &m).expect_err("over 100");
        assert_eq!(problems, ["a percentage must be from 0 to 100: \"101\""]);
    }

    #[test]
    fn quoted_line_breaks_count_lines() {
        let r = records("a,b\n\"x\ny\",z\nc,d\n", ',').expect("ok");
        assert_eq!(r.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![1, 2, 4]);
        assert_eq!(r[1].1[0], "x\ny");
    }
}
