//! Registry routes: which names resolve on which host, and which grants pull them.

use super::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const HELLO: &str = "/v2/proxy/demo/local/demo/hello/manifests/1.0";

fn upstream_with_hello() -> Mem {
    Mem::new().route(UPSTREAM, |_| manifest_answer(OCI_MANIFEST, br#"{"schemaVersion":2}"#))
}

#[test]
fn anonymous_pulls_get_a_challenge_for_the_repository() {
    let mem = upstream_with_hello();
    let h = oneshot(&mem, get(HELLO));
    let (status, _, _, reason) = oci(&h);
    assert_eq!((status, reason.as_str()), (401, "authentication_required"));
    assert_eq!(
        h.reply.header("www-authenticate"),
        Some(
            r#"Bearer realm="https://pullgate.test/v2/token",service="pullgate.test",scope="repository:proxy/demo/local/demo/hello:pull""#
        )
    );
    assert!(mem.upstream.sent().is_empty(), "nothing is asked upstream before authentication");
}

#[test]
fn a_token_pulls_what_it_was_granted() {
    let mem = upstream_with_hello();
    let isolate = Isolate::default();
    let lic = license("lic_1", "demo", "Globex", &[]);
    let t = token_for(&mem, &isolate, DEFAULT_HOST, &lic, "repository:proxy/demo/local/demo/hello:pull");
    let h = send(&mem, &isolate, get(HELLO).auth(format!("Bearer {t}")));
    assert_eq!(h.reply.status(), 200, "{}", body_text(&h));
    let record = access_record(&h);
    assert_eq!((record["customer"].as_str(), record["license"].as_str()), (Some("Globex"), Some("lic_1")));
    // The client's Authorization never reaches the upstream.
    let sent = mem.sent_to(UPSTREAM);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].headers.iter().all(|(n, _)| n != "authorization"), "{:?}", sent[0].headers);
    // A repository outside the token's grant: ask the token endpoint again.
    let h = send(&mem, &isolate, get("/v2/proxy/demo/local/demo/other/manifests/1.0").auth(format!("Bearer {t}")));
    let (status, _, _, reason) = oci(&h);
    assert_eq!((status, reason.as_str()), (401, "token_scope"));
    assert!(h.reply.header("www-authenticate").unwrap().contains("error=\"insufficient_scope\""));
}

#[test]
fn names_resolve_by_host() {
    let mem = upstream_with_hello();
    let lic = basic(&license("lic_1", "demo", "Globex", &[]));
    for (host, path, want) in [
        (DEFAULT_HOST, HELLO, 200),
        (DEMO_DOMAIN, "/v2/local/demo/hello/manifests/1.0", 200),
        (DEMO_DOMAIN, HELLO, 200),
        // The default host serves long names only.
        (DEFAULT_HOST, "/v2/local/demo/hello/manifests/1.0", 404),
        // A custom domain never serves another app, nor says whether it exists.
        (DEMO_DOMAIN, "/v2/proxy/other/local/demo/hello/manifests/1.0", 404),
        // Upstreams the app does not have.
        (DEMO_DOMAIN, "/v2/quay.io/demo/hello/manifests/1.0", 404),
    ] {
        let h = oneshot(&mem, get(path).on(host).auth(lic.clone()));
        assert_eq!(h.reply.status(), want, "{host}{path}: {}", body_text(&h));
    }
}

#[test]
fn another_apps_image_is_refused_with_what_the_license_is_for() {
    let mem = upstream_with_hello();
    let isolate = Isolate::default();
    let lic = license("lic_1", "demo", "Globex", &[]);
    let t = token_for(&mem, &isolate, DEFAULT_HOST, &lic, "repository:proxy/other/local/demo/hello:pull");
    for auth in [format!("Bearer {t}"), basic(&lic)] {
        let h = send(&mem, &isolate, get("/v2/proxy/other/local/demo/hello/manifests/1.0").auth(auth.clone()));
        assert_eq!(
            oci(&h),
            (
                403,
                "DENIED".into(),
                "the license for Globex is for app demo, not other; ask your vendor for a license for other".into(),
                "license_wrong_app".into()
            )
        );
        // An app that does not exist is named as such, not as "another app".
        let h = send(&mem, &isolate, get("/v2/proxy/nosuchapp/local/demo/hello/manifests/1.0").auth(auth));
        let (status, code, message, reason) = oci(&h);
        assert_eq!((status, code.as_str(), reason.as_str()), (404, "NAME_UNKNOWN", "unknown_name"));
        assert_eq!(
            message,
            "repository proxy/nosuchapp/local/demo/hello is not known here: no app nosuchapp is served"
        );
    }
}

