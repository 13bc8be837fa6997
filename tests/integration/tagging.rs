//! The tagger on real servers: suggestions reach devices, people's decisions survive re-tagging
//! and concurrent edits, a workspace's own activity is suggested, personas list their stories, the
//! demo seed, and the held-out evaluation.

use crate::{WAIT, all_confirmed, parent_story};
use anyhow::Context;
use client_core::DocumentId;
use client_core::story::{self, Persona, Story, Tag, TagState};
use serde_json::{Value, json};
use std::time::Duration;
use vertel_tests::{Backend, Device, Env, Server, device};

const TAGGER: &str = "vertel-tagger";

fn tag_of<'a>(s: &'a Story, code: &str) -> Option<&'a Tag> {
    s.tags.iter().find(|t| t.code == code)
}

fn has(s: &Story, code: &str, state: TagState, by: &str) -> bool {
    tag_of(s, code).is_some_and(|t| t.state == state && t.by == by)
}

fn person_tag(code: &str, state: TagState, by: &str, at: i64) -> Tag {
    Tag {
        code: code.into(),
        state,
        by: by.into(),
        at,
        score: None,
        evidence: vec![],
    }
}

async fn wait_story(
    d: &Device,
    id: DocumentId,
    what: &str,
    check: impl Fn(&Story) -> bool + Send + Sync + Clone + 'static,
) -> anyhow::Result<()> {
    d.wait_for(what, WAIT, move |d| {
        let check = check.clone();
        async move { d.story(&id).await.is_some_and(|s| check(&s)) }
    })
    .await
    .with_context(|| format!("waiting for {what}"))?;
    Ok(())
}

