//! Who may pull what: a request's path and host resolved to (app, upstream, repository), client
//! credentials parsed, and the scopes a license is granted.
//!
//! ```text
//! default host:   proxy/<app>/<upstream>/<repo...>
//! custom domain:  proxy/<app>/<upstream>/<repo...>   (app must be the domain's)
//!                 <upstream>/<repo...>
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::license;
use crate::reference::Name;
use crate::scope::Scope;
use crate::store::AppRecord;

/// What a request's `Host` is to pullgate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostBinding {
    /// A host named in `DEFAULT_HOSTS`: any app, long names only.
    Default,
    /// A vendor's custom domain, bound to one app.
    Custom { app: String },
}

impl HostBinding {
    pub fn app(&self) -> Option<&str> {
        match self {
            HostBinding::Default => None,
            HostBinding::Custom { app } => Some(app),
        }
    }
}

/// `Host` without its port, lowercase.
pub fn hostname_of(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    if host.starts_with('[') {
        return host.split(']').next().unwrap_or("").to_string() + "]";
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host.clone(), |(h, _)| h.to_string())
}

/// A client's repository name split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub app: String,
    /// The `<upstream>` component: an alias or a registry hostname.
    pub upstream: String,
    /// The repository path after the upstream component, as the client wrote it.
    pub repo: String,
}

/// Why a name does not resolve to something this host serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The name has the wrong shape for the host (`custom_domain` says which forms apply).
    Shape {
        name: String,
        custom_domain: bool,
    },
    /// A custom domain asked for another app's image; whether that app exists is not said.
    NotHere {
        name: String,
    },
    UpstreamNotConfigured {
        upstream: String,
        app: String,
    },
    RepositoryNotServed {
        repo: String,
        upstream: String,
    },
}

/// An `Authorization` header that is present but neither Basic nor Bearer credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAuthorization;

/// Splits a validated name according to the host's binding.
pub fn resolve_name(name: &Name, host: &HostBinding) -> Result<Target, NameError> {
    let parts: Vec<&str> = name.components().collect();
    let long_form = parts.first() == Some(&"proxy") && parts.len() >= 4;
    let (app, upstream, repo) = if long_form {
        (parts[1], parts[2], &parts[3..])
    } else {
        match host {
            HostBinding::Custom { app } if parts.len() >= 2 => (app.as_str(), parts[0], &parts[1..]),
            HostBinding::Custom { .. } => return Err(NameError::Shape { name: name.to_string(), custom_domain: true }),
            HostBinding::Default => return Err(NameError::Shape { name: name.to_string(), custom_domain: false }),
        }
    };
    if let Some(bound) = host.app() {
        if bound != app {
            // A custom domain never serves another app's images, nor says whether it exists.
            return Err(NameError::NotHere { name: name.to_string() });
        }
    }
    Ok(Target { app: app.to_string(), upstream: upstream.to_string(), repo: repo.join("/") })
}

/// Checks that `target` names a configured upstream and an allowed repository of `app`, and
/// returns the repository path at the upstream.
pub fn upstream_repo<'a>(
    app: &'a AppRecord,
    target: &Target,
) -> Result<(&'a crate::store::UpstreamRecord, String), NameError> {
    let upstream = app
        .upstream_named(&target.upstream)
        .ok_or_else(|| NameError::UpstreamNotConfigured { upstream: target.upstream.clone(), app: app.slug.clone() })?;
    let repo = upstream.upstream_repo(&target.repo);
    if !upstream.allows(&repo) {
        return Err(NameError::RepositoryNotServed { repo: target.repo.clone(), upstream: upstream.display_name() });
    }
    Ok((upstream, repo))
}

/// Client credentials found on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic` with the license as the password (any username).
    License(String),
}

