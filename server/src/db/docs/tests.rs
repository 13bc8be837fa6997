use super::*;

use crate::db::testing::db;

fn meta(workspace_id: i64, recorder_id: i64) -> DocMeta {
    DocMeta {
        workspace_id,
        recorder_id,
        doc_type: "story".into(),
        size: 0,
        deleted: false,
    }
}

/// Many concurrent appends are committed in groups and batches: each gets its own chunk and
/// sequence number, each document ends with the heads of its last write, and a document
/// erased meanwhile takes no chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_appends_keep_every_write_in_order_sqlite() {
    grouped_appends_keep_every_write_in_order(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_appends_keep_every_write_in_order_postgres() {
    grouped_appends_keep_every_write_in_order(Backend::Postgres).await;
}

async fn grouped_appends_keep_every_write_in_order(backend: Backend) {
    let t = db(backend).await;
    let (db, ws, member) = (t.db.clone(), t.workspace, t.member);
    let viewer = Viewer {
        member_id: member,
        workspace_id: ws,
        sees_workspace: true,
    };
    let ids: Vec<String> = (0..40).map(|i| format!("doc{i}")).collect();
    for id in &ids {
        db.create_doc(id, &meta(ws, member), b"first", &["h0".into()])
            .await
            .expect("create");
    }
    db.erase_doc("doc0", member).await.expect("erase");
    // Five rounds of concurrent appends: every document once per round, plus the same
    // document twice at once (those two may share a group, never a batch).
    let mut outcomes = Vec::new();
    for round in 1..=5 {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, id) in ids.iter().enumerate() {
            let (db, id) = (db.clone(), id.clone());
            tasks.spawn(async move {
                let heads = [format!("h{round}")];
                let chunk = format!("{id}-{round}").into_bytes();
                (i, db.append_chunk(&id, &chunk, &heads, "story").await)
            });
        }
        let (a, b) = (db.clone(), db.clone());
        let heads = [format!("h{round}")];
        let (x, y) = tokio::join!(
            a.append_chunk("doc7", b"extra-a", &heads, "story"),
            b.append_chunk("doc7", b"extra-b", &heads, "story"),
        );
        assert!(x.expect("append").is_some() && y.expect("append").is_some());
        while let Some(done) = tasks.join_next().await {
            let (i, outcome) = done.expect("task");
            outcomes.push((i, outcome.expect("append")));
        }
    }
    for (i, outcome) in &outcomes {
        assert_eq!(outcome.is_none(), *i == 0, "document {i}: {outcome:?}");
    }
    let chunk_ids: std::collections::HashSet<i64> =
        outcomes.iter().filter_map(|(_, o)| *o).collect();
    assert_eq!(chunk_ids.len(), 39 * 5, "every append its own chunk");
    // Creating an id that exists changes nothing and fails nothing.
    assert!(matches!(
        db.create_doc("doc3", &meta(ws, member), b"again", &["x".into()])
            .await,
        Err(DbError::Conflict(_))
    ));
    for id in &ids[1..] {
        let chunks = db.doc_chunks(id, 0).await.expect("chunks");
        let extra = if id == "doc7" { 10 } else { 0 };
        assert_eq!(chunks.len(), 6 + extra, "{id}");
        assert_eq!(chunks[0].1, b"first");
        let ours: Vec<Vec<u8>> = chunks
            .iter()
            .map(|c| c.1.clone())
            .filter(|c| !c.starts_with(b"extra"))
            .collect();
        let expected: Vec<Vec<u8>> = std::iter::once(b"first".to_vec())
            .chain((1..=5).map(|r| format!("{id}-{r}").into_bytes()))
            .collect();
        assert_eq!(ours, expected, "{id}: rounds stored in order");
    }
    assert!(db.doc_chunks("doc0", 0).await.expect("chunks").is_empty());
    let feed = db.changes_since(viewer, 0, 1000).await.expect("feed");
    assert_eq!(feed.len(), 40);
    let mut seqs: Vec<i64> = feed.iter().map(|e| e.seq).collect();
    seqs.dedup();
    assert_eq!(seqs.len(), 40, "distinct sequence numbers");
    for e in &feed {
        assert_eq!(e.deleted, e.id == "doc0", "{e:?}");
        if !e.deleted {
            assert_eq!(e.heads, vec!["h5".to_string()], "{e:?}");
        }
    }
    // Sizes add up: the stored size is the sum of the chunk lengths.
    let (m, _) = db
        .doc_meta("doc3", member)
        .await
        .expect("meta")
        .expect("doc3");
    let total: usize = db
        .doc_chunks("doc3", 0)
        .await
        .expect("chunks")
        .iter()
        .map(|c| c.1.len())
        .sum();
    assert_eq!(m.size as usize, total);
}
