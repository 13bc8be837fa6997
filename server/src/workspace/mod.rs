//! The coordinators' workspace (`/werkruimte/`): stories beside figures per activity, review,
//! consent-filtered reports and exports. Pure functions over [`StoryRow`]s and figures, and
//! [`desk`]'s putting together of the desk's answers; the HTTP layer (`http/workspace.rs`,
//! `http/desk.rs`) checks who asks, reads the stores and calls these. No HTTP types here.
//!
//! **Consent decides visibility in output.** [`StoryRow::in_reports`] and [`StoryRow::quotable`]
//! are the only places that decide which stories a report, export or project file may carry.
//! Outputs name tellers by their pseudonym only; members' e-mail addresses never leave the server
//! in any export.

pub mod csv;
pub mod desk;
pub mod escape;
pub mod evidence;
pub mod export;
pub mod index;
pub mod labels;
pub mod qdpx;
pub mod report;
pub mod review;
pub mod svg;

pub use desk::StoryFilter;

use client_core::story::{ConsentScope, ReviewState, Story, StoryDetails, TagState, ownership};
use serde::Serialize;

/// One activity tag of a story as the workspace shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RowTag {
    pub code: String,
    pub state: &'static str,
    pub by: String,
    pub score: Option<f64>,
    /// Who wrote the tag's current value, from the server's record of actors (not `by`).
    pub written_by: Option<String>,
}

/// A comment as the workspace shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RowComment {
    pub id: String,
    /// The name written in the comment (what the writer's device put there).
    pub author: String,
    pub at: i64,
    pub text: String,
    /// Who wrote it, from the server's record of actors; `None` for history from before that
    /// record (then only `author` is known).
    pub written_by: Option<String>,
}

/// A story as the workspace lists it. Carries the teller's pseudonym, never a member's address.
#[derive(Debug, Clone, Serialize)]
pub struct StoryRow {
    pub id: String,
    pub title: String,
    pub body: String,
    pub transcript: Option<String>,
    pub kind: Option<&'static str>,
    pub municipality: Option<String>,
    pub place_type: Option<&'static str>,
    pub phase: Option<String>,
    pub target_group: Option<String>,
    pub captured_at: Option<i64>,
    /// `2025-Q1`, from `captured_at`.
    pub quarter: Option<String>,
    pub review: &'static str,
    pub consent_scope: Option<&'static str>,
    /// The teller's role and pseudonym.
    pub told_by_role: Option<String>,
    pub told_by: Option<String>,
    pub persona: Option<String>,
    /// Activity tags (no `phase:`/`theme:`/`group:` dimension tags), rejected ones included.
    pub tags: Vec<RowTag>,
    pub sections: Vec<(String, String)>,
    pub comments: Vec<RowComment>,
    /// Who set the review state, from the server's record of actors.
    pub reviewed_by: Option<String>,
    /// The quote shown for this story, when its consent allows quoting.
    pub quote: Option<String>,
    /// What the de-identifier finds in the quote the desk shows (the approved one, else the
    /// current one), with what the approval keeps; filled by [`ReadStory::row`].
    pub quote_marks: Vec<Mark>,
    /// What it finds in the transcript (names spoken into a voice note).
    pub transcript_marks: Vec<Mark>,
    /// Names the de-identifier leaves alone for this story beside its own municipality: the
    /// workspace's municipalities (`workspace_municipalities`), where they are the point of the
    /// story. Filled by [`ReadStory::row_in`].
    #[serde(skip)]
    pub keep_names: Vec<String>,
    /// A field member changed the story after it was approved: it is back to `submitted` and
    /// needs a new approval ("gewijzigd na goedkeuring").
    pub changed_after_approval: bool,
    /// The version a coordinator approved, when the story has one that stands: the only text and
    /// consent reports and quotes use.
    pub approved: Option<ApprovedVersion>,
}

