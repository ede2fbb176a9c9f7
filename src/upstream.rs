//! Talking to a vendor's upstream registry, without doing I/O: authentication (anonymous, Basic,
//! Bearer realm), the upstream token cache, realm and redirect checks, and what each upstream
//! answer means for the client. The Worker and the admin CLI each drive it with a `Transport`.
//!
//! One fetch goes:
//! ```text
//! cached token or known challenge? ──► send with credentials (redirects never followed)
//!       │ no                                   │ 401, or 403 with a cached token
//!       ▼                                      ▼
//! send anonymously ──401──► parse WWW-Authenticate ──► Basic: vendor credentials
//!                                              └─► Bearer: realm trusted? → token → cache → retry once
//! ```

use std::cell::RefCell;
use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::challenge::{self, Challenge};
use crate::error::{ErrorCode, RegistryError};
use crate::store::{CredentialKind, Secret, UpstreamRecord};

/// The `Accept` sent for manifests when the client sent none: every manifest type we relay.
pub const DEFAULT_MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.oci.artifact.manifest.v1+json";

/// Largest manifest relayed (distribution's limit since CVE-2017-11468).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Largest token or error body read from an upstream.
pub const MAX_SMALL_BODY: usize = 64 * 1024;
/// Longest `Location` accepted from an upstream.
pub const MAX_LOCATION_LEN: usize = 8 * 1024;
/// Lifetime assumed when a token response has no `expires_in` (the token spec's default).
pub const DEFAULT_TOKEN_SECONDS: i64 = 60;

/// A request to an upstream; redirects are never followed by the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    pub fn new(method: &'static str, url: impl Into<String>) -> Self {
        Request { method, url: url.into(), headers: Vec::new(), body: None }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    fn with_authorization(&self, value: Option<&str>) -> Request {
        let mut req = self.clone();
        req.headers.retain(|(n, _)| n != "authorization");
        if let Some(v) = value {
            req.headers.push(("authorization".into(), v.to_string()));
        }
        req
    }
}

/// Status and headers of an upstream answer (header names lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.trim().parse().ok())
    }
}

/// Network-level failures, before any HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    Timeout,
    /// DNS, TLS or connection failure; the text is for logs and the vendor's CLI.
    Connect(String),
    /// A body was larger than the reader's limit.
    TooLarge,
}

/// How the Worker or the CLI sends requests. Implementations never follow redirects.
#[allow(async_fn_in_trait)]
pub trait Transport {
    type Body;
    async fn send(&self, req: Request) -> Result<(Head, Self::Body), TransportError>;
    /// Reads at most `limit` bytes of a body, or fails with `TooLarge`.
    async fn read(&self, body: Self::Body, limit: usize) -> Result<Vec<u8>, TransportError>;
    /// Unix seconds now.
    fn now(&self) -> i64;
}

/// Everything needed to talk to one upstream on behalf of one app.
#[derive(Debug, Clone, Copy)]
pub struct Upstream<'a> {
    pub app: &'a str,
    pub record: &'a UpstreamRecord,
    pub secret: Option<&'a Secret>,
    /// Local development only: plain http and loopback realms/redirects are allowed.
    pub allow_insecure: bool,
}

impl Upstream<'_> {
    /// The name used in messages: what kind of registry, and which.
    pub fn describe(&self) -> String {
        let kind = match self.record.credential.kind {
            CredentialKind::Ecr => "ECR",
            CredentialKind::Gcr => "GCR",
            CredentialKind::Ghcr => "GHCR",
            CredentialKind::Dockerhub => "Docker Hub",
            CredentialKind::Basic | CredentialKind::None => "upstream",
        };
        format!("{kind} {}", self.record.display_name())
    }

    /// Cache key: app, endpoint and a fingerprint of the credential, so a token obtained with
    /// one app's credential is never used for another, nor after the credential changes.
    fn cache_key(&self, scope: &str) -> String {
        format!("{}|{scope}", self.cache_base())
    }

    /// The scope-independent part of `cache_key`, which also keys the remembered challenge.
    fn cache_base(&self) -> String {
        let fingerprint = match self.secret {
            Some(s) => {
                let json = serde_json::to_vec(s).unwrap_or_default();
                crate::keys::hex_encode(&Sha256::digest(json)[..8])
            }
            None => "anonymous".into(),
        };
        format!("{}|{}|{}", self.app, self.record.endpoint, fingerprint)
    }

    fn basic_authorization(&self) -> Option<String> {
        match self.secret {
            Some(Secret::Password { username, password }) => {
                Some(format!("Basic {}", B64.encode(format!("{username}:{password}"))))
            }
            _ => None,
        }
    }
}

