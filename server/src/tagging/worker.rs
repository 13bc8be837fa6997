//! The tagging worker: re-tags a story a short while after its text or transcript changed.
//!
//! It listens to [`Hub::subscribe_changes`], waits until a document has been quiet for the debounce
//! period (2 s by default, at most [`MAX_DELAY_FACTOR`] times that after the first change), then,
//! under the hub's lock for that document, reads it, tags its text and writes the difference as
//! the server ([`Hub::server_change`], `by = "vertel-tagger"`):
//!
//! - a person's tag (anyone but the tagger: confirmed, rejected or suggested) is never changed, and
//!   a code a person rejected is never suggested again;
//! - the tagger's own suggestions are refined in place, and removed when the text no longer
//!   supports them;
//! - when a person's decision and a suggestion were written concurrently (both survive in the
//!   document and readers may see either), the person's decision is written again on top.
//!
//! It also records which persona a story links to (`doc_index`), for `GET /personas/{id}/stories`.
//! At start, and whenever it missed notifications, it catches up from the database: every live
//! document changed since it was last indexed.
//!
//! Suggestions come from the rules and a learned model ([`Suggester`]): the cold start for a
//! workspace whose people have judged nothing, else the workspace's own model, fitted on the
//! tuning corpus and that workspace's judged stories (its people's tags on activities). When a
//! story's judgement changes (`doc_index.judged`), the workspace is retrained in the background,
//! on a blocking thread, at most once per retrain period; then its stories nobody has judged are
//! tagged again with the new model. A workspace's model is kept, used and fitted for that
//! workspace only.

use super::model::{Example, Model, Settings, Suggester};
use super::tagger::{Suggestion, Tagger};
use super::taxonomy::Taxonomy;
use super::{TAGGER_ID, story_text};
use crate::db::{Db, DbError};
use crate::sync::hub::{Hub, SyncFailure, Writer};
use client_core::story::{self, DocType, Story, Tag, TagState, TagWrite};
use client_core::wire::DocumentId;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// A document that keeps changing is tagged at the latest this many debounce periods after its
/// first change.
pub const MAX_DELAY_FACTOR: u32 = 10;

/// How often the worker looks for erased stories its workspace models learned from.
pub const ERASURE_CHECK: Duration = Duration::from_secs(60);

/// The tagger's serve flags (flattened into `vertel-server serve`).
#[derive(Debug, Clone, clap::Args)]
pub struct TaggerArgs {
    /// Suggest activities, phase, themes and target groups for stories as they change.
    #[arg(long = "tagger", env = "VERTEL_TAGGER", default_value = "on", value_parser = ["on", "off"])]
    pub tagger: String,
    /// Quiet time after a story's last change before it is tagged, in milliseconds.
    #[arg(long, env = "VERTEL_TAG_DEBOUNCE_MS", default_value_t = 2_000)]
    pub tag_debounce_ms: u64,
    /// Quiet time after a person's decision on a tag before the workspace's model is fitted
    /// again, in milliseconds (a workspace is refitted at most once per period).
    #[arg(long, env = "VERTEL_TAG_RETRAIN_MS", default_value_t = 10_000)]
    pub tag_retrain_ms: u64,
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Quiet time after the last change before a story is tagged.
    pub debounce: Duration,
    /// Quiet time after a decision before a workspace's model is refitted.
    pub retrain: Duration,
}

