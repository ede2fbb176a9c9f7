//! The URL shortcuts of the hot path against the `url` crate, on any input: `store::endpoint_host`
//! finds the same host as a full parse, and `service::request::split_url` never panics and, on a
//! URL the runtime could hand over (http or https, as the WHATWG serializer writes it), finds the
//! same scheme, authority, path and query.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullgate::service::request::split_url;
use pullgate::store::endpoint_host;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = split_url(&text);
    let host = url::Url::parse(&text)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase()))
        .unwrap_or_default();
    assert_eq!(endpoint_host(&text), host, "{text:?}");
    let Ok(parsed) = url::Url::parse(&text) else { return };
    if !matches!(parsed.scheme(), "http" | "https") {
        return;
    }
    let Some(host) = parsed.host_str() else { return };
    let authority = parsed.port().map_or(host.to_string(), |p| format!("{host}:{p}"));
    let parts = split_url(parsed.as_str()).expect("a serialized http URL splits");
    assert_eq!(parts.scheme, parsed.scheme());
    assert_eq!(parts.authority, authority, "{}", parsed.as_str());
    assert_eq!(parts.path, parsed.path(), "{}", parsed.as_str());
    assert_eq!(parts.query, parsed.query(), "{}", parsed.as_str());
});
