//! Upstream `Location` checks (input: request URL, location, upstream endpoint and a flags byte,
//! separated by 0xFF). What passes is an absolute http(s) URL without userinfo or control
//! characters, plain http or loopback only for a local-development upstream.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::upstream::{redirect_target, Upstream};

fuzz_target!(|data: &[u8]| {
    let f = common::fields(data, 4);
    let flags = f[3].bytes().next().unwrap_or(0);
    let record = common::upstream(&f[2], flags, vec![]);
    let up = Upstream { app: "acme", record: &record, secret: None, allow_insecure: flags & 2 != 0 };
    let Ok(target) = redirect_target(&f[0], &f[1], &up) else { return };
    assert!(!target.bytes().any(|b| b.is_ascii_control()), "{target:?}");
    let url = url::Url::parse(&target).unwrap_or_else(|e| panic!("{target:?}: {e}"));
    let insecure_ok = up.allow_insecure && record.insecure;
    assert!(url.scheme() == "https" || (insecure_ok && url.scheme() == "http"), "{target:?}");
    assert!(url.username().is_empty() && url.password().is_none(), "{target:?}");
});
