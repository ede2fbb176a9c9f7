//! The one place where failures become OCI distribution errors: wire codes, statuses and messages.
//!
//! Domain modules return their own small error enums; every `From<…> for RegistryError` lives
//! here, so the mapping from "what went wrong" to "what the client sees" can be read in one file.
//! See <https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes>.

use serde::Serialize;

/// Error codes of the OCI distribution spec, plus distribution's `UNAVAILABLE`/`UNKNOWN` for
/// failures that are not the client's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    PaginationNumberInvalid,
    Unavailable,
    Unknown,
}

impl ErrorCode {
    /// The wire spelling, as it appears in the `code` field.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Unknown => "UNKNOWN",
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Who is to blame; decides whether the message may be shown as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The client sent something wrong; the message explains it to them.
    Downstream,
    /// The vendor's upstream registry or its configuration failed; the message names it.
    Upstream,
    /// A bug or platform failure; the client gets a generic message.
    Internal,
}

/// An error on its way to the client: status, OCI code, message and the headers it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    pub source: Source,
    /// Seconds for `Retry-After` on 429/503.
    pub retry_after: Option<u64>,
    /// For 401s: the scope to put in the `WWW-Authenticate` challenge, and the bearer error.
    pub challenge: Option<ChallengeHint>,
    /// A stable machine code for the failure, sent as `detail.reason` (tools match on it,
    /// never on the message, which is for people and may be reworded).
    pub reason: Option<Reason>,
}

/// Why a request failed, as a stable code in the error's `detail` (`{"reason": "license_expired"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No credentials were sent.
    AuthenticationRequired,
    /// The `Authorization` header is neither Basic nor Bearer credentials.
    BadAuthorization,
    /// The password is not a license this deployment signed (malformed, unknown key, forged).
    LicenseInvalid,
    LicenseExpired,
    LicenseRevoked,
    /// A valid license used on a registry host of another app.
    LicenseWrongRegistry,
    /// A valid license (or its token) asked for an image of another app.
    LicenseWrongApp,
    /// The license does not include the image.
    NotEntitled,
    /// The bearer token is malformed, forged, expired or for another host; log in again.
    TokenInvalid,
    /// The bearer token does not cover the repository; ask the token endpoint again.
    TokenScope,
    /// The request's `Host` is not served by this deployment.
    UnknownHost,
    /// The image name does not resolve to a configured app or upstream.
    UnknownName,
    /// The repository is outside the upstream's allow-list for this app.
    NotServed,
    /// Too many failed sign-ins from the client's address.
    SignInLimit,
    /// Too many tokens issued to one license.
    TokenLimit,
    /// The deployment lacks its root secret, signing keys or a usable record.
    NotConfigured,
    /// The vendor's upstream registry refused the vendor's credential (or asked for one).
    UpstreamCredentialRejected,
    /// The vendor's upstream registry could not be reached or did not answer in time.
    UpstreamUnreachable,
    /// The vendor's upstream registry failed otherwise; the vendor must act.
    UpstreamFailed,
    /// The upstream answered content that does not match what was asked (digest, JSON, size).
    UpstreamContentInvalid,
    /// The configuration store is unavailable; retry.
    StoreUnavailable,
    /// The push token is malformed, forged, expired or revoked.
    PushTokenInvalid,
    /// A license (or its token) tried to push or delete: only push tokens do.
    LicenseCannotPush,
    /// The push token does not cover the repository (or app, or delete).
    PushNotAllowed,
    /// A push to a proxied upstream: only the hosted registry takes pushes.
    NotHosted,
    /// A request body over the deployment's limit: upload in chunks.
    BodyTooLarge,
    /// The app's hosted storage quota is used up.
    QuotaExceeded,
}