/// What a coordinator approved: the story's text and consent at the approved heads.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovedVersion {
    pub title: String,
    pub body: String,
    pub consent_scope: Option<&'static str>,
    /// The quote, when the approved consent allows quoting.
    pub quote: Option<String>,
    /// The transcript and impact sections as approved (what outputs carry beside the body).
    pub transcript: Option<String>,
    pub sections: Vec<(String, String)>,
    /// The spans of the quote the approving coordinator kept visible on purpose (`kind:text`).
    pub kept: Vec<String>,
}

impl ApprovedVersion {
    pub fn of(s: &Story) -> ApprovedVersion {
        let scope = s.consent.as_ref().filter(|c| c.given).and_then(|c| c.scope);
        ApprovedVersion {
            title: s.title.clone(),
            body: s.body.clone(),
            consent_scope: scope.map(|c| c.code()),
            quote: (scope == Some(ConsentScope::MayBeQuoted))
                .then(|| quote_of(spoken_or_written(s)))
                .flatten(),
            transcript: s
                .transcript
                .as_ref()
                .map(|t| t.text.clone())
                .filter(|t| !t.is_empty()),
            sections: Vec::new(),
            kept: Vec::new(),
        }
    }
}

/// A span the de-identifier found, as the desk marks it: UTF-16 offsets (what JavaScript
/// indexes), the kind's code and label, why, and whether the approval keeps it visible.
#[derive(Debug, Clone, Serialize)]
pub struct Mark {
    pub start: usize,
    pub end: usize,
    pub kind: &'static str,
    pub label: &'static str,
    pub reason: &'static str,
    pub text: String,
    pub kept: bool,
}

/// The key a kept span is stored under with the approval (`naam:Anja`).
pub fn keep_key(kind: &str, text: &str) -> String {
    format!("{kind}:{text}")
}

/// The marks of `text`: every span, with its UTF-16 offsets.
pub fn marks(text: &str, keep: &[&str], kept: &[String]) -> Vec<Mark> {
    let spans = crate::deidentify::spans(text, keep);
    let mut out = Vec::with_capacity(spans.len());
    let (mut at, mut units) = (0usize, 0usize);
    let mut utf16 = |byte: usize| {
        units += text[at..byte].encode_utf16().count();
        at = byte;
        units
    };
    for s in spans {
        let start = utf16(s.start);
        let end = utf16(s.end);
        let t = text[s.start..s.end].to_string();
        out.push(Mark {
            start,
            end,
            kind: s.kind.code(),
            label: s.kind.label(),
            reason: s.reason,
            kept: kept.contains(&keep_key(s.kind.code(), &t)),
            text: t,
        });
    }
    out
}

/// A story's text as every output carries it (reports, the stories CSV, the REFI-QDA project):
/// see [`StoryRow::output`].
#[derive(Debug, Clone)]
pub struct OutputText {
    pub title: String,
    pub body: String,
    pub transcript: Option<String>,
    pub sections: Vec<(String, String)>,
}

/// What the workspace reads of one story document (see [`read_story`]).
pub struct ReadStory {
    pub story: Story,
    pub details: StoryDetails,
    /// The approved version, when one stands.
    pub approved: Option<Story>,
    /// Its impact sections.
    pub approved_details: Option<StoryDetails>,
    /// The quote's spans the approval keeps visible (`kind:text`).
    pub approved_keep: Vec<String>,
    pub changed_after_approval: bool,
    /// The actors that wrote comments, tags and the review state.
    pub authors: ownership::Authors,
}

/// Read a story document for the workspace: the story, its shell fields, the approved version
/// with whether it was changed since, and who wrote what.
pub fn read_story(doc: &automerge::Automerge) -> ReadStory {
    let owned = ownership::Owned::read(doc);
    let approved = ownership::approved_version(doc);
    ReadStory {
        story: Story::read(doc),
        details: StoryDetails::read(doc),
        approved: approved.as_ref().map(Story::read),
        approved_details: approved.as_ref().map(StoryDetails::read),
        approved_keep: owned.approved_keep.clone().unwrap_or_default(),
        changed_after_approval: owned.changed_after_approval == Some(true),
        authors: ownership::authors(doc),
    }
}

