use super::*;
use crate::db::{Backend, testing};
use automerge::{ROOT, ReadDoc, transaction::Transactable};

fn hub_with(db: Db, compact_after: usize) -> Arc<Hub> {
    let limits = Limits {
        max_doc_bytes: 1 << 20,
        idle: Duration::from_secs(600),
        compact_after,
        ..Limits::default()
    };
    Hub::new(db, limits, "test-storage".into())
}

fn hub(db: Db) -> Arc<Hub> {
    hub_with(db, 0)
}

fn tagger() -> ActorOwner {
    Writer::Tagger.owner()
}

fn put_title(doc: &mut Automerge, title: &str) -> bool {
    let mut tx = doc.transaction();
    tx.put(ROOT, "title", title).is_ok() && {
        tx.commit();
        true
    }
}

/// Every value the title holds (more than one after concurrent writes).
fn titles(doc: &Automerge) -> Vec<String> {
    doc.get_all(ROOT, "title")
        .unwrap_or_default()
        .into_iter()
        .map(|(v, _)| match v {
            automerge::Value::Scalar(s) => s.as_str().unwrap_or_default().to_string(),
            automerge::Value::Object(_) => "an object".into(),
        })
        .collect()
}

/// A stored story titled "start", recorded by the test member.
async fn stored_story(t: &testing::TestDb, id: DocumentId) {
    let mut doc = Automerge::new();
    assert!(put_title(&mut doc, "start"));
    let heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    let meta = t.story_meta();
    t.db.create_doc(&id.to_string(), &meta, &doc.save(), &heads)
        .await
        .expect("create");
}

/// Two server processes on one PostgreSQL, with no notifications between them. Process A
/// holds a copy loaded before process B wrote; A's next change must follow B's, not be
/// concurrent with it. (Concurrent, B's value would win: its actor sorts higher.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_change_follows_what_another_process_stored() {
    let t = testing::db(Backend::Postgres).await;
    let other = Db::connect(&t.url, 4).await.expect("second pool");
    let (a, b) = (hub(t.db.clone()), hub(other));
    let id = DocumentId::from_bytes(rand::random());
    stored_story(&t, id).await;
    let (low, high) = (
        automerge::ActorId::from(b"aaaa".as_slice()),
        automerge::ActorId::from(b"zzzz".as_slice()),
    );
    assert!(
        a.change_as(id, low.clone(), tagger(), |d| put_title(d, "A first"))
            .await
            .expect("A")
    );
    assert!(
        b.change_as(id, high, tagger(), |d| put_title(d, "B"))
            .await
            .expect("B")
    );
    assert!(
        a.change_as(id, low, tagger(), |d| put_title(d, "A last"))
            .await
            .expect("A again")
    );
    let fresh = hub(t.db.clone());
    let titles = fresh.read(id, titles).await.expect("read").expect("stored");
    assert_eq!(titles, ["A last"], "one value, no conflict");
}

/// The loss found on the demo server: a server write cancelled while it waited for the
/// database (an aborted task) left its change in memory unstored; the next change by the same
/// writer was built on it and sent to devices, and a reload lost both. Now a write runs to
/// its end once its change is made, and every change by one actor is stored in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_server_write_is_stored_or_forgotten_never_half() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = testing::db(backend).await;
        let hub = hub_with(t.db.clone(), 2);
        let id = DocumentId::from_bytes(rand::random());
        stored_story(&t, id).await;
        for round in 0..6 {
            // Hold the writers' turn and the sequence row: the write waits inside persist.
            let (mut turn, writer) = t.db.begin_write().await.expect("turn");
            sqlx::query("UPDATE counters SET value = value WHERE name = 'doc_seq'")
                .execute(&mut *turn)
                .await
                .expect("lock the sequence row");
            let write = hub.server_change(id, Writer::Transcriber, |d| {
                put_title(d, &format!("cancelled {round}"))
            });
            let _ = tokio::time::timeout(Duration::from_millis(50), write).await;
            drop(turn);
            drop(writer);
            // Whether it finished in time or not, the next write by the same writer follows it.
            let next = format!("kept {round}");
            assert!(
                hub.server_change(id, Writer::Transcriber, |d| put_title(d, &next))
                    .await
                    .expect("write")
            );
        }
        let actor = hub.actor(Writer::Transcriber);
        let (titles, missing, mut seqs) = hub_with(t.db.clone(), 0)
            .read(id, |d| {
                let seqs: Vec<u64> = d
                    .get_changes(&[])
                    .iter()
                    .filter(|c| c.actor_id() == &actor)
                    .map(|c| c.seq())
                    .collect();
                (titles(d), d.get_missing_deps(&[]), seqs)
            })
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(titles, ["kept 5"], "{backend:?}");
        assert!(missing.is_empty(), "{backend:?}: {missing:?}");
        // Every sequence number of the writer's actor is stored once, with no gap.
        seqs.sort();
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, expected, "{backend:?}");
        assert!(seqs.len() >= 6, "{backend:?}: {seqs:?}");
    }
}

/// A story edited in short sessions (a new process, or an evicted document, each time) is
/// compacted by what is stored, not by what one process appended since it loaded it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stories_edited_in_short_sessions_are_compacted() {
    let t = testing::db(Backend::Sqlite).await;
    // First byte 0: the threshold is exactly the configured one, without the stagger.
    let id = DocumentId::from_bytes([0; 16]);
    stored_story(&t, id).await;
    for session in 0..30 {
        // Every session is a fresh process: nothing in memory from the last one.
        let hub = hub_with(t.db.clone(), 4);
        let title = format!("session {session}");
        assert!(
            hub.server_change(id, Writer::Tagger, |d| put_title(d, &title))
                .await
                .expect("write")
        );
        let chunks = t.db.doc_chunks(&id.to_string(), 0).await.expect("chunks");
        // The threshold of 4 appended chunks, plus the snapshot.
        assert!(
            chunks.len() <= 5,
            "session {session}: {} chunks",
            chunks.len()
        );
    }
}
