//! End to end: `pullgate push` into the hosted registry of the running edge, whose body limit the
//! e2e stack sets to 8 MiB (`HOSTED_BODY_LIMIT` in scripts/test): a 20 MiB layer goes up in
//! chunks, an interrupted push resumes where it stopped, a re-run skips what is there, and a
//! customer's license pulls the image back with skopeo with identical digests. Then what pushes
//! leave behind: `app show --registry` sizes and `gc` through the edge's admin channel.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value};

/// An app of this suite's own, so nothing here depends on (or disturbs) the demo app's seed.
const APP: &str = "push-e2e";
const MIB: usize = 1024 * 1024;

fn pullgate(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pullgate"));
    cmd.args(args).env_remove("PULLGATE_PUSH_TOKEN").env_remove("PULLGATE_PUSH_STOP_AFTER_CHUNKS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("running pullgate")
}

fn pullgate_ok(args: &[&str], envs: &[(&str, &str)]) -> String {
    succeeded(&format!("pullgate {}", args.join(" ")), &pullgate(args, envs)).trim().to_string()
}

/// Deterministic incompressible bytes (xorshift), so the layer is a real 20 MiB upload.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn put_blob(root: &Path, bytes: &[u8]) -> Value {
    let digest = sha256_digest(bytes);
    let dir = root.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
    json!({ "digest": digest, "size": bytes.len() })
}

/// An OCI layout with one image: a small config and `layer`. Returns (manifest digest, layer digest).
fn write_layout(root: &Path, layer: &[u8]) -> (String, String) {
    let mut config =
        put_blob(root, br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    config["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    let mut layer_desc = put_blob(root, layer);
    layer_desc["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar");
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": [layer_desc.clone()],
    });
    let mut top = put_blob(root, manifest.to_string().as_bytes());
    top["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(root.join("index.json"), json!({ "schemaVersion": 2, "manifests": [top.clone()] }).to_string())
        .unwrap();
    (top["digest"].as_str().unwrap().to_string(), layer_desc["digest"].as_str().unwrap().to_string())
}

/// The suite's app with a hosted registry; returns (push token, license).
fn hosted_app() -> (String, String) {
    hosted_app_named(APP, &[])
}

/// `app` with a hosted registry, a push token (with `token_flags`) and a license for it.
fn hosted_app_named(app: &str, token_flags: &[&str]) -> (String, String) {
    if !pullgate(&["app", "show", app], &[]).status.success() {
        let out = pullgate(&["app", "add", app], &[]);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() || text.contains("already exists"), "app add: {text}");
    }
    pullgate_ok(&["hosted", "enable", "--app", app, "--alias", "hosted"], &[]);
    let mut issue = vec!["push-token", "issue", "--app", app, "--expires", "1d"];
    issue.extend_from_slice(token_flags);
    let token = pullgate_ok(&issue, &[]);
    let license: Value = serde_json::from_str(&pullgate_ok(
        &["--json", "license", "issue", "--app", app, "--customer", "Push Customer", "--expires", "1d"],
        &[],
    ))
    .unwrap();
    // The edge reads app records through its config cache (CONFIG_CACHE_SECONDS=3 in the suite).
    std::thread::sleep(std::time::Duration::from_secs(5));
    (token, license["license"].as_str().unwrap().to_string())
}

