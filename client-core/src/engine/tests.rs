//! Deterministic simulation: engines wired together in memory, time stepped by hand.

use super::*;
use crate::story::{self, NewStory, Story, StoryKind};
use std::collections::VecDeque;

/// Two engines and the frames in flight between them. Stores complete instantly.
struct Net {
    a: Engine,
    b: Engine,
    to_a: VecDeque<Vec<u8>>,
    to_b: VecDeque<Vec<u8>>,
    events_a: Vec<Event>,
    events_b: Vec<Event>,
    saves: usize,
    now: i64,
}

impl Net {
    fn new() -> Self {
        Net {
            a: Engine::new("device-a", Role::Initiating, PeerMetadata::default()),
            b: Engine::new("hub-b", Role::Receiving, PeerMetadata::default()),
            to_a: VecDeque::new(),
            to_b: VecDeque::new(),
            events_a: Vec::new(),
            events_b: Vec::new(),
            saves: 0,
            now: 1_000,
        }
    }

    fn apply(&mut self, to_b_side: bool, fx: Effects) {
        // Frames produced by one side travel to the other.
        let (queue, events) = if to_b_side {
            (&mut self.to_a, &mut self.events_b)
        } else {
            (&mut self.to_b, &mut self.events_a)
        };
        queue.extend(fx.send);
        events.extend(fx.events);
        for task in fx.store {
            self.saves += 1;
            if let StoreTask::Save { id, .. } = task {
                let done = if to_b_side {
                    self.b.handle_saved(id)
                } else {
                    self.a.handle_saved(id)
                };
                let events = if to_b_side {
                    &mut self.events_b
                } else {
                    &mut self.events_a
                };
                events.extend(done.events);
            }
        }
    }

    fn connect(&mut self) {
        let fb = self.b.handle_connected(self.now);
        self.apply(true, fb);
        let fa = self.a.handle_connected(self.now);
        self.apply(false, fa);
    }

    fn disconnect(&mut self) {
        self.a.handle_disconnected();
        self.b.handle_disconnected();
        self.to_a.clear();
        self.to_b.clear();
    }

    fn run_until_quiescent(&mut self) {
        for _ in 0..10_000 {
            self.now += 1;
            if let Some(f) = self.to_b.pop_front() {
                let fx = self.b.handle_frame(&f, self.now).expect("b accepts");
                self.apply(true, fx);
            } else if let Some(f) = self.to_a.pop_front() {
                let fx = self.a.handle_frame(&f, self.now).expect("a accepts");
                self.apply(false, fx);
            } else {
                return;
            }
        }
        panic!("no quiescence");
    }
}

fn story(title: &str) -> NewStory {
    NewStory {
        kind: Some(StoryKind::ImpactNarrative),
        title: title.into(),
        body: "De moeders kwamen elke week terug.".into(),
        language: "nl".into(),
        captured_at: 1,
        ..Default::default()
    }
}

fn id(n: u8) -> DocumentId {
    DocumentId::from_bytes([n; 16])
}

#[test]
fn a_story_made_offline_reaches_the_peer_and_is_confirmed() {
    let mut net = Net::new();
    let (_, fx) = net
        .a
        .create(id(1), |d| story::create_story(d, &story("Babycafé")))
        .unwrap();
    assert!(fx.send.is_empty(), "nothing is sent while offline");
    assert!(matches!(fx.store[..], [StoreTask::Save { .. }]));
    net.apply(false, fx);
    assert!(net.events_a.contains(&Event::Saved { id: id(1) }));
    assert!(!net.a.is_confirmed(&id(1)));

    net.connect();
    net.run_until_quiescent();
    assert!(net.events_a.contains(&Event::Connected {
        remote: "hub-b".into()
    }));
    assert_eq!(
        Story::read(net.b.document(&id(1)).unwrap()).title,
        "Babycafé"
    );
    assert!(net.a.is_confirmed(&id(1)));
    assert!(net.events_a.contains(&Event::SyncStatus {
        id: id(1),
        confirmed: true
    }));
}

#[test]
fn saved_is_reported_only_when_the_driver_says_the_store_finished() {
    let mut a = Engine::new("a", Role::Initiating, PeerMetadata::default());
    let (_, fx) = a
        .create(id(2), |d| story::create_story(d, &story("x")))
        .unwrap();
    assert!(!fx.events.iter().any(|e| matches!(e, Event::Saved { .. })));
    let done = a.handle_saved(id(2));
    assert_eq!(done.events, vec![Event::Saved { id: id(2) }]);
    // A second acknowledgement for the same save says nothing new.
    assert!(a.handle_saved(id(2)).events.is_empty());
}

