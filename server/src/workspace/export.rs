//! CSV exports of stories (with tags and review state) and of figures.
//!
//! The story export is an output like a report: only stories whose consent allows reports, the
//! teller by pseudonym, never a member. It is written for Dutch Excel (`;`, a byte-order mark,
//! names instead of codes), one line at a time, so it can be streamed.

use super::StoryRow;
use super::csv::{line, line_sep};
use super::labels::{self, Labels, Lang};
use super::svg::fmt_num;
use crate::db::workspace::WsFigure;

/// The stories CSV of `rows`, whole, in Dutch with the default taxonomy's names: the header and
/// one line per row through [`stories_csv_header`] and [`story_csv_line`].
pub fn stories_csv(rows: &[StoryRow]) -> String {
    let names = Labels::default_taxonomy();
    let mut out = stories_csv_header(Lang::Nl);
    for r in rows {
        out.push_str(&story_csv_line(r, &names, Lang::Nl));
    }
    out
}

/// The start of the stories CSV for Dutch Excel: a byte-order mark (so Excel reads UTF-8) and
/// the header line, `;`-separated, in `lang`.
pub fn stories_csv_header(lang: Lang) -> String {
    let header: [&str; 17] = if lang.english() {
        [
            "id",
            "title",
            "kind",
            "municipality",
            "date (UTC)",
            "quarter",
            "phase",
            "target group",
            "place",
            "review",
            "consent",
            "told by",
            "confirmed activities",
            "suggested activities",
            "text",
            "transcript",
            "quote",
        ]
    } else {
        [
            "id",
            "titel",
            "soort verhaal",
            "gemeente",
            "datum (UTC)",
            "kwartaal",
            "fase",
            "doelgroep",
            "soort plek",
            "beoordeling",
            "toestemming",
            "verteld door",
            "bevestigde activiteiten",
            "voorgestelde activiteiten",
            "tekst",
            "transcriptie",
            "citaat",
        ]
    };
    let mut out = String::from("\u{feff}");
    out.push_str(&line_sep(&header.map(String::from), ';'));
    out
}

/// One story as a line of the stories CSV, with names instead of codes, or nothing when its
/// consent keeps it out of exports ([`StoryRow::in_reports`]). The text and transcript only of a
/// story that may be quoted ([`StoryRow::quotable`]: a spreadsheet passes from hand to hand, so
/// an anonymised story is counted, not written out); the quote only from an approved version that
/// may be quoted ([`StoryRow::output_quote`]); all of it de-identified ([`StoryRow::output`]).
pub fn story_csv_line(r: &StoryRow, names: &Labels, lang: Lang) -> String {
    if !r.in_reports() {
        return String::new();
    }
    let activities = |state: &str| {
        r.tags
            .iter()
            .filter(|t| t.state == state)
            .map(|t| names.activity(&t.code, lang))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let named = |code: Option<&str>, f: &dyn Fn(&str, Lang) -> String| {
        code.map(|c| f(c, lang)).unwrap_or_default()
    };
    // Text only as outputs carry it: de-identified, from the approved version (issue 16).
    let text = r.output();
    line_sep(
        &[
            r.id.clone(),
            text.title,
            named(r.kind, &labels::kind),
            r.municipality.clone().unwrap_or_default(),
            r.captured_at.map(labels::date_time).unwrap_or_default(),
            r.quarter.clone().unwrap_or_default(),
            named(r.phase.as_deref(), &|c, l| names.phase(c, l)),
            named(r.target_group.as_deref(), &|c, l| names.target_group(c, l)),
            named(r.place_type, &|c, l| names.place_type(c, l)),
            labels::review(r.review, lang),
            named(r.consent_scope, &labels::consent),
            r.told_by.clone().unwrap_or_default(),
            activities("confirmed"),
            activities("suggested"),
            if r.quotable() {
                text.body
            } else {
                String::new()
            },
            if r.quotable() {
                text.transcript.unwrap_or_default()
            } else {
                String::new()
            },
            // A quote only from an approved version (text and consent as approved).
            r.output_quote().unwrap_or_default(),
        ],
        ';',
    )
}

pub fn figures_csv(figures: &[WsFigure]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&line(&super::csv::FIGURES_HEADER.map(String::from)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::story::{
        Consent, ConsentScope, PlaceType, Story, StoryDetails, StoryKind, Tag, TagState, Transcript,
    };

    fn row(scope: ConsentScope) -> StoryRow {
        let mut s = Story::read(&automerge::Automerge::new());
        s.kind = Some(StoryKind::ParentStory);
        s.title = "Kim".into(); // a name: the export carries "[naam]" (issue 16)
        s.body = "Ze zei: het hielp; echt.".into();
        s.captured_at = Some(1_739_277_000_000);
        s.place_type = Some(PlaceType::Thuis);
        s.transcript = Some(Transcript {
            text: "Het hielp echt.".into(),
            language: Some("nl".into()),
            state: None,
            model: None,
        });
        s.consent = Some(Consent {
            given: true,
            how: None,
            scope: Some(scope),
            recorded_at: None,
        });
        s.tags = ["voorzorg", "centering"]
            .iter()
            .zip([TagState::Confirmed, TagState::Suggested])
            .map(|(code, state)| Tag {
                code: code.to_string(),
                state,
                by: "x".into(),
                at: 0,
                score: None,
                evidence: vec![],
            })
            .collect();
        let d = StoryDetails {
            phase: Some("na-geboorte".into()),
            ..StoryDetails::default()
        };
        StoryRow::new("id1".into(), &s, &d)
    }

    #[test]
    fn a_stories_csv_for_dutch_excel() {
        let names = Labels::default_taxonomy();
        let header = stories_csv_header(Lang::Nl);
        assert!(header.starts_with("\u{feff}id;titel;soort verhaal;gemeente;datum (UTC);"));
        assert!(header.ends_with(";tekst;transcriptie;citaat\r\n"));
        let line = story_csv_line(&row(ConsentScope::MayBeQuoted), &names, Lang::Nl);
        assert_eq!(
            line,
            "id1;[naam];Ouderverhaal;;2025-02-11 12:30;2025-Q1;Na de geboorte;;Thuis (huisbezoek);\
             concept;mag geciteerd worden;;VoorZorg;CenteringPregnancy / CenteringParenting;\
             \"Ze zei: het hielp; echt.\";Het hielp echt.;\r\n"
        );
        let en = story_csv_line(&row(ConsentScope::MayBeQuoted), &names, Lang::En);
        assert!(
            en.contains(";Parent story;") && en.contains(";may be quoted;"),
            "{en}"
        );
        // Consent: an internal-only story is not exported at all.
        assert_eq!(
            story_csv_line(&row(ConsentScope::InternalOnly), &names, Lang::Nl),
            ""
        );
        // The whole-file wrapper is the header and the lines.
        let rows = [
            row(ConsentScope::AnonymisedInReports),
            row(ConsentScope::InternalOnly),
        ];
        let all = stories_csv(&rows);
        assert_eq!(all.lines().count(), 2, "{all}");
        // An anonymised story is counted, its words are not written out.
        assert!(
            all.contains(
                ";anoniem in rapporten;;VoorZorg;CenteringPregnancy / CenteringParenting;;;\r\n"
            ),
            "{all}"
        );
        assert!(!all.contains("hielp"), "{all}");
    }
}
