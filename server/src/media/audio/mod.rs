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

mod resample;
pub use resample::MonoResampler;

#[cfg(test)]
mod phone_formats;
#[cfg(test)]
mod tests;
