//! The desk's answers, put together: a list filter turned into an [`IndexQuery`] (with the search
//! words for snippets), the list's cursors, a listed story as the list shows it, the overview's
//! counts and figures per activity, and the stories read from storage for an export or report,
//! attributed from the server's record of actors. The HTTP handlers (`http/desk.rs`,
//! `http/workspace.rs`) check who asks, call these and answer; the SQL is `db/story_index`'s.

use super::index::{self, Piece, SearchWords};
use super::{StoryRow, valid_quarter};
use crate::db::story_index::{Cursor, IndexQuery, Listed, TagCount};
use crate::db::workspace::{Unit, WsFigure};
use crate::db::{Backend, Db, DbError};
use crate::tagging::taxonomy::Entry;
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Filters of the workspace's story lists. Empty means "any".
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct StoryFilter {
    pub activity: Option<String>,
    pub municipality: Option<String>,
    /// From quarter (inclusive), `YYYY-Qn`.
    pub from: Option<String>,
    /// To quarter (inclusive), `YYYY-Qn`.
    pub to: Option<String>,
    pub phase: Option<String>,
    pub target_group: Option<String>,
    pub place_type: Option<String>,
    pub kind: Option<String>,
    pub review: Option<String>,
    pub persona: Option<String>,
    /// Search words (Dutch-aware: stemmed, accents folded; `workspace::index`).
    pub q: Option<String>,
}

/// A filter value as given, trimmed; `None` when empty.
pub fn set(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Why a quarter filter is refused (`None`: every given quarter is one).
pub fn bad_quarter<'a>(quarters: impl IntoIterator<Item = &'a Option<String>>) -> Option<String> {
    quarters
        .into_iter()
        .filter_map(set)
        .find(|q| !valid_quarter(q))
        .map(|q| format!("{q} is not a quarter like 2025-Q3"))
}

