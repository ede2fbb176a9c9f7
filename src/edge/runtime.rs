//! The core's runtime traits over the Workers bindings: KV, vars and secrets
//! (`ConfigSource`), the Rate Limiting bindings (`Limiter`), the Cache API (`BlobLookup`,
//! and the store after the response is sent) and the event queue (`EventSink`). Upstream fetch
//! is in `transport`.

use worker::{console_error, Cache, Context, Env, Headers, RequestInit, Response};

use crate::blob_cache;
use crate::service::config::{ConfigSource, StoreUnavailable};
use crate::service::{BlobLookup, EventSink};
use crate::store;
use crate::throttle::{Limit, Limiter};
use crate::upstream::Head;

use super::transport::head_of;

/// The Worker's bindings, for one request.
pub struct WorkerRuntime<'a> {
    pub env: &'a Env,
    /// A push request's body (`r2::upload_of`).
    pub upload: super::r2::Upload,
    /// `events::events_on`, read once per isolate.
    pub events_on: bool,
}

impl EventSink for WorkerRuntime<'_> {
    fn events_bound(&self) -> bool {
        self.events_on
    }

    fn random_id(&self) -> Option<[u8; 16]> {
        super::events::random_id()
    }
}

impl ConfigSource for WorkerRuntime<'_> {
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreUnavailable> {
        let kv = self.env.kv(store::KV_BINDING).map_err(|e| StoreUnavailable { detail: format!("kv binding: {e}") })?;
        // A failed read is the platform's hiccup: one more try, then the core answers 503.
        match kv.get(key).text().await {
            Ok(text) => Ok(text),
            Err(e) => {
                console_error!("kv get {key}: {e}; retrying once");
                kv.get(key).text().await.map_err(|e| {
                    console_error!("kv get {key}: {e}");
                    StoreUnavailable { detail: e.to_string() }
                })
            }
        }
    }

    fn var(&self, name: &str) -> Option<String> {
        self.env.var(name).ok().map(|v| v.to_string())
    }

    fn secret(&self, name: &str) -> Option<String> {
        self.env.secret(name).ok().map(|v| v.to_string())
    }
}

impl Limiter for WorkerRuntime<'_> {
    async fn within_limit(&self, limit: Limit, key: &str) -> bool {
        // A limiter that cannot answer lets the request through: a valid license is never
        // refused because a binding failed.
        match super::boundary::within_limit(self.env, limit.binding(), key).await {
            Ok(within) => within,
            Err(e) => {
                console_error!("rate limiter {} failed: {e}", limit.binding());
                true
            }
        }
    }
}

impl BlobLookup for WorkerRuntime<'_> {
    async fn cached_blob(&self, key: &str, range: Option<&str>) -> Option<(Head, Response)> {
        let lookup_headers = Headers::new();
        if let Some(r) = range {
            lookup_headers.set("range", r).ok()?;
        }
        let mut init = RequestInit::new();
        init.with_headers(lookup_headers);
        let lookup = worker::Request::new_with_init(key, &init).ok()?;
        match Cache::default().get(&lookup, false).await {
            Ok(Some(hit)) => Some((head_of(&hit), hit)),
            Ok(None) => None,
            Err(e) => {
                console_error!("blob cache lookup failed: {e}");
                None
            }
        }
    }
}

/// Tees the client's response into the cache; the copy is stored after the response is sent.
pub fn store_blob(ctx: &Context, key: String, ttl: i64, client: &mut Response) {
    let mut stored = match client.cloned() {
        Ok(copy) => copy,
        Err(e) => {
            console_error!("blob cache: cannot tee the response: {e}");
            return;
        }
    };
    let _ = stored.headers_mut().set("cache-control", &blob_cache::stored_cache_control(ttl));
    ctx.wait_until(async move {
        if let Err(e) = Cache::default().put(key.as_str(), stored).await {
            console_error!("blob cache store failed: {e}");
        }
    });
}
