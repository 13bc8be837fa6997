//! Login, enrollment, tokens and the login rate limit.

use serde_json::json;
use vertel_tests::{Backend, Env, PASSWORD};

async fn login_enrollment_and_tokens(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("dwo")?;
    let code = env.cli(
        &[
            "member",
            "add",
            "--workspace",
            "dwo",
            "--email",
            "nieuw@dwo.test",
            "--role",
            "sleutelpersoon",
        ],
        None,
    )?;
    let code = code.trim();
    assert_eq!(code.len(), 14, "enrollment code printed: {code:?}");
    let server = env.start().await?;
    let client = reqwest::Client::new();

    // Before enrollment there is no password to log in with.
    let resp = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({ "email": "nieuw@dwo.test", "password": "wat-dan-ook-1" }))
        .send()
        .await?;
    assert_eq!(resp.status(), 401);

    let resp = client
        .post(server.url("/api/v1/auth/enroll"))
        .json(&json!({ "code": code.to_lowercase(), "password": "mijn-eigen-wachtwoord" }))
        .send()
        .await?;
    assert!(resp.status().is_success(), "enroll: {}", resp.status());
    // The code works once.
    let resp = client
        .post(server.url("/api/v1/auth/enroll"))
        .json(&json!({ "code": code, "password": "nog-een-wachtwoord" }))
        .send()
        .await?;
    assert_eq!(resp.status(), 401);

    let session = server
        .login("nieuw@dwo.test", "mijn-eigen-wachtwoord")
        .await?;
    assert_eq!(session.body["member"]["role"], "sleutelpersoon");
    assert_eq!(session.body["workspace"]["slug"], "dwo");
    assert!(session.body["member"].get("password_hash").is_none());

    // The token works for REST and the websocket; after logout it does not.
    let me = client
        .get(server.url("/api/v1/me"))
        .bearer_auth(&session.token)
        .send()
        .await?;
    assert!(me.status().is_success());
    let resp = client
        .post(server.url("/api/v1/auth/logout"))
        .bearer_auth(&session.token)
        .send()
        .await?;
    assert!(resp.status().is_success());
    let me = client
        .get(server.url("/api/v1/me"))
        .bearer_auth(&session.token)
        .send()
        .await?;
    assert_eq!(me.status(), 401);
    let ws =
        tokio_tungstenite::connect_async(format!("{}?token={}", server.ws_url(), session.token))
            .await;
    assert!(ws.is_err(), "a revoked token opens no websocket");

    // Unknown fields in a request are refused with a clear error, not ignored.
    let resp = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({ "email": "admin@dwo.test", "password": PASSWORD, "admin": true }))
        .send()
        .await?;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await?;
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown field"),
        "{body}"
    );
    let resp = client
        .post(server.url("/api/v1/auth/login"))
        .body("{niet json")
        .send()
        .await?;
    assert_eq!(resp.status(), 400);
    Ok(())
}
both!(login_enrollment_and_tokens);

async fn repeated_failed_logins_are_rate_limited(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    env.workspace("dwo")?;
    let server = env.start().await?;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let resp = client
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({ "email": "coordinator@dwo.test", "password": "fout" }))
            .send()
            .await?;
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429]);
    // Even the right password is refused while the limit holds; other accounts are unaffected.
    let resp = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({ "email": "coordinator@dwo.test", "password": PASSWORD }))
        .send()
        .await?;
    assert_eq!(resp.status(), 429);
    server.login_as("professional", "dwo").await?;
    Ok(())
}
both!(repeated_failed_logins_are_rate_limited);

/// The demo seed gives a newcomer credentials that work.
async fn demo_seed_credentials_work(backend: Backend) -> anyhow::Result<()> {
    let env = Env::new(backend).await?;
    let out = env.cli(&["seed", "--demo"], None)?;
    assert!(out.contains("coordinator@dwo.example"));
    env.cli(&["seed", "--demo"], None)?; // idempotent
    let server = env.start().await?;
    for role in ["coordinator", "professional", "sleutelpersoon", "admin"] {
        let s = server
            .login(&format!("{role}@dwo.example"), "vertel-demo-2026")
            .await?;
        assert_eq!(s.body["member"]["role"], role);
        assert_eq!(s.body["workspace"]["name"], "DWO regio");
    }
    let health = reqwest::get(server.url("/healthz")).await?;
    assert!(health.status().is_success());
    let home = reqwest::get(server.url("/")).await?.text().await?;
    assert!(home.contains("Inloggen") && home.contains("/api/v1/auth/login"));
    Ok(())
}
both!(demo_seed_credentials_work);
