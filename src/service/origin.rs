//! Where the client is: the scheme and `Host` it used. Realms, challenges and bearer tokens are
//! bound to them; `X-Forwarded-*` is never trusted.

use crate::challenge;
use crate::route::TOKEN_PATH;

/// The scheme and host of the request, host lowercased and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    /// Empty when the client sent none or one with characters outside a hostname.
    pub host: String,
}

/// Longest `Host` accepted (a DNS name is at most 253 characters, plus a port).
const MAX_HOST_LEN: usize = 255;

impl Origin {
    /// `host` is the `Host` header (or the URL's authority when the header is absent).
    pub fn new(scheme: &str, host: &str) -> Origin {
        let host = host.to_ascii_lowercase();
        // A Host with characters outside a hostname would end up in the challenge header.
        let valid =
            host.len() <= MAX_HOST_LEN && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        let scheme = if scheme == "http" { "http" } else { "https" };
        Origin { scheme: scheme.to_string(), host: if valid { host } else { String::new() } }
    }

    pub fn realm(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, TOKEN_PATH)
    }

    /// The `WWW-Authenticate` value for a 401 on this host.
    pub fn challenge(&self, scope: Option<&str>, error: Option<&str>) -> String {
        challenge::bearer(&self.realm(), &self.host, scope, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_lowercased_or_refused() {
        for (scheme, host, want_scheme, want_host) in [
            ("https", "Images.Acme.COM", "https", "images.acme.com"),
            ("http", "127.0.0.1:18700", "http", "127.0.0.1:18700"),
            ("https", "[::1]:8443", "https", "[::1]:8443"),
            ("ftp", "a.test", "https", "a.test"),
            ("https", "a.test\",evil=\"x", "https", ""),
            ("https", "a b", "https", ""),
            ("https", "é.test", "https", ""),
            ("https", "", "https", ""),
        ] {
            let o = Origin::new(scheme, host);
            assert_eq!((o.scheme.as_str(), o.host.as_str()), (want_scheme, want_host), "{host}");
        }
        assert_eq!(Origin::new("https", &"a".repeat(256)).host, "");
    }

    #[test]
    fn realm_is_the_token_endpoint_on_the_same_host() {
        let o = Origin::new("https", "images.acme.com");
        assert_eq!(o.realm(), "https://images.acme.com/v2/token");
        assert_eq!(
            o.challenge(Some("repository:x/y:pull"), None),
            r#"Bearer realm="https://images.acme.com/v2/token",service="images.acme.com",scope="repository:x/y:pull""#
        );
    }
}