impl Reason {
    /// The wire spelling, stable across releases.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::AuthenticationRequired => "authentication_required",
            Reason::BadAuthorization => "bad_authorization",
            Reason::LicenseInvalid => "license_invalid",
            Reason::LicenseExpired => "license_expired",
            Reason::LicenseRevoked => "license_revoked",
            Reason::LicenseWrongRegistry => "license_wrong_registry",
            Reason::LicenseWrongApp => "license_wrong_app",
            Reason::NotEntitled => "not_entitled",
            Reason::TokenInvalid => "token_invalid",
            Reason::TokenScope => "token_scope",
            Reason::UnknownHost => "unknown_host",
            Reason::UnknownName => "unknown_name",
            Reason::NotServed => "not_served",
            Reason::SignInLimit => "sign_in_limit",
            Reason::TokenLimit => "token_limit",
            Reason::NotConfigured => "not_configured",
            Reason::UpstreamCredentialRejected => "upstream_credential_rejected",
            Reason::UpstreamUnreachable => "upstream_unreachable",
            Reason::UpstreamFailed => "upstream_failed",
            Reason::UpstreamContentInvalid => "upstream_content_invalid",
            Reason::StoreUnavailable => "store_unavailable",
            Reason::PushTokenInvalid => "push_token_invalid",
            Reason::LicenseCannotPush => "license_cannot_push",
            Reason::PushNotAllowed => "push_not_allowed",
            Reason::NotHosted => "not_hosted",
            Reason::BodyTooLarge => "body_too_large",
            Reason::QuotaExceeded => "quota_exceeded",
        }
    }

    /// Parses the wire spelling (the CLI reads it back from `detail.reason`).
    pub fn parse(s: &str) -> Option<Reason> {
        ALL_REASONS.into_iter().find(|r| r.as_str() == s)
    }
}

/// Every reason, for parsing and for tests that pin the spellings.
pub const ALL_REASONS: [Reason; 27] = [
    Reason::AuthenticationRequired,
    Reason::BadAuthorization,
    Reason::LicenseInvalid,
    Reason::LicenseExpired,
    Reason::LicenseRevoked,
    Reason::LicenseWrongRegistry,
    Reason::LicenseWrongApp,
    Reason::NotEntitled,
    Reason::TokenInvalid,
    Reason::TokenScope,
    Reason::UnknownHost,
    Reason::UnknownName,
    Reason::NotServed,
    Reason::SignInLimit,
    Reason::TokenLimit,
    Reason::NotConfigured,
    Reason::UpstreamCredentialRejected,
    Reason::UpstreamUnreachable,
    Reason::UpstreamFailed,
    Reason::UpstreamContentInvalid,
    Reason::StoreUnavailable,
    Reason::PushTokenInvalid,
    Reason::LicenseCannotPush,
    Reason::PushNotAllowed,
    Reason::NotHosted,
    Reason::BodyTooLarge,
    Reason::QuotaExceeded,
];

/// What the responder needs to build a `WWW-Authenticate: Bearer …` header on a 401.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChallengeHint {
    pub scope: Option<String>,
    /// `invalid_token` or `insufficient_scope` (RFC 6750 §3.1), when a token was presented.
    pub error: Option<&'static str>,
}

impl RegistryError {
    pub fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        RegistryError {
            status,
            code,
            message: message.into(),
            source: Source::Downstream,
            retry_after: None,
            challenge: None,
            reason: None,
        }
    }

    pub fn upstream(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        RegistryError { source: Source::Upstream, ..Self::new(status, code, message) }
    }

    /// A failure that is ours; `context` is logged, never sent.
    pub fn internal(context: impl Into<String>) -> Self {
        RegistryError { source: Source::Internal, ..Self::new(500, ErrorCode::Unknown, context) }
    }

    /// 401 with a Bearer challenge for `scope`.
    pub fn unauthorized(message: impl Into<String>, scope: Option<String>) -> Self {
        RegistryError {
            challenge: Some(ChallengeHint { scope, error: None }),
            ..Self::new(401, ErrorCode::Unauthorized, message)
        }
    }

    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(403, ErrorCode::Denied, message)
    }

    pub fn name_unknown(message: impl Into<String>) -> Self {
        Self::new(404, ErrorCode::NameUnknown, message)
    }

    pub fn with_challenge_error(mut self, error: &'static str) -> Self {
        if let Some(hint) = self.challenge.as_mut() {
            hint.error = Some(error);
        }
        self
    }

    /// Attaches the machine code sent as `detail.reason`.
    pub fn because(mut self, reason: Reason) -> Self {
        self.reason = Some(reason);
        self
    }

    pub fn with_retry_after(mut self, seconds: Option<u64>) -> Self {
        self.retry_after = seconds;
        self
    }

    /// The message the client may see: internal details are replaced by a generic sentence.
    pub fn public_message(&self) -> &str {
        match self.source {
            Source::Internal => "internal error in the registry proxy; retry later",
            Source::Downstream | Source::Upstream => &self.message,
        }
    }

    /// The OCI error envelope `{"errors":[{"code","message","detail"}]}`.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Envelope<'a> {
            errors: [Item<'a>; 1],
        }
        #[derive(Serialize)]
        struct Item<'a> {
            code: ErrorCode,
            message: &'a str,
            detail: Option<Detail>,
        }
        #[derive(Serialize)]
        struct Detail {
            reason: &'static str,
        }
        let detail = self.reason.map(|r| Detail { reason: r.as_str() });
        let envelope = Envelope { errors: [Item { code: self.code, message: self.public_message(), detail }] };
        // Serialising a fixed struct of strings cannot fail; fall back to a constant anyway.
        serde_json::to_string(&envelope).unwrap_or_else(|_| {
            String::from(r#"{"errors":[{"code":"UNKNOWN","message":"internal error","detail":null}]}"#)
        })
    }
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code.as_str(), self.message)
    }
}

