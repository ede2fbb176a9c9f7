//! Tests of license issue, revoke and inspect against the in-memory store.

use pullgate::keys::{RootSecret, SigningKeys};

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
    assert!(show(&ctx, "lic_000000000000000000000000").is_err());
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
    show(&ctx, &id).unwrap();
    list(&ctx, Some("acme")).unwrap();
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
    };
    let v = serde_json::to_value(LicenseView::new(&record, None, 10)).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for key in ["id", "app", "customer", "issued_at", "expires_at", "images", "kid", "status"] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert!(!keys.contains(&"claims"));
    assert_eq!(v["status"], "active");
}
