//! The desk's read model: what `story_index` holds of each story, and the indexer that keeps it
//! in step with the stored documents.
//!
//! **Why an indexer that follows the changes, not a write in the change's own transaction:** a
//! document write is the sync path's hot loop (group commits of appended chunks, acknowledged to
//! devices); reading a story's fields there would put automerge reads of every document into
//! every commit, and a change stored by another process on PostgreSQL would still need
//! following. The indexer instead follows `documents.seq`, the change cursor every write already
//! bumps in commit order:
//!
//! - it wakes on this process's change notifications (debounced), and every
//!   [`RESCAN`] it asks the database for stories changed since the highest seq it has seen (what
//!   other processes stored), so on PostgreSQL each process indexes what any process wrote;
//! - at start it compares every story's row with its document (`indexed_seq < seq`, one indexed
//!   query), so a crash between a write and its indexing loses nothing: the row is simply behind
//!   until then;
//! - a row is read from the stored chunks (never from memory that may be behind another process)
//!   after reading the document's seq, and written only over a read at an earlier seq, so several
//!   indexers and `vertel-server reindex` can run at once and the last write is never older;
//! - the desk's own writes (review, tag decisions) index the story before they answer, so a
//!   coordinator sees their decision at once; a device's edit shows after the debounce.
//!
//! Erasure removes the rows in the transaction that marks the document deleted (`db/erasure.rs`).

use crate::db::story_index::{IndexRow, IndexWrite};
use crate::db::{Db, DbError};
use crate::sync::hub::Hub;
use crate::tagging::dutch;
use client_core::story::{ConsentScope, ReviewState, Story, StoryDetails, ownership};
use client_core::wire::DocumentId;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// The version of what [`row_of`] and [`stems`] write. Bump it when either changes (the stemmer
/// in `tagging/dutch.rs` included): a server that finds rows of another version reads every story
/// again.
pub const INDEX_VERSION: i64 = 1;
/// Quiet time after a story's change before it is indexed.
pub const DEBOUNCE: Duration = Duration::from_millis(300);
/// How often the indexer asks the database for stories other processes changed.
pub const RESCAN: Duration = Duration::from_secs(2);
/// Characters of text shown in the list.
const EXCERPT_CHARS: usize = 160;

