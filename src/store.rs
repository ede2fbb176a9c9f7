//! The KV schema shared by the Worker and the admin CLI: key names and the JSON records behind them.
//!
//! ```text
//! app:<slug>        AppRecord (with its upstreams; one key, so an app changes atomically)
//! domain:<host>     DomainRecord (custom domain → app)
//! keys              keys::KeysetRecord (signing keys, sealed)
//! license:<id>      LicenseRecord (what was issued; the edge never reads it)
//! revoked:<id>      RevocationRecord (read by the edge when it issues a bearer token)
//! pushtoken:<id>    PushTokenRecord (what was issued; the edge never reads it)
//! ```
//! The hosted registry's content (blobs, manifests, tags) lives in R2, not here: see
//! `service::hosted::layout`.
//! Every record carries `v` so a later schema can be told apart.

use serde::{Deserialize, Serialize};

use crate::keys::{KeyError, Sealed, Unseal};

/// The KV binding name in `wrangler.toml`.
pub const KV_BINDING: &str = "PULLGATE_KV";
/// Current record schema version.
pub const SCHEMA_VERSION: u32 = 1;
/// The keyset record's key.
pub const KEYSET_KEY: &str = "keys";

pub const APP_PREFIX: &str = "app:";
pub const DOMAIN_PREFIX: &str = "domain:";
pub const LICENSE_PREFIX: &str = "license:";
pub const REVOCATION_PREFIX: &str = "revoked:";
pub const PUSH_TOKEN_PREFIX: &str = "pushtoken:";

/// The R2 bucket binding of the hosted registry in `wrangler.toml`.
pub const R2_BINDING: &str = "PULLGATE_R2";
/// The endpoint recorded for an app's hosted registry (its upstream record has `hosted`).
pub const HOSTED_ENDPOINT: &str = "r2://hosted";

pub fn push_token_key(id: &str) -> String {
    format!("{PUSH_TOKEN_PREFIX}{id}")
}

pub fn app_key(slug: &str) -> String {
    format!("{APP_PREFIX}{slug}")
}

pub fn domain_key(host: &str) -> String {
    format!("{DOMAIN_PREFIX}{}", host.to_ascii_lowercase())
}

pub fn license_key(id: &str) -> String {
    format!("{LICENSE_PREFIX}{id}")
}

pub fn revocation_key(id: &str) -> String {
    format!("{REVOCATION_PREFIX}{id}")
}

fn schema_version() -> u32 {
    SCHEMA_VERSION
}

/// How blob GETs are answered for an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BlobMode {
    /// 307 to the upstream's signed URL: no blob byte passes through the Worker.
    #[default]
    Redirect,
    /// The Worker streams the bytes: customers only need to reach the vendor's domain.
    Stream,
}

impl BlobMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BlobMode::Redirect => "redirect",
            BlobMode::Stream => "stream",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "redirect" => Some(BlobMode::Redirect),
            "stream" => Some(BlobMode::Stream),
            _ => None,
        }
    }
}

/// `app:<slug>`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    #[serde(default = "schema_version")]
    pub v: u32,
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub blob_mode: BlobMode,
    pub created_at: i64,
    #[serde(default)]
    pub upstreams: Vec<UpstreamRecord>,
    /// Bytes the app's hosted registry may hold; pushes past it are refused (`DENIED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_quota: Option<u64>,
}

/// Hosts that all mean Docker Hub in an image name.
pub const DOCKER_HUB_NAMES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
/// Docker Hub's API host.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

impl AppRecord {
    /// The upstream an image name's `<upstream>` component refers to: an alias, or the
    /// endpoint's hostname (Docker Hub under any of its names).
    pub fn upstream_named(&self, name: &str) -> Option<&UpstreamRecord> {
        let name = name.to_ascii_lowercase();
        self.upstreams.iter().find(|u| u.alias.as_deref() == Some(name.as_str())).or_else(|| {
            let hub = DOCKER_HUB_NAMES.contains(&name.as_str());
            self.upstreams.iter().find(|u| {
                let host = u.host();
                host == name || (hub && u.is_docker_hub())
            })
        })
    }
}

