//! Audio decoding: what phones record, turned into what Whisper needs (16 kHz mono `f32`).
//!
//! Containers (WebM/Matroska, MP4, Ogg, WAV, MP3) are read with symphonia, which also decodes AAC,
//! MP3 and PCM. Opus (Chrome on Android records WebM/Opus, Firefox and many apps Ogg/Opus) is
//! decoded with libopus, straight to mono at 48 kHz. Everything is mixed down to mono and
//! resampled to 16 kHz with rubato's FFT resampler, chunk by chunk, so only the 16 kHz result is
//! held in memory.
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

/// Longest recording decoded (at 16 kHz mono f32 three hours take about 690 MB).
pub const MAX_SECONDS: u64 = 3 * 3600;

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
    #[error("the recording is longer than {} hours", MAX_SECONDS / 3600)]
    TooLong,
    #[error("the audio file could not be read: {0}")]
    Io(#[from] std::io::Error),
}

/// Decode a file. `mime` (as the device declared it) helps recognise the container.
pub fn decode_file(
    path: &Path,
    mime: Option<&str>,
    progress: &mut dyn FnMut(f32),
) -> Result<Vec<f32>, AudioError> {
    let file = std::fs::File::open(path)?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    decode_stream(mss, mime, progress)
}

/// Decode bytes in memory.
pub fn decode_bytes(bytes: Vec<u8>, mime: Option<&str>) -> Result<Vec<f32>, AudioError> {
    let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
    decode_stream(mss, mime, &mut |_| {})
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

fn decode_stream(
    mss: MediaSourceStream,
    mime: Option<&str>,
    progress: &mut dyn FnMut(f32),
) -> Result<Vec<f32>, AudioError> {
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
            SymphoniaError::Unsupported(_) | SymphoniaError::IoError(_) => AudioError::Unsupported(
                format!("the file is not a recording in a known format ({SUPPORTED})"),
            ),
            other => AudioError::Corrupt(other.to_string()),
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL && t.codec_params.sample_rate.is_some())
        .or_else(|| {
            format
                .tracks()
                .iter()
                .find(|t| t.codec_params.codec == CODEC_TYPE_OPUS)
        })
        .ok_or_else(|| AudioError::Unsupported("the file has no audio track".into()))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let rate = PacketDecoder::sample_rate(&params)
        .filter(|r| (4_000..=384_000).contains(r))
        .ok_or_else(|| AudioError::Corrupt("the audio track has no valid sample rate".into()))?;
    let mut decoder = PacketDecoder::new(&params)?;
    let mut resampler = MonoResampler::new(rate, SAMPLE_RATE)?;
    let max_frames = MAX_SECONDS * u64::from(rate);

    let mut mono = Vec::new();
    let mut good = 0u64;
    let mut bad = 0u64;
    let mut last_error = String::new();
    let mut decoded_frames = 0u64;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            // A chained stream (a new logical Ogg stream) ends what we read.
            Err(SymphoniaError::ResetRequired) => break,
            Err(SymphoniaError::IoError(e)) => return Err(AudioError::Io(e)),
            Err(e) => {
                if good == 0 {
                    return Err(AudioError::Corrupt(e.to_string()));
                }
                // Damage after good audio: keep what was decoded.
                tracing::debug!(error = %e, "audio container ends in damage");
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        mono.clear();
        match decoder.decode(packet.buf(), &mut mono) {
            Ok(()) => good += 1,
            Err(e) => {
                bad += 1;
                last_error = e;
                if bad > 20 && bad > good / 10 {
                    return Err(AudioError::Corrupt(format!(
                        "{bad} audio packets would not decode ({last_error})"
                    )));
                }
                continue;
            }
        }
        decoded_frames += mono.len() as u64;
        if decoded_frames > max_frames {
            return Err(AudioError::TooLong);
        }
        resampler.push(&mono)?;
    }
    if good == 0 {
        return Err(if bad > 0 {
            AudioError::Corrupt(format!("no audio packet would decode ({last_error})"))
        } else {
            AudioError::Empty
        });
    }
    let out = resampler.finish()?;
    if out.is_empty() {
        return Err(AudioError::Empty);
    }
    progress(1.0);
    Ok(out)
}

