//! A client's request as the core sees it: the few parts that decide anything, copied out of
//! the runtime once (every header copied across the wasm boundary costs time).

/// A request the client got wrong in a way no credential fixes. `error.rs` maps each to a 400
/// (or 404 for a missing host), with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// No `Host`, or one with characters outside a hostname.
    MissingHost,
    /// A token request that is not a password grant or whose form cannot be read (containerd
    /// falls back to GET on 400).
    TokenRequest(String),
    /// A `scope` that breaks the token spec's grammar.
    Scope(crate::scope::ScopeError),
    /// A tag list `n` that is not a number from 0 to the page limit.
    PageSize { max: usize },
    /// A tag list `last` that is not a tag.
    LastTag(crate::reference::ParseError),
}

/// The body of a token POST, read by the edge with a bound.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FormBody {
    /// Not a POST to the token endpoint, or no body.
    #[default]
    Absent,
    Read(Vec<u8>),
    /// Longer than `token_endpoint::MAX_FORM_BYTES`; nothing past the bound was read.
    TooLarge,
    Unreadable,
}

/// What the edge hands the core.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// As received (`GET`, `HEAD`, …).
    pub method: String,
    /// The path as received: percent-encoded, without the query.
    pub path: String,
    /// The query string without `?`, if any.
    pub query: Option<String>,
    /// `http` or `https`, from the request URL.
    pub scheme: String,
    /// The `Host` header, or the URL's authority.
    pub host: String,
    pub authorization: Option<String>,
    pub accept: Option<String>,
    pub if_none_match: Option<String>,
    pub range: Option<String>,
    /// `CF-Connecting-IP`, which Cloudflare sets on every request (a client's own is replaced).
    pub client_ip: Option<String>,
    /// For pull events only (`user_agent::parse` keeps the family and version).
    pub user_agent: Option<String>,
    /// `request.cf.country` and `request.cf.colo`, for pull events; copied only when events are on.
    pub country: Option<String>,
    pub colo: Option<String>,
    pub form: FormBody,
}

/// The request headers the core reads; the edge copies only these (`user-agent` only when
/// events are on).
pub const READ_HEADERS: [&str; 7] =
    ["host", "authorization", "accept", "if-none-match", "range", "cf-connecting-ip", "user-agent"];

impl Incoming {
    /// Every value of a query parameter, decoded.
    pub fn query_values(&self, name: &str) -> Vec<String> {
        self.query
            .as_deref()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first value of a query parameter, decoded.
    pub fn query_value(&self, name: &str) -> Option<String> {
        self.query_values(name).into_iter().next()
    }

    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}
