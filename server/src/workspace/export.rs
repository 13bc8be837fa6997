//! CSV exports of stories (with tags and review state) and of figures.
//!
//! The story export is an output like a report: only stories whose consent allows reports, the
//! teller by pseudonym, and the text only when the teller allowed quoting.

use super::StoryRow;
use super::csv::line;
use super::svg::fmt_num;
use crate::db::workspace::WsFigure;

pub fn stories_csv(rows: &[StoryRow]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&line(
        &[
            "id",
            "title",
            "kind",
            "municipality",
            "quarter",
            "phase",
            "target_group",
            "place_type",
            "review",
            "consent",
            "told_by",
            "confirmed_tags",
            "suggested_tags",
            "quote",
        ]
        .map(String::from),
    ));
    for r in rows.iter().filter(|r| r.in_reports()) {
        let tags = |state: &str| {
            r.tags
                .iter()
                .filter(|t| t.state == state)
                .map(|t| t.code.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        out.push_str(&line(&[
            r.id.clone(),
            r.title.clone(),
            r.kind.unwrap_or_default().to_string(),
            r.municipality.clone().unwrap_or_default(),
            r.quarter.clone().unwrap_or_default(),
            r.phase.clone().unwrap_or_default(),
            r.target_group.clone().unwrap_or_default(),
            r.place_type.unwrap_or_default().to_string(),
            r.review.to_string(),
            r.consent_scope.unwrap_or_default().to_string(),
            r.told_by.clone().unwrap_or_default(),
            tags("confirmed"),
            tags("suggested"),
            // A quote only from an approved version (text and consent as approved).
            r.approved_quote().unwrap_or_default().to_string(),
        ]));
    }
    out
}

pub fn figures_csv(figures: &[WsFigure]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&line(
        &[
            "activiteit",
            "gemeente",
            "periode",
            "indicator",
            "waarde",
            "eenheid",
            "bron",
        ]
        .map(String::from),
    ));
    for f in figures {
        out.push_str(&line(&[
            f.activity_code.clone(),
            f.municipality.clone(),
            f.quarter.clone(),
            f.metric.clone(),
            fmt_num(f.value),
            f.unit.code().to_string(),
            f.source.clone().unwrap_or_default(),
        ]));
    }
    out
}
