//! The desk's lists, counts and exports, answered from the read model (`story_index`,
//! `workspace::index`) rather than by reading every document: a page of 50 stories at a time
//! (keyset pagination), counts by SQL aggregates, full-text search in the database, and exports
//! that stream, loading one stored document at a time. Only the story a coordinator opens, the
//! stories a report quotes and the stories an export writes are read from their documents.

use super::auth::AuthMember;
use super::workspace::{coordinator, download, exported};
use super::{ApiError, AppState};
use crate::db::Backend;
use crate::db::accounts::Member;
use crate::db::story_index::{Cursor, IndexQuery, Listed};
use crate::workspace::export::{stories_csv_header, story_csv_line};
use crate::workspace::index::{self, Piece};
use crate::workspace::labels::{Labels, Lang};
use crate::workspace::report::{ReportInput, StoryCounts, build};
use crate::workspace::{StoryFilter, StoryRow, qdpx, valid_quarter};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Stories per page unless asked otherwise, and the most a page holds.
pub const PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;
/// A search that matches more stories than this lists them newest first, not ranked.
pub const RANKED_AT_MOST: i64 = 2_000;
/// Stories an export reads from storage at a time.
const EXPORT_BATCH: i64 = 64;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workspace/stories", get(list))
        .route("/workspace/overview", get(overview))
        .route("/workspace/personas", get(personas))
        .route("/workspace/export/stories.csv", get(stories_csv))
        .route("/workspace/export/project.qdpx", get(qdpx_export))
        .route("/workspace/report", get(report))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListQuery {
    #[serde(flatten)]
    filter: StoryFilter,
    /// Where the previous page ended (`next` of its answer).
    after: Option<String>,
    limit: Option<i64>,
    /// With `activity`: only tags in this state (`confirmed`, `suggested`).
    tag_state: Option<String>,
}

