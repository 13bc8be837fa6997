//! client-core: Vertel's story model and sync engine, shared by every shell.
//!
//! The design decision that shapes this crate: **it performs no IO**. It opens no socket, reads no
//! clock and draws no randomness of its own; callers pass bytes, events and `now` in, and get
//! frames to send, storage tasks and events out ([`engine`]). That is what lets the same code run in
//! the server's tests, in the browser (compiled to wasm32) and in the native driver.
//!
//! * [`wire`]: the automerge-repo websocket protocol (the only module that knows the wire format).
//! * [`story`]: the typed, versioned story and persona documents.
//! * [`engine`]: the sans-IO sync engine.
//! * [`store`]: the local store interface.
//! * [`deidentify`]: the Dutch de-identifier (names, addresses, numbers in story text).
//! * `native` (feature `native`): a tokio + websocket driver for tests, tools and benchmarks.

pub mod deidentify;
pub mod engine;
pub mod store;
pub mod story;
pub mod wire;

#[cfg(feature = "native")]
pub mod native;

pub use automerge;
pub use engine::{Effects, Engine, Event, Role, StoreTask};
pub use store::{LocalStore, StoredDoc};
pub use wire::DocumentId;
