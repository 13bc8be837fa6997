//! The Whisper model and one transcription's run over a recording, window by window.
//!
//! A recording is decoded and transcribed in windows of [`WINDOW_SECONDS`]
//! ([`audio::Recording::fill`]); a window ends at the quietest moment of its last seconds, so words
//! are seldom cut in two. Per window: voice activity detection keeps the stretches with speech
//! ([`super::vad`]); the language is detected once, among the expected ones, when the story names
//! none ([`super::language`]); whisper.cpp decodes (beam search, the taxonomy's prompt for Dutch,
//! temperature fallback); [`super::filter`] drops what is not speech and joins sentences; for a
//! language other than Dutch or English a second pass translates into English.

use super::filter::{self, Decoded, Token};
use super::language::{self, Language};
use super::vad::{self, SpeechOnly};
use super::{Segment, TranscribeError, Transcription, Translation};
use crate::media::audio::{self, AudioError, AudioLimits};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

/// Seconds of audio per whisper.cpp call (19 MB of 16 kHz samples).
pub const WINDOW_SECONDS: usize = 300;
/// A window ends at the quietest 100 ms of its last this many seconds.
const CUT_SEARCH_SECONDS: usize = 3;
/// The beam width every transcription uses: 1, greedy. Measured (`BENCHMARKS.md`, "Transcripts
/// (issue 15)"): beam 3 did not lower the Dutch word error rate, and on loud
/// low rumble that the VAD let through it decoded a looping invented sentence where greedy
/// decoding gave nothing. Compare again with `transcribe --evaluate` before changing it.
pub const BEAM: u32 = 1;
/// The temperature added at each fallback when a decode fails whisper.cpp's entropy or
/// log-probability check (the reference's 0.0, 0.2, …, 1.0).
const TEMPERATURE_INC: f32 = 0.2;
/// whisper.cpp's counterpart of the reference's compression-ratio check during decoding.
const ENTROPY_THOLD: f32 = 2.4;

/// How a recording is decoded. The default is what the server does.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoding {
    /// 1: greedy; more: beam search of this width.
    pub beam: u32,
    /// Voice activity detection before Whisper.
    pub vad: bool,
    /// Drop no-speech, loops and known hallucinations ([`filter`]).
    pub filter: bool,
    /// The initial prompt for Dutch recordings ([`super::prompt`]).
    pub prompt: Option<String>,
    /// An English machine translation beside a transcript in another language.
    pub translate: bool,
    /// Fit the encoder's context to speech shorter than Whisper's 30-second window
    /// ([`fitted_audio_ctx`]) instead of encoding the window's silent rest. Off in the server:
    /// measured on the development set (`BENCHMARKS.md`, "Transcripts (issue 15)"), it more than
    /// halves the time of short notes and lowers the word error rate of clean speech, but raises
    /// it for words spoken over noise, which is what a market recording is.
    pub fit_context: bool,
}

impl Default for Decoding {
    fn default() -> Self {
        Decoding {
            beam: BEAM,
            vad: true,
            filter: true,
            prompt: None,
            translate: true,
            fit_context: false,
        }
    }
}

impl Decoding {
    /// The default decoding with the default taxonomy's prompt: what a transcription without a
    /// workspace uses (`vertel-server transcribe`, the benchmarks).
    pub fn server() -> Decoding {
        Decoding {
            prompt: Some(super::prompt::default_prompt()),
            ..Decoding::default()
        }
    }
}

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

/// Encoder positions per second of audio (Whisper's 1500 per 30 seconds).
const CTX_PER_SECOND: usize = 50;
/// Encoder positions kept beyond the speech's own (2.56 s). Chosen on the development set
/// (`fixtures/speech-dev`): with 64, loud low rumble that the VAD let through came out as an
/// invented sentence; 128 and 256 gave nothing there and scored the same.
const CTX_MARGIN: usize = 128;

