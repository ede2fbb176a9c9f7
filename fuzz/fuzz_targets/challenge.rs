//! `WWW-Authenticate` parsing of whatever an upstream sends, as one header or as several lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullgate::challenge::{parse, parse_all};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else { return };
    let challenges = parse(header);
    // Every challenge needs at least one byte of scheme.
    assert!(challenges.len() <= header.len());
    for c in &challenges {
        assert!(!c.scheme.is_empty());
        assert!(c.token68.is_none() || c.params.is_empty());
        let _ = c.param("realm");
    }
    let lines = parse_all(header.split('\n'));
    assert!(lines.len() <= header.len());
});
