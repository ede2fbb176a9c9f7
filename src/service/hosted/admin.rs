//! The hosted registry's admin channel, for the CLI's `gc` and `app show`: R2 is reachable only
//! through the Worker's binding (Miniflare's locally), so the CLI asks the edge. Authorized by
//! an admin token: a push token with `admin` set, at most `MAX_ADMIN_LIFETIME` long, that the
//! CLI signs with the app's key for one run; it never pushes or pulls.
//!
//! ```text
//! GET  /_pullgate/hosted/objects?after=<key>&bodies=1   a page of the app's objects (gc::Entry)
//! POST /_pullgate/hosted/delete  {since, keys, aborts, usage}
//!      keys of a repository that got a tag or manifest at or after `since` are skipped
//! ```
//! Each request stays within Workers' subrequest limits: one listing and at most `BODY_PAGE`
//! reads per page, one bulk delete of at most `MAX_DELETE` keys plus a listing per repository.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::access::{self, Credentials};
use crate::error::RegistryError;
use crate::push_token;

use super::super::auth::Refusal;
use super::super::reply::Reply;
use super::super::{Ctx, Runtime};
use super::auth::check_push_token;
use super::gc::{self, Abort, Entry};
use super::layout::{self, Usage};
use super::objects::list_all;
use super::{put_json, HostedError};

/// Where the admin channel lives (outside `/v2/`, which is the registry API).
pub const ADMIN_PREFIX: &str = "/_pullgate/hosted/";
/// An admin token lives at most this long (seconds): one CLI run.
pub const MAX_ADMIN_LIFETIME: i64 = 15 * 60;
/// Objects per page when their bodies are read (one R2 read each).
pub const BODY_PAGE: u32 = 200;
/// Objects per page of keys alone (one R2 listing).
pub const KEY_PAGE: u32 = 1000;
/// Keys per delete request (R2 deletes up to 1000 in one call).
pub const MAX_DELETE: usize = 1000;
/// Upload sessions aborted per request (two R2 calls each).
pub const MAX_ABORTS: usize = 100;
/// A delete request's JSON body.
const MAX_DELETE_BODY: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoute {
    Objects,
    Delete,
}

/// Routes a path under `ADMIN_PREFIX`.
pub fn parse(method: crate::route::Method, op: &str) -> Result<AdminRoute, crate::route::RouteError> {
    use crate::route::{Method, RouteError};
    match (op, method) {
        ("objects", Method::Get) => Ok(AdminRoute::Objects),
        ("delete", Method::Post) => Ok(AdminRoute::Delete),
        ("objects" | "delete", _) => Err(RouteError::MethodNotAllowed),
        _ => Err(RouteError::NoSuchEndpoint),
    }
}

/// A page of objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// The edge's clock when it listed (unix seconds): a snapshot's `since` for deletes, on the
    /// same clock as the objects' upload times.
    pub now: i64,
    pub entries: Vec<Entry>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// When the CLI's snapshot began: its first page's `now`.
    pub since: i64,
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub aborts: Vec<Abort>,
    /// The app's usage to record, once the CLI has recounted it.
    #[serde(default)]
    pub usage: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteAnswer {
    pub deleted: usize,
    pub aborted: usize,
    /// Keys left alone: their repository changed since the snapshot.
    pub skipped: Vec<String>,
}

/// The app an admin token is for, after checking it is one.
async fn authorize<R: Runtime>(cx: &Ctx<'_, R>) -> Result<String, RegistryError> {
    let credentials = access::parse_authorization(cx.request.authorization.as_deref())
        .map_err(|_| Refusal::BadAuthorization { scope: None })?;
    let text = match credentials {
        Some(Credentials::Bearer(t) | Credentials::License(t)) if push_token::looks_like(&t) => t,
        Some(_) => return Err(HostedError::PushToken(push_token::PushTokenError::Malformed).into()),
        None => return Err(Refusal::CredentialsRequired { scope: None, login_host: None }.into()),
    };
    let claims = check_push_token(cx, &text).await?;
    if !claims.admin || claims.exp.saturating_sub(claims.iat) > MAX_ADMIN_LIFETIME {
        return Err(HostedError::NotAdmin.into());
    }
    let hosted = cx.config().app(&claims.app).await?.is_some_and(|a| a.upstreams.iter().any(|u| u.hosted));
    if !hosted {
        return Err(HostedError::NotHosted { upstream: format!("app {}", claims.app) }.into());
    }
    Ok(claims.app)
}