/// Why talking to an upstream failed, in terms the vendor can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// The upstream asked for credentials and none are configured.
    CredentialsRequired {
        upstream: String,
    },
    /// The upstream (or its token realm) refused the vendor's credentials.
    CredentialsRejected {
        upstream: String,
        status: u16,
        kind: CredentialKind,
    },
    /// The upstream's challenge names a realm we will not send credentials to.
    UntrustedRealm {
        upstream: String,
        realm: String,
    },
    /// The upstream's challenge could not be used.
    BadChallenge {
        upstream: String,
    },
    /// The token realm answered something that is not a token.
    BadTokenResponse {
        upstream: String,
    },
    RateLimited {
        upstream: String,
        retry_after: Option<u64>,
    },
    Unavailable {
        upstream: String,
        status: u16,
    },
    Timeout {
        upstream: String,
    },
    Unreachable {
        upstream: String,
        detail: String,
    },
    /// A `Location` that is not safe to hand on or follow.
    BadRedirect {
        upstream: String,
    },
    /// The credential type cannot be used at the edge yet.
    UnsupportedCredential {
        upstream: String,
    },
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::CredentialsRequired { upstream } => write!(
                f,
                "{upstream} requires credentials and none are configured: the vendor must add a credential to this upstream"
            ),
            UpstreamError::CredentialsRejected { upstream, status, kind } => write!(
                f,
                "{upstream} rejected the vendor's credentials (HTTP {status}): {}",
                rejection_advice(*kind)
            ),
            UpstreamError::UntrustedRealm { upstream, realm } => write!(
                f,
                "{upstream} asked for credentials to be sent to {realm}, which is not on the upstream's own domain; none were sent"
            ),
            UpstreamError::BadChallenge { upstream } => {
                write!(f, "{upstream} answered 401 without a usable WWW-Authenticate challenge")
            }
            UpstreamError::BadTokenResponse { upstream } => {
                write!(f, "{upstream}'s token service answered without a token")
            }
            UpstreamError::RateLimited { upstream, .. } => {
                write!(f, "{upstream} is rate limiting requests; retry later")
            }
            UpstreamError::Unavailable { upstream, status } => {
                write!(f, "{upstream} is unavailable (HTTP {status}); retry later")
            }
            UpstreamError::Timeout { upstream } => write!(f, "{upstream} did not answer in time"),
            UpstreamError::Unreachable { upstream, .. } => {
                write!(f, "{upstream} could not be reached (DNS, TLS or connection failure)")
            }
            UpstreamError::BadRedirect { upstream } => {
                write!(f, "{upstream} redirected to a location that is not allowed")
            }
            UpstreamError::UnsupportedCredential { upstream } => {
                write!(f, "{upstream}'s credential type cannot be used by this version of the edge")
            }
        }
    }
}

impl From<UpstreamError> for RegistryError {
    fn from(e: UpstreamError) -> Self {
        let message = e.to_string();
        match e {
            UpstreamError::RateLimited { retry_after, .. } => {
                RegistryError::upstream(429, ErrorCode::TooManyRequests, message).with_retry_after(retry_after)
            }
            UpstreamError::Unavailable { status: 503, .. } => {
                RegistryError::upstream(503, ErrorCode::Unavailable, message)
            }
            UpstreamError::Timeout { .. } => RegistryError::upstream(504, ErrorCode::Unavailable, message),
            _ => RegistryError::upstream(502, ErrorCode::Unavailable, message),
        }
    }
}

/// What the vendor must fix when a registry of this kind refuses its credential.
pub fn rejection_advice(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Ecr => "ECR rejected the access key: check the IAM policy allows ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer",
        CredentialKind::Gcr => "GCR rejected the _json_key: the service account needs roles/artifactregistry.reader (roles/storage.objectViewer for gcr.io)",
        CredentialKind::Ghcr => "GHCR rejected the token: it needs the read:packages scope and access to the package",
        CredentialKind::Dockerhub => "Docker Hub rejected the login: check the username and the access token (read-only scope is enough)",
        CredentialKind::Basic => "check the username and password stored with `pullgate upstream add`",
        CredentialKind::None => "the upstream needs a credential: add one with `pullgate upstream add --credential …`",
    }
}

