//! Tests of `images test`: where references come from, the bounded parallel runner, and the
//! rows for images outside the app, malformed, and missing at a stand-in upstream.

use super::*;
use crate::images::fixtures;

#[test]
fn lists_take_one_reference_a_line() {
    let text = "# images of release 1.2\nghcr.io/acme/api:1.2\n\n  nginx:1.25   # public\n#gone:1\n";
    assert_eq!(list_images(text), vec!["ghcr.io/acme/api:1.2", "nginx:1.25"]);
}

#[test]
fn yaml_files_give_every_site_rewrite_would_see() {
    let found = yaml_images(&fixtures::load("values.yaml")).unwrap();
    assert_eq!(
        found,
        vec![
            format!("{}/demo/hello:1.1", fixtures::OPEN),
            format!("{}/demo/hello:1.2", fixtures::BASIC),
            format!("{}/demo/legacy-list:1.0", fixtures::BEARER),
            "bitnami/redis:7.2".to_string(),
        ]
    );
    assert!(yaml_images("a: [\n").is_err());
}

#[test]
fn the_runner_keeps_order_and_its_bound() {
    let running = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let items: Vec<usize> = (0..24).collect();
    let out = run_all(&items, 3, |i| {
        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(2 + (*i as u64 % 3)));
        running.fetch_sub(1, Ordering::SeqCst);
        i * 10
    });
    assert_eq!(out, items.iter().map(|i| i * 10).collect::<Vec<_>>());
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=3).contains(&peak), "peak {peak}");
    assert!(run_all(&Vec::<u8>::new(), 4, |_| 0).is_empty());
}

#[test]
fn images_outside_the_app_or_malformed_fail_with_a_fix() {
    let app = fixtures::app();
    let outside = test_one(&app, &Mode::Upstream, "quay.io/other/tool:2.1");
    assert!(!outside.ok && outside.upstream.is_none());
    assert!(outside.result.contains("quay.io is not an upstream of app demo"), "{outside:?}");
    assert!(outside.fix.as_deref().is_some_and(|f| f.contains("pullgate upstream add --app demo https://quay.io")));
    let bad = test_one(&app, &Mode::Upstream, "Not/A/Ref");
    assert_eq!((bad.ok, bad.exit), (false, Some(Exit::Usage)));
    assert!(fix_for(Exit::CredentialsRejected, "demo", false).contains("upstream add --app demo"));
    assert!(fix_for(Exit::CredentialsRejected, "demo", true).contains("license inspect"));
    assert!(fix_for(Exit::NotEntitled, "demo", true).contains("--image patterns"));
}

#[test]
fn a_missing_tag_at_the_upstream_is_not_found() {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let answered = std::thread::spawn(move || {
        let request = server.recv().unwrap();
        let url = request.url().to_string();
        let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
        request.respond(tiny_http::Response::from_string(body).with_status_code(404)).unwrap();
        url
    });
    let app: AppRecord = serde_json::from_value(serde_json::json!({
        "v": 1, "slug": "demo", "name": "Demo", "created_at": 0,
        "upstreams": [{ "endpoint": format!("http://127.0.0.1:{port}"), "alias": "local", "credential": { "kind": "none" }, "insecure": true }],
    }))
    .unwrap();
    let row = test_one(&app, &Mode::Upstream, &format!("127.0.0.1:{port}/demo/hello:9.9"));
    assert_eq!((row.ok, row.exit, row.upstream.as_deref()), (false, Some(Exit::NotFound), Some("local")), "{row:?}");
    assert!(row.fix.as_deref().is_some_and(|f| f.contains("does not exist at the upstream")), "{row:?}");
    assert_eq!(answered.join().unwrap(), "/v2/demo/hello/manifests/9.9");
}
