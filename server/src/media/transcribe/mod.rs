//! Speech to text with whisper.cpp (through whisper-rs), on the server's own CPU. Here live the
//! model and a transcription's run over a recording ([`model`]), voice activity detection
//! ([`vad`]), the rules that keep invented text out and join sentences ([`filter`]), the choice of
//! language ([`language`]), the initial prompt from the taxonomy ([`prompt`]), the stand-in
//! transcriber for tests ([`fake`]), the evaluation harness ([`evaluate`]) and the
//! `vertel-server transcribe` command ([`cli`]). Not here: the queue, its workers and what is
//! written into a story (`super::jobs`), decoding of audio files (`super::audio`), anything HTTP.
//! The model is loaded once per process and shared; every transcription creates its own whisper
//! state, so several workers can run at once. All of this is blocking work: callers run it on
//! blocking threads.

pub mod cli;
pub mod evaluate;
mod fake;
pub mod filter;
pub mod language;
pub mod model;
pub mod prompt;
pub mod vad;

pub use fake::FAKE_MODEL;
pub use language::{DEFAULT_LANGUAGE, Language};
pub use model::{Decoding, Model, WINDOW_SECONDS, decoding_params, full_params};

use crate::media::audio::{AudioError, AudioLimits};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The reason code of a recording in which no speech was found: its transcript is empty
/// (`docs/media.md`; shells and the desk say "geen spraak gevonden").
pub const NO_SPEECH: &str = "no-speech";

/// One timed piece of a transcript: a sentence, or a part of one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Segment {
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
    /// 0–1: the geometric mean of its tokens' probabilities.
    pub confidence: f64,
    /// Positions (from 0) of the words of `text`, split at whitespace, Whisper was unsure of.
    pub uncertain: Vec<u32>,
    /// Tokens decoded (weights the confidence of joined sentences).
    #[serde(skip)]
    pub words: u32,
}

/// An English machine translation of a transcript.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Translation {
    pub text: String,
    pub language: String,
    pub segments: Vec<Segment>,
}

/// What a transcription produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Transcription {
    pub text: String,
    /// The language transcribed: the one asked for, or the one detected among the expected.
    pub language: String,
    pub segments: Vec<Segment>,
    /// The model's name, e.g. `whisper-base`.
    pub model: String,
    /// Seconds of audio.
    pub audio_seconds: f64,
    /// [`NO_SPEECH`] when nothing was said.
    pub reason: Option<String>,
    /// For a recording in another language than Dutch or English: Whisper's English rendering.
    pub translation: Option<Translation>,
}

impl Segment {
    fn story(&self) -> client_core::story::TranscriptSegment {
        client_core::story::TranscriptSegment {
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            text: self.text.clone(),
            source: None,
            confidence: Some((self.confidence * 1000.0).round() / 1000.0),
            uncertain: self.uncertain.clone(),
        }
    }
}

impl Transcription {
    /// What `story::set_transcript` writes into the story.
    pub fn story_result(&self) -> client_core::story::TranscriptResult {
        client_core::story::TranscriptResult {
            text: self.text.clone(),
            language: self.language.clone(),
            model: self.model.clone(),
            segments: self.segments.iter().map(Segment::story).collect(),
            reason: self.reason.clone(),
            translation: self.translation.as_ref().map(|t| {
                client_core::story::MachineTranslation {
                    text: t.text.clone(),
                    language: t.language.clone(),
                    model: self.model.clone(),
                    segments: t.segments.iter().map(Segment::story).collect(),
                }
            }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    /// The audio itself is the problem: retrying will not help.
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("no speech model on this server")]
    NoModel,
    #[error("the speech model could not be loaded: {0}")]
    Model(String),
    #[error("transcription failed: {0}")]
    Whisper(String),
    #[error("transcription was interrupted")]
    Aborted,
}

impl TranscribeError {
    /// A code for why the recording cannot be transcribed, which shells show in the person's
    /// language (`docs/schema.md`, the attachment's `transcription.reason`); `None` for failures
    /// of the server rather than of the recording.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            TranscribeError::Audio(AudioError::TooLong { .. }) => Some("too-long"),
            TranscribeError::Audio(AudioError::Empty) => Some("no-sound"),
            TranscribeError::Audio(AudioError::Unsupported(_)) => Some("unsupported"),
            TranscribeError::Audio(AudioError::Corrupt(_)) => Some("damaged"),
            _ => None,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            TranscribeError::Audio(AudioError::Io(_)) => true,
            TranscribeError::Audio(_) => false,
            TranscribeError::NoModel => false,
            TranscribeError::Model(_) | TranscribeError::Whisper(_) | TranscribeError::Aborted => {
                true
            }
        }
    }
}