impl WorkerConfig {
    /// `None` when the tagger is turned off (`--tagger off`, `VERTEL_TAGGER=off`).
    pub fn from_args(args: &TaggerArgs) -> Option<WorkerConfig> {
        (args.tagger != "off").then(|| WorkerConfig {
            debounce: Duration::from_millis(args.tag_debounce_ms),
            retrain: Duration::from_millis(args.tag_retrain_ms),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TagError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Sync(#[from] SyncFailure),
    #[error("taxonomy: {0}")]
    Taxonomy(String),
}

/// What processing one document did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Tag edits written (0 when nothing changed).
    pub writes: usize,
    pub persona: Option<String>,
}

/// A workspace's compiled tagger and the revision of its activities it was built from.
type Cached = ((i64, i64), Arc<Tagger>);

pub struct Worker {
    hub: Arc<Hub>,
    db: Db,
    base: Arc<Taxonomy>,
    /// Compiled tagger per workspace, with the revision of its activities it was built from.
    cache: Mutex<HashMap<i64, Cached>>,
    /// The cold-start model (`None`: the rules alone, if it could not be loaded).
    cold: Option<Arc<Model>>,
    /// Each workspace's own model, once its people judged stories, with how many judged stories
    /// it was fitted on; never shared between workspaces.
    models: Mutex<HashMap<i64, (Arc<Model>, usize)>>,
    /// Workspaces whose judged stories changed since their model was fitted.
    dirty: Mutex<BTreeSet<i64>>,
    retrain_wanted: tokio::sync::Notify,
}

/// Start the worker for a serving process (the one line in `serve.rs`). Does nothing when turned
/// off (`--tagger off`).
pub fn spawn(hub: Arc<Hub>, db: Db, args: &TaggerArgs) {
    let Some(config) = WorkerConfig::from_args(args) else {
        tracing::info!("tagger turned off");
        return;
    };
    match Worker::new(hub, db) {
        Ok(worker) => {
            tokio::spawn(Arc::new(worker).run(config));
        }
        Err(e) => tracing::error!(error = %e, "tagger not started"),
    }
}

impl Worker {
    pub fn new(hub: Arc<Hub>, db: Db) -> Result<Worker, TagError> {
        let base = super::default_taxonomy().map_err(TagError::Taxonomy)?;
        let cold = match super::cold_start_model() {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(error = %e, "no cold-start model; suggesting with the rules alone");
                None
            }
        };
        Ok(Worker {
            hub,
            db,
            base: Arc::new(base.clone()),
            cache: Mutex::new(HashMap::new()),
            cold,
            models: Mutex::new(HashMap::new()),
            dirty: Mutex::new(BTreeSet::new()),
            retrain_wanted: tokio::sync::Notify::new(),
        })
    }

    /// Run until the hub goes away.
    pub async fn run(self: Arc<Self>, config: WorkerConfig) {
        let mut rx = self.hub.subscribe_changes();
        match self.db.workspaces_with_judged_docs().await {
            Ok(ws) => self.mark_dirty(ws),
            Err(e) => tracing::warn!(error = %e, "could not list workspaces to retrain"),
        }
        tokio::spawn(self.clone().retrain_loop(config.retrain));
        tokio::spawn(self.clone().erasure_watch());
        self.catch_up_logged().await;
        let max_delay = config.debounce * MAX_DELAY_FACTOR;
        // Document → (first change, due).
        let mut pending: HashMap<DocumentId, (Instant, Instant)> = HashMap::new();
        loop {
            let next_due = pending
                .values()
                .map(|(first, due)| (*due).min(*first + max_delay))
                .min();
            tokio::select! {
                msg = rx.recv() => match msg {
                    Ok(id) => {
                        let now = Instant::now();
                        let due = now + config.debounce;
                        pending.entry(id).and_modify(|e| e.1 = due).or_insert((now, due));
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "tagger missed change notifications; catching up");
                        self.catch_up_logged().await;
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now)), if next_due.is_some() => {
                    let now = Instant::now();
                    let mut due: Vec<DocumentId> = pending
                        .iter()
                        .filter(|(_, (first, d))| *d <= now || *first + max_delay <= now)
                        .map(|(id, _)| *id)
                        .collect();
                    due.sort();
                    for id in due {
                        pending.remove(&id);
                        if let Err(e) = self.process(id).await {
                            tracing::warn!(doc = %id, error = %e, "tagging failed");
                        }
                    }
                }
            }
        }
    }

    async fn catch_up_logged(&self) {
        match self.catch_up().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(documents = n, "tagger caught up"),
            Err(e) => tracing::warn!(error = %e, "tagger could not catch up"),
        }
    }

    /// Process every live document changed since it was last indexed. Returns how many.
    pub async fn catch_up(&self) -> Result<usize, TagError> {
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut done = 0;
        loop {
            let batch = self.db.docs_to_index(200).await?;
            // A document comes back once after our own write bumped its cursor; a third time
            // means it keeps changing under us: the live notifications will bring it.
            let todo: Vec<String> = batch
                .into_iter()
                .filter(|id| seen.get(id).copied().unwrap_or(0) < 2)
                .collect();
            if todo.is_empty() {
                return Ok(done);
            }
            for id_text in todo {
                *seen.entry(id_text.clone()).or_default() += 1;
                let Ok(id) = id_text.parse::<DocumentId>() else {
                    // Not an id this server would have stored; index it so it is not retried.
                    self.skip(&id_text).await?;
                    continue;
                };
                if let Err(e) = self.process(id).await {
                    tracing::warn!(doc = %id, error = %e, "tagging failed during catch-up");
                    self.skip(&id_text).await?;
                }
                done += 1;
            }
        }
    }

    /// Mark a document indexed as it stands (no persona), so the catch-up does not retry it.
    async fn skip(&self, id_text: &str) -> Result<(), TagError> {
        if let (Some(seq), Some((meta, _))) = (
            self.db.doc_seq(id_text).await?,
            self.db.doc_meta(id_text, 0).await?,
        ) {
            self.db
                .index_doc(id_text, meta.workspace_id, None, seq)
                .await?;
        }
        Ok(())
    }

