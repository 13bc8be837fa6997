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

/// The access rule in SQL ([`Viewer::may_see`], in every query that lists documents) agrees with
/// [`DocMeta::visible_to`] on every case: coordinator, professional, sleutelpersoon and admin;
/// the recorder or not; shared or not; this workspace or another; erased or not. The changes
/// feed also carries erased documents, to those who could see them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_rule_in_sql_is_visible_to_sqlite() {
    the_access_rule_in_sql_is_visible_to(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_rule_in_sql_is_visible_to_postgres() {
    the_access_rule_in_sql_is_visible_to(Backend::Postgres).await;
}

async fn the_access_rule_in_sql_is_visible_to(backend: Backend) {
    use crate::db::accounts::{Member, Role};
    let t = db(backend).await;
    let db = t.db.clone();
    let ws = t.workspace;
    let other = db.create_workspace("o", "O").await.expect("workspace").id;
    let mut people: Vec<Member> = vec![db.member(t.member).await.expect("read").expect("c")];
    for (w, email, role) in [
        (ws, "p@example.org", Role::Professional),
        (ws, "q@example.org", Role::Professional),
        (ws, "k@example.org", Role::Sleutelpersoon),
        (ws, "adm@example.org", Role::Admin),
        (other, "oc@example.org", Role::Coordinator),
        (other, "op@example.org", Role::Professional),
    ] {
        people.push(
            db.create_member(w, email, email, role, None, None)
                .await
                .expect("member"),
        );
    }
    let (p, q, op) = (people[1].id, people[2].id, people[6].id);
    // (id, workspace, recorder, shared with, erased)
    let docs: Vec<(&str, i64, i64, Option<i64>, bool)> = vec![
        ("p-own", ws, p, None, false),
        ("p-shared-q", ws, p, Some(q), false),
        ("p-erased", ws, p, None, true),
        ("p-shared-q-erased", ws, p, Some(q), true),
        ("q-own", ws, q, None, false),
        ("other-own", other, op, None, false),
        ("other-shared-p", other, op, Some(p), false),
    ];
    for (id, w, recorder, shared, erased) in &docs {
        db.create_doc(id, &meta(*w, *recorder), b"chunk", &["h".into()])
            .await
            .expect("create");
        if let Some(m) = shared {
            db.share_doc(id, *m).await.expect("share");
        }
        if *erased {
            sqlx::query("UPDATE documents SET deleted_at = 1 WHERE id = $1")
                .bind(*id)
                .execute(&db.pool)
                .await
                .expect("erase");
        }
    }
    let (mut seen, mut hidden) = (0, 0);
    for member in &people {
        let viewer = Viewer::of(member);
        let listed = db.visible_docs(viewer, "story").await.expect("list");
        let feed: Vec<String> = db
            .changes_since(viewer, 0, 1000)
            .await
            .expect("feed")
            .into_iter()
            .map(|e| e.id)
            .collect();
        for (id, ..) in &docs {
            let (doc, shared) = db
                .doc_meta(id, member.id)
                .await
                .expect("meta")
                .expect("doc");
            let rule = doc.visible_to(member, shared);
            let case = format!("{:?} {} on {id}", member.role, member.email);
            assert_eq!(listed.iter().any(|l| l == id), rule, "list: {case}");
            let live = DocMeta {
                deleted: false,
                ..doc.clone()
            };
            assert_eq!(
                feed.iter().any(|f| f == id),
                live.visible_to(member, shared),
                "feed: {case}"
            );
            if rule {
                seen += 1;
            } else {
                hidden += 1;
            }
        }
    }
    // Both outcomes occur: the table tests something.
    assert!(seen >= 5 && hidden >= 20, "{seen} seen, {hidden} hidden");
}