pub async fn handle<R: Runtime>(cx: &Ctx<'_, R>, route: AdminRoute) -> Result<Reply<R::Body>, RegistryError> {
    let app = authorize(cx).await?;
    let body = match route {
        AdminRoute::Objects => serde_json::to_vec(&objects(cx, &app).await?),
        AdminRoute::Delete => serde_json::to_vec(&delete(cx, &app).await?),
    };
    Ok(Reply::json(200, body.map_err(|e| RegistryError::internal(format!("admin json: {e}")))?))
}

async fn objects<R: Runtime>(cx: &Ctx<'_, R>, app: &str) -> Result<Page, RegistryError> {
    let prefix = format!("{app}/");
    let after = cx.request.query_value("after").filter(|a| a.starts_with(&prefix));
    let bodies = cx.request.query_value("bodies").is_some_and(|v| v == "1");
    let limit = if bodies { BODY_PAGE } else { KEY_PAGE };
    let listing = cx.rt.list(&prefix, after.as_deref(), limit).await?;
    let mut entries = Vec::with_capacity(listing.objects.len());
    for o in &listing.objects {
        let body = match bodies && gc::wants_body(app, &o.key) {
            true => cx.rt.get(&o.key).await?.and_then(|s| String::from_utf8(s.bytes).ok()),
            false => None,
        };
        entries.push(Entry { key: o.key.clone(), size: o.size, uploaded: o.uploaded, body });
    }
    let next = listing.truncated.then(|| listing.objects.last().map(|o| o.key.clone())).flatten();
    Ok(Page { now: cx.now, entries, next })
}

async fn delete<R: Runtime>(cx: &Ctx<'_, R>, app: &str) -> Result<DeleteAnswer, RegistryError> {
    let upload = cx.rt.take_upload().ok_or(HostedError::ManifestInvalid("a JSON body is required".into()))?;
    let bytes = cx.rt.read_upload(upload.body, MAX_DELETE_BODY).await.map_err(|_| HostedError::AdminRequest)?;
    let request: DeleteRequest = serde_json::from_slice(&bytes).map_err(|_| HostedError::AdminRequest)?;
    let prefix = format!("{app}/");
    let usage_key = layout::usage(app);
    let foreign = request.keys.iter().any(|k| !k.starts_with(&prefix) || *k == usage_key)
        || request.aborts.iter().any(|a| {
            !a.key.starts_with(&layout::uploads_prefix(app)) || !a.data.starts_with(&layout::data_prefix(app))
        });
    if foreign || request.keys.len() > MAX_DELETE || request.aborts.len() > MAX_ABORTS {
        return Err(HostedError::AdminRequest.into());
    }
    // A repository that got a tag or manifest since the snapshot may now reach what gc doomed.
    let mut by_repo: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut doomed = Vec::new();
    for key in request.keys {
        match layout::split_repo_key(app, &key) {
            Some((repo, _, _)) => by_repo.entry(repo.to_string()).or_default().push(key),
            None => doomed.push(key),
        }
    }
    let mut skipped = Vec::new();
    for (repo, keys) in by_repo {
        let mut changed = false;
        for kind in ["_tags", "_manifests"] {
            let listed = list_all(cx.rt, &format!("{app}/repos/{repo}/{kind}/")).await?;
            changed |= listed.iter().any(|o| o.uploaded >= request.since);
        }
        if changed {
            skipped.extend(keys);
        } else {
            doomed.extend(keys);
        }
    }
    let deleted = doomed.len();
    if !doomed.is_empty() {
        cx.rt.delete(doomed).await?;
    }
    for abort in &request.aborts {
        // A session already completed or aborted has nothing to abort; its records still go.
        let _ = cx.rt.multipart_abort(&abort.data, &abort.multipart).await;
        cx.rt.delete(vec![abort.data.clone(), abort.key.clone()]).await?;
    }
    if let Some(bytes) = request.usage {
        put_json(cx, &usage_key, &Usage { bytes }).await?;
    }
    Ok(DeleteAnswer { deleted, aborted: request.aborts.len(), skipped })
}