impl From<crate::service::request::BadRequest> for RegistryError {
    fn from(e: crate::service::request::BadRequest) -> Self {
        use crate::service::request::BadRequest as B;
        match e {
            B::MissingHost => RegistryError::name_unknown("missing or invalid Host header"),
            B::TokenRequest(message) => RegistryError::new(400, ErrorCode::Unsupported, message),
            B::Scope(e) => RegistryError::new(400, ErrorCode::Unsupported, format!("invalid scope: {e}")),
            B::PageSize { max } => RegistryError::new(
                400,
                ErrorCode::PaginationNumberInvalid,
                format!("n must be a number from 0 to {max}"),
            ),
            B::LastTag(e) => RegistryError::new(400, ErrorCode::Unsupported, format!("last: {e}")),
        }
    }
}

impl From<crate::route::RouteError> for RegistryError {
    fn from(e: crate::route::RouteError) -> Self {
        use crate::route::RouteError as R;
        match e {
            R::NoSuchEndpoint => RegistryError::new(
                404,
                ErrorCode::NameUnknown,
                "no such endpoint: this registry serves the OCI pull API under /v2/",
            ),
            R::ReadOnly => RegistryError::new(
                405,
                ErrorCode::Unsupported,
                "this registry is read-only: push and delete are not supported",
            ),
            R::MethodNotAllowed => RegistryError::new(405, ErrorCode::Unsupported, "method not allowed here"),
            R::BadPath(why) => RegistryError::new(400, ErrorCode::NameInvalid, why),
            R::Reference(e) => e.into(),
        }
    }
}

impl From<crate::reference::ParseError> for RegistryError {
    fn from(e: crate::reference::ParseError) -> Self {
        use crate::reference::ParseError as P;
        match e {
            P::InvalidDigest { .. } | P::UnsupportedDigestAlgorithm(_) => {
                RegistryError::new(400, ErrorCode::DigestInvalid, e.to_string())
            }
            // A manifest under a malformed tag cannot exist: 404, as the OCI conformance suite's
            // pull workflow expects (`MANIFEST_INVALID` is about uploaded content).
            P::InvalidTag { .. } => RegistryError::new(404, ErrorCode::ManifestUnknown, e.to_string()),
            _ => RegistryError::new(400, ErrorCode::NameInvalid, e.to_string()),
        }
    }
}

impl From<crate::access::NameError> for RegistryError {
    fn from(e: crate::access::NameError) -> Self {
        use crate::access::NameError as N;
        let reason = match e {
            N::RepositoryNotServed { .. } => Reason::NotServed,
            _ => Reason::UnknownName,
        };
        let message = match e {
            N::Shape { name, custom_domain: true } => {
                format!("repository name {name} must be <upstream>/<repository> or proxy/<app>/<upstream>/<repository>")
            }
            N::Shape { name, custom_domain: false } => {
                format!("repository name {name} must be proxy/<app>/<upstream>/<repository>")
            }
            N::NotHere { name } => format!("repository {name} is not known here"),
            N::UpstreamNotConfigured { upstream, app } => {
                format!("upstream {upstream} is not configured for app {app}")
            }
            N::RepositoryNotServed { repo, upstream } => {
                format!("repository {repo} is not served through upstream {upstream}")
            }
        };
        RegistryError::name_unknown(message).because(reason)
    }
}

