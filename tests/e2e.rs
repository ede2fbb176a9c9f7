//! End to end: the local harness itself (demo upstreams as real peers) and the Worker's `/v2/`.
//! Needs the stack from `scripts/dev --background`; `scripts/test` runs these with `--ignored`.

mod common;

use common::*;

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn skopeo_pulls_every_demo_image_straight_from_the_upstream() {
    let dev = dev();
    let authority = dev.upstream.trim_start_matches("http://").to_string();
    let images = dev.demo_images();
    assert!(images.len() >= 9, "images.json lists {} images", images.len());
    for img in &images {
        let src = format!("docker://{authority}/{}:{}", img.repo, img.tag);

        // The manifest as the registry serves it hashes to the recorded digest.
        let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &src]);
        assert_eq!(sha256_digest(raw.as_bytes()), img.digest, "{src}: inspect --raw digest");
        let doc: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(doc["mediaType"].as_str(), Some(img.media_type.as_str()), "{src}: mediaType");
        if img.is_index() {
            let listed: Vec<(String, String)> = doc["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    let p = &m["platform"];
                    let mut plat = format!("{}/{}", p["os"].as_str().unwrap(), p["architecture"].as_str().unwrap());
                    if let Some(v) = p["variant"].as_str() {
                        plat = format!("{plat}/{v}");
                    }
                    (m["digest"].as_str().unwrap().to_string(), plat)
                })
                .collect();
            let recorded: Vec<(String, String)> = img.children.iter().map(|(d, _, p)| (d.clone(), p.clone())).collect();
            assert_eq!(listed, recorded, "{src}: children");
        }

        // A full copy keeps the digests: OCI types into an OCI layout, Docker types into dir:
        // (an OCI layout would convert them).
        let out = temp_dir("pull");
        let mut args = vec!["copy", "--quiet", "--src-tls-verify=false", "--preserve-digests"];
        if img.is_index() {
            args.push("--all");
        }
        args.push(&src);
        if img.is_oci() {
            let dst = format!("oci:{}:{}", out.display(), img.tag);
            args.push(&dst);
            skopeo(&args);
            assert_eq!(oci_layout_digests(&out), vec![img.digest.clone()], "{src}: layout index.json");
            for (digest, _) in &img.blobs {
                assert!(oci_layout_has_blob(&out, digest), "{src}: blob {digest} missing or corrupt in layout");
            }
            for (child, _, _) in &img.children {
                assert!(oci_layout_has_blob(&out, child), "{src}: child manifest {child} missing in layout");
            }
        } else {
            let dst = format!("dir:{}", out.display());
            args.push(&dst);
            skopeo(&args);
            let manifest = std::fs::read(out.join("manifest.json")).unwrap();
            assert_eq!(sha256_digest(&manifest), img.digest, "{src}: dir manifest.json");
            for (child, _, _) in &img.children {
                let hex = child.trim_start_matches("sha256:");
                let bytes = std::fs::read(out.join(format!("{hex}.manifest.json")))
                    .unwrap_or_else(|e| panic!("{src}: child {child} not copied: {e}"));
                assert_eq!(&sha256_digest(&bytes), child);
            }
            for (digest, size) in &img.blobs {
                let bytes = std::fs::read(out.join(digest.trim_start_matches("sha256:")))
                    .unwrap_or_else(|e| panic!("{src}: blob {digest} not copied: {e}"));
                assert_eq!((sha256_digest(&bytes), bytes.len() as u64), (digest.clone(), *size));
            }
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn open_upstream_redirects_blobs_to_the_cdn_which_serves_ranges() {
    let dev = dev();
    let img = dev.image("demo/big", "1.0");
    let (digest, size) = img.largest_blob();
    assert!(size > 1 << 20, "demo/big has a large layer");

    let r = get(&format!("{}/v2/{}/blobs/{digest}", dev.upstream, img.repo), &[]);
    assert_eq!(r.status, 307, "blob GET on the open upstream: {r:?}");
    let location = r.header("location").expect("307 has Location").to_string();
    assert!(location.starts_with(&format!("{}/", dev.cdn)), "Location {location} is on the CDN {}", dev.cdn);

    let full = get(&location, &[]);
    assert_eq!(full.status, 200);
    assert_eq!(full.body.len() as u64, size);
    assert_eq!(full.digest(), digest);
    assert_eq!(full.header("content-length"), Some(size.to_string().as_str()));

    let head = get(&location, &[("Range", "bytes=0-99")]);
    assert_eq!(head.status, 206, "Range on the CDN");
    assert_eq!(head.header("content-range"), Some(format!("bytes 0-99/{size}").as_str()));
    assert_eq!(head.body, full.body[..100]);
    // A resumed download: the rest from an offset, glued on, is the whole blob.
    let mid = size / 3;
    let tail = get(&location, &[("Range", &format!("bytes={mid}-"))]);
    assert_eq!(tail.status, 206);
    assert_eq!(tail.header("content-range"), Some(format!("bytes {mid}-{}/{size}", size - 1).as_str()));
    let mut glued = full.body[..mid as usize].to_vec();
    glued.extend_from_slice(&tail.body);
    assert_eq!(sha256_digest(&glued), digest);
    let past = get(&location, &[("Range", &format!("bytes={size}-"))]);
    assert_eq!(past.status, 416, "a range past the end");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn open_upstream_lists_every_demo_tag() {
    // distribution 2.8 answers tags/list unsorted and ignores `n`/`last` (no Link): pagination
    // as the spec describes it is the edge's job, over this full list.
    let dev = dev();
    let mut want: Vec<String> =
        dev.demo_images().into_iter().filter(|i| i.repo == "demo/hello").map(|i| i.tag).collect();
    want.sort();
    assert!(want.len() >= 5, "demo/hello has enough tags to page through: {want:?}");
    let all = get(&format!("{}/v2/demo/hello/tags/list", dev.upstream), &[]);
    assert_eq!(all.status, 200);
    assert_eq!(all.json()["name"].as_str(), Some("demo/hello"));
    let mut tags: Vec<String> = serde_json::from_value(all.json()["tags"].clone()).unwrap();
    tags.sort();
    assert_eq!(tags, want);
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn basic_upstream_challenges_then_serves_with_credentials() {
    let dev = dev();
    let img = dev.image("demo/hello", "1.0");
    let manifest_url = format!("{}/v2/{}/manifests/{}", dev.basic, img.repo, img.tag);

    let r = get(&format!("{}/v2/", dev.basic), &[]);
    assert_eq!(r.status, 401);
    let (scheme, params) = parse_challenge(r.header("www-authenticate").expect("challenge"));
    assert_eq!(scheme, "basic");
    assert!(params.contains_key("realm"));
    assert_eq!(get(&manifest_url, &[("Accept", ACCEPT_ALL)]).status, 401);
    let wrong = basic_auth("vendor", "not-the-password");
    assert_eq!(get(&manifest_url, &[("Accept", ACCEPT_ALL), ("Authorization", &wrong)]).status, 401);

    let creds = basic_auth("vendor", &dev.basic_password());
    assert_eq!(get(&format!("{}/v2/", dev.basic), &[("Authorization", &creds)]).status, 200);
    let m = get(&manifest_url, &[("Accept", ACCEPT_ALL), ("Authorization", &creds)]);
    assert_eq!(m.status, 200);
    assert_eq!(m.header("docker-content-digest"), Some(img.digest.as_str()));
    assert_eq!(m.digest(), img.digest);
    let (blob, _) = img.largest_blob();
    let b = get(&format!("{}/v2/{}/blobs/{blob}", dev.basic, img.repo), &[("Authorization", &creds)]);
    assert_eq!(b.status, 307, "the basic upstream redirects blobs too");
    assert!(b.header("location").unwrap().starts_with(&dev.cdn));
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn bearer_upstream_sends_clients_to_its_token_server() {
    let dev = dev();
    let img = dev.image("demo/multi", "1.0");
    let manifest_url = format!("{}/v2/{}/manifests/{}", dev.bearer, img.repo, img.tag);

    let r = get(&manifest_url, &[("Accept", ACCEPT_ALL)]);
    assert_eq!(r.status, 401);
    let (scheme, params) = parse_challenge(r.header("www-authenticate").expect("challenge"));
    assert_eq!(scheme, "bearer");
    assert_eq!(params.get("realm"), Some(&dev.token));
    let service = params.get("service").expect("service").clone();
    let scope = params.get("scope").expect("scope").clone();
    assert_eq!(scope, format!("repository:{}:pull", img.repo));

    let before = dev.token_requests().len();
    let token_url = format!("{}?service={service}&scope={scope}", dev.token);
    let denied = get(&token_url, &[("Authorization", &basic_auth("vendor", "wrong"))]);
    assert_eq!(denied.status, 401, "wrong credentials at the token server");
    assert_eq!(get(&token_url, &[]).status, 401, "no credentials at the token server");

    let t = get(&token_url, &[("Authorization", &basic_auth("vendor", &dev.bearer_password()))]);
    assert_eq!(t.status, 200, "token: {}", t.text());
    let body = t.json();
    let token = body["token"].as_str().expect("token").to_string();
    assert_eq!(body["access_token"].as_str(), Some(token.as_str()));
    assert!(body["expires_in"].as_u64().unwrap_or(0) >= 60);
    assert!(body["issued_at"].as_str().is_some_and(|s| s.ends_with('Z')));

    let log = dev.token_requests();
    assert_eq!(log.len(), before + 3, "the token server logs each request");
    let auths: Vec<&str> = log[before..].iter().map(|l| l["auth"].as_str().unwrap()).collect();
    assert_eq!(auths, ["basic", "none", "basic"]);
    assert!(!std::fs::read_to_string(dev.state.join("logs/token_server.log"))
        .unwrap()
        .contains(&dev.bearer_password()));

    let bearer = format!("Bearer {token}");
    let m = get(&manifest_url, &[("Accept", ACCEPT_ALL), ("Authorization", &bearer)]);
    assert_eq!(m.status, 200, "manifest with the token: {}", m.text());
    assert_eq!(m.digest(), img.digest);
    assert_eq!(m.header("content-type"), Some(img.media_type.as_str()));

    // The registry enforces the token's access: another repository is not granted.
    let other = get(
        &format!("{}/v2/demo/hello/manifests/1.0", dev.bearer),
        &[("Accept", ACCEPT_ALL), ("Authorization", &bearer)],
    );
    assert_eq!(other.status, 401, "a token for {} must not open demo/hello", img.repo);
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn stream_upstream_serves_blobs_itself_with_ranges() {
    let dev = dev();
    let img = dev.image("demo/big", "1.0");
    let (digest, size) = img.largest_blob();
    let url = format!("{}/v2/{}/blobs/{digest}", dev.stream, img.repo);

    let full = get(&url, &[]);
    assert_eq!(full.status, 200, "the stream upstream answers blobs with 200, no redirect");
    assert_eq!(full.digest(), digest);
    assert_eq!(full.body.len() as u64, size);
    assert_eq!(full.header("docker-content-digest"), Some(digest.as_str()));

    let part = get(&url, &[("Range", "bytes=1000-1999")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-range"), Some(format!("bytes 1000-1999/{size}").as_str()));
    assert_eq!(part.body, full.body[1000..2000]);

    let m = get(&format!("{}/v2/{}/manifests/{}", dev.stream, img.repo, img.tag), &[("Accept", ACCEPT_ALL)]);
    assert_eq!(m.status, 200);
    assert_eq!(m.digest(), img.digest);
}

/// `GET /v2/` without credentials on `host`: 401, the version header, a Bearer challenge whose
/// realm is this host's `/v2/token`, and a JSON `UNAUTHORIZED` error body.
fn assert_v2_challenge(dev: &Dev, host: &str) {
    let r = get(&format!("{}/v2/", dev.url), &[("Host", host)]);
    assert_eq!(r.status, 401, "GET /v2/ without credentials on {host}: {} {}", r.status, r.text());
    assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"), "on {host}");
    let challenge = r.header("www-authenticate").unwrap_or_else(|| panic!("401 without challenge on {host}"));
    let (scheme, params) = parse_challenge(challenge);
    assert_eq!(scheme, "bearer", "{challenge}");
    assert_eq!(
        params.get("realm").map(String::as_str),
        Some(format!("http://{host}/v2/token").as_str()),
        "{challenge}"
    );
    assert!(params.contains_key("service"), "{challenge}");
    assert!(r.header("content-type").is_some_and(|t| t.starts_with("application/json")), "error body is JSON");
    let body = r.json();
    assert_eq!(body["errors"][0]["code"].as_str(), Some("UNAUTHORIZED"), "{body}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn edge_v2_challenges_on_the_default_host() {
    let dev = dev();
    assert!(!dev.images.is_empty(), "PULLGATE_IMAGES is empty");
    for image in &dev.images {
        assert!(image.starts_with(&format!("{}/proxy/", dev.authority)), "{image} is a proxy reference on the edge");
    }
    assert_v2_challenge(&dev, &dev.authority);
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn edge_v2_challenges_on_the_demo_custom_domain() {
    // The domain is bound to the demo app by scripts/demo/seed; routing is by Host header.
    let dev = dev();
    assert_v2_challenge(&dev, &dev.host);
}
