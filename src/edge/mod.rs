//! The Worker: the only code that touches the Workers runtime. It routes, authenticates and
//! proxies as the pure modules decide, and turns every failure into an OCI error response.

mod auth;
mod config;
mod handlers;
mod respond;
mod transport;

use worker::{console_log, event, Context, Env, Request, Response};

use crate::access_log::{self, AccessRecord};
use crate::error::RegistryError;
use crate::route::{self, Method, Route};

use config::Config;
use respond::{Origin, API_VERSION_HEADER};

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let origin = origin_of(&req);
    let client_ip = req.headers().get("cf-connecting-ip").ok().flatten();
    let cfg = Config::new(&env, &ctx, transport::now_unix(), client_ip);
    let reads_before = config::kv_reads();
    let method = req.inner().method();
    let route = route::parse(Method::parse(&method), &req.path());
    // Described before `handle` takes the route, and only when it will be logged.
    let described = cfg.settings.access_log.then(|| access_log::describe(route.as_ref().ok()));
    let result = handle(&cfg, &mut req, &origin, route).await;
    let mut error = None;
    let mut resp = match result {
        Ok(resp) => resp,
        Err(e) => {
            error = Some(e.code.as_str());
            respond::error(&e, &origin)?
        }
    };
    let headers = resp.headers_mut();
    headers.set(API_VERSION_HEADER.0, API_VERSION_HEADER.1)?;
    if cfg.settings.debug_headers {
        headers.set("pullgate-kv-reads", &(config::kv_reads() - reads_before).to_string())?;
    }
    if let Some((action, image, reference)) = described {
        let caller = cfg.caller();
        let status = resp.status_code();
        let bytes = match status {
            300..=399 => Some(0),
            _ if method == "HEAD" => Some(0),
            _ => resp.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok()),
        };
        let record = AccessRecord {
            method: &method,
            host: &origin.host,
            action,
            image,
            reference,
            status,
            outcome: access_log::outcome(status),
            error,
            customer: caller.as_ref().map(|c| c.0.as_str()),
            license: caller.as_ref().map(|c| c.1.as_str()),
            bytes,
        };
        console_log!("{}", record.to_json());
    }
    Ok(resp)
}

/// The host and scheme the client used. Realms and tokens are bound to them; `X-Forwarded-*`
/// is never trusted.
fn origin_of(req: &Request) -> Origin {
    let url = req.url().ok();
    let scheme = url.as_ref().map_or("https", |u| u.scheme()).to_string();
    let host = req
        .headers()
        .get("host")
        .ok()
        .flatten()
        .or_else(|| {
            url.as_ref().and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_string(),
                })
            })
        })
        .unwrap_or_default()
        .to_ascii_lowercase();
    // A Host with characters outside a hostname would end up in the challenge header.
    let host = if host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)) && host.len() <= 255 {
        host
    } else {
        String::new()
    };
    Origin { scheme, host }
}

async fn handle(
    cfg: &Config<'_>,
    req: &mut Request,
    origin: &Origin,
    route: Result<Route, RegistryError>,
) -> Result<Response, RegistryError> {
    if origin.host.is_empty() {
        return Err(RegistryError::name_unknown("missing or invalid Host header"));
    }
    match route? {
        Route::VersionCheck => handlers::version_check(cfg, req, origin).await,
        Route::Token => handlers::token(cfg, req, origin).await,
        Route::Manifest { name, reference } => {
            let pull = handlers::authorize(cfg, req, origin, name).await?;
            handlers::manifest(pull, req, reference).await
        }
        Route::Blob { name, digest } => {
            let pull = handlers::authorize(cfg, req, origin, name).await?;
            handlers::blob(pull, req, digest).await
        }
        Route::Tags { name } => {
            let pull = handlers::authorize(cfg, req, origin, name).await?;
            handlers::tags(pull, req).await
        }
        Route::Referrers { name, digest } => {
            let pull = handlers::authorize(cfg, req, origin, name).await?;
            handlers::referrers(pull, req, digest).await
        }
    }
}
