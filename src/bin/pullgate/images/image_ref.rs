//! Image references as manifests and charts write them (`[registry/]repository[:tag][@digest]`,
//! Docker's normalisation: no registry means Docker Hub, one component means `library/`), and
//! the name the same image has through the edge.
//!
//! ```text
//! custom domain:  <domain>/<upstream>/<repository>[:tag][@digest]
//! default host:   <host>/proxy/<app>/<upstream>/<repository>[:tag][@digest]
//! ```

use std::fmt;

use pullgate::reference::{Digest, Name, Tag};
use pullgate::store::{AppRecord, UpstreamRecord, DOCKER_HUB_NAMES};

/// Docker Hub as image names imply it.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]`, lowercase; `docker.io` when the name has none.
    pub registry: String,
    /// The repository at that registry (`library/nginx` for `nginx`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// The name exactly as written, without tag and digest (what kustomize matches on).
    pub written_name: String,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRefError {
    pub input: String,
    pub reason: String,
}

impl fmt::Display for ImageRefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not an image reference: {}", self.input, self.reason)
    }
}

/// `host[:port]`: DNS labels or an IPv4 address, and a port number.
fn is_registry(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    port_ok && host.len() <= 253 && host.split('.').all(label_ok)
}

impl ImageRef {
    pub fn parse(input: &str) -> Result<ImageRef, ImageRefError> {
        let fail = |reason: &str| ImageRefError { input: input.to_string(), reason: reason.to_string() };
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                d.parse::<Digest>().map_err(|e| fail(&e.to_string()))?;
                (rest, Some(d.to_string()))
            }
            None => (input, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => {
                tag.parse::<Tag>().map_err(|e| fail(&e.to_string()))?;
                (name, Some(tag.to_string()))
            }
            _ => (rest, None),
        };
        // The first component is a registry when it could not be a repository component.
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                if !is_registry(first) {
                    return Err(fail("the registry is not host[:port]"));
                }
                (first.to_ascii_lowercase(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let hub = DOCKER_HUB_NAMES.contains(&registry.as_str());
        let registry = if hub { DOCKER_HUB.to_string() } else { registry };
        let repository = if hub && !path.contains('/') { format!("library/{path}") } else { path };
        repository.parse::<Name>().map_err(|e| fail(&e.to_string()))?;
        Ok(ImageRef { registry, repository, tag, digest, written_name: name.to_string() })
    }

    /// `:tag@digest` as far as present.
    pub fn suffix(&self) -> String {
        let tag = self.tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
        let digest = self.digest.as_ref().map(|d| format!("@{d}")).unwrap_or_default();
        format!("{tag}{digest}")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.registry, self.repository, self.suffix())
    }
}

/// Where customers pull from: the naming depends on whether the host is the app's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serving {
    /// One of the app's custom domains: short names.
    Custom { host: String },
    /// The Worker's own host, shared by every app: `proxy/<app>/` names.
    Default { host: String, app: String },
}

impl Serving {
    pub fn host(&self) -> &str {
        match self {
            Serving::Custom { host } | Serving::Default { host, .. } => host,
        }
    }

    /// The repository path through the edge, after the host.
    pub fn path(&self, upstream: &str, repository: &str) -> String {
        match self {
            Serving::Custom { .. } => format!("{upstream}/{repository}"),
            Serving::Default { app, .. } => format!("proxy/{app}/{upstream}/{repository}"),
        }
    }
}

/// What becomes of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// Served by upstream `upstream`: pulled through the edge as `name` (tag and digest kept).
    Proxied { upstream: String, path: String, name: String },
    /// The app configures no upstream for the image's registry.
    NotConfigured,
    /// The registry is an upstream of the app, but the repository is outside its allow-patterns.
    OutsidePatterns { upstream: String },
}

/// `host[:port]` of an endpoint URL, the port only when it is not the scheme's default.
pub fn endpoint_authority(endpoint: &str) -> Option<String> {
    let url = url::Url::parse(endpoint).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// The app's upstream serving `registry` (hosted registries have no upstream address).
pub fn upstream_for<'a>(app: &'a AppRecord, registry: &str) -> Option<&'a UpstreamRecord> {
    app.upstreams.iter().filter(|u| !u.hosted).find(|u| {
        let hub = registry == DOCKER_HUB && DOCKER_HUB_NAMES.contains(&u.host().as_str());
        hub || endpoint_authority(&u.endpoint).as_deref() == Some(registry)
    })
}

/// The image's name through the edge, if one of the app's upstreams serves it.
pub fn map(app: &AppRecord, serving: &Serving, image: &ImageRef) -> Mapping {
    let Some(upstream) = upstream_for(app, &image.registry) else {
        return Mapping::NotConfigured;
    };
    let alias = upstream.display_name();
    if !upstream.allows(&upstream.upstream_repo(&image.repository)) {
        return Mapping::OutsidePatterns { upstream: alias };
    }
    let path = serving.path(&alias, &image.repository);
    let name = format!("{}/{path}", serving.host());
    Mapping::Proxied { upstream: alias, path, name }
}

#[cfg(test)]
#[path = "image_ref_tests.rs"]
mod tests;
