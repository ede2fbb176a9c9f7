//! End to end: the hosted registry (R2 under `wrangler dev`). skopeo pushes demo images into it
//! with a push token and pulls them back with a license (skopeo and ctr, default host and custom
//! domain, digests unchanged); raw HTTP checks the push API's edges: mount, chunk ranges, digest
//! and blob checks, tag pages, referrers, deletes, the body limit, and who may not push or read.

mod common;

use common::containerd::{containerd, ctr};
use common::*;
use serde_json::{json, Value};

/// The demo stack, with the hosted registry's credentials and the two ways to name it.
struct Hosted {
    dev: Dev,
    license: String,
    push: String,
    port: String,
}

fn hosted() -> Hosted {
    let dev = dev();
    let port = dev.authority.rsplit(':').next().expect("edge port").to_string();
    Hosted { license: env("PULLGATE_LICENSE"), push: env("PULLGATE_PUSH_TOKEN"), port, dev }
}

impl Hosted {
    /// `proxy/demo/hosted/<repo>`, the name on the default host.
    fn name(&self, repo: &str) -> String {
        format!("proxy/demo/hosted/{repo}")
    }

    /// The demo upstream as skopeo names it (`127.0.0.1:<port>`).
    fn upstream(&self) -> String {
        self.dev.upstream.trim_start_matches("http://").to_string()
    }

    /// A Bearer token from the token endpoint for `actions` on `name`, signed in with `secret`.
    fn token(&self, name: &str, actions: &str, secret: &str) -> String {
        bearer_token(&self.dev.url, &[&format!("repository:{name}:{actions}")], secret)
    }

    fn url(&self, name: &str, tail: &str) -> String {
        format!("{}/v2/{name}/{tail}", self.dev.url)
    }

    /// An upload's `Location` (a path) as a URL, with `query` appended.
    fn location(&self, r: &Resp, query: &str) -> String {
        let location = r.header("location").unwrap_or_else(|| panic!("no Location: {} {}", r.status, r.text()));
        let url =
            if location.starts_with("http") { location.to_string() } else { format!("{}{location}", self.dev.url) };
        match (query.is_empty(), url.contains('?')) {
            (true, _) => url,
            (false, true) => format!("{url}&{query}"),
            (false, false) => format!("{url}?{query}"),
        }
    }

    /// `POST /v2/<name>/blobs/uploads/` with no body (a session, unless refused).
    fn post_upload(&self, name: &str, auth: &str) -> Resp {
        request_with_body("POST", &self.url(name, "blobs/uploads/"), &[("authorization", auth)], b"")
    }

    /// Pushes `bytes` as a blob of `name` in one `POST ?digest=`; returns its digest.
    fn push_blob(&self, auth: &str, name: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let r = request_with_body(
            "POST",
            &self.url(name, &format!("blobs/uploads/?digest={digest}")),
            &[("authorization", auth), ("content-type", "application/octet-stream")],
            bytes,
        );
        assert_eq!(r.status, 201, "monolithic upload of {digest} to {name}: {}", r.text());
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        digest
    }

    fn put_manifest(&self, auth: &str, name: &str, reference: &str, manifest: &Value) -> Resp {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let media_type = manifest["mediaType"].as_str().unwrap_or("application/vnd.oci.image.manifest.v1+json");
        request_with_body(
            "PUT",
            &self.url(name, &format!("manifests/{reference}")),
            &[("authorization", auth), ("content-type", media_type)],
            &bytes,
        )
    }

    /// A small OCI image (config and one layer, pushed first) tagged `tag`; returns its digest.
    fn push_small_image(&self, auth: &str, name: &str, tag: &str, label: &str) -> String {
        let manifest = self.small_manifest(auth, name, label);
        let r = self.put_manifest(auth, name, tag, &manifest);
        assert_eq!(r.status, 201, "PUT manifest {name}:{tag}: {}", r.text());
        r.header("docker-content-digest").expect("Docker-Content-Digest").to_string()
    }

