//! What upstream answers and failures mean for the client: `UpstreamError`, its messages, and
//! the mapping of upstream statuses to registry errors.

use crate::error::{ErrorCode, RegistryError};
use crate::store::CredentialKind;

use super::{Head, TransportError, Upstream};

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

/// The sentence every vendor-side failure ends with: the customer cannot fix it.
const CONTACT: &str = "This is not a problem with your license or your client: contact the vendor";

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
                "the vendor's registry {upstream} asked for pullgate's credential to be sent to {realm}, which is not \
                 the registry's own host nor one the vendor listed with --realm-host; none was sent. {CONTACT}"
            ),
            UpstreamError::InsecureUpstream { upstream } => write!(
                f,
                "the vendor's upstream {upstream} is configured with plain http, which this deployment refuses; \
                 nothing was sent to it. {CONTACT}"
            ),
            UpstreamError::LocalUpstream { upstream } => write!(
                f,
                "the vendor's upstream {upstream} is configured with a loopback, private or IP address, which this \
                 deployment refuses; nothing was sent to it. {CONTACT}"
            ),
            UpstreamError::BadEndpoint { upstream } => write!(
                f,
                "the vendor's upstream {upstream} is configured with an endpoint that is not a usable https URL; \
                 nothing was sent to it. {CONTACT}"
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
            UpstreamError::UntrustedRealm { .. }
            | UpstreamError::InsecureUpstream { .. }
            | UpstreamError::LocalUpstream { .. }
            | UpstreamError::BadEndpoint { .. } => RegistryError::upstream(403, ErrorCode::Denied, message),
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
        s => Err(UpstreamError::Unavailable { upstream: up.describe(), status: s }),
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

#[cfg(test)]
mod tests {
    use super::*;
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
            (Resource::Manifest, 401, None, Some((502, ErrorCode::Unavailable, None))),
            (Resource::Manifest, 403, None, Some((502, ErrorCode::Unavailable, None))),
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
            let got = classify(resource, &head(status, retry), &up, "x").map(|e| (e.status, e.code, e.retry_after));
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
}