#[test]
fn entitlements_narrow_a_license() {
    let mem = upstream_with_hello();
    let lic = basic(&license("lic_1", "demo", "Globex", &["demo/hello"]));
    assert_eq!(oneshot(&mem, get(HELLO).auth(lic.clone())).reply.status(), 200);
    let h = oneshot(&mem, get("/v2/proxy/demo/local/demo/web/manifests/1.0").auth(lic));
    assert_eq!(
        oci(&h),
        (
            403,
            "DENIED".into(),
            "the license for Globex does not include proxy/demo/local/demo/web; ask your vendor to add it to your license"
                .into(),
            "not_entitled".into()
        )
    );
}

#[test]
fn a_token_from_another_host_is_refused() {
    let mem = upstream_with_hello();
    let isolate = Isolate::default();
    let lic = license("lic_1", "demo", "Globex", &[]);
    let t = token_for(&mem, &isolate, DEFAULT_HOST, &lic, "repository:proxy/demo/local/demo/hello:pull");
    let h = send(&mem, &isolate, get(HELLO).on(DEMO_DOMAIN).auth(format!("Bearer {t}")));
    let (status, _, message, reason) = oci(&h);
    assert_eq!((status, reason.as_str()), (401, "token_invalid"));
    assert_eq!(message, "bearer token was issued for another registry host");
    for bad in ["Bearer pgb1.k1.x.y", "Bearer ", "Digest abc"] {
        assert_eq!(oci(&send(&mem, &isolate, get(HELLO).auth(bad.into()))).0, 401, "{bad}");
    }
}

#[test]
fn malformed_paths_are_refused_before_anything_else() {
    let mem = upstream_with_hello();
    for (method, path, want_status, want_code) in [
        // A manifest that cannot exist is a 404 (the OCI conformance suite's `.INVALID_MANIFEST_NAME`).
        ("GET", "/v2/proxy/demo/local/demo/hello/manifests/.INVALID_MANIFEST_NAME", 404, "MANIFEST_UNKNOWN"),
        ("GET", "/v2/proxy/demo/local/Demo/hello/manifests/1.0", 400, "NAME_INVALID"),
        ("GET", "/v2/proxy/demo/local/demo/hello/blobs/sha256:abc", 400, "DIGEST_INVALID"),
        ("GET", "/v2/proxy/demo/local/demo/hello/nothing/here", 404, "NAME_UNKNOWN"),
        ("GET", "/v3/", 404, "NAME_UNKNOWN"),
        // A multi-byte character right after /v2 once trapped the Worker; /v2X is not /v2/.
        ("GET", "/v2%C3%A9", 404, "NAME_UNKNOWN"),
        ("GET", "/v2\u{e9}/x/manifests/1", 404, "NAME_UNKNOWN"),
        ("GET", "/v2Xproxy/demo/local/demo/hello/manifests/1.0", 404, "NAME_UNKNOWN"),
        ("GET", "/v2/proxy/demo/local/demo/hello/manifests/1%", 400, "NAME_INVALID"),
        // Writes are the push API now: credentials first (tests/hosted.rs), never an upstream call.
        ("PUT", HELLO, 401, "UNAUTHORIZED"),
        ("DELETE", HELLO, 401, "UNAUTHORIZED"),
        ("PATCH", "/v2/proxy/demo/local/demo/hello/tags/list", 404, "NAME_UNKNOWN"),
    ] {
        let h = oneshot(&mem, get(path).method(method));
        let (status, code, _, _) = oci(&h);
        assert_eq!((status, code.as_str()), (want_status, want_code), "{method} {path}");
    }
    assert!(mem.upstream.sent().is_empty());
}

#[test]
fn a_request_without_a_usable_host_is_refused() {
    for host in ["", "a b", "evil\"host"] {
        let h = oneshot(&Mem::new(), get("/v2/").on(host));
        assert_eq!(oci(&h).0, 404, "{host:?}");
    }
}
