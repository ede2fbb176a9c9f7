//! The signed envelope under licenses and bearer tokens (input: prefix, kid and token or
//! payload, separated by 0xFF). Any token is opened with a fixed key; and a payload sealed
//! under a well-formed prefix and kid opens back to itself.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::envelope::{key_id, open, seal, EnvelopeError};
use serde_json::Value;

const KEY: &[u8] = b"fuzz-envelope-key";

fuzz_target!(|data: &[u8]| {
    let f = common::fields(data, 3);
    let (prefix, kid, text) = (f[0].as_str(), f[1].as_str(), f[2].as_str());
    let _ = key_id(prefix, text);
    let _ = open::<Value>(prefix, text, KEY);

    let claims = Value::String(text.to_owned());
    let token = seal(prefix, kid, KEY, &claims);
    let well_formed = !prefix.contains('.')
        && !kid.is_empty()
        && kid.len() <= 64
        && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed && token.len() <= pullgate::envelope::MAX_TOKEN_LEN {
        assert_eq!(key_id(prefix, &token), Ok(kid));
        assert_eq!(open::<Value>(prefix, &token, KEY), Ok(claims));
        assert_eq!(open::<Value>(prefix, &token, b"another key"), Err(EnvelopeError::BadSignature));
    } else {
        assert_eq!(open::<Value>(prefix, &token, KEY), Err(EnvelopeError::Malformed));
    }
});
