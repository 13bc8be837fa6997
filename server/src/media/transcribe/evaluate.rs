//! The evaluation harness (`vertel-server transcribe --evaluate DIR`): word error rates, invented
//! text in silence and noise, and the real-time factor, per decoding configuration, over the set
//! `fixtures/speech-eval/make-set.sh` makes (its `manifest.tsv`). Prints a Markdown table ready
//! for `BENCHMARKS.md`, and fails when asked bounds are not met (the test command's quick run).

use super::language::{self, Language};
use super::{Decoding, Model, TranscribeError, prompt};
use crate::media::audio::AudioLimits;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// One clip of the manifest.
#[derive(Debug, Clone)]
pub struct Clip {
    pub file: String,
    pub language: String,
    /// `speech`, `no-speech` or `noisy-speech`.
    pub kind: String,
    pub reference: String,
}

/// Read `DIR/manifest.tsv`.
pub fn read_manifest(dir: &Path) -> anyhow::Result<Vec<Clip>> {
    let text = std::fs::read_to_string(dir.join("manifest.tsv")).map_err(|e| {
        anyhow::anyhow!(
            "{}/manifest.tsv: {e} (make the set with fixtures/speech-eval/make-set.sh {})",
            dir.display(),
            dir.display()
        )
    })?;
    let mut clips = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            anyhow::bail!("manifest.tsv line {}: expected file, language, kind", n + 1);
        }
        clips.push(Clip {
            file: cols[0].to_string(),
            language: cols[1].to_string(),
            kind: cols[2].to_string(),
            reference: cols.get(3).copied().unwrap_or_default().to_string(),
        });
    }
    Ok(clips)
}

/// Words for scoring: lower case, letters and digits, hyphens and apostrophes as spaces.
pub fn words(text: &str) -> Vec<String> {
    super::filter::normalise(text)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Word-level edit distance (substitutions, insertions, deletions).
pub fn edit_distance(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut row = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            let sub = prev[j] + usize::from(r != h);
            row[j + 1] = sub.min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[hypothesis.len()]
}

/// The word error rate of one transcription, [`words`] against [`words`]: 0 for an empty reference
/// and an empty hypothesis, 1 for any text where nothing was said. The integration tests score with
/// it too.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let (r, h) = (words(reference), words(hypothesis));
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    edit_distance(&r, &h) as f64 / r.len() as f64
}

/// A configuration by name: `greedy` or `beamN`, then any of `+vad`, `+filter`, `+prompt`,
/// `+detect` (the language detected among the expected ones instead of given); `server` is what
/// the server does.
pub fn parse_config(name: &str) -> anyhow::Result<(Decoding, bool)> {
    let mut parts = name.split('+');
    let first = parts.next().unwrap_or_default();
    let mut d = if first == "server" {
        Decoding::server()
    } else {
        let beam = match first {
            "greedy" => 1,
            b => b
                .strip_prefix("beam")
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| (1..=8).contains(n))
                .ok_or_else(|| anyhow::anyhow!("unknown configuration {name:?}"))?,
        };
        Decoding {
            beam,
            vad: false,
            filter: false,
            ..Decoding::default()
        }
    };
    // The set is Dutch and English: no translation to time.
    d.translate = false;
    let mut detect = false;
    for p in parts {
        match p {
            "vad" => d.vad = true,
            "filter" => d.filter = true,
            "prompt" => d.prompt = Some(prompt::default_prompt()),
            "detect" => detect = true,
            "fit" => d.fit_context = true,
            other => anyhow::bail!("unknown part {other:?} in {name:?}"),
        }
    }
    Ok((d, detect))
}

/// What one configuration scored.
#[derive(Debug, Default, Clone)]
pub struct Score {
    pub name: String,
    /// (errors, reference words) per kind of clip.
    pub nl: (usize, usize),
    pub en: (usize, usize),
    pub noisy: (usize, usize),
    /// No-speech clips, and those that gave text.
    pub silent: (usize, usize),
    /// Speech clips transcribed in the right language.
    pub language_right: (usize, usize),
    pub wall_seconds: f64,
    pub audio_seconds: f64,
    /// The long voice note: (errors, reference words), wall and audio seconds.
    pub long: (usize, usize),
    pub long_wall: f64,
    pub long_audio: f64,
    /// Words of the server's prompt in a transcript whose reference lacks them (the prompt
    /// leaking into what people read, and into the tagger): words, and clips with any.
    pub leaked: (usize, usize),
}

