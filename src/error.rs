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
    DigestInvalid,
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
}

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
            detail: Option<()>,
        }
        let envelope = Envelope { errors: [Item { code: self.code, message: self.public_message(), detail: None }] };
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

impl From<crate::reference::ParseError> for RegistryError {
    fn from(e: crate::reference::ParseError) -> Self {
        use crate::reference::ParseError as P;
        let code = match e {
            P::InvalidDigest { .. } | P::UnsupportedDigestAlgorithm(_) => ErrorCode::DigestInvalid,
            P::InvalidTag { .. } => ErrorCode::ManifestInvalid,
            _ => ErrorCode::NameInvalid,
        };
        RegistryError::new(400, code, e.to_string())
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
