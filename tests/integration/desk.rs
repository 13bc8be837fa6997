//! The desk's read model (`story_index`) on real servers: it follows the stored documents through
//! edits, concurrent devices, a review, an erasure, a `kill -9` right after an edit, and a
//! rebuild (`vertel-server reindex`); lists page by keyset, searches find inflected Dutch words
//! with marked snippets, and counts add up.

use crate::workspace::{get_json, post_json};
use crate::{WAIT, all_confirmed, parent_story};
use anyhow::Context;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use vertel_tests::{Backend, Env, Server, device};

/// Poll the list until `ok` holds for its answer.
async fn list_until(
    server: &Server,
    token: &str,
    path: &str,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, v) = get_json(server, token, path).await?;
        anyhow::ensure!(status == 200, "{path}: {status} {v}");
        if ok(&v) {
            return Ok(v);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what}: the index never showed it: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn titles(v: &Value) -> Vec<String> {
    v["stories"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["title"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn story<'a>(v: &'a Value, id: &str) -> Option<&'a Value> {
    v["stories"]
        .as_array()?
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
}

async fn the_index_follows_the_documents(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let prof = server.login_as("professional", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;

    let mut with_place = parent_story(
        "Op de markt",
        "De moeders gingen samen naar het babycafé in de wijk.",
    );
    with_place.municipality = Some("Delft".into());
    let a = phone.create_story(&with_place).await?;
    // Two without a municipality ("onbekend" on the desk).
    let mut nowhere = parent_story(
        "Bij het consultatiebureau",
        "Ze vertelde over de groep waar zwangeren zelf hun bloeddruk meten.",
    );
    nowhere.municipality = None;
    let b = phone.create_story(&nowhere).await?;
    nowhere.title = "Op de bank".into();
    nowhere.body = "Een kort gesprek in het park.".into();
    nowhere.captured_at -= 1_000;
    let c = phone.create_story(&nowhere).await?;
    all_confirmed(&phone).await?;
    let (a, b, c) = (a.to_string(), b.to_string(), c.to_string());

    let all = list_until(
        &server,
        &coord.token,
        "/workspace/stories",
        "three stories",
        |v| v["total"] == 3,
    )
    .await?;
    assert_eq!(all["stories"].as_array().map(Vec::len), Some(3), "{all}");
    assert!(all["next"].is_null(), "{all}");
    let sa = story(&all, &a).context("story a listed")?;
    assert_eq!(sa["municipality"], "Delft");
    assert_eq!(
        sa["recorded_by"].as_str().map(|n| !n.is_empty()),
        Some(true)
    );
    assert!(
        sa["excerpt"]
            .as_str()
            .is_some_and(|e| e.starts_with("De moeders"))
    );

    // Keyset pages: two, then one, nothing twice, nothing left out.
    let (_, p1) = get_json(&server, &coord.token, "/workspace/stories?limit=2").await?;
    let next = p1["next"].as_str().context("a next page")?.to_string();
    let (_, p2) = get_json(
        &server,
        &coord.token,
        &format!("/workspace/stories?limit=2&after={next}"),
    )
    .await?;
    assert!(p2["next"].is_null(), "{p2}");
    let mut seen = titles(&p1);
    seen.extend(titles(&p2));
    seen.sort();
    let mut want = titles(&all);
    want.sort();
    assert_eq!(seen, want);
    let (bad, _) = get_json(&server, &coord.token, "/workspace/stories?after=zz").await?;
    assert_eq!(bad, 400);

    // Search: inflected and accent-folded words, marked in a snippet; counts of the filter.
    let (_, found) = get_json(
        &server,
        &coord.token,
        "/workspace/stories?q=moeder%20babycafe",
    )
    .await?;
    assert_eq!(found["total"], 1, "{found}");
    let hits: Vec<String> = found["stories"][0]["snippet"]
        .as_array()
        .context("a snippet")?
        .iter()
        .filter(|p| p["hit"] == true)
        .filter_map(|p| p["text"].as_str().map(str::to_lowercase))
        .collect();
    assert!(hits.iter().any(|h| h.contains("babycaf")), "{found}");
    let (_, none) = get_json(&server, &coord.token, "/workspace/stories?q=olifant").await?;
    assert_eq!(none["total"], 0, "{none}");
    let (_, unknown) = get_json(
        &server,
        &coord.token,
        "/workspace/stories?municipality=onbekend",
    )
    .await?;
    assert_eq!(unknown["total"], 2, "{unknown}");

    // An edit on the phone, and two devices editing one story at once: the index shows the
    // merged document.
    phone
        .edit(a.parse()?, |d| {
            client_core::story::set_title(d, "Op de markt in Delft", 1)
        })
        .await?;
    let tablet = device(&env, "tablet").await?;
    tablet.connect(&server.ws_url(), &prof.token).await?;
    tablet.want([b.parse()?]).await?;
    let bid = b.parse()?;
    tablet
        .wait_for("story b on the tablet", WAIT, move |d| async move {
            d.story(&bid).await.is_some()
        })
        .await?;
    let (from_phone, from_tablet) = tokio::join!(
        phone.edit(b.parse()?, |d| client_core::story::splice_body(
            d,
            0,
            0,
            "Telefoon. ",
            2
        )),
        tablet.edit(b.parse()?, |d| client_core::story::splice_body(
            d, 0, 0, "Tablet. ", 3
        )),
    );
    from_phone?;
    from_tablet?;
    all_confirmed(&phone).await?;
    all_confirmed(&tablet).await?;
    let merged = list_until(
        &server,
        &coord.token,
        "/workspace/stories",
        "both edits",
        |v| {
            story(v, &b).is_some_and(|s| {
                let e = s["excerpt"].as_str().unwrap_or_default();
                e.contains("Telefoon.") && e.contains("Tablet.")
            }) && story(v, &a).is_some_and(|s| s["title"] == "Op de markt in Delft")
        },
    )
    .await?;
    // What the index shows is what the document holds.
    let doc_b = phone.story(&b.parse()?).await.context("b on the phone")?;
    let listed_b = story(&merged, &b).context("b listed")?;
    assert_eq!(
        listed_b["excerpt"].as_str(),
        Some(doc_b.body.chars().take(160).collect::<String>().as_str())
    );

    // The desk's own decisions show at once (no waiting for the indexer).
    let (s, body) = post_json(
        &server,
        &coord.token,
        &format!("/workspace/stories/{c}/tags/centering"),
        json!({"state": "confirmed"}),
    )
    .await?;
    assert_eq!(s, 200, "{body}");
    let (_, v) = get_json(
        &server,
        &coord.token,
        "/workspace/stories?activity=centering&tag_state=confirmed",
    )
    .await?;
    assert_eq!(titles(&v), vec!["Op de bank".to_string()], "{v}");
    let (_, overview) = get_json(&server, &coord.token, "/workspace/overview").await?;
    let centering = overview["activities"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["code"] == "centering"))
        .context("centering in the overview")?;
    assert_eq!(centering["confirmed"], 1, "{overview}");
    let by_place: i64 = centering["stories"]
        .as_object()
        .context("per municipality")?
        .values()
        .filter_map(Value::as_i64)
        .sum();
    let tagged =
        centering["confirmed"].as_i64().unwrap_or(0) + centering["suggested"].as_i64().unwrap_or(0);
    assert_eq!(by_place, tagged, "municipality columns add up: {overview}");
    assert_eq!(
        centering["confirmed_by_municipality"][""], 1,
        "no municipality counts under \"\": {overview}"
    );

    // Erasure takes the story out of the index in the same transaction.
    let resp = reqwest::Client::new()
        .delete(server.url(&format!("/api/v1/stories/{c}")))
        .bearer_auth(&prof.token)
        .send()
        .await?;
    assert!(resp.status().is_success(), "{}", resp.status());
    let (_, after) = get_json(&server, &coord.token, "/workspace/stories").await?;
    assert_eq!(after["total"], 2, "{after}");
    assert!(story(&after, &c).is_none());
    let (_, gone) = get_json(&server, &coord.token, "/workspace/stories?q=bank%20park").await?;
    assert_eq!(gone["total"], 0, "{gone}");

    // kill -9 right after an acknowledged edit: the restarted server's indexer catches up.
    phone
        .edit(a.parse()?, |d| {
            client_core::story::set_title(d, "Na de crash", 4)
        })
        .await?;
    all_confirmed(&phone).await?;
    phone.disconnect().await;
    tablet.disconnect().await;
    server.kill9();
    let server = env.start().await?;
    let coord = server.login_as("coordinator", "delft").await?;
    list_until(
        &server,
        &coord.token,
        "/workspace/stories",
        "the edit before the crash",
        |v| story(v, &a).is_some_and(|s| s["title"] == "Na de crash") && v["total"] == 2,
    )
    .await?;
    server.terminate()?;

    // A rebuild reads every live story again, and the desk answers as before.
    let out = env.cli(&["reindex"], None)?;
    assert_eq!(out.trim(), "2 stories indexed", "{out}");
    let server = env.start().await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let (_, v) = get_json(&server, &coord.token, "/workspace/stories?q=zwangeren").await?;
    assert_eq!(
        titles(&v),
        vec!["Bij het consultatiebureau".to_string()],
        "{v}"
    );

    // The streamed CSV follows the same index: a search narrows it, the whole list has both.
    let csv = |q: &'static str| {
        let server = &server;
        let token = coord.token.clone();
        async move {
            reqwest::Client::new()
                .get(server.url(&format!("/api/v1/workspace/export/stories.csv{q}")))
                .bearer_auth(token)
                .send()
                .await?
                .text()
                .await
        }
    };
    let found = csv("?q=zwangeren").await?;
    assert!(found.contains(&b) && !found.contains(&a), "{found}");
    let all = csv("").await?;
    assert!(all.contains(&b) && all.contains(&a), "{all}");
    Ok(())
}
both!(the_index_follows_the_documents);