fn transport_error(up: &Upstream<'_>, e: TransportError) -> UpstreamError {
    match e {
        TransportError::Timeout => UpstreamError::Timeout { upstream: up.describe() },
        TransportError::Connect(detail) => UpstreamError::Unreachable { upstream: up.describe(), detail },
        TransportError::TooLarge => UpstreamError::BadTokenResponse { upstream: up.describe() },
    }
}

/// Per-isolate (or per-process) memory of upstream tokens and challenges.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: RefCell<HashMap<String, (String, i64)>>,
    challenges: RefCell<HashMap<String, Challenge>>,
}

/// Tokens are dropped this long before they expire, so none expires mid-request.
const TOKEN_SKEW_SECONDS: i64 = 30;
/// Bound on entries, so a long-lived isolate cannot grow without limit.
const MAX_CACHE_ENTRIES: usize = 1024;

impl TokenCache {
    fn get(&self, key: &str, now: i64) -> Option<String> {
        let tokens = self.tokens.borrow();
        tokens.get(key).filter(|(_, exp)| now < *exp).map(|(v, _)| v.clone())
    }

    fn put(&self, key: String, authorization: String, expires_at: i64) {
        let mut tokens = self.tokens.borrow_mut();
        if tokens.len() >= MAX_CACHE_ENTRIES {
            tokens.clear();
        }
        tokens.insert(key, (authorization, expires_at));
    }

    fn forget(&self, key: &str) {
        self.tokens.borrow_mut().remove(key);
    }

    fn challenge(&self, upstream_key: &str) -> Option<Challenge> {
        self.challenges.borrow().get(upstream_key).cloned()
    }

    fn remember_challenge(&self, upstream_key: String, c: Challenge) {
        let mut challenges = self.challenges.borrow_mut();
        if challenges.len() >= MAX_CACHE_ENTRIES {
            challenges.clear();
        }
        challenges.insert(upstream_key, c);
    }

    /// Number of cached tokens (for tests and the benchmark).
    pub fn len(&self) -> usize {
        self.tokens.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

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
struct Auth {
    header: String,
    cached: bool,
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
    cache.put(key.to_string(), authorization.clone(), token.expires_at - TOKEN_SKEW_SECONDS.min(token.lifetime / 2));
    Ok(Auth { header: authorization, cached: false })
}

/// Maps a token service's non-200 answer.
fn check_token_status(up: &Upstream<'_>, head: &Head) -> Result<(), UpstreamError> {
    match head.status {
        200 => Ok(()),
        400 | 401 | 403 => Err(UpstreamError::CredentialsRejected {
            upstream: up.describe(),
            status: head.status,
            kind: up.record.credential.kind,
        }),
        429 => Err(UpstreamError::RateLimited { upstream: up.describe(), retry_after: retry_after(head) }),
        s => Err(UpstreamError::Unavailable { upstream: up.describe(), status: s }),
    }
}

/// ECR's GetAuthorizationToken action (JSON 1.1 protocol).
const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

/// Cache key of an upstream's ECR token.
fn ecr_cache_key(up: &Upstream<'_>) -> String {
    up.cache_key("ecr:GetAuthorizationToken")
}

/// Basic credentials for ECR: `GetAuthorizationToken` signed with SigV4 returns
/// base64(`AWS:<password>`), valid 12 hours. Cached, and refreshed an hour before it expires
/// (a quarter of its life for shorter tokens), never only after a failure.
async fn ecr_authorization<T: Transport>(
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
    let bad_endpoint = || UpstreamError::UntrustedRealm { upstream: up.describe(), realm: truncate(&endpoint, 200) };
    let url = url::Url::parse(&endpoint).map_err(|_| bad_endpoint())?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let insecure_ok = up.allow_insecure && up.record.insecure;
    let endpoint_ok = match url.scheme() {
        "https" => insecure_ok || !is_loopback_or_ip(&host),
        "http" => insecure_ok,
        _ => false,
    };
    if !endpoint_ok || host.is_empty() || !url.username().is_empty() {
        return Err(bad_endpoint());
    }
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
    let lifetime = (expires_at - now).max(0);
    let header = format!("Basic {token}");
    cache.put(key, header.clone(), expires_at - (lifetime / 4).min(3600));
    Ok(Auth { header, cached: false })
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

/// A token from a Bearer realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamToken {
    pub token: String,
    pub expires_at: i64,
    pub lifetime: i64,
}

/// Parses a token-endpoint answer (`token` or `access_token`, `expires_in`, `issued_at`).
pub fn parse_token_response(json: &[u8], now: i64) -> Option<UpstreamToken> {
    #[derive(Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<i64>,
        issued_at: Option<String>,
    }
    let a: Answer = serde_json::from_slice(json).ok()?;
    let token = a.token.or(a.access_token).filter(|t| !t.is_empty() && t.len() <= 16 * 1024)?;
    if token.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return None;
    }
    let lifetime = a.expires_in.filter(|s| *s > 0).unwrap_or(DEFAULT_TOKEN_SECONDS);
    // issued_at is trusted only when it agrees with our clock; a skewed upstream clock must not
    // make tokens look fresh or stale.
    let issued = a
        .issued_at
        .and_then(|s| crate::time::parse_rfc3339_seconds(&s))
        .filter(|t| (t - now).abs() <= 300)
        .unwrap_or(now);
    Some(UpstreamToken { token, expires_at: issued + lifetime, lifetime })
}

