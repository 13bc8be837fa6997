use super::*;
use crate::story::{self, ReviewState, Tag, TagState};
use automerge::ActorId;

fn doc_with_story() -> Automerge {
    let mut doc = Automerge::new();
    doc.set_actor(ActorId::from(b"device".as_slice()));
    story::create_story(
        &mut doc,
        &story::NewStory {
            kind: Some(story::StoryKind::ParentStory),
            title: "Op de markt".into(),
            body: "Ze vertelde over de kraamzorg.".into(),
            language: "nl".into(),
            captured_at: 1,
            consent: Some(story::Consent {
                given: true,
                how: Some(story::ConsentHow::Spoken),
                scope: Some(story::ConsentScope::InternalOnly),
                recorded_at: Some(1),
            }),
            ..Default::default()
        },
    )
    .unwrap();
    doc
}

fn as_actor(doc: &mut Automerge, name: &str, f: impl FnOnce(&mut Automerge)) {
    let previous = doc.get_actor().clone();
    doc.set_actor(ActorId::from(name.as_bytes()));
    f(doc);
    doc.set_actor(previous);
}

fn field(before: &Automerge, after: &Automerge) -> Result<(), Violation> {
    let coordinator = ActorId::from(b"coordinator".as_slice()).to_hex_string();
    check(
        &Owned::read(before),
        &Owned::read(after),
        Writer::FieldMember,
        |a| a == coordinator,
    )
}

#[test]
fn a_field_member_hands_in_but_never_judges() {
    let before = doc_with_story();
    let mut after = before.clone();
    story::set_review(&mut after, ReviewState::Submitted, "", 2).unwrap();
    // Handing in writes reviewedBy/At through set_review; the shell sets only the state.
    assert_eq!(field(&before, &after), Err(Violation::Review));
    let mut handed_in = before.clone();
    story::set_field(&mut handed_in, "review", "submitted", 2).unwrap();
    assert_eq!(field(&before, &handed_in), Ok(()));
    // The shell's "Indienen" (story::hand_in) writes only the state, with the spoken consent
    // clip (content) beforehand.
    let mut handed_in = before.clone();
    story::apply_patch(
        &mut handed_in,
        &story::StoryPatch {
            consent_clip: Some("c0ffee".into()),
            ..Default::default()
        },
        2,
    )
    .unwrap();
    story::hand_in(&mut handed_in, 3).unwrap();
    assert_eq!(
        story::review_state(&handed_in),
        Some(ReviewState::Submitted)
    );
    assert_eq!(field(&before, &handed_in), Ok(()));
    let mut approved = before.clone();
    story::set_field(&mut approved, "review", "approved", 2).unwrap();
    assert_eq!(field(&before, &approved), Err(Violation::Review));
    // A coordinator may.
    assert_eq!(
        check(
            &Owned::read(&before),
            &Owned::read(&approved),
            Writer::Coordinator,
            |_| false
        ),
        Ok(())
    );
}

#[test]
fn tags_of_the_tagger_and_decisions_of_a_coordinator_are_theirs() {
    let mut before = doc_with_story();
    as_actor(&mut before, "coordinator", |d| {
        story::set_tag(d, &tag("voorzorg", TagState::Confirmed, "Coco")).unwrap()
    });
    // Writing as the tagger.
    let mut forged = before.clone();
    story::set_tag(&mut forged, &tag("centering", TagState::Confirmed, TAGGER)).unwrap();
    assert_eq!(field(&before, &forged), Err(Violation::Tags));
    // Overturning a coordinator's decision.
    let mut overturned = before.clone();
    story::set_tag(
        &mut overturned,
        &tag("voorzorg", TagState::Rejected, "Nina"),
    )
    .unwrap();
    assert_eq!(field(&before, &overturned), Err(Violation::Tags));
    // Picking an activity of one's own is fine.
    let mut own = before.clone();
    story::set_tag(&mut own, &tag("centering", TagState::Confirmed, "Nina")).unwrap();
    assert_eq!(field(&before, &own), Ok(()));
}