/// Parses an `Authorization` header. `Err` for a header that is present but unusable.
pub fn parse_authorization(header: Option<&str>) -> Result<Option<Credentials>, BadAuthorization> {
    let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let bad = || BadAuthorization;
    let (scheme, rest) = value.split_once(' ').ok_or_else(bad)?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Some(Credentials::Bearer(rest.to_string())));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = B64.decode(rest).map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (_user, password) = text.split_once(':').ok_or_else(bad)?;
        return Ok(Some(Credentials::License(password.to_string())));
    }
    Err(bad())
}

/// Why a requested repository was not granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The name does not resolve on this host, the app is not the license's, or the
    /// upstream/repository is not served.
    NotServed,
    /// The license's image entitlements do not include it.
    NotEntitled,
}

/// Decides whether `license` may pull `name` on `host`, given the app's configuration.
pub fn may_pull(
    license: &license::Claims,
    name: &Name,
    host: &HostBinding,
    app: Option<&AppRecord>,
) -> Result<(), Refusal> {
    let target = resolve_name(name, host).map_err(|_| Refusal::NotServed)?;
    let app = app.filter(|a| a.slug == target.app && license.app == a.slug).ok_or(Refusal::NotServed)?;
    let (_, repo) = upstream_repo(app, &target).map_err(|_| Refusal::NotServed)?;
    if license.is_entitled(&repo) {
        Ok(())
    } else {
        Err(Refusal::NotEntitled)
    }
}

