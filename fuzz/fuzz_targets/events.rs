//! What pull events read from clients, upstreams and the queue (input: split at 0xFF into a
//! `User-Agent`, a client address, a queued message and an upstream's manifest): never a panic,
//! never the full address in the prefix, every decoded event encodes back to itself, and a
//! manifest's noted blob sizes are few, distinct and valid digests.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::blob_sizes;
use pullgate::events::{client_prefix, Event};
use pullgate::reference::Digest;
use pullgate::user_agent;

fuzz_target!(|data: &[u8]| {
    let f = common::fields(data, 4);
    let agent = user_agent::parse(&f[0]);
    if let Some(v) = &agent.version {
        assert!(v.len() <= 32 && agent.family != "other");
    }
    if let Some(prefix) = client_prefix(&f[1]) {
        assert!(prefix.ends_with(".0/24") || prefix.ends_with("::/48"), "{prefix}");
    }
    if let Ok(events) = Event::decode_message(&f[2]) {
        for event in &events {
            assert_eq!(Event::decode(&event.to_json()), Ok(event.clone()));
            assert_eq!(event.row().len(), pullgate::events::COLUMNS.len());
        }
        let packed = pullgate::event_batch::messages(events.iter().map(Event::to_json).collect());
        let back: Vec<Event> = packed.iter().flat_map(|m| Event::decode_message(m).unwrap()).collect();
        assert_eq!(back, events);
    }
    let noted = blob_sizes::of_manifest(f[3].as_bytes());
    assert!(noted.len() <= blob_sizes::MAX_NOTED);
    for (i, b) in noted.iter().enumerate() {
        assert!(b.digest.parse::<Digest>().is_ok() && b.size < 1 << 53, "{b:?}");
        assert!(noted[..i].iter().all(|other| other.digest != b.digest), "{b:?} twice");
    }
});
