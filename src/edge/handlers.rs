//! One function per route: each decides what the pure modules tell it and does the I/O.

use serde::Serialize;
use worker::{console_error, Cache, Headers, Request, RequestInit, Response, ResponseBuilder};

use crate::access::{self, Credentials, HostBinding};
use crate::blob_cache;
use crate::error::{ErrorCode, RegistryError};
use crate::reference::{Digest, Name, Reference};
use crate::scope;
use crate::store::BlobMode;
use crate::time::format_rfc3339;
use crate::token;
use crate::upstream::{self, Head, Resource, Transport as _, Upstream, MAX_MANIFEST_BYTES};

use super::auth::{self, Authorized};
use super::config::{token_cache, Config};
use super::respond::{json_headers, Origin};
use super::transport::{head_of, WorkerTransport};

/// Redirect hops followed (without credentials) when the Worker itself must reach the bytes.
const MAX_HOPS: usize = 3;

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// `GET /v2/`: 200 for a valid credential on this host, else the challenge.
pub async fn version_check(cfg: &Config<'_>, req: &Request, origin: &Origin) -> Result<Response, RegistryError> {
    let binding = auth::host_binding(cfg, &origin.host).await?;
    match access::parse_authorization(header(req, "authorization").as_deref())? {
        None => return Err(RegistryError::unauthorized("authentication required: log in with your license", None)),
        Some(Credentials::Bearer(t)) => {
            let claims = auth::check_bearer(cfg, &t, &origin.host, None).await?;
            if binding.app().is_some_and(|a| a != claims.app) {
                return Err(RegistryError::unauthorized("bearer token was issued for another app", None)
                    .with_challenge_error("invalid_token"));
            }
        }
        Some(Credentials::License(l)) => {
            let claims = auth::check_license(cfg, &l).await?;
            if binding.app().is_some_and(|a| a != claims.app) {
                return Err(RegistryError::denied(format!(
                    "the license for {} is not valid for this registry",
                    claims.customer
                )));
            }
        }
    }
    Ok(ResponseBuilder::new().with_status(200).with_headers(json_headers()).fixed(b"{}".to_vec()))
}

#[derive(Serialize)]
struct TokenAnswer<'a> {
    token: &'a str,
    access_token: &'a str,
    expires_in: i64,
    issued_at: String,
}

/// `GET|POST /v2/token`: a license (Basic password, or containerd's OAuth password grant)
/// for a short-lived bearer token covering the granted part of the requested scopes.
pub async fn token(cfg: &Config<'_>, req: &mut Request, origin: &Origin) -> Result<Response, RegistryError> {
    let binding = auth::host_binding(cfg, &origin.host).await?;
    let url = req.url().map_err(|e| RegistryError::internal(format!("request url: {e}")))?;
    let mut scopes: Vec<String> =
        url.query_pairs().filter(|(k, _)| k == "scope").map(|(_, v)| v.into_owned()).collect();
    let mut license_text = match access::parse_authorization(header(req, "authorization").as_deref()) {
        Ok(Some(Credentials::License(l))) => Some(l),
        _ => None,
    };
    if req.inner().method() == "POST" {
        let form = req.text().await.map_err(|_| bad_token_request("unreadable form body"))?;
        if form.len() > 64 * 1024 {
            return Err(bad_token_request("form body too large"));
        }
        let mut grant_type = None;
        for (k, v) in url::form_urlencoded::parse(form.as_bytes()) {
            match k.as_ref() {
                "grant_type" => grant_type = Some(v.into_owned()),
                "password" => license_text = Some(v.into_owned()),
                "scope" => scopes.push(v.into_owned()),
                _ => {}
            }
        }
        if grant_type.as_deref() != Some("password") {
            // containerd falls back to GET on 400; we issue no refresh tokens.
            return Err(bad_token_request("only grant_type=password is supported"));
        }
    }
    let Some(license_text) = license_text else {
        return Err(RegistryError::unauthorized(
            format!("authentication required: docker login {} with your license as the password", origin.host),
            None,
        ));
    };
    let claims = auth::check_license(cfg, &license_text).await?;
    if binding.app().is_some_and(|a| a != claims.app) {
        return Err(RegistryError::denied(format!(
            "the license for {} is not valid for this registry",
            claims.customer
        )));
    }
    cfg.note_caller(&claims.customer, &claims.id);
    cfg.count_issuance(&claims.id, &claims.customer).await?;
    let requested = scope::parse_all(scopes.iter().map(String::as_str))
        .map_err(|e| bad_token_request(&format!("invalid scope: {e}")))?;
    let app = cfg.app(&claims.app).await?;
    let granted = access::grant(&claims, &requested, &binding, app.as_deref());
    let keys = cfg.signing_keys().await?;
    let signer = keys.signer().ok_or_else(|| {
        RegistryError::new(
            503,
            ErrorCode::Unavailable,
            "this registry has no active signing key; the vendor must run `pullgate key rotate`",
        )
    })?;
    let ttl = cfg.settings.token_ttl.min(claims.expires_at - cfg.now).max(token::MIN_TTL_SECONDS);
    let bearer = token::issue(
        &token::Claims {
            aud: origin.host.clone(),
            app: claims.app.clone(),
            lic: claims.id.clone(),
            cus: claims.customer.clone(),
            rep: granted,
            img: claims.images.clone(),
            iat: cfg.now,
            nbf: cfg.now,
            exp: cfg.now + ttl,
        },
        signer,
    );
    let answer =
        TokenAnswer { token: &bearer, access_token: &bearer, expires_in: ttl, issued_at: format_rfc3339(cfg.now) };
    let body = serde_json::to_vec(&answer).map_err(|e| RegistryError::internal(format!("token json: {e}")))?;
    let headers = json_headers();
    let _ = headers.set("cache-control", "no-store");
    Ok(ResponseBuilder::new().with_status(200).with_headers(headers).fixed(body))
}

