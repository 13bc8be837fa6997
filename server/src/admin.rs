//! Administrative commands: workspaces, members, the demo seed. Used by the CLI and by tests.

use crate::auth;
use crate::config::StorageConfig;
use crate::db::accounts::{Member, Role, Workspace};
use crate::db::{Db, DbError};
use anyhow::Context;

/// Demo credentials, also printed by `vertel-server seed --demo` and listed in the README.
pub const DEMO_PASSWORD: &str = "vertel-demo-2026";
pub const DEMO_WORKSPACE: &str = "dwo-regio";
pub const DEMO_MEMBERS: &[(&str, &str, &str)] = &[
    (
        "coordinator@dwo.example",
        "Carla Coördinator",
        "coordinator",
    ),
    (
        "professional@dwo.example",
        "Pieter Verloskundige",
        "professional",
    ),
    (
        "sleutelpersoon@dwo.example",
        "Samira Sleutelpersoon",
        "sleutelpersoon",
    ),
    ("admin@dwo.example", "Anton Beheer", "admin"),
    (
        "jgz@dwo.example",
        "Jasmijn Jeugdverpleegkundige",
        "professional",
    ),
    ("kraamzorg@dwo.example", "Kim Kraamzorg", "professional"),
];
pub const DEMO_CREDENTIALS: &str = "Demo workspace dwo-regio (DWO regio). Password for every member: vertel-demo-2026\n\
  coordinator@dwo.example     coordinator\n\
  professional@dwo.example    professional\n\
  sleutelpersoon@dwo.example  sleutelpersoon\n\
  admin@dwo.example           admin\n\
  jgz@dwo.example             professional\n\
  kraamzorg@dwo.example       professional\n";

/// Enrollment codes are valid for two weeks.
const ENROLLMENT_VALID_MS: i64 = 14 * 24 * 3600 * 1000;

pub async fn open(storage: &StorageConfig) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&storage.data_dir)
        .with_context(|| format!("creating data directory {}", storage.data_dir.display()))?;
    Db::connect(&storage.url(), 4)
        .await
        .context("opening the database")
}

pub async fn add_workspace(db: &Db, slug: &str, name: &str) -> anyhow::Result<Workspace> {
    let valid = !slug.is_empty()
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    anyhow::ensure!(valid, "a workspace slug uses a-z, 0-9 and -");
    Ok(db.create_workspace(slug, name).await?)
}

/// A workspace's expected languages (those its voice notes of unknown language are transcribed
/// in): `set` replaces them (`Some(empty)`: back to the server's list). Returns the list that
/// applies now and whether it is the workspace's own.
pub async fn workspace_languages(
    db: &Db,
    slug: &str,
    set: Option<&str>,
) -> anyhow::Result<(Vec<String>, bool)> {
    let ws = db
        .workspace_by_slug(slug)
        .await?
        .with_context(|| format!("no workspace {slug}"))?;
    if let Some(list) = set {
        let codes =
            crate::media::transcribe::language::parse_list(list).map_err(|e| anyhow::anyhow!(e))?;
        db.set_workspace_languages(ws.id, &codes).await?;
    }
    let own = db.workspace_languages(ws.id).await?;
    Ok(if own.is_empty() {
        (crate::media::transcribe::language::expected(), false)
    } else {
        (own, true)
    })
}

pub struct AddedMember {
    pub member: Member,
    pub enrollment_code: Option<String>,
}

pub async fn add_member(
    db: &Db,
    workspace: &str,
    email: &str,
    role: &str,
    name: Option<&str>,
    password: Option<&str>,
) -> anyhow::Result<AddedMember> {
    let ws = db
        .workspace_by_slug(workspace)
        .await?
        .with_context(|| format!("no workspace {workspace}"))?;
    let role = Role::parse(role)
        .context("role must be professional, sleutelpersoon, coordinator or admin")?;
    let email = email.trim().to_lowercase();
    anyhow::ensure!(email.contains('@'), "not an e-mail address: {email}");
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string());
    match password {
        Some(pw) => {
            auth::policy::check(pw)?;
            let hash = auth::hash_password(pw)?;
            let member = db
                .create_member(ws.id, &email, &name, role, Some(&hash), None)
                .await?;
            Ok(AddedMember {
                member,
                enrollment_code: None,
            })
        }
        None => {
            let code = auth::new_enrollment_code();
            let hash = auth::sha256_hex(&auth::normalise_code(&code));
            let expires = crate::db::now_ms() + ENROLLMENT_VALID_MS;
            let member = db
                .create_member(ws.id, &email, &name, role, None, Some((&hash, expires)))
                .await?;
            Ok(AddedMember {
                member,
                enrollment_code: Some(code),
            })
        }
    }
}

/// Create the demo workspace, its members and its content (municipalities, personas, stories,
/// figures: see [`crate::demo`]). Running it again changes nothing.
pub async fn seed_demo(db: &Db) -> anyhow::Result<()> {
    let ws = match db.workspace_by_slug(DEMO_WORKSPACE).await? {
        Some(ws) => ws,
        None => db.create_workspace(DEMO_WORKSPACE, "DWO regio").await?,
    };
    for (email, name, role) in DEMO_MEMBERS {
        match add_member(db, &ws.slug, email, role, Some(name), Some(DEMO_PASSWORD)).await {
            Ok(_) => {}
            Err(e) if matches!(e.downcast_ref::<DbError>(), Some(DbError::Conflict(_))) => {}
            Err(e) => return Err(e),
        }
    }
    let mut members = std::collections::BTreeMap::new();
    for (email, _, _) in DEMO_MEMBERS {
        let m = db
            .member_by_email(email)
            .await?
            .with_context(|| format!("demo member {email}"))?;
        members.insert(email.to_string(), m.member);
    }
    let loaded = crate::demo::load(db, &ws, &members).await?;
    tracing::info!(
        personas = loaded.personas,
        stories = loaded.stories,
        figures = loaded.figures,
        "demo content loaded"
    );
    Ok(())
}
