//! Repository patterns (input: pattern and repository, separated by 0xFF). A pattern without
//! `*` matches exactly itself, and `**` matches everything.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::pattern::{matches, validate};

fuzz_target!(|data: &[u8]| {
    let f = common::fields(data, 2);
    let (pattern, repo) = (f[0].as_str(), f[1].as_str());
    let _ = validate(pattern);
    let matched = matches(pattern, repo);
    if !pattern.contains('*') {
        assert_eq!(matched, pattern == repo, "{pattern:?} vs {repo:?}");
    }
    assert!(matches("**", repo));
});
