//! Tests of the key rotation state machine against the in-memory store.

use pullgate::keys::SigningKeys;

use super::*;
use crate::commands::test_support::{ctx, snapshot, with_root, ROOT_HEX};

fn keyset(ctx: &Ctx) -> KeysetRecord {
    serde_json::from_str(&snapshot(ctx)["keys"]).unwrap()
}

fn states(ctx: &Ctx) -> Vec<(String, KeyState)> {
    keyset(ctx).keys.into_iter().map(|k| (k.kid, k.state)).collect()
}

#[test]
fn init_rotate_promote_retire() {
    with_root();
    let mut ctx = ctx();
    init(&ctx, None).unwrap();
    let first = states(&ctx);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].1, KeyState::Active);
    assert!(validate::key_id(&first[0].0).is_ok());
    let root = RootSecret::parse(ROOT_HEX).unwrap();
    assert!(SigningKeys::open(&root, &keyset(&ctx)).unwrap().signer().is_some());
    assert!(init(&ctx, None).unwrap_err().message.contains("already exist"));

    rotate(&ctx, false).unwrap();
    let two = states(&ctx);
    assert_eq!(two[1].1, KeyState::Pending);
    let early = rotate(&ctx, false).unwrap_err();
    assert!(early.message.contains("edges may not know it yet"), "{early}");
    ctx.now += 91;
    rotate(&ctx, false).unwrap();
    assert_eq!(states(&ctx), vec![(two[0].0.clone(), KeyState::Retiring), (two[1].0.clone(), KeyState::Active)]);

    let active = retire(&ctx, &two[1].0, false).unwrap_err();
    assert!(active.message.contains("active key"));
    retire(&ctx, &two[0].0, false).unwrap();
    assert_eq!(states(&ctx), vec![(two[1].0.clone(), KeyState::Active)]);
}

#[test]
fn retire_refuses_while_unexpired_licenses_depend_on_the_key() {
    with_root();
    let ctx = ctx();
    init(&ctx, None).unwrap();
    rotate(&ctx, false).unwrap();
    rotate(&ctx, true).unwrap();
    let old = states(&ctx)[0].0.clone();
    let license = |id: &str, expires_at: i64| LicenseRecord {
        v: 1,
        id: id.into(),
        app: "acme".into(),
        customer: "globex".into(),
        issued_at: 0,
        expires_at,
        images: vec![],
        kid: old.clone(),
    };
    let live = "lic_000000000000000000000001";
    let expired = "lic_000000000000000000000002";
    let revoked = "lic_000000000000000000000003";
    let kv = ctx.kv().unwrap();
    kv.put_many(&[
        (store::license_key(live), kv::encode(&license(live, ctx.now + 100)).unwrap()),
        (store::license_key(expired), kv::encode(&license(expired, ctx.now - 1)).unwrap()),
        (store::license_key(revoked), kv::encode(&license(revoked, ctx.now + 100)).unwrap()),
        (
            store::revocation_key(revoked),
            kv::encode(&RevocationRecord { v: 1, id: revoked.into(), revoked_at: 0, reason: None }).unwrap(),
        ),
    ])
    .unwrap();
    let before = snapshot(&ctx);
    let err = retire(&ctx, &old, false).unwrap_err();
    assert!(err.message.contains(live) && !err.message.contains(expired) && !err.message.contains(revoked), "{err}");
    assert_eq!(snapshot(&ctx), before);
    retire(&ctx, &old, true).unwrap();
    assert_eq!(states(&ctx).len(), 1);
}

#[test]
fn bad_input_writes_nothing() {
    with_root();
    let ctx = ctx();
    assert!(rotate(&ctx, false).is_err());
    assert!(retire(&ctx, "bogus", false).is_err());
    assert!(retire(&ctx, "k00000000", false).is_err());
    assert!(snapshot(&ctx).is_empty());
}
