//! Property: a bearer token changed in any byte never verifies. Signs one with a fixed key,
//! applies the input as edit operations (see `common::mutate`) and asserts verification fails
//! unless the bytes came out unchanged.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::token::{issue, verify, Claims};

fuzz_target!(|ops: &[u8]| {
    let keys = common::keys();
    let Some(signer) = keys.signer() else { return };
    let claims = Claims {
        aud: "images.acme.test".into(),
        app: "acme".into(),
        lic: "lic_1".into(),
        cus: "globex".into(),
        rep: vec!["local/acme/app".into()],
        img: vec![],
        lxp: Some(common::NOW + 86_400),
        push: vec![],
        del: vec![],
        iat: common::NOW,
        nbf: common::NOW,
        exp: common::NOW + 300,
    };
    let token = issue(&claims, signer);
    assert_eq!(verify(&token, &keys, common::NOW), Ok(claims));
    let mut bytes = token.clone().into_bytes();
    common::mutate(&mut bytes, ops);
    let Ok(mutated) = String::from_utf8(bytes) else { return };
    if mutated == token {
        return;
    }
    assert!(verify(&mutated, &keys, common::NOW).is_err(), "accepted {mutated:?}");
});