/// One upstream registry of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamRecord {
    /// `https://host[:port]` (plain `http` only for local development).
    pub endpoint: String,
    /// Short name usable in image names instead of the host (required for hosts with a port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Repository allow-patterns (`pattern` syntax); empty means any repository.
    #[serde(default)]
    pub repos: Vec<String>,
    pub credential: CredentialRecord,
    /// Set by `--insecure-dev`: http, loopback and IP endpoints, and realms/redirects to them.
    #[serde(default)]
    pub insecure: bool,
    /// ECR only: the GetAuthorizationToken endpoint, when not `https://api.ecr.<region>.amazonaws.com/`
    /// (FIPS or VPC endpoints; a loopback stand-in in local development).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_endpoint: Option<String>,
    /// Hosts other than the endpoint's own whose token realm the vendor trusts with this
    /// upstream's credential (`--realm-host`; a self-hosted GitLab's `gitlab.example.com`, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub realm_hosts: Vec<String>,
    /// pullgate's own registry on R2 (`hosted enable`): served from the bucket, and the only
    /// kind of upstream a push token can push to.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hosted: bool,
}

/// The hostname of an endpoint URL, lowercase, without port; empty if it is not a URL. Every
/// pull asks several times, so the plain form (`https://name[:port][/…]`) is read without a
/// full URL parse, and so is a dotted IPv4 address; anything else (IPv6, IDNA, userinfo, other
/// IPv4 forms, odd characters) is parsed.
pub fn endpoint_host(endpoint: &str) -> String {
    if let Some(host) = plain_host(endpoint) {
        return host.to_ascii_lowercase();
    }
    url::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase()))
        .unwrap_or_default()
}

/// The host of an endpoint whose URL parse could change nothing but its case: letters, digits,
/// dots and hyphens, no punycode label, a last label that cannot be read as an IPv4 number
/// (not only hex digits and `x`), and a valid port if any.
fn plain_host(endpoint: &str) -> Option<&str> {
    let rest = endpoint.strip_prefix("https://").or_else(|| endpoint.strip_prefix("http://"))?;
    let authority = &rest[..rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len())];
    let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
    let port_ok =
        port.bytes().all(|b| b.is_ascii_digit()) && (port.len() < 5 || port.parse::<u32>().is_ok_and(|p| p <= 65535));
    if !port_ok || host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
        return None;
    }
    if is_canonical_ipv4(host) {
        return Some(host);
    }
    let mut labels: Vec<&str> = host.split('.').collect();
    if labels.len() > 1 && labels.last() == Some(&"") {
        labels.pop();
    }
    let last = labels.last()?;
    let numeric = last.bytes().all(|b| b.is_ascii_hexdigit() || b == b'x' || b == b'X');
    let punycode = labels.iter().any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case("xn--"));
    (!numeric && !punycode).then_some(host)
}

/// Four decimal numbers up to 255 without leading zeros: an address the URL parser keeps as is.
fn is_canonical_ipv4(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

impl UpstreamRecord {
    /// Hostname of the endpoint, lowercase, without port.
    pub fn host(&self) -> String {
        endpoint_host(&self.endpoint)
    }

    /// The name shown to customers: alias if there is one, else the host.
    pub fn display_name(&self) -> String {
        self.alias.clone().unwrap_or_else(|| self.host())
    }

    /// Docker Hub by name, or any upstream whose credential is a Docker Hub login (a Hub
    /// mirror or a stand-in): those take `library/` for official images.
    pub fn is_docker_hub(&self) -> bool {
        DOCKER_HUB_NAMES.contains(&self.host().as_str()) || self.credential.kind == CredentialKind::Dockerhub
    }

    /// Whether the upstream repository path is inside the allow-list.
    pub fn allows(&self, upstream_repo: &str) -> bool {
        self.repos.is_empty() || self.repos.iter().any(|p| crate::pattern::matches(p, upstream_repo))
    }

    /// The repository path at the upstream for the path a client named: Docker Hub's
    /// one-component names live under `library/`.
    pub fn upstream_repo(&self, repo: &str) -> String {
        if self.is_docker_hub() && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo.to_string()
        }
    }

    /// Base URL for API calls (`…/v2/…`): Docker Hub's names all go to its API host.
    pub fn api_base(&self) -> String {
        if DOCKER_HUB_NAMES.contains(&self.host().as_str()) {
            format!("https://{DOCKER_HUB_API_HOST}")
        } else {
            self.endpoint.trim_end_matches('/').to_string()
        }
    }
}

