//! vertel-server: sync, storage and accounts for Vertel.
//!
//! The design decision that shapes this crate: **the database is the truth, memory is a cache.**
//! Every change a device sends is stored before the server acknowledges it (by advertising new
//! heads), documents are loaded on demand and evicted when idle, and several processes can share
//! one PostgreSQL because each tells the others what changed.

pub mod admin;
pub mod auth;
pub mod check;
pub mod config;
pub mod db;
pub mod deidentify;
pub mod demo;
pub mod http;
pub mod media;
pub mod memory;
pub mod serve;
pub mod sessions;
pub mod sync;
pub mod tagging;
pub mod workspace;