impl ReadStory {
    pub fn row(&self, id: String) -> StoryRow {
        self.row_in(id, &[])
    }

    /// The row, with the workspace's municipalities kept visible by the de-identifier.
    pub fn row_in(&self, id: String, municipalities: &[String]) -> StoryRow {
        let mut row = StoryRow::with_approval(
            id,
            &self.story,
            &self.details,
            self.approved.as_ref(),
            self.changed_after_approval,
        );
        row.keep_names = municipalities.to_vec();
        if let (Some(a), Some(d)) = (row.approved.as_mut(), &self.approved_details) {
            a.sections = d
                .sections
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        }
        if let Some(a) = row.approved.as_mut() {
            a.kept = self.approved_keep.clone();
        }
        // What the desk marks: the quote as it would be exported (approved, else the current
        // one) and the transcript, checked as written (issue 16).
        let (quote_marks, transcript_marks) = {
            let keep = row.keep();
            let kept = row
                .approved
                .as_ref()
                .map(|a| a.kept.clone())
                .unwrap_or_default();
            let quote = row
                .approved_quote()
                .or(row.quote.as_deref())
                .map(|q| marks(q, &keep, &kept))
                .unwrap_or_default();
            let transcript = row
                .transcript
                .as_deref()
                .map(|t| marks(t, &keep, &[]))
                .unwrap_or_default();
            (quote, transcript)
        };
        row.quote_marks = quote_marks;
        row.transcript_marks = transcript_marks;
        row
    }
}

/// How the workspace names the server's own bookkeeping writers.
pub const SERVER_WRITER: &str = "Vertel (server)";

/// A person's name for an actor's recorded owner: the member's name, or the server's writer.
pub fn writer_name(owner: &crate::db::actors::ActorOwner, member_name: Option<&str>) -> String {
    match (owner.writer.as_str(), member_name) {
        ("tagger", _) => "Vertel (automatische suggestie)".into(),
        ("transcriber" | "review", _) => SERVER_WRITER.into(),
        (_, Some(name)) => name.to_string(),
        _ => "onbekend lid".into(),
    }
}

/// Fill in who wrote what (comments, tags, review state) from the server's record of actors.
/// `names`: actor hex → display name ([`writer_name`]).
pub fn attribute(
    row: &mut StoryRow,
    authors: &ownership::Authors,
    names: &std::collections::HashMap<String, String>,
) {
    for (c, actor) in row.comments.iter_mut().zip(&authors.comments) {
        c.written_by = names.get(actor).cloned();
    }
    for t in row.tags.iter_mut() {
        t.written_by = authors
            .tags
            .get(&t.code)
            .and_then(|a| names.get(a))
            .cloned();
    }
    // The server's own "back to submitted" after an edit is not a review by anyone.
    row.reviewed_by = authors
        .review
        .as_ref()
        .and_then(|a| names.get(a))
        .filter(|n| n.as_str() != SERVER_WRITER)
        .cloned();
}

impl StoryRow {
    pub fn new(id: String, s: &Story, d: &StoryDetails) -> StoryRow {
        Self::with_approval(id, s, d, None, false)
    }

