//! Issue 10 (security test of the release server), findings 11, 12, 13 and 15 on real servers:
//! security headers on every page and answer, story text that cannot become a formula, invalid
//! XML, a link or an image in the exports, the `.qdpx` read back with the `zip` crate, and the
//! audit log holding every read of a whole story and every export.

use crate::all_confirmed;
use crate::workspace::{call, get_json, post_json};
use anyhow::Context;
use client_core::story::{ConsentScope, Person};
use serde_json::{Value, json};
use std::io::{Cursor, Read};
use vertel_tests::{Backend, Env, Server, device, parent_story};

/// The security headers of one answer.
struct Headers {
    csp: String,
    permissions: String,
    referrer: String,
    nosniff: String,
}

async fn headers(
    server: &Server,
    path: &str,
    token: Option<&str>,
) -> anyhow::Result<(u16, Headers)> {
    let mut req = reqwest::Client::new().get(server.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await?;
    let get = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let h = Headers {
        csp: get("content-security-policy"),
        permissions: get("permissions-policy"),
        referrer: get("referrer-policy"),
        nosniff: get("x-content-type-options"),
    };
    Ok((resp.status().as_u16(), h))
}

/// Finding 12: the shell at `/` had no Content-Security-Policy, frame-ancestors or
/// Referrer-Policy; `/werkruimte/` had no Referrer-Policy.
async fn security_headers_everywhere(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    // A built shell: its files come from the directory (the fallback service).
    let shell = tempfile::tempdir()?;
    std::fs::write(
        shell.path().join("index.html"),
        "<!doctype html><title>Vertel</title><script type=\"module\" src=\"js/main.js\"></script>",
    )?;
    std::fs::create_dir(shell.path().join("js"))?;
    std::fs::write(shell.path().join("js/main.js"), "export {};")?;
    let shell_dir = shell.path().to_str().context("path")?;
    let server = Server::start(&env, &["--shell-dir", shell_dir]).await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let host = server.addr.to_string();

    let mut seen = Vec::new();
    for (path, token, status) in [
        ("/", None, 200),
        ("/js/main.js", None, 200),
        ("/werkruimte/", None, 200),
        ("/werkruimte/app.js", None, 200),
        ("/api/v1/me", Some(coord.token.as_str()), 200),
        ("/api/v1/me", None, 401),
        ("/healthz", None, 200),
        ("/api/v1/nothing-here", None, 404),
    ] {
        let (s, h) = headers(&server, path, token).await?;
        assert_eq!(s, status, "{path}");
        assert_eq!(h.referrer, "no-referrer", "{path}");
        assert_eq!(h.nosniff, "nosniff", "{path}");
        assert!(
            h.csp.contains("frame-ancestors 'none'"),
            "{path}: {}",
            h.csp
        );
        assert!(!h.csp.contains("unsafe-inline"), "{path}: {}", h.csp);
        assert!(!h.csp.contains("'unsafe-eval'"), "{path}: {}", h.csp);
        seen.push((path, h));
    }
    for (path, h) in &seen {
        match *path {
            "/" | "/js/main.js" => {
                assert!(
                    h.csp.contains("script-src 'self' 'wasm-unsafe-eval'")
                        && h.csp.contains("img-src 'self' blob: data:")
                        && h.csp.contains("media-src 'self' blob:")
                        && h.csp.contains("worker-src 'self'")
                        && h.csp
                            .contains(&format!("connect-src 'self' ws://{host} wss://{host}")),
                    "{path}: {}",
                    h.csp
                );
                assert_eq!(
                    h.permissions,
                    "microphone=(self), camera=(self), geolocation=()"
                );
            }
            "/werkruimte/" | "/werkruimte/app.js" => {
                assert!(
                    h.csp.contains("script-src 'self';") && !h.csp.contains("wasm"),
                    "{path}: {}",
                    h.csp
                );
                assert_eq!(h.permissions, "microphone=(), camera=(), geolocation=()");
            }
            _ => {
                assert!(h.csp.starts_with("default-src 'none'"), "{path}: {}", h.csp);
                assert_eq!(h.permissions, "microphone=(), camera=(), geolocation=()");
            }
        }
    }
    drop(server);

    // Without a built shell, `/` is the login check page: same policy, no inline script or
    // style, its script and style served as files.
    let server = Server::start(&env, &["--shell-dir", "/nonexistent"]).await?;
    let (s, h) = headers(&server, "/", None).await?;
    assert_eq!(s, 200);
    assert!(h.csp.contains("script-src 'self' 'wasm-unsafe-eval'"));
    let page = reqwest::get(server.url("/")).await?.text().await?;
    assert!(
        !page.contains("<script>")
            && !page.contains("<style")
            && !["style=", "onclick=", "onsubmit=", "onload="]
                .iter()
                .any(|a| page.contains(a)),
        "{page}"
    );
    for (path, mime) in [("/home.js", "javascript"), ("/home.css", "text/css")] {
        let resp = reqwest::get(server.url(path)).await?;
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(ct.contains(mime), "{path}: {ct}");
    }
    Ok(())
}
both!(security_headers_everywhere);

fn xml_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xa | 0xd | 0x20..=0xd7ff | 0xe000..=0xfffd | 0x10000..)
}