/// Checks a token realm before any credential is sent to it: https on the upstream's own host
/// or registrable domain, or a documented pair (Docker Hub's auth.docker.io).
pub fn trusted_realm(realm: &str, up: &Upstream<'_>) -> Result<url::Url, UpstreamError> {
    let untrusted = || UpstreamError::UntrustedRealm { upstream: up.describe(), realm: truncate(realm, 200) };
    let url = url::Url::parse(realm).map_err(|_| untrusted())?;
    let realm_host = url.host_str().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase()).unwrap_or_default();
    if !url.username().is_empty() || url.password().is_some() || realm_host.is_empty() {
        return Err(untrusted());
    }
    let upstream_host = up.record.host();
    if up.allow_insecure && up.record.insecure && is_loopback_or_ip(&upstream_host) {
        // Local development: a loopback upstream may use a token server on another loopback port.
        return if is_loopback(&realm_host) && matches!(url.scheme(), "http" | "https") {
            Ok(url)
        } else {
            Err(untrusted())
        };
    }
    let https = url.scheme() == "https" || (up.allow_insecure && up.record.insecure && url.scheme() == "http");
    if !https || is_loopback_or_ip(&realm_host) {
        return Err(untrusted());
    }
    let docker_hub_pair = up.record.is_docker_hub() && realm_host == "auth.docker.io";
    if realm_host == upstream_host
        || docker_hub_pair
        || registrable_domain(&realm_host) == registrable_domain(&upstream_host)
    {
        Ok(url)
    } else {
        Err(untrusted())
    }
}

/// Suffixes under which different customers own different hosts: there, the registrable
/// domain is the whole host (as the Public Suffix List's private section says).
const SHARED_SUFFIXES: [&str; 9] = [
    "amazonaws.com",
    "azurecr.io",
    "jfrog.io",
    "pkg.dev",
    "cloudfront.net",
    "herokuapp.com",
    "workers.dev",
    "appspot.com",
    "githubusercontent.com",
];
/// Two-label public suffixes common enough to matter for registry hosts.
const TWO_LABEL_SUFFIXES: [&str; 8] = ["co.uk", "com.au", "co.jp", "com.br", "co.nz", "co.in", "com.cn", "co.kr"];

/// eTLD+1 of a hostname, with the small suffix tables above.
pub fn registrable_domain(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if SHARED_SUFFIXES.iter().any(|s| host.ends_with(&format!(".{s}")) || host == *s) {
        return host;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let take = if labels.len() >= 3 && TWO_LABEL_SUFFIXES.contains(&labels[labels.len() - 2..].join(".").as_str()) {
        3
    } else {
        2
    };
    labels[labels.len().saturating_sub(take)..].join(".")
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.starts_with("127.") || host == "::1"
}

fn is_loopback_or_ip(host: &str) -> bool {
    is_loopback(host) || host.parse::<std::net::IpAddr>().is_ok()
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Makes an upstream `Location` absolute and checks it is safe to hand to a client or to
/// fetch without credentials: no CR/LF or controls, bounded length, http(s) only, no userinfo,
/// and plain http or loopback only when the upstream is a local-development one.
pub fn redirect_target(request_url: &str, location: &str, up: &Upstream<'_>) -> Result<String, UpstreamError> {
    let bad = || UpstreamError::BadRedirect { upstream: up.describe() };
    if location.is_empty() || location.len() > MAX_LOCATION_LEN || location.bytes().any(|b| b.is_ascii_control()) {
        return Err(bad());
    }
    let base = url::Url::parse(request_url).map_err(|_| bad())?;
    let target = base.join(location).map_err(|_| bad())?;
    let host = target.host_str().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase()).unwrap_or_default();
    let insecure_ok = up.allow_insecure && up.record.insecure;
    let scheme_ok = target.scheme() == "https" || (insecure_ok && target.scheme() == "http");
    if !scheme_ok || host.is_empty() || !target.username().is_empty() || target.password().is_some() {
        return Err(bad());
    }
    if is_loopback_or_ip(&host) && !insecure_ok {
        return Err(bad());
    }
    Ok(target.to_string())
}

/// Numeric `Retry-After` seconds, if the upstream sent one.
pub fn retry_after(head: &Head) -> Option<u64> {
    head.header("retry-after").and_then(|v| v.trim().parse().ok())
}

/// Which registry resource a request was for; decides the "not found" code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Manifest,
    Blob,
    Tags,
    Referrers,
}