/// Read a story document into its index row (`doc_id` filled in, the rest from the content).
/// `created_at` sorts a story without a capture time. `municipalities`: the workspace's names,
/// so "delft" typed on a phone is counted under "Delft".
pub fn row_of(
    doc_id: &str,
    doc: &automerge::Automerge,
    created_at: i64,
    municipalities: &[String],
) -> IndexRow {
    let story = Story::read(doc);
    let details = StoryDetails::read(doc);
    let owned = ownership::Owned::read(doc);
    let approved = ownership::approved_version(doc).map(|v| Story::read(&v));
    let scope = story
        .consent
        .as_ref()
        .filter(|c| c.given)
        .and_then(|c| c.scope);
    let approved_quotable = approved.as_ref().is_some_and(|a| {
        a.consent.as_ref().filter(|c| c.given).and_then(|c| c.scope)
            == Some(ConsentScope::MayBeQuoted)
            && !super::spoken_or_written(a).trim().is_empty()
    });
    let transcript = story
        .transcript
        .as_ref()
        .map(|t| t.text.trim().to_string())
        .filter(|t| !t.is_empty());
    let excerpt_from = if story.body.trim().is_empty() {
        transcript.as_deref().unwrap_or_default()
    } else {
        story.body.trim()
    };
    let municipality = story
        .municipality
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| {
            municipalities
                .iter()
                .find(|known| known.to_lowercase() == m.to_lowercase())
                .cloned()
                .unwrap_or_else(|| m.to_string())
        });
    let audio = |mime: &str| mime.starts_with("audio/") || mime.starts_with("video/webm");
    let has_audio = story.attachments.iter().any(|a| audio(&a.mime));
    let has_photo = story
        .attachments
        .iter()
        .any(|a| a.mime.starts_with("image/"));
    let transcript_state = details
        .transcriptions
        .last()
        .map(|t| match t.reason.as_deref() {
            Some(reason) if t.status == "failed" => format!("failed:{reason}"),
            _ => t.status.clone(),
        })
        .or_else(|| {
            story
                .transcript
                .as_ref()
                .and_then(|t| t.state.map(|s| s.code().to_string()))
        });
    let mut rest = String::with_capacity(story.body.len() + 64);
    rest.push_str(&story.body);
    if let Some(t) = &transcript {
        rest.push('\n');
        rest.push_str(t);
    }
    for v in details.sections.values() {
        rest.push('\n');
        rest.push_str(v);
    }
    let search_text = format!("{}\n{}", story.title, rest);
    let mut tags: Vec<(String, String)> = story
        .tags
        .iter()
        .filter(|t| !t.code.contains(':'))
        .map(|t| (t.code.clone(), t.state.code().to_string()))
        .collect();
    tags.sort();
    tags.dedup_by(|a, b| a.0 == b.0);
    IndexRow {
        doc_id: doc_id.to_string(),
        sort_at: story.captured_at.unwrap_or(created_at),
        captured_at: story.captured_at,
        quarter: story.captured_at.map(super::quarter_of),
        kind: story.kind.map(|k| k.code().to_string()),
        municipality,
        place_type: story.place_type.map(|p| p.code().to_string()),
        phase: details.phase.clone().filter(|s| !s.is_empty()),
        target_group: details.target_group.clone().filter(|s| !s.is_empty()),
        language: story.language.clone().filter(|s| !s.is_empty()),
        review: story
            .review
            .unwrap_or(ReviewState::Draft)
            .code()
            .to_string(),
        approved_heads: owned.approved_heads.as_ref().map(|h| h.join(",")),
        changed_after_approval: owned.changed_after_approval == Some(true),
        consent_scope: scope.map(|c| c.code().to_string()),
        approved_quotable,
        told_by_role: story.told_by.as_ref().map(|p| p.role.clone()),
        told_by: story.told_by.as_ref().map(|p| p.name.clone()),
        persona_id: story.persona.clone().filter(|p| !p.is_empty()),
        title: story.title.clone(),
        excerpt: excerpt_from.chars().take(EXCERPT_CHARS).collect(),
        quote: (scope == Some(ConsentScope::MayBeQuoted))
            .then(|| super::quote_of(super::spoken_or_written(&story)))
            .flatten(),
        has_audio,
        has_photo,
        transcript_state,
        stems_title: stems(&story.title),
        stems_text: stems(&rest),
        search_title: story.title,
        search_text,
        tags,
    }
}

/// The words of a text as the index holds them: each word's stems and its folded form.
pub fn stems(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for t in dutch::tokenize(text) {
        let mut push = |w: &str| {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        };
        push(&t.stem);
        if let Some(v) = t.verb_stem.as_deref().filter(|v| *v != t.stem) {
            push(v);
        }
        if t.norm != t.stem {
            push(&t.norm);
        }
    }
    out
}

/// Search words, as the index compares them: (folded word, its stems).
pub type SearchWords = Vec<(String, Vec<String>)>;

/// The search words of a query. Small words (de, het, met, …) are dropped.
pub fn search_words(q: &str) -> SearchWords {
    let mut words: SearchWords = dutch::tokenize(q)
        .into_iter()
        .filter(|t| !dutch::is_filler(&t.norm))
        .map(|t| (t.norm.clone(), t.stems().map(str::to_string).collect()))
        .collect();
    words.dedup();
    words.truncate(12);
    words
}

