//! End to end: the admin CLI against the running edge: a license's whole life, key rotation
//! under load, abuse limits, `upstream test` diagnoses and `pull-check` as a customer.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// Runs the admin CLI (the binary scripts/dev built) with the local backend scripts/dev exported.
/// The edge's CONFIG_CACHE_SECONDS in the e2e stack (scripts/test sets 3) plus a margin.
fn propagation() -> Duration {
    Duration::from_secs(5)
}

fn token_status(d: &Dev, license: &str, name: &str) -> (u16, String) {
    let r = get(
        &format!("{}/v2/token?scope=repository:{name}:pull", d.url),
        &[("authorization", &basic_auth("c", license))],
    );
    (r.status, r.text())
}

fn issue(customer: &str, extra: &[&str]) -> (String, String) {
    issue_expiring(customer, "7d", extra)
}

fn issue_expiring(customer: &str, expires: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["--json", "license", "issue", "--app", "demo", "--customer", customer, "--expires", expires];
    args.extend_from_slice(extra);
    let v: serde_json::Value = serde_json::from_str(&pullgate_ok(&args)).expect("license issue --json");
    (v["id"].as_str().unwrap().to_string(), v["license"].as_str().unwrap().to_string())
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_license_is_issued_pulled_with_revoked_and_refused() {
    let d = dev();
    let (id, license) = issue("Lifecycle Customer", &[]);
    let reference = format!("docker://{}/proxy/demo/local/demo/hello:1.0", d.authority);
    let dir = temp_dir("lifecycle");
    let dest = format!("oci:{}:x", dir.display());
    let creds = format!("c:{license}");
    skopeo(&["copy", "--quiet", "--src-tls-verify=false", "--src-creds", &creds, &reference, &dest]);

    let inspect = pullgate_ok(&["license", "inspect", &license]);
    assert!(inspect.contains("Lifecycle Customer"), "{inspect}");
    pullgate_ok(&["license", "revoke", &id, "--reason", "e2e"]);
    std::thread::sleep(propagation());
    let (status, body) = token_status(&d, &license, "proxy/demo/local/demo/hello");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("UNAUTHORIZED") && body.contains("license_revoked"), "{body}");
    let (ok, text) =
        skopeo_try(&["copy", "--quiet", "--src-tls-verify=false", "--src-creds", &creds, &reference, &dest]);
    assert!(!ok, "a revoked license still pulls");
    // What the customer sees: the token endpoint's 401 message, printed by skopeo.
    assert!(text.contains("license for Lifecycle Customer was revoked on"), "{text}");
    let shown = pullgate_ok(&["license", "show", &id]);
    assert!(shown.contains("revoked"), "{shown}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn key_rotation_fails_no_pull_during_the_overlap() {
    let d = dev();
    let (_, old_license) = issue("Rotation Customer", &[]);
    let name = "proxy/demo/local/demo/hello";
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let pulls = Arc::new(AtomicUsize::new(0));
    let puller = {
        let (stop, failures, pulls, url, license) =
            (stop.clone(), failures.clone(), pulls.clone(), d.url.clone(), old_license.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let t = get(
                    &format!("{url}/v2/token?scope=repository:{name}:pull"),
                    &[("authorization", &basic_auth("c", &license))],
                );
                let ok = t.status == 200 && {
                    let bearer = format!("Bearer {}", t.json()["token"].as_str().unwrap_or_default());
                    let m = request(
                        "HEAD",
                        &format!("{url}/v2/{name}/manifests/1.0"),
                        &[("authorization", &bearer), ("accept", ACCEPT_ALL)],
                    );
                    m.status == 200
                };
                if !ok {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                pulls.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // Phase 1: a pending key, which every location learns before it signs anything.
    pullgate_ok(&["key", "rotate"]);
    std::thread::sleep(propagation());
    // Phase 2: it signs; the old key only verifies. (--force: the suite cannot wait 60 s.)
    pullgate_ok(&["key", "rotate", "--force"]);
    std::thread::sleep(propagation());
    let (_, new_license) = issue("Rotation Customer 2", &[]);
    let (status, body) = token_status(&d, &new_license, name);
    assert_eq!(status, 200, "a license signed by the new key: {body}");
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    puller.join().unwrap();
    assert!(pulls.load(Ordering::SeqCst) > 10, "the puller ran");
    assert_eq!(failures.load(Ordering::SeqCst), 0, "pulls failed during the rotation");
    let keys = pullgate_ok(&["key", "list"]);
    assert!(keys.contains("retiring") && keys.contains("active"), "{keys}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn upstream_test_diagnoses_ok_bad_credentials_and_not_found() {
    let d = dev();
    let image = d.image("demo/multi", "1.0");
    let out = pullgate(&["upstream", "test", "demo", "local/demo/multi:1.0"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&image.digest), "{text}");
    assert!(text.contains("linux/arm64"), "platforms are listed: {text}");
    for (image, code, needle) in [
        ("basic/demo/hello:1.0", 0, "OK"),
        ("badcreds/demo/hello:1.0", 3, "rejected"),
        ("local/demo/nothing-here:1.0", 4, "not_found"),
        ("faults/ratelimited/app:1.0", 5, "rate"),
    ] {
        let out = pullgate(&["upstream", "test", "demo", image]);
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{image}: {text}");
        assert!(text.to_lowercase().contains(&needle.to_lowercase()), "{image}: {text}");
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn pull_check_goes_through_the_edge_like_a_customer() {
    let d = dev();
    let license = env("PULLGATE_LICENSE");
    let reference = format!("{}/proxy/demo/local/demo/legacy-list:1.0", d.authority);
    let out = pullgate(&["pull-check", &reference, "--license", &license, "--plain-http"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // Through the custom domain, reached by name with --connect-to, as before DNS exists.
    let reference = format!("{}/local/demo/hello:1.0", d.host);
    let connect = d.authority.clone();
    let out = pullgate(&["pull-check", &reference, "--license", &license, "--plain-http", "--connect-to", &connect]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // Where it breaks: an expired license at the token step.
    let expired = env("PULLGATE_LICENSE_EXPIRED");
    let out = pullgate(&[
        "pull-check",
        &format!("{}/proxy/demo/local/demo/hello:1.0", d.authority),
        "--license",
        &expired,
        "--plain-http",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("expired"), "{text}");
}

/// The limits in wrangler.toml (`[[ratelimits]]`).
const SIGN_IN_FAILURES_PER_MINUTE: usize = 20;
const TOKENS_PER_LICENSE_PER_MINUTE: usize = 1000;

fn assert_too_many(r: &Resp, needle: &str) -> u64 {
    assert_eq!(r.status, 429, "{}", r.text());
    let body = r.json();
    assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "want {needle:?} in {message:?}");
    let retry_after: u64 = r.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    retry_after
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn failed_sign_ins_are_limited_per_address() {
    let d = dev();
    let (_, license) = issue("Abuse Customer", &[]);
    let mut forged: Vec<String> = license.split('.').map(String::from).collect();
    forged[3] = "AAAA".repeat(11);
    let forged = forged.join(".");
    let url = format!("{}/v2/token?scope=repository:proxy/demo/local/demo/hello:pull", d.url);
    let with =
        |ip: &str, license: &str| get(&url, &[("authorization", &basic_auth("c", license)), ("cf-connecting-ip", ip)]);
    // Forged sign-ins from `ip` until the limit answers; then, while blocked, a good license
    // from `blocked_too` (the same address, or the same /64) still signs in while a forged one
    // from there is refused at once; `free` is not affected at all.
    let burst = |ip: &str, blocked_too: &str, free: &str| {
        // The windows are aligned to the clock: twice the limit plus two attempts must cross
        // it once whatever second the burst starts at.
        let mut refused = 0;
        let limited = loop {
            let r = with(ip, &forged);
            if r.status != 401 {
                break r;
            }
            refused += 1;
            assert!(refused <= 2 * SIGN_IN_FAILURES_PER_MINUTE + 2, "{ip}: no limit after {refused} failures");
        };
        let at = std::time::Instant::now();
        let retry_after = assert_too_many(&limited, "too many failed sign-ins");
        assert!(limited.text().contains("last refusal"), "{}", limited.text());
        assert!(refused >= SIGN_IN_FAILURES_PER_MINUTE / 2, "{ip}: limited after only {refused} failures");
        let r = with(blocked_too, &license);
        assert_eq!(r.status, 200, "{blocked_too}: a valid license was refused for others' failures: {}", r.text());
        let r = with(blocked_too, &forged);
        if at.elapsed().as_secs() + 1 < retry_after {
            assert_too_many(&r, "too many failed sign-ins");
        }
        let r = with(free, &license);
        assert_eq!(r.status, 200, "{free}: {}", r.text());
    };
    burst("203.0.113.66", "203.0.113.66", "203.0.113.67");
    // IPv6 clients are counted per /64.
    burst("2001:db8:66:1::1", "2001:db8:66:1:ffff::2", "2001:db8:66:2::1");
    // A client that sent no credentials has not failed a sign-in.
    for _ in 0..SIGN_IN_FAILURES_PER_MINUTE + 2 {
        let r = get(&url, &[("cf-connecting-ip", "203.0.113.68")]);
        assert_eq!(r.status, 401, "{}", r.text());
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn tokens_per_license_are_limited() {
    let d = dev();
    let (_, flooded) = issue("Flood Customer", &[]);
    let url = format!("{}/v2/token?scope=repository:proxy/demo/local/demo/hello:pull", d.url);
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, issued, url, auth) = (stop.clone(), issued.clone(), url.clone(), basic_auth("c", &flooded));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let r = get(&url, &[("authorization", &auth)]);
                    match r.status {
                        200 => {
                            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                            assert!(n <= 2 * TOKENS_PER_LICENSE_PER_MINUTE + 8, "no limit after {n} tokens");
                        }
                        _ => {
                            stop.store(true, Ordering::SeqCst);
                            return Some(r);
                        }
                    }
                }
                None
            })
        })
        .collect();
    let answers: Vec<Resp> = workers.into_iter().filter_map(|w| w.join().unwrap()).collect();
    let first = answers.first().expect("a worker saw the limit");
    assert_too_many(first, "Flood Customer");
    assert!(issued.load(Ordering::SeqCst) >= TOKENS_PER_LICENSE_PER_MINUTE / 2, "limited too early");
    // Another license is not affected.
    let (_, other) = issue("Calm Customer", &[]);
    let (status, body) = token_status(&d, &other, "proxy/demo/local/demo/hello");
    assert_eq!(status, 200, "{body}");
}

/// Another `wrangler dev` of the real Worker, on its own copy of the KV and its own secrets;
/// its whole process group is stopped on drop.
struct Edge {
    _process: ProcessGroup,
    url: String,
}

impl Edge {
    fn start(kv: &std::path::Path, env_file: &std::path::Path, log: &std::path::Path) -> Edge {
        // Port base+30..+31, inspector +36..+39, whichever is free (cli_local.rs's probe edge: +32..+35).
        Edge::start_with(kv, env_file, log, (free_port(30..32), free_port(36..40)), &[])
    }

    /// As `start`, on the given port and inspector port, with more `--var NAME:VALUE`s.
    fn start_with(
        kv: &std::path::Path,
        env_file: &std::path::Path,
        log: &std::path::Path,
        (port, inspector): (u16, u16),
        vars: &[&str],
    ) -> Edge {
        use std::os::unix::process::CommandExt;
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let bin = repo.join("node_modules/.bin");
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let log = std::fs::File::create(log).expect("edge log");
        let child = Command::new(bin.join("wrangler"))
            .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string(), "--inspector-port", &inspector.to_string()])
            .arg("--persist-to")
            .arg(kv)
            .arg("--env-file")
            .arg(env_file)
            .args(["--var", "ALLOW_INSECURE_UPSTREAMS:true", "--var", "CONFIG_CACHE_SECONDS:1"])
            // Its D1 copy has no events schema, and no test here reads its pull log.
            .args(["--var", "EVENTS:false"])
            .args(vars.iter().flat_map(|v| ["--var", v]))
            .arg("--show-interactive-dev-session=false")
            .current_dir(repo)
            .env("PATH", path)
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_SEND_METRICS", "false")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("wrangler dev");
        let edge = Edge { _process: ProcessGroup(child), url: format!("http://127.0.0.1:{port}") };
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            if ureq::get(&format!("{}/v2/", edge.url)).call().is_err_and(|e| matches!(e, ureq::Error::Status(401, _))) {
                return edge;
            }
            assert!(std::time::Instant::now() < deadline, "the second edge did not start");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Token + manifest through the upstream with Basic credentials: needs the signing keys and
    /// the sealed upstream credential to open.
    fn pull_status(&self, license: &str) -> (u16, String) {
        let name = "proxy/demo/basic/demo/hello";
        let t = get(
            &format!("{}/v2/token?scope=repository:{name}:pull", self.url),
            &[("authorization", &basic_auth("c", license))],
        );
        if t.status != 200 {
            return (t.status, t.text());
        }
        let bearer = format!("Bearer {}", t.json()["token"].as_str().unwrap_or_default());
        let r = get(
            &format!("{}/v2/{name}/manifests/1.0", self.url),
            &[("authorization", &bearer), ("accept", ACCEPT_ALL)],
        );
        (r.status, r.text())
    }
}

/// A copy of the running stack's KV store under `dir`, for an edge of its own. Only the KV store:
/// the running edge may be writing its other simulators' databases (rate limiter counters), and a
/// copy taken mid-write would not open. The suites' CLI writes wait.
fn kv_copy(d: &Dev, dir: &std::path::Path) -> std::path::PathBuf {
    let kv = dir.join("kv");
    with_store_quiet(&d.state.join("kv"), || copy_dir(&d.state.join("kv/v3/kv"), &kv.join("v3/kv")));
    kv
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn the_root_secret_rotates_without_a_failed_pull() {
    let d = dev();
    let license = env("PULLGATE_LICENSE");
    let dir = temp_dir("root-rotation");
    let kv = kv_copy(&d, &dir);
    let old_file = env("PULLGATE_ROOT_SECRET_FILE");
    let old =
        std::fs::read_to_string(&old_file).unwrap().trim().trim_start_matches("PULLGATE_ROOT_SECRET=").to_string();
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pullgate"))
            .args(args)
            .env("PULLGATE_LOCAL_STATE", &kv)
            .env("PULLGATE_ROOT_SECRET_FILE", &old_file)
            .output()
            .expect("pullgate");
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "pullgate {args:?}: {text}");
        text
    };
    let new_file = dir.join("new.secret");
    let steps = cli(&["key", "new-root-secret", "--out", new_file.to_str().unwrap()]);
    assert!(steps.contains("PULLGATE_ROOT_SECRET_PREVIOUS"), "{steps}");
    let new = std::fs::read_to_string(&new_file).unwrap().trim().to_string();
    let secrets = |name: &str, lines: &[(&str, &str)]| {
        let path = dir.join(name);
        std::fs::write(&path, lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>()).unwrap();
        path
    };

    // During the rotation the Worker has both; everything in KV is still sealed with the old one.
    let both = secrets("both.vars", &[("PULLGATE_ROOT_SECRET", &new), ("PULLGATE_ROOT_SECRET_PREVIOUS", &old)]);
    let edge = Edge::start(&kv, &both, &dir.join("edge-both.log"));
    let (status, body) = edge.pull_status(&license);
    assert_eq!(status, 200, "before the reseal: {body}");
    let report = cli(&["--json", "key", "reseal", "--new-root-secret-file", new_file.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_str(report.trim()).expect("reseal --json");
    assert!(report["signing_keys"].as_u64().unwrap() >= 1, "{report}");
    assert!(report["credentials"].as_u64().unwrap() >= 1, "{report}");
    std::thread::sleep(Duration::from_secs(2));
    let (status, body) = edge.pull_status(&license);
    assert_eq!(status, 200, "after the reseal: {body}");
    drop(edge);

    // Afterwards the new secret alone opens everything, and licenses issued before still work.
    let only_new = secrets("new.vars", &[("PULLGATE_ROOT_SECRET", &new)]);
    let edge = Edge::start(&kv, &only_new, &dir.join("edge-new.log"));
    let (status, body) = edge.pull_status(&license);
    assert_eq!(status, 200, "with the new secret alone: {body}");
    drop(edge);

    // The old secret alone no longer opens anything: a clear 503, not a 500.
    let only_old = secrets("old.vars", &[("PULLGATE_ROOT_SECRET", &old)]);
    let edge = Edge::start(&kv, &only_old, &dir.join("edge-old.log"));
    let (status, body) = edge.pull_status(&license);
    assert_eq!(status, 503, "with the old secret alone: {body}");
    assert!(body.contains("UNAVAILABLE") && body.contains("signing keys do not open"), "{body}");
}

/// Pulls `reference` into a fresh OCI layout with skopeo reading only `authfile`.
fn pull_with_authfile(reference: &str, authfile: &std::path::Path, label: &str) -> (bool, String) {
    let dest = format!("oci:{}:x", temp_dir(label).display());
    let authfile = authfile.display().to_string();
    skopeo_try(&["copy", "--quiet", "--src-tls-verify=false", "--src-authfile", &authfile, reference, &dest])
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_pull_secret_pulls_and_a_renewed_license_replaces_the_old() {
    let d = dev();
    let (id, license) = issue("Secret Customer", &[]);
    let reference = format!("docker://{}/proxy/demo/local/demo/hello:1.0", d.authority);

    // The license text comes back from its sealed record, unchanged.
    assert_eq!(pullgate_ok(&["license", "show", &id, "--reveal"]), license);

    // The dockerconfigjson is an authfile skopeo pulls with, and carries both credential forms.
    let doc = pullgate_ok(&["license", "pull-secret", &id, "--format", "dockerconfigjson", "--registry", &d.authority]);
    let parsed: serde_json::Value = serde_json::from_str(&doc).expect("dockerconfigjson is JSON");
    let entry = &parsed["auths"][d.authority.as_str()];
    assert_eq!(entry["password"].as_str(), Some(license.as_str()), "{doc}");
    assert!(entry["auth"].is_string(), "{doc}");
    let authfile = temp_dir("pull-secret").join("auth.json");
    std::fs::write(&authfile, &doc).unwrap();
    let (ok, text) = pull_with_authfile(&reference, &authfile, "pull-secret-pull");
    assert!(ok, "skopeo with the pull secret as --authfile: {text}");

    // The 7-day license is within a 10-day expiry window, not a 3-day one.
    let expiring = pullgate_ok(&["--json", "license", "list", "--customer", "Secret Customer", "--expiring", "10d"]);
    assert!(expiring.contains(&id), "{expiring}");
    let expiring = pullgate_ok(&["--json", "license", "list", "--customer", "Secret Customer", "--expiring", "3d"]);
    assert!(!expiring.contains(&id), "{expiring}");

    // A renewal with a one-second grace period: the successor pulls, then the old one is refused.
    let renewed: serde_json::Value = serde_json::from_str(&pullgate_ok(&[
        "--json",
        "license",
        "renew",
        &id,
        "--expires",
        "30d",
        "--revoke-old-after",
        "1s",
    ]))
    .expect("license renew --json");
    let new_license = renewed["license"].as_str().expect("renew prints the successor").to_string();
    assert_eq!(renewed["renews"].as_str(), Some(id.as_str()));
    std::thread::sleep(propagation());
    let (status, body) = token_status(&d, &new_license, "proxy/demo/local/demo/hello");
    assert_eq!(status, 200, "{body}");
    let (status, body) = token_status(&d, &license, "proxy/demo/local/demo/hello");
    assert_eq!(status, 401, "{body}");
    let listed = pullgate_ok(&["--json", "license", "list", "--customer", "Secret Customer"]);
    assert!(listed.contains(&id) && listed.contains(renewed["id"].as_str().unwrap()), "{listed}");
}

/// The `warning` header on a manifest GET made with a bearer token for `license`.
fn manifest_warning(d: &Dev, license: &str) -> Option<String> {
    let name = "proxy/demo/local/demo/hello";
    let (status, body) = token_status(d, license, name);
    assert_eq!(status, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    let r = get(
        &format!("{}/v2/{name}/manifests/1.0", d.url),
        &[("authorization", &bearer), ("accept", "application/vnd.oci.image.manifest.v1+json")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("warning").map(str::to_string)
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn pulls_warn_only_within_the_expiry_window() {
    let d = dev();
    let (_, soon) = issue_expiring("Expiring Customer", "3d", &[]);
    let warning = manifest_warning(&d, &soon).expect("a license 3 days from expiry warns");
    assert!(warning.starts_with("299 - \"license for Expiring Customer expires on "), "{warning}");
    assert!(warning.contains("ask your vendor to renew it"), "{warning}");
    let (_, later) = issue_expiring("Distant Customer", "60d", &[]);
    assert_eq!(manifest_warning(&d, &later), None);
}

/// A trap in one request (a panic, with `panic = "abort"`) must not take the Worker down: the
/// request that trapped fails, and the next ones are answered by a fresh wasm instance, a 401
/// challenge as before and a whole pull. Its own edge, so no other test's requests share the
/// instance that traps (`TEST_TRAP_PATH` is the Worker's test hook, src/edge/mod.rs).
#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_trapped_request_leaves_the_next_ones_answered() {
    let d = dev();
    let license = env("PULLGATE_LICENSE");
    let dir = temp_dir("trap");
    let kv = kv_copy(&d, &dir);
    let log = dir.join("edge.log");
    let ports = (free_port(40..41), free_port(41..42));
    let edge = Edge::start_with(
        &kv,
        std::path::Path::new(&env("PULLGATE_ROOT_SECRET_FILE")),
        &log,
        ports,
        &["TEST_TRAP_PATH:/v2/trap"],
    );
    let (status, body) = edge.pull_status(&license);
    assert_eq!(status, 200, "before the trap: {body}");

    let trapped = get(&format!("{}/v2/trap", edge.url), &[]);
    assert_eq!(trapped.status, 500, "{}", trapped.text());
    let printed = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(printed.contains("TEST_TRAP_PATH: trapping on purpose"), "no trap in the edge's log:\n{printed}");

    for round in 0..3 {
        let challenge = get(&format!("{}/v2/", edge.url), &[]);
        assert_eq!(challenge.status, 401, "after the trap, round {round}: {}", challenge.text());
        assert_eq!(error_code(&challenge), "UNAUTHORIZED", "{}", challenge.text());
        assert!(challenge.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer realm=")));
        let (status, body) = edge.pull_status(&license);
        assert_eq!(status, 200, "after the trap, round {round}: {body}");
    }
}
