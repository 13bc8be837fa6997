//! Audio decoding: what phones record, turned into what Whisper needs (16 kHz mono `f32`).
//!
//! Containers (WebM/Matroska, MP4, Ogg, WAV, MP3) are read with symphonia, which also decodes AAC,
//! MP3 and PCM. Opus (Chrome on Android records WebM/Opus, Firefox and many apps Ogg/Opus) is
//! decoded with libopus, straight to mono at 48 kHz. Everything is mixed down to mono and
//! resampled to 16 kHz with rubato's FFT resampler, chunk by chunk.
//!
//! **Bounded.** A few hundred kilobytes of Ogg/Opus silence decode to hours (a 279 KB file once
//! held the only worker for half an hour and 1.9 GB). So a [`Recording`] is decoded window by
//! window ([`Recording::fill`]): the caller holds one window of 16 kHz samples, never the whole
//! file. Its length is limited twice: by what the container declares, before anything is decoded
//! (WAV's data size, MP4's `mdhd` duration, Ogg's last granule position, WebM's `Duration`, an
//! MP3's Xing/VBRI frame count or its size over its bitrate), and by counting decoded samples, which
//! stops as soon as the limit is passed, because headers can lie or be missing.
//!
//! Errors say what was wrong in words a coordinator can act on; they are shown in the story.

use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};
use std::path::Path;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, CODEC_TYPE_OPUS, CodecParameters, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// The sample rate Whisper works at.
pub const SAMPLE_RATE: u32 = 16_000;

/// What a recording may cost to decode (`MediaConfig::audio_limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLimits {
    /// Longest recording decoded, in seconds (`--max-recording-secs`).
    pub max_seconds: u64,
}

impl Default for AudioLimits {
    fn default() -> Self {
        AudioLimits {
            max_seconds: 30 * 60,
        }
    }
}

/// The formats named in errors, so a person knows what to record in.
const SUPPORTED: &str = "WAV, MP3, Ogg/Opus, WebM/Opus or MP4/AAC";

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    #[error("corrupt audio: {0}")]
    Corrupt(String),
    #[error("the recording contains no sound")]
    Empty,
    #[error("the recording is longer than {}, the most this server transcribes{}",
        duration_words(*max_seconds as f64),
        seconds.map(|s| format!(" (it is {})", duration_words(s))).unwrap_or_default())]
    TooLong {
        max_seconds: u64,
        /// What its headers declare, when they do (not known when decoding found it too long).
        seconds: Option<f64>,
    },
    #[error("the audio file could not be read: {0}")]
    Io(#[from] std::io::Error),
}