    fn mark_dirty(&self, workspaces: impl IntoIterator<Item = i64>) {
        let mut any = false;
        if let Ok(mut d) = self.dirty.lock() {
            for w in workspaces {
                any |= d.insert(w);
            }
        }
        if any {
            self.retrain_wanted.notify_one();
        }
    }

    /// Refit the workspaces whose judged stories changed, one period after the first change, then
    /// tag again their stories nobody judged. Runs until the hub goes away.
    async fn retrain_loop(self: Arc<Self>, period: Duration) {
        loop {
            self.retrain_wanted.notified().await;
            tokio::time::sleep(period).await;
            let due: Vec<i64> = match self.dirty.lock() {
                Ok(mut d) => std::mem::take(&mut *d).into_iter().collect(),
                Err(_) => return,
            };
            for ws in due {
                match self.retrain(ws).await {
                    Ok(n) => tracing::info!(workspace = ws, retagged = n, "tagger model refitted"),
                    Err(e) => {
                        tracing::warn!(workspace = ws, error = %e, "could not refit the model")
                    }
                }
            }
        }
    }

    /// Every [`ERASURE_CHECK`], refit the workspaces that have fewer judged stories than their
    /// model was fitted on (an erased story), so it stops teaching within about a minute. Runs as
    /// long as the process.
    async fn erasure_watch(self: Arc<Self>) {
        loop {
            tokio::time::sleep(ERASURE_CHECK).await;
            if let Err(e) = self.refit_if_erased().await {
                tracing::warn!(error = %e, "could not check for erased judged stories");
            }
        }
    }

    /// Mark for refitting every workspace whose model learned from a story that is no longer a
    /// live judged story. Returns those workspaces.
    pub async fn refit_if_erased(&self) -> Result<Vec<i64>, TagError> {
        let fitted: Vec<(i64, usize)> = match self.models.lock() {
            Ok(m) => m.iter().map(|(ws, (_, n))| (*ws, *n)).collect(),
            Err(_) => return Ok(Vec::new()),
        };
        let mut stale = Vec::new();
        for (ws, n) in fitted {
            if self.db.docs_by_judgement(ws, true).await?.len() < n {
                stale.push(ws);
            }
        }
        self.mark_dirty(stale.iter().copied());
        Ok(stale)
    }

    /// Fit a workspace's model on the corpus and its judged stories now, then tag again its
    /// stories nobody judged. Returns how many of those got new suggestions.
    pub async fn retrain(&self, workspace_id: i64) -> Result<usize, TagError> {
        let Some(cold) = self.cold.clone() else {
            return Ok(0);
        };
        let rules = self.tagger_for(workspace_id).await?;
        let mut own = Vec::new();
        for id_text in self.db.docs_by_judgement(workspace_id, true).await? {
            let Ok(id) = id_text.parse::<DocumentId>() else {
                continue;
            };
            let rules = rules.clone();
            let example = self
                .hub
                .read(id, move |doc| {
                    let s = Story::read(doc);
                    judged_example(&rules, &s, &story::tag_versions(doc))
                })
                .await?
                .flatten();
            own.extend(example);
        }
        let learned = own.len();
        let fitted = if own.is_empty() {
            None
        } else {
            let rules = rules.clone();
            let corpus = super::tuning_corpus().map_err(TagError::Taxonomy)?;
            let model = tokio::task::spawn_blocking(move || {
                Model::for_workspace(&rules, corpus, &own, &cold, &Settings::default())
            })
            .await
            .map_err(|e| TagError::Taxonomy(format!("fitting: {e}")))?;
            Some(Arc::new(model))
        };
        if let Ok(mut models) = self.models.lock() {
            match fitted {
                Some(m) => models.insert(workspace_id, (m, learned)),
                None => models.remove(&workspace_id),
            };
        }
        let mut retagged = 0;
        for id_text in self.db.docs_by_judgement(workspace_id, false).await? {
            let Ok(id) = id_text.parse::<DocumentId>() else {
                continue;
            };
            if self.process(id).await?.writes > 0 {
                retagged += 1;
            }
        }
        Ok(retagged)
    }

    /// What suggests for a workspace: its rules and its own model, else the cold start.
    pub async fn suggester_for(&self, workspace_id: i64) -> Result<Suggester, TagError> {
        let rules = self.tagger_for(workspace_id).await?;
        let own = self
            .models
            .lock()
            .ok()
            .and_then(|m| m.get(&workspace_id).map(|(model, _)| model.clone()));
        Ok(Suggester {
            rules,
            model: own.or_else(|| self.cold.clone()),
        })
    }

