//! Token-request scopes: one scope per input and the whole input as newline-separated `scope=`
//! values. A parsed scope prints as text that parses back to the same scope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullgate::scope::{parse_all, Scope, MAX_SCOPES};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    if let Ok(scope) = Scope::parse(input) {
        let printed = scope.to_string();
        assert_eq!(Scope::parse(&printed), Ok(scope), "{input:?} printed as {printed:?}");
    }
    if let Ok(scopes) = parse_all(input.split('\n')) {
        assert!(scopes.len() <= MAX_SCOPES);
    }
});
