//! End to end: `images rewrite` on the fixtures of tests/fixtures/images/ (their placeholder
//! registries made the demo upstreams), every rewritten reference pulled through the edge by
//! skopeo with the license; `--detect-private` against the demo's open and authenticated
//! upstreams; `images test` over a list with a missing tag and an image outside the app.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use serde_json::Value;

const FIXTURES: [&str; 4] = ["deployment.yaml", "cronjob-multi.yaml", "values.yaml", "kustomization.yaml"];

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `pullgate [--json] images rewrite --app demo --domain <domain> <rest>…`.
fn rewrite(json: bool, domain: &str, rest: &[&str]) -> Output {
    let mut args = if json { vec!["--json"] } else { vec![] };
    args.extend(["images", "rewrite", "--app", "demo", "--domain", domain]);
    args.extend_from_slice(rest);
    pullgate(&args)
}

fn rewrite_json(domain: &str, rest: &[&str]) -> Value {
    let out = rewrite(true, domain, rest);
    assert!(out.status.success(), "images rewrite {rest:?}: {}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("--json output")
}

fn authority(url: &str) -> String {
    url.trim_start_matches("http://").trim_end_matches('/').to_string()
}

/// A fixture with its placeholders made the demo's registries (and the demo index's digest).
fn fixture(d: &Dev, name: &str) -> String {
    let path = format!("{}/tests/fixtures/images/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let multi = d.image("demo/multi", "1.0").digest;
    text.replace("open.upstream.test", &authority(&d.upstream))
        .replace("basic.upstream.test", &authority(&d.basic))
        .replace("bearer.upstream.test", &authority(&d.bearer))
        .replace(&format!("sha256:{}", "0".repeat(64)), &multi)
}

/// The fixtures, made real, in a fresh directory.
fn chart(d: &Dev, label: &str) -> PathBuf {
    let dir = temp_dir(label);
    for name in FIXTURES {
        std::fs::write(dir.join(name), fixture(d, name)).unwrap();
    }
    dir
}

/// `(image, rewritten)` of every image in a `images rewrite --json` document.
fn results(doc: &Value) -> Vec<(String, Option<String>)> {
    let files = doc["files"].as_array().expect("files[]");
    files
        .iter()
        .flat_map(|f| f["images"].as_array().expect("images[]").iter())
        .map(|i| (i["image"].as_str().unwrap().to_string(), i["rewritten"].as_str().map(str::to_string)))
        .collect()
}

fn pull(reference: &str, license: &str, label: &str) -> (bool, String) {
    let dest = format!("oci:{}:x", temp_dir(label).display());
    let creds = format!("license:{license}");
    skopeo_try(&[
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &format!("docker://{reference}"),
        &dest,
    ])
}

fn edge_port(d: &Dev) -> String {
    d.authority.rsplit_once(':').expect("the edge's port").1.to_string()
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn rewritten_fixtures_pull_through_the_edge_and_other_registries_are_listed() {
    let d = dev();
    let license = env("PULLGATE_LICENSE");
    let dir = chart(&d, "images-chart");
    let out = temp_dir("images-out");
    let domain = format!("localhost:{}", edge_port(&d));
    let paths = ["--out", out.to_str().unwrap(), dir.to_str().unwrap()];
    let doc = rewrite_json(&domain, &paths);
    let all = results(&doc);
    let untouched: BTreeSet<&str> = all.iter().filter(|(_, r)| r.is_none()).map(|(i, _)| i.as_str()).collect();
    assert_eq!(
        untouched,
        BTreeSet::from(["busybox:1.36", "quay.io/other/tool:2.1", "bitnami/redis:7.2", "nginx:1.25"])
    );
    let rewritten: BTreeSet<String> = all.iter().filter_map(|(_, r)| r.clone()).collect();
    let multi = d.image("demo/multi", "1.0").digest;
    let want: BTreeSet<String> = [
        "local/demo/hello:1.0".to_string(),
        "basic/demo/legacy:1.0".into(),
        format!("bearer/demo/multi@{multi}"),
        "local/demo/hello:1.1".into(),
        "basic/demo/hello:1.2".into(),
        "bearer/demo/legacy-list:1.0".into(),
        "local/demo/hello:2.0".into(),
        "basic/demo/hello:1.1".into(),
    ]
    .into_iter()
    .map(|path| format!("{domain}/{path}"))
    .collect();
    assert_eq!(rewritten, want);
    // The files say so too: the Deployment names its image through the edge, quoting kept.
    let deployment = std::fs::read_to_string(out.join("deployment.yaml")).unwrap();
    assert!(deployment.contains(&format!("image: \"{domain}/local/demo/hello:1.0\"   # the vendor's")), "{deployment}");
    let values = std::fs::read_to_string(out.join("values.yaml")).unwrap();
    assert!(values.contains(&format!("registry: {domain}\n    repository: basic/demo/hello\n")), "{values}");
    // Every rewritten reference pulls with the license, through the custom domain.
    for reference in &rewritten {
        let (ok, text) = pull(reference, &license, "images-pull");
        assert!(ok, "skopeo pull of {reference}: {text}");
    }

    // The plain report lists the untouched images with the reason.
    let plain = rewrite(false, &domain, &paths);
    let report = stdout(&plain);
    assert!(report.contains("quay.io/other/tool:2.1") && report.contains("not an upstream of app demo"), "{report}");

    // On the Worker's own host the names carry proxy/<app>/, and pull as well.
    let values = dir.join("values.yaml");
    let doc = rewrite_json(&d.authority, &[values.to_str().unwrap()]);
    let first = results(&doc).into_iter().find_map(|(_, r)| r).expect("a rewritten image");
    assert_eq!(first, format!("{}/proxy/demo/local/demo/hello:1.1", d.authority));
    let (ok, text) = pull(&first, &license, "images-pull-default");
    assert!(ok, "skopeo pull of {first}: {text}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn detect_private_rewrites_only_images_the_upstream_refuses_anonymously() {
    let d = dev();
    let dir = chart(&d, "images-private");
    let values = dir.join("values.yaml");
    let domain = format!("localhost:{}", edge_port(&d));
    let doc = rewrite_json(&domain, &["--detect-private", values.to_str().unwrap()]);
    let files = doc["files"].as_array().unwrap();
    let items = files[0]["images"].as_array().unwrap();
    let by_path = |p: &str| items.iter().find(|i| i["path"] == p).unwrap_or_else(|| panic!("{p} in {doc:#}"));
    // The open upstream serves anyone; the basic and bearer ones refuse without credentials.
    assert!(by_path("api.image")["untouched"].as_str().is_some_and(|r| r.starts_with("public")), "{doc:#}");
    assert_eq!(by_path("worker.image")["rewritten"], format!("{domain}/basic/demo/hello:1.2"));
    assert_eq!(by_path("migrations.image")["rewritten"], format!("{domain}/bearer/demo/legacy-list:1.0"));
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn the_kustomize_patch_extends_the_vendors_kustomization() {
    let d = dev();
    let dir = chart(&d, "images-kustomize");
    let domain = format!("localhost:{}", edge_port(&d));
    let out = rewrite(false, &domain, &["--format", "kustomize", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    // The vendor's file, its entries pointed at the edge, the manifests' other images appended.
    assert!(
        text.starts_with("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"),
        "{text}"
    );
    for line in [
        format!("  - name: {}/demo/hello\n    newName: {domain}/local/demo/hello\n", authority(&d.upstream)),
        format!("    newName: {domain}/basic/demo/hello\n"),
        format!("  - name: {}/demo/legacy\n    newName: {domain}/basic/demo/legacy\n", authority(&d.basic)),
        format!("  - name: {}/demo/multi\n    newName: {domain}/bearer/demo/multi\n", authority(&d.bearer)),
    ] {
        assert!(text.contains(&line), "{line:?} missing from\n{text}");
    }
}

/// The list fixture: one image that pulls, one missing tag, one image of another registry.
fn list(d: &Dev) -> PathBuf {
    let dir = temp_dir("images-list");
    let path = dir.join("images.txt");
    let open = authority(&d.upstream);
    std::fs::write(
        &path,
        format!("# release 1.0\n{open}/demo/hello:1.0\n{open}/demo/hello:9.9-missing\nquay.io/other/tool:2.1\n"),
    )
    .unwrap();
    path
}

fn assert_names_both_failures(out: &Output, path: &Path, d: &Dev) {
    assert!(!out.status.success(), "images test passed over {}", path.display());
    assert_eq!(out.status.code(), Some(4), "the first failure is the missing tag");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("--json output");
    let rows = doc["images"].as_array().unwrap();
    let open = authority(&d.upstream);
    let row = |image: &str| rows.iter().find(|r| r["image"] == image).unwrap_or_else(|| panic!("{image} in {doc:#}"));
    assert_eq!(row(&format!("{open}/demo/hello:1.0"))["ok"], true, "{doc:#}");
    let missing = row(&format!("{open}/demo/hello:9.9-missing"));
    assert_eq!((missing["ok"].as_bool(), missing["diagnosis"].as_str()), (Some(false), Some("not_found")), "{doc:#}");
    let outside = row("quay.io/other/tool:2.1");
    assert_eq!(outside["ok"], false, "{doc:#}");
    assert!(outside["result"].as_str().unwrap().contains("not an upstream of app demo"), "{doc:#}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("9.9-missing") && stderr.contains("quay.io/other/tool:2.1"), "{stderr}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn images_test_fails_on_a_missing_tag_and_an_image_outside_the_app() {
    let d = dev();
    let path = list(&d);
    let out = pullgate(&["--json", "images", "test", "--app", "demo", "--jobs", "2", path.to_str().unwrap()]);
    assert_names_both_failures(&out, &path, &d);

    // As a customer, through the edge with the license.
    let license = env("PULLGATE_LICENSE");
    let domain = format!("localhost:{}", edge_port(&d));
    let out = pullgate(&[
        "--json",
        "images",
        "test",
        "--app",
        "demo",
        "--through-edge",
        "--license",
        &license,
        "--domain",
        &domain,
        path.to_str().unwrap(),
    ]);
    assert_names_both_failures(&out, &path, &d);

    // The plain table has the fix column.
    let out = pullgate(&["images", "test", "--app", "demo", path.to_str().unwrap()]);
    let table = stdout(&out);
    assert!(table.contains("FIX") && table.contains("does not exist at the upstream"), "{table}");
    assert!(table.contains("1 of 3 image(s) pull"), "{table}");
}