/// Maps an upstream status that is not a success into the client's error. `None` for answers
/// that are relayed (2xx, 3xx, 304).
pub fn classify(resource: Resource, head: &Head, up: &Upstream<'_>, what: &str) -> Option<RegistryError> {
    let upstream = up.describe();
    let e = match head.status {
        200..=399 => return None,
        404 => {
            let (code, message) = match resource {
                Resource::Manifest => {
                    (ErrorCode::ManifestUnknown, format!("manifest {what} is not known to {upstream}"))
                }
                Resource::Blob => (ErrorCode::BlobUnknown, format!("blob {what} is not known to {upstream}")),
                Resource::Tags => (ErrorCode::NameUnknown, format!("repository {what} is not known to {upstream}")),
                // A registry with the referrers API never answers it 404 (spec v1.1), so this is
                // "not offered" (or no such repository); 404 is what makes clients fall back.
                Resource::Referrers => (
                    ErrorCode::Unsupported,
                    format!(
                        "{upstream} does not offer the referrers API for {what} (or does not know the repository); \
                         clients fall back to the sha256-<hex> tag schema"
                    ),
                ),
            };
            RegistryError::new(404, code, message)
        }
        401 | 403 => {
            UpstreamError::CredentialsRejected { upstream, status: head.status, kind: up.record.credential.kind }.into()
        }
        429 => UpstreamError::RateLimited { upstream, retry_after: retry_after(head) }.into(),
        503 => UpstreamError::Unavailable { upstream, status: 503 }.into(),
        504 => UpstreamError::Timeout { upstream }.into(),
        s => UpstreamError::Unavailable { upstream, status: s }.into(),
    };
    Some(e)
}

/// Rewrites an upstream tag-list `Link` header to the client's repository name, keeping only
/// the pagination parameters (`n`, `last`).
pub fn rewrite_tags_link(link: &str, client_name: &str) -> Option<String> {
    let start = link.find('<')? + 1;
    let end = start + link[start..].find('>')?;
    let target = &link[start..end];
    let parsed = url::Url::parse("http://upstream.invalid/").ok()?.join(target).ok()?;
    let mut out = url::Url::parse("http://proxy.invalid/").ok()?.join(&format!("/v2/{client_name}/tags/list")).ok()?;
    {
        let mut q = out.query_pairs_mut();
        for (k, v) in parsed.query_pairs() {
            if k == "n" || k == "last" {
                q.append_pair(&k, &v);
            }
        }
    }
    let query = out.query().map(|q| format!("?{q}")).unwrap_or_default();
    Some(format!("<{}{}>; rel=\"next\"", out.path(), query))
}

/// Pages a complete tag list as the spec says (lexical order, `last` exclusive, at most `n`),
/// for upstreams that ignore `n` and `last`. Returns the page and the `last` of the next
/// page's link when more tags follow.
pub fn page_tags(mut tags: Vec<String>, n: Option<usize>, last: Option<&str>) -> (Vec<String>, Option<String>) {
    tags.sort();
    tags.dedup();
    if let Some(last) = last {
        tags.retain(|t| t.as_str() > last);
    }
    match n {
        Some(n) if tags.len() > n => {
            tags.truncate(n);
            let next = if n == 0 { None } else { tags.last().cloned() };
            (tags, next)
        }
        _ => (tags, None),
    }
}

#[cfg(test)]
mod tests;