    /// Pushes the blobs of a small OCI image and returns its manifest (not pushed).
    fn small_manifest(&self, auth: &str, name: &str, label: &str) -> Value {
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"label\":\"{label}\"}}");
        let layer = format!("layer of {label}");
        let config_digest = self.push_blob(auth, name, config.as_bytes());
        let layer_digest = self.push_blob(auth, name, layer.as_bytes());
        oci_manifest(&config_digest, config.len(), &[(&layer_digest, layer.len())])
    }

    /// A GET (or HEAD) with the demo license's token for pulling `name`.
    fn pull(&self, method: &str, name: &str, tail: &str) -> Resp {
        let auth = self.token(name, "pull", &self.license);
        request(method, &self.url(name, tail), &[("authorization", &auth), ("accept", ACCEPT_ALL)])
    }
}

fn oci_manifest(config: &str, config_size: usize, layers: &[(&str, usize)]) -> Value {
    let layers: Vec<Value> = layers
        .iter()
        .map(|(d, n)| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n}))
        .collect();
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": layers,
    })
}

fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "want {status} {code}: {}", r.text());
    assert_eq!(error_code(r), code, "{}", r.text());
}

/// The images the issue names: an OCI image, an OCI index of two platforms, a Docker schema2 image.
const KINDS: [&str; 3] = ["demo/hello", "demo/multi", "demo/legacy"];

