//! What upstream answers and failures mean for the client: `UpstreamError`, its messages, and
//! the mapping of upstream statuses to registry errors.
//!
//! docker and containerd/image (podman, skopeo, buildah) print the OCI error message only for
//! 4xx answers; for a 5xx they print "received unexpected HTTP status: 502 Bad Gateway" and ctr
//! prints only the status. So a vendor-side failure that retrying cannot fix is a 4xx the
//! customer can read, and only transient ones stay 5xx. None is ever 401: that would send the
//! client back to `docker login` with a license that is fine.
//!
//! ```text
//! class                                              status  code             Retry-After
//! credential refused or missing (registry or realm)  403     DENIED           -
//! plain-http / local-address upstream, bad endpoint  403     DENIED           -
//! untrusted realm, unusable challenge or token,      403     DENIED           -
//!   bad redirect, unexpected status, malformed
//!   answer, credential type
//! upstream 429                                       429     TOOMANYREQUESTS  upstream's, capped
//! upstream 503                                       503     UNAVAILABLE      -
//! upstream other 5xx, unreachable                    502     UNAVAILABLE      -
//! timeout, upstream 504                              504     UNAVAILABLE      -
//! upstream 404                                       404     *_UNKNOWN        - (see `classify`)
//! ```
//! Every message names the vendor's registry, says whether retrying can help, and tells the
//! customer to contact the vendor; none carries a credential, a token or a URL query.

use crate::store::CredentialKind;

use super::{Head, TransportError, Upstream};

/// Why talking to an upstream failed, in terms the vendor can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// The upstream does not have what was asked for (`what` is the tag, digest or name).
    NotFound {
        upstream: String,
        resource: Resource,
        what: String,
    },
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
        /// The realm's host only: a realm URL may carry a query worth keeping out of messages.
        realm: String,
    },
    /// The upstream is configured with plain http and this deployment refuses insecure upstreams.
    InsecureUpstream {
        upstream: String,
    },
    /// The upstream is configured with a loopback, private, link-local or IP address and this
    /// deployment refuses insecure upstreams.
    LocalUpstream {
        upstream: String,
    },
    /// The configured endpoint (or ECR region) does not make a usable https URL.
    BadEndpoint {
        upstream: String,
    },
    /// The upstream's challenge could not be used.
    BadChallenge {
        upstream: String,
    },
    /// The token realm answered something that is not a token.
    BadTokenResponse {
        upstream: String,
    },
    /// A status no registry answers to a pull (a 400 or 405 on a manifest GET, say).
    UnexpectedStatus {
        upstream: String,
        status: u16,
    },
    /// An answer that is not what a registry sends (`what` says how: "a tag list that is not JSON").
    Malformed {
        upstream: String,
        what: &'static str,
    },
    RateLimited {
        upstream: String,
        retry_after: Option<u64>,
    },
    /// A 5xx from the upstream or its token realm (other than 504).
    Unavailable {
        upstream: String,
        status: u16,
    },
    Timeout {
        upstream: String,
    },
    Unreachable {
        upstream: String,
        /// DNS, TLS or connection detail, for logs and the vendor's CLI; never in the message.
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

/// How every persistent vendor-side failure ends: the customer cannot fix it.
const CONTACT: &str = "this is not a problem with your license or your client: contact the vendor";
/// How every transient failure ends.
const RETRY: &str = "retry later, and contact the vendor if it persists";

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::NotFound { upstream, resource, what } => match resource {
                Resource::Manifest => write!(f, "manifest {what} is not known to {upstream}"),
                Resource::Blob => write!(f, "blob {what} is not known to {upstream}"),
                Resource::Tags => write!(f, "repository {what} is not known to {upstream}"),
                // A registry with the referrers API never answers it 404 (spec v1.1), so this is
                // "not offered" (or no such repository); 404 is what makes clients fall back.
                Resource::Referrers => write!(
                    f,
                    "{upstream} does not offer the referrers API for {what} (or does not know the repository); \
                     clients fall back to the sha256-<hex> tag schema"
                ),
            },
            UpstreamError::CredentialsRequired { upstream } => write!(
                f,
                "the vendor's registry {upstream} requires a credential and pullgate has none for it; {CONTACT} \
                 (vendor: {})",
                rejection_advice(CredentialKind::None)
            ),
            UpstreamError::CredentialsRejected { upstream, status, kind } => write!(
                f,
                "the vendor's registry {upstream} refused pullgate's credential for this repository (HTTP {status}); \
                 {CONTACT} (vendor: {})",
                rejection_advice(*kind)
            ),
            UpstreamError::UntrustedRealm { upstream, realm } => write!(
                f,
                "the vendor's registry {upstream} asked for pullgate's credential to be sent to {realm}, which is \
                 neither the registry's own host nor a realm host the vendor listed; none was sent; {CONTACT} \
                 (vendor: add it with `pullgate upstream add --realm-host` if it is the registry's token service)"
            ),
            UpstreamError::InsecureUpstream { upstream } => write!(
                f,
                "the vendor's upstream {upstream} is configured with plain http, which this deployment refuses; \
                 nothing was sent to it; {CONTACT}"
            ),
            UpstreamError::LocalUpstream { upstream } => write!(
                f,
                "the vendor's upstream {upstream} is configured with a loopback, private or IP address, which this \
                 deployment refuses; nothing was sent to it; {CONTACT}"
            ),
            UpstreamError::BadEndpoint { upstream } => write!(
                f,
                "the vendor's upstream {upstream} is configured with an endpoint that is not a usable https URL; \
                 nothing was sent to it; {CONTACT}"
            ),
            UpstreamError::BadChallenge { upstream } => write!(
                f,
                "the vendor's registry {upstream} asked for authentication without a challenge pullgate can \
                 answer; {CONTACT}"
            ),
            UpstreamError::BadTokenResponse { upstream } => write!(
                f,
                "the token service of the vendor's registry {upstream} answered without a usable token; {CONTACT}"
            ),
            UpstreamError::UnexpectedStatus { upstream, status } => write!(
                f,
                "the vendor's registry {upstream} answered HTTP {status}, which a registry does not answer to a \
                 pull; {CONTACT}"
            ),
            UpstreamError::Malformed { upstream, what } => {
                write!(f, "the vendor's registry {upstream} answered {what}; {CONTACT}")
            }
            UpstreamError::RateLimited { upstream, retry_after } => {
                write!(f, "the vendor's registry {upstream} is rate limiting pullgate; ")?;
                match retry_after {
                    Some(seconds) => write!(f, "retry in {seconds} s, and contact the vendor if it persists"),
                    None => f.write_str(RETRY),
                }
            }
            UpstreamError::Unavailable { upstream, status } => {
                write!(f, "the vendor's registry {upstream} failed (HTTP {status}); {RETRY}")
            }
            UpstreamError::Timeout { upstream } => {
                write!(f, "the vendor's registry {upstream} did not answer in time; {RETRY}")
            }
            UpstreamError::Unreachable { upstream, .. } => write!(
                f,
                "the vendor's registry {upstream} could not be reached (DNS, TLS or connection failure); {RETRY}"
            ),
            UpstreamError::BadRedirect { upstream } => write!(
                f,
                "the vendor's registry {upstream} redirected to a location pullgate does not follow; {CONTACT}"
            ),
            UpstreamError::UnsupportedCredential { upstream } => write!(
                f,
                "the vendor's registry {upstream} has a credential type this version of pullgate cannot use; \
                 {CONTACT}"
            ),
        }
    }
}

