//! A report per activity and period, as printable HTML (with SVG charts) and as Markdown:
//! figures, how many stories the activity has, and approved quotes.
//!
//! Consent: stories count only when their consent allows reports; quotes only from stories that
//! may be quoted, are approved for reporting and are confirmed for the activity. Tellers appear by
//! pseudonym only.

use super::StoryRow;
use super::escape::{markdown as md, xml as esc};
use super::labels::{self, Lang};
use super::svg::line_chart;
use crate::db::workspace::{Unit, WsFigure};
use std::collections::BTreeMap;

pub struct ReportInput<'a> {
    pub workspace: &'a str,
    pub activity_code: &'a str,
    pub activity_name: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub municipality: Option<&'a str>,
    pub english: bool,
    pub figures: &'a [WsFigure],
    /// The stories that may give quotes (all the report's stories, or fewer when `counts` says
    /// how many there are).
    pub stories: &'a [StoryRow],
    /// The counts, when the caller counted them in the database (the desk does: it reads only
    /// the stories it quotes). `None`: counted from `stories`.
    pub counts: Option<StoryCounts>,
}

/// How many stories a report counts: in all, per municipality ("" when unknown), per kind code.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoryCounts {
    pub total: usize,
    pub by_municipality: BTreeMap<String, usize>,
    pub by_kind: BTreeMap<String, usize>,
}

struct Labels {
    title: &'static str,
    period: &'static str,
    all: &'static str,
    figures: &'static str,
    no_figures: &'static str,
    stories: &'static str,
    stories_count: &'static str,
    municipality: &'static str,
    kind: &'static str,
    quotes: &'static str,
    no_quotes: &'static str,
    consent_note: &'static str,
    percent: &'static str,
    unknown: &'static str,
}

const NL: Labels = Labels {
    title: "Rapportage",
    period: "Periode",
    all: "alle gemeenten",
    figures: "Cijfers",
    no_figures: "Geen cijfers in deze periode.",
    stories: "Verhalen",
    stories_count: "verhalen bij deze activiteit (met toestemming voor rapportage)",
    municipality: "Gemeente",
    kind: "Soort",
    quotes: "Citaten (goedgekeurd voor rapportage)",
    no_quotes: "Geen goedgekeurde citaten in deze periode.",
    consent_note: "Alleen verhalen waarvan de verteller toestemming gaf voor gebruik in rapporten tellen mee; citaten alleen met toestemming om te citeren. Namen zijn schuilnamen.",
    percent: "procent",
    unknown: "onbekend",
};

const EN: Labels = Labels {
    title: "Report",
    period: "Period",
    all: "all municipalities",
    figures: "Figures",
    no_figures: "No figures in this period.",
    stories: "Stories",
    stories_count: "stories about this activity (with consent for reports)",
    municipality: "Municipality",
    kind: "Kind",
    quotes: "Quotes (approved for reporting)",
    no_quotes: "No approved quotes in this period.",
    consent_note: "Only stories whose teller consented to use in reports are counted; quotes only with consent to be quoted. Names are pseudonyms.",
    percent: "percent",
    unknown: "unknown",
};

/// One line per municipality: its values per quarter (`None`: no figure).
pub type Series = Vec<(String, Vec<Option<f64>>)>;

/// What a report shows, computed once for both formats.
pub struct Report {
    pub title: String,
    pub subtitle: String,
    /// Per metric: (metric, unit, quarters, series per municipality).
    pub charts: Vec<(String, Unit, Vec<String>, Series)>,
    pub story_count: usize,
    pub by_municipality: BTreeMap<String, usize>,
    pub by_kind: BTreeMap<String, usize>,
    /// (quote, attribution)
    pub quotes: Vec<(String, String)>,
    english: bool,
}

fn in_period(q: Option<&str>, from: Option<&str>, to: Option<&str>) -> bool {
    match q {
        None => from.is_none() && to.is_none(),
        Some(q) => from.is_none_or(|f| q >= f) && to.is_none_or(|t| q <= t),
    }
}

