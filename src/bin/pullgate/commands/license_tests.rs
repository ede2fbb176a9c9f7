//! Tests of license issue, revoke and inspect against the in-memory store.

use pullgate::keys::{KeysetRecord, RootSecret, SigningKeys};

use super::*;
use crate::commands::test_support::{ctx, put_app, snapshot, with_root, ROOT_HEX};

fn ready() -> Ctx {
    with_root();
    let ctx = ctx();
    put_app(&ctx, "acme");
    crate::commands::run(&ctx, crate::cli::Command::Key(crate::cli::KeyCommand::Init { root_secret_out: None }))
        .unwrap();
    ctx
}

fn only_license(ctx: &Ctx) -> LicenseRecord {
    let map = snapshot(ctx);
    let (_, v) = map.iter().find(|(k, _)| k.starts_with("license:")).expect("a license record");
    serde_json::from_str(v).unwrap()
}

#[test]
fn issue_records_a_license_that_verifies() {
    let ctx = ready();
    issue(&ctx, "acme", "Globex Corp", "30d", &["acme/*".into()]).unwrap();
    let record = only_license(&ctx);
    assert!(validate::license_id(&record.id).is_ok());
    assert_eq!((record.customer.as_str(), record.expires_at), ("Globex Corp", ctx.now + 30 * 86_400));
    assert_eq!(record.images, ["acme/*"]);
    // Re-create the license from the record's claims with the stored keys: same signer.
    let keyset: KeysetRecord = serde_json::from_str(&snapshot(&ctx)["keys"]).unwrap();
    let keys = SigningKeys::open(&RootSecret::parse(ROOT_HEX).unwrap(), &keyset).unwrap();
    assert_eq!(keys.signer().unwrap().kid, record.kid);
}

#[test]
fn bad_input_writes_nothing() {
    let ctx = ready();
    let before = snapshot(&ctx);
    for (app, customer, expires, images) in [
        ("nope", "c", "30d", vec![]),
        ("BAD", "c", "30d", vec![]),
        ("acme", "", "30d", vec![]),
        ("acme", "c", "yesterday", vec![]),
        ("acme", "c", "2001-01-01", vec![]),
        ("acme", "c", "30d", vec!["Bad Pattern".to_string()]),
    ] {
        assert!(issue(&ctx, app, customer, expires, &images).is_err(), "{app} {customer} {expires}");
    }
    assert!(revoke(&ctx, "lic_000000000000000000000000", None, false).is_err());
    assert!(revoke(&ctx, "not-an-id", None, true).is_err());
    assert!(show(&ctx, "lic_000000000000000000000000", false).is_err());
    assert_eq!(snapshot(&ctx), before);
}

#[test]
fn revoke_is_recorded_once() {
    let ctx = ready();
    issue(&ctx, "acme", "Globex", "30d", &[]).unwrap();
    let id = only_license(&ctx).id;
    revoke(&ctx, &id, Some("contract ended"), false).unwrap();
    let map = snapshot(&ctx);
    let r: RevocationRecord = serde_json::from_str(&map[&store::revocation_key(&id)]).unwrap();
    assert_eq!(r.reason.as_deref(), Some("contract ended"));
    revoke(&ctx, &id, None, false).unwrap();
    assert_eq!(snapshot(&ctx), map, "a second revoke changes nothing");
    show(&ctx, &id, false).unwrap();
    list(&ctx, Some("acme"), None, None).unwrap();
}

#[test]
fn inspect_checks_signature_expiry_and_revocation() {
    let ctx = ready();
    let keyset: KeysetRecord = serde_json::from_str(&snapshot(&ctx)["keys"]).unwrap();
    let keys = SigningKeys::open(&RootSecret::parse(ROOT_HEX).unwrap(), &keyset).unwrap();
    let claims = |id: &str, expires_at: i64| Claims {
        id: id.into(),
        app: "acme".into(),
        customer: "Globex".into(),
        issued_at: ctx.now,
        expires_at,
        images: vec![],
    };
    // inspect reads KV only when a backend is configured; the test context has one.
    let good = lic::issue(&claims("lic_000000000000000000000001", ctx.now + 100), keys.signer().unwrap());
    inspect(&ctx, &good).unwrap();
    let expired = lic::issue(&claims("lic_000000000000000000000002", ctx.now - 1), keys.signer().unwrap());
    assert!(inspect(&ctx, &expired).unwrap_err().message.contains("expired"));
    let mut forged = good.clone();
    forged.pop();
    forged.push(if good.ends_with('A') { 'B' } else { 'A' });
    assert!(inspect(&ctx, &forged).unwrap_err().message.contains("bad signature"));
    ctx.kv()
        .unwrap()
        .put_many(&[(
            store::revocation_key("lic_000000000000000000000001"),
            kv::encode(&RevocationRecord {
                v: 1,
                id: "lic_000000000000000000000001".into(),
                revoked_at: 0,
                reason: None,
            })
            .unwrap(),
        )])
        .unwrap();
    assert!(inspect(&ctx, &good).unwrap_err().message.contains("revoked"));
    assert_eq!(inspect(&ctx, "garbage").unwrap_err().exit, Exit::Usage);
}

#[test]
fn json_views_are_flat() {
    let record = LicenseRecord {
        v: 1,
        id: "lic_0123456789abcdef01234567".into(),
        app: "acme".into(),
        customer: "globex".into(),
        issued_at: 0,
        expires_at: 86_400,
        images: vec![],
        kid: "k1".into(),
        sealed: None,
        renews: None,
    };
    let v = serde_json::to_value(LicenseView::new(&record, None, 10)).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for key in ["id", "app", "customer", "issued_at", "expires_at", "images", "kid", "status"] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert!(!keys.contains(&"claims"));
    assert_eq!(v["status"], "active");
}

