//! Issue 16: no output of a story whose consent is `anonymised-in-reports` (the stories CSV, the
//! REFI-QDA project, reports) carries an identifier, and a quote of a `may-be-quoted` story is
//! de-identified too. The story's text is the development set (`fixtures/deidentify/dev.txt`):
//! every labelled identifier in it (but children's ages, which are bare digits) must be gone from
//! every output, replaced by its label; the held-out set's scores are in `docs/deidentify.md`.

use crate::all_confirmed;
use crate::exports::{download, qdpx_entries};
use crate::workspace::{get_json, post_json};
use client_core::deidentify::{Kind, eval};
use client_core::story::ConsentScope;
use serde_json::json;
use vertel_tests::{Backend, Env, device, parent_story};

const DEV_SET: &str = include_str!("../../fixtures/deidentify/dev.txt");

/// `needle` occurs in `hay` as a whole word (not inside a longer word or number).
fn occurs(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

async fn outputs_carry_no_identifier(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;

    let set = eval::parse(DEV_SET)?;
    let body: String = set
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let identifiers: Vec<(Kind, &str)> = set
        .iter()
        .flat_map(|l| l.gold.iter().map(move |&(s, e, k)| (k, &l.text[s..e])))
        .filter(|(k, _)| *k != Kind::Leeftijd)
        .collect();
    assert!(identifiers.len() > 80);

    // An anonymised story titled with a name, and a quotable one whose quote names people.
    let anonymised = parent_story("Gesprek met Karima El Idrissi", &body);
    let mut quoted = parent_story(
        "Bij de groep",
        "Ze zei: mijn buurvrouw Anja de Vries belt me op 06-12345678 en mailt naar anja.devries@gmail.com.",
    );
    if let Some(c) = quoted.consent.as_mut() {
        c.scope = Some(ConsentScope::MayBeQuoted);
    }
    let mut ids = Vec::new();
    for s in [&anonymised, &quoted] {
        ids.push(phone.create_story(s).await?.to_string());
    }
    all_confirmed(&phone).await?;
    for id in &ids {
        for (path, state) in [("tags/centering", "confirmed"), ("review", "approved")] {
            let (s, b) = post_json(
                &server,
                &coord.token,
                &format!("/workspace/stories/{id}/{path}"),
                json!({ "state": state }),
            )
            .await?;
            assert_eq!(s, 200, "{b}");
        }
    }

    let csv =
        String::from_utf8(download(&server, &coord.token, "/workspace/export/stories.csv").await?)?;
    let qdpx =
        qdpx_entries(download(&server, &coord.token, "/workspace/export/project.qdpx").await?)?
            .into_iter()
            .map(|(_, text)| text)
            .collect::<Vec<_>>()
            .join("\n");
    let md = String::from_utf8(
        download(
            &server,
            &coord.token,
            "/workspace/report?activity=centering&format=md",
        )
        .await?,
    )?;
    let html = String::from_utf8(
        download(
            &server,
            &coord.token,
            "/workspace/report?activity=centering",
        )
        .await?,
    )?;

    // The text is there, de-identified (the CSV carries an anonymised story's title, not its
    // text; the project carries both).
    assert!(csv.contains("Gesprek met [naam]"), "{csv}");
    assert!(
        qdpx.contains("[adres]") && qdpx.contains("[postcode]") && qdpx.contains("[bsn]"),
        "{qdpx}"
    );
    assert!(qdpx.contains("Gesprek met [naam]"), "{qdpx}");
    // Ordinary words stay: the coordinator still reads the story.
    assert!(
        qdpx.contains("consultatiebureau") && qdpx.contains("Westland"),
        "{qdpx}"
    );
    for (name, out) in [
        ("stories.csv", &csv),
        ("project.qdpx", &qdpx),
        ("report.md", &md),
        ("report.html", &html),
    ] {
        for (kind, id) in &identifiers {
            assert!(
                !occurs(out, id),
                "{name} carries the {} {id:?}",
                kind.code()
            );
        }
        for id in [
            "Karima El Idrissi",
            "Anja de Vries",
            "06-12345678",
            "anja.devries@gmail.com",
        ] {
            assert!(!out.contains(id), "{name} carries {id:?}");
        }
    }
    // The quote is in the report and the CSV, de-identified.
    assert!(
        md.contains("mijn buurvrouw \\[naam\\] belt me op \\[telefoon\\]"),
        "{md}"
    );
    assert!(
        csv.contains("mijn buurvrouw [naam] belt me op [telefoon] en mailt naar [e-mail]"),
        "{csv}"
    );

    // The desk marks the quote's spans; the coordinator keeps the neighbour's name on purpose,
    // with the approval: the report shows it, and still masks the phone number.
    let (s, story) = get_json(
        &server,
        &coord.token,
        &format!("/workspace/stories/{}", ids[1]),
    )
    .await?;
    assert_eq!(s, 200, "{story}");
    let marks: Vec<(String, String)> = story["quote_marks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["kind"].as_str().unwrap_or_default().to_string(),
                m["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        marks.contains(&("naam".into(), "Anja de Vries".into())),
        "{story}"
    );
    assert!(
        marks.contains(&("telefoon".into(), "06-12345678".into())),
        "{story}"
    );
    let (s, b) = post_json(
        &server,
        &coord.token,
        &format!("/workspace/stories/{}/review", ids[1]),
        json!({ "state": "approved", "keep": ["naam:Anja de Vries"] }),
    )
    .await?;
    assert_eq!(s, 200, "{b}");
    let md = String::from_utf8(
        download(
            &server,
            &coord.token,
            "/workspace/report?activity=centering&format=md",
        )
        .await?,
    )?;
    assert!(
        md.contains("mijn buurvrouw Anja de Vries belt me op \\[telefoon\\]"),
        "{md}"
    );
    // A keep that names no kind is refused.
    let (s, _) = post_json(
        &server,
        &coord.token,
        &format!("/workspace/stories/{}/review", ids[1]),
        json!({ "state": "approved", "keep": ["Anja"] }),
    )
    .await?;
    assert_eq!(s, 400);
    Ok(())
}
both!(outputs_carry_no_identifier);
