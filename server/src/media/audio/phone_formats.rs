//! What phones record, made with espeak-ng and ffmpeg (Debian packages `scripts/test.sh` installs),
//! decodes to the same 16 kHz signal as the WAV it was encoded from.

use super::*;
use std::process::Command;

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/test.sh installs espeak-ng and ffmpeg)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// Every Cluster of unknown size, as Chrome's MediaRecorder writes WebM: the one copy the
// integration tests use too.
include!("../../../../tests/src/webm.rs");

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
    let mut rec = Recording::open(&path, Some("audio/ogg"), limits).expect("the lie is believed");
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
