//! `vertel-server check [--repair]`: every live document's stored chunks against its recorded
//! heads.
//!
//! The invariant checked ("durable before acknowledged", `ARCHITECTURE.md`): `documents.heads`,
//! which the changes feed hands to devices to compare with their own, names only changes that are
//! in the stored chunks and equals the heads of the document those chunks load into; and every
//! stored change can be applied (none waits for a dependency that was never stored).
//!
//! The report names documents by id and problems by kind, never content. `--repair` can only fix
//! the recorded heads; a chunk that does not load or a change whose dependencies are missing is
//! reported and left as it is, since the lost bytes are not in the database to recover from.

use crate::db::check::StoredDoc;
use crate::db::{Db, DbError};
use automerge::{Automerge, AutomergeError, ChangeHash, LoadOptions, OnPartialLoad, ReadDoc};
use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;

/// Documents read per page of ids: the check holds one page of ids and one document at a time.
const PAGE: i64 = 200;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("writing the report: {0}")]
    Output(#[from] std::io::Error),
}

/// What can be wrong with one stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A chunk automerge cannot read, or reads only in part. Loading stops there: what follows
    /// cannot be judged.
    UnreadableChunk { chunk: i64 },
    /// Stored changes wait for this many changes that are not stored, so they cannot be applied.
    MissingDependencies { missing: usize },
    /// `documents.heads` is not a list of change hashes.
    MalformedHeads,
    /// `documents.heads` names this many changes that are not in the stored document: devices
    /// were told of changes the server cannot give them.
    AbsentHeads { absent: usize },
    /// Every recorded head is stored, but they are not the stored document's heads (it holds
    /// changes after or beside them): devices' feeds do not announce those changes.
    HeadsDiffer,
}

impl Problem {
    /// Fixed by recording the stored document's heads.
    fn heads_only(&self) -> bool {
        matches!(
            self,
            Problem::MalformedHeads | Problem::AbsentHeads { .. } | Problem::HeadsDiffer
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnreadableChunk { chunk } => write!(f, "chunk {chunk} does not load"),
            Problem::MissingDependencies { missing } => {
                write!(f, "changes wait for {missing} missing dependencies")
            }
            Problem::MalformedHeads => write!(f, "recorded heads are malformed"),
            Problem::AbsentHeads { absent } => {
                write!(
                    f,
                    "recorded heads name {absent} changes that are not stored"
                )
            }
            Problem::HeadsDiffer => write!(f, "recorded heads differ from the stored heads"),
        }
    }
}

/// The outcome of a whole check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Live documents checked.
    pub checked: u64,
    /// Documents with at least one problem.
    pub inconsistent: u64,
    /// Of those, documents whose every problem `--repair` fixed.
    pub repaired: u64,
    pub repair: bool,
}

impl Summary {
    /// Nothing is left inconsistent: the check's exit status is 0.
    pub fn ok(&self) -> bool {
        self.inconsistent == self.repaired
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checked {} documents, {} inconsistent",
            self.checked, self.inconsistent
        )?;
        if self.repair {
            write!(f, ", {} repaired", self.repaired)?;
        }
        Ok(())
    }
}

/// What [`inspect`] found in one document.
#[derive(Debug)]
struct Inspection {
    problems: Vec<Problem>,
    /// The heads of the document the chunks load into; `None` when a chunk does not load.
    heads: Option<Vec<ChangeHash>>,
}

