//! The decoder's unit tests: resampling, limits, errors, durations in words.

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
    let mut rec = Recording::from_stream(mss, Some("audio/wav"), AudioLimits::default()).unwrap();
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