fn bad_token_request(message: &str) -> RegistryError {
    RegistryError::new(400, ErrorCode::Unsupported, message.to_string())
}

/// Everything a registry handler needs once the caller is authorized.
pub struct Pull<'a> {
    pub cfg: &'a Config<'a>,
    /// The host the client used (the blob cache is keyed on it).
    pub host: String,
    pub name: Name,
    pub authorized: Authorized,
    pub secret: Option<std::rc::Rc<crate::store::Secret>>,
}

impl Pull<'_> {
    fn upstream(&self) -> Upstream<'_> {
        Upstream {
            app: &self.authorized.app.slug,
            record: &self.authorized.upstream,
            secret: self.secret.as_deref(),
            allow_insecure: self.cfg.settings.allow_insecure,
        }
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.authorized.upstream.api_base(), self.authorized.upstream_repo)
    }

    fn scope(&self) -> String {
        format!("repository:{}:pull", self.authorized.upstream_repo)
    }

    async fn send(&self, req: upstream::Request) -> Result<(Head, Response), RegistryError> {
        Ok(upstream::send(&WorkerTransport, token_cache(), &self.upstream(), req, &self.scope()).await?)
    }
}

/// Authorizes a registry request and opens the upstream's credential.
pub async fn authorize<'a>(
    cfg: &'a Config<'a>,
    req: &Request,
    origin: &Origin,
    name: Name,
) -> Result<Pull<'a>, RegistryError> {
    let binding: HostBinding = auth::host_binding(cfg, &origin.host).await?;
    let authorized =
        auth::authorize_pull(cfg, header(req, "authorization").as_deref(), &origin.host, &binding, &name).await?;
    cfg.note_caller(&authorized.caller.customer, &authorized.caller.license_id);
    let secret = cfg.upstream_secret(&authorized.app.slug, &authorized.upstream)?;
    Ok(Pull { cfg, host: origin.host.clone(), name, authorized, secret })
}

/// Copies the named upstream headers onto a fresh (mutable) header set.
fn relay_headers(head: &Head, names: &[&str]) -> Headers {
    let out = Headers::new();
    for n in names {
        if let Some(v) = head.header(n) {
            if !v.bytes().any(|b| b.is_ascii_control()) {
                let _ = out.set(n, v);
            }
        }
    }
    out
}

const MANIFEST_HEADERS: [&str; 4] = ["content-type", "docker-content-digest", "content-length", "etag"];