/// `${VERTEL_MODEL_DIR:-~/.cache/vertel/models}/ggml-base.bin`.
pub fn default_model_path() -> PathBuf {
    let dir = std::env::var_os("VERTEL_MODEL_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".cache/vertel/models")
        });
    dir.join("ggml-base.bin")
}

/// `ggml-base.bin` → `whisper-base`.
pub fn model_name(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let stem = stem.strip_prefix("ggml-").unwrap_or(stem);
    if stem.starts_with("whisper") {
        stem.to_string()
    } else {
        format!("whisper-{stem}")
    }
}

/// The MIME type a file name suggests, as a hint for the container probe.
pub fn mime_for_path(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "webm" | "weba" => "audio/webm",
        "m4a" | "mp4" | "aac" => "audio/mp4",
        _ => return None,
    })
}

/// What the worker pool transcribes with: Whisper, or (tests only, `VERTEL_FAKE_TRANSCRIBER`) a
/// stand-in that needs no model file. Both go through the same queue, claim, heartbeat, status
/// writes and transcript write (`jobs::process`); only the speech recognition itself differs.
pub struct Transcriber {
    /// The model's name as stored with a transcript (`whisper-base`, `nep-transcriber`).
    pub name: String,
    engine: Engine,
}

enum Engine {
    Whisper(Model),
    /// Sleep this long, reporting progress, then return a transcript made from the file's hash.
    Fake(Duration),
}

impl Transcriber {
    /// The fake when `fake` is set (no model file is read), else the Whisper model at `path`.
    pub fn load(path: &Path, fake: Option<Duration>) -> Result<Transcriber, TranscribeError> {
        if let Some(d) = fake {
            return Ok(Transcriber {
                name: FAKE_MODEL.to_string(),
                engine: Engine::Fake(d),
            });
        }
        let model = Model::load(path)?;
        Ok(Transcriber {
            name: model.name.clone(),
            engine: Engine::Whisper(model),
        })
    }

    /// Like [`Model::transcribe_with`], with either engine.
    #[allow(clippy::too_many_arguments)]
    pub fn transcribe(
        &self,
        path: &Path,
        mime: Option<&str>,
        language: Language,
        decoding: &Decoding,
        threads: usize,
        limits: AudioLimits,
        progress: impl Fn(i32) + Send + Sync + 'static,
        abort: Arc<AtomicBool>,
    ) -> Result<Transcription, TranscribeError> {
        match &self.engine {
            Engine::Whisper(m) => m.transcribe_with(
                path, mime, language, decoding, threads, limits, progress, abort,
            ),
            Engine::Fake(d) => {
                fake::transcribe(path, mime, language.known(), *d, limits, progress, &abort)
            }
        }
    }
}

/// Load the model at `model_path`, saying how to get one when it is missing.
pub fn load_model(model_path: &Path) -> Result<Model, TranscribeError> {
    match Model::load(model_path) {
        Err(TranscribeError::NoModel) => Err(TranscribeError::Model(format!(
            "no model at {} (run fixtures/models/fetch-whisper-base.sh)",
            model_path.display()
        ))),
        other => other,
    }
}

#[cfg(test)]
mod tests;
