//! `pullgate upstream add|list|show|remove`: an app's upstream registries, stored inside its
//! `app:<slug>` record (one key, so every edit is one atomic write), with credentials sealed by
//! the root secret. Secrets are read from stdin or files and never printed.

use pullgate::keys::KeysetRecord;
use pullgate::store::{self, AppRecord, CredentialKind, CredentialRecord, Secret, UpstreamRecord, KEYSET_KEY};
use serde::Serialize;

use super::{find_upstream, no_such_app, open_keyset, require_app, Ctx};
use crate::cli::{UpstreamAddArgs, UpstreamCommand};
use crate::failure::{Failure, Outcome};
use crate::kv;
use crate::output::table;
use crate::secrets::{self, read_secret, read_text_file};
use crate::validate::{self, Endpoint};

pub fn run(ctx: &Ctx, command: UpstreamCommand) -> Outcome<()> {
    match command {
        UpstreamCommand::Add(args) => add(ctx, &args),
        UpstreamCommand::List { app } => list(ctx, app.as_deref()),
        UpstreamCommand::Show { upstream, app } => show(ctx, &app, &upstream),
        UpstreamCommand::Remove { upstream, app } => remove(ctx, &app, &upstream),
        UpstreamCommand::Test { app, image, registry } => {
            super::upstream_probe::run(ctx, &app, &image, registry.as_deref())
        }
    }
}

/// `--json` shape of an upstream; the secret is never included, only whether there is one.
#[derive(Serialize)]
pub struct UpstreamView {
    app: String,
    name: String,
    endpoint: String,
    alias: Option<String>,
    repos: Vec<String>,
    credential: CredentialView,
    insecure: bool,
    /// ECR: a non-default GetAuthorizationToken endpoint.
    ecr_auth_endpoint: Option<String>,
    /// Other hosts whose token realm is trusted with the credential (`--realm-host`).
    realm_hosts: Vec<String>,
}

#[derive(Serialize)]
struct CredentialView {
    kind: &'static str,
    identity: Option<String>,
    /// `"sealed"` or `"none"`.
    secret: &'static str,
    /// Whether the sealed secret opens with the configured root secret (`null`: not checked).
    secret_opens: Option<bool>,
}

impl UpstreamView {
    pub fn new(app: &str, u: &UpstreamRecord, secret_opens: Option<bool>) -> Self {
        UpstreamView {
            app: app.to_string(),
            name: u.display_name(),
            endpoint: u.endpoint.clone(),
            alias: u.alias.clone(),
            repos: u.repos.clone(),
            credential: CredentialView {
                kind: u.credential.kind.as_str(),
                identity: u.credential.identity.clone(),
                secret: if u.credential.sealed.is_some() { "sealed" } else { "none" },
                secret_opens,
            },
            insecure: u.insecure,
            ecr_auth_endpoint: u.auth_endpoint.clone(),
            realm_hosts: u.realm_hosts.clone(),
        }
    }
}

/// The masked one-line form of a credential: `basic vendor ********`.
fn credential_summary(c: &CredentialRecord) -> String {
    let mut parts = vec![c.kind.as_str().to_string()];
    parts.extend(c.identity.clone());
    if c.sealed.is_some() {
        parts.push("********".to_string());
    }
    parts.join(" ")
}

/// The upstreams of one app as a table (used by `app show` too).
pub fn upstream_table(app: &AppRecord) -> String {
    let rows: Vec<Vec<String>> = app.upstreams.iter().map(|u| upstream_row(app, u)).collect();
    table(&["app", "name", "endpoint", "credential", "repos"], &rows)
}

fn upstream_row(app: &AppRecord, u: &UpstreamRecord) -> Vec<String> {
    let mut endpoint = u.endpoint.clone();
    if u.insecure {
        endpoint.push_str(" (insecure-dev)");
    }
    if !u.realm_hosts.is_empty() {
        endpoint.push_str(&format!(" (realm hosts: {})", u.realm_hosts.join(", ")));
    }
    vec![
        app.slug.clone(),
        u.display_name(),
        endpoint,
        credential_summary(&u.credential),
        if u.repos.is_empty() { "any".to_string() } else { u.repos.join(",") },
    ]
}

