//! The typed, versioned story document.
//!
//! A story (and a persona, which uses the same machinery) is one automerge document whose root is a
//! map. This module is the only place that knows the key names; `docs/schema.md` describes them for
//! people. Edits go through small functions that each touch only their own keys, so keys written by a
//! newer client (that this version does not know) are never rewritten and survive every round trip.
//!
//! Timestamps are milliseconds since the Unix epoch, always supplied by the caller: client-core never
//! reads a clock.

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{Automerge, AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
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

/// What a device supplies when a story is first captured.
#[derive(Debug, Clone, Default)]
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

fn commit(time_ms: i64, message: &str) -> CommitOptions {
    CommitOptions::default()
        .with_time(time_ms / 1000)
        .with_message(message.to_string())
}

/// Run `f` as one local change (one automerge commit). An empty change commits nothing.
pub fn change<T>(
    doc: &mut Automerge,
    now_ms: i64,
    message: &str,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoryError>,
) -> Result<T, StoryError> {
    doc.transact_with(|_| commit(now_ms, message), f)
        .map(|ok| ok.result)
        .map_err(|failure| failure.error)
}

fn put_str(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    key: &str,
    value: &str,
) -> Result<(), StoryError> {
    tx.put(obj, key, value)?;
    Ok(())
}

fn put_person(tx: &mut Transaction<'_>, key: &str, person: &Person) -> Result<(), StoryError> {
    let obj = tx.put_object(ROOT, key, ObjType::Map)?;
    put_str(tx, &obj, "role", &person.role)?;
    put_str(tx, &obj, "name", &person.name)?;
    Ok(())
}

/// Map object at `key` under `parent`, created if absent. Concurrent creation of the same key on two
/// devices resolves to one of them; callers only put scalar keys into these maps, so at worst a
/// concurrently written sibling value is lost, never the whole document.
fn ensure_map(tx: &mut Transaction<'_>, parent: &ObjId, key: &str) -> Result<ObjId, StoryError> {
    match tx.get(parent, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => Ok(tx.put_object(parent, key, ObjType::Map)?),
    }
}

fn ensure_list(tx: &mut Transaction<'_>, key: &str) -> Result<ObjId, StoryError> {
    match tx.get(ROOT, key)? {
        Some((Value::Object(ObjType::List), id)) => Ok(id),
        _ => Ok(tx.put_object(ROOT, key, ObjType::List)?),
    }
}

fn text_obj(tx: &mut Transaction<'_>, parent: &ObjId, key: &str) -> Result<ObjId, StoryError> {
    match tx.get(parent, key)? {
        Some((Value::Object(ObjType::Text), id)) => Ok(id),
        _ => Ok(tx.put_object(parent, key, ObjType::Text)?),
    }
}

/// Write a new story into an empty document. A story about a person (a parent story or a community
/// conversation) needs consent first: the device asks before it lets the user save.
pub fn create_story(doc: &mut Automerge, story: &NewStory) -> Result<(), StoryError> {
    let about_a_person = matches!(
        story.kind,
        Some(StoryKind::ParentStory) | Some(StoryKind::CommunityConversation)
    );
    if about_a_person && !story.consent.as_ref().is_some_and(|c| c.given) {
        return Err(StoryError::ConsentRequired);
    }
    change(doc, story.captured_at, "create story", |tx| {
        tx.put(ROOT, "schema", SCHEMA_VERSION)?;
        tx.put(ROOT, "type", DocType::Story.code())?;
        if let Some(kind) = story.kind {
            tx.put(ROOT, "kind", kind.code())?;
        }
        tx.put(ROOT, "title", story.title.as_str())?;
        let body = tx.put_object(ROOT, "body", ObjType::Text)?;
        tx.splice_text(&body, 0, 0, &story.body)?;
        tx.put(ROOT, "language", story.language.as_str())?;
        tx.put(
            ROOT,
            "capturedAt",
            ScalarValue::Timestamp(story.captured_at),
        )?;
        if let Some(place) = story.place_type {
            tx.put(ROOT, "placeType", place.code())?;
        }
        if let Some(m) = &story.municipality {
            tx.put(ROOT, "municipality", m.as_str())?;
        }
        if let Some(p) = &story.told_by {
            put_person(tx, "toldBy", p)?;
        }
        if let Some(p) = &story.recorded_by {
            put_person(tx, "recordedBy", p)?;
        }
        if let Some(c) = &story.consent {
            write_consent(tx, c)?;
        }
        if let Some(p) = &story.persona {
            tx.put(ROOT, "persona", p.as_str())?;
        }
        tx.put(ROOT, "review", ReviewState::Draft.code())?;
        tx.put_object(ROOT, "attachments", ObjType::List)?;
        tx.put_object(ROOT, "tags", ObjType::Map)?;
        tx.put_object(ROOT, "comments", ObjType::List)?;
        Ok(())
    })
}

/// Write a new persona into an empty document.
pub fn create_persona(
    doc: &mut Automerge,
    persona: &Persona,
    now_ms: i64,
) -> Result<(), StoryError> {
    change(doc, now_ms, "create persona", |tx| {
        tx.put(ROOT, "schema", SCHEMA_VERSION)?;
        tx.put(ROOT, "type", DocType::Persona.code())?;
        tx.put(ROOT, "name", persona.name.as_str())?;
        if let Some(a) = &persona.age_band {
            tx.put(ROOT, "ageBand", a.as_str())?;
        }
        let s = tx.put_object(ROOT, "situation", ObjType::Text)?;
        tx.splice_text(&s, 0, 0, &persona.situation)?;
        let n = tx.put_object(ROOT, "needs", ObjType::Text)?;
        tx.splice_text(&n, 0, 0, &persona.needs)?;
        Ok(())
    })
}

fn write_consent(tx: &mut Transaction<'_>, c: &Consent) -> Result<(), StoryError> {
    let obj = ensure_map(tx, &ROOT, "consent")?;
    tx.put(&obj, "given", c.given)?;
    match c.how {
        Some(how) => tx.put(&obj, "how", how.code())?,
        None => tx.delete(&obj, "how")?,
    }
    match c.scope {
        Some(scope) => tx.put(&obj, "scope", scope.code())?,
        None => tx.delete(&obj, "scope")?,
    }
    if let Some(at) = c.recorded_at {
        tx.put(&obj, "recordedAt", ScalarValue::Timestamp(at))?;
    }
    Ok(())
}

/// Set the title (last writer wins: titles are short and edited whole).
pub fn set_title(doc: &mut Automerge, title: &str, now_ms: i64) -> Result<(), StoryError> {
    change(doc, now_ms, "set title", |tx| {
        put_str(tx, &ROOT, "title", title)
    })
}

/// Insert and delete characters in the body, as a keyboard does. Positions count Unicode scalar
/// values. Concurrent splices into the same paragraph merge character by character.
pub fn splice_body(
    doc: &mut Automerge,
    pos: usize,
    delete: isize,
    insert: &str,
    now_ms: i64,
) -> Result<(), StoryError> {
    change(doc, now_ms, "edit body", |tx| {
        let body = text_obj(tx, &ROOT, "body")?;
        tx.splice_text(&body, pos, delete, insert)?;
        Ok(())
    })
}

/// Replace the body with `text`, turning the difference into splices so concurrent edits survive.
pub fn update_body(doc: &mut Automerge, text: &str, now_ms: i64) -> Result<(), StoryError> {
    change(doc, now_ms, "edit body", |tx| {
        let body = text_obj(tx, &ROOT, "body")?;
        tx.update_text(&body, text)?;
        Ok(())
    })
}

/// Set a plain scalar field by its document key (`language`, `municipality`, `placeType`, `kind`).
pub fn set_field(
    doc: &mut Automerge,
    key: &str,
    value: &str,
    now_ms: i64,
) -> Result<(), StoryError> {
    change(doc, now_ms, "set field", |tx| {
        put_str(tx, &ROOT, key, value)
    })
}

pub fn set_consent(doc: &mut Automerge, consent: &Consent, now_ms: i64) -> Result<(), StoryError> {
    change(doc, now_ms, "set consent", |tx| write_consent(tx, consent))
}

pub fn set_review(
    doc: &mut Automerge,
    state: ReviewState,
    by: &str,
    now_ms: i64,
) -> Result<(), StoryError> {
    change(doc, now_ms, "review", |tx| {
        tx.put(ROOT, "review", state.code())?;
        tx.put(ROOT, "reviewedBy", by)?;
        tx.put(ROOT, "reviewedAt", ScalarValue::Timestamp(now_ms))?;
        Ok(())
    })
}

/// Set an activity tag's state. Tags are a map keyed by activity code, so two devices tagging the
/// same activity never produce duplicates.
pub fn set_tag(doc: &mut Automerge, tag: &Tag) -> Result<(), StoryError> {
    change(doc, tag.at, "tag", |tx| {
        let tags = ensure_map(tx, &ROOT, "tags")?;
        let t = tx.put_object(&tags, tag.code.as_str(), ObjType::Map)?;
        tx.put(&t, "state", tag.state.code())?;
        tx.put(&t, "by", tag.by.as_str())?;
        tx.put(&t, "at", ScalarValue::Timestamp(tag.at))?;
        if let Some(score) = tag.score {
            tx.put(&t, "score", score)?;
        }
        let ev = tx.put_object(&t, "evidence", ObjType::List)?;
        for (i, e) in tag.evidence.iter().enumerate() {
            tx.insert(&ev, i, e.as_str())?;
        }
        Ok(())
    })
}

pub fn add_comment(doc: &mut Automerge, comment: &Comment) -> Result<(), StoryError> {
    change(doc, comment.at, "comment", |tx| {
        let list = ensure_list(tx, "comments")?;
        let len = tx.length(&list);
        let c = tx.insert_object(&list, len, ObjType::Map)?;
        tx.put(&c, "id", comment.id.as_str())?;
        tx.put(&c, "author", comment.author.as_str())?;
        tx.put(&c, "at", ScalarValue::Timestamp(comment.at))?;
        tx.put(&c, "text", comment.text.as_str())?;
        Ok(())
    })
}

pub fn add_attachment(doc: &mut Automerge, a: &Attachment, now_ms: i64) -> Result<(), StoryError> {
    change(doc, now_ms, "attach", |tx| {
        let list = ensure_list(tx, "attachments")?;
        let len = tx.length(&list);
        let obj = tx.insert_object(&list, len, ObjType::Map)?;
        tx.put(&obj, "sha256", a.sha256.as_str())?;
        tx.put(&obj, "mime", a.mime.as_str())?;
        tx.put(&obj, "size", a.size)?;
        Ok(())
    })
}

// ---- reading -------------------------------------------------------------------------------

fn get_str<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        (Value::Object(ObjType::Text), id) => doc.text(&id).ok(),
        _ => None,
    }
}

