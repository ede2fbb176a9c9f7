//! A challenge we build with `challenge::bearer` parses back to its parameters, minus the
//! control and non-ASCII characters `bearer` drops (input: realm, service, scope and error,
//! separated by 0xFF; scope and error are absent when their field is missing).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::challenge::{bearer, parse, Challenge};

fn kept(value: &str) -> String {
    value.chars().filter(|c| c.is_ascii() && !c.is_control()).collect()
}

fuzz_target!(|data: &[u8]| {
    let parts = data.splitn(4, |b| *b == 0xFF).count();
    let f = common::fields(data, 4);
    let scope = (parts >= 3).then_some(f[2].as_str());
    let error = (parts >= 4).then_some(f[3].as_str());
    let header = bearer(&f[0], &f[1], scope, error);
    assert!(!header.contains(['\r', '\n', '\0']), "{header:?}");
    let mut params = vec![("realm".to_owned(), kept(&f[0])), ("service".to_owned(), kept(&f[1]))];
    params.extend(scope.map(|s| ("scope".to_owned(), kept(s))));
    params.extend(error.map(|e| ("error".to_owned(), kept(e))));
    let want = Challenge { scheme: "bearer".to_owned(), params, token68: None };
    assert_eq!(parse(&header), vec![want], "{header:?}");
});
