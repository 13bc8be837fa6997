//! The automerge-repo websocket wire protocol (protocol version "1").
//!
//! This is the only module that knows the wire format. Every message is one CBOR map per websocket
//! binary frame, tagged by its `type` field. Field names follow the JavaScript implementation
//! (`senderId`, `targetId`, `documentId`, `peerMetadata`, ...). Unknown *fields* are ignored, as the
//! JavaScript implementation does; unknown *message types* are a protocol error.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The only protocol version there is.
pub const PROTOCOL_V1: &str = "1";

/// An automerge-repo document id: 16 random bytes, written as base58check on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId([u8; 16]);

impl DocumentId {
    /// Make an id from 16 bytes the caller drew from a random source (client-core draws none itself).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The `automerge:` URL that automerge-repo uses for this document.
    pub fn url(&self) -> String {
        format!("automerge:{self}")
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a valid document id: {0:?}")]
pub struct InvalidDocumentId(pub String);

impl std::str::FromStr for DocumentId {
    type Err = InvalidDocumentId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("automerge:").unwrap_or(s);
        let bytes = bs58::decode(s)
            .with_check(None)
            .into_vec()
            .map_err(|_| InvalidDocumentId(s.to_string()))?;
        let bytes: [u8; 16] = bytes
            .try_into()
            .map_err(|_| InvalidDocumentId(s.to_string()))?;
        Ok(Self(bytes))
    }
}

impl Serialize for DocumentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DocumentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a peer says about itself in `join` and `peer`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_id: Option<String>,
    #[serde(default)]
    pub is_ephemeral: bool,
}

/// Why the server did not take a document's changes: a stable `code` a device can act on, and a
/// `message` a person can read (Dutch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

