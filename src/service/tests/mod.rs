//! Native tests of the core, in the style of axum's `oneshot`: a request goes through
//! `service::handle` against an in-memory runtime (KV map, counting limiters, a map for the blob
//! cache, a scripted upstream), and the answer is checked. No Worker, no network.

mod authorization;
mod blobs;
mod config;
mod events;
mod expiry;
mod hosted;
mod manifests;
mod objects;
mod sign_in;
mod tags;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use serde_json::Value;

use crate::keys::{KeyRecord, KeyState, KeysetRecord, RootSecret, SigningKey, ROOT_SECRET_NAME};
use crate::license;
use crate::store::{self, AppRecord, BlobMode, DomainRecord, RevocationRecord, UpstreamRecord};
use crate::test_support::{block_on, Reply, Scripted};
use crate::throttle::{Limit, Limiter};
use crate::upstream::{Head, Request, Transport, TransportError};

use super::config::{ConfigSource, StoreUnavailable};
use super::request::Incoming;
use super::{handle, BlobLookup, Handled, Isolate};

/// 2027-01-15T08:00:00Z: every test runs at this instant unless it moves the clock.
pub const NOW: i64 = 1_800_000_000;
pub const DEFAULT_HOST: &str = "pullgate.test";
pub const DEMO_DOMAIN: &str = "images.demo.test";
pub const UPSTREAM: &str = "https://registry.test";

/// An upstream answer: status, headers, body.
pub type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

/// The runtime in memory.
pub struct Mem {
    pub kv: RefCell<HashMap<String, String>>,
    /// When set, every KV read fails as an outage would.
    pub kv_down: Cell<bool>,
    pub vars: RefCell<HashMap<&'static str, String>>,
    pub secrets: HashMap<&'static str, String>,
    /// Hits per (limit, key), and the limit each allows per window.
    pub hits: RefCell<HashMap<(String, String), u32>>,
    pub sign_in_limit: u32,
    pub token_limit: u32,
    pub cache: RefCell<HashMap<String, Answer>>,
    /// The vendor's registry (and its CDN); its clock is the request's clock.
    pub upstream: Scripted,
    /// The hosted registry's bucket.
    pub bucket: objects::Bucket,
    /// Whether the event queue is bound, and the ids handed out so far.
    pub events_bound: Cell<bool>,
    pub ids: Cell<u8>,
}

impl Mem {
    /// Two apps (`demo`, bound to `images.demo.test`, and `other`), one signing key, and an upstream
    /// that answers nothing until routes are added.
    pub fn new() -> Self {
        let mem = Mem {
            kv: RefCell::default(),
            kv_down: Cell::new(false),
            vars: RefCell::new(HashMap::from([
                ("DEFAULT_HOSTS", DEFAULT_HOST.to_string()),
                ("ACCESS_LOG", "true".into()),
            ])),
            secrets: HashMap::from([(ROOT_SECRET_NAME, root().to_hex())]),
            hits: RefCell::default(),
            sign_in_limit: 3,
            token_limit: 5,
            cache: RefCell::default(),
            upstream: Scripted::new(),
            bucket: objects::Bucket::default(),
            events_bound: Cell::new(true),
            ids: Cell::new(0),
        };
        mem.upstream.set_now(NOW);
        let nonce = [1u8; 24];
        let keyset = KeysetRecord {
            keys: vec![KeyRecord {
                kid: "k1".into(),
                state: KeyState::Active,
                created_at: NOW - 86_400,
                secret: root().seal(&KeysetRecord::seal_context("k1"), &KEY_SECRET, nonce),
            }],
        };
        mem.put(store::KEYSET_KEY, &keyset);
        mem.put(&store::app_key("demo"), &app("demo", BlobMode::Redirect));
        mem.put(&store::app_key("other"), &app("other", BlobMode::Redirect));
        mem.put(
            &store::domain_key(DEMO_DOMAIN),
            &DomainRecord { v: 1, host: DEMO_DOMAIN.into(), app: "demo".into(), created_at: 0 },
        );
        mem
    }

    /// Answers upstream requests whose URL starts with `prefix` (the first matching route wins).
    pub fn route(mut self, prefix: &str, h: impl Fn(&Request) -> Answer + 'static) -> Self {
        self.upstream = self.upstream.route(prefix, move |r| {
            let (status, headers, body) = h(r);
            Reply { status, headers: headers.into_iter().map(|(n, v)| (n.to_string(), v)).collect(), body }
        });
        self
    }

