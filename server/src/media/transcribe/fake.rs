//! The stand-in transcriber for tests of the queue (`VERTEL_FAKE_TRANSCRIBER`): no model file,
//! a deterministic transcript from the recording's hash.

use super::{DEFAULT_LANGUAGE, Segment, TranscribeError, Transcription};
use crate::media::audio::{self, AudioError, AudioLimits};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The model name the fake transcriber writes, so a fake transcript is never taken for a real one.
pub const FAKE_MODEL: &str = "nep-transcriber";

/// The fake transcriber's step between progress reports: short, so the worker's heartbeat (and the
/// progress it writes into the story) runs several times per job, as with a real recording.
const FAKE_STEP: Duration = Duration::from_millis(50);

/// The fake transcriber's work: read the recording (as Whisper would; a missing blob fails the
/// same way), refuse it when its headers declare more than `limits` allow (as the real path does
/// before decoding; what is not audio is not judged), then sleep `duration` in short steps,
/// reporting progress and honouring `abort` like whisper.cpp does, and return `nep-transcript
/// <first 8 hex digits of the SHA-256>` as one segment. Deterministic, so a test knows which
/// transcript each recording must get.
pub(super) fn transcribe(
    path: &Path,
    mime: Option<&str>,
    language: Option<&str>,
    duration: Duration,
    limits: AudioLimits,
    progress: impl Fn(i32),
    abort: &AtomicBool,
) -> Result<Transcription, TranscribeError> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).map_err(|e| TranscribeError::Audio(AudioError::Io(e)))?;
    if let Err(e @ AudioError::TooLong { .. }) = audio::Recording::open(path, mime, limits) {
        return Err(e.into());
    }
    let hash: String = Sha256::digest(&bytes)
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    let started = Instant::now();
    progress(0);
    while started.elapsed() < duration {
        if abort.load(Ordering::Relaxed) {
            return Err(TranscribeError::Aborted);
        }
        std::thread::sleep(FAKE_STEP.min(duration.saturating_sub(started.elapsed())));
        let done = started.elapsed().as_millis() * 100 / duration.as_millis().max(1);
        progress(done.min(100) as i32);
    }
    if abort.load(Ordering::Relaxed) {
        return Err(TranscribeError::Aborted);
    }
    let text = format!("nep-transcript {hash}");
    let end_ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    Ok(Transcription {
        text: text.clone(),
        language: language.unwrap_or(DEFAULT_LANGUAGE).to_string(),
        segments: vec![Segment {
            start_ms: 0,
            end_ms,
            text,
            confidence: 1.0,
            uncertain: Vec::new(),
            words: 2,
        }],
        model: FAKE_MODEL.to_string(),
        audio_seconds: duration.as_secs_f64(),
        reason: None,
        translation: None,
    })
}
