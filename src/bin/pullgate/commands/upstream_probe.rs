//! `pullgate upstream test <app> <image>`: "can my customers pull this?" checked from the vendor's
//! machine with the stored (sealed) credential and the edge's own upstream driver
//! (`pullgate::upstream`), so the CLI authenticates exactly as the Worker will:
//!
//! ```text
//! name → upstream + repository (allow-patterns) → open credential → GET manifest
//!   → index? GET its first child → HEAD the config blob (redirects checked, followed without credentials)
//! ```

use std::future::Future;
use std::task::{Context, Poll, Waker};

use pullgate::access::{self, HostBinding};
use pullgate::reference::{Name, Reference};
use pullgate::store::{AppRecord, Secret, UpstreamRecord};
use pullgate::upstream::{
    self, Head, Request, Resource, TokenCache, Transport, TransportError, Upstream, UpstreamError,
};

use super::http;
use super::{require_app, Ctx};
use crate::failure::{Exit, Failure, Outcome};
use crate::images::image_ref::endpoint_authority;
use crate::secrets;

const MAX_REDIRECTS: usize = 5;

/// Runs the sans-IO driver with blocking HTTP: every future is ready when first polled.
struct BlockingTransport {
    agent: ureq::Agent,
}

impl Transport for BlockingTransport {
    type Body = Vec<u8>;

    async fn send(&self, req: Request) -> Result<(Head, Vec<u8>), TransportError> {
        // ureq writes Host and Content-Length itself, from the same URL and body that were signed.
        let headers: Vec<(String, String)> =
            req.headers.into_iter().filter(|(n, _)| n != "host" && n != "content-length").collect();
        let answer = http::send(
            &self.agent,
            req.method,
            &req.url,
            &headers,
            req.body.as_deref(),
            upstream::MAX_MANIFEST_BYTES as usize,
        )
        .map_err(|e| match e {
            http::NetError::Timeout => TransportError::Timeout,
            http::NetError::Connect(d) => TransportError::Connect(d),
        })?;
        if answer.truncated {
            return Err(TransportError::TooLarge);
        }
        Ok((answer.head, answer.body))
    }

    async fn read(&self, body: Vec<u8>, limit: usize) -> Result<Vec<u8>, TransportError> {
        if body.len() > limit {
            Err(TransportError::TooLarge)
        } else {
            Ok(body)
        }
    }

    fn now(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }
}

/// Drives a future whose I/O is blocking, so it completes without ever waiting on a waker.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::yield_now();
    }
}

/// Exit code for a driver failure.
fn driver_exit(e: &UpstreamError) -> Exit {
    match e {
        UpstreamError::CredentialsRequired { .. } | UpstreamError::CredentialsRejected { .. } => {
            Exit::CredentialsRejected
        }
        UpstreamError::RateLimited { .. } => Exit::RateLimited,
        UpstreamError::Timeout { .. } | UpstreamError::Unreachable { .. } => Exit::Network,
        _ => Exit::Failure,
    }
}

/// The driver's sentence, plus the transport's own words where it has them (DNS, TLS, refused).
fn driver_message(e: &UpstreamError) -> String {
    match e {
        UpstreamError::Unreachable { detail, .. } => format!("{e}: {detail}"),
        _ => e.to_string(),
    }
}

/// Exit code for an upstream answer `classify` refused.
fn status_exit(status: u16) -> Exit {
    match status {
        404 => Exit::NotFound,
        401 | 403 => Exit::CredentialsRejected,
        429 => Exit::RateLimited,
        _ => Exit::Failure,
    }
}

/// `<upstream>/<repo>[:tag|@digest]`, or the long `proxy/<app>/<upstream>/<repo>…` form.
fn split_image(input: &str) -> Outcome<(Name, Reference)> {
    let (path, reference) = match input.split_once('@') {
        Some((p, d)) => (p, d.to_string()),
        None => match input.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p, t.to_string()),
            _ => (input, "latest".to_string()),
        },
    };
    let bad = |e: String| {
        Failure::usage(format!("image {input:?}: {e}"))
            .hint("write it as customers do after the domain: <upstream>/<repository>[:tag|@digest]")
    };
    let name: Name = path.parse().map_err(|e: pullgate::reference::ParseError| bad(e.to_string()))?;
    let reference: Reference = reference.parse().map_err(|e: pullgate::reference::ParseError| bad(e.to_string()))?;
    Ok((name, reference))
}