/// The client's answer per class (the table at the top of this file).
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

pub(super) fn transport_error(up: &Upstream<'_>, e: TransportError) -> UpstreamError {
    match e {
        TransportError::Timeout => UpstreamError::Timeout { upstream: up.describe() },
        TransportError::Connect(detail) => UpstreamError::Unreachable { upstream: up.describe(), detail },
        TransportError::TooLarge => UpstreamError::BadTokenResponse { upstream: up.describe() },
    }
}

/// Maps a token service's non-200 answer.
pub(super) fn check_token_status(up: &Upstream<'_>, head: &Head) -> Result<(), UpstreamError> {
    match head.status {
        200 => Ok(()),
        400 | 401 | 403 => Err(UpstreamError::CredentialsRejected {
            upstream: up.describe(),
            status: head.status,
            kind: up.record.credential.kind,
        }),
        429 => Err(UpstreamError::RateLimited { upstream: up.describe(), retry_after: retry_after(head) }),
        504 => Err(UpstreamError::Timeout { upstream: up.describe() }),
        s @ 500..=599 => Err(UpstreamError::Unavailable { upstream: up.describe(), status: s }),
        s => Err(UpstreamError::UnexpectedStatus { upstream: up.describe(), status: s }),
    }
}

/// Longest `Retry-After` relayed: an upstream asking for more is asked again within a day.
pub const MAX_RETRY_AFTER_SECONDS: u64 = 86_400;