impl From<crate::service::auth::Refusal> for RegistryError {
    fn from(r: crate::service::auth::Refusal) -> Self {
        use crate::license::LicenseError as L;
        use crate::service::auth::Refusal as R;
        let unauthorized = |message: String, scope: Option<String>, reason| {
            RegistryError::unauthorized(message, scope).because(reason)
        };
        match r {
            R::CredentialsRequired { scope, login_host: Some(host) } => unauthorized(
                format!("authentication required: docker login {host} with your license as the password"),
                scope,
                Reason::AuthenticationRequired,
            ),
            R::CredentialsRequired { scope, login_host: None } => unauthorized(
                "authentication required: log in with your license".into(),
                scope,
                Reason::AuthenticationRequired,
            ),
            R::BadAuthorization { scope } => unauthorized(
                "the Authorization header is not Basic or Bearer credentials".into(),
                scope,
                Reason::BadAuthorization,
            ),
            // Every license refusal is a 401: clients print the token endpoint's message only then.
            R::License { error, scope } => {
                let reason = match error {
                    L::Expired { .. } => Reason::LicenseExpired,
                    L::Revoked { .. } => Reason::LicenseRevoked,
                    L::Malformed | L::UnknownKey | L::BadSignature => Reason::LicenseInvalid,
                };
                unauthorized(error.to_string(), scope, reason)
            }
            R::LicenseWrongRegistry { customer, host } => unauthorized(
                format!("the license for {customer} is not valid for {host}; use the registry your vendor named"),
                None,
                Reason::LicenseWrongRegistry,
            ),
            // A valid license: 403 (re-authenticating cannot help), with the message.
            R::LicenseWrongApp { customer, app, asked } => RegistryError::denied(format!(
                "the license for {customer} is for app {app}, not {asked}; ask your vendor for a license for {asked}"
            ))
            .because(Reason::LicenseWrongApp),
            R::Token { error, scope } => {
                unauthorized(error.to_string(), scope, Reason::TokenInvalid).with_challenge_error("invalid_token")
            }
            R::TokenWrongRegistry { scope } => {
                unauthorized("bearer token was issued for another registry host".into(), scope, Reason::TokenInvalid)
                    .with_challenge_error("invalid_token")
            }
            R::TokenScope { scope } => {
                unauthorized("bearer token does not cover this repository".into(), scope, Reason::TokenScope)
                    .with_challenge_error("insufficient_scope")
            }
            R::NotEntitled { customer, name } => RegistryError::denied(format!(
                "the license for {customer} does not include {name}; ask your vendor to add it to your license"
            ))
            .because(Reason::NotEntitled),
            R::UnknownHost { host, sign_in: true } => unauthorized(
                format!("{host} is not a registry served here; check the registry name your vendor gave you"),
                None,
                Reason::UnknownHost,
            ),
            R::UnknownHost { sign_in: false, .. } => {
                RegistryError::name_unknown("this host is not a registry served here").because(Reason::UnknownHost)
            }
            R::UnknownApp { name, app } => {
                RegistryError::name_unknown(format!("repository {name} is not known here: no app {app} is served"))
                    .because(Reason::UnknownName)
            }
            R::SignInLimit { last, retry_after } => {
                let last = RegistryError::from(*last);
                RegistryError::new(
                    429,
                    ErrorCode::TooManyRequests,
                    format!(
                        "too many failed sign-ins from this address; retry in {retry_after} s (last refusal: {})",
                        last.public_message()
                    ),
                )
                .with_retry_after(u64::try_from(retry_after).ok())
                .because(Reason::SignInLimit)
            }
            R::TokenLimit { customer, retry_after } => RegistryError::new(
                429,
                ErrorCode::TooManyRequests,
                format!("the license for {customer} requested too many tokens; retry in {retry_after} s"),
            )
            .with_retry_after(u64::try_from(retry_after).ok())
            .because(Reason::TokenLimit),
        }
    }
}

impl From<crate::service::config::ConfigError> for RegistryError {
    fn from(e: crate::service::config::ConfigError) -> Self {
        use crate::service::config::ConfigError as C;
        match e {
            // The platform's hiccup, not the client's fault nor a bug: a 503 clients retry.
            // The runtime logs the store's own error where it happens; the client gets no detail.
            C::Unavailable { .. } => RegistryError::new(
                503,
                ErrorCode::Unavailable,
                "the registry proxy's configuration store is unavailable; retry shortly",
            )
            .with_retry_after(Some(1))
            .because(Reason::StoreUnavailable),
            C::Malformed { key, detail } => RegistryError::internal(format!("kv record {key} is malformed: {detail}")),
            C::NotConfigured(what) => {
                RegistryError::new(503, ErrorCode::Unavailable, format!("this registry is not configured yet ({what})"))
                    .because(Reason::NotConfigured)
            }
            C::CredentialUnusable { upstream } => RegistryError::upstream(
                502,
                ErrorCode::Unavailable,
                format!(
                    "the vendor's credential for upstream {upstream} cannot be used; \
                     this is not a problem with your license: contact your vendor"
                ),
            )
            .because(Reason::NotConfigured),
        }
    }
}

