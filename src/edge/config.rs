//! Configuration the Worker reads: vars, the root secret, and KV records kept in the isolate for
//! `CONFIG_CACHE_SECONDS`, so a warm isolate serves manifests and blobs with no KV read.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use worker::{console_error, Context, Env};

use crate::error::{ErrorCode, RegistryError};
use crate::keys::{KeysetRecord, RootKeyring, RootSecret, SigningKeys, PREVIOUS_ROOT_SECRET_NAME, ROOT_SECRET_NAME};
use crate::store::{self, AppRecord, DomainRecord, RevocationRecord, Secret, UpstreamRecord};
use crate::throttle::{self, Blocklist};
use crate::upstream::TokenCache;

/// Workers Rate Limiting bindings (`[[ratelimits]]` in wrangler.toml), counted per location.
const SIGN_IN_FAILURES: &str = "SIGN_IN_FAILURES";
const TOKEN_ISSUANCE: &str = "TOKEN_ISSUANCE";

/// Deployment settings from `[vars]`.
pub struct Settings {
    pub default_hosts: Vec<String>,
    pub cache_seconds: i64,
    pub token_ttl: i64,
    pub allow_insecure: bool,
    pub debug_headers: bool,
    pub access_log: bool,
    /// Seconds a streamed blob stays in the Cloudflare cache; 0 turns the cache off.
    pub blob_cache_seconds: i64,
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

impl Settings {
    pub fn read(env: &Env) -> Settings {
        let number = |name: &str, default: i64| var(env, name).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        Settings {
            default_hosts: var(env, "DEFAULT_HOSTS")
                .unwrap_or_default()
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            cache_seconds: number("CONFIG_CACHE_SECONDS", 30).max(0),
            token_ttl: number("TOKEN_TTL_SECONDS", 300).max(crate::token::MIN_TTL_SECONDS),
            allow_insecure: var(env, "ALLOW_INSECURE_UPSTREAMS").as_deref() == Some("true"),
            debug_headers: var(env, "DEBUG_HEADERS").as_deref() == Some("true"),
            access_log: var(env, "ACCESS_LOG").as_deref() != Some("false"),
            blob_cache_seconds: number("BLOB_CACHE_SECONDS", 86_400).max(0),
        }
    }
}

/// A value with the time it was fetched.
struct Entry<T> {
    at: i64,
    value: T,
}

/// An isolate-lifetime map whose entries are fresh for `ttl` seconds.
struct Memo<T> {
    entries: RefCell<HashMap<String, Entry<T>>>,
}

/// Bound on entries, so hostile hosts or names cannot grow an isolate's memory.
const MAX_ENTRIES: usize = 4096;

impl<T: Clone> Memo<T> {
    fn new() -> Self {
        Memo { entries: RefCell::new(HashMap::new()) }
    }

    fn get(&self, key: &str, now: i64, ttl: i64) -> Option<T> {
        let entries = self.entries.borrow();
        entries.get(key).filter(|e| now - e.at < ttl).map(|e| e.value.clone())
    }

    fn put(&self, key: String, now: i64, value: T) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, Entry { at: now, value });
    }
}

thread_local! {
    static APPS: Memo<Option<Rc<AppRecord>>> = Memo::new();
    static DOMAINS: Memo<Option<String>> = Memo::new();
    static REVOCATIONS: Memo<Option<RevocationRecord>> = Memo::new();
    static KEYS: Memo<Rc<SigningKeys>> = Memo::new();
    static SECRETS: Memo<Option<Rc<Secret>>> = Memo::new();
    static KV_READS: Cell<u64> = const { Cell::new(0) };
    static TOKENS: &'static TokenCache = Box::leak(Box::default());
    static BLOCKED: RefCell<Blocklist> = RefCell::default();
}

/// The isolate's upstream token cache.
pub fn token_cache() -> &'static TokenCache {
    TOKENS.with(|t| *t)
}

/// KV reads this isolate has made (reported in a debug header and by the benchmark).
pub fn kv_reads() -> u64 {
    KV_READS.with(Cell::get)
}

/// Per-request view of configuration.
pub struct Config<'a> {
    pub env: &'a Env,
    /// For work that outlives the response (filling the blob cache).
    pub ctx: &'a Context,
    pub settings: Settings,
    pub now: i64,
    /// `CF-Connecting-IP`, which Cloudflare sets on every request (a client's own is replaced).
    client_ip: Option<String>,
    /// Customer and license id of an authorized caller, for the access log.
    caller: RefCell<Option<(String, String)>>,
}