fn get_i64<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<i64> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Timestamp(t) | ScalarValue::Int(t) => Some(*t),
            ScalarValue::Uint(u) => i64::try_from(*u).ok(),
            ScalarValue::F64(f) => Some(*f as i64),
            _ => None,
        },
        _ => None,
    }
}

fn get_f64<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<f64> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::F64(f) => Some(*f),
            ScalarValue::Int(i) => Some(*i as f64),
            ScalarValue::Uint(u) => Some(*u as f64),
            _ => None,
        },
        _ => None,
    }
}

fn get_bool<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<bool> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Boolean(b) => Some(*b),
            _ => None,
        },
        _ => None,
    }
}

fn get_obj<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str, ty: ObjType) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(t), id) if t == ty => Some(id),
        _ => None,
    }
}

fn list_items<R: ReadDoc>(doc: &R, list: &ObjId) -> Vec<ObjId> {
    (0..doc.length(list))
        .filter_map(|i| match doc.get(list, i).ok()?? {
            (Value::Object(ObjType::Map), id) => Some(id),
            _ => None,
        })
        .collect()
}

fn read_person<R: ReadDoc>(doc: &R, key: &str) -> Option<Person> {
    let obj = get_obj(doc, &ROOT, key, ObjType::Map)?;
    Some(Person {
        role: get_str(doc, &obj, "role").unwrap_or_default(),
        name: get_str(doc, &obj, "name").unwrap_or_default(),
    })
}

