//! Deterministic simulation: engines wired together in memory, time stepped by hand.

use super::*;
use crate::story::ownership::{self, Owned, Writer};
use crate::story::{self, NewStory, Story, StoryKind};
use std::collections::VecDeque;

/// An actor id for a test engine, from its name (a real caller draws 16 random bytes).
fn actor(name: &str) -> ActorId {
    ActorId::from(name.as_bytes())
}

/// Two engines and the frames in flight between them. Stores complete instantly.
///
/// With `referee`, `b` plays vertel-server's part in ownership: a sync message from `a` (a field
/// member) that writes a field `a` may not write is not taken. `b`'s copy and sync state go back
/// to before it, and `a` gets `doc-unavailable` with `refused`. With `chatty`, `b` then also
/// speaks first for that document at once (a server that offers its side again after a refusal).
struct Net {
    a: Engine,
    b: Engine,
    to_a: VecDeque<Vec<u8>>,
    to_b: VecDeque<Vec<u8>>,
    events_a: Vec<Event>,
    events_b: Vec<Event>,
    saves: usize,
    now: i64,
    referee: bool,
    chatty: bool,
    refusals: usize,
}

impl Net {
    fn new() -> Self {
        Net {
            a: Engine::new(
                "device-a",
                actor("device-a"),
                Role::Initiating,
                PeerMetadata::default(),
            ),
            b: Engine::new(
                "hub-b",
                actor("hub-b"),
                Role::Receiving,
                PeerMetadata::default(),
            ),
            to_a: VecDeque::new(),
            to_b: VecDeque::new(),
            events_a: Vec::new(),
            events_b: Vec::new(),
            saves: 0,
            now: 1_000,
            referee: false,
            chatty: false,
            refusals: 0,
        }
    }

    fn refereed() -> Self {
        Net {
            referee: true,
            ..Net::new()
        }
    }

