//! The desk's lists, counts and exports, answered from the read model (`story_index`,
//! `workspace::index`) rather than by reading every document: a page of 50 stories at a time
//! (keyset pagination), counts by SQL aggregates, full-text search in the database, and exports
//! that stream, loading one stored document at a time. Only the story a coordinator opens, the
//! stories a report quotes and the stories an export writes are read from their documents.

use super::auth::Coordinator;
use super::workspace::{download, exported};
use super::{ApiError, AppState};
use crate::db::docs::Viewer;
use crate::db::story_index::{Cursor, IndexQuery};
use crate::workspace::desk::{
    self, ListItem, bad_quarter, cursor_after, decode_cursor, encode_cursor, index_query,
    load_rows, persona_stories,
};
use crate::workspace::export::{stories_csv_header, story_csv_line};
use crate::workspace::labels::{Labels, Lang};
use crate::workspace::report::{ReportInput, StoryCounts, build};
use crate::workspace::{StoryFilter, StoryRow, qdpx};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

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

/// A page of the stories that match the filters (and search words `q`): newest first, or best
/// match first when searching (newest first when more than [`RANKED_AT_MOST`] stories match:
/// `order` says which). `next` continues the list; `total` (first page only) counts all that
/// match.
async fn list(
    State(state): State<AppState>,
    Coordinator(member): Coordinator,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (mut iq, words) = index_query(
        state.db.backend,
        member.workspace_id,
        &q.filter,
        q.tag_state,
    )
    .map_err(ApiError::BadRequest)?;
    let cursor = q
        .after
        .as_deref()
        .map(decode_cursor)
        .transpose()
        .map_err(ApiError::BadRequest)?;
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
    let next = page
        .last()
        .filter(|_| more)
        .map(|l| encode_cursor(cursor_after(l)));
    let order = match (&iq.search, iq.newest_first) {
        (Some(_), false) => "relevance",
        _ => "newest",
    };
    let items: Vec<ListItem> = page
        .into_iter()
        .map(|l| desk::list_item(l, &words))
        .collect();
    Ok(Json(serde_json::json!({
        "stories": items,
        "next": next,
        "total": total,
        "order": order,
    })))
}

/// Per activity: how many stories (per municipality) and which figures, by SQL aggregates.
async fn overview(
    State(state): State<AppState>,
    Coordinator(member): Coordinator,
) -> Result<Json<serde_json::Value>, ApiError> {
    let taxonomy = super::taxonomy::merged(&state, &member).await?;
    let all = IndexQuery {
        workspace_id: member.workspace_id,
        ..IndexQuery::default()
    };
    let counts = state.db.index_tag_counts(&all).await?;
    let total = state.db.index_count(&all).await?;
    let figures = state.db.ws_figures(member.workspace_id, None).await?;
    let out = desk::overview(&taxonomy.activities, &counts, &figures);
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
    Coordinator(member): Coordinator,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ids = state
        .db
        .visible_docs(Viewer::of(&member), "persona")
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
        let stories = persona_stories(&linked, &id);
        out.push(serde_json::json!({
            "id": id, "name": p.name, "age_band": p.age_band,
            "situation": p.situation, "needs": p.needs, "stories": stories,
        }));
    }
    Ok(Json(serde_json::json!({ "personas": out })))
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
    Coordinator(member): Coordinator,
    headers: HeaderMap,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    // A search narrows the export to the stories found, best match first, like the list.
    let (mut iq, _) = index_query(state.db.backend, member.workspace_id, &q.filter, None)
        .map_err(ApiError::BadRequest)?;
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
                        let rows = load_rows(&state.db, iq.workspace_id, &ids).await?;
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
    Coordinator(member): Coordinator,
) -> Result<Response, ApiError> {
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
                        .block_on(load_rows(&state.db, iq.workspace_id, &ids))
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
    Coordinator(member): Coordinator,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let member = &member;
    let (from, to, municipality) = (
        desk::set(&q.from),
        desk::set(&q.to),
        desk::set(&q.municipality),
    );
    if let Some(why) = bad_quarter([&from, &to]) {
        return Err(ApiError::BadRequest(why));
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
        quoted.extend(load_rows(&state.db, iq.workspace_id, &ids).await?);
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
