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
//!
//! Not here: what to write (the merge rule is [`super::plan`], the suggestions [`super::model`]);
//! the database tests are `tests.rs`.

use super::model::{Example, Model, Settings, Suggester};
use super::plan::{judged_example, plan};
use super::story_text;
use super::tagger::Tagger;
use super::taxonomy::Taxonomy;
use crate::db::{Db, DbError};
use crate::sync::hub::{Hub, SyncFailure, Writer};
use client_core::story::{self, DocType, Story};
use client_core::wire::DocumentId;
use std::collections::{BTreeSet, HashMap};
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

#[cfg(test)]
mod tests;