pub fn build(input: &ReportInput<'_>) -> Report {
    let l = if input.english { &EN } else { &NL };
    let mut metrics: BTreeMap<(String, Unit), Vec<&WsFigure>> = BTreeMap::new();
    for f in input.figures {
        if f.activity_code == input.activity_code
            && in_period(Some(&f.quarter), input.from, input.to)
            && input.municipality.is_none_or(|m| m == f.municipality)
        {
            let unit_key = (f.metric.clone(), f.unit);
            metrics.entry(unit_key).or_default().push(f);
        }
    }
    let charts = metrics
        .into_iter()
        .map(|((metric, unit), rows)| {
            let mut quarters: Vec<String> = rows.iter().map(|f| f.quarter.clone()).collect();
            quarters.sort();
            quarters.dedup();
            let mut by_m: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
            for f in rows {
                let i = quarters.iter().position(|q| q == &f.quarter).unwrap_or(0);
                by_m.entry(f.municipality.clone())
                    .or_insert_with(|| vec![None; quarters.len()])[i] = Some(f.value);
            }
            (metric, unit, quarters, by_m.into_iter().collect())
        })
        .collect();
    let relevant: Vec<&StoryRow> = input
        .stories
        .iter()
        .filter(|s| {
            s.confirmed(input.activity_code)
                && s.in_reports()
                && in_period(s.quarter.as_deref(), input.from, input.to)
                && input
                    .municipality
                    .is_none_or(|m| s.municipality.as_deref() == Some(m))
        })
        .collect();
    let mut by_municipality = BTreeMap::new();
    let mut by_kind = BTreeMap::new();
    let lang = if input.english { Lang::En } else { Lang::Nl };
    for s in &relevant {
        *by_municipality
            .entry(
                s.municipality
                    .clone()
                    .unwrap_or_else(|| l.unknown.to_string()),
            )
            .or_insert(0) += 1;
        *by_kind
            .entry(
                s.kind
                    .map(|k| labels::kind(k, lang))
                    .unwrap_or_else(|| l.unknown.to_string()),
            )
            .or_insert(0) += 1;
    }
    let mut story_count = relevant.len();
    if let Some(c) = &input.counts {
        story_count = c.total;
        let unknown = |v: &str, f: &dyn Fn(&str) -> String| {
            if v.is_empty() {
                l.unknown.to_string()
            } else {
                f(v)
            }
        };
        by_municipality = c
            .by_municipality
            .iter()
            .map(|(m, n)| (unknown(m, &|m| m.to_string()), *n))
            .collect();
        by_kind = c
            .by_kind
            .iter()
            .map(|(k, n)| (unknown(k, &|k| labels::kind(k, lang)), *n))
            .collect();
    }
    let quotes = relevant
        .iter()
        .filter_map(|s| {
            // Only the approved version's text and consent: an edit after approval changes
            // nothing here until the story is approved again.
            let q = s.output_quote()?;
            let mut who = s.told_by.clone().unwrap_or_else(|| "anoniem".into());
            if let Some(r) = s.told_by_role.as_deref().filter(|r| !r.is_empty()) {
                who.push_str(&format!(" ({r})"));
            }
            let mut at = vec![who];
            at.extend(s.municipality.clone());
            at.extend(s.quarter.clone());
            Some((q, at.join(", ")))
        })
        .collect();
    let period = match (input.from, input.to) {
        (None, None) => String::new(),
        (f, t) => format!(
            " · {}: {} – {}",
            l.period,
            f.unwrap_or("…"),
            t.unwrap_or("…")
        ),
    };
    Report {
        title: format!("{}: {}", l.title, input.activity_name),
        subtitle: format!(
            "{} · {}{}",
            input.workspace,
            input.municipality.unwrap_or(l.all),
            period
        ),
        charts,
        story_count,
        by_municipality,
        by_kind,
        quotes,
        english: input.english,
    }
}