/// The encoder context for `samples` of 16 kHz speech when it is shorter than one 30-second
/// window: its own positions and [`CTX_MARGIN`], rounded up to a multiple of 64; `None` (the
/// model's full 1500) for longer speech, whose windows whisper.cpp moves through itself.
pub fn fitted_audio_ctx(samples: usize) -> Option<i32> {
    let full = 30 * CTX_PER_SECOND;
    let own = samples.div_ceil(audio::SAMPLE_RATE as usize / CTX_PER_SECOND);
    let ctx = (own + CTX_MARGIN).div_ceil(64) * 64;
    (ctx < full).then_some(ctx as i32)
}

/// whisper.cpp's parameters for `decoding` (the benchmark uses the same): beam search or greedy,
/// the thresholds of the reference implementation with temperature fallback, non-speech tokens
/// (`♪`, `[`, `*`) suppressed, nothing printed. `language`: `None` lets whisper.cpp detect.
pub fn decoding_params<'a>(
    decoding: &'a Decoding,
    threads: usize,
    language: Option<&'a str>,
) -> FullParams<'a, 'a> {
    let strategy = if decoding.beam > 1 {
        SamplingStrategy::BeamSearch {
            beam_size: decoding.beam as i32,
            patience: -1.0,
        }
    } else {
        SamplingStrategy::Greedy { best_of: 1 }
    };
    let mut params = FullParams::new(strategy);
    params.set_n_threads(threads.clamp(1, 64) as i32);
    params.set_language(Some(language.unwrap_or("auto")));
    params.set_translate(false);
    params.set_print_special(false);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_timestamps(false);
    params.set_temperature(0.0);
    params.set_temperature_inc(TEMPERATURE_INC);
    params.set_entropy_thold(ENTROPY_THOLD);
    params.set_logprob_thold(filter::LOGPROB_THOLD);
    params.set_no_speech_thold(filter::NO_SPEECH_THOLD);
    params.set_suppress_nst(decoding.filter);
    if language == Some("nl")
        && let Some(prompt) = decoding.prompt.as_deref().filter(|p| !p.is_empty())
    {
        params.set_initial_prompt(prompt);
    }
    params
}

/// [`decoding_params`] of the server's default decoding (`bench-media` compares with it).
pub fn full_params<'a>(threads: usize, language: Option<&'a str>) -> FullParams<'a, 'a> {
    static DEFAULT: std::sync::OnceLock<Decoding> = std::sync::OnceLock::new();
    decoding_params(DEFAULT.get_or_init(Decoding::default), threads, language)
}

/// whisper.cpp's abort callback: `user_data` is the `AtomicBool` of a transcription.
unsafe extern "C" fn abort_requested(user_data: *mut std::ffi::c_void) -> bool {
    if user_data.is_null() {
        return false;
    }
    // SAFETY: set from `Arc::as_ptr` of an `AtomicBool` alive for the whole `full` call.
    let flag = unsafe { &*(user_data as *const AtomicBool) };
    flag.load(Ordering::Relaxed)
}

type Progress = Arc<dyn Fn(i32) + Send + Sync>;