/// The first path component and the rest, when the first is written like a registry host
/// (`host:port`, a dotted name or IP, `localhost`) rather than an upstream's name.
fn host_prefix(image: &str) -> Option<(String, &str)> {
    let (first, rest) = image.split_once('/')?;
    let first = first.to_ascii_lowercase();
    (first.contains(':') || first.contains('.') || first == "localhost").then_some((first, rest))
}

/// For an image that starts with a registry host: the command with the upstream's name when the
/// host is one of the app's endpoints, or else the names the app's image paths can start with.
fn host_instead_of_name(app: &AppRecord, image: &str) -> Option<Failure> {
    let (first, rest) = host_prefix(image)?;
    let matching = app.upstreams.iter().find(|u| endpoint_authority(&u.endpoint).as_deref() == Some(first.as_str()));
    if let Some(upstream) = matching {
        let name = upstream.display_name();
        return Some(
            Failure::usage(format!(
                "image {image:?} starts with the endpoint {first} of upstream {name}; image paths name an \
                 upstream by its alias"
            ))
            .hint(format!("pullgate upstream test {} {name}/{rest}", app.slug)),
        );
    }
    let names: Vec<String> = app.upstreams.iter().map(|u| u.display_name()).collect();
    Some(
        Failure::usage(format!("image {image:?} starts with {first}, which is none of app {}'s upstreams", app.slug))
            .hint(if names.is_empty() {
                format!("app {} has no upstreams yet: add one with `pullgate upstream add`", app.slug)
            } else {
                format!("image paths start with an upstream's alias or host: {}", names.join(", "))
            }),
    )
}

/// `os/arch[/variant]` of an index entry, as docker prints platforms.
fn platform_of(entry: &serde_json::Value) -> Option<String> {
    let p = entry.get("platform")?;
    let (os, arch) = (p.get("os")?.as_str()?, p.get("architecture")?.as_str()?);
    Some(match p.get("variant").and_then(|v| v.as_str()) {
        Some(variant) => format!("{os}/{arch}/{variant}"),
        None => format!("{os}/{arch}"),
    })
}

pub struct Report {
    pub lines: Vec<String>,
    pub json: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    fn add(&mut self, key: &str, value: serde_json::Value, line: String) {
        self.json.insert(key.to_string(), value);
        self.lines.push(line);
    }
}

pub fn run(ctx: &Ctx, app: &str, image: &str, registry: Option<&str>) -> Outcome<()> {
    let (name, reference) = match split_image(image) {
        Ok(split) => split,
        // A registry host (with a port, say) cannot start an image path; the app's upstreams
        // tell which name customers use instead.
        Err(failure) if host_prefix(image).is_some() => {
            let app = require_app(ctx.kv()?, app)?;
            return Err(host_instead_of_name(&app, image).unwrap_or(failure));
        }
        Err(failure) => return Err(failure),
    };
    let app = require_app(ctx.kv()?, app)?;
    // The hosted registry is R2 behind the edge: it is tested through the edge.
    if let Ok(target) = access::resolve_name(&name, &HostBinding::Custom { app: app.slug.clone() }) {
        if app.upstream_named(&target.upstream).is_some_and(|u| u.hosted) {
            return hosted(ctx, &app.slug, &name, &target.repo, &reference, registry);
        }
    }
    let Probe { report, result, .. } = probe(&app, image)?;
    let exit = result.as_ref().err().map(|(exit, _)| *exit);
    let message = match &result {
        Ok(message) | Err((_, message)) => message.clone(),
    };
    let Report { lines, json } = report;
    ctx.out.result(&json, || lines.join("\n"))?;
    match exit {
        None => Ok(()),
        Some(exit) => Err(Failure::after_report(exit, format!("upstream test failed ({}): {message}", exit.as_str()))),
    }
}

/// What testing one image found: the upstream it went to, the report lines and JSON, and
/// either the sentence saying customers can pull it or the diagnosis.
pub struct Probe {
    pub upstream: String,
    pub report: Report,
    pub result: Result<String, Diagnosis>,
}