/// `GET|HEAD /v2/<name>/manifests/<reference>`: relayed untouched, body streamed natively.
pub async fn manifest(pull: Pull<'_>, req: &Request, reference: Reference) -> Result<Response, RegistryError> {
    let head_only = req.inner().method() == "HEAD";
    let accept = header(req, "accept").filter(|a| !a.trim().is_empty() && a.len() <= 4096);
    let mut up =
        upstream::Request::new(if head_only { "HEAD" } else { "GET" }, pull.url(&format!("manifests/{reference}")))
            .header("accept", accept.unwrap_or_else(|| upstream::DEFAULT_MANIFEST_ACCEPT.to_string()));
    if let Some(etag) = header(req, "if-none-match").filter(|v| v.len() <= 1024) {
        up = up.header("if-none-match", etag);
    }
    let (head, body) = pull.send(up).await?;
    if let Some(e) = upstream::classify(Resource::Manifest, &head, &pull.upstream(), &reference.to_string()) {
        return Err(e);
    }
    if (300..400).contains(&head.status) && head.status != 304 {
        return Err(RegistryError::upstream(
            502,
            ErrorCode::Unavailable,
            format!("{} redirected a manifest request, which registries do not do", pull.upstream().describe()),
        ));
    }
    let too_large = || {
        RegistryError::upstream(
            502,
            ErrorCode::ManifestInvalid,
            format!("manifest {reference} is larger than 4 MiB; refused"),
        )
    };
    let headers = relay_headers(&head, &MANIFEST_HEADERS);
    if head_only || head.status == 304 {
        return Ok(ResponseBuilder::new().with_status(head.status).with_headers(headers).empty());
    }
    match head.content_length() {
        Some(n) if n > MAX_MANIFEST_BYTES => Err(too_large()),
        Some(_) => {
            let (_, stream) = body.into_parts();
            Ok(ResponseBuilder::new().with_status(head.status).with_headers(headers).body(stream))
        }
        None => {
            // No length announced: read it here, bounded, so the cap still holds.
            let bytes = WorkerTransport.read(body, MAX_MANIFEST_BYTES as usize).await.map_err(|_| too_large())?;
            Ok(ResponseBuilder::new().with_status(head.status).with_headers(headers).fixed(bytes))
        }
    }
}

const BLOB_HEADERS: [&str; 6] =
    ["content-type", "content-length", "content-range", "accept-ranges", "docker-content-digest", "etag"];

