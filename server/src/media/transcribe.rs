//! Speech to text with whisper.cpp (through whisper-rs), on the server's own CPU.
//!
//! The model (a ggml file, `fixtures/models/fetch-whisper-base.sh`) is loaded once per process and
//! shared; every transcription creates its own whisper state, so several workers can run at once.
//! All of this is blocking work: callers run it on blocking threads.

use crate::media::audio::{self, AudioError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

/// The language used when a story names none (the coalitions work in Dutch).
pub const DEFAULT_LANGUAGE: &str = "nl";

/// One timed piece of a transcript.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Segment {
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
}

/// What a transcription produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Transcription {
    pub text: String,
    /// The language transcribed: the one asked for, or the one detected.
    pub language: String,
    pub segments: Vec<Segment>,
    /// The model's name, e.g. `whisper-base`.
    pub model: String,
    /// Seconds of audio.
    pub audio_seconds: f64,
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

/// The language to ask Whisper for: the primary subtag of a BCP-47 code if Whisper knows it;
/// `None` (detect) for `auto`, an empty value or a language Whisper does not know.
pub fn whisper_language(code: Option<&str>) -> Option<String> {
    let code = code.unwrap_or(DEFAULT_LANGUAGE).trim();
    let primary = code
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let plausible =
        (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase());
    if !plausible || primary == "auto" {
        return None;
    }
    whisper_rs::get_lang_id(&primary).map(|_| primary)
}

/// The decoding parameters every transcription uses (the benchmark uses the same): greedy
/// decoding as in `fixtures/models/check`, no translation, nothing printed.
pub fn full_params<'a>(threads: usize, language: Option<&'a str>) -> FullParams<'a, 'a> {
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_n_threads(threads.clamp(1, 64) as i32);
    params.set_language(Some(language.unwrap_or("auto")));
    params.set_translate(false);
    params.set_print_special(false);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_timestamps(false);
    params
}

/// whisper.cpp's abort callback: `user_data` is the `AtomicBool` of [`Model::transcribe`].
unsafe extern "C" fn abort_requested(user_data: *mut std::ffi::c_void) -> bool {
    if user_data.is_null() {
        return false;
    }
    // SAFETY: set from `Arc::as_ptr` of an `AtomicBool` alive for the whole `full` call.
    let flag = unsafe { &*(user_data as *const AtomicBool) };
    flag.load(Ordering::Relaxed)
}

/// A loaded model.
pub struct Model {
    ctx: WhisperContext,
    pub name: String,
    pub path: PathBuf,
}

impl Model {
    pub fn load(path: &Path) -> Result<Model, TranscribeError> {
        if !path.is_file() {
            return Err(TranscribeError::NoModel);
        }
        install_logging();
        let path_text = path
            .to_str()
            .ok_or_else(|| TranscribeError::Model("model path is not UTF-8".into()))?;
        let ctx = WhisperContext::new_with_params(path_text, WhisperContextParameters::default())
            .map_err(|e| TranscribeError::Model(e.to_string()))?;
        Ok(Model {
            ctx,
            name: model_name(path),
            path: path.to_path_buf(),
        })
    }

    pub fn context(&self) -> &WhisperContext {
        &self.ctx
    }

