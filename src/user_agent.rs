//! The client family and version from a `User-Agent`, for pull events: a vendor asks "how many
//! pulls came from kubelets", not for the full string (which can carry host details).

/// A known client and the version it announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// `docker`, `containerd`, `podman`, `skopeo`, `cri-o`, `kubelet`, `helm`, `oras`, or `other`.
    pub family: &'static str,
    /// The version after the product's `/`, if it is a plain version string.
    pub version: Option<String>,
    /// `os/arch` where the client names its own (docker and cri-o send `os/linux arch/amd64`,
    /// the kubelet `(linux/amd64)`): pull requests themselves never name a platform.
    pub platform: Option<String>,
}

/// Longest OS or architecture name kept (`ppc64le`, `windows`, `loong64`).
const MAX_PLATFORM_PART: usize = 16;

/// Longest version kept; anything longer is not a version.
const MAX_VERSION: usize = 32;

/// Product token prefixes (lowercase) and the family each names. containers/image, the library
/// under podman and buildah, sends `containers/<version>` unless the tool sets its own; skopeo
/// does (`skopeo/<version>`).
const PRODUCTS: [(&str, &str); 10] = [
    ("docker", "docker"),
    ("containerd", "containerd"),
    ("podman", "podman"),
    ("libpod", "podman"),
    ("containers", "podman"),
    ("skopeo", "skopeo"),
    ("cri-o", "cri-o"),
    ("kubelet", "kubelet"),
    ("helm", "helm"),
    ("oras", "oras"),
];

/// Reads the first product token (`name/version`) of a `User-Agent`.
///
/// ```
/// use pullgate::user_agent::parse;
/// let a = parse("containerd/v1.7.24");
/// assert_eq!((a.family, a.version.as_deref()), ("containerd", Some("v1.7.24")));
/// ```
pub fn parse(header: &str) -> Agent {
    let first = header.split_ascii_whitespace().next().unwrap_or_default();
    let (product, version) = first.split_once('/').unwrap_or((first, ""));
    let product = product.to_ascii_lowercase();
    let Some(&(_, family)) = PRODUCTS.iter().find(|(p, _)| *p == product) else {
        return Agent { family: "other", version: None, platform: None };
    };
    let plain = !version.is_empty()
        && version.len() <= MAX_VERSION
        && version.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    Agent { family, version: plain.then(|| version.to_string()), platform: platform(header) }
}

/// `os/arch` from `os/<os> arch/<arch>` tokens, or from a `(<os>/<arch>)` comment.
fn platform(header: &str) -> Option<String> {
    fn part(s: &str) -> Option<&str> {
        let plain = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        (!s.is_empty() && s.len() <= MAX_PLATFORM_PART && plain).then_some(s)
    }
    let (mut os, mut arch) = (None, None);
    for token in header.split_ascii_whitespace() {
        if let Some(v) = token.strip_prefix("os/") {
            os = part(v);
        } else if let Some(v) = token.strip_prefix("arch/") {
            arch = part(v);
        } else if let Some((o, a)) =
            token.strip_prefix('(').and_then(|t| t.strip_suffix(')')).and_then(|t| t.split_once('/'))
        {
            if let (Some(o), Some(a)) = (part(o), part(a)) {
                return Some(format!("{o}/{a}"));
            }
        }
    }
    Some(format!("{}/{}", os?, arch?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_clients_are_named_with_their_version() {
        for (header, family, version) in [
            (
                "docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.8.0 os/linux arch/amd64 UpstreamClient(Docker-Client/27.3.1 \\(linux\\))",
                "docker",
                Some("27.3.1"),
            ),
            ("containerd/v1.7.24", "containerd", Some("v1.7.24")),
            ("containerd/1.6.20+unknown", "containerd", Some("1.6.20+unknown")),
            ("containers/5.32.2 (github.com/containers/image)", "podman", Some("5.32.2")),
            ("skopeo/1.16.1", "skopeo", Some("1.16.1")),
            ("cri-o/1.31.0 go/go1.22.5 os/linux arch/amd64", "cri-o", Some("1.31.0")),
            ("kubelet/v1.31.1 (linux/amd64) kubernetes/948afe5", "kubelet", Some("v1.31.1")),
            ("Helm/3.16.2", "helm", Some("3.16.2")),
            ("oras/1.2.0", "oras", Some("1.2.0")),
            ("Podman", "podman", None),
        ] {
            let a = parse(header);
            assert_eq!((a.family, a.version), (family, version.map(str::to_string)), "{header}");
        }
    }

    #[test]
    fn the_platform_is_kept_where_the_client_names_its_own() {
        for (header, platform) in [
            (
                "docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.8.0 os/linux arch/arm64 UpstreamClient(x)",
                Some("linux/arm64"),
            ),
            ("cri-o/1.31.0 go/go1.22.5 os/linux arch/amd64", Some("linux/amd64")),
            ("kubelet/v1.31.1 (linux/ppc64le) kubernetes/948afe5", Some("linux/ppc64le")),
            ("docker/27.3.1 os/linux", None),
            ("docker/27.3.1 os/Linux arch/amd64", None),
            ("docker/27.3.1 os/linux arch/amd64;rm", None),
            ("containers/5.32.2 (github.com/containers/image)", None),
            ("skopeo/1.16.1", None),
            ("curl/8.5.0 os/linux arch/amd64", None),
        ] {
            assert_eq!(parse(header).platform.as_deref(), platform, "{header}");
        }
    }

    #[test]
    fn anything_else_is_other_without_a_version() {
        for header in ["", "   ", "curl/8.5.0", "Go-http-client/1.1", "python-requests/2.32", "/1.0", "dockerx/1"] {
            assert_eq!(parse(header), Agent { family: "other", version: None, platform: None }, "{header:?}");
        }
    }

    #[test]
    fn odd_versions_are_dropped_not_kept() {
        for header in ["docker/", "docker/1.0;rm", &format!("docker/{}", "9".repeat(33)), "docker/1.0\u{e9}"] {
            assert_eq!(parse(header), Agent { family: "docker", version: None, platform: None }, "{header:?}");
        }
    }
}