    /// The compiled tagger for a workspace: the default taxonomy with its own activities.
    pub async fn tagger_for(&self, workspace_id: i64) -> Result<Arc<Tagger>, TagError> {
        let revision = self.db.workspace_activities_revision(workspace_id).await?;
        if let Ok(cache) = self.cache.lock()
            && let Some((rev, t)) = cache.get(&workspace_id)
            && *rev == revision
        {
            return Ok(t.clone());
        }
        let own = self.db.workspace_activities(workspace_id).await?;
        let tagger = Arc::new(Tagger::new(&self.base.merged(&own)));
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(workspace_id, (revision, tagger.clone()));
        }
        Ok(tagger)
    }

    /// Tag one document now and index it. Idempotent: a second call without changes writes nothing.
    pub async fn process(&self, id: DocumentId) -> Result<Outcome, TagError> {
        let id_text = id.to_string();
        let Some((meta, _)) = self.db.doc_meta(&id_text, 0).await? else {
            return Ok(Outcome::default());
        };
        if meta.deleted {
            return Ok(Outcome::default());
        }
        let Some(seq) = self.db.doc_seq(&id_text).await? else {
            return Ok(Outcome::default());
        };
        let tagger = self.suggester_for(meta.workspace_id).await?;
        let mut outcome = Outcome::default();
        let mut judged = None;
        let now = crate::db::now_ms();
        self.hub
            .server_change(id, Writer::Tagger, |doc| {
                if story::doc_type(doc) == Some(DocType::Persona) {
                    return false;
                }
                let s = Story::read(doc);
                outcome.persona = s.persona.clone().filter(|p| !p.is_empty());
                let versions = story::tag_versions(doc);
                judged = judged_example(&tagger.rules, &s, &versions).map(|e| fingerprint(&e));
                let suggestions = tagger.suggest(&story_text(&s));
                let writes = plan(&versions, &suggestions, now);
                if writes.is_empty() {
                    return false;
                }
                match story::write_tags(doc, now, &writes) {
                    Ok(()) => {
                        outcome.writes = writes.len();
                        true
                    }
                    Err(e) => {
                        tracing::warn!(doc = %id, error = %e, "could not write tag suggestions");
                        false
                    }
                }
            })
            .await?;
        let before = self.db.doc_judged(&id_text).await?;
        self.db
            .index_doc(&id_text, meta.workspace_id, outcome.persona.as_deref(), seq)
            .await?;
        if before != judged {
            self.db.set_doc_judged(&id_text, judged.as_deref()).await?;
            self.mark_dirty([meta.workspace_id]);
        }
        Ok(outcome)
    }
}

/// What a story people judged teaches: per activity of `rules`, whether it is about it. A
/// person's tag (confirmed or their own suggestion: yes; rejected: no) says so; an activity no
/// person tagged counts as no, unless the tagger's suggestion for it still waits for a decision.
/// `None` when no person tagged any activity of it.
pub fn judged_example(
    rules: &Tagger,
    s: &Story,
    versions: &BTreeMap<String, Vec<Tag>>,
) -> Option<Example> {
    let mut labels = BTreeMap::new();
    let mut judged = false;
    for (code, _) in rules.activities() {
        match versions.get(code).and_then(|all| all.first()) {
            Some(t) if is_persons(t) => {
                judged = true;
                labels.insert(code.to_string(), t.state != TagState::Rejected);
            }
            Some(_) => {}
            None => {
                labels.insert(code.to_string(), false);
            }
        }
    }
    judged.then(|| Example {
        text: story_text(s),
        labels,
        weight: 1,
    })
}

/// A short fingerprint of what a judged story teaches (its text and labels).
fn fingerprint(e: &Example) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(e.text.as_bytes());
    for (code, yes) in &e.labels {
        h.update([0u8]);
        h.update(code.as_bytes());
        h.update([u8::from(*yes)]);
    }
    hex::encode(&h.finalize()[..12])
}

fn is_persons(t: &Tag) -> bool {
    t.by != TAGGER_ID
}

fn is_decision(t: &Tag) -> bool {
    is_persons(t) && matches!(t.state, TagState::Confirmed | TagState::Rejected)
}

