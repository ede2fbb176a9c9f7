//! Manifests: relayed untouched by tag, verified against the digest when asked by digest.

use super::*;
use crate::reference::{Algorithm, Digest};

const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
const BODY: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;

fn digest(bytes: &[u8]) -> String {
    Digest::of_bytes(Algorithm::Sha256, bytes).to_string()
}

fn pull(mem: &Mem, reference: &str) -> Handled<Vec<u8>> {
    let lic = basic(&license("lic_1", "demo", "Globex", &[]));
    oneshot(mem, get(&format!("/v2/proxy/demo/local/demo/hello/manifests/{reference}")).auth(lic))
}

#[test]
fn by_tag_the_upstreams_answer_is_relayed_as_it_streams() {
    let mem = Mem::new().route(UPSTREAM, |_| manifest_answer(OCI, BODY));
    // With events on, an image manifest is read whole for its blob sizes (tests/events.rs).
    mem.events_bound.set(false);
    let h = pull(&mem, "1.0");
    assert!(matches!(h.reply, crate::service::reply::Reply::Relay { .. }), "{:?}", h.reply);
    assert_eq!(body(&h), BODY);
    assert_eq!(h.reply.header("content-type"), Some(OCI));
    assert_eq!(h.reply.header("docker-content-digest"), Some(digest(BODY).as_str()));
    let sent = mem.sent_to(UPSTREAM);
    assert_eq!(sent[0].url, "https://registry.test/v2/demo/hello/manifests/1.0");
    let accept = sent[0].headers.iter().find(|(n, _)| n == "accept").map(|(_, v)| v.as_str());
    assert_eq!(accept, Some(crate::upstream::DEFAULT_MANIFEST_ACCEPT), "clients without Accept get every type");
    let record = access_record(&h);
    assert_eq!((record["action"].as_str(), record["reference"].as_str()), (Some("manifest"), Some("1.0")));
    assert_eq!(record["bytes"].as_u64(), Some(BODY.len() as u64));
}

#[test]
fn by_digest_the_bytes_must_hash_to_the_digest() {
    let mem = Mem::new().route(UPSTREAM, |_| manifest_answer(OCI, BODY));
    let h = pull(&mem, &digest(BODY));
    assert_eq!(h.reply.status(), 200);
    assert_eq!(body(&h), BODY);
    assert_eq!(h.reply.header("docker-content-digest"), Some(digest(BODY).as_str()));
}

#[test]
fn a_substituted_manifest_is_refused_whatever_its_header_says() {
    let asked = digest(br#"{"schemaVersion":2,"layers":["the real one"]}"#);
    let lying_header = asked.clone();
    let mem = Mem::new().route(UPSTREAM, move |_| {
        (200, vec![("content-type", OCI.into()), ("docker-content-digest", lying_header.clone())], BODY.to_vec())
    });
    let h = pull(&mem, &asked);
    let (status, code, message, reason) = oci(&h);
    assert_eq!((status, code.as_str(), reason.as_str()), (502, "MANIFEST_INVALID", "upstream_content_invalid"));
    assert!(message.contains(&format!("hashes to {}", digest(BODY))), "{message}");
    assert!(body_text(&h).find("layers").is_none(), "no byte of the substitute reaches the client");
}

#[test]
fn content_that_is_not_a_manifest_is_refused_by_digest() {
    for (content_type, bytes) in [
        (OCI, b"<html>proxy login</html>".to_vec()),
        ("application/vnd.docker.distribution.manifest.v2+json", BODY.to_vec()),
    ] {
        let answer_bytes = bytes.clone();
        let mem = Mem::new()
            .route(UPSTREAM, move |_| (200, vec![("content-type", content_type.to_string())], answer_bytes.clone()));
        let (status, code, _, _) = oci(&pull(&mem, &digest(&bytes)));
        assert_eq!((status, code.as_str()), (502, "MANIFEST_INVALID"), "{content_type}");
    }
}

#[test]
fn a_head_by_digest_must_name_the_same_digest() {
    let other = digest(b"other");
    let mem = Mem::new().route(UPSTREAM, move |_| {
        (
            200,
            vec![
                ("content-type", OCI.into()),
                ("docker-content-digest", other.clone()),
                ("content-length", "90".into()),
            ],
            vec![],
        )
    });
    let lic = basic(&license("lic_1", "demo", "Globex", &[]));
    let path = format!("/v2/proxy/demo/local/demo/hello/manifests/{}", digest(BODY));
    let h = oneshot(&mem, get(&path).method("HEAD").auth(lic.clone()));
    assert_eq!(h.reply.status(), 502);
    let mem = Mem::new()
        .route(UPSTREAM, |_| (200, vec![("content-type", OCI.into()), ("content-length", "90".into())], vec![]));
    let h = oneshot(&mem, get(&path).method("HEAD").auth(lic));
    assert_eq!(h.reply.status(), 200);
    assert_eq!(h.reply.header("content-length"), Some("90"), "HEAD keeps the length");
    assert_eq!(h.reply.header("docker-content-digest"), Some(digest(BODY).as_str()));
    assert_eq!(access_record(&h)["bytes"], 0);
}

#[test]
fn oversized_manifests_are_refused() {
    let mem = Mem::new().route(UPSTREAM, |_| {
        (200, vec![("content-type", OCI.into()), ("content-length", (5 << 20).to_string())], vec![])
    });
    assert_eq!(oci(&pull(&mem, "1.0")).0, 502);
    // Without a length, the read itself is bounded.
    let mem = Mem::new().route(UPSTREAM, |_| (200, vec![("content-type", OCI.into())], vec![b' '; (4 << 20) + 1]));
    assert_eq!(oci(&pull(&mem, "1.0")).0, 502);
}

#[test]
fn upstream_answers_map_to_client_errors() {
    for (status, want_status, want_code) in
        [(404, 404, "MANIFEST_UNKNOWN"), (302, 403, "DENIED"), (401, 403, "DENIED"), (500, 502, "UNAVAILABLE")]
    {
        let mem =
            Mem::new().route(UPSTREAM, move |_| (status, vec![("location", "https://elsewhere.test/".into())], vec![]));
        let (got_status, code, _, _) = oci(&pull(&mem, "1.0"));
        assert_eq!((got_status, code.as_str()), (want_status, want_code), "upstream {status}");
    }
}

#[test]
fn conditional_requests_pass_through() {
    let mem = Mem::new().route(UPSTREAM, |req| {
        let etag = req.headers.iter().find(|(n, _)| n == "if-none-match").map(|(_, v)| v.clone());
        assert_eq!(etag.as_deref(), Some("\"abc\""));
        (304, vec![("etag", "\"abc\"".into())], vec![])
    });
    let mut req = get("/v2/proxy/demo/local/demo/hello/manifests/1.0").auth(basic(&license("lic_1", "demo", "G", &[])));
    req.if_none_match = Some("\"abc\"".into());
    let h = oneshot(&mem, req);
    assert_eq!(h.reply.status(), 304);
    assert_eq!(h.reply.header("etag"), Some("\"abc\""));
}