/// Tests `image` (`<upstream>/<repo>[:tag|@digest]`) of `app` with the stored credential.
/// Errors are for what stops the test before it starts (a bad name, an unknown upstream, a
/// root secret that does not open the credential).
pub fn probe(app: &AppRecord, image: &str) -> Outcome<Probe> {
    let (name, reference) = split_image(image)?;
    let target = access::resolve_name(&name, &HostBinding::Custom { app: app.slug.clone() })
        .map_err(|e| Failure::usage(pullgate::error::RegistryError::from(e).message))?;
    let Some(record) = app.upstream_named(&target.upstream).cloned() else {
        let names: Vec<String> = app.upstreams.iter().map(|u| u.display_name()).collect();
        return Err(Failure::usage(format!("app {} has no upstream {:?}", app.slug, target.upstream))
            .hint(format!("its upstreams: {}", if names.is_empty() { "none".into() } else { names.join(", ") })));
    };
    if record.hosted {
        return Err(Failure::usage(format!(
            "{image} is in app {}'s hosted registry, which only the edge reads",
            app.slug
        ))
        .hint("test it through the edge: `upstream test --registry URL`, or `images test --through-edge`"));
    }
    let repo = record.upstream_repo(&target.repo);
    let mut report = Report { lines: vec![], json: serde_json::Map::new() };
    report.json.insert("app".into(), app.slug.clone().into());
    report.json.insert("upstream".into(), record.display_name().into());
    report.json.insert("endpoint".into(), record.endpoint.clone().into());
    report.json.insert("repository".into(), repo.clone().into());
    report.json.insert("reference".into(), reference.to_string().into());
    report.lines.push(format!(
        "testing {}/{repo}:{reference} via upstream {} of app {}",
        record.endpoint,
        record.display_name(),
        app.slug
    ));

    let outcome = if !record.allows(&repo) {
        Err((
            Exit::NotEntitled,
            format!(
                "repository {repo} is outside upstream {}'s allow-patterns ({}); customers get NAME_UNKNOWN",
                record.display_name(),
                record.repos.join(", ")
            ),
        ))
    } else {
        let secret = open_secret(&app.slug, &record)?;
        check(&record, &app.slug, secret.as_ref(), &repo, &reference, &mut report)
    };
    let result = match outcome {
        Ok(()) if record.credential.sealed.is_some() => {
            Ok("customers can pull this image: the stored credential works".to_string())
        }
        Ok(()) => Ok("customers can pull this image: the upstream serves it anonymously".to_string()),
        Err(diagnosis) => Err(diagnosis),
    };
    let (ok, exit, message) = match &result {
        Ok(message) => (true, None, message.clone()),
        Err((exit, message)) => (false, Some(*exit), message.clone()),
    };
    report.json.insert("ok".into(), ok.into());
    report.json.insert("exit_code".into(), exit.map_or(0, Exit::code).into());
    report.json.insert("diagnosis".into(), exit.map(|e| e.as_str().into()).unwrap_or(serde_json::Value::Null));
    report.json.insert("message".into(), message.clone().into());
    report.lines.push(format!("{}: {message}", if ok { "ok" } else { "FAIL" }));
    Ok(Probe { upstream: record.display_name(), report, result })
}

/// The upstream's credential, opened with the configured root secret.
fn open_secret(app: &str, record: &UpstreamRecord) -> Outcome<Option<Secret>> {
    if record.credential.sealed.is_none() {
        return Ok(None);
    }
    let root = secrets::require_root()?;
    record.credential.open(&root.secret, app, &record.endpoint).map_err(|e| {
        Failure::failed(format!("the stored credential does not open: {e}"))
            .hint("the root secret differs from the one it was sealed with; re-add the upstream with --replace")
    })
}

pub type Diagnosis = (Exit, String);