async fn get(server: &Server, token: &str, path: &str) -> anyhow::Result<(u16, Value)> {
    let resp = reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

async fn send(
    server: &Server,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = reqwest::Client::new()
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

/// Poll a REST call until `check` holds (the index follows documents by the tagger's debounce).
async fn poll(
    server: &Server,
    token: &str,
    path: &str,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, v) = get(server, token, path).await?;
        if status == 200 && check(&v) {
            return Ok(v);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "GET {path} never satisfied the check; last answer {status}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A device pushes a story; the tagger's suggestions arrive on the device, with score and evidence.
async fn suggestions_arrive_on_the_device(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story(
            "Huisbezoek",
            "Ze zit sinds week 16 in VoorZorg. Haar vriend rookt in huis, wel twintig sigaretten per dag.",
        ))
        .await?;
    all_confirmed(&phone).await?;
    wait_story(&phone, id, "suggestions on the phone", |s| {
        has(s, "voorzorg", TagState::Suggested, TAGGER)
            && has(s, "rookvrije-start", TagState::Suggested, TAGGER)
    })
    .await?;
    let s = phone.story(&id).await.context("story")?;
    let v = tag_of(&s, "voorzorg").context("voorzorg")?;
    assert_eq!(v.score, Some(1.0));
    assert_eq!(v.evidence, ["VoorZorg"]);
    let r = tag_of(&s, "rookvrije-start").context("rookvrije-start")?;
    assert_eq!(r.evidence, ["rookt", "sigaretten"]);
    assert!(
        s.tags
            .iter()
            .all(|t| t.by == TAGGER && t.state == TagState::Suggested),
        "only suggestions so far: {:?}",
        s.tags
    );
    Ok(())
}
both!(suggestions_arrive_on_the_device);

/// A person's confirm and reject survive re-tagging after text edits, are never re-suggested, and
/// win over a suggestion the tagger wrote concurrently.
async fn decisions_survive_retagging_and_concurrent_edits(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("westland")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "westland").await?;
    let coord = server.login_as("coordinator", "westland").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story(
            "Kraamweek",
            "Moeder doet mee aan VoorZorg. Vader rookt nog tien sigaretten per dag.",
        ))
        .await?;
    all_confirmed(&phone).await?;
    wait_story(&phone, id, "first suggestions", |s| {
        has(s, "voorzorg", TagState::Suggested, TAGGER)
            && has(s, "rookvrije-start", TagState::Suggested, TAGGER)
    })
    .await?;
    let me = format!("m-{}", prof.member_id);
    // The person confirms one and rejects the other.
    phone
        .edit(id, |d| {
            story::set_tag(d, &person_tag("voorzorg", TagState::Confirmed, &me, 100))?;
            story::set_tag(
                d,
                &person_tag("rookvrije-start", TagState::Rejected, &me, 100),
            )
        })
        .await?;
    // The text changes: more evidence for both, and a new activity.
    phone
        .edit(id, |d| {
            story::update_body(
                d,
                "Moeder doet mee aan VoorZorg. Vader rookt nog tien sigaretten per dag en wil \
                 stoppen met roken. Hij gaat naar de vadergroep in Monster.",
                101,
            )
        })
        .await?;
    all_confirmed(&phone).await?;
    wait_story(&phone, id, "re-tagged", |s| {
        has(s, "vadergroep", TagState::Suggested, TAGGER)
    })
    .await?;
    let s = phone.story(&id).await.context("story")?;
    assert!(
        has(&s, "voorzorg", TagState::Confirmed, &me),
        "{:?}",
        s.tags
    );
    assert!(
        has(&s, "rookvrije-start", TagState::Rejected, &me),
        "{:?}",
        s.tags
    );

    // Concurrently: the coordinator's laptop adds text that makes the tagger suggest
    // "ouderinitiatief", while the phone, offline, rejects that code.
    let laptop = device(&env, "laptop").await?;
    laptop.connect(&server.ws_url(), &coord.token).await?;
    laptop.want([id]).await?;
    wait_story(&laptop, id, "story on the laptop", |s| !s.body.is_empty()).await?;
    phone.disconnect().await;
    phone
        .edit(id, |d| {
            story::set_tag(
                d,
                &person_tag("ouderinitiatief", TagState::Rejected, &me, 200),
            )
        })
        .await?;
    laptop
        .edit(id, |d| {
            story::splice_body(d, 0, 0, "Moeder gaat elke week naar het babycafé. ", 201)
        })
        .await?;
    all_confirmed(&laptop).await?;
    wait_story(&laptop, id, "the tagger's concurrent suggestion", |s| {
        has(s, "ouderinitiatief", TagState::Suggested, TAGGER)
    })
    .await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    all_confirmed(&phone).await?;
    for (name, d) in [("phone", &phone), ("laptop", &laptop)] {
        let me = me.clone();
        wait_story(
            d,
            id,
            &format!("the person's reject on the {name}"),
            move |s| {
                has(s, "ouderinitiatief", TagState::Rejected, &me)
                    && s.body
                        .starts_with("Moeder gaat elke week naar het babycafé.")
            },
        )
        .await?;
    }
    // Another edit, another round of tagging: still rejected, still confirmed, nothing re-suggested.
    laptop
        .edit(id, |d| {
            let len = Story::read(d).body.chars().count();
            story::splice_body(
                d,
                len,
                0,
                " Het babycafé is door moeders zelf opgezet.",
                300,
            )
        })
        .await?;
    all_confirmed(&laptop).await?;
    // Give the tagger's debounce (2 s) time to pass and the re-tagging to arrive.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for d in [&phone, &laptop] {
        let s = d.story(&id).await.context("story")?;
        assert!(
            has(&s, "ouderinitiatief", TagState::Rejected, &me),
            "{:?}",
            s.tags
        );
        assert!(
            has(&s, "voorzorg", TagState::Confirmed, &me),
            "{:?}",
            s.tags
        );
        assert!(
            has(&s, "rookvrije-start", TagState::Rejected, &me),
            "{:?}",
            s.tags
        );
        assert!(
            has(&s, "vadergroep", TagState::Suggested, TAGGER),
            "{:?}",
            s.tags
        );
    }
    assert_eq!(phone.heads(&id).await, laptop.heads(&id).await, "converged");
    Ok(())
}
both!(decisions_survive_retagging_and_concurrent_edits);

