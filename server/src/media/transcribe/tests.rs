//! Tests of the whole transcription: the fake, and Whisper for real (the model
//! `fixtures/models/fetch-whisper-base.sh` installs; espeak-ng and ffmpeg make the audio).

use super::*;
use crate::media::audio;

#[test]
fn model_names_come_from_the_file_name() {
    assert_eq!(model_name(Path::new("/m/ggml-base.bin")), "whisper-base");
    assert_eq!(model_name(Path::new("whisper-small.bin")), "whisper-small");
}

#[test]
fn the_fake_transcriber_needs_no_model_and_reports_progress() {
    let dir = std::env::temp_dir().join(format!("vertel-fake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("note.webm");
    std::fs::write(&file, b"not really audio").expect("write");
    let t = Transcriber::load(
        Path::new("/nonexistent/ggml-base.bin"),
        Some(Duration::from_millis(200)),
    )
    .expect("the fake loads without a model");
    assert_eq!(t.name, FAKE_MODEL);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let out = t
        .transcribe(
            &file,
            None,
            Language::Known("nl".into()),
            &Decoding::default(),
            1,
            AudioLimits::default(),
            move |p| {
                if let Ok(mut l) = log.lock() {
                    l.push(p);
                }
            },
            Arc::new(AtomicBool::new(false)),
        )
        .expect("transcribed");
    // sha256("not really audio") starts with these 8 hex digits.
    let expected = {
        use sha2::{Digest, Sha256};
        let h: String = Sha256::digest(b"not really audio")
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("nep-transcript {h}")
    };
    assert_eq!(out.text, expected);
    assert_eq!(out.segments.len(), 1);
    assert_eq!(out.language, "nl");
    let steps = seen.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(steps.len() >= 3 && steps.last() == Some(&100), "{steps:?}");
    let aborted = t.transcribe(
        &file,
        None,
        Language::Known("nl".into()),
        &Decoding::default(),
        1,
        AudioLimits::default(),
        |_| {},
        Arc::new(AtomicBool::new(true)),
    );
    assert!(matches!(aborted, Err(TranscribeError::Aborted)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_model_says_so() {
    let err = Model::load(Path::new("/nonexistent/ggml-base.bin"))
        .err()
        .expect("no model there");
    assert!(matches!(err, TranscribeError::NoModel));
    assert!(!err.is_transient());
}

/// The fake transcriber refuses what the real one refuses before decoding: a recording whose
/// headers declare more than the limit.
#[test]
fn the_fake_transcriber_refuses_a_declared_duration_over_the_limit() {
    let dir = std::env::temp_dir().join(format!("vertel-fake-long-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("long.wav");
    // A 16 kHz mono WAV header declaring 2 hours, with one second of silence.
    let declared: u32 = 2 * 3600 * 32_000;
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&(36 + declared).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 0x0001_0001, 16_000, 32_000, 0x0010_0002] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&declared.to_le_bytes());
    wav.extend_from_slice(&vec![0u8; 32_000]);
    std::fs::write(&file, &wav).expect("write");
    let t = Transcriber::load(Path::new("/nonexistent"), Some(Duration::from_millis(10)))
        .expect("fake");
    let err = t
        .transcribe(
            &file,
            Some("audio/wav"),
            Language::Known("nl".into()),
            &Decoding::default(),
            1,
            AudioLimits { max_seconds: 60 },
            |_| {},
            Arc::new(AtomicBool::new(false)),
        )
        .expect_err("refused");
    assert_eq!(err.reason(), Some("too-long"), "{err}");
    assert!(!err.is_transient());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whisper, for real (the model `fixtures/models/fetch-whisper-base.sh` installs; espeak-ng
/// makes the speech): about 16 s of speech transcribed in windows of 6 s keeps its words, with
/// segment times that run on across the windows.
#[test]
fn windows_join_into_one_transcript() {
    let model = Model::load(&default_model_path())
        .expect("the Whisper model (fixtures/models/fetch-whisper-base.sh)");
    let dir = std::env::temp_dir().join(format!("vertel-windows-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let raw = dir.join("speech.wav");
    let text = "Every morning the nurse visits young families in the neighbourhood. \
        She listens to the parents and writes down what they need. \
        Some mothers ask about sleep, others about food or about money. \
        The coalition meets every month to read these stories together.";
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", "en", "-s", "150", "-w"])
        .arg(&raw)
        .arg(text)
        .status()
        .expect("espeak-ng (scripts/test.sh installs it)");
    assert!(status.success());
    let run = |window: usize| {
        let recording = audio::Recording::open(&raw, Some("audio/wav"), AudioLimits::default())
            .expect("recording");
        model
            .transcribe_windows(
                recording,
                window,
                Language::Known("en".into()),
                &Decoding::server(),
                2,
                Arc::new(|_| {}),
                Arc::new(AtomicBool::new(false)),
            )
            .expect("transcribed")
    };
    let samples =
        audio::decode_file(&raw, Some("audio/wav"), AudioLimits::default()).expect("decoded");
    let seconds = samples.len() as f64 / f64::from(audio::SAMPLE_RATE);
    assert!(seconds > 12.0, "{seconds} s");
    let windowed = run(6 * audio::SAMPLE_RATE as usize);
    assert!((windowed.audio_seconds - seconds).abs() < 0.01);
    let starts: Vec<i64> = windowed.segments.iter().map(|s| s.start_ms).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    let last_end = windowed.segments.last().map(|s| s.end_ms).unwrap_or(0);
    assert!(last_end > 12_000, "the last segment ends at {last_end} ms");
    let words = |t: &str| -> Vec<String> {
        t.split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase()
            })
            .filter(|w| w.len() > 3)
            .collect()
    };
    let expected = words(text);
    let found = words(&windowed.text);
    let hits = expected.iter().filter(|w| found.contains(w)).count();
    assert!(
        hits * 10 >= expected.len() * 7,
        "{hits} of {} words: {:?}",
        expected.len(),
        windowed.text
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A temporary folder with `name` made by `make` (espeak-ng or ffmpeg writing to the path).
fn made(name: &str, make: impl FnOnce(&Path) -> std::process::Command) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("vertel-t-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(name);
    let status = make(&file)
        .status()
        .expect("espeak-ng and ffmpeg (scripts/test.sh installs them)");
    assert!(status.success(), "making {name}");
    (dir, file)
}

fn ffmpeg_clip(source: &str) -> impl FnOnce(&Path) -> std::process::Command {
    let source = source.to_string();
    move |out: &Path| {
        let mut c = std::process::Command::new("ffmpeg");
        c.args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg(source)
            .args(["-t", "8", "-ac", "1", "-ar", "16000"])
            .arg(out);
        c
    }
}

/// Issue 15: Whisper wrote "TV GELDERLAND 2020." for silence and "*muziek*" for brown noise.
/// Now silence and noise give an empty transcript that says no speech was found, with the
/// language given and without.
#[test]
fn silence_and_noise_give_an_empty_transcript_with_the_no_speech_reason() {
    let model = Model::load(&default_model_path())
        .expect("the Whisper model (fixtures/models/fetch-whisper-base.sh)");
    for (source, language) in [
        ("anullsrc=r=16000:cl=mono", Some("nl")),
        ("anoisesrc=color=pink:amplitude=0.3", None),
        ("anoisesrc=color=brown:amplitude=0.5", Some("nl")),
    ] {
        let (dir, file) = made("clip.wav", ffmpeg_clip(source));
        let t = model
            .transcribe_file(
                &file,
                Some("audio/wav"),
                language,
                2,
                AudioLimits::default(),
                |_| {},
                Arc::new(AtomicBool::new(false)),
            )
            .expect("transcribed");
        assert_eq!(t.text, "", "{source}");
        assert!(t.segments.is_empty(), "{source}: {:?}", t.segments);
        assert_eq!(t.reason.as_deref(), Some(NO_SPEECH), "{source}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A Dutch voice note whose language nobody gave is detected as Dutch (only the expected
/// languages are candidates, so not German or Afrikaans), and its segments carry a confidence.
#[test]
fn a_dutch_voice_note_with_unknown_language_is_transcribed_as_dutch() {
    let model = Model::load(&default_model_path())
        .expect("the Whisper model (fixtures/models/fetch-whisper-base.sh)");
    let (dir, file) = made("note.wav", |out: &Path| {
        let mut c = std::process::Command::new("espeak-ng");
        c.args(["-v", "nl", "-s", "160", "-w"])
            .arg(out)
            .arg("Gisteren ben ik met mijn dochter naar de markt geweest. Het was erg druk.");
        c
    });
    let t = model
        .transcribe_file(
            &file,
            Some("audio/wav"),
            None,
            2,
            AudioLimits::default(),
            |_| {},
            Arc::new(AtomicBool::new(false)),
        )
        .expect("transcribed");
    assert_eq!(t.language, "nl", "{t:?}");
    assert!(t.text.to_lowercase().contains("markt"), "{t:?}");
    assert!(t.reason.is_none() && t.translation.is_none(), "{t:?}");
    assert!(
        t.segments
            .iter()
            .all(|s| s.confidence > 0.0 && s.confidence <= 1.0),
        "{:?}",
        t.segments
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A voice note in another language than Dutch or English gets Whisper's English rendering beside
/// the original transcript, never in its place.
#[test]
fn another_language_gets_an_english_machine_translation_beside_the_original() {
    let model = Model::load(&default_model_path())
        .expect("the Whisper model (fixtures/models/fetch-whisper-base.sh)");
    let (dir, file) = made("tr.wav", |out: &Path| {
        let mut c = std::process::Command::new("espeak-ng");
        c.args(["-v", "tr", "-s", "140", "-w"])
            .arg(out)
            .arg("Bugün annemle birlikte pazara gittik. Çok kalabalıktı.");
        c
    });
    let t = model
        .transcribe_file(
            &file,
            Some("audio/wav"),
            Some("tr"),
            2,
            AudioLimits::default(),
            |_| {},
            Arc::new(AtomicBool::new(false)),
        )
        .expect("transcribed");
    assert_eq!(t.language, "tr");
    assert!(!t.text.is_empty(), "{t:?}");
    let tr = t.translation.as_ref().expect("a translation");
    assert_eq!(tr.language, "en");
    assert!(!tr.text.is_empty() && tr.text != t.text, "{t:?}");
    let story = t.story_result();
    assert_eq!(story.text, t.text, "the original stays the transcript");
    assert!(story.translation.is_some());
    let _ = std::fs::remove_dir_all(&dir);
}
