//! Tag lists (paged here when the upstream does not page) and referrers.

use super::*;

fn lic() -> String {
    basic(&license("lic_1", "demo", "Globex", &[]))
}

fn tags_upstream() -> Mem {
    Mem::new().route(UPSTREAM, |_| (200, vec![], br#"{"name":"demo/hello","tags":["b","a","d","c"]}"#.to_vec()))
}

#[test]
fn tags_are_listed_under_the_clients_name_and_paged() {
    let mem = tags_upstream();
    let h = oneshot(&mem, get("/v2/proxy/demo/local/demo/hello/tags/list").auth(lic()));
    assert_eq!(json(&h), serde_json::json!({"name": "proxy/demo/local/demo/hello", "tags": ["a", "b", "c", "d"]}));
    assert_eq!(h.reply.header("link"), None);
    let h = oneshot(&mem, get("/v2/proxy/demo/local/demo/hello/tags/list?n=2&last=a").auth(lic()));
    assert_eq!(json(&h)["tags"], serde_json::json!(["b", "c"]));
    assert_eq!(h.reply.header("link"), Some("</v2/proxy/demo/local/demo/hello/tags/list?n=2&last=c>; rel=\"next\""));
    assert_eq!(mem.sent_to(UPSTREAM)[1].url, "https://registry.test/v2/demo/hello/tags/list?n=2&last=a");
}

#[test]
fn an_upstream_that_pages_keeps_its_page_under_our_name() {
    let mem = Mem::new().route(UPSTREAM, |_| {
        (
            200,
            vec![("link", "</v2/demo/hello/tags/list?n=1&last=a&evil=1>; rel=\"next\"".into())],
            br#"{"tags":["a"]}"#.to_vec(),
        )
    });
    let h = oneshot(&mem, get("/v2/proxy/demo/local/demo/hello/tags/list?n=1").auth(lic()));
    assert_eq!(json(&h)["tags"], serde_json::json!(["a"]));
    assert_eq!(h.reply.header("link"), Some("</v2/proxy/demo/local/demo/hello/tags/list?n=1&last=a>; rel=\"next\""));
}

#[test]
fn bad_paging_parameters_are_400() {
    let mem = tags_upstream();
    for (query, want_code) in
        [("n=10001", "PAGINATION_NUMBER_INVALID"), ("n=-1", "PAGINATION_NUMBER_INVALID"), ("last=.bad", "UNSUPPORTED")]
    {
        let h = oneshot(&mem, get(&format!("/v2/proxy/demo/local/demo/hello/tags/list?{query}")).auth(lic()));
        let (status, code, _, _) = oci(&h);
        assert_eq!((status, code.as_str()), (400, want_code), "{query}");
    }
    assert!(mem.upstream.sent().is_empty());
}

#[test]
fn a_tag_list_that_is_not_json_is_the_upstreams_failure() {
    let mem = Mem::new().route(UPSTREAM, |_| (200, vec![], b"<html>".to_vec()));
    let (status, _, message, _) = oci(&oneshot(&mem, get("/v2/proxy/demo/local/demo/hello/tags/list").auth(lic())));
    assert_eq!(status, 403);
    assert!(message.contains("answered a tag list that is not JSON"), "{message}");
}

const SUBJECT: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[test]
fn referrers_are_relayed_with_a_safe_artifact_type_filter() {
    let mem = Mem::new().route(UPSTREAM, |_| {
        (
            200,
            vec![
                ("content-type", "application/vnd.oci.image.index.v1+json".into()),
                ("oci-filters-applied", "artifactType".into()),
            ],
            br#"{"manifests":[]}"#.to_vec(),
        )
    });
    let path =
        format!("/v2/proxy/demo/local/demo/hello/referrers/{SUBJECT}?artifactType=application/vnd.example%2Bjson");
    let h = oneshot(&mem, get(&path).auth(lic()));
    assert_eq!(h.reply.status(), 200);
    assert_eq!(h.reply.header("oci-filters-applied"), Some("artifactType"));
    assert_eq!(
        mem.sent_to(UPSTREAM)[0].url,
        format!("https://registry.test/v2/demo/hello/referrers/{SUBJECT}?artifactType=application/vnd.example+json")
    );
    let h = oneshot(
        &mem,
        get(&format!("/v2/proxy/demo/local/demo/hello/referrers/{SUBJECT}?artifactType=a%26b%3Dc")).auth(lic()),
    );
    assert_eq!(
        mem.sent_to(UPSTREAM)[1].url,
        format!("https://registry.test/v2/demo/hello/referrers/{SUBJECT}"),
        "{}",
        body_text(&h)
    );
}

#[test]
fn an_upstream_without_the_referrers_api_is_unsupported() {
    let mem = Mem::new().route(UPSTREAM, |_| (404, vec![], vec![]));
    let (status, code, _, _) =
        oci(&oneshot(&mem, get(&format!("/v2/proxy/demo/local/demo/hello/referrers/{SUBJECT}")).auth(lic())));
    assert_eq!((status, code.as_str()), (404, "UNSUPPORTED"));
}
