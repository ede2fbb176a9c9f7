//! Deployment settings from the Worker's `[vars]`, parsed once per request from whatever the
//! runtime hands over (a lookup function), so the parsing is tested natively.

use crate::license::DEFAULT_WARNING_DAYS;
use crate::token::MIN_TTL_SECONDS;

/// What `wrangler.toml`'s `[vars]` (or their defaults) say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The Worker's own hostnames, which serve `proxy/<app>/…` names for every app.
    pub default_hosts: Vec<String>,
    /// How long an isolate keeps KV records (`CONFIG_CACHE_SECONDS`, default 30).
    pub cache_seconds: i64,
    /// Bearer token lifetime (`TOKEN_TTL_SECONDS`, default 300, at least 60).
    pub token_ttl: i64,
    /// `ALLOW_INSECURE_UPSTREAMS=true`: plain http and loopback upstreams (local development).
    pub allow_insecure: bool,
    /// `DEBUG_HEADERS=true`: `pullgate-kv-reads` and `pullgate-cache` on responses.
    pub debug_headers: bool,
    /// `ACCESS_LOG` (default on): one JSON line per request.
    pub access_log: bool,
    /// Seconds a streamed blob stays in the Cloudflare cache; 0 turns the cache off.
    pub blob_cache_seconds: i64,
    /// `LICENSE_WARNING_DAYS` (default 14) as seconds: pulls by a license this close to its
    /// expiry carry a `Warning` header; 0 turns the warning off.
    pub license_warning_seconds: i64,
    /// `EVENTS` (default on): pull events to the queue, when its binding exists.
    pub events: bool,
}

impl Settings {
    /// Reads every setting through `var`, which returns a variable's text if it is set.
    pub fn read(var: impl Fn(&str) -> Option<String>) -> Settings {
        let number = |name: &str, default: i64| var(name).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        Settings {
            default_hosts: var("DEFAULT_HOSTS")
                .unwrap_or_default()
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            cache_seconds: number("CONFIG_CACHE_SECONDS", 30).max(0),
            token_ttl: number("TOKEN_TTL_SECONDS", 300).max(MIN_TTL_SECONDS),
            allow_insecure: var("ALLOW_INSECURE_UPSTREAMS").as_deref() == Some("true"),
            debug_headers: var("DEBUG_HEADERS").as_deref() == Some("true"),
            access_log: var("ACCESS_LOG").as_deref() != Some("false"),
            blob_cache_seconds: number("BLOB_CACHE_SECONDS", 86_400).max(0),
            license_warning_seconds: number("LICENSE_WARNING_DAYS", DEFAULT_WARNING_DAYS)
                .clamp(0, 100 * 365)
                .saturating_mul(86_400),
            events: events_on(&var),
        }
    }
}

/// `EVENTS`: on unless it is exactly `false` (the edge also asks before copying event-only
/// request parts).
pub fn events_on(var: &impl Fn(&str) -> Option<String>) -> bool {
    var("EVENTS").as_deref().map(str::trim) != Some("false")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Settings {
        Settings::read(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let s = read(&[]);
        assert_eq!(
            s,
            Settings {
                default_hosts: vec![],
                cache_seconds: 30,
                token_ttl: 300,
                allow_insecure: false,
                debug_headers: false,
                access_log: true,
                blob_cache_seconds: 86_400,
                license_warning_seconds: 14 * 86_400,
                events: true,
            }
        );
    }

    #[test]
    fn values_are_parsed_and_bounded() {
        let s = read(&[
            ("DEFAULT_HOSTS", " Pullgate.Example.workers.dev, ,127.0.0.1 "),
            ("CONFIG_CACHE_SECONDS", "-5"),
            ("TOKEN_TTL_SECONDS", "10"),
            ("ALLOW_INSECURE_UPSTREAMS", "TRUE"),
            ("DEBUG_HEADERS", "true"),
            ("ACCESS_LOG", "false"),
            ("BLOB_CACHE_SECONDS", "not a number"),
            ("LICENSE_WARNING_DAYS", "30"),
            ("EVENTS", "false"),
        ]);
        assert!(!s.events);
        assert_eq!(s.license_warning_seconds, 30 * 86_400);
        assert_eq!(s.default_hosts, vec!["pullgate.example.workers.dev", "127.0.0.1"]);
        assert_eq!(s.cache_seconds, 0);
        assert_eq!(s.token_ttl, MIN_TTL_SECONDS, "a token lives at least a minute");
        assert!(!s.allow_insecure, "only the exact word true allows insecure upstreams");
        assert!(s.debug_headers);
        assert!(!s.access_log);
        assert_eq!(s.blob_cache_seconds, 86_400);
    }
}