/// A coordinator adds a coalition-specific activity; the tagger suggests it in that workspace only.
/// Retired, it is no longer suggested but stays valid on old stories.
async fn workspace_activity_gets_suggested(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("pn")?;
    env.workspace("elders")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "pn").await?;
    let coord = server.login_as("coordinator", "pn").await?;
    let other = server.login_as("coordinator", "elders").await?;
    let new_activity = json!({
        "code": "kraamcafe-pn",
        "name": "Kraamcafé Pijnacker-Nootdorp",
        "gloss": "Maternity café",
        "synonyms": ["kraamcafé", "kraam cafe"],
        "keywords": ["kraamkoffie"],
        "phases": ["na-geboorte"]
    });
    let (status, _) = send(
        &server,
        &prof.token,
        reqwest::Method::POST,
        "/api/v1/activities",
        Some(new_activity.clone()),
    )
    .await?;
    assert_eq!(status, 403, "a professional cannot add activities");
    let (status, entry) = send(
        &server,
        &coord.token,
        reqwest::Method::POST,
        "/api/v1/activities",
        Some(new_activity.clone()),
    )
    .await?;
    assert_eq!(status, 201, "{entry}");
    assert_eq!(entry["origin"], "workspace");
    let (status, _) = send(
        &server,
        &coord.token,
        reqwest::Method::POST,
        "/api/v1/activities",
        Some(new_activity),
    )
    .await?;
    assert_eq!(status, 409);
    let (status, _) = send(
        &server,
        &coord.token,
        reqwest::Method::POST,
        "/api/v1/activities",
        Some(json!({"code": "Bad Code", "name": "x"})),
    )
    .await?;
    assert_eq!(status, 400);

    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let id = phone
        .create_story(&parent_story(
            "Nootdorp",
            "Na de bevalling kwam ze voor het eerst naar het kraamcafé in het buurthuis.",
        ))
        .await?;
    all_confirmed(&phone).await?;
    wait_story(&phone, id, "the workspace activity suggested", |s| {
        has(s, "kraamcafe-pn", TagState::Suggested, TAGGER)
    })
    .await?;
    let s = phone.story(&id).await.context("story")?;
    assert_eq!(
        tag_of(&s, "kraamcafe-pn").context("tag")?.evidence,
        ["kraamcafé"]
    );
    let me = format!("m-{}", prof.member_id);
    phone
        .edit(id, |d| {
            story::set_tag(d, &person_tag("kraamcafe-pn", TagState::Confirmed, &me, 50))
        })
        .await?;
    all_confirmed(&phone).await?;

    // Another workspace knows nothing of it.
    let (_, acts) = get(&server, &other.token, "/api/v1/activities").await?;
    let codes: Vec<&str> = acts["activities"]
        .as_array()
        .context("activities")?
        .iter()
        .filter_map(|a| a["code"].as_str())
        .collect();
    assert!(codes.contains(&"voorzorg") && !codes.contains(&"kraamcafe-pn"));

    // Rename, then retire: no longer suggested, still listed (retired) for old stories.
    let (status, renamed) = send(
        &server,
        &coord.token,
        reqwest::Method::PATCH,
        "/api/v1/activities/kraamcafe-pn",
        Some(json!({"name": "Kraamcafé PN"})),
    )
    .await?;
    assert_eq!(
        (status, renamed["name"].as_str()),
        (200, Some("Kraamcafé PN"))
    );
    let (status, retired) = send(
        &server,
        &coord.token,
        reqwest::Method::DELETE,
        "/api/v1/activities/kraamcafe-pn",
        None,
    )
    .await?;
    assert_eq!((status, retired["retired"].as_bool()), (200, Some(true)));
    let id2 = phone
        .create_story(&parent_story(
            "Later",
            "Ze gaat nog steeds naar het kraamcafé.",
        ))
        .await?;
    let id3 = phone
        .create_story(&parent_story(
            "Marker",
            "Ze doet mee aan VoorZorg en het kraamcafé.",
        ))
        .await?;
    all_confirmed(&phone).await?;
    wait_story(&phone, id3, "tagging after the retirement", |s| {
        has(s, "voorzorg", TagState::Suggested, TAGGER)
    })
    .await?;
    let later = phone.story(&id2).await.context("story")?;
    let marker = phone.story(&id3).await.context("story")?;
    assert!(tag_of(&later, "kraamcafe-pn").is_none(), "{:?}", later.tags);
    assert!(
        tag_of(&marker, "kraamcafe-pn").is_none(),
        "{:?}",
        marker.tags
    );
    let old = phone.story(&id).await.context("story")?;
    assert!(has(&old, "kraamcafe-pn", TagState::Confirmed, &me));
    let (_, tax) = get(&server, &prof.token, "/api/v1/taxonomy").await?;
    let entry = tax["activities"]
        .as_array()
        .context("activities")?
        .iter()
        .find(|a| a["code"] == "kraamcafe-pn")
        .context("a retired code stays in the taxonomy")?;
    assert_eq!(entry["retired"], true);
    assert_eq!(entry["name"], "Kraamcafé PN");
    Ok(())
}
both!(workspace_activity_gets_suggested);

