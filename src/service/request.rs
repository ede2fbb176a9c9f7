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

/// The request headers the core reads; the edge copies only these (and keeps `user-agent` only
/// when events are on).
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

/// The parts of the URL the runtime gives a request (`request.url`: absolute and already
/// serialized by the WHATWG URL rules, so split here without parsing it again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    pub scheme: &'a str,
    /// `host[:port]`, without any userinfo (the serializer omits a default port).
    pub authority: &'a str,
    /// Percent-encoded as received; `/` when the URL has none.
    pub path: &'a str,
    pub query: Option<&'a str>,
}

/// Splits a serialized absolute URL. The serializer never leaves `/`, `?` or `#` unescaped in
/// the userinfo, so the first `/` after `://` starts the path and the first `?` the query.
/// `None` for what is not an absolute URL with an authority.
pub fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, "/"),
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    Some(UrlParts { scheme, authority, path, query })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_url_agrees_with_the_url_crate() {
        for url in [
            "https://images.vendor.com/v2/",
            "http://127.0.0.1:8787/v2/proxy/demo/local/demo/hello/manifests/1.0",
            "https://images.vendor.com/v2/token?service=images.vendor.com&scope=repository%3Aa%3Apull",
            "https://images.vendor.com/v2/a/tags/list?n=10&last=1.0#frag",
            "https://images.vendor.com",
            "https://user:p%40ss@images.vendor.com:8443/v2/?",
            "http://[::1]:8787/v2/a%2Fb/blobs/sha256:00",
            "https://images.vendor.com/v2/a?b?c",
            "https://images.vendor.com/?q#a?b",
        ] {
            let parsed = url::Url::parse(url).unwrap();
            let host = parsed.host_str().unwrap();
            let authority = parsed.port().map_or(host.to_string(), |p| format!("{host}:{p}"));
            // What the runtime would hand over: the serialization.
            let serialized = parsed.as_str();
            let parts = split_url(serialized).unwrap();
            assert_eq!(parts.scheme, parsed.scheme(), "{url}");
            assert_eq!(parts.authority, authority, "{url}");
            assert_eq!(parts.path, parsed.path(), "{url}");
            assert_eq!(parts.query, parsed.query(), "{url}");
        }
    }

    #[test]
    fn split_url_refuses_what_is_not_absolute() {
        for url in ["", "/v2/", "images.vendor.com/v2/", "mailto:a@b"] {
            assert_eq!(split_url(url), None, "{url}");
        }
    }
}