/// `Retry-After` seconds (digits only, capped at `MAX_RETRY_AFTER_SECONDS`), if the upstream
/// sent the numeric form; an HTTP date or anything else is ignored.
pub fn retry_after(head: &Head) -> Option<u64> {
    let value = head.header("retry-after")?.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits: the only parse failure left is overflow, which the cap covers.
    Some(value.parse::<u64>().unwrap_or(u64::MAX).min(MAX_RETRY_AFTER_SECONDS))
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
pub fn classify(resource: Resource, head: &Head, up: &Upstream<'_>, what: &str) -> Option<UpstreamError> {
    let upstream = up.describe();
    Some(match head.status {
        200..=399 => return None,
        404 => UpstreamError::NotFound { upstream, resource, what: what.to_string() },
        401 | 403 => {
            UpstreamError::CredentialsRejected { upstream, status: head.status, kind: up.record.credential.kind }
        }
        429 => UpstreamError::RateLimited { upstream, retry_after: retry_after(head) },
        504 => UpstreamError::Timeout { upstream },
        s @ 500..=599 => UpstreamError::Unavailable { upstream, status: s },
        s => UpstreamError::UnexpectedStatus { upstream, status: s },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, RegistryError};
    use crate::test_support::*;

    #[test]
    fn classify_table() {
        let rec = upstream_record("https://quay.io", CredentialKind::Basic);
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
            (Resource::Manifest, 401, None, Some((403, ErrorCode::Denied, None))),
            (Resource::Manifest, 403, None, Some((403, ErrorCode::Denied, None))),
            (Resource::Manifest, 400, None, Some((403, ErrorCode::Denied, None))),
            (Resource::Tags, 405, None, Some((403, ErrorCode::Denied, None))),
            (Resource::Blob, 416, None, Some((403, ErrorCode::Denied, None))),
            (Resource::Blob, 502, None, Some((502, ErrorCode::Unavailable, None))),
            (Resource::Manifest, 429, Some("17"), Some((429, ErrorCode::TooManyRequests, Some(17)))),
            (
                Resource::Manifest,
                429,
                Some("Wed, 21 Oct 2026 07:28:00 GMT"),
                Some((429, ErrorCode::TooManyRequests, None)),
            ),
            (Resource::Blob, 500, None, Some((502, ErrorCode::Unavailable, None))),
            (Resource::Blob, 503, None, Some((503, ErrorCode::Unavailable, None))),
            (Resource::Blob, 504, None, Some((504, ErrorCode::Unavailable, None))),
        ] {
            let got = classify(resource, &head(status, retry), &up, "x")
                .map(RegistryError::from)
                .map(|e| (e.status, e.code, e.retry_after));
            assert_eq!(got, want, "{resource:?} {status}");
        }
    }

    #[test]
    fn retry_after_is_numeric_and_capped() {
        for (value, want) in [
            ("17", Some(17)),
            (" 0 ", Some(0)),
            ("86400", Some(MAX_RETRY_AFTER_SECONDS)),
            ("86401", Some(MAX_RETRY_AFTER_SECONDS)),
            ("18446744073709551615", Some(MAX_RETRY_AFTER_SECONDS)),
            ("99999999999999999999999", Some(MAX_RETRY_AFTER_SECONDS)),
            ("+5", None),
            ("-5", None),
            ("1.5", None),
            ("", None),
            ("Wed, 21 Oct 2026 07:28:00 GMT", None),
        ] {
            let head = Head { status: 429, headers: vec![("retry-after".into(), value.into())] };
            assert_eq!(retry_after(&head), want, "{value:?}");
        }
    }

    /// Every class: status, code, Retry-After and the whole message, as the customer reads it.
    #[test]
    fn each_failure_class_has_its_status_code_and_message() {
        let up = || "GHCR ghcr.io".to_string();
        let persistent = |what: &str| {
            format!("the vendor's registry GHCR ghcr.io {what}; this is not a problem with your license or your client: contact the vendor")
        };
        let misconfigured = |what: &str| {
            format!(
                "the vendor's upstream GHCR ghcr.io is configured with {what}; nothing was sent to it; \
                 this is not a problem with your license or your client: contact the vendor"
            )
        };
        let transient = |what: &str| {
            format!("the vendor's registry GHCR ghcr.io {what}; retry later, and contact the vendor if it persists")
        };
        for (error, status, code, retry, message) in [
            (
                UpstreamError::CredentialsRejected { upstream: up(), status: 401, kind: CredentialKind::Ghcr },
                403,
                ErrorCode::Denied,
                None,
                persistent("refused pullgate's credential for this repository (HTTP 401)")
                    + " (vendor: GHCR rejected the token: it needs the read:packages scope and access to the package)",
            ),
            (
                UpstreamError::CredentialsRequired { upstream: up() },
                403,
                ErrorCode::Denied,
                None,
                persistent("requires a credential and pullgate has none for it")
                    + " (vendor: the upstream needs a credential: add one with `pullgate upstream add --credential …`)",
            ),
            (
                UpstreamError::UntrustedRealm { upstream: up(), realm: "auth.example.com".into() },
                403,
                ErrorCode::Denied,
                None,
                persistent(
                    "asked for pullgate's credential to be sent to auth.example.com, which is neither the \
                     registry's own host nor a realm host the vendor listed; none was sent",
                ) + " (vendor: add it with `pullgate upstream add --realm-host` if it is the registry's token service)",
            ),
            (
                UpstreamError::InsecureUpstream { upstream: up() },
                403,
                ErrorCode::Denied,
                None,
                misconfigured("plain http, which this deployment refuses"),
            ),
            (
                UpstreamError::LocalUpstream { upstream: up() },
                403,
                ErrorCode::Denied,
                None,
                misconfigured("a loopback, private or IP address, which this deployment refuses"),
            ),
            (
                UpstreamError::BadEndpoint { upstream: up() },
                403,
                ErrorCode::Denied,
                None,
                misconfigured("an endpoint that is not a usable https URL"),
            ),
            (
                UpstreamError::BadChallenge { upstream: up() },
                403,
                ErrorCode::Denied,
                None,
                persistent("asked for authentication without a challenge pullgate can answer"),
            ),
            (
                UpstreamError::BadTokenResponse { upstream: up() },
                403,
                ErrorCode::Denied,
                None,
                "the token service of the vendor's registry GHCR ghcr.io answered without a usable token; this is \
                 not a problem with your license or your client: contact the vendor"
                    .into(),
            ),
            (
                UpstreamError::UnexpectedStatus { upstream: up(), status: 400 },
                403,
                ErrorCode::Denied,
                None,
                persistent("answered HTTP 400, which a registry does not answer to a pull"),
            ),
            (
                UpstreamError::BadRedirect { upstream: up() },
                403,
                ErrorCode::Denied,
                None,
                persistent("redirected to a location pullgate does not follow"),
            ),
            (
                UpstreamError::UnsupportedCredential { upstream: up() },
                403,
                ErrorCode::Denied,
                None,
                persistent("has a credential type this version of pullgate cannot use"),
            ),
            (
                UpstreamError::RateLimited { upstream: up(), retry_after: Some(17) },
                429,
                ErrorCode::TooManyRequests,
                Some(17),
                "the vendor's registry GHCR ghcr.io is rate limiting pullgate; retry in 17 s, and contact the vendor \
                 if it persists"
                    .into(),
            ),
            (
                UpstreamError::RateLimited { upstream: up(), retry_after: None },
                429,
                ErrorCode::TooManyRequests,
                None,
                transient("is rate limiting pullgate"),
            ),
            (
                UpstreamError::Unavailable { upstream: up(), status: 503 },
                503,
                ErrorCode::Unavailable,
                None,
                transient("failed (HTTP 503)"),
            ),
            (
                UpstreamError::Unavailable { upstream: up(), status: 500 },
                502,
                ErrorCode::Unavailable,
                None,
                transient("failed (HTTP 500)"),
            ),
            (
                UpstreamError::Unreachable { upstream: up(), detail: "tls: certificate expired for user:pw".into() },
                502,
                ErrorCode::Unavailable,
                None,
                transient("could not be reached (DNS, TLS or connection failure)"),
            ),
            (
                UpstreamError::Timeout { upstream: up() },
                504,
                ErrorCode::Unavailable,
                None,
                transient("did not answer in time"),
            ),
        ] {
            let e = RegistryError::from(error.clone());
            assert_eq!((e.status, e.code, e.retry_after), (status, code, retry), "{error:?}");
            assert_eq!(e.message, message, "{error:?}");
            assert_eq!(e.public_message(), message, "{error:?}");
        }
    }

    #[test]
    fn token_service_answers_map_to_their_class() {
        let rec = upstream_record("https://ghcr.io", CredentialKind::Ghcr);
        let up = Upstream { app: "a", record: &rec, secret: None, allow_insecure: false };
        for (status, want) in [
            (200, None),
            (400, Some((403, ErrorCode::Denied))),
            (401, Some((403, ErrorCode::Denied))),
            (403, Some((403, ErrorCode::Denied))),
            (404, Some((403, ErrorCode::Denied))),
            (405, Some((403, ErrorCode::Denied))),
            (429, Some((429, ErrorCode::TooManyRequests))),
            (500, Some((502, ErrorCode::Unavailable))),
            (503, Some((503, ErrorCode::Unavailable))),
            (504, Some((504, ErrorCode::Unavailable))),
        ] {
            let got = check_token_status(&up, &Head { status, headers: vec![] })
                .err()
                .map(RegistryError::from)
                .map(|e| (e.status, e.code));
            assert_eq!(got, want, "{status}");
        }
    }
}
