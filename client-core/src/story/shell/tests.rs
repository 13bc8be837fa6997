use super::*;
use crate::story::write::ensure_list;
use crate::story::*;

fn story() -> Automerge {
    let mut doc = Automerge::new();
    create_story(
        &mut doc,
        &NewStory {
            kind: Some(StoryKind::ImpactNarrative),
            title: "Inloopochtend".into(),
            language: "nl".into(),
            captured_at: 1_700_000_000_000,
            ..NewStory::default()
        },
    )
    .unwrap();
    doc
}

#[test]
fn sections_phase_and_target_group_read_back() {
    let mut doc = story();
    let patch = StoryPatch {
        phase: Some("zwangerschap".into()),
        target_group: Some("nieuwkomers".into()),
        sections: [
            ("what-we-did".to_string(), "Een inloopochtend.".to_string()),
            ("evidence".to_string(), "12 moeders kwamen.".to_string()),
        ]
        .into(),
        ..StoryPatch::default()
    };
    apply_patch(&mut doc, &patch, 2).unwrap();
    set_section(&mut doc, "what-changed", "Ze kennen elkaar nu.", 3).unwrap();
    let d = StoryDetails::read(&doc);
    assert_eq!(d.phase.as_deref(), Some("zwangerschap"));
    assert_eq!(d.target_group.as_deref(), Some("nieuwkomers"));
    assert_eq!(d.sections.len(), 3);
    assert_eq!(d.sections["evidence"], "12 moeders kwamen.");
    // The existing reader is unaffected.
    assert_eq!(Story::read(&doc).title, "Inloopochtend");
    // An empty value removes the field.
    let clear = StoryPatch {
        phase: Some(String::new()),
        ..StoryPatch::default()
    };
    apply_patch(&mut doc, &clear, 4).unwrap();
    assert_eq!(StoryDetails::read(&doc).phase, None);
}

#[test]
fn concurrent_section_edits_merge() {
    let mut a = story();
    set_section(&mut a, "what-we-did", "Koffie.", 2).unwrap();
    let mut b = Automerge::load(&a.save())
        .unwrap()
        .with_actor(automerge::ActorId::from(b"b".as_slice()));
    set_section(&mut a, "what-we-did", "Koffie en thee.", 3).unwrap();
    set_section(&mut b, "what-we-did", "Verse koffie.", 3).unwrap();
    a.merge(&mut b).unwrap();
    let text = &StoryDetails::read(&a).sections["what-we-did"];
    assert!(text.contains("thee") && text.contains("Verse"), "{text}");
}

#[test]
fn a_draft_needs_no_consent_until_it_is_handed_in() {
    let mut doc = Automerge::new();
    let new = NewStory {
        kind: Some(StoryKind::ParentStory),
        captured_at: 1,
        ..NewStory::default()
    };
    assert!(matches!(
        create_story(&mut Automerge::new(), &new),
        Err(StoryError::ConsentRequired)
    ));
    create_draft(&mut doc, &new).unwrap();
    assert_eq!(review_state(&doc), Some(ReviewState::Draft));
    // Every word is kept while it is told, before anyone has asked for consent.
    let typed = StoryPatch {
        body: Some("Ze vertelde".into()),
        ..StoryPatch::default()
    };
    apply_patch(&mut doc, &typed, 2).unwrap();
    let heads = doc.get_heads();
    assert!(matches!(
        hand_in(&mut doc, 3),
        Err(StoryError::ConsentRequired)
    ));
    assert_eq!(doc.get_heads(), heads, "nothing written");
    let consent = StoryPatch {
        consent: Some(Consent {
            given: true,
            how: Some(ConsentHow::Spoken),
            scope: Some(ConsentScope::InternalOnly),
            recorded_at: Some(4),
        }),
        consent_clip: Some("c0ffee".into()),
        ..StoryPatch::default()
    };
    apply_patch(&mut doc, &consent, 4).unwrap();
    hand_in(&mut doc, 5).unwrap();
    assert_eq!(review_state(&doc), Some(ReviewState::Submitted));
    assert_eq!(
        StoryDetails::read(&doc).consent_clip.as_deref(),
        Some("c0ffee")
    );
    assert_eq!(Story::read(&doc).body, "Ze vertelde");
    // Handing in again changes nothing.
    let heads = doc.get_heads();
    hand_in(&mut doc, 6).unwrap();
    assert_eq!(doc.get_heads(), heads);
}

#[test]
fn a_patch_that_would_drop_consent_writes_nothing() {
    let mut doc = story();
    hand_in(&mut doc, 1).unwrap();
    let heads = doc.get_heads();
    let patch = StoryPatch {
        kind: Some(StoryKind::ParentStory),
        title: Some("Zonder toestemming".into()),
        ..StoryPatch::default()
    };
    assert!(matches!(
        apply_patch(&mut doc, &patch, 2),
        Err(StoryError::ConsentRequired)
    ));
    assert_eq!(doc.get_heads(), heads);
    assert_eq!(Story::read(&doc).title, "Inloopochtend");
    let with_consent = StoryPatch {
        consent: Some(Consent {
            given: true,
            how: Some(ConsentHow::Written),
            scope: Some(ConsentScope::InternalOnly),
            recorded_at: Some(2),
        }),
        ..patch
    };
    apply_patch(&mut doc, &with_consent, 2).unwrap();
    assert_eq!(Story::read(&doc).kind, Some(StoryKind::ParentStory));
}

#[test]
fn a_corrected_transcript_keeps_the_servers_other_keys() {
    let mut doc = story();
    // As the server writes it (docs/media.md), including an attachment's progress.
    change(&mut doc, 2, "server", |tx| {
        let t = tx.put_object(ROOT, "transcript", ObjType::Map)?;
        tx.put(&t, "text", "hallo wereld")?;
        tx.put(&t, "state", "automatic")?;
        tx.put(&t, "model", "whisper-base")?;
        let list = ensure_list(tx, "attachments")?;
        let a = tx.insert_object(&list, 0, ObjType::Map)?;
        tx.put(&a, "sha256", "ab")?;
        let s = tx.put_object(&a, "transcription", ObjType::Map)?;
        tx.put(&s, "status", "running")?;
        tx.put(&s, "progress", 40i64)?;
        Ok(())
    })
    .unwrap();
    let d = StoryDetails::read(&doc);
    assert_eq!(d.transcriptions[0].status, "running");
    assert_eq!(d.transcriptions[0].progress, Some(40));
    let patch = StoryPatch {
        transcript: Some("Hallo, wereld.".into()),
        ..StoryPatch::default()
    };
    apply_patch(&mut doc, &patch, 3).unwrap();
    let t = Story::read(&doc).transcript.unwrap();
    assert_eq!(t.text, "Hallo, wereld.");
    assert_eq!(t.state, Some(TranscriptState::Corrected));
    assert_eq!(t.model.as_deref(), Some("whisper-base"));
}
