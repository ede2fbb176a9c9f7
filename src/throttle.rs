//! Sign-in abuse limits (security.md T11): which refusals count as failed sign-ins, the keys the
//! Workers rate limiters count them under, and the isolate's memory of who is blocked.
//!
//! The Rate Limiting binding can only count-and-answer, it cannot be asked without counting. So
//! a failure is counted when it happens, and the first "over the limit" answer is remembered in
//! the isolate until the window ends: later sign-ins from that address are refused before any
//! verification. Both limits are approximate and per location, as the binding is.

use std::collections::HashMap;

use crate::error::{ErrorCode, RegistryError};

/// Seconds in the limiters' window; `wrangler.toml` must declare the same `period`.
pub const WINDOW_SECONDS: i64 = 60;
/// Blocked addresses remembered per isolate; beyond it the oldest block is forgotten (the
/// binding still counts, so an attacker gains one failure per eviction).
const MAX_BLOCKED: usize = 1024;

/// Limiter key for failed sign-ins from one client address; `None` when the runtime gave none.
/// IPv6 clients are counted per /64: one host commonly holds a whole /64, so counting single
/// addresses would give an attacker 2^64 budgets.
pub fn address_key(client_ip: Option<&str>) -> Option<String> {
    match client_ip?.trim().parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => Some(format!("ip:{v4}")),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Some(format!("ip:{v4}")),
            None => {
                let s = v6.segments();
                Some(format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
            }
        },
    }
}

/// Limiter key for bearer tokens issued to one license.
pub fn issuance_key(license_id: &str) -> String {
    format!("license:{license_id}")
}

/// Whether a refusal was the credential's fault: a license that was malformed, forged, expired
/// or revoked. Missing credentials, bad scopes and the platform's own failures are not.
pub fn is_failed_sign_in(e: &RegistryError) -> bool {
    matches!((e.status, e.code), (401, ErrorCode::Unauthorized) | (403, ErrorCode::Denied))
}

/// The answer once an address is over its failure limit. The refusal that tipped it over keeps
/// its reason in the message, so a customer whose license expired still learns why.
pub fn too_many_failures(last_refusal: Option<&RegistryError>, retry_after: i64) -> RegistryError {
    let mut message = format!("too many failed sign-ins from this address; retry in {retry_after} s");
    if let Some(refusal) = last_refusal {
        message.push_str(&format!(" (last refusal: {})", refusal.public_message()));
    }
    RegistryError::new(429, ErrorCode::TooManyRequests, message).with_retry_after(u64::try_from(retry_after).ok())
}

/// The answer once a license has been issued its quota of tokens in this window.
pub fn too_many_tokens(customer: &str, retry_after: i64) -> RegistryError {
    RegistryError::new(
        429,
        ErrorCode::TooManyRequests,
        format!("the license for {customer} requested too many tokens; retry in {retry_after} s"),
    )
    .with_retry_after(u64::try_from(retry_after).ok())
}

/// Seconds until the wall-clock window that contains `now` ends (the binding's windows are
/// aligned to the clock).
pub fn window_remaining(now: i64) -> i64 {
    WINDOW_SECONDS - now.rem_euclid(WINDOW_SECONDS)
}

/// Addresses known to be over their failure limit, with the time their block ends.
#[derive(Default)]
pub struct Blocklist {
    until: HashMap<String, i64>,
}

impl Blocklist {
    /// Seconds the key stays blocked, if it is.
    pub fn blocked_for(&self, key: &str, now: i64) -> Option<i64> {
        self.until.get(key).map(|&until| until - now).filter(|&left| left > 0)
    }

