//! The fetch driver: sends a request to an upstream with the vendor's credentials, answering
//! its challenge (Basic, Bearer realm, or ECR's signed token exchange) and retrying once.
//!
//! One fetch goes:
//! ```text
//! cached token or known challenge? ──► send with credentials (redirects never followed)
//!       │ no                                   │ 401, or 403 with a cached token
//!       ▼                                      ▼
//! send anonymously ──401──► parse WWW-Authenticate ──► Basic: vendor credentials
//!                                              └─► Bearer: realm trusted? → token → cache → retry once
//! ```

use crate::challenge::{self, Challenge};
use crate::store::Secret;

use super::answers::{check_token_status, transport_error, UpstreamError};
use super::ecr::{ecr_authorization, ecr_cache_key};
use super::policy::{check_request_url, trusted_realm};
use super::token_cache::{parse_token_response, TokenCache, TOKEN_SKEW_SECONDS};
use super::{Head, Request, Transport, Upstream, MAX_SMALL_BODY};

/// Sends `req` to the upstream with the vendor's credentials, authenticating as its challenge
/// asks, and returns the upstream's answer (any status; redirects not followed).
/// `scope` is the upstream token scope, e.g. `repository:library/nginx:pull`.
pub async fn send<T: Transport>(
    t: &T,
    cache: &TokenCache,
    up: &Upstream<'_>,
    req: Request,
    scope: &str,
) -> Result<(Head, T::Body), UpstreamError> {
    // Refused before anything is sent: nothing, not even an anonymous probe, goes over plain
    // http or to a local address unless this upstream may be insecure.
    check_request_url(&req.url, up)?;
    if let Some(endpoint) = &up.record.auth_endpoint {
        check_request_url(endpoint, up)?;
    }
    // The credential fingerprint is hashed once per request, not once per key.
    let upstream_key = up.cache_base();
    let key = format!("{upstream_key}|{scope}");
    let mut authorization = cache.get(&key, t.now()).map(|header| Auth { header, cached: true });
    if authorization.is_none() {
        if let Some(c) = cache.challenge(&upstream_key) {
            authorization = Some(authenticate(t, cache, up, &c, scope, &key).await?);
        }
    }
    let mut retried = false;
    loop {
        let sent = req.with_authorization(authorization.as_ref().map(|a| a.header.as_str()));
        let (head, body) = t.send(sent).await.map_err(|e| transport_error(up, e))?;
        let stale = authorization.as_ref().is_some_and(|a| a.cached);
        let retry = !retried && (head.status == 401 || (head.status == 403 && stale));
        if !retry {
            if head.status == 401 && authorization.is_none() {
                // 401 without a challenge we could act on and without credentials to offer.
                return Err(UpstreamError::CredentialsRequired { upstream: up.describe() });
            }
            return Ok((head, body));
        }
        if stale {
            // A cached token was refused (ECR answers an expired one with a plain-text 403):
            // drop it, and the ECR token behind Basic credentials too.
            cache.forget(&key);
            cache.forget(&ecr_cache_key(up));
        }
        let challenges = challenge::parse_all(head.headers_named("www-authenticate"));
        let Some(c) = pick_challenge(challenges).or_else(|| cache.challenge(&upstream_key)) else {
            if head.status == 403 {
                // Nothing known about how to authenticate: ask again anonymously to learn it.
                authorization = None;
                continue;
            }
            return Err(UpstreamError::BadChallenge { upstream: up.describe() });
        };
        retried = true;
        // Remembered only once it worked: a challenge refused here (a realm on a foreign
        // domain, say) must not be replayed from the cache after the upstream recovers.
        let auth = authenticate(t, cache, up, &c, scope, &key).await?;
        cache.remember_challenge(upstream_key.clone(), c);
        authorization = Some(auth);
    }
}

/// Bearer beats Basic when both are offered: the token is scoped, the password is not.
fn pick_challenge(challenges: Vec<Challenge>) -> Option<Challenge> {
    let mut basic = None;
    for c in challenges {
        match c.scheme.as_str() {
            "bearer" if c.param("realm").is_some() => return Some(c),
            "basic" => basic = Some(c),
            _ => {}
        }
    }
    basic
}

