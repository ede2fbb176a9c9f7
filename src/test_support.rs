//! Test doubles shared by the library's unit tests: a scripted upstream `Transport` and a
//! `block_on` for futures whose I/O is all in memory.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::store::{AppRecord, BlobMode, CredentialKind, CredentialRecord, Secret, UpstreamRecord};
use crate::upstream::{Head, Request, Transport, TransportError};

/// The clock `Scripted` starts at (2027-01-15), far from any edge of i64 arithmetic.
pub(crate) const SCRIPTED_EPOCH: i64 = 1_800_000_000;

/// Runs a future whose I/O is all in memory to completion.
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// One scripted upstream answer: any status, headers (names as given) and body bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Self {
        Reply { status, ..Reply::default() }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub(crate) fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// The short form most tests write: `(status, [(name, value)], body)`.
impl From<(u16, Vec<(&'static str, String)>, String)> for Reply {
    fn from((status, headers, body): (u16, Vec<(&'static str, String)>, String)) -> Self {
        Reply {
            status,
            headers: headers.into_iter().map(|(n, v)| (n.to_string(), v)).collect(),
            body: body.into_bytes(),
        }
    }
}

type Handler = Box<dyn Fn(&Request) -> Result<Reply, TransportError>>;

/// Answers each request with the first handler whose URL prefix matches (a request no route
/// matches fails as a connection error), records every request sent, and has a settable clock.
pub(crate) struct Scripted {
    routes: Vec<(String, Handler)>,
    sent: RefCell<Vec<Request>>,
    now: Cell<i64>,
}

impl Default for Scripted {
    fn default() -> Self {
        Scripted::new()
    }
}

impl Scripted {
    pub(crate) fn new() -> Self {
        Scripted { routes: vec![], sent: RefCell::new(vec![]), now: Cell::new(SCRIPTED_EPOCH) }
    }

    /// Adds a route answering requests whose URL starts with `prefix`.
    pub(crate) fn route<R: Into<Reply>>(
        mut self,
        prefix: impl Into<String>,
        handler: impl Fn(&Request) -> R + 'static,
    ) -> Self {
        self.routes.push((prefix.into(), Box::new(move |r| Ok(handler(r).into()))));
        self
    }

    /// Adds a route that fails at the network level (timeout, unreachable, too large).
    pub(crate) fn route_failing(mut self, prefix: impl Into<String>, error: TransportError) -> Self {
        self.routes.push((prefix.into(), Box::new(move |_| Err(error.clone()))));
        self
    }

    /// Every request sent, in order.
    pub(crate) fn sent(&self) -> Vec<Request> {
        self.sent.borrow().clone()
    }

    /// The requests sent to URLs starting with `prefix`, in order.
    pub(crate) fn sent_to(&self, prefix: &str) -> Vec<Request> {
        self.sent.borrow().iter().filter(|r| r.url.starts_with(prefix)).cloned().collect()
    }

    pub(crate) fn set_now(&self, now: i64) {
        self.now.set(now);
    }

    pub(crate) fn advance(&self, seconds: i64) {
        self.now.set(self.now.get() + seconds);
    }
}

impl Transport for Scripted {
    type Body = Vec<u8>;

    async fn send(&self, req: Request) -> Result<(Head, Vec<u8>), TransportError> {
        self.sent.borrow_mut().push(req.clone());
        let Some((_, handler)) = self.routes.iter().find(|(prefix, _)| req.url.starts_with(prefix.as_str())) else {
            return Err(TransportError::Connect(format!("no route for {}", req.url)));
        };
        let reply = handler(&req)?;
        Ok((Head { status: reply.status, headers: reply.headers }, reply.body))
    }

    async fn read(&self, body: Vec<u8>, limit: usize) -> Result<Vec<u8>, TransportError> {
        if body.len() > limit {
            return Err(TransportError::TooLarge);
        }
        Ok(body)
    }

    fn now(&self) -> i64 {
        self.now.get()
    }
}

/// The `Authorization` a request carried, if any.
pub(crate) fn authorization_of(req: &Request) -> Option<String> {
    req.headers.iter().find(|(n, _)| n == "authorization").map(|(_, v)| v.clone())
}

/// An upstream record with no alias, repository patterns or stored credential.
pub(crate) fn upstream_record(endpoint: &str, kind: CredentialKind) -> UpstreamRecord {
    UpstreamRecord {
        endpoint: endpoint.into(),
        alias: None,
        repos: vec![],
        credential: CredentialRecord { kind, identity: None, sealed: None },
        insecure: false,
        auth_endpoint: None,
        realm_hosts: vec![],
        hosted: false,
    }
}

/// An app in redirect mode with these upstreams.
pub(crate) fn app_record(slug: &str, upstreams: Vec<UpstreamRecord>) -> AppRecord {
    AppRecord {
        v: 1,
        slug: slug.into(),
        name: slug.into(),
        blob_mode: BlobMode::Redirect,
        created_at: 0,
        upstreams,
        hosted_quota: None,
    }
}

/// The vendor's username and password; `BASIC_VENDOR` is its `Authorization` value.
pub(crate) fn vendor_password() -> Secret {
    Secret::Password { username: "vendor".into(), password: "s3cret".into() }
}

pub(crate) const BASIC_VENDOR: &str = "Basic dmVuZG9yOnMzY3JldA==";

/// A manifest GET on `base` (scheme and host).
pub(crate) fn manifest_request(base: &str) -> Request {
    Request::new("GET", format!("{base}/v2/acme/app/manifests/1.0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_prefix_answers_and_every_request_is_recorded() {
        let t = Scripted::new()
            .route("https://a.example/v2/x", |_| Reply::status(201).header("Location", "/y").body(vec![0, 255]))
            .route("https://a.example/", |_| (404, vec![("content-type", "text/plain".to_string())], "no".into()));
        let (head, body) = block_on(t.send(Request::new("GET", "https://a.example/v2/x/1"))).unwrap();
        assert_eq!((head.status, head.header("location"), body), (201, Some("/y"), vec![0, 255]));
        let (head, _) = block_on(t.send(Request::new("GET", "https://a.example/other"))).unwrap();
        assert_eq!(head.status, 404);
        assert_eq!(t.sent().len(), 2);
        assert_eq!(t.sent_to("https://a.example/v2/").len(), 1);
    }

    #[test]
    fn unrouted_and_failing_routes_fail_at_the_network_level() {
        let t = Scripted::new().route_failing("https://slow.example/", TransportError::Timeout);
        assert_eq!(block_on(t.send(Request::new("GET", "https://slow.example/x"))), Err(TransportError::Timeout));
        assert!(matches!(
            block_on(t.send(Request::new("GET", "https://none.example/"))),
            Err(TransportError::Connect(_))
        ));
    }

    #[test]
    fn the_clock_is_settable_and_reads_honour_the_limit() {
        let t = Scripted::new();
        assert_eq!(t.now(), SCRIPTED_EPOCH);
        t.advance(5);
        assert_eq!(t.now(), SCRIPTED_EPOCH + 5);
        t.set_now(7);
        assert_eq!(t.now(), 7);
        assert_eq!(block_on(t.read(vec![1, 2, 3], 2)), Err(TransportError::TooLarge));
        assert_eq!(block_on(t.read(vec![1, 2], 2)), Ok(vec![1, 2]));
    }
}
