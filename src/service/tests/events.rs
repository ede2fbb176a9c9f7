//! Pull events: which requests have one, what it says (and never says), and that events off
//! means none is built.

use super::*;
use crate::events::{Event, Kind};

const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
const BODY: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;
const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn from_client(req: Incoming) -> Incoming {
    Incoming {
        client_ip: Some("203.0.113.77".into()),
        user_agent: Some("skopeo/1.16.1".into()),
        country: Some("DE".into()),
        colo: Some("FRA".into()),
        ..req
    }
}

fn only_event(h: &Handled<Vec<u8>>) -> &Event {
    assert_eq!(h.events.len(), 1, "{:?}", h.events);
    &h.events[0]
}

#[test]
fn a_manifest_pull_names_app_customer_image_version_and_client_network() {
    let mem = Mem::new().route(UPSTREAM, |_| manifest_answer(OCI, BODY));
    let lic = license("lic_1", "demo", "Globex", &[]);
    for (host, path) in [
        (DEFAULT_HOST, "/v2/proxy/demo/local/demo/hello/manifests/1.0"),
        (DEMO_DOMAIN, "/v2/local/demo/hello/manifests/1.0"),
    ] {
        let h = oneshot(&mem, from_client(get(path).on(host).auth(basic(&lic))));
        let e = only_event(&h);
        assert_eq!(e.id, "01".repeat(16));
        assert_eq!(
            (e.kind, e.method.as_str(), e.at, e.status, e.outcome.as_str()),
            (Kind::Manifest, "GET", NOW, 200, "ok")
        );
        assert_eq!(
            (e.app.as_deref(), e.customer.as_deref(), e.license.as_deref()),
            (Some("demo"), Some("Globex"), Some("lic_1"))
        );
        assert_eq!((e.image.as_deref(), e.tag.as_deref()), (Some("local/demo/hello"), Some("1.0")), "{host}");
        let digest = crate::reference::Digest::of_bytes(crate::reference::Algorithm::Sha256, BODY).to_string();
        assert_eq!(e.digest.as_deref(), Some(digest.as_str()));
        assert_eq!((e.media_type.as_deref(), e.bytes), (Some(OCI), Some(BODY.len() as u64)));
        assert_eq!(
            (e.client.as_deref(), e.country.as_deref(), e.colo.as_deref()),
            (Some("203.0.113.0/24"), Some("DE"), Some("FRA"))
        );
        assert_eq!((e.agent.as_deref(), e.agent_version.as_deref()), (Some("skopeo"), Some("1.16.1")));
        assert_eq!((e.error.as_deref(), e.reason.as_deref()), (None, None));
        let json = e.to_json();
        assert!(!json.contains("203.0.113.77") && !json.contains(&lic), "{json}");
        mem.ids.set(0);
    }
}

#[test]
fn a_clients_own_platform_is_kept_from_its_user_agent() {
    let mem = Mem::new().route(UPSTREAM, |_| manifest_answer(OCI, BODY));
    let lic = license("lic_1", "demo", "Globex", &[]);
    let mut req = from_client(get("/v2/proxy/demo/local/demo/hello/manifests/1.0").auth(basic(&lic)));
    req.user_agent = Some("docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.8.0 os/linux arch/arm64".into());
    let h = oneshot(&mem, req);
    let e = only_event(&h);
    assert_eq!((e.agent.as_deref(), e.platform.as_deref()), (Some("docker"), Some("linux/arm64")));
    assert!(!e.to_json().contains("kernel"), "only the platform, not the host's details");
}