/// An `Authorization` value, and whether it came from the cache (and so may be stale).
pub(super) struct Auth {
    pub(super) header: String,
    pub(super) cached: bool,
}

async fn authenticate<T: Transport>(
    t: &T,
    cache: &TokenCache,
    up: &Upstream<'_>,
    c: &Challenge,
    scope: &str,
    key: &str,
) -> Result<Auth, UpstreamError> {
    if c.scheme == "basic" {
        return match up.secret {
            Some(Secret::Password { .. }) => up
                .basic_authorization()
                .map(|header| Auth { header, cached: false })
                .ok_or(UpstreamError::BadChallenge { upstream: up.describe() }),
            Some(Secret::Aws { access_key_id, secret_access_key, region }) => {
                ecr_authorization(t, cache, up, access_key_id, secret_access_key, region).await
            }
            None => Err(UpstreamError::CredentialsRequired { upstream: up.describe() }),
        };
    }
    let realm = c.param("realm").ok_or(UpstreamError::BadChallenge { upstream: up.describe() })?;
    let mut url = trusted_realm(realm, up)?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = c.param("service") {
            query.append_pair("service", service);
        }
        query.append_pair("scope", scope);
    }
    let mut req = Request::new("GET", url.as_str());
    if let Some(auth) = up.basic_authorization() {
        req = req.header("authorization", auth);
    }
    let now = t.now();
    let (head, body) = t.send(req).await.map_err(|e| transport_error(up, e))?;
    check_token_status(up, &head)?;
    let json = t.read(body, MAX_SMALL_BODY).await.map_err(|e| transport_error(up, e))?;
    let token = parse_token_response(&json, now).ok_or(UpstreamError::BadTokenResponse { upstream: up.describe() })?;
    let authorization = format!("Bearer {}", token.token);
    let refresh_at = token.expires_at.saturating_sub(TOKEN_SKEW_SECONDS.min(token.lifetime / 2));
    cache.put(key.to_string(), authorization.clone(), refresh_at);
    Ok(Auth { header: authorization, cached: false })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::error::{ErrorCode, RegistryError};
    use crate::store::{CredentialKind, Secret};
    use crate::test_support::*;

    #[test]
    fn anonymous_upstream_gets_no_credentials() {
        let t = Scripted::new().route("https://quay.io/v2/", |_| (200, vec![], "{}".into()));
        let rec = upstream_record("https://quay.io", CredentialKind::None);
        let up = Upstream { app: "acme", record: &rec, secret: None, allow_insecure: false };
        let cache = TokenCache::default();
        let (head, _) =
            block_on(send(&t, &cache, &up, manifest_request("https://quay.io"), "repository:acme/app:pull")).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(authorization_of(&t.sent()[0]), None);
    }

    #[test]
    fn basic_challenge_is_answered_with_vendor_credentials_and_remembered() {
        let t = Scripted::new().route("https://art.example.com/v2/", |r| match authorization_of(r).as_deref() {
            Some(BASIC_VENDOR) => (200, vec![], "{}".into()),
            _ => (401, vec![("www-authenticate", r#"Basic realm="Artifactory Realm""#.into())], "".into()),
        });
        let rec = upstream_record("https://art.example.com", CredentialKind::Basic);
        let secret = vendor_password();
        let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
        let cache = TokenCache::default();
        let scope = "repository:acme/app:pull";
        assert_eq!(
            block_on(send(&t, &cache, &up, manifest_request("https://art.example.com"), scope)).unwrap().0.status,
            200
        );
        assert_eq!(t.sent().len(), 2);
        // The second request goes straight out with Basic: the challenge was remembered.
        assert_eq!(
            block_on(send(&t, &cache, &up, manifest_request("https://art.example.com"), scope)).unwrap().0.status,
            200
        );
        assert_eq!(t.sent().len(), 3);
        assert_eq!(authorization_of(&t.sent()[2]).as_deref(), Some(BASIC_VENDOR));
    }

    fn bearer_upstream(realm: &'static str) -> Scripted {
        Scripted::new()
            .route("https://ghcr.io/v2/", move |r| match authorization_of(r).as_deref() {
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
            .route("https://ghcr.io/token", |r| match authorization_of(r).as_deref() {
                Some(BASIC_VENDOR) => (200, vec![], r#"{"token":"tok-1","expires_in":300}"#.into()),
                _ => (401, vec![], r#"{"errors":[]}"#.into()),
            })
            .route("https://evil.example/", |_| (200, vec![], r#"{"token":"stolen"}"#.into()))
    }

    #[test]
    fn bearer_realm_token_is_fetched_cached_and_refreshed_after_expiry() {
        let t = bearer_upstream("https://ghcr.io/token");
        let rec = upstream_record("https://ghcr.io", CredentialKind::Ghcr);
        let secret = vendor_password();
        let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
        let cache = TokenCache::default();
        let scope = "repository:acme/app:pull";
        assert_eq!(block_on(send(&t, &cache, &up, manifest_request("https://ghcr.io"), scope)).unwrap().0.status, 200);
        let token_reqs = t.sent_to("https://ghcr.io/token");
        assert_eq!(token_reqs.len(), 1);
        assert_eq!(token_reqs[0].url, "https://ghcr.io/token?service=ghcr.io&scope=repository%3Aacme%2Fapp%3Apull");
        // Cached: no new token request, and the manifest request carries the token at once.
        assert_eq!(block_on(send(&t, &cache, &up, manifest_request("https://ghcr.io"), scope)).unwrap().0.status, 200);
        assert_eq!(t.sent_to("https://ghcr.io/token").len(), 1);
        assert_eq!(authorization_of(t.sent().last().unwrap()).as_deref(), Some("Bearer tok-1"));
        // Past expiry minus skew, a new token is fetched before the request, not after a failure.
        t.advance(300 - 29);
        assert_eq!(block_on(send(&t, &cache, &up, manifest_request("https://ghcr.io"), scope)).unwrap().0.status, 200);
        assert_eq!(t.sent_to("https://ghcr.io/token").len(), 2);
        assert_eq!(t.sent_to("https://ghcr.io/v2/").len(), 4, "one 401 in all, then straight hits");
    }

    #[test]
    fn tokens_are_not_shared_between_apps() {
        let t = bearer_upstream("https://ghcr.io/token");
        let rec = upstream_record("https://ghcr.io", CredentialKind::Ghcr);
        let secret = vendor_password();
        let cache = TokenCache::default();
        let scope = "repository:acme/app:pull";
        for app in ["acme", "globex"] {
            let up = Upstream { app, record: &rec, secret: Some(&secret), allow_insecure: false };
            block_on(send(&t, &cache, &up, manifest_request("https://ghcr.io"), scope)).unwrap();
        }
        assert_eq!(t.sent_to("https://ghcr.io/token").len(), 2);
    }

    #[test]
    fn untrusted_realms_get_no_credentials() {
        // Another domain, and the registry's own host over plain http.
        for (realm, never_sent_to) in
            [("https://evil.example/token", "https://evil.example"), ("http://ghcr.io/token", "http://")]
        {
            let t = bearer_upstream(realm);
            let rec = upstream_record("https://ghcr.io", CredentialKind::Ghcr);
            let secret = vendor_password();
            let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
            let err =
                block_on(send(&t, &TokenCache::default(), &up, manifest_request("https://ghcr.io"), "s")).unwrap_err();
            assert!(matches!(err, UpstreamError::UntrustedRealm { .. }), "{realm}: {err:?}");
            assert!(t.sent_to(never_sent_to).is_empty(), "{realm}");
            assert_eq!(RegistryError::from(err).status, 403);
        }
    }

    #[test]
    fn rejected_vendor_credentials_become_403_denied_never_401() {
        let t = bearer_upstream("https://ghcr.io/token");
        let rec = upstream_record("https://ghcr.io", CredentialKind::Ghcr);
        let wrong = Secret::Password { username: "vendor".into(), password: "wrong".into() };
        let up = Upstream { app: "acme", record: &rec, secret: Some(&wrong), allow_insecure: false };
        let err =
            block_on(send(&t, &TokenCache::default(), &up, manifest_request("https://ghcr.io"), "s")).unwrap_err();
        assert_eq!(
            err,
            UpstreamError::CredentialsRejected {
                upstream: "GHCR ghcr.io".into(),
                status: 401,
                kind: CredentialKind::Ghcr
            }
        );
        let e = RegistryError::from(err);
        assert_eq!((e.status, e.code), (403, ErrorCode::Denied));
        assert!(
            e.message.contains("the vendor's registry GHCR ghcr.io refused pullgate's credential"),
            "{}",
            e.message
        );
        assert!(e.message.contains("not a problem with your license"), "{}", e.message);
        assert!(e.message.contains("read:packages"), "{}", e.message);
        assert!(!e.message.contains("wrong"), "{}", e.message);
    }

    #[test]
    fn missing_credentials_are_reported_as_such() {
        let t = bearer_upstream("https://ghcr.io/token");
        let rec = upstream_record("https://ghcr.io", CredentialKind::None);
        let up = Upstream { app: "acme", record: &rec, secret: None, allow_insecure: false };
        // The realm refuses an anonymous token request.
        let err =
            block_on(send(&t, &TokenCache::default(), &up, manifest_request("https://ghcr.io"), "s")).unwrap_err();
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
                match authorization_of(r).as_deref() {
                    Some("Bearer fresh") => (200, vec![], "{}".into()),
                    Some(_) => {
                        (403, vec![], "Your authorization token has expired. Reauthenticate and try again.".into())
                    }
                    None => (
                        401,
                        vec![("www-authenticate", r#"Bearer realm="https://ghcr.io/token",service="ghcr.io""#.into())],
                        "".into(),
                    ),
                }
            })
            .route("https://ghcr.io/token", |_| (200, vec![], r#"{"access_token":"fresh","expires_in":300}"#.into()));
        let rec = upstream_record("https://ghcr.io", CredentialKind::Ghcr);
        let secret = vendor_password();
        let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
        let cache = TokenCache::default();
        let scope = "repository:acme/app:pull";
        // Without a remembered challenge: stale → 403, anonymous → 401 challenge, fresh → 200.
        cache.put(up.cache_key(scope), "Bearer stale".into(), i64::MAX);
        let (head, _) = block_on(send(&t, &cache, &up, manifest_request("https://ghcr.io"), scope)).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(calls.get(), 3);
        // With the challenge remembered from the first exchange: stale → 403, fresh → 200.
        cache.put(up.cache_key(scope), "Bearer stale".into(), i64::MAX);
        let (head, _) = block_on(send(&t, &cache, &up, manifest_request("https://ghcr.io"), scope)).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(calls.get(), 5);
        assert_eq!(t.sent_to("https://ghcr.io/token").len(), 2);
    }

    #[test]
    fn a_refused_challenge_is_not_replayed_after_the_upstream_recovers() {
        let foreign = std::rc::Rc::new(Cell::new(true));
        let f = foreign.clone();
        let t = Scripted::new()
            .route("https://ghcr.io/v2/", move |r| match authorization_of(r).as_deref() {
                Some("Bearer tok-1") => (200, vec![], "{}".into()),
                _ => {
                    let realm = if f.get() { "https://auth.example.invalid/token" } else { "https://ghcr.io/token" };
                    (401, vec![("www-authenticate", format!(r#"Bearer realm="{realm}",service="ghcr.io""#))], "".into())
                }
            })
            .route("https://ghcr.io/token", |_| (200, vec![], r#"{"token":"tok-1","expires_in":300}"#.into()));
        let rec = upstream_record("https://ghcr.io", CredentialKind::Ghcr);
        let secret = vendor_password();
        let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
        let cache = TokenCache::default();
        let err = block_on(send(&t, &cache, &up, manifest_request("https://ghcr.io"), "s")).unwrap_err();
        assert!(matches!(err, UpstreamError::UntrustedRealm { .. }));
        foreign.set(false);
        let (head, _) = block_on(send(&t, &cache, &up, manifest_request("https://ghcr.io"), "s")).unwrap();
        assert_eq!(head.status, 200);
    }

    /// A stand-in answering everything 200, so any request that got through would succeed.
    fn answers_everything() -> Scripted {
        Scripted::new().route("http", |_| (200, vec![], "{}".into()))
    }

    #[test]
    fn plain_http_upstreams_are_refused_before_anything_is_sent_for_every_request_kind() {
        let mut rec = upstream_record("http://registry.example.com", CredentialKind::Basic);
        rec.insecure = true;
        let secret = vendor_password();
        let base = "http://registry.example.com/v2/acme/app";
        for url in [
            format!("{base}/manifests/1.0"),
            format!("{base}/blobs/sha256:{}", "a".repeat(64)),
            format!("{base}/tags/list?n=10"),
            format!("{base}/referrers/sha256:{}", "b".repeat(64)),
        ] {
            let t = answers_everything();
            let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
            let err =
                block_on(send(&t, &TokenCache::default(), &up, Request::new("GET", url.clone()), "s")).unwrap_err();
            assert_eq!(
                err,
                UpstreamError::InsecureUpstream { upstream: "upstream registry.example.com".into() },
                "{url}"
            );
            assert!(t.sent().is_empty(), "{url}");
            // The same upstream in a deployment that allows insecure upstreams is used.
            let dev = Upstream { allow_insecure: true, ..up };
            assert_eq!(
                block_on(send(&t, &TokenCache::default(), &dev, Request::new("GET", url.clone()), "s"))
                    .unwrap()
                    .0
                    .status,
                200
            );
        }
    }

    #[test]
    fn local_address_upstreams_are_refused_before_anything_is_sent() {
        for endpoint in ["https://10.0.0.5", "https://169.254.169.254", "https://localhost.", "https://[::1]"] {
            let rec = upstream_record(endpoint, CredentialKind::None);
            let up = Upstream { app: "acme", record: &rec, secret: None, allow_insecure: true };
            let t = answers_everything();
            let err = block_on(send(&t, &TokenCache::default(), &up, manifest_request(endpoint), "s")).unwrap_err();
            assert!(matches!(err, UpstreamError::LocalUpstream { .. }), "{endpoint}: {err:?}");
            assert!(t.sent().is_empty(), "{endpoint}");
        }
    }

    #[test]
    fn a_plain_http_ecr_api_endpoint_is_refused_before_anything_is_sent() {
        let endpoint = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        let mut rec = upstream_record(endpoint, CredentialKind::Ecr);
        rec.auth_endpoint = Some("http://api.ecr.eu-west-1.amazonaws.com/".into());
        let secret =
            Secret::Aws { access_key_id: "AKID".into(), secret_access_key: "s".into(), region: "eu-west-1".into() };
        let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
        let t = answers_everything();
        let err = block_on(send(&t, &TokenCache::default(), &up, manifest_request(endpoint), "s")).unwrap_err();
        assert!(matches!(err, UpstreamError::InsecureUpstream { .. }), "{err:?}");
        assert!(t.sent().is_empty());
    }

    #[test]
    fn a_token_claiming_to_live_forever_is_cached_for_a_bounded_time() {
        let t = Scripted::new()
            .route("https://ghcr.io/v2/", |r| match authorization_of(r).as_deref() {
                Some("Bearer forever") => (200, vec![], "{}".into()),
                _ => (401, vec![("www-authenticate", r#"Bearer realm="https://ghcr.io/token""#.into())], "".into()),
            })
            .route("https://ghcr.io/token", |_| {
                (200, vec![], r#"{"token":"forever","expires_in":9223372036854775807}"#.into())
            });
        let rec = upstream_record("https://ghcr.io", CredentialKind::Ghcr);
        let up = Upstream { app: "acme", record: &rec, secret: None, allow_insecure: false };
        let cache = TokenCache::default();
        block_on(send(&t, &cache, &up, manifest_request("https://ghcr.io"), "s")).unwrap();
        t.advance(2 * 86_400);
        block_on(send(&t, &cache, &up, manifest_request("https://ghcr.io"), "s")).unwrap();
        assert_eq!(t.sent_to("https://ghcr.io/token").len(), 2);
    }
}
