//! Bearer-token verification on any text sent as `Authorization: Bearer <token>`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::token::verify;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let keys = common::keys();
    for now in [common::NOW, i64::MIN, i64::MAX] {
        let _ = verify(text, &keys, now).map_err(|e| e.to_string());
    }
});
