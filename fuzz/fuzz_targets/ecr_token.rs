//! An ECR `GetAuthorizationToken` JSON answer.
#![no_main]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use pullgate::upstream::parse_ecr_token;

fuzz_target!(|json: &[u8]| {
    if let Some((token, _expires_at)) = parse_ecr_token(json) {
        // It becomes `Authorization: Basic <token>` upstream: it must be base64 of `AWS:...`.
        assert!(B64.decode(&token).is_ok_and(|d| d.starts_with(b"AWS:")));
    }
});