/// What one window gave.
struct WindowOut {
    segments: Vec<Segment>,
    translation: Vec<Segment>,
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
        whisper_rs::install_logging_hooks();
        let path_text = path
            .to_str()
            .ok_or_else(|| TranscribeError::Model("model path is not UTF-8".into()))?;
        let ctx = WhisperContext::new_with_params(path_text, WhisperContextParameters::default())
            .map_err(|e| TranscribeError::Model(e.to_string()))?;
        Ok(Model {
            ctx,
            name: super::model_name(path),
            path: path.to_path_buf(),
        })
    }

    pub fn context(&self) -> &WhisperContext {
        &self.ctx
    }

    /// One `whisper_full` over `samples`: its segments with their text tokens, times in ms of
    /// `samples`. `translate` asks for English.
    #[allow(clippy::too_many_arguments)]
    fn decode(
        &self,
        state: &mut whisper_rs::WhisperState,
        samples: &[f32],
        decoding: &Decoding,
        language: &str,
        translate: bool,
        threads: usize,
        progress: Option<Progress>,
        abort: &Arc<AtomicBool>,
    ) -> Result<Vec<Decoded>, TranscribeError> {
        let mut params = decoding_params(decoding, threads, Some(language));
        params.set_translate(translate);
        if decoding.fit_context
            && let Some(ctx) = fitted_audio_ctx(samples.len())
        {
            params.set_audio_ctx(ctx);
        }
        if let Some(p) = progress {
            params.set_progress_callback_safe(move |v: i32| p(v));
        }
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
        let eot = self.ctx.token_eot();
        let mut out = Vec::new();
        for seg in state.as_iter() {
            let text = seg
                .to_str_lossy()
                .map(|t| t.to_string())
                .unwrap_or_default();
            let tokens = (0..seg.n_tokens())
                .filter_map(|i| seg.get_token(i))
                .filter(|t| t.token_id() < eot)
                .map(|t| Token {
                    text: t.to_str_lossy().map(|s| s.to_string()).unwrap_or_default(),
                    p: t.token_probability(),
                })
                .collect();
            out.push(Decoded {
                // whisper.cpp counts in centiseconds.
                start_ms: seg.start_timestamp() * 10,
                end_ms: seg.end_timestamp() * 10,
                text,
                tokens,
                no_speech: seg.no_speech_probability(),
            });
        }
        Ok(out)
    }

    /// Decoded segments → kept segments with times in the recording.
    fn keep(
        decoded: Vec<Decoded>,
        speech: &SpeechOnly,
        offset_ms: i64,
        decoding: &Decoding,
    ) -> Vec<Segment> {
        let kept = decoded
            .into_iter()
            .filter(|d| !d.text.trim().is_empty())
            .filter(|d| !decoding.filter || d.rejected().is_none())
            .map(|mut d| {
                d.start_ms = offset_ms + speech.window_ms(d.start_ms);
                d.end_ms = offset_ms + speech.window_ms(d.end_ms);
                d.into_segment()
            })
            .collect();
        filter::sentences(kept)
    }

    /// Transcribe one window of 16 kHz mono samples that starts `offset_ms` into the recording,
    /// deciding `language` when it is still to be detected.
    #[allow(clippy::too_many_arguments)]
    fn transcribe_window(
        &self,
        state: &mut whisper_rs::WhisperState,
        samples: &[f32],
        offset_ms: i64,
        language: &mut Language,
        decoding: &Decoding,
        threads: usize,
        progress: Progress,
        abort: &Arc<AtomicBool>,
    ) -> Result<WindowOut, TranscribeError> {
        let speech = if decoding.vad {
            let regions = vad::speech_regions(samples);
            if regions.is_empty() {
                return Ok(WindowOut {
                    segments: Vec::new(),
                    translation: Vec::new(),
                });
            }
            SpeechOnly::new(samples, &regions)
        } else {
            SpeechOnly::whole(samples)
        };
        if let Language::Detect(allowed) = &*language {
            state
                .pcm_to_mel(&speech.samples, threads.max(1))
                .map_err(|e| TranscribeError::Whisper(e.to_string()))?;
            let (_, probs) = state
                .lang_detect(0, threads.max(1))
                .map_err(|e| TranscribeError::Whisper(e.to_string()))?;
            let chosen = language::best_allowed(&probs, allowed);
            let mut top: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
            top.sort_by(|a, b| b.1.total_cmp(&a.1));
            let top: Vec<String> = top
                .iter()
                .take(5)
                .map(|(i, p)| {
                    let code = whisper_rs::get_lang_str(*i as i32).unwrap_or("?");
                    format!("{code} {p:.3}")
                })
                .collect();
            tracing::debug!(chosen = %chosen, top = %top.join(", "), "language detected");
            *language = Language::Known(chosen);
        }
        let lang = language
            .known()
            .unwrap_or(language::DEFAULT_LANGUAGE)
            .to_string();
        let decoded = self.decode(
            state,
            &speech.samples,
            decoding,
            &lang,
            false,
            threads,
            Some(progress),
            abort,
        )?;
        let segments = Self::keep(decoded, &speech, offset_ms, decoding);
        let translation =
            if decoding.translate && !segments.is_empty() && !["nl", "en"].contains(&lang.as_str())
            {
                let decoded = self.decode(
                    state,
                    &speech.samples,
                    decoding,
                    &lang,
                    true,
                    threads,
                    None,
                    abort,
                )?;
                Self::keep(decoded, &speech, offset_ms, decoding)
            } else {
                Vec::new()
            };
        Ok(WindowOut {
            segments,
            translation,
        })
    }

    /// Decode a recording and transcribe it, window by window: the path every transcription takes
    /// (the job worker, `vertel-server transcribe` and the benchmarks). `progress` gets 0–100 over
    /// the whole run (estimated from the declared duration, when there is one). A recording longer
    /// than `limits` allow fails, by its headers before anything is decoded, or once decoding
    /// passes the limit.
    #[allow(clippy::too_many_arguments)]
    pub fn transcribe_with(
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
        let recording = audio::Recording::open(path, mime, limits)?;
        let window = WINDOW_SECONDS * audio::SAMPLE_RATE as usize;
        self.transcribe_windows(
            recording,
            window,
            language,
            decoding,
            threads,
            Arc::new(progress),
            abort,
        )
    }

    /// [`Model::transcribe_with`] with the default decoding: `language` `None` is detected among
    /// the expected languages.
    #[allow(clippy::too_many_arguments)]
    pub fn transcribe_file(
        &self,
        path: &Path,
        mime: Option<&str>,
        language: Option<&str>,
        threads: usize,
        limits: AudioLimits,
        progress: impl Fn(i32) + Send + Sync + 'static,
        abort: Arc<AtomicBool>,
    ) -> Result<Transcription, TranscribeError> {
        self.transcribe_with(
            path,
            mime,
            language::choose(language, &[]),
            &Decoding::server(),
            threads,
            limits,
            progress,
            abort,
        )
    }

    /// [`Model::transcribe_with`] with windows of `window` samples.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transcribe_windows(
        &self,
        mut recording: audio::Recording,
        window: usize,
        mut language: Language,
        decoding: &Decoding,
        threads: usize,
        progress: Progress,
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
        progress(0);
        let mut samples: Vec<f32> = Vec::new();
        // Samples transcribed before `samples[0]`.
        let mut offset = 0usize;
        let mut segments = Vec::new();
        let mut translation = Vec::new();
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
                let outer = progress.clone();
                let window_progress: Progress = Arc::new(move |p: i32| {
                    let done = done_before + this * p.clamp(0, 100) as usize / 100;
                    outer((5 + done * 90 / total) as i32);
                });
                let offset_ms = (offset * 1000 / rate) as i64;
                let out = self.transcribe_window(
                    &mut state,
                    &samples[..cut],
                    offset_ms,
                    &mut language,
                    decoding,
                    threads,
                    window_progress,
                    &abort,
                )?;
                segments.extend(out.segments);
                translation.extend(out.translation);
            }
            offset += cut;
            samples.drain(..cut);
            if !more {
                break;
            }
        }
        progress(95);
        let join = |s: &[Segment]| {
            s.iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let language = language
            .known()
            .unwrap_or(language::DEFAULT_LANGUAGE)
            .to_string();
        Ok(Transcription {
            text: join(&segments),
            reason: segments.is_empty().then(|| super::NO_SPEECH.to_string()),
            translation: (!translation.is_empty()).then(|| Translation {
                text: join(&translation),
                language: "en".into(),
                segments: translation,
            }),
            language,
            segments,
            model: self.name.clone(),
            audio_seconds: offset as f64 / rate as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoder_context_fits_short_speech_only() {
        let second = audio::SAMPLE_RATE as usize;
        // 4 s: 200 positions of its own and 128 beyond, rounded up to 384.
        assert_eq!(fitted_audio_ctx(4 * second), Some(384));
        assert_eq!(fitted_audio_ctx(1), Some(192));
        // Near or over one 30-second window: the model's full context.
        assert_eq!(fitted_audio_ctx(28 * second), None);
        assert_eq!(fitted_audio_ctx(300 * second), None);
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
}
