//! `pullgate pull-check <image> --license …`: pulls through the edge exactly as a customer's
//! client would, and reports the first place it breaks:
//!
//! ```text
//! GET /v2/ (no auth) → 401 Bearer realm,service → GET realm?scope=repository:<name>:pull (Basic license)
//!   → GET manifest (bearer) → index? GET each child by digest → HEAD every blob (redirects followed,
//!     Authorization dropped when the host changes)
//! ```

use std::collections::BTreeSet;

use base64::Engine as _;
use pullgate::error::Reason;
use pullgate::reference::{Digest, Name, Reference};
use serde::Serialize;

use super::http::{self, Answer, NetError};
use super::Ctx;
use crate::cli::PullCheckArgs;
use crate::failure::{Exit, Failure, Outcome};

use pullgate::upstream::{DEFAULT_MANIFEST_ACCEPT as ACCEPT, MAX_MANIFEST_BYTES, MAX_SMALL_BODY as MAX_SMALL};

const MAX_MANIFEST: usize = MAX_MANIFEST_BYTES as usize;
const MAX_REDIRECTS: usize = 5;

/// `host[:port]/name[:tag][@digest]`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub host: String,
    pub name: String,
    pub reference: String,
}

/// Parses an image reference that names its registry host, as customers write it.
pub fn parse_image_ref(input: &str) -> Outcome<ImageRef> {
    let bad = |why: &str| Failure::usage(format!("image reference {input:?} {why}"));
    let (host, rest) = input
        .split_once('/')
        .ok_or_else(|| bad("must start with the edge's host, e.g. images.vendor.com/app/repo:tag"))?;
    let looks_like_host = host.contains('.') || host.contains(':') || host == "localhost";
    if !looks_like_host || host.chars().any(|c| c.is_whitespace() || c == '@') {
        return Err(bad("must start with the edge's host, e.g. images.vendor.com/app/repo:tag"));
    }
    let (path, digest) = match rest.split_once('@') {
        Some((p, d)) => (p, Some(d)),
        None => (rest, None),
    };
    let (name, tag) = match path.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (path, None),
    };
    name.parse::<Name>().map_err(|e| bad(&e.to_string()))?;
    let reference = match (digest, tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    };
    reference.parse::<Reference>().map_err(|e| bad(&e.to_string()))?;
    Ok(ImageRef { host: host.to_ascii_lowercase(), name: name.to_string(), reference })
}

#[derive(Serialize)]
struct Step {
    step: String,
    method: &'static str,
    url: String,
    status: Option<u16>,
    ok: bool,
    detail: String,
}

struct Check {
    agent: ureq::Agent,
    base: String,
    name: String,
    token: Option<String>,
    steps: Vec<Step>,
    /// The first failure: its exit code and one sentence.
    failure: Option<(Exit, String)>,
}

impl Check {
    fn record(
        &mut self,
        step: String,
        method: &'static str,
        url: &str,
        answer: Option<&Answer>,
        ok: bool,
        detail: String,
    ) {
        if !ok && self.failure.is_none() {
            self.failure = Some((Exit::Failure, format!("{step}: {detail}")));
        }
        self.steps.push(Step { step, method, url: url.to_string(), status: answer.map(|a| a.head.status), ok, detail });
    }

    fn fail(
        &mut self,
        exit: Exit,
        step: String,
        method: &'static str,
        url: &str,
        answer: Option<&Answer>,
        detail: String,
    ) {
        if self.failure.is_none() {
            self.failure = Some((exit, format!("{step}: {detail}")));
        }
        self.record(step, method, url, answer, false, detail);
    }

    fn send(
        &self,
        method: &'static str,
        url: &str,
        auth: Option<&str>,
        accept: Option<&str>,
        limit: usize,
    ) -> Result<Answer, NetError> {
        let mut headers = Vec::new();
        if let Some(a) = auth {
            headers.push(("Authorization".to_string(), a.to_string()));
        }
        if let Some(a) = accept {
            headers.push(("Accept".to_string(), a.to_string()));
        }
        http::send(&self.agent, method, url, &headers, None, limit)
    }

    fn bearer(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }
}

/// Maps a refused registry answer to a diagnosis exit code and a sentence.
fn diagnose(answer: &Answer) -> (Exit, String) {
    diagnose_at(answer, false)
}

