//! Tests of `images rewrite` as a command: inputs from files and directories, the host images
//! are named with, files written under --out or in place, the kustomize patch, and the
//! anonymous probe of --detect-private against a local stand-in registry.

use super::*;
use crate::commands::test_support::{ctx_with_wrangler_config, temp_dir, write_file};
use crate::images::fixtures;

/// A context whose app `demo` has the fixtures' upstreams, custom domains `localhost` and
/// `images.demo.test`, and a Worker on 127.0.0.1 and pullgate.demo.workers.dev.
fn demo_ctx(dir: &tempfile::TempDir, app: &AppRecord, domains: &[&str]) -> Ctx {
    let toml = write_file(dir, "wrangler.toml", "[vars]\nDEFAULT_HOSTS = \"127.0.0.1, pullgate.demo.workers.dev\"\n");
    let ctx = ctx_with_wrangler_config(&toml);
    let mut writes = vec![(pullgate::store::app_key(&app.slug), crate::kv::encode(app).unwrap())];
    for host in domains {
        let record =
            pullgate::store::DomainRecord { v: 1, host: host.to_string(), app: app.slug.clone(), created_at: 0 };
        writes.push((pullgate::store::domain_key(host), crate::kv::encode(&record).unwrap()));
    }
    ctx.kv().unwrap().put_many(&writes).unwrap();
    ctx
}

fn args(paths: &[&Path], out: Option<&Path>) -> ImagesRewriteArgs {
    ImagesRewriteArgs {
        app: "demo".into(),
        domain: Some("localhost:28700".into()),
        format: RewriteFormat::Files,
        out: out.map(Path::to_path_buf),
        in_place: false,
        detect_private: false,
        paths: paths.iter().map(|p| p.to_path_buf()).collect(),
    }
}

/// The four fixtures (placeholders made real) in `dir/chart/`, plus a Helm template that is
/// not YAML and a hidden file.
fn chart(dir: &tempfile::TempDir) -> PathBuf {
    let chart = dir.path().join("chart");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    for name in ["deployment.yaml", "cronjob-multi.yaml", "values.yaml", "kustomization.yaml"] {
        std::fs::write(chart.join(name), fixtures::load(name)).unwrap();
    }
    std::fs::write(chart.join("templates/pod.yaml"), "spec:\n  image: {{ .Values.image }}\n  x: [\n").unwrap();
    std::fs::write(chart.join(".hidden.yaml"), "image: 127.0.0.1:18701/demo/hello:1\n").unwrap();
    // A link back up the tree: the walk must not follow it.
    std::os::unix::fs::symlink(&chart, chart.join("templates/loop")).unwrap();
    chart
}

#[test]
fn the_host_is_the_domain_asked_or_the_apps_first_public_one() {
    let dir = temp_dir();
    let app = fixtures::app();
    let with_domains = demo_ctx(&dir, &app, &["localhost", "images.demo.test"]);
    let custom = |h: &str| Ok(Serving::Custom { host: h.into() });
    let default = |h: &str| Ok(Serving::Default { host: h.into(), app: "demo".into() });
    let cases: Vec<(Option<&str>, Result<Serving, &str>)> = vec![
        (Some("localhost:28700"), custom("localhost:28700")),
        (Some("Images.Demo.Test"), custom("images.demo.test")),
        (Some("127.0.0.1:28700"), default("127.0.0.1:28700")),
        (Some("pullgate.demo.workers.dev"), default("pullgate.demo.workers.dev")),
        (Some("images.other.test"), Err("not served on images.other.test")),
        (Some("https://x"), Err("not host[:port]")),
        (None, custom("images.demo.test")),
    ];
    for (domain, want) in cases {
        let got = serving(&with_domains, "demo", domain).map_err(|e| e.message);
        match want {
            Ok(want) => assert_eq!(got, Ok(want), "{domain:?}"),
            Err(needle) => assert!(got.as_ref().is_err_and(|m| m.contains(needle)), "{domain:?}: {got:?}"),
        }
    }
    let dir2 = temp_dir();
    let no_domains = demo_ctx(&dir2, &app, &["localhost"]);
    let fallback = Serving::Default { host: "pullgate.demo.workers.dev".into(), app: "demo".into() };
    assert_eq!(serving(&no_domains, "demo", None).ok(), Some(fallback));
}

#[test]
fn a_chart_directory_is_rewritten_under_out_and_templates_are_copied_as_they_are() {
    let dir = temp_dir();
    let ctx = demo_ctx(&dir, &fixtures::app(), &["localhost"]);
    let chart = chart(&dir);
    let out = dir.path().join("out");
    rewrite_files(&ctx, &args(&[&chart], Some(&out))).unwrap();
    let app = fixtures::app();
    let serving = Serving::Custom { host: "localhost:28700".into() };
    for name in ["deployment.yaml", "cronjob-multi.yaml", "values.yaml", "kustomization.yaml"] {
        let want = rewrite::plan(&fixtures::load(name), &app, &serving, &|_, _| None).unwrap().text;
        assert_ne!(want, fixtures::load(name), "{name} has images to rewrite");
        assert_eq!(std::fs::read_to_string(out.join(name)).unwrap(), want, "{name}");
    }
    let template = std::fs::read_to_string(chart.join("templates/pod.yaml")).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("templates/pod.yaml")).unwrap(), template);
    assert!(!out.join(".hidden.yaml").exists());
    assert!(!out.join("templates/loop").exists());
    // Named on the command line, a file that is not YAML is an error, and nothing is written.
    let out2 = dir.path().join("out2");
    let err = rewrite_files(&ctx, &args(&[&chart.join("templates/pod.yaml")], Some(&out2))).unwrap_err();
    assert!(err.message.contains("not YAML"), "{}", err.message);
    assert!(!out2.exists());
}