/// The FTS5 query for search words: every word, by one of its stems or as a word beginning.
/// Tokens are `a-z0-9` only (folded), so quoting them is safe.
pub fn fts_query(words: &[(String, Vec<String>)]) -> Option<String> {
    let parts: Vec<String> = words
        .iter()
        .map(|(norm, stems)| {
            let mut alts: Vec<String> = stems.iter().map(|s| format!("\"{s}\"")).collect();
            alts.push(format!("\"{norm}\"*"));
            format!("({})", alts.join(" OR "))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

/// A piece of a search snippet.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Piece {
    pub text: String,
    pub hit: bool,
}

/// A snippet of `text` around the first words that match the search, hits marked: about
/// `words` words, the first hit near the start.
pub fn snippet(text: &str, q: &[(String, Vec<String>)], words: usize) -> Vec<Piece> {
    let tokens = dutch::tokenize(text);
    let hit = |t: &dutch::Token| {
        q.iter().any(|(norm, stems)| {
            t.stems().any(|s| stems.iter().any(|w| w == s)) || t.norm.starts_with(norm.as_str())
        })
    };
    let first = tokens.iter().position(&hit).unwrap_or(0);
    let from = first.saturating_sub(6);
    let to = (from + words).min(tokens.len());
    if from >= to {
        return vec![];
    }
    let mut out: Vec<Piece> = Vec::new();
    let mut push = |s: &str, h: bool| match out.last_mut() {
        Some(last) if last.hit == h => last.text.push_str(s),
        _ => out.push(Piece {
            text: s.to_string(),
            hit: h,
        }),
    };
    if from > 0 {
        push("… ", false);
    }
    let mut at = tokens[from].start;
    for t in &tokens[from..to] {
        push(&text[at..t.start], false);
        push(&text[t.start..t.end], hit(t));
        at = t.end;
    }
    if to < tokens.len() {
        push(" …", false);
    }
    out
}

/// PostgreSQL's headline (hits between [`HIT_START`] and [`HIT_END`]) as pieces.
///
/// [`HIT_START`]: crate::db::story_index::HIT_START
/// [`HIT_END`]: crate::db::story_index::HIT_END
pub fn headline_pieces(h: &str) -> Vec<Piece> {
    use crate::db::story_index::{HIT_END, HIT_START};
    let mut out = Vec::new();
    let mut rest = h;
    while let Some(i) = rest.find(HIT_START) {
        if i > 0 {
            out.push(Piece {
                text: rest[..i].to_string(),
                hit: false,
            });
        }
        let after = &rest[i + HIT_START.len()..];
        let end = after.find(HIT_END).unwrap_or(after.len());
        out.push(Piece {
            text: after[..end].to_string(),
            hit: true,
        });
        rest = after.get(end + HIT_END.len()..).unwrap_or("");
    }
    if !rest.is_empty() {
        out.push(Piece {
            text: rest.to_string(),
            hit: false,
        });
    }
    out
}

/// Load a document from its stored chunks (not through the hub: the index must not be behind
/// another process's writes, and exports must not fill the hub's memory).
pub async fn load_stored(db: &Db, doc_id: &str) -> Result<Option<automerge::Automerge>, DbError> {
    let chunks = db.doc_chunks(doc_id, 0).await?;
    if chunks.is_empty() {
        return Ok(None);
    }
    let mut doc = automerge::Automerge::new();
    for (_, data) in chunks {
        if let Err(e) = doc.load_incremental(&data) {
            tracing::warn!(doc = doc_id, error = %e, "stored chunk does not load; indexed as far as it does");
        }
    }
    Ok(Some(doc))
}

/// What indexing one document did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexed {
    Written,
    /// The index already held this read or a later one.
    Current,
    /// Not a live story (a persona, a deleted document: its rows were removed), or nothing
    /// stored yet.
    Removed,
}

type Cached = (Instant, Arc<Vec<String>>);

/// Keeps `story_index` in step with the stored stories.
pub struct Indexer {
    db: Db,
    /// Each workspace's municipality names, and when they were read.
    municipalities: tokio::sync::Mutex<HashMap<i64, Cached>>,
}

impl Indexer {
    pub fn new(db: Db) -> Indexer {
        Indexer {
            db,
            municipalities: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    async fn municipalities(&self, workspace_id: i64) -> Result<Arc<Vec<String>>, DbError> {
        let mut cache = self.municipalities.lock().await;
        if let Some((at, names)) = cache.get(&workspace_id)
            && at.elapsed() < Duration::from_secs(30)
        {
            return Ok(names.clone());
        }
        let names = Arc::new(self.db.municipalities(workspace_id).await?);
        cache.insert(workspace_id, (Instant::now(), names.clone()));
        Ok(names)
    }

    /// Bring several documents' rows up to date, written together (one transaction on SQLite).
    pub async fn index_many(&self, ids: &[String]) -> Result<usize, DbError> {
        let mut reads = Vec::with_capacity(ids.len());
        for doc_id in ids {
            if let Some(read) = self.read(doc_id).await? {
                reads.push(read);
            }
        }
        self.db.put_index_rows(&reads).await
    }

    /// What to write for one document: (row, workspace, recorder, seq); `None` when it is not
    /// a live story (its rows are removed) or holds nothing yet.
    async fn read(&self, doc_id: &str) -> Result<Option<IndexWrite>, DbError> {
        let state = match self.db.doc_state(doc_id).await? {
            Some(s) if !s.deleted && s.doc_type == "story" => s,
            _ => {
                self.db.delete_index_row(doc_id).await?;
                return Ok(None);
            }
        };
        let Some(doc) = load_stored(&self.db, doc_id).await? else {
            return Ok(None);
        };
        let names = self.municipalities(state.workspace_id).await?;
        let row = row_of(doc_id, &doc, state.created_at, &names);
        Ok(Some((
            row,
            state.workspace_id,
            state.recorder_id,
            state.seq,
        )))
    }

    /// Bring one document's index row up to date.
    pub async fn index(&self, doc_id: &str) -> Result<Indexed, DbError> {
        Ok(match self.read(doc_id).await? {
            None => Indexed::Removed,
            Some((row, workspace_id, recorder_id, seq)) => {
                if self
                    .db
                    .put_index_row(&row, workspace_id, recorder_id, seq)
                    .await?
                {
                    Indexed::Written
                } else {
                    Indexed::Current
                }
            }
        })
    }

    /// Index every story changed after `after` (0: all) whose row is behind. Returns how many
    /// were indexed.
    pub async fn catch_up(&self, after: i64) -> Result<usize, DbError> {
        let mut done = 0;
        let mut seen: HashMap<String, u32> = HashMap::new();
        loop {
            let batch = self.db.stories_to_index(after, 512).await?;
            let todo: Vec<String> = batch
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| {
                    let n = seen.entry(id.clone()).or_default();
                    *n += 1;
                    // Changing faster than we read it: the next round brings it.
                    *n <= 3
                })
                .collect();
            if todo.is_empty() {
                return Ok(done);
            }
            for chunk in todo.chunks(32) {
                self.index_many(chunk).await?;
                done += chunk.len();
            }
        }
    }

    /// Rebuild: read every story again (`vertel-server reindex`). Safe while servers run.
    pub async fn reindex(&self) -> Result<usize, DbError> {
        self.db.invalidate_index().await?;
        self.catch_up(0).await
    }

    /// Follow the hub's change notifications and the database's change cursor until the hub
    /// goes away.
    pub async fn run(self: Arc<Self>, hub: Arc<Hub>) {
        let mut rx = hub.subscribe_changes();
        drop(hub);
        match self.db.index_version_is(INDEX_VERSION).await {
            Ok(true) => tracing::info!(
                version = INDEX_VERSION,
                "story index written by another version: reading every story again"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "story index version not checked"),
        }
        // Everything stored up to `cursor` has been looked at; a failure looks at all again.
        let mut cursor = 0;
        let mut full = true;
        let mut pending: BTreeMap<DocumentId, Instant> = BTreeMap::new();
        let mut rescan = tokio::time::interval(RESCAN);
        rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next_due = pending.values().min().copied();
            tokio::select! {
                msg = rx.recv() => match msg {
                    Ok(id) => {
                        pending.insert(id, Instant::now() + DEBOUNCE);
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "story index missed change notifications; the rescan brings them");
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now)), if next_due.is_some() => {
                    let now = Instant::now();
                    let due: Vec<DocumentId> = pending
                        .iter()
                        .filter(|(_, d)| **d <= now)
                        .map(|(id, _)| *id)
                        .collect();
                    for id in &due {
                        pending.remove(id);
                    }
                    let ids: Vec<String> = due.iter().map(ToString::to_string).collect();
                    for chunk in ids.chunks(32) {
                        if let Err(e) = self.index_many(chunk).await {
                            tracing::warn!(error = %e, "indexing failed; the rescan retries");
                            full = true;
                        }
                    }
                }
                _ = rescan.tick() => {
                    // What other processes stored, and what failed here before. Sequence order
                    // is commit order (`db/docs.rs`), so nothing commits later below the top.
                    let top = match self.db.max_doc_seq().await {
                        Ok(top) => top,
                        Err(e) => {
                            tracing::warn!(error = %e, "story index rescan failed");
                            continue;
                        }
                    };
                    match self.catch_up(if full { 0 } else { cursor }).await {
                        Ok(n) => {
                            if full && n > 0 {
                                tracing::info!(stories = n, "story index caught up");
                            }
                            cursor = top;
                            full = false;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "story index rescan failed");
                            full = true;
                        }
                    }
                }
            }
        }
    }
}