    /// A row with the approved version (see [`read_story`]).
    pub fn with_approval(
        id: String,
        s: &Story,
        d: &StoryDetails,
        approved: Option<&Story>,
        changed_after_approval: bool,
    ) -> StoryRow {
        let scope = s.consent.as_ref().filter(|c| c.given).and_then(|c| c.scope);
        let quote = (scope == Some(ConsentScope::MayBeQuoted))
            .then(|| quote_of(spoken_or_written(s)))
            .flatten();
        StoryRow {
            id,
            title: s.title.clone(),
            body: s.body.clone(),
            transcript: s
                .transcript
                .as_ref()
                .map(|t| t.text.clone())
                .filter(|t| !t.is_empty()),
            kind: s.kind.map(|k| k.code()),
            municipality: s.municipality.clone().filter(|m| !m.is_empty()),
            place_type: s.place_type.map(|p| p.code()),
            phase: d.phase.clone(),
            target_group: d.target_group.clone(),
            captured_at: s.captured_at,
            quarter: s.captured_at.map(quarter_of),
            review: s.review.unwrap_or(ReviewState::Draft).code(),
            consent_scope: scope.map(|c| c.code()),
            told_by_role: s.told_by.as_ref().map(|p| p.role.clone()),
            told_by: s.told_by.as_ref().map(|p| p.name.clone()),
            persona: s.persona.clone(),
            tags: s
                .tags
                .iter()
                .filter(|t| !t.code.contains(':'))
                .map(|t| RowTag {
                    code: t.code.clone(),
                    state: t.state.code(),
                    by: t.by.clone(),
                    score: t.score,
                    written_by: None,
                })
                .collect(),
            sections: d
                .sections
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            comments: s
                .comments
                .iter()
                .map(|c| RowComment {
                    id: c.id.clone(),
                    author: c.author.clone(),
                    at: c.at,
                    text: c.text.clone(),
                    written_by: None,
                })
                .collect(),
            reviewed_by: None,
            quote,
            quote_marks: Vec::new(),
            transcript_marks: Vec::new(),
            keep_names: Vec::new(),
            changed_after_approval,
            approved: approved.map(ApprovedVersion::of),
        }
    }

    /// The approved quote, when the approved version's consent allows quoting. Reports and
    /// exports quote only this: an edit after approval changes nothing until approved again.
    pub fn approved_quote(&self) -> Option<&str> {
        self.approved
            .as_ref()
            .filter(|a| a.consent_scope == Some("may-be-quoted"))
            .and_then(|a| a.quote.as_deref())
    }

    /// The story's text as every output carries it: **de-identified** (`docs/deidentify.md`:
    /// names, addresses, numbers, schools, institutions replaced by `[naam]`, `[adres]`, ...; the
    /// story's own municipality and the partner organisations stay), taken from the approved
    /// version when one stands and from the current one otherwise. Reports, the stories CSV and
    /// the REFI-QDA project call this (and [`StoryRow::output_quote`]) and nothing else for text;
    /// what it returns is never logged.
    pub fn output(&self) -> OutputText {
        let keep = self.keep();
        let clean = |t: &str| client_core::deidentify::mask(t, &crate::deidentify::spans(t, &keep));
        let (title, body, transcript, sections) = match &self.approved {
            Some(a) => (&a.title, &a.body, &a.transcript, &a.sections),
            None => (&self.title, &self.body, &self.transcript, &self.sections),
        };
        OutputText {
            title: clean(title),
            body: clean(body),
            transcript: transcript.as_deref().map(clean),
            sections: sections
                .iter()
                .map(|(k, v)| (k.clone(), clean(v)))
                .collect(),
        }
    }

    /// The approved quote ([`StoryRow::approved_quote`]) as outputs carry it: de-identified, but
    /// for the spans the approving coordinator kept visible on purpose (`approvedKeep`).
    pub fn output_quote(&self) -> Option<String> {
        let q = self.approved_quote()?;
        let kept = self
            .approved
            .as_ref()
            .map(|a| a.kept.as_slice())
            .unwrap_or_default();
        let keep = self.keep();
        let spans: Vec<_> = crate::deidentify::spans(q, &keep)
            .into_iter()
            .filter(|s| !kept.contains(&keep_key(s.kind.code(), &q[s.start..s.end])))
            .collect();
        Some(client_core::deidentify::mask(q, &spans))
    }

