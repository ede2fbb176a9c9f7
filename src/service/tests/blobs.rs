//! Blobs: a redirect to the upstream's signed URL, or (stream mode) the bytes, from the blob
//! cache when it has them, looked up only after authorization.

use super::*;
use crate::keys::RootSecret;
use crate::store::{CredentialRecord, Secret};
use crate::upstream::Request;

const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const CDN: &str = "https://cdn.registry.test/blob?sig=abc";

fn blob_path() -> String {
    format!("/v2/proxy/demo/local/demo/hello/blobs/{DIGEST}")
}

fn lic() -> String {
    basic(&license("lic_1", "demo", "Globex", &[]))
}

/// The upstream redirects blob GETs to its CDN.
fn redirect_to_cdn(_: &Request) -> Answer {
    (307, vec![("location", CDN.to_string())], vec![])
}

/// The CDN serves the 5 bytes of the blob.
fn serve_bytes(_: &Request) -> Answer {
    (200, vec![("content-length", "5".into()), ("content-type", "application/octet-stream".into())], b"bytes".to_vec())
}

/// The demo app in `mode`, its upstream and the upstream's CDN.
fn with_cdn(
    mode: BlobMode,
    upstream: impl Fn(&Request) -> Answer + 'static,
    cdn: impl Fn(&Request) -> Answer + 'static,
) -> Mem {
    let mem = Mem::new().route(UPSTREAM, upstream).route("https://cdn.registry.test/", cdn);
    mem.put(&store::app_key("demo"), &app("demo", mode));
    mem
}

/// The demo app's upstream with a Basic credential, so tests can see where it is sent.
fn with_credential(mem: &Mem, mode: BlobMode) {
    let mut record = app("demo", mode);
    let secret =
        serde_json::to_vec(&Secret::Password { username: "vendor".into(), password: "s3cret".into() }).unwrap();
    let root: RootSecret = root();
    record.upstreams[0].credential = CredentialRecord {
        kind: store::CredentialKind::Basic,
        identity: Some("vendor".into()),
        sealed: Some(root.seal(&CredentialRecord::seal_context("demo", UPSTREAM), &secret, [2; 24])),
    };
    mem.put(&store::app_key("demo"), &record);
}

#[test]
fn redirect_mode_hands_the_client_the_signed_url() {
    let mem = with_cdn(BlobMode::Redirect, redirect_to_cdn, serve_bytes);
    let h = oneshot(&mem, get(&blob_path()).auth(lic()));
    assert_eq!(h.reply.status(), 307);
    assert_eq!(h.reply.header("location"), Some(CDN));
    assert_eq!(h.reply.header("cache-control"), Some("no-store"));
    assert!(mem.sent_to("https://cdn.registry.test/").is_empty(), "the edge does not fetch the bytes");
    assert_eq!(access_record(&h)["outcome"], "redirected");
    assert_eq!(access_record(&h)["bytes"], 0);
}

#[test]
fn stream_mode_follows_the_redirect_without_credentials_and_fills_the_cache() {
    // The upstream challenges, then redirects once it sees the credential.
    let upstream = |req: &Request| match req.headers.iter().any(|(n, _)| n == "authorization") {
        true => redirect_to_cdn(req),
        false => (401, vec![("www-authenticate", "Basic realm=\"registry\"".into())], vec![]),
    };
    let mem = with_cdn(BlobMode::Stream, upstream, serve_bytes);
    with_credential(&mem, BlobMode::Stream);
    let h = oneshot(&mem, get(&blob_path()).auth(lic()));
    assert_eq!(h.reply.status(), 200, "{}", body_text(&h));
    assert_eq!(body(&h), b"bytes");
    assert_eq!(h.reply.header("docker-content-digest"), Some(DIGEST), "the digest is named even when the CDN omits it");
    let cdn = mem.sent_to("https://cdn.registry.test/");
    assert_eq!(cdn.len(), 1);
    assert!(cdn[0].headers.iter().all(|(n, _)| n != "authorization"), "signed URLs never get the vendor's credential");
    let up = mem.sent_to(UPSTREAM);
    assert!(up.iter().any(|r| r.headers.iter().any(|(n, v)| n == "authorization" && v.starts_with("Basic "))));
    match &h.reply {
        crate::service::reply::Reply::Relay { fill_cache: Some((key, ttl)), .. } => {
            assert_eq!(
                key,
                &format!("https://pullgate.test/.pullgate-blob-cache/demo/registry.test/demo/hello/{DIGEST}")
            );
            assert_eq!(*ttl, 86_400);
        }
        other => panic!("expected a relay that fills the cache: {other:?}"),
    }
}

