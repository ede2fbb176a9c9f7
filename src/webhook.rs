//! Webhooks: which pull events a vendor's hook receives, the JSON it is sent, how a delivery is
//! signed, and how long a failing delivery is retried. The edge's queue consumer does the I/O
//! (`edge/webhooks.rs`); the CLI (`pullgate webhook`) adds hooks and verifies with the same code.
//!
//! A delivery is `POST <url>` with `Content-Type: application/json` and
//!
//! ```text
//! Pullgate-Event-Id:   <event id>             32 lowercase hex digits, the same on every retry
//! Pullgate-Timestamp:  <unix seconds>         when this attempt was signed
//! Pullgate-Signature:  sha256=<hex(HMAC-SHA256(secret, "<timestamp>.<body>"))>
//! ```
//!
//! where `secret` is the UTF-8 bytes of the whole secret `webhook add` printed (`whsec_…`) and
//! `body` is the exact request body bytes. A receiver recomputes the MAC, compares in constant
//! time, refuses timestamps older than a few minutes (replays), and drops an event id it has
//! already seen (a retry after a lost answer).

use serde::{Deserialize, Serialize};

use crate::events::{Event, Kind};
use crate::keys::{hex_decode, hex_encode, hmac_sha256, hmac_sha256_verify};
use crate::upstream::host_kind;

/// Event id header.
pub const ID_HEADER: &str = "pullgate-event-id";
/// Signing-time header.
pub const TIMESTAMP_HEADER: &str = "pullgate-timestamp";
/// Signature header.
pub const SIGNATURE_HEADER: &str = "pullgate-signature";
/// How the secret the CLI prints begins.
pub const SECRET_PREFIX: &str = "whsec_";
/// Attempts per delivery, the first included; then it is given up and counted as failed.
pub const MAX_ATTEMPTS: u32 = 8;
/// Seconds before attempt `n + 1` after attempt `n` failed (index `n - 1`): about 21 hours in all.
pub const BACKOFF_SECONDS: [u32; 7] = [10, 60, 300, 1800, 7200, 21_600, 43_200];
/// Largest delivery message read back from the queue.
pub const MAX_DELIVERY_BYTES: usize = 32 * 1024;
/// Longest hook URL.
pub const MAX_URL_LEN: usize = 2048;

/// What a hook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Topic {
    /// A manifest served to a customer (`GET`, answered 2xx).
    #[serde(rename = "pull")]
    Pull,
    /// A sign-in or pull refused (401/403): expired, revoked, not entitled.
    #[serde(rename = "denied")]
    Denied,
    /// A license within `LICENSE_WARNING_DAYS` of its expiry (the daily cron).
    #[serde(rename = "license-expiring")]
    LicenseExpiring,
    /// `pullgate webhook test`.
    #[serde(rename = "test")]
    Test,
}

impl Topic {
    /// Every topic a hook may name, in `--events` order.
    pub const SUBSCRIBABLE: [Topic; 3] = [Topic::Pull, Topic::Denied, Topic::LicenseExpiring];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Pull => "pull",
            Topic::Denied => "denied",
            Topic::LicenseExpiring => "license-expiring",
            Topic::Test => "test",
        }
    }

    /// The topic of a pull event, if a hook can get it.
    pub fn of(event: &Event) -> Option<Topic> {
        match (event.kind, event.outcome.as_str()) {
            (_, "refused") => Some(Topic::Denied),
            (Kind::Manifest, "ok") if event.method == "GET" => Some(Topic::Pull),
            _ => None,
        }
    }
}

/// Why a `--events` list or a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookError {
    UnknownTopic(String),
    NoTopics,
    BadUrl(String),
    NotHttps,
    Credentials,
    LocalHost,
    TooLong,
}

impl std::fmt::Display for HookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookError::UnknownTopic(v) => write!(f, "unknown event {v:?} (use pull, denied, license-expiring)"),
            HookError::NoTopics => write!(f, "no events named"),
            HookError::BadUrl(v) => write!(f, "not a URL: {v}"),
            HookError::NotHttps => write!(f, "a webhook URL must be https (plain http only for local development)"),
            HookError::Credentials => write!(f, "a webhook URL must not carry a user name or password"),
            HookError::LocalHost => write!(
                f,
                "a webhook URL must name a public host (loopback and private addresses only for local development)"
            ),
            HookError::TooLong => write!(f, "a webhook URL is at most {MAX_URL_LEN} characters"),
        }
    }
}