#[test]
fn sign_ins_are_events_granted_or_refused_with_the_reason() {
    let mem = Mem::new();
    let good = license("lic_1", "demo", "Globex", &[]);
    let expired = license_until("lic_old", "demo", "Initech", &[], NOW - 86_400);
    let h = oneshot(
        &mem,
        from_client(get("/v2/token?scope=repository:proxy/demo/local/demo/hello:pull").auth(basic(&good))),
    );
    let e = only_event(&h);
    assert_eq!(
        (e.kind, e.outcome.as_str(), e.customer.as_deref(), e.app.as_deref()),
        (Kind::SignIn, "ok", Some("Globex"), Some("demo"))
    );
    let text = e.to_json();
    let token = json(&h)["token"].as_str().unwrap().to_string();
    assert!(!text.contains(&token) && !text.contains(&good), "no credential in the event: {text}");

    let h = oneshot(&mem, from_client(get("/v2/token").auth(basic(&expired))));
    let e = only_event(&h);
    assert_eq!((e.kind, e.status, e.outcome.as_str()), (Kind::SignIn, 401, "refused"));
    assert_eq!((e.error.as_deref(), e.reason.as_deref()), (Some("UNAUTHORIZED"), Some("license_expired")));
    assert_eq!(
        (e.app.as_deref(), e.customer.as_deref(), e.license.as_deref()),
        (Some("demo"), Some("Initech"), Some("lic_old")),
        "a genuinely signed expired license names its customer"
    );

    let forged = license("lic_x", "demo", "Mallory", &[]).replace('.', ".x");
    let h = oneshot(&mem, from_client(get("/v2/token").auth(basic(&forged))));
    let e = only_event(&h);
    assert_eq!(
        (e.outcome.as_str(), e.customer.as_deref(), e.reason.as_deref()),
        ("refused", None, Some("license_invalid"))
    );
}

#[test]
fn a_refused_pull_keeps_the_image_and_the_reason() {
    let mem = Mem::new();
    let lic = license("lic_1", "demo", "Globex", &["other/*"]);
    let h = oneshot(&mem, get("/v2/proxy/demo/local/demo/hello/manifests/1.0").auth(basic(&lic)));
    let e = only_event(&h);
    assert_eq!((e.status, e.outcome.as_str(), e.reason.as_deref()), (403, "refused", Some("not_entitled")));
    assert_eq!(
        (e.image.as_deref(), e.tag.as_deref(), e.customer.as_deref()),
        (Some("local/demo/hello"), Some("1.0"), Some("Globex"))
    );
    assert_eq!((&e.digest, &e.media_type, &e.client), (&None, &None, &None));
}

#[test]
fn blobs_tags_and_referrers_are_events_and_a_redirect_has_no_byte_count() {
    let mem = Mem::new().route(UPSTREAM, |r| {
        if r.url.contains("/blobs/") {
            (307, vec![("location", "https://cdn.registry.test/b".to_string())], vec![])
        } else {
            (
                200,
                vec![("content-type", "application/json".to_string())],
                br#"{"name":"demo/hello","tags":["1.0"]}"#.to_vec(),
            )
        }
    });
    let lic = basic(&license("lic_1", "demo", "Globex", &[]));
    let h = oneshot(&mem, get(&format!("/v2/proxy/demo/local/demo/hello/blobs/{DIGEST}")).auth(lic.clone()));
    let e = only_event(&h);
    assert_eq!((e.kind, e.status, e.outcome.as_str(), e.bytes), (Kind::Blob, 307, "redirected", None));
    assert_eq!(e.digest.as_deref(), Some(DIGEST));
    let h = oneshot(&mem, get("/v2/proxy/demo/local/demo/hello/tags/list").auth(lic.clone()));
    assert_eq!((only_event(&h).kind, only_event(&h).status), (Kind::Tags, 200));
    let h = oneshot(&mem, get(&format!("/v2/proxy/demo/local/demo/hello/referrers/{DIGEST}")).auth(lic));
    assert_eq!((only_event(&h).kind, only_event(&h).digest.as_deref()), (Kind::Referrers, Some(DIGEST)));
}

