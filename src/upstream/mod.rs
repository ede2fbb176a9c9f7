//! Talking to a vendor's upstream registry, without doing I/O. The Worker and the admin CLI each
//! drive it with a `Transport`; each job has its file:
//!
//! ```text
//! driver       send: authenticate as the challenge asks (anonymous, Basic, Bearer realm), retry once
//! ecr          ECR's SigV4-signed GetAuthorizationToken
//! token_cache  realm token answers, and the per-isolate token and challenge cache
//! policy       the https rule for every request, trusted realms, safe redirect targets
//! address      what is loopback, private or link-local (shared with the CLI)
//! answers      UpstreamError, its messages, classify (error.rs maps each class to a status)
//! tags         tag-list paging and Link rewriting
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::store::{CredentialKind, Secret, UpstreamRecord};

mod address;
mod answers;
mod driver;
mod ecr;
mod policy;
mod tags;
mod token_cache;

pub use address::{host_kind, is_loopback, HostKind};
pub use answers::{classify, rejection_advice, retry_after, Resource, UpstreamError, MAX_RETRY_AFTER_SECONDS};
pub use driver::send;
pub use ecr::parse_ecr_token;
pub use policy::{check_request_url, redirect_target, trusted_realm};
pub use tags::{page_tags, rewrite_tags_link};
pub use token_cache::{parse_token_response, TokenCache, UpstreamToken, DEFAULT_TOKEN_SECONDS, MAX_TOKEN_SECONDS};

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

    pub(crate) fn with_authorization(&self, value: Option<&str>) -> Request {
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

    /// `Content-Length` when it is a plain decimal that fits in a `u64` (no sign, no list).
    pub fn content_length(&self) -> Option<u64> {
        let value = self.header("content-length")?.trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        value.parse().ok()
    }
}

/// Every upstream response header the driver or the core reads or relays. A transport may copy
/// only these (the Worker's does: each header copied across the wasm boundary costs time).
pub const READ_HEADERS: [&str; 11] = [
    "content-type",
    "content-length",
    "content-range",
    "accept-ranges",
    "docker-content-digest",
    "etag",
    "location",
    "link",
    "retry-after",
    "www-authenticate",
    "oci-filters-applied",
];

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
    /// The deployment allows insecure upstreams (`ALLOW_INSECURE_UPSTREAMS=true`, local
    /// development): together with the record's `insecure` flag, and only then, every request,
    /// realm and redirect may use plain http and loopback or private addresses.
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
    pub(crate) fn cache_key(&self, scope: &str) -> String {
        format!("{}|{scope}", self.cache_base())
    }

    /// The scope-independent part of `cache_key`, which also keys the remembered challenge.
    pub(crate) fn cache_base(&self) -> String {
        let fingerprint = match self.secret {
            Some(s) => {
                let json = serde_json::to_vec(s).unwrap_or_default();
                crate::keys::hex_encode(&Sha256::digest(json)[..8])
            }
            None => "anonymous".into(),
        };
        format!("{}|{}|{}", self.app, self.record.endpoint, fingerprint)
    }

    pub(crate) fn basic_authorization(&self) -> Option<String> {
        match self.secret {
            Some(Secret::Password { username, password }) => {
                Some(format!("Basic {}", B64.encode(format!("{username}:{password}"))))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_a_plain_decimal() {
        for (value, want) in [
            ("0", Some(0)),
            (" 4194304 ", Some(4_194_304)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("+5", None),
            ("-1", None),
            ("5, 5", None),
            ("0x10", None),
            ("", None),
        ] {
            let head = Head { status: 200, headers: vec![("content-length".into(), value.into())] };
            assert_eq!(head.content_length(), want, "{value:?}");
        }
    }
}