/// A username for Basic auth: RFC 7617 forbids ':' in it.
fn username(input: Option<&str>, kind: &str) -> Outcome<String> {
    let name = input.ok_or_else(|| Failure::usage(format!("--credential {kind} needs --username")))?;
    let name = validate::label(name, "username", 256)?;
    if name.contains(':') {
        return Err(Failure::usage("the username must not contain ':' (Basic authentication cannot carry it)"));
    }
    Ok(name)
}

/// Refuses flags that do not belong to the chosen credential type.
fn reject_flags(kind: &str, present: &[(bool, &str)]) -> Outcome<()> {
    let extra: Vec<&str> = present.iter().filter(|(is, _)| *is).map(|(_, flag)| *flag).collect();
    if extra.is_empty() {
        Ok(())
    } else {
        Err(Failure::usage(format!("--credential {kind} does not take {}", extra.join(", "))))
    }
}

/// A `--realm-host`: a DNS name (a loopback name or address with --insecure-dev), lowercase,
/// without a trailing dot.
fn realm_host(input: &str, insecure_dev: bool) -> Outcome<String> {
    let host = input.trim().trim_end_matches('.').to_ascii_lowercase();
    if insecure_dev && validate::is_loopback(&host) {
        return Ok(host);
    }
    validate::hostname(&host).map_err(|_| {
        Failure::usage(format!("--realm-host {input:?} must be a bare DNS name, e.g. gitlab.example.com"))
            .hint("give the host of the token realm the registry names in its WWW-Authenticate challenge")
    })
}

/// An ECR GetAuthorizationToken endpoint: https on an AWS host (loopback http with --insecure-dev).
fn ecr_auth_endpoint(input: &str, insecure_dev: bool) -> Outcome<String> {
    let bad = |why: &str| Failure::usage(format!("--ecr-auth-endpoint {input:?} {why}"));
    let url = url::Url::parse(input.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_ascii_lowercase();
    let local = insecure_dev && validate::is_loopback(&host);
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not carry credentials, a query or a fragment"));
    }
    let aws = host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn");
    match url.scheme() {
        "https" if aws || local => Ok(url.to_string()),
        "http" if local => Ok(url.to_string()),
        _ => Err(bad("must be an https URL on an amazonaws.com host (e.g. https://ecr-fips.us-east-1.amazonaws.com/)")),
    }
}