impl From<crate::service::hosted::HostedError> for RegistryError {
    fn from(e: crate::service::hosted::HostedError) -> Self {
        use crate::service::hosted::HostedError as H;
        match e {
            H::PushToken(e) => RegistryError::unauthorized(e.to_string(), None).because(Reason::PushTokenInvalid),
            H::LicenseCannotPush => RegistryError::denied(
                "a license pulls only: push with a vendor push token (`pullgate push-token issue`) as the password",
            )
            .because(Reason::LicenseCannotPush),
            H::WrongRegistry { host } => RegistryError::unauthorized(
                format!("this push token is not valid for {host}: it is for another app's registry"),
                None,
            )
            .because(Reason::PushNotAllowed),
            H::WrongApp { app, asked } => RegistryError::denied(format!(
                "this push token is for app {app}, not {asked}; issue one with `pullgate push-token issue --app {asked}`"
            ))
            .because(Reason::PushNotAllowed),
            H::OutsideToken { name } => RegistryError::denied(format!(
                "this push token does not cover {name} (its --repo patterns, or delete was not granted)"
            ))
            .because(Reason::PushNotAllowed),
            H::NotHosted { upstream } => RegistryError::new(
                405,
                ErrorCode::Unsupported,
                format!("upstream {upstream} is proxied and read-only here: push to the app's hosted registry"),
            )
            .because(Reason::NotHosted),
            H::BlobUnknown { digest } => {
                RegistryError::new(404, ErrorCode::BlobUnknown, format!("blob {digest} is not in this repository"))
            }
            H::ManifestUnknown { reference } => RegistryError::new(
                404,
                ErrorCode::ManifestUnknown,
                format!("manifest {reference} is not in this repository"),
            ),
            H::ManifestBlobUnknown { digest } => RegistryError::new(
                400,
                ErrorCode::ManifestBlobUnknown,
                format!("the manifest references {digest}, which is not in this repository: push it first"),
            ),
            H::ManifestInvalid(why) => RegistryError::new(400, ErrorCode::ManifestInvalid, why),
            H::UploadUnknown => RegistryError::new(404, ErrorCode::BlobUploadUnknown, "no such upload in this repository"),
            H::DigestMismatch { expected, actual } => RegistryError::new(
                400,
                ErrorCode::DigestInvalid,
                format!("the uploaded content is {actual}, not {expected}"),
            ),
            H::DigestParam(why) => RegistryError::new(400, ErrorCode::DigestInvalid, why),
            H::BodyTooLarge { length, limit } => RegistryError::new(
                413,
                ErrorCode::SizeInvalid,
                format!(
                    "request body of {length} bytes is over this registry's limit of {limit} bytes per request \
                     (the Workers plan's); upload in chunks of at most {limit} bytes (POST, then PATCH with \
                     Content-Range), for example with `pullgate push`"
                ),
            )
            .because(Reason::BodyTooLarge),
            H::LengthRequired => RegistryError::new(
                411,
                ErrorCode::SizeInvalid,
                "a Content-Length is required: blob bodies stream into storage only with a known length",
            ),
            H::ManifestTooLarge => RegistryError::new(413, ErrorCode::SizeInvalid, "manifest is larger than 4 MiB"),
            H::Quota { used, quota } => RegistryError::denied(format!(
                "the app's hosted storage quota of {quota} bytes is used up ({used} bytes stored); \
                 run `pullgate gc` or raise the quota"
            ))
            .because(Reason::QuotaExceeded),
            H::NotAdmin => RegistryError::denied(
                "the hosted admin channel takes only the short-lived admin token `pullgate gc` and `pullgate app show` sign",
            )
            .because(Reason::PushNotAllowed),
            H::AdminRequest => RegistryError::new(
                400,
                ErrorCode::Unsupported,
                "malformed admin request: a JSON body of at most 1000 keys of the token's app",
            ),
            H::Storage(detail) => RegistryError {
                status: 503,
                code: ErrorCode::Unavailable,
                retry_after: Some(1),
                ..RegistryError::internal(format!("r2: {detail}"))
            },
        }
    }
}