/// The index query of `workspace_id` for a filter, with the search words (for snippets). `Err`:
/// why the filter is refused.
pub fn index_query(
    backend: Backend,
    workspace_id: i64,
    f: &StoryFilter,
    tag_state: Option<String>,
) -> Result<(IndexQuery, SearchWords), String> {
    if let Some(why) = bad_quarter([&f.from, &f.to]) {
        return Err(why);
    }
    let words = f.q.as_deref().map(index::search_words).unwrap_or_default();
    let search = match backend {
        Backend::Sqlite => index::fts_query(&words),
        Backend::Postgres => (!words.is_empty()).then(|| {
            words
                .iter()
                .map(|(norm, _)| norm.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        }),
    };
    // The municipality filter's "onbekend" (stories without one) is the empty string.
    let municipality = match f.municipality.as_deref().map(str::trim) {
        Some("-") | Some("onbekend") | Some("unknown") => Some(String::new()),
        other => other.filter(|m| !m.is_empty()).map(str::to_string),
    };
    Ok((
        IndexQuery {
            workspace_id,
            activity: set(&f.activity),
            tag_state: set(&tag_state).filter(|_| set(&f.activity).is_some()),
            municipality,
            from: set(&f.from),
            to: set(&f.to),
            phase: set(&f.phase),
            target_group: set(&f.target_group),
            place_type: set(&f.place_type),
            kind: set(&f.kind),
            review: set(&f.review),
            persona: set(&f.persona),
            consent_in_reports: false,
            newest_first: false,
            search,
        },
        words,
    ))
}

/// Where a page that ended with `l` goes on.
pub fn cursor_after(l: &Listed) -> Cursor {
    match l.rank {
        Some(rank) => Cursor::Rank { rank, id: l.id },
        None => Cursor::Time {
            sort_at: l.row.sort_at,
            id: l.id,
        },
    }
}

pub fn encode_cursor(c: Cursor) -> String {
    match c {
        Cursor::Time { sort_at, id } => format!("t{sort_at}_{id}"),
        Cursor::Rank { rank, id } => format!("r{:x}_{id}", rank.to_bits()),
    }
}

/// A cursor [`encode_cursor`] wrote; `Err`: why not.
pub fn decode_cursor(s: &str) -> Result<Cursor, String> {
    let bad = || "`after` is not a cursor this list gave".to_string();
    let (kind, rest) = s.split_at_checked(1).ok_or_else(bad)?;
    let (a, b) = rest.split_once('_').ok_or_else(bad)?;
    let id: i64 = b.parse().map_err(|_| bad())?;
    match kind {
        "t" => Ok(Cursor::Time {
            sort_at: a.parse().map_err(|_| bad())?,
            id,
        }),
        "r" => Ok(Cursor::Rank {
            rank: f64::from_bits(u64::from_str_radix(a, 16).map_err(|_| bad())?),
            id,
        }),
        _ => Err(bad()),
    }
}

#[derive(Serialize)]
pub struct ListTag {
    code: String,
    state: String,
}

/// A story as the list shows it (the whole story is read through `open`, which is logged).
#[derive(Serialize)]
pub struct ListItem {
    id: String,
    title: String,
    /// The beginning of the text, or of the transcript for a voice-only story.
    excerpt: String,
    kind: Option<String>,
    municipality: Option<String>,
    quarter: Option<String>,
    captured_at: Option<i64>,
    phase: Option<String>,
    target_group: Option<String>,
    place_type: Option<String>,
    review: String,
    consent_scope: Option<String>,
    told_by: Option<String>,
    /// The member who recorded it (their name in the workspace).
    recorded_by: Option<String>,
    persona: Option<String>,
    tags: Vec<ListTag>,
    quote: Option<String>,
    changed_after_approval: bool,
    has_audio: bool,
    has_photo: bool,
    transcript_state: Option<String>,
    /// Searches: where the words were found, hits marked.
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<Vec<Piece>>,
}

pub fn list_item(l: Listed, words: &SearchWords) -> ListItem {
    let snippet = if words.is_empty() {
        None
    } else {
        Some(match &l.headline {
            Some(h) => index::headline_pieces(h),
            None => index::snippet(&l.row.search_text, words, 30),
        })
    };
    let r = l.row;
    ListItem {
        id: r.doc_id,
        title: r.title,
        excerpt: r.excerpt,
        kind: r.kind,
        municipality: r.municipality,
        quarter: r.quarter,
        captured_at: r.captured_at,
        phase: r.phase,
        target_group: r.target_group,
        place_type: r.place_type,
        review: r.review,
        consent_scope: r.consent_scope,
        told_by: r.told_by,
        recorded_by: l.recorded_by,
        persona: r.persona_id,
        tags: r
            .tags
            .into_iter()
            .map(|(code, state)| ListTag { code, state })
            .collect(),
        quote: r.quote,
        changed_after_approval: r.changed_after_approval,
        has_audio: r.has_audio,
        has_photo: r.has_photo,
        transcript_state: r.transcript_state,
        snippet,
    }
}

/// One activity of the overview.
#[derive(Debug, Serialize, PartialEq)]
pub struct OverviewActivity {
    pub code: String,
    pub name: String,
    /// Stories tagged with the activity (confirmed or suggested) per municipality; "" is
    /// "onbekend". These add up to `confirmed + suggested`.
    pub stories: BTreeMap<String, i64>,
    /// Confirmed stories per municipality (add up to `confirmed`).
    pub confirmed_by_municipality: BTreeMap<String, i64>,
    pub confirmed: i64,
    pub suggested: i64,
    pub metrics: Vec<String>,
    /// metric → municipality → (latest quarter, value)
    pub latest: BTreeMap<String, BTreeMap<String, (String, f64)>>,
    pub units: BTreeMap<String, Unit>,
}

/// Per activity (in the taxonomy's order): its stories by tag state and municipality (`counts`,
/// from SQL) and the latest value of each of its figures per municipality. Activities with
/// neither are left out.
pub fn overview(
    activities: &[Entry],
    counts: &[TagCount],
    figures: &[WsFigure],
) -> Vec<OverviewActivity> {
    let mut out = Vec::new();
    for a in activities {
        let mut o = OverviewActivity {
            code: a.code.clone(),
            name: a.name.clone(),
            stories: BTreeMap::new(),
            confirmed_by_municipality: BTreeMap::new(),
            confirmed: 0,
            suggested: 0,
            metrics: vec![],
            latest: BTreeMap::new(),
            units: BTreeMap::new(),
        };
        for c in counts.iter().filter(|c| c.code == a.code) {
            let m = c.municipality.clone().unwrap_or_default();
            *o.stories.entry(m.clone()).or_insert(0) += c.stories;
            if c.state == "confirmed" {
                o.confirmed += c.stories;
                *o.confirmed_by_municipality.entry(m).or_insert(0) += c.stories;
            } else {
                o.suggested += c.stories;
            }
        }
        for f in figures.iter().filter(|f| f.activity_code == a.code) {
            if !o.metrics.contains(&f.metric) {
                o.metrics.push(f.metric.clone());
            }
            o.units.insert(f.metric.clone(), f.unit);
            let slot = o
                .latest
                .entry(f.metric.clone())
                .or_default()
                .entry(f.municipality.clone())
                .or_insert_with(|| (f.quarter.clone(), f.value));
            if f.quarter > slot.0 {
                *slot = (f.quarter.clone(), f.value);
            }
        }
        if o.confirmed + o.suggested > 0 || !o.metrics.is_empty() {
            out.push(o);
        }
    }
    out
}

/// The stories linked to persona `id`, as the personas page lists them (confirmed tags only).
pub fn persona_stories(linked: &[Listed], id: &str) -> Vec<serde_json::Value> {
    linked
        .iter()
        .filter(|s| s.row.persona_id.as_deref() == Some(id))
        .map(|s| {
            serde_json::json!({
                "id": s.row.doc_id, "title": s.row.title, "kind": s.row.kind,
                "municipality": s.row.municipality, "review": s.row.review,
                "tags": s.row.tags.iter().filter(|(_, st)| st == "confirmed")
                    .map(|(c, _)| c.clone()).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Read a batch of stories (`ids` as the index lists them) from storage as the workspace shows
/// them (attributed), in order; erased ones are left out.
pub async fn load_rows(
    db: &Db,
    workspace_id: i64,
    ids: &[(i64, i64, String)],
) -> Result<Vec<StoryRow>, DbError> {
    // The workspace's municipalities stay visible in de-identified text (`StoryRow::output`).
    let municipalities = db.municipalities(workspace_id).await?;
    let owned: Vec<String> = ids.iter().map(|(_, _, id)| id.clone()).collect();
    let db2 = db.clone();
    let loads = futures_util::stream::iter(owned.into_iter().map(move |id| {
        let db = db2.clone();
        async move {
            let doc = index::load_stored(&db, &id).await?;
            Ok::<_, DbError>(doc.map(|d| (id, super::read_story(&d))))
        }
    }))
    .buffered(4)
    .collect::<Vec<_>>()
    .await;
    let mut read = Vec::with_capacity(loads.len());
    for l in loads {
        if let Some((id, r)) = l? {
            read.push((r.row_in(id, &municipalities), r.authors));
        }
    }
    attribute_rows(db, read).await
}

/// Who wrote the comments, tags and review states of `rows`, from the server's own record of
/// actors (one query for all), never from the names written inside the documents.
pub async fn attribute_rows(
    db: &Db,
    rows: Vec<(StoryRow, client_core::story::ownership::Authors)>,
) -> Result<Vec<StoryRow>, DbError> {
    let mut actors: Vec<String> = rows
        .iter()
        .flat_map(|(_, a)| {
            a.comments
                .iter()
                .chain(a.tags.values())
                .chain(a.review.iter())
                .cloned()
        })
        .collect();
    actors.sort();
    actors.dedup();
    let names: HashMap<String, String> = db
        .actor_owners(&actors)
        .await?
        .into_iter()
        .map(|(actor, (owner, name))| (actor, super::writer_name(&owner, name.as_deref())))
        .collect();
    Ok(rows
        .into_iter()
        .map(|(mut row, authors)| {
            super::attribute(&mut row, &authors, &names);
            row
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_exactly() {
        for c in [
            Cursor::Time {
                sort_at: 1_739_275_200_000,
                id: 42,
            },
            Cursor::Rank {
                rank: 0.060_792_710_632_085_8,
                id: 7,
            },
            Cursor::Rank { rank: -3.5, id: 1 },
        ] {
            assert_eq!(decode_cursor(&encode_cursor(c)).expect("decodes"), c);
        }
        assert!(decode_cursor("x1_2").is_err());
        assert!(decode_cursor("t12").is_err());
        assert!(decode_cursor("").is_err());
    }

    #[test]
    fn a_filter_becomes_the_index_query_of_the_workspace() {
        let f = StoryFilter {
            activity: Some(" voorzorg ".into()),
            municipality: Some("onbekend".into()),
            from: Some("2025-Q1".into()),
            kind: Some("".into()),
            q: Some("Kraamzorg".into()),
            ..StoryFilter::default()
        };
        let (q, words) =
            index_query(Backend::Postgres, 7, &f, Some("confirmed".into())).expect("valid");
        assert_eq!(q.workspace_id, 7);
        assert_eq!(q.activity.as_deref(), Some("voorzorg"));
        assert_eq!(q.tag_state.as_deref(), Some("confirmed"));
        assert_eq!(
            q.municipality.as_deref(),
            Some(""),
            "onbekend: no municipality"
        );
        assert_eq!(q.from.as_deref(), Some("2025-Q1"));
        assert_eq!(q.kind, None, "an empty filter is no filter");
        assert_eq!(words.len(), 1);
        assert!(q.search.is_some());
        // A tag state means nothing without an activity.
        let (q, _) = index_query(
            Backend::Sqlite,
            7,
            &StoryFilter::default(),
            Some("confirmed".into()),
        )
        .expect("valid");
        assert_eq!(q.tag_state, None);
        assert_eq!(q.search, None);
        let bad = StoryFilter {
            to: Some("2025-Q5".into()),
            ..StoryFilter::default()
        };
        assert_eq!(
            index_query(Backend::Sqlite, 7, &bad, None).err().as_deref(),
            Some("2025-Q5 is not a quarter like 2025-Q3")
        );
    }

    fn entry(code: &str) -> Entry {
        serde_json::from_value(serde_json::json!({ "code": code, "name": code.to_uppercase() }))
            .expect("entry")
    }

    fn count(code: &str, state: &str, municipality: Option<&str>, stories: i64) -> TagCount {
        TagCount {
            code: code.into(),
            state: state.into(),
            municipality: municipality.map(str::to_string),
            stories,
        }
    }

    fn figure(code: &str, municipality: &str, quarter: &str, value: f64) -> WsFigure {
        WsFigure {
            activity_code: code.into(),
            municipality: municipality.into(),
            quarter: quarter.into(),
            metric: "bereik".into(),
            unit: Unit::Count,
            value,
            source: None,
        }
    }

    #[test]
    fn the_overview_adds_up_stories_and_keeps_the_latest_figure() {
        let activities = [entry("a"), entry("b"), entry("c")];
        let counts = [
            count("a", "confirmed", Some("Utrecht"), 3),
            count("a", "suggested", Some("Utrecht"), 2),
            count("a", "confirmed", None, 1),
            count("x", "confirmed", None, 9),
        ];
        let figures = [
            figure("b", "Utrecht", "2025-Q2", 20.0),
            figure("b", "Utrecht", "2025-Q4", 40.0),
            figure("b", "Utrecht", "2025-Q3", 30.0),
        ];
        let o = overview(&activities, &counts, &figures);
        assert_eq!(
            o.iter().map(|a| a.code.as_str()).collect::<Vec<_>>(),
            ["a", "b"],
            "in the taxonomy's order; an activity with nothing is left out"
        );
        assert_eq!(o[0].name, "A");
        assert_eq!((o[0].confirmed, o[0].suggested), (4, 2));
        assert_eq!(o[0].stories["Utrecht"], 5);
        assert_eq!(o[0].stories[""], 1, "no municipality is \"\"");
        assert_eq!(o[0].confirmed_by_municipality["Utrecht"], 3);
        assert_eq!(o[1].metrics, ["bereik"]);
        assert_eq!(o[1].units["bereik"], Unit::Count);
        assert_eq!(
            o[1].latest["bereik"]["Utrecht"],
            ("2025-Q4".to_string(), 40.0)
        );
    }
}