/// At the token endpoint a 403 refuses the license itself (expired, revoked, other app).
pub(crate) fn diagnose_at(answer: &Answer, token_step: bool) -> (Exit, String) {
    let status = answer.head.status;
    let envelope = answer.registry_error();
    // Every edge answer carries an OCI error body; a bare gateway status comes from whatever is in
    // front of it (Cloudflare's 52x and 530, a proxy's 502-504): the edge itself was not reached.
    if envelope.is_none() && is_gateway_failure(status) {
        return (
            Exit::Network,
            format!(
                "HTTP {status} without a registry error: the edge could not be reached (it did not answer \
                 the proxy or Cloudflare in front of it)"
            ),
        );
    }
    let message = envelope.unwrap_or_else(|| format!("HTTP {status}"));
    // The edge names every failure in `detail.reason`; the status decides only without one.
    let exit = match answer.reason() {
        Some(reason) => exit_for(reason),
        None => {
            let insufficient = answer.head.headers_named("www-authenticate").any(|h| h.contains("insufficient_scope"));
            match answer.head.status {
                401 if insufficient => Exit::NotEntitled,
                401 => Exit::CredentialsRejected,
                403 if token_step => Exit::CredentialsRejected,
                403 => Exit::NotEntitled,
                404 => Exit::NotFound,
                429 => Exit::RateLimited,
                504 => Exit::Network,
                _ => Exit::Failure,
            }
        }
    };
    (exit, format!("HTTP {}: {message}", answer.head.status))
}

/// The diagnosis for each of the edge's failure codes.
fn exit_for(reason: Reason) -> Exit {
    match reason {
        Reason::AuthenticationRequired
        | Reason::BadAuthorization
        | Reason::LicenseInvalid
        | Reason::LicenseExpired
        | Reason::LicenseRevoked
        | Reason::LicenseWrongRegistry
        | Reason::TokenInvalid => Exit::CredentialsRejected,
        Reason::LicenseWrongApp | Reason::NotEntitled | Reason::TokenScope | Reason::NotServed => Exit::NotEntitled,
        Reason::UnknownHost | Reason::UnknownName => Exit::NotFound,
        Reason::SignInLimit | Reason::TokenLimit => Exit::RateLimited,
        Reason::UpstreamCredentialRejected => Exit::CredentialsRejected,
        Reason::UpstreamUnreachable | Reason::StoreUnavailable => Exit::Network,
        Reason::NotConfigured | Reason::UpstreamFailed | Reason::UpstreamContentInvalid => Exit::Failure,
        Reason::PushTokenInvalid => Exit::CredentialsRejected,
        Reason::LicenseCannotPush | Reason::PushNotAllowed | Reason::NotHosted => Exit::NotEntitled,
        Reason::BodyTooLarge | Reason::QuotaExceeded => Exit::Failure,
    }
}

/// Statuses a gateway in front of the edge uses when it could not get an answer from it.
fn is_gateway_failure(status: u16) -> bool {
    matches!(status, 502..=504 | 520..=527 | 530)
}

fn net_failure(e: &NetError) -> (Exit, String) {
    (Exit::Network, format!("network: {e}"))
}

pub fn run(ctx: &Ctx, args: &PullCheckArgs) -> Outcome<()> {
    let image = parse_image_ref(&args.image)?;
    let license = super::license::license_argument(&args.license)?;
    if license.is_empty() {
        return Err(Failure::usage("the license is empty"));
    }
    if args.username.contains(':') {
        return Err(Failure::usage("the username must not contain ':'"));
    }
    let hostname = pullgate::access::hostname_of(&image.host);
    let agent = match args.connect_to {
        Some(address) => http::agent_connecting(&hostname, address),
        None => http::agent(),
    };
    let check = pull_through_edge(agent, &image, &args.username, &license, args.plain_http);

    let ok = check.failure.is_none();
    let (exit, summary) = check.failure.clone().unwrap_or((Exit::Failure, String::new()));
    let json = serde_json::json!({
        "image": args.image,
        "ok": ok,
        "exit_code": if ok { 0 } else { exit.code() },
        "diagnosis": if ok { None } else { Some(exit.as_str()) },
        "failure": if ok { None } else { Some(&summary) },
        "steps": check.steps,
    });
    ctx.out.result(&json, || {
        let mut text = format!("pull-check {}\n", args.image);
        for s in &check.steps {
            let status = s.status.map(|c| c.to_string()).unwrap_or_else(|| "---".into());
            text.push_str(&format!("  {:<4}  {status}  {}  {}\n", if s.ok { "ok" } else { "FAIL" }, s.step, s.detail));
        }
        if ok {
            text.push_str("result: the image pulls: every manifest and blob is reachable with this license");
        } else {
            text.push_str(&format!("result: broken at {summary}"));
        }
        text
    })?;
    if ok {
        Ok(())
    } else {
        Err(Failure::after_report(exit, format!("pull-check failed ({}): {summary}", exit.as_str())))
    }
}

