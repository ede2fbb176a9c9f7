//! Native tests of the webhook rules: topics, URLs, signatures, backoff, payloads, messages.

use super::*;
use crate::events::event_id;

fn event(kind: Kind, method: &str, status: u16) -> Event {
    Event {
        id: event_id([0x11; 16]),
        at: 1_800_000_000,
        kind,
        method: method.into(),
        app: Some("demo".into()),
        customer: Some("globex".into()),
        license: Some("lic_1".into()),
        image: Some("local/demo/hello".into()),
        tag: Some("1.0".into()),
        digest: None,
        media_type: None,
        bytes: None,
        status,
        outcome: crate::access_log::outcome(status).into(),
        error: None,
        reason: None,
        client: Some("203.0.113.0/24".into()),
        country: None,
        colo: None,
        agent: None,
        agent_version: None,
        platform: None,
        blobs: Vec::new(),
    }
}

#[test]
fn events_map_to_the_topics_hooks_subscribe_to() {
    for (kind, method, status, want) in [
        (Kind::Manifest, "GET", 200, Some(Topic::Pull)),
        (Kind::Manifest, "HEAD", 200, None),
        (Kind::Manifest, "GET", 404, None),
        (Kind::Manifest, "GET", 403, Some(Topic::Denied)),
        (Kind::SignIn, "GET", 401, Some(Topic::Denied)),
        (Kind::SignIn, "GET", 200, None),
        (Kind::Blob, "GET", 200, None),
        (Kind::Blob, "GET", 307, None),
        (Kind::Tags, "GET", 401, Some(Topic::Denied)),
        (Kind::Manifest, "GET", 502, None),
        (Kind::Manifest, "GET", 429, None),
    ] {
        assert_eq!(Topic::of(&event(kind, method, status)), want, "{kind:?} {method} {status}");
    }
}

#[test]
fn topic_lists_parse_to_a_canonical_order() {
    for (list, want) in [
        ("pull", "pull"),
        ("denied,pull", "pull,denied"),
        (" license-expiring , pull ,denied", "pull,denied,license-expiring"),
        ("pull,pull,", "pull"),
    ] {
        assert_eq!(parse_topics(list).map(|t| format_topics(&t)), Ok(want.to_string()), "{list:?}");
    }
}

#[test]
fn bad_topic_lists_are_refused() {
    for (list, want) in [
        ("", HookError::NoTopics),
        (" , ", HookError::NoTopics),
        ("pulls", HookError::UnknownTopic("pulls".into())),
        ("pull,test", HookError::UnknownTopic("test".into())),
        ("Pull", HookError::UnknownTopic("Pull".into())),
    ] {
        assert_eq!(parse_topics(list), Err(want), "{list:?}");
    }
}

#[test]
fn stored_lists_say_which_topics_a_hook_wants() {
    for (stored, topic, want) in [
        ("pull,denied", Topic::Pull, true),
        ("pull,denied", Topic::Denied, true),
        ("pull,denied", Topic::LicenseExpiring, false),
        ("denied", Topic::Pull, false),
        ("", Topic::Test, true),
        ("license-expiring", Topic::LicenseExpiring, true),
    ] {
        assert_eq!(wants(stored, topic), want, "{stored:?} {topic:?}");
    }
}

#[test]
fn good_urls_are_accepted() {
    for (url, insecure) in [
        ("https://hooks.example.com/pullgate", false),
        ("https://hooks.example.com:8443/x?y=1", false),
        ("https://203.0.113.9/x", false),
        ("http://127.0.0.1:9000/hook", true),
        ("https://localhost/x", true),
    ] {
        assert!(check_url(url, insecure).is_ok(), "{url} insecure={insecure}");
    }
}