/// The document type, without reading the rest.
pub fn doc_type<R: ReadDoc>(doc: &R) -> Option<DocType> {
    get_str(doc, &ROOT, "type").and_then(|t| DocType::from_code(&t))
}

impl Story {
    pub fn read<R: ReadDoc>(doc: &R) -> Story {
        let consent = get_obj(doc, &ROOT, "consent", ObjType::Map).map(|c| Consent {
            given: get_bool(doc, &c, "given").unwrap_or(false),
            how: get_str(doc, &c, "how").and_then(|s| ConsentHow::from_code(&s)),
            scope: get_str(doc, &c, "scope").and_then(|s| ConsentScope::from_code(&s)),
            recorded_at: get_i64(doc, &c, "recordedAt"),
        });
        let attachments = get_obj(doc, &ROOT, "attachments", ObjType::List)
            .map(|l| {
                list_items(doc, &l)
                    .into_iter()
                    .filter_map(|a| {
                        Some(Attachment {
                            sha256: get_str(doc, &a, "sha256")?,
                            mime: get_str(doc, &a, "mime").unwrap_or_default(),
                            size: get_i64(doc, &a, "size").unwrap_or(0).max(0) as u64,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let tags = get_obj(doc, &ROOT, "tags", ObjType::Map)
            .map(|m| {
                doc.keys(&m)
                    .filter_map(|code| {
                        let t = get_obj(doc, &m, &code, ObjType::Map)?;
                        let evidence = get_obj(doc, &t, "evidence", ObjType::List)
                            .map(|l| {
                                (0..doc.length(&l))
                                    .filter_map(|i| match doc.get(&l, i).ok()?? {
                                        (Value::Scalar(s), _) => s.as_str().map(str::to_string),
                                        _ => None,
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        Some(Tag {
                            state: get_str(doc, &t, "state")
                                .and_then(|s| TagState::from_code(&s))?,
                            by: get_str(doc, &t, "by").unwrap_or_default(),
                            at: get_i64(doc, &t, "at").unwrap_or(0),
                            score: get_f64(doc, &t, "score"),
                            evidence,
                            code,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let comments = get_obj(doc, &ROOT, "comments", ObjType::List)
            .map(|l| {
                list_items(doc, &l)
                    .into_iter()
                    .map(|c| Comment {
                        id: get_str(doc, &c, "id").unwrap_or_default(),
                        author: get_str(doc, &c, "author").unwrap_or_default(),
                        at: get_i64(doc, &c, "at").unwrap_or(0),
                        text: get_str(doc, &c, "text").unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let transcript = get_obj(doc, &ROOT, "transcript", ObjType::Map).map(|t| Transcript {
            text: get_str(doc, &t, "text").unwrap_or_default(),
            language: get_str(doc, &t, "language"),
            state: get_str(doc, &t, "state").and_then(|s| TranscriptState::from_code(&s)),
            model: get_str(doc, &t, "model"),
        });
        Story {
            schema: get_i64(doc, &ROOT, "schema").unwrap_or(0).max(0) as u64,
            doc_type: doc_type(doc),
            kind: get_str(doc, &ROOT, "kind").and_then(|s| StoryKind::from_code(&s)),
            title: get_str(doc, &ROOT, "title").unwrap_or_default(),
            body: get_str(doc, &ROOT, "body").unwrap_or_default(),
            language: get_str(doc, &ROOT, "language"),
            captured_at: get_i64(doc, &ROOT, "capturedAt"),
            place_type: get_str(doc, &ROOT, "placeType").and_then(|s| PlaceType::from_code(&s)),
            municipality: get_str(doc, &ROOT, "municipality"),
            told_by: read_person(doc, "toldBy"),
            recorded_by: read_person(doc, "recordedBy"),
            consent,
            attachments,
            transcript,
            tags,
            review: get_str(doc, &ROOT, "review").and_then(|s| ReviewState::from_code(&s)),
            comments,
            persona: get_str(doc, &ROOT, "persona"),
        }
    }
}

impl Persona {
    pub fn read<R: ReadDoc>(doc: &R) -> Persona {
        Persona {
            name: get_str(doc, &ROOT, "name").unwrap_or_default(),
            age_band: get_str(doc, &ROOT, "ageBand"),
            situation: get_str(doc, &ROOT, "situation").unwrap_or_default(),
            needs: get_str(doc, &ROOT, "needs").unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ActorId;

    fn sample() -> NewStory {
        NewStory {
            kind: Some(StoryKind::ParentStory),
            title: "Op de markt".into(),
            body: "Ze vertelde over de eerste weken.".into(),
            language: "nl".into(),
            captured_at: 1_700_000_000_000,
            place_type: Some(PlaceType::Markt),
            municipality: Some("Westland".into()),
            told_by: Some(Person {
                role: "moeder".into(),
                name: "Roos".into(),
            }),
            recorded_by: Some(Person {
                role: "professional".into(),
                name: "m-1".into(),
            }),
            consent: Some(Consent {
                given: true,
                how: Some(ConsentHow::Spoken),
                scope: Some(ConsentScope::MayBeQuoted),
                recorded_at: Some(1_700_000_000_000),
            }),
            persona: None,
        }
    }

    #[test]
    fn a_story_reads_back_what_was_written() {
        let mut doc = Automerge::new();
        create_story(&mut doc, &sample()).unwrap();
        let s = Story::read(&doc);
        assert_eq!(s.schema, SCHEMA_VERSION);
        assert_eq!(s.doc_type, Some(DocType::Story));
        assert_eq!(s.title, "Op de markt");
        assert_eq!(s.body, "Ze vertelde over de eerste weken.");
        assert_eq!(s.place_type, Some(PlaceType::Markt));
        assert_eq!(s.consent.unwrap().scope, Some(ConsentScope::MayBeQuoted));
        assert_eq!(s.review, Some(ReviewState::Draft));
    }

    #[test]
    fn a_story_about_a_person_needs_consent() {
        let mut doc = Automerge::new();
        let mut s = sample();
        s.consent = None;
        assert!(matches!(
            create_story(&mut doc, &s),
            Err(StoryError::ConsentRequired)
        ));
        s.kind = Some(StoryKind::ImpactNarrative);
        create_story(&mut doc, &s).unwrap();
    }

    #[test]
    fn unknown_fields_from_a_newer_client_survive_edits_and_merges() {
        let mut newer = Automerge::new().with_actor(ActorId::from(b"newer".as_slice()));
        create_story(&mut newer, &sample()).unwrap();
        change(&mut newer, 1, "future", |tx| {
            let m = tx.put_object(ROOT, "futureField", ObjType::Map)?;
            tx.put(&m, "answer", 42i64)?;
            Ok(())
        })
        .unwrap();
        let mut older = Automerge::load(&newer.save())
            .unwrap()
            .with_actor(ActorId::from(b"older".as_slice()));
        set_title(&mut older, "Nieuwe titel", 2).unwrap();
        update_body(&mut older, "Andere tekst.", 3).unwrap();
        let mut back = Automerge::load(&older.save()).unwrap();
        back.merge(&mut newer).unwrap();
        let future = get_obj(&back, &ROOT, "futureField", ObjType::Map).expect("kept");
        assert_eq!(get_i64(&back, &future, "answer"), Some(42));
        assert_eq!(Story::read(&back).title, "Nieuwe titel");
    }

    #[test]
    fn tags_are_keyed_by_code_and_comments_append() {
        let mut doc = Automerge::new();
        create_story(&mut doc, &sample()).unwrap();
        let tag = Tag {
            code: "voorzorg".into(),
            state: TagState::Suggested,
            by: "server".into(),
            at: 5,
            score: Some(0.8),
            evidence: vec!["voorzorg".into()],
        };
        set_tag(&mut doc, &tag).unwrap();
        set_tag(
            &mut doc,
            &Tag {
                state: TagState::Confirmed,
                by: "m-2".into(),
                ..tag.clone()
            },
        )
        .unwrap();
        add_comment(
            &mut doc,
            &Comment {
                id: "c1".into(),
                author: "m-2".into(),
                at: 6,
                text: "Mooi".into(),
            },
        )
        .unwrap();
        let s = Story::read(&doc);
        assert_eq!(s.tags.len(), 1);
        assert_eq!(s.tags[0].state, TagState::Confirmed);
        assert_eq!(s.comments[0].text, "Mooi");
    }

    #[test]
    fn persona_documents_use_the_same_machinery() {
        let mut doc = Automerge::new();
        let p = Persona {
            name: "Samira".into(),
            age_band: Some("18-25".into()),
            situation: "Net in Nederland".into(),
            needs: "Informatie in eigen taal".into(),
        };
        create_persona(&mut doc, &p, 1).unwrap();
        assert_eq!(doc_type(&doc), Some(DocType::Persona));
        assert_eq!(Persona::read(&doc), p);
    }
}
