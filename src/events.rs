//! Pull events: one record per sign-in, manifest, blob, tag list and referrers request, built by
//! the core once the answer is decided, sent by the edge after the response (Queue), and stored
//! by the queue consumer in D1 (`migrations/`). An event never holds a credential, a token or a
//! full client address: the address is cut to its /24 (IPv4) or /48 (IPv6).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::blob_sizes::BlobSize;

/// What the request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `/v2/token`: a license exchanged for a bearer token (or refused).
    SignIn,
    Manifest,
    Blob,
    Tags,
    Referrers,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SignIn => "sign_in",
            Kind::Manifest => "manifest",
            Kind::Blob => "blob",
            Kind::Tags => "tags",
            Kind::Referrers => "referrers",
        }
    }
}

/// One event, as queued and as stored (one row of `events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// 128 random bits as 32 lowercase hex digits, drawn once at the edge: a redelivered message
    /// carries the same id, so storing it twice is a no-op.
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    pub kind: Kind,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// The license id (never the license).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// The image within the app, `<upstream>/<repo>`, whichever host form the client used; the
    /// name as requested when it did not resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The tag a manifest was asked for: the version, for usage by version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The manifest's or blob's digest (asked for, or answered in `Docker-Content-Digest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Body bytes the edge served; absent when unknown (a redirect, a stream without a length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    pub status: u16,
    /// `access_log::outcome` of the status: `ok`, `refused`, `not_found`, …
    pub outcome: String,
    /// The OCI error code of a refusal or failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its `detail.reason` (`license_expired`, `not_entitled`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The client's network: `a.b.c.0/24` or `x:y:z::/48`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The Cloudflare location (IATA code) that served the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colo: Option<String>,
    /// `user_agent::Agent::family`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// `os/arch` where the client's `User-Agent` names it (`user_agent::Agent::platform`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// An image manifest's config and layer sizes (`blob_sizes`): the consumer keeps them per
    /// app, so a redirected download of one of those blobs is stored with its size. Not a column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<BlobSize>,
}

/// Largest event read back; ours are under 2 KiB, or about 12 KiB with the most blob sizes a
/// manifest's event carries.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Largest queue message read back: a JSON array of events (`event_batch::messages`), within
/// the 128 KB a Cloudflare Queues message may hold.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1000;

/// Why a queued message was not an event (it is dropped and logged, never retried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    TooLarge(usize),
    NotJson(String),
    BadId,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooLarge(n) => write!(f, "event or message of {n} bytes is over its bound"),
            DecodeError::NotJson(e) => write!(f, "event is not an event's JSON: {e}"),
            DecodeError::BadId => write!(f, "event id is not 32 lowercase hex digits"),
        }
    }
}

impl Event {
    /// One JSON object (the queue message).
    pub fn to_json(&self) -> String {
        // Strings and numbers only: serializing cannot fail; an empty message is dropped later.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a queued message back.
    pub fn decode(text: &str) -> Result<Event, DecodeError> {
        if text.len() > MAX_EVENT_BYTES {
            return Err(DecodeError::TooLarge(text.len()));
        }
        let event: Event = serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
        if !is_event_id(&event.id) {
            return Err(DecodeError::BadId);
        }
        Ok(event)
    }

    /// Reads a queue message back: a JSON array of events (what the edge sends), or one event
    /// (what it sent before it packed them, still queued across an upgrade).
    pub fn decode_message(text: &str) -> Result<Vec<Event>, DecodeError> {
        if !text.trim_start().starts_with('[') {
            return Event::decode(text).map(|event| vec![event]);
        }
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError::TooLarge(text.len()));
        }
        let events: Vec<Event> = serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
        if events.is_empty() {
            return Err(DecodeError::NotJson("an empty list".into()));
        }
        if !events.iter().all(|event| is_event_id(&event.id)) {
            return Err(DecodeError::BadId);
        }
        Ok(events)
    }

    /// The row's values in `COLUMNS` order, for a bound `INSERT`.
    pub fn row(&self) -> [Param<'_>; COLUMNS.len()] {
        fn text(v: &Option<String>) -> Param<'_> {
            v.as_deref().map_or(Param::Null, Param::Text)
        }
        [
            Param::Text(&self.id),
            Param::Int(self.at),
            Param::Text(self.kind.as_str()),
            Param::Text(&self.method),
            text(&self.app),
            text(&self.customer),
            text(&self.license),
            text(&self.image),
            text(&self.tag),
            text(&self.digest),
            text(&self.media_type),
            self.bytes.map_or(Param::Null, |b| Param::Int(i64::try_from(b).unwrap_or(i64::MAX))),
            Param::Int(i64::from(self.status)),
            Param::Text(&self.outcome),
            text(&self.error),
            text(&self.reason),
            text(&self.client),
            text(&self.country),
            text(&self.colo),
            text(&self.agent),
            text(&self.agent_version),
            text(&self.platform),
        ]
    }
}