fn blob_report<'a>(report: &'a Value, digest: &str) -> &'a Value {
    report["blobs"].as_array().unwrap().iter().find(|b| b["digest"] == digest).unwrap_or_else(|| panic!("{report}"))
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn push_sends_a_layer_over_the_body_limit_in_chunks_resumes_and_pulls_back_identical() {
    let d = dev();
    let (token, license) = hosted_app();
    let src = temp_dir("push-src");
    // Fresh bytes and a fresh repository each run: nothing of an earlier run is skipped.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let layer = noise(20 * MIB, (nanos as u64) | 1);
    let (manifest_digest, layer_digest) = write_layout(&src, &layer);
    let state = temp_dir("push-state");
    let state_home = state.to_str().unwrap();
    let target = format!("{}/proxy/{APP}/hosted/big-{nanos}:1.0", d.authority);
    let source = src.to_str().unwrap();
    let env = [("PULLGATE_PUSH_TOKEN", token.as_str()), ("XDG_STATE_HOME", state_home)];

    // In one request (a chunk as big as the layer) the edge refuses the body, saying why.
    let whole = pullgate(&["push", source, &target, "--chunk-size", &(32 * MIB).to_string()], &env);
    let stderr = String::from_utf8_lossy(&whole.stderr);
    assert!(!whole.status.success(), "a 20 MiB body was accepted over the 8 MiB limit");
    assert!(stderr.contains("413") && stderr.contains("SIZE_INVALID"), "{stderr}");

    // Interrupted after the first 8 MiB chunk of the layer (the config went up whole first).
    let stop = [env[0], env[1], ("PULLGATE_PUSH_STOP_AFTER_CHUNKS", "1")];
    let interrupted = pullgate(&["push", source, &target], &stop);
    let stderr = String::from_utf8_lossy(&interrupted.stderr);
    assert!(!interrupted.status.success(), "the test hook did not stop the push");
    assert!(stderr.contains("stopped after 1 chunk"), "{stderr}");
    let pending = std::fs::read_dir(state.join("pullgate/uploads")).unwrap().count();
    assert_eq!(pending, 1, "the open upload is remembered");

    // The re-run continues the same upload at 8 MiB: 12 MiB sent in two chunks, not 20.
    let report: Value = serde_json::from_str(&pullgate_ok(&["--json", "push", source, &target], &env)).unwrap();
    assert_eq!(report["digest"], manifest_digest, "{report}");
    let big = blob_report(&report, &layer_digest);
    assert_eq!(big["action"], "resumed", "{report}");
    assert_eq!(big["resumed_from"], 8 * MIB, "{report}");
    assert_eq!(big["sent"], 12 * MIB, "{report}");
    assert_eq!(big["chunks"], 2, "{report}");
    assert_eq!(report["bytes_resumed"], 8 * MIB, "{report}");
    let config = report["blobs"].as_array().unwrap().iter().find(|b| b["digest"] != layer_digest).unwrap();
    assert_eq!(config["action"], "skipped", "the config went up in the interrupted run: {report}");
    assert_eq!(std::fs::read_dir(state.join("pullgate/uploads")).unwrap().count(), 0, "state left behind");

    // Everything is there now: a third push sends no blob bytes (plain output says so).
    let again = pullgate(&["push", source, &target], &env);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let notes = String::from_utf8_lossy(&again.stderr);
    assert_eq!(notes.matches("exists, skipped").count(), 2, "{notes}");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("sent 0 bytes"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    // A customer pulls it with a license: same manifest, and the layer's bytes hash the same.
    let dest = temp_dir("push-pulled");
    let creds = format!("customer:{license}");
    // --preserve-digests: skopeo would otherwise gzip the uncompressed layer on the way.
    skopeo(&[
        "copy",
        "--quiet",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &format!("docker://{target}"),
        &format!("oci:{}:x", dest.display()),
    ]);
    assert_eq!(oci_layout_digests(&dest), vec![manifest_digest]);
    assert!(oci_layout_has_blob(&dest, &layer_digest), "the pulled layer differs");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn push_refuses_without_a_token_and_with_a_license() {
    let d = dev();
    let (_, license) = hosted_app();
    let src = temp_dir("push-refused");
    write_layout(&src, b"small layer");
    let target = format!("{}/proxy/{APP}/hosted/refused-{}:1", d.authority, std::process::id());
    let source = src.to_str().unwrap();
    let none = pullgate(&["push", source, &target], &[]);
    assert_eq!(none.status.code(), Some(2), "{}", String::from_utf8_lossy(&none.stderr));
    assert!(String::from_utf8_lossy(&none.stderr).contains("PULLGATE_PUSH_TOKEN"));
    let with_license = pullgate(&["push", source, &target], &[("PULLGATE_PUSH_TOKEN", license.as_str())]);
    let stderr = String::from_utf8_lossy(&with_license.stderr);
    assert!(!with_license.status.success(), "a license pushed");
    // The token endpoint gives a license pull only; the upload itself is refused, saying why.
    assert!(stderr.contains("403") && stderr.contains("a license pulls only"), "{stderr}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn gc_collects_an_untagged_image_and_keeps_the_tagged_one() {
    // Its own app: gc with a one-second grace period would abort the other tests' uploads.
    const GC_APP: &str = "gc-e2e";
    let d = dev();
    let (token, license) = hosted_app_named(GC_APP, &["--delete"]);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let repo = format!("r-{nanos}");
    let name = format!("proxy/{GC_APP}/hosted/{repo}");
    let env = [("PULLGATE_PUSH_TOKEN", token.as_str())];
    let (keep_src, drop_src) = (temp_dir("gc-keep"), temp_dir("gc-drop"));
    let (keep, keep_layer) = write_layout(&keep_src, format!("kept layer {nanos}").as_bytes());
    let (dropped, drop_layer) = write_layout(&drop_src, format!("dropped layer {nanos}").as_bytes());
    pullgate_ok(&["push", keep_src.to_str().unwrap(), &format!("{}/{name}:keep", d.authority)], &env);
    pullgate_ok(&["push", drop_src.to_str().unwrap(), &format!("{}/{name}:drop", d.authority)], &env);

    // `app show` lists the repository with both images' bytes.
    let shown: Value =
        serde_json::from_str(&pullgate_ok(&["--json", "app", "show", GC_APP, "--registry", &d.url], &[])).unwrap();
    let sizes = shown["hosted_repositories"].as_array().unwrap_or_else(|| panic!("{shown}"));
    let ours = sizes.iter().find(|r| r["repo"] == repo.as_str()).unwrap_or_else(|| panic!("{shown}"));
    let layers = format!("kept layer {nanos}").len() + format!("dropped layer {nanos}").len();
    assert!(ours["bytes"].as_u64().unwrap() > layers as u64, "{shown}");

    // Untag one image: within the grace period gc keeps it, past it gc collects it alone.
    let drop_url = format!("{}/v2/{name}/manifests/drop", d.url);
    let deleted = request("DELETE", &drop_url, &[("authorization", &basic_auth("ci", &token))]);
    assert_eq!(deleted.status, 202, "{}", deleted.text());
    let gc = |extra: &[&str]| -> Value {
        let mut args = vec!["--json", "gc", "--app", GC_APP, "--registry", &d.url];
        args.extend_from_slice(extra);
        serde_json::from_str(&pullgate_ok(&args, &[])).unwrap()
    };
    let manifest_key = |digest: &str| format!("{GC_APP}/repos/{repo}/_manifests/sha256/{}", &digest[7..]);
    let blob_key = |digest: &str| format!("{GC_APP}/blobs/sha256/{}", &digest[7..]);
    let has = |report: &Value, key: &str| report["keys"].as_array().unwrap().iter().any(|k| k == key);
    let young = gc(&["--dry-run"]);
    assert!(!has(&young, &manifest_key(&dropped)), "collected within 24h: {young}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let planned = gc(&["--dry-run", "--min-age", "1s"]);
    assert!(has(&planned, &manifest_key(&dropped)) && has(&planned, &blob_key(&drop_layer)), "{planned}");
    assert!(!has(&planned, &manifest_key(&keep)) && !has(&planned, &blob_key(&keep_layer)), "{planned}");
    assert_eq!(planned["deleted"], 0, "a dry run deleted: {planned}");

    let done = gc(&["--min-age", "1s"]);
    assert!(done["deleted"].as_u64().unwrap() >= 3, "manifest, link, blob record and data: {done}");
    assert!(done["usage_bytes"].as_u64().is_some(), "{done}");
    // The collected image is gone for a customer; the tagged one still pulls, every blob reachable.
    let check = |reference: &str| {
        pullgate(&["pull-check", &format!("{}/{name}{reference}", d.authority), "--license", &license], &[])
    };
    let gone = check(&format!("@{dropped}"));
    assert_eq!(gone.status.code(), Some(4), "{}", String::from_utf8_lossy(&gone.stdout));
    let kept = check(":keep");
    assert!(kept.status.success(), "{}", String::from_utf8_lossy(&kept.stdout));

    // `upstream test` on a hosted image goes through the edge (R2 is not reachable otherwise).
    let image = format!("hosted/{repo}:keep");
    let tested = pullgate(&["upstream", "test", GC_APP, &image, "--registry", &d.url], &[]);
    assert!(
        tested.status.success(),
        "{}{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );
    let missing =
        pullgate(&["upstream", "test", GC_APP, &format!("hosted/{repo}@{dropped}"), "--registry", &d.url], &[]);
    assert_eq!(missing.status.code(), Some(4), "{}", String::from_utf8_lossy(&missing.stdout));
    let unreachable = pullgate(&["upstream", "test", GC_APP, &image], &[]);
    assert_eq!(unreachable.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("--registry"));
}