/// The credential's public identity and its secret, from flags, stdin and files.
fn credential_input(
    args: &UpstreamAddArgs,
    endpoint: &Endpoint,
) -> Outcome<(CredentialKind, Option<String>, Option<Secret>)> {
    let host = endpoint.host.as_str();
    let password_flags = "--password-stdin or --password-file FILE";
    let read_password =
        |what: &str| read_secret(args.password_stdin, args.password_file.as_deref(), what, password_flags);
    let password_given = args.password_stdin || args.password_file.is_some();
    let gcr_flags =
        [(args.json_key_file.is_some(), "--json-key-file"), (args.oauth2_token_file.is_some(), "--oauth2-token-file")];
    let aws_flags = [
        (args.access_key_id.is_some(), "--access-key-id"),
        (args.region.is_some(), "--region"),
        (args.ecr_auth_endpoint.is_some(), "--ecr-auth-endpoint"),
    ];
    match args.credential {
        CredentialKind::None => {
            let mut flags = vec![
                (args.username.is_some(), "--username"),
                (args.password_stdin, "--password-stdin"),
                (args.password_file.is_some(), "--password-file"),
            ];
            flags.extend(gcr_flags);
            flags.extend(aws_flags);
            reject_flags("none", &flags)?;
            Ok((CredentialKind::None, None, None))
        }
        CredentialKind::Basic | CredentialKind::Ghcr | CredentialKind::Dockerhub => {
            let (kind, name) = (args.credential, args.credential.as_str());
            reject_flags(name, &[gcr_flags[0], gcr_flags[1], aws_flags[0], aws_flags[1], aws_flags[2]])?;
            // A loopback stand-in of the registry (--insecure-dev) is not named like it.
            let local_standin = args.insecure_dev && validate::is_loopback(host);
            if kind == CredentialKind::Ghcr && host != "ghcr.io" && !local_standin {
                return Err(Failure::usage(format!("--credential ghcr is for https://ghcr.io, not {host}"))
                    .hint("use --credential basic for other registries"));
            }
            if kind == CredentialKind::Dockerhub && host != store::DOCKER_HUB_API_HOST && !local_standin {
                return Err(Failure::usage(format!(
                    "--credential dockerhub is for Docker Hub (docker.io), not {host}"
                ))
                .hint("use --credential basic for other registries"));
            }
            let user = username(args.username.as_deref(), name)?;
            let what = match kind {
                CredentialKind::Ghcr => "personal access token",
                CredentialKind::Dockerhub => "password or access token",
                _ => "password",
            };
            let password = read_password(what)?;
            Ok((kind, Some(user.clone()), Some(Secret::Password { username: user, password })))
        }
        CredentialKind::Gcr => {
            reject_flags(
                "gcr",
                &[
                    (args.username.is_some(), "--username"),
                    (password_given, "--password-stdin/--password-file"),
                    aws_flags[0],
                    aws_flags[1],
                    aws_flags[2],
                ],
            )?;
            let local_standin = args.insecure_dev && validate::is_loopback(host);
            if !validate::is_google_registry(host) && !local_standin {
                return Err(Failure::usage(format!("--credential gcr is for gcr.io and *-docker.pkg.dev, not {host}"))
                    .hint("for another registry that takes _json_key, use --credential basic --username _json_key"));
            }
            match (&args.json_key_file, &args.oauth2_token_file) {
                (Some(file), None) => {
                    let json = read_text_file(file, "service-account JSON key")?;
                    let email = validate::gcr_json_key(&json)?;
                    Ok((
                        CredentialKind::Gcr,
                        Some(email),
                        Some(Secret::Password { username: "_json_key".into(), password: json }),
                    ))
                }
                (None, Some(file)) => {
                    let token = read_text_file(file, "OAuth2 access token")?.trim().to_string();
                    let user = "oauth2accesstoken".to_string();
                    Ok((
                        CredentialKind::Gcr,
                        Some(user.clone()),
                        Some(Secret::Password { username: user, password: token }),
                    ))
                }
                _ => {
                    Err(Failure::usage("--credential gcr needs exactly one of --json-key-file or --oauth2-token-file"))
                }
            }
        }
        CredentialKind::Ecr => {
            reject_flags("ecr", &[(args.username.is_some(), "--username"), gcr_flags[0], gcr_flags[1]])?;
            // A loopback stand-in (--insecure-dev) has no region in its name; --region says it.
            let local = args.insecure_dev && validate::is_loopback(host);
            let endpoint_region = match (validate::ecr_region(host), local) {
                (Some(r), _) => Some(r),
                (None, true) => None,
                (None, false) => {
                    return Err(Failure::usage(format!(
                        "--credential ecr needs an endpoint <account>.dkr.ecr.<region>.amazonaws.com, not {host}"
                    )))
                }
            };
            let region = match (&args.region, &endpoint_region) {
                (Some(r), _) => validate::aws_region(r)?,
                (None, Some(r)) => r.clone(),
                (None, None) => return Err(Failure::usage("--credential ecr with a local endpoint needs --region")),
            };
            if endpoint_region.as_ref().is_some_and(|r| *r != region) {
                return Err(Failure::usage(format!(
                    "--region {region} does not match the endpoint's region {}",
                    endpoint_region.unwrap_or_default()
                )));
            }
            let key_id = validate::aws_access_key_id(args.access_key_id.as_deref().ok_or_else(|| {
                Failure::usage(
                    "--credential ecr needs --access-key-id (and the secret access key on stdin or in --password-file)",
                )
            })?)?;
            let secret = read_password("AWS secret access key")?;
            if secret.chars().any(char::is_whitespace) {
                return Err(Failure::usage("the AWS secret access key must not contain whitespace"));
            }
            Ok((
                CredentialKind::Ecr,
                Some(key_id.clone()),
                Some(Secret::Aws { access_key_id: key_id, secret_access_key: secret, region }),
            ))
        }
    }
}