/// A value bound to a `?` placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param<'a> {
    Text(&'a str),
    Int(i64),
    Null,
}

/// The `events` table's columns, in `Event::row` order (migrations/0001_events.sql, 0003).
pub const COLUMNS: [&str; 22] = [
    "id",
    "at",
    "kind",
    "method",
    "app",
    "customer",
    "license",
    "image",
    "tag",
    "digest",
    "media_type",
    "bytes",
    "status",
    "outcome",
    "error",
    "reason",
    "client",
    "country",
    "colo",
    "agent",
    "agent_version",
    "platform",
];

/// `INSERT OR IGNORE` on the event id: a redelivered event changes nothing, and the daily
/// aggregates (an `AFTER INSERT` trigger) move only for rows really inserted. A redirected
/// blob's unknown bytes are taken from `blob_sizes`, as its image's manifest stated them.
pub fn insert_sql() -> String {
    let at = |name: &str| COLUMNS.iter().position(|c| *c == name).map_or(0, |i| i + 1);
    let values: Vec<String> = (1..=COLUMNS.len())
        .map(|i| match i {
            _ if i == at("bytes") => format!(
                "COALESCE(?{i}, (SELECT size FROM blob_sizes WHERE ?{kind} = 'blob' AND ?{outcome} = 'redirected' \
                 AND app = ?{app} AND digest = ?{digest}))",
                kind = at("kind"),
                outcome = at("outcome"),
                app = at("app"),
                digest = at("digest"),
            ),
            _ => format!("?{i}"),
        })
        .collect();
    format!("INSERT OR IGNORE INTO events ({}) VALUES ({})", COLUMNS.join(", "), values.join(", "))
}

/// Notes a blob's size for an app (`?1` app, `?2` digest, `?3` size, `?4` unix seconds). A
/// known blob's row is rewritten at most once a day, only to keep it from the retention.
pub const BLOB_SIZE_SQL: &str = "INSERT INTO blob_sizes (app, digest, size, seen_at) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (app, digest) DO UPDATE SET seen_at = excluded.seen_at \
     WHERE excluded.seen_at > blob_sizes.seen_at + 86400";

impl Event {
    /// The `BLOB_SIZE_SQL` rows this event's manifest states: none without an app.
    pub fn blob_size_rows(&self) -> Vec<[Param<'_>; 4]> {
        let Some(app) = self.app.as_deref() else { return Vec::new() };
        self.blobs
            .iter()
            .map(|b| {
                let size = i64::try_from(b.size).unwrap_or(i64::MAX);
                [Param::Text(app), Param::Text(&b.digest), Param::Int(size), Param::Int(self.at)]
            })
            .collect()
    }
}

/// Deletes raw events older than the cutoff (`?1`, unix seconds); daily aggregates stay.
pub const RETENTION_SQL: &str = "DELETE FROM events WHERE at < ?1";
/// Forgets blob sizes no manifest stated since the cutoff (`?1`).
pub const BLOB_SIZES_RETENTION_SQL: &str = "DELETE FROM blob_sizes WHERE seen_at < ?1";

/// Default days raw events are kept (`RETENTION_DAYS`).
pub const DEFAULT_RETENTION_DAYS: i64 = 90;

/// `RETENTION_DAYS` as seconds: the default when unset or unreadable, at least a day.
pub fn retention_seconds(var: Option<&str>) -> i64 {
    let days = var.and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(DEFAULT_RETENTION_DAYS);
    days.clamp(1, 100 * 365) * 86_400
}

