use super::*;
use crate::db::testing;

fn row(doc_id: &str, title: &str) -> IndexRow {
    IndexRow {
        doc_id: doc_id.into(),
        sort_at: 10,
        review: "draft".into(),
        title: title.into(),
        excerpt: title.into(),
        search_title: title.into(),
        search_text: title.into(),
        stems_title: crate::workspace::index::stems(title),
        stems_text: String::new(),
        tags: vec![("centering".into(), "suggested".into())],
        ..IndexRow::default()
    }
}

/// A row is replaced only by a read at a later seq, never written for a deleted document,
/// and a version change makes every row stale.
async fn rows_only_move_forward(backend: Backend) {
    let t = testing::db(backend).await;
    let db = &t.db;
    let meta = t.story_meta();
    for id in ["a", "b"] {
        db.create_doc(id, &meta, b"x", &["h".into()])
            .await
            .expect("create");
    }
    let q = IndexQuery {
        workspace_id: t.workspace,
        ..IndexQuery::default()
    };
    let ws = t.workspace;
    assert!(
        db.put_index_row(&row("a", "nieuw"), ws, t.member, 5)
            .await
            .expect("put")
    );
    // An older read (another indexer that was slower) does not overwrite it.
    assert!(
        !db.put_index_row(&row("a", "oud"), ws, t.member, 4)
            .await
            .expect("put")
    );
    assert!(
        db.put_index_row(&row("b", "ander"), ws, t.member, 5)
            .await
            .expect("put")
    );
    let page = db.index_page(&q, None, 10).await.expect("page");
    let mut titles: Vec<&str> = page.iter().map(|l| l.row.title.as_str()).collect();
    titles.sort();
    assert_eq!(titles, vec!["ander", "nieuw"]);
    assert_eq!(
        page[0].row.tags,
        vec![("centering".to_string(), "suggested".to_string())]
    );
    let search = match backend {
        Backend::Sqlite => {
            crate::workspace::index::fts_query(&crate::workspace::index::search_words("nieuw"))
        }
        Backend::Postgres => Some("nieuw".to_string()),
    };
    let found = IndexQuery {
        search,
        ..q.clone()
    };
    assert_eq!(db.index_count(&found).await.expect("count"), 1);
    // The same search newest first (what a very common word gets): the same story, unranked,
    // with its snippet on PostgreSQL.
    let newest = IndexQuery {
        newest_first: true,
        ..found.clone()
    };
    let page = db.index_page(&newest, None, 10).await.expect("page");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].row.title, "nieuw");
    assert_eq!(page[0].rank, None);
    if backend == Backend::Postgres {
        assert!(
            page[0]
                .headline
                .as_deref()
                .is_some_and(|h| h.contains(HIT_START))
        );
    }
    let ranked = db.index_page(&found, None, 10).await.expect("page");
    assert!(ranked[0].rank.is_some());

    // Erased: the rows go in the erasure's transaction, and a late indexer writes nothing.
    db.erase_doc("a", t.member).await.expect("erase");
    assert_eq!(db.index_count(&q).await.expect("count"), 1);
    assert_eq!(db.index_count(&found).await.expect("count"), 0);
    assert!(
        !db.put_index_row(&row("a", "nieuw"), ws, t.member, 99)
            .await
            .expect("put")
    );
    assert_eq!(db.index_count(&q).await.expect("count"), 1);

    // A fresh database has no version: every row is stale once, then not again.
    assert!(db.index_version_is(1).await.expect("version"));
    assert!(
        db.stories_to_index(0, 10)
            .await
            .expect("todo")
            .iter()
            .any(|(id, _)| id == "b")
    );
    assert!(
        db.put_index_row(&row("b", "ander"), ws, t.member, 5)
            .await
            .expect("put")
    );
    assert!(!db.index_version_is(1).await.expect("version"));
    assert!(db.stories_to_index(0, 10).await.expect("todo").is_empty());
    assert!(db.index_version_is(2).await.expect("version"));
    assert_eq!(db.stories_to_index(0, 10).await.expect("todo").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_only_move_forward_sqlite() {
    rows_only_move_forward(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_only_move_forward_postgres() {
    rows_only_move_forward(Backend::Postgres).await;
}
