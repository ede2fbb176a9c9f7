//! Tests of `upstream add|show|remove` against the in-memory store.

use pullgate::keys::RootSecret;

use super::*;
use crate::commands::test_support::{ctx, put_app, snapshot, temp_dir, with_root, write_file, ROOT_HEX};
use crate::failure::Exit;

fn app_ctx() -> Ctx {
    let ctx = ctx();
    put_app(&ctx, "acme");
    ctx
}

fn args(endpoint: &str) -> UpstreamAddArgs {
    UpstreamAddArgs {
        endpoint: endpoint.into(),
        app: "acme".into(),
        alias: None,
        repos: vec![],
        credential: CredentialKind::None,
        username: None,
        password_stdin: false,
        password_file: None,
        json_key_file: None,
        oauth2_token_file: None,
        access_key_id: None,
        region: None,
        ecr_auth_endpoint: None,
        realm_hosts: vec![],
        insecure_dev: false,
        replace: false,
    }
}

fn stored_app(ctx: &Ctx) -> AppRecord {
    serde_json::from_str(&snapshot(ctx)["app:acme"]).unwrap()
}

#[test]
fn adds_an_anonymous_upstream_with_patterns_and_removes_it() {
    let ctx = app_ctx();
    let mut a = args("docker.io");
    a.repos = vec!["library/*".into()];
    add(&ctx, &a).unwrap();
    let app = stored_app(&ctx);
    assert_eq!(app.upstreams[0].endpoint, "https://registry-1.docker.io");
    assert_eq!(app.upstreams[0].repos, ["library/*"]);
    show(&ctx, "acme", "docker.io").unwrap(); // any Docker Hub name finds it
    show(&ctx, "acme", "registry-1.docker.io").unwrap();
    show(&ctx, "acme", "https://index.docker.io").unwrap();
    remove(&ctx, "acme", "registry-1.docker.io").unwrap();
    assert!(stored_app(&ctx).upstreams.is_empty());
}

#[test]
fn seals_basic_credentials_and_never_stores_them_in_clear() {
    let tmp = temp_dir();
    with_root();
    let ctx = app_ctx();
    let mut a = args("https://registry.example.com");
    a.credential = CredentialKind::Basic;
    a.username = Some("vendor".into());
    a.password_file = Some(write_file(&tmp, "pw", "hunter2-very-secret\n"));
    add(&ctx, &a).unwrap();
    let raw = snapshot(&ctx)["app:acme"].clone();
    assert!(!raw.contains("hunter2"), "{raw}");
    let app = stored_app(&ctx);
    let u = &app.upstreams[0];
    assert_eq!((u.credential.kind, u.credential.identity.as_deref()), (CredentialKind::Basic, Some("vendor")));
    let root = RootSecret::parse(ROOT_HEX).unwrap();
    let opened = u.credential.open(&root, "acme", &u.endpoint).unwrap();
    assert_eq!(opened, Some(Secret::Password { username: "vendor".into(), password: "hunter2-very-secret".into() }));
    let view = serde_json::to_string(&UpstreamView::new("acme", u, Some(true))).unwrap();
    assert!(!view.contains("hunter2") && !view.contains(&u.credential.sealed.as_ref().unwrap().ciphertext));
}