#[test]
fn comments_stay_as_posted_and_transcription_is_the_servers() {
    let mut before = doc_with_story();
    let c = story::Comment {
        id: "c1".into(),
        author: "Coco".into(),
        at: 3,
        text: "Mooi verhaal".into(),
    };
    story::add_comment(&mut before, &c).unwrap();
    let mut reply = before.clone();
    story::add_comment(
        &mut reply,
        &story::Comment {
            id: "c2".into(),
            text: "Dank je".into(),
            ..c.clone()
        },
    )
    .unwrap();
    assert_eq!(field(&before, &reply), Ok(()));
    let mut edited = before.clone();
    story::change(&mut edited, 4, "edit", |tx| {
        let list = get_obj(tx, &ROOT, "comments", ObjType::List).expect("comments");
        let first = list_items(tx, &list)[0].clone();
        tx.put(&first, "text", "anders")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(field(&before, &edited), Err(Violation::Comments));

    let a = story::Attachment {
        sha256: "ab".repeat(32),
        mime: "audio/webm".into(),
        size: 10,
    };
    story::add_attachment(&mut before, &a, 5).unwrap();
    let mut status = before.clone();
    story::set_transcription_status(&mut status, &a.sha256, "done", 100, None, None, 6).unwrap();
    assert_eq!(field(&before, &status), Err(Violation::Transcription));
    assert_eq!(
        check(
            &Owned::read(&before),
            &Owned::read(&status),
            Writer::Coordinator,
            |_| false
        ),
        Err(Violation::Transcription)
    );
}

#[test]
fn the_machine_translation_is_the_servers_and_goes_back_when_refused() {
    let mut doc = doc_with_story();
    let a = story::Attachment {
        sha256: "cd".repeat(32),
        mime: "audio/webm".into(),
        size: 10,
    };
    story::add_attachment(&mut doc, &a, 5).unwrap();
    let segment = story::TranscriptSegment {
        end_ms: 900,
        text: "Merhaba".into(),
        ..Default::default()
    };
    let result = story::TranscriptResult {
        text: "Merhaba".into(),
        language: "tr".into(),
        model: "whisper-base".into(),
        segments: vec![segment.clone()],
        reason: None,
        translation: Some(story::MachineTranslation {
            text: "Hello".into(),
            language: "en".into(),
            model: "whisper-base".into(),
            segments: vec![story::TranscriptSegment {
                text: "Hello".into(),
                ..segment
            }],
        }),
    };
    story::set_transcript(&mut doc, &a.sha256, &result, 6).unwrap();
    let confirmed = doc.get_heads();
    let before = doc.clone();
    let mut forged = doc.clone();
    story::change(&mut forged, 7, "forge", |tx| {
        let t = get_obj(tx, &ROOT, "transcript", ObjType::Map).expect("transcript");
        let m = get_obj(tx, &t, "translation", ObjType::Map).expect("translation");
        tx.put(&m, "text", "Goodbye")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(field(&before, &forged), Err(Violation::Translation));
    let coordinator = check(
        &Owned::read(&before),
        &Owned::read(&forged),
        Writer::Coordinator,
        |_| true,
    );
    assert_eq!(coordinator, Err(Violation::Translation));
    // A person's correction of the transcript itself leaves the translation alone: allowed.
    let mut corrected = doc.clone();
    story::correct_transcript(
        &mut corrected,
        "Merhaba!",
        story::TranscriptState::Corrected,
        8,
    )
    .unwrap();
    assert_eq!(field(&before, &corrected), Ok(()));
    assert!(revert_owned(&mut forged, &confirmed, 9).unwrap());
    assert_eq!(
        story::transcript_translation(&forged).map(|t| t.text),
        Some("Hello".into())
    );
    assert_eq!(field(&before, &forged), Ok(()));
}

#[test]
fn revert_puts_owned_fields_back_and_keeps_the_rest() {
    let mut doc = doc_with_story();
    as_actor(&mut doc, "coordinator", |d| {
        story::set_tag(d, &tag("voorzorg", TagState::Confirmed, "Coco")).unwrap()
    });
    let confirmed = doc.get_heads();
    let before = doc.clone();
    story::set_field(&mut doc, "review", "approved", 7).unwrap();
    story::set_tag(&mut doc, &tag("voorzorg", TagState::Rejected, "Nina")).unwrap();
    story::set_title(&mut doc, "Nieuwe titel", 8).unwrap();
    assert!(field(&before, &doc).is_err());
    assert!(revert_owned(&mut doc, &confirmed, 9).unwrap());
    assert_eq!(field(&before, &doc), Ok(()));
    assert_eq!(Story::read(&doc).title, "Nieuwe titel", "the rest stays");
    assert!(
        !revert_owned(&mut doc, &confirmed, 10).unwrap(),
        "nothing left to undo"
    );
}

#[test]
fn an_approval_is_of_a_version() {
    let mut doc = doc_with_story();
    approve(&mut doc, "Coco", 5).unwrap();
    let approved = content(&approved_version(&doc).expect("approved"));
    assert_eq!(approved, content(&doc));
    story::set_title(&mut doc, "Herschreven", 6).unwrap();
    assert_ne!(content(&doc), approved);
    reopen_after_edit(&mut doc, 7).unwrap();
    assert_eq!(story::review_state(&doc), Some(ReviewState::Submitted));
    let still = approved_version(&doc).expect("the approved version stays for reports");
    assert_eq!(Story::read(&still).title, "Op de markt");
    // Returned: no version for reports.
    story::set_field(&mut doc, "review", "returned", 8).unwrap();
    assert!(approved_version(&doc).is_none());
}

fn tag(code: &str, state: TagState, by: &str) -> Tag {
    Tag {
        code: code.into(),
        state,
        by: by.into(),
        at: 3,
        score: None,
        evidence: vec![],
    }
}
