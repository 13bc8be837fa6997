//! What is kept of Whisper's output: no invented text, sentences with a confidence.
//!
//! Three rules drop a decoded segment, each from the reference implementation (OpenAI's
//! `transcribe.py`) or from Whisper's known failures, none from our evaluation set:
//! - **no speech:** the no-speech probability over [`NO_SPEECH_THOLD`] while the average token
//!   log-probability is under [`LOGPROB_THOLD`] (the reference's `no_speech_threshold` 0.6 and
//!   `logprob_threshold` −1.0);
//! - **a loop:** text whose zlib compression ratio is over [`COMPRESSION_RATIO_THOLD`] (2.4, the
//!   reference's), which whisper.cpp's temperature fallback did not cure;
//! - **a known hallucination standing alone:** subtitle credits and broadcaster names Whisper
//!   writes over silence and noise ([`HALLUCINATIONS`], from public reports of Whisper's behaviour).
//!
//! What stays is joined into sentences, each with a confidence (the geometric mean of its tokens'
//! probabilities) and the positions of the words Whisper was unsure of.

use super::Segment;
use std::io::Write;

/// Segments whose no-speech probability is above this, and whose average log-probability is
/// below [`LOGPROB_THOLD`], are silence (OpenAI's default, and whisper.cpp's `no_speech_thold`).
pub const NO_SPEECH_THOLD: f32 = 0.6;
/// See [`NO_SPEECH_THOLD`]; also where whisper.cpp falls back to a higher temperature.
pub const LOGPROB_THOLD: f32 = -1.0;
/// Text that compresses better than this is a repetition loop (OpenAI's default).
pub const COMPRESSION_RATIO_THOLD: f64 = 2.4;
/// A word whose least sure token has a probability under this is marked as uncertain.
pub const UNCERTAIN_BELOW: f32 = 0.5;
/// Sentences are not joined beyond this length.
const MAX_SENTENCE_MS: i64 = 30_000;
/// Nor across a pause longer than this.
const MAX_JOIN_PAUSE_MS: i64 = 1_500;

/// Phrases Whisper is known to write over silence, noise and music, as published in reports on
/// Whisper's behaviour (subtitle credits, broadcasters, video closings). Compared after
/// [`normalise`]; a segment is dropped when it is one of them, or starts with one of them and
/// holds nothing else but a name or a year.
pub const HALLUCINATIONS: &[&str] = &[
    "tv gelderland",
    "ondertiteling ingediend door",
    "ondertitels ingediend door",
    "ondertiteling door",
    "ondertiteld door",
    "ondertitels door",
    "ondertiteling",
    "ondertitels",
    "ondertiteling tv gelderland",
    "amara org",
    "amaraorg",
    "de ondertiteling is gemaakt door",
    "bedankt voor het kijken",
    "dank u wel voor het kijken",
    "dank je wel voor het kijken",
    "bedankt voor het luisteren",
    "vergeet niet te abonneren",
    "abonneer op het kanaal",
    "thanks for watching",
    "thank you for watching",
    "thank you for watching and see you next time",
    "subtitles by the amara org community",
    "subtitles by",
    "subtitled by",
    "transcribed by",
    "please subscribe",
    "like and subscribe",
    "muziek",
    "music",
    "applaus",
    "applause",
    "gelach",
    "stilte",
    "silence",
];

