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

pub mod ownership;

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

fn about_a_person(kind: Option<StoryKind>) -> bool {
    matches!(
        kind,
        Some(StoryKind::ParentStory) | Some(StoryKind::CommunityConversation)
    )
}

/// Write a new story into an empty document. A story about a person (a parent story or a community
/// conversation) needs consent first: the device asks before it lets the user save.
pub fn create_story(doc: &mut Automerge, story: &NewStory) -> Result<(), StoryError> {
    if about_a_person(story.kind) && !story.consent.as_ref().is_some_and(|c| c.given) {
        return Err(StoryError::ConsentRequired);
    }
    create_draft(doc, story)
}

/// Write a new story into an empty document as a draft (`review = draft`), with or without
/// consent: a device keeps what is being told from the first tap. A draft about a person is
/// handed in ([`hand_in`]) only with consent, and until then no edit needs it.
pub fn create_draft(doc: &mut Automerge, story: &NewStory) -> Result<(), StoryError> {
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

/// Hand a draft in: `review = submitted` (the recorder's "Indienen"). A story about a person needs
/// given consent first. A story that is no longer a draft is left as it is (a second tap, or a
/// coordinator who already reviewed it), so handing in twice is harmless.
pub fn hand_in(doc: &mut Automerge, now_ms: i64) -> Result<(), StoryError> {
    if review_state(doc) != Some(ReviewState::Draft) {
        return Ok(());
    }
    let s = Story::read(doc);
    if about_a_person(s.kind) && !s.consent.as_ref().is_some_and(|c| c.given) {
        return Err(StoryError::ConsentRequired);
    }
    change(doc, now_ms, "hand in", |tx| {
        put_str(tx, &ROOT, "review", ReviewState::Submitted.code())
    })
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
        put_tag_object(tx, &tags, tag)
    })
}

/// One tag edit for [`write_tags`].
#[derive(Debug, Clone, PartialEq)]
pub enum TagWrite {
    /// Create the tag, or, when its key holds exactly one tag object, change that object's fields
    /// in place (only those that differ; `at` is kept). A concurrent [`set_tag`] by a person
    /// replaces the whole object and so always wins over such an update.
    Update(Tag),
    /// Write a new tag object that supersedes every value of the key this document has seen,
    /// conflicting ones included.
    Replace(Tag),
    /// Delete the tag.
    Remove(String),
}

/// Apply several tag edits as one change. Used by the server's tagger, which must never win over a
/// person's concurrent decision: see [`TagWrite`].
pub fn write_tags(doc: &mut Automerge, now_ms: i64, writes: &[TagWrite]) -> Result<(), StoryError> {
    if writes.is_empty() {
        return Ok(());
    }
    change(doc, now_ms, "tag suggestions", |tx| {
        let tags = ensure_map(tx, &ROOT, "tags")?;
        for w in writes {
            match w {
                TagWrite::Remove(code) => {
                    if tx.get(&tags, code.as_str())?.is_some() {
                        tx.delete(&tags, code.as_str())?;
                    }
                }
                TagWrite::Replace(tag) => put_tag_object(tx, &tags, tag)?,
                TagWrite::Update(tag) => {
                    let existing = tx.get_all(&tags, tag.code.as_str())?;
                    match existing.as_slice() {
                        [(Value::Object(ObjType::Map), obj)] => {
                            let obj = obj.clone();
                            let old = read_tag(&*tx, tag.code.clone(), &obj);
                            if old.as_ref().map(|t| t.state) != Some(tag.state) {
                                tx.put(&obj, "state", tag.state.code())?;
                            }
                            if old.as_ref().map(|t| t.by.as_str()) != Some(tag.by.as_str()) {
                                tx.put(&obj, "by", tag.by.as_str())?;
                            }
                            if old.as_ref().and_then(|t| t.score) != tag.score {
                                match tag.score {
                                    Some(score) => tx.put(&obj, "score", score)?,
                                    None => tx.delete(&obj, "score")?,
                                }
                            }
                            if old.as_ref().map(|t| &t.evidence) != Some(&tag.evidence) {
                                let ev = tx.put_object(&obj, "evidence", ObjType::List)?;
                                for (i, e) in tag.evidence.iter().enumerate() {
                                    tx.insert(&ev, i, e.as_str())?;
                                }
                            }
                        }
                        _ => put_tag_object(tx, &tags, tag)?,
                    }
                }
            }
        }
        Ok(())
    })
}