#[test]
fn gcr_and_ecr_credentials() {
    let tmp = temp_dir();
    with_root();
    let ctx = app_ctx();
    let key = r#"{"type":"service_account","client_email":"p@x.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nM\n-----END PRIVATE KEY-----\n"}"#;
    let mut g = args("europe-west1-docker.pkg.dev");
    g.credential = CredentialKind::Gcr;
    g.json_key_file = Some(write_file(&tmp, "sa.json", key));
    add(&ctx, &g).unwrap();
    let mut e = args("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
    e.credential = CredentialKind::Ecr;
    e.access_key_id = Some("AKIAIOSFODNN7EXAMPLE".into());
    e.password_file = Some(write_file(&tmp, "aws", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"));
    add(&ctx, &e).unwrap();
    let app = stored_app(&ctx);
    let root = RootSecret::parse(ROOT_HEX).unwrap();
    let gcr = &app.upstreams[0];
    assert_eq!(gcr.credential.identity.as_deref(), Some("p@x.iam.gserviceaccount.com"));
    match gcr.credential.open(&root, "acme", &gcr.endpoint).unwrap() {
        Some(Secret::Password { username, password }) => {
            assert_eq!((username.as_str(), password.as_str()), ("_json_key", key))
        }
        other => panic!("{other:?}"),
    }
    let ecr = &app.upstreams[1];
    match ecr.credential.open(&root, "acme", &ecr.endpoint).unwrap() {
        Some(Secret::Aws { region, .. }) => assert_eq!(region, "eu-west-1"),
        other => panic!("{other:?}"),
    }
    let raw = snapshot(&ctx)["app:acme"].clone();
    assert!(!raw.contains("wJalrXUtnFEMI") && !raw.contains("PRIVATE KEY"));
}

#[test]
fn refuses_bad_input_and_leaves_kv_unchanged() {
    let tmp = temp_dir();
    with_root();
    let ctx = app_ctx();
    let mut first = args("https://registry.example.com:5000");
    first.alias = Some("internal".into());
    add(&ctx, &first).unwrap();
    let before = snapshot(&ctx);
    let pw = write_file(&tmp, "pw2", "pw\n");
    let cases: Vec<(UpstreamAddArgs, &str)> = vec![
        (args("http://registry.example.com"), "plain http"),
        (args("https://1.2.3.4"), "IP address"),
        (args("https://127.0.0.1"), "loopback"),
        (args("https://u:p@registry.example.com"), "credentials"),
        (args("https://other.example.com:5000"), "needs --alias"),
        (
            {
                let mut a = args("ghcr.io");
                a.alias = Some("proxy".into());
                a
            },
            "reserved",
        ),
        (
            {
                let mut a = args("ghcr.io");
                a.alias = Some("internal".into());
                a
            },
            "already has upstream internal",
        ),
        (
            {
                let mut a = args("ghcr.io");
                a.repos = vec!["Bad/*".into()];
                a
            },
            "pattern",
        ),
        (
            {
                let mut a = args("ghcr.io");
                a.app = "nope".into();
                a
            },
            "no app",
        ),
        (
            {
                let mut a = args("ghcr.io");
                a.username = Some("u".into());
                a
            },
            "does not take --username",
        ),
        (
            {
                let mut a = args("ghcr.io");
                a.credential = CredentialKind::Basic;
                a.password_file = Some(pw.clone());
                a
            },
            "needs --username",
        ),
        (
            {
                let mut a = args("ghcr.io");
                a.credential = CredentialKind::Basic;
                a.username = Some("u".into());
                a
            },
            "password is required",
        ),
        (
            {
                let mut a = args("quay.io");
                a.credential = CredentialKind::Ghcr;
                a.username = Some("u".into());
                a.password_file = Some(pw.clone());
                a
            },
            "for https://ghcr.io",
        ),
        (
            {
                let mut a = args("quay.io");
                a.credential = CredentialKind::Dockerhub;
                a.username = Some("u".into());
                a.password_file = Some(pw.clone());
                a
            },
            "Docker Hub",
        ),
        (
            {
                let mut a = args("gcr.io");
                a.credential = CredentialKind::Gcr;
                a.json_key_file = Some(write_file(&tmp, "bad.json", "{}"));
                a
            },
            "service-account",
        ),
        (
            {
                let mut a = args("quay.io");
                a.credential = CredentialKind::Gcr;
                a.oauth2_token_file = Some(pw.clone());
                a
            },
            "gcr.io",
        ),
        (
            {
                let mut a = args("gcr.io");
                a.credential = CredentialKind::Gcr;
                a
            },
            "exactly one",
        ),
        (
            {
                let mut a = args("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
                a.credential = CredentialKind::Ecr;
                a.access_key_id = Some("AKIAIOSFODNN7EXAMPLE".into());
                a.region = Some("us-east-1".into());
                a.password_file = Some(pw.clone());
                a
            },
            "does not match",
        ),
        (
            {
                let mut a = args("ghcr.io");
                a.credential = CredentialKind::Ecr;
                a.access_key_id = Some("AKIAIOSFODNN7EXAMPLE".into());
                a.password_file = Some(pw.clone());
                a
            },
            "dkr.ecr",
        ),
        (
            {
                let mut a = args("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
                a.credential = CredentialKind::Ecr;
                a.access_key_id = Some("short".into());
                a.password_file = Some(pw.clone());
                a
            },
            "access key id",
        ),
        (args("https://registry.example.com:5000"), "needs --alias"),
    ];
    for (a, want) in cases {
        let err = add(&ctx, &a).expect_err(want);
        assert!(format!("{err}").contains(want), "want {want:?} in {err}");
        assert!(matches!(err.exit, Exit::Usage | Exit::Failure), "{want}");
        assert_eq!(snapshot(&ctx), before, "{want}");
    }
}

#[test]
fn replace_swaps_in_one_write_and_duplicates_are_refused() {
    let ctx = app_ctx();
    add(&ctx, &args("ghcr.io")).unwrap();
    let err = add(&ctx, &args("https://ghcr.io/")).unwrap_err();
    assert!(err.message.contains("already has upstream"));
    let mut again = args("ghcr.io");
    again.replace = true;
    again.repos = vec!["acme/**".into()];
    add(&ctx, &again).unwrap();
    let app = stored_app(&ctx);
    assert_eq!(app.upstreams.len(), 1);
    assert_eq!(app.upstreams[0].repos, ["acme/**"]);
}

#[test]
fn a_root_secret_that_does_not_open_the_keyset_is_refused() {
    let tmp = temp_dir();
    with_root();
    let ctx = app_ctx();
    let other = RootSecret::parse(&"99".repeat(32)).unwrap();
    let keyset = pullgate::keys::KeysetRecord {
        keys: vec![pullgate::keys::KeyRecord {
            kid: "k00000000".into(),
            state: pullgate::keys::KeyState::Active,
            created_at: 0,
            secret: other.seal(&KeysetRecord::seal_context("k00000000"), &[1; 32], [0; 24]),
        }],
    };
    ctx.kv().unwrap().put_many(&[(KEYSET_KEY.into(), kv::encode(&keyset).unwrap())]).unwrap();
    let before = snapshot(&ctx);
    let mut a = args("ghcr.io");
    a.credential = CredentialKind::Ghcr;
    a.username = Some("u".into());
    a.password_file = Some(write_file(&tmp, "pat", "ghp_x\n"));
    let err = add(&ctx, &a).unwrap_err();
    assert!(err.message.contains("does not open"), "{err}");
    assert_eq!(snapshot(&ctx), before);
}

#[test]
fn ecr_auth_endpoints_are_aws_hosts_or_local_stand_ins() {
    let tmp = temp_dir();
    with_root();
    let ctx = app_ctx();
    let secret = write_file(&tmp, "aws-local", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n");
    let ecr = |endpoint: &str, auth: Option<&str>, insecure: bool, region: Option<&str>| {
        let mut a = args(endpoint);
        a.credential = CredentialKind::Ecr;
        a.access_key_id = Some("AKIAIOSFODNN7EXAMPLE".into());
        a.password_file = Some(secret.clone());
        a.ecr_auth_endpoint = auth.map(Into::into);
        a.insecure_dev = insecure;
        a.region = region.map(Into::into);
        a.alias = Some("ecr".into());
        a
    };
    let before = snapshot(&ctx);
    for (a, want) in [
        (
            ecr("123456789012.dkr.ecr.us-east-1.amazonaws.com", Some("https://evil.example.com/"), false, None),
            "amazonaws.com",
        ),
        (
            ecr("123456789012.dkr.ecr.us-east-1.amazonaws.com", Some("http://127.0.0.1:9/"), false, None),
            "amazonaws.com",
        ),
        (ecr("http://127.0.0.1:5000", None, true, None), "needs --region"),
        (ecr("http://127.0.0.1:5000", None, false, Some("us-east-1")), "plain http"),
        (
            {
                let mut a = args("quay.io");
                a.ecr_auth_endpoint = Some("https://ecr-fips.us-east-1.amazonaws.com/".into());
                a
            },
            "does not take",
        ),
    ] {
        let err = add(&ctx, &a).expect_err(want);
        assert!(format!("{err}").contains(want), "want {want:?} in {err}");
    }
    assert_eq!(snapshot(&ctx), before);
    add(
        &ctx,
        &ecr(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            Some("https://ecr-fips.us-east-1.amazonaws.com/"),
            false,
            None,
        ),
    )
    .unwrap();
    let mut local = ecr("http://127.0.0.1:5000", Some("http://127.0.0.1:5001/"), true, Some("us-east-1"));
    local.alias = Some("ecr-local".into());
    add(&ctx, &local).unwrap();
    let app = stored_app(&ctx);
    assert_eq!(app.upstreams[0].auth_endpoint.as_deref(), Some("https://ecr-fips.us-east-1.amazonaws.com/"));
    assert_eq!(app.upstreams[1].auth_endpoint.as_deref(), Some("http://127.0.0.1:5001/"));
}

#[test]
fn realm_hosts_are_normalised_stored_and_shown() {
    let ctx = app_ctx();
    let mut a = args("https://registry.example.com");
    a.realm_hosts = vec!["GitLab.Example.com.".into(), "gitlab.example.com".into(), "registry.example.com".into()];
    add(&ctx, &a).unwrap();
    let app = stored_app(&ctx);
    assert_eq!(app.upstreams[0].realm_hosts, ["gitlab.example.com"]);
    let view = serde_json::to_value(UpstreamView::new("acme", &app.upstreams[0], None)).unwrap();
    assert_eq!(view["realm_hosts"], serde_json::json!(["gitlab.example.com"]));
    assert!(upstream_table(&app).contains("realm hosts: gitlab.example.com"), "{}", upstream_table(&app));
}

#[test]
fn realm_hosts_must_be_dns_names_outside_local_development() {
    for (host, insecure_dev, ok) in [
        ("https://gitlab.example.com/jwt/auth", false, false),
        ("10.0.0.1", false, false),
        ("localhost", false, false),
        ("gitlab", false, false),
        ("localhost", true, true),
        ("127.0.0.1", true, true),
    ] {
        let ctx = app_ctx();
        let mut a = args(if insecure_dev { "http://127.0.0.1:5000" } else { "https://registry.example.com" });
        a.alias = Some("local".into());
        a.insecure_dev = insecure_dev;
        a.realm_hosts = vec![host.into()];
        assert_eq!(add(&ctx, &a).is_ok(), ok, "{host} insecure_dev={insecure_dev}");
    }
}
