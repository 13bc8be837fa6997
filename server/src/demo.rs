//! The demo content of `vertel-server seed --demo`: municipalities, personas, stories and figures
//! for the workspace "DWO regio", from `fixtures/demo/` (embedded at build time).
//!
//! Stories and personas are real automerge documents, made with client-core as a device would and
//! stored under the demo member who recorded them, so devices and coordinators sync them like any
//! other. Their ids are derived from their keys, so seeding again changes nothing. Stories are tagged
//! with the same tagger the server runs, and some carry a person's confirmed or rejected tag.

use crate::db::accounts::{Member, Workspace};
use crate::db::docs::DocMeta;
use crate::db::workspace::{Unit, WsFigure};
use crate::db::{Db, DbError};
use crate::tagging::tagger::Tagger;
use crate::tagging::{TAGGER_ID, default_taxonomy, plan, story_text};
use anyhow::Context;
use automerge::{ActorId, Automerge};
use client_core::story::{
    self, Consent, ConsentHow, ConsentScope, NewStory, Person, Persona, PlaceType, ReviewState,
    StoryKind, Tag, TagState,
};
use client_core::wire::DocumentId;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const STORIES: &str = include_str!("../../fixtures/demo/stories.toml");
const FIGURES: &str = include_str!("../../fixtures/demo/figures.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoPersona {
    pub key: String,
    pub name: String,
    pub age_band: Option<String>,
    pub situation: String,
    pub needs: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoStory {
    pub key: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub municipality: String,
    pub place: String,
    pub told_by: Option<Person>,
    /// E-mail of the demo member who recorded it.
    pub recorder: String,
    /// YYYY-MM-DD
    pub captured: String,
    /// Consent scope.
    pub consent: String,
    pub persona: Option<String>,
    pub review: Option<String>,
    #[serde(default)]
    pub confirmed: Vec<String>,
    #[serde(default)]
    pub rejected: Vec<String>,
    /// Spoken as a voice note by fixtures/demo/make-voice-notes.sh.
    #[serde(default)]
    pub voice: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoContent {
    pub persona: Vec<DemoPersona>,
    pub story: Vec<DemoStory>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Series {
    activity: String,
    metric: String,
    growth: f64,
    base: BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FiguresFile {
    municipalities: Vec<String>,
    quarters: Vec<String>,
    source: String,
    series: Vec<Series>,
}

pub fn content() -> anyhow::Result<DemoContent> {
    toml::from_str(STORIES).context("fixtures/demo/stories.toml")
}

/// The municipalities of the demo workspace.
pub fn municipalities() -> anyhow::Result<Vec<String>> {
    let f: FiguresFile = toml::from_str(FIGURES).context("fixtures/demo/figures.toml")?;
    Ok(f.municipalities)
}

/// The demo figures: every series for every municipality and quarter.
pub fn figures() -> anyhow::Result<Vec<WsFigure>> {
    let f: FiguresFile = toml::from_str(FIGURES).context("fixtures/demo/figures.toml")?;
    let mut out = Vec::new();
    for s in &f.series {
        for m in &f.municipalities {
            let base = s.base.get(m).copied().unwrap_or(0.0);
            for (qi, q) in f.quarters.iter().enumerate() {
                let h = Sha256::digest(format!("{}|{m}|{q}", s.activity).as_bytes());
                let wobble = 0.85 + 0.30 * f64::from(h[0]) / 255.0;
                let value = (base * (1.0 + s.growth * qi as f64) * wobble).round();
                out.push(WsFigure {
                    activity_code: s.activity.clone(),
                    municipality: m.clone(),
                    quarter: q.clone(),
                    metric: s.metric.clone(),
                    unit: Unit::Count,
                    value,
                    source: Some(f.source.clone()),
                });
            }
        }
    }
    Ok(out)
}

/// The document id of a demo story or persona: derived from its key, so seeding is idempotent.
pub fn demo_id(key: &str) -> DocumentId {
    let h = Sha256::digest(format!("vertel-demo/{key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&h[..16]);
    DocumentId::from_bytes(bytes)
}

/// Milliseconds since the epoch at noon UTC of a `YYYY-MM-DD` date.
fn date_ms(date: &str) -> anyhow::Result<i64> {
    let parts: Vec<&str> = date.split('-').collect();
    anyhow::ensure!(parts.len() == 3, "not a date: {date}");
    let y: i64 = parts[0].parse()?;
    let m: i64 = parts[1].parse()?;
    let d: i64 = parts[2].parse()?;
    anyhow::ensure!(
        (1..=12).contains(&m) && (1..=31).contains(&d),
        "not a date: {date}"
    );
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400_000 + 12 * 3_600_000)
}

/// A demo writer's actor, recorded for its member (or writer) like a device's.
async fn demo_actor(
    db: &Db,
    name: &str,
    member: Option<i64>,
    writer: &str,
) -> Result<ActorId, DbError> {
    let actor = ActorId::from(name.as_bytes());
    db.claim_actor(&actor.to_hex_string(), member, writer)
        .await?;
    Ok(actor)
}

fn heads(doc: &Automerge) -> Vec<String> {
    doc.get_heads().iter().map(|h| h.to_string()).collect()
}

async fn store(db: &Db, id: DocumentId, meta: DocMeta, doc: &Automerge) -> Result<bool, DbError> {
    let bytes = doc.save();
    let meta = DocMeta {
        size: bytes.len() as i64,
        ..meta
    };
    match db
        .create_doc(&id.to_string(), &meta, &bytes, &heads(doc))
        .await
    {
        Ok(_) => Ok(true),
        Err(DbError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What [`load`] created (zero on a second run).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    pub personas: usize,
    pub stories: usize,
    pub figures: usize,
}

/// Load the demo content into `ws`. `members` are the demo members by e-mail address.
pub async fn load(
    db: &Db,
    ws: &Workspace,
    members: &BTreeMap<String, Member>,
) -> anyhow::Result<Loaded> {
    let content = content()?;
    let mut loaded = Loaded::default();
    for m in municipalities()? {
        db.add_municipality(ws.id, &m).await?;
    }
    let member = |email: &str| -> anyhow::Result<&Member> {
        members
            .get(email)
            .with_context(|| format!("demo member {email} is missing"))
    };
    let coordinator = member("coordinator@dwo.example")?;
    let persona_ids: BTreeMap<&str, DocumentId> = content
        .persona
        .iter()
        .map(|p| (p.key.as_str(), demo_id(&format!("persona/{}", p.key))))
        .collect();
    let personas_at = date_ms("2024-10-01")?;
    for p in &content.persona {
        let id = persona_ids[p.key.as_str()];
        let mut doc = Automerge::new().with_actor(ActorId::from(b"vertel-demo".as_slice()));
        story::create_persona(
            &mut doc,
            &Persona {
                name: p.name.clone(),
                age_band: p.age_band.clone(),
                situation: p.situation.clone(),
                needs: p.needs.clone(),
            },
            personas_at,
        )?;
        let meta = DocMeta {
            workspace_id: ws.id,
            recorder_id: coordinator.id,
            doc_type: "persona".into(),
            size: 0,
            deleted: false,
        };
        if store(db, id, meta, &doc).await? {
            // Personas are for the whole coalition: share them with every demo member.
            for m in members.values().filter(|m| m.id != coordinator.id) {
                db.share_doc(&id.to_string(), m.id).await?;
            }
            let seq = db.doc_seq(&id.to_string()).await?.unwrap_or(0);
            db.index_doc(&id.to_string(), ws.id, None, seq).await?;
            loaded.personas += 1;
        }
    }
    let taxonomy = default_taxonomy()
        .map_err(anyhow::Error::msg)?
        .merged(&db.workspace_activities(ws.id).await?);
    let tagger = Tagger::new(&taxonomy);
    for s in &content.story {
        let id = demo_id(&format!("story/{}", s.key));
        let recorder = member(&s.recorder)?;
        let at = date_ms(&s.captured).with_context(|| format!("story {}", s.key))?;
        let persona = match &s.persona {
            Some(key) => Some(
                persona_ids
                    .get(key.as_str())
                    .with_context(|| format!("story {}: no persona {key}", s.key))?
                    .to_string(),
            ),
            None => None,
        };
        let new = NewStory {
            kind: Some(
                StoryKind::from_code(&s.kind)
                    .with_context(|| format!("story {}: kind {}", s.key, s.kind))?,
            ),
            title: s.title.clone(),
            body: s.body.clone(),
            language: "nl".into(),
            captured_at: at,
            place_type: Some(
                PlaceType::from_code(&s.place)
                    .with_context(|| format!("story {}: place {}", s.key, s.place))?,
            ),
            municipality: Some(s.municipality.clone()),
            told_by: s.told_by.clone(),
            recorded_by: Some(Person {
                role: recorder.role.code().into(),
                name: recorder.name.clone(),
            }),
            consent: Some(Consent {
                given: true,
                how: Some(ConsentHow::Spoken),
                scope: Some(
                    ConsentScope::from_code(&s.consent)
                        .with_context(|| format!("story {}: consent {}", s.key, s.consent))?,
                ),
                recorded_at: Some(at),
            }),
            persona: persona.clone(),
        };
        // Each demo member writes with an actor of their own, recorded as theirs, so the desk
        // shows who did what from the server's record (as for stories recorded on a phone).
        let recorder_actor = demo_actor(
            db,
            &format!("vertel-demo-member-{}", recorder.id),
            Some(recorder.id),
            "device",
        )
        .await?;
        let coordinator_actor = demo_actor(
            db,
            &format!("vertel-demo-member-{}", coordinator.id),
            Some(coordinator.id),
            "device",
        )
        .await?;
        let tagger_actor = demo_actor(db, "vertel-demo-tagger", None, "tagger").await?;
        let mut doc = Automerge::new().with_actor(recorder_actor);
        story::create_story(&mut doc, &new)?;
        doc.set_actor(coordinator_actor);
        let decided_at = at + 86_400_000;
        for (codes, state) in [
            (&s.confirmed, TagState::Confirmed),
            (&s.rejected, TagState::Rejected),
        ] {
            for code in codes {
                anyhow::ensure!(
                    taxonomy.by_tag(code).is_some(),
                    "story {}: unknown activity {code}",
                    s.key
                );
                story::set_tag(
                    &mut doc,
                    &Tag {
                        code: code.clone(),
                        state,
                        by: coordinator.name.clone(),
                        at: decided_at,
                        score: None,
                        evidence: vec![],
                    },
                )?;
            }
        }
        if let Some(r) = &s.review {
            let state = ReviewState::from_code(r)
                .with_context(|| format!("story {}: review {r}", s.key))?;
            if state == ReviewState::Approved {
                // An approval is of a version: the heads approved are recorded with it.
                story::ownership::approve(&mut doc, &coordinator.name, decided_at)?;
            } else {
                story::set_review(&mut doc, state, &coordinator.name, decided_at)?;
            }
        }
        // Tagged as the server would: same tagger, same plan, written as the tagger.
        doc.set_actor(tagger_actor);
        let read = story::Story::read(&doc);
        let writes = plan::plan(
            &story::tag_versions(&doc),
            &tagger.suggest(&story_text(&read)),
            decided_at,
        );
        story::write_tags(&mut doc, decided_at, &writes)?;
        debug_assert!(
            story::Story::read(&doc)
                .tags
                .iter()
                .all(|t| t.state != TagState::Suggested || t.by == TAGGER_ID)
        );
        let meta = DocMeta {
            workspace_id: ws.id,
            recorder_id: recorder.id,
            doc_type: "story".into(),
            size: 0,
            deleted: false,
        };
        if store(db, id, meta, &doc).await? {
            let seq = db.doc_seq(&id.to_string()).await?.unwrap_or(0);
            db.index_doc(&id.to_string(), ws.id, persona.as_deref(), seq)
                .await?;
            loaded.stories += 1;
        }
    }
    let figures = figures()?;
    db.put_ws_figures(ws.id, None, &figures).await?;
    loaded.figures = figures.len();
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_content_is_complete() {
        let c = content().expect("stories.toml");
        assert!(c.story.len() >= 60);
        assert!(c.persona.len() >= 3);
        for kind in StoryKind::ALL {
            assert!(
                c.story.iter().any(|s| s.kind == kind.code()),
                "a {kind:?} story"
            );
        }
        for p in &c.persona {
            assert!(
                c.story
                    .iter()
                    .filter(|s| s.persona.as_deref() == Some(p.key.as_str()))
                    .count()
                    >= 2,
                "persona {} has linked stories",
                p.key
            );
        }
        let ms = municipalities().expect("municipalities");
        assert_eq!(
            ms,
            ["Delft", "Westland", "Midden-Delfland", "Pijnacker-Nootdorp"]
        );
        for s in &c.story {
            assert!(ms.contains(&s.municipality), "{}", s.key);
            assert!(date_ms(&s.captured).is_ok(), "{}", s.key);
        }
        let keys: std::collections::BTreeSet<&str> =
            c.story.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys.len(), c.story.len(), "unique keys");
    }

    #[test]
    fn figures_cover_every_activity_municipality_and_quarter() {
        let f = figures().expect("figures");
        let tax = default_taxonomy().expect("taxonomy");
        for a in &tax.activities {
            assert_eq!(
                f.iter().filter(|x| x.activity_code == a.code).count(),
                4 * 8,
                "{}",
                a.code
            );
        }
        assert_eq!(f, figures().expect("again"), "deterministic");
    }

    #[test]
    fn dates_and_ids_are_stable() {
        assert_eq!(date_ms("1970-01-01").expect("date"), 12 * 3_600_000);
        assert_eq!(date_ms("2025-03-01").expect("date"), 1_740_830_400_000);
        assert!(date_ms("2025-13-01").is_err());
        assert_eq!(demo_id("story/d01"), demo_id("story/d01"));
        assert_ne!(demo_id("story/d01"), demo_id("story/d02"));
    }
}