fn check(
    record: &UpstreamRecord,
    app: &str,
    secret: Option<&Secret>,
    repo: &str,
    reference: &Reference,
    report: &mut Report,
) -> Result<(), Diagnosis> {
    let transport = BlockingTransport { agent: http::agent() };
    let cache = TokenCache::default();
    let up = Upstream { app, record, secret, allow_insecure: record.insecure };
    let scope = pullgate::scope::Scope::repository(repo, &["pull"]).to_string();
    let base = format!("{}/v2/{repo}", record.api_base());

    let manifest = |reference: &str| -> Result<(Head, Vec<u8>), Diagnosis> {
        let req = Request::new("GET", format!("{base}/manifests/{reference}"))
            .header("accept", upstream::DEFAULT_MANIFEST_ACCEPT);
        let (head, body) = block_on(upstream::send(&transport, &cache, &up, req, &scope))
            .map_err(|e| (driver_exit(&e), driver_message(&e)))?;
        if let Some(e) = upstream::classify(Resource::Manifest, &head, &up, reference) {
            let mut message = e.to_string();
            if head.status == 404 {
                let accepted = if secret.is_some() { "the credential was accepted" } else { "the upstream answered" };
                message.push_str(&format!(
                    "; {accepted}. Check the repository path at the upstream ({repo}) and the tag \
                     (some registries also answer 404 when the credential cannot see a private repository)"
                ));
            }
            return Err((status_exit(head.status), message));
        }
        Ok((head, body))
    };

    let (head, body) = manifest(&reference.to_string())?;
    let doc: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| (Exit::Failure, "the manifest is not JSON".to_string()))?;
    let media_type = head.header("content-type").unwrap_or("?").to_string();
    let digest = head.header("docker-content-digest").unwrap_or("?").to_string();
    report.add(
        "manifest",
        serde_json::json!({ "media_type": media_type, "digest": digest, "size": body.len() }),
        format!("  manifest {reference}: {} {media_type} ({} bytes, {digest})", head.status, body.len()),
    );
    let image = match doc.get("manifests").and_then(|m| m.as_array()) {
        Some(children) => {
            let first = children
                .first()
                .and_then(|c| c.get("digest"))
                .and_then(|d| d.as_str())
                .ok_or((Exit::Failure, "the index lists no manifests".to_string()))?;
            let platforms: Vec<String> = children.iter().filter_map(platform_of).collect();
            report.add(
                "platforms",
                serde_json::json!(platforms),
                format!(
                    "  index with {} platform manifest(s): {}; checking the first",
                    children.len(),
                    platforms.join(", ")
                ),
            );
            let (_, child) = manifest(first)?;
            serde_json::from_slice::<serde_json::Value>(&child)
                .map_err(|_| (Exit::Failure, "the child manifest is not JSON".to_string()))?
        }
        None => doc,
    };
    let Some(config) = image.get("config").and_then(|c| c.get("digest")).and_then(|d| d.as_str()) else {
        report.lines.push("  no config blob to check (not an image manifest)".into());
        return Ok(());
    };
    let config = config.to_string();
    let mut url = format!("{base}/blobs/{config}");
    let (mut head, _) = block_on(upstream::send(&transport, &cache, &up, Request::new("HEAD", url.clone()), &scope))
        .map_err(|e| (driver_exit(&e), driver_message(&e)))?;
    let mut via = Vec::new();
    while matches!(head.status, 301 | 302 | 303 | 307 | 308) && via.len() < MAX_REDIRECTS {
        // Signed blob URLs carry their own authorization; the vendor's credential never goes there.
        let target = upstream::redirect_target(&url, head.header("location").unwrap_or_default(), &up)
            .map_err(|e| (Exit::Failure, e.to_string()))?;
        let authority = url::Url::parse(&target).ok().map(|u| match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (h, None) => h.unwrap_or_default().to_string(),
            (None, Some(_)) => String::new(),
        });
        via.push(authority.unwrap_or_default());
        head = block_on(transport.send(Request::new("HEAD", target.clone())))
            .map_err(|e| (Exit::Network, format!("blob redirect target: {e:?}")))?
            .0;
        url = target;
    }
    if let Some(e) = upstream::classify(Resource::Blob, &head, &up, &config) {
        return Err((status_exit(head.status), e.to_string()));
    }
    let via_text = if via.is_empty() { String::new() } else { format!(" via {}", via.join(" → ")) };
    report.add(
        "blob",
        serde_json::json!({ "digest": config, "status": head.status, "redirected_to": via }),
        format!("  config blob {config}: {}{via_text}", head.status),
    );
    Ok(())
}