fn not_configured(what: &str) -> RegistryError {
    RegistryError::new(503, ErrorCode::Unavailable, format!("this registry is not configured yet ({what})"))
}

impl<'a> Config<'a> {
    pub fn new(env: &'a Env, ctx: &'a Context, now: i64, client_ip: Option<String>) -> Self {
        Config { env, ctx, settings: Settings::read(env), now, client_ip, caller: RefCell::new(None) }
    }

    /// 429 while this client's address is known to be over its failed sign-in limit.
    pub fn refuse_blocked_address(&self) -> Result<(), RegistryError> {
        let Some(key) = throttle::address_key(self.client_ip.as_deref()) else { return Ok(()) };
        match BLOCKED.with(|b| b.borrow().blocked_for(&key, self.now)) {
            Some(left) => Err(throttle::too_many_failures(None, left)),
            None => Ok(()),
        }
    }

    /// Counts a refused license against the client's address; over the limit, the answer
    /// becomes a 429 and the address is refused at once until the window ends.
    pub async fn failed_sign_in(&self, refusal: RegistryError) -> RegistryError {
        if !throttle::is_failed_sign_in(&refusal) {
            return refusal;
        }
        let Some(key) = throttle::address_key(self.client_ip.as_deref()) else { return refusal };
        if self.within_limit(SIGN_IN_FAILURES, &key).await {
            return refusal;
        }
        let left = throttle::window_remaining(self.now);
        BLOCKED.with(|b| b.borrow_mut().block(key, self.now + left, self.now));
        throttle::too_many_failures(Some(&refusal), left)
    }

    /// Counts one bearer token issued to a license; 429 once it has had its quota this window.
    pub async fn count_issuance(&self, license_id: &str, customer: &str) -> Result<(), RegistryError> {
        if self.within_limit(TOKEN_ISSUANCE, &throttle::issuance_key(license_id)).await {
            Ok(())
        } else {
            Err(throttle::too_many_tokens(customer, throttle::window_remaining(self.now)))
        }
    }

    /// One hit on a limiter. A missing binding or a failing limiter lets the request through:
    /// paying customers' pulls matter more than an approximate abuse counter.
    async fn within_limit(&self, binding: &str, key: &str) -> bool {
        let limiter = match self.env.rate_limiter(binding) {
            Ok(limiter) => limiter,
            Err(e) => {
                console_error!("rate limiter {binding} unavailable: {e}");
                return true;
            }
        };
        match limiter.limit(key.to_string()).await {
            Ok(outcome) => outcome.success,
            Err(e) => {
                console_error!("rate limiter {binding} failed: {e}");
                true
            }
        }
    }

    pub fn note_caller(&self, customer: &str, license_id: &str) {
        *self.caller.borrow_mut() = Some((customer.to_string(), license_id.to_string()));
    }

    /// Customer and license id of the authorized caller, if the request got that far.
    pub fn caller(&self) -> Option<(String, String)> {
        self.caller.borrow().clone()
    }