/// `90` → "1 minute 30 seconds"; `1800` → "30 minutes"; `10800` → "3 hours".
fn duration_words(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    let unit = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(unit(h, "hour", "hours"));
    }
    if m > 0 {
        parts.push(unit(m, "minute", "minutes"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(unit(s, "second", "seconds"));
    }
    parts.join(" ")
}

/// Decode a whole file to 16 kHz (at most `limits.max_seconds` of it: longer fails). The
/// transcriber decodes window by window instead ([`Recording::fill`]); this is for tools and tests.
pub fn decode_file(
    path: &Path,
    mime: Option<&str>,
    limits: AudioLimits,
) -> Result<Vec<f32>, AudioError> {
    let mut rec = Recording::open(path, mime, limits)?;
    let mut out = Vec::new();
    while rec.fill(&mut out, usize::MAX)? {}
    Ok(out)
}

/// Decode bytes in memory (see [`decode_file`]).
pub fn decode_bytes(
    bytes: Vec<u8>,
    mime: Option<&str>,
    limits: AudioLimits,
) -> Result<Vec<f32>, AudioError> {
    let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
    let mut rec = Recording::from_stream(mss, mime, limits)?;
    let mut out = Vec::new();
    while rec.fill(&mut out, usize::MAX)? {}
    Ok(out)
}

fn hint_for(mime: Option<&str>) -> Hint {
    let mut hint = Hint::new();
    if let Some(m) = mime {
        let base = m.split(';').next().unwrap_or_default().trim();
        hint.mime_type(base);
        let ext = match base {
            "audio/webm" | "video/webm" => Some("webm"),
            "audio/ogg" | "application/ogg" | "audio/opus" => Some("ogg"),
            "audio/mp4" | "video/mp4" | "audio/x-m4a" | "audio/m4a" | "audio/aac" => Some("m4a"),
            "audio/mpeg" | "audio/mp3" => Some("mp3"),
            "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => Some("wav"),
            _ => None,
        };
        if let Some(ext) = ext {
            hint.with_extension(ext);
        }
    }
    hint
}

/// Turns packets of one track into mono samples at the track's rate.
enum PacketDecoder {
    Symphonia {
        decoder: Box<dyn symphonia::core::codecs::Decoder>,
        buf: Option<SampleBuffer<f32>>,
    },
    Opus {
        decoder: opus::Decoder,
        /// Samples at the start that are encoder delay, not audio (OpusHead pre-skip).
        skip: usize,
        out: Vec<f32>,
    },
}

impl PacketDecoder {
    fn new(params: &CodecParameters) -> Result<PacketDecoder, AudioError> {
        if params.codec == CODEC_TYPE_OPUS {
            // libopus decodes mono or stereo streams straight to mono (it downmixes).
            let decoder = opus::Decoder::new(48_000, opus::Channels::Mono)
                .map_err(|e| AudioError::Corrupt(format!("Opus decoder: {e}")))?;
            let head = params.extra_data.as_deref().unwrap_or_default();
            let pre_skip = if head.len() >= 12 && head.starts_with(b"OpusHead") {
                if head[9] > 2 {
                    return Err(AudioError::Unsupported(format!(
                        "Opus with {} channels",
                        head[9]
                    )));
                }
                usize::from(u16::from_le_bytes([head[10], head[11]]))
            } else {
                params.delay.unwrap_or(0) as usize
            };
            return Ok(PacketDecoder::Opus {
                decoder,
                skip: pre_skip,
                // 120 ms at 48 kHz: the longest Opus packet.
                out: vec![0.0; 5760],
            });
        }
        let decoder = symphonia::default::get_codecs()
            .make(params, &DecoderOptions::default())
            .map_err(|e| match e {
                SymphoniaError::Unsupported(what) => AudioError::Unsupported(format!(
                    "the codec is not supported ({what}); use {SUPPORTED}"
                )),
                other => AudioError::Corrupt(other.to_string()),
            })?;
        Ok(PacketDecoder::Symphonia { decoder, buf: None })
    }

    fn sample_rate(params: &CodecParameters) -> Option<u32> {
        if params.codec == CODEC_TYPE_OPUS {
            Some(48_000)
        } else {
            params.sample_rate
        }
    }

    /// Decode one packet, appending mono samples to `mono`. `Err` is a packet that would not
    /// decode (the caller counts them).
    fn decode(&mut self, data: &[u8], mono: &mut Vec<f32>) -> Result<(), String> {
        match self {
            PacketDecoder::Opus { decoder, skip, out } => {
                let n = decoder
                    .decode_float(data, out, false)
                    .map_err(|e| e.to_string())?;
                let from = (*skip).min(n);
                *skip -= from;
                mono.extend_from_slice(&out[from..n]);
                Ok(())
            }
            PacketDecoder::Symphonia { decoder, buf } => {
                let packet = symphonia::core::formats::Packet::new_from_slice(0, 0, 0, data);
                let decoded = decoder.decode(&packet).map_err(|e| e.to_string())?;
                let spec = *decoded.spec();
                let frames = decoded.frames();
                if frames == 0 {
                    return Ok(());
                }
                let needs_new = buf
                    .as_ref()
                    .is_none_or(|b| b.capacity() < frames * spec.channels.count());
                if needs_new {
                    *buf = Some(SampleBuffer::new(decoded.capacity() as u64, spec));
                }
                let Some(b) = buf.as_mut() else {
                    return Ok(());
                };
                b.copy_interleaved_ref(decoded);
                let channels = spec.channels.count().max(1);
                let scale = 1.0 / channels as f32;
                mono.extend(
                    b.samples()
                        .chunks_exact(channels)
                        .map(|frame| frame.iter().sum::<f32>() * scale),
                );
                Ok(())
            }
        }
    }
}

/// The duration a track's headers declare, in seconds: symphonia reads it from the container
/// before any packet is decoded (WAV: the data chunk's size; MP4: the track's `mdhd` duration;
/// Ogg: the granule position of the last page; WebM: the segment's `Duration`; MP3: the Xing or
/// VBRI frame count, else the file's size over the first frame's bitrate). `None` when the
/// container does not say (a live WebM, a fragmented MP4).
fn declared_seconds(params: &CodecParameters) -> Option<f64> {
    let frames = params.n_frames.filter(|n| *n > 0)?;
    let seconds = match params.time_base {
        Some(tb) if tb.numer > 0 && tb.denom > 0 => {
            frames as f64 * f64::from(tb.numer) / f64::from(tb.denom)
        }
        _ => frames as f64 / f64::from(params.sample_rate.filter(|r| *r > 0)?),
    };
    seconds.is_finite().then_some(seconds)
}

/// An open recording, decoded window by window to 16 kHz mono.
pub struct Recording {
    format: Box<dyn symphonia::core::formats::FormatReader>,
    track_id: u32,
    decoder: PacketDecoder,
    resampler: MonoResampler,
    /// Most samples at the track's rate that may be decoded.
    max_frames: u64,
    limits: AudioLimits,
    /// What the headers declare (checked against the limit when the file was opened).
    pub declared_seconds: Option<f64>,
    decoded_frames: u64,
    /// 16 kHz samples handed out so far.
    delivered: u64,
    good: u64,
    bad: u64,
    last_error: String,
    /// One packet's samples at the track's rate.
    mono: Vec<f32>,
    ended: bool,
}

impl Recording {
    /// Open a file: probe the container, find the audio track, and refuse it at once when its
    /// headers declare more than `limits` allow. `mime` (as the device declared it) helps
    /// recognise the container.
    pub fn open(
        path: &Path,
        mime: Option<&str>,
        limits: AudioLimits,
    ) -> Result<Recording, AudioError> {
        let file = std::fs::File::open(path)?;
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        Recording::from_stream(mss, mime, limits)
    }

    fn from_stream(
        mss: MediaSourceStream,
        mime: Option<&str>,
        limits: AudioLimits,
    ) -> Result<Recording, AudioError> {
        let probed = symphonia::default::get_probe()
            .format(
                &hint_for(mime),
                mss,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymphoniaError::IoError(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => {
                    AudioError::Io(io)
                }
                SymphoniaError::Unsupported(_) | SymphoniaError::IoError(_) => {
                    AudioError::Unsupported(format!(
                        "the file is not a recording in a known format ({SUPPORTED})"
                    ))
                }
                other => AudioError::Corrupt(other.to_string()),
            })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| {
                t.codec_params.codec != CODEC_TYPE_NULL && t.codec_params.sample_rate.is_some()
            })
            .or_else(|| {
                format
                    .tracks()
                    .iter()
                    .find(|t| t.codec_params.codec == CODEC_TYPE_OPUS)
            })
            .ok_or_else(|| AudioError::Unsupported("the file has no audio track".into()))?;
        let track_id = track.id;
        let params = track.codec_params.clone();
        let declared = declared_seconds(&params);
        if let Some(seconds) = declared
            && seconds > limits.max_seconds as f64
        {
            return Err(AudioError::TooLong {
                max_seconds: limits.max_seconds,
                seconds: Some(seconds),
            });
        }
        let rate = PacketDecoder::sample_rate(&params)
            .filter(|r| (4_000..=384_000).contains(r))
            .ok_or_else(|| {
                AudioError::Corrupt("the audio track has no valid sample rate".into())
            })?;
        let decoder = PacketDecoder::new(&params)?;
        let resampler = MonoResampler::new(rate, SAMPLE_RATE)?;
        Ok(Recording {
            format,
            track_id,
            decoder,
            resampler,
            max_frames: limits.max_seconds.saturating_mul(u64::from(rate)),
            limits,
            declared_seconds: declared,
            decoded_frames: 0,
            delivered: 0,
            good: 0,
            bad: 0,
            last_error: String::new(),
            mono: Vec::new(),
            ended: false,
        })
    }

    /// Decode until `out` holds at least `want` samples (16 kHz mono, appended) or the recording
    /// ends. Returns whether more may follow: `false` once everything was delivered. Fails as
    /// soon as more than the limit was decoded, whatever the headers said.
    pub fn fill(&mut self, out: &mut Vec<f32>, want: usize) -> Result<bool, AudioError> {
        if self.ended {
            return Ok(false);
        }
        while out.len() < want {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return self.end(out);
                }
                // A chained stream (a new logical Ogg stream) ends what we read.
                Err(SymphoniaError::ResetRequired) => return self.end(out),
                Err(SymphoniaError::IoError(e)) => return Err(AudioError::Io(e)),
                Err(e) => {
                    if self.good == 0 {
                        return Err(AudioError::Corrupt(e.to_string()));
                    }
                    // Damage after good audio: keep what was decoded.
                    tracing::debug!(error = %e, "audio container ends in damage");
                    return self.end(out);
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            self.mono.clear();
            match self.decoder.decode(packet.buf(), &mut self.mono) {
                Ok(()) => self.good += 1,
                Err(e) => {
                    self.bad += 1;
                    self.last_error = e;
                    if self.bad > 20 && self.bad > self.good / 10 {
                        return Err(AudioError::Corrupt(format!(
                            "{} audio packets would not decode ({})",
                            self.bad, self.last_error
                        )));
                    }
                    continue;
                }
            }
            self.decoded_frames += self.mono.len() as u64;
            if self.decoded_frames > self.max_frames {
                return Err(AudioError::TooLong {
                    max_seconds: self.limits.max_seconds,
                    seconds: None,
                });
            }
            self.resampler.push(&self.mono)?;
            self.delivered += self.resampler.take(out) as u64;
        }
        Ok(true)
    }

    fn end(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        self.ended = true;
        if self.good == 0 {
            return Err(if self.bad > 0 {
                AudioError::Corrupt(format!(
                    "no audio packet would decode ({})",
                    self.last_error
                ))
            } else {
                AudioError::Empty
            });
        }
        self.delivered += self.resampler.finish(out)? as u64;
        if self.delivered == 0 {
            return Err(AudioError::Empty);
        }
        Ok(false)
    }
}