#[test]
fn the_license_text_is_kept_sealed_and_revealed_again() {
    let ctx = ready();
    issue(&ctx, "acme", "Globex", "30d", &[]).unwrap();
    let record = only_license(&ctx);
    let stored = &snapshot(&ctx)[&store::license_key(&record.id)];
    let text = reveal(&record).unwrap();
    assert!(text.starts_with("pgl1."), "{text}");
    assert!(!stored.contains(&text), "the license text is not in KV in clear");
    assert_eq!(lic::peek(&text).unwrap().1.id, record.id);
    show(&ctx, &record.id, true).unwrap();
    // Moved to another record, the sealed text does not open.
    let moved = LicenseRecord { id: "lic_000000000000000000000009".into(), ..record.clone() };
    assert!(reveal(&moved).is_err());
    let unsealed = LicenseRecord { sealed: None, ..record };
    assert!(reveal(&unsealed).unwrap_err().message.contains("before licenses were kept sealed"));
}

fn records(ctx: &Ctx) -> Vec<LicenseRecord> {
    let map = snapshot(ctx);
    map.iter().filter(|(k, _)| k.starts_with("license:")).map(|(_, v)| serde_json::from_str(v).unwrap()).collect()
}

#[test]
fn renew_issues_a_successor_and_schedules_the_old_ones_revocation() {
    let ctx = ready();
    issue(&ctx, "acme", "Globex", "10d", &["acme/*".into()]).unwrap();
    let old = only_license(&ctx);
    super::super::license_renew::renew(&ctx, &old.id, "1y", Some("7d")).unwrap();
    let new = records(&ctx).into_iter().find(|l| l.id != old.id).unwrap();
    assert_eq!((new.app.as_str(), new.customer.as_str(), new.images.clone()), ("acme", "Globex", old.images.clone()));
    assert_eq!(new.expires_at, ctx.now + 365 * 86_400);
    assert_eq!(new.renews.as_deref(), Some(old.id.as_str()));
    assert!(reveal(&new).unwrap() != reveal(&old).unwrap());
    let r: RevocationRecord = serde_json::from_str(&snapshot(&ctx)[&store::revocation_key(&old.id)]).unwrap();
    assert_eq!(r.revoked_at, ctx.now + 7 * 86_400, "revoked after the grace period, not now");
    let view = serde_json::to_value(LicenseView::new(&old, Some(&r), ctx.now)).unwrap();
    assert_eq!((view["status"].as_str(), view["revokes_at"].is_string()), (Some("active"), true));
    let later = serde_json::to_value(LicenseView::new(&old, Some(&r), ctx.now + 8 * 86_400)).unwrap();
    assert_eq!(later["status"], "revoked");

    // Without a grace period the old license stays as it was; a revoked one is not renewed.
    let before = records(&ctx).len();
    super::super::license_renew::renew(&ctx, &new.id, "2y", None).unwrap();
    assert!(!snapshot(&ctx).contains_key(&store::revocation_key(&new.id)));
    assert_eq!(records(&ctx).len(), before + 1);
    revoke(&ctx, &new.id, None, false).unwrap();
    let err = super::super::license_renew::renew(&ctx, &new.id, "2y", None).unwrap_err();
    assert!(err.message.contains("was revoked"), "{}", err.message);
    for (id, expires, grace) in
        [(&old.id, "yesterday", None), (&old.id, "1y", Some("0s")), (&old.id, "1y", Some("soon"))]
    {
        let before = snapshot(&ctx);
        assert!(super::super::license_renew::renew(&ctx, id, expires, grace).is_err());
        assert_eq!(snapshot(&ctx), before);
    }
}

#[test]
fn list_filters_by_customer_and_expiry_window() {
    let ctx = ready();
    put_app(&ctx, "other");
    for (app, customer, expires) in
        [("acme", "Globex", "10d"), ("acme", "Globex", "90d"), ("acme", "Initech", "5d"), ("other", "Globex", "20d")]
    {
        issue(&ctx, app, customer, expires, &[]).unwrap();
    }
    let mut all = records(&ctx);
    all.sort_by_key(|l| l.expires_at);
    let initech = all.iter().find(|l| l.customer == "Initech").unwrap().id.clone();
    let revoked = vec![RevocationRecord { v: 1, id: initech, revoked_at: ctx.now - 1, reason: None }];
    let days = |customer: Option<&str>, within: Option<i64>, revocations: &[RevocationRecord]| -> Vec<i64> {
        all.iter()
            .filter(|l| is_listed(l, revocations, None, customer, within, ctx.now))
            .map(|l| (l.expires_at - ctx.now) / 86_400)
            .collect()
    };
    let day = 86_400;
    assert_eq!(days(Some("Globex"), Some(30 * day), &[]), [10, 20]);
    assert_eq!(days(Some("Globex"), None, &[]), [10, 20, 90]);
    assert_eq!(days(None, Some(30 * day), &[]), [5, 10, 20]);
    assert_eq!(days(None, Some(30 * day), &revoked), [10, 20], "a revoked license is not expiring, it is gone");
    assert_eq!(days(None, Some(5 * day), &[]), [5], "the window's end is inclusive");
    let expired = |l: &LicenseRecord| is_listed(l, &[], None, None, Some(30 * day), l.expires_at);
    assert!(!all.iter().any(expired), "an expired license is not expiring");
    assert!(list(&ctx, None, Some("Globex"), Some("30d")).is_ok());
    assert!(list(&ctx, None, None, Some("30 days")).is_err());
}