    pub fn block(&mut self, key: String, until: i64, now: i64) {
        self.until.retain(|_, &mut u| u > now);
        if self.until.len() >= MAX_BLOCKED {
            if let Some(oldest) = self.until.iter().min_by_key(|(_, &u)| u).map(|(k, _)| k.clone()) {
                self.until.remove(&oldest);
            }
        }
        self.until.insert(key, until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_keys_take_ip_literals_only() {
        let cases = [
            (Some("203.0.113.7"), Some("ip:203.0.113.7")),
            (Some(" 198.51.100.2 "), Some("ip:198.51.100.2")),
            (Some("2001:DB8::1"), Some("ip:2001:db8:0:0::/64")),
            (Some("2001:db8:0:0:ffff:1:2:3"), Some("ip:2001:db8:0:0::/64")),
            (Some("2001:db8:0:1::1"), Some("ip:2001:db8:0:1::/64")),
            (Some("::ffff:192.0.2.1"), Some("ip:192.0.2.1")),
            (Some(""), None),
            (None, None),
            (Some("evil\r\nx"), None),
            (Some("10.0.0.1, 10.0.0.2"), None),
            (Some("999.1.1.1"), None),
        ];
        for (ip, want) in cases {
            assert_eq!(address_key(ip).as_deref(), want, "{ip:?}");
        }
    }

    #[test]
    fn only_credential_refusals_count_as_failures() {
        let cases = [
            (RegistryError::unauthorized("license signature invalid", None), true),
            (RegistryError::denied("license for acme expired on 2026-10-01"), true),
            (RegistryError::name_unknown("this host is not a registry served here"), false),
            (RegistryError::new(400, ErrorCode::Unsupported, "invalid scope"), false),
            (RegistryError::internal("kv"), false),
            (RegistryError::new(503, ErrorCode::Unavailable, "no key"), false),
        ];
        for (e, want) in cases {
            assert_eq!(is_failed_sign_in(&e), want, "{e:?}");
        }
    }

    #[test]
    fn the_429_keeps_the_reason_and_says_when_to_retry() {
        let e = too_many_failures(Some(&RegistryError::denied("license for acme expired on 2026-10-01")), 42);
        assert_eq!((e.status, e.code, e.retry_after), (429, ErrorCode::TooManyRequests, Some(42)));
        assert!(e.message.contains("retry in 42 s") && e.message.contains("expired on 2026-10-01"), "{}", e.message);
        let hidden = too_many_failures(Some(&RegistryError::internal("kv get license:abc failed")), 1);
        assert!(!hidden.message.contains("license:abc"), "{}", hidden.message);
        let blocked = too_many_failures(None, 7);
        assert_eq!(blocked.message, "too many failed sign-ins from this address; retry in 7 s");
        let e = too_many_tokens("acme", 5);
        assert_eq!((e.status, e.retry_after), (429, Some(5)));
        assert!(e.message.contains("acme"));
    }

    #[test]
    fn windows_end_on_the_minute() {
        for (now, left) in [(0, 60), (59, 1), (60, 60), (1_700_000_030, 10)] {
            assert_eq!(window_remaining(now), left, "{now}");
        }
    }

    #[test]
    fn blocks_expire_and_stay_bounded() {
        let mut list = Blocklist::default();
        list.block("ip:a".into(), 160, 100);
        assert_eq!(list.blocked_for("ip:a", 100), Some(60));
        assert_eq!(list.blocked_for("ip:a", 159), Some(1));
        assert_eq!(list.blocked_for("ip:a", 160), None);
        assert_eq!(list.blocked_for("ip:b", 100), None);
        for i in 0..(MAX_BLOCKED + 10) {
            list.block(format!("ip:{i}"), 1000 + i as i64, 100);
        }
        assert_eq!(list.until.len(), MAX_BLOCKED);
        assert_eq!(list.blocked_for("ip:0", 100), None, "the oldest block was forgotten");
        assert!(list.blocked_for(&format!("ip:{}", MAX_BLOCKED + 9), 100).is_some());
        list.block("ip:new".into(), 2000, 5000);
        assert_eq!(list.until.len(), 1, "expired blocks are dropped on the next insert");
    }
}