    /// The names the de-identifier leaves alone: the story's municipality and the workspace's.
    fn keep(&self) -> Vec<&str> {
        self.municipality
            .as_deref()
            .into_iter()
            .chain(self.keep_names.iter().map(String::as_str))
            .collect()
    }

    /// Consent allows this story in reports and exports (anonymised or quoted).
    pub fn in_reports(&self) -> bool {
        matches!(
            self.consent_scope,
            Some("anonymised-in-reports") | Some("may-be-quoted")
        )
    }

    /// Consent allows quoting this story (under its pseudonym).
    pub fn quotable(&self) -> bool {
        self.consent_scope == Some("may-be-quoted") && self.quote.is_some()
    }

    /// The state of the story's tag for `activity`, unless rejected.
    pub fn tag_state(&self, activity: &str) -> Option<&'static str> {
        self.tags
            .iter()
            .find(|t| t.code == activity && t.state != TagState::Rejected.code())
            .map(|t| t.state)
    }

    pub fn confirmed(&self, activity: &str) -> bool {
        self.tag_state(activity) == Some(TagState::Confirmed.code())
    }
}

/// The quarter (`YYYY-Qn`) of a time in milliseconds since the epoch (UTC).
pub fn quarter_of(ms: i64) -> String {
    let (y, m, _) = civil(ms);
    format!("{y}-Q{}", (m - 1) / 3 + 1)
}

