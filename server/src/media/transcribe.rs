//! Speech to text with whisper.cpp (through whisper-rs), on the server's own CPU.
//!
//! The model (a ggml file, `fixtures/models/fetch-whisper-base.sh`) is loaded once per process and
//! shared; every transcription creates its own whisper state, so several workers can run at once.
//! All of this is blocking work: callers run it on blocking threads.
//!
//! A recording is decoded and transcribed in windows of [`WINDOW_SECONDS`]
//! ([`audio::Recording::fill`]), one `whisper_full` call each, with the segments' times shifted by
//! the window's offset: a transcription holds one window of samples (and whisper.cpp one window's
//! spectrogram), whatever the recording's length. A window ends at the quietest moment of its
//! last seconds, so words are seldom cut in two; whisper.cpp's context does not carry over from
//! one window to the next.

use crate::media::audio::{self, AudioError, AudioLimits};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

/// The language used when a story names none (the coalitions work in Dutch).
pub const DEFAULT_LANGUAGE: &str = "nl";

/// Seconds of audio per whisper.cpp call (19 MB of 16 kHz samples).
pub const WINDOW_SECONDS: usize = 300;
/// A window ends at the quietest 100 ms of its last this many seconds.
const CUT_SEARCH_SECONDS: usize = 3;

/// Where to end a full window of samples: the middle of the quietest 100 ms block in its last
/// [`CUT_SEARCH_SECONDS`].
fn quiet_cut(samples: &[f32], window: usize) -> usize {
    let block = audio::SAMPLE_RATE as usize / 10;
    let end = window.min(samples.len());
    let start = end.saturating_sub(CUT_SEARCH_SECONDS * audio::SAMPLE_RATE as usize);
    let mut best = (f32::INFINITY, end);
    let mut at = start;
    while at + block <= end {
        let energy: f32 = samples[at..at + block].iter().map(|s| s * s).sum();
        if energy < best.0 {
            best = (energy, at + block / 2);
        }
        at += block;
    }
    best.1
}

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

    /// Transcribe one window of 16 kHz mono samples that starts `offset_ms` into the recording.
    /// `progress` gets whisper's percentage (0–100); `abort` stops the work between steps.
    /// Returns the window's segments (times from the recording's start) and the language
    /// whisper.cpp used.
    fn transcribe_window(
        state: &mut whisper_rs::WhisperState,
        samples: &[f32],
        offset_ms: i64,
        language: Option<&str>,
        threads: usize,
        progress: impl FnMut(i32) + 'static,
        abort: &Arc<AtomicBool>,
    ) -> Result<(Vec<Segment>, Option<String>), TranscribeError> {
        let mut params = full_params(threads, language);
        params.set_progress_callback_safe(progress);
        // whisper-rs 0.16's `set_abort_callback_safe` hands whisper.cpp a pointer of the wrong type
        // (it aborts at random), so the flag is passed directly: `abort` outlives `full`.
        // SAFETY: the trampoline reads an `AtomicBool` through the pointer, which stays valid
        // because `abort` is held until `full` returns.
        unsafe {
            params.set_abort_callback(Some(abort_requested));
            params.set_abort_callback_user_data(Arc::as_ptr(abort) as *mut std::ffi::c_void);
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
                start_ms: offset_ms + seg.start_timestamp() * 10,
                end_ms: offset_ms + seg.end_timestamp() * 10,
                text,
            });
        }
        let used = whisper_rs::get_lang_str(state.full_lang_id_from_state()).map(str::to_string);
        Ok((segments, used))
    }

    /// Decode a recording and transcribe it, window by window: the path every transcription takes
    /// (the job worker, `vertel-server transcribe` and the benchmark). `progress` gets 0–100 over
    /// the whole run (estimated from the declared duration, when there is one). A recording longer
    /// than `limits` allow fails, by its headers before anything is decoded, or once decoding
    /// passes the limit.
    #[allow(clippy::too_many_arguments)]
    pub fn transcribe_file(
        &self,
        path: &Path,
        mime: Option<&str>,
        language: Option<&str>,
        threads: usize,
        limits: AudioLimits,
        progress: impl FnMut(i32) + Send + 'static,
        abort: Arc<AtomicBool>,
    ) -> Result<Transcription, TranscribeError> {
        let recording = audio::Recording::open(path, mime, limits)?;
        let window = WINDOW_SECONDS * audio::SAMPLE_RATE as usize;
        self.transcribe_windows(recording, window, language, threads, progress, abort)
    }

    /// [`Model::transcribe_file`] with windows of `window` samples.
    fn transcribe_windows(
        &self,
        mut recording: audio::Recording,
        window: usize,
        language: Option<&str>,
        threads: usize,
        progress: impl FnMut(i32) + Send + 'static,
        abort: Arc<AtomicBool>,
    ) -> Result<Transcription, TranscribeError> {
        let rate = audio::SAMPLE_RATE as usize;
        let declared = recording
            .declared_seconds
            .map(|s| (s * rate as f64) as u64)
            .unwrap_or(0);
        let mut state = self
            .ctx
            .create_state()
            .map_err(|e| TranscribeError::Whisper(e.to_string()))?;
        let progress: Arc<Mutex<dyn FnMut(i32) + Send>> = Arc::new(Mutex::new(progress));
        let report = |p: i32| {
            if let Ok(mut f) = progress.lock() {
                f(p.clamp(0, 100));
            }
        };
        report(0);
        let mut samples: Vec<f32> = Vec::new();
        // Samples transcribed before `samples[0]`.
        let mut offset = 0usize;
        let mut language = language.map(str::to_string);
        let mut segments = Vec::new();
        loop {
            if abort.load(Ordering::Relaxed) {
                return Err(TranscribeError::Aborted);
            }
            let more = recording.fill(&mut samples, window)?;
            if offset == 0 && !more && samples.len() < rate / 10 {
                return Err(TranscribeError::Audio(AudioError::Empty));
            }
            let cut = if more {
                quiet_cut(&samples, window)
            } else {
                samples.len()
            };
            if cut >= rate / 10 || offset == 0 {
                // Progress over the recording: what its headers declare, or at least what is known.
                let total = (declared as usize)
                    .max(offset + samples.len() + if more { window } else { 0 })
                    .max(1);
                let (done_before, this) = (offset, cut);
                let progress = progress.clone();
                let window_progress = move |p: i32| {
                    let done = done_before + this * p.clamp(0, 100) as usize / 100;
                    if let Ok(mut f) = progress.lock() {
                        f((5 + done * 90 / total) as i32);
                    }
                };
                let offset_ms = (offset * 1000 / rate) as i64;
                let (found, used) = Self::transcribe_window(
                    &mut state,
                    &samples[..cut],
                    offset_ms,
                    language.as_deref(),
                    threads,
                    window_progress,
                    &abort,
                )?;
                segments.extend(found);
                // Auto-detected once, then kept: every window in the same language.
                if language.is_none() {
                    language = used;
                }
            }
            offset += cut;
            samples.drain(..cut);
            if !more {
                break;
            }
        }
        report(95);
        let text = segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Transcription {
            text,
            language: language.unwrap_or_else(|| "und".to_string()),
            segments,
            model: self.name.clone(),
            audio_seconds: offset as f64 / rate as f64,
        })
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