fn set(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The index query for a filter, with the search words (for snippets).
fn index_query(
    backend: Backend,
    member: &Member,
    f: &StoryFilter,
    tag_state: Option<String>,
) -> Result<(IndexQuery, index::SearchWords), ApiError> {
    for q in [&f.from, &f.to] {
        if let Some(q) = set(q)
            && !valid_quarter(&q)
        {
            return Err(ApiError::BadRequest(format!(
                "{q} is not a quarter like 2025-Q3"
            )));
        }
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
            workspace_id: member.workspace_id,
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

fn encode_cursor(c: Cursor) -> String {
    match c {
        Cursor::Time { sort_at, id } => format!("t{sort_at}_{id}"),
        Cursor::Rank { rank, id } => format!("r{:x}_{id}", rank.to_bits()),
    }
}

fn decode_cursor(s: &str) -> Result<Cursor, ApiError> {
    let bad = || ApiError::BadRequest("`after` is not a cursor this list gave".into());
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
struct ListTag {
    code: String,
    state: String,
}

/// A story as the list shows it (the whole story is read through `open`, which is logged).
#[derive(Serialize)]
struct ListItem {
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

fn item(l: Listed, words: &index::SearchWords) -> ListItem {
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

/// A page of the stories that match the filters (and search words `q`): newest first, or best
/// match first when searching (newest first when more than [`RANKED_AT_MOST`] stories match:
/// `order` says which). `next` continues the list; `total` (first page only) counts all that
/// match.
async fn list(
    State(state): State<AppState>,
    auth: AuthMember,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    coordinator(&auth.member)?;
    let (mut iq, words) = index_query(state.db.backend, &auth.member, &q.filter, q.tag_state)?;
    let cursor = q.after.as_deref().map(decode_cursor).transpose()?;
    let limit = q.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let total = match cursor {
        None => Some(state.db.index_count(&iq).await?),
        Some(_) => None,
    };
    // A word in thousands of stories is listed newest first: ranking every match costs more
    // than it tells. The next pages follow the first page's order (their cursor says which).
    iq.newest_first = iq.search.is_some()
        && match cursor {
            Some(c) => matches!(c, Cursor::Time { .. }),
            None => total.unwrap_or(0) > RANKED_AT_MOST,
        };
    let mut page = state.db.index_page(&iq, cursor, limit + 1).await?;
    let more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    let next = page.last().filter(|_| more).map(|l| {
        encode_cursor(match l.rank {
            Some(rank) => Cursor::Rank { rank, id: l.id },
            None => Cursor::Time {
                sort_at: l.row.sort_at,
                id: l.id,
            },
        })
    });
    let order = match (&iq.search, iq.newest_first) {
        (Some(_), false) => "relevance",
        _ => "newest",
    };
    let items: Vec<ListItem> = page.into_iter().map(|l| item(l, &words)).collect();
    Ok(Json(serde_json::json!({
        "stories": items,
        "next": next,
        "total": total,
        "order": order,
    })))
}

#[derive(Serialize)]
struct OverviewActivity {
    code: String,
    name: String,
    /// Stories tagged with the activity (confirmed or suggested) per municipality; "" is
    /// "onbekend". These add up to `confirmed + suggested`.
    stories: BTreeMap<String, i64>,
    /// Confirmed stories per municipality (add up to `confirmed`).
    confirmed_by_municipality: BTreeMap<String, i64>,
    confirmed: i64,
    suggested: i64,
    metrics: Vec<String>,
    /// metric → municipality → (latest quarter, value)
    latest: BTreeMap<String, BTreeMap<String, (String, f64)>>,
    units: BTreeMap<String, crate::db::workspace::Unit>,
}

/// Per activity: how many stories (per municipality) and which figures, by SQL aggregates.
async fn overview(
    State(state): State<AppState>,
    auth: AuthMember,
) -> Result<Json<serde_json::Value>, ApiError> {
    let member = &auth.member;
    coordinator(member)?;
    let taxonomy = super::taxonomy::merged(&state, member).await?;
    let all = IndexQuery {
        workspace_id: member.workspace_id,
        ..IndexQuery::default()
    };
    let counts = state.db.index_tag_counts(&all).await?;
    let total = state.db.index_count(&all).await?;
    let figures = state.db.ws_figures(member.workspace_id, None).await?;
    let mut out = Vec::new();
    for a in &taxonomy.activities {
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
    Ok(Json(serde_json::json!({
        "activities": out,
        "municipalities": state.db.municipalities(member.workspace_id).await?,
        "taxonomy": {
            "activities": taxonomy.activities,
            "phases": taxonomy.phases,
            "target_groups": taxonomy.target_groups,
            "place_types": taxonomy.place_types,
        },
        "stories_total": total,
    })))
}

/// Personas with the stories linked to them (titles, kinds, municipalities).
async fn personas(
    State(state): State<AppState>,
    auth: AuthMember,
) -> Result<Json<serde_json::Value>, ApiError> {
    let member = &auth.member;
    coordinator(member)?;
    let ids = state
        .db
        .visible_docs(super::stories::viewer(member), "persona")
        .await?;
    let linked = state.db.index_by_persona(member.workspace_id).await?;
    let mut out = Vec::new();
    for id in ids {
        let Ok(doc_id) = id.parse::<client_core::wire::DocumentId>() else {
            continue;
        };
        let Some(p) = state
            .hub
            .read(doc_id, client_core::story::Persona::read)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
        else {
            continue;
        };
        let stories: Vec<serde_json::Value> = linked
            .iter()
            .filter(|s| s.row.persona_id.as_deref() == Some(id.as_str()))
            .map(|s| {
                serde_json::json!({
                    "id": s.row.doc_id, "title": s.row.title, "kind": s.row.kind,
                    "municipality": s.row.municipality, "review": s.row.review,
                    "tags": s.row.tags.iter().filter(|(_, st)| st == "confirmed")
                        .map(|(c, _)| c.clone()).collect::<Vec<_>>(),
                })
            })
            .collect();
        out.push(serde_json::json!({
            "id": id, "name": p.name, "age_band": p.age_band,
            "situation": p.situation, "needs": p.needs, "stories": stories,
        }));
    }
    Ok(Json(serde_json::json!({ "personas": out })))
}

/// Read a batch of stories from storage as the workspace shows them (attributed), in order.
async fn load_rows(
    state: &AppState,
    workspace_id: i64,
    ids: &[(i64, i64, String)],
) -> Result<Vec<StoryRow>, ApiError> {
    // The workspace's municipalities stay visible in de-identified text (`StoryRow::output`).
    let municipalities = state.db.municipalities(workspace_id).await?;
    let owned: Vec<String> = ids.iter().map(|(_, _, id)| id.clone()).collect();
    let db = state.db.clone();
    let loads = futures_util::stream::iter(owned.into_iter().map(move |id| {
        let db = db.clone();
        async move {
            let doc = index::load_stored(&db, &id).await?;
            Ok::<_, crate::db::DbError>(doc.map(|d| (id, crate::workspace::read_story(&d))))
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
    super::workspace::attribute_rows(state, read).await
}

fn lang_of(headers: &HeaderMap, param: Option<&str>) -> Lang {
    Lang::pick(
        param,
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ExportQuery {
    #[serde(flatten)]
    filter: StoryFilter,
    lang: Option<String>,
}

/// The stories CSV for Dutch Excel, streamed: a batch of stories is read from storage, written
/// and dropped before the next (`workspace::export` decides what consent lets in).
async fn stories_csv(
    State(state): State<AppState>,
    auth: AuthMember,
    headers: HeaderMap,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let member = auth.member.clone();
    coordinator(&member)?;
    // A search narrows the export to the stories found, best match first, like the list.
    let (mut iq, _) = index_query(state.db.backend, &member, &q.filter, None)?;
    iq.consent_in_reports = true;
    let lang = lang_of(&headers, q.lang.as_deref());
    let names = Labels::new(&super::taxonomy::merged(&state, &member).await?);
    exported(&state, &member, "stories.csv").await?;
    let searched = iq.search.is_some();
    let stream = async_stream_csv(state, iq, names, lang, searched);
    Ok(download(
        "text/csv; charset=utf-8",
        "verhalen.csv",
        axum::body::Body::from_stream(stream),
    ))
}

/// The next batch of an export in list order (newest first, or best match first when
/// `searched`), with where the batch after it starts (`None`: this was the last).
async fn export_batch(
    state: &AppState,
    iq: &IndexQuery,
    after: Option<Cursor>,
    searched: bool,
) -> Result<(Vec<(i64, i64, String)>, Option<Cursor>), ApiError> {
    let (ids, next) = if searched {
        let page = state.db.index_page(iq, after, EXPORT_BATCH).await?;
        let next = page
            .last()
            .and_then(|l| l.rank.map(|rank| Cursor::Rank { rank, id: l.id }));
        let ids: Vec<(i64, i64, String)> = page
            .into_iter()
            .map(|l| (l.id, l.row.sort_at, l.row.doc_id))
            .collect();
        (ids, next)
    } else {
        let after = match after {
            Some(Cursor::Time { sort_at, id }) => Some((sort_at, id)),
            _ => None,
        };
        let ids = state.db.index_ids(iq, after, EXPORT_BATCH).await?;
        let next = ids.last().map(|(id, sort_at, _)| Cursor::Time {
            sort_at: *sort_at,
            id: *id,
        });
        (ids, next)
    };
    let more = ids.len() as i64 == EXPORT_BATCH;
    Ok((ids, next.filter(|_| more)))
}

/// The CSV as a stream of chunks: the header, then one chunk per batch of stories.
fn async_stream_csv(
    state: AppState,
    iq: IndexQuery,
    names: Labels,
    lang: Lang,
    searched: bool,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> {
    enum Step {
        Header,
        Batch(Option<Cursor>),
        Done,
    }
    futures_util::stream::unfold(
        (Step::Header, state, iq, names),
        move |(step, state, iq, names)| async move {
            match step {
                Step::Done => None,
                Step::Header => Some((
                    Ok(stories_csv_header(lang)),
                    (Step::Batch(None), state, iq, names),
                )),
                Step::Batch(after) => {
                    let batch = async {
                        let (ids, next) = export_batch(&state, &iq, after, searched).await?;
                        let rows = load_rows(&state, iq.workspace_id, &ids).await?;
                        let chunk: String = rows
                            .iter()
                            .map(|r| story_csv_line(r, &names, lang))
                            .collect();
                        Ok::<_, ApiError>((ids.is_empty(), chunk, next))
                    }
                    .await;
                    match batch {
                        Ok((true, _, _)) => None,
                        Ok((false, chunk, next)) => {
                            let step = next.map_or(Step::Done, |c| Step::Batch(Some(c)));
                            Some((Ok(chunk), (step, state, iq, names)))
                        }
                        Err(e) => {
                            tracing::warn!(error = ?e, "stories.csv export failed midway");
                            Some((
                                Err(std::io::Error::other("export failed")),
                                (Step::Done, state, iq, names),
                            ))
                        }
                    }
                }
            }
        },
    )
}

/// The REFI-QDA project of the stories whose consent allows reports.
async fn qdpx_export(
    State(state): State<AppState>,
    auth: AuthMember,
) -> Result<Response, ApiError> {
    let member = auth.member.clone();
    coordinator(&member)?;
    let taxonomy = super::taxonomy::merged(&state, &member).await?;
    let activities: Vec<(String, String, String)> = taxonomy
        .activities
        .iter()
        .map(|a| (a.code.clone(), a.name.clone(), a.description.clone()))
        .collect();
    let workspace = state
        .db
        .workspace(member.workspace_id)
        .await?
        .map(|w| w.name)
        .unwrap_or_else(|| "Vertel".into());
    let iq = IndexQuery {
        workspace_id: member.workspace_id,
        consent_in_reports: true,
        ..IndexQuery::default()
    };
    // The codes the project's code book lists: activities some exported story is confirmed for.
    let used: std::collections::BTreeSet<String> = state
        .db
        .index_tag_counts(&iq)
        .await?
        .into_iter()
        .filter(|c| c.state == "confirmed")
        .map(|c| c.code)
        .collect();
    exported(&state, &member, "project.qdpx").await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(8);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let sink = qdpx::ChannelSink::new(tx.clone());
        let activities: Vec<qdpx::Activity<'_>> = activities
            .iter()
            .filter(|(code, _, _)| used.contains(code))
            .map(|(code, name, description)| qdpx::Activity {
                code,
                name,
                description,
            })
            .collect();
        let batches =
            |f: &mut dyn FnMut(&[StoryRow]) -> std::io::Result<()>| -> std::io::Result<()> {
                let mut after = None;
                loop {
                    let ids = handle
                        .block_on(state.db.index_ids(&iq, after, EXPORT_BATCH))
                        .map_err(std::io::Error::other)?;
                    if ids.is_empty() {
                        return Ok(());
                    }
                    after = ids.last().map(|(id, sort_at, _)| (*sort_at, *id));
                    let rows = handle
                        .block_on(load_rows(&state, iq.workspace_id, &ids))
                        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
                    f(&rows)?;
                    if (ids.len() as i64) < EXPORT_BATCH {
                        return Ok(());
                    }
                }
            };
        let now = crate::db::now_ms();
        if let Err(e) = qdpx::stream_project(sink, &workspace, now, &activities, batches) {
            tracing::warn!(error = %e, "project.qdpx export failed midway");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = tokio_stream_from(rx);
    Ok(download(
        "application/zip",
        "vertel-project.qdpx",
        axum::body::Body::from_stream(stream),
    ))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[derive(Deserialize)]
struct ReportQuery {
    activity: String,
    from: Option<String>,
    to: Option<String>,
    municipality: Option<String>,
    /// `html` (default) or `md`.
    format: Option<String>,
    /// `nl` (default) or `en`.
    lang: Option<String>,
}

/// A report for one activity and period, as printable HTML or Markdown: counts by SQL, quotes
/// from the approved versions of the stories that may give one.
async fn report(
    State(state): State<AppState>,
    auth: AuthMember,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let member = &auth.member;
    coordinator(member)?;
    let clean = |v: &Option<String>| set(v);
    let (from, to, municipality) = (clean(&q.from), clean(&q.to), clean(&q.municipality));
    for p in [&from, &to].into_iter().flatten() {
        if !valid_quarter(p) {
            return Err(ApiError::BadRequest(format!(
                "{p} is not a quarter like 2025-Q3"
            )));
        }
    }
    let taxonomy = super::taxonomy::merged(&state, member).await?;
    let activity = taxonomy
        .activities
        .iter()
        .find(|a| a.code == q.activity)
        .ok_or(ApiError::NotFound)?;
    let figures = state
        .db
        .ws_figures(member.workspace_id, Some(&activity.code))
        .await?;
    // The stories a report counts: confirmed for the activity, consent for reports, in the
    // period and municipality (the same rule as `report::build`, here in SQL).
    let iq = IndexQuery {
        workspace_id: member.workspace_id,
        activity: Some(activity.code.clone()),
        tag_state: Some("confirmed".into()),
        municipality: municipality.clone(),
        from: from.clone(),
        to: to.clone(),
        consent_in_reports: true,
        ..IndexQuery::default()
    };
    let counts = StoryCounts {
        total: state.db.index_count(&iq).await? as usize,
        by_municipality: state
            .db
            .index_counts_by(&iq, "municipality")
            .await?
            .into_iter()
            .map(|(m, n)| (m.unwrap_or_default(), n as usize))
            .collect(),
        by_kind: state
            .db
            .index_counts_by(&iq, "kind")
            .await?
            .into_iter()
            .map(|(k, n)| (k.unwrap_or_default(), n as usize))
            .collect(),
    };
    // Only stories whose approved version may be quoted are read.
    let mut quoted = Vec::new();
    let mut after = None;
    loop {
        let ids = state
            .db
            .index_quotable_ids(&iq, after, EXPORT_BATCH)
            .await?;
        if ids.is_empty() {
            break;
        }
        after = ids.last().map(|(id, sort_at, _)| (*sort_at, *id));
        let n = ids.len() as i64;
        quoted.extend(load_rows(&state, iq.workspace_id, &ids).await?);
        if n < EXPORT_BATCH {
            break;
        }
    }
    let workspace = state
        .db
        .workspace(member.workspace_id)
        .await?
        .map(|w| w.name)
        .unwrap_or_default();
    let english = q.lang.as_deref() == Some("en");
    let r = build(&ReportInput {
        workspace: &workspace,
        activity_code: &activity.code,
        activity_name: if english && !activity.gloss.is_empty() {
            &activity.gloss
        } else {
            &activity.name
        },
        from: from.as_deref(),
        to: to.as_deref(),
        municipality: municipality.as_deref(),
        english,
        figures: &figures,
        stories: &quoted,
        counts: Some(counts),
    });
    exported(&state, member, &format!("report {}", activity.code)).await?;
    let name = format!("rapport-{}", activity.code);
    Ok(match q.format.as_deref() {
        Some("md") => download(
            "text/markdown; charset=utf-8",
            &format!("{name}.md"),
            r.markdown(),
        ),
        _ => download(
            "text/html; charset=utf-8",
            &format!("{name}.html"),
            r.html(),
        ),
    })
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
}