    /// Transcribe 16 kHz mono samples. `progress` gets whisper's percentage (0–100); `abort`
    /// stops the work between steps.
    pub fn transcribe(
        &self,
        samples: &[f32],
        language: Option<&str>,
        threads: usize,
        progress: impl FnMut(i32) + 'static,
        abort: Arc<AtomicBool>,
    ) -> Result<Transcription, TranscribeError> {
        let audio_seconds = samples.len() as f64 / f64::from(audio::SAMPLE_RATE);
        if samples.len() < audio::SAMPLE_RATE as usize / 10 {
            return Err(TranscribeError::Audio(AudioError::Empty));
        }
        let mut state = self
            .ctx
            .create_state()
            .map_err(|e| TranscribeError::Whisper(e.to_string()))?;
        let mut params = full_params(threads, language);
        params.set_progress_callback_safe(progress);
        // whisper-rs 0.16's `set_abort_callback_safe` hands whisper.cpp a pointer of the wrong type
        // (it aborts at random), so the flag is passed directly: `abort` outlives `full`.
        // SAFETY: the trampoline reads an `AtomicBool` through the pointer, which stays valid
        // because `abort` is held until `full` returns.
        unsafe {
            params.set_abort_callback(Some(abort_requested));
            params.set_abort_callback_user_data(Arc::as_ptr(&abort) as *mut std::ffi::c_void);
        }
        let result = state.full(params, samples);
        if abort.load(Ordering::Relaxed) {
            return Err(TranscribeError::Aborted);
        }
        result.map_err(|e| TranscribeError::Whisper(e.to_string()))?;
        let mut segments = Vec::new();
        for seg in state.as_iter() {
            let text = seg
                .to_str_lossy()
                .map(|t| t.trim().to_string())
                .unwrap_or_default();
            if text.is_empty() {
                continue;
            }
            segments.push(Segment {
                // whisper.cpp counts in centiseconds.
                start_ms: seg.start_timestamp() * 10,
                end_ms: seg.end_timestamp() * 10,
                text,
            });
        }
        let text = segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let detected =
            whisper_rs::get_lang_str(state.full_lang_id_from_state()).map(str::to_string);
        let language = language
            .map(str::to_string)
            .or(detected)
            .unwrap_or_else(|| "und".to_string());
        Ok(Transcription {
            text,
            language,
            segments,
            model: self.name.clone(),
            audio_seconds,
        })
    }

    /// Decode a recording and transcribe it: the path every transcription takes (the job worker,
    /// `vertel-server transcribe` and the benchmark). `progress` gets 0–100 over the whole run.
    pub fn transcribe_file(
        &self,
        path: &Path,
        mime: Option<&str>,
        language: Option<&str>,
        threads: usize,
        mut progress: impl FnMut(i32) + Send + 'static,
        abort: Arc<AtomicBool>,
    ) -> Result<Transcription, TranscribeError> {
        let samples = audio::decode_file(path, mime, &mut |f| progress((f * 5.0) as i32))?;
        progress(5);
        let out = self.transcribe(
            &samples,
            language,
            threads,
            move |p| progress(5 + p.clamp(0, 100) * 90 / 100),
            abort,
        )?;
        Ok(out)
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

/// Transcribe one file with the model at `model_path` (`vertel-server transcribe`): the same
/// decoding and parameters as the job workers.
pub fn transcribe_path(
    model_path: &Path,
    file: &Path,
    language: &str,
    threads: usize,
) -> Result<Transcription, TranscribeError> {
    let model = match Model::load(model_path) {
        Err(TranscribeError::NoModel) => {
            return Err(TranscribeError::Model(format!(
                "no model at {} (run fixtures/models/fetch-whisper-base.sh)",
                model_path.display()
            )));
        }
        other => other?,
    };
    let language = whisper_language(Some(language));
    model.transcribe_file(
        file,
        mime_for_path(file),
        language.as_deref(),
        threads,
        |_| {},
        Arc::new(AtomicBool::new(false)),
    )
}

/// Route whisper.cpp's own log lines into `tracing` (target `whisper_rs`), so `VERTEL_LOG` filters
/// them instead of them going to stderr unconditionally.
fn install_logging() {
    whisper_rs::install_logging_hooks();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_come_from_the_file_name() {
        assert_eq!(model_name(Path::new("/m/ggml-base.bin")), "whisper-base");
        assert_eq!(model_name(Path::new("whisper-small.bin")), "whisper-small");
    }

    #[test]
    fn languages_are_checked_before_whisper_sees_them() {
        assert_eq!(whisper_language(Some("nl")).as_deref(), Some("nl"));
        assert_eq!(whisper_language(Some("nl-BE")).as_deref(), Some("nl"));
        assert_eq!(whisper_language(Some("AR")).as_deref(), Some("ar"));
        assert_eq!(whisper_language(None).as_deref(), Some("nl"));
        assert_eq!(whisper_language(Some("auto")), None);
        assert_eq!(whisper_language(Some("x\0y")), None);
        assert_eq!(whisper_language(Some("zzz")), None);
    }

    #[test]
    fn a_missing_model_says_so() {
        let err = Model::load(Path::new("/nonexistent/ggml-base.bin"))
            .err()
            .expect("no model there");
        assert!(matches!(err, TranscribeError::NoModel));
        assert!(!err.is_transient());
    }
}
