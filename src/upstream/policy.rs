//! Which upstream URLs may be used: token realms credentials may be sent to, and redirect
//! targets that may be handed to a client or followed.

use super::answers::{truncate, UpstreamError};
use super::{Upstream, MAX_LOCATION_LEN};

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

pub(super) fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.starts_with("127.") || host == "::1"
}

pub(super) fn is_loopback_or_ip(host: &str) -> bool {
    is_loopback(host) || host.parse::<std::net::IpAddr>().is_ok()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CredentialKind;
    use crate::test_support::*;

    #[test]
    fn realm_trust_table() {
        let secret = vendor_password();
        for (endpoint, realm, insecure, ok) in [
            ("https://ghcr.io", "https://ghcr.io/token", false, true),
            ("https://quay.io", "https://quay.io/v2/auth", false, true),
            ("https://registry.gitlab.com", "https://gitlab.com/jwt/auth", false, true),
            ("https://registry-1.docker.io", "https://auth.docker.io/token", false, true),
            ("https://ghcr.io", "https://auth.docker.io/token", false, false),
            ("https://ghcr.io", "http://ghcr.io/token", false, false),
            ("https://ghcr.io", "https://user:pw@ghcr.io/token", false, false),
            ("https://ghcr.io", "https://127.0.0.1/token", false, false),
            ("https://ghcr.io", "https://10.0.0.1/token", false, false),
            ("https://ghcr.io", "not a url", false, false),
            ("https://acme.azurecr.io", "https://acme.azurecr.io/oauth2/token", false, true),
            ("https://acme.azurecr.io", "https://evil.azurecr.io/oauth2/token", false, false),
            ("https://us-docker.pkg.dev", "https://us-docker.pkg.dev/v2/token", false, true),
            ("https://acme.co.uk", "https://auth.acme.co.uk/token", false, true),
            ("https://acme.co.uk", "https://evil.co.uk/token", false, false),
            ("http://127.0.0.1:5000", "http://127.0.0.1:5005/token", true, true),
            ("http://127.0.0.1:5000", "https://auth.example.com/token", true, false),
            ("http://127.0.0.1:5000", "http://127.0.0.1:5005/token", false, false),
        ] {
            let mut rec = upstream_record(endpoint, CredentialKind::Basic);
            rec.insecure = insecure;
            let up = Upstream { app: "a", record: &rec, secret: Some(&secret), allow_insecure: true };
            assert_eq!(trusted_realm(realm, &up).is_ok(), ok, "{endpoint} → {realm}");
        }
    }

    #[test]
    fn redirect_target_table() {
        let rec = upstream_record("https://us-docker.pkg.dev", CredentialKind::Gcr);
        let up = Upstream { app: "a", record: &rec, secret: None, allow_insecure: false };
        let base = "https://us-docker.pkg.dev/v2/p/r/i/blobs/sha256:ab";
        for (location, want) in [
            (
                "https://s3.amazonaws.com/bucket/x?X-Amz-Signature=1",
                Some("https://s3.amazonaws.com/bucket/x?X-Amz-Signature=1"),
            ),
            (
                "/artifacts-downloads/namespaces/p/downloads/sig",
                Some("https://us-docker.pkg.dev/artifacts-downloads/namespaces/p/downloads/sig"),
            ),
            ("http://cdn.example.com/x", None),
            ("ftp://cdn.example.com/x", None),
            ("javascript:alert(1)", None),
            ("https://cdn.example.com/x\r\nSet-Cookie: a=b", None),
            ("https://user:pw@cdn.example.com/x", None),
            ("https://127.0.0.1/x", None),
            ("", None),
        ] {
            assert_eq!(redirect_target(base, location, &up).ok().as_deref(), want, "{location:?}");
        }
        let long = format!("https://cdn.example.com/{}", "a".repeat(MAX_LOCATION_LEN));
        assert!(redirect_target(base, &long, &up).is_err());

        let mut local = upstream_record("http://127.0.0.1:5000", CredentialKind::None);
        local.insecure = true;
        let dev = Upstream { app: "a", record: &local, secret: None, allow_insecure: true };
        assert!(redirect_target("http://127.0.0.1:5000/v2/x", "http://127.0.0.1:5001/blob", &dev).is_ok());
        let prod = Upstream { allow_insecure: false, ..dev };
        assert!(redirect_target("http://127.0.0.1:5000/v2/x", "http://127.0.0.1:5001/blob", &prod).is_err());
    }

    #[test]
    fn registrable_domains() {
        for (host, want) in [
            ("ghcr.io", "ghcr.io"),
            ("auth.docker.io", "docker.io"),
            ("registry.gitlab.com", "gitlab.com"),
            ("a.b.acme.co.uk", "acme.co.uk"),
            ("123.dkr.ecr.us-east-1.amazonaws.com", "123.dkr.ecr.us-east-1.amazonaws.com"),
            ("acme.jfrog.io", "acme.jfrog.io"),
        ] {
            assert_eq!(registrable_domain(host), want, "{host}");
        }
    }
}