/// `GET|HEAD /v2/<name>/blobs/<digest>`: HEAD answered from upstream metadata; GET redirected to
/// the upstream's signed URL, or streamed (app in stream mode, or an upstream serving bytes).
pub async fn blob(pull: Pull<'_>, req: &Request, digest: Digest) -> Result<Response, RegistryError> {
    let head_only = req.inner().method() == "HEAD";
    let range = header(req, "range").filter(|r| r.len() <= 256 && r.starts_with("bytes="));
    let mut up = upstream::Request::new(if head_only { "HEAD" } else { "GET" }, pull.url(&format!("blobs/{digest}")));
    if let Some(r) = &range {
        up = up.header("range", r.clone());
    }
    let stream_mode = pull.authorized.app.blob_mode == BlobMode::Stream;
    let cache_key = match (stream_mode && !head_only, pull.cfg.settings.blob_cache_seconds) {
        (true, ttl) if ttl > 0 => blob_cache::key(
            &pull.host,
            &pull.authorized.app.slug,
            &pull.authorized.upstream.endpoint,
            &pull.authorized.upstream_repo,
            &digest.to_string(),
        ),
        _ => None,
    };
    if let Some(key) = &cache_key {
        if let Some(hit) = cached_blob(key, range.as_deref(), pull.cfg.settings.debug_headers).await {
            return Ok(hit);
        }
    }
    let (mut head, mut body) = pull.send(up.clone()).await?;
    let mut url = up.url.clone();
    let mut hops = 0;
    while matches!(head.status, 301 | 302 | 303 | 307 | 308) {
        let location = head.header("location").unwrap_or_default().to_string();
        let target = upstream::redirect_target(&url, &location, &pull.upstream())?;
        if !head_only && !stream_mode {
            let headers = Headers::new();
            let _ = headers.set("location", &target);
            let _ = headers.set("cache-control", "no-store");
            return Ok(ResponseBuilder::new().with_status(307).with_headers(headers).empty());
        }
        hops += 1;
        if hops > MAX_HOPS {
            return Err(upstream::UpstreamError::BadRedirect { upstream: pull.upstream().describe() }.into());
        }
        // Signed URLs carry their own authorization: never send the vendor's credentials there.
        let mut next = upstream::Request::new(up.method, target.clone());
        if let Some(r) = &range {
            next = next.header("range", r.clone());
        }
        let (h, b) = WorkerTransport.send(next).await.map_err(|e| match e {
            upstream::TransportError::Timeout => {
                upstream::UpstreamError::Timeout { upstream: pull.upstream().describe() }
            }
            other => upstream::UpstreamError::Unreachable {
                upstream: pull.upstream().describe(),
                detail: format!("{other:?}"),
            },
        })?;
        (head, body, url) = (h, b, target);
    }
    if let Some(e) = upstream::classify(Resource::Blob, &head, &pull.upstream(), &digest.to_string()) {
        return Err(e);
    }
    let headers = relay_headers(&head, &BLOB_HEADERS);
    if head.header("docker-content-digest").is_none() {
        let _ = headers.set("docker-content-digest", &digest.to_string());
    }
    if head_only {
        return Ok(ResponseBuilder::new().with_status(200).with_headers(headers).empty());
    }
    if pull.cfg.settings.debug_headers && cache_key.is_some() {
        let _ = headers.set("pullgate-cache", "miss");
    }
    let (_, stream) = body.into_parts();
    let mut client = ResponseBuilder::new().with_status(head.status).with_headers(headers).body(stream);
    if let Some(key) = cache_key.filter(|_| blob_cache::storable(head.status, head.content_length(), range.is_some())) {
        store_blob(pull.cfg, key, &mut client);
    }
    Ok(client)
}

/// A blob from the Cloudflare cache (whole, or the requested range of it), with the headers a
/// client needs and never the cache's own.
async fn cached_blob(key: &str, range: Option<&str>, debug_headers: bool) -> Option<Response> {
    let lookup_headers = Headers::new();
    if let Some(r) = range {
        lookup_headers.set("range", r).ok()?;
    }
    let mut init = RequestInit::new();
    init.with_headers(lookup_headers);
    let lookup = worker::Request::new_with_init(key, &init).ok()?;
    let hit = match Cache::default().get(&lookup, false).await {
        Ok(Some(hit)) if matches!(hit.status_code(), 200 | 206) => hit,
        Ok(_) => return None,
        Err(e) => {
            console_error!("blob cache lookup failed: {e}");
            return None;
        }
    };
    let headers = relay_headers(&head_of(&hit), &BLOB_HEADERS);
    if debug_headers {
        let _ = headers.set("pullgate-cache", "hit");
    }
    let status = hit.status_code();
    let (_, stream) = hit.into_parts();
    Some(ResponseBuilder::new().with_status(status).with_headers(headers).body(stream))
}

/// Tees the client's response into the cache; the copy is stored after the response is sent.
fn store_blob(cfg: &Config<'_>, key: String, client: &mut Response) {
    let mut stored = match client.cloned() {
        Ok(copy) => copy,
        Err(e) => {
            console_error!("blob cache: cannot tee the response: {e}");
            return;
        }
    };
    let _ =
        stored.headers_mut().set("cache-control", &blob_cache::stored_cache_control(cfg.settings.blob_cache_seconds));
    cfg.ctx.wait_until(async move {
        if let Err(e) = Cache::default().put(key.as_str(), stored).await {
            console_error!("blob cache store failed: {e}");
        }
    });
}

/// Largest `n` honoured on a tag list (distribution's CVE-2023-2253 lesson).
const MAX_TAGS_PAGE: usize = 10_000;

