//! End to end: the OCI distribution-spec conformance suite (opencontainers/distribution-spec
//! `conformance/`, reimplemented because its Go toolchain cannot be built here), as a Go
//! `net/http` client would run it, with the auth dance from the challenge. The pull workflow with
//! a license on the proxied demo images: manifests and blobs by tag and by digest, tag listing,
//! the 404s for what does not exist. The push, content-discovery and content-management workflows
//! on the hosted registry with a push token: uploads every way, mounts, manifests by tag and by
//! digest, tag pages, referrers, deletes and the 404s after them.

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

// The push, content-discovery and content-management workflows (`OCI_TEST_PUSH`,
// `OCI_TEST_CONTENT_DISCOVERY`, `OCI_TEST_CONTENT_MANAGEMENT`) against the hosted registry, with
// a push token that may delete, authenticated from the challenge as above.

/// A conformance client for one hosted repository, holding a token for pull, push and delete.
struct Pusher {
    base: String,
    name: String,
    auth: String,
}

impl Pusher {
    fn new(repo: &str) -> Pusher {
        let base = dev().url;
        let name = format!("proxy/demo/hosted/conformance/{repo}");
        // The challenge of an anonymous upload names the push scope.
        let probe = request("POST", &format!("{base}/v2/{name}/blobs/uploads/"), &[]);
        assert_eq!(probe.status, 401, "an anonymous upload is challenged: {}", probe.text());
        let (scheme, params) = parse_challenge(probe.header("www-authenticate").expect("WWW-Authenticate"));
        assert_eq!(scheme, "bearer");
        assert_eq!(params.get("scope").map(String::as_str), Some(format!("repository:{name}:pull,push").as_str()));
        let scope = format!("repository:{name}:pull,push,delete");
        let auth = bearer_token(&base, &[&scope], &env("PULLGATE_PUSH_TOKEN_DELETE"));
        Pusher { base, name, auth }
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.name)
    }

    /// `Location` of an answer as a URL, with `query` appended.
    fn location(&self, r: &Resp, query: &str) -> String {
        let location = r.header("location").unwrap_or_else(|| panic!("no Location: {} {}", r.status, r.text()));
        let url = if location.starts_with('/') { format!("{}{location}", self.base) } else { location.to_string() };
        match (query.is_empty(), url.contains('?')) {
            (true, _) => url,
            (false, true) => format!("{url}&{query}"),
            (false, false) => format!("{url}?{query}"),
        }
    }

    fn send(&self, method: &str, url: &str, extra: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut headers = vec![("authorization", self.auth.as_str()), ("accept", ACCEPT_ALL)];
        headers.extend_from_slice(extra);
        request_with_body(method, url, &headers, body)
    }

    fn at(&self, method: &str, tail: &str) -> Resp {
        self.send(method, &self.url(tail), &[], b"")
    }

    /// POST to open a session: 202 with a Location.
    fn open(&self) -> Resp {
        let r = self.at("POST", "blobs/uploads/");
        assert_eq!(r.status, 202, "POST blobs/uploads/: {}", r.text());
        assert!(r.header("location").is_some(), "a session has a Location");
        r
    }

    fn put_manifest(&self, reference: &str, manifest: &serde_json::Value) -> Resp {
        let media_type = manifest["mediaType"].as_str().expect("mediaType").to_string();
        let bytes = serde_json::to_vec(manifest).unwrap();
        self.send("PUT", &self.url(&format!("manifests/{reference}")), &[("content-type", &media_type)], &bytes)
    }

    /// 201 for a blob closed as `digest`, then GET gives the bytes back.
    fn assert_blob(&self, r: &Resp, digest: &str, bytes: &[u8]) {
        assert_eq!(r.status, 201, "upload of {digest}: {}", r.text());
        assert_eq!(r.header("docker-content-digest"), Some(digest));
        assert!(r.header("location").is_some_and(|l| l.ends_with(&format!("/blobs/{digest}"))), "{:?}", r.headers);
        let got = self.at("GET", &format!("blobs/{digest}"));
        assert_eq!(got.status, 200, "GET blob {digest}: {}", got.text());
        assert_eq!(got.body, bytes, "blob {digest}");
        let head = self.at("HEAD", &format!("blobs/{digest}"));
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-length"), Some(bytes.len().to_string().as_str()));
    }

    /// Pushes a config and a layer and returns an image manifest naming them.
    fn image(&self, label: &str) -> serde_json::Value {
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"conformance\":\"{label}\"}}");
        let layer = format!("conformance layer {label}");
        let mut descriptors = Vec::new();
        for bytes in [config.as_bytes(), layer.as_bytes()] {
            let digest = sha256_digest(bytes);
            let r = self.send("POST", &self.url(&format!("blobs/uploads/?digest={digest}")), &[], bytes);
            self.assert_blob(&r, &digest, bytes);
            descriptors.push((digest, bytes.len()));
        }
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": descriptors[0].0, "size": descriptors[0].1},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": descriptors[1].0, "size": descriptors[1].1}],
        })
    }
}

