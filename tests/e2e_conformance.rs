//! End to end: the pull half of the OCI distribution-spec conformance suite (the read-only mode
//! of opencontainers/distribution-spec `conformance/`, reimplemented because its Go toolchain
//! cannot be built here), run against the edge with a license, as a Go `net/http` client would:
//! the auth dance from the challenge, then every demo image's manifests and blobs by tag and by
//! digest, tag listing, and the 404s for what does not exist.

mod common;

use common::*;

/// A client that authenticates the way the conformance suite's `getAuthHeader` does: read the
/// challenge, ask its realm for `service` and `scope` with Basic credentials, take `token`.
struct Client {
    base: String,
    license: String,
}

impl Client {
    fn new() -> Client {
        Client { base: dev().url, license: env("PULLGATE_LICENSE") }
    }

    fn authorization(&self, name: &str) -> String {
        let probe = get(&format!("{}/v2/{name}/tags/list", self.base), &[]);
        assert_eq!(probe.status, 401, "an anonymous request is challenged: {}", probe.text());
        let (scheme, params) = parse_challenge(probe.header("www-authenticate").expect("WWW-Authenticate"));
        assert_eq!(scheme, "bearer");
        let scope = params.get("scope").cloned().unwrap_or_default();
        assert_eq!(scope, format!("repository:{name}:pull"), "the challenge names the scope");
        let realm = params.get("realm").expect("realm");
        let url = format!("{realm}?service={}&scope={scope}", params.get("service").expect("service"));
        let r = get(&url, &[("authorization", &basic_auth("conformance", &self.license))]);
        assert_eq!(r.status, 200, "token: {}", r.text());
        let v = r.json();
        let token = v["token"].as_str().or(v["access_token"].as_str()).expect("token");
        format!("Bearer {token}")
    }

    fn send(&self, method: &str, name: &str, tail: &str, auth: &str) -> Resp {
        request(method, &format!("{}/v2/{name}/{tail}", self.base), &[("authorization", auth), ("accept", ACCEPT_ALL)])
    }
}

fn error_code(r: &Resp) -> String {
    r.json()["errors"][0]["code"].as_str().unwrap_or_default().to_string()
}

