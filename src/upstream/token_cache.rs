//! Upstream Bearer tokens: parsing a realm's answer, and the per-isolate cache of tokens and
//! challenges.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Deserialize;

use crate::challenge::Challenge;

/// Lifetime assumed when a token response has no `expires_in` (the token spec's default).
pub const DEFAULT_TOKEN_SECONDS: i64 = 60;

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

/// Parses a token-endpoint answer (`token` or `access_token`, `expires_in`, `issued_at`).
pub fn parse_token_response(json: &[u8], now: i64) -> Option<UpstreamToken> {
    #[derive(Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<i64>,
        issued_at: Option<String>,
    }
    let a: Answer = serde_json::from_slice(json).ok()?;
    let token = a.token.or(a.access_token).filter(|t| !t.is_empty() && t.len() <= 16 * 1024)?;
    if token.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return None;
    }
    let lifetime = a.expires_in.filter(|s| *s > 0).unwrap_or(DEFAULT_TOKEN_SECONDS);
    // issued_at is trusted only when it agrees with our clock; a skewed upstream clock must not
    // make tokens look fresh or stale.
    let issued = a
        .issued_at
        .and_then(|s| crate::time::parse_rfc3339_seconds(&s))
        .filter(|t| (t - now).abs() <= 300)
        .unwrap_or(now);
    Some(UpstreamToken { token, expires_at: issued + lifetime, lifetime })
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
}
