//! The typed, versioned story document.
//!
//! A story (and a persona, which uses the same machinery) is one automerge document whose root is a
//! map. This folder is the only place that knows the key names; `docs/schema.md` describes them for
//! people. Edits go through small functions that each touch only their own keys, so keys written by a
//! newer client (that this version does not know) are never rewritten and survive every round trip;
//! each key has one writer. What lives where: the codes and value types in `schema.rs`, reading in
//! `read.rs`, a device's edits in `write.rs`, the shells' own keys and their form edit in
//! `shell.rs`, what the server writes about media in `media.rs`, who may write which field in
//! `ownership/`. What must not live here: I/O, a clock, randomness (timestamps are milliseconds
//! since the Unix epoch and ids come from the caller), and anything about one server or shell.
//!
//! Four shapes of a story, each for its own use: [`Story`] is what a reader sees of the core keys
//! (tags, comments, attachments included); [`StoryDetails`] reads the shells' keys, which the
//! desk's and the device's story views ask for separately; [`NewStory`] is a capture's input (every
//! form field, with its time and recorder); [`StoryPatch`] is an edit, where absent means "leave as
//! it is". The form keys they share are written by one function (`write::write_form`).

mod media;
pub mod ownership;
mod read;
mod schema;
mod shell;
mod write;

pub use media::{
    MachineTranslation, TranscriptResult, TranscriptSegment, TranscriptWrite, attachment_language,
    set_transcript, set_transcription_status, transcript_segments, transcript_translation,
};
pub use read::{doc_type, review_state, tag_versions};
pub use schema::*;
pub use shell::{
    IMPACT_SECTIONS, StoryDetails, StoryPatch, TranscriptionStatus, apply_patch,
    correct_transcript, set_section,
};
pub use write::{
    TagWrite, add_attachment, add_comment, change, create_draft, create_persona, create_story,
    hand_in, set_consent, set_field, set_review, set_tag, set_title, splice_body, update_body,
    write_tags,
};

#[cfg(test)]
mod tests;