#[test]
fn the_cache_is_consulted_only_after_authorization() {
    let mem = with_cdn(BlobMode::Stream, redirect_to_cdn, serve_bytes);
    let key = format!("https://pullgate.test/.pullgate-blob-cache/demo/registry.test/demo/hello/{DIGEST}");
    mem.cache.borrow_mut().insert(key, (200, vec![("content-length", "6".into())], b"cached".to_vec()));
    mem.vars.borrow_mut().insert("DEBUG_HEADERS", "true".into());
    let h = oneshot(&mem, get(&blob_path()));
    assert_eq!(h.reply.status(), 401, "no bytes for an anonymous client, cached or not");
    let h = oneshot(&mem, get(&blob_path()).auth(lic()));
    assert_eq!(body(&h), b"cached");
    assert_eq!(h.reply.header("pullgate-cache"), Some("hit"));
    assert!(mem.upstream.sent().is_empty(), "a hit asks no upstream");
    // A license without this image gets no cached bytes either.
    let narrow = basic(&license("lic_2", "demo", "Initech", &["demo/other"]));
    assert_eq!(oneshot(&mem, get(&blob_path()).auth(narrow)).reply.status(), 403);
}

#[test]
fn ranges_are_passed_on_and_never_cached() {
    let mem = with_cdn(BlobMode::Stream, redirect_to_cdn, |req| {
        let range = req.headers.iter().find(|(n, _)| n == "range").map(|(_, v)| v.clone());
        assert_eq!(range.as_deref(), Some("bytes=1-2"));
        (206, vec![("content-range", "bytes 1-2/5".into()), ("content-length", "2".into())], b"yt".to_vec())
    });
    let mut req = get(&blob_path()).auth(lic());
    req.range = Some("bytes=1-2".into());
    let h = oneshot(&mem, req);
    assert_eq!(h.reply.status(), 206);
    assert_eq!(h.reply.header("content-range"), Some("bytes 1-2/5"));
    assert!(matches!(h.reply, crate::service::reply::Reply::Relay { fill_cache: None, .. }));
}

#[test]
fn head_is_answered_from_metadata() {
    let mem = Mem::new().route(UPSTREAM, |req| {
        assert_eq!(req.method, "HEAD");
        (200, vec![("content-length", "1234".into())], vec![])
    });
    let h = oneshot(&mem, get(&blob_path()).method("HEAD").auth(lic()));
    assert_eq!(h.reply.status(), 200);
    assert_eq!(h.reply.header("content-length"), Some("1234"));
    assert_eq!(h.reply.header("docker-content-digest"), Some(DIGEST));
}

#[test]
fn unsafe_redirects_are_refused() {
    for location in ["http://cdn.registry.test/x", "https://user:pw@cdn.registry.test/x", "https://127.0.0.1/x", ""] {
        let loc = location.to_string();
        let mem = Mem::new().route(UPSTREAM, move |_| (307, vec![("location", loc.clone())], vec![]));
        let h = oneshot(&mem, get(&blob_path()).auth(lic()));
        let (status, code, message, reason) = oci(&h);
        assert_eq!((status, code.as_str(), reason.as_str()), (403, "DENIED", "upstream_failed"), "{location}");
        assert!(message.contains("contact the vendor"), "{message}");
    }
}

#[test]
fn unknown_blobs_are_blob_unknown() {
    let mem = Mem::new().route(UPSTREAM, |_| (404, vec![], vec![]));
    let (status, code, _, _) = oci(&oneshot(&mem, get(&blob_path()).auth(lic())));
    assert_eq!((status, code.as_str()), (404, "BLOB_UNKNOWN"));
}
