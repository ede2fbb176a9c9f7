//! SigV4 canonicalisation and signing of any request (input, fields separated by 0xFF: method,
//! uri, headers, region, service, access key id, secret, session token, time, flags, body; headers
//! separated by 0xFE, name and value by the first 0xFD). The stages agree with `sign`/`presign`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pullgate::sigv4::{
    canonical_request, presign, sign, signature, string_to_sign, Credentials, Settings, SignableRequest,
    SignatureLocation, SigningParams,
};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(11, |b| *b == 0xFF);
    let mut next = || parts.next().unwrap_or_default();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let (method, uri, headers, region, service) = (text(next()), text(next()), next(), text(next()), text(next()));
    let (access_key_id, secret_access_key, session_token) = (text(next()), text(next()), text(next()));
    let (time, flags, body) = (text(next()), next(), next().to_vec());
    let headers: Vec<(String, String)> = headers
        .split(|b| *b == 0xFE)
        .filter(|h| !h.is_empty())
        .map(|h| {
            let mut name_value = h.splitn(2, |b| *b == 0xFD);
            (text(name_value.next().unwrap_or_default()), text(name_value.next().unwrap_or_default()))
        })
        .collect();
    let flags = flags.first().copied().unwrap_or(0);
    let credentials = Credentials {
        access_key_id,
        secret_access_key,
        session_token: (!session_token.is_empty()).then_some(session_token),
    };
    let params = SigningParams {
        credentials: &credentials,
        region: &region,
        service: &service,
        time_unix: time.trim().parse().unwrap_or(common::NOW),
        settings: Settings {
            normalize_path: flags & 1 != 0,
            double_encode_path: flags & 2 != 0,
            omit_session_token: flags & 4 != 0,
            content_sha256_header: flags & 8 != 0,
            expires_in: u64::from(flags >> 4) * 60_000,
        },
    };
    let req = SignableRequest { method, uri, headers, body };
    for location in [SignatureLocation::Headers, SignatureLocation::Query] {
        let Ok(canonical) = canonical_request(&req, &params, location) else { continue };
        let Ok(to_sign) = string_to_sign(&canonical, &params) else { continue };
        let Ok(sig) = signature(&to_sign, &params) else { continue };
        let signed = match location {
            SignatureLocation::Headers => sign(&req, &params).map(|s| s.signature),
            SignatureLocation::Query => presign(&req, &params).map(|p| p.signature),
        };
        assert_eq!(signed, Ok(sig), "{location:?}");
    }
});