/// Two server processes on one PostgreSQL keep one index: a story stored through one is listed by
/// the other, and an edit through the other shows on the first.
///
/// PostgreSQL only: several server processes share one database only on PostgreSQL (with SQLite
/// one process serves the database; ARCHITECTURE.md, "Several processes need PostgreSQL").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_keep_one_index() -> anyhow::Result<()> {
    let env = Env::new(Backend::Postgres).await?;
    env.workspace("delft")?;
    let one = Server::start(&env, &[]).await?;
    let two = Server::start(&env, &[]).await?;
    let prof = one.login_as("professional", "delft").await?;
    let coord_two = two.login_as("coordinator", "delft").await?;
    let coord_one = one.login_as("coordinator", "delft").await?;

    let phone = device(&env, "phone").await?;
    phone.connect(&one.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story("Twee servers", "Eén database, één index."))
        .await?;
    all_confirmed(&phone).await?;
    let sid = id.to_string();
    list_until(
        &two,
        &coord_two.token,
        "/workspace/stories",
        "a story stored through the other process",
        |v| story(v, &sid).is_some(),
    )
    .await?;

    let tablet = device(&env, "tablet").await?;
    tablet.connect(&two.ws_url(), &prof.token).await?;
    tablet.want([id]).await?;
    tablet
        .wait_for("the story on the tablet", WAIT, |d| async move {
            d.story(&id).await.is_some()
        })
        .await?;
    tablet
        .edit(id, |d| {
            client_core::story::set_title(d, "Via de andere server", 5)
        })
        .await?;
    all_confirmed(&tablet).await?;
    list_until(
        &one,
        &coord_one.token,
        "/workspace/stories?q=andere%20server",
        "an edit through the other process",
        |v| v["total"] == 1 && story(v, &sid).is_some_and(|s| s["title"] == "Via de andere server"),
    )
    .await?;
    Ok(())
}