/// skopeo copies `repo:1.0` from the demo upstream to `dest` with `creds`, digests preserved.
fn skopeo_push(h: &Hosted, repo: &str, dest: &str, creds: &str) -> (bool, String) {
    skopeo_try(&[
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        &format!("docker://{}/{repo}:1.0", h.upstream()),
        &format!("docker://{dest}"),
    ])
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn skopeo_pushes_each_kind_and_pulls_it_back_with_a_license_on_both_hosts() {
    let h = hosted();
    let push_creds = format!("ci:{}", h.push);
    let license_creds = format!("customer:{}", h.license);
    let default_host = (h.dev.authority.clone(), "proxy/demo/hosted/e2e/default".to_string());
    let custom_domain = (format!("localhost:{}", h.port), "hosted/e2e/domain".to_string());
    for (host, prefix) in [default_host, custom_domain] {
        for repo in KINDS {
            let image = h.dev.image(repo, "1.0");
            let dest = format!("{host}/{prefix}/{repo}:1.0");
            let (ok, text) = skopeo_push(&h, repo, &dest, &push_creds);
            assert!(ok, "skopeo push to {dest}: {text}");
            let (digest, has_blob) = skopeo_pull(&dest, &license_creds, &image.media_type, image.is_index());
            assert_eq!(digest, image.digest, "{dest}: the pulled manifest is the pushed one");
            if image.is_oci() || !image.is_index() {
                for (blob, _) in &image.blobs {
                    assert!(has_blob(blob), "{dest}: blob {blob} missing or corrupt");
                }
            }
        }
    }
    // One registry behind two hosts: what was pushed on the custom domain pulls by its long name.
    let image = h.dev.image("demo/multi", "1.0");
    let long = format!("{}/proxy/demo/hosted/e2e/domain/demo/multi:1.0", h.dev.authority);
    let (digest, _) = skopeo_pull(&long, &license_creds, &image.media_type, true);
    assert_eq!(digest, image.digest);
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn ctr_pulls_pushed_images_with_a_license_on_both_hosts() {
    let h = hosted();
    let push_creds = format!("ci:{}", h.push);
    let user = format!("x:{}", h.license);
    let daemon = containerd(&temp_dir("containerd-hosted"));
    for (repo, dest) in [
        ("demo/multi", format!("{}/proxy/demo/hosted/e2e/ctr/multi:1.0", h.dev.authority)),
        ("demo/legacy", format!("localhost:{}/hosted/e2e/ctr/legacy:1.0", h.port)),
    ] {
        let image = h.dev.image(repo, "1.0");
        let (ok, text) = skopeo_push(&h, repo, &dest, &push_creds);
        assert!(ok, "skopeo push to {dest}: {text}");
        let (ok, text) = ctr(&daemon, &["content", "fetch", "--all-platforms", "--plain-http", "--user", &user, &dest]);
        assert!(ok, "ctr content fetch {dest}: {text}");
        let (_, listed) = ctr(&daemon, &["content", "ls", "-q"]);
        assert!(listed.contains(&image.digest), "{dest}: manifest {} not fetched:\n{listed}", image.digest);
        for (child, _, _) in &image.children {
            assert!(listed.contains(child.as_str()), "{dest}: child {child} not fetched:\n{listed}");
        }
        for (blob, _) in &image.blobs {
            assert!(listed.contains(blob.as_str()), "{dest}: blob {blob} not fetched:\n{listed}");
        }
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_blob_is_served_only_where_pushed_or_mounted() {
    let h = hosted();
    let run = unique("run");
    let (from, to) = (h.name(&format!("e2e/mount/{run}/source")), h.name(&format!("e2e/mount/{run}/target")));
    let auth = bearer_token(
        &h.dev.url,
        &[&format!("repository:{from}:pull,push"), &format!("repository:{to}:pull,push")],
        &h.push,
    );
    let bytes = noise("mount", 4096);
    let digest = h.push_blob(&auth, &from, &bytes);
    // Stored once for the app, but the target repository does not link it yet.
    assert_error(&h.pull("GET", &to, &format!("blobs/{digest}")), 404, "BLOB_UNKNOWN");
    // A mount from a repository that lacks the blob starts an ordinary session instead.
    let missing = sha256_digest(b"nowhere");
    let r = request(
        "POST",
        &h.url(&to, &format!("blobs/uploads/?mount={missing}&from={from}")),
        &[("authorization", &auth)],
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(r.header("location").is_some_and(|l| l.contains("/blobs/uploads/")), "{:?}", r.headers);
    let r = request(
        "POST",
        &h.url(&to, &format!("blobs/uploads/?mount={digest}&from={from}")),
        &[("authorization", &auth)],
    );
    assert_eq!(r.status, 201, "mount: {}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.header("location"), Some(format!("/v2/{to}/blobs/{digest}").as_str()));
    let got = h.pull("GET", &to, &format!("blobs/{digest}"));
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.body, bytes);
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn chunked_upload_refuses_a_wrong_content_range_with_416_and_the_range_to_resume() {
    let h = hosted();
    let name = h.name("e2e/chunked");
    let auth = h.token(&name, "pull,push", &h.push);
    let min_chunk = 5 * 1024 * 1024;
    let bytes = noise("chunked", min_chunk + 1000);
    let digest = sha256_digest(&bytes);
    let (first, rest) = bytes.split_at(min_chunk);

    let r = h.post_upload(&name, &auth);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("range"), Some("0-0"));
    assert_eq!(r.header("oci-chunk-min-length"), Some(min_chunk.to_string().as_str()), "the chunk rule is advertised");
    let session = h.location(&r, "");
    let patch = |body: &[u8], range: &str| {
        request_with_body(
            "PATCH",
            &session,
            &[("authorization", &auth), ("content-type", "application/octet-stream"), ("content-range", range)],
            body,
        )
    };
    let r = patch(first, &format!("0-{}", min_chunk - 1));
    assert_eq!(r.status, 202, "{}", r.text());
    let resume = format!("0-{}", min_chunk - 1);
    assert_eq!(r.header("range"), Some(resume.as_str()));
    // The second chunk sent as if it started at 0: refused, with where the upload stands.
    let r = patch(rest, &format!("0-{}", rest.len() - 1));
    assert_error(&r, 416, "BLOB_UPLOAD_INVALID");
    assert_eq!(r.header("range"), Some(resume.as_str()), "416 says where to resume");
    assert!(error_message(&r).contains(&format!("at byte {min_chunk}")), "{}", r.text());
    let status = request("GET", &session, &[("authorization", &auth)]);
    assert_eq!(status.status, 204, "{}", status.text());
    assert_eq!(status.header("range"), Some(resume.as_str()), "the refused chunk changed nothing");
    // Resumed at the right offset, closed with the digest: the blob is whole.
    let r = patch(rest, &format!("{min_chunk}-{}", bytes.len() - 1));
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("range"), Some(format!("0-{}", bytes.len() - 1).as_str()));
    let r = request_with_body("PUT", &h.location(&r, &format!("digest={digest}")), &[("authorization", &auth)], b"");
    assert_eq!(r.status, 201, "close: {}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    let got = h.pull("GET", &name, &format!("blobs/{digest}"));
    assert_eq!(got.status, 200);
    assert_eq!(got.digest(), digest, "the assembled blob");
    let ranged = request(
        "GET",
        &h.url(&name, &format!("blobs/{digest}")),
        &[("authorization", &h.token(&name, "pull", &h.license)), ("range", &format!("bytes={}-", min_chunk - 10))],
    );
    assert_eq!(ranged.status, 206, "{}", ranged.text());
    assert_eq!(ranged.body, bytes[min_chunk - 10..], "a Range across the part boundary");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_wrong_digest_on_close_is_digest_invalid_and_stores_nothing() {
    let h = hosted();
    let name = h.name("e2e/wrong-digest");
    let auth = h.token(&name, "pull,push", &h.push);
    let bytes = b"the bytes actually sent";
    let claimed = sha256_digest(b"something else");
    let r = h.post_upload(&name, &auth);
    assert_eq!(r.status, 202, "{}", r.text());
    let session = h.location(&r, "");
    let r = request_with_body(
        "PATCH",
        &session,
        &[("authorization", &auth), ("content-range", &format!("0-{}", bytes.len() - 1))],
        bytes,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let r = request_with_body("PUT", &h.location(&r, &format!("digest={claimed}")), &[("authorization", &auth)], b"");
    assert_error(&r, 400, "DIGEST_INVALID");
    assert!(error_message(&r).contains(&sha256_digest(bytes)), "names what was uploaded: {}", r.text());
    assert_error(&request("GET", &session, &[("authorization", &auth)]), 404, "BLOB_UPLOAD_UNKNOWN");
    for digest in [&claimed, &sha256_digest(bytes)] {
        assert_error(&h.pull("GET", &name, &format!("blobs/{digest}")), 404, "BLOB_UNKNOWN");
    }
    // Monolithic, the same.
    let r = request_with_body(
        "POST",
        &h.url(&name, &format!("blobs/uploads/?digest={claimed}")),
        &[("authorization", &auth)],
        bytes,
    );
    assert_error(&r, 400, "DIGEST_INVALID");
    assert_error(&h.pull("GET", &name, &format!("blobs/{claimed}")), 404, "BLOB_UNKNOWN");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_manifest_naming_a_missing_blob_is_refused_and_tags_nothing() {
    let h = hosted();
    let name = h.name(&format!("e2e/missing-blob/{}", unique("run")));
    let auth = h.token(&name, "pull,push", &h.push);
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_digest = h.push_blob(&auth, &name, config);
    let layer = noise("missing-blob layer", 2048);
    let layer_digest = sha256_digest(&layer);
    let manifest = oci_manifest(&config_digest, config.len(), &[(&layer_digest, layer.len())]);
    let r = h.put_manifest(&auth, &name, "v1", &manifest);
    assert_error(&r, 400, "MANIFEST_BLOB_UNKNOWN");
    assert!(error_message(&r).contains(&layer_digest), "names the missing blob: {}", r.text());
    assert_error(&h.pull("GET", &name, "manifests/v1"), 404, "MANIFEST_UNKNOWN");
    // An index naming a child manifest the repository lacks: refused the same way.
    let child = sha256_digest(b"no such child manifest");
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": child, "size": 10}]});
    assert_error(&h.put_manifest(&auth, &name, "index", &index), 400, "MANIFEST_BLOB_UNKNOWN");
    // With the layer pushed, the same manifest goes in and is pulled back as sent.
    h.push_blob(&auth, &name, &layer);
    let r = h.put_manifest(&auth, &name, "v1", &manifest);
    assert_eq!(r.status, 201, "{}", r.text());
    let digest = sha256_digest(&serde_json::to_vec(&manifest).unwrap());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.header("location"), Some(format!("/v2/{name}/manifests/{digest}").as_str()));
    let got = h.pull("GET", &name, "manifests/v1");
    assert_eq!(got.status, 200);
    assert_eq!(got.digest(), digest);
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn tag_lists_page_with_n_and_last() {
    let h = hosted();
    let name = h.name("e2e/tags");
    let auth = h.token(&name, "pull,push", &h.push);
    let digest = h.push_small_image(&auth, &name, "v3", "tags");
    let manifest = h.pull("GET", &name, &format!("manifests/{digest}"));
    assert_eq!(manifest.status, 200);
    let manifest: Value = manifest.json();
    for tag in ["v1", "v5", "v2", "v4"] {
        let r = h.put_manifest(&auth, &name, tag, &manifest);
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let all = h.pull("GET", &name, "tags/list");
    assert_eq!(all.status, 200, "{}", all.text());
    assert_eq!(all.json(), json!({"name": name, "tags": ["v1", "v2", "v3", "v4", "v5"]}));
    let page = h.pull("GET", &name, "tags/list?n=2");
    assert_eq!(page.json()["tags"], json!(["v1", "v2"]));
    let link = page.header("link").expect("Link to the next page");
    assert_eq!(link, format!("</v2/{name}/tags/list?n=2&last=v2>; rel=\"next\""));
    let next = h.pull("GET", &name, "tags/list?n=2&last=v2");
    assert_eq!(next.json()["tags"], json!(["v3", "v4"]));
    let last = h.pull("GET", &name, "tags/list?n=2&last=v4");
    assert_eq!(last.json()["tags"], json!(["v5"]));
    assert_eq!(last.header("link"), None, "no page after the last");
    assert_eq!(h.pull("GET", &name, "tags/list?last=v3").json()["tags"], json!(["v4", "v5"]));
    assert_eq!(h.pull("GET", &name, "tags/list?n=0").json()["tags"], json!([]));
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn referrers_filter_by_artifact_type_and_the_put_names_its_subject() {
    let h = hosted();
    let name = h.name("e2e/referrers");
    let auth = h.token(&name, "pull,push", &h.push);
    let subject = h.push_small_image(&auth, &name, "v1", "referrers subject");
    let subject_size = h.pull("HEAD", &name, "manifests/v1").header("content-length").unwrap().parse::<u64>().unwrap();
    let empty = h.push_blob(&auth, &name, b"{}");
    let mut pushed = Vec::new();
    for (artifact_type, label) in [("application/vnd.e2e.sbom", "sbom"), ("application/vnd.e2e.signature", "sig")] {
        let layer = h.push_blob(&auth, &name, label.as_bytes());
        let artifact = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer, "size": label.len()}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": subject_size},
            "annotations": {"e2e": label},
        });
        let digest = sha256_digest(&serde_json::to_vec(&artifact).unwrap());
        let r = h.put_manifest(&auth, &name, &digest, &artifact);
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.header("oci-subject"), Some(subject.as_str()), "the PUT names its subject");
        pushed.push((artifact_type, digest));
    }
    let all = h.pull("GET", &name, &format!("referrers/{subject}"));
    assert_eq!(all.status, 200, "{}", all.text());
    assert_eq!(all.header("content-type"), Some("application/vnd.oci.image.index.v1+json"));
    let listed = all.json()["manifests"].as_array().cloned().expect("manifests[]");
    assert_eq!(listed.len(), 2, "{listed:?}");
    for (artifact_type, digest) in &pushed {
        let entry = listed.iter().find(|m| m["digest"] == *digest).unwrap_or_else(|| panic!("{digest}: {listed:?}"));
        assert_eq!(entry["artifactType"], *artifact_type);
        assert_eq!(entry["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    }
    let filtered = h.pull("GET", &name, &format!("referrers/{subject}?artifactType=application/vnd.e2e.sbom"));
    assert_eq!(filtered.status, 200);
    assert_eq!(filtered.header("oci-filters-applied"), Some("artifactType"));
    let only = filtered.json()["manifests"].as_array().cloned().unwrap();
    assert_eq!(only.len(), 1, "{only:?}");
    assert_eq!(only[0]["digest"], pushed[0].1);
    let none = h.pull("GET", &name, &format!("referrers/{}", sha256_digest(b"no referrers")));
    assert_eq!(none.status, 200, "{}", none.text());
    assert_eq!(none.json()["manifests"], json!([]));
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn manifests_tags_and_blobs_are_deleted_only_with_delete() {
    let h = hosted();
    let name = h.name("e2e/deletes");
    let pusher = h.token(&name, "pull,push,delete", &h.push);
    let digest = h.push_small_image(&pusher, &name, "v1", "deletes");
    let manifest: Value = h.pull("GET", &name, "manifests/v1").json();
    assert_eq!(h.put_manifest(&pusher, &name, "v2", &manifest).status, 201);
    // The demo push token was issued without --delete: the token it gets cannot delete.
    let r = request("DELETE", &h.url(&name, "manifests/v1"), &[("authorization", &pusher)]);
    assert_error(&r, 401, "UNAUTHORIZED");
    assert!(r.header("www-authenticate").is_some_and(|c| c.contains("insufficient_scope")), "{:?}", r.headers);
    let r = request("DELETE", &h.url(&name, "manifests/v1"), &[("authorization", &basic_auth("ci", &h.push))]);
    assert_error(&r, 403, "DENIED");
    assert_eq!(h.pull("GET", &name, "manifests/v1").status, 200, "still there");

    let deleter = h.token(&name, "pull,push,delete", &env("PULLGATE_PUSH_TOKEN_DELETE"));
    let delete = |tail: &str| request("DELETE", &h.url(&name, tail), &[("authorization", &deleter)]);
    // A tag: only the tag goes.
    assert_eq!(delete("manifests/v1").status, 202);
    assert_error(&h.pull("GET", &name, "manifests/v1"), 404, "MANIFEST_UNKNOWN");
    assert_eq!(h.pull("GET", &name, "manifests/v2").status, 200);
    assert_eq!(h.pull("GET", &name, "tags/list").json()["tags"], json!(["v2"]));
    // The manifest: it and every tag on it.
    assert_eq!(delete(&format!("manifests/{digest}")).status, 202);
    for reference in ["v2", digest.as_str()] {
        assert_error(&h.pull("GET", &name, &format!("manifests/{reference}")), 404, "MANIFEST_UNKNOWN");
    }
    assert_eq!(h.pull("GET", &name, "tags/list").json()["tags"], json!([]));
    assert_error(&delete(&format!("manifests/{digest}")), 404, "MANIFEST_UNKNOWN");
    assert_error(&delete("manifests/v2"), 404, "MANIFEST_UNKNOWN");
    // A blob: unlinked from the repository.
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_string();
    assert_eq!(h.pull("GET", &name, &format!("blobs/{layer}")).status, 200);
    assert_eq!(delete(&format!("blobs/{layer}")).status, 202);
    assert_error(&h.pull("GET", &name, &format!("blobs/{layer}")), 404, "BLOB_UNKNOWN");
    assert_error(&delete(&format!("blobs/{layer}")), 404, "BLOB_UNKNOWN");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_license_never_pushes() {
    let h = hosted();
    let dest = format!("{}/proxy/demo/hosted/e2e/license/hello:1.0", h.dev.authority);
    let (ok, text) = skopeo_push(&h, "demo/hello", &dest, &format!("customer:{}", h.license));
    assert!(!ok, "a license pushed: {text}");
    assert!(text.contains("a license pulls only"), "skopeo shows why: {text}");
    // Raw: as the Basic password, and as the token the license gets (which never carries push).
    let name = h.name("e2e/license/hello");
    let basic = basic_auth("customer", &h.license);
    let r = h.post_upload(&name, &basic);
    assert_error(&r, 403, "DENIED");
    assert!(error_message(&r).contains("push token"), "{}", r.text());
    let bearer = h.token(&name, "pull,push", &h.license);
    let r = h.post_upload(&name, &bearer);
    assert_error(&r, 403, "DENIED");
    assert_error(&h.pull("GET", &name, "manifests/1.0"), 404, "MANIFEST_UNKNOWN");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_push_token_stays_in_its_app_and_its_repositories() {
    let h = hosted();
    let other_token = env("PULLGATE_PUSH_TOKEN_OTHER");
    // Demo has an image; app other's push token can neither push next to it nor read it.
    let name = h.name("e2e/apps/image");
    let demo_auth = h.token(&name, "pull,push", &h.push);
    let digest = h.push_small_image(&demo_auth, &name, "v1", "apps");
    let r = h.post_upload(&name, &basic_auth("ci", &other_token));
    assert_error(&r, 403, "DENIED");
    assert!(error_message(&r).contains("for app other"), "{}", r.text());
    // As the Basic password on a pull (curl -u in CI): demo's token reads, other's does not.
    let basic_pull = |token: &str| {
        let auth = basic_auth("ci", token);
        request("GET", &h.url(&name, "manifests/v1"), &[("authorization", &auth), ("accept", ACCEPT_ALL)])
    };
    let r = basic_pull(&h.push);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.digest(), digest);
    let r = basic_pull(&other_token);
    assert_error(&r, 403, "DENIED");
    assert!(error_message(&r).contains("this push token is for app other, not demo"), "{}", r.text());
    let granted = token_answer(&h.dev.url, &[&format!("repository:{name}:pull,push")], "ci", &other_token);
    assert_eq!(granted.status, 200, "{}", granted.text());
    let bearer = format!("Bearer {}", granted.json()["token"].as_str().unwrap());
    for (method, tail) in
        [("POST", "blobs/uploads/".to_string()), ("GET", format!("manifests/{digest}")), ("GET", "tags/list".into())]
    {
        let r =
            request_with_body(method, &h.url(&name, &tail), &[("authorization", &bearer), ("accept", ACCEPT_ALL)], b"");
        assert_error(&r, 403, "DENIED");
        assert!(
            error_message(&r).contains("this push token is for app other, not demo"),
            "{method} {tail}: {}",
            r.text()
        );
    }
    let (ok, text) = skopeo_try(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &format!("ci:{other_token}"),
        &format!("docker://{}/{name}:v1", h.dev.authority),
    ]);
    assert!(!ok, "app other's push token read demo's image: {text}");
    // On demo's custom domain, app other's token does not sign in at all.
    let r = token_answer(
        &format!("http://localhost:{}", h.port),
        &["repository:hosted/e2e/apps/image:pull,push"],
        "ci",
        &other_token,
    );
    assert_error(&r, 401, "UNAUTHORIZED");
    // The same token pushes to its own app's hosted registry, so the refusals above are about the app.
    let own = "proxy/other/hosted/e2e/apps/image";
    let own_auth = h.token(own, "pull,push", &other_token);
    h.push_blob(&own_auth, own, b"other's own blob");
    // A token limited to `ci/*` pushes there and nowhere else in its app.
    let limited = env("PULLGATE_PUSH_TOKEN_LIMITED");
    let inside = h.name("ci/app");
    h.push_blob(&h.token(&inside, "pull,push", &limited), &inside, b"limited token's blob");
    let r = h.post_upload(&name, &basic_auth("ci", &limited));
    assert_error(&r, 403, "DENIED");
    assert!(error_message(&r).contains("does not cover"), "{}", r.text());
    let outside = h.token(&name, "pull,push", &limited);
    let r = h.post_upload(&name, &outside);
    assert_error(&r, 401, "UNAUTHORIZED");
}

/// The edge's `HOSTED_BODY_LIMIT`, as scripts/test passes it in `PULLGATE_EDGE_VARS`.
fn body_limit() -> usize {
    let vars = env("PULLGATE_EDGE_VARS");
    vars.split_whitespace()
        .find_map(|v| v.strip_prefix("HOSTED_BODY_LIMIT:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("PULLGATE_EDGE_VARS ({vars}) sets no HOSTED_BODY_LIMIT (scripts/test sets 8 MiB)"))
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_body_over_the_limit_is_413_size_invalid_with_what_to_do() {
    let h = hosted();
    let limit = body_limit();
    let largest = h.dev.demo_images().iter().flat_map(|i| i.blobs.clone()).map(|b| b.1).max().unwrap();
    assert!(largest < limit as u64, "a demo layer ({largest} bytes) is over the test's body limit {limit}");
    let name = h.name("e2e/too-big");
    let auth = h.token(&name, "pull,push", &h.push);
    let bytes = noise("too big", limit + 1);
    let digest = sha256_digest(&bytes);
    let check = |r: &Resp, what: &str| {
        assert_error(r, 413, "SIZE_INVALID");
        let message = error_message(r);
        for part in [format!("over this registry's limit of {limit} bytes"), "pullgate push".to_string()] {
            assert!(message.contains(&part), "{what}: {message}");
        }
    };
    let r = request_with_body(
        "POST",
        &h.url(&name, &format!("blobs/uploads/?digest={digest}")),
        &[("authorization", &auth)],
        &bytes,
    );
    check(&r, "monolithic POST");
    let r = h.post_upload(&name, &auth);
    assert_eq!(r.status, 202, "{}", r.text());
    let session = h.location(&r, "");
    check(&request_with_body("PATCH", &session, &[("authorization", &auth)], &bytes), "single PATCH");
    check(
        &request_with_body("PUT", &h.location(&r, &format!("digest={digest}")), &[("authorization", &auth)], &bytes),
        "PUT with the body",
    );
    let status = request("GET", &session, &[("authorization", &auth)]);
    assert_eq!(status.header("range"), Some("0-0"), "nothing was taken: {}", status.text());
    assert_error(&h.pull("GET", &name, &format!("blobs/{digest}")), 404, "BLOB_UNKNOWN");
    // skopeo sends a layer in one PATCH, as docker does: refused, and it shows why.
    let layout = oci_layout_with_layer(&bytes);
    let (ok, text) = skopeo_try(&[
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("ci:{}", h.push),
        &format!("oci:{}:big", layout.display()),
        &format!("docker://{}/{}:big", h.dev.authority, h.name("e2e/too-big/skopeo")),
    ]);
    assert!(!ok, "skopeo pushed a layer over the body limit: {text}");
    assert!(text.contains(&format!("over this registry's limit of {limit} bytes")), "{text}");
}

/// An OCI layout (tag `big`) of one image whose only layer is `layer`.
fn oci_layout_with_layer(layer: &[u8]) -> std::path::PathBuf {
    let dir = temp_dir("layout");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let write = |bytes: &[u8]| {
        let digest = sha256_digest(bytes);
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
        digest
    };
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let manifest = oci_manifest(&write(config), config.len(), &[(&write(layer), layer.len())]);
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": write(&manifest), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "big"}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    dir
}