fn put_tag_object(tx: &mut Transaction<'_>, tags: &ObjId, tag: &Tag) -> Result<(), StoryError> {
    let t = tx.put_object(tags, tag.code.as_str(), ObjType::Map)?;
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
}

/// Every value each tag holds, the one [`Story::read`] shows first. Two devices (or a device and
/// the server) that set the same tag concurrently leave both values in the document; readers see
/// one of them, and the tagger uses this to keep a person's decision on top.
pub fn tag_versions<R: ReadDoc>(doc: &R) -> std::collections::BTreeMap<String, Vec<Tag>> {
    let mut out = std::collections::BTreeMap::new();
    let Some(m) = get_obj(doc, &ROOT, "tags", ObjType::Map) else {
        return out;
    };
    for code in doc.keys(&m) {
        let winner = get_obj(doc, &m, &code, ObjType::Map);
        let mut all: Vec<(bool, Tag)> = doc
            .get_all(&m, code.as_str())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(v, id)| match v {
                Value::Object(ObjType::Map) => {
                    let first = Some(&id) == winner.as_ref();
                    read_tag(doc, code.clone(), &id).map(|t| (first, t))
                }
                _ => None,
            })
            .collect();
        all.sort_by_key(|(first, _)| !*first);
        if !all.is_empty() {
            out.insert(code, all.into_iter().map(|(_, t)| t).collect());
        }
    }
    out
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

fn read_tag<R: ReadDoc>(doc: &R, code: String, t: &ObjId) -> Option<Tag> {
    let evidence = get_obj(doc, t, "evidence", ObjType::List)
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
        state: get_str(doc, t, "state").and_then(|s| TagState::from_code(&s))?,
        by: get_str(doc, t, "by").unwrap_or_default(),
        at: get_i64(doc, t, "at").unwrap_or(0),
        score: get_f64(doc, t, "score"),
        evidence,
        code,
    })
}

/// The document type, without reading the rest.
pub fn doc_type<R: ReadDoc>(doc: &R) -> Option<DocType> {
    get_str(doc, &ROOT, "type").and_then(|t| DocType::from_code(&t))
}

/// The review state, without reading the rest.
pub fn review_state<R: ReadDoc>(doc: &R) -> Option<ReviewState> {
    get_str(doc, &ROOT, "review").and_then(|r| ReviewState::from_code(&r))
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
                        read_tag(doc, code, &t)
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

// ---- shell fields: phase, target group, impact sections, transcript corrections ---------------
//
// Added for the mobile shell (see `docs/schema.md`). Like everything above, each edit touches only
// its own keys.

/// The guided prompts of an impact narrative, in the order the shell asks them. Their answers are
/// stored as `sections` of the story, keyed by these codes.
pub const IMPACT_SECTIONS: &[&str] = &["what-we-did", "what-changed", "why-it-matters", "evidence"];

/// What the server reports about transcribing one audio attachment (`docs/media.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptionStatus {
    /// The attachment's content hash.
    pub sha256: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// 0–100.
    pub progress: Option<i64>,
    pub error: Option<String>,
    /// Why the recording cannot be transcribed, as a code shells put in the person's language
    /// (`too-long`, `no-sound`, `unsupported`, `damaged`; with status `done`, `no-speech`: the
    /// recording holds no speech and the transcript is empty); `error` says it in English.
    pub reason: Option<String>,
}

/// The story fields the shells add beside [`Story`]: read with [`StoryDetails::read`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoryDetails {
    /// Phase of the first 1000 days the story is about (a code, e.g. `zwangerschap`).
    pub phase: Option<String>,
    /// Target group the story is about (a code, e.g. `nieuwkomers`).
    pub target_group: Option<String>,
    /// Impact narrative sections by code ([`IMPACT_SECTIONS`]); other codes are kept as well.
    pub sections: std::collections::BTreeMap<String, String>,
    /// Transcription progress per audio attachment, as the server wrote it.
    pub transcriptions: Vec<TranscriptionStatus>,
    /// The sha256 of the audio attachment in which the teller gave consent aloud (`consent.clip`).
    pub consent_clip: Option<String>,
}

