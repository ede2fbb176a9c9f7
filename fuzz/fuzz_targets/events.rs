//! What pull events read from clients and from the queue (input: split at 0xFF into a
//! `User-Agent`, a client address and a queued message): never a panic, never the full
//! address in the prefix, and every decoded event encodes back to itself.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::events::{client_prefix, Event};
use pullgate::user_agent;

fuzz_target!(|data: &[u8]| {
    let f = common::fields(data, 3);
    let agent = user_agent::parse(&f[0]);
    if let Some(v) = &agent.version {
        assert!(v.len() <= 32 && agent.family != "other");
    }
    if let Some(prefix) = client_prefix(&f[1]) {
        assert!(prefix.ends_with(".0/24") || prefix.ends_with("::/48"), "{prefix}");
    }
    if let Ok(event) = Event::decode(&f[2]) {
        assert_eq!(Event::decode(&event.to_json()), Ok(event.clone()));
        assert_eq!(event.row().len(), pullgate::events::COLUMNS.len());
    }
});