    /// A frame from `a` arrives at `b`, past the referee.
    fn deliver_to_b(&mut self, frame: &[u8]) {
        let msg = Message::decode(frame, DEFAULT_FRAME_LIMIT).expect("a sends valid frames");
        let id = match &msg {
            Message::Sync { document_id, .. } | Message::Request { document_id, .. }
                if self.referee =>
            {
                *document_id
            }
            _ => {
                let fx = self.b.handle_message(msg, self.now).expect("b accepts");
                self.apply(true, fx);
                return;
            }
        };
        let before = self.b.docs.get(&id).map(|e| e.doc.clone());
        let fx = self.b.handle_message(msg, self.now).expect("b accepts");
        let owned_before = before.as_ref().map(Owned::read).unwrap_or_default();
        let owned_after = self
            .b
            .docs
            .get(&id)
            .map(|e| Owned::read(&e.doc))
            .unwrap_or_default();
        let Err(violation) =
            ownership::check(&owned_before, &owned_after, Writer::FieldMember, |_| false)
        else {
            self.apply(true, fx);
            return;
        };
        self.refusals += 1;
        match before {
            Some(doc) => {
                let e = self.b.docs.get_mut(&id).expect("b had it");
                e.doc = doc;
                e.sync = sync::State::new();
            }
            None => {
                self.b.docs.remove(&id);
            }
        }
        self.to_a.push_back(
            Message::DocUnavailable {
                document_id: id,
                sender_id: "hub-b".into(),
                target_id: "device-a".into(),
                refused: Some(Refusal::new(Refusal::NOT_YOURS, violation.message())),
            }
            .encode(),
        );
        if self.chatty {
            let mut fx = Effects::default();
            self.b.sync_doc(id, false, &mut fx);
            self.apply(true, fx);
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
                self.deliver_to_b(&f);
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
    let mut a = Engine::new("a", actor("a"), Role::Initiating, PeerMetadata::default());
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
fn a_document_loaded_after_start_syncs_what_the_server_has_meanwhile() {
    let mut net = Net::new();
    let fx = net
        .a
        .create(id(9), |d| story::create_story(d, &story("Later geladen")))
        .unwrap()
        .1;
    net.apply(false, fx);
    net.connect();
    net.run_until_quiescent();
    let stored = StoredDoc {
        bytes: net.a.document(&id(9)).unwrap().save(),
        server_heads: net.a.server_heads(&id(9)),
    };
    // The device starts again without loading the story (a list index shows it), and the server
    // changes it in the meantime.
    net.disconnect();
    net.a = Engine::new(
        "device-a",
        actor("device-a again"),
        Role::Initiating,
        PeerMetadata::default(),
    );
    let fx = net
        .b
        .change(id(9), |d| story::set_title(d, "Van de server", 5))
        .unwrap()
        .1;
    net.apply(true, fx);
    net.connect();
    // The handshake: `join` to the hub, `peer` back.
    while let Some(f) = net.to_b.pop_front() {
        net.deliver_to_b(&f);
    }
    let peer = net.to_a.pop_front().unwrap();
    let fx = net.a.handle_frame(&peer, net.now).unwrap();
    net.apply(false, fx);
    assert!(net.a.is_connected());
    assert!(net.a.document(&id(9)).is_none());
    // Opened (or named by the changes feed): loaded, and synced at once.
    let fx = net.a.load_and_sync(id(9), &stored).unwrap();
    assert!(!fx.send.is_empty(), "the link is up: its sync starts");
    net.apply(false, fx);
    net.run_until_quiescent();
    assert_eq!(
        Story::read(net.a.document(&id(9)).unwrap()).title,
        "Van de server"
    );
    assert!(net.a.is_confirmed(&id(9)));
    // Loading it again changes nothing.
    assert!(net.a.load_and_sync(id(9), &stored).unwrap().send.is_empty());
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
                refused: None,
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
    let mut a = Engine::new("a", actor("a"), Role::Initiating, PeerMetadata::default());
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

/// A story of `a`'s that the hub already has, and a second one, both confirmed.
fn two_synced_stories(net: &mut Net) {
    for (n, title) in [(10, "Babycafé"), (11, "Taalcafé")] {
        let fx = net
            .a
            .create(id(n), |d| story::create_story(d, &story(title)))
            .unwrap()
            .1;
        net.apply(false, fx);
    }
    net.connect();
    net.run_until_quiescent();
    assert!(net.a.is_confirmed(&id(10)) && net.a.is_confirmed(&id(11)));
}

fn edit(net: &mut Net, n: u8, f: impl FnOnce(&mut Automerge) -> Result<(), story::StoryError>) {
    let fx = net.a.change(id(n), f).unwrap().1;
    net.apply(false, fx);
}

fn refused_events(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| matches!(e, Event::Refused { .. }))
        .collect()
}

#[test]
fn a_refused_document_is_kept_and_marked_while_the_others_keep_syncing() {
    let mut net = Net::refereed();
    two_synced_stories(&mut net);
    // A buggy old app approves its own story and retitles it in one push; another story changes.
    edit(&mut net, 10, |d| {
        story::set_field(d, "review", "approved", 5)
    });
    edit(&mut net, 10, |d| story::set_title(d, "Goedgekeurd?", 6));
    edit(&mut net, 11, |d| {
        story::set_title(d, "Taalcafé in de bieb", 7)
    });
    net.run_until_quiescent();

    assert_eq!(net.refusals, 1);
    assert_eq!(
        refused_events(&net.events_a),
        [&Event::Refused {
            id: id(10),
            code: Refusal::NOT_YOURS.into(),
            message: ownership::Violation::Review.message().into(),
        }]
    );
    // Kept, not purged: still readable, with what the user wrote, and marked.
    assert!(!net.events_a.contains(&Event::Purged { id: id(10) }));
    let kept = Story::read(net.a.document(&id(10)).expect("still on the device"));
    assert_eq!(kept.title, "Goedgekeurd?");
    assert_eq!(
        net.a.refusal(&id(10)).map(|r| r.code.as_str()),
        Some(Refusal::NOT_YOURS)
    );
    assert_eq!(net.a.refused(), vec![id(10)]);
    assert!(!net.a.is_confirmed(&id(10)));
    assert!(net.a.unconfirmed().contains(&id(10)));
    // The hub has none of it.
    let hub = Story::read(net.b.document(&id(10)).unwrap());
    assert_eq!(
        (hub.title.as_str(), hub.review),
        ("Babycafé", Some(story::ReviewState::Draft))
    );
    // The other story went through.
    assert!(net.a.is_confirmed(&id(11)));
    assert_eq!(
        Story::read(net.b.document(&id(11)).unwrap()).title,
        "Taalcafé in de bieb"
    );
}

#[test]
fn undoing_a_refused_change_keeps_the_rest_and_the_server_takes_it() {
    let mut net = Net::refereed();
    two_synced_stories(&mut net);
    edit(&mut net, 10, |d| {
        story::set_field(d, "review", "approved", 5)
    });
    edit(&mut net, 10, |d| story::set_title(d, "Nieuwe titel", 6));
    net.run_until_quiescent();
    assert!(net.a.refusal(&id(10)).is_some());

    let fx = net.a.undo_refused(id(10), 8).unwrap();
    assert!(
        net.a.refusal(&id(10)).is_none(),
        "undone: waiting, no longer refused"
    );
    net.apply(false, fx);
    net.run_until_quiescent();

    assert_eq!(net.refusals, 1, "the undo is taken");
    assert!(net.a.is_confirmed(&id(10)));
    assert!(net.a.refused().is_empty());
    for side in [&net.a, &net.b] {
        let s = Story::read(side.document(&id(10)).unwrap());
        assert_eq!(s.title, "Nieuwe titel", "what else the user wrote stays");
        assert_eq!(s.review, Some(story::ReviewState::Draft));
    }
    assert_eq!(
        net.a.document(&id(10)).unwrap().get_heads(),
        net.b.document(&id(10)).unwrap().get_heads()
    );
    // Nothing refused: undo does nothing.
    assert!(net.a.undo_refused(id(11), 9).unwrap().send.is_empty());
}

#[test]
fn an_undo_goes_back_to_what_both_sides_have_when_the_server_wrote_meanwhile() {
    let mut net = Net::refereed();
    two_synced_stories(&mut net);
    edit(&mut net, 10, |d| {
        story::set_field(d, "review", "approved", 5)
    });
    net.run_until_quiescent();
    assert!(net.a.refusal(&id(10)).is_some());
    // The server's tagger suggests a label. The device holds back, so it learns only the heads.
    let fx = net
        .b
        .change(id(10), |d| {
            story::set_tag(
                d,
                &tag("centering", story::TagState::Suggested, ownership::TAGGER),
            )
        })
        .unwrap()
        .1;
    net.apply(true, fx);
    net.run_until_quiescent();
    let server_heads = net.b.document(&id(10)).unwrap().get_heads();
    assert_eq!(
        net.a.server_heads(&id(10)),
        server_heads
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
    );
    assert!(
        net.a
            .document(&id(10))
            .unwrap()
            .get_change_by_hash(&server_heads[0])
            .is_none()
    );

    let fx = net.a.undo_refused(id(10), 8).unwrap();
    net.apply(false, fx);
    net.run_until_quiescent();
    assert_eq!(net.refusals, 1, "the undo is taken");
    assert!(net.a.is_confirmed(&id(10)));
    for side in [&net.a, &net.b] {
        let s = Story::read(side.document(&id(10)).unwrap());
        assert_eq!(s.review, Some(story::ReviewState::Draft));
        assert_eq!(s.tags.len(), 1, "the server's suggestion stays");
    }
}

#[test]
fn a_new_story_refused_at_its_first_push_stays_and_can_be_undone() {
    let mut net = Net::refereed();
    net.connect();
    net.run_until_quiescent();
    let fx = net
        .a
        .create(id(12), |d| {
            story::create_story(d, &story("Zelf goedgekeurd"))?;
            story::set_field(d, "review", "approved", 2)
        })
        .unwrap()
        .1;
    net.apply(false, fx);
    net.run_until_quiescent();
    assert_eq!(net.refusals, 1);
    assert!(
        net.b
            .document(&id(12))
            .is_none_or(|d| d.get_heads().is_empty()),
        "the hub keeps nothing of it"
    );
    assert!(net.a.document(&id(12)).is_some());
    assert!(net.a.refusal(&id(12)).is_some());

    let fx = net.a.undo_refused(id(12), 3).unwrap();
    net.apply(false, fx);
    net.run_until_quiescent();
    assert!(net.a.is_confirmed(&id(12)));
    let hub = Story::read(net.b.document(&id(12)).unwrap());
    assert_eq!(hub.title, "Zelf goedgekeurd");
    assert_ne!(hub.review, Some(story::ReviewState::Approved));
}

#[test]
fn a_copy_of_a_refused_story_syncs_as_a_new_story_without_owned_fields() {
    let mut net = Net::refereed();
    net.connect();
    let recorder = story::Person {
        role: "professional".into(),
        name: "Nina".into(),
    };
    let fx = net
        .a
        .create(id(13), |d| {
            story::create_story(
                d,
                &NewStory {
                    recorded_by: Some(recorder.clone()),
                    ..story("Met labels")
                },
            )?;
            story::apply_patch(
                d,
                &story::StoryPatch {
                    phase: Some("na-geboorte".into()),
                    ..Default::default()
                },
                2,
            )?;
            story::add_attachment(
                d,
                &story::Attachment {
                    sha256: "ab".repeat(32),
                    mime: "audio/webm".into(),
                    size: 3,
                },
                2,
            )?;
            story::set_tag(d, &tag("voorzorg", story::TagState::Confirmed, "Nina"))
        })
        .unwrap()
        .1;
    net.apply(false, fx);
    net.run_until_quiescent();
    // On the hub: the tagger suggests, a coordinator comments and decides a tag.
    let fx = net
        .b
        .change(id(13), |d| {
            story::set_tag(
                d,
                &tag("centering", story::TagState::Suggested, ownership::TAGGER),
            )?;
            story::set_tag(d, &tag("babycafe", story::TagState::Confirmed, "Coco"))?;
            story::add_comment(
                d,
                &story::Comment {
                    id: "c1".into(),
                    author: "Coco".into(),
                    at: 3,
                    text: "Mooi".into(),
                },
            )
        })
        .unwrap()
        .1;
    net.apply(true, fx);
    net.run_until_quiescent();
    assert!(net.a.is_confirmed(&id(13)));
    // The forged tagger's tag is refused.
    edit(&mut net, 13, |d| {
        story::set_tag(
            d,
            &tag(
                "stevig-ouderschap",
                story::TagState::Confirmed,
                ownership::TAGGER,
            ),
        )
    });
    net.run_until_quiescent();
    assert!(net.a.refusal(&id(13)).is_some());

    let fx = net.a.keep_copy(id(13), id(14), 9).unwrap();
    net.apply(false, fx);
    net.run_until_quiescent();
    assert_eq!(net.refusals, 1, "the copy is taken");
    assert!(net.a.is_confirmed(&id(14)));
    let copy = Story::read(net.b.document(&id(14)).expect("the hub has the copy"));
    assert_eq!(copy.title, "Met labels");
    assert_eq!(copy.body, "De moeders kwamen elke week terug.");
    assert_eq!(copy.recorded_by, Some(recorder));
    assert_eq!(copy.attachments.len(), 1);
    assert_eq!(copy.review, Some(story::ReviewState::Draft));
    assert!(copy.comments.is_empty());
    let codes: Vec<&str> = copy.tags.iter().map(|t| t.code.as_str()).collect();
    assert_eq!(codes, ["voorzorg"], "only the recorder's own choice");
    assert_eq!(
        story::StoryDetails::read(net.b.document(&id(14)).unwrap())
            .phase
            .as_deref(),
        Some("na-geboorte")
    );
    // The original stays, refused, until it is undone.
    assert!(net.a.refusal(&id(13)).is_some());
    assert!(!net.a.is_confirmed(&id(13)));
    assert!(matches!(
        net.a.keep_copy(id(13), id(14), 10),
        Err(EngineError::Exists(_))
    ));
}

#[test]
fn a_server_that_speaks_first_after_a_refusal_causes_no_loop_and_a_reconnect_tries_once_more() {
    let mut net = Net::refereed();
    net.chatty = true;
    two_synced_stories(&mut net);
    // Meanwhile a coordinator comments on the hub.
    let fx = net
        .b
        .change(id(10), |d| {
            story::add_comment(
                d,
                &story::Comment {
                    id: "c1".into(),
                    author: "Coco".into(),
                    at: 3,
                    text: "Vraagje".into(),
                },
            )
        })
        .unwrap()
        .1;
    net.apply(true, fx);
    edit(&mut net, 10, |d| {
        story::set_field(d, "review", "approved", 5)
    });
    net.run_until_quiescent();
    assert_eq!(net.refusals, 1, "refused once, then quiet");
    assert_eq!(refused_events(&net.events_a).len(), 1);
    // What the server sent still arrived.
    let s = Story::read(net.a.document(&id(10)).unwrap());
    assert_eq!(s.comments.len(), 1);

    net.disconnect();
    net.connect();
    net.run_until_quiescent();
    assert_eq!(net.refusals, 2, "a new connection pushes once more");
    assert!(net.a.refusal(&id(10)).is_some());
    assert!(net.a.is_confirmed(&id(11)));
}

#[test]
fn a_refusal_of_a_wanted_document_is_unavailability() {
    let mut net = Net::new();
    net.connect();
    net.run_until_quiescent();
    let fx = net.a.want(id(15));
    net.apply(false, fx);
    let fx = net
        .a
        .handle_message(
            Message::DocUnavailable {
                document_id: id(15),
                sender_id: "hub-b".into(),
                target_id: "device-a".into(),
                refused: Some(Refusal::new(Refusal::INVALID, "kapot")),
            },
            net.now,
        )
        .unwrap();
    assert_eq!(fx.events, vec![Event::Unavailable { id: id(15) }]);
    assert!(net.a.refused().is_empty());
}

fn tag(code: &str, state: story::TagState, by: &str) -> story::Tag {
    story::Tag {
        code: code.into(),
        state,
        by: by.into(),
        at: 3,
        score: None,
        evidence: vec![],
    }
}
