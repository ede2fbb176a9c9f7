//! Upstream Bearer tokens: parsing a realm's answer, and the per-isolate cache of tokens and
//! challenges.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Deserialize;

use crate::challenge::Challenge;

/// Lifetime assumed when a token response has no `expires_in` (the token spec's default).
pub const DEFAULT_TOKEN_SECONDS: i64 = 60;
/// Longest lifetime believed: a realm claiming more (up to `i64::MAX`) is asked again daily.
pub const MAX_TOKEN_SECONDS: i64 = 86_400;

/// Per-isolate (or per-process) memory of upstream tokens and challenges.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: RefCell<HashMap<String, (String, i64)>>,
    challenges: RefCell<HashMap<String, Challenge>>,
}

/// Tokens are dropped this long before they expire, so none expires mid-request.
pub(super) const TOKEN_SKEW_SECONDS: i64 = 30;
/// Bound on entries, so a long-lived isolate cannot grow without limit.
const MAX_CACHE_ENTRIES: usize = 1024;

impl TokenCache {
    pub(super) fn get(&self, key: &str, now: i64) -> Option<String> {
        let tokens = self.tokens.borrow();
        tokens.get(key).filter(|(_, exp)| now < *exp).map(|(v, _)| v.clone())
    }

    pub(super) fn put(&self, key: String, authorization: String, expires_at: i64) {
        let mut tokens = self.tokens.borrow_mut();
        if tokens.len() >= MAX_CACHE_ENTRIES {
            tokens.clear();
        }
        tokens.insert(key, (authorization, expires_at));
    }

    pub(super) fn forget(&self, key: &str) {
        self.tokens.borrow_mut().remove(key);
    }

    pub(super) fn challenge(&self, upstream_key: &str) -> Option<Challenge> {
        self.challenges.borrow().get(upstream_key).cloned()
    }

    pub(super) fn remember_challenge(&self, upstream_key: String, c: Challenge) {
        let mut challenges = self.challenges.borrow_mut();
        if challenges.len() >= MAX_CACHE_ENTRIES {
            challenges.clear();
        }
        challenges.insert(upstream_key, c);
    }

    /// Number of cached tokens (for tests and the benchmark).
    pub fn len(&self) -> usize {
        self.tokens.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A token from a Bearer realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamToken {
    pub token: String,
    pub expires_at: i64,
    pub lifetime: i64,
}

/// `expires_in` as realms send it: an integer of any size, a float, or a numeric string;
/// anything else counts as absent.
#[derive(Deserialize)]
#[serde(untagged)]
enum Seconds {
    Signed(i64),
    Unsigned(u64),
    Float(f64),
    Text(String),
    Other(serde::de::IgnoredAny),
}

impl Seconds {
    /// Saturating: no value an upstream sends can overflow the arithmetic done with it.
    fn saturated(&self) -> Option<i64> {
        match self {
            Seconds::Signed(s) => Some(*s),
            Seconds::Unsigned(s) => Some(i64::try_from(*s).unwrap_or(i64::MAX)),
            // `as` saturates (and maps NaN, which JSON cannot carry anyway, to 0).
            Seconds::Float(s) => Some(*s as i64),
            Seconds::Text(s) => s.trim().parse().ok(),
            Seconds::Other(_) => None,
        }
    }
}

/// Parses a token-endpoint answer (`token` or `access_token`, `expires_in`, `issued_at`).
/// The lifetime is `expires_in` clamped to 1..=`MAX_TOKEN_SECONDS`, or `DEFAULT_TOKEN_SECONDS`
/// when it is absent, not positive or not a number.
pub fn parse_token_response(json: &[u8], now: i64) -> Option<UpstreamToken> {
    #[derive(Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<Seconds>,
        issued_at: Option<String>,
    }
    let a: Answer = serde_json::from_slice(json).ok()?;
    let token = a.token.or(a.access_token).filter(|t| !t.is_empty() && t.len() <= 16 * 1024)?;
    if token.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return None;
    }
    let lifetime = a
        .expires_in
        .and_then(|s| s.saturated())
        .filter(|s| *s > 0)
        .map_or(DEFAULT_TOKEN_SECONDS, |s| s.min(MAX_TOKEN_SECONDS));
    // issued_at is trusted only when it agrees with our clock; a skewed upstream clock must not
    // make tokens look fresh or stale.
    let issued = a
        .issued_at
        .and_then(|s| crate::time::parse_rfc3339_seconds(&s))
        .filter(|t| t.abs_diff(now) <= 300)
        .unwrap_or(now);
    Some(UpstreamToken { token, expires_at: issued.saturating_add(lifetime), lifetime })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses() {
        let now = 1_795_400_000;
        for (json, want) in [
            (r#"{"token":"a","expires_in":300}"#, Some(("a", now + 300))),
            (r#"{"access_token":"b"}"#, Some(("b", now + 60))),
            (r#"{"token":"c","expires_in":120,"issued_at":"2026-11-23T02:12:20.5Z"}"#, Some(("c", now - 60 + 120))),
            (r#"{"token":"d","expires_in":120,"issued_at":"2020-01-01T00:00:00Z"}"#, Some(("d", now + 120))),
            (r#"{"token":""}"#, None),
            (r#"{"token":"has space"}"#, None),
            (r#"{"other":1}"#, None),
            ("<html>", None),
        ] {
            let got = parse_token_response(json.as_bytes(), now);
            assert_eq!(got.as_ref().map(|t| (t.token.as_str(), t.expires_at)), want, "{json}");
        }
    }

    #[test]
    fn token_lifetimes_are_clamped_whatever_the_realm_sends() {
        let now = 1_800_000_000;
        for (expires_in, lifetime) in [
            ("300", 300),
            ("1.5e2", 150),
            ("\"300\"", 300),
            ("9223372036854775807", MAX_TOKEN_SECONDS),
            ("18446744073709551615", MAX_TOKEN_SECONDS),
            ("1e300", MAX_TOKEN_SECONDS),
            ("-9223372036854775808", DEFAULT_TOKEN_SECONDS),
            ("-1e300", DEFAULT_TOKEN_SECONDS),
            ("-5", DEFAULT_TOKEN_SECONDS),
            ("0", DEFAULT_TOKEN_SECONDS),
            ("0.4", DEFAULT_TOKEN_SECONDS),
            ("\"soon\"", DEFAULT_TOKEN_SECONDS),
            ("\"9223372036854775807\"", MAX_TOKEN_SECONDS),
            ("null", DEFAULT_TOKEN_SECONDS),
            ("[1]", DEFAULT_TOKEN_SECONDS),
            ("{}", DEFAULT_TOKEN_SECONDS),
        ] {
            let json = format!(r#"{{"token":"t","expires_in":{expires_in}}}"#);
            let got = parse_token_response(json.as_bytes(), now).unwrap_or_else(|| panic!("{json}"));
            assert_eq!((got.lifetime, got.expires_at), (lifetime, now + lifetime), "{json}");
        }
    }

    #[test]
    fn issued_at_far_from_our_clock_is_ignored_at_any_distance() {
        for now in [i64::MIN, -1, 0, i64::MAX - 60] {
            let json = br#"{"token":"t","issued_at":"9999-12-31T23:59:59Z"}"#;
            let got = parse_token_response(json, now).unwrap();
            assert_eq!(got.expires_at, now.saturating_add(DEFAULT_TOKEN_SECONDS), "{now}");
        }
    }
}
