//! The coordinators' workspace REST API on real servers: CSV import (every bad row with its line,
//! nothing imported), access rules (coordinators only, 404 for other workspaces' stories, the
//! audit log for admins), review with a comment that reaches the recorder's device, and consent in
//! reports and exports.

use crate::{WAIT, all_confirmed, parent_story};
use anyhow::Context;
use client_core::story::{ConsentScope, ReviewState, Story, TagState};
use serde_json::{Value, json};
use vertel_tests::{Backend, Env, Server, device};

pub(crate) async fn call(
    server: &Server,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    csv: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let mut req = reqwest::Client::new()
        .request(method, server.url(&format!("/api/v1{path}")))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(c) = csv {
        req = req.header("content-type", "text/csv").body(c.to_string());
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await?))
}

pub(crate) async fn post_json(
    server: &Server,
    token: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<(u16, String)> {
    call(server, token, reqwest::Method::POST, path, Some(body), None).await
}

pub(crate) async fn get_json(
    server: &Server,
    token: &str,
    path: &str,
) -> anyhow::Result<(u16, Value)> {
    let (s, t) = call(server, token, reqwest::Method::GET, path, None, None).await?;
    Ok((s, serde_json::from_str(&t).unwrap_or(Value::Null)))
}

async fn import_figures_all_or_nothing(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let prof = server.login_as("professional", "delft").await?;
    let bad = "activiteit,gemeente,periode,indicator,waarde,eenheid\n\
               centering,Delft,2025-Q3,deelnemers,31,aantal\n\
               bestaat-niet,Delft,2025-Q3,deelnemers,4,aantal\n\
               \"centering\",\"Delft\nCentrum\",2025-Q3,deelnemers,5,aantal\n\
               centering,Delft,2025-Q9,aandeel,120,procent\n";
    let post = reqwest::Method::POST;
    let (status, body) = call(
        &server,
        &coord.token,
        post.clone(),
        "/workspace/figures/import",
        None,
        Some(bad),
    )
    .await?;
    assert_eq!(status, 422, "{body}");
    let v: Value = serde_json::from_str(&body)?;
    let lines: Vec<i64> = v["errors"]
        .as_array()
        .context("errors")?
        .iter()
        .filter_map(|e| e["line"].as_i64())
        .collect();
    // Line 4's quoted field holds a line break: the next record starts on line 6.
    assert_eq!(lines, vec![3, 6], "{v}");
    let msgs = v["errors"].to_string();
    // In the screen's language: Dutch unless asked otherwise.
    assert!(
        msgs.contains("onbekende activiteit \\\"bestaat-niet\\\"")
            && msgs.contains("2025-Q9")
            && msgs.contains("tussen 0 en 100"),
        "{msgs}"
    );
    let (_, english) = call(
        &server,
        &coord.token,
        post.clone(),
        "/workspace/figures/import?lang=en",
        None,
        Some(bad),
    )
    .await?;
    assert!(english.contains("0 to 100"), "{english}");
    let (_, figs) = get_json(&server, &coord.token, "/workspace/figures").await?;
    assert_eq!(
        figs["figures"].as_array().map(Vec::len),
        Some(0),
        "nothing imported"
    );

    let good = "activity;municipality;quarter;metric;value;unit\n\
                centering;Delft;2025-Q3;deelnemers;31;count\n\
                centering;Delft;2025-Q3;in-zorg-voor-week-10;63,5;percent\n";
    let (status, body) = call(
        &server,
        &coord.token,
        post.clone(),
        "/workspace/figures/import",
        None,
        Some(good),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    let (_, figs) = get_json(
        &server,
        &coord.token,
        "/workspace/figures?activity=centering",
    )
    .await?;
    let share = figs["figures"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["metric"] == "in-zorg-voor-week-10"))
        .context("share")?;
    assert_eq!(share["value"], json!(63.5));
    assert_eq!(share["unit"], "percent");
    // The figures API that devices read gives the same share, not the stored hundredths.
    let (_, api) = get_json(
        &server,
        &coord.token,
        "/figures?activity=centering&municipality=Delft&quarter=2025-Q3",
    )
    .await?;
    let shares: Vec<&Value> = api["figures"]
        .as_array()
        .context("figures")?
        .iter()
        .filter(|f| f["metric"] == "in-zorg-voor-week-10")
        .collect();
    assert_eq!(shares, [share], "{api}");
    // A correction by hand.
    let (status, body) = call(
        &server,
        &coord.token,
        reqwest::Method::PUT,
        "/workspace/figures",
        Some(
            json!({"activity_code": "centering", "municipality": "Delft", "quarter": "2025-Q3",
                    "metric": "deelnemers", "unit": "count", "value": 33.0, "source": null}),
        ),
        None,
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    let (_, csv) = call(
        &server,
        &coord.token,
        reqwest::Method::GET,
        "/workspace/export/figures.csv",
        None,
        None,
    )
    .await?;
    assert!(
        csv.contains("centering,Delft,2025-Q3,deelnemers,33,count"),
        "{csv}"
    );
    assert!(csv.contains("63.5,percent"), "{csv}");
    // Only coordinators import.
    let (status, _) = call(
        &server,
        &prof.token,
        post,
        "/workspace/figures/import",
        None,
        Some(good),
    )
    .await?;
    assert_eq!(status, 403);
    Ok(())
}
both!(import_figures_all_or_nothing);

async fn review_consent_and_access(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    env.workspace("elders")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let admin = server.login_as("admin", "delft").await?;
    let other = server.login_as("coordinator", "elders").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let mut quotable = parent_story("Citeerbaar", "Ze zei: de groep gaf me moed.");
    if let Some(c) = quotable.consent.as_mut() {
        c.scope = Some(ConsentScope::MayBeQuoted);
    }
    let quoted = phone.create_story(&quotable).await?;
    let anonymous = phone
        .create_story(&parent_story("Anoniem", "Ze zei: dit mag niemand citeren."))
        .await?;
    let mut internal = parent_story("Intern", "Alleen voor ons: interne notitie.");
    if let Some(c) = internal.consent.as_mut() {
        c.scope = Some(ConsentScope::InternalOnly);
    }
    let internal = phone.create_story(&internal).await?;
    all_confirmed(&phone).await?;

    // Access: another workspace's coordinator gets 404, a professional 403, an admin 403.
    let path = format!("/workspace/stories/{quoted}");
    assert_eq!(get_json(&server, &other.token, &path).await?.0, 404);
    assert_eq!(get_json(&server, &prof.token, &path).await?.0, 403);
    assert_eq!(
        get_json(&server, &prof.token, "/workspace/stories")
            .await?
            .0,
        403
    );
    assert_eq!(
        get_json(
            &server,
            &coord.token,
            "/workspace/stories/2J8NbrsrbAt2P6kSbxJtK3rjDzKu"
        )
        .await?
        .0,
        404
    );
    let (_, list) = get_json(&server, &other.token, "/workspace/stories").await?;
    assert_eq!(list["stories"].as_array().map(Vec::len), Some(0));

    // Confirm tags as the coordinator (the tagger's suggestions are not needed for this).
    for id in [quoted, anonymous, internal] {
        let (s, b) = post_json(
            &server,
            &coord.token,
            &format!("/workspace/stories/{id}/tags/centering"),
            json!({"state": "confirmed"}),
        )
        .await?;
        assert_eq!(s, 200, "{b}");
        let (s, b) = post_json(
            &server,
            &coord.token,
            &format!("/workspace/stories/{id}/review"),
            json!({"state": "approved"}),
        )
        .await?;
        assert_eq!(s, 200, "{b}");
    }
    // Sending back needs a comment; the comment reaches the recorder's device.
    let (s, _) = post_json(
        &server,
        &coord.token,
        &format!("/workspace/stories/{anonymous}/review"),
        json!({"state": "returned"}),
    )
    .await?;
    assert_eq!(s, 400);
    let (s, b) = post_json(
        &server,
        &coord.token,
        &format!("/workspace/stories/{anonymous}/review"),
        json!({"state": "returned", "comment": "Graag de plek nog aanvullen."}),
    )
    .await?;
    assert_eq!(s, 200, "{b}");
    phone
        .wait_for(
            "the returned story with its comment on the phone",
            WAIT,
            move |d| async move {
                d.story(&anonymous).await.is_some_and(|s: Story| {
                    s.review == Some(ReviewState::Returned)
                        && s.comments
                            .iter()
                            .any(|c| c.text == "Graag de plek nog aanvullen.")
                })
            },
        )
        .await?;
    phone
        .wait_for(
            "the confirmed tag on the phone",
            WAIT,
            move |d| async move {
                d.story(&quoted).await.is_some_and(|s: Story| {
                    s.tags.iter().any(|t| {
                        t.code == "centering" && t.state == TagState::Confirmed && !t.by.is_empty()
                    })
                })
            },
        )
        .await?;

    // Consent in the report: the quotable story is quoted, the anonymised one counted but not
    // quoted, the internal one absent.
    let (s, report) = call(
        &server,
        &coord.token,
        reqwest::Method::GET,
        "/workspace/report?activity=centering",
        None,
        None,
    )
    .await?;
    assert_eq!(s, 200);
    assert!(report.contains("de groep gaf me moed."), "{report}");
    assert!(
        !report.contains("niemand citeren"),
        "anonymised story not quoted"
    );
    assert!(!report.contains("interne notitie"), "internal story absent");
    let (_, md) = call(
        &server,
        &coord.token,
        reqwest::Method::GET,
        "/workspace/report?activity=centering&format=md",
        None,
        None,
    )
    .await?;
    assert!(
        md.contains("de groep gaf me moed.") && !md.contains("niemand citeren"),
        "{md}"
    );
    let (_, csv) = call(
        &server,
        &coord.token,
        reqwest::Method::GET,
        "/workspace/export/stories.csv",
        None,
        None,
    )
    .await?;
    assert!(csv.contains(&quoted.to_string()) && csv.contains(&anonymous.to_string()));
    assert!(
        !csv.contains(&internal.to_string())
            && !csv.contains("niemand citeren")
            && !csv.contains("@delft.test"),
        "{csv}"
    );
    let qdpx =
        crate::exports::download(&server, &coord.token, "/workspace/export/project.qdpx").await?;
    let entries = crate::exports::qdpx_entries(qdpx)?;
    assert!(
        entries
            .iter()
            .any(|(name, text)| name == "project.qde" && text.contains("urn:QDA-XML:project:1.0"))
    );
    assert!(
        entries
            .iter()
            .any(|(_, text)| text.contains("de groep gaf me moed."))
    );
    assert!(
        !entries
            .iter()
            .any(|(_, text)| text.contains("interne notitie"))
    );

    // Search is Dutch-aware: "groepen" finds "groep".
    let (_, found) = get_json(&server, &coord.token, "/workspace/stories?q=groepen").await?;
    let ids: Vec<&str> = found["stories"]
        .as_array()
        .context("stories")?
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, vec![quoted.to_string().as_str()]);

    // Opening a story is logged; admins read the log, coordinators may not.
    let (s, log) = get_json(
        &server,
        &admin.token,
        "/workspace/audit?action=story.opened",
    )
    .await?;
    assert_eq!(s, 200);
    // The answers to the tag and review decisions carried the whole story: each is a read
    // (`via` tag or review, issue 10 finding 13). Listing and searching are not.
    let entries = log["entries"].as_array().context("entries")?;
    assert_eq!(entries.len(), 7, "3 tags, 3 approvals, 1 return: {log}");
    assert!(
        entries
            .iter()
            .all(|e| matches!(e["detail"].as_str(), Some("tag" | "review"))),
        "listing is not opening: {log}"
    );
    assert_eq!(get_json(&server, &coord.token, &path).await?.0, 200);
    let (_, log) = get_json(
        &server,
        &admin.token,
        "/workspace/audit?action=story.opened",
    )
    .await?;
    let e = log["entries"].get(0).context("an entry")?;
    assert_eq!(e["doc_id"], quoted.to_string());
    assert_eq!(e["detail"], Value::Null);
    assert_eq!(e["member_id"], json!(coord.member_id));
    assert!(e["at"].as_i64().is_some_and(|at| at > 0));
    assert_eq!(
        get_json(&server, &coord.token, "/workspace/audit").await?.0,
        403
    );
    assert_eq!(
        get_json(&server, &other.token, "/workspace/audit").await?.0,
        403
    );
    Ok(())
}
both!(review_consent_and_access);
