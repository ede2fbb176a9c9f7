//! Which upstream URLs may be used: the https rule every upstream request passes before it is
//! sent, the token realms the vendor's credential may be sent to, and redirect targets that may
//! be handed to a client or followed.
//!
//! ```text
//! request URL   https, not loopback/private/link-local/IP  ─┐ both relaxed only when the deployment
//! redirect      same, and no userinfo                       ─┘ allows insecure upstreams AND the
//!                                                              upstream was added with --insecure-dev
//! token realm   the above, and its host is the upstream's own host, a `--realm-host` of this
//!               upstream, or a documented pair (Docker Hub → auth.docker.io, GitLab.com → gitlab.com);
//!               in local development a loopback upstream may use any loopback realm
//! ```
//! No public-suffix heuristic: sharing a registrable domain proves nothing on `*.fly.dev`,
//! `*.run.app`, `*.github.io` or `*.org.uk`, where every tenant owns a sibling host.

use crate::store::DOCKER_HUB_API_HOST;

use super::address::{host_kind, is_loopback};
use super::answers::UpstreamError;
use super::{Upstream, MAX_LOCATION_LEN};

/// Registries whose token realm is documented to live on another host of the same operator.
const KNOWN_REALM_HOSTS: [(&str, &str); 2] =
    [(DOCKER_HUB_API_HOST, "auth.docker.io"), ("registry.gitlab.com", "gitlab.com")];

/// Why a URL may not be used for an upstream request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    PlainHttp,
    LocalAddress,
    /// Not an http(s) URL with a host, or one carrying userinfo.
    Malformed,
}

/// Whether this upstream may use plain http and local addresses: only when both the deployment
/// (`ALLOW_INSECURE_UPSTREAMS`) and the vendor (`--insecure-dev`) say so.
fn insecure_allowed(up: &Upstream<'_>) -> bool {
    up.allow_insecure && up.record.insecure
}

/// Lowercase host of a URL without brackets or trailing dots; empty when it has none.
fn host_of(url: &url::Url) -> String {
    url.host_str().map(|h| h.trim_matches(['[', ']']).trim_end_matches('.').to_ascii_lowercase()).unwrap_or_default()
}

fn check_destination(url: &url::Url, up: &Upstream<'_>) -> Result<(), Refusal> {
    let host = host_of(url);
    if host.is_empty() || !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Malformed);
    }
    let insecure_ok = insecure_allowed(up);
    match url.scheme() {
        "https" => {}
        "http" if insecure_ok => {}
        "http" => return Err(Refusal::PlainHttp),
        _ => return Err(Refusal::Malformed),
    }
    if host_kind(&host).is_ip_or_local() && !insecure_ok {
        return Err(Refusal::LocalAddress);
    }
    Ok(())
}

/// The rule every request to an upstream (registry, token realm, ECR API) passes before it is
/// sent: https on a DNS name, unless this upstream may be insecure (see `insecure_allowed`).
pub fn check_request_url(url: &str, up: &Upstream<'_>) -> Result<url::Url, UpstreamError> {
    let upstream = up.describe();
    let parsed = url::Url::parse(url).map_err(|_| UpstreamError::BadEndpoint { upstream: upstream.clone() })?;
    match check_destination(&parsed, up) {
        Ok(()) => Ok(parsed),
        Err(Refusal::PlainHttp) => Err(UpstreamError::InsecureUpstream { upstream }),
        Err(Refusal::LocalAddress) => Err(UpstreamError::LocalUpstream { upstream }),
        Err(Refusal::Malformed) => Err(UpstreamError::BadEndpoint { upstream }),
    }
}

/// Checks a token realm before any credential is sent to it (see the module table). Fails with
/// `UntrustedRealm`, naming only the realm's host.
pub fn trusted_realm(realm: &str, up: &Upstream<'_>) -> Result<url::Url, UpstreamError> {
    let parsed = url::Url::parse(realm).ok();
    let untrusted = |host: &str| UpstreamError::UntrustedRealm {
        upstream: up.describe(),
        realm: if host.is_empty() { "an unusable URL".into() } else { host.chars().take(200).collect() },
    };
    let Some(url) = parsed else {
        return Err(untrusted(""));
    };
    let realm_host = host_of(&url);
    if check_destination(&url, up).is_err() {
        return Err(untrusted(&realm_host));
    }
    let upstream_host = up.record.host().trim_end_matches('.').to_string();
    let dev_loopback = insecure_allowed(up) && is_loopback(&upstream_host) && is_loopback(&realm_host);
    let listed = up.record.realm_hosts.iter().any(|h| h.trim_end_matches('.').eq_ignore_ascii_case(&realm_host));
    let known = KNOWN_REALM_HOSTS.iter().any(|(registry, realm)| {
        realm_host == *realm
            && (upstream_host == *registry || (*registry == DOCKER_HUB_API_HOST && up.record.is_docker_hub()))
    });
    if realm_host == upstream_host || dev_loopback || listed || known {
        Ok(url)
    } else {
        Err(untrusted(&realm_host))
    }
}