/// (year, month, day) of a time in milliseconds since the epoch (UTC).
pub fn civil(ms: i64) -> (i64, i64, i64) {
    // Howard Hinnant's civil_from_days.
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for an xsd:dateTime.
pub fn iso_datetime(ms: i64) -> String {
    let (y, m, d) = civil(ms);
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A valid quarter code `YYYY-Qn`.
pub fn valid_quarter(q: &str) -> bool {
    let b = q.as_bytes();
    b.len() == 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && &b[4..6] == b"-Q"
        && (b'1'..=b'4').contains(&b[6])
}

/// What a story's quote is taken from: its text, or for a voice-only story its transcript (what
/// the teller said).
pub fn spoken_or_written(s: &Story) -> &str {
    match &s.transcript {
        Some(t) if s.body.trim().is_empty() => &t.text,
        _ => &s.body,
    }
}

/// The highlighted quote of a story: its first sentences, at most about 280 characters.
pub fn quote_of(body: &str) -> Option<String> {
    let body = body.trim();
    if body.is_empty() {
        return None;
    }
    // Words reported as said ("Ze zei: ...") are the best quote.
    for marker in ["zei: ", "zegt: ", "vertelde: ", "said: "] {
        if let Some(i) = body.find(marker) {
            let rest = body[i + marker.len()..].trim();
            let end = rest.find(['\n']).unwrap_or(rest.len());
            let q = rest[..end].trim();
            if !q.is_empty() {
                return Some(truncate(q, 280));
            }
        }
    }
    let mut out = String::new();
    for sentence in body.split_inclusive(['.', '!', '?']) {
        if !out.is_empty() && out.chars().count() + sentence.chars().count() > 280 {
            break;
        }
        out.push_str(sentence);
    }
    Some(truncate(out.trim(), 280))
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_and_dates() {
        // 2025-02-11T12:00:00Z
        let ms = 1_739_275_200_000;
        assert_eq!(quarter_of(ms), "2025-Q1");
        assert_eq!(iso_datetime(ms), "2025-02-11T12:00:00Z");
        assert_eq!(quarter_of(1_759_276_800_000), "2025-Q4"); // 2025-10-01
        assert!(valid_quarter("2025-Q4"));
        assert!(!valid_quarter("2025-Q5"));
        assert!(!valid_quarter("2025Q4"));
    }

    #[test]
    fn outputs_are_deidentified_but_for_the_kept_spans() {
        let mut s = Story::read(&automerge::Automerge::new());
        s.title = "Bij Anja de Vries".into();
        s.body = "Ze zei: mijn buurvrouw Anja de Vries belt me op 06-12345678.".into();
        s.municipality = Some("Delft".into());
        s.consent = Some(client_core::story::Consent {
            given: true,
            how: None,
            scope: Some(ConsentScope::MayBeQuoted),
            recorded_at: None,
        });
        let mut row =
            StoryRow::with_approval("a".into(), &s, &StoryDetails::default(), Some(&s), false);
        assert_eq!(row.output().title, "Bij [naam]");
        assert_eq!(
            row.output_quote().as_deref(),
            Some("mijn buurvrouw [naam] belt me op [telefoon].")
        );
        // The coordinator kept the neighbour's name on purpose, with the approval.
        if let Some(a) = row.approved.as_mut() {
            a.kept = vec![keep_key("naam", "Anja de Vries")];
        }
        assert_eq!(
            row.output_quote().as_deref(),
            Some("mijn buurvrouw Anja de Vries belt me op [telefoon].")
        );
        // The desk marks the spans in UTF-16 offsets, with what is kept.
        let m = marks(
            "één Anja de Vries",
            &[],
            &row.approved
                .as_ref()
                .map(|a| a.kept.clone())
                .unwrap_or_default(),
        );
        assert_eq!(
            (m[0].start, m[0].end, m[0].kind, m[0].kept),
            (4, 17, "naam", true)
        );
    }

    #[test]
    fn quote_prefers_reported_speech() {
        assert_eq!(
            quote_of("Samira vertelde iets. Ze zei: nu durf ik weer vragen te stellen.").as_deref(),
            Some("nu durf ik weer vragen te stellen.")
        );
        assert_eq!(quote_of("  ").as_deref(), None);
    }

    #[test]
    fn the_workspace_s_municipalities_stay_visible_in_outputs() {
        let mut doc = automerge::Automerge::new();
        client_core::story::create_story(
            &mut doc,
            &client_core::story::NewStory {
                title: "Markt".into(),
                body: "Ze woont in Maasland, vlakbij de kerk.".into(),
                language: "nl".into(),
                captured_at: 1,
                municipality: Some("Delft".into()),
                ..Default::default()
            },
        )
        .expect("story");
        let read = read_story(&doc);
        assert_eq!(
            read.row("x".into()).output().body,
            "Ze woont in [plaats], vlakbij de kerk."
        );
        let names = vec!["Delft".to_string(), "Maasland".to_string()];
        assert_eq!(
            read.row_in("x".into(), &names).output().body,
            "Ze woont in Maasland, vlakbij de kerk."
        );
    }

    #[test]
    fn a_voice_only_story_is_quoted_from_what_was_said() {
        let mut doc = automerge::Automerge::new();
        client_core::story::create_story(
            &mut doc,
            &client_core::story::NewStory {
                title: "Opname".into(),
                language: "nl".into(),
                captured_at: 1,
                consent: Some(client_core::story::Consent {
                    given: true,
                    how: None,
                    scope: Some(ConsentScope::MayBeQuoted),
                    recorded_at: None,
                }),
                ..Default::default()
            },
        )
        .expect("story");
        let mut story = Story::read(&doc);
        story.transcript = Some(client_core::story::Transcript {
            text: "Ik ging elke week naar de groep.".into(),
            language: Some("nl".into()),
            state: None,
            model: None,
        });
        let row = StoryRow::new("x".into(), &story, &StoryDetails::default());
        assert!(row.quotable());
        assert_eq!(
            row.quote.as_deref(),
            Some("Ik ging elke week naar de groep.")
        );
        story.body = "Getypt.".into();
        let row = StoryRow::new("x".into(), &story, &StoryDetails::default());
        assert_eq!(row.quote.as_deref(), Some("Getypt."));
    }
}