/// 200 with the expected digest, media type and length; GET bodies hash to the digest.
fn assert_manifest(r: &Resp, method: &str, digest: &str, media_type: &str, size: u64) {
    assert_eq!(r.status, 200, "{method} manifest {digest}: {}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest), "{method} {digest}");
    assert_eq!(r.header("content-type"), Some(media_type), "{method} {digest}");
    assert_eq!(r.header("content-length").and_then(|v| v.parse().ok()), Some(size), "{method} {digest}");
    if method == "GET" {
        assert_eq!(r.digest(), digest, "GET body of {digest}");
    } else {
        assert!(r.body.is_empty(), "HEAD has no body");
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn pull_workflow_for_every_demo_image() {
    let c = Client::new();
    let d = dev();
    for image in d.demo_images() {
        let name = format!("proxy/demo/local/{}", image.repo);
        let auth = c.authorization(&name);
        // Manifests by tag and by digest, HEAD and GET, and each child of an index by digest.
        let mut manifests = vec![(image.tag.clone(), image.digest.clone(), image.media_type.clone(), image.size)];
        manifests.push((image.digest.clone(), image.digest.clone(), image.media_type.clone(), image.size));
        for (digest, media_type, _) in &image.children {
            let head = c.send("HEAD", &name, &format!("manifests/{digest}"), &auth);
            let size = head.header("content-length").and_then(|v| v.parse().ok()).expect("child length");
            manifests.push((digest.clone(), digest.clone(), media_type.clone(), size));
        }
        for (reference, digest, media_type, size) in &manifests {
            for method in ["HEAD", "GET"] {
                let r = c.send(method, &name, &format!("manifests/{reference}"), &auth);
                assert_manifest(&r, method, digest, media_type, *size);
            }
        }
        // Blobs: HEAD answers at the edge; GET redirects, and the redirect is followed without
        // credentials, as Go drops Authorization across hosts.
        for (digest, size) in &image.blobs {
            let head = c.send("HEAD", &name, &format!("blobs/{digest}"), &auth);
            assert_eq!(head.status, 200, "HEAD blob {digest}");
            assert_eq!(head.header("content-length").and_then(|v| v.parse().ok()), Some(*size), "{digest}");
            let r = c.send("GET", &name, &format!("blobs/{digest}"), &auth);
            let body = match r.status {
                200 => r,
                307 => get(r.header("location").expect("Location"), &[]),
                other => panic!("GET blob {digest}: {other} {}", r.text()),
            };
            assert_eq!(body.status, 200, "blob {digest} at its location");
            assert_eq!(body.digest(), *digest, "blob bytes");
        }
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn tag_listing_honours_n_and_last() {
    let c = Client::new();
    let name = "proxy/demo/local/demo/hello";
    let auth = c.authorization(name);
    let all = c.send("GET", name, "tags/list", &auth);
    assert_eq!(all.status, 200);
    let tags: Vec<String> = serde_json::from_value(all.json()["tags"].clone()).expect("tags");
    assert!(tags.len() >= 2, "the check needs two tags: {tags:?}");
    let mut sorted = tags.clone();
    sorted.sort();
    assert_eq!(tags, sorted, "tags are in lexical order");
    let first = c.send("GET", name, "tags/list?n=1", &auth);
    assert_eq!(first.json()["tags"], serde_json::json!([tags[0]]));
    let rest = c.send("GET", name, &format!("tags/list?last={}", tags[0]), &auth);
    assert_eq!(rest.json()["tags"], serde_json::json!(tags[1..]));
    let none = c.send("GET", name, "tags/list?n=0", &auth);
    assert_eq!(none.status, 200);
    assert_eq!(none.json()["tags"], serde_json::json!([]));
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn what_does_not_exist_is_404_with_its_code() {
    let c = Client::new();
    let name = "proxy/demo/local/demo/hello";
    let auth = c.authorization(name);
    let random_digest = sha256_digest(format!("conformance {:?}", std::time::SystemTime::now()).as_bytes());
    let cases = [
        ("GET", format!("manifests/{random_digest}"), "MANIFEST_UNKNOWN"),
        ("GET", "manifests/no-such-tag-3f9a".to_string(), "MANIFEST_UNKNOWN"),
        ("GET", format!("blobs/{random_digest}"), "BLOB_UNKNOWN"),
        ("HEAD", format!("manifests/{random_digest}"), ""),
        ("HEAD", "manifests/no-such-tag-3f9a".to_string(), ""),
        ("HEAD", format!("blobs/{random_digest}"), ""),
        // The suite's `.INVALID_MANIFEST_NAME`: a tag that cannot exist is not found, not invalid.
        ("GET", "manifests/.INVALID_MANIFEST_NAME".to_string(), "MANIFEST_UNKNOWN"),
        ("HEAD", "manifests/.INVALID_MANIFEST_NAME".to_string(), ""),
    ];
    for (method, tail, code) in cases {
        let r = c.send(method, name, &tail, &auth);
        assert_eq!(r.status, 404, "{method} {tail}: {}", r.text());
        if method == "GET" {
            assert_eq!(error_code(&r), code, "{method} {tail}: {}", r.text());
        } else {
            assert!(r.body.is_empty(), "HEAD {tail} has no body");
        }
    }
    // A repository the upstream does not have.
    let missing = "proxy/demo/local/demo/no-such-repo";
    let auth = c.authorization(missing);
    let r = c.send("GET", missing, "tags/list", &auth);
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(error_code(&r), "NAME_UNKNOWN", "{}", r.text());
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn referrers_follow_the_upstream_so_clients_can_fall_back() {
    // The demo upstream (distribution 2.8) has no referrers API: the spec's answer is 404, on
    // which clients fall back to the `sha256-<hex>` tag schema, served like any tag. Inventing
    // an empty index here would hide referrers pushed by that schema.
    let c = Client::new();
    let d = dev();
    let image = d.image("demo/hello", "1.0");
    let name = "proxy/demo/local/demo/hello";
    let auth = c.authorization(name);
    let direct = get(&format!("{}/v2/demo/hello/referrers/{}", d.upstream, image.digest), &[]);
    assert_eq!(direct.status, 404, "the demo upstream has no referrers API");
    let r = c.send("GET", name, &format!("referrers/{}", image.digest), &auth);
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(error_code(&r), "UNSUPPORTED", "{}", r.text());
    assert!(r.text().contains("referrers API"), "{}", r.text());
    let fallback_tag = image.digest.replace(':', "-");
    let r = c.send("GET", name, &format!("manifests/{fallback_tag}"), &auth);
    assert_eq!(r.status, 404, "no referrers pushed by tag schema either: {}", r.text());
    assert_eq!(error_code(&r), "MANIFEST_UNKNOWN");
}