/// The tag edits that bring a story's tags in line with `suggestions` without touching what a
/// person decided. `versions` is [`story::tag_versions`]: every value of every tag, the visible one
/// first. Pure, so it is tested directly.
pub fn plan(
    versions: &BTreeMap<String, Vec<Tag>>,
    suggestions: &[Suggestion],
    now_ms: i64,
) -> Vec<TagWrite> {
    let mut writes = Vec::new();
    // A person's decision that lost a concurrent write to the tagger (or to another person's
    // suggestion) goes back on top. Between two decisions the later one wins; on a tie, reject.
    for (code, all) in versions {
        let Some(visible) = all.first() else { continue };
        if is_decision(visible) {
            continue;
        }
        let best = all.iter().filter(|t| is_decision(t)).max_by(|a, b| {
            a.at.cmp(&b.at)
                .then((a.state == TagState::Rejected).cmp(&(b.state == TagState::Rejected)))
                .then(a.by.cmp(&b.by))
        });
        if let Some(decision) = best {
            writes.push(TagWrite::Replace(Tag {
                code: code.clone(),
                ..decision.clone()
            }));
        }
    }
    for s in suggestions {
        let evidence = s.evidence_words();
        match versions.get(&s.code) {
            None => writes.push(TagWrite::Update(Tag {
                code: s.code.clone(),
                state: TagState::Suggested,
                by: TAGGER_ID.into(),
                at: now_ms,
                score: Some(s.score),
                evidence,
            })),
            Some(all) => {
                // Anything a person wrote, in any concurrent value, stays as it is.
                if all.iter().any(is_persons) {
                    continue;
                }
                let visible = &all[0];
                if visible.state == TagState::Suggested
                    && visible.score == Some(s.score)
                    && visible.evidence == evidence
                {
                    continue;
                }
                writes.push(TagWrite::Update(Tag {
                    code: s.code.clone(),
                    state: TagState::Suggested,
                    by: TAGGER_ID.into(),
                    at: visible.at,
                    score: Some(s.score),
                    evidence,
                }));
            }
        }
    }
    // The tagger's own suggestions the text no longer supports.
    for (code, all) in versions {
        let only_ours = all
            .iter()
            .all(|t| !is_persons(t) && t.state == TagState::Suggested);
        if only_ours && !suggestions.iter().any(|s| &s.code == code) {
            writes.push(TagWrite::Remove(code.clone()));
        }
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tagging::tagger::Evidence;
    use crate::tagging::taxonomy::Dimension;

    fn suggestion(code: &str, score: f64, words: &[&str]) -> Suggestion {
        Suggestion {
            code: code.into(),
            dimension: Dimension::of_tag(code).0,
            name: code.into(),
            score,
            evidence: words
                .iter()
                .map(|w| Evidence {
                    text: w.to_string(),
                    term: w.to_lowercase(),
                    weight: 1.0,
                })
                .collect(),
        }
    }

    fn tag(code: &str, state: TagState, by: &str, at: i64) -> Tag {
        Tag {
            code: code.into(),
            state,
            by: by.into(),
            at,
            score: None,
            evidence: vec![],
        }
    }

    fn versions(tags: &[&[Tag]]) -> BTreeMap<String, Vec<Tag>> {
        tags.iter()
            .map(|all| (all[0].code.clone(), all.to_vec()))
            .collect()
    }

    /// A real database and hub, no timing: `process` is called directly.
    mod with_a_hub {
        use super::super::*;
        use crate::db::accounts::Role;
        use crate::db::docs::DocMeta;
        use crate::sync::hub::Limits;
        use automerge::{ActorId, Automerge};
        use client_core::story::{Consent, NewStory, StoryKind};

        struct Fixture {
            dir: std::path::PathBuf,
            hub: Arc<Hub>,
            worker: Worker,
            db: Db,
            ws: i64,
        }

        impl Drop for Fixture {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }

        async fn fixture() -> Fixture {
            let dir =
                std::env::temp_dir().join(format!("vertel-tagging-{:016x}", rand::random::<u64>()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let db = Db::connect(&crate::db::default_url(&dir), 4)
                .await
                .expect("db");
            let ws = db.create_workspace("t", "T").await.expect("workspace");
            db.create_member(ws.id, "p@t.test", "P", Role::Professional, None, None)
                .await
                .expect("member");
            let hub = Hub::new(
                db.clone(),
                Limits {
                    max_doc_bytes: 1 << 24,
                    idle: Duration::from_secs(30),
                    compact_after: 0,
                    ..Limits::default()
                },
                "test-storage".into(),
            );
            let worker = Worker::new(hub.clone(), db.clone()).expect("worker");
            Fixture {
                dir,
                hub,
                worker,
                db,
                ws: ws.id,
            }
        }

        async fn stored_story(f: &Fixture, body: &str) -> (DocumentId, Automerge) {
            stored_story_in(f, f.ws, "p@t.test", body).await
        }

        async fn stored_story_in(
            f: &Fixture,
            ws: i64,
            email: &str,
            body: &str,
        ) -> (DocumentId, Automerge) {
            let mut doc = Automerge::new().with_actor(ActorId::from(b"device".as_slice()));
            story::create_story(
                &mut doc,
                &NewStory {
                    kind: Some(StoryKind::ImpactNarrative),
                    title: "Test".into(),
                    body: body.into(),
                    language: "nl".into(),
                    captured_at: 1,
                    consent: Some(Consent {
                        given: true,
                        how: None,
                        scope: None,
                        recorded_at: None,
                    }),
                    ..Default::default()
                },
            )
            .expect("story");
            let id = DocumentId::from_bytes(rand::random());
            let member =
                f.db.member_by_email(email)
                    .await
                    .expect("db")
                    .expect("member");
            let bytes = doc.save();
            let heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
            f.db.create_doc(
                &id.to_string(),
                &DocMeta {
                    workspace_id: ws,
                    recorder_id: member.member.id,
                    doc_type: "story".into(),
                    size: bytes.len() as i64,
                    deleted: false,
                },
                &bytes,
                &heads,
            )
            .await
            .expect("stored");
            (id, doc)
        }

        async fn tags(f: &Fixture, id: DocumentId) -> Vec<Tag> {
            f.hub
                .read(id, |d| Story::read(d).tags)
                .await
                .expect("read")
                .expect("exists")
        }

        fn state_of(tags: &[Tag], code: &str) -> Option<(TagState, String)> {
            tags.iter()
                .find(|t| t.code == code)
                .map(|t| (t.state, t.by.clone()))
        }

        #[tokio::test]
        async fn process_tags_then_respects_people_and_is_idempotent() {
            let f = fixture().await;
            let (id, _) = stored_story(
                &f,
                "Ze doet mee aan VoorZorg en haar vriend rookt sigaretten.",
            )
            .await;
            let out = f.worker.process(id).await.expect("process");
            assert!(out.writes >= 2, "{out:?}");
            let t = tags(&f, id).await;
            assert_eq!(
                state_of(&t, "voorzorg"),
                Some((TagState::Suggested, TAGGER_ID.into()))
            );
            assert_eq!(f.worker.process(id).await.expect("again").writes, 0);

            // A person confirms one and rejects the other; the text changes; re-tagging.
            f.hub
                .server_change(id, Writer::Tagger, |d| {
                    for (code, state) in [
                        ("voorzorg", TagState::Confirmed),
                        ("rookvrije-start", TagState::Rejected),
                    ] {
                        story::set_tag(
                            d,
                            &Tag {
                                code: code.into(),
                                state,
                                by: "m-1".into(),
                                at: 5,
                                score: None,
                                evidence: vec![],
                            },
                        )
                        .expect("tag");
                    }
                    story::update_body(
                        d,
                        "Ze doet mee aan VoorZorg, hij wil stoppen met roken en gaat naar de vadergroep.",
                        6,
                    )
                    .expect("body");
                    true
                })
                .await
                .expect("change");
            f.worker.process(id).await.expect("re-tag");
            let t = tags(&f, id).await;
            assert_eq!(
                state_of(&t, "voorzorg"),
                Some((TagState::Confirmed, "m-1".into()))
            );
            assert_eq!(
                state_of(&t, "rookvrije-start"),
                Some((TagState::Rejected, "m-1".into()))
            );
            assert_eq!(
                state_of(&t, "vadergroep"),
                Some((TagState::Suggested, TAGGER_ID.into()))
            );
            // The indexed cursor caught up: a catch-up finds nothing more to do than this story
            // once (its cursor moved with the tagger's own write).
            assert!(f.worker.catch_up().await.expect("catch up") <= 1);
            assert_eq!(f.worker.catch_up().await.expect("catch up"), 0);
        }

        #[tokio::test]
        async fn a_concurrent_reject_wins_over_the_taggers_suggestion() {
            let f = fixture().await;
            let (id, doc) = stored_story(&f, "Een moeder vertelt over haar leven.").await;
            // Offline on a device: the person rejects "ouderinitiatief" (a high actor id, so the
            // reject would win a tie...)
            let mut device = doc
                .fork()
                .with_actor(ActorId::from(b"zzzz-device".as_slice()));
            story::set_tag(
                &mut device,
                &Tag {
                    code: "ouderinitiatief".into(),
                    state: TagState::Rejected,
                    by: "m-1".into(),
                    at: 7,
                    score: None,
                    evidence: vec![],
                },
            )
            .expect("reject");
            // ...while on the server the text grows (many operations) and the tagger suggests it,
            // so the tagger's value has the higher counter and wins the merge.
            f.hub
                .server_change(id, Writer::Tagger, |d| {
                    story::update_body(
                        d,
                        "Een moeder vertelt over haar leven. Ze gaat elke week naar het babycafé \
                         dat moeders in de wijk zelf hebben opgezet.",
                        8,
                    )
                    .is_ok()
                })
                .await
                .expect("edit");
            f.worker.process(id).await.expect("tag");
            f.hub
                .server_change(id, Writer::Tagger, |d| d.merge(&mut device).is_ok())
                .await
                .expect("merge");
            let before = f
                .hub
                .read(id, story::tag_versions)
                .await
                .expect("read")
                .expect("doc");
            assert_eq!(before["ouderinitiatief"].len(), 2, "a real conflict");
            assert_eq!(
                before["ouderinitiatief"][0].by, TAGGER_ID,
                "the tagger won the merge"
            );
            f.worker.process(id).await.expect("repair");
            let t = tags(&f, id).await;
            assert_eq!(
                state_of(&t, "ouderinitiatief"),
                Some((TagState::Rejected, "m-1".into()))
            );
            assert_eq!(f.worker.process(id).await.expect("again").writes, 0);
        }

        /// Stories about one activity that share a word nobody else uses: a workspace's people
        /// confirm the activity on them.
        const KRING: [&str; 6] = [
            "Vanmorgen zat ze weer bij de Kraamkring in de Hoeksteen.",
            "De Kraamkring had deze week tien bezoekers en veel koffie.",
            "Haar buurvrouw nam haar mee naar de Kraamkring op dinsdag.",
            "Bij de Kraamkring lagen de baby's op een grote mat te spelen.",
            "Ze vertelde dat de Kraamkring haar uit haar isolement haalt.",
            "Na de Kraamkring wandelden ze samen met de kinderwagens terug.",
        ];
        const NEW: &str = "Voor het eerst naar de Kraamkring geweest met de tweeling.";

        async fn workspace(f: &Fixture, slug: &str) -> (i64, String) {
            let ws = f.db.create_workspace(slug, slug).await.expect("workspace");
            let email = format!("p@{slug}.test");
            f.db.create_member(ws.id, &email, "P", Role::Professional, None, None)
                .await
                .expect("member");
            (ws.id, email)
        }

        async fn confirm(f: &Fixture, id: DocumentId, code: &str) {
            f.hub
                .server_change(id, Writer::Tagger, |d| {
                    story::set_tag(
                        d,
                        &Tag {
                            code: code.into(),
                            state: TagState::Confirmed,
                            by: "m-1".into(),
                            at: 5,
                            score: None,
                            evidence: vec![],
                        },
                    )
                    .is_ok()
                })
                .await
                .expect("confirm");
        }

        #[tokio::test]
        async fn a_workspace_learns_from_its_own_decisions_only() {
            let f = fixture().await;
            let (other, other_email) = workspace(&f, "ander").await;
            let mut judged = Vec::new();
            for text in KRING {
                let (id, _) = stored_story(&f, text).await;
                f.worker.process(id).await.expect("process");
                confirm(&f, id, "ouderinitiatief").await;
                f.worker.process(id).await.expect("process");
                judged.push(id);
            }
            let (new_here, _) = stored_story(&f, NEW).await;
            let (new_there, _) = stored_story_in(&f, other, &other_email, NEW).await;
            for id in [new_here, new_there] {
                f.worker.process(id).await.expect("process");
                assert_eq!(state_of(&tags(&f, id).await, "ouderinitiatief"), None);
            }
            let before: Vec<Vec<Tag>> = {
                let mut v = Vec::new();
                for id in &judged {
                    v.push(tags(&f, *id).await);
                }
                v
            };
            // The decisions made the workspace dirty; refitting it re-suggests for the story
            // nobody judged, with the shared word as evidence.
            assert!(f.worker.dirty.lock().expect("dirty").contains(&f.ws));
            assert_eq!(f.worker.retrain(f.ws).await.expect("retrain"), 1);
            let t = tags(&f, new_here).await;
            let tag = t
                .iter()
                .find(|t| t.code == "ouderinitiatief")
                .expect("suggested after refitting");
            assert_eq!(tag.by, TAGGER_ID);
            assert!(
                tag.evidence.iter().any(|e| e.contains("Kraamkring")),
                "{:?}",
                tag.evidence
            );
            // The judged stories were not tagged again.
            for (id, old) in judged.iter().zip(&before) {
                assert_eq!(&tags(&f, *id).await, old);
            }
            // The other workspace has no model of its own and never sees the word as evidence.
            let models = f.worker.models.lock().expect("models").clone();
            assert!(models[&f.ws].0.knows("w:kraamkring"));
            assert_eq!(models[&f.ws].1, KRING.len());
            assert!(!models.contains_key(&other));
            assert!(!f.worker.cold.as_ref().expect("cold").knows("w:kraamkring"));
            f.worker.process(new_there).await.expect("process");
            assert_eq!(f.worker.retrain(other).await.expect("retrain"), 0);
            for t in tags(&f, new_there).await {
                assert_ne!(t.code, "ouderinitiatief");
                assert!(
                    t.evidence.iter().all(|e| !e.contains("Kraamkring")),
                    "{t:?}"
                );
            }
            // An erased judged story stops teaching: the workspace is refitted without it.
            f.worker.dirty.lock().expect("dirty").clear();
            assert!(f.worker.refit_if_erased().await.expect("check").is_empty());
            assert!(
                f.db.erase_doc(&judged[0].to_string(), 1)
                    .await
                    .expect("erase")
            );
            assert_eq!(f.worker.refit_if_erased().await.expect("check"), [f.ws]);
            assert!(f.worker.dirty.lock().expect("dirty").contains(&f.ws));
            f.worker.retrain(f.ws).await.expect("retrain");
            let models = f.worker.models.lock().expect("models").clone();
            assert_eq!(models[&f.ws].1, KRING.len() - 1);
        }

        #[tokio::test]
        async fn a_workspace_activity_is_picked_up_without_a_restart() {
            let f = fixture().await;
            let (id, _) = stored_story(&f, "Ze kwam naar het kraamcafé in Den Hoorn.").await;
            f.worker.process(id).await.expect("process");
            assert_eq!(state_of(&tags(&f, id).await, "kraamcafe-dh"), None);
            f.db.put_workspace_activity(
                f.ws,
                &crate::tagging::taxonomy::WorkspaceActivity {
                    code: "kraamcafe-dh".into(),
                    name: Some("Kraamcafé Den Hoorn".into()),
                    synonyms: Some(vec!["kraamcafé".into()]),
                    ..Default::default()
                },
            )
            .await
            .expect("activity");
            f.worker.process(id).await.expect("process");
            assert_eq!(
                state_of(&tags(&f, id).await, "kraamcafe-dh"),
                Some((TagState::Suggested, TAGGER_ID.into()))
            );
        }
    }

    #[test]
    fn new_suggestions_are_written_and_unchanged_ones_are_not() {
        let s = [suggestion("voorzorg", 1.0, &["VoorZorg"])];
        let w = plan(&BTreeMap::new(), &s, 5);
        assert_eq!(w.len(), 1);
        let TagWrite::Update(t) = &w[0] else {
            panic!("{w:?}")
        };
        assert_eq!(
            (t.state, t.by.as_str(), t.score, t.evidence.as_slice()),
            (
                TagState::Suggested,
                TAGGER_ID,
                Some(1.0),
                &["VoorZorg".to_string()][..]
            )
        );
        let v = versions(&[std::slice::from_ref(t)]);
        assert!(plan(&v, &s, 6).is_empty(), "idempotent");
    }

    #[test]
    fn a_persons_confirm_or_reject_is_never_touched_or_re_suggested() {
        let v = versions(&[
            &[tag("voorzorg", TagState::Confirmed, "m-3", 1)],
            &[tag("vadergroep", TagState::Rejected, "m-3", 1)],
        ]);
        let s = [
            suggestion("voorzorg", 0.75, &["x"]),
            suggestion("vadergroep", 1.0, &["vadergroep"]),
        ];
        assert!(plan(&v, &s, 9).is_empty());
        // And not removed when the text no longer supports them.
        assert!(plan(&v, &[], 9).is_empty());
    }

    #[test]
    fn stale_suggestions_go_and_changed_ones_are_refined() {
        let mut old = tag("armoede-schulden", TagState::Suggested, TAGGER_ID, 1);
        old.score = Some(0.75);
        let v = versions(&[
            &[old],
            &[tag("centering", TagState::Suggested, TAGGER_ID, 1)],
        ]);
        let w = plan(&v, &[suggestion("armoede-schulden", 1.0, &["schulden"])], 9);
        assert_eq!(w.len(), 2);
        assert!(matches!(&w[0], TagWrite::Update(t) if t.score == Some(1.0) && t.at == 1));
        assert_eq!(w[1], TagWrite::Remove("centering".into()));
    }

    #[test]
    fn a_decision_that_lost_a_concurrent_write_goes_back_on_top() {
        let mut ours = tag("voorzorg", TagState::Suggested, TAGGER_ID, 7);
        ours.score = Some(1.0);
        let theirs = tag("voorzorg", TagState::Rejected, "m-3", 6);
        let v = versions(&[&[ours, theirs.clone()]]);
        let w = plan(&v, &[suggestion("voorzorg", 1.0, &["VoorZorg"])], 9);
        assert_eq!(w, [TagWrite::Replace(theirs)]);
    }
}