#[test]
fn concurrent_offline_edits_converge() {
    let mut net = Net::new();
    let (_, fx) = net
        .a
        .create(id(3), |d| story::create_story(d, &story("Eerst")))
        .unwrap();
    net.apply(false, fx);
    net.connect();
    net.run_until_quiescent();
    net.disconnect();

    // Offline: a changes the title and types at the start, b types at the end of the same paragraph.
    let fx = net
        .a
        .change(id(3), |d| story::set_title(d, "Tweede titel", 5))
        .unwrap()
        .1;
    net.apply(false, fx);
    let fx = net
        .a
        .change(id(3), |d| story::splice_body(d, 0, 0, "Vandaag: ", 6))
        .unwrap()
        .1;
    net.apply(false, fx);
    let len = Story::read(net.b.document(&id(3)).unwrap())
        .body
        .chars()
        .count();
    let fx = net
        .b
        .change(id(3), |d| story::splice_body(d, len, 0, " Echt waar.", 7))
        .unwrap()
        .1;
    net.apply(true, fx);

    net.connect();
    net.run_until_quiescent();
    let sa = Story::read(net.a.document(&id(3)).unwrap());
    let sb = Story::read(net.b.document(&id(3)).unwrap());
    assert_eq!(sa, sb);
    assert_eq!(sa.title, "Tweede titel");
    assert_eq!(
        sa.body,
        "Vandaag: De moeders kwamen elke week terug. Echt waar."
    );
    assert!(net.a.is_confirmed(&id(3)));
}

#[test]
fn wanted_documents_arrive_or_are_reported_unavailable() {
    let mut net = Net::new();
    let fx = net
        .b
        .create(id(4), |d| story::create_story(d, &story("Op de hub")))
        .unwrap()
        .1;
    net.apply(true, fx);
    net.connect();
    net.run_until_quiescent();
    let fx = net.a.want(id(4));
    net.apply(false, fx);
    let fx = net.a.want(id(5));
    net.apply(false, fx);
    net.run_until_quiescent();
    assert_eq!(
        Story::read(net.a.document(&id(4)).unwrap()).title,
        "Op de hub"
    );
    assert!(net.a.document(&id(5)).is_none());
    assert!(net.events_a.contains(&Event::Unavailable { id: id(5) }));
}

#[test]
fn a_document_the_server_had_and_now_lacks_is_purged() {
    let mut net = Net::new();
    let fx = net
        .a
        .create(id(6), |d| story::create_story(d, &story("Weg")))
        .unwrap()
        .1;
    net.apply(false, fx);
    net.connect();
    net.run_until_quiescent();
    assert!(net.a.is_confirmed(&id(6)));
    let fx = net
        .a
        .handle_message(
            Message::DocUnavailable {
                document_id: id(6),
                sender_id: "hub-b".into(),
                target_id: "device-a".into(),
            },
            net.now,
        )
        .unwrap();
    assert!(fx.store.contains(&StoreTask::Delete { id: id(6) }));
    assert!(net.a.document(&id(6)).is_none());
}

#[test]
fn garbage_from_the_remote_is_an_error_and_leaves_documents_intact() {
    let mut net = Net::new();
    let fx = net
        .a
        .create(id(7), |d| story::create_story(d, &story("Heel")))
        .unwrap()
        .1;
    net.apply(false, fx);
    net.connect();
    net.run_until_quiescent();
    assert!(net.a.handle_frame(&[0xde, 0xad], net.now).is_err());
    let bad = Message::Sync {
        document_id: id(7),
        sender_id: "hub-b".into(),
        target_id: "device-a".into(),
        data: vec![0x42, 0xff, 0xff],
    };
    assert!(net.a.handle_message(bad, net.now).is_err());
    assert_eq!(Story::read(net.a.document(&id(7)).unwrap()).title, "Heel");
}

#[test]
fn messages_before_the_handshake_are_refused() {
    let mut a = Engine::new("a", Role::Initiating, PeerMetadata::default());
    let _ = a.handle_connected(0);
    let early = Message::Sync {
        document_id: id(8),
        sender_id: "x".into(),
        target_id: "a".into(),
        data: vec![],
    };
    assert!(a.handle_message(early, 1).is_err());
    assert!(a.poll_timeout(HANDSHAKE_TIMEOUT_MS + 1));
    assert!(!a.poll_timeout(10));
}