/// Persona documents sync like stories; the REST API lists the stories linked to one, as far as the
/// caller may see them.
async fn personas_sync_and_list_their_stories(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let sleutel = server.login_as("sleutelpersoon", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let desk = device(&env, "desk").await?;
    desk.connect(&server.ws_url(), &coord.token).await?;
    let persona = Persona {
        name: "Noor".into(),
        age_band: Some("18-25".into()),
        situation: "Jonge moeder, net verhuisd naar Delft.".into(),
        needs: "Andere moeders leren kennen.".into(),
    };
    let pid = desk.create_persona(&persona, 1_763_900_000_000).await?;
    all_confirmed(&desk).await?;
    // Shared with the professional, whose device then syncs it like a story.
    let (status, _) = send(
        &server,
        &coord.token,
        reqwest::Method::POST,
        &format!("/api/v1/stories/{pid}/shares"),
        Some(json!({ "member_id": prof.member_id })),
    )
    .await?;
    assert_eq!(status, 200);
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    phone.want([pid]).await?;
    phone
        .wait_for("the persona on the phone", WAIT, |d| async move {
            d.persona(&pid).await.is_some_and(|p| p.name == "Noor")
        })
        .await?;
    let mut linked = parent_story("Noor in de speeltuin", "Ze kent nog niemand in de wijk.");
    linked.persona = Some(pid.to_string());
    let a = phone.create_story(&linked).await?;
    linked.title = "Noor bij het consultatiebureau".into();
    let b = phone.create_story(&linked).await?;
    let _unlinked = phone
        .create_story(&parent_story("Iemand anders", "Geen persona."))
        .await?;
    all_confirmed(&phone).await?;
    // A story of the sleutelpersoon, linked too: the coordinator sees it, the professional not.
    let other = device(&env, "other").await?;
    other.connect(&server.ws_url(), &sleutel.token).await?;
    linked.title = "Noor in de moskee".into();
    let c = other.create_story(&linked).await?;
    all_confirmed(&other).await?;

    let path = format!("/api/v1/personas/{pid}/stories");
    let ids = |v: &Value| -> Vec<String> {
        v["stories"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let v = poll(&server, &coord.token, &path, |v| ids(v).len() == 3).await?;
    assert_eq!(v["persona"]["name"], "Noor");
    let mut got = ids(&v);
    got.sort();
    let mut want = vec![a.to_string(), b.to_string(), c.to_string()];
    want.sort();
    assert_eq!(got, want);
    let v = poll(&server, &prof.token, &path, |v| ids(v).len() == 2).await?;
    assert!(!ids(&v).contains(&c.to_string()));
    // The sleutelpersoon may not see the persona itself.
    let (status, _) = get(&server, &sleutel.token, &path).await?;
    assert_eq!(status, 404);
    let (_, list) = get(&server, &prof.token, "/api/v1/personas").await?;
    assert_eq!(list["personas"][0]["id"], pid.to_string());
    // Unlinking on the device takes the story off the list.
    phone
        .edit(a, |d| story::set_field(d, "persona", "", 400))
        .await?;
    all_confirmed(&phone).await?;
    poll(&server, &prof.token, &path, |v| ids(v) == [b.to_string()]).await?;
    Ok(())
}
both!(personas_sync_and_list_their_stories);

/// `seed --demo` twice: the demo workspace with its municipalities, personas with linked stories,
/// at least 60 stories (tagged), and figures per activity, municipality and quarter.
async fn demo_seed_is_complete_and_idempotent(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.cli(&["seed", "--demo"], None)?;
    env.cli(&["seed", "--demo"], None)?;
    let server = env.start().await?;
    let coord = server
        .login("coordinator@dwo.example", "vertel-demo-2026")
        .await?;
    let feed = server.feed(&coord.token).await?;
    let stories = feed.iter().filter(|c| c["type"] == "story").count();
    let personas: Vec<&Value> = feed.iter().filter(|c| c["type"] == "persona").collect();
    assert!(stories >= 60, "{stories} stories");
    assert!(personas.len() >= 3);
    let (_, tax) = get(&server, &coord.token, "/api/v1/taxonomy").await?;
    assert_eq!(
        tax["municipalities"],
        json!(["Delft", "Midden-Delfland", "Pijnacker-Nootdorp", "Westland"])
    );
    for p in &personas {
        let id = p["id"].as_str().context("id")?;
        let (status, v) = get(
            &server,
            &coord.token,
            &format!("/api/v1/personas/{id}/stories"),
        )
        .await?;
        assert_eq!(status, 200);
        assert!(
            v["stories"].as_array().map_or(0, Vec::len) >= 2,
            "persona {id}: {v}"
        );
    }
    let (_, figs) = get(&server, &coord.token, "/api/v1/figures").await?;
    assert_eq!(figs["figures"].as_array().map_or(0, Vec::len), 16 * 4 * 8);
    let (_, one) = get(
        &server,
        &coord.token,
        "/api/v1/figures?activity=voorzorg&municipality=Delft&quarter=2025-Q2",
    )
    .await?;
    assert_eq!(one["figures"].as_array().map_or(0, Vec::len), 1);
    // Every demo member can log in; the stories are tagged already.
    for email in [
        "professional",
        "sleutelpersoon",
        "admin",
        "jgz",
        "kraamzorg",
    ] {
        server
            .login(&format!("{email}@dwo.example"), "vertel-demo-2026")
            .await?;
    }
    let desk = device(&env, "desk").await?;
    desk.connect(&server.ws_url(), &coord.token).await?;
    let mut wanted: Vec<(DocumentId, Vec<String>)> = Vec::new();
    for c in feed.iter().filter(|c| c["type"] == "story") {
        let id = c["id"].as_str().context("id")?.parse()?;
        wanted.push((id, serde_json::from_value(c["heads"].clone())?));
    }
    let ids: Vec<DocumentId> = wanted.iter().map(|(id, _)| *id).collect();
    desk.want(ids.clone()).await?;
    // Every story, complete up to the heads the feed named, before counting tags.
    let wanted = std::sync::Arc::new(wanted);
    desk.wait_for("every demo story on a device", WAIT, |d| {
        let wanted = wanted.clone();
        async move {
            for (id, heads) in wanted.iter() {
                if !d.contains_heads(id, heads).await {
                    return false;
                }
            }
            true
        }
    })
    .await?;
    let mut tagged = 0;
    let mut decided = 0;
    for id in &ids {
        let s = desk.story(id).await.context("story")?;
        tagged += usize::from(s.tags.iter().any(|t| t.by == TAGGER));
        decided += usize::from(s.tags.iter().any(|t| t.state != TagState::Suggested));
    }
    assert!(tagged >= 50, "{tagged} demo stories carry suggestions");
    assert!(
        decided >= 5,
        "{decided} demo stories carry a person's decision"
    );
    Ok(())
}
both!(demo_seed_is_complete_and_idempotent);

/// A workspace's model learns from its own people's decisions only: after a coordinator confirms
/// an activity on stories that share a word no default vocabulary knows, the workspace's model is
/// refitted in the background and suggests the activity, with that word as evidence, for its
/// story nobody judged; the same text in another workspace gets neither the suggestion nor the
/// word as evidence.
async fn a_workspaces_model_learns_only_from_its_own_decisions(
    backend: Backend,
) -> anyhow::Result<()> {
    // Fitting a model takes tens of seconds in a debug build (minutes on a loaded machine).
    const REFIT_WAIT: Duration = Duration::from_secs(480);
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    env.workspace("westland")?;
    // Decisions within 3 s are learned in one refit.
    let server = Server::start(&env, &["--tag-retrain-ms", "3000"]).await?;
    let here = server.login_as("coordinator", "delft").await?;
    let there = server.login_as("coordinator", "westland").await?;
    let desk = device(&env, "desk-delft").await?;
    desk.connect(&server.ws_url(), &here.token).await?;
    let other = device(&env, "desk-westland").await?;
    other.connect(&server.ws_url(), &there.token).await?;
    let me = format!("m-{}", here.member_id);
    let judged_texts = [
        "Vanmorgen zat ze weer bij de Kraamkring in de Hoeksteen.",
        "De Kraamkring had deze week tien bezoekers en veel koffie.",
        "Haar buurvrouw nam haar mee naar de Kraamkring op dinsdag.",
        "Bij de Kraamkring lagen de baby's op een grote mat te spelen.",
        "Ze vertelde dat de Kraamkring haar uit haar isolement haalt.",
        "Na de Kraamkring wandelden ze samen met de kinderwagens terug.",
    ];
    let mut judged = Vec::new();
    for text in judged_texts {
        let id = desk.create_story(&parent_story("Kraamkring", text)).await?;
        desk.edit(id, |d| {
            story::set_tag(
                d,
                &person_tag("ouderinitiatief", TagState::Confirmed, &me, 100),
            )
        })
        .await?;
        judged.push(id);
    }
    // The same new story in both workspaces; its title's phase (a name the rules know) shows that
    // each was tagged.
    let text = "Voor het eerst naar de Kraamkring geweest met de tweeling.";
    let new_here = desk
        .create_story(&parent_story("Na de geboorte", text))
        .await?;
    let new_there = other
        .create_story(&parent_story("Na de geboorte", text))
        .await?;
    all_confirmed(&desk).await?;
    all_confirmed(&other).await?;
    desk.wait_for(
        "the refitted model's suggestion",
        REFIT_WAIT,
        move |d| async move {
            d.story(&new_here).await.is_some_and(|s| {
                tag_of(&s, "ouderinitiatief").is_some_and(|t| {
                    t.by == TAGGER
                        && t.state == TagState::Suggested
                        && t.evidence.iter().any(|e| e.contains("Kraamkring"))
                })
            })
        },
    )
    .await
    .context("the workspace's model never suggested its activity")?;
    wait_story(
        &other,
        new_there,
        "the other workspace's suggestions",
        |s| has(s, "phase:na-geboorte", TagState::Suggested, TAGGER),
    )
    .await?;
    let s = other.story(&new_there).await.context("story")?;
    assert!(tag_of(&s, "ouderinitiatief").is_none(), "{:?}", s.tags);
    for t in &s.tags {
        assert!(
            t.evidence
                .iter()
                .all(|e| !e.to_lowercase().contains("kraamkring")),
            "evidence from another workspace's model: {t:?}"
        );
    }
    // The people's decisions stand.
    for id in judged {
        let s = desk.story(&id).await.context("judged story")?;
        assert!(
            has(&s, "ouderinitiatief", TagState::Confirmed, &me),
            "{:?}",
            s.tags
        );
    }
    Ok(())
}
both!(a_workspaces_model_learns_only_from_its_own_decisions);

fn fixture(path: &str) -> String {
    format!("{}/../fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// `vertel-server tag` reads a story on standard input and prints codes, scores and evidence.
///
/// No backend: `vertel-server tag` without `--workspace` reads standard input and opens no
/// database.
#[tokio::test]
async fn the_tag_command_explains_its_suggestions() -> anyhow::Result<()> {
    let env = Env::new(Backend::Sqlite).await?;
    let out = env.cli(
        &["tag", "--json"],
        Some("Leo sluit zich aan bij een aanstaande-vadergroep en heeft een stoppen-met-roken-coach."),
    )?;
    let v: Value = serde_json::from_str(&out)?;
    let s = v["suggestions"].as_array().context("suggestions")?;
    let find = |code: &str| s.iter().find(|x| x["code"] == code).cloned();
    let rook = find("rookvrije-start").context("rookvrije-start")?;
    assert_eq!(rook["score"], 1.0);
    assert_eq!(rook["evidence"][0]["text"], "stoppen-met-roken-coach");
    assert_eq!(rook["evidence"][0]["term"], "stoppen met roken");
    let vader = find("vadergroep").context("vadergroep")?;
    assert_eq!(vader["evidence"][0]["text"], "aanstaande-vadergroep");
    let text = env.cli(&["tag"], Some("Uit voorzorg bleef ze thuis."))?;
    assert!(!text.contains("voorzorg "), "{text}");
    Ok(())
}

/// The evaluation on the held-out set runs in the suite; its micro-F1 is printed and must reach
/// 0.85, with precision 0.85 and recall 0.80.
///
/// No backend: `vertel-server tag --evaluate` without `--workspace` reads the fixtures and opens no
/// database.
#[tokio::test]
async fn heldout_evaluation_reaches_the_target() -> anyhow::Result<()> {
    let env = Env::new(Backend::Sqlite).await?;
    let heldout = fixture("eval/heldout.toml");
    // --folds 0: no cross-validation and no learning curve (minutes of fitting in a debug build).
    let text = env.cli(&["tag", "--evaluate", &heldout, "--folds", "0"], None)?;
    println!("{text}");
    let out = env.cli(
        &["tag", "--evaluate", &heldout, "--folds", "0", "--json"],
        None,
    )?;
    let v: Value = serde_json::from_str(&out)?;
    let v = &v["heldout"];
    let f1 = v["micro"]["f1"].as_f64().context("micro f1")?;
    println!(
        "held-out micro-F1 {f1:.3} (precision {}, recall {}) on {} stories",
        v["micro"]["precision"], v["micro"]["recall"], v["stories"]
    );
    assert!(v["stories"].as_u64().unwrap_or(0) >= 30);
    // Issue 14's targets for the cold start on held-out stories.
    let precision = v["micro"]["precision"].as_f64().context("precision")?;
    let recall = v["micro"]["recall"].as_f64().context("recall")?;
    assert!(f1 >= 0.85, "held-out micro-F1 {f1} is below 0.85");
    assert!(
        precision >= 0.85,
        "held-out precision {precision} is below 0.85"
    );
    assert!(recall >= 0.80, "held-out recall {recall} is below 0.80");
    // --min-f1 makes the command itself fail below a bar.
    assert!(
        env.cli(
            &[
                "tag",
                "--evaluate",
                &heldout,
                "--folds",
                "0",
                "--min-f1",
                "0.99"
            ],
            None
        )
        .is_err()
    );
    Ok(())
}
