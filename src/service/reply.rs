//! What the core answers, for the edge to write out: a complete response, or an upstream (or
//! cached) body relayed with chosen headers. Also the one place a `RegistryError` becomes a
//! response: OCI JSON, the Bearer challenge on the client's host, `Retry-After`.

use crate::error::RegistryError;
use crate::upstream::Head;

use super::origin::Origin;

/// Sent on every response; some clients require it (legacy Docker API version check).
pub const API_VERSION_HEADER: (&str, &str) = ("docker-distribution-api-version", "registry/2.0");

/// Response headers: lowercase names, values already checked for control characters.
pub type Headers = Vec<(&'static str, String)>;

/// A response decided by the core.
#[derive(Debug)]
pub enum Reply<B> {
    /// Status, headers and a body built here (possibly empty, as for redirects).
    Fixed { status: u16, headers: Headers, body: Vec<u8> },
    /// A bodiless answer that keeps the headers as given, `content-length` included (HEAD, 304).
    Empty { status: u16, headers: Headers },
    /// An upstream's or the cache's body streamed through to the client.
    Relay {
        status: u16,
        headers: Headers,
        body: B,
        /// Stream mode: a copy goes into the blob cache under this key, for this many seconds.
        fill_cache: Option<(String, i64)>,
    },
}

impl<B> Reply<B> {
    pub fn status(&self) -> u16 {
        match self {
            Reply::Fixed { status, .. } | Reply::Empty { status, .. } | Reply::Relay { status, .. } => *status,
        }
    }

    pub fn headers(&self) -> &Headers {
        match self {
            Reply::Fixed { headers, .. } | Reply::Empty { headers, .. } | Reply::Relay { headers, .. } => headers,
        }
    }

    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Reply::Fixed { headers, .. } | Reply::Empty { headers, .. } | Reply::Relay { headers, .. } => headers,
        }
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// JSON built here.
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Reply::Fixed { status, headers: vec![("content-type", "application/json".to_string())], body }
    }

    /// Bytes the client gets from the edge itself: 0 for redirects and bodiless answers, the
    /// length where one is known.
    pub fn bytes_served(&self, head_request: bool) -> Option<u64> {
        match self {
            Reply::Fixed { .. } | Reply::Empty { .. } if head_request => Some(0),
            _ if (300..400).contains(&self.status()) => Some(0),
            Reply::Fixed { body, .. } => Some(body.len() as u64),
            Reply::Empty { .. } => Some(0),
            Reply::Relay { headers, .. } => {
                headers.iter().find(|(n, _)| *n == "content-length").and_then(|(_, v)| v.parse().ok())
            }
        }
    }
}

/// Copies the named upstream headers, dropping any value with a control character.
pub fn relay_headers(head: &Head, names: &[&'static str]) -> Headers {
    names
        .iter()
        .filter_map(|n| {
            head.header(n).filter(|v| !v.bytes().any(|b| b.is_ascii_control())).map(|v| (*n, v.to_string()))
        })
        .collect()
}

/// Sets a header, replacing any value it had.
pub fn set_header(headers: &mut Headers, name: &'static str, value: impl Into<String>) {
    headers.retain(|(n, _)| *n != name);
    headers.push((name, value.into()));
}

/// The response for an error.
pub fn error<B>(e: &RegistryError, origin: &Origin) -> Reply<B> {
    let mut reply = Reply::json(e.status, e.body().into_bytes());
    let headers = reply.headers_mut();
    if e.status == 401 {
        let hint = e.challenge.clone().unwrap_or_default();
        headers.push(("www-authenticate", origin.challenge(hint.scope.as_deref(), hint.error)));
    }
    if let Some(seconds) = e.retry_after {
        headers.push(("retry-after", seconds.to_string()));
    }
    reply
}