fn add(ctx: &Ctx, args: &UpstreamAddArgs) -> Outcome<()> {
    // Everything is checked and every secret read before KV is touched.
    if args.insecure_dev {
        ctx.refuse_insecure_dev_in_production()?;
    }
    let slug = validate::slug(&args.app)?;
    let endpoint = validate::endpoint(&args.endpoint, args.insecure_dev)?;
    let alias = args.alias.as_deref().map(validate::alias).transpose()?;
    if endpoint.port.is_some() && alias.is_none() {
        return Err(Failure::usage(format!("{} has a port, so it needs --alias", endpoint.url))
            .hint("image paths cannot contain host:port; customers will use the alias instead"));
    }
    let repos = args.repos.iter().map(|r| validate::repo_pattern(r)).collect::<Outcome<Vec<_>>>()?;
    let (kind, identity, secret) = credential_input(args, &endpoint)?;
    let auth_endpoint =
        args.ecr_auth_endpoint.as_deref().map(|e| ecr_auth_endpoint(e, args.insecure_dev)).transpose()?;
    let mut realm_hosts = Vec::new();
    for input in &args.realm_hosts {
        let host = realm_host(input, args.insecure_dev)?;
        if host != endpoint.host && !realm_hosts.contains(&host) {
            realm_hosts.push(host);
        }
    }
    let root = match secret {
        Some(_) => Some(secrets::require_root()?),
        None => None,
    };

    let kv = ctx.kv()?;
    let app_key = store::app_key(&slug);
    let found = kv.get_many(&[app_key.clone(), KEYSET_KEY.to_string()])?;
    let mut app: AppRecord = match &found[0] {
        Some(v) => kv::decode(&app_key, v)?,
        None => return Err(no_such_app(&slug)),
    };
    if let (Some(root), Some(keyset)) = (&root, &found[1]) {
        open_keyset(&root.secret, &kv::decode::<KeysetRecord>(KEYSET_KEY, keyset)?)?;
    }

    let new_name = alias.clone().unwrap_or_else(|| endpoint.host.clone());
    let replaced = app.upstreams.iter().position(|u| u.endpoint == endpoint.url || u.display_name() == new_name);
    if let (Some(i), false) = (replaced, args.replace) {
        let old = &app.upstreams[i];
        return Err(Failure::failed(format!(
            "app {slug} already has upstream {} ({})",
            old.display_name(),
            old.endpoint
        ))
        .hint("pass --replace to swap it in one write, or give this one a different --alias"));
    }
    let others: Vec<&UpstreamRecord> =
        app.upstreams.iter().enumerate().filter(|(i, _)| Some(*i) != replaced).map(|(_, u)| u).collect();
    if let Some(clash) = others
        .iter()
        .find(|u| u.display_name() == new_name || u.alias.as_deref() == Some(new_name.as_str()) || u.host() == new_name)
    {
        return Err(Failure::failed(format!(
            "the name {new_name:?} is already used by upstream {} of app {slug}",
            clash.endpoint
        ))
        .hint("choose another --alias: each upstream's name must be unique within the app"));
    }
    if others.iter().any(|u| u.endpoint == endpoint.url) {
        return Err(Failure::failed(format!("app {slug} already has another upstream at {}", endpoint.url)));
    }

    let sealed = match (&secret, &root) {
        (Some(secret), Some(root)) => {
            let json = serde_json::to_vec(secret)
                .map_err(|e| Failure::failed(format!("cannot encode the credential: {e}")))?;
            let context = CredentialRecord::seal_context(&slug, &endpoint.url);
            Some(root.secret.seal(&context, &json, secrets::random_bytes::<24>()?))
        }
        _ => None,
    };
    let record = UpstreamRecord {
        endpoint: endpoint.url.clone(),
        alias,
        repos,
        credential: CredentialRecord { kind, identity, sealed },
        insecure: args.insecure_dev,
        auth_endpoint,
        realm_hosts,
        hosted: false,
    };
    match replaced {
        Some(i) => app.upstreams[i] = record.clone(),
        None => app.upstreams.push(record.clone()),
    }
    kv.put_many(&[(app_key, kv::encode(&app)?)])?;
    if record.is_docker_hub() && record.credential.kind == CredentialKind::None {
        ctx.out.note(
            "warning: anonymous Docker Hub pulls are rate limited per client IP, and every pull through \
             the edge comes from a few Cloudflare IPs; add --credential dockerhub with a read-only access token",
        );
    }

    let view = UpstreamView::new(&slug, &record, record.credential.sealed.as_ref().map(|_| true));
    ctx.out.result(&view, || {
        let verb = if replaced.is_some() { "replaced" } else { "added" };
        let mut text = format!(
            "upstream {} {verb} in app {slug}: {} ({})",
            record.display_name(),
            record.endpoint,
            credential_summary(&record.credential)
        );
        if found[1].is_none() && root.is_some() {
            text.push_str("\nnote: no signing keys yet; run `pullgate key init` with the same root secret");
        }
        text.push_str(&format!(
            "\ncustomers pull <domain>/{}/<repo>:<tag>, or <edge>/proxy/{slug}/{}/<repo>:<tag>",
            record.display_name(),
            record.display_name()
        ));
        text
    })
}

