use super::*;
use crate::images::fixtures;
use crate::images::yaml;

/// (document, path, reference) of every site in a fixture.
fn found(name: &str) -> Vec<(usize, String, String)> {
    let docs = yaml::parse(&fixtures::load(name)).unwrap();
    let mut out = Vec::new();
    for (n, doc) in docs.iter().enumerate() {
        for f in sites(doc.as_ref().unwrap()) {
            out.push((n, f.path, reference_text(&f.site)));
        }
    }
    out
}

#[test]
fn images_are_found_where_each_kind_of_document_names_them() {
    let zeros = "0".repeat(64);
    type Case<'a> = (&'a str, Vec<(usize, &'a str, String)>);
    let cases: Vec<Case> = vec![
        (
            "deployment.yaml",
            vec![
                (0, "spec.template.spec.containers[0].image", format!("{}/demo/hello:1.0", fixtures::OPEN)),
                (0, "spec.template.spec.containers[1].image", "busybox:1.36".into()),
            ],
        ),
        (
            // The ConfigMap's `image` key is data, not a container: not found.
            "cronjob-multi.yaml",
            vec![
                (
                    0,
                    "spec.jobTemplate.spec.template.spec.initContainers[0].image",
                    format!("{}/demo/legacy:1.0", fixtures::BASIC),
                ),
                (
                    0,
                    "spec.jobTemplate.spec.template.spec.containers[0].image",
                    format!("{}/demo/multi@sha256:{zeros}", fixtures::BEARER),
                ),
                (2, "spec.containers[0].image", "quay.io/other/tool:2.1".into()),
            ],
        ),
        (
            "values.yaml",
            vec![
                (0, "api.image", format!("{}/demo/hello:1.1", fixtures::OPEN)),
                (0, "worker.image", format!("{}/demo/hello:1.2", fixtures::BASIC)),
                (0, "migrations.image", format!("{}/demo/legacy-list:1.0", fixtures::BEARER)),
                (0, "redis.image", "bitnami/redis:7.2".into()),
            ],
        ),
        (
            "kustomization.yaml",
            vec![
                (0, "images[0]", format!("{}/demo/hello:2.0", fixtures::OPEN)),
                (0, "images[1]", format!("{}/demo/hello:1.1", fixtures::BASIC)),
                (0, "images[2]", "nginx:1.25".into()),
            ],
        ),
    ];
    for (fixture, expected) in cases {
        let expected: Vec<(usize, String, String)> =
            expected.into_iter().map(|(n, p, r)| (n, p.to_string(), r)).collect();
        assert_eq!(found(fixture), expected, "{fixture}");
    }
}

#[test]
fn document_kinds() {
    for (text, kind) in [
        ("apiVersion: v1\nkind: Pod\n", DocKind::Kubernetes),
        ("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n", DocKind::Kustomization),
        ("kind: Kustomization\n", DocKind::Kustomization),
        ("kind: thing\nimage: x\n", DocKind::Values),
        ("image: x\n", DocKind::Values),
    ] {
        assert_eq!(kind_of(&yaml::parse(text).unwrap().remove(0).unwrap()), kind, "{text}");
    }
}

#[test]
fn values_shapes_without_an_image_are_skipped() {
    let text = "a:\n  image: \"\"\nb:\n  image:\n    repository: \"\"\n    tag: x\nc:\n  image:\n    pullPolicy: Always\n    nested:\n      image: n:1\n";
    let doc = yaml::parse(text).unwrap().remove(0).unwrap();
    let got: Vec<(String, String)> =
        sites(&doc).into_iter().map(|f| (f.path.clone(), reference_text(&f.site))).collect();
    assert_eq!(got, vec![("c.image.nested.image".to_string(), "n:1".to_string())]);
}
