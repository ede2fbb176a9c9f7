//! Repository names, tags, digests and references: whatever parses prints back as exactly
//! the input, and that text parses to the same value.
#![no_main]

use std::fmt::Display;
use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use pullgate::reference::{Digest, Name, Reference, Tag};

fn round_trips<T: FromStr + Display + PartialEq + std::fmt::Debug>(input: &str)
where
    T::Err: Display,
{
    if let Ok(value) = input.parse::<T>() {
        let printed = value.to_string();
        assert_eq!(printed, input);
        assert_eq!(printed.parse::<T>().ok(), Some(value));
    } else if let Err(e) = input.parse::<T>() {
        // Messages echo client input; they must stay on one header-safe line.
        let message = e.to_string();
        assert!(!message.contains(['\r', '\n']), "{message:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    round_trips::<Name>(input);
    round_trips::<Tag>(input);
    round_trips::<Digest>(input);
    round_trips::<Reference>(input);
    if let Ok(digest) = input.parse::<Digest>() {
        assert_eq!(digest.hex().len(), digest.algorithm().hex_len());
    }
});
