//! Tests of the key rotation state machine against the in-memory store.

use pullgate::keys::SigningKeys;

use super::*;
use crate::commands::test_support::{ctx, snapshot, temp_dir, with_root, write_file, NOW, ROOT_HEX};

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
        sealed: None,
        renews: None,
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

/// A store with a keyset (one retiring, one active key) and an app with a sealed credential and
/// an anonymous upstream, all under `ROOT_HEX`.
fn sealed_store() -> Ctx {
    with_root();
    let ctx = ctx();
    init(&ctx, None).unwrap();
    rotate(&ctx, false).unwrap();
    rotate(&ctx, true).unwrap();
    let root = RootSecret::parse(ROOT_HEX).unwrap();
    let secret = store::Secret::Password { username: "vendor".into(), password: "hunter2".into() };
    let endpoint = "https://registry.example.com";
    let sealed =
        root.seal(&CredentialRecord::seal_context("acme", endpoint), &serde_json::to_vec(&secret).unwrap(), [9; 24]);
    let upstream = |endpoint: &str, sealed: Option<Sealed>| store::UpstreamRecord {
        endpoint: endpoint.into(),
        alias: None,
        repos: vec![],
        credential: CredentialRecord { kind: store::CredentialKind::Basic, identity: Some("vendor".into()), sealed },
        insecure: false,
        auth_endpoint: None,
        realm_hosts: vec![],
        hosted: false,
    };
    let app = AppRecord {
        v: 1,
        slug: "acme".into(),
        name: "Acme".into(),
        blob_mode: Default::default(),
        created_at: 0,
        upstreams: vec![upstream(endpoint, Some(sealed)), upstream("https://mcr.microsoft.com", None)],
        hosted_quota: None,
    };
    ctx.kv().unwrap().put_many(&[(store::app_key("acme"), kv::encode(&app).unwrap())]).unwrap();
    ctx
}

#[test]
fn reseal_moves_keys_and_credentials_to_the_new_root_and_keeps_licenses_valid() {
    let tmp = temp_dir();
    let ctx = sealed_store();
    let old = RootSecret::parse(ROOT_HEX).unwrap();
    let new_hex = "22".repeat(32);
    let new = RootSecret::parse(&new_hex).unwrap();
    let keys_before = SigningKeys::open(&old, &keyset(&ctx)).unwrap();
    let signer = keys_before.signer().unwrap().clone();
    let license = pullgate::license::issue(
        &pullgate::license::Claims {
            id: "lic_000000000000000000000001".into(),
            app: "acme".into(),
            customer: "globex".into(),
            issued_at: NOW,
            expires_at: NOW + 1000,
            images: vec![],
        },
        &signer,
    );

    // Its record keeps the text sealed, as `license issue` does, for `license show --reveal`.
    let id = "lic_000000000000000000000001";
    let claims = pullgate::license::verify(&license, &keys_before, NOW).unwrap();
    let mut record = store::LicenseRecord::issued(&claims, &signer.kid);
    let context = store::LicenseRecord::seal_context(id);
    record.sealed = Some(old.seal(&context, license.as_bytes(), [7; 24]));
    ctx.kv().unwrap().put_many(&[(store::license_key(id), kv::encode(&record).unwrap())]).unwrap();

    let path = write_file(&tmp, "new", &format!("PULLGATE_ROOT_SECRET={new_hex}\n"));
    reseal(&ctx, &path).unwrap();
    let after = snapshot(&ctx);
    // The license text: opens with the new root only, and is the same text.
    let record: store::LicenseRecord = serde_json::from_str(&after[&store::license_key(id)]).unwrap();
    let sealed = record.sealed.as_ref().unwrap();
    assert!(old.open(&context, sealed).is_err(), "the license text is still sealed with the old root");
    assert_eq!(new.open(&context, sealed).unwrap(), license.as_bytes());
    // Keys: the same kids, states and material, sealed anew.
    let keys_after = SigningKeys::open(&new, &keyset(&ctx)).unwrap();
    assert!(SigningKeys::open(&old, &keyset(&ctx)).is_err(), "still sealed with the old root");
    assert_eq!(format!("{keys_before:?}"), format!("{keys_after:?}"));
    let claims = pullgate::license::verify(&license, &keys_after, NOW).unwrap();
    assert_eq!(claims.customer, "globex");
    // Credentials: open with the new root only; the anonymous upstream is untouched.
    let app: AppRecord = serde_json::from_str(&after["app:acme"]).unwrap();
    let credential = &app.upstreams[0].credential;
    assert!(credential.open(&old, "acme", "https://registry.example.com").is_err());
    assert_eq!(
        credential.open(&new, "acme", "https://registry.example.com").unwrap(),
        Some(store::Secret::Password { username: "vendor".into(), password: "hunter2".into() })
    );
    assert_eq!(app.upstreams[1].credential.sealed, None);
    // The Worker's keyring during the rotation opens both sealings.
    let keyring = pullgate::keys::RootKeyring::new(new.clone(), Some(old.clone()));
    assert!(SigningKeys::open(&keyring, &keyset(&ctx)).is_ok());

    // Running it again changes nothing.
    reseal(&ctx, &path).unwrap();
    assert_eq!(snapshot(&ctx), after);
}

#[test]
fn reseal_refuses_bad_input_and_writes_nothing() {
    let tmp = temp_dir();
    let ctx = sealed_store();
    let before = snapshot(&ctx);
    let same = write_file(&tmp, "same", ROOT_HEX);
    let short = write_file(&tmp, "short", "abcd");
    let empty = write_file(&tmp, "empty", "# nothing\n");
    let missing = tmp.path().join("does-not-exist");
    let cases = [
        (same.clone(), "holds the configured root secret"),
        (short.clone(), "64 hexadecimal characters"),
        (empty.clone(), "no root secret in it"),
        (missing, "cannot read it"),
    ];
    for (path, needle) in cases {
        let err = reseal(&ctx, &path).unwrap_err();
        assert!(err.message.contains(needle), "{}: {err}", path.display());
        assert_eq!(snapshot(&ctx), before, "{}", path.display());
    }
    // A record sealed with a third secret: nothing is written, not even the keyset.
    let stranger = RootSecret::parse(&"33".repeat(32)).unwrap();
    let mut app: AppRecord = serde_json::from_str(&before["app:acme"]).unwrap();
    let context = CredentialRecord::seal_context("acme", "https://registry.example.com");
    app.upstreams[0].credential.sealed = Some(stranger.seal(&context, b"{}", [4; 24]));
    ctx.kv().unwrap().put_many(&[(store::app_key("acme"), kv::encode(&app).unwrap())]).unwrap();
    let before = snapshot(&ctx);
    let new = write_file(&tmp, "new2", &"22".repeat(32));
    let err = reseal(&ctx, &new).unwrap_err();
    assert!(err.message.contains("opens with neither") && err.message.contains("acme"), "{err}");
    assert_eq!(snapshot(&ctx), before);
}

#[test]
fn new_root_secret_writes_a_private_file_once() {
    with_root();
    let ctx = ctx();
    let tmp = temp_dir();
    let path = tmp.path().join("fresh");
    new_root_secret(&ctx, &path).unwrap();
    let written = crate::secrets::read_root_secret_file(&path).unwrap();
    assert_ne!(written.to_hex(), ROOT_HEX);
    assert!(new_root_secret(&ctx, &path).unwrap_err().message.contains("already exists"));
    assert_eq!(crate::secrets::read_root_secret_file(&path).unwrap().to_hex(), written.to_hex());
}
