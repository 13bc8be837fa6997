//! Document sync over websockets: the hub of documents and the per-connection protocol handling.

pub mod conn;
pub mod hub;
pub mod measure;
pub mod notify;