#[test]
fn in_place_writes_only_files_that_change_and_stdout_takes_one_file() {
    let dir = temp_dir();
    let ctx = demo_ctx(&dir, &fixtures::app(), &["localhost"]);
    let chart = chart(&dir);
    let untouched = write_file(&dir, "chart/public.yaml", "image: quay.io/other/tool:1 # keep\n");
    let before = std::fs::metadata(&untouched).unwrap().modified().unwrap();
    let mut in_place = args(&[&chart], None);
    in_place.in_place = true;
    std::thread::sleep(std::time::Duration::from_millis(20));
    rewrite_files(&ctx, &in_place).unwrap();
    assert_eq!(std::fs::metadata(&untouched).unwrap().modified().unwrap(), before);
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    assert!(values.contains("image: localhost:28700/local/demo/hello:1.1\n"), "{values}");
    // Several files need --out or --in-place; one goes to stdout.
    let err = rewrite_files(&ctx, &args(&[&chart], None)).unwrap_err();
    assert!(err.message.contains("--out DIR or --in-place"), "{}", err.message);
    rewrite_files(&ctx, &args(&[&untouched], None)).unwrap();
    assert!(rewrite_files(&ctx, &args(&[&dir.path().join("nothing-here")], None)).is_err());
}

#[test]
fn the_kustomize_format_extends_the_vendors_kustomization() {
    let dir = temp_dir();
    let ctx = demo_ctx(&dir, &fixtures::app(), &["localhost"]);
    let chart = chart(&dir);
    let out = dir.path().join("out");
    let mut kustomize = args(&[&chart], Some(&out));
    kustomize.format = RewriteFormat::Kustomize;
    rewrite_files(&ctx, &kustomize).unwrap();
    let written = std::fs::read_to_string(out.join("kustomization.yaml")).unwrap();
    let (open, basic, bearer) = (fixtures::OPEN, fixtures::BASIC, fixtures::BEARER);
    let want = fixtures::load("kustomization.yaml")
        .replace(
            &format!("- name: {open}/demo/hello\n"),
            &format!("- name: {open}/demo/hello\n    newName: localhost:28700/local/demo/hello\n"),
        )
        .replace(&format!("newName: {basic}/demo/hello"), "newName: localhost:28700/basic/demo/hello")
        + &format!(
            "  - name: {basic}/demo/legacy\n    newName: localhost:28700/basic/demo/legacy\n  - name: {bearer}/demo/multi\n    newName: localhost:28700/bearer/demo/multi\n"
        );
    assert_eq!(written, want);
    // Manifests are not written: the patch does their rewriting.
    assert!(!out.join("deployment.yaml").exists());

    // Without a kustomization among the inputs, a new one carries the patch.
    let out2 = dir.path().join("out2");
    let mut alone = args(&[&chart.join("deployment.yaml")], Some(&out2));
    alone.format = RewriteFormat::Kustomize;
    rewrite_files(&ctx, &alone).unwrap();
    assert_eq!(
        std::fs::read_to_string(out2.join("kustomization.yaml")).unwrap(),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n- name: {open}/demo/hello\n  newName: localhost:28700/local/demo/hello\n"
        )
    );
    alone.out = None;
    alone.in_place = true;
    assert!(rewrite_files(&ctx, &alone).unwrap_err().message.contains("needs a kustomization"));
}

#[test]
fn probe_answers_decide_what_detect_private_rewrites() {
    assert_eq!(probe_verdict(Ok(401)), None);
    assert_eq!(probe_verdict(Ok(403)), None);
    assert!(probe_verdict(Ok(200)).is_some_and(|r| r.starts_with("public")));
    assert!(probe_verdict(Ok(404)).is_some_and(|r| r.contains("HTTP 404")));
    assert!(probe_verdict(Err("refused".into())).is_some_and(|r| r.contains("refused")));
}

#[test]
fn detect_private_probes_anonymously_and_rewrites_only_refused_images() {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let seen = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let request = server.recv().unwrap();
            let authorized = request.headers().iter().any(|h| h.field.equiv("authorization"));
            let status = if request.url().contains("/private/") { 401 } else { 200 };
            seen.push((request.url().to_string(), authorized));
            request.respond(tiny_http::Response::from_string("{}").with_status_code(status)).unwrap();
        }
        seen
    });
    let registry = format!("127.0.0.1:{port}");
    let app: AppRecord = serde_json::from_value(serde_json::json!({
        "v": 1, "slug": "demo", "name": "Demo", "created_at": 0,
        "upstreams": [{ "endpoint": format!("http://{registry}"), "alias": "local", "credential": { "kind": "basic" }, "insecure": true }],
    }))
    .unwrap();
    let dir = temp_dir();
    let ctx = demo_ctx(&dir, &app, &["localhost"]);
    let file = write_file(
        &dir,
        "values.yaml",
        &format!("a:\n  image: {registry}/private/api:1\nb:\n  image: {registry}/public/web:2\nc:\n  image: {registry}/private/api:1\n"),
    );
    let out = dir.path().join("out");
    let mut detect = args(&[&file], Some(&out));
    detect.detect_private = true;
    rewrite_files(&ctx, &detect).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("values.yaml")).unwrap(),
        format!("a:\n  image: localhost:28700/local/private/api:1\nb:\n  image: {registry}/public/web:2\nc:\n  image: localhost:28700/local/private/api:1\n")
    );
    // One probe per image, none with credentials.
    assert_eq!(
        seen.join().unwrap(),
        vec![("/v2/private/api/manifests/1".to_string(), false), ("/v2/public/web/manifests/2".to_string(), false)]
    );
}
