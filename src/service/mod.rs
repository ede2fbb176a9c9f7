//! The edge's decisions in plain Rust: a request goes in, a response decision comes out.
//!
//! Every request takes the same steps: the path is routed and every name, tag and digest
//! validated (`route`); the `Host` picks the app (`auth::host_binding`); the client is
//! authenticated with a license or a bearer token (`auth`, `token_endpoint`); the name is
//! resolved to an upstream and a repository (`access`); and the upstream is called with the
//! vendor's credential (`pull`, `upstream`). The runtime's parts (KV, fetch, the Cache API,
//! rate limiters) come in through `Runtime`, so `cargo test` drives all of it natively, and
//! the Worker (`src/edge/`) only copies a request in and writes the answer out.

pub mod auth;
pub mod blobs;
pub mod config;
pub mod events;
pub mod hosted;
pub mod manifests;
pub mod origin;
pub mod pull;
pub mod referrers;
pub mod reply;
pub mod request;
pub mod settings;
pub mod tags;
pub mod token_endpoint;

#[cfg(test)]
mod tests;

use std::cell::{OnceCell, RefCell};

use crate::access_log::{self, AccessRecord};
use crate::error::{RegistryError, Source};
use crate::events::Event;
use crate::license;
use crate::route::{self, Method, Route, RouteError};
use crate::throttle::{Blocklist, Limiter};
use crate::upstream::{Head, TokenCache, Transport};

use auth::Caller;
use config::{Config, ConfigCache, ConfigSource};
use origin::Origin;
use pull::Pull;
use reply::{set_header, Reply, API_VERSION_HEADER};
use request::Incoming;
use settings::Settings;

/// The Cloudflare cache as the blob handler uses it: a lookup (stores are the edge's, after the
/// response is sent).
#[allow(async_fn_in_trait)]
pub trait BlobLookup: Transport {
    /// A cached blob, whole or the requested range, with its status and headers.
    async fn cached_blob(&self, key: &str, range: Option<&str>) -> Option<(Head, Self::Body)>;
}

/// Where pull events go: whether they have a destination, and the randomness for their ids.
pub trait EventSink {
    /// The queue binding exists; without it no event is built.
    fn events_bound(&self) -> bool;
    /// 16 bytes from the runtime's cryptographic random source, or `None` if it failed.
    fn random_id(&self) -> Option<[u8; 16]>;
}

/// Everything the core needs from the runtime: upstream HTTP, configuration, rate limiters,
/// the blob cache, the hosted registry's bucket and the event queue.
pub trait Runtime: Transport + ConfigSource + Limiter + BlobLookup + hosted::objects::ObjectStore + EventSink {}

impl<T: Transport + ConfigSource + Limiter + BlobLookup + hosted::objects::ObjectStore + EventSink> Runtime for T {}

/// What an isolate keeps between requests.
#[derive(Default)]
pub struct Isolate {
    /// Read on the first request: a deployment's vars do not change under a running isolate.
    pub settings: OnceCell<Settings>,
    pub config: ConfigCache,
    /// Upstream tokens and challenges.
    pub tokens: TokenCache,
    /// Addresses over their failed sign-in limit.
    pub blocked: RefCell<Blocklist>,
    /// Manifests whose blob sizes an event already carried (`events::build`).
    pub noted_sizes: RefCell<crate::blob_sizes::Noted>,
}

/// One request being handled.
pub struct Ctx<'a, R: Runtime> {
    pub rt: &'a R,
    pub isolate: &'a Isolate,
    pub settings: &'a Settings,
    pub now: i64,
    pub origin: Origin,
    pub request: Incoming,
    caller: RefCell<Option<Caller>>,
    /// What the checks learned for this request's event; `None` when it has none (events off,
    /// or a route without one), so the checks note nothing.
    subject: Option<RefCell<events::Subject>>,
}

impl<R: Runtime> Ctx<'_, R> {
    pub fn config(&self) -> Config<'_, R> {
        Config { cache: &self.isolate.config, source: self.rt, now: self.now, ttl: self.settings.cache_seconds }
    }

    /// Remembers who is pulling, for the access log and the expiry warning; `license_expires`
    /// is `None` for bearer tokens issued before tokens carried it.
    pub fn note_caller(&self, customer: &str, license_id: &str, license_expires: Option<i64>) {
        *self.caller.borrow_mut() =
            Some(Caller { customer: customer.to_string(), license_id: license_id.to_string(), license_expires });
    }

    /// Whether this request has an event, so the checks should note what they learn.
    pub fn records_event(&self) -> bool {
        self.subject.is_some()
    }

    /// Remembers the app and image (`<upstream>/<repo>`) a request concerns, for its event.
    pub fn note_target(&self, app: &str, upstream: &str, repo: &str) {
        let Some(subject) = &self.subject else { return };
        let mut subject = subject.borrow_mut();
        subject.app = Some(app.to_string());
        subject.image = Some(format!("{upstream}/{repo}"));
    }

    /// Remembers whose (genuinely signed) license was used, refused or not, for the event.
    pub fn note_license(&self, claims: &license::Claims) {
        let Some(subject) = &self.subject else { return };
        let mut subject = subject.borrow_mut();
        subject.app.get_or_insert_with(|| claims.app.clone());
        subject.customer = Some(claims.customer.clone());
        subject.license = Some(claims.id.clone());
    }
}

/// Carries the license-expiry notice (distribution spec: `Warning: 299 - "<text>"`).
pub const WARNING_HEADER: &str = "warning";

/// Something the edge should write to its log (the client never sees these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLine {
    /// A bug or platform failure.
    Error(String),
    /// The vendor's upstream failed.
    Warn(String),
    /// The access record (JSON).
    Access(String),
}

