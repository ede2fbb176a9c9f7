//! Token-realm checks before credentials are sent (input: realm, upstream endpoint, a flags
//! byte and a realm host the vendor listed, separated by 0xFF). A trusted realm is https (http
//! only for local development), has no userinfo and a host.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::upstream::{trusted_realm, Upstream};

fuzz_target!(|data: &[u8]| {
    let f = common::fields(data, 4);
    let flags = f[2].bytes().next().unwrap_or(0);
    let record = common::upstream(&f[1], flags, if f[3].is_empty() { vec![] } else { vec![f[3].clone()] });
    let up = Upstream { app: "acme", record: &record, secret: None, allow_insecure: flags & 2 != 0 };
    let Ok(url) = trusted_realm(&f[0], &up) else { return };
    let insecure_ok = up.allow_insecure && record.insecure;
    assert!(url.scheme() == "https" || (insecure_ok && url.scheme() == "http"), "{url}");
    assert!(url.username().is_empty() && url.password().is_none(), "{url}");
    assert!(url.host_str().is_some_and(|h| !h.is_empty()), "{url}");
});
