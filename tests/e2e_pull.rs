//! End to end: customers pull through the real Worker (`wrangler dev`) from the demo upstreams
//! with skopeo and raw HTTP, and every refusal gets its status and OCI code.

mod common;

use common::*;

/// Demo app, its upstream alias for the open registry, and the license scripts/dev seeded.
struct Demo {
    dev: Dev,
    license: String,
}

fn demo() -> Demo {
    Demo { dev: dev(), license: env("PULLGATE_LICENSE") }
}

impl Demo {
    fn name(&self, upstream: &str, repo: &str) -> String {
        format!("proxy/demo/{upstream}/{repo}")
    }

    /// A bearer token from `/v2/token` for `scope` with `license`.
    fn token_for(&self, license: &str, names: &[&str]) -> String {
        let scopes: String = names.iter().map(|n| format!("&scope=repository:{n}:pull")).collect();
        let r = get(
            &format!("{}/v2/token?service=x{scopes}", self.dev.url),
            &[("authorization", &basic_auth("customer", license))],
        );
        assert_eq!(r.status, 200, "token: {}", r.text());
        let v = r.json();
        assert_eq!(v["token"], v["access_token"]);
        assert!(v["expires_in"].as_i64().unwrap() >= 60);
        assert!(v["issued_at"].as_str().unwrap().ends_with('Z'));
        v["token"].as_str().unwrap().to_string()
    }

    fn bearer(&self, names: &[&str]) -> String {
        format!("Bearer {}", self.token_for(&self.license, names))
    }

    fn creds(&self) -> String {
        format!("customer:{}", self.license)
    }
}

fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "body: {}", r.text());
    assert_eq!(error_code(r), code, "body: {}", r.text());
    assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"));
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn every_demo_image_pulls_through_the_default_host_with_upstream_digests() {
    let d = demo();
    for image in d.dev.demo_images() {
        let reference = format!("{}/{}:{}", d.dev.authority, d.name("local", &image.repo), image.tag);
        let (digest, has_blob) = skopeo_pull(&reference, &d.creds(), &image.media_type, image.is_index());
        assert_eq!(digest, image.digest, "{reference}");
        if image.is_oci() || !image.is_index() {
            for (blob, _) in &image.blobs {
                assert!(has_blob(blob), "{reference}: blob {blob} missing or corrupt");
            }
        }
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn index_children_pull_by_digest_and_through_the_custom_domain() {
    let d = demo();
    // `localhost` is bound to the demo app as a custom domain: short names work there.
    let port = d.dev.authority.rsplit(':').next().unwrap();
    for repo in ["demo/multi", "demo/legacy-list"] {
        let image = d.dev.image(repo, "1.0");
        let (child, child_type, platform) = &image.children[1];
        let reference = format!("localhost:{port}/local/{repo}@{child}");
        let (digest, _) = skopeo_pull(&reference, &d.creds(), child_type, false);
        assert_eq!(&digest, child, "{platform}");
        let long = format!("localhost:{port}/proxy/demo/local/{repo}:1.0");
        let (digest, _) = skopeo_pull(&long, &d.creds(), &image.media_type, true);
        assert_eq!(digest, image.digest);
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn manifests_are_relayed_untouched_with_headers_and_head() {
    let d = demo();
    let image = d.dev.image("demo/multi", "1.0");
    let name = d.name("local", "demo/multi");
    let auth = d.bearer(&[&name]);
    let url = format!("{}/v2/{name}/manifests/1.0", d.dev.url);
    let r = get(&url, &[("authorization", &auth), ("accept", ACCEPT_ALL)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.digest(), image.digest);
    assert_eq!(r.header("docker-content-digest"), Some(image.digest.as_str()));
    assert_eq!(r.header("content-type"), Some(image.media_type.as_str()));
    assert_eq!(r.header("content-length").map(|v| v.parse::<u64>().unwrap()), Some(image.size));
    let head = request("HEAD", &url, &[("authorization", &auth), ("accept", ACCEPT_ALL)]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("docker-content-digest"), Some(image.digest.as_str()));
    assert_eq!(head.header("content-type"), Some(image.media_type.as_str()));
    // Without Accept the edge asks for every type, so the index is still served as an index
    // (curl, since ureq always sends `Accept: */*`, which the edge relays as the client's choice).
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{content_type}", "-H", "Accept:", "-H"])
        .arg(format!("Authorization: {auth}"))
        .arg(&url)
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), image.media_type);
    // The same on the custom domain via its Host header, with the short name.
    let short = "local/demo/multi";
    let token = get(
        &format!("{}/v2/token?scope=repository:{short}:pull", d.dev.url),
        &[("host", &d.dev.host), ("authorization", &basic_auth("c", &d.license))],
    );
    assert_eq!(token.status, 200, "{}", token.text());
    let bearer = format!("Bearer {}", token.json()["token"].as_str().unwrap());
    let r = get(
        &format!("{}/v2/{short}/manifests/{}", d.dev.url, image.digest),
        &[("host", &d.dev.host), ("authorization", &bearer), ("accept", ACCEPT_ALL)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.digest(), image.digest);
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn blobs_redirect_to_the_cdn_and_head_answers_itself() {
    let d = demo();
    let image = d.dev.image("demo/big", "1.0");
    let (blob, size) = image.largest_blob();
    let name = d.name("local", "demo/big");
    let auth = d.bearer(&[&name]);
    let url = format!("{}/v2/{name}/blobs/{blob}", d.dev.url);
    let r = get(&url, &[("authorization", &auth)]);
    assert_eq!(r.status, 307, "{}", r.text());
    let location = r.header("location").unwrap().to_string();
    assert!(location.starts_with(&d.dev.cdn), "{location}");
    assert!(r.body.is_empty(), "no blob byte passes through the Worker in redirect mode");
    let bytes = get(&location, &[]);
    assert_eq!(bytes.digest(), blob);
    let head = request("HEAD", &url, &[("authorization", &auth)]);
    assert_eq!(head.status, 200);
    assert!(head.header("location").is_none(), "HEAD never redirects");
    assert_eq!(head.header("docker-content-digest"), Some(blob.as_str()));
    assert_eq!(head.header("content-length").map(|v| v.parse::<u64>().unwrap()), Some(size));
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn stream_mode_streams_blobs_with_ranges() {
    let d = demo();
    let image = d.dev.image("demo/big", "1.0");
    let (blob, size) = image.largest_blob();
    // App demostream is in stream mode: the Worker follows the CDN redirect without credentials.
    for upstream in ["local", "stream"] {
        let name = format!("proxy/demostream/{upstream}/demo/big");
        let auth = d.bearer_for("demostream", &[&name]);
        let url = format!("{}/v2/{name}/blobs/{blob}", d.dev.url);
        let r = get(&url, &[("authorization", &auth)]);
        assert_eq!(r.status, 200, "{upstream}: {}", r.text());
        assert_eq!(r.body.len() as u64, size);
        assert_eq!(r.digest(), blob);
        let r = get(&url, &[("authorization", &auth), ("range", "bytes=100-1123")]);
        assert_eq!(r.status, 206, "{upstream}");
        assert_eq!(r.body.len(), 1024);
        assert_eq!(r.header("content-range"), Some(format!("bytes 100-1123/{size}").as_str()));
        let reference = format!("{}/{name}:1.0", d.dev.authority);
        let (_, has_blob) =
            skopeo_pull(&reference, &format!("c:{}", env("PULLGATE_LICENSE_STREAM")), &image.media_type, false);
        assert!(has_blob(&blob));
    }
    // In redirect mode, an upstream that serves bytes itself is streamed too.
    let name = d.name("stream", "demo/big");
    let r = get(&format!("{}/v2/{name}/blobs/{blob}", d.dev.url), &[("authorization", &d.bearer(&[&name]))]);
    assert_eq!(r.status, 200);
    assert_eq!(r.digest(), blob);
}

impl Demo {
    fn bearer_for(&self, app: &str, names: &[&str]) -> String {
        let license = match app {
            "demostream" => env("PULLGATE_LICENSE_STREAM"),
            _ => self.license.clone(),
        };
        format!("Bearer {}", self.token_for(&license, names))
    }
}

/// GETs of `uri` the stream upstream (Debian's registry) has answered so far.
fn stream_upstream_gets(d: &Demo, uri: &str) -> usize {
    // Its access log lines: `127.0.0.1 - - [date] "GET <uri> HTTP/1.1" <status> <bytes> …`
    let needle = format!("\"GET {uri} HTTP/1.1\"");
    std::fs::read_to_string(d.dev.state.join("logs/stream.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&needle))
        .count()
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn stream_mode_serves_repeated_blob_pulls_from_the_cache() {
    let d = demo();
    let image = d.dev.image("demo/big", "1.0");
    let (blob, size) = image.largest_blob();
    assert!(size > 1024 * 1024, "a layer large enough to stream in many chunks");
    let name = "proxy/demostream/stream/demo/big";
    let auth = d.bearer_for("demostream", &[name]);
    let url = format!("{}/v2/{name}/blobs/{blob}", d.dev.url);
    let uri = format!("/v2/demo/big/blobs/{blob}");
    // The first whole GET fills the cache after its response; wait until a GET is a hit.
    let mut answers = Vec::new();
    for _ in 0..40 {
        let r = get(&url, &[("authorization", &auth)]);
        assert_eq!((r.status, r.digest()), (200, blob.clone()), "{}", r.text());
        let cache = r.header("pullgate-cache").map(String::from);
        answers.push(cache.clone());
        if cache.as_deref() == Some("hit") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(answers.last().cloned().flatten().as_deref(), Some("hit"), "never cached: {answers:?}");
    let upstream_gets = stream_upstream_gets(&d, &uri);
    assert!(upstream_gets >= 1, "the stream upstream's log shows the blob's first GET");
    // Whole and ranged pulls now come from the cache, byte for byte.
    for _ in 0..3 {
        let r = get(&url, &[("authorization", &auth)]);
        assert_eq!((r.status, r.header("pullgate-cache")), (200, Some("hit")));
        assert_eq!(r.header("content-length").and_then(|v| v.parse().ok()), Some(size));
        assert_eq!(r.header("docker-content-digest"), Some(blob.as_str()));
        assert!(r.header("cache-control").is_none(), "the cache's own headers stay inside");
        assert_eq!(r.digest(), blob);
    }
    let whole = get(&url, &[("authorization", &auth)]).body;
    let r = get(&url, &[("authorization", &auth), ("range", "bytes=10-29")]);
    assert_eq!((r.status, r.header("pullgate-cache")), (206, Some("hit")));
    assert_eq!(r.header("content-range"), Some(format!("bytes 10-29/{size}").as_str()));
    assert_eq!(r.body, whole[10..30]);
    assert_eq!(stream_upstream_gets(&d, &uri), upstream_gets, "a cached blob went to the upstream again");
    // The cache is behind authorization: no token, no bytes; a token for another repository
    // of the same app is refused as well (keys per app, upstream and repository are unit-tested).
    assert_eq!(get(&url, &[]).status, 401);
    let elsewhere = d.bearer_for("demostream", &["proxy/demostream/stream/demo/hello"]);
    assert_eq!(get(&url, &[("authorization", &elsewhere)]).status, 401);
    // In redirect mode nothing is cached: the bytes never pass through the edge.
    let redirect = d.name("local", "demo/big");
    let r = get(&format!("{}/v2/{redirect}/blobs/{blob}", d.dev.url), &[("authorization", &d.bearer(&[&redirect]))]);
    assert_eq!((r.status, r.header("pullgate-cache")), (307, None));
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn tag_list_paginates_with_rewritten_links() {
    let d = demo();
    let name = d.name("local", "demo/hello");
    let auth = d.bearer(&[&name]);
    let all = get(&format!("{}/v2/{name}/tags/list", d.dev.url), &[("authorization", &auth)]);
    assert_eq!(all.status, 200, "{}", all.text());
    let v = all.json();
    assert_eq!(v["name"], name.as_str());
    let tags: Vec<String> = v["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    assert_eq!(tags, vec!["1.0", "1.1", "1.2", "2.0", "latest"]);
    let mut seen = Vec::new();
    let mut next = format!("/v2/{name}/tags/list?n=2");
    for _ in 0..5 {
        let r = get(&format!("{}{next}", d.dev.url), &[("authorization", &auth)]);
        assert_eq!(r.status, 200);
        let page: Vec<String> =
            r.json()["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
        assert!(page.len() <= 2);
        seen.extend(page);
        match r.header("link") {
            Some(link) => {
                assert!(link.starts_with(&format!("</v2/{name}/tags/list?")), "{link}");
                next = link[1..link.find('>').unwrap()].to_string();
            }
            None => break,
        }
    }
    assert_eq!(seen, tags);
    let r = get(&format!("{}/v2/{name}/tags/list?n=2&last=1.1", d.dev.url), &[("authorization", &auth)]);
    assert_eq!(r.json()["tags"], serde_json::json!(["1.2", "2.0"]));
    assert_error(
        &get(&format!("{}/v2/{name}/tags/list?n=-1", d.dev.url), &[("authorization", &auth)]),
        400,
        "PAGINATION_NUMBER_INVALID",
    );
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn basic_and_bearer_realm_upstreams_pull_with_vendor_credentials() {
    let d = demo();
    let image = d.dev.image("demo/hello", "1.0");
    for upstream in ["basic", "bearer"] {
        let reference = format!("{}/{}:1.0", d.dev.authority, d.name(upstream, "demo/hello"));
        let (digest, _) = skopeo_pull(&reference, &d.creds(), &image.media_type, false);
        assert_eq!(digest, image.digest, "{upstream}");
    }
    // The token server saw Basic credentials from the edge, never the customer's license.
    let requests = d.dev.token_requests();
    assert!(requests.iter().any(|r| r["auth"] == "basic" && r["status"] == 200), "{requests:?}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn version_check_and_token_flow() {
    let d = demo();
    let r = get(&format!("{}/v2/", d.dev.url), &[]);
    assert_error(&r, 401, "UNAUTHORIZED");
    let (scheme, params) = parse_challenge(r.header("www-authenticate").unwrap());
    assert_eq!(scheme, "bearer");
    assert_eq!(params["realm"], format!("{}/v2/token", d.dev.url));
    assert_eq!(params["service"], d.dev.authority);
    // On the custom domain the realm is on that domain.
    let r = get(&format!("{}/v2/", d.dev.url), &[("host", &d.dev.host)]);
    let (_, params) = parse_challenge(r.header("www-authenticate").unwrap());
    assert_eq!(params["realm"], format!("http://{}/v2/token", d.dev.host));
    // Every 401 carries the scope of the repository asked for.
    let name = d.name("local", "demo/hello");
    let r = get(&format!("{}/v2/{name}/manifests/1.0", d.dev.url), &[]);
    let (_, params) = parse_challenge(r.header("www-authenticate").unwrap());
    assert_eq!(params["scope"], format!("repository:{name}:pull"));
    // Valid license: /v2/ answers 200 with a token and with direct Basic auth.
    let r = get(&format!("{}/v2/", d.dev.url), &[("authorization", &d.bearer(&[]))]);
    assert_eq!(r.status, 200);
    let r = get(&format!("{}/v2/", d.dev.url), &[("authorization", &basic_auth("x", &d.license))]);
    assert_eq!(r.status, 200);
    // Direct Basic auth on a registry path.
    let r = get(
        &format!("{}/v2/{name}/manifests/1.0", d.dev.url),
        &[("authorization", &basic_auth("x", &d.license)), ("accept", ACCEPT_ALL)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // containerd's OAuth POST, with two scopes as kubelet sends them.
    let form = format!("grant_type=password&username=x&password={}&client_id=containerd-client&scope=repository%3A{}%3Apull&scope=repository%3Aproxy%2Fdemo%2Flocal%2Fdemo%2Fmulti%3Apull",
        d.license, name.replace('/', "%2F"));
    let r = post_form(&format!("{}/v2/token", d.dev.url), &form);
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    for repo in ["demo/hello", "demo/multi"] {
        let r = request(
            "HEAD",
            &format!("{}/v2/{}/manifests/1.0", d.dev.url, d.name("local", repo)),
            &[("authorization", &format!("Bearer {token}")), ("accept", ACCEPT_ALL)],
        );
        assert_eq!(r.status, 200, "{repo}");
    }
    // A token asked for one repository does not open another.
    let other = d.name("local", "demo/legacy");
    let r = get(&format!("{}/v2/{other}/manifests/1.0", d.dev.url), &[("authorization", &d.bearer(&[&name]))]);
    assert_error(&r, 401, "UNAUTHORIZED");
    assert!(r.header("www-authenticate").unwrap().contains("insufficient_scope"));
}

fn post_form(url: &str, form: &str) -> Resp {
    let post = ureq::post(url).set("content-type", "application/x-www-form-urlencoded");
    let resp = match post.set("cf-connecting-ip", &test_client_ip()).send_string(form) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {url}: {e}"),
    };
    let status = resp.status();
    let body = resp.into_string().unwrap_or_default().into_bytes();
    Resp { status, headers: vec![], body }
}

/// How many requests the fault upstream has seen for paths containing `marker`.
fn fault_hits(d: &Demo, marker: &str) -> usize {
    std::fs::read_to_string(d.dev.state.join("logs/faults.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(marker))
        .count()
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn every_refusal_has_its_status_code_and_touches_no_upstream() {
    let d = demo();
    let base = &d.dev.url;
    let name = d.name("faults", "untouched/app");
    let url = format!("{base}/v2/{name}/manifests/1.0");
    let before = fault_hits(&d, "untouched");

    // No credentials, a forged license, a bearer token of another app's license.
    assert_error(&get(&url, &[]), 401, "UNAUTHORIZED");
    let forged = {
        let mut parts: Vec<String> = d.license.split('.').map(String::from).collect();
        parts[3] = "AAAA".repeat(11);
        parts.join(".")
    };
    assert_error(&get(&url, &[("authorization", &basic_auth("x", &forged))]), 401, "UNAUTHORIZED");
    let r =
        get(&format!("{base}/v2/token?scope=repository:{name}:pull"), &[("authorization", &basic_auth("x", &forged))]);
    assert_error(&r, 401, "UNAUTHORIZED");
    let other_license = env("PULLGATE_LICENSE_OTHER");
    let other_name = "proxy/other/local/demo/hello";
    let other_token = d.token_for(&other_license, &[other_name]);
    let r = get(&url, &[("authorization", &format!("Bearer {other_token}"))]);
    assert_error(&r, 403, "DENIED");
    assert!(error_message(&r).contains("is for app other, not demo"), "{}", error_message(&r));
    // A token from one host is no good on another.
    let r = get(&format!("{base}/v2/"), &[("host", &d.dev.host), ("authorization", &d.bearer(&[]))]);
    assert_error(&r, 401, "UNAUTHORIZED");
    // Bad names and digests, write verbs.
    assert_error(&get(&format!("{base}/v2/proxy/demo/faults/Bad/manifests/1.0"), &[]), 400, "NAME_INVALID");
    assert_error(&get(&format!("{base}/v2/{name}/blobs/sha256:1234"), &[]), 400, "DIGEST_INVALID");
    assert_error(&get(&format!("{base}/v2/proxy/demo/faults/a%2F..%2Fb/manifests/1.0"), &[]), 400, "NAME_INVALID");
    for method in ["PUT", "DELETE", "PATCH", "POST"] {
        assert_error(&request(method, &url, &[("authorization", &d.bearer(&[&name]))]), 405, "UNSUPPORTED");
    }
    assert_error(&get(&format!("{base}/nothing-here"), &[]), 404, "NAME_UNKNOWN");
    // A multi-byte character right after /v2 once trapped the Worker (a 500, and the isolate's
    // caches lost); /v2X was taken as /v2/.
    assert_error(&get(&format!("{base}/v2%C3%A9"), &[]), 404, "NAME_UNKNOWN");
    let smuggled = format!("{base}/v2X{}", url.trim_start_matches(&format!("{base}/v2/")));
    assert_error(&get(&smuggled, &[("authorization", &d.bearer(&[&name]))]), 404, "NAME_UNKNOWN");
    // An unknown host says so at sign-in (a 401, which clients print), and nothing about what exists.
    let r = get(&format!("{base}/v2/"), &[("host", "unknown.example")]);
    assert_error(&r, 401, "UNAUTHORIZED");
    assert!(error_message(&r).contains("unknown.example is not a registry served here"), "{}", error_message(&r));
    assert!(!r.text().contains("demo"));
    // An upstream the app does not have, and another app's name on this app's domain.
    let r = get(
        &format!("{base}/v2/proxy/demo/quay.io/x/y/manifests/1.0"),
        &[("authorization", &basic_auth("x", &d.license))],
    );
    assert_error(&r, 404, "NAME_UNKNOWN");
    let r = get(
        &format!("{base}/v2/proxy/other/local/demo/hello/manifests/1.0"),
        &[("host", &d.dev.host), ("authorization", &basic_auth("x", &other_license))],
    );
    assert_error(&r, 404, "NAME_UNKNOWN");
    assert_eq!(fault_hits(&d, "untouched"), before, "a refused request reached the upstream");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn entitlements_and_license_state_are_enforced() {
    let d = demo();
    let base = &d.dev.url;
    // Limited to demo/hello: other images are DENIED with a message naming the customer.
    let limited = env("PULLGATE_LICENSE_LIMITED");
    let hello = d.name("local", "demo/hello");
    let multi = d.name("local", "demo/multi");
    let token = d.token_for(&limited, &[&hello, &multi]);
    let auth = format!("Bearer {token}");
    let ok = get(&format!("{base}/v2/{hello}/manifests/1.0"), &[("authorization", &auth), ("accept", ACCEPT_ALL)]);
    assert_eq!(ok.status, 200);
    let r = get(&format!("{base}/v2/{multi}/manifests/1.0"), &[("authorization", &auth)]);
    assert_error(&r, 403, "DENIED");
    assert!(error_message(&r).contains("does not include"), "{}", error_message(&r));
    // Expired: refused at the token endpoint and on direct Basic with a 401 (the status clients
    // print a token endpoint's message on), with the date.
    let expired = env("PULLGATE_LICENSE_EXPIRED");
    let r = get(
        &format!("{base}/v2/token?scope=repository:{hello}:pull"),
        &[("authorization", &basic_auth("x", &expired))],
    );
    assert_error(&r, 401, "UNAUTHORIZED");
    assert!(error_message(&r).contains("expired on"), "{}", error_message(&r));
    let r = get(&format!("{base}/v2/{hello}/manifests/1.0"), &[("authorization", &basic_auth("x", &expired))]);
    assert_error(&r, 401, "UNAUTHORIZED");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn token_forms_are_read_within_64_kib() {
    let d = demo();
    let url = format!("{}/v2/token", d.dev.url);
    let form = |password: &str| {
        format!("grant_type=password&username=x&password={password}&scope=repository:proxy/demo/local/demo/hello:pull")
    };
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    for framing in [Framing::Length, Framing::Chunked] {
        let r = post(&url, &headers, form(&d.license).as_bytes(), framing);
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.json()["access_token"].is_string());
    }
    // Over the bound: refused unread when announced, abandoned at the bound when chunked.
    let padded = form(&d.license) + "&pad=" + &"x".repeat(70 * 1024);
    for framing in [Framing::Length, Framing::Chunked] {
        let r = post(&url, &headers, padded.as_bytes(), framing);
        assert_error(&r, 400, "UNSUPPORTED");
        assert_eq!(error_message(&r), "form body larger than 65536 bytes");
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn skopeo_shows_the_customer_why_a_license_is_refused() {
    let d = demo();
    let dir = temp_dir("refused");
    let dest = format!("oci:{}:x", dir.display());
    let copy = |reference: &str, license: &str| {
        let creds = format!("x:{license}");
        skopeo_try(&["copy", "--quiet", "--src-tls-verify=false", "--src-creds", &creds, reference, &dest])
    };
    let on_default_host = format!("docker://{}/proxy/demo/local/demo/hello:1.0", d.dev.authority);
    let (ok, text) = copy(&on_default_host, &env("PULLGATE_LICENSE_EXPIRED"));
    assert!(!ok, "an expired license pulled");
    assert!(
        text.contains("license for Lapsed Customer expired on") && text.contains("ask your vendor to renew it"),
        "{text}"
    );
    // `localhost` is a custom domain of app demo: another app's license is not valid there.
    let port = d.dev.authority.rsplit(':').next().unwrap();
    let on_custom_domain = format!("docker://localhost:{port}/local/demo/hello:1.0");
    let (ok, text) = copy(&on_custom_domain, &env("PULLGATE_LICENSE_OTHER"));
    assert!(!ok, "another app's license pulled");
    assert!(text.contains("the license for Other Customer is not valid for localhost"), "{text}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn upstream_failures_are_named_not_disguised() {
    let d = demo();
    let base = &d.dev.url;
    // The vendor's credential is wrong: a 403 naming the vendor's registry (clients print a 4xx's
    // message, never a 5xx's), never 401 (which would send the customer back to `docker login`).
    let name = d.name("badcreds", "demo/hello");
    let r = get(&format!("{base}/v2/{name}/manifests/1.0"), &[("authorization", &d.bearer(&[&name]))]);
    assert_error(&r, 403, "DENIED");
    assert!(error_message(&r).contains("refused pullgate's credential"), "{}", error_message(&r));
    assert!(error_message(&r).contains("contact the vendor"), "{}", error_message(&r));
    assert!(!r.text().contains(&d.dev.basic_password()));
    // What skopeo shows the customer.
    let dir = temp_dir("badcreds");
    let creds = format!("x:{}", d.license);
    let (ok, text) = skopeo_try(&[
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &format!("docker://{}/{name}:1.0", d.dev.authority),
        &format!("oci:{}:x", dir.display()),
    ]);
    assert!(!ok, "a pull through a refused vendor credential succeeded");
    assert!(text.contains("refused pullgate's credential") && text.contains("contact the vendor"), "{text}");
    // Rate limited upstream: 429 with its Retry-After.
    let name = d.name("faults", "ratelimited/app");
    let r = get(&format!("{base}/v2/{name}/manifests/1.0"), &[("authorization", &d.bearer(&[&name]))]);
    assert_error(&r, 429, "TOOMANYREQUESTS");
    assert_eq!(r.header("retry-after"), Some("7"));
    // Unavailable upstream: 503, not "not found".
    let name = d.name("faults", "unavailable/app");
    let r = get(&format!("{base}/v2/{name}/manifests/1.0"), &[("authorization", &d.bearer(&[&name]))]);
    assert_error(&r, 503, "UNAVAILABLE");
    // Real not-found stays not-found.
    let name = d.name("local", "demo/hello");
    let r = get(&format!("{base}/v2/{name}/manifests/9.9"), &[("authorization", &d.bearer(&[&name]))]);
    assert_error(&r, 404, "MANIFEST_UNKNOWN");
    let missing = format!("sha256:{}", "0".repeat(64));
    let r = get(&format!("{base}/v2/{name}/blobs/{missing}"), &[("authorization", &d.bearer(&[&name]))]);
    assert_error(&r, 404, "BLOB_UNKNOWN");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn warm_requests_read_no_kv() {
    let d = demo();
    let name = d.name("local", "demo/hello");
    let auth = d.bearer(&[&name]);
    let url = format!("{}/v2/{name}/manifests/1.0", d.dev.url);
    // The e2e edge keeps records for CONFIG_CACHE_SECONDS=3, and tests running beside this one
    // warm some of them earlier, so any one request may meet an entry that just expired; what
    // must hold is that right after a request has warmed the isolate, pulls read nothing.
    let mut reads: Vec<Option<String>> = Vec::new();
    for _ in 0..5 {
        let r = get(&url, &[("authorization", &auth), ("accept", ACCEPT_ALL)]);
        assert_eq!(r.status, 200, "{}", r.text());
        reads.push(r.header("pullgate-kv-reads").map(String::from));
        if reads.len() >= 2 && reads.last() == Some(&Some("0".to_string())) {
            break;
        }
    }
    assert!(reads.iter().all(Option::is_some), "DEBUG_HEADERS must be on for the e2e edge");
    assert_eq!(reads.last().cloned().flatten().as_deref(), Some("0"), "a warm isolate kept reading KV: {reads:?}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn the_access_log_says_who_pulled_what_and_holds_no_credentials() {
    let d = demo();
    let base = &d.dev.url;
    // Traffic that carries every kind of secret: licenses (Basic, OAuth form, direct Basic,
    // forged), bearer tokens, and the vendor's credentials for the Basic and Bearer upstreams.
    let name = d.name("local", "demo/hello");
    let bearer = d.bearer(&[&name]);
    get(&format!("{base}/v2/{name}/manifests/1.0"), &[("authorization", &bearer), ("accept", ACCEPT_ALL)]);
    get(&format!("{base}/v2/{name}/manifests/1.0"), &[("authorization", &basic_auth("x", &d.license))]);
    let form = format!("grant_type=password&username=x&password={}&scope=repository%3Ademo%3Apull", d.license);
    assert_eq!(post_form(&format!("{base}/v2/token"), &form).status, 200);
    let forged = d.license.replacen("pgl1.", "pgl1.x", 1);
    get(&format!("{base}/v2/token"), &[("authorization", &basic_auth("x", &forged))]);
    let image = d.dev.image("demo/hello", "1.0");
    for upstream in ["basic", "bearer"] {
        let name = d.name(upstream, "demo/hello");
        let auth = d.bearer(&[&name]);
        let r = get(&format!("{base}/v2/{name}/manifests/1.0"), &[("authorization", &auth), ("accept", ACCEPT_ALL)]);
        assert_eq!(r.status, 200, "{upstream}: {}", r.text());
        assert_eq!(r.digest(), image.digest);
    }

    // Who pulled what: the customer, the image and reference, and the outcome.
    let records = d.dev.access_log();
    let pulled = records
        .iter()
        .rev()
        .find(|r| r["action"] == "manifest" && r["image"] == d.name("basic", "demo/hello").as_str())
        .expect("a record of the manifest pull");
    assert_eq!(pulled["reference"], "1.0");
    assert_eq!((pulled["status"].as_u64(), pulled["outcome"].as_str()), (Some(200), Some("ok")));
    assert_eq!(pulled["customer"], "Demo Customer");
    assert!(pulled["license"].as_str().is_some_and(|l| l.starts_with("lic_")), "{pulled}");
    assert_eq!(pulled["bytes"].as_u64(), Some(image.size));
    let refused = records
        .iter()
        .rev()
        .find(|r| r["action"] == "token" && r["status"] == 401)
        .expect("a record of the forged sign-in");
    assert_eq!((refused["outcome"].as_str(), refused["error"].as_str()), (Some("refused"), Some("UNAUTHORIZED")));
    assert!(refused.get("customer").is_none(), "{refused}");

    let log = std::fs::read_to_string(d.dev.state.join("logs/wrangler.log")).expect("the edge's log");
    assert!(log.contains("\"action\":\"token\""), "the log is the edge's");
    let root_secret = std::fs::read_to_string(env("PULLGATE_ROOT_SECRET_FILE")).expect("dev vars");
    let root_secret = root_secret.trim().trim_start_matches("PULLGATE_ROOT_SECRET=").to_string();
    let secrets = [
        ("the demo license", d.license.clone()),
        ("the expired license", env("PULLGATE_LICENSE_EXPIRED")),
        ("a forged license", forged),
        ("a Basic header", basic_auth("x", &d.license)),
        ("a bearer token", bearer.trim_start_matches("Bearer ").to_string()),
        ("the Basic upstream's password", d.dev.basic_password()),
        ("the Bearer upstream's password", d.dev.bearer_password()),
        ("the root secret", root_secret),
        ("a license or token prefix", "pgl1.".to_string()),
        ("a license or token prefix", "pgb1.".to_string()),
    ];
    for (what, secret) in secrets {
        assert!(secret.len() >= 5, "{what} is not a meaningful needle");
        assert!(!log.contains(&secret), "{what} appears in the edge's log");
    }
}
