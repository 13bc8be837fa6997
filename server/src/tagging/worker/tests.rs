//! A real database and hub, no timing: `process` is called directly.

use super::*;
use crate::db::accounts::Role;
use crate::db::docs::DocMeta;
use crate::sync::hub::Limits;
use crate::tagging::TAGGER_ID;
use automerge::{ActorId, Automerge};
use client_core::story::{Consent, NewStory, StoryKind, Tag, TagState};

struct Fixture {
    dir: std::path::PathBuf,
    hub: Arc<Hub>,
    worker: Worker,
    db: Db,
    ws: i64,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn fixture() -> Fixture {
    let dir = std::env::temp_dir().join(format!("vertel-tagging-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = Db::connect(&crate::db::default_url(&dir), 4)
        .await
        .expect("db");
    let ws = db.create_workspace("t", "T").await.expect("workspace");
    db.create_member(ws.id, "p@t.test", "P", Role::Professional, None, None)
        .await
        .expect("member");
    let hub = Hub::new(
        db.clone(),
        Limits {
            max_doc_bytes: 1 << 24,
            idle: Duration::from_secs(30),
            compact_after: 0,
            ..Limits::default()
        },
        "test-storage".into(),
    );
    let worker = Worker::new(hub.clone(), db.clone()).expect("worker");
    Fixture {
        dir,
        hub,
        worker,
        db,
        ws: ws.id,
    }
}

async fn stored_story(f: &Fixture, body: &str) -> (DocumentId, Automerge) {
    stored_story_in(f, f.ws, "p@t.test", body).await
}

async fn stored_story_in(f: &Fixture, ws: i64, email: &str, body: &str) -> (DocumentId, Automerge) {
    let mut doc = Automerge::new().with_actor(ActorId::from(b"device".as_slice()));
    story::create_story(
        &mut doc,
        &NewStory {
            kind: Some(StoryKind::ImpactNarrative),
            title: "Test".into(),
            body: body.into(),
            language: "nl".into(),
            captured_at: 1,
            consent: Some(Consent {
                given: true,
                how: None,
                scope: None,
                recorded_at: None,
            }),
            ..Default::default()
        },
    )
    .expect("story");
    let id = DocumentId::from_bytes(rand::random());
    let member =
        f.db.member_by_email(email)
            .await
            .expect("db")
            .expect("member");
    let bytes = doc.save();
    let heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    f.db.create_doc(
        &id.to_string(),
        &DocMeta {
            workspace_id: ws,
            recorder_id: member.member.id,
            doc_type: "story".into(),
            size: bytes.len() as i64,
            deleted: false,
        },
        &bytes,
        &heads,
    )
    .await
    .expect("stored");
    (id, doc)
}

async fn tags(f: &Fixture, id: DocumentId) -> Vec<Tag> {
    f.hub
        .read(id, |d| Story::read(d).tags)
        .await
        .expect("read")
        .expect("exists")
}

fn state_of(tags: &[Tag], code: &str) -> Option<(TagState, String)> {
    tags.iter()
        .find(|t| t.code == code)
        .map(|t| (t.state, t.by.clone()))
}

#[tokio::test]
async fn process_tags_then_respects_people_and_is_idempotent() {
    let f = fixture().await;
    let (id, _) = stored_story(
        &f,
        "Ze doet mee aan VoorZorg en haar vriend rookt sigaretten.",
    )
    .await;
    let out = f.worker.process(id).await.expect("process");
    assert!(out.writes >= 2, "{out:?}");
    let t = tags(&f, id).await;
    assert_eq!(
        state_of(&t, "voorzorg"),
        Some((TagState::Suggested, TAGGER_ID.into()))
    );
    assert_eq!(f.worker.process(id).await.expect("again").writes, 0);

    // A person confirms one and rejects the other; the text changes; re-tagging.
    f.hub
        .server_change(id, Writer::Tagger, |d| {
            for (code, state) in [
                ("voorzorg", TagState::Confirmed),
                ("rookvrije-start", TagState::Rejected),
            ] {
                story::set_tag(
                    d,
                    &Tag {
                        code: code.into(),
                        state,
                        by: "m-1".into(),
                        at: 5,
                        score: None,
                        evidence: vec![],
                    },
                )
                .expect("tag");
            }
            story::update_body(
                d,
                "Ze doet mee aan VoorZorg, hij wil stoppen met roken en gaat naar de vadergroep.",
                6,
            )
            .expect("body");
            true
        })
        .await
        .expect("change");
    f.worker.process(id).await.expect("re-tag");
    let t = tags(&f, id).await;
    assert_eq!(
        state_of(&t, "voorzorg"),
        Some((TagState::Confirmed, "m-1".into()))
    );
    assert_eq!(
        state_of(&t, "rookvrije-start"),
        Some((TagState::Rejected, "m-1".into()))
    );
    assert_eq!(
        state_of(&t, "vadergroep"),
        Some((TagState::Suggested, TAGGER_ID.into()))
    );
    // The indexed cursor caught up: a catch-up finds nothing more to do than this story
    // once (its cursor moved with the tagger's own write).
    assert!(f.worker.catch_up().await.expect("catch up") <= 1);
    assert_eq!(f.worker.catch_up().await.expect("catch up"), 0);
}

#[tokio::test]
async fn a_concurrent_reject_wins_over_the_taggers_suggestion() {
    let f = fixture().await;
    let (id, doc) = stored_story(&f, "Een moeder vertelt over haar leven.").await;
    // Offline on a device: the person rejects "ouderinitiatief" (a high actor id, so the
    // reject would win a tie...)
    let mut device = doc
        .fork()
        .with_actor(ActorId::from(b"zzzz-device".as_slice()));
    story::set_tag(
        &mut device,
        &Tag {
            code: "ouderinitiatief".into(),
            state: TagState::Rejected,
            by: "m-1".into(),
            at: 7,
            score: None,
            evidence: vec![],
        },
    )
    .expect("reject");
    // ...while on the server the text grows (many operations) and the tagger suggests it,
    // so the tagger's value has the higher counter and wins the merge.
    f.hub
        .server_change(id, Writer::Tagger, |d| {
            story::update_body(
                d,
                "Een moeder vertelt over haar leven. Ze gaat elke week naar het babycafé \
                 dat moeders in de wijk zelf hebben opgezet.",
                8,
            )
            .is_ok()
        })
        .await
        .expect("edit");
    f.worker.process(id).await.expect("tag");
    f.hub
        .server_change(id, Writer::Tagger, |d| d.merge(&mut device).is_ok())
        .await
        .expect("merge");
    let before = f
        .hub
        .read(id, story::tag_versions)
        .await
        .expect("read")
        .expect("doc");
    assert_eq!(before["ouderinitiatief"].len(), 2, "a real conflict");
    assert_eq!(
        before["ouderinitiatief"][0].by, TAGGER_ID,
        "the tagger won the merge"
    );
    f.worker.process(id).await.expect("repair");
    let t = tags(&f, id).await;
    assert_eq!(
        state_of(&t, "ouderinitiatief"),
        Some((TagState::Rejected, "m-1".into()))
    );
    assert_eq!(f.worker.process(id).await.expect("again").writes, 0);
}

/// Stories about one activity that share a word nobody else uses: a workspace's people
/// confirm the activity on them.
const KRING: [&str; 6] = [
    "Vanmorgen zat ze weer bij de Kraamkring in de Hoeksteen.",
    "De Kraamkring had deze week tien bezoekers en veel koffie.",
    "Haar buurvrouw nam haar mee naar de Kraamkring op dinsdag.",
    "Bij de Kraamkring lagen de baby's op een grote mat te spelen.",
    "Ze vertelde dat de Kraamkring haar uit haar isolement haalt.",
    "Na de Kraamkring wandelden ze samen met de kinderwagens terug.",
];
const NEW: &str = "Voor het eerst naar de Kraamkring geweest met de tweeling.";

async fn workspace(f: &Fixture, slug: &str) -> (i64, String) {
    let ws = f.db.create_workspace(slug, slug).await.expect("workspace");
    let email = format!("p@{slug}.test");
    f.db.create_member(ws.id, &email, "P", Role::Professional, None, None)
        .await
        .expect("member");
    (ws.id, email)
}

async fn confirm(f: &Fixture, id: DocumentId, code: &str) {
    f.hub
        .server_change(id, Writer::Tagger, |d| {
            story::set_tag(
                d,
                &Tag {
                    code: code.into(),
                    state: TagState::Confirmed,
                    by: "m-1".into(),
                    at: 5,
                    score: None,
                    evidence: vec![],
                },
            )
            .is_ok()
        })
        .await
        .expect("confirm");
}

#[tokio::test]
async fn a_workspace_learns_from_its_own_decisions_only() {
    let f = fixture().await;
    let (other, other_email) = workspace(&f, "ander").await;
    let mut judged = Vec::new();
    for text in KRING {
        let (id, _) = stored_story(&f, text).await;
        f.worker.process(id).await.expect("process");
        confirm(&f, id, "ouderinitiatief").await;
        f.worker.process(id).await.expect("process");
        judged.push(id);
    }
    let (new_here, _) = stored_story(&f, NEW).await;
    let (new_there, _) = stored_story_in(&f, other, &other_email, NEW).await;
    for id in [new_here, new_there] {
        f.worker.process(id).await.expect("process");
        assert_eq!(state_of(&tags(&f, id).await, "ouderinitiatief"), None);
    }
    let before: Vec<Vec<Tag>> = {
        let mut v = Vec::new();
        for id in &judged {
            v.push(tags(&f, *id).await);
        }
        v
    };
    // The decisions made the workspace dirty; refitting it re-suggests for the story
    // nobody judged, with the shared word as evidence.
    assert!(f.worker.dirty.lock().expect("dirty").contains(&f.ws));
    assert_eq!(f.worker.retrain(f.ws).await.expect("retrain"), 1);
    let t = tags(&f, new_here).await;
    let tag = t
        .iter()
        .find(|t| t.code == "ouderinitiatief")
        .expect("suggested after refitting");
    assert_eq!(tag.by, TAGGER_ID);
    assert!(
        tag.evidence.iter().any(|e| e.contains("Kraamkring")),
        "{:?}",
        tag.evidence
    );
    // The judged stories were not tagged again.
    for (id, old) in judged.iter().zip(&before) {
        assert_eq!(&tags(&f, *id).await, old);
    }
    // The other workspace has no model of its own and never sees the word as evidence.
    let models = f.worker.models.lock().expect("models").clone();
    assert!(models[&f.ws].0.knows("w:kraamkring"));
    assert_eq!(models[&f.ws].1, KRING.len());
    assert!(!models.contains_key(&other));
    assert!(!f.worker.cold.as_ref().expect("cold").knows("w:kraamkring"));
    f.worker.process(new_there).await.expect("process");
    assert_eq!(f.worker.retrain(other).await.expect("retrain"), 0);
    for t in tags(&f, new_there).await {
        assert_ne!(t.code, "ouderinitiatief");
        assert!(
            t.evidence.iter().all(|e| !e.contains("Kraamkring")),
            "{t:?}"
        );
    }
    // An erased judged story stops teaching: the workspace is refitted without it.
    f.worker.dirty.lock().expect("dirty").clear();
    assert!(f.worker.refit_if_erased().await.expect("check").is_empty());
    assert!(
        f.db.erase_doc(&judged[0].to_string(), 1)
            .await
            .expect("erase")
    );
    assert_eq!(f.worker.refit_if_erased().await.expect("check"), [f.ws]);
    assert!(f.worker.dirty.lock().expect("dirty").contains(&f.ws));
    f.worker.retrain(f.ws).await.expect("retrain");
    let models = f.worker.models.lock().expect("models").clone();
    assert_eq!(models[&f.ws].1, KRING.len() - 1);
}

#[tokio::test]
async fn a_workspace_activity_is_picked_up_without_a_restart() {
    let f = fixture().await;
    let (id, _) = stored_story(&f, "Ze kwam naar het kraamcafé in Den Hoorn.").await;
    f.worker.process(id).await.expect("process");
    assert_eq!(state_of(&tags(&f, id).await, "kraamcafe-dh"), None);
    f.db.put_workspace_activity(
        f.ws,
        &crate::tagging::taxonomy::WorkspaceActivity {
            code: "kraamcafe-dh".into(),
            name: Some("Kraamcafé Den Hoorn".into()),
            synonyms: Some(vec!["kraamcafé".into()]),
            ..Default::default()
        },
    )
    .await
    .expect("activity");
    f.worker.process(id).await.expect("process");
    assert_eq!(
        state_of(&tags(&f, id).await, "kraamcafe-dh"),
        Some((TagState::Suggested, TAGGER_ID.into()))
    );
}
