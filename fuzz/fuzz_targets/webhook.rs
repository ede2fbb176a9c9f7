//! What webhooks read (input: split at 0xFF into a queued delivery, a `--events` list, a hook
//! URL and a `Pullgate-Signature` header): never a panic; a decoded delivery encodes back to
//! itself; a URL accepted without the insecure flag is https on a public host; a header
//! verifies only when it is the signature we make.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::webhook::{self, Delivery};

fuzz_target!(|data: &[u8]| {
    let f = common::fields(data, 4);
    if let Ok(d) = Delivery::decode(&f[0]) {
        assert_eq!(Delivery::decode(&d.to_json()), Ok(d.clone()));
        if let Some((next, _)) = d.retry(None) {
            assert_eq!((next.attempt, &next.body), (d.attempt + 1, &d.body));
        }
    }
    if let Ok(topics) = webhook::parse_topics(&f[1]) {
        assert_eq!(webhook::parse_topics(&webhook::format_topics(&topics)), Ok(topics));
    }
    if let Ok(url) = webhook::check_url(&f[2], false) {
        assert_eq!(url.scheme(), "https");
        assert!(!pullgate::upstream::host_kind(url.host_str().unwrap_or("")).is_local(), "{url}");
    }
    let body = f[0].as_bytes();
    let ours = webhook::sign("whsec_fuzz", 1_800_000_000, body);
    let verdict = webhook::verify("whsec_fuzz", 1_800_000_000, body, &f[3], 1_800_000_000, 300);
    if verdict.is_ok() {
        let hex = f[3].trim().strip_prefix("sha256=").unwrap_or_default();
        assert!(hex.eq_ignore_ascii_case(&ours["sha256=".len()..]), "{:?}", f[3]);
    }
    if f[3].trim() == ours {
        assert!(verdict.is_ok());
    }
    assert_eq!(webhook::verify("whsec_fuzz", 1_800_000_000, body, &ours, 1_800_000_000, 300), Ok(()));
});