    pub fn put<T: serde::Serialize>(&self, key: &str, value: &T) {
        self.kv.borrow_mut().insert(key.to_string(), serde_json::to_string(value).unwrap());
    }

    pub fn revoke(&self, license_id: &str, at: i64) {
        self.put(
            &store::revocation_key(license_id),
            &RevocationRecord { v: 1, id: license_id.into(), revoked_at: at, reason: None },
        );
    }

    pub fn sent_to(&self, prefix: &str) -> Vec<Request> {
        self.upstream.sent_to(prefix)
    }

    /// Moves the clock.
    pub fn set_now(&self, now: i64) {
        self.upstream.set_now(now);
    }
}

impl Transport for Mem {
    type Body = Vec<u8>;

    /// Keeps only `READ_HEADERS`, as the Worker's transport does, so a header read anywhere but
    /// not copied by the Worker fails here too.
    async fn send(&self, req: Request) -> Result<(Head, Vec<u8>), TransportError> {
        let (mut head, body) = self.upstream.send(req).await?;
        head.headers.retain(|(name, _)| crate::upstream::READ_HEADERS.contains(&name.to_ascii_lowercase().as_str()));
        Ok((head, body))
    }

    async fn read(&self, body: Vec<u8>, limit: usize) -> Result<Vec<u8>, TransportError> {
        self.upstream.read(body, limit).await
    }

    fn now(&self) -> i64 {
        self.upstream.now()
    }
}

impl ConfigSource for Mem {
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreUnavailable> {
        if self.kv_down.get() {
            return Err(StoreUnavailable { detail: "network connection lost".into() });
        }
        Ok(self.kv.borrow().get(key).cloned())
    }

    fn var(&self, name: &str) -> Option<String> {
        self.vars.borrow().get(name).cloned()
    }

    fn secret(&self, name: &str) -> Option<String> {
        self.secrets.get(name).cloned()
    }
}

impl Limiter for Mem {
    async fn within_limit(&self, limit: Limit, key: &str) -> bool {
        let mut hits = self.hits.borrow_mut();
        let n = hits.entry((limit.binding().to_string(), key.to_string())).or_default();
        *n += 1;
        *n <= match limit {
            Limit::SignInFailures => self.sign_in_limit,
            Limit::TokenIssuance => self.token_limit,
        }
    }
}

impl BlobLookup for Mem {
    async fn cached_blob(&self, key: &str, _range: Option<&str>) -> Option<(Head, Vec<u8>)> {
        let (status, headers, body) = self.cache.borrow().get(key).cloned()?;
        Some((Head { status, headers: headers.into_iter().map(|(n, v)| (n.to_string(), v)).collect() }, body))
    }
}

impl super::EventSink for Mem {
    fn events_bound(&self) -> bool {
        self.events_bound.get()
    }

    /// Distinct ids, in order: `[1; 16]`, `[2; 16]`, …
    fn random_id(&self) -> Option<[u8; 16]> {
        self.ids.set(self.ids.get().checked_add(1)?);
        Some([self.ids.get(); 16])
    }
}

const KEY_SECRET: [u8; 32] = [9; 32];

pub fn root() -> RootSecret {
    RootSecret::from_bytes([7; 32])
}

pub fn signing_key() -> SigningKey {
    SigningKey::from_secret("k1", KeyState::Active, &KEY_SECRET)
}

pub fn upstream_record(endpoint: &str, alias: &str) -> UpstreamRecord {
    UpstreamRecord { alias: Some(alias.into()), ..crate::test_support::upstream_record(endpoint, Default::default()) }
}

/// The app's hosted registry, under the alias `hosted`.
pub fn hosted_upstream() -> UpstreamRecord {
    UpstreamRecord { hosted: true, ..upstream_record(crate::store::HOSTED_ENDPOINT, "hosted") }
}

pub fn app(slug: &str, blob_mode: BlobMode) -> AppRecord {
    AppRecord {
        v: 1,
        slug: slug.into(),
        name: slug.into(),
        blob_mode,
        created_at: 0,
        upstreams: vec![upstream_record(UPSTREAM, "local"), hosted_upstream()],
        hosted_quota: None,
    }
}

/// A license for `app`, valid for 30 days, limited to `images` (empty: every image).
pub fn license(id: &str, app: &str, customer: &str, images: &[&str]) -> String {
    license_until(id, app, customer, images, NOW + 30 * 86_400)
}

