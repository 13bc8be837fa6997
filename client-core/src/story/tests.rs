use super::read::{get_i64, get_obj};
use super::*;
use automerge::{ActorId, Automerge, ObjType, ROOT, transaction::Transactable};

fn sample() -> NewStory {
    NewStory {
        kind: Some(StoryKind::ParentStory),
        title: "Op de markt".into(),
        body: "Ze vertelde over de eerste weken.".into(),
        language: "nl".into(),
        captured_at: 1_700_000_000_000,
        place_type: Some(PlaceType::Markt),
        municipality: Some("Westland".into()),
        told_by: Some(Person {
            role: "moeder".into(),
            name: "Roos".into(),
        }),
        recorded_by: Some(Person {
            role: "professional".into(),
            name: "m-1".into(),
        }),
        consent: Some(Consent {
            given: true,
            how: Some(ConsentHow::Spoken),
            scope: Some(ConsentScope::MayBeQuoted),
            recorded_at: Some(1_700_000_000_000),
        }),
        persona: None,
    }
}

#[test]
fn a_story_reads_back_what_was_written() {
    let mut doc = Automerge::new();
    create_story(&mut doc, &sample()).unwrap();
    let s = Story::read(&doc);
    assert_eq!(s.schema, SCHEMA_VERSION);
    assert_eq!(s.doc_type, Some(DocType::Story));
    assert_eq!(s.title, "Op de markt");
    assert_eq!(s.body, "Ze vertelde over de eerste weken.");
    assert_eq!(s.place_type, Some(PlaceType::Markt));
    assert_eq!(s.consent.unwrap().scope, Some(ConsentScope::MayBeQuoted));
    assert_eq!(s.review, Some(ReviewState::Draft));
}

#[test]
fn a_story_about_a_person_needs_consent() {
    let mut doc = Automerge::new();
    let mut s = sample();
    s.consent = None;
    assert!(matches!(
        create_story(&mut doc, &s),
        Err(StoryError::ConsentRequired)
    ));
    s.kind = Some(StoryKind::ImpactNarrative);
    create_story(&mut doc, &s).unwrap();
}

#[test]
fn unknown_fields_from_a_newer_client_survive_edits_and_merges() {
    let mut newer = Automerge::new().with_actor(ActorId::from(b"newer".as_slice()));
    create_story(&mut newer, &sample()).unwrap();
    change(&mut newer, 1, "future", |tx| {
        let m = tx.put_object(ROOT, "futureField", ObjType::Map)?;
        tx.put(&m, "answer", 42i64)?;
        Ok(())
    })
    .unwrap();
    let mut older = Automerge::load(&newer.save())
        .unwrap()
        .with_actor(ActorId::from(b"older".as_slice()));
    set_title(&mut older, "Nieuwe titel", 2).unwrap();
    update_body(&mut older, "Andere tekst.", 3).unwrap();
    let mut back = Automerge::load(&older.save()).unwrap();
    back.merge(&mut newer).unwrap();
    let future = get_obj(&back, &ROOT, "futureField", ObjType::Map).expect("kept");
    assert_eq!(get_i64(&back, &future, "answer"), Some(42));
    assert_eq!(Story::read(&back).title, "Nieuwe titel");
}

#[test]
fn tags_are_keyed_by_code_and_comments_append() {
    let mut doc = Automerge::new();
    create_story(&mut doc, &sample()).unwrap();
    let tag = Tag {
        code: "voorzorg".into(),
        state: TagState::Suggested,
        by: "server".into(),
        at: 5,
        score: Some(0.8),
        evidence: vec!["voorzorg".into()],
    };
    set_tag(&mut doc, &tag).unwrap();
    set_tag(
        &mut doc,
        &Tag {
            state: TagState::Confirmed,
            by: "m-2".into(),
            ..tag.clone()
        },
    )
    .unwrap();
    add_comment(
        &mut doc,
        &Comment {
            id: "c1".into(),
            author: "m-2".into(),
            at: 6,
            text: "Mooi".into(),
        },
    )
    .unwrap();
    let s = Story::read(&doc);
    assert_eq!(s.tags.len(), 1);
    assert_eq!(s.tags[0].state, TagState::Confirmed);
    assert_eq!(s.comments[0].text, "Mooi");
}

