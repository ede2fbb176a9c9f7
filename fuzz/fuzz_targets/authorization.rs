//! `Authorization` headers as clients send them (input: the header value; and, split at the
//! first 0xFF, a username and password). Basic credentials we encode come back as the password.
#![no_main]

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use pullgate::access::{parse_authorization, Credentials};

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data) {
        let _ = parse_authorization(Some(header));
    }
    let f = common::fields(data, 2);
    let (user, password) = (f[0].as_str(), f[1].as_str());
    if !user.contains(':') {
        let basic = format!("Basic {}", B64.encode(format!("{user}:{password}")));
        assert_eq!(parse_authorization(Some(&basic)), Ok(Some(Credentials::License(password.to_owned()))));
    }
    let token = password.trim();
    if !token.is_empty() {
        let bearer = format!("Bearer {token}");
        assert_eq!(parse_authorization(Some(&bearer)), Ok(Some(Credentials::Bearer(token.to_owned()))));
    }
});