#[test]
fn bad_urls_are_refused() {
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
    for (url, insecure, want) in [
        ("http://hooks.example.com/x", false, HookError::NotHttps),
        ("ftp://hooks.example.com/x", true, HookError::NotHttps),
        ("https://user:pw@hooks.example.com/x", false, HookError::Credentials),
        ("https://127.0.0.1/x", false, HookError::LocalHost),
        ("https://localhost/x", false, HookError::LocalHost),
        ("https://10.0.0.8/x", false, HookError::LocalHost),
        ("https://169.254.169.254/latest", false, HookError::LocalHost),
        ("https://[::1]/x", false, HookError::LocalHost),
        ("https://0x7f.1/x", false, HookError::LocalHost),
        (long.as_str(), false, HookError::TooLong),
    ] {
        assert_eq!(check_url(url, insecure).map(|_| ()), Err(want), "{url}");
    }
    assert!(matches!(check_url("not a url", true), Err(HookError::BadUrl(_))));
}

#[test]
fn signatures_are_hmac_sha256_over_timestamp_dot_body() {
    // Known answer, computed independently: printf '1800000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
    let sig = sign("whsec_test", 1_800_000_000, br#"{"a":1}"#);
    assert_eq!(sig, "sha256=7de5e6bbc99c65ef0ddccacd4308ba03a5a12eb8859a0db070c5ca731c4fdc19");
    assert_eq!(verify("whsec_test", 1_800_000_000, br#"{"a":1}"#, &sig, 1_800_000_100, 300), Ok(()));
}

#[test]
fn signatures_that_do_not_match_are_refused() {
    let body = br#"{"a":1}"#;
    let sig = sign("whsec_test", 1_800_000_000, body);
    for (secret, ts, body, header, now, want) in [
        ("whsec_other", 1_800_000_000, &body[..], sig.as_str(), 1_800_000_000, SignatureError::Mismatch),
        ("whsec_test", 1_800_000_001, &body[..], &sig, 1_800_000_000, SignatureError::Mismatch),
        ("whsec_test", 1_800_000_000, br#"{"a":2}"#, &sig, 1_800_000_000, SignatureError::Mismatch),
        ("whsec_test", 1_800_000_000, &body[..], &sig, 1_800_000_301, SignatureError::Stale),
        ("whsec_test", 1_800_000_000, &body[..], &sig[7..], 1_800_000_000, SignatureError::Malformed),
        ("whsec_test", 1_800_000_000, &body[..], "sha256=abcd", 1_800_000_000, SignatureError::Malformed),
        ("whsec_test", 1_800_000_000, &body[..], "sha256=zz", 1_800_000_000, SignatureError::Malformed),
    ] {
        assert_eq!(verify(secret, ts, body, header, now, 300), Err(want), "{secret} {ts} {header}");
    }
}

#[test]
fn retries_back_off_and_give_up_after_the_last_attempt() {
    let schedule: Vec<Option<u32>> = (0..=MAX_ATTEMPTS + 1).map(|a| backoff(a, None)).collect();
    assert_eq!(
        schedule,
        [None, Some(10), Some(60), Some(300), Some(1800), Some(7200), Some(21_600), Some(43_200), None, None]
    );
    let total: u32 = BACKOFF_SECONDS.iter().sum();
    assert!(total > 20 * 3600 && total < 24 * 3600, "{total}");
    assert_eq!(backoff(3, Some(1)), Some(1));
    assert_eq!(backoff(MAX_ATTEMPTS, Some(1)), None);
    for (var, want) in
        [(None, None), (Some("1"), Some(1)), (Some(" 2 "), Some(2)), (Some("x"), None), (Some("99999"), Some(43_200))]
    {
        assert_eq!(fixed_delay(var), want, "{var:?}");
    }
}

#[test]
fn payloads_carry_the_event_but_no_secret() {
    let e = event(Kind::Manifest, "GET", 200);
    let p = Payload::of_event(Topic::Pull, &e).unwrap();
    let json = p.to_json();
    assert!(
        json.starts_with(&format!(r#"{{"id":"{}","type":"pull","created_at":1800000000,"app":"demo""#, e.id)),
        "{json}"
    );
    assert!(json.contains(r#""customer":"globex""#) && json.contains(r#""license":"lic_1""#), "{json}");
    assert!(!json.contains("203.0.113.7"), "{json}");
    let back: Payload = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    let sized = Event {
        blobs: vec![crate::blob_sizes::BlobSize { digest: format!("sha256:{}", "c".repeat(64)), size: 9 }],
        ..e.clone()
    };
    assert_eq!(Payload::of_event(Topic::Pull, &sized), Some(p), "blob sizes stay out of deliveries");
    assert_eq!(Payload::of_event(Topic::Pull, &Event { app: None, ..e }), None);
}

#[test]
fn expiring_licenses_get_one_stable_id_per_day() {
    let lic = |id: &str| ExpiringLicense { id: id.into(), customer: "globex".into(), expires_at: 1_800_500_000 };
    let a = Payload::expiring("demo", lic("lic_1"), 1_800_000_000);
    let b = Payload::expiring("demo", lic("lic_1"), 1_800_000_000 + 3600);
    let next_day = Payload::expiring("demo", lic("lic_1"), 1_800_000_000 + 86_400);
    let other = Payload::expiring("demo", lic("lic_2"), 1_800_000_000);
    assert!(crate::events::is_event_id(&a.id));
    assert_eq!(a.id, b.id);
    assert_ne!(a.id, next_day.id);
    assert_ne!(a.id, other.id);
    assert!(a.to_json().contains(r#""type":"license-expiring""#));
    for (expires, now, days, want) in [
        (1000 + 86_400, 1000, 14, true),
        (1000 + 14 * 86_400, 1000, 14, true),
        (1001 + 14 * 86_400, 1000, 14, false),
        (1000, 1000, 14, false),
        (999, 1000, 14, false),
        (1000 + 86_400, 1000, 0, false),
    ] {
        assert_eq!(is_expiring(expires, now, days * 86_400), want, "{expires} {now} {days}");
    }
}

#[test]
fn deliveries_survive_the_queue_and_bad_ones_are_refused() {
    let e = event(Kind::SignIn, "GET", 401);
    let d = Delivery::first("wh_0123456789abcdef", &Payload::of_event(Topic::Denied, &e).unwrap());
    assert_eq!((d.attempt, d.id.as_str(), d.topic), (1, e.id.as_str(), Topic::Denied));
    assert_eq!(Delivery::decode(&d.to_json()), Ok(d.clone()));
    let without_attempt = d.to_json().replace(r#","attempt":1"#, "");
    assert_eq!(Delivery::decode(&without_attempt), Ok(d.clone()));
    let (second, delay) = d.retry(None).unwrap();
    assert_eq!((second.attempt, delay, &second.body, &second.id), (2, 10, &d.body, &d.id));
    let last = Delivery { attempt: MAX_ATTEMPTS, ..d.clone() };
    assert_eq!(last.retry(Some(1)), None);
    let bad_hook = Delivery { hook: "wh_x".into(), ..d.clone() }.to_json();
    let bad_id = Delivery { id: "x".into(), ..d.clone() }.to_json();
    assert_eq!(Delivery::decode(&bad_hook), Err(DeliveryError::BadId));
    assert_eq!(Delivery::decode(&bad_id), Err(DeliveryError::BadId));
    assert!(matches!(Delivery::decode("{}"), Err(DeliveryError::NotJson(_))));
    assert!(matches!(Delivery::decode(&"x".repeat(MAX_DELIVERY_BYTES + 1)), Err(DeliveryError::TooLarge(_))));
    for (id, want) in
        [("wh_0123456789abcdef", true), ("wh_0123456789ABCDEF", false), ("wh_012", false), ("0123456789abcdef", false)]
    {
        assert_eq!(is_hook_id(id), want, "{id}");
    }
}