/// The repository names to grant for requested scopes: the intersection of what was asked
/// (pull on a repository) and what the license allows.
pub fn grant(license: &license::Claims, scopes: &[Scope], host: &HostBinding, app: Option<&AppRecord>) -> Vec<String> {
    let mut granted: Vec<String> = Vec::new();
    for s in scopes {
        if s.resource_type != "repository" || !(s.has_action("pull") || s.has_action("*")) {
            continue;
        }
        let Ok(name) = s.name.parse::<Name>() else { continue };
        if may_pull(license, &name, host, app).is_ok() && !granted.contains(&s.name) {
            granted.push(s.name.clone());
        }
    }
    granted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CredentialKind, UpstreamRecord};
    use crate::test_support::{app_record, upstream_record};

    fn name(s: &str) -> Name {
        s.parse().unwrap()
    }

    fn custom(app: &str) -> HostBinding {
        HostBinding::Custom { app: app.into() }
    }

    #[test]
    fn resolves_good_names() {
        for (n, host, want) in [
            ("proxy/acme/ghcr.io/acme/app", HostBinding::Default, ("acme", "ghcr.io", "acme/app")),
            ("proxy/acme/local/demo/hello", HostBinding::Default, ("acme", "local", "demo/hello")),
            ("proxy/acme/docker.io/nginx", HostBinding::Default, ("acme", "docker.io", "nginx")),
            ("proxy/acme/local/demo/hello", custom("acme"), ("acme", "local", "demo/hello")),
            ("local/demo/hello", custom("acme"), ("acme", "local", "demo/hello")),
            ("docker.io/nginx", custom("acme"), ("acme", "docker.io", "nginx")),
            // A short name whose first component happens to be "proxy" is an upstream alias.
            ("proxy/app", custom("acme"), ("acme", "proxy", "app")),
        ] {
            let t = resolve_name(&name(n), &host).unwrap();
            assert_eq!((t.app.as_str(), t.upstream.as_str(), t.repo.as_str()), want, "{n}");
        }
    }

    #[test]
    fn refuses_names_that_do_not_resolve() {
        for (n, host) in [
            ("local/demo/hello", HostBinding::Default),
            ("proxy/acme/local", HostBinding::Default),
            ("hello", custom("acme")),
            ("proxy/globex/local/demo/hello", custom("acme")),
        ] {
            assert!(resolve_name(&name(n), &host).is_err(), "{n}");
        }
    }

    #[test]
    fn hostnames_drop_ports() {
        for (host, want) in [
            ("Images.Acme.test", "images.acme.test"),
            ("images.acme.test:8443", "images.acme.test"),
            ("127.0.0.1:8787", "127.0.0.1"),
            ("[::1]:8787", "[::1]"),
            ("localhost", "localhost"),
        ] {
            assert_eq!(hostname_of(host), want);
        }
    }

    #[test]
    fn authorization_headers() {
        let basic = |s: &str| format!("Basic {}", B64.encode(s));
        assert_eq!(parse_authorization(None), Ok(None));
        assert_eq!(parse_authorization(Some("")), Ok(None));
        assert_eq!(parse_authorization(Some("Bearer abc")), Ok(Some(Credentials::Bearer("abc".into()))));
        assert_eq!(parse_authorization(Some("bearer  abc ")), Ok(Some(Credentials::Bearer("abc".into()))));
        assert_eq!(
            parse_authorization(Some(&basic("anyone:pgl1.k.x.y"))),
            Ok(Some(Credentials::License("pgl1.k.x.y".into())))
        );
        assert_eq!(
            parse_authorization(Some(&basic("user:pass:with:colons"))),
            Ok(Some(Credentials::License("pass:with:colons".into())))
        );
        for bad in ["Basic", "Basic !!!", &basic("no-colon"), "Digest x", "Negotiate abc"] {
            assert_eq!(parse_authorization(Some(bad)), Err(BadAuthorization), "{bad}");
        }
    }

    fn app() -> AppRecord {
        let ghcr =
            UpstreamRecord { repos: vec!["acme/*".into()], ..upstream_record("https://ghcr.io", CredentialKind::None) };
        app_record("acme", vec![ghcr, upstream_record("https://registry-1.docker.io", CredentialKind::None)])
    }

    fn lic(app: &str, images: &[&str]) -> license::Claims {
        license::Claims {
            id: "lic_1".into(),
            app: app.into(),
            customer: "globex".into(),
            issued_at: 0,
            expires_at: i64::MAX,
            images: images.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn grants_the_intersection_of_request_and_license() {
        let app = app();
        let scopes = crate::scope::parse_all([
            "repository:proxy/acme/ghcr.io/acme/app:pull",
            "repository:proxy/acme/ghcr.io/other/app:pull", // outside the upstream allow-list
            "repository:proxy/acme/quay.io/acme/app:pull",  // upstream not configured
            "repository:proxy/globex/ghcr.io/acme/app:pull", // another app
            "repository:proxy/acme/docker.io/nginx:pull,push", // push is never granted, pull is
            "repository:proxy/acme/docker.io/redis:push",   // push only: nothing
            "registry:catalog:*",
        ])
        .unwrap();
        let got = grant(&lic("acme", &[]), &scopes, &HostBinding::Default, Some(&app));
        assert_eq!(got, vec!["proxy/acme/ghcr.io/acme/app", "proxy/acme/docker.io/nginx"]);
        // Entitlements narrow further; Docker Hub names are matched with library/.
        let got = grant(&lic("acme", &["library/*"]), &scopes, &HostBinding::Default, Some(&app));
        assert_eq!(got, vec!["proxy/acme/docker.io/nginx"]);
        // Another app's license gets nothing.
        assert!(grant(&lic("globex", &[]), &scopes, &HostBinding::Default, Some(&app)).is_empty());
    }

    #[test]
    fn refusal_reasons() {
        let app = app();
        let l = lic("acme", &["acme/app"]);
        let host = custom("acme");
        assert_eq!(may_pull(&l, &name("ghcr.io/acme/app"), &host, Some(&app)), Ok(()));
        assert_eq!(may_pull(&l, &name("ghcr.io/acme/web"), &host, Some(&app)), Err(Refusal::NotEntitled));
        assert_eq!(may_pull(&l, &name("ghcr.io/evil/web"), &host, Some(&app)), Err(Refusal::NotServed));
        assert_eq!(may_pull(&l, &name("ghcr.io/acme/app"), &host, None), Err(Refusal::NotServed));
    }
}