/// A hosted upstream lives in R2, which only the Worker reaches: the image is pulled through the
/// edge as `pull-check` does, with a push token signed for this check alone (five minutes, this
/// one repository), so no customer license is needed.
fn hosted(ctx: &Ctx, app: &str, name: &Name, repo: &str, reference: &Reference, registry: Option<&str>) -> Outcome<()> {
    let Some(registry) = registry else {
        return Err(Failure::usage(format!(
            "{name} is in app {app}'s hosted registry ({}), which only the edge can read",
            pullgate::store::HOSTED_ENDPOINT
        ))
        .hint("pass the edge's URL with --registry https://images.vendor.com to test it through the edge"));
    };
    let base = super::hosted_admin::registry_base(registry)?;
    let root = crate::secrets::require_root()?;
    let keys = super::keys_for_app(ctx, &root.secret, app)?;
    let claims = pullgate::push_token::Claims {
        id: format!("{}check-{}", pullgate::service::hosted::token::ID_PREFIX, crate::secrets::random_hex::<8>()?),
        app: app.to_string(),
        repos: vec![repo.to_string()],
        delete: false,
        admin: false,
        iat: ctx.now,
        exp: ctx.now + 300,
    };
    let token = pullgate::push_token::issue(&claims, super::active_signer(&keys)?);
    let authority = base.split_once("://").map_or(base.as_str(), |(_, a)| a);
    let separator = if matches!(reference, Reference::Digest(_)) { '@' } else { ':' };
    let args = crate::cli::PullCheckArgs {
        image: format!("{authority}/proxy/{app}/{name}{separator}{reference}"),
        license: token,
        username: "pullgate-upstream-test".into(),
        plain_http: base.starts_with("http://"),
        connect_to: None,
    };
    super::pull_check::run(ctx, &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_into_name_and_reference() {
        let d = format!("sha256:{}", "b".repeat(64));
        for (input, name, reference) in [
            ("ghcr.io/acme/app:1.0", "ghcr.io/acme/app", "1.0"),
            ("local/demo/hello", "local/demo/hello", "latest"),
            (&format!("local/demo/hello@{d}"), "local/demo/hello", d.as_str()),
        ] {
            let (n, r) = split_image(input).unwrap();
            assert_eq!((n.as_str(), r.to_string().as_str()), (name, reference), "{input}");
        }
        for bad in ["", "Local/x", "local/x:bad tag", "local/x@sha256:12"] {
            assert!(split_image(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_endpoint_host_in_the_image_points_at_the_upstreams_alias() {
        let ctx = crate::commands::test_support::ctx();
        let app: AppRecord = serde_json::from_value(serde_json::json!({
            "v": 1, "slug": "acme", "name": "Acme", "created_at": 0,
            "upstreams": [
                { "endpoint": "http://127.0.0.1:18701", "alias": "local", "credential": { "kind": "none" }, "insecure": true },
                { "endpoint": "https://ghcr.io", "credential": { "kind": "none" } },
            ],
        }))
        .unwrap();
        let encoded = crate::kv::encode(&app).unwrap();
        ctx.kv().unwrap().put_many(&[(pullgate::store::app_key("acme"), encoded)]).unwrap();
        let cases = [
            (
                "127.0.0.1:18701/demo/hello:1.0",
                "endpoint 127.0.0.1:18701 of upstream local",
                "pullgate upstream test acme local/demo/hello:1.0",
            ),
            ("127.0.0.1:9999/demo/hello:1.0", "none of app acme's upstreams", "local, ghcr.io"),
            ("localhost:18701/demo/hello", "none of app acme's upstreams", "local, ghcr.io"),
        ];
        for (image, message, hint) in cases {
            let err = run(&ctx, "acme", image, None).unwrap_err();
            assert_eq!(err.exit, Exit::Usage, "{image}: {err}");
            assert!(err.message.contains(message), "{image}: {err}");
            assert!(err.hint.as_deref().is_some_and(|h| h.contains(hint)), "{image}: {err}");
        }
        // Other syntax errors keep the name grammar's own message.
        let err = run(&ctx, "acme", "Local/demo", None).unwrap_err();
        assert!(err.message.contains("must match"), "{err}");
    }

    #[test]
    fn driver_failures_map_to_exit_codes() {
        let up = "GHCR ghcr.io".to_string();
        assert_eq!(
            driver_exit(&UpstreamError::CredentialsRejected {
                upstream: up.clone(),
                status: 401,
                kind: Default::default()
            }),
            Exit::CredentialsRejected
        );
        assert_eq!(
            driver_exit(&UpstreamError::RateLimited { upstream: up.clone(), retry_after: None }),
            Exit::RateLimited
        );
        assert_eq!(
            driver_exit(&UpstreamError::Unreachable { upstream: up.clone(), detail: "dns".into() }),
            Exit::Network
        );
        assert_eq!(driver_exit(&UpstreamError::BadChallenge { upstream: up }), Exit::Failure);
        assert_eq!(
            (status_exit(404), status_exit(403), status_exit(429), status_exit(500)),
            (Exit::NotFound, Exit::CredentialsRejected, Exit::RateLimited, Exit::Failure)
        );
    }
}