fn list(ctx: &Ctx, app: Option<&str>) -> Outcome<()> {
    let apps: Vec<AppRecord> = match app {
        Some(slug) => vec![require_app(ctx.kv()?, slug)?],
        None => kv::records(&kv::load_prefixes(ctx.kv()?, &[store::APP_PREFIX])?, store::APP_PREFIX)?,
    };
    let views: Vec<UpstreamView> =
        apps.iter().flat_map(|a| a.upstreams.iter().map(|u| UpstreamView::new(&a.slug, u, None))).collect();
    ctx.out.result(&views, || {
        if views.is_empty() {
            return "no upstreams: add one with `pullgate upstream add <endpoint> --app <slug>`".to_string();
        }
        let rows: Vec<Vec<String>> = apps.iter().flat_map(|a| a.upstreams.iter().map(|u| upstream_row(a, u))).collect();
        table(&["app", "name", "endpoint", "credential", "repos"], &rows)
    })
}

fn show(ctx: &Ctx, app: &str, name: &str) -> Outcome<()> {
    let app = require_app(ctx.kv()?, app)?;
    let (_, upstream) = find_upstream(&app, name).ok_or_else(|| no_such_upstream(&app, name))?;
    // Opening the secret proves the Worker (same root secret) can use it; it is never shown.
    let opens = match (&upstream.credential.sealed, secrets::configured_root()?) {
        (Some(_), Some(root)) => Some(upstream.credential.open(&root.secret, &app.slug, &upstream.endpoint).is_ok()),
        _ => None,
    };
    let view = UpstreamView::new(&app.slug, upstream, opens);
    ctx.out.result(&view, || {
        let secret = match (&upstream.credential.sealed, opens) {
            (None, _) => "none".to_string(),
            (Some(_), Some(true)) => "******** (sealed; opens with the configured root secret)".to_string(),
            (Some(_), Some(false)) => "******** (sealed; does NOT open with the configured root secret)".to_string(),
            (Some(_), None) => "******** (sealed)".to_string(),
        };
        format!(
            "app:         {}\nname:        {}\nendpoint:    {}{}\nalias:       {}\ncredential:  {}\nidentity:    {}\nsecret:      {secret}\nrepos:       {}",
            app.slug,
            upstream.display_name(),
            upstream.endpoint,
            if upstream.insecure { " (insecure-dev)" } else { "" },
            upstream.alias.as_deref().unwrap_or("-"),
            upstream.credential.kind.as_str(),
            upstream.credential.identity.as_deref().unwrap_or("-"),
            if upstream.repos.is_empty() { "any".to_string() } else { upstream.repos.join(", ") },
        ) + &upstream.auth_endpoint.as_ref().map(|e| format!("\necr auth:    {e}")).unwrap_or_default()
            + &if upstream.realm_hosts.is_empty() {
                String::new()
            } else {
                format!("\nrealm hosts: {}", upstream.realm_hosts.join(", "))
            }
    })
}

fn remove(ctx: &Ctx, app: &str, name: &str) -> Outcome<()> {
    let kv = ctx.kv()?;
    let mut app = require_app(kv, app)?;
    let (index, upstream) = find_upstream(&app, name).ok_or_else(|| no_such_upstream(&app, name))?;
    let removed = upstream.clone();
    app.upstreams.remove(index);
    kv.put_many(&[(store::app_key(&app.slug), kv::encode(&app)?)])?;
    let json = serde_json::json!({ "removed": removed.display_name(), "endpoint": removed.endpoint, "app": app.slug });
    ctx.out.result(&json, || {
        format!("upstream {} ({}) removed from app {}.", removed.display_name(), removed.endpoint, app.slug)
    })
}

fn no_such_upstream(app: &AppRecord, name: &str) -> Failure {
    let names: Vec<String> = app.upstreams.iter().map(|u| u.display_name()).collect();
    Failure::failed(format!("app {} has no upstream {name:?}", app.slug)).hint(if names.is_empty() {
        "it has no upstreams yet".to_string()
    } else {
        format!("its upstreams: {}", names.join(", "))
    })
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
