//! The story document's codes and value types: the enums stored as stable string codes, the
//! small records (person, consent, attachment, tag, comment, transcript), the persona, and
//! [`StoryError`]. Plain data: reading and writing documents is in `read.rs` and `write.rs`.

use automerge::AutomergeError;
use serde::{Deserialize, Serialize};

/// Version of the schema this code writes. Readers accept documents of any version and ignore what
/// they do not know.
pub const SCHEMA_VERSION: u64 = 1;

macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $code)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code stored in documents and sent over the API.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

code_enum!(
    /// Whether the document is a story or a persona.
    DocType { Story = "story", Persona = "persona" }
);

code_enum!(
    /// What kind of story this is.
    StoryKind {
        ParentStory = "parent-story",
        CommunityConversation = "community-conversation",
        PersonaStory = "persona-story",
        ImpactNarrative = "impact-narrative",
    }
);

code_enum!(
    /// Where the story was told. Deliberately coarse: never a GPS position.
    PlaceType {
        Markt = "markt",
        Speeltuin = "speeltuin",
        Buurthuis = "buurthuis",
        Thuis = "thuis",
        Consultatiebureau = "consultatiebureau",
        Gebedshuis = "gebedshuis",
        SchoolKinderopvang = "school-kinderopvang",
        Anders = "anders",
    }
);

code_enum!(
    /// How consent was given.
    ConsentHow { Spoken = "spoken", Written = "written" }
);

code_enum!(
    /// What the teller allowed the story to be used for.
    ConsentScope {
        /// Only people in the coalition may read it; never in reports.
        InternalOnly = "internal-only",
        /// May be used in reports, anonymised, but never quoted.
        AnonymisedInReports = "anonymised-in-reports",
        /// May be quoted (under a pseudonym).
        MayBeQuoted = "may-be-quoted",
    }
);

code_enum!(
    /// The state of an activity tag on a story.
    TagState { Suggested = "suggested", Confirmed = "confirmed", Rejected = "rejected" }
);

code_enum!(
    /// Where a story is in the coordinators' review.
    ReviewState {
        Draft = "draft",
        Submitted = "submitted",
        Reviewed = "reviewed",
        Approved = "approved",
        Returned = "returned",
    }
);

code_enum!(
    /// Whether a transcript was written by the machine or checked by a person.
    TranscriptState { Automatic = "automatic", Corrected = "corrected", Approved = "approved" }
);

/// A person as the document names them: a member id and a display name, or a pseudonym.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub role: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub given: bool,
    pub how: Option<ConsentHow>,
    pub scope: Option<ConsentScope>,
    pub recorded_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub sha256: String,
    pub mime: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub code: String,
    pub state: TagState,
    pub by: String,
    pub at: i64,
    pub score: Option<f64>,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub author: String,
    pub at: i64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    pub text: String,
    pub language: Option<String>,
    pub state: Option<TranscriptState>,
    pub model: Option<String>,
}

/// A read-only view of a story document. Missing or malformed fields read as absent rather than as
/// errors: a half-synced or older document must still show what it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Story {
    pub schema: u64,
    pub doc_type: Option<DocType>,
    pub kind: Option<StoryKind>,
    pub title: String,
    pub body: String,
    pub language: Option<String>,
    pub captured_at: Option<i64>,
    pub place_type: Option<PlaceType>,
    pub municipality: Option<String>,
    pub told_by: Option<Person>,
    pub recorded_by: Option<Person>,
    pub consent: Option<Consent>,
    pub attachments: Vec<Attachment>,
    pub transcript: Option<Transcript>,
    pub tags: Vec<Tag>,
    pub review: Option<ReviewState>,
    pub comments: Vec<Comment>,
    pub persona: Option<String>,
}

/// What a device supplies when a story is first captured (the web shell's capture form sends it
/// as JSON; absent fields take their defaults).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NewStory {
    pub kind: Option<StoryKind>,
    pub title: String,
    pub body: String,
    pub language: String,
    pub captured_at: i64,
    pub place_type: Option<PlaceType>,
    pub municipality: Option<String>,
    pub told_by: Option<Person>,
    pub recorded_by: Option<Person>,
    pub consent: Option<Consent>,
    pub persona: Option<String>,
}

/// A persona: a fictional person standing for a group, that stories link to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persona {
    pub name: String,
    pub age_band: Option<String>,
    pub situation: String,
    pub needs: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoryError {
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
    #[error("a story about a person needs recorded consent before it can be saved")]
    ConsentRequired,
    #[error("field {0} has an unexpected type in this document")]
    WrongType(&'static str),
}
