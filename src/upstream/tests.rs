//! Tests of the upstream driver against a scripted transport, plus the pure checks' tables.

use std::cell::{Cell, RefCell};

use super::*;
use crate::store::{CredentialRecord, UpstreamRecord};
use crate::test_support::{authorization_of as auth_of, block_on, Scripted, SCRIPTED_EPOCH};

fn record(endpoint: &str, kind: CredentialKind) -> UpstreamRecord {
    UpstreamRecord {
        endpoint: endpoint.into(),
        alias: None,
        repos: vec![],
        credential: CredentialRecord { kind, identity: None, sealed: None },
        insecure: false,
        auth_endpoint: None,
    }
}

fn password() -> Secret {
    Secret::Password { username: "vendor".into(), password: "s3cret".into() }
}

const BASIC_VENDOR: &str = "Basic dmVuZG9yOnMzY3JldA==";

fn manifest_req(base: &str) -> Request {
    Request::new("GET", format!("{base}/v2/acme/app/manifests/1.0"))
}

#[test]
fn anonymous_upstream_gets_no_credentials() {
    let t = Scripted::new().route("https://quay.io/v2/", |_| (200, vec![], "{}".into()));
    let rec = record("https://quay.io", CredentialKind::None);
    let up = Upstream { app: "acme", record: &rec, secret: None, allow_insecure: false };
    let cache = TokenCache::default();
    let (head, _) =
        block_on(send(&t, &cache, &up, manifest_req("https://quay.io"), "repository:acme/app:pull")).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(auth_of(&t.sent()[0]), None);
}