/// Parses `pull,denied,license-expiring` (any order, spaces allowed) into a canonical list.
pub fn parse_topics(list: &str) -> Result<Vec<Topic>, HookError> {
    let mut topics = Vec::new();
    for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let topic = Topic::SUBSCRIBABLE
            .into_iter()
            .find(|t| t.as_str() == word)
            .ok_or_else(|| HookError::UnknownTopic(word.to_string()))?;
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    if topics.is_empty() {
        return Err(HookError::NoTopics);
    }
    topics.sort_by_key(|t| Topic::SUBSCRIBABLE.iter().position(|s| s == t));
    Ok(topics)
}

/// Prints topics as stored (`pull,denied`).
pub fn format_topics(topics: &[Topic]) -> String {
    topics.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(",")
}

/// Whether a stored topic list (`webhooks.events`) includes `topic`; a test reaches every hook.
pub fn wants(stored: &str, topic: Topic) -> bool {
    topic == Topic::Test || stored.split(',').any(|w| w.trim() == topic.as_str())
}

/// Checks a hook URL: https to a public host, no credentials in it. `insecure` (the
/// `ALLOW_INSECURE_UPSTREAMS` of local development) also allows plain http and local hosts.
pub fn check_url(url: &str, insecure: bool) -> Result<url::Url, HookError> {
    if url.len() > MAX_URL_LEN {
        return Err(HookError::TooLong);
    }
    let parsed = url::Url::parse(url).map_err(|e| HookError::BadUrl(e.to_string()))?;
    match parsed.scheme() {
        "https" => {}
        "http" if insecure => {}
        _ => return Err(HookError::NotHttps),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(HookError::Credentials);
    }
    let host = parsed.host_str().ok_or_else(|| HookError::BadUrl("no host".into()))?;
    if !insecure && host_kind(host).is_local() {
        return Err(HookError::LocalHost);
    }
    Ok(parsed)
}

/// `sha256=<hex>` of `HMAC-SHA256(secret, "<timestamp>.<body>")`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), b".", body]);
    format!("sha256={}", hex_encode(&mac))
}

/// Why a receiver refuses a delivery (`verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Malformed,
    Mismatch,
    Stale,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureError::Malformed => write!(f, "signature is not sha256=<64 hex digits>"),
            SignatureError::Mismatch => write!(f, "signature does not match"),
            SignatureError::Stale => write!(f, "timestamp is outside the tolerance"),
        }
    }
}

/// What a receiver does: checks `header` (constant time) and that `timestamp` is within
/// `tolerance` seconds of `now`.
pub fn verify(
    secret: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
    now: i64,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let hex = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    let tag = hex_decode(hex).filter(|t| t.len() == 32).ok_or(SignatureError::Malformed)?;
    let ts = timestamp.to_string();
    let message = [ts.as_bytes(), b".", body].concat();
    if !hmac_sha256_verify(secret.as_bytes(), &message, &tag) {
        return Err(SignatureError::Mismatch);
    }
    if now.abs_diff(timestamp) > tolerance.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// Seconds to wait after failed attempt `attempt` (1-based) before the next one, or `None`
/// when the delivery is given up. `fixed` (`WEBHOOK_RETRY_SECONDS`, tests) replaces every delay.
pub fn backoff(attempt: u32, fixed: Option<u32>) -> Option<u32> {
    if attempt == 0 || attempt >= MAX_ATTEMPTS {
        return None;
    }
    let index = usize::try_from(attempt - 1).ok()?;
    let delay = BACKOFF_SECONDS.get(index).copied()?;
    Some(fixed.unwrap_or(delay))
}

/// `WEBHOOK_RETRY_SECONDS`: a fixed retry delay (local tests); unset or unreadable in production.
pub fn fixed_delay(var: Option<&str>) -> Option<u32> {
    var.and_then(|v| v.trim().parse::<u32>().ok()).map(|s| s.min(43_200))
}

/// A delivery's JSON body. Names the customer and the license id, never a license, a token,
/// a secret or a full client address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// The event id (the `Pullgate-Event-Id` header).
    pub id: String,
    #[serde(rename = "type")]
    pub topic: Topic,
    /// When it happened, unix seconds.
    pub created_at: i64,
    pub app: String,
    /// The pull event as stored (`pullgate logs --json` shows the same fields); absent for a
    /// license-expiring or test delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    /// A license-expiring delivery's license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<ExpiringLicense>,
}

/// The license a `license-expiring` delivery is about (from its KV record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiringLicense {
    pub id: String,
    pub customer: String,
    pub expires_at: i64,
}

impl Payload {
    /// The body for a pull event a hook wants (`Topic::of`).
    pub fn of_event(topic: Topic, event: &Event) -> Option<Payload> {
        Some(Payload {
            id: event.id.clone(),
            topic,
            created_at: event.at,
            app: event.app.clone()?,
            // The manifest's blob sizes are bookkeeping for the byte counts, not news.
            event: Some(Event { blobs: Vec::new(), ..event.clone() }),
            license: None,
        })
    }