/// Lower case, letters and digits only, single spaces (`*Muziek*` → `muziek`).
pub fn normalise(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                ' '
            }
        })
        .collect();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `text`, standing alone, is a known hallucination: one of [`HALLUCINATIONS`] (possibly
/// followed by a year or up to three more words, as in a credit's names), or only a sound
/// description in brackets or asterisks (`[muziek]`, `*zucht*`, `♪`).
pub fn is_hallucination(text: &str) -> bool {
    let t = text.trim();
    if t.is_empty() {
        return true;
    }
    let described = |open: char, close: char| t.starts_with(open) && t.ends_with(close);
    if described('[', ']') || described('(', ')') || described('*', '*') {
        return true;
    }
    let n = normalise(t);
    if n.is_empty() {
        // Only symbols: ♪, "...", "-".
        return true;
    }
    HALLUCINATIONS.iter().any(|h| {
        let Some(rest) = n.strip_prefix(h) else {
            return false;
        };
        if rest.is_empty() {
            return true;
        }
        if !rest.starts_with(' ') {
            return false;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        // A year after anything; a credit's few names only after a phrase of several words.
        words.iter().all(|w| w.chars().all(|c| c.is_ascii_digit()))
            || (h.contains(' ') && words.len() <= 4)
    })
}

/// zlib's compression ratio of `text` (bytes in / bytes out), as the reference computes it.
pub fn compression_ratio(text: &str) -> f64 {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    if z.write_all(bytes).is_err() {
        return 0.0;
    }
    match z.finish() {
        Ok(out) if !out.is_empty() => bytes.len() as f64 / out.len() as f64,
        _ => 0.0,
    }
}

/// One text token of a decoded segment with its probability.
#[derive(Debug, Clone)]
pub struct Token {
    pub text: String,
    pub p: f32,
}

/// A segment as whisper.cpp returned it, times already in the recording.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
    pub tokens: Vec<Token>,
    pub no_speech: f32,
}

impl Decoded {
    /// The mean natural log of the text tokens' probabilities (0 when there are none).
    pub fn avg_logprob(&self) -> f32 {
        if self.tokens.is_empty() {
            return 0.0;
        }
        let sum: f32 = self.tokens.iter().map(|t| t.p.max(1e-6).ln()).sum();
        sum / self.tokens.len() as f32
    }

    /// Why this segment is dropped, if it is: `no-speech`, `loop` or `hallucination`.
    pub fn rejected(&self) -> Option<&'static str> {
        if self.no_speech > NO_SPEECH_THOLD && self.avg_logprob() < LOGPROB_THOLD {
            return Some("no-speech");
        }
        if compression_ratio(&self.text) > COMPRESSION_RATIO_THOLD {
            return Some("loop");
        }
        if is_hallucination(&self.text) {
            return Some("hallucination");
        }
        None
    }

    /// The segment with its confidence and uncertain words (positions in `text` split at
    /// whitespace).
    pub fn into_segment(self) -> Segment {
        let text = self.text.trim().to_string();
        let mut uncertain: Vec<u32> = Vec::new();
        let mut acc = String::new();
        for t in &self.tokens {
            acc.push_str(&t.text);
            if t.text.trim().is_empty() || t.p >= UNCERTAIN_BELOW {
                continue;
            }
            let word = acc.split_whitespace().count().saturating_sub(1) as u32;
            if uncertain.last() != Some(&word) {
                uncertain.push(word);
            }
        }
        let words = text.split_whitespace().count() as u32;
        uncertain.retain(|w| *w < words);
        let confidence = if self.tokens.is_empty() {
            0.0
        } else {
            f64::from(self.avg_logprob()).exp().clamp(0.0, 1.0)
        };
        Segment {
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            text,
            confidence,
            uncertain,
            words: self.tokens.len() as u32,
        }
    }
}

