//! `pullgate license pull-secret`: the credential a customer's cluster pulls with, for every
//! host the app serves: a `kubernetes.io/dockerconfigjson` Secret, the raw `{"auths":{…}}`
//! document (podman/skopeo `--authfile`), or Helm values carrying it in base64.
//!
//! Each entry has both `auth` and `username`/`password`: kubelet reads either, while
//! containers/image (podman, skopeo, CRI-O) reads only `auth`.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use pullgate::store::{self, DomainRecord};
use serde::Serialize;

use super::license::{require_license, reveal};
use super::Ctx;
use crate::cli::{PullSecretArgs, PullSecretFormat};
use crate::failure::{Failure, Outcome};
use crate::kv;
use crate::validate;

/// The username written beside the license; the edge ignores it.
pub const USERNAME: &str = "license";

/// One registry's entry of a dockerconfigjson.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AuthEntry {
    pub username: String,
    pub password: String,
    pub auth: String,
}

/// `{"auths":{"<host>":{…}}}`, hosts in order.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct DockerConfig {
    pub auths: BTreeMap<String, AuthEntry>,
}

/// The document for `license` on each of `hosts`.
pub fn docker_config(hosts: &[String], license: &str) -> DockerConfig {
    let auth = B64.encode(format!("{USERNAME}:{license}"));
    let entry = || AuthEntry { username: USERNAME.into(), password: license.to_string(), auth: auth.clone() };
    DockerConfig { auths: hosts.iter().map(|h| (h.clone(), entry())).collect() }
}

/// A `kubernetes.io/dockerconfigjson` Secret carrying `json`.
pub fn k8s_secret(json: &str, name: &str, namespace: Option<&str>) -> String {
    let namespace = namespace.map(|ns| format!("  namespace: {ns}\n")).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n{namespace}type: kubernetes.io/dockerconfigjson\n\
         data:\n  .dockerconfigjson: {}\n",
        B64.encode(json)
    )
}

/// Helm values with the base64 document at `global.pullgate.dockerconfigjson` and, when given,
/// at the chart's own dotted `extra_key` too.
pub fn helm_values(json: &str, extra_key: Option<&[String]>) -> String {
    let encoded = B64.encode(json);
    let mut out = format!("global:\n  pullgate:\n    dockerconfigjson: \"{encoded}\"\n");
    if let Some(path) = extra_key {
        for (depth, key) in path.iter().enumerate() {
            let indent = "  ".repeat(depth);
            match depth + 1 == path.len() {
                true => out.push_str(&format!("{indent}{key}: \"{encoded}\"\n")),
                false => out.push_str(&format!("{indent}{key}:\n")),
            }
        }
    }
    out
}

/// `host[:port]` as a docker config key: a DNS name, `localhost` or an IPv4 address, lowercase.
pub fn registry_host(input: &str) -> Outcome<(String, String)> {
    let text = input.trim().to_ascii_lowercase();
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (text.as_str(), None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    let host_ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !port_ok || !host_ok {
        return Err(Failure::usage(format!("registry {input:?} is not host[:port] (e.g. images.vendor.com)")));
    }
    Ok((text.clone(), host.to_string()))
}

/// A dotted values key, each part letters, digits, `_` or `-`.
fn values_key(input: &str) -> Outcome<Vec<String>> {
    let parts: Vec<String> = input.trim().split('.').map(str::to_string).collect();
    let good = |p: &String| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !parts.iter().all(good) || parts.len() > 16 {
        return Err(Failure::usage(format!("values key {input:?} must be dotted names (e.g. myapp.imagePullSecret)")));
    }
    Ok(parts)
}

/// A Kubernetes object name or namespace (RFC 1123 label, or subdomain for names).
fn k8s_name(input: &str, what: &str) -> Outcome<String> {
    let text = input.trim();
    let ok = !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b.first() != Some(&b'-')
                && b.last() != Some(&b'-')
        });
    if !ok || (what == "namespace" && (text.contains('.') || text.len() > 63)) {
        return Err(Failure::usage(format!("{what} {input:?} is not a Kubernetes name (lowercase, digits, '-')")));
    }
    Ok(text.to_string())
}

