//! What the server writes into a story about its media (`docs/media.md` is the contract):
//! transcription progress inside an attachment's map, the machine transcript with its timed
//! segments, and the machine translation beside it. The server writes these with its own actor;
//! a person's corrected or approved transcript is never overwritten. Devices only read them.

use super::read::{get_f64, get_i64, get_obj, get_str, list_items, list_maps};
use super::schema::*;
use super::write::{change, ensure_map};
use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

/// One timed piece of a transcript. `source` is the SHA-256 of the audio attachment it came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranscriptSegment {
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
    pub source: Option<String>,
    /// How sure the recogniser was of the segment, 0–1 (`confidence`; absent in older stories).
    pub confidence: Option<f64>,
    /// The positions (from 0) of the words of `text`, split at whitespace, that the recogniser was
    /// unsure of (`uncertain`): a reader shows them with a light mark.
    pub uncertain: Vec<u32>,
}

/// A machine translation of a transcript (`transcript.translation`), kept beside the original and
/// never in its place; written by the server alone, always with `machine: true`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineTranslation {
    pub text: String,
    /// The language translated into (Whisper translates into English: `en`).
    pub language: String,
    /// The model, e.g. `whisper-base`.
    pub model: String,
    /// Timed pieces, each with the `source` attachment it came from.
    pub segments: Vec<TranscriptSegment>,
}

/// What transcribing one audio attachment produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptResult {
    pub text: String,
    /// The language transcribed (BCP-47 primary subtag, e.g. `nl`).
    pub language: String,
    /// The model, e.g. `whisper-base`.
    pub model: String,
    pub segments: Vec<TranscriptSegment>,
    /// Why the transcript is empty though the recording was read, as a code shells show in the
    /// person's language (`no-speech`: no speech was found); written as the attachment's
    /// `transcription.reason`.
    pub reason: Option<String>,
    /// The recording translated into English, for a story in another language.
    pub translation: Option<MachineTranslation>,
}

/// What [`set_transcript`] did with the story's `transcript` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptWrite {
    /// The machine transcript was written.
    Written,
    /// A person corrected or approved the transcript: it was left alone.
    KeptByPerson,
}

/// The attachment maps whose `sha256` is `sha256` (normally one).
pub(crate) fn attachments_with<R: ReadDoc>(doc: &R, sha256: &str) -> Vec<ObjId> {
    list_maps(doc, "attachments")
        .into_iter()
        .filter(|a| get_str(doc, a, "sha256").as_deref() == Some(sha256))
        .collect()
}

/// Put a scalar only when it differs: every put is an operation in the history, and progress is
/// written often.
pub(crate) fn put_if_changed(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    key: &str,
    value: ScalarValue,
) -> Result<bool, StoryError> {
    let same = match tx.get(obj, key)? {
        Some((Value::Scalar(old), _)) => *old == value,
        _ => false,
    };
    if !same {
        tx.put(obj, key, value)?;
    }
    Ok(!same)
}

pub(crate) fn delete_if_present(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    key: &str,
) -> Result<bool, StoryError> {
    if tx.get(obj, key)?.is_some() {
        tx.delete(obj, key)?;
        return Ok(true);
    }
    Ok(false)
}

