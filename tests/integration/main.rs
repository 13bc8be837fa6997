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
mod durability;
mod erasure;
mod interop;
mod lifecycle;
mod media;
mod multiprocess;
mod sync;
mod tagging;
mod workspace;

use client_core::story::{
    Consent, ConsentHow, ConsentScope, NewStory, Person, PlaceType, StoryKind,
};
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(20);

pub fn parent_story(title: &str, body: &str) -> NewStory {
    NewStory {
        kind: Some(StoryKind::ParentStory),
        title: title.into(),
        body: body.into(),
        language: "nl".into(),
        captured_at: 1_763_900_000_000,
        place_type: Some(PlaceType::Speeltuin),
        municipality: Some("Delft".into()),
        told_by: Some(Person {
            role: "moeder".into(),
            name: "Roos".into(),
        }),
        recorded_by: None,
        consent: Some(Consent {
            given: true,
            how: Some(ConsentHow::Spoken),
            scope: Some(ConsentScope::AnonymisedInReports),
            recorded_at: Some(1_763_900_000_000),
        }),
        persona: None,
    }
}

/// Wait until the device holds every local change confirmed by the server.
pub async fn all_confirmed(device: &vertel_tests::Device) -> anyhow::Result<()> {
    device
        .wait_for("server confirmation", WAIT, |d| async move {
            d.unconfirmed().await.is_empty()
        })
        .await?;
    Ok(())
}
