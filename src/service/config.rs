//! Configuration the edge reads from KV (domains, apps, keysets, revocations) and the sealed
//! upstream credentials, kept in the isolate for `CONFIG_CACHE_SECONDS` so a warm isolate
//! serves pulls with no KV read. The store itself is behind `ConfigSource`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use serde::de::DeserializeOwned;

use crate::keys::{KeysetRecord, RootKeyring, RootSecret, SigningKeys, PREVIOUS_ROOT_SECRET_NAME, ROOT_SECRET_NAME};
use crate::store::{self, AppRecord, DomainRecord, RevocationRecord, Secret, UpstreamRecord};

/// Where configuration comes from: the Worker's KV binding, vars and secrets (or a map in tests).
#[allow(async_fn_in_trait)]
pub trait ConfigSource {
    /// One KV record's text; `Err` when the store did not answer (after the runtime's own retry).
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreUnavailable>;
    /// A `[vars]` value.
    fn var(&self, name: &str) -> Option<String>;
    /// A Worker secret.
    fn secret(&self, name: &str) -> Option<String>;
}

/// The configuration store did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUnavailable {
    /// For the log.
    pub detail: String,
}

/// Why configuration could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// KV did not answer; clients should retry.
    Unavailable { key: String, detail: String },
    /// A record that does not parse: written by something other than the CLI.
    Malformed { key: String, detail: String },
    /// The deployment lacks something it needs (root secret, signing keys).
    NotConfigured(&'static str),
    /// An upstream's sealed credential does not open with the root secret.
    CredentialUnusable { upstream: String },
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

/// The isolate's memory of configuration records.
pub struct ConfigCache {
    apps: Memo<Option<Rc<AppRecord>>>,
    domains: Memo<Option<String>>,
    revocations: Memo<Option<RevocationRecord>>,
    keys: Memo<Rc<SigningKeys>>,
    secrets: Memo<Option<Rc<Secret>>>,
    kv_reads: Cell<u64>,
}

impl Default for ConfigCache {
    fn default() -> Self {
        ConfigCache {
            apps: Memo::new(),
            domains: Memo::new(),
            revocations: Memo::new(),
            keys: Memo::new(),
            secrets: Memo::new(),
            kv_reads: Cell::new(0),
        }
    }
}

/// A request's view of configuration: the cache, the source behind it, and the clock.
pub struct Config<'a, S: ConfigSource> {
    pub cache: &'a ConfigCache,
    pub source: &'a S,
    pub now: i64,
    /// Seconds an entry stays fresh.
    pub ttl: i64,
}

impl ConfigCache {
    /// KV reads this isolate has made (a debug header and the benchmark report it).
    pub fn kv_reads(&self) -> u64 {
        self.kv_reads.get()
    }
}

impl<S: ConfigSource> Config<'_, S> {
    async fn kv_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        self.cache.kv_reads.set(self.cache.kv_reads.get() + 1);
        let text = self
            .source
            .kv_get(key)
            .await
            .map_err(|e| ConfigError::Unavailable { key: key.to_string(), detail: e.detail })?;
        text.map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| ConfigError::Malformed { key: key.to_string(), detail: e.to_string() })
    }

    /// The root secret, and the previous one while a root-secret rotation is under way.
    pub fn root_keyring(&self) -> Result<RootKeyring, ConfigError> {
        let text = self.source.secret(ROOT_SECRET_NAME).ok_or(ConfigError::NotConfigured("root secret missing"))?;
        let current = RootSecret::parse(&text).map_err(|_| ConfigError::NotConfigured("root secret malformed"))?;
        let previous = match self.source.secret(PREVIOUS_ROOT_SECRET_NAME) {
            Some(text) => Some(
                RootSecret::parse(&text).map_err(|_| ConfigError::NotConfigured("previous root secret malformed"))?,
            ),
            None => None,
        };
        Ok(RootKeyring::new(current, previous))
    }

    /// The app bound to a custom domain, `None` for unknown hosts.
    pub async fn domain_app(&self, host: &str) -> Result<Option<String>, ConfigError> {
        if let Some(v) = self.cache.domains.get(host, self.now, self.ttl) {
            return Ok(v);
        }
        let record: Option<DomainRecord> = self.kv_json(&store::domain_key(host)).await?;
        let app = record.map(|r| r.app);
        self.cache.domains.put(host.to_string(), self.now, app.clone());
        Ok(app)
    }

    pub async fn app(&self, slug: &str) -> Result<Option<Rc<AppRecord>>, ConfigError> {
        if let Some(v) = self.cache.apps.get(slug, self.now, self.ttl) {
            return Ok(v);
        }
        let record: Option<AppRecord> = self.kv_json(&store::app_key(slug)).await?;
        let app = record.map(Rc::new);
        self.cache.apps.put(slug.to_string(), self.now, app.clone());
        Ok(app)
    }

    pub async fn revocation(&self, license_id: &str) -> Result<Option<RevocationRecord>, ConfigError> {
        if let Some(v) = self.cache.revocations.get(license_id, self.now, self.ttl) {
            return Ok(v);
        }
        let record: Option<RevocationRecord> = self.kv_json(&store::revocation_key(license_id)).await?;
        self.cache.revocations.put(license_id.to_string(), self.now, record.clone());
        Ok(record)
    }

    pub async fn signing_keys(&self) -> Result<Rc<SigningKeys>, ConfigError> {
        if let Some(v) = self.cache.keys.get(store::KEYSET_KEY, self.now, self.ttl) {
            return Ok(v);
        }
        let record: KeysetRecord = self
            .kv_json(store::KEYSET_KEY)
            .await?
            .ok_or(ConfigError::NotConfigured("no signing keys: run `pullgate key init`"))?;
        let keys = SigningKeys::open(&self.root_keyring()?, &record)
            .map_err(|_| ConfigError::NotConfigured("signing keys do not open with the root secret"))?;
        let keys = Rc::new(keys);
        self.cache.keys.put(store::KEYSET_KEY.to_string(), self.now, keys.clone());
        Ok(keys)
    }

    /// The upstream's credential, opened with the root secret (kept as long as the app record).
    pub fn upstream_secret(&self, app: &str, upstream: &UpstreamRecord) -> Result<Option<Rc<Secret>>, ConfigError> {
        let key =
            format!("{app}|{}|{}", upstream.endpoint, upstream.credential.sealed.as_ref().map_or("", |s| &s.nonce));
        let ttl = self.ttl.max(1);
        if let Some(v) = self.cache.secrets.get(&key, self.now, ttl) {
            return Ok(v);
        }
        let secret = upstream
            .credential
            .open(&self.root_keyring()?, app, &upstream.endpoint)
            .map_err(|_| ConfigError::CredentialUnusable { upstream: upstream.display_name() })?;
        let secret = secret.map(Rc::new);
        self.cache.secrets.put(key, self.now, secret.clone());
        Ok(secret)
    }
}
