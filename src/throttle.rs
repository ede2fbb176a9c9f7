//! Sign-in abuse limits (security.md T11): which refusals count as failed sign-ins, the keys the
//! Workers rate limiters count them under, and the isolate's memory of who is blocked.
//!
//! The Rate Limiting binding can only count-and-answer, it cannot be asked without counting. So
//! a failure is counted when it happens, and the first "over the limit" answer is remembered in
//! the isolate until the window ends: later failures from that address are answered without
//! asking the limiter. Only a credential that already failed is ever counted or refused here:
//! a valid license is never refused because others behind the same address failed. Both
//! limits are approximate and per location, as the binding is.

use std::collections::HashMap;

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

/// The two Workers Rate Limiting bindings (`[[ratelimits]]` in wrangler.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Failed license sign-ins per client address per window.
    SignInFailures,
    /// Bearer tokens issued per license per window.
    TokenIssuance,
}

impl Limit {
    /// The binding's name in wrangler.toml.
    pub const fn binding(self) -> &'static str {
        match self {
            Limit::SignInFailures => "SIGN_IN_FAILURES",
            Limit::TokenIssuance => "TOKEN_ISSUANCE",
        }
    }
}

/// A counter that counts one hit and answers whether the key is still within its limit.
/// A missing or failing limiter answers yes: paying customers' pulls matter more than an
/// approximate abuse counter.
#[allow(async_fn_in_trait)]
pub trait Limiter {
    async fn within_limit(&self, limit: Limit, key: &str) -> bool;
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