/// The words of the prompt's frame ("Een verhaal over …, over … Met de …"), which are not
/// counted as leaks.
const FRAME: &[&str] = &["een", "verhaal", "over", "met", "de", "en"];

/// The prompt's words as [`words`] gives them, less its frame.
pub fn prompt_terms(prompt: &str) -> std::collections::BTreeSet<String> {
    words(prompt)
        .into_iter()
        .filter(|w| !FRAME.contains(&w.as_str()))
        .collect()
}

/// The words of `hypothesis` that are prompt terms absent from `reference`.
pub fn leaks(
    terms: &std::collections::BTreeSet<String>,
    reference: &[String],
    hypothesis: &[String],
) -> usize {
    hypothesis
        .iter()
        .filter(|w| terms.contains(*w) && !reference.contains(w))
        .count()
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn rate((errors, total): (usize, usize)) -> f64 {
    if total == 0 {
        0.0
    } else {
        errors as f64 / total as f64
    }
}

impl Score {
    pub fn wer_nl(&self) -> f64 {
        rate(self.nl)
    }

    /// Real-time factor over every clip (short clips pay Whisper's fixed cost per window).
    pub fn rtf(&self) -> f64 {
        ratio(self.wall_seconds, self.audio_seconds)
    }

    /// Real-time factor of the long voice note.
    pub fn rtf_long(&self) -> f64 {
        ratio(self.long_wall, self.long_audio)
    }

    /// One row of the Markdown table; a column with no clips of its kind (the quick run's) is `–`.
    pub fn row(&self) -> String {
        let percent = |(errors, total): (usize, usize)| match total {
            0 => "–".to_string(),
            _ => format!("{:.1} %", 100.0 * rate((errors, total))),
        };
        let factor = |value: f64, audio: f64| match audio > 0.0 {
            true => format!("{value:.3}"),
            false => "–".to_string(),
        };
        format!(
            "| {} | {} | {} | {} | {} | {} of {} | {} in {} clips | {}/{} | {} | {} |",
            self.name,
            percent(self.nl),
            percent(self.en),
            percent(self.long),
            percent(self.noisy),
            self.silent.1,
            self.silent.0,
            self.leaked.0,
            self.leaked.1,
            self.language_right.0,
            self.language_right.1,
            factor(self.rtf(), self.audio_seconds),
            factor(self.rtf_long(), self.long_audio)
        )
    }
}

pub const TABLE_HEAD: &str = "| configuration | WER nl | WER en | WER nl, one 2-minute note | WER words in noise | silence/noise clips with text | prompt words not said | language right | RTF, all clips | RTF, 2-minute note |\n|---|---|---|---|---|---|---|---|---|---|";

/// Transcribe every clip with one configuration. `verbose` prints each clip's text.
pub fn score(
    model: &Model,
    dir: &Path,
    clips: &[Clip],
    name: &str,
    threads: usize,
    verbose: bool,
) -> anyhow::Result<Score> {
    let (decoding, detect) = parse_config(name)?;
    let mut s = Score {
        name: name.to_string(),
        ..Score::default()
    };
    let terms = prompt_terms(&prompt::default_prompt());
    for clip in clips {
        let language = if detect {
            Language::Detect(language::expected())
        } else {
            Language::Known(clip.language.clone())
        };
        let started = Instant::now();
        let t = model
            .transcribe_with(
                &dir.join(&clip.file),
                Some("audio/wav"),
                language,
                &decoding,
                threads,
                AudioLimits::default(),
                |_| {},
                Arc::new(AtomicBool::new(false)),
            )
            .map_err(|e: TranscribeError| anyhow::anyhow!("{}: {e}", clip.file))?;
        let wall = started.elapsed().as_secs_f64();
        s.wall_seconds += wall;
        s.audio_seconds += t.audio_seconds;
        if clip.kind == "long-speech" {
            s.long_wall += wall;
            s.long_audio += t.audio_seconds;
        }
        let (reference, hypothesis) = (words(&clip.reference), words(&t.text));
        let errors = edit_distance(&reference, &hypothesis);
        let leaked = leaks(&terms, &reference, &hypothesis);
        s.leaked.0 += leaked;
        s.leaked.1 += usize::from(leaked > 0);
        let bucket = match (clip.kind.as_str(), clip.language.as_str()) {
            ("no-speech", _) => None,
            ("noisy-speech", _) => Some(&mut s.noisy),
            ("long-speech", _) => Some(&mut s.long),
            (_, "en") => Some(&mut s.en),
            _ => Some(&mut s.nl),
        };
        match bucket {
            Some(b) => {
                b.0 += errors;
                b.1 += reference.len();
                if clip.kind == "speech" {
                    s.language_right.1 += 1;
                    s.language_right.0 += usize::from(t.language == clip.language);
                }
            }
            None => {
                s.silent.0 += 1;
                s.silent.1 += usize::from(!hypothesis.is_empty());
            }
        }
        if verbose {
            eprintln!(
                "{name}\t{}\t{errors}/{}\t{}\t{}",
                clip.file,
                reference.len(),
                t.language,
                t.text
            );
        }
    }
    Ok(s)
}

/// What a full run compares: greedy decoding as before, each change added in turn, then the beam
/// widths with all of them.
pub const FULL_CONFIGS: &[&str] = &[
    "greedy",
    "greedy+filter",
    "greedy+filter+vad",
    "greedy+filter+vad+prompt",
    "beam2+filter+vad+prompt",
    "beam3+filter+vad+prompt",
    "beam5+filter+vad+prompt",
    "server+detect",
];

/// The quick run's clips: every silence and noise clip, the first eight Dutch sentences, the first
/// two English ones (not the long voice note).
pub fn quick_subset(clips: &[Clip]) -> Vec<Clip> {
    let mut nl = 0;
    let mut en = 0;
    clips
        .iter()
        .filter(|c| match (c.kind.as_str(), c.language.as_str()) {
            ("speech", "nl") => {
                nl += 1;
                nl <= 8
            }
            ("speech", _) => {
                en += 1;
                en <= 2
            }
            ("long-speech", _) => false,
            _ => true,
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        words(s)
    }

    #[test]
    fn word_error_counts_substitutions_insertions_and_deletions() {
        assert_eq!(
            edit_distance(&w("ik ga naar huis"), &w("Ik ga naar huis.")),
            0
        );
        assert_eq!(
            edit_distance(&w("ik ga naar huis"), &w("ik ging naar huis")),
            1
        );
        assert_eq!(edit_distance(&w("ik ga naar huis"), &w("ik ga huis")), 1);
        assert_eq!(edit_distance(&w("ik ga"), &w("ik ga nu weg")), 2);
        assert_eq!(edit_distance(&w(""), &w("TV GELDERLAND 2020")), 3);
        assert_eq!(wer("Ik ga naar huis.", "ik ging naar huis"), 0.25);
        assert_eq!(wer("", ""), 0.0);
        assert_eq!(wer("", "TV Gelderland"), 1.0);
    }

    #[test]
    fn prompt_words_that_were_not_said_count_as_leaks() {
        let terms =
            prompt_terms("Een verhaal over Kansrijke Start, over VoorZorg en Rookvrije Start.");
        assert!(
            terms.contains("voorzorg") && !terms.contains("over"),
            "{terms:?}"
        );
        let w = |t: &str| words(t);
        // Said: no leak. Not said: each prompt word counts; other words do not.
        assert_eq!(
            leaks(
                &terms,
                &w("Ik deed mee aan VoorZorg."),
                &w("ik deed mee aan voorzorg")
            ),
            0
        );
        assert_eq!(
            leaks(
                &terms,
                &w("Het consultatiebureau hielp ons"),
                &w("Tot de consultatie, Rookvrije, Start")
            ),
            2
        );
    }

    #[test]
    fn configurations_are_named_by_their_parts() {
        let (d, detect) = parse_config("beam3+vad+prompt").expect("valid");
        assert_eq!((d.beam, d.vad, d.filter, detect), (3, true, false, false));
        assert!(d.prompt.is_some());
        let (server, detect) = parse_config("server+detect").expect("valid");
        assert!(detect && server.vad && server.filter && !server.translate);
        assert!(parse_config("beam0").is_err() && parse_config("greedy+magic").is_err());
    }
}