#[test]
fn an_image_manifests_event_notes_its_blob_sizes_and_the_body_is_relayed_unchanged() {
    const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    let config = format!("sha256:{}", "c".repeat(64));
    let image = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI}","config":{{"digest":"{config}","size":1469}},"layers":[{{"digest":"{DIGEST}","size":3145728}}]}}"#
    );
    let index =
        format!(r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{{"digest":"{DIGEST}","size":9}}]}}"#);
    let (image_body, index_body) = (image.clone().into_bytes(), index.clone().into_bytes());
    let mem = Mem::new().route(UPSTREAM, move |r| {
        if r.url.ends_with("/index") {
            manifest_answer(INDEX, &index_body)
        } else {
            manifest_answer(OCI, &image_body)
        }
    });
    let lic = basic(&license("lic_1", "demo", "Globex", &[]));
    let image_digest = crate::reference::Digest::of_bytes(crate::reference::Algorithm::Sha256, image.as_bytes());
    for reference in ["1.0".to_string(), image_digest.to_string()] {
        let h = oneshot(&mem, get(&format!("/v2/proxy/demo/local/demo/hello/manifests/{reference}")).auth(lic.clone()));
        assert_eq!(body(&h), image.as_bytes(), "{reference}: relayed byte for byte");
        assert_eq!(h.reply.header("content-length"), Some(image.len().to_string().as_str()));
        assert_eq!(h.reply.header("docker-content-digest"), Some(image_digest.to_string().as_str()));
        let sizes: Vec<(&str, u64)> = only_event(&h).blobs.iter().map(|b| (b.digest.as_str(), b.size)).collect();
        assert_eq!(sizes, vec![(config.as_str(), 1469), (DIGEST, 3_145_728)], "{reference}");
    }
    // One isolate sends a manifest's sizes once: later pulls of it stream and carry none.
    let isolate = Isolate::default();
    let tag = || get("/v2/proxy/demo/local/demo/hello/manifests/1.0").auth(lic.clone());
    let by_digest = || get(&format!("/v2/proxy/demo/local/demo/hello/manifests/{image_digest}")).auth(lic.clone());
    assert_eq!(only_event(&send(&mem, &isolate, tag())).blobs.len(), 2);
    let again = send(&mem, &isolate, tag());
    assert!(matches!(again.reply, crate::service::reply::Reply::Relay { .. }), "streamed: {:?}", again.reply);
    assert_eq!(body(&again), image.as_bytes());
    assert!(only_event(&again).blobs.is_empty());
    assert!(only_event(&send(&mem, &isolate, by_digest())).blobs.is_empty(), "the same manifest by digest");
    let h = oneshot(&mem, get("/v2/proxy/demo/local/demo/hello/manifests/index").auth(lic.clone()));
    assert!(matches!(h.reply, crate::service::reply::Reply::Relay { .. }), "an index streams: {:?}", h.reply);
    assert!(only_event(&h).blobs.is_empty());
    let head = oneshot(&mem, get("/v2/proxy/demo/local/demo/hello/manifests/1.0").method("HEAD").auth(lic));
    assert!(only_event(&head).blobs.is_empty(), "a HEAD has no body to read");
}

#[test]
fn version_checks_pushes_and_unroutable_requests_have_no_event() {
    let mem = Mem::new();
    let lic = basic(&license("lic_1", "demo", "Globex", &[]));
    for req in [
        get("/v2/").auth(lic.clone()),
        get("/v2/Bad/manifests/1.0"),
        get("/v2/proxy/demo/hosted/x/blobs/uploads/").method("POST"),
    ] {
        let h = oneshot(&mem, req);
        assert!(h.events.is_empty(), "{:?}", h.events);
    }
    assert_eq!(mem.ids.get(), 0, "no random id drawn");
}

#[test]
fn events_off_or_unbound_build_nothing() {
    let mem = Mem::new().route(UPSTREAM, |_| manifest_answer(OCI, BODY));
    let lic = basic(&license("lic_1", "demo", "Globex", &[]));
    let path = "/v2/proxy/demo/local/demo/hello/manifests/1.0";
    mem.vars.borrow_mut().insert("EVENTS", "false".into());
    let h = oneshot(&mem, get(path).auth(lic.clone()));
    assert_eq!((h.reply.status(), h.events.len()), (200, 0));
    mem.vars.borrow_mut().remove("EVENTS");
    mem.events_bound.set(false);
    let h = oneshot(&mem, get(path).auth(lic));
    assert_eq!((h.reply.status(), h.events.len()), (200, 0));
    assert_eq!(mem.ids.get(), 0, "no random id drawn");
}

#[test]
fn a_runtime_without_randomness_drops_the_event_and_says_so() {
    let mem = Mem::new();
    mem.ids.set(u8::MAX);
    let h = oneshot(&mem, get("/v2/token").auth(basic(&license("lic_1", "demo", "Globex", &[]))));
    assert_eq!((h.reply.status(), h.events.len()), (200, 0));
    assert!(h.logs.iter().any(|l| matches!(l, crate::service::LogLine::Error(m) if m.contains("event dropped"))));
}
