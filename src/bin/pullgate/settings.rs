//! Where the CLI finds its configuration: environment variable names, and the few facts it reads
//! from the Worker's `wrangler.toml` (KV namespace id, Worker name and hosts, config cache seconds).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::failure::{Failure, Outcome};

pub const ENV_BACKEND: &str = "PULLGATE_BACKEND";
pub const ENV_LOCAL_STATE: &str = "PULLGATE_LOCAL_STATE";
pub const ENV_WRANGLER: &str = "PULLGATE_WRANGLER";
pub const ENV_WRANGLER_CONFIG: &str = "PULLGATE_WRANGLER_CONFIG";
pub const ENV_ROOT_SECRET_FILE: &str = "PULLGATE_ROOT_SECRET_FILE";
pub const ENV_CNAME_TARGET: &str = "PULLGATE_CNAME_TARGET";
pub const ENV_CF_ACCOUNT: &str = "CLOUDFLARE_ACCOUNT_ID";
pub const ENV_CF_TOKEN: &str = "CLOUDFLARE_API_TOKEN";
pub const ENV_CF_NAMESPACE: &str = "PULLGATE_KV_NAMESPACE_ID";
pub const ENV_CF_API_BASE: &str = "PULLGATE_CF_API_BASE";

/// The edge's default `CONFIG_CACHE_SECONDS` when wrangler.toml does not say.
pub const DEFAULT_CONFIG_CACHE_SECONDS: i64 = 30;
/// How long a KV write may take to reach every Cloudflare location.
pub const KV_PROPAGATION_SECONDS: i64 = 60;
/// The placeholder id the repository's wrangler.toml ships with.
pub const PLACEHOLDER_NAMESPACE_ID: &str = "00000000000000000000000000000000";

/// A non-empty environment variable.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// What the CLI uses from `wrangler.toml`.
#[derive(Debug, Clone, Default)]
pub struct WranglerConfig {
    pub path: PathBuf,
    /// The Worker's `name`.
    pub name: Option<String>,
    /// `kv_namespaces` entry whose binding is `PULLGATE_KV`.
    pub kv_namespace_id: Option<String>,
    /// `[vars] CONFIG_CACHE_SECONDS`.
    pub config_cache_seconds: Option<i64>,
    /// Host names the Worker answers on, as written: `[vars] DEFAULT_HOSTS` (its own hostname,
    /// ports dropped), then the hosts of `route`/`routes` patterns without wildcards. Local
    /// entries such as 127.0.0.1 are included; callers pick what fits.
    pub worker_hosts: Vec<String>,
    /// `d1_databases` entry whose binding is `PULLGATE_DB`: name (local) and id (Cloudflare).
    pub events_db_name: Option<String>,
    pub events_db_id: Option<String>,
}

/// The events database's binding (src/edge/events.rs).
pub const EVENTS_DB_BINDING: &str = "PULLGATE_DB";

#[derive(Deserialize)]
struct RawConfig {
    name: Option<String>,
    #[serde(default)]
    kv_namespaces: Vec<RawNamespace>,
    #[serde(default)]
    d1_databases: Vec<RawDatabase>,
    #[serde(default)]
    vars: BTreeMap<String, toml::Value>,
    route: Option<toml::Value>,
    #[serde(default)]
    routes: Vec<toml::Value>,
}

#[derive(Deserialize)]
struct RawDatabase {
    binding: String,
    database_name: Option<String>,
    database_id: Option<String>,
}

#[derive(Deserialize)]
struct RawNamespace {
    binding: String,
    id: Option<String>,
}

/// The wrangler.toml to use: `--wrangler-config`, `PULLGATE_WRANGLER_CONFIG`, or the first
/// `wrangler.toml` in the working directory or one of its parents.
pub fn wrangler_config_path(flag: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = flag {
        return Some(path.to_path_buf());
    }
    if let Some(path) = env(ENV_WRANGLER_CONFIG) {
        return Some(PathBuf::from(path));
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors().map(|dir| dir.join("wrangler.toml")).find(|p| p.is_file())
}

/// Reads the facts the CLI needs from a wrangler.toml.
pub fn load_wrangler_config(path: &Path) -> Outcome<WranglerConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::usage(format!("cannot read wrangler config {}: {e}", path.display()))
            .hint(format!("pass --wrangler-config or set {ENV_WRANGLER_CONFIG} to the Worker's wrangler.toml"))
    })?;
    let raw: RawConfig = toml::from_str(&text)
        .map_err(|e| Failure::usage(format!("{} is not valid wrangler TOML: {e}", path.display())))?;
    let kv_namespace_id =
        raw.kv_namespaces.iter().find(|ns| ns.binding == pullgate::store::KV_BINDING).and_then(|ns| ns.id.clone());
    let config_cache_seconds = raw.vars.get("CONFIG_CACHE_SECONDS").and_then(|v| match v {
        toml::Value::String(s) => s.trim().parse().ok(),
        toml::Value::Integer(i) => Some(*i),
        _ => None,
    });
    let default_hosts = match raw.vars.get("DEFAULT_HOSTS") {
        Some(toml::Value::String(list)) => list.split(',').map(strip_port).collect(),
        _ => Vec::new(),
    };
    let route_hosts = raw.route.iter().chain(&raw.routes).filter_map(route_host);
    let worker_hosts: Vec<String> =
        default_hosts.into_iter().chain(route_hosts).filter(|h| !h.is_empty()).collect::<Vec<_>>();
    let events_db = raw.d1_databases.into_iter().find(|db| db.binding == EVENTS_DB_BINDING);
    Ok(WranglerConfig {
        path: path.to_path_buf(),
        name: raw.name,
        kv_namespace_id,
        config_cache_seconds,
        worker_hosts,
        events_db_name: events_db.as_ref().and_then(|db| db.database_name.clone()),
        events_db_id: events_db.and_then(|db| db.database_id),
    })
}