impl Report {
    fn labels(&self) -> &'static Labels {
        if self.english { &EN } else { &NL }
    }

    fn lang(&self) -> Lang {
        if self.english { Lang::En } else { Lang::Nl }
    }

    /// A number as the report's language writes it (62,5 in Dutch).
    fn number(&self, v: f64) -> String {
        labels::number(v, self.lang())
    }

    /// The indicator's name, not its code ("Lopende trajecten", not `trajecten-lopend`).
    fn chart_title(&self, metric: &str, unit: Unit) -> String {
        let name = labels::metric(metric, self.lang());
        match unit {
            Unit::Count => name,
            Unit::Percent => format!("{name} ({})", self.labels().percent),
        }
    }

    pub fn html(&self) -> String {
        let l = self.labels();
        let mut h = format!(
            "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
             <title>{t}</title><style>body{{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;color:#222}}\
             table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}td,th{{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}}\
             th:first-child,td:first-child{{text-align:left}}blockquote{{border-left:4px solid #1b6ca8;margin:1rem 0;padding:.2rem 1rem}}\
             .who{{color:#555;font-size:.9rem}}@media print{{.chart{{max-width:100%}}}}</style></head><body>\
             <h1>{t}</h1><p>{s}</p><h2>{f}</h2>",
            if self.english { "en" } else { "nl" },
            t = esc(&self.title),
            s = esc(&self.subtitle),
            f = l.figures
        );
        if self.charts.is_empty() {
            h.push_str(&format!("<p>{}</p>", l.no_figures));
        }
        for (metric, unit, quarters, series) in &self.charts {
            let title = self.chart_title(metric, *unit);
            h.push_str(&format!("<h3>{}</h3>", esc(&title)));
            h.push_str(&line_chart(&title, quarters, series, self.lang()));
            h.push_str(&format!("<table><tr><th>{}</th>", l.municipality));
            for q in quarters {
                h.push_str(&format!("<th>{}</th>", esc(q)));
            }
            h.push_str("</tr>");
            for (m, values) in series {
                h.push_str(&format!("<tr><td>{}</td>", esc(m)));
                for v in values {
                    h.push_str(&format!(
                        "<td>{}</td>",
                        v.map(|v| self.number(v)).unwrap_or_else(|| "–".into())
                    ));
                }
                h.push_str("</tr>");
            }
            h.push_str("</table>");
        }
        h.push_str(&format!(
            "<h2>{}</h2><p><strong>{}</strong> {}</p><table><tr><th>{}</th><th></th></tr>",
            l.stories, self.story_count, l.stories_count, l.municipality
        ));
        for (m, n) in &self.by_municipality {
            h.push_str(&format!("<tr><td>{}</td><td>{n}</td></tr>", esc(m)));
        }
        h.push_str(&format!(
            "</table><table><tr><th>{}</th><th></th></tr>",
            l.kind
        ));
        for (k, n) in &self.by_kind {
            h.push_str(&format!("<tr><td>{}</td><td>{n}</td></tr>", esc(k)));
        }
        h.push_str(&format!("</table><h2>{}</h2>", l.quotes));
        if self.quotes.is_empty() {
            h.push_str(&format!("<p>{}</p>", l.no_quotes));
        }
        for (q, who) in &self.quotes {
            h.push_str(&format!(
                "<blockquote><p>“{}”</p><p class=\"who\">— {}</p></blockquote>",
                esc(q),
                esc(who)
            ));
        }
        h.push_str(&format!(
            "<p class=\"who\">{}</p></body></html>",
            l.consent_note
        ));
        h
    }

    pub fn markdown(&self) -> String {
        let l = self.labels();
        let mut m = format!(
            "# {}\n\n{}\n\n## {}\n\n",
            md(&self.title),
            md(&self.subtitle),
            l.figures
        );
        if self.charts.is_empty() {
            m.push_str(&format!("{}\n\n", l.no_figures));
        }
        for (metric, unit, quarters, series) in &self.charts {
            m.push_str(&format!(
                "### {}\n\n| {} |",
                md(&self.chart_title(metric, *unit)),
                l.municipality
            ));
            for q in quarters {
                m.push_str(&format!(" {q} |"));
            }
            m.push_str("\n|---|");
            m.push_str(&"---:|".repeat(quarters.len()));
            m.push('\n');
            for (name, values) in series {
                m.push_str(&format!("| {} |", md(name)));
                for v in values {
                    m.push_str(&format!(
                        " {} |",
                        v.map(|v| self.number(v)).unwrap_or_else(|| "–".into())
                    ));
                }
                m.push('\n');
            }
            m.push('\n');
        }
        m.push_str(&format!(
            "## {}\n\n**{}** {}\n\n",
            l.stories, self.story_count, l.stories_count
        ));
        for (name, n) in &self.by_municipality {
            m.push_str(&format!("- {}: {n}\n", md(name)));
        }
        m.push_str(&format!("\n## {}\n\n", l.quotes));
        if self.quotes.is_empty() {
            m.push_str(&format!("{}\n\n", l.no_quotes));
        }
        for (q, who) in &self.quotes {
            m.push_str(&format!("> “{}”\n>\n> — {}\n\n", md(q), md(who)));
        }
        m.push_str(&format!("_{}_\n", l.consent_note));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::story::{
        Consent, ConsentScope, Story, StoryDetails, StoryKind, Tag, TagState,
    };

    fn story(id: &str, kind: StoryKind, municipality: Option<&str>) -> StoryRow {
        let mut s = Story::read(&automerge::Automerge::new());
        s.kind = Some(kind);
        s.body = "Een verhaal.".into();
        s.municipality = municipality.map(str::to_string);
        s.consent = Some(Consent {
            given: true,
            how: None,
            scope: Some(ConsentScope::AnonymisedInReports),
            recorded_at: None,
        });
        s.tags = vec![Tag {
            code: "voorzorg".into(),
            state: TagState::Confirmed,
            by: "Cor".into(),
            at: 0,
            score: None,
            evidence: vec![],
        }];
        StoryRow::new(id.into(), &s, &StoryDetails::default())
    }

    fn figure(municipality: &str, quarter: &str, value: f64) -> WsFigure {
        WsFigure {
            activity_code: "voorzorg".into(),
            municipality: municipality.into(),
            quarter: quarter.into(),
            metric: "in-zorg-voor-week-10".into(),
            unit: Unit::Percent,
            value,
            source: None,
        }
    }

    /// Names instead of codes, numbers as the language writes them, "onbekend" for a story
    /// without a municipality.
    #[test]
    fn names_and_dutch_numbers() {
        let figures = [
            figure("Delft", "2025-Q1", 62.5),
            figure("Delft", "2025-Q2", 15.62),
        ];
        let stories = [
            story("a", StoryKind::ParentStory, Some("Delft")),
            story("b", StoryKind::ParentStory, None),
        ];
        let input = |english| ReportInput {
            workspace: "DWO",
            activity_code: "voorzorg",
            activity_name: "VoorZorg",
            from: None,
            to: None,
            municipality: None,
            english,
            figures: &figures,
            stories: &stories,
            counts: None,
        };
        let r = build(&input(false));
        let html = r.html();
        assert!(html.contains("In zorg vóór week 10 (procent)"), "{html}");
        assert!(!html.contains("in-zorg-voor-week-10"), "{html}");
        assert!(
            html.contains("<td>62,5</td>") && html.contains("<td>15,62</td>"),
            "{html}"
        );
        assert!(!html.contains("62.5") && !html.contains("4.75"), "{html}");
        assert!(html.contains("<td>Ouderverhaal</td>") && !html.contains("parent-story"));
        assert!(
            html.contains("<td>onbekend</td>") && !html.contains("<td>-</td>"),
            "{html}"
        );
        let md = r.markdown();
        assert!(
            md.contains("### In zorg vóór week 10 \\(procent\\)"),
            "{md}"
        );
        assert!(md.contains(" 62,5 |"), "{md}");
        let en = build(&input(true)).html();
        assert!(en.contains("In care before week 10 (percent)") && en.contains("<td>62.5</td>"));
        assert!(en.contains("<td>Parent story</td>") && en.contains("<td>unknown</td>"));
    }
}