impl StoryDetails {
    pub fn read<R: ReadDoc>(doc: &R) -> StoryDetails {
        let sections = get_obj(doc, &ROOT, "sections", ObjType::Map)
            .map(|m| {
                doc.keys(&m)
                    .filter_map(|k| get_str(doc, &m, &k).map(|v| (k, v)))
                    .collect()
            })
            .unwrap_or_default();
        let transcriptions = get_obj(doc, &ROOT, "attachments", ObjType::List)
            .map(|l| {
                list_items(doc, &l)
                    .into_iter()
                    .filter_map(|a| {
                        let t = get_obj(doc, &a, "transcription", ObjType::Map)?;
                        Some(TranscriptionStatus {
                            sha256: get_str(doc, &a, "sha256")?,
                            status: get_str(doc, &t, "status")?,
                            progress: get_i64(doc, &t, "progress"),
                            error: get_str(doc, &t, "error"),
                            reason: get_str(doc, &t, "reason"),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        StoryDetails {
            phase: get_str(doc, &ROOT, "phase"),
            target_group: get_str(doc, &ROOT, "targetGroup"),
            sections,
            transcriptions,
            consent_clip: get_obj(doc, &ROOT, "consent", ObjType::Map)
                .and_then(|c| get_str(doc, &c, "clip")),
        }
    }
}

/// An edit of a story from a shell's form: every field that is `Some` (or, for `sections`,
/// present) is written, everything else is left alone. Applied as one change by [`apply_patch`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoryPatch {
    pub kind: Option<StoryKind>,
    pub title: Option<String>,
    /// The whole new body; turned into splices so concurrent edits survive.
    pub body: Option<String>,
    pub language: Option<String>,
    pub place_type: Option<PlaceType>,
    /// An empty string removes the municipality.
    pub municipality: Option<String>,
    pub told_by: Option<Person>,
    pub consent: Option<Consent>,
    /// A persona's document id; an empty string unlinks the persona.
    pub persona: Option<String>,
    /// An empty string removes the phase.
    pub phase: Option<String>,
    /// An empty string removes the target group.
    pub target_group: Option<String>,
    /// Section code → whole new text.
    pub sections: std::collections::BTreeMap<String, String>,
    /// A person's correction of the transcript: sets its text and the state `corrected`.
    pub transcript: Option<String>,
    /// The sha256 of the attachment that holds the spoken consent (`consent.clip`).
    pub consent_clip: Option<String>,
}

fn put_or_delete(tx: &mut Transaction<'_>, key: &str, value: &str) -> Result<(), StoryError> {
    if value.is_empty() {
        tx.delete(ROOT, key)?;
    } else {
        tx.put(ROOT, key, value)?;
    }
    Ok(())
}

fn write_section(tx: &mut Transaction<'_>, code: &str, text: &str) -> Result<(), StoryError> {
    let sections = ensure_map(tx, &ROOT, "sections")?;
    let obj = text_obj(tx, &sections, code)?;
    tx.update_text(&obj, text)?;
    Ok(())
}

fn write_transcript(
    tx: &mut Transaction<'_>,
    text: &str,
    state: TranscriptState,
) -> Result<(), StoryError> {
    let t = ensure_map(tx, &ROOT, "transcript")?;
    tx.put(&t, "text", text)?;
    tx.put(&t, "state", state.code())?;
    Ok(())
}

/// Write one section of a story (an impact narrative's answer to a guided prompt).
pub fn set_section(
    doc: &mut Automerge,
    code: &str,
    text: &str,
    now_ms: i64,
) -> Result<(), StoryError> {
    change(doc, now_ms, "edit section", |tx| {
        write_section(tx, code, text)
    })
}

/// Set the transcript's text with a person's state (`corrected` or `approved`). The server never
/// overwrites a transcript in either state.
pub fn correct_transcript(
    doc: &mut Automerge,
    text: &str,
    state: TranscriptState,
    now_ms: i64,
) -> Result<(), StoryError> {
    change(doc, now_ms, "edit transcript", |tx| {
        write_transcript(tx, text, state)
    })
}

/// Apply a [`StoryPatch`] as one change. Refused as a whole (nothing is written) when the result is
/// a story about a person without given consent that is no longer a draft.
pub fn apply_patch(doc: &mut Automerge, p: &StoryPatch, now_ms: i64) -> Result<(), StoryError> {
    change(doc, now_ms, "edit story", |tx| {
        if let Some(kind) = p.kind {
            tx.put(ROOT, "kind", kind.code())?;
        }
        if let Some(title) = &p.title {
            tx.put(ROOT, "title", title.as_str())?;
        }
        if let Some(body) = &p.body {
            let obj = text_obj(tx, &ROOT, "body")?;
            tx.update_text(&obj, body)?;
        }
        if let Some(language) = &p.language {
            tx.put(ROOT, "language", language.as_str())?;
        }
        if let Some(place) = p.place_type {
            tx.put(ROOT, "placeType", place.code())?;
        }
        if let Some(m) = &p.municipality {
            put_or_delete(tx, "municipality", m)?;
        }
        if let Some(person) = &p.told_by {
            put_person(tx, "toldBy", person)?;
        }
        if let Some(c) = &p.consent {
            write_consent(tx, c)?;
        }
        if let Some(persona) = &p.persona {
            put_or_delete(tx, "persona", persona)?;
        }
        if let Some(phase) = &p.phase {
            put_or_delete(tx, "phase", phase)?;
        }
        if let Some(group) = &p.target_group {
            put_or_delete(tx, "targetGroup", group)?;
        }
        for (code, text) in &p.sections {
            write_section(tx, code, text)?;
        }
        if let Some(text) = &p.transcript {
            write_transcript(tx, text, TranscriptState::Corrected)?;
        }
        if let Some(clip) = &p.consent_clip {
            let obj = ensure_map(tx, &ROOT, "consent")?;
            tx.put(&obj, "clip", clip.as_str())?;
        }
        let kind = get_str(tx, &ROOT, "kind").and_then(|k| StoryKind::from_code(&k));
        let consented = get_obj(tx, &ROOT, "consent", ObjType::Map)
            .and_then(|c| get_bool(tx, &c, "given"))
            .unwrap_or(false);
        let draft = get_str(tx, &ROOT, "review").as_deref() == Some(ReviewState::Draft.code());
        if about_a_person(kind) && !consented && !draft {
            return Err(StoryError::ConsentRequired);
        }
        Ok(())
    })
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

    fn tag(code: &str, state: TagState, by: &str, score: Option<f64>) -> Tag {
        Tag {
            code: code.into(),
            state,
            by: by.into(),
            at: 10,
            score,
            evidence: vec!["rookt".into()],
        }
    }

    #[test]
    fn a_persons_confirm_wins_over_a_concurrent_in_place_update() {
        let mut server = Automerge::new().with_actor(ActorId::from(b"zzzz-server".as_slice()));
        create_story(&mut server, &sample()).unwrap();
        let suggested = tag("rookvrije-start", TagState::Suggested, "tagger", Some(0.5));
        write_tags(&mut server, 10, &[TagWrite::Update(suggested.clone())]).unwrap();
        let mut phone = Automerge::load(&server.save())
            .unwrap()
            .with_actor(ActorId::from(b"aaaa-phone".as_slice()));
        // Concurrently: the person confirms, the tagger refines score and evidence.
        set_tag(
            &mut phone,
            &tag("rookvrije-start", TagState::Confirmed, "m-1", None),
        )
        .unwrap();
        let mut refined = suggested.clone();
        refined.score = Some(0.9);
        refined.evidence = vec!["rookt".into(), "sigaretten".into()];
        write_tags(&mut server, 11, &[TagWrite::Update(refined)]).unwrap();
        server.merge(&mut phone).unwrap();
        phone.merge(&mut server).unwrap();
        for doc in [&server, &phone] {
            let s = Story::read(doc);
            assert_eq!(s.tags.len(), 1);
            assert_eq!(s.tags[0].state, TagState::Confirmed);
            assert_eq!(s.tags[0].by, "m-1");
        }
        assert_eq!(tag_versions(&server)["rookvrije-start"].len(), 1);
    }

    #[test]
    fn concurrent_new_tags_are_all_visible_and_replace_resolves_them() {
        let mut a = Automerge::new().with_actor(ActorId::from(b"aaaa".as_slice()));
        create_story(&mut a, &sample()).unwrap();
        let mut b = Automerge::load(&a.save())
            .unwrap()
            .with_actor(ActorId::from(b"bbbb".as_slice()));
        set_tag(&mut a, &tag("voorzorg", TagState::Rejected, "m-1", None)).unwrap();
        write_tags(
            &mut b,
            10,
            &[TagWrite::Update(tag(
                "voorzorg",
                TagState::Suggested,
                "tagger",
                Some(1.0),
            ))],
        )
        .unwrap();
        a.merge(&mut b).unwrap();
        let versions = tag_versions(&a);
        assert_eq!(versions["voorzorg"].len(), 2);
        assert_eq!(versions["voorzorg"][0], Story::read(&a).tags[0]);
        let rejected = versions["voorzorg"]
            .iter()
            .find(|t| t.state == TagState::Rejected)
            .cloned()
            .unwrap();
        write_tags(&mut a, 12, &[TagWrite::Replace(rejected)]).unwrap();
        assert_eq!(tag_versions(&a)["voorzorg"].len(), 1);
        assert_eq!(Story::read(&a).tags[0].state, TagState::Rejected);
        write_tags(&mut a, 13, &[TagWrite::Remove("voorzorg".into())]).unwrap();
        assert!(Story::read(&a).tags.is_empty());
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

#[cfg(test)]
mod shell_field_tests {
    use super::*;

    fn story() -> Automerge {
        let mut doc = Automerge::new();
        create_story(
            &mut doc,
            &NewStory {
                kind: Some(StoryKind::ImpactNarrative),
                title: "Inloopochtend".into(),
                language: "nl".into(),
                captured_at: 1_700_000_000_000,
                ..NewStory::default()
            },
        )
        .unwrap();
        doc
    }

    #[test]
    fn sections_phase_and_target_group_read_back() {
        let mut doc = story();
        let patch = StoryPatch {
            phase: Some("zwangerschap".into()),
            target_group: Some("nieuwkomers".into()),
            sections: [
                ("what-we-did".to_string(), "Een inloopochtend.".to_string()),
                ("evidence".to_string(), "12 moeders kwamen.".to_string()),
            ]
            .into(),
            ..StoryPatch::default()
        };
        apply_patch(&mut doc, &patch, 2).unwrap();
        set_section(&mut doc, "what-changed", "Ze kennen elkaar nu.", 3).unwrap();
        let d = StoryDetails::read(&doc);
        assert_eq!(d.phase.as_deref(), Some("zwangerschap"));
        assert_eq!(d.target_group.as_deref(), Some("nieuwkomers"));
        assert_eq!(d.sections.len(), 3);
        assert_eq!(d.sections["evidence"], "12 moeders kwamen.");
        // The existing reader is unaffected.
        assert_eq!(Story::read(&doc).title, "Inloopochtend");
        // An empty value removes the field.
        let clear = StoryPatch {
            phase: Some(String::new()),
            ..StoryPatch::default()
        };
        apply_patch(&mut doc, &clear, 4).unwrap();
        assert_eq!(StoryDetails::read(&doc).phase, None);
    }

    #[test]
    fn concurrent_section_edits_merge() {
        let mut a = story();
        set_section(&mut a, "what-we-did", "Koffie.", 2).unwrap();
        let mut b = Automerge::load(&a.save())
            .unwrap()
            .with_actor(automerge::ActorId::from(b"b".as_slice()));
        set_section(&mut a, "what-we-did", "Koffie en thee.", 3).unwrap();
        set_section(&mut b, "what-we-did", "Verse koffie.", 3).unwrap();
        a.merge(&mut b).unwrap();
        let text = &StoryDetails::read(&a).sections["what-we-did"];
        assert!(text.contains("thee") && text.contains("Verse"), "{text}");
    }

    #[test]
    fn a_draft_needs_no_consent_until_it_is_handed_in() {
        let mut doc = Automerge::new();
        let new = NewStory {
            kind: Some(StoryKind::ParentStory),
            captured_at: 1,
            ..NewStory::default()
        };
        assert!(matches!(
            create_story(&mut Automerge::new(), &new),
            Err(StoryError::ConsentRequired)
        ));
        create_draft(&mut doc, &new).unwrap();
        assert_eq!(review_state(&doc), Some(ReviewState::Draft));
        // Every word is kept while it is told, before anyone has asked for consent.
        let typed = StoryPatch {
            body: Some("Ze vertelde".into()),
            ..StoryPatch::default()
        };
        apply_patch(&mut doc, &typed, 2).unwrap();
        let heads = doc.get_heads();
        assert!(matches!(
            hand_in(&mut doc, 3),
            Err(StoryError::ConsentRequired)
        ));
        assert_eq!(doc.get_heads(), heads, "nothing written");
        let consent = StoryPatch {
            consent: Some(Consent {
                given: true,
                how: Some(ConsentHow::Spoken),
                scope: Some(ConsentScope::InternalOnly),
                recorded_at: Some(4),
            }),
            consent_clip: Some("c0ffee".into()),
            ..StoryPatch::default()
        };
        apply_patch(&mut doc, &consent, 4).unwrap();
        hand_in(&mut doc, 5).unwrap();
        assert_eq!(review_state(&doc), Some(ReviewState::Submitted));
        assert_eq!(
            StoryDetails::read(&doc).consent_clip.as_deref(),
            Some("c0ffee")
        );
        assert_eq!(Story::read(&doc).body, "Ze vertelde");
        // Handing in again changes nothing.
        let heads = doc.get_heads();
        hand_in(&mut doc, 6).unwrap();
        assert_eq!(doc.get_heads(), heads);
    }

    #[test]
    fn a_patch_that_would_drop_consent_writes_nothing() {
        let mut doc = story();
        hand_in(&mut doc, 1).unwrap();
        let heads = doc.get_heads();
        let patch = StoryPatch {
            kind: Some(StoryKind::ParentStory),
            title: Some("Zonder toestemming".into()),
            ..StoryPatch::default()
        };
        assert!(matches!(
            apply_patch(&mut doc, &patch, 2),
            Err(StoryError::ConsentRequired)
        ));
        assert_eq!(doc.get_heads(), heads);
        assert_eq!(Story::read(&doc).title, "Inloopochtend");
        let with_consent = StoryPatch {
            consent: Some(Consent {
                given: true,
                how: Some(ConsentHow::Written),
                scope: Some(ConsentScope::InternalOnly),
                recorded_at: Some(2),
            }),
            ..patch
        };
        apply_patch(&mut doc, &with_consent, 2).unwrap();
        assert_eq!(Story::read(&doc).kind, Some(StoryKind::ParentStory));
    }

    #[test]
    fn a_corrected_transcript_keeps_the_servers_other_keys() {
        let mut doc = story();
        // As the server writes it (docs/media.md), including an attachment's progress.
        change(&mut doc, 2, "server", |tx| {
            let t = tx.put_object(ROOT, "transcript", ObjType::Map)?;
            tx.put(&t, "text", "hallo wereld")?;
            tx.put(&t, "state", "automatic")?;
            tx.put(&t, "model", "whisper-base")?;
            let list = ensure_list(tx, "attachments")?;
            let a = tx.insert_object(&list, 0, ObjType::Map)?;
            tx.put(&a, "sha256", "ab")?;
            let s = tx.put_object(&a, "transcription", ObjType::Map)?;
            tx.put(&s, "status", "running")?;
            tx.put(&s, "progress", 40i64)?;
            Ok(())
        })
        .unwrap();
        let d = StoryDetails::read(&doc);
        assert_eq!(d.transcriptions[0].status, "running");
        assert_eq!(d.transcriptions[0].progress, Some(40));
        let patch = StoryPatch {
            transcript: Some("Hallo, wereld.".into()),
            ..StoryPatch::default()
        };
        apply_patch(&mut doc, &patch, 3).unwrap();
        let t = Story::read(&doc).transcript.unwrap();
        assert_eq!(t.text, "Hallo, wereld.");
        assert_eq!(t.state, Some(TranscriptState::Corrected));
        assert_eq!(t.model.as_deref(), Some("whisper-base"));
    }
}

// ---- media: transcription progress and machine transcripts, written by the server ------------
//
// `docs/media.md` is the contract. The server writes these with its own actor; like every edit
// above they touch only their own keys: `transcription` inside an attachment's map, and the story's
// `transcript` map (never while a person has corrected or approved it).

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
fn attachments_with<R: ReadDoc>(doc: &R, sha256: &str) -> Vec<ObjId> {
    get_obj(doc, &ROOT, "attachments", ObjType::List)
        .map(|l| {
            list_items(doc, &l)
                .into_iter()
                .filter(|a| get_str(doc, a, "sha256").as_deref() == Some(sha256))
                .collect()
        })
        .unwrap_or_default()
}

/// Put a scalar only when it differs: every put is an operation in the history, and progress is
/// written often.
fn put_if_changed(
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

fn delete_if_present(tx: &mut Transaction<'_>, obj: &ObjId, key: &str) -> Result<bool, StoryError> {
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

fn read_segments<R: ReadDoc>(doc: &R, parent: &ObjId) -> Vec<TranscriptSegment> {
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
fn write_translation(
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
        let mut order: Vec<String> = get_obj(tx, &ROOT, "attachments", ObjType::List)
            .map(|l| {
                list_items(tx, &l)
                    .into_iter()
                    .filter_map(|a| get_str(tx, &a, "sha256"))
                    .collect()
            })
            .unwrap_or_default();
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
mod media_tests {
    use super::*;
    use automerge::ActorId;

    fn story_with_audio(shas: &[&str]) -> Automerge {
        let mut doc = Automerge::new();
        create_story(
            &mut doc,
            &NewStory {
                kind: Some(StoryKind::ImpactNarrative),
                title: "Inloop".into(),
                language: "nl".into(),
                captured_at: 1,
                ..NewStory::default()
            },
        )
        .unwrap();
        for sha in shas {
            add_attachment(
                &mut doc,
                &Attachment {
                    sha256: sha.to_string(),
                    mime: "audio/webm".into(),
                    size: 10,
                },
                2,
            )
            .unwrap();
        }
        doc
    }

    fn result(text: &str) -> TranscriptResult {
        TranscriptResult {
            text: text.into(),
            language: "nl".into(),
            model: "whisper-base".into(),
            segments: vec![TranscriptSegment {
                start_ms: 0,
                end_ms: 1500,
                text: text.into(),
                source: None,
                confidence: Some(0.9),
                uncertain: vec![1],
            }],
            reason: None,
            translation: None,
        }
    }

    fn translated(text: &str, english: &str) -> TranscriptResult {
        TranscriptResult {
            language: "tr".into(),
            translation: Some(MachineTranslation {
                text: english.into(),
                language: "en".into(),
                model: "whisper-base".into(),
                segments: vec![TranscriptSegment {
                    start_ms: 0,
                    end_ms: 1500,
                    text: english.into(),
                    ..TranscriptSegment::default()
                }],
            }),
            ..result(text)
        }
    }

    #[test]
    fn segments_keep_their_confidence_and_uncertain_words() {
        let mut doc = story_with_audio(&["aa"]);
        set_transcript(&mut doc, "aa", &result("Hallo wereld"), 3).unwrap();
        let segs = transcript_segments(&doc);
        assert_eq!(segs[0].confidence, Some(0.9));
        assert_eq!(segs[0].uncertain, vec![1]);
    }

    #[test]
    fn a_translation_is_kept_beside_the_transcript_and_marked_as_machine() {
        let mut doc = story_with_audio(&["aa", "bb"]);
        set_transcript(&mut doc, "aa", &translated("Merhaba", "Hello"), 3).unwrap();
        set_transcript(&mut doc, "bb", &translated("Anne", "Mother"), 4).unwrap();
        let t = Story::read(&doc).transcript.unwrap();
        assert_eq!(
            t.text, "Merhaba\n\nAnne",
            "the original stays the transcript"
        );
        let tr = transcript_translation(&doc).unwrap();
        assert_eq!(tr.text, "Hello\n\nMother");
        assert_eq!((tr.language.as_str(), tr.segments.len()), ("en", 2));
        assert_eq!(tr.segments[1].source.as_deref(), Some("bb"));
        let marked = get_obj(&doc, &ROOT, "transcript", ObjType::Map)
            .and_then(|t| get_obj(&doc, &t, "translation", ObjType::Map))
            .and_then(|m| get_bool(&doc, &m, "machine"));
        assert_eq!(marked, Some(true));
        // A recording transcribed again without translation takes only its own part away.
        set_transcript(&mut doc, "aa", &result("Hallo"), 5).unwrap();
        assert_eq!(transcript_translation(&doc).unwrap().text, "Mother");
        set_transcript(&mut doc, "bb", &result("Moeder"), 6).unwrap();
        assert_eq!(transcript_translation(&doc), None);
    }

    #[test]
    fn no_speech_is_a_reason_beside_an_empty_transcript() {
        let mut doc = story_with_audio(&["aa"]);
        let silent = TranscriptResult {
            text: String::new(),
            segments: vec![],
            reason: Some("no-speech".into()),
            ..result("")
        };
        set_transcript(&mut doc, "aa", &silent, 3).unwrap();
        let d = StoryDetails::read(&doc);
        assert_eq!(d.transcriptions[0].status, "done");
        assert_eq!(d.transcriptions[0].reason.as_deref(), Some("no-speech"));
        assert_eq!(Story::read(&doc).transcript.unwrap().text, "");
        set_transcript(&mut doc, "aa", &result("Toch wel"), 4).unwrap();
        assert_eq!(StoryDetails::read(&doc).transcriptions[0].reason, None);
    }

    #[test]
    fn progress_is_written_into_the_attachment_and_only_when_it_changes() {
        let mut doc = story_with_audio(&["aa"]);
        assert!(set_transcription_status(&mut doc, "aa", "running", 40, None, None, 3).unwrap());
        let heads = doc.get_heads();
        set_transcription_status(&mut doc, "aa", "running", 40, None, None, 4).unwrap();
        assert_eq!(doc.get_heads(), heads, "nothing new, no change");
        set_transcription_status(
            &mut doc,
            "aa",
            "failed",
            40,
            Some("kapot"),
            Some("damaged"),
            5,
        )
        .unwrap();
        let d = StoryDetails::read(&doc);
        assert_eq!(d.transcriptions[0].status, "failed");
        assert_eq!(d.transcriptions[0].error.as_deref(), Some("kapot"));
        assert_eq!(d.transcriptions[0].reason.as_deref(), Some("damaged"));
        // Queued again: the failure's error and reason go.
        set_transcription_status(&mut doc, "aa", "queued", 0, None, None, 6).unwrap();
        let d = StoryDetails::read(&doc);
        assert_eq!(
            (
                d.transcriptions[0].error.as_deref(),
                d.transcriptions[0].reason.as_deref()
            ),
            (None, None)
        );
        assert!(!set_transcription_status(&mut doc, "bb", "queued", 0, None, None, 7).unwrap());
    }

    #[test]
    fn the_transcript_is_written_with_segments_and_state_automatic() {
        let mut doc = story_with_audio(&["aa"]);
        let w = set_transcript(&mut doc, "aa", &result("Hallo wereld"), 3).unwrap();
        assert_eq!(w, TranscriptWrite::Written);
        let t = Story::read(&doc).transcript.unwrap();
        assert_eq!(t.text, "Hallo wereld");
        assert_eq!(t.state, Some(TranscriptState::Automatic));
        assert_eq!(t.language.as_deref(), Some("nl"));
        let segs = transcript_segments(&doc);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].source.as_deref(), Some("aa"));
        assert_eq!(StoryDetails::read(&doc).transcriptions[0].status, "done");
    }

    #[test]
    fn a_corrected_or_approved_transcript_is_never_overwritten() {
        for state in [TranscriptState::Corrected, TranscriptState::Approved] {
            let mut doc = story_with_audio(&["aa"]);
            set_transcript(&mut doc, "aa", &result("machine"), 3).unwrap();
            correct_transcript(&mut doc, "mens", state, 4).unwrap();
            let w = set_transcript(&mut doc, "aa", &result("machine opnieuw"), 5).unwrap();
            assert_eq!(w, TranscriptWrite::KeptByPerson);
            let t = Story::read(&doc).transcript.unwrap();
            assert_eq!(t.text, "mens");
            assert_eq!(t.state, Some(state));
        }
    }

    #[test]
    fn several_voice_notes_make_one_transcript_in_attachment_order() {
        let mut doc = story_with_audio(&["aa", "bb"]);
        set_transcript(&mut doc, "bb", &result("tweede"), 3).unwrap();
        set_transcript(&mut doc, "aa", &result("eerste"), 4).unwrap();
        assert_eq!(
            Story::read(&doc).transcript.unwrap().text,
            "eerste\n\ntweede"
        );
        // Re-running one replaces only its own part.
        set_transcript(&mut doc, "aa", &result("eerste opnieuw"), 5).unwrap();
        assert_eq!(
            Story::read(&doc).transcript.unwrap().text,
            "eerste opnieuw\n\ntweede"
        );
        assert_eq!(transcript_segments(&doc).len(), 2);
    }

    #[test]
    fn a_person_correcting_while_the_server_writes_progress_merges_cleanly() {
        let mut server = story_with_audio(&["aa"]);
        set_transcript(&mut server, "aa", &result("machine"), 3).unwrap();
        let mut phone = Automerge::load(&server.save())
            .unwrap()
            .with_actor(ActorId::from(b"phone".as_slice()));
        correct_transcript(&mut phone, "Door een mens", TranscriptState::Corrected, 4).unwrap();
        set_transcription_status(&mut server, "aa", "done", 100, None, None, 5).unwrap();
        server.merge(&mut phone).unwrap();
        let t = Story::read(&server).transcript.unwrap();
        assert_eq!(t.text, "Door een mens");
        assert_eq!(t.model.as_deref(), Some("whisper-base"));
        // And a later machine run leaves the correction alone.
        assert_eq!(
            set_transcript(&mut server, "aa", &result("machine"), 6).unwrap(),
            TranscriptWrite::KeptByPerson
        );
    }
}
