//! Amazon ECR: exchanging the vendor's access key for the registry's Basic credential with a
//! SigV4-signed `GetAuthorizationToken`, cached and refreshed before it expires.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;

use super::answers::{check_token_status, transport_error, UpstreamError};
use super::driver::Auth;
use super::policy::check_request_url;
use super::token_cache::TokenCache;
use super::{Request, Transport, Upstream, MAX_SMALL_BODY};

/// ECR's GetAuthorizationToken action (JSON 1.1 protocol).
pub(super) const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

/// Cache key of an upstream's ECR token.
pub(super) fn ecr_cache_key(up: &Upstream<'_>) -> String {
    up.cache_key("ecr:GetAuthorizationToken")
}

/// Basic credentials for ECR: `GetAuthorizationToken` signed with SigV4 returns
/// base64(`AWS:<password>`), valid 12 hours. Cached, and refreshed an hour before it expires
/// (a quarter of its life for shorter tokens), never only after a failure.
pub(super) async fn ecr_authorization<T: Transport>(
    t: &T,
    cache: &TokenCache,
    up: &Upstream<'_>,
    access_key_id: &str,
    secret_access_key: &str,
    region: &str,
) -> Result<Auth, UpstreamError> {
    let key = ecr_cache_key(up);
    let now = t.now();
    if let Some(header) = cache.get(&key, now) {
        return Ok(Auth { header, cached: true });
    }
    let endpoint = match &up.record.auth_endpoint {
        Some(e) => e.clone(),
        None => format!("https://api.ecr.{region}.amazonaws.com/"),
    };
    // The region comes from the sealed secret; it must not be able to change the host.
    if region.is_empty() || !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(UpstreamError::BadEndpoint { upstream: up.describe() });
    }
    let url = check_request_url(&endpoint, up)?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let body = b"{}".to_vec();
    let signable = crate::sigv4::SignableRequest {
        method: "POST".into(),
        uri: url.path().to_string(),
        headers: vec![
            ("host".into(), authority),
            ("content-type".into(), "application/x-amz-json-1.1".into()),
            ("x-amz-target".into(), ECR_TARGET.into()),
        ],
        body: body.clone(),
    };
    let credentials = crate::sigv4::Credentials {
        access_key_id: access_key_id.to_string(),
        secret_access_key: secret_access_key.to_string(),
        session_token: None,
    };
    let params = crate::sigv4::SigningParams {
        credentials: &credentials,
        region,
        service: "ecr",
        time_unix: now,
        settings: crate::sigv4::Settings::default(),
    };
    let signed =
        crate::sigv4::sign(&signable, &params).map_err(|_| UpstreamError::BadChallenge { upstream: up.describe() })?;
    let mut req = Request::new("POST", url.as_str())
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", ECR_TARGET);
    for (name, value) in signed.headers {
        req = req.header(name, value);
    }
    req.body = Some(body);
    let (head, resp_body) = t.send(req).await.map_err(|e| transport_error(up, e))?;
    check_token_status(up, &head)?;
    let json = t.read(resp_body, MAX_SMALL_BODY).await.map_err(|e| transport_error(up, e))?;
    let (token, expires_at) =
        parse_ecr_token(&json).ok_or(UpstreamError::BadTokenResponse { upstream: up.describe() })?;
    let header = format!("Basic {token}");
    cache.put(key, header.clone(), ecr_refresh_at(now, expires_at));
    Ok(Auth { header, cached: false })
}

/// ECR tokens live 12 hours; a longer life claimed by the API is not believed.
const ECR_MAX_TOKEN_SECONDS: i64 = 12 * 3600;

/// When to stop using an ECR token that `expires_at`: an hour before (a quarter of its life
/// for shorter ones), its life clamped to 0..=12 h, saturating at the ends of `i64`.
fn ecr_refresh_at(now: i64, expires_at: i64) -> i64 {
    let lifetime = expires_at.saturating_sub(now).clamp(0, ECR_MAX_TOKEN_SECONDS);
    now.saturating_add(lifetime - (lifetime / 4).min(3600))
}

