//! Integration tests against real `vertel-server` processes. One binary, grouped by topic.
//! Every scenario runs on SQLite and on PostgreSQL (see [`both!`]).

/// Run `async fn $name(Backend) -> anyhow::Result<()>` as two tests: `$name::sqlite` and
/// `$name::postgres`.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                super::$name(vertel_tests::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                super::$name(vertel_tests::Backend::Postgres).await
            }
        }
    };
}

mod access;
mod accounts;
mod bad_input;
mod chaos;
mod cluster;
mod deidentify;
mod desk;
mod durability;
mod erasure;
mod exports;
mod faults;
mod interop;
mod lifecycle;
mod media;
mod multiprocess;
mod notify;
mod ownership;
mod sessions;
mod sync;
mod tagging;
mod transcripts;
mod workspace;

use std::time::Duration;
pub use vertel_tests::parent_story;

pub const WAIT: Duration = Duration::from_secs(20);

/// Wait until the device holds every local change confirmed by the server.
pub async fn all_confirmed(device: &vertel_tests::Device) -> anyhow::Result<()> {
    device
        .wait_for("server confirmation", WAIT, |d| async move {
            d.unconfirmed().await.is_empty()
        })
        .await?;
    Ok(())
}