/// The fake transcriber's step between progress reports: short, so the worker's heartbeat (and the
/// progress it writes into the story) runs several times per job, as with a real recording.
const FAKE_STEP: Duration = Duration::from_millis(50);

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

    /// Like [`Model::transcribe_file`], with either engine.
    #[allow(clippy::too_many_arguments)]
    pub fn transcribe_file(
        &self,
        path: &Path,
        mime: Option<&str>,
        language: Option<&str>,
        threads: usize,
        limits: AudioLimits,
        progress: impl FnMut(i32) + Send + 'static,
        abort: Arc<AtomicBool>,
    ) -> Result<Transcription, TranscribeError> {
        match &self.engine {
            Engine::Whisper(m) => {
                m.transcribe_file(path, mime, language, threads, limits, progress, abort)
            }
            Engine::Fake(d) => fake_transcribe(path, mime, language, *d, limits, progress, &abort),
        }
    }
}

/// The model name the fake transcriber writes, so a fake transcript is never taken for a real one.
pub const FAKE_MODEL: &str = "nep-transcriber";

/// The fake transcriber's work: read the recording (as Whisper would; a missing blob fails the
/// same way), refuse it when its headers declare more than `limits` allow (as the real path does
/// before decoding; what is not audio is not judged), then sleep `duration` in short steps,
/// reporting progress and honouring `abort` like whisper.cpp does, and return `nep-transcript
/// <first 8 hex digits of the SHA-256>` as one segment. Deterministic, so a test knows which
/// transcript each recording must get.
fn fake_transcribe(
    path: &Path,
    mime: Option<&str>,
    language: Option<&str>,
    duration: Duration,
    limits: AudioLimits,
    mut progress: impl FnMut(i32),
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
        }],
        model: FAKE_MODEL.to_string(),
        audio_seconds: duration.as_secs_f64(),
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
        AudioLimits::default(),
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
            .transcribe_file(
                &file,
                None,
                Some("nl"),
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
        let aborted = t.transcribe_file(
            &file,
            None,
            None,
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

    #[test]
    fn a_window_ends_in_its_quietest_moment() {
        let rate = audio::SAMPLE_RATE as usize;
        let window = 10 * rate;
        // Loud everywhere but 200 ms starting 1.5 s before the window's end.
        let mut samples = vec![0.5f32; window + rate];
        let quiet = window - 3 * rate / 2;
        samples[quiet..quiet + rate / 5].fill(0.0);
        let cut = quiet_cut(&samples, window);
        assert!((quiet..quiet + rate / 5).contains(&cut), "{cut} vs {quiet}");
        // Never beyond the window, never before its last seconds.
        let flat = vec![0.1f32; window + rate];
        let cut = quiet_cut(&flat, window);
        assert!(
            cut <= window && cut >= window - CUT_SEARCH_SECONDS * rate,
            "{cut}"
        );
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
            .transcribe_file(
                &file,
                Some("audio/wav"),
                None,
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
        let dir =
            std::env::temp_dir().join(format!("vertel-windows-{:016x}", rand::random::<u64>()));
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
                    Some("en"),
                    2,
                    |_| {},
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
}
