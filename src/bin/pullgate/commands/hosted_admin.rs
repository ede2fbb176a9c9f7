//! The CLI's side of the edge's hosted admin channel (`service::hosted::admin`): signs a
//! short-lived admin token with the app's key, pages through the app's R2 objects, and sends
//! deletes. Used by `pullgate gc` and `pullgate app show --registry`.

use pullgate::push_token::{self, Claims};
use pullgate::service::hosted::admin::{DeleteAnswer, DeleteRequest, Page, ADMIN_PREFIX, MAX_ADMIN_LIFETIME};
use pullgate::service::hosted::gc::Entry;

use super::http;
use super::push::registry::refused;
use super::{active_signer, keys_for_app, Ctx};
use crate::failure::{Exit, Failure, Outcome};
use crate::secrets;

/// Bound on one answer: a page of up to 200 records with manifests of up to 4 MiB would be
/// more, but a page is cut at 200 objects and registries' manifests are a few KiB.
const MAX_PAGE_BYTES: usize = 256 * 1024 * 1024;
/// Pages of one snapshot (1000 keys or 200 bodies each).
const MAX_PAGES: usize = 100_000;

/// `scheme://host[:port]` of an edge URL given on the command line.
pub fn registry_base(url: &str) -> Outcome<String> {
    let parsed = url::Url::parse(url).map_err(|e| Failure::usage(format!("--registry {url}: {e}")))?;
    let Some(host) = parsed.host_str().filter(|_| matches!(parsed.scheme(), "http" | "https")) else {
        return Err(Failure::usage(format!("--registry {url} must be http(s)://host[:port]")));
    };
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!("{}://{host}{port}", parsed.scheme()))
}

pub struct Admin {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

impl Admin {
    /// Signs an admin token for `app` (needs the root secret and the keys in KV).
    pub fn open(ctx: &Ctx, app: &str, registry: &str) -> Outcome<Admin> {
        let base = registry_base(registry)?;
        let root = secrets::require_root()?;
        let keys = keys_for_app(ctx, &root.secret, app)?;
        let signer = active_signer(&keys)?;
        let claims = Claims {
            id: format!("{}admin-{}", pullgate::service::hosted::token::ID_PREFIX, secrets::random_hex::<8>()?),
            app: app.to_string(),
            repos: Vec::new(),
            delete: false,
            admin: true,
            iat: ctx.now,
            exp: ctx.now + MAX_ADMIN_LIFETIME,
        };
        let auth = format!("Bearer {}", push_token::issue(&claims, signer));
        Ok(Admin { agent: http::upload_agent(), base, auth })
    }

    fn call(&self, step: &str, method: &str, path: &str, body: Option<&[u8]>) -> Outcome<Vec<u8>> {
        let url = format!("{}{ADMIN_PREFIX}{path}", self.base);
        let mut headers = vec![("Authorization".to_string(), self.auth.clone())];
        if body.is_some() {
            headers.push(("Content-Type".to_string(), "application/json".to_string()));
        }
        let answer = http::send(&self.agent, method, &url, &headers, body, MAX_PAGE_BYTES)
            .map_err(|e| Failure::with_exit(Exit::Network, format!("{step}: network: {e}")))?;
        if answer.head.status != 200 {
            return Err(refused(step, &answer));
        }
        Ok(answer.body)
    }

    /// Every object of the app, with the bodies gc reads when `bodies`, and the edge's clock
    /// when the listing began.
    pub fn snapshot(&self, bodies: bool) -> Outcome<(i64, Vec<Entry>)> {
        let mut entries = Vec::new();
        let mut started = None;
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = format!("objects?bodies={}", u8::from(bodies));
            if let Some(a) = &after {
                query.push_str("&after=");
                query.push_str(&url::form_urlencoded::byte_serialize(a.as_bytes()).collect::<String>());
            }
            let bytes = self.call("list hosted objects", "GET", &query, None)?;
            let page: Page = serde_json::from_slice(&bytes)
                .map_err(|e| Failure::failed(format!("list hosted objects: the edge's answer is not a page: {e}")))?;
            entries.extend(page.entries);
            let started = *started.get_or_insert(page.now);
            match page.next {
                Some(next) if Some(&next) != after.as_ref() => after = Some(next),
                _ => return Ok((started, entries)),
            }
        }
        Err(Failure::failed("list hosted objects: more pages than any registry has; stopped"))
    }

    pub fn delete(&self, request: &DeleteRequest) -> Outcome<DeleteAnswer> {
        let body = serde_json::to_vec(request).map_err(|e| Failure::failed(format!("delete request: {e}")))?;
        let bytes = self.call("delete hosted objects", "POST", "delete", Some(&body))?;
        serde_json::from_slice(&bytes).map_err(|e| Failure::failed(format!("delete hosted objects: bad answer: {e}")))
    }
}