/// 32 lowercase hex digits.
pub fn is_event_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An event id from 16 random bytes.
pub fn event_id(bytes: [u8; 16]) -> String {
    crate::keys::hex_encode(&bytes)
}

/// The `counter`th 16 random-looking bytes of an isolate seeded once from the runtime's CSPRNG:
/// HMAC-SHA-256 is a PRF, so ids stay unpredictable and, by the counter, never repeat within
/// the isolate, for one call to `crypto.getRandomValues` per isolate instead of one per event.
pub fn id_bytes(seed: &[u8; 32], counter: u64) -> [u8; 16] {
    let mac = crate::keys::hmac_sha256(seed, &[b"pullgate event id", &counter.to_le_bytes()]);
    let mut out = [0u8; 16];
    out.copy_from_slice(&mac[..16]);
    out
}

/// The client's network, never its address: `a.b.c.0/24`, or `x:y:z::/48` (an IPv4-mapped
/// IPv6 address counts as IPv4). `None` for anything that is not an address.
pub fn client_prefix(address: &str) -> Option<String> {
    let v4 = |a: std::net::Ipv4Addr| {
        let [a, b, c, _] = a.octets();
        format!("{a}.{b}.{c}.0/24")
    };
    match address.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(v4(a)),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(mapped) => Some(v4(mapped)),
            None => {
                let [s0, s1, s2, ..] = a.segments();
                Some(format!("{s0:x}:{s1:x}:{s2:x}::/48"))
            }
        },
    }
}