/// Load a document's chunks as the server does (`Hub::ensure_loaded`) and compare.
fn inspect(stored: &StoredDoc) -> Inspection {
    let mut problems = Vec::new();
    let mut doc = Automerge::new();
    for (chunk, data) in &stored.chunks {
        if doc.load_incremental(data).is_err() {
            problems.push(Problem::UnreadableChunk { chunk: *chunk });
            return Inspection {
                problems,
                heads: None,
            };
        }
    }
    // `load_incremental` keeps what it could read of a damaged chunk and drops the rest without
    // an error, as the server's load does; reading everything again strictly shows such damage.
    if let Some(chunk) = partly_readable(stored) {
        problems.push(Problem::UnreadableChunk { chunk });
        return Inspection {
            problems,
            heads: None,
        };
    }
    let missing = doc.get_missing_deps(&[]);
    if !missing.is_empty() {
        problems.push(Problem::MissingDependencies {
            missing: missing.len(),
        });
    }
    let heads = doc.get_heads();
    let recorded: Result<BTreeSet<ChangeHash>, _> = stored
        .heads
        .split(',')
        .filter(|h| !h.is_empty())
        .map(str::parse::<ChangeHash>)
        .collect();
    match recorded {
        Err(_) => problems.push(Problem::MalformedHeads),
        Ok(recorded) => {
            // A queued change (one whose dependencies are missing) is not in the document.
            let absent = recorded
                .iter()
                .filter(|h| doc.get_change_by_hash(h).is_none())
                .count();
            if absent > 0 {
                problems.push(Problem::AbsentHeads { absent });
            } else if recorded != heads.iter().copied().collect::<BTreeSet<_>>() {
                problems.push(Problem::HeadsDiffer);
            }
        }
    }
    Inspection {
        problems,
        heads: Some(heads),
    }
}

/// The first chunk that a strict load rejects, if any. All chunks are loaded at once first (one
/// extra load per document); only when that fails is each chunk tried alone to name the culprit.
fn partly_readable(stored: &StoredDoc) -> Option<i64> {
    let strict = || LoadOptions::new().on_partial_load(OnPartialLoad::Error);
    let all: Vec<u8> = stored
        .chunks
        .iter()
        .flat_map(|(_, data)| data.iter().copied())
        .collect();
    match Automerge::load_with_options(&all, strict()) {
        // Missing dependencies are reported on their own.
        Ok(_) | Err(AutomergeError::MissingDeps) => None,
        Err(_) => stored
            .chunks
            .iter()
            .find(|(_, data)| {
                // Alone, a chunk of changes misses the changes of the chunks before it: fine here.
                !matches!(
                    Automerge::load_with_options(data, strict()),
                    Ok(_) | Err(AutomergeError::MissingDeps)
                )
            })
            .map(|(chunk, _)| *chunk)
            // Each loads alone but not together: name the last, where reading stopped.
            .or_else(|| stored.chunks.last().map(|(chunk, _)| *chunk)),
    }
}

