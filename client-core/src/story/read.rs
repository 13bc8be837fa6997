//! Reading a story: [`Story::read`] and [`Persona::read`], the small readers ([`doc_type`],
//! [`review_state`], [`tag_versions`]) and the typed getters the other modules read keys with.
//! Missing or malformed values read as absent, never as errors; nothing here writes.

use super::schema::*;
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

pub(crate) fn get_str<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        (Value::Object(ObjType::Text), id) => doc.text(&id).ok(),
        _ => None,
    }
}

pub(crate) fn get_i64<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<i64> {
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

pub(crate) fn get_f64<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<f64> {
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

pub(crate) fn get_bool<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<bool> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Boolean(b) => Some(*b),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn get_obj<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str, ty: ObjType) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(t), id) if t == ty => Some(id),
        _ => None,
    }
}

pub(crate) fn list_items<R: ReadDoc>(doc: &R, list: &ObjId) -> Vec<ObjId> {
    (0..doc.length(list))
        .filter_map(|i| match doc.get(list, i).ok()?? {
            (Value::Object(ObjType::Map), id) => Some(id),
            _ => None,
        })
        .collect()
}

/// The map objects in the root list `key` (`attachments`, `comments`), in order; none when the
/// key holds no list.
pub(crate) fn list_maps<R: ReadDoc>(doc: &R, key: &str) -> Vec<ObjId> {
    get_obj(doc, &ROOT, key, ObjType::List)
        .map(|l| list_items(doc, &l))
        .unwrap_or_default()
}

/// The map objects under the root map `key` (`tags`: by activity code), each key's visible value;
/// keys whose value is not a map are left out.
pub(crate) fn map_entries<R: ReadDoc>(doc: &R, key: &str) -> Vec<(String, ObjId)> {
    let Some(m) = get_obj(doc, &ROOT, key, ObjType::Map) else {
        return Vec::new();
    };
    doc.keys(&m)
        .filter_map(|k| {
            let obj = get_obj(doc, &m, &k, ObjType::Map)?;
            Some((k, obj))
        })
        .collect()
}

pub(crate) fn read_person<R: ReadDoc>(doc: &R, key: &str) -> Option<Person> {
    let obj = get_obj(doc, &ROOT, key, ObjType::Map)?;
    Some(Person {
        role: get_str(doc, &obj, "role").unwrap_or_default(),
        name: get_str(doc, &obj, "name").unwrap_or_default(),
    })
}

pub(crate) fn read_tag<R: ReadDoc>(doc: &R, code: String, t: &ObjId) -> Option<Tag> {
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
        let attachments = list_maps(doc, "attachments")
            .into_iter()
            .filter_map(|a| {
                Some(Attachment {
                    sha256: get_str(doc, &a, "sha256")?,
                    mime: get_str(doc, &a, "mime").unwrap_or_default(),
                    size: get_i64(doc, &a, "size").unwrap_or(0).max(0) as u64,
                })
            })
            .collect();
        let tags = map_entries(doc, "tags")
            .into_iter()
            .filter_map(|(code, t)| read_tag(doc, code, &t))
            .collect();
        let comments = list_maps(doc, "comments")
            .into_iter()
            .map(|c| Comment {
                id: get_str(doc, &c, "id").unwrap_or_default(),
                author: get_str(doc, &c, "author").unwrap_or_default(),
                at: get_i64(doc, &c, "at").unwrap_or(0),
                text: get_str(doc, &c, "text").unwrap_or_default(),
            })
            .collect();
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