/// `host[:port]` → `host` (the edge ignores ports in DEFAULT_HOSTS too).
fn strip_port(entry: &str) -> String {
    let entry = entry.trim().to_ascii_lowercase();
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host.to_string(),
        _ => entry,
    }
}

/// The host of a route: `"images.vendor.com/*"`, or `{ pattern = "…", custom_domain = true }`;
/// none for wildcard patterns, which name no single host.
fn route_host(route: &toml::Value) -> Option<String> {
    let pattern = match route {
        toml::Value::String(p) => p.as_str(),
        toml::Value::Table(t) => t.get("pattern")?.as_str()?,
        _ => return None,
    };
    let without_scheme = pattern.split_once("://").map_or(pattern, |(_, rest)| rest);
    let host = without_scheme.split('/').next().unwrap_or_default();
    if host.contains('*') {
        return None;
    }
    Some(strip_port(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_namespace_name_and_cache_seconds() {
        let tmp = crate::commands::test_support::temp_dir();
        let path = tmp.path().join("wrangler.toml");
        std::fs::write(
            &path,
            r#"name = "pullgate"
kv_namespaces = [{ binding = "OTHER", id = "aaa" }, { binding = "PULLGATE_KV", id = "0123456789abcdef0123456789abcdef" }]
[vars]
CONFIG_CACHE_SECONDS = "45"
"#,
        )
        .unwrap();
        let config = load_wrangler_config(&path).unwrap();
        assert_eq!(config.name.as_deref(), Some("pullgate"));
        assert_eq!(config.kv_namespace_id.as_deref(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(config.config_cache_seconds, Some(45));
        std::fs::write(&path, "[[kv_namespaces]]\nbinding = \"PULLGATE_KV\"\nid = \"x\"\n").unwrap();
        assert_eq!(load_wrangler_config(&path).unwrap().kv_namespace_id.as_deref(), Some("x"));
        std::fs::write(&path, "name = [").unwrap();
        assert!(load_wrangler_config(&path).is_err());
    }

    #[test]
    fn worker_hosts_come_from_default_hosts_then_routes() {
        let tmp = crate::commands::test_support::temp_dir();
        let path = tmp.path().join("wrangler.toml");
        for (text, want) in [
            ("name = \"x\"\n", vec![]),
            (
                "[vars]\nDEFAULT_HOSTS = \"127.0.0.1:8787, Pullgate.Acme.workers.dev\"\n",
                vec!["127.0.0.1", "pullgate.acme.workers.dev"],
            ),
            ("route = \"images.acme.com/*\"\n", vec!["images.acme.com"]),
            (
                "routes = [\"*.acme.com/*\", { pattern = \"edge.acme.com\", custom_domain = true }, \
                 { pattern = \"https://eu.acme.com:443/v2/*\", zone_name = \"acme.com\" }]\n\
                 [vars]\nDEFAULT_HOSTS = \"pullgate.acme.workers.dev\"\n",
                vec!["pullgate.acme.workers.dev", "edge.acme.com", "eu.acme.com"],
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            assert_eq!(load_wrangler_config(&path).unwrap().worker_hosts, want, "{text}");
        }
    }

    #[test]
    fn the_repository_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("wrangler.toml");
        let config = load_wrangler_config(&path).unwrap();
        assert_eq!(config.kv_namespace_id.as_deref(), Some(PLACEHOLDER_NAMESPACE_ID));
        assert_eq!(config.events_db_name.as_deref(), Some("pullgate-events"));
        assert_eq!(config.events_db_id.as_deref(), Some("00000000-0000-0000-0000-000000000000"));
    }
}
