use super::*;
use crate::images::fixtures::{self, BASIC, BEARER, OPEN};

const EDGE: &str = "localhost:28700";

fn custom() -> Serving {
    Serving::Custom { host: EDGE.into() }
}

fn keep_none(_: &ImageRef, _: &str) -> Option<String> {
    None
}

/// The fixture with `(from, to)` replaced once each, in order: what the rewrite must produce,
/// so any other byte that changed fails the comparison.
fn expected(fixture: &str, changes: &[(String, String)]) -> String {
    let mut text = fixtures::load(fixture);
    for (from, to) in changes {
        assert!(text.contains(from.as_str()), "{fixture} lacks {from}");
        text = text.replacen(from.as_str(), to, 1);
    }
    text
}

fn pairs(changes: &[(&str, &str)]) -> Vec<(String, String)> {
    changes.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn fixtures_are_rewritten_byte_for_byte_where_images_are_and_nowhere_else() {
    let zeros = "0".repeat(64);
    // (fixture, the changes the rewrite makes, the images it leaves)
    type Case<'a> = (&'a str, Vec<(String, String)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "deployment.yaml",
            pairs(&[(&format!("\"{OPEN}/demo/hello:1.0\""), &format!("\"{EDGE}/local/demo/hello:1.0\""))]),
            vec!["busybox:1.36"],
        ),
        (
            "cronjob-multi.yaml",
            pairs(&[
                (&format!("image: {BASIC}/demo/legacy:1.0"), &format!("image: {EDGE}/basic/demo/legacy:1.0")),
                (
                    &format!("'{BEARER}/demo/multi@sha256:{zeros}'"),
                    &format!("'{EDGE}/bearer/demo/multi@sha256:{zeros}'"),
                ),
            ]),
            vec!["quay.io/other/tool:2.1"],
        ),
        (
            "values.yaml",
            pairs(&[
                (&format!("image: {OPEN}/demo/hello:1.1"), &format!("image: {EDGE}/local/demo/hello:1.1")),
                (&format!("registry: {BASIC}"), &format!("registry: {EDGE}")),
                ("repository: demo/hello", "repository: basic/demo/hello"),
                (
                    &format!("repository: {BEARER}/demo/legacy-list"),
                    &format!("repository: {EDGE}/bearer/demo/legacy-list"),
                ),
            ]),
            vec!["bitnami/redis:7.2"],
        ),
        (
            "kustomization.yaml",
            pairs(&[
                (
                    &format!("- name: {OPEN}/demo/hello\n"),
                    &format!("- name: {OPEN}/demo/hello\n    newName: {EDGE}/local/demo/hello\n"),
                ),
                (&format!("newName: {BASIC}/demo/hello"), &format!("newName: {EDGE}/basic/demo/hello")),
            ]),
            vec!["nginx:1.25"],
        ),
    ];
    let app = fixtures::app();
    for (fixture, changes, untouched) in cases {
        let plan = plan(&fixtures::load(fixture), &app, &custom(), &keep_none).unwrap();
        assert_eq!(plan.text, expected(fixture, &changes), "{fixture}");
        let left: Vec<&str> = plan.items.iter().filter(|i| i.rewritten.is_none()).map(|i| i.image.as_str()).collect();
        assert_eq!(left, untouched, "{fixture}");
        for item in plan.items.iter().filter(|i| i.rewritten.is_none()) {
            assert!(item.untouched.as_deref().is_some_and(|r| r.contains("not an upstream of app demo")), "{item:?}");
        }
        // The result is YAML with the same documents, and rewriting it again changes nothing.
        let again = super::plan(&plan.text, &app, &custom(), &keep_none).unwrap();
        assert_eq!(again.text, plan.text, "{fixture} twice");
        assert!(again.items.iter().all(|i| i.rewritten.is_none()), "{fixture}: {:?}", again.items);
    }
}

#[test]
fn the_default_host_names_images_with_the_app() {
    let serving = Serving::Default { host: "pullgate.example.dev".into(), app: "demo".into() };
    let plan = plan(&fixtures::load("values.yaml"), &fixtures::app(), &serving, &keep_none).unwrap();
    let rewritten: Vec<&str> = plan.items.iter().filter_map(|i| i.rewritten.as_deref()).collect();
    assert_eq!(
        rewritten,
        vec![
            "pullgate.example.dev/proxy/demo/local/demo/hello:1.1",
            "pullgate.example.dev/proxy/demo/basic/demo/hello:1.2",
            "pullgate.example.dev/proxy/demo/bearer/demo/legacy-list:1.0",
        ]
    );
    assert!(plan.text.contains("registry: pullgate.example.dev\n    repository: proxy/demo/basic/demo/hello\n"));
}

#[test]
fn a_keep_filter_leaves_images_with_its_reason() {
    let keep =
        |image: &ImageRef, upstream: &str| (upstream == "local").then(|| format!("{} is public", image.repository));
    let source = fixtures::load("values.yaml");
    let plan = plan(&source, &fixtures::app(), &custom(), &keep).unwrap();
    let api = &plan.items[0];
    assert_eq!((api.rewritten.as_deref(), api.untouched.as_deref()), (None, Some("demo/hello is public")));
    assert!(plan.text.contains(&format!("image: {OPEN}/demo/hello:1.1")));
    assert_eq!(plan.items.iter().filter(|i| i.rewritten.is_some()).count(), 2);
}

#[test]
fn sites_that_cannot_be_edited_safely_are_listed_not_changed() {
    let app = fixtures::app();
    for (text, reason) in [
        (format!("image: \"{OPEN}/demo/\\x68ello:1\"\n"), "escapes"),
        (format!("a:\n  image: >-\n    {OPEN}/demo/hello:1\n"), "block style"),
        (format!("x:\n  image:\n    registry: {OPEN}\n    repository: demo/hello:1\n"), "carries a tag"),
        (format!("x:\n  image:\n    repository: {OPEN}/demo/hello@sha256:{}\n", "a".repeat(64)), "carries a tag"),
        (format!("kind: Kustomization\nimages: [{{name: {OPEN}/demo/hello, newTag: '1'}}]\n"), "flow style"),
        ("image: \"{{ .Values.image }}\"\n".to_string(), "must match"),
    ] {
        let plan = plan(&text, &app, &custom(), &keep_none).unwrap();
        assert_eq!(plan.text, text);
        let why = plan.items.first().and_then(|i| i.untouched.clone()).unwrap_or_default();
        assert!(why.contains(reason), "{text:?}: {why:?}");
    }
    assert!(plan("a: [1\n", &app, &custom(), &keep_none).is_err());
}