pub fn license_until(id: &str, app: &str, customer: &str, images: &[&str], expires_at: i64) -> String {
    let claims = license::Claims {
        id: id.into(),
        app: app.into(),
        customer: customer.into(),
        issued_at: NOW - 86_400,
        expires_at,
        images: images.iter().map(|s| s.to_string()).collect(),
    };
    license::issue(&claims, &signing_key())
}

/// A request as the edge would hand it over.
pub fn get(path: &str) -> Incoming {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path.to_string(), None),
    };
    Incoming {
        method: "GET".into(),
        path,
        query,
        scheme: "https".into(),
        host: DEFAULT_HOST.into(),
        ..Incoming::default()
    }
}

pub fn basic(password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("x:{password}")))
}

/// Builder steps on a request.
pub trait With {
    fn on(self, host: &str) -> Self;
    fn auth(self, value: String) -> Self;
    fn client_ip(self, ip: &str) -> Self;
    fn method(self, m: &str) -> Self;
}

impl With for Incoming {
    fn on(mut self, host: &str) -> Self {
        self.host = host.into();
        self
    }
    fn auth(mut self, value: String) -> Self {
        self.authorization = Some(value);
        self
    }
    fn client_ip(mut self, ip: &str) -> Self {
        self.client_ip = Some(ip.into());
        self
    }
    fn method(mut self, m: &str) -> Self {
        self.method = m.into();
        self
    }
}

/// Sends one request through the core with a fresh isolate.
pub fn oneshot(mem: &Mem, req: Incoming) -> Handled<Vec<u8>> {
    block_on(handle(mem, &Isolate::default(), req))
}

/// Sends one request through the core on a long-lived isolate.
pub fn send(mem: &Mem, isolate: &Isolate, req: Incoming) -> Handled<Vec<u8>> {
    block_on(handle(mem, isolate, req))
}

/// A bearer token from the token endpoint for `license` and `scope` on `host`.
pub fn token_for(mem: &Mem, isolate: &Isolate, host: &str, license: &str, scope: &str) -> String {
    let h = send(mem, isolate, get(&format!("/v2/token?scope={scope}")).on(host).auth(basic(license)));
    assert_eq!(h.reply.status(), 200, "token: {}", body_text(&h));
    json(&h)["token"].as_str().unwrap().to_string()
}

pub fn body(h: &Handled<Vec<u8>>) -> &[u8] {
    match &h.reply {
        super::reply::Reply::Fixed { body, .. } | super::reply::Reply::Relay { body, .. } => body,
        super::reply::Reply::Empty { .. } => &[],
    }
}

pub fn body_text(h: &Handled<Vec<u8>>) -> String {
    String::from_utf8_lossy(body(h)).into_owned()
}

pub fn json(h: &Handled<Vec<u8>>) -> Value {
    serde_json::from_slice(body(h)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", body_text(h)))
}

/// Status, OCI code, message and `detail.reason` of an error answer.
pub fn oci(h: &Handled<Vec<u8>>) -> (u16, String, String, String) {
    let v = json(h);
    let e = &v["errors"][0];
    (
        h.reply.status(),
        e["code"].as_str().unwrap_or_default().to_string(),
        e["message"].as_str().unwrap_or_default().to_string(),
        e["detail"]["reason"].as_str().unwrap_or_default().to_string(),
    )
}

/// The access record the core logged.
pub fn access_record(h: &Handled<Vec<u8>>) -> Value {
    h.logs
        .iter()
        .find_map(|l| match l {
            super::LogLine::Access(line) => Some(serde_json::from_str(line).unwrap()),
            _ => None,
        })
        .expect("an access record")
}

/// A manifest upstream answer for `body`.
pub fn manifest_answer(media_type: &str, body: &[u8]) -> Answer {
    let digest = crate::reference::Digest::of_bytes(crate::reference::Algorithm::Sha256, body).to_string();
    (
        200,
        vec![
            ("content-type", media_type.to_string()),
            ("docker-content-digest", digest),
            ("content-length", body.len().to_string()),
        ],
        body.to_vec(),
    )
}

#[test]
fn every_relayed_header_is_one_the_transport_reads() {
    use crate::upstream::READ_HEADERS;
    let relayed = [
        &super::manifests::MANIFEST_HEADERS[..],
        &super::blobs::BLOB_HEADERS[..],
        &super::referrers::REFERRERS_HEADERS[..],
    ];
    for name in relayed.concat() {
        assert!(READ_HEADERS.contains(&name), "{name} is relayed but the Worker's transport does not copy it");
    }
}