/// Write an audio attachment's transcription progress: `transcription: {status, progress,
/// error?, reason?}` with status `queued`, `running`, `done` or `failed`, progress 0–100, and for
/// a recording that cannot be transcribed a `reason` code ([`TranscriptionStatus::reason`]).
/// Nothing is written when the values are already there. Returns false when the story has no
/// attachment with that hash.
pub fn set_transcription_status(
    doc: &mut Automerge,
    sha256: &str,
    status: &str,
    progress: i64,
    error: Option<&str>,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<bool, StoryError> {
    let found = !attachments_with(doc, sha256).is_empty();
    if !found {
        return Ok(false);
    }
    change(doc, now_ms, "transcription status", |tx| {
        for a in attachments_with(tx, sha256) {
            let t = ensure_map(tx, &a, "transcription")?;
            put_if_changed(tx, &t, "status", ScalarValue::Str(status.into()))?;
            put_if_changed(tx, &t, "progress", ScalarValue::Int(progress.clamp(0, 100)))?;
            for (key, value) in [("error", error), ("reason", reason)] {
                match value {
                    Some(v) => {
                        put_if_changed(tx, &t, key, ScalarValue::Str(v.into()))?;
                    }
                    None => {
                        delete_if_present(tx, &t, key)?;
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(true)
}

pub(crate) fn read_segments<R: ReadDoc>(doc: &R, parent: &ObjId) -> Vec<TranscriptSegment> {
    get_obj(doc, parent, "segments", ObjType::List)
        .map(|l| {
            list_items(doc, &l)
                .into_iter()
                .map(|s| TranscriptSegment {
                    start_ms: get_i64(doc, &s, "startMs").unwrap_or(0),
                    end_ms: get_i64(doc, &s, "endMs").unwrap_or(0),
                    text: get_str(doc, &s, "text").unwrap_or_default(),
                    source: get_str(doc, &s, "source"),
                    confidence: get_f64(doc, &s, "confidence")
                        .filter(|c| c.is_finite())
                        .map(|c| c.clamp(0.0, 1.0)),
                    uncertain: get_obj(doc, &s, "uncertain", ObjType::List)
                        .map(|u| {
                            (0..doc.length(&u))
                                .filter_map(|i| match doc.get(&u, i).ok()?? {
                                    (Value::Scalar(v), _) => match v.as_ref() {
                                        ScalarValue::Int(n) => u32::try_from(*n).ok(),
                                        ScalarValue::Uint(n) => u32::try_from(*n).ok(),
                                        _ => None,
                                    },
                                    _ => None,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Write `segments` as the list `segments` of `parent` (replacing what was there).
fn write_segments(
    tx: &mut Transaction<'_>,
    parent: &ObjId,
    segments: &[TranscriptSegment],
) -> Result<(), StoryError> {
    let list = tx.put_object(parent, "segments", ObjType::List)?;
    for (i, s) in segments.iter().enumerate() {
        let m = tx.insert_object(&list, i, ObjType::Map)?;
        tx.put(&m, "startMs", s.start_ms)?;
        tx.put(&m, "endMs", s.end_ms)?;
        tx.put(&m, "text", s.text.as_str())?;
        if let Some(src) = &s.source {
            tx.put(&m, "source", src.as_str())?;
        }
        if let Some(c) = s.confidence.filter(|c| c.is_finite()) {
            tx.put(&m, "confidence", c.clamp(0.0, 1.0))?;
        }
        if !s.uncertain.is_empty() {
            let u = tx.put_object(&m, "uncertain", ObjType::List)?;
            for (j, w) in s.uncertain.iter().enumerate() {
                tx.insert(&u, j, i64::from(*w))?;
            }
        }
    }
    Ok(())
}

/// The story's machine translation (`transcript.translation`), if the server wrote one.
pub fn transcript_translation<R: ReadDoc>(doc: &R) -> Option<MachineTranslation> {
    let t = get_obj(doc, &ROOT, "transcript", ObjType::Map)?;
    let m = get_obj(doc, &t, "translation", ObjType::Map)?;
    Some(MachineTranslation {
        text: get_str(doc, &m, "text").unwrap_or_default(),
        language: get_str(doc, &m, "language").unwrap_or_default(),
        model: get_str(doc, &m, "model").unwrap_or_default(),
        segments: read_segments(doc, &m),
    })
}

/// Write (or, with `None`, remove) the transcript's `translation` map, always marked
/// `machine: true`. The server's writes and `ownership::revert_owned` go through here.
pub(crate) fn write_translation(
    tx: &mut Transaction<'_>,
    translation: Option<&MachineTranslation>,
) -> Result<(), StoryError> {
    match translation {
        Some(tr) => {
            let t = ensure_map(tx, &ROOT, "transcript")?;
            let m = tx.put_object(&t, "translation", ObjType::Map)?;
            tx.put(&m, "text", tr.text.as_str())?;
            tx.put(&m, "language", tr.language.as_str())?;
            tx.put(&m, "model", tr.model.as_str())?;
            tx.put(&m, "machine", true)?;
            write_segments(tx, &m, &tr.segments)?;
        }
        None => {
            if let Some(t) = get_obj(tx, &ROOT, "transcript", ObjType::Map) {
                delete_if_present(tx, &t, "translation")?;
            }
        }
    }
    Ok(())
}

/// One transcript from the parts of several voice notes: for each source in `order`, `fresh`'s
/// segments for `sha256` (or, when it has none, `fresh_text`) and `old`'s segments for the others.
/// Returns the segments in order and the parts' texts joined by blank lines.
fn merge_sources(
    order: &[String],
    sha256: &str,
    fresh: &[TranscriptSegment],
    fresh_text: &str,
    old: &[TranscriptSegment],
) -> (Vec<TranscriptSegment>, String) {
    let mut segments: Vec<TranscriptSegment> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    for source in order {
        let part: Vec<TranscriptSegment> = if source == sha256 {
            fresh
                .iter()
                .map(|s| TranscriptSegment {
                    source: Some(sha256.to_string()),
                    ..s.clone()
                })
                .collect()
        } else {
            old.iter()
                .filter(|s| s.source.as_deref() == Some(source.as_str()))
                .cloned()
                .collect()
        };
        let text = if source == sha256 && part.is_empty() {
            fresh_text.trim().to_string()
        } else {
            part.iter()
                .map(|s| s.text.trim())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        };
        if !text.is_empty() {
            texts.push(text);
        }
        segments.extend(part);
    }
    (segments, texts.join("\n\n"))
}

/// The timed segments of the story's transcript, in order.
pub fn transcript_segments<R: ReadDoc>(doc: &R) -> Vec<TranscriptSegment> {
    get_obj(doc, &ROOT, "transcript", ObjType::Map)
        .map(|t| read_segments(doc, &t))
        .unwrap_or_default()
}

/// The language a device chose for one audio attachment (`language` in its map), if any.
pub fn attachment_language<R: ReadDoc>(doc: &R, sha256: &str) -> Option<String> {
    attachments_with(doc, sha256)
        .first()
        .and_then(|a| get_str(doc, a, "language"))
}

/// Write the result of transcribing the audio attachment `sha256`: its `transcription` becomes
/// `{status: done, progress: 100, language, model, reason?}`, and the story's `transcript` gets the
/// text, language, model, state `automatic`, the timed `segments` (with their `confidence` and
/// `uncertain` words) and, for a recording in another language, the machine `translation` beside
/// them — unless a person has corrected or approved the transcript, which is never overwritten.
///
/// A story with several voice notes gets one transcript: the segments of each attachment (marked
/// with its `source`) in attachment order, the texts joined by blank lines. Writing one attachment's
/// result again replaces only that attachment's segments (and its part of the translation).
pub fn set_transcript(
    doc: &mut Automerge,
    sha256: &str,
    result: &TranscriptResult,
    now_ms: i64,
) -> Result<TranscriptWrite, StoryError> {
    change(doc, now_ms, "transcript", |tx| {
        for a in attachments_with(tx, sha256) {
            let t = ensure_map(tx, &a, "transcription")?;
            put_if_changed(tx, &t, "status", ScalarValue::Str("done".into()))?;
            put_if_changed(tx, &t, "progress", ScalarValue::Int(100))?;
            put_if_changed(
                tx,
                &t,
                "language",
                ScalarValue::Str(result.language.as_str().into()),
            )?;
            put_if_changed(
                tx,
                &t,
                "model",
                ScalarValue::Str(result.model.as_str().into()),
            )?;
            delete_if_present(tx, &t, "error")?;
            match &result.reason {
                Some(r) => {
                    put_if_changed(tx, &t, "reason", ScalarValue::Str(r.as_str().into()))?;
                }
                None => {
                    delete_if_present(tx, &t, "reason")?;
                }
            }
        }
        let existing = get_obj(tx, &ROOT, "transcript", ObjType::Map);
        if let Some(t) = &existing {
            let state = get_str(tx, t, "state").and_then(|s| TranscriptState::from_code(&s));
            if matches!(
                state,
                Some(TranscriptState::Corrected) | Some(TranscriptState::Approved)
            ) {
                return Ok(TranscriptWrite::KeptByPerson);
            }
        }
        // Segments of the other voice notes stay, in attachment order; this one's are replaced.
        let old = existing
            .as_ref()
            .map(|t| read_segments(tx, t))
            .unwrap_or_default();
        let mut order: Vec<String> = list_maps(tx, "attachments")
            .into_iter()
            .filter_map(|a| get_str(tx, &a, "sha256"))
            .collect();
        if !order.iter().any(|s| s == sha256) {
            order.push(sha256.to_string());
        }
        order.dedup();
        let (segments, text) = merge_sources(&order, sha256, &result.segments, &result.text, &old);
        // The translation likewise: the other voice notes' parts stay, this one's is replaced
        // (or goes, when this recording needs none).
        let old_translation = transcript_translation(tx);
        let fresh = result.translation.as_ref();
        let (tr_segments, tr_text) = merge_sources(
            &order,
            sha256,
            fresh.map(|t| t.segments.as_slice()).unwrap_or_default(),
            fresh.map(|t| t.text.as_str()).unwrap_or_default(),
            old_translation
                .as_ref()
                .map(|t| t.segments.as_slice())
                .unwrap_or_default(),
        );
        let t = ensure_map(tx, &ROOT, "transcript")?;
        tx.put(&t, "text", text)?;
        tx.put(&t, "language", result.language.as_str())?;
        tx.put(&t, "state", TranscriptState::Automatic.code())?;
        tx.put(&t, "model", result.model.as_str())?;
        write_segments(tx, &t, &segments)?;
        let translation = (!tr_text.is_empty()).then(|| {
            let base = fresh.or(old_translation.as_ref());
            MachineTranslation {
                text: tr_text,
                language: base.map(|b| b.language.clone()).unwrap_or_default(),
                model: base.map(|b| b.model.clone()).unwrap_or_default(),
                segments: tr_segments,
            }
        });
        if translation != old_translation {
            write_translation(tx, translation.as_ref())?;
        }
        Ok(TranscriptWrite::Written)
    })
}

#[cfg(test)]
mod tests;