    /// The body for a license within the warning window. Its id is fixed by the license and the
    /// day, so the cron running twice on one day gives the receiver a repeat it can drop.
    pub fn expiring(app: &str, license: ExpiringLicense, now: i64) -> Payload {
        let day = now.div_euclid(86_400);
        let mac = hmac_sha256(b"pullgate license-expiring", &[license.id.as_bytes(), b".", day.to_string().as_bytes()]);
        Payload {
            id: hex_encode(&mac[..16]),
            topic: Topic::LicenseExpiring,
            created_at: now,
            app: app.to_string(),
            event: None,
            license: Some(license),
        }
    }

    pub fn to_json(&self) -> String {
        // Strings and numbers only: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Whether a license expiring at `expires_at` is in the warning window (`LICENSE_WARNING_DAYS`
/// as seconds) at `now`: not yet expired; a `0` window turns warnings off.
pub fn is_expiring(expires_at: i64, now: i64, window_seconds: i64) -> bool {
    window_seconds > 0 && expires_at > now && expires_at - now <= window_seconds
}

/// One queued delivery: which hook, the exact body (kept so every retry sends the same bytes)
/// and which attempt this is. The secret and URL are read from the hook at each attempt, so a
/// removed hook stops its deliveries. A failed attempt is acknowledged and queued again as
/// the next attempt with the backoff as its delay, so the schedule is ours, not the queue's
/// retry count (the platform does not tell a consumer which attempt a message is on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub hook: String,
    pub id: String,
    #[serde(rename = "type")]
    pub topic: Topic,
    pub body: String,
    /// 1 for the first attempt.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
}

fn first_attempt() -> u32 {
    1
}

/// Why a queued message is not a delivery (dropped and logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    TooLarge(usize),
    NotJson(String),
    BadId,
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryError::TooLarge(v) => write!(f, "delivery of {v} bytes is too large"),
            DeliveryError::NotJson(v) => write!(f, "not a delivery's JSON: {v}"),
            DeliveryError::BadId => write!(f, "delivery names a bad hook or event id"),
        }
    }
}

impl Delivery {
    /// The first attempt of delivering `payload` to hook `hook`.
    pub fn first(hook: &str, payload: &Payload) -> Delivery {
        Delivery {
            hook: hook.to_string(),
            id: payload.id.clone(),
            topic: payload.topic,
            body: payload.to_json(),
            attempt: 1,
        }
    }

    /// The next attempt after this one failed, with its delay; `None` once it is given up.
    pub fn retry(&self, fixed: Option<u32>) -> Option<(Delivery, u32)> {
        let delay = backoff(self.attempt, fixed)?;
        Some((Delivery { attempt: self.attempt + 1, ..self.clone() }, delay))
    }

    pub fn to_json(&self) -> String {
        // Strings only: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Result<Delivery, DeliveryError> {
        if text.len() > MAX_DELIVERY_BYTES {
            return Err(DeliveryError::TooLarge(text.len()));
        }
        let d: Delivery = serde_json::from_str(text).map_err(|e| DeliveryError::NotJson(e.to_string()))?;
        if !is_hook_id(&d.hook) || !crate::events::is_event_id(&d.id) {
            return Err(DeliveryError::BadId);
        }
        Ok(d)
    }
}

/// `wh_` and 16 lowercase hex digits.
pub fn is_hook_id(id: &str) -> bool {
    id.strip_prefix("wh_").is_some_and(|h| h.len() == 16 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Binds a hook's sealed secret to its id, so it cannot be moved to another hook.
pub fn seal_context(id: &str) -> String {
    format!("webhook:{id}")
}

/// The hooks of every app (no secrets): what the consumer matches events against.
pub const HOOKS_SQL: &str = "SELECT id, app, events FROM webhooks";
/// One hook's URL and sealed secret (`?1` = id), for a delivery attempt.
pub const HOOK_SQL: &str = "SELECT url, sealed FROM webhooks WHERE id = ?1";
/// A delivered attempt (`?1` id, `?2` unix seconds, `?3` status).
pub const DELIVERED_SQL: &str = "UPDATE webhooks SET last_at = ?2, last_status = ?3, last_error = NULL, \
                                 delivered = delivered + 1 WHERE id = ?1";
/// A failed attempt that will be retried (`?4` what went wrong).
pub const RETRYING_SQL: &str = "UPDATE webhooks SET last_at = ?2, last_status = ?3, last_error = ?4 WHERE id = ?1";
/// A delivery given up after its last attempt.
pub const GAVE_UP_SQL: &str = "UPDATE webhooks SET last_at = ?2, last_status = ?3, last_error = ?4, \
                               failures = failures + 1 WHERE id = ?1";

#[cfg(test)]
mod tests;