pub(crate) async fn download(server: &Server, token: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    let resp = reqwest::Client::new()
        .get(server.url(&format!("/api/v1{path}")))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(resp.status().is_success(), "{path}: {}", resp.status());
    Ok(resp.bytes().await?.to_vec())
}

/// Every entry of a `.qdpx` project, read with the `zip` crate: (name, text).
pub(crate) fn qdpx_entries(qdpx: Vec<u8>) -> anyhow::Result<Vec<(String, String)>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(qdpx)).context("a readable .qdpx")?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let name = entry.name()?.into_owned();
        let mut text = String::new();
        entry.read_to_string(&mut text)?;
        out.push((name, text));
    }
    Ok(out)
}

/// Findings 11, 13 and 15: story text with a formula, a character XML does not allow, a
/// Markdown image, a `javascript:` link and raw HTML goes through every export inert; the
/// `.qdpx` reads back; every answer with a whole story and every export is in the audit log.
async fn exports_are_inert_and_audited(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("delft")?;
    let server = env.start().await?;
    let prof = server.login_as("professional", "delft").await?;
    let coord = server.login_as("coordinator", "delft").await?;
    let admin = server.login_as("admin", "delft").await?;
    let phone = device(&env, "phone").await?;
    phone.connect(&server.ws_url(), &prof.token).await?;
    let mut story = parent_story(
        "\t=HYPERLINK(\"http://evil\")\u{ffff} titel",
        "Ze zei: kijk ![](http://evil/x.png) en [x](javascript:alert(1)) <img src=x onerror=alert(1)> `code`",
    );
    story.told_by = Some(Person {
        role: "moeder".into(),
        name: "\r=1+2".into(),
    });
    if let Some(c) = story.consent.as_mut() {
        c.scope = Some(ConsentScope::MayBeQuoted);
    }
    let id = phone.create_story(&story).await?.to_string();
    all_confirmed(&phone).await?;

    // Every answer that carries the whole story is a read of it.
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
    let (s, _) = get_json(&server, &coord.token, &format!("/workspace/stories/{id}")).await?;
    assert_eq!(s, 200);

    // Stories CSV: no field starts a formula (a leading tab or carriage return passed before).
    let csv =
        String::from_utf8(download(&server, &coord.token, "/workspace/export/stories.csv").await?)?;
    assert!(
        csv.contains("\"'\t=HYPERLINK(\"\"http://evil\"\")\u{ffff} titel\""),
        "{csv:?}"
    );
    // Dutch Excel's separator (`;`) and byte-order mark.
    assert!(csv.starts_with("\u{feff}id;titel;"), "{csv:?}");
    assert!(csv.contains(";\"'\r=1+2\";"), "{csv:?}");
    assert!(!csv.contains(";\t=") && !csv.contains(";\r="), "{csv:?}");

    // Figures CSV: exported through the same escaping, and now audited.
    let (s, b) = call(
        &server,
        &coord.token,
        reqwest::Method::PUT,
        "/workspace/figures",
        Some(
            json!({"activity_code": "centering", "municipality": "Delft", "quarter": "2025-Q3",
                    "metric": "deelnemers", "unit": "count", "value": 3.0, "source": "@SUM(1+1)"}),
        ),
        None,
    )
    .await?;
    assert_eq!(s, 200, "{b}");
    let figures =
        String::from_utf8(download(&server, &coord.token, "/workspace/export/figures.csv").await?)?;
    assert!(figures.contains(",'@SUM(1+1)\r\n"), "{figures:?}");

    // REFI-QDA: a ZIP the zip crate reads, with a project file XML 1.0 accepts.
    let qdpx = download(&server, &coord.token, "/workspace/export/project.qdpx").await?;
    let entries = qdpx_entries(qdpx)?;
    let qde = entries
        .iter()
        .find(|(name, _)| name == "project.qde")
        .map(|(_, text)| text.as_str())
        .context("project.qde")?;
    assert!(qde.chars().all(xml_char), "{qde:?}");
    assert!(
        qde.contains("name=\"\t=HYPERLINK(&quot;http://evil&quot;) titel\""),
        "{qde}"
    );
    let sources = entries
        .iter()
        .filter(|(name, _)| name.starts_with("sources/"))
        .count();
    assert_eq!(sources, 1);

    // Markdown report: the approved quote is there, and forms no image, link or HTML.
    let md = String::from_utf8(
        download(
            &server,
            &coord.token,
            "/workspace/report?activity=centering&format=md",
        )
        .await?,
    )?;
    assert!(md.contains(r"\!\[\]\(http\://evil/x.png\)"), "{md}");
    assert!(md.contains(r"\[x\]\(javascript\:alert\(1\)\)"), "{md}");
    assert!(md.contains(r"\<img src=x onerror=alert\(1\)\>"), "{md}");
    for formed in ["![", "](", " <img", " `code`"] {
        assert!(!md.contains(formed), "{formed} in {md}");
    }
    let html = String::from_utf8(
        download(
            &server,
            &coord.token,
            "/workspace/report?activity=centering",
        )
        .await?,
    )?;
    assert!(
        html.contains("&lt;img src=x") && !html.contains("<img"),
        "{html}"
    );

    // The audit log: three reads of the story (tag decision, review, open), newest first, and
    // every export.
    let (s, log) = get_json(
        &server,
        &admin.token,
        "/workspace/audit?action=story.opened",
    )
    .await?;
    assert_eq!(s, 200);
    let reads: Vec<(&str, Option<&str>)> = log["entries"]
        .as_array()
        .context("entries")?
        .iter()
        .filter(|e| e["member_id"].as_i64() == Some(coord.member_id))
        .map(|e| {
            (
                e["doc_id"].as_str().unwrap_or_default(),
                e["detail"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        reads,
        [
            (id.as_str(), None),
            (id.as_str(), Some("review")),
            (id.as_str(), Some("tag")),
        ],
        "{log}"
    );
    let (_, log) = get_json(
        &server,
        &admin.token,
        "/workspace/audit?action=workspace.exported",
    )
    .await?;
    let mut exports: Vec<&str> = log["entries"]
        .as_array()
        .context("entries")?
        .iter()
        .filter_map(|e: &Value| e["detail"].as_str())
        .collect();
    exports.sort();
    assert_eq!(
        exports,
        [
            "figures.csv",
            "project.qdpx",
            "report centering",
            "report centering",
            "stories.csv"
        ],
        "{log}"
    );
    Ok(())
}
both!(exports_are_inert_and_audited);