#[test]
fn basic_challenge_is_answered_with_vendor_credentials_and_remembered() {
    let t = Scripted::new().route("https://art.example.com/v2/", |r| match auth_of(r).as_deref() {
        Some(BASIC_VENDOR) => (200, vec![], "{}".into()),
        _ => (401, vec![("www-authenticate", r#"Basic realm="Artifactory Realm""#.into())], "".into()),
    });
    let rec = record("https://art.example.com", CredentialKind::Basic);
    let secret = password();
    let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
    let cache = TokenCache::default();
    let scope = "repository:acme/app:pull";
    assert_eq!(block_on(send(&t, &cache, &up, manifest_req("https://art.example.com"), scope)).unwrap().0.status, 200);
    assert_eq!(t.sent().len(), 2);
    // The second request goes straight out with Basic: the challenge was remembered.
    assert_eq!(block_on(send(&t, &cache, &up, manifest_req("https://art.example.com"), scope)).unwrap().0.status, 200);
    assert_eq!(t.sent().len(), 3);
    assert_eq!(auth_of(&t.sent()[2]).as_deref(), Some(BASIC_VENDOR));
}

fn bearer_upstream(realm: &'static str) -> Scripted {
    Scripted::new()
        .route("https://ghcr.io/v2/", move |r| match auth_of(r).as_deref() {
            Some("Bearer tok-1") => (200, vec![("content-type", "application/json".into())], "{}".into()),
            _ => (
                401,
                vec![(
                    "www-authenticate",
                    format!(r#"Bearer realm="{realm}",service="ghcr.io",scope="repository:acme/app:pull""#),
                )],
                "".into(),
            ),
        })
        .route("https://ghcr.io/token", |r| match auth_of(r).as_deref() {
            Some(BASIC_VENDOR) => (200, vec![], r#"{"token":"tok-1","expires_in":300}"#.into()),
            _ => (401, vec![], r#"{"errors":[]}"#.into()),
        })
        .route("https://evil.example/", |_| (200, vec![], r#"{"token":"stolen"}"#.into()))
}

#[test]
fn bearer_realm_token_is_fetched_cached_and_refreshed_after_expiry() {
    let t = bearer_upstream("https://ghcr.io/token");
    let rec = record("https://ghcr.io", CredentialKind::Ghcr);
    let secret = password();
    let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
    let cache = TokenCache::default();
    let scope = "repository:acme/app:pull";
    assert_eq!(block_on(send(&t, &cache, &up, manifest_req("https://ghcr.io"), scope)).unwrap().0.status, 200);
    let token_reqs = t.sent_to("https://ghcr.io/token");
    assert_eq!(token_reqs.len(), 1);
    assert_eq!(token_reqs[0].url, "https://ghcr.io/token?service=ghcr.io&scope=repository%3Aacme%2Fapp%3Apull");
    // Cached: no new token request, and the manifest request carries the token at once.
    assert_eq!(block_on(send(&t, &cache, &up, manifest_req("https://ghcr.io"), scope)).unwrap().0.status, 200);
    assert_eq!(t.sent_to("https://ghcr.io/token").len(), 1);
    assert_eq!(auth_of(t.sent().last().unwrap()).as_deref(), Some("Bearer tok-1"));
    // Past expiry minus skew, a new token is fetched before the request, not after a failure.
    t.advance(300 - 29);
    assert_eq!(block_on(send(&t, &cache, &up, manifest_req("https://ghcr.io"), scope)).unwrap().0.status, 200);
    assert_eq!(t.sent_to("https://ghcr.io/token").len(), 2);
    assert_eq!(t.sent_to("https://ghcr.io/v2/").len(), 4, "one 401 in all, then straight hits");
}

#[test]
fn tokens_are_not_shared_between_apps() {
    let t = bearer_upstream("https://ghcr.io/token");
    let rec = record("https://ghcr.io", CredentialKind::Ghcr);
    let secret = password();
    let cache = TokenCache::default();
    let scope = "repository:acme/app:pull";
    for app in ["acme", "globex"] {
        let up = Upstream { app, record: &rec, secret: Some(&secret), allow_insecure: false };
        block_on(send(&t, &cache, &up, manifest_req("https://ghcr.io"), scope)).unwrap();
    }
    assert_eq!(t.sent_to("https://ghcr.io/token").len(), 2);
}

#[test]
fn foreign_realm_gets_no_credentials() {
    let t = bearer_upstream("https://evil.example/token");
    let rec = record("https://ghcr.io", CredentialKind::Ghcr);
    let secret = password();
    let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
    let err = block_on(send(&t, &TokenCache::default(), &up, manifest_req("https://ghcr.io"), "s")).unwrap_err();
    assert!(matches!(err, UpstreamError::UntrustedRealm { .. }), "{err:?}");
    assert!(t.sent_to("https://evil.example").is_empty());
    assert_eq!(RegistryError::from(err).status, 502);
}

#[test]
fn rejected_vendor_credentials_become_502_never_401() {
    let t = bearer_upstream("https://ghcr.io/token");
    let rec = record("https://ghcr.io", CredentialKind::Ghcr);
    let wrong = Secret::Password { username: "vendor".into(), password: "wrong".into() };
    let up = Upstream { app: "acme", record: &rec, secret: Some(&wrong), allow_insecure: false };
    let err = block_on(send(&t, &TokenCache::default(), &up, manifest_req("https://ghcr.io"), "s")).unwrap_err();
    assert_eq!(
        err,
        UpstreamError::CredentialsRejected { upstream: "GHCR ghcr.io".into(), status: 401, kind: CredentialKind::Ghcr }
    );
    let e = RegistryError::from(err);
    assert_eq!((e.status, e.code), (502, ErrorCode::Unavailable));
    assert!(e.message.contains("rejected the vendor's credentials"), "{}", e.message);
    assert!(e.message.contains("read:packages"), "{}", e.message);
}

#[test]
fn missing_credentials_are_reported_as_such() {
    let t = bearer_upstream("https://ghcr.io/token");
    let rec = record("https://ghcr.io", CredentialKind::None);
    let up = Upstream { app: "acme", record: &rec, secret: None, allow_insecure: false };
    // The realm refuses an anonymous token request.
    let err = block_on(send(&t, &TokenCache::default(), &up, manifest_req("https://ghcr.io"), "s")).unwrap_err();
    assert!(matches!(err, UpstreamError::CredentialsRejected { status: 401, .. }), "{err:?}");
}

#[test]
fn a_cached_token_refused_with_403_is_dropped_and_retried_once() {
    // ECR answers an expired token with a plain-text 403.
    let calls = std::rc::Rc::new(Cell::new(0));
    let c = calls.clone();
    let t = Scripted::new()
        .route("https://ghcr.io/v2/", move |r| {
            c.set(c.get() + 1);
            match auth_of(r).as_deref() {
                Some("Bearer fresh") => (200, vec![], "{}".into()),
                Some(_) => (403, vec![], "Your authorization token has expired. Reauthenticate and try again.".into()),
                None => (
                    401,
                    vec![("www-authenticate", r#"Bearer realm="https://ghcr.io/token",service="ghcr.io""#.into())],
                    "".into(),
                ),
            }
        })
        .route("https://ghcr.io/token", |_| (200, vec![], r#"{"access_token":"fresh","expires_in":300}"#.into()));
    let rec = record("https://ghcr.io", CredentialKind::Ghcr);
    let secret = password();
    let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
    let cache = TokenCache::default();
    let scope = "repository:acme/app:pull";
    // Without a remembered challenge: stale → 403, anonymous → 401 challenge, fresh → 200.
    cache.put(up.cache_key(scope), "Bearer stale".into(), i64::MAX);
    let (head, _) = block_on(send(&t, &cache, &up, manifest_req("https://ghcr.io"), scope)).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(calls.get(), 3);
    // With the challenge remembered from the first exchange: stale → 403, fresh → 200.
    cache.put(up.cache_key(scope), "Bearer stale".into(), i64::MAX);
    let (head, _) = block_on(send(&t, &cache, &up, manifest_req("https://ghcr.io"), scope)).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(calls.get(), 5);
    assert_eq!(t.sent_to("https://ghcr.io/token").len(), 2);
}

#[test]
fn realm_trust_table() {
    let secret = password();
    for (endpoint, realm, insecure, ok) in [
        ("https://ghcr.io", "https://ghcr.io/token", false, true),
        ("https://quay.io", "https://quay.io/v2/auth", false, true),
        ("https://registry.gitlab.com", "https://gitlab.com/jwt/auth", false, true),
        ("https://registry-1.docker.io", "https://auth.docker.io/token", false, true),
        ("https://ghcr.io", "https://auth.docker.io/token", false, false),
        ("https://ghcr.io", "http://ghcr.io/token", false, false),
        ("https://ghcr.io", "https://user:pw@ghcr.io/token", false, false),
        ("https://ghcr.io", "https://127.0.0.1/token", false, false),
        ("https://ghcr.io", "https://10.0.0.1/token", false, false),
        ("https://ghcr.io", "not a url", false, false),
        ("https://acme.azurecr.io", "https://acme.azurecr.io/oauth2/token", false, true),
        ("https://acme.azurecr.io", "https://evil.azurecr.io/oauth2/token", false, false),
        ("https://us-docker.pkg.dev", "https://us-docker.pkg.dev/v2/token", false, true),
        ("https://acme.co.uk", "https://auth.acme.co.uk/token", false, true),
        ("https://acme.co.uk", "https://evil.co.uk/token", false, false),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5005/token", true, true),
        ("http://127.0.0.1:5000", "https://auth.example.com/token", true, false),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5005/token", false, false),
    ] {
        let mut rec = record(endpoint, CredentialKind::Basic);
        rec.insecure = insecure;
        let up = Upstream { app: "a", record: &rec, secret: Some(&secret), allow_insecure: true };
        assert_eq!(trusted_realm(realm, &up).is_ok(), ok, "{endpoint} → {realm}");
    }
}

#[test]
fn redirect_target_table() {
    let rec = record("https://us-docker.pkg.dev", CredentialKind::Gcr);
    let up = Upstream { app: "a", record: &rec, secret: None, allow_insecure: false };
    let base = "https://us-docker.pkg.dev/v2/p/r/i/blobs/sha256:ab";
    for (location, want) in [
        (
            "https://s3.amazonaws.com/bucket/x?X-Amz-Signature=1",
            Some("https://s3.amazonaws.com/bucket/x?X-Amz-Signature=1"),
        ),
        (
            "/artifacts-downloads/namespaces/p/downloads/sig",
            Some("https://us-docker.pkg.dev/artifacts-downloads/namespaces/p/downloads/sig"),
        ),
        ("http://cdn.example.com/x", None),
        ("ftp://cdn.example.com/x", None),
        ("javascript:alert(1)", None),
        ("https://cdn.example.com/x\r\nSet-Cookie: a=b", None),
        ("https://user:pw@cdn.example.com/x", None),
        ("https://127.0.0.1/x", None),
        ("", None),
    ] {
        assert_eq!(redirect_target(base, location, &up).ok().as_deref(), want, "{location:?}");
    }
    let long = format!("https://cdn.example.com/{}", "a".repeat(MAX_LOCATION_LEN));
    assert!(redirect_target(base, &long, &up).is_err());

    let mut local = record("http://127.0.0.1:5000", CredentialKind::None);
    local.insecure = true;
    let dev = Upstream { app: "a", record: &local, secret: None, allow_insecure: true };
    assert!(redirect_target("http://127.0.0.1:5000/v2/x", "http://127.0.0.1:5001/blob", &dev).is_ok());
    let prod = Upstream { allow_insecure: false, ..dev };
    assert!(redirect_target("http://127.0.0.1:5000/v2/x", "http://127.0.0.1:5001/blob", &prod).is_err());
}

#[test]
fn classify_table() {
    let rec = record("https://quay.io", CredentialKind::Basic);
    let up = Upstream { app: "a", record: &rec, secret: None, allow_insecure: false };
    let head = |status: u16, retry: Option<&str>| Head {
        status,
        headers: retry.map(|r| vec![("retry-after".to_string(), r.to_string())]).unwrap_or_default(),
    };
    for (resource, status, retry, want) in [
        (Resource::Manifest, 200, None, None),
        (Resource::Blob, 307, None, None),
        (Resource::Manifest, 304, None, None),
        (Resource::Manifest, 404, None, Some((404, ErrorCode::ManifestUnknown, None))),
        (Resource::Blob, 404, None, Some((404, ErrorCode::BlobUnknown, None))),
        (Resource::Tags, 404, None, Some((404, ErrorCode::NameUnknown, None))),
        (Resource::Referrers, 404, None, Some((404, ErrorCode::Unsupported, None))),
        (Resource::Manifest, 401, None, Some((502, ErrorCode::Unavailable, None))),
        (Resource::Manifest, 403, None, Some((502, ErrorCode::Unavailable, None))),
        (Resource::Manifest, 429, Some("17"), Some((429, ErrorCode::TooManyRequests, Some(17)))),
        (Resource::Manifest, 429, Some("Wed, 21 Oct 2026 07:28:00 GMT"), Some((429, ErrorCode::TooManyRequests, None))),
        (Resource::Blob, 500, None, Some((502, ErrorCode::Unavailable, None))),
        (Resource::Blob, 503, None, Some((503, ErrorCode::Unavailable, None))),
        (Resource::Blob, 504, None, Some((504, ErrorCode::Unavailable, None))),
    ] {
        let got = classify(resource, &head(status, retry), &up, "x").map(|e| (e.status, e.code, e.retry_after));
        assert_eq!(got, want, "{resource:?} {status}");
    }
}

#[test]
fn tags_link_is_rewritten_to_the_client_name() {
    for (link, want) in [
        (
            r#"</v2/demo/hello/tags/list?last=1.1&n=2>; rel="next""#,
            Some(r#"</v2/proxy/demo/local/demo/hello/tags/list?last=1.1&n=2>; rel="next""#),
        ),
        (
            r#"<https://upstream.example/v2/demo/hello/tags/list?n=2&last=b&evil=1>; rel="next""#,
            Some(r#"</v2/proxy/demo/local/demo/hello/tags/list?n=2&last=b>; rel="next""#),
        ),
        ("garbage", None),
    ] {
        assert_eq!(rewrite_tags_link(link, "proxy/demo/local/demo/hello").as_deref(), want, "{link}");
    }
}

#[test]
fn registrable_domains() {
    for (host, want) in [
        ("ghcr.io", "ghcr.io"),
        ("auth.docker.io", "docker.io"),
        ("registry.gitlab.com", "gitlab.com"),
        ("a.b.acme.co.uk", "acme.co.uk"),
        ("123.dkr.ecr.us-east-1.amazonaws.com", "123.dkr.ecr.us-east-1.amazonaws.com"),
        ("acme.jfrog.io", "acme.jfrog.io"),
    ] {
        assert_eq!(registrable_domain(host), want, "{host}");
    }
}

#[test]
fn token_responses() {
    let now = 1_795_400_000;
    for (json, want) in [
        (r#"{"token":"a","expires_in":300}"#, Some(("a", now + 300))),
        (r#"{"access_token":"b"}"#, Some(("b", now + 60))),
        (r#"{"token":"c","expires_in":120,"issued_at":"2026-11-23T02:12:20.5Z"}"#, Some(("c", now - 60 + 120))),
        (r#"{"token":"d","expires_in":120,"issued_at":"2020-01-01T00:00:00Z"}"#, Some(("d", now + 120))),
        (r#"{"token":""}"#, None),
        (r#"{"token":"has space"}"#, None),
        (r#"{"other":1}"#, None),
        ("<html>", None),
    ] {
        let got = parse_token_response(json.as_bytes(), now);
        assert_eq!(got.as_ref().map(|t| (t.token.as_str(), t.expires_at)), want, "{json}");
    }
}

fn ecr_answer(password: &str, expires_at: i64) -> String {
    let token = B64.encode(format!("AWS:{password}"));
    format!(
        r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":{expires_at}.25,"proxyEndpoint":"https://x"}}]}}"#
    )
}

fn ecr_setup(api_calls: std::rc::Rc<Cell<i64>>, valid: std::rc::Rc<RefCell<String>>) -> Scripted {
    let v = valid.clone();
    Scripted::new()
        .route("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/", move |r| {
            let want = format!("Basic {}", B64.encode(format!("AWS:{}", v.borrow())));
            match auth_of(r) {
                Some(a) if a == want => (200, vec![], "{}".into()),
                Some(_) => (403, vec![], "Your authorization token has expired. Reauthenticate and try again.".into()),
                None => (401, vec![("www-authenticate", r#"Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com""#.into())], "".into()),
            }
        })
        .route("https://api.ecr.eu-west-1.amazonaws.com/", move |r| {
            api_calls.set(api_calls.get() + 1);
            let header = |n: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
            let auth = header("authorization").unwrap_or_default();
            let signed_right = auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                && auth.contains("/eu-west-1/ecr/aws4_request")
                && auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target");
            if r.method != "POST" || !signed_right || header("x-amz-target").as_deref() != Some(ECR_TARGET) {
                return (400, vec![], r#"{"__type":"InvalidSignatureException"}"#.into());
            }
            (200, vec![], ecr_answer(&valid.borrow(), SCRIPTED_EPOCH + 12 * 3600))
        })
}

#[test]
fn ecr_exchanges_signed_keys_for_a_cached_12h_token_and_refreshes_early() {
    let calls = std::rc::Rc::new(Cell::new(0));
    let valid = std::rc::Rc::new(RefCell::new("pw-1".to_string()));
    let t = ecr_setup(calls.clone(), valid.clone());
    let rec = record("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com", CredentialKind::Ecr);
    let secret = Secret::Aws {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        region: "eu-west-1".into(),
    };
    let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
    let cache = TokenCache::default();
    let base = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    for scope in ["repository:acme/app:pull", "repository:acme/other:pull"] {
        let (head, _) = block_on(send(&t, &cache, &up, manifest_req(base), scope)).unwrap();
        assert_eq!(head.status, 200);
    }
    assert_eq!(calls.get(), 1, "one GetAuthorizationToken for both repositories");
    // 11 h later the token still works but is refreshed before use (one hour of skew).
    t.set_now(SCRIPTED_EPOCH + 11 * 3600 + 1);
    valid.replace("pw-2".into());
    let (head, _) = block_on(send(&t, &cache, &up, manifest_req(base), "repository:acme/app:pull")).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(calls.get(), 2);
}

#[test]
fn ecr_expired_token_mid_pull_is_dropped_and_fetched_again_once() {
    let calls = std::rc::Rc::new(Cell::new(0));
    let valid = std::rc::Rc::new(RefCell::new("pw-1".to_string()));
    let t = ecr_setup(calls.clone(), valid.clone());
    let rec = record("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com", CredentialKind::Ecr);
    let secret =
        Secret::Aws { access_key_id: "AKIDEXAMPLE".into(), secret_access_key: "s".into(), region: "eu-west-1".into() };
    let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
    let cache = TokenCache::default();
    let base = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    block_on(send(&t, &cache, &up, manifest_req(base), "repository:acme/app:pull")).unwrap();
    // The registry revokes the token early (as after a credential change): plain-text 403.
    valid.replace("pw-2".into());
    let (head, _) = block_on(send(&t, &cache, &up, manifest_req(base), "repository:acme/app:pull")).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(calls.get(), 2);
}

#[test]
fn ecr_rejection_names_the_iam_permissions() {
    let t = Scripted::new()
        .route("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/", |_| {
            (
                401,
                vec![(
                    "www-authenticate",
                    r#"Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/""#.into(),
                )],
                "".into(),
            )
        })
        .route("https://api.ecr.eu-west-1.amazonaws.com/", |_| {
            (400, vec![], r#"{"__type":"UnrecognizedClientException"}"#.into())
        });
    let rec = record("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com", CredentialKind::Ecr);
    let secret =
        Secret::Aws { access_key_id: "AKID".into(), secret_access_key: "s".into(), region: "eu-west-1".into() };
    let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
    let err = block_on(send(
        &t,
        &TokenCache::default(),
        &up,
        manifest_req("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
        "s",
    ))
    .unwrap_err();
    let message = RegistryError::from(err).message;
    assert!(message.contains("ecr:GetAuthorizationToken"), "{message}");
}

#[test]
fn ecr_token_answers() {
    let good = ecr_answer("pw", 1_800_000_000);
    assert_eq!(parse_ecr_token(good.as_bytes()), Some((B64.encode("AWS:pw"), 1_800_000_000)));
    for bad in [
        r#"{"authorizationData":[]}"#,
        r#"{"authorizationData":[{"authorizationToken":"bm90LWF3cw==","expiresAt":1}]}"#,
        "nope",
    ] {
        assert_eq!(parse_ecr_token(bad.as_bytes()), None, "{bad}");
    }
}

#[test]
fn tag_pages() {
    let tags = || ["latest", "1.0", "2.0", "1.1", "1.2"].map(String::from).to_vec();
    let page = |n, last| page_tags(tags(), n, last);
    assert_eq!(
        page(None, None),
        (vec!["1.0", "1.1", "1.2", "2.0", "latest"].into_iter().map(String::from).collect(), None)
    );
    assert_eq!(page(Some(2), None), (vec!["1.0".into(), "1.1".into()], Some("1.1".into())));
    assert_eq!(page(Some(2), Some("1.1")), (vec!["1.2".into(), "2.0".into()], Some("2.0".into())));
    assert_eq!(page(Some(2), Some("2.0")), (vec!["latest".into()], None));
    assert_eq!(page(Some(0), None), (vec![], None));
    assert_eq!(page(None, Some("zzz")), (vec![], None));
    assert_eq!(page(Some(5), None).1, None);
}

#[test]
fn a_refused_challenge_is_not_replayed_after_the_upstream_recovers() {
    let foreign = std::rc::Rc::new(Cell::new(true));
    let f = foreign.clone();
    let t = Scripted::new()
        .route("https://ghcr.io/v2/", move |r| match auth_of(r).as_deref() {
            Some("Bearer tok-1") => (200, vec![], "{}".into()),
            _ => {
                let realm = if f.get() { "https://auth.example.invalid/token" } else { "https://ghcr.io/token" };
                (401, vec![("www-authenticate", format!(r#"Bearer realm="{realm}",service="ghcr.io""#))], "".into())
            }
        })
        .route("https://ghcr.io/token", |_| (200, vec![], r#"{"token":"tok-1","expires_in":300}"#.into()));
    let rec = record("https://ghcr.io", CredentialKind::Ghcr);
    let secret = password();
    let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
    let cache = TokenCache::default();
    let err = block_on(send(&t, &cache, &up, manifest_req("https://ghcr.io"), "s")).unwrap_err();
    assert!(matches!(err, UpstreamError::UntrustedRealm { .. }));
    foreign.set(false);
    let (head, _) = block_on(send(&t, &cache, &up, manifest_req("https://ghcr.io"), "s")).unwrap();
    assert_eq!(head.status, 200);
}