/// The core's answer: the response, what to log, and the events to queue after the response.
#[derive(Debug)]
pub struct Handled<B> {
    pub reply: Reply<B>,
    pub logs: Vec<LogLine>,
    pub events: Vec<Event>,
}

/// Handles one request.
pub async fn handle<R: Runtime>(rt: &R, isolate: &Isolate, request: Incoming) -> Handled<R::Body> {
    let settings = isolate.settings.get_or_init(|| Settings::read(|name| rt.var(name)));
    let origin = Origin::new(&request.scheme, &request.host);
    let reads_before = isolate.config.kv_reads();
    let route = route::parse(Method::parse(&request.method), &request.path);
    let described = settings.access_log.then(|| access_log::describe(route.as_ref().ok()));
    // Events off (or nowhere to send them): nothing below builds one.
    let facts = (settings.events && rt.events_bound()).then(|| events::facts(route.as_ref().ok())).flatten();
    let cx = Ctx {
        rt,
        isolate,
        now: rt.now(),
        origin,
        request,
        settings,
        caller: RefCell::new(None),
        subject: facts.as_ref().map(|_| RefCell::default()),
    };
    let mut logs = Vec::new();
    let (mut reply, error, reason) = match dispatch(&cx, route).await {
        Ok(reply) => (reply, None, None),
        Err(e) => {
            match e.source {
                Source::Internal => logs.push(LogLine::Error(format!("{} {e}", cx.origin.host))),
                Source::Upstream => logs.push(LogLine::Warn(format!("{} {e}", cx.origin.host))),
                Source::Downstream => {}
            }
            (reply::error(&e, &cx.origin), Some(e.code.as_str()), e.reason.map(|r| r.as_str()))
        }
    };
    set_header(reply.headers_mut(), API_VERSION_HEADER.0, API_VERSION_HEADER.1);
    if cx.settings.debug_headers {
        set_header(reply.headers_mut(), "pullgate-kv-reads", (isolate.config.kv_reads() - reads_before).to_string());
    }
    let caller = cx.caller.borrow();
    let warning = caller.as_ref().and_then(|c| {
        license::expiry_warning(&c.customer, c.license_expires?, cx.now, settings.license_warning_seconds)
    });
    if let Some(warning) = warning.as_deref() {
        set_header(reply.headers_mut(), WARNING_HEADER, warning);
    }
    if let Some((action, image, reference)) = described {
        let status = reply.status();
        let record = AccessRecord {
            method: &cx.request.method,
            host: &cx.origin.host,
            action,
            image,
            reference,
            status,
            outcome: access_log::outcome(status),
            error,
            customer: caller.as_ref().map(|c| c.customer.as_str()),
            license: caller.as_ref().map(|c| c.license_id.as_str()),
            bytes: reply.bytes_served(cx.request.is_head()),
            license_expiring: warning.is_some(),
        };
        logs.push(LogLine::Access(record.to_json()));
    }
    let events = match (facts, &cx.subject) {
        (Some(facts), Some(subject)) if !events::is_vendor_traffic(&subject.borrow(), caller.as_ref()) => {
            let outcome = events::Outcome { error, reason };
            match events::build(&cx, facts, &subject.borrow(), &reply, outcome, caller.as_ref()) {
                Some(event) => vec![event],
                None => {
                    logs.push(LogLine::Error("event dropped: the runtime gave no random id".to_string()));
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    };
    drop(caller);
    Handled { reply, logs, events }
}

fn boxed<'a, T>(
    f: impl std::future::Future<Output = T> + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>> {
    Box::pin(f)
}

async fn dispatch<R: Runtime>(
    cx: &Ctx<'_, R>,
    route: Result<Route, RouteError>,
) -> Result<Reply<R::Body>, RegistryError> {
    if cx.origin.host.is_empty() {
        return Err(request::BadRequest::MissingHost.into());
    }
    // Each route's future is boxed behind `dyn`: its poll stays a function of its own instead of
    // being inlined into one state machine for every route, so a cold isolate compiles only the
    // code of the routes it serves (the wasm is compiled function by function on first call).
    match route? {
        Route::VersionCheck => boxed(token_endpoint::version_check(cx)).await,
        Route::Token => boxed(token_endpoint::token(cx)).await,
        Route::Manifest { name, reference } => {
            boxed(async move {
                match Pull::authorize(cx, name).await? {
                    pull if pull.is_hosted() => hosted::manifests::get(pull, reference).await,
                    pull => manifests::manifest(pull, reference).await,
                }
            })
            .await
        }
        Route::Blob { name, digest } => {
            boxed(async move {
                match Pull::authorize(cx, name).await? {
                    pull if pull.is_hosted() => hosted::serve::blob(pull, digest).await,
                    pull => blobs::blob(pull, digest).await,
                }
            })
            .await
        }
        Route::Tags { name } => {
            boxed(async move {
                match Pull::authorize(cx, name).await? {
                    pull if pull.is_hosted() => hosted::serve::tags(pull).await,
                    pull => tags::tags(pull).await,
                }
            })
            .await
        }
        Route::Referrers { name, digest } => {
            boxed(async move {
                match Pull::authorize(cx, name).await? {
                    pull if pull.is_hosted() => hosted::manifests::referrers(pull, digest).await,
                    pull => referrers::referrers(pull, digest).await,
                }
            })
            .await
        }
        Route::Push(push) => boxed(hosted::push(cx, push)).await,
        Route::HostedAdmin(op) => boxed(hosted::admin::handle(cx, op)).await,
    }
}
