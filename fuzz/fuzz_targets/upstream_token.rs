//! An upstream token endpoint's JSON answer (`token`/`access_token`, `expires_in`, `issued_at`).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::upstream::parse_token_response;

fuzz_target!(|json: &[u8]| {
    if let Some(token) = parse_token_response(json, common::NOW) {
        assert!(!token.token.is_empty());
        assert!(token.lifetime > 0);
        assert!(!token.token.bytes().any(|b| b.is_ascii_control() || b == b' '));
    }
});