/// Makes an upstream `Location` absolute and checks it is safe to hand to a client or to
/// fetch without credentials: no CR/LF or controls, bounded length, http(s) only, no userinfo,
/// and plain http or local addresses only when this upstream may be insecure.
pub fn redirect_target(request_url: &str, location: &str, up: &Upstream<'_>) -> Result<String, UpstreamError> {
    let bad = || UpstreamError::BadRedirect { upstream: up.describe() };
    if location.is_empty() || location.len() > MAX_LOCATION_LEN || location.bytes().any(|b| b.is_ascii_control()) {
        return Err(bad());
    }
    let base = url::Url::parse(request_url).map_err(|_| bad())?;
    let target = base.join(location).map_err(|_| bad())?;
    check_destination(&target, up).map_err(|_| bad())?;
    Ok(target.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CredentialKind;
    use crate::test_support::*;

    /// `(endpoint, --insecure-dev, --realm-host list, realm)`, checked with a deployment that
    /// allows insecure upstreams (so only the record's flag decides).
    type RealmCase = (&'static str, bool, &'static [&'static str], &'static str);

    fn realm_trusted((endpoint, insecure, realm_hosts, realm): RealmCase) -> bool {
        let secret = vendor_password();
        let mut rec = upstream_record(endpoint, CredentialKind::Basic);
        rec.insecure = insecure;
        rec.realm_hosts = realm_hosts.iter().map(|h| h.to_string()).collect();
        let up = Upstream { app: "a", record: &rec, secret: Some(&secret), allow_insecure: true };
        trusted_realm(realm, &up).is_ok()
    }

    #[test]
    fn realms_on_the_upstream_host_a_listed_host_or_a_documented_pair_are_trusted() {
        for case in [
            ("https://ghcr.io", false, &[][..], "https://ghcr.io/token"),
            ("https://ghcr.io", false, &[], "https://GHCR.io./token?scope=x"),
            ("https://quay.io", false, &[], "https://quay.io/v2/auth"),
            ("https://acme.azurecr.io", false, &[], "https://acme.azurecr.io/oauth2/token"),
            ("https://us-docker.pkg.dev", false, &[], "https://us-docker.pkg.dev/v2/token"),
            ("https://registry.example.com:5000", false, &[], "https://registry.example.com/token"),
            ("https://registry-1.docker.io", false, &[], "https://auth.docker.io/token"),
            ("https://registry.gitlab.com", false, &[], "https://gitlab.com/jwt/auth"),
            ("https://registry.acme.co.uk", false, &["gitlab.acme.co.uk"], "https://gitlab.acme.co.uk/jwt/auth"),
            ("https://registry.acme.co.uk", false, &["GITLAB.acme.co.uk."], "https://gitlab.acme.co.uk/jwt/auth"),
            // Local development: a loopback stand-in may use a token server on any loopback host.
            ("http://127.0.0.1:5000", true, &[], "http://127.0.0.1:5005/token"),
            ("http://127.0.0.1:5000", true, &[], "http://localhost:5004/token"),
            ("http://localhost:5000", true, &[], "http://[::1]:5004/token"),
        ] {
            assert!(realm_trusted(case), "{case:?}");
        }
    }

    #[test]
    fn realms_elsewhere_get_no_credentials() {
        for case in [
            // Tenants of shared suffixes do not trust each other's realms.
            ("https://acme.fly.dev", false, &[][..], "https://evil.fly.dev/token"),
            ("https://acme-123.a.run.app", false, &[], "https://evil-456.a.run.app/token"),
            ("https://acme.github.io", false, &[], "https://evil.github.io/token"),
            ("https://registry.acme.org.uk", false, &[], "https://evil.org.uk/token"),
            ("https://registry.acme.org.uk", false, &[], "https://auth.evil.org.uk/token"),
            ("https://acme.co.uk", false, &[], "https://auth.acme.co.uk/token"),
            ("https://acme.azurecr.io", false, &[], "https://evil.azurecr.io/oauth2/token"),
            ("https://registry.gitlab.com", false, &[], "https://gitlab.com.evil.example/jwt/auth"),
            ("https://ghcr.io", false, &[], "https://auth.docker.io/token"),
            ("https://gitlab.example.com", false, &[], "https://gitlab.com/jwt/auth"),
            ("https://registry.acme.co.uk", false, &["gitlab.acme.co.uk"], "https://evil.acme.co.uk/jwt/auth"),
            // Scheme, userinfo and local addresses.
            ("https://ghcr.io", false, &[], "http://ghcr.io/token"),
            ("https://ghcr.io", false, &[], "https://user:pw@ghcr.io/token"),
            ("https://ghcr.io", false, &[], "ftp://ghcr.io/token"),
            ("https://ghcr.io", false, &[], "not a url"),
            ("https://ghcr.io", false, &["127.0.0.1"], "https://127.0.0.1/token"),
            ("https://ghcr.io", false, &["10.0.0.1"], "https://10.0.0.1/token"),
            ("https://ghcr.io", false, &["localhost"], "https://localhost./token"),
            ("https://ghcr.io", false, &["auth.localhost"], "https://auth.localhost/token"),
            ("https://ghcr.io", false, &[], "https://169.254.169.254/token"),
            // A loopback upstream without --insecure-dev, or a loopback realm for a public upstream.
            ("http://127.0.0.1:5000", false, &[], "http://127.0.0.1:5005/token"),
            ("http://127.0.0.1:5000", true, &[], "https://auth.example.com/token"),
            ("https://registry.example.com", true, &[], "http://127.0.0.1:5005/token"),
        ] {
            assert!(!realm_trusted(case), "{case:?}");
        }
    }

    #[test]
    fn an_untrusted_realm_is_named_by_its_host_only() {
        let rec = upstream_record("https://ghcr.io", CredentialKind::Ghcr);
        let up = Upstream { app: "a", record: &rec, secret: None, allow_insecure: false };
        let err = trusted_realm("https://evil.example/token?account=vendor&secret=s3cret", &up).unwrap_err();
        assert_eq!(
            err,
            UpstreamError::UntrustedRealm { upstream: "GHCR ghcr.io".into(), realm: "evil.example".into() }
        );
        let message = err.to_string();
        assert!(!message.contains("s3cret") && !message.contains('?'), "{message}");
    }

    #[test]
    fn deployment_and_record_must_both_allow_insecure_requests() {
        for (endpoint, record_insecure, deployment_allows, want) in [
            ("https://ghcr.io/v2/", false, false, Ok(())),
            ("http://ghcr.io/v2/", false, false, Err("InsecureUpstream")),
            ("http://ghcr.io/v2/", true, false, Err("InsecureUpstream")),
            ("http://ghcr.io/v2/", false, true, Err("InsecureUpstream")),
            ("http://127.0.0.1:5000/v2/", true, true, Ok(())),
            ("https://127.0.0.1/v2/", true, false, Err("LocalUpstream")),
            ("https://localhost./v2/", false, false, Err("LocalUpstream")),
            ("https://10.1.2.3/v2/", false, false, Err("LocalUpstream")),
            ("https://[fd00::1]/v2/", false, false, Err("LocalUpstream")),
            ("https://169.254.169.254/v2/", false, false, Err("LocalUpstream")),
            ("https://8.8.8.8/v2/", false, false, Err("LocalUpstream")),
            ("https://user:pw@ghcr.io/v2/", false, false, Err("BadEndpoint")),
            ("ftp://ghcr.io/v2/", true, true, Err("BadEndpoint")),
            ("not a url", false, false, Err("BadEndpoint")),
        ] {
            let mut rec = upstream_record("https://ghcr.io", CredentialKind::None);
            rec.insecure = record_insecure;
            let up = Upstream { app: "a", record: &rec, secret: None, allow_insecure: deployment_allows };
            let got = check_request_url(endpoint, &up).map(|_| ()).map_err(|e| match e {
                UpstreamError::InsecureUpstream { .. } => "InsecureUpstream",
                UpstreamError::LocalUpstream { .. } => "LocalUpstream",
                UpstreamError::BadEndpoint { .. } => "BadEndpoint",
                _ => "other",
            });
            assert_eq!(got, want, "{endpoint} record {record_insecure} deployment {deployment_allows}");
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
            ("https://localhost./x", None),
            ("https://10.0.0.1/x", None),
            ("https://169.254.169.254/latest/meta-data", None),
            ("https://[::ffff:127.0.0.1]/x", None),
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
}