/// Whisper's segments joined into sentences: a segment that does not end a sentence (`.`, `?`,
/// `!`, `…`) takes the next one in, unless the pause between them is long or the sentence would
/// grow past 30 s. The confidence of a joined sentence is its parts' weighted by their tokens.
pub fn sentences(segments: Vec<Segment>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for s in segments {
        let join = out.last().is_some_and(|prev| {
            !prev.text.ends_with(['.', '?', '!', '…'])
                && s.start_ms - prev.end_ms <= MAX_JOIN_PAUSE_MS
                && s.end_ms - prev.start_ms <= MAX_SENTENCE_MS
        });
        match out.last_mut() {
            Some(prev) if join => {
                let offset = prev.text.split_whitespace().count() as u32;
                let (a, b) = (f64::from(prev.words.max(1)), f64::from(s.words.max(1)));
                prev.confidence = (prev.confidence * a + s.confidence * b) / (a + b);
                prev.words += s.words;
                prev.text = format!("{} {}", prev.text, s.text);
                prev.end_ms = s.end_ms;
                prev.uncertain
                    .extend(s.uncertain.iter().map(|w| w + offset));
            }
            _ => out.push(s),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(text: &str, tokens: &[(&str, f32)], no_speech: f32) -> Decoded {
        Decoded {
            start_ms: 0,
            end_ms: 1000,
            text: text.into(),
            tokens: tokens
                .iter()
                .map(|(t, p)| Token {
                    text: t.to_string(),
                    p: *p,
                })
                .collect(),
            no_speech,
        }
    }

    #[test]
    fn known_hallucinations_are_recognised_standing_alone_only() {
        for h in [
            "TV GELDERLAND 2020.",
            "Ondertiteling ingediend door Jan de Vries",
            "*muziek*",
            "[Muziek]",
            "(applaus)",
            "♪",
            "Bedankt voor het kijken!",
            "Thanks for watching.",
            "Ondertiteld door de Amara.org gemeenschap",
        ] {
            assert!(is_hallucination(h), "{h}");
        }
        for real in [
            "De muziek op de markt was hard.",
            "Bedankt voor het kijken naar mijn baby, zei ze tegen de buurvrouw die altijd helpt.",
            "Ik ben blij.",
        ] {
            assert!(!is_hallucination(real), "{real}");
        }
    }

    #[test]
    fn silence_and_loops_are_rejected_and_speech_is_kept() {
        let silent = decoded(" Ja.", &[(" Ja", 0.2), (".", 0.3)], 0.9);
        assert_eq!(silent.rejected(), Some("no-speech"));
        // A confident decode is kept even where the no-speech token was likely (the reference
        // requires both).
        let sure = decoded(" Ja.", &[(" Ja", 0.9), (".", 0.9)], 0.9);
        assert_eq!(sure.rejected(), None);
        let looped = decoded(&" ik ben ik ben".repeat(12), &[(" ik", 0.9)], 0.0);
        assert_eq!(looped.rejected(), Some("loop"));
        assert!(compression_ratio("Ik ben vandaag naar de markt geweest.") < 2.0);
    }

    #[test]
    fn uncertain_words_are_marked_by_their_position() {
        let d = decoded(
            " Ik ging naar Voorzorg vandaag.",
            &[
                (" Ik", 0.95),
                (" ging", 0.9),
                (" naar", 0.9),
                (" Voor", 0.3),
                ("zorg", 0.6),
                (" vandaag", 0.8),
                (".", 0.9),
            ],
            0.01,
        );
        let s = d.into_segment();
        assert_eq!(s.text, "Ik ging naar Voorzorg vandaag.");
        assert_eq!(s.uncertain, vec![3]);
        assert!(s.confidence > 0.6 && s.confidence < 0.9, "{}", s.confidence);
    }

    #[test]
    fn segments_join_into_sentences() {
        let seg = |a: i64, b: i64, text: &str, uncertain: Vec<u32>| Segment {
            start_ms: a,
            end_ms: b,
            text: text.into(),
            confidence: 0.8,
            uncertain,
            words: 2,
        };
        let out = sentences(vec![
            seg(0, 1000, "Ik ging", vec![]),
            seg(1000, 2000, "naar huis.", vec![1]),
            seg(2100, 3000, "Daarna sliep ik.", vec![]),
            seg(9000, 9500, "En", vec![]),
            seg(12_000, 13_000, "toen?", vec![]),
        ]);
        let texts: Vec<&str> = out.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            ["Ik ging naar huis.", "Daarna sliep ik.", "En", "toen?"]
        );
        assert_eq!(out[0].uncertain, vec![3]);
        assert_eq!((out[0].start_ms, out[0].end_ms), (0, 2000));
    }
}
