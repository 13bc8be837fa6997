//! What was recorded beside a story's text, for the story window of the desk: its voice notes
//! and photos (with each voice note's transcription and timed transcript segments), and the
//! words each tag suggestion was based on. Read from the one document opened; the bytes are
//! served by `http/media.rs` under the blob access rule.

use client_core::story::{self, Story, StoryDetails};
use serde::Serialize;
use std::collections::BTreeMap;

/// A voice note or photo of a story.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MediaItem {
    pub sha256: String,
    pub mime: String,
    /// `audio` (voice notes, also recorded as `video/webm`) or `photo`.
    pub kind: &'static str,
    pub size: u64,
    /// The bytes can be fetched: uploaded, and not removed by retention (filled in by the caller).
    pub available: bool,
    /// A voice note's transcription as the server wrote it: `queued`, `running`, `done`, `failed`.
    pub transcription: Option<String>,
    /// Why it could not be transcribed (`too-long`, `no-sound`, ...).
    pub reason: Option<String>,
}

/// One timed piece of the transcript (`source`: the voice note it belongs to), with the
/// recogniser's confidence and uncertain words: the story's own segment type, serialised as is.
pub use story::TranscriptSegment as Segment;

/// A segment with its text trimmed, or nothing for an empty one.
fn shown(mut g: Segment) -> Option<Segment> {
    g.text = g.text.trim().to_string();
    (!g.text.is_empty()).then_some(g)
}

/// The evidence of one story (see the module comment).
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Evidence {
    pub media: Vec<MediaItem>,
    pub segments: Vec<Segment>,
    /// The server's English machine translation of a transcript in another language, by
    /// segment (empty when there is none): shown beside the original, marked as machine work.
    pub translation: Vec<Segment>,
    /// `automatic`, `corrected` or `approved`; segments are the machine's, so a transcript a
    /// person corrected may no longer match them word for word.
    pub transcript_state: Option<&'static str>,
    /// Per activity tag: the words in the story the suggestion was based on.
    pub tag_evidence: BTreeMap<String, Vec<String>>,
}

fn kind_of(mime: &str) -> Option<&'static str> {
    let top = mime.split('/').next().unwrap_or_default();
    match top {
        "audio" | "video" => Some("audio"),
        "image" => Some("photo"),
        _ => None,
    }
}

/// Read a story document's evidence. Whether each blob is available is for the caller to say.
pub fn read(doc: &automerge::Automerge) -> Evidence {
    let s = Story::read(doc);
    let details = StoryDetails::read(doc);
    let media = s
        .attachments
        .iter()
        .filter_map(|a| {
            let kind = kind_of(&a.mime)?;
            let status = details.transcriptions.iter().find(|t| t.sha256 == a.sha256);
            Some(MediaItem {
                sha256: a.sha256.clone(),
                mime: a.mime.clone(),
                kind,
                size: a.size,
                available: false,
                transcription: status.map(|t| t.status.clone()),
                reason: status.and_then(|t| t.reason.clone()),
            })
        })
        .collect();
    Evidence {
        media,
        segments: story::transcript_segments(doc)
            .into_iter()
            .filter_map(shown)
            .collect(),
        translation: story::transcript_translation(doc)
            .map(|t| t.segments)
            .unwrap_or_default()
            .into_iter()
            .filter_map(shown)
            .collect(),
        transcript_state: s
            .transcript
            .as_ref()
            .and_then(|t| t.state)
            .map(|t| t.code()),
        tag_evidence: s
            .tags
            .iter()
            .filter(|t| !t.code.contains(':') && !t.evidence.is_empty())
            .map(|t| (t.code.clone(), t.evidence.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voice_notes_and_photos_by_type() {
        assert_eq!(kind_of("audio/webm;codecs=opus"), Some("audio"));
        assert_eq!(kind_of("video/webm"), Some("audio"));
        assert_eq!(kind_of("image/jpeg"), Some("photo"));
        assert_eq!(kind_of("application/pdf"), None);
    }
}