/// Pulls `image` through the edge with `license` (http for loopback hosts or `plain_http`);
/// the check holds every step and the first failure.
fn pull_through_edge(agent: ureq::Agent, image: &ImageRef, username: &str, license: &str, plain_http: bool) -> Check {
    let hostname = pullgate::access::hostname_of(&image.host);
    let scheme = if plain_http || crate::validate::is_loopback(&hostname) { "http" } else { "https" };
    let mut check = Check {
        agent,
        base: format!("{scheme}://{}", image.host),
        name: image.name.clone(),
        token: None,
        steps: Vec::new(),
        failure: None,
    };
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{license}")));
    pull(&mut check, image, &basic);
    check
}

/// What `images test --through-edge` asks: does `image` pull with `license`, and if not, the
/// first failure and its exit code.
pub fn pulls_as_customer(image: &ImageRef, license: &str) -> Result<(), (Exit, String)> {
    match pull_through_edge(http::agent(), image, "license", license, false).failure {
        None => Ok(()),
        Some(failure) => Err(failure),
    }
}

fn pull(check: &mut Check, image: &ImageRef, basic: &str) {
    // 1. The version check, unauthenticated: the edge answers with its token challenge.
    let v2 = format!("{}/v2/", check.base);
    let answer = match check.send("GET", &v2, None, None, MAX_SMALL) {
        Ok(a) => a,
        Err(e) => {
            let (exit, detail) = net_failure(&e);
            return check.fail(exit, "GET /v2/".into(), "GET", &v2, None, detail);
        }
    };
    let challenges = pullgate::challenge::parse_all(answer.head.headers_named("www-authenticate"));
    let bearer = challenges.iter().find(|c| c.is_scheme("bearer") && c.param("realm").is_some());
    let realm_and_service = match (answer.head.status, bearer) {
        (200, _) => {
            check.record("GET /v2/".into(), "GET", &v2, Some(&answer), true, "200 without authentication".into());
            None
        }
        (401, Some(c)) => {
            let realm = c.param("realm").unwrap_or_default().to_string();
            check.record(
                "GET /v2/".into(),
                "GET",
                &v2,
                Some(&answer),
                true,
                format!("401 Bearer challenge, realm {realm}"),
            );
            Some((realm, c.param("service").map(str::to_string)))
        }
        (401, None) => {
            return check.fail(
                Exit::Failure,
                "GET /v2/".into(),
                "GET",
                &v2,
                Some(&answer),
                "401 without a Bearer challenge: this is not a pullgate edge (or not its Host)".into(),
            );
        }
        _ => {
            let (exit, detail) = diagnose(&answer);
            return check.fail(exit, "GET /v2/".into(), "GET", &v2, Some(&answer), detail);
        }
    };

    // 2. The token, with the license as the Basic password, only from the image's own host.
    if let Some((realm, service)) = realm_and_service {
        let Some(token_url) = token_url(&check.base, &realm, service.as_deref(), &image.name, &["pull"]) else {
            return check.fail(
                Exit::Failure,
                "token".into(),
                "GET",
                &realm,
                None,
                format!("the realm {realm} is not on {}; the license is only sent to the image's host", check.base),
            );
        };
        let answer = match check.send("GET", &token_url, Some(basic), None, MAX_SMALL) {
            Ok(a) => a,
            Err(e) => {
                let (exit, detail) = net_failure(&e);
                return check.fail(exit, "token".into(), "GET", &token_url, None, detail);
            }
        };
        if answer.head.status != 200 {
            let (exit, detail) = diagnose_at(&answer, true);
            return check.fail(exit, "token".into(), "GET", &token_url, Some(&answer), detail);
        }
        let token = serde_json::from_slice::<serde_json::Value>(&answer.body).ok().and_then(|v| {
            v.get("token").or_else(|| v.get("access_token")).and_then(|t| t.as_str()).map(str::to_string)
        });
        let Some(token) = token else {
            return check.fail(
                Exit::Failure,
                "token".into(),
                "GET",
                &token_url,
                Some(&answer),
                "200 without a token in the body".into(),
            );
        };
        check.record(
            "token".into(),
            "GET",
            &token_url,
            Some(&answer),
            true,
            format!("bearer token for repository:{}:pull", image.name),
        );
        check.token = Some(token);
    }

    // 3. The manifest, then each child of an index, then every blob.
    let Some(top) = fetch_manifest(check, &image.reference, "manifest") else { return };
    let mut blobs: Vec<(String, Option<u64>, String)> = Vec::new();
    match top {
        Manifest::Index(children) => {
            for (digest, platform) in children {
                if let Some(Manifest::Image(b)) = fetch_manifest(check, &digest, &format!("manifest {platform}")) {
                    blobs.extend(b);
                }
            }
        }
        Manifest::Image(b) => blobs = b,
    }
    let mut seen = BTreeSet::new();
    for (digest, size, role) in blobs {
        if seen.insert(digest.clone()) {
            head_blob(check, &digest, size, &role);
        }
    }
}