/// Kinds of vendor credential for an upstream. The variant docs are also the CLI's help for
/// `upstream add --credential`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    /// Anonymous pulls.
    #[default]
    None,
    /// Username + password (Quay, Artifactory, Nexus, Harbor, ACR, any registry).
    Basic,
    /// GitHub username + personal access token (read:packages).
    Ghcr,
    /// Docker Hub username + password or access token.
    Dockerhub,
    /// Google: --json-key-file (service account) or --oauth2-token-file.
    Gcr,
    /// AWS: --access-key-id, secret on stdin or --password-file, --region (exchanged for a 12 h token).
    Ecr,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::None => "none",
            CredentialKind::Basic => "basic",
            CredentialKind::Ghcr => "ghcr",
            CredentialKind::Dockerhub => "dockerhub",
            CredentialKind::Gcr => "gcr",
            CredentialKind::Ecr => "ecr",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::None, Self::Basic, Self::Ghcr, Self::Dockerhub, Self::Gcr, Self::Ecr]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// How an upstream credential is stored: kind and public identity in clear, secrets sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CredentialRecord {
    pub kind: CredentialKind,
    /// The non-secret identity (username, access key id, service-account email), for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// `Secret` as JSON, sealed with the root secret for `CredentialRecord::seal_context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Sealed>,
}

impl CredentialRecord {
    /// Binds a sealed credential to its app and endpoint, so it cannot be moved to another.
    pub fn seal_context(app: &str, endpoint: &str) -> String {
        format!("credential:{app}:{endpoint}")
    }

    /// Opens the sealed secret; `None` for anonymous upstreams.
    pub fn open(&self, root: &impl Unseal, app: &str, endpoint: &str) -> Result<Option<Secret>, KeyError> {
        let Some(sealed) = &self.sealed else { return Ok(None) };
        let json = root.unseal(&Self::seal_context(app, endpoint), sealed)?;
        serde_json::from_slice(&json).map(Some).map_err(|_| KeyError::Malformed("credential"))
    }
}

/// The secret part of a credential, only ever held in memory or sealed. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Secret {
    /// Username + password for Basic (or for a Bearer realm's Basic exchange).
    Password { username: String, password: String },
    /// AWS keys for ECR's GetAuthorizationToken.
    Aws { access_key_id: String, secret_access_key: String, region: String },
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Password { username, .. } => write!(f, "Password({username}, <redacted>)"),
            Secret::Aws { access_key_id, region, .. } => write!(f, "Aws({access_key_id}, {region}, <redacted>)"),
        }
    }
}

/// `domain:<host>`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainRecord {
    #[serde(default = "schema_version")]
    pub v: u32,
    pub host: String,
    pub app: String,
    pub created_at: i64,
}

/// `license:<id>`: what the CLI issued, with the license text sealed (the edge never reads it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseRecord {
    #[serde(default = "schema_version")]
    pub v: u32,
    pub id: String,
    pub app: String,
    pub customer: String,
    pub issued_at: i64,
    pub expires_at: i64,
    #[serde(default)]
    pub images: Vec<String>,
    /// Key id that signed it.
    pub kid: String,
    /// The license text, sealed with the root secret for `LicenseRecord::seal_context`, so
    /// `license show --reveal` can print it again; absent for licenses issued before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Sealed>,
    /// The license this one renewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renews: Option<String>,
}

impl LicenseRecord {
    /// The record of a license just signed by key `kid`.
    pub fn issued(claims: &crate::license::Claims, kid: &str) -> Self {
        LicenseRecord {
            v: SCHEMA_VERSION,
            id: claims.id.clone(),
            app: claims.app.clone(),
            customer: claims.customer.clone(),
            issued_at: claims.issued_at,
            expires_at: claims.expires_at,
            images: claims.images.clone(),
            kid: kid.to_string(),
            sealed: None,
            renews: None,
        }
    }

    /// Binds a sealed license text to its id, so it cannot be moved to another record.
    pub fn seal_context(id: &str) -> String {
        format!("license:{id}")
    }
}

/// `pushtoken:<id>`: what `push-token issue` issued (the token itself is not stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushTokenRecord {
    #[serde(default = "schema_version")]
    pub v: u32,
    pub id: String,
    pub app: String,
    #[serde(default)]
    pub repos: Vec<String>,
    #[serde(default)]
    pub delete: bool,
    pub issued_at: i64,
    pub expires_at: i64,
    pub kid: String,
}

