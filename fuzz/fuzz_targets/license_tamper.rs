//! Property: a license changed in any byte never verifies. Signs one with a fixed key, applies
//! the input as edit operations (see `common::mutate`) and asserts verification fails unless
//! the bytes came out unchanged.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::license::{issue, verify, Claims};

fuzz_target!(|ops: &[u8]| {
    let keys = common::keys();
    let Some(signer) = keys.signer() else { return };
    let claims = Claims {
        id: "lic_0123456789abcdef01234567".into(),
        app: "acme".into(),
        customer: "globex".into(),
        issued_at: common::NOW - 86_400,
        expires_at: common::NOW + 86_400,
        images: vec!["acme/*".into()],
    };
    let license = issue(&claims, signer);
    assert_eq!(verify(&license, &keys, common::NOW), Ok(claims));
    let mut bytes = license.clone().into_bytes();
    common::mutate(&mut bytes, ops);
    let Ok(mutated) = String::from_utf8(bytes) else { return };
    // `verify` trims what a terminal or a paste adds around the password.
    if mutated.trim() == license {
        return;
    }
    assert!(verify(&mutated, &keys, common::NOW).is_err(), "accepted {mutated:?}");
});
