//! Voice activity detection before Whisper: which stretches of a window hold speech.
//!
//! Whisper, given silence or noise, writes text anyway ("TV GELDERLAND 2020", "*muziek*"): it was
//! trained on subtitles, which credit their makers during the silent parts. So a window's samples
//! are first judged by a voice activity detector, and only the stretches with speech (a little
//! padded, joined by short silences) go to Whisper; a window without any goes nowhere.
//!
//! The detector is [`earshot`] (crates.io, pure Rust, its small network's weights inside the
//! crate: nothing is downloaded at build or run time). whisper.cpp's own VAD needs a Silero model
//! in ggml form, which no registry package ships (making one needs PyTorch and a conversion
//! script from outside the registries); earshot scores 16 ms frames of 16 kHz audio, in any
//! language, at a few thousand times real time.

use super::super::audio::SAMPLE_RATE;

/// Samples per frame the detector scores (16 ms at 16 kHz).
const FRAME: usize = 256;
/// A frame scoring at least this is speech (earshot's recommended default).
pub const THRESHOLD: f32 = 0.5;
/// Speech shorter than this (after joining) is a click or a bump, not speech.
const MIN_SPEECH_MS: usize = 250;
/// Pauses shorter than this inside speech do not split it.
const MAX_PAUSE_MS: usize = 500;
/// Kept around each stretch of speech, so first and last sounds are not cut.
const PAD_MS: usize = 200;
/// Silence put between the stretches handed to Whisper.
const GAP_MS: usize = 300;

fn ms_to_samples(ms: usize) -> usize {
    ms * SAMPLE_RATE as usize / 1000
}

/// The stretches of `samples` (16 kHz mono) that hold speech, as sample ranges in order, padded
/// by [`PAD_MS`] and never overlapping.
pub fn speech_regions(samples: &[f32]) -> Vec<std::ops::Range<usize>> {
    let mut detector = earshot::Detector::default();
    let mut speech = Vec::with_capacity(samples.len() / FRAME + 1);
    for frame in samples.chunks(FRAME) {
        let score = if frame.len() == FRAME {
            detector.predict_f32(frame)
        } else {
            let mut last = [0f32; FRAME];
            last[..frame.len()].copy_from_slice(frame);
            detector.predict_f32(&last)
        };
        speech.push(score >= THRESHOLD);
    }
    regions_from_frames(&speech, samples.len())
}

/// Frames marked as speech → padded sample ranges: pauses under [`MAX_PAUSE_MS`] joined, stretches
/// under [`MIN_SPEECH_MS`] dropped.
fn regions_from_frames(speech: &[bool], len: usize) -> Vec<std::ops::Range<usize>> {
    let frame_ms = FRAME * 1000 / SAMPLE_RATE as usize;
    let max_pause = MAX_PAUSE_MS / frame_ms;
    let min_speech = MIN_SPEECH_MS / frame_ms;
    // Runs of speech frames, joined over short pauses.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, &s) in speech.iter().enumerate() {
        if !s {
            continue;
        }
        match runs.last_mut() {
            Some((_, end)) if i - *end <= max_pause => *end = i + 1,
            _ => runs.push((i, i + 1)),
        }
    }
    let pad = ms_to_samples(PAD_MS);
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for (start, end) in runs {
        let voiced = speech[start..end].iter().filter(|s| **s).count();
        if voiced < min_speech {
            continue;
        }
        let from = (start * FRAME).saturating_sub(pad);
        let to = (end * FRAME + pad).min(len);
        match out.last_mut() {
            Some(prev) if from <= prev.end => prev.end = to,
            _ => out.push(from..to),
        }
    }
    out
}

/// The speech of a window, laid end to end for Whisper, and how to map its times back.
#[derive(Debug, Default)]
pub struct SpeechOnly {
    pub samples: Vec<f32>,
    /// (start in `samples`, start in the window, length), in order.
    pieces: Vec<(usize, usize, usize)>,
}

impl SpeechOnly {
    /// The stretches `regions` of `window`, joined by [`GAP_MS`] of silence.
    pub fn new(window: &[f32], regions: &[std::ops::Range<usize>]) -> SpeechOnly {
        let gap = ms_to_samples(GAP_MS);
        let mut out = SpeechOnly::default();
        for r in regions {
            if !out.samples.is_empty() {
                out.samples.extend(std::iter::repeat_n(0.0, gap));
            }
            out.pieces.push((out.samples.len(), r.start, r.len()));
            out.samples.extend_from_slice(&window[r.clone()]);
        }
        out
    }

