//! License verification and `peek` on any text typed as a `docker login` password.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::license::{peek, verify, verify_signature};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let keys = common::keys();
    let verified = verify_signature(text, &keys);
    if let Ok(claims) = &verified {
        // A license that verifies is one whose unverified reading says the same.
        assert_eq!(peek(text).map(|(_, c)| c).as_ref(), Some(claims));
    }
    let _ = verify(text, &keys, common::NOW).map_err(|e| e.to_string());
});