/// Check every live document, writing one line per inconsistent document to `out`. With
/// `repair`, record the stored heads where the chunks load (see [`Db::repair_heads`]).
pub async fn run(db: &Db, repair: bool, out: &mut impl Write) -> Result<Summary, CheckError> {
    let mut summary = Summary {
        repair,
        ..Summary::default()
    };
    let mut after = String::new();
    loop {
        let ids = db.live_doc_ids(&after, PAGE).await?;
        let Some(last) = ids.last() else {
            break;
        };
        after = last.clone();
        for id in &ids {
            // Erased since the page was read: nothing left to check.
            let Some(stored) = db.stored_doc(id).await? else {
                continue;
            };
            summary.checked += 1;
            let found = inspect(&stored);
            if found.problems.is_empty() {
                continue;
            }
            summary.inconsistent += 1;
            let list = found
                .problems
                .iter()
                .map(Problem::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            if !repair {
                writeln!(out, "{id}: {list}")?;
                continue;
            }
            let outcome = match &found.heads {
                None => "not repaired: the chunks do not load".to_string(),
                Some(heads) if found.problems.iter().any(Problem::heads_only) => {
                    let text = heads
                        .iter()
                        .map(ChangeHash::to_string)
                        .collect::<Vec<_>>()
                        .join(",");
                    if !db.repair_heads(id, &stored.heads, &text).await? {
                        "not repaired: it changed during the check, check again".to_string()
                    } else if found.problems.iter().all(Problem::heads_only) {
                        summary.repaired += 1;
                        "repaired".to_string()
                    } else {
                        "heads repaired; changes with missing dependencies cannot be recovered"
                            .to_string()
                    }
                }
                Some(_) => "not repaired: changes with missing dependencies cannot be recovered"
                    .to_string(),
            };
            writeln!(out, "{id}: {list} ({outcome})")?;
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Backend;
    use crate::db::docs::{DocMeta, Viewer};
    use crate::db::testing::{self, TestDb};
    use automerge::{ROOT, transaction::Transactable};

    /// `async fn $name(Backend)` as one test per backend.
    macro_rules! both {
        ($name:ident) => {
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(crate::db::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(crate::db::Backend::Postgres).await
                }
            }
        };
    }

    fn meta(t: &TestDb) -> DocMeta {
        DocMeta {
            workspace_id: t.workspace,
            recorder_id: t.member,
            doc_type: "story".into(),
            size: 0,
            deleted: false,
        }
    }

    fn put(doc: &mut Automerge, key: &str, value: &str) {
        let mut tx = doc.transaction();
        tx.put(ROOT, key, value).expect("put");
        tx.commit();
    }

    fn text(heads: &[ChangeHash]) -> Vec<String> {
        heads.iter().map(ChangeHash::to_string).collect()
    }

    async fn check(t: &TestDb, repair: bool) -> (Summary, String) {
        let mut out = Vec::new();
        let summary = run(&t.db, repair, &mut out).await.expect("check");
        (summary, String::from_utf8(out).expect("utf-8"))
    }

    /// The recorded heads and sequence number of `id`, from the changes feed.
    async fn feed_entry(t: &TestDb, id: &str) -> (Vec<String>, i64) {
        let viewer = Viewer {
            member_id: t.member,
            workspace_id: t.workspace,
            sees_workspace: true,
        };
        let feed = t.db.changes_since(viewer, 0, 1000).await.expect("feed");
        let entry = feed.iter().find(|e| e.id == id).expect("in the feed");
        (entry.heads.clone(), entry.seq)
    }

    both!(a_consistent_document_passes);
    /// Stored as the server stores it: a whole first save, then the changes after it.
    async fn a_consistent_document_passes(backend: Backend) {
        let t = testing::db(backend).await;
        let mut doc = Automerge::new();
        put(&mut doc, "title", "eerste");
        let first = doc.get_heads();
        t.db.create_doc("doc1", &meta(&t), &doc.save(), &text(&first))
            .await
            .expect("create");
        put(&mut doc, "title", "tweede");
        t.db.append_chunk(
            "doc1",
            &doc.save_after(&first),
            &text(&doc.get_heads()),
            "story",
        )
        .await
        .expect("append")
        .expect("live");
        // An erased document keeps a tombstone without chunks: not checked.
        t.db.create_doc("doc2", &meta(&t), &doc.save(), &text(&doc.get_heads()))
            .await
            .expect("create");
        t.db.erase_doc("doc2", t.member).await.expect("erase");
        let (summary, out) = check(&t, false).await;
        assert_eq!(out, "");
        assert_eq!(summary.to_string(), "checked 1 documents, 0 inconsistent");
        assert!(summary.ok());
    }

    both!(wrong_heads_are_found_and_repaired);
    /// Recorded heads that name a change never stored, and recorded heads behind the stored
    /// changes, are found; `--repair` records the stored heads and bumps the sequence number.
    async fn wrong_heads_are_found_and_repaired(backend: Backend) {
        let t = testing::db(backend).await;
        let mut doc = Automerge::new();
        put(&mut doc, "title", "opgeslagen");
        let stored = doc.get_heads();
        let saved = doc.save();
        put(&mut doc, "title", "nooit opgeslagen");
        // "absent": heads of a change that is not in the chunk.
        t.db.create_doc("absent", &meta(&t), &saved, &text(&doc.get_heads()))
            .await
            .expect("create");
        // "behind": every change stored, the recorded heads those of the first.
        t.db.create_doc("behind", &meta(&t), &doc.save(), &text(&stored))
            .await
            .expect("create");
        t.db.create_doc("fine", &meta(&t), &saved, &text(&stored))
            .await
            .expect("create");

        let (summary, out) = check(&t, false).await;
        assert_eq!(
            out,
            "absent: recorded heads name 1 changes that are not stored\n\
             behind: recorded heads differ from the stored heads\n"
        );
        assert_eq!(summary.to_string(), "checked 3 documents, 2 inconsistent");
        assert!(!summary.ok());
        // Content never appears in the report.
        assert!(!out.contains("opgeslagen"));

        let (_, seq_before) = feed_entry(&t, "absent").await;
        let (summary, out) = check(&t, true).await;
        assert_eq!(
            summary.to_string(),
            "checked 3 documents, 2 inconsistent, 2 repaired"
        );
        assert!(summary.ok(), "{out}");
        assert!(
            out.contains("absent: recorded heads name 1 changes that are not stored (repaired)")
        );
        let (heads, seq_after) = feed_entry(&t, "absent").await;
        assert_eq!(heads, text(&stored));
        assert!(seq_after > seq_before, "re-announced in the feed");
        let (heads, _) = feed_entry(&t, "behind").await;
        assert_eq!(heads, text(&doc.get_heads()));

        let (summary, out) = check(&t, false).await;
        assert_eq!(out, "");
        assert_eq!(summary.to_string(), "checked 3 documents, 0 inconsistent");
    }

    both!(a_change_with_a_missing_dependency_fails);
    /// A chunk whose change depends on one that was never stored cannot be applied; `--repair`
    /// records the heads of what can be applied but leaves the chunks and fails.
    async fn a_change_with_a_missing_dependency_fails(backend: Backend) {
        let t = testing::db(backend).await;
        let mut doc = Automerge::new();
        put(&mut doc, "title", "een");
        let one = doc.get_heads();
        t.db.create_doc("gap", &meta(&t), &doc.save(), &text(&one))
            .await
            .expect("create");
        put(&mut doc, "title", "twee");
        let two = doc.get_heads();
        put(&mut doc, "title", "drie");
        // The change after `two` is stored, `two` itself is not.
        let orphan = doc.save_after(&two);
        t.db.append_chunk("gap", &orphan, &text(&doc.get_heads()), "story")
            .await
            .expect("append")
            .expect("live");

        let (summary, out) = check(&t, false).await;
        assert_eq!(
            out,
            "gap: changes wait for 1 missing dependencies; \
             recorded heads name 1 changes that are not stored\n"
        );
        assert!(!summary.ok());

        let (summary, out) = check(&t, true).await;
        assert_eq!(
            summary.to_string(),
            "checked 1 documents, 1 inconsistent, 0 repaired"
        );
        assert!(!summary.ok());
        assert!(out.contains("cannot be recovered"), "{out}");
        let chunks = t.db.doc_chunks("gap", 0).await.expect("chunks");
        assert_eq!(chunks.len(), 2, "chunks untouched");
        assert_eq!(chunks[1].1, orphan);
        assert_eq!(feed_entry(&t, "gap").await.0, text(&one));
        // Still reported after the repair: the change remains unusable.
        let (summary, out) = check(&t, false).await;
        assert_eq!(out, "gap: changes wait for 1 missing dependencies\n");
        assert!(!summary.ok());
    }

    both!(an_unreadable_chunk_fails);
    /// Bytes that are not automerge, and a chunk cut short (which a plain incremental load
    /// silently half-reads), are unreadable chunks; `--repair` leaves them.
    async fn an_unreadable_chunk_fails(backend: Backend) {
        let t = testing::db(backend).await;
        let mut doc = Automerge::new();
        put(&mut doc, "title", "een");
        let one = doc.get_heads();
        t.db.create_doc("junk", &meta(&t), &doc.save(), &text(&one))
            .await
            .expect("create");
        t.db.create_doc("cut", &meta(&t), &doc.save(), &text(&one))
            .await
            .expect("create");
        put(&mut doc, "title", "twee");
        let two = doc.get_heads();
        put(&mut doc, "title", "drie");
        let mut changes = doc.save_after(&one);
        let whole = changes.len();
        // Two changes: keep the first whole and half of the second.
        let first_len = doc.save_after(&one).len() - doc.save_after(&two).len();
        changes.truncate(first_len + (whole - first_len) / 2);
        let junk =
            t.db.append_chunk("junk", b"geen automerge", &text(&one), "story")
                .await
                .expect("append")
                .expect("live");
        let cut =
            t.db.append_chunk("cut", &changes, &text(&doc.get_heads()), "story")
                .await
                .expect("append")
                .expect("live");

        let (summary, out) = check(&t, true).await;
        assert_eq!(
            out,
            format!(
                "cut: chunk {cut} does not load (not repaired: the chunks do not load)\n\
                 junk: chunk {junk} does not load (not repaired: the chunks do not load)\n"
            )
        );
        assert!(!summary.ok());
    }
}