    /// The whole window, unchanged (no VAD).
    pub fn whole(window: &[f32]) -> SpeechOnly {
        SpeechOnly {
            samples: window.to_vec(),
            pieces: vec![(0, 0, window.len())],
        }
    }

    /// A time in `samples` (ms) → the same moment in the window (ms). A time in a joining gap
    /// goes to the end of the piece before it.
    pub fn window_ms(&self, ms: i64) -> i64 {
        let rate = SAMPLE_RATE as i64;
        let at = (ms.max(0) * rate / 1000) as usize;
        let piece = self
            .pieces
            .iter()
            .rev()
            .find(|(start, _, _)| *start <= at)
            .or(self.pieces.first());
        match piece {
            Some(&(start, origin, len)) => {
                let inside = (at - start.min(at)).min(len);
                ((origin + inside) as i64) * 1000 / rate
            }
            None => ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_pauses_join_and_short_bumps_drop() {
        let ms = |n: usize| n / 16; // frames of 16 ms
        let mut frames = vec![false; ms(5000)];
        // 1 s of speech, a 200 ms pause, 1 s more: one region.
        frames[ms(1000)..ms(2000)].fill(true);
        frames[ms(2200)..ms(3200)].fill(true);
        // A 100 ms bump at 4 s: dropped.
        frames[ms(4000)..ms(4100)].fill(true);
        let len = 5 * SAMPLE_RATE as usize;
        let regions = regions_from_frames(&frames, len);
        assert_eq!(regions.len(), 1, "{regions:?}");
        let r = &regions[0];
        let at = |ms: usize| ms_to_samples(ms);
        assert!(
            r.start <= at(1000) - at(PAD_MS) + FRAME && r.start >= at(700),
            "{r:?}"
        );
        assert!(r.end >= at(3200) && r.end <= at(3500), "{r:?}");
        assert!(regions_from_frames(&[false; 100], len).is_empty());
    }

    #[test]
    fn times_map_back_across_the_joins() {
        let rate = SAMPLE_RATE as usize;
        let window = vec![0.1f32; 10 * rate];
        let only = SpeechOnly::new(&window, &[rate..2 * rate, 6 * rate..8 * rate]);
        let gap = ms_to_samples(GAP_MS);
        assert_eq!(only.samples.len(), 3 * rate + gap);
        assert_eq!(only.window_ms(0), 1000);
        assert_eq!(only.window_ms(500), 1500);
        // Just after the gap: the second piece, at 6 s.
        let second = ((rate + gap) * 1000 / rate) as i64;
        assert_eq!(only.window_ms(second), 6000);
        assert_eq!(only.window_ms(second + 1000), 7000);
        // Inside the gap: the end of the first piece.
        assert_eq!(only.window_ms(1100), 2000);
        assert_eq!(SpeechOnly::whole(&window).window_ms(4321), 4321);
    }

    /// The detector itself: silence and steady noise hold no speech; espeak-ng's voice does.
    #[test]
    fn silence_and_noise_hold_no_speech_and_a_voice_does() {
        let rate = SAMPLE_RATE as usize;
        assert!(speech_regions(&vec![0.0; 5 * rate]).is_empty());
        // Deterministic white noise (an LCG), moderately loud.
        let mut x: u32 = 12345;
        let noise: Vec<f32> = (0..5 * rate)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((x >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.2
            })
            .collect();
        assert!(speech_regions(&noise).is_empty(), "white noise");
        let dir = std::env::temp_dir().join(format!("vertel-vad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let wav = dir.join("voice.wav");
        let ok = std::process::Command::new("espeak-ng")
            .args(["-v", "nl", "-s", "160", "-w"])
            .arg(&wav)
            .arg("Ik ben vandaag met mijn zoon naar de markt geweest.")
            .status()
            .expect("espeak-ng (scripts/test.sh installs it)");
        assert!(ok.success());
        let samples = super::super::super::audio::decode_file(
            &wav,
            Some("audio/wav"),
            super::super::super::audio::AudioLimits::default(),
        )
        .expect("decoded");
        let mut padded = vec![0.0f32; 2 * rate];
        padded.extend_from_slice(&samples);
        padded.extend(std::iter::repeat_n(0.0, 2 * rate));
        let regions = speech_regions(&padded);
        assert!(!regions.is_empty(), "no speech found in a voice");
        let first = &regions[0];
        assert!(
            first.start >= rate && first.start <= 3 * rate,
            "{regions:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