fn manifest_digest(manifest: &serde_json::Value) -> String {
    sha256_digest(&serde_json::to_vec(manifest).unwrap())
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn push_workflow_uploads_blobs_every_way_and_manifests_by_tag_and_digest() {
    let repo = unique("push");
    let p = Pusher::new(&repo);
    // POST then PUT with the whole blob (monolithic in two requests).
    let bytes = noise("post-put", 1234);
    let digest = sha256_digest(&bytes);
    let r = p.open();
    assert_eq!(r.header("range"), Some("0-0"));
    let r = p.send(
        "PUT",
        &p.location(&r, &format!("digest={digest}")),
        &[("content-type", "application/octet-stream")],
        &bytes,
    );
    p.assert_blob(&r, &digest, &bytes);
    // A single POST with ?digest=.
    let bytes = noise("single-post", 777);
    let digest = sha256_digest(&bytes);
    let r = p.send("POST", &p.url(&format!("blobs/uploads/?digest={digest}")), &[], &bytes);
    p.assert_blob(&r, &digest, &bytes);
    // Streamed: one PATCH without Content-Range, then PUT with no body.
    let bytes = noise("streamed", 4000);
    let digest = sha256_digest(&bytes);
    let session = p.open();
    let r = p.send("PATCH", &p.location(&session, ""), &[("content-type", "application/octet-stream")], &bytes);
    assert_eq!(r.status, 202, "streamed PATCH: {}", r.text());
    assert_eq!(r.header("range"), Some("0-3999"));
    let r = p.send("PUT", &p.location(&r, &format!("digest={digest}")), &[], b"");
    p.assert_blob(&r, &digest, &bytes);
    // Chunked, in chunks of the advertised minimum (and a short last one); status between them;
    // an out-of-order chunk is 416.
    let session = p.open();
    let min: usize = session.header("oci-chunk-min-length").and_then(|v| v.parse().ok()).expect("OCI-Chunk-Min-Length");
    let bytes = noise("chunked", 2 * min + 321);
    let digest = sha256_digest(&bytes);
    let mut r = session;
    for (i, chunk) in bytes.chunks(min).enumerate() {
        let start = i * min;
        let range = format!("{start}-{}", start + chunk.len() - 1);
        if i == 1 {
            let wrong = format!("{}-{}", start + 1, start + chunk.len());
            let refused = p.send("PATCH", &p.location(&r, ""), &[("content-range", &wrong)], chunk);
            assert_eq!(refused.status, 416, "out-of-order chunk: {}", refused.text());
            assert_eq!(refused.header("range"), Some(format!("0-{}", start - 1).as_str()));
        }
        r = p.send(
            "PATCH",
            &p.location(&r, ""),
            &[("content-type", "application/octet-stream"), ("content-range", &range)],
            chunk,
        );
        assert_eq!(r.status, 202, "chunk {i}: {}", r.text());
        assert_eq!(r.header("range"), Some(format!("0-{}", start + chunk.len() - 1).as_str()));
        let status = p.send("GET", &p.location(&r, ""), &[], b"");
        assert_eq!(status.status, 204, "upload status: {}", status.text());
        assert_eq!(status.header("range"), r.header("range"));
    }
    let r = p.send("PUT", &p.location(&r, &format!("digest={digest}")), &[], b"");
    p.assert_blob(&r, &digest, &bytes);
    // Cross-repository mount from another repository of the app.
    let from = Pusher::new(&format!("{repo}-mount-source"));
    let bytes = noise("mounted", 999);
    let digest = sha256_digest(&bytes);
    let r = from.send("POST", &from.url(&format!("blobs/uploads/?digest={digest}")), &[], &bytes);
    from.assert_blob(&r, &digest, &bytes);
    let mounter = Pusher {
        auth: bearer_token(
            &p.base,
            &[&format!("repository:{}:pull,push", p.name), &format!("repository:{}:pull", from.name)],
            &env("PULLGATE_PUSH_TOKEN_DELETE"),
        ),
        ..Pusher::new(&repo)
    };
    assert_eq!(mounter.at("HEAD", &format!("blobs/{digest}")).status, 404, "not linked before the mount");
    let r = mounter.at("POST", &format!("blobs/uploads/?mount={digest}&from={}", from.name));
    mounter.assert_blob(&r, &digest, &bytes);
    // Manifests: by tag (201, Location, Docker-Content-Digest), by digest, and with no layers.
    let manifest = p.image("push");
    let digest = manifest_digest(&manifest);
    let r = p.put_manifest("tagged", &manifest);
    assert_eq!(r.status, 201, "PUT by tag: {}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.header("location"), Some(format!("/v2/{}/manifests/{digest}", p.name).as_str()));
    let r = p.put_manifest(&digest, &manifest);
    assert_eq!(r.status, 201, "PUT by digest: {}", r.text());
    let mut no_layers = p.image("no-layers");
    no_layers["layers"] = serde_json::json!([]);
    let r = p.put_manifest("no-layers", &no_layers);
    assert_eq!(r.status, 201, "a manifest without layers: {}", r.text());
    for (reference, want) in [("tagged", &manifest), (digest.as_str(), &manifest), ("no-layers", &no_layers)] {
        let size = serde_json::to_vec(want).unwrap().len() as u64;
        for method in ["HEAD", "GET"] {
            let r = p.at(method, &format!("manifests/{reference}"));
            assert_manifest(&r, method, &manifest_digest(want), "application/vnd.oci.image.manifest.v1+json", size);
        }
    }
    // A customer pulls it with a license, as the pull workflow does.
    let c = Client::new();
    let auth = c.authorization(&p.name);
    let r = c.send("GET", &p.name, "manifests/tagged", &auth);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.digest(), digest);
    // A manifest with a digest reference that does not match its bytes is refused.
    let wrong = sha256_digest(b"not this manifest");
    let r = p.put_manifest(&wrong, &manifest);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(error_code(&r), "DIGEST_INVALID");
    assert_eq!(p.at("GET", "manifests/never-pushed").status, 404);
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn content_discovery_lists_tags_in_pages_and_referrers_by_artifact_type() {
    let p = Pusher::new("discovery");
    let manifest = p.image("discovery");
    let subject = manifest_digest(&manifest);
    let mut tags: Vec<String> = (0..4).map(|i| format!("t{i}")).collect();
    tags.push("latest".into());
    for tag in &tags {
        assert_eq!(p.put_manifest(tag, &manifest).status, 201);
    }
    tags.sort();
    let all = p.at("GET", "tags/list");
    assert_eq!(all.status, 200, "{}", all.text());
    assert_eq!(all.json()["name"], p.name.as_str());
    assert_eq!(all.json()["tags"], serde_json::json!(tags));
    let first = p.at("GET", "tags/list?n=2");
    assert_eq!(first.json()["tags"], serde_json::json!(tags[..2]));
    let next = first.header("link").expect("Link header on a partial page");
    let next = next.trim_start_matches('<').split('>').next().unwrap();
    let second = p.send("GET", &format!("{}{next}", p.base), &[], b"");
    assert_eq!(second.json()["tags"], serde_json::json!(tags[2..4]));
    let rest = p.at("GET", &format!("tags/list?last={}", tags[1]));
    assert_eq!(rest.json()["tags"], serde_json::json!(tags[2..]));
    assert_eq!(p.at("GET", "tags/list?n=0").json()["tags"], serde_json::json!([]));
    // Referrers: two artifacts with the subject, one filtered out by artifactType.
    let subject_size = serde_json::to_vec(&manifest).unwrap().len();
    let empty = sha256_digest(b"{}");
    let r = p.send("POST", &p.url(&format!("blobs/uploads/?digest={empty}")), &[], b"{}");
    p.assert_blob(&r, &empty, b"{}");
    let mut artifacts = Vec::new();
    for artifact_type in ["application/vnd.conformance.one", "application/vnd.conformance.two"] {
        let artifact = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": subject_size},
        });
        let digest = manifest_digest(&artifact);
        let r = p.put_manifest(&digest, &artifact);
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.header("oci-subject"), Some(subject.as_str()));
        artifacts.push(digest);
    }
    let r = p.at("GET", &format!("referrers/{subject}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/vnd.oci.image.index.v1+json"));
    let index = r.json();
    assert_eq!(index["schemaVersion"], 2);
    let mut listed: Vec<String> =
        index["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap().to_string()).collect();
    listed.sort();
    let mut want = artifacts.clone();
    want.sort();
    assert_eq!(listed, want);
    let r = p.at("GET", &format!("referrers/{subject}?artifactType=application/vnd.conformance.one"));
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let only = r.json()["manifests"].as_array().cloned().unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["digest"], artifacts[0].as_str());
    assert_eq!(only[0]["artifactType"], "application/vnd.conformance.one");
    let r = p.at("GET", &format!("referrers/{}", sha256_digest(b"no subject")));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["manifests"], serde_json::json!([]));
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn content_management_deletes_tags_manifests_blobs_and_uploads() {
    let p = Pusher::new("management");
    let manifest = p.image("management");
    let digest = manifest_digest(&manifest);
    for tag in ["keep", "drop"] {
        assert_eq!(p.put_manifest(tag, &manifest).status, 201);
    }
    // A tag delete removes the tag only.
    assert_eq!(p.at("DELETE", "manifests/drop").status, 202);
    assert_eq!(p.at("GET", "manifests/drop").status, 404);
    assert_eq!(p.at("GET", "manifests/keep").status, 200);
    assert_eq!(p.at("GET", "tags/list").json()["tags"], serde_json::json!(["keep"]));
    // A manifest delete by digest: 202, then 404 by digest and by its tag; a second delete is 404.
    assert_eq!(p.at("DELETE", &format!("manifests/{digest}")).status, 202);
    for reference in [digest.as_str(), "keep"] {
        let r = p.at("GET", &format!("manifests/{reference}"));
        assert_eq!(r.status, 404, "{reference} after delete: {}", r.text());
        assert_eq!(error_code(&r), "MANIFEST_UNKNOWN");
    }
    let r = p.at("DELETE", &format!("manifests/{digest}"));
    assert_eq!(r.status, 404);
    assert_eq!(error_code(&r), "MANIFEST_UNKNOWN");
    // Blob deletes: 202, then 404 (GET and HEAD), and 404 again on a second delete.
    for descriptor in [&manifest["config"], &manifest["layers"][0]] {
        let blob = descriptor["digest"].as_str().unwrap();
        assert_eq!(p.at("DELETE", &format!("blobs/{blob}")).status, 202);
        let r = p.at("GET", &format!("blobs/{blob}"));
        assert_eq!(r.status, 404);
        assert_eq!(error_code(&r), "BLOB_UNKNOWN");
        assert_eq!(p.at("HEAD", &format!("blobs/{blob}")).status, 404);
        assert_eq!(p.at("DELETE", &format!("blobs/{blob}")).status, 404);
    }
    // An upload session cancelled: 204, then its status is 404 BLOB_UPLOAD_UNKNOWN.
    let session = p.open();
    let url = p.location(&session, "");
    assert_eq!(p.send("DELETE", &url, &[], b"").status, 204);
    let r = p.send("GET", &url, &[], b"");
    assert_eq!(r.status, 404);
    assert_eq!(error_code(&r), "BLOB_UPLOAD_UNKNOWN");
}