/// `{"authorizationData":[{"authorizationToken":"<base64 AWS:pw>","expiresAt":1.7e9,…}]}`
pub fn parse_ecr_token(json: &[u8]) -> Option<(String, i64)> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        authorization_token: String,
        expires_at: f64,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        authorization_data: Vec<Data>,
    }
    let answer: Answer = serde_json::from_slice(json).ok()?;
    let data = answer.authorization_data.into_iter().next()?;
    let decoded = B64.decode(&data.authorization_token).ok()?;
    if !decoded.starts_with(b"AWS:") || !data.expires_at.is_finite() {
        return None;
    }
    Some((data.authorization_token, data.expires_at as i64))
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use super::*;
    use crate::error::RegistryError;
    use crate::store::{CredentialKind, Secret};
    use crate::test_support::*;
    use crate::upstream::send;

    fn ecr_answer(password: &str, expires_at: i64) -> String {
        let token = B64.encode(format!("AWS:{password}"));
        format!(
            r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":{expires_at}.25,"proxyEndpoint":"https://x"}}]}}"#
        )
    }

    /// AWS keys for eu-west-1 (the stand-in checks only the signature's shape).
    fn aws_keys(secret_access_key: &str) -> Secret {
        Secret::Aws {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: secret_access_key.into(),
            region: "eu-west-1".into(),
        }
    }

    fn ecr_setup(api_calls: std::rc::Rc<Cell<i64>>, valid: std::rc::Rc<RefCell<String>>) -> Scripted {
        let v = valid.clone();
        Scripted::new()
            .route("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/", move |r| {
                let want = format!("Basic {}", B64.encode(format!("AWS:{}", v.borrow())));
                match authorization_of(r) {
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
        let rec = upstream_record("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com", CredentialKind::Ecr);
        let secret = aws_keys("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
        let cache = TokenCache::default();
        let base = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        for scope in ["repository:acme/app:pull", "repository:acme/other:pull"] {
            let (head, _) = block_on(send(&t, &cache, &up, manifest_request(base), scope)).unwrap();
            assert_eq!(head.status, 200);
        }
        assert_eq!(calls.get(), 1, "one GetAuthorizationToken for both repositories");
        // 11 h later the token still works but is refreshed before use (one hour of skew).
        t.set_now(SCRIPTED_EPOCH + 11 * 3600 + 1);
        valid.replace("pw-2".into());
        let (head, _) = block_on(send(&t, &cache, &up, manifest_request(base), "repository:acme/app:pull")).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn ecr_expired_token_mid_pull_is_dropped_and_fetched_again_once() {
        let calls = std::rc::Rc::new(Cell::new(0));
        let valid = std::rc::Rc::new(RefCell::new("pw-1".to_string()));
        let t = ecr_setup(calls.clone(), valid.clone());
        let rec = upstream_record("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com", CredentialKind::Ecr);
        let secret = aws_keys("s");
        let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
        let cache = TokenCache::default();
        let base = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        block_on(send(&t, &cache, &up, manifest_request(base), "repository:acme/app:pull")).unwrap();
        // The registry revokes the token early (as after a credential change): plain-text 403.
        valid.replace("pw-2".into());
        let (head, _) = block_on(send(&t, &cache, &up, manifest_request(base), "repository:acme/app:pull")).unwrap();
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
        let rec = upstream_record("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com", CredentialKind::Ecr);
        let secret = aws_keys("s");
        let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
        let err = block_on(send(
            &t,
            &TokenCache::default(),
            &up,
            manifest_request("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
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
    fn ecr_expiry_numbers_of_any_size_parse_without_wrapping() {
        for (expires_at, want) in [
            ("1800000000", Some(1_800_000_000)),
            ("1.8e9", Some(1_800_000_000)),
            ("9223372036854775807", Some(i64::MAX)),
            ("1e300", Some(i64::MAX)),
            ("-1e300", Some(i64::MIN)),
            ("-5", Some(-5)),
            ("\"2027-01-01T00:00:00Z\"", None),
            ("null", None),
        ] {
            let json = format!(
                r#"{{"authorizationData":[{{"authorizationToken":"{}","expiresAt":{expires_at}}}]}}"#,
                B64.encode("AWS:pw")
            );
            assert_eq!(parse_ecr_token(json.as_bytes()).map(|(_, at)| at), want, "{expires_at}");
        }
        let missing = format!(r#"{{"authorizationData":[{{"authorizationToken":"{}"}}]}}"#, B64.encode("AWS:pw"));
        assert_eq!(parse_ecr_token(missing.as_bytes()), None);
    }

    #[test]
    fn ecr_refresh_time_stays_within_twelve_hours_of_now() {
        let now = SCRIPTED_EPOCH;
        for (expires_at, want) in [
            (now + 12 * 3600, now + 11 * 3600),
            (now + 2 * 3600, now + 2 * 3600 - 1800),
            (i64::MAX, now + 11 * 3600),
            (now - 100, now),
            (i64::MIN, now),
        ] {
            assert_eq!(ecr_refresh_at(now, expires_at), want, "{expires_at}");
        }
        assert_eq!(ecr_refresh_at(i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(ecr_refresh_at(i64::MIN, i64::MAX), i64::MIN + 11 * 3600);
    }

    #[test]
    fn an_ecr_token_claiming_to_expire_at_the_end_of_time_is_still_refreshed() {
        let t = Scripted::new()
            .route("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/", |r| match authorization_of(r) {
                Some(_) => (200, vec![], "{}".into()),
                None => (401, vec![("www-authenticate", r#"Basic realm="x""#.into())], "".into()),
            })
            .route("https://api.ecr.eu-west-1.amazonaws.com/", |_| {
                let token = B64.encode("AWS:pw");
                (
                    200,
                    vec![],
                    format!(r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":1e300}}]}}"#),
                )
            });
        let rec = upstream_record("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com", CredentialKind::Ecr);
        let secret = aws_keys("s");
        let up = Upstream { app: "acme", record: &rec, secret: Some(&secret), allow_insecure: false };
        let cache = TokenCache::default();
        let base = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        block_on(send(&t, &cache, &up, manifest_request(base), "s")).unwrap();
        t.advance(12 * 3600);
        block_on(send(&t, &cache, &up, manifest_request(base), "s")).unwrap();
        assert_eq!(t.sent_to("https://api.ecr.").len(), 2);
    }
}
