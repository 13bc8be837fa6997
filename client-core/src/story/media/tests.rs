use super::*;
use crate::story::read::get_bool;
use crate::story::*;
use automerge::ActorId;

fn story_with_audio(shas: &[&str]) -> Automerge {
    let mut doc = Automerge::new();
    create_story(
        &mut doc,
        &NewStory {
            kind: Some(StoryKind::ImpactNarrative),
            title: "Inloop".into(),
            language: "nl".into(),
            captured_at: 1,
            ..NewStory::default()
        },
    )
    .unwrap();
    for sha in shas {
        add_attachment(
            &mut doc,
            &Attachment {
                sha256: sha.to_string(),
                mime: "audio/webm".into(),
                size: 10,
            },
            2,
        )
        .unwrap();
    }
    doc
}

fn result(text: &str) -> TranscriptResult {
    TranscriptResult {
        text: text.into(),
        language: "nl".into(),
        model: "whisper-base".into(),
        segments: vec![TranscriptSegment {
            start_ms: 0,
            end_ms: 1500,
            text: text.into(),
            source: None,
            confidence: Some(0.9),
            uncertain: vec![1],
        }],
        reason: None,
        translation: None,
    }
}

fn translated(text: &str, english: &str) -> TranscriptResult {
    TranscriptResult {
        language: "tr".into(),
        translation: Some(MachineTranslation {
            text: english.into(),
            language: "en".into(),
            model: "whisper-base".into(),
            segments: vec![TranscriptSegment {
                start_ms: 0,
                end_ms: 1500,
                text: english.into(),
                ..TranscriptSegment::default()
            }],
        }),
        ..result(text)
    }
}

#[test]
fn segments_keep_their_confidence_and_uncertain_words() {
    let mut doc = story_with_audio(&["aa"]);
    set_transcript(&mut doc, "aa", &result("Hallo wereld"), 3).unwrap();
    let segs = transcript_segments(&doc);
    assert_eq!(segs[0].confidence, Some(0.9));
    assert_eq!(segs[0].uncertain, vec![1]);
}

#[test]
fn a_translation_is_kept_beside_the_transcript_and_marked_as_machine() {
    let mut doc = story_with_audio(&["aa", "bb"]);
    set_transcript(&mut doc, "aa", &translated("Merhaba", "Hello"), 3).unwrap();
    set_transcript(&mut doc, "bb", &translated("Anne", "Mother"), 4).unwrap();
    let t = Story::read(&doc).transcript.unwrap();
    assert_eq!(
        t.text, "Merhaba\n\nAnne",
        "the original stays the transcript"
    );
    let tr = transcript_translation(&doc).unwrap();
    assert_eq!(tr.text, "Hello\n\nMother");
    assert_eq!((tr.language.as_str(), tr.segments.len()), ("en", 2));
    assert_eq!(tr.segments[1].source.as_deref(), Some("bb"));
    let marked = get_obj(&doc, &ROOT, "transcript", ObjType::Map)
        .and_then(|t| get_obj(&doc, &t, "translation", ObjType::Map))
        .and_then(|m| get_bool(&doc, &m, "machine"));
    assert_eq!(marked, Some(true));
    // A recording transcribed again without translation takes only its own part away.
    set_transcript(&mut doc, "aa", &result("Hallo"), 5).unwrap();
    assert_eq!(transcript_translation(&doc).unwrap().text, "Mother");
    set_transcript(&mut doc, "bb", &result("Moeder"), 6).unwrap();
    assert_eq!(transcript_translation(&doc), None);
}

#[test]
fn no_speech_is_a_reason_beside_an_empty_transcript() {
    let mut doc = story_with_audio(&["aa"]);
    let silent = TranscriptResult {
        text: String::new(),
        segments: vec![],
        reason: Some("no-speech".into()),
        ..result("")
    };
    set_transcript(&mut doc, "aa", &silent, 3).unwrap();
    let d = StoryDetails::read(&doc);
    assert_eq!(d.transcriptions[0].status, "done");
    assert_eq!(d.transcriptions[0].reason.as_deref(), Some("no-speech"));
    assert_eq!(Story::read(&doc).transcript.unwrap().text, "");
    set_transcript(&mut doc, "aa", &result("Toch wel"), 4).unwrap();
    assert_eq!(StoryDetails::read(&doc).transcriptions[0].reason, None);
}