fn tag(code: &str, state: TagState, by: &str, score: Option<f64>) -> Tag {
    Tag {
        code: code.into(),
        state,
        by: by.into(),
        at: 10,
        score,
        evidence: vec!["rookt".into()],
    }
}

#[test]
fn a_persons_confirm_wins_over_a_concurrent_in_place_update() {
    let mut server = Automerge::new().with_actor(ActorId::from(b"zzzz-server".as_slice()));
    create_story(&mut server, &sample()).unwrap();
    let suggested = tag("rookvrije-start", TagState::Suggested, "tagger", Some(0.5));
    write_tags(&mut server, 10, &[TagWrite::Update(suggested.clone())]).unwrap();
    let mut phone = Automerge::load(&server.save())
        .unwrap()
        .with_actor(ActorId::from(b"aaaa-phone".as_slice()));
    // Concurrently: the person confirms, the tagger refines score and evidence.
    set_tag(
        &mut phone,
        &tag("rookvrije-start", TagState::Confirmed, "m-1", None),
    )
    .unwrap();
    let mut refined = suggested.clone();
    refined.score = Some(0.9);
    refined.evidence = vec!["rookt".into(), "sigaretten".into()];
    write_tags(&mut server, 11, &[TagWrite::Update(refined)]).unwrap();
    server.merge(&mut phone).unwrap();
    phone.merge(&mut server).unwrap();
    for doc in [&server, &phone] {
        let s = Story::read(doc);
        assert_eq!(s.tags.len(), 1);
        assert_eq!(s.tags[0].state, TagState::Confirmed);
        assert_eq!(s.tags[0].by, "m-1");
    }
    assert_eq!(tag_versions(&server)["rookvrije-start"].len(), 1);
}

#[test]
fn concurrent_new_tags_are_all_visible_and_replace_resolves_them() {
    let mut a = Automerge::new().with_actor(ActorId::from(b"aaaa".as_slice()));
    create_story(&mut a, &sample()).unwrap();
    let mut b = Automerge::load(&a.save())
        .unwrap()
        .with_actor(ActorId::from(b"bbbb".as_slice()));
    set_tag(&mut a, &tag("voorzorg", TagState::Rejected, "m-1", None)).unwrap();
    write_tags(
        &mut b,
        10,
        &[TagWrite::Update(tag(
            "voorzorg",
            TagState::Suggested,
            "tagger",
            Some(1.0),
        ))],
    )
    .unwrap();
    a.merge(&mut b).unwrap();
    let versions = tag_versions(&a);
    assert_eq!(versions["voorzorg"].len(), 2);
    assert_eq!(versions["voorzorg"][0], Story::read(&a).tags[0]);
    let rejected = versions["voorzorg"]
        .iter()
        .find(|t| t.state == TagState::Rejected)
        .cloned()
        .unwrap();
    write_tags(&mut a, 12, &[TagWrite::Replace(rejected)]).unwrap();
    assert_eq!(tag_versions(&a)["voorzorg"].len(), 1);
    assert_eq!(Story::read(&a).tags[0].state, TagState::Rejected);
    write_tags(&mut a, 13, &[TagWrite::Remove("voorzorg".into())]).unwrap();
    assert!(Story::read(&a).tags.is_empty());
}

#[test]
fn persona_documents_use_the_same_machinery() {
    let mut doc = Automerge::new();
    let p = Persona {
        name: "Samira".into(),
        age_band: Some("18-25".into()),
        situation: "Net in Nederland".into(),
        needs: "Informatie in eigen taal".into(),
    };
    create_persona(&mut doc, &p, 1).unwrap();
    assert_eq!(doc_type(&doc), Some(DocType::Persona));
    assert_eq!(Persona::read(&doc), p);
}