/// The hosts an app is pulled from: its custom domains (short names) and the Worker's own hosts
/// from wrangler.toml (`proxy/<app>/` names), loopback ones included.
pub struct AppHosts {
    pub domains: Vec<String>,
    pub worker: Vec<String>,
}

pub fn app_hosts(ctx: &Ctx, app: &str) -> Outcome<AppHosts> {
    let loaded = kv::load_prefixes(ctx.kv()?, &[store::DOMAIN_PREFIX])?;
    let domains: Vec<DomainRecord> = kv::records(&loaded, store::DOMAIN_PREFIX)?;
    let domains = domains.into_iter().filter(|d| d.app == app).map(|d| d.host).collect();
    let config = ctx.backend_options().wrangler_config().ok().flatten().unwrap_or_default();
    Ok(AppHosts { domains, worker: config.worker_hosts })
}

/// Hosts the app serves: its custom domains, then the Worker's own public hosts from
/// wrangler.toml. `all` adds loopback hosts (what `--registry` may name in development).
fn served_hosts(ctx: &Ctx, app: &str, all: bool) -> Outcome<Vec<String>> {
    let AppHosts { mut domains, worker } = app_hosts(ctx, app)?;
    for host in worker {
        if (all || !validate::is_loopback(&host)) && !domains.contains(&host) {
            domains.push(host);
        }
    }
    Ok(domains)
}

pub fn run(ctx: &Ctx, args: &PullSecretArgs) -> Outcome<()> {
    let id = validate::license_id(&args.id)?;
    let name = args.name.as_deref().map(|n| k8s_name(n, "name")).transpose()?;
    let namespace = args.namespace.as_deref().map(|n| k8s_name(n, "namespace")).transpose()?;
    let extra_key = args.values_key.as_deref().map(values_key).transpose()?;
    let asked = args.registries.iter().map(|r| registry_host(r)).collect::<Outcome<Vec<_>>>()?;
    let record = require_license(ctx.kv()?, &id)?;
    let license = reveal(&record)?;
    let hosts = if asked.is_empty() {
        served_hosts(ctx, &record.app, false)?
    } else {
        let served = served_hosts(ctx, &record.app, true)?;
        if let Some((key, _)) = asked.iter().find(|(_, host)| !served.contains(host)) {
            return Err(Failure::usage(format!("app {} is not served on {key}", record.app))
                .hint(format!("the app's hosts: {}", served.join(", "))));
        }
        asked.into_iter().map(|(key, _)| key).collect()
    };
    if hosts.is_empty() {
        return Err(Failure::failed(format!("app {} has no host to pull from yet", record.app)).hint(
            "add a custom domain (`pullgate domain add`), name the Worker's host in wrangler.toml's DEFAULT_HOSTS, \
             or pass --registry HOST",
        ));
    }
    let config = docker_config(&hosts, &license);
    let json = serde_json::to_string(&config).map_err(|e| Failure::failed(format!("dockerconfigjson: {e}")))?;
    let name = name.unwrap_or_else(|| format!("pullgate-{}", record.app));
    let text = match args.format {
        PullSecretFormat::Dockerconfigjson => json.clone(),
        PullSecretFormat::K8s => k8s_secret(&json, &name, namespace.as_deref()),
        PullSecretFormat::HelmValues => helm_values(&json, extra_key.as_deref()),
    };
    let envelope = serde_json::json!({ "id": id, "hosts": hosts, "dockerconfigjson": config, "output": text });
    ctx.out.result(&envelope, || text.trim_end().to_string())
}

#[cfg(test)]
#[path = "pull_secret_tests.rs"]
mod tests;