#[test]
fn progress_is_written_into_the_attachment_and_only_when_it_changes() {
    let mut doc = story_with_audio(&["aa"]);
    assert!(set_transcription_status(&mut doc, "aa", "running", 40, None, None, 3).unwrap());
    let heads = doc.get_heads();
    set_transcription_status(&mut doc, "aa", "running", 40, None, None, 4).unwrap();
    assert_eq!(doc.get_heads(), heads, "nothing new, no change");
    set_transcription_status(
        &mut doc,
        "aa",
        "failed",
        40,
        Some("kapot"),
        Some("damaged"),
        5,
    )
    .unwrap();
    let d = StoryDetails::read(&doc);
    assert_eq!(d.transcriptions[0].status, "failed");
    assert_eq!(d.transcriptions[0].error.as_deref(), Some("kapot"));
    assert_eq!(d.transcriptions[0].reason.as_deref(), Some("damaged"));
    // Queued again: the failure's error and reason go.
    set_transcription_status(&mut doc, "aa", "queued", 0, None, None, 6).unwrap();
    let d = StoryDetails::read(&doc);
    assert_eq!(
        (
            d.transcriptions[0].error.as_deref(),
            d.transcriptions[0].reason.as_deref()
        ),
        (None, None)
    );
    assert!(!set_transcription_status(&mut doc, "bb", "queued", 0, None, None, 7).unwrap());
}

#[test]
fn the_transcript_is_written_with_segments_and_state_automatic() {
    let mut doc = story_with_audio(&["aa"]);
    let w = set_transcript(&mut doc, "aa", &result("Hallo wereld"), 3).unwrap();
    assert_eq!(w, TranscriptWrite::Written);
    let t = Story::read(&doc).transcript.unwrap();
    assert_eq!(t.text, "Hallo wereld");
    assert_eq!(t.state, Some(TranscriptState::Automatic));
    assert_eq!(t.language.as_deref(), Some("nl"));
    let segs = transcript_segments(&doc);
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].source.as_deref(), Some("aa"));
    assert_eq!(StoryDetails::read(&doc).transcriptions[0].status, "done");
}

#[test]
fn a_corrected_or_approved_transcript_is_never_overwritten() {
    for state in [TranscriptState::Corrected, TranscriptState::Approved] {
        let mut doc = story_with_audio(&["aa"]);
        set_transcript(&mut doc, "aa", &result("machine"), 3).unwrap();
        correct_transcript(&mut doc, "mens", state, 4).unwrap();
        let w = set_transcript(&mut doc, "aa", &result("machine opnieuw"), 5).unwrap();
        assert_eq!(w, TranscriptWrite::KeptByPerson);
        let t = Story::read(&doc).transcript.unwrap();
        assert_eq!(t.text, "mens");
        assert_eq!(t.state, Some(state));
    }
}

#[test]
fn several_voice_notes_make_one_transcript_in_attachment_order() {
    let mut doc = story_with_audio(&["aa", "bb"]);
    set_transcript(&mut doc, "bb", &result("tweede"), 3).unwrap();
    set_transcript(&mut doc, "aa", &result("eerste"), 4).unwrap();
    assert_eq!(
        Story::read(&doc).transcript.unwrap().text,
        "eerste\n\ntweede"
    );
    // Re-running one replaces only its own part.
    set_transcript(&mut doc, "aa", &result("eerste opnieuw"), 5).unwrap();
    assert_eq!(
        Story::read(&doc).transcript.unwrap().text,
        "eerste opnieuw\n\ntweede"
    );
    assert_eq!(transcript_segments(&doc).len(), 2);
}

#[test]
fn a_person_correcting_while_the_server_writes_progress_merges_cleanly() {
    let mut server = story_with_audio(&["aa"]);
    set_transcript(&mut server, "aa", &result("machine"), 3).unwrap();
    let mut phone = Automerge::load(&server.save())
        .unwrap()
        .with_actor(ActorId::from(b"phone".as_slice()));
    correct_transcript(&mut phone, "Door een mens", TranscriptState::Corrected, 4).unwrap();
    set_transcription_status(&mut server, "aa", "done", 100, None, None, 5).unwrap();
    server.merge(&mut phone).unwrap();
    let t = Story::read(&server).transcript.unwrap();
    assert_eq!(t.text, "Door een mens");
    assert_eq!(t.model.as_deref(), Some("whisper-base"));
    // And a later machine run leaves the correction alone.
    assert_eq!(
        set_transcript(&mut server, "aa", &result("machine"), 6).unwrap(),
        TranscriptWrite::KeptByPerson
    );
}