/// Streaming mono resampler: push samples at the input rate, get 16 kHz at the end. The FFT
/// resampler's delay is trimmed so the output lines up with the input.
pub struct MonoResampler {
    inner: Option<Fft<f32>>,
    pending: Vec<f32>,
    out: Vec<f32>,
    scratch: Vec<Vec<f32>>,
    total_in: u64,
    ratio: f64,
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

    /// Flush the resampler and return the whole 16 kHz signal.
    pub fn finish(mut self) -> Result<Vec<f32>, AudioError> {
        let Some(mut r) = self.inner.take() else {
            return Ok(self.out);
        };
        let expected = (self.total_in as f64 * self.ratio).round() as usize;
        let need = r.input_frames_next();
        let mut chunk = vec![vec![0.0f32; need]];
        let n = self.pending.len().min(need);
        chunk[0][..n].copy_from_slice(&self.pending[..n]);
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
        while self.out.len() < expected + self.delay && guard < 64 {
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
        let mut out = self.out;
        out.drain(..self.delay.min(out.len()));
        out.truncate(expected);
        Ok(out)
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
            for chunk in input.chunks(777) {
                r.push(chunk).unwrap();
            }
            let out = r.finish().unwrap();
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

    #[test]
    fn a_wav_file_decodes_to_16k_mono() {
        // 0.5 s of stereo 16-bit PCM at 44.1 kHz, written by hand.
        let rate = 44_100u32;
        let frames = rate as usize / 2;
        let mut data = Vec::new();
        for s in sine(rate, 0.5, 300.0).iter().take(frames) {
            let v = (s * 32767.0) as i16;
            data.extend_from_slice(&v.to_le_bytes());
            data.extend_from_slice(&v.to_le_bytes());
        }
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&2u16.to_le_bytes());
        wav.extend_from_slice(&rate.to_le_bytes());
        wav.extend_from_slice(&(rate * 4).to_le_bytes());
        wav.extend_from_slice(&4u16.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
        wav.extend_from_slice(&data);
        let out = decode_bytes(wav, Some("audio/wav")).unwrap();
        assert!(out.len().abs_diff(8_000) <= 2, "{}", out.len());
        let peak = out.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((0.4..0.6).contains(&peak), "peak {peak}");
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let junk: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let err = decode_bytes(junk, Some("audio/webm")).unwrap_err();
        assert!(
            matches!(err, AudioError::Unsupported(_) | AudioError::Corrupt(_)),
            "{err}"
        );
        assert!(err.to_string().contains("audio"), "{err}");
        assert!(matches!(
            decode_bytes(Vec::new(), None).unwrap_err(),
            AudioError::Unsupported(_) | AudioError::Empty
        ));
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

    /// Every Cluster of unknown size, as Chrome's MediaRecorder writes WebM.
    fn unknown_size_clusters(data: &[u8]) -> Vec<u8> {
        const CLUSTER: [u8; 4] = [0x1F, 0x43, 0xB6, 0x75];
        let mut out = Vec::new();
        let mut i = 0;
        while i < data.len() {
            if data[i..].starts_with(&CLUSTER) && i + 4 < data.len() {
                let len = data[i + 4].leading_zeros() as usize + 1;
                if (1..=8).contains(&len) {
                    out.extend_from_slice(&CLUSTER);
                    out.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
                    i += 4 + len;
                    continue;
                }
            }
            out.push(data[i]);
            i += 1;
        }
        out
    }

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
        let reference = decode_file(&wav, Some("audio/wav"), &mut |_| {}).unwrap();
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
            let got = decode_file(&out, Some(mime), &mut |_| {})
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
}