/// Streaming mono resampler: push samples at the input rate, take 16 kHz samples as they come.
/// The FFT resampler's delay is trimmed so the output lines up with the input.
pub struct MonoResampler {
    inner: Option<Fft<f32>>,
    pending: Vec<f32>,
    /// Output not yet taken (the first `delay` samples are dropped as they come).
    out: Vec<f32>,
    scratch: Vec<Vec<f32>>,
    total_in: u64,
    /// Output samples taken so far.
    taken: u64,
    ratio: f64,
    /// Leading output samples still to drop.
    delay: usize,
}

impl MonoResampler {
    pub fn new(rate_in: u32, rate_out: u32) -> Result<MonoResampler, AudioError> {
        let inner = if rate_in == rate_out {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    rate_in as usize,
                    rate_out as usize,
                    1024,
                    1,
                    FixedSync::Input,
                )
                .map_err(|e| AudioError::Unsupported(format!("resampling {rate_in} Hz: {e}")))?,
            )
        };
        let delay = inner.as_ref().map(|r| r.output_delay()).unwrap_or(0);
        let max_out = inner.as_ref().map(|r| r.output_frames_max()).unwrap_or(0);
        Ok(MonoResampler {
            inner,
            pending: Vec::new(),
            out: Vec::new(),
            scratch: vec![vec![0.0; max_out]],
            total_in: 0,
            taken: 0,
            ratio: f64::from(rate_out) / f64::from(rate_in),
            delay,
        })
    }

    pub fn push(&mut self, samples: &[f32]) -> Result<(), AudioError> {
        self.total_in += samples.len() as u64;
        let Some(r) = self.inner.as_mut() else {
            self.out.extend_from_slice(samples);
            return Ok(());
        };
        self.pending.extend_from_slice(samples);
        let need = r.input_frames_next();
        let mut start = 0;
        while self.pending.len() - start >= need {
            let chunk = vec![self.pending[start..start + need].to_vec()];
            Self::run(r, &chunk, need, None, &mut self.scratch, &mut self.out)?;
            start += need;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Move the output that is ready to `dest`; returns how many samples.
    pub fn take(&mut self, dest: &mut Vec<f32>) -> usize {
        let skip = self.delay.min(self.out.len());
        self.delay -= skip;
        let n = self.out.len() - skip;
        dest.extend_from_slice(&self.out[skip..]);
        self.out.clear();
        self.taken += n as u64;
        n
    }

    fn run(
        r: &mut Fft<f32>,
        chunk: &[Vec<f32>],
        frames: usize,
        partial: Option<usize>,
        scratch: &mut [Vec<f32>],
        out: &mut Vec<f32>,
    ) -> Result<(), AudioError> {
        let input = SequentialSliceOfVecs::new(chunk, 1, frames)
            .map_err(|e| AudioError::Corrupt(format!("resampler input: {e:?}")))?;
        let out_len = scratch[0].len();
        let mut output = SequentialSliceOfVecs::new_mut(scratch, 1, out_len)
            .map_err(|e| AudioError::Corrupt(format!("resampler output: {e:?}")))?;
        let indexing = partial.map(|n| rubato::Indexing::new().partial_len(n));
        let (_, written) = r
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .map_err(|e| AudioError::Corrupt(format!("resampling failed: {e}")))?;
        out.extend_from_slice(&scratch[0][..written]);
        Ok(())
    }

    /// Flush the resampler: the rest of the signal goes to `dest`, which then holds (over all
    /// takes) exactly the input's length at the output rate. Returns how many samples it added.
    pub fn finish(&mut self, dest: &mut Vec<f32>) -> Result<usize, AudioError> {
        let expected = (self.total_in as f64 * self.ratio).round() as u64;
        if let Some(mut r) = self.inner.take() {
            let need = r.input_frames_next();
            let mut chunk = vec![vec![0.0f32; need]];
            let n = self.pending.len().min(need);
            chunk[0][..n].copy_from_slice(&self.pending[..n]);
            self.pending.clear();
            Self::run(
                &mut r,
                &chunk,
                need,
                Some(n),
                &mut self.scratch,
                &mut self.out,
            )?;
            // Push silence until the delayed tail has come out.
            let silence = vec![vec![0.0f32; need]];
            let mut guard = 0;
            while self.taken + (self.out.len().saturating_sub(self.delay) as u64) < expected
                && guard < 64
            {
                Self::run(
                    &mut r,
                    &silence,
                    need,
                    Some(0),
                    &mut self.scratch,
                    &mut self.out,
                )?;
                guard += 1;
            }
        }
        let skip = self.delay.min(self.out.len());
        self.delay -= skip;
        let room = expected.saturating_sub(self.taken) as usize;
        let n = (self.out.len() - skip).min(room);
        dest.extend_from_slice(&self.out[skip..skip + n]);
        self.out.clear();
        self.taken += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, secs: f32, hz: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| (i as f32 / rate as f32 * hz * std::f32::consts::TAU).sin() * 0.5)
            .collect()
    }

    #[test]
    fn resampling_keeps_length_and_pitch() {
        for rate in [48_000u32, 44_100, 22_050, 8_000] {
            let input = sine(rate, 1.3, 440.0);
            let mut r = MonoResampler::new(rate, SAMPLE_RATE).unwrap();
            let mut out = Vec::new();
            for chunk in input.chunks(777) {
                r.push(chunk).unwrap();
                r.take(&mut out);
            }
            r.finish(&mut out).unwrap();
            let expected = (1.3 * SAMPLE_RATE as f32) as usize;
            assert!(
                out.len().abs_diff(expected) <= 2,
                "{rate}: {} vs {expected}",
                out.len()
            );
            // Compare with an ideal 440 Hz sine at 16 kHz away from the edges.
            let ideal = sine(SAMPLE_RATE, 1.3, 440.0);
            let err: f32 = out[2000..18000]
                .iter()
                .zip(&ideal[2000..18000])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 0.05, "{rate}: max error {err}");
        }
    }

    /// A 16-bit PCM WAV written by hand: `frames` of a 300 Hz sine on `channels` channels, with
    /// a data chunk that declares `declared` bytes (the true size when `None`).
    fn wav(rate: u32, channels: u16, secs: f32, declared: Option<u32>) -> Vec<u8> {
        let mut data = Vec::new();
        for s in sine(rate, secs, 300.0) {
            let v = (s * 32767.0) as i16;
            for _ in 0..channels {
                data.extend_from_slice(&v.to_le_bytes());
            }
        }
        let block = 2 * channels;
        let declared = declared.unwrap_or(data.len() as u32);
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(36 + declared).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&channels.to_le_bytes());
        wav.extend_from_slice(&rate.to_le_bytes());
        wav.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        wav.extend_from_slice(&block.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&declared.to_le_bytes());
        wav.extend_from_slice(&data);
        wav
    }

    #[test]
    fn a_wav_file_decodes_to_16k_mono() {
        // 0.5 s of stereo 16-bit PCM at 44.1 kHz.
        let wav = wav(44_100, 2, 0.5, None);
        let out = decode_bytes(wav, Some("audio/wav"), AudioLimits::default()).unwrap();
        assert!(out.len().abs_diff(8_000) <= 2, "{}", out.len());
        let peak = out.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((0.4..0.6).contains(&peak), "peak {peak}");
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let junk: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let err = decode_bytes(junk, Some("audio/webm"), AudioLimits::default()).unwrap_err();
        assert!(
            matches!(err, AudioError::Unsupported(_) | AudioError::Corrupt(_)),
            "{err}"
        );
        assert!(err.to_string().contains("audio"), "{err}");
        assert!(matches!(
            decode_bytes(Vec::new(), None, AudioLimits::default()).unwrap_err(),
            AudioError::Unsupported(_) | AudioError::Empty
        ));
    }

    #[test]
    fn a_recording_is_handed_out_in_windows() {
        // 5 s at 16 kHz mono: windows of 1 s (one packet more at most), together the whole.
        let bytes = wav(16_000, 1, 5.0, None);
        let whole = decode_bytes(bytes.clone(), Some("audio/wav"), AudioLimits::default()).unwrap();
        let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
        let mut rec =
            Recording::from_stream(mss, Some("audio/wav"), AudioLimits::default()).unwrap();
        assert!((rec.declared_seconds.unwrap() - 5.0).abs() < 0.01);
        let mut joined = Vec::new();
        let mut window = Vec::new();
        let mut windows = 0;
        loop {
            let more = rec.fill(&mut window, 16_000).unwrap();
            assert!(window.len() < 16_000 + 8_192, "{}", window.len());
            joined.extend_from_slice(&window);
            window.clear();
            windows += 1;
            if !more {
                break;
            }
        }
        assert!(windows >= 5, "{windows}");
        assert_eq!(joined, whole);
    }

    /// A WAV whose header declares two hours (its data is one second): refused by the header,
    /// before anything is decoded, with the duration it declares.
    #[test]
    fn a_declared_duration_over_the_limit_is_refused_before_decoding() {
        let bytes = wav(16_000, 1, 1.0, Some(2 * 3600 * 32_000));
        let err = decode_bytes(bytes, Some("audio/wav"), AudioLimits::default()).unwrap_err();
        match err {
            AudioError::TooLong {
                max_seconds: 1800,
                seconds: Some(s),
            } => assert!((s - 7200.0).abs() < 1.0, "{s}"),
            other => panic!("{other}"),
        }
        let text = err_text(wav(16_000, 1, 1.0, Some(2 * 3600 * 32_000)));
        assert_eq!(
            text,
            "the recording is longer than 30 minutes, the most this server transcribes (it is 2 hours)"
        );
        // Within the limit, the same file decodes (the limit, not the lie, refused it).
        let short = AudioLimits {
            max_seconds: 3 * 3600,
        };
        assert!(decode_bytes(wav(16_000, 1, 1.0, Some(2 * 3600 * 32_000)), None, short).is_ok());
    }

    fn err_text(bytes: Vec<u8>) -> String {
        decode_bytes(bytes, Some("audio/wav"), AudioLimits::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn durations_are_put_in_words() {
        assert_eq!(duration_words(1800.0), "30 minutes");
        assert_eq!(duration_words(90.0), "1 minute 30 seconds");
        assert_eq!(duration_words(3661.0), "1 hour 1 minute 1 second");
        assert_eq!(duration_words(0.2), "0 seconds");
    }
}

/// What phones record, made with espeak-ng and ffmpeg (Debian packages `scripts/test.sh` installs),
/// decodes to the same 16 kHz signal as the WAV it was encoded from.
#[cfg(test)]
mod phone_formats {
    use super::*;
    use std::process::Command;

    fn run(cmd: &mut Command) {
        let out = cmd.output().unwrap_or_else(|e| {
            panic!("{cmd:?}: {e} (scripts/test.sh installs espeak-ng and ffmpeg)")
        });
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Every Cluster of unknown size, as Chrome's MediaRecorder writes WebM: the one copy the
    // integration tests use too.
    include!("../../../tests/src/webm.rs");

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
    }

    #[test]
    fn wav_ogg_webm_mp3_and_mp4_decode() {
        let dir = std::env::temp_dir().join(format!("vertel-audio-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let wav = dir.join("src.wav");
        run(Command::new("espeak-ng")
            .args(["-v", "nl", "-w"])
            .arg(&wav)
            .arg("Het consultatiebureau is op dinsdag open."));
        let reference = decode_file(&wav, Some("audio/wav"), AudioLimits::default()).unwrap();
        let formats: &[(&str, &str, &[&str])] = &[
            ("a.ogg", "audio/ogg", &["-c:a", "libopus", "-b:a", "24k"]),
            (
                "a.webm",
                "audio/webm;codecs=opus",
                &["-c:a", "libopus", "-b:a", "24k", "-f", "webm"],
            ),
            (
                "live.webm",
                "audio/webm",
                &["-c:a", "libopus", "-f", "webm", "-live", "1"],
            ),
            (
                "a.mp3",
                "audio/mpeg",
                &["-c:a", "libmp3lame", "-b:a", "64k"],
            ),
            ("a.m4a", "audio/mp4", &["-c:a", "aac", "-b:a", "64k"]),
            // Safari records fragmented MP4.
            (
                "frag.mp4",
                "audio/mp4",
                &[
                    "-c:a",
                    "aac",
                    "-movflags",
                    "frag_keyframe+empty_moov+default_base_moof",
                ],
            ),
            ("s44.wav", "audio/wav", &["-ar", "44100", "-ac", "2"]),
        ];
        for (name, mime, args) in formats {
            let out = dir.join(name);
            run(Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
                .arg(&wav)
                .args(*args)
                .arg(&out));
            if *name == "live.webm" {
                let data = std::fs::read(&out).unwrap();
                std::fs::write(&out, unknown_size_clusters(&data)).unwrap();
            }
            let got = decode_file(&out, Some(mime), AudioLimits::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let diff_ms = got.len().abs_diff(reference.len()) as f64 / 16.0;
            assert!(
                diff_ms < 120.0,
                "{name}: {} vs {} samples",
                got.len(),
                reference.len()
            );
            let (a, b) = (rms(&got), rms(&reference));
            assert!((a / b - 1.0).abs() < 0.3, "{name}: loudness {a} vs {b}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, no final inversion.
    fn ogg_crc(bytes: &[u8]) -> u32 {
        let mut crc = 0u32;
        for &b in bytes {
            crc ^= u32::from(b) << 24;
            for _ in 0..8 {
                crc = if crc & 0x8000_0000 != 0 {
                    (crc << 1) ^ 0x04C1_1DB7
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    /// Make every Ogg page past `granule` claim `granule` (their CRCs made right again): the file
    /// then declares that much, whichever pages a reader looks at to find its end.
    fn lie_about_the_end(ogg: &mut [u8], granule: u64) {
        let mut at = 0;
        while let Some(found) = ogg[at..].windows(4).position(|w| w == b"OggS") {
            let start = at + found;
            let segments = usize::from(ogg[start + 26]);
            let body: usize = ogg[start + 27..start + 27 + segments]
                .iter()
                .map(|&b| usize::from(b))
                .sum();
            let end = start + 27 + segments + body;
            let mut claimed = [0u8; 8];
            claimed.copy_from_slice(&ogg[start + 6..start + 14]);
            if u64::from_le_bytes(claimed) > granule {
                ogg[start + 6..start + 14].copy_from_slice(&granule.to_le_bytes());
                ogg[start + 22..start + 26].fill(0);
                let crc = ogg_crc(&ogg[start..end]);
                ogg[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
            }
            at = end;
        }
    }

    /// Silence in Ogg/Opus is a few bytes per packet: the 279 KB file that decoded to three hours.
    /// Here 12 s of it against a limit of 5 s: refused by its last page's granule position before
    /// anything is decoded; and when that page lies (says 1 s), refused while decoding, once 5 s
    /// were decoded, never holding more than that.
    #[test]
    fn long_silence_is_refused_by_its_header_or_while_decoding() {
        let dir = std::env::temp_dir().join(format!("vertel-audio-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("silence.ogg");
        run(Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg("anullsrc=r=48000:cl=mono")
            .args(["-t", "12", "-c:a", "libopus", "-b:a", "16k"])
            .arg(&path));
        let limits = AudioLimits { max_seconds: 5 };
        match Recording::open(&path, Some("audio/ogg"), limits) {
            Err(AudioError::TooLong {
                max_seconds: 5,
                seconds: Some(s),
            }) => assert!((s - 12.0).abs() < 0.5, "{s}"),
            Err(e) => panic!("{e}"),
            Ok(r) => panic!("opened, declaring {:?}", r.declared_seconds),
        }

        let mut bytes = std::fs::read(&path).unwrap();
        lie_about_the_end(&mut bytes, 48_000);
        std::fs::write(&path, &bytes).unwrap();
        let mut rec =
            Recording::open(&path, Some("audio/ogg"), limits).expect("the lie is believed");
        assert!(
            rec.declared_seconds.is_some_and(|s| s < 2.0),
            "{:?}",
            rec.declared_seconds
        );
        let mut delivered = 0usize;
        let err = loop {
            let mut window = Vec::new();
            match rec.fill(&mut window, SAMPLE_RATE as usize) {
                Ok(more) => {
                    delivered += window.len();
                    assert!(
                        more,
                        "ended after {delivered} samples without passing the limit"
                    );
                }
                Err(e) => break e,
            }
        };
        assert!(
            matches!(
                err,
                AudioError::TooLong {
                    max_seconds: 5,
                    seconds: None
                }
            ),
            "{err}"
        );
        // Stopped at the first packet past 5 s (120 ms at most at 48 kHz), having handed out
        // only whole windows before it.
        assert!(
            rec.decoded_frames > 5 * 48_000 && rec.decoded_frames <= 5 * 48_000 + 5_760,
            "{} frames decoded",
            rec.decoded_frames
        );
        let seconds = delivered as f64 / f64::from(SAMPLE_RATE);
        assert!((4.0..=5.0).contains(&seconds), "{seconds} s delivered");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