    async fn kv_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, RegistryError> {
        KV_READS.with(|c| c.set(c.get() + 1));
        let kv = self.env.kv(store::KV_BINDING).map_err(|e| RegistryError::internal(format!("kv binding: {e}")))?;
        // A failed read is the platform's hiccup, not the client's fault nor a bug: one more try,
        // then a 503 that clients retry on their own.
        let text = match kv.get(key).text().await {
            Ok(text) => text,
            Err(e) => {
                console_error!("kv get {key}: {e}; retrying once");
                KV_READS.with(|c| c.set(c.get() + 1));
                kv.get(key).text().await.map_err(|e| {
                    console_error!("kv get {key}: {e}");
                    RegistryError::new(
                        503,
                        ErrorCode::Unavailable,
                        "the registry proxy's configuration store is unavailable; retry shortly",
                    )
                    .with_retry_after(Some(1))
                })?
            }
        };
        // A record that does not parse was written by something other than the CLI: ours to fix.
        text.map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| RegistryError::internal(format!("kv record {key} is malformed: {e}")))
    }

    /// The root secret, and the previous one while a root-secret rotation is under way.
    pub fn root_keyring(&self) -> Result<RootKeyring, RegistryError> {
        let text = self.env.secret(ROOT_SECRET_NAME).map_err(|_| not_configured("root secret missing"))?;
        let current = RootSecret::parse(&text.to_string()).map_err(|_| not_configured("root secret malformed"))?;
        let previous = match self.env.secret(PREVIOUS_ROOT_SECRET_NAME) {
            Ok(text) => Some(
                RootSecret::parse(&text.to_string()).map_err(|_| not_configured("previous root secret malformed"))?,
            ),
            Err(_) => None,
        };
        Ok(RootKeyring::new(current, previous))
    }

    /// The app bound to a custom domain, `None` for unknown hosts.
    pub async fn domain_app(&self, host: &str) -> Result<Option<String>, RegistryError> {
        let ttl = self.settings.cache_seconds;
        if let Some(v) = DOMAINS.with(|m| m.get(host, self.now, ttl)) {
            return Ok(v);
        }
        let record: Option<DomainRecord> = self.kv_json(&store::domain_key(host)).await?;
        let app = record.map(|r| r.app);
        DOMAINS.with(|m| m.put(host.to_string(), self.now, app.clone()));
        Ok(app)
    }

    pub async fn app(&self, slug: &str) -> Result<Option<Rc<AppRecord>>, RegistryError> {
        let ttl = self.settings.cache_seconds;
        if let Some(v) = APPS.with(|m| m.get(slug, self.now, ttl)) {
            return Ok(v);
        }
        let record: Option<AppRecord> = self.kv_json(&store::app_key(slug)).await?;
        let app = record.map(Rc::new);
        APPS.with(|m| m.put(slug.to_string(), self.now, app.clone()));
        Ok(app)
    }

    pub async fn revocation(&self, license_id: &str) -> Result<Option<RevocationRecord>, RegistryError> {
        let ttl = self.settings.cache_seconds;
        if let Some(v) = REVOCATIONS.with(|m| m.get(license_id, self.now, ttl)) {
            return Ok(v);
        }
        let record: Option<RevocationRecord> = self.kv_json(&store::revocation_key(license_id)).await?;
        REVOCATIONS.with(|m| m.put(license_id.to_string(), self.now, record.clone()));
        Ok(record)
    }

    pub async fn signing_keys(&self) -> Result<Rc<SigningKeys>, RegistryError> {
        let ttl = self.settings.cache_seconds;
        if let Some(v) = KEYS.with(|m| m.get(store::KEYSET_KEY, self.now, ttl)) {
            return Ok(v);
        }
        let record: KeysetRecord = self
            .kv_json(store::KEYSET_KEY)
            .await?
            .ok_or_else(|| not_configured("no signing keys: run `pullgate key init`"))?;
        let keys = SigningKeys::open(&self.root_keyring()?, &record).map_err(|e| {
            console_error!("signing keys do not open: {e}");
            not_configured("signing keys do not open with the root secret")
        })?;
        let keys = Rc::new(keys);
        KEYS.with(|m| m.put(store::KEYSET_KEY.to_string(), self.now, keys.clone()));
        Ok(keys)
    }

    /// The upstream's credential, opened with the root secret (cached with the app record).
    pub fn upstream_secret(&self, app: &str, upstream: &UpstreamRecord) -> Result<Option<Rc<Secret>>, RegistryError> {
        let key =
            format!("{app}|{}|{}", upstream.endpoint, upstream.credential.sealed.as_ref().map_or("", |s| &s.nonce));
        let ttl = self.settings.cache_seconds.max(1);
        if let Some(v) = SECRETS.with(|m| m.get(&key, self.now, ttl)) {
            return Ok(v);
        }
        let secret = upstream.credential.open(&self.root_keyring()?, app, &upstream.endpoint).map_err(|e| {
            console_error!("credential for {app} {} does not open: {e}", upstream.endpoint);
            RegistryError::upstream(
                502,
                ErrorCode::Unavailable,
                format!(
                    "the credential of upstream {} cannot be used; the vendor must set it again",
                    upstream.display_name()
                ),
            )
        })?;
        let secret = secret.map(Rc::new);
        SECRETS.with(|m| m.put(key, self.now, secret.clone()));
        Ok(secret)
    }
}