/// Start the indexer for a serving process.
pub fn spawn(hub: Arc<Hub>, db: Db) -> Arc<Indexer> {
    let indexer = Arc::new(Indexer::new(db));
    tokio::spawn(indexer.clone().run(hub));
    indexer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_meet_inflected_forms_and_word_beginnings() {
        let indexed = stems("De moeders gingen samen naar het babycafé in Delft.");
        let q = search_words("moeder babycafe");
        let fts = fts_query(&q).expect("a query");
        assert!(fts.contains("\"moeder\""), "{fts}");
        assert!(fts.contains("\"babycafe\"*"), "{fts}");
        // Every query word has an alternative that the indexed words contain.
        for (norm, ws) in &q {
            let words: Vec<&str> = indexed.split(' ').collect();
            assert!(
                ws.iter().any(|w| words.contains(&w.as_str()))
                    || words.iter().any(|w| w.starts_with(norm.as_str())),
                "{norm} not in {indexed}"
            );
        }
        assert_eq!(fts_query(&search_words("de het met")), None);
    }

    #[test]
    fn snippets_mark_the_hits_and_keep_the_text() {
        let text = "Een lange aanloop van woorden die niets zeggen over het onderwerp, \
                    en dan vertelt zij over het babycafé waar de moeders elkaar zien.";
        let pieces = snippet(text, &search_words("moeders babycafe"), 12);
        let hits: Vec<&str> = pieces
            .iter()
            .filter(|p| p.hit)
            .map(|p| p.text.as_str())
            .collect();
        assert_eq!(hits, vec!["babycafé", "moeders"]);
        assert!(pieces[0].text.starts_with('…'));
        let joined: String = pieces.iter().map(|p| p.text.as_str()).collect();
        assert!(joined.contains("babycafé waar de moeders"), "{joined}");
    }

    #[test]
    fn headlines_become_pieces() {
        let p = headline_pieces("zij ging naar het ⟦babycafé⟧ met ⟦moeders⟧");
        assert_eq!(
            p,
            vec![
                Piece {
                    text: "zij ging naar het ".into(),
                    hit: false
                },
                Piece {
                    text: "babycafé".into(),
                    hit: true
                },
                Piece {
                    text: " met ".into(),
                    hit: false
                },
                Piece {
                    text: "moeders".into(),
                    hit: true
                },
            ]
        );
    }
}