impl From<crate::manifest::ManifestError> for RegistryError {
    fn from(e: crate::manifest::ManifestError) -> Self {
        RegistryError::upstream(502, ErrorCode::ManifestInvalid, e.to_string()).because(Reason::UpstreamContentInvalid)
    }
}

impl From<crate::upstream::UpstreamError> for RegistryError {
    /// The class table is at the top of `upstream/answers.rs`.
    fn from(e: crate::upstream::UpstreamError) -> Self {
        use crate::upstream::{Resource, UpstreamError as U};
        let message = e.to_string();
        match e {
            U::NotFound { resource, .. } => {
                let code = match resource {
                    Resource::Manifest => ErrorCode::ManifestUnknown,
                    Resource::Blob => ErrorCode::BlobUnknown,
                    Resource::Tags => ErrorCode::NameUnknown,
                    Resource::Referrers => ErrorCode::Unsupported,
                };
                RegistryError::new(404, code, message)
            }
            U::RateLimited { retry_after, .. } => RegistryError::upstream(429, ErrorCode::TooManyRequests, message)
                .with_retry_after(retry_after)
                .because(Reason::UpstreamFailed),
            U::Unavailable { status: 503, .. } => {
                RegistryError::upstream(503, ErrorCode::Unavailable, message).because(Reason::UpstreamFailed)
            }
            U::Unavailable { .. } => {
                RegistryError::upstream(502, ErrorCode::Unavailable, message).because(Reason::UpstreamFailed)
            }
            U::Unreachable { .. } => {
                RegistryError::upstream(502, ErrorCode::Unavailable, message).because(Reason::UpstreamUnreachable)
            }
            U::Timeout { .. } => {
                RegistryError::upstream(504, ErrorCode::Unavailable, message).because(Reason::UpstreamUnreachable)
            }
            // Persistent vendor-side failures are 4xx so clients print the message; never 401,
            // which would send the customer back to `docker login` with a license that is fine.
            U::CredentialsRequired { .. } | U::CredentialsRejected { .. } => {
                RegistryError::upstream(403, ErrorCode::Denied, message).because(Reason::UpstreamCredentialRejected)
            }
            U::UntrustedRealm { .. }
            | U::InsecureUpstream { .. }
            | U::LocalUpstream { .. }
            | U::BadEndpoint { .. }
            | U::BadChallenge { .. }
            | U::BadTokenResponse { .. }
            | U::UnexpectedStatus { .. }
            | U::Malformed { .. }
            | U::BadRedirect { .. }
            | U::UnsupportedCredential { .. } => {
                RegistryError::upstream(403, ErrorCode::Denied, message).because(Reason::UpstreamFailed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_the_oci_envelope() {
        let e = RegistryError::denied("license for acme expired on 2026-10-01");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["errors"][0]["code"], "DENIED");
        assert_eq!(v["errors"][0]["message"], "license for acme expired on 2026-10-01");
        assert!(v["errors"][0]["detail"].is_null());
    }

    #[test]
    fn internal_messages_are_not_sent() {
        let e = RegistryError::internal("kv get app:demo failed: boom");
        assert!(!e.body().contains("boom"));
        assert_eq!(e.status, 500);
    }

    #[test]
    fn reasons_are_sent_in_detail_and_parse_back() {
        let e = RegistryError::denied("no").because(Reason::NotEntitled);
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["errors"][0]["detail"]["reason"], "not_entitled");
        let mut seen = std::collections::HashSet::new();
        for r in ALL_REASONS {
            assert!(seen.insert(r.as_str()), "{} twice", r.as_str());
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(Reason::parse("something_else"), None);
    }

    #[test]
    fn codes_have_spec_spelling() {
        for (code, want) in [
            (ErrorCode::TooManyRequests, "TOOMANYREQUESTS"),
            (ErrorCode::NameUnknown, "NAME_UNKNOWN"),
            (ErrorCode::BlobUnknown, "BLOB_UNKNOWN"),
        ] {
            assert_eq!(code.as_str(), want);
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{want}\""));
        }
    }
}