impl Refusal {
    /// The sender wrote a field that belongs to someone else (a review, a coordinator's comment,
    /// a tag decision, a transcript approval, the transcription status: `docs/schema.md`).
    pub const NOT_YOURS: &'static str = "field-not-yours";
    /// The document would grow past the server's size limit.
    pub const TOO_LARGE: &'static str = "too-large";
    /// The changes could not be applied (malformed, or history the server cannot read).
    pub const INVALID: &'static str = "invalid";

    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Refusal {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    #[serde(rename_all = "camelCase")]
    Join {
        sender_id: String,
        supported_protocol_versions: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer_metadata: Option<PeerMetadata>,
    },
    #[serde(rename_all = "camelCase")]
    Peer {
        sender_id: String,
        selected_protocol_version: String,
        target_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer_metadata: Option<PeerMetadata>,
    },
    #[serde(rename_all = "camelCase")]
    Leave { sender_id: String },
    #[serde(rename_all = "camelCase")]
    Request {
        document_id: DocumentId,
        sender_id: String,
        target_id: String,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    #[serde(rename_all = "camelCase")]
    Sync {
        document_id: DocumentId,
        sender_id: String,
        target_id: String,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// The peer does not have the document, or (with `refused`, Vertel's extension) will not
    /// take the changes it was sent for it. A refusal is about this one document: the connection
    /// and every other document keep syncing. JavaScript automerge-repo clients ignore the extra
    /// field and mark the document unavailable at this peer, which stops the exchange for it
    /// until the next local change.
    #[serde(rename = "doc-unavailable", rename_all = "camelCase")]
    DocUnavailable {
        document_id: DocumentId,
        sender_id: String,
        target_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refused: Option<Refusal>,
    },
    #[serde(rename_all = "camelCase")]
    Ephemeral {
        sender_id: String,
        target_id: String,
        #[serde(default)]
        document_id: Option<DocumentId>,
        #[serde(default)]
        count: Option<u64>,
        #[serde(default)]
        session_id: Option<String>,
        #[serde(default, with = "serde_bytes")]
        data: Vec<u8>,
    },
    #[serde(rename_all = "camelCase")]
    Error {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target_id: Option<String>,
    },
    /// Remote-heads gossip. Accepted and ignored: Vertel peers talk to one server only.
    #[serde(rename = "remote-subscription-change", rename_all = "camelCase")]
    RemoteSubscriptionChange {
        sender_id: String,
        #[serde(default)]
        target_id: Option<String>,
    },
    /// Remote-heads gossip. Accepted and ignored.
    #[serde(rename = "remote-heads-changed", rename_all = "camelCase")]
    RemoteHeadsChanged {
        sender_id: String,
        #[serde(default)]
        target_id: Option<String>,
    },
}

/// Why a frame is not a valid protocol message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("frame is not valid CBOR or not a known message: {0}")]
    Invalid(String),
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
}

impl Message {
    /// Decode one frame. `limit` bounds the frame size before any parsing happens.
    pub fn decode(frame: &[u8], limit: usize) -> Result<Message, DecodeError> {
        if frame.len() > limit {
            return Err(DecodeError::TooLarge {
                size: frame.len(),
                limit,
            });
        }
        ciborium::from_reader(frame).map_err(|e| DecodeError::Invalid(e.to_string()))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        // Serializing these plain structs into a Vec cannot fail.
        ciborium::into_writer(self, &mut out).expect("CBOR encoding into a Vec");
        out
    }

    /// The document this message is about, if any.
    pub fn document_id(&self) -> Option<DocumentId> {
        match self {
            Message::Request { document_id, .. }
            | Message::Sync { document_id, .. }
            | Message::DocUnavailable { document_id, .. } => Some(*document_id),
            Message::Ephemeral { document_id, .. } => *document_id,
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Join { .. } => "join",
            Message::Peer { .. } => "peer",
            Message::Leave { .. } => "leave",
            Message::Request { .. } => "request",
            Message::Sync { .. } => "sync",
            Message::DocUnavailable { .. } => "doc-unavailable",
            Message::Ephemeral { .. } => "ephemeral",
            Message::Error { .. } => "error",
            Message::RemoteSubscriptionChange { .. } => "remote-subscription-change",
            Message::RemoteHeadsChanged { .. } => "remote-heads-changed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> DocumentId {
        DocumentId::from_bytes([7; 16])
    }

    #[test]
    fn document_id_round_trips_through_base58check() {
        let s = id().to_string();
        assert_eq!(s.parse::<DocumentId>(), Ok(id()));
        assert_eq!(format!("automerge:{s}").parse::<DocumentId>(), Ok(id()));
        // A changed character breaks the checksum.
        let mut broken = s.clone().into_bytes();
        broken[3] = if broken[3] == b'2' { b'3' } else { b'2' };
        assert!(
            String::from_utf8(broken)
                .unwrap()
                .parse::<DocumentId>()
                .is_err()
        );
    }

    #[test]
    fn messages_round_trip_and_use_js_field_names() {
        let msg = Message::Sync {
            document_id: id(),
            sender_id: "a".into(),
            target_id: "b".into(),
            data: vec![1, 2, 3],
        };
        let bytes = msg.encode();
        assert_eq!(Message::decode(&bytes, 1024), Ok(msg));
        let value: ciborium::Value = ciborium::from_reader(&bytes[..]).unwrap();
        let keys: Vec<String> = value
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_text().unwrap().to_string())
            .collect();
        assert_eq!(keys, ["type", "documentId", "senderId", "targetId", "data"]);
        // `data` travels as a CBOR byte string, as cbor-x writes a Uint8Array.
        let data = &value.as_map().unwrap()[4].1;
        assert!(data.is_bytes());
    }

    #[test]
    fn a_refusal_travels_in_doc_unavailable_and_plain_ones_stay_plain() {
        let plain = Message::DocUnavailable {
            document_id: id(),
            sender_id: "s".into(),
            target_id: "t".into(),
            refused: None,
        };
        let value: ciborium::Value = ciborium::from_reader(&plain.encode()[..]).unwrap();
        assert_eq!(
            value.as_map().unwrap().len(),
            4,
            "no extra field: {value:?}"
        );
        let refused = Message::DocUnavailable {
            document_id: id(),
            sender_id: "s".into(),
            target_id: "t".into(),
            refused: Some(Refusal::new(Refusal::NOT_YOURS, "alleen een coördinator")),
        };
        let bytes = refused.encode();
        assert_eq!(Message::decode(&bytes, 1024), Ok(refused));
        let value: ciborium::Value = ciborium::from_reader(&bytes[..]).unwrap();
        let keys: Vec<&str> = value
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_text().unwrap())
            .collect();
        assert_eq!(
            keys,
            ["type", "documentId", "senderId", "targetId", "refused"]
        );
    }

    #[test]
    fn join_from_javascript_with_extra_fields_is_accepted() {
        let value = ciborium::Value::Map(vec![
            ("type".into(), "join".into()),
            ("senderId".into(), "peer-1".into()),
            (
                "supportedProtocolVersions".into(),
                ciborium::Value::Array(vec!["1".into()]),
            ),
            (
                "peerMetadata".into(),
                ciborium::Value::Map(vec![("isEphemeral".into(), true.into())]),
            ),
            ("somethingNew".into(), 42.into()),
        ]);
        let mut bytes = Vec::new();
        ciborium::into_writer(&value, &mut bytes).unwrap();
        match Message::decode(&bytes, 1024).unwrap() {
            Message::Join {
                sender_id,
                peer_metadata,
                ..
            } => {
                assert_eq!(sender_id, "peer-1");
                assert!(peer_metadata.unwrap().is_ephemeral);
            }
            other => panic!("decoded as {other:?}"),
        }
    }

    #[test]
    fn garbage_unknown_types_and_oversized_frames_are_errors() {
        assert!(matches!(
            Message::decode(&[0xff, 0x00, 0x13], 1024),
            Err(DecodeError::Invalid(_))
        ));
        let unknown = ciborium::Value::Map(vec![("type".into(), "teleport".into())]);
        let mut bytes = Vec::new();
        ciborium::into_writer(&unknown, &mut bytes).unwrap();
        assert!(matches!(
            Message::decode(&bytes, 1024),
            Err(DecodeError::Invalid(_))
        ));
        assert_eq!(
            Message::decode(&[0u8; 10], 5),
            Err(DecodeError::TooLarge { size: 10, limit: 5 })
        );
    }
}