/// A runtime-given place name (country code, Cloudflare location): short and plain, or nothing.
pub fn place(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty() && v.len() <= 8 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A request's country and Cloudflare location: from the `CF-IPCountry` and `CF-Ray` headers
/// Cloudflare adds (a ray id ends in `-` and the location's code), else from the `cf` object's
/// `country` and `colo` (read by the edge only when a header is missing). Unchecked: the event
/// keeps only what `place` accepts.
pub fn request_place(
    ipcountry: Option<String>,
    ray: Option<String>,
    cf_country: Option<String>,
    cf_colo: Option<String>,
) -> (Option<String>, Option<String>) {
    let colo = ray.and_then(|ray| Some(ray.rsplit_once('-')?.1.to_string()));
    (ipcountry.or(cf_country), colo.or(cf_colo))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            id: event_id([0xab; 16]),
            at: 1_800_000_000,
            kind: Kind::Manifest,
            method: "GET".into(),
            app: Some("demo".into()),
            customer: Some("Globex \"Corp\"".into()),
            license: Some("lic_1".into()),
            image: Some("local/demo/hello".into()),
            tag: Some("1.0".into()),
            digest: Some(format!("sha256:{}", "a".repeat(64))),
            media_type: Some("application/vnd.oci.image.index.v1+json".into()),
            bytes: Some(512),
            status: 200,
            outcome: "ok".into(),
            error: None,
            reason: None,
            client: Some("203.0.113.0/24".into()),
            country: Some("DE".into()),
            colo: Some("FRA".into()),
            agent: Some("skopeo".into()),
            agent_version: Some("1.16.1".into()),
            platform: Some("linux/amd64".into()),
            blobs: Vec::new(),
        }
    }

    #[test]
    fn addresses_are_cut_to_their_network() {
        for (address, want) in [
            ("203.0.113.77", Some("203.0.113.0/24")),
            (" 10.1.2.3 ", Some("10.1.2.0/24")),
            ("2001:db8:1234:5678::1", Some("2001:db8:1234::/48")),
            ("2001:db8::1", Some("2001:db8:0::/48")),
            ("::ffff:198.51.100.9", Some("198.51.100.0/24")),
            ("::1", Some("0:0:0::/48")),
            ("", None),
            ("not an address", None),
            ("203.0.113.77:443", None),
            ("1.2.3.4.5", None),
        ] {
            assert_eq!(client_prefix(address).as_deref(), want, "{address:?}");
        }
    }

    #[test]
    fn events_survive_the_queue_unchanged() {
        let e = event();
        let json = e.to_json();
        assert!(!json.contains('\n'));
        assert_eq!(Event::decode(&json), Ok(e.clone()));
        let bare = Event { app: None, customer: None, tag: None, bytes: None, ..e };
        let json = bare.to_json();
        assert!(!json.contains("\"customer\"") && !json.contains("\"bytes\""), "{json}");
        assert_eq!(Event::decode(&json), Ok(bare));
    }

    #[test]
    fn bad_messages_are_refused() {
        let good = event().to_json();
        let cases = [
            ("", "not"),
            ("[]", "not"),
            ("{\"id\":\"x\"}", "not"),
            (&*good.replace(&"ab".repeat(16), "AB".repeat(16).as_str()), "bad id"),
            (&*good.replace(&"ab".repeat(16), "ab"), "bad id"),
            (&*good.replace("\"manifest\"", "\"push\""), "not"),
        ];
        for (text, want) in cases {
            let got = Event::decode(text).unwrap_err();
            match want {
                "bad id" => assert_eq!(got, DecodeError::BadId, "{text}"),
                _ => assert!(matches!(got, DecodeError::NotJson(_)), "{text}: {got:?}"),
            }
        }
        let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_EVENT_BYTES));
        assert!(matches!(Event::decode(&huge), Err(DecodeError::TooLarge(_))));
    }

    #[test]
    fn a_message_holds_a_list_of_events_or_one() {
        let (a, mut b) = (event(), event());
        b.id = event_id([0xcd; 16]);
        b.customer = Some("Initech".into());
        let list = format!("[{},{}]", a.to_json(), b.to_json());
        assert_eq!(Event::decode_message(&list), Ok(vec![a.clone(), b.clone()]));
        assert_eq!(Event::decode_message(&a.to_json()), Ok(vec![a.clone()]), "one event, as sent before");
        let bad_id = format!("[{},{}]", a.to_json(), b.to_json().replace(&"cd".repeat(16), "cd"));
        assert_eq!(Event::decode_message(&bad_id), Err(DecodeError::BadId));
        for text in ["[]", "[{}]", "[1]", &format!("[{}", a.to_json()), ""] {
            assert!(matches!(Event::decode_message(text), Err(DecodeError::NotJson(_))), "{text}");
        }
        let huge = format!("[{}]", vec![a.to_json(); MAX_MESSAGE_BYTES / a.to_json().len() + 1].join(","));
        assert!(matches!(Event::decode_message(&huge), Err(DecodeError::TooLarge(_))));
    }

    #[test]
    fn rows_bind_every_column_in_order() {
        let e = event();
        let row = e.row();
        assert_eq!(row.len(), COLUMNS.len());
        let at = |name: &str| row[COLUMNS.iter().position(|c| *c == name).unwrap()];
        assert_eq!(at("id"), Param::Text(&e.id));
        assert_eq!(at("kind"), Param::Text("manifest"));
        assert_eq!(at("customer"), Param::Text("Globex \"Corp\""));
        assert_eq!(at("bytes"), Param::Int(512));
        assert_eq!(at("status"), Param::Int(200));
        assert_eq!(at("error"), Param::Null);
        assert_eq!(at("agent_version"), Param::Text("1.16.1"));
        assert_eq!(at("platform"), Param::Text("linux/amd64"));
        let sql = insert_sql();
        assert!(sql.starts_with("INSERT OR IGNORE INTO events (id, at, kind, "), "{sql}");
        assert!(sql.ends_with("?21, ?22)"), "{sql}");
        // bytes (?12) falls back to the stated size of a redirected blob of the same app.
        assert!(sql.contains("?11, COALESCE(?12, (SELECT size FROM blob_sizes WHERE ?3 = 'blob' AND ?14 = 'redirected' AND app = ?5 AND digest = ?10)), ?13, "), "{sql}");
    }

    #[test]
    fn a_manifests_blob_sizes_travel_with_its_event_and_bind_per_app() {
        let blobs = vec![
            BlobSize { digest: format!("sha256:{}", "c".repeat(64)), size: 1469 },
            BlobSize { digest: format!("sha256:{}", "d".repeat(64)), size: 3_145_728 },
        ];
        let e = Event { blobs: blobs.clone(), ..event() };
        let json = e.to_json();
        assert!(json.contains("\"blobs\":[{\"digest\":\"sha256:ccc"), "{json}");
        assert_eq!(Event::decode(&json), Ok(e.clone()));
        assert_eq!(
            e.blob_size_rows(),
            vec![
                [Param::Text("demo"), Param::Text(&blobs[0].digest), Param::Int(1469), Param::Int(1_800_000_000)],
                [Param::Text("demo"), Param::Text(&blobs[1].digest), Param::Int(3_145_728), Param::Int(1_800_000_000)],
            ]
        );
        assert!(Event { app: None, ..e }.blob_size_rows().is_empty(), "sizes are kept per app");
        assert!(!event().to_json().contains("blobs"), "no sizes, no field");
    }

    #[test]
    fn ids_are_32_hex_digits() {
        assert_eq!(event_id([0; 16]), "0".repeat(32));
        assert_eq!(event_id([0xff; 16]), "f".repeat(32));
        assert!(is_event_id(&event_id([0x5a; 16])));
        for bad in ["", "abc", &"g".repeat(32), &"A".repeat(32), &"a".repeat(33)] {
            assert!(!is_event_id(bad), "{bad}");
        }
    }

    #[test]
    fn ids_from_a_seed_are_distinct_per_counter_and_per_seed() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let ids: std::collections::HashSet<[u8; 16]> = (0..10_000).map(|n| id_bytes(&a, n)).collect();
        assert_eq!(ids.len(), 10_000);
        assert_eq!(id_bytes(&a, 7), id_bytes(&a, 7));
        assert_ne!(id_bytes(&a, 7), id_bytes(&b, 7));
        assert!(is_event_id(&event_id(id_bytes(&a, 0))));
    }

    #[test]
    fn retention_defaults_to_ninety_days_and_is_at_least_one() {
        for (var, days) in [(None, 90), (Some("30"), 30), (Some(" 7 "), 7), (Some("0"), 1), (Some("x"), 90)] {
            assert_eq!(retention_seconds(var), days * 86_400, "{var:?}");
        }
    }

    #[test]
    fn places_are_short_plain_codes() {
        for (value, want) in [
            (Some("DE"), Some("DE")),
            (Some("FRA"), Some("FRA")),
            (Some(""), None),
            (Some("T1"), Some("T1")),
            (Some("DE;x"), None),
            (Some("ABCDEFGHI"), None),
            (None, None),
        ] {
            assert_eq!(place(value.map(str::to_string)).as_deref(), want, "{value:?}");
        }
    }

    #[test]
    fn the_place_comes_from_cloudflares_headers_before_the_cf_object() {
        let some = |v: &str| Some(v.to_string());
        for (ipcountry, ray, cf_country, cf_colo, want) in [
            (some("DE"), some("8f1e2d3c4b5a6978-FRA"), None, None, (some("DE"), some("FRA"))),
            // The headers win over the cf object (which the edge does not read then).
            (some("DE"), some("8f1e2d3c4b5a6978-FRA"), some("US"), some("SJC"), (some("DE"), some("FRA"))),
            (None, None, some("US"), some("SJC"), (some("US"), some("SJC"))),
            // IP geolocation off: no CF-IPCountry, the ray still names the location.
            (None, some("8f1e2d3c4b5a6978-LHR"), some("GB"), None, (some("GB"), some("LHR"))),
            // A ray id without a location: the cf object's, where the edge read it.
            (some("GB"), some("8f1e2d3c4b5a6978"), None, some("LHR"), (some("GB"), some("LHR"))),
            (None, None, None, None, (None, None)),
        ] {
            assert_eq!(
                request_place(ipcountry.clone(), ray.clone(), cf_country, cf_colo),
                want,
                "{ipcountry:?} {ray:?}"
            );
        }
    }

    #[test]
    fn a_queue_message_is_one_line_whatever_its_fields_hold() {
        let mut e = event();
        e.customer = Some("line one\nline two\r\u{2028}".into());
        e.agent = Some("x\ny".into());
        let json = e.to_json();
        assert!(!json.contains('\n') && !json.contains('\r'), "{json}");
        assert_eq!(Event::decode(&json).unwrap().customer, e.customer);
    }
}