/// `GET /v2/<name>/tags/list?n=&last=`: the upstream's list under the client's name, paged
/// here when the upstream does not page (distribution 2.8 ignores `n` and `last`).
pub async fn tags(pull: Pull<'_>, req: &Request) -> Result<Response, RegistryError> {
    let url = req.url().map_err(|e| RegistryError::internal(format!("request url: {e}")))?;
    let (mut n, mut last) = (None, None);
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "n" => {
                n = Some(v.parse::<usize>().ok().filter(|n| *n <= MAX_TAGS_PAGE).ok_or_else(|| {
                    RegistryError::new(
                        400,
                        ErrorCode::PaginationNumberInvalid,
                        format!("n must be a number from 0 to {MAX_TAGS_PAGE}"),
                    )
                })?);
            }
            "last" => last = Some(v.parse::<crate::reference::Tag>()?),
            _ => {}
        }
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(n) = n {
        query.append_pair("n", &n.to_string());
    }
    if let Some(last) = &last {
        query.append_pair("last", last.as_str());
    }
    let query = query.finish();
    let tail = if query.is_empty() { "tags/list".to_string() } else { format!("tags/list?{query}") };
    let (head, body) =
        pull.send(upstream::Request::new("GET", pull.url(&tail)).header("accept", "application/json")).await?;
    if let Some(e) = upstream::classify(Resource::Tags, &head, &pull.upstream(), pull.name.as_str()) {
        return Err(e);
    }
    let bytes = WorkerTransport.read(body, 4 * 1024 * 1024).await.map_err(|_| {
        RegistryError::upstream(502, ErrorCode::Unavailable, "tag list from upstream is too large or unreadable")
    })?;
    #[derive(serde::Deserialize)]
    struct UpstreamTags {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    #[derive(Serialize)]
    struct TagList<'a> {
        name: &'a str,
        tags: Vec<String>,
    }
    let listed: UpstreamTags = serde_json::from_slice(&bytes)
        .map_err(|_| RegistryError::upstream(502, ErrorCode::Unavailable, "upstream tag list is not valid JSON"))?;
    let name = pull.name.as_str();
    let upstream_link = head.header("link").and_then(|l| upstream::rewrite_tags_link(l, name));
    let (tags, link) = match upstream_link {
        // The upstream paged: its page and its next link, under our name.
        Some(link) => (listed.tags.unwrap_or_default(), Some(link)),
        None => {
            let (page, next) =
                upstream::page_tags(listed.tags.unwrap_or_default(), n, last.as_ref().map(|t| t.as_str()));
            let link = next.map(|last| {
                let q = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("n", &n.unwrap_or(page.len()).to_string())
                    .append_pair("last", &last)
                    .finish();
                format!("</v2/{name}/tags/list?{q}>; rel=\"next\"")
            });
            (page, link)
        }
    };
    let body =
        serde_json::to_vec(&TagList { name, tags }).map_err(|e| RegistryError::internal(format!("tags json: {e}")))?;
    let headers = json_headers();
    if let Some(link) = link {
        let _ = headers.set("link", &link);
    }
    Ok(ResponseBuilder::new().with_status(200).with_headers(headers).fixed(body))
}

/// `GET /v2/<name>/referrers/<digest>`: passed through.
pub async fn referrers(pull: Pull<'_>, req: &Request, digest: Digest) -> Result<Response, RegistryError> {
    let url = req.url().map_err(|e| RegistryError::internal(format!("request url: {e}")))?;
    let mut tail = format!("referrers/{digest}");
    if let Some((_, t)) = url.query_pairs().find(|(k, _)| k == "artifactType") {
        if t.len() <= 255 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"./+-_".contains(&b)) {
            tail = format!("{tail}?artifactType={t}");
        }
    }
    let up = upstream::Request::new("GET", pull.url(&tail)).header("accept", "application/vnd.oci.image.index.v1+json");
    let (head, body) = pull.send(up).await?;
    if let Some(e) = upstream::classify(Resource::Referrers, &head, &pull.upstream(), pull.name.as_str()) {
        return Err(e);
    }
    let headers = relay_headers(&head, &["content-type", "content-length", "oci-filters-applied"]);
    let (_, stream) = body.into_parts();
    Ok(ResponseBuilder::new().with_status(head.status).with_headers(headers).body(stream))
}