/// `revoked:<id>`; a `revoked_at` in the future is a scheduled revocation (a renewal's grace
/// period): the edge accepts the license until then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationRecord {
    #[serde(default = "schema_version")]
    pub v: u32,
    pub id: String,
    pub revoked_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_host_agrees_with_a_url_parse() {
        let parsed = |e: &str| {
            url::Url::parse(e)
                .ok()
                .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase()))
                .unwrap_or_default()
        };
        for endpoint in [
            "https://registry-1.docker.io",
            "https://Registry.Example.COM:8443/v2/",
            "http://127.0.0.1:38701",
            "http://0x7f.1/",
            "http://127.1/",
            "http://127.0.0.01/",
            "http://10.0.0.256/",
            "http://1.2.3.4.",
            "http://localhost.:80",
            "https://host:99999",
            "https://host:/",
            "https://user@host",
            "https://xn--bcher-kva.example",
            "https://bücher.example",
            "https://[::1]:5000",
            "https://host\\path",
            "https://a..b.cafe",
            "https://example.com.",
            " https://example.com",
            "ftp://example.com",
            "https://",
            "not a url",
        ] {
            assert_eq!(endpoint_host(endpoint), parsed(endpoint), "{endpoint}");
        }
        assert!(plain_host("https://ghcr.io").is_some(), "the common form takes the fast path");
        assert!(plain_host("http://127.0.0.1:38701").is_some(), "so does a plain address");
        assert!(plain_host("http://127.1:38701").is_none(), "the parser's other IPv4 forms are parsed");
    }
    use crate::keys::RootSecret;

    fn upstream(endpoint: &str, alias: Option<&str>) -> UpstreamRecord {
        UpstreamRecord {
            alias: alias.map(Into::into),
            ..crate::test_support::upstream_record(endpoint, CredentialKind::None)
        }
    }

    fn app() -> AppRecord {
        crate::test_support::app_record(
            "acme",
            vec![
                upstream("https://ghcr.io", None),
                upstream("http://127.0.0.1:5000", Some("local")),
                upstream("https://registry-1.docker.io", None),
            ],
        )
    }

    #[test]
    fn upstreams_resolve_by_host_alias_and_docker_hub_synonyms() {
        let app = app();
        for (name, want) in [
            ("ghcr.io", Some("https://ghcr.io")),
            ("GHCR.io", Some("https://ghcr.io")),
            ("local", Some("http://127.0.0.1:5000")),
            ("127.0.0.1", Some("http://127.0.0.1:5000")),
            ("docker.io", Some("https://registry-1.docker.io")),
            ("index.docker.io", Some("https://registry-1.docker.io")),
            ("registry-1.docker.io", Some("https://registry-1.docker.io")),
            ("quay.io", None),
            ("ghcr", None),
        ] {
            assert_eq!(app.upstream_named(name).map(|u| u.endpoint.as_str()), want, "{name}");
        }
    }

    #[test]
    fn docker_hub_gets_library_prefix_and_api_host() {
        let hub = upstream("https://docker.io", None);
        assert_eq!(hub.upstream_repo("nginx"), "library/nginx");
        assert_eq!(hub.upstream_repo("bitnami/nginx"), "bitnami/nginx");
        assert_eq!(hub.api_base(), "https://registry-1.docker.io");
        let ghcr = upstream("https://ghcr.io/", None);
        assert_eq!(ghcr.upstream_repo("nginx"), "nginx");
        assert_eq!(ghcr.api_base(), "https://ghcr.io");
        let mut mirror = upstream("https://hub-mirror.example.com", None);
        mirror.credential.kind = CredentialKind::Dockerhub;
        assert_eq!(mirror.upstream_repo("nginx"), "library/nginx");
        assert_eq!(mirror.api_base(), "https://hub-mirror.example.com");
    }

    #[test]
    fn credentials_are_sealed_per_app_and_endpoint() {
        let root = RootSecret::from_bytes([3; 32]);
        let secret = Secret::Password { username: "u".into(), password: "p4ss".into() };
        let json = serde_json::to_vec(&secret).unwrap();
        let record = CredentialRecord {
            kind: CredentialKind::Basic,
            identity: Some("u".into()),
            sealed: Some(root.seal(&CredentialRecord::seal_context("acme", "https://ghcr.io"), &json, [1; 24])),
        };
        assert_eq!(record.open(&root, "acme", "https://ghcr.io").unwrap(), Some(secret));
        assert!(record.open(&root, "other", "https://ghcr.io").is_err());
        assert!(!serde_json::to_string(&record).unwrap().contains("p4ss"));
        assert_eq!(
            format!("{:?}", record.open(&root, "acme", "https://ghcr.io").unwrap()),
            "Some(Password(u, <redacted>))"
        );
    }

    #[test]
    fn records_round_trip_and_default_version() {
        let json = r#"{"slug":"acme","name":"Acme","created_at":5}"#;
        let app: AppRecord = serde_json::from_str(json).unwrap();
        assert_eq!((app.v, app.blob_mode, app.upstreams.len()), (1, BlobMode::Redirect, 0));
        let back: AppRecord = serde_json::from_str(&serde_json::to_string(&app).unwrap()).unwrap();
        assert_eq!(back, app);
    }
}
