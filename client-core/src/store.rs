//! The local store interface.
//!
//! A shell keeps documents behind this trait: the native driver in files, the web shell in
//! IndexedDB. The methods are `async` so that IndexedDB's promises fit, but client-core never
//! runs them itself: the engine describes saves as [`crate::engine::StoreTask`]s and the driver
//! carries them out against a `LocalStore`, then reports completion.

use crate::wire::DocumentId;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// What the store keeps per document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredDoc {
    /// The whole automerge document (`Automerge::save`).
    pub bytes: Vec<u8>,
    /// The heads the server last advertised (hex), so "gesynchroniseerd" survives a restart.
    pub server_heads: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("local store: {0}")]
pub struct StoreError(pub String);

#[allow(async_fn_in_trait)]
pub trait LocalStore {
    async fn load(&self, id: &DocumentId) -> Result<Option<StoredDoc>, StoreError>;
    /// Must not return before the document is durable.
    async fn save(&self, id: &DocumentId, doc: &StoredDoc) -> Result<(), StoreError>;
    async fn delete(&self, id: &DocumentId) -> Result<(), StoreError>;
    async fn list(&self) -> Result<Vec<DocumentId>, StoreError>;
}

/// A store in memory, for tests and simulations.
#[derive(Default)]
pub struct MemoryStore {
    docs: Mutex<BTreeMap<DocumentId, StoredDoc>>,
}

impl MemoryStore {
    fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, BTreeMap<DocumentId, StoredDoc>>, StoreError> {
        self.docs.lock().map_err(|_| StoreError("poisoned".into()))
    }
}

impl LocalStore for MemoryStore {
    async fn load(&self, id: &DocumentId) -> Result<Option<StoredDoc>, StoreError> {
        Ok(self.lock()?.get(id).cloned())
    }
    async fn save(&self, id: &DocumentId, doc: &StoredDoc) -> Result<(), StoreError> {
        self.lock()?.insert(*id, doc.clone());
        Ok(())
    }
    async fn delete(&self, id: &DocumentId) -> Result<(), StoreError> {
        self.lock()?.remove(id);
        Ok(())
    }
    async fn list(&self) -> Result<Vec<DocumentId>, StoreError> {
        Ok(self.lock()?.keys().copied().collect())
    }
}

/// Encode a stored document as one byte string (for stores that keep a single blob per key):
/// a little-endian u32 count of heads, each head as 32 bytes, then the document.
pub fn encode_stored(doc: &StoredDoc) -> Vec<u8> {
    let heads: Vec<[u8; 32]> = doc
        .server_heads
        .iter()
        .filter_map(|h| hex::decode(h).ok()?.try_into().ok())
        .collect();
    let mut out = Vec::with_capacity(4 + heads.len() * 32 + doc.bytes.len());
    out.extend_from_slice(&(heads.len() as u32).to_le_bytes());
    for h in &heads {
        out.extend_from_slice(h);
    }
    out.extend_from_slice(&doc.bytes);
    out
}

pub fn decode_stored(bytes: &[u8]) -> Result<StoredDoc, StoreError> {
    let bad = || StoreError("truncated stored document".into());
    let count = u32::from_le_bytes(
        bytes
            .get(..4)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    ) as usize;
    let heads_end = 4 + count.checked_mul(32).ok_or_else(bad)?;
    let heads = bytes.get(4..heads_end).ok_or_else(bad)?;
    Ok(StoredDoc {
        server_heads: heads.chunks(32).map(hex::encode).collect(),
        bytes: bytes[heads_end..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_documents_round_trip_and_truncation_is_an_error() {
        let doc = StoredDoc {
            bytes: vec![1, 2, 3],
            server_heads: vec![hex::encode([9u8; 32])],
        };
        let enc = encode_stored(&doc);
        assert_eq!(decode_stored(&enc).unwrap(), doc);
        assert!(decode_stored(&enc[..10]).is_err());
        assert!(decode_stored(&[]).is_err());
    }
}