/// The token URL: the realm (same host as the image) with service and scope.
pub(crate) fn token_url(
    base: &str,
    realm: &str,
    service: Option<&str>,
    name: &str,
    actions: &[&str],
) -> Option<String> {
    let base_url = url::Url::parse(base).ok()?;
    let mut url = base_url.join(realm).ok()?;
    let same_host =
        url.host_str() == base_url.host_str() && url.port_or_known_default() == base_url.port_or_known_default();
    if !same_host {
        return None;
    }
    {
        let mut q = url.query_pairs_mut();
        if let Some(s) = service {
            q.append_pair("service", s);
        }
        q.append_pair("scope", &pullgate::scope::Scope::repository(name, actions).to_string());
    }
    Some(url.to_string())
}

enum Manifest {
    /// (child digest, platform) of an index or list.
    Index(Vec<(String, String)>),
    /// (digest, size, role) of the config and layers.
    Image(Vec<(String, Option<u64>, String)>),
}

fn fetch_manifest(check: &mut Check, reference: &str, label: &str) -> Option<Manifest> {
    let url = format!("{}/v2/{}/manifests/{reference}", check.base, check.name);
    let step = format!("{label} {}", short(reference));
    let auth = check.bearer();
    let answer = match check.send("GET", &url, auth.as_deref(), Some(ACCEPT), MAX_MANIFEST) {
        Ok(a) => a,
        Err(e) => {
            let (exit, detail) = net_failure(&e);
            check.fail(exit, step, "GET", &url, None, detail);
            return None;
        }
    };
    if answer.head.status != 200 {
        let (exit, detail) = diagnose(&answer);
        check.fail(exit, step, "GET", &url, Some(&answer), detail);
        return None;
    }
    if answer.truncated {
        check.fail(Exit::Failure, step, "GET", &url, Some(&answer), "manifest larger than 4 MiB".into());
        return None;
    }
    let actual = Digest::of_bytes(pullgate::reference::Algorithm::Sha256, &answer.body).to_string();
    let announced = answer.head.header("docker-content-digest").map(str::to_string);
    let expected = reference.parse::<Digest>().ok().map(|d| d.to_string()).or(announced.clone());
    if let Some(want) = expected.filter(|w| w.starts_with("sha256:") && *w != actual) {
        check.fail(
            Exit::Failure,
            step,
            "GET",
            &url,
            Some(&answer),
            format!("body digest {actual} does not match {want}"),
        );
        return None;
    }
    let doc: serde_json::Value = match serde_json::from_slice(&answer.body) {
        Ok(v) => v,
        Err(_) => {
            check.fail(Exit::Failure, step, "GET", &url, Some(&answer), "the manifest is not JSON".into());
            return None;
        }
    };
    let media_type = answer
        .head
        .header("content-type")
        .map(str::to_string)
        .or_else(|| doc.get("mediaType").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_default();
    let descriptor = |d: &serde_json::Value| {
        d.get("digest").and_then(|x| x.as_str()).filter(|x| x.parse::<Digest>().is_ok()).map(str::to_string)
    };
    if let Some(children) = doc.get("manifests").and_then(|m| m.as_array()) {
        let list: Vec<(String, String)> = children
            .iter()
            .filter_map(|c| {
                let p = c.get("platform");
                let field = |k: &str| p.and_then(|p| p.get(k)).and_then(|v| v.as_str()).unwrap_or("?").to_string();
                descriptor(c).map(|d| (d, format!("{}/{}", field("os"), field("architecture"))))
            })
            .collect();
        check.record(
            step,
            "GET",
            &url,
            Some(&answer),
            true,
            format!("{media_type}, {} children, {actual}", list.len()),
        );
        return Some(Manifest::Index(list));
    }
    let mut blobs = Vec::new();
    if let Some(config) = doc.get("config") {
        if let Some(d) = descriptor(config) {
            blobs.push((d, config.get("size").and_then(|s| s.as_u64()), "config".to_string()));
        }
    }
    for (i, layer) in doc.get("layers").and_then(|l| l.as_array()).into_iter().flatten().enumerate() {
        if let Some(d) = descriptor(layer) {
            blobs.push((d, layer.get("size").and_then(|s| s.as_u64()), format!("layer {}", i + 1)));
        }
    }
    check.record(step, "GET", &url, Some(&answer), true, format!("{media_type}, {} blobs, {actual}", blobs.len()));
    Some(Manifest::Image(blobs))
}

/// HEAD a blob, following redirects by hand: credentials never cross to another host.
fn head_blob(check: &mut Check, digest: &str, size: Option<u64>, role: &str) {
    let first = format!("{}/v2/{}/blobs/{digest}", check.base, check.name);
    let step = format!("blob {} ({role})", short(digest));
    let origin = url::Url::parse(&first).ok().and_then(|u| u.host_str().map(str::to_string));
    let mut url = first.clone();
    let mut hops = Vec::new();
    for _ in 0..=MAX_REDIRECTS {
        let same_host = url::Url::parse(&url).ok().and_then(|u| u.host_str().map(str::to_string)) == origin;
        let auth = if same_host { check.bearer() } else { None };
        let answer = match check.send("HEAD", &url, auth.as_deref(), None, 0) {
            Ok(a) => a,
            Err(e) => {
                let (exit, detail) = net_failure(&e);
                return check.fail(exit, step, "HEAD", &url, None, detail);
            }
        };
        if matches!(answer.head.status, 301 | 302 | 303 | 307 | 308) {
            let Some(next) = answer.head.header("location").and_then(|l| url::Url::parse(&url).ok()?.join(l).ok())
            else {
                return check.fail(
                    Exit::Failure,
                    step,
                    "HEAD",
                    &url,
                    Some(&answer),
                    "redirect without a usable Location".into(),
                );
            };
            hops.push(format!("{} → {}", answer.head.status, next.host_str().unwrap_or("?")));
            url = next.to_string();
            continue;
        }
        if answer.head.status != 200 {
            let (exit, mut detail) = diagnose(&answer);
            if !hops.is_empty() {
                detail = format!("{detail} (after {})", hops.join(", "));
            }
            return check.fail(exit, step, "HEAD", &first, Some(&answer), detail);
        }
        let length = answer.head.content_length();
        if let (Some(want), Some(got)) = (size, length) {
            if want != got {
                return check.fail(
                    Exit::Failure,
                    step,
                    "HEAD",
                    &first,
                    Some(&answer),
                    format!("size {got}, the manifest says {want}"),
                );
            }
        }
        let via = if hops.is_empty() { String::new() } else { format!(" via {}", hops.join(", ")) };
        let bytes = length.map(|l| format!("{l} bytes")).unwrap_or_else(|| "size not announced".into());
        return check.record(step, "HEAD", &first, Some(&answer), true, format!("{bytes}{via}"));
    }
    check.fail(Exit::Failure, step, "HEAD", &first, None, format!("more than {MAX_REDIRECTS} redirects"));
}

/// `sha256:0123456789ab…` for tables.
fn short(reference: &str) -> String {
    match reference.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}…", &hex[..12]),
        _ => reference.to_string(),
    }
}

#[cfg(test)]
#[path = "pull_check_tests.rs"]
mod tests;
