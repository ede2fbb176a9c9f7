//! The CLI against the local backend: the real `wrangler kv … --local --persist-to` commands on
//! a fresh temporary store per test. Snapshots are taken with wrangler directly, so they do not
//! trust the code under test. Each wrangler run costs 1–3 s, hence `#[ignore]`: scripts/test runs
//! these with `--ignored` once the npm tooling is installed (the stand-in wrangler test runs always).

mod stdin;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

mod common;

const SECRET_PASSWORD: &str = "local-test-password-9f3a";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn wrangler_bin() -> PathBuf {
    let bin = repo().join("node_modules/.bin/wrangler");
    assert!(bin.is_file(), "{} missing: run scripts/setup (npm ci) first", bin.display());
    bin
}

/// A fresh directory under cargo's per-target temp dir, removed when the test's store is dropped
/// (it holds root secrets and passwords).
fn temp_dir(label: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("cli-local-{label}-")).tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

struct Store {
    dir: PathBuf,
    kv: PathBuf,
    _removed_on_drop: tempfile::TempDir,
    via: Cell<Via>,
}

/// What the CLI runs as its wrangler. A fixture of many commands costs a wrangler run per read
/// and write; scripts/demo/kv_mirror.py stages them and lands them with one bulk put.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    /// The real wrangler, for the commands under test.
    Wrangler,
    /// Writes staged in the mirror only (a fixture), until `land_fixture`.
    Staged,
    /// Reads from the mirror, each write one real bulk run (the store stays the truth).
    Mirror,
}

fn kv_mirror() -> PathBuf {
    repo().join("scripts/demo/kv_mirror.py")
}

impl Store {
    fn new(label: &str) -> Store {
        let tmp = temp_dir(label);
        let dir = tmp.path().to_path_buf();
        Store { kv: dir.join("kv"), dir, via: Cell::new(Via::Wrangler), _removed_on_drop: tmp }
    }

    /// Lands the staged fixture in the store with one real bulk put; later commands read the mirror.
    fn land_fixture(&self) {
        self.kv_mirror(&["flush", "--keep"]);
        self.via.set(Via::Mirror);
    }

    /// From here on commands read a mirror of the store as it is now; each write is still one
    /// real wrangler run, and snapshots still read the store itself.
    fn read_from_mirror(&self) {
        self.kv_mirror(&["mirror"]);
        self.via.set(Via::Mirror);
    }

    fn kv_mirror(&self, args: &[&str]) {
        let out = Command::new("python3")
            .arg(kv_mirror())
            .args(args)
            .arg(&self.kv)
            .env("PATH", path_with_node())
            .env("PULLGATE_WRANGLER_CONFIG", repo().join("wrangler.toml"))
            .output()
            .unwrap();
        assert!(out.status.success(), "kv_mirror {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Every key and value, read with wrangler itself (list + bulk get).
    fn snapshot(&self) -> BTreeMap<String, String> {
        let common = |cmd: &mut Command| {
            cmd.arg("--local")
                .arg("--persist-to")
                .arg(&self.kv)
                .args(["--binding", "PULLGATE_KV", "-c"])
                .arg(repo().join("wrangler.toml"))
                .env("PATH", path_with_node())
                .env("WRANGLER_SEND_METRICS", "false");
        };
        let mut list = Command::new(wrangler_bin());
        list.args(["kv", "key", "list"]);
        common(&mut list);
        let out = run_wrangler(&mut list);
        let text = String::from_utf8_lossy(&out.stdout);
        let names: Vec<String> = serde_json::from_str::<Vec<Value>>(&text[text.find('[').unwrap()..])
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect();
        if names.is_empty() {
            return BTreeMap::new();
        }
        let keys_file = self.dir.join("snapshot-keys.json");
        std::fs::write(&keys_file, serde_json::to_string(&names).unwrap()).unwrap();
        let mut get = Command::new(wrangler_bin());
        get.args(["kv", "bulk", "get"]).arg(&keys_file);
        common(&mut get);
        let out = run_wrangler(&mut get);
        let text = String::from_utf8_lossy(&out.stdout);
        let found: BTreeMap<String, Value> = serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap();
        found.into_iter().map(|(k, v)| (k, v["value"].as_str().unwrap_or_default().to_string())).collect()
    }

    fn run(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pullgate"));
        cmd.args(args)
            .env_remove("PULLGATE_ROOT_SECRET")
            .env_remove("PULLGATE_ROOT_SECRET_FILE")
            .env_remove("PULLGATE_CNAME_TARGET")
            .env_remove("PULLGATE_WRANGLER")
            .env_remove("PULLGATE_KV_MIRROR")
            .env("PULLGATE_BACKEND", "local")
            .env("PULLGATE_LOCAL_STATE", &self.kv)
            .env("PULLGATE_WRANGLER_CONFIG", repo().join("wrangler.toml"))
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.via.get() != Via::Wrangler {
            cmd.env("PULLGATE_WRANGLER", kv_mirror());
        }
        if self.via.get() == Via::Staged {
            cmd.env("PULLGATE_KV_MIRROR", "stage");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        stdin::feed(&mut child, stdin);
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn root_env(&self) -> [(&'static str, String); 1] {
        [("PULLGATE_ROOT_SECRET_FILE", self.dir.join("root.hex").display().to_string())]
    }

    /// Runs with the root secret file configured; panics unless it succeeds.
    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let env = self.root_env();
        let run = self.run(args, stdin, &[(env[0].0, env[0].1.as_str())]);
        assert_eq!(run.code, 0, "pullgate {args:?}:\n{}{}", run.stdout, run.stderr);
        run.stdout
    }

    fn fails(&self, args: &[&str], stdin: &str, code: i32, needle: &str) {
        let env = self.root_env();
        let run = self.run(args, stdin, &[(env[0].0, env[0].1.as_str())]);
        assert_eq!(run.code, code, "pullgate {args:?} should exit {code}:\n{}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(needle), "pullgate {args:?}: want {needle:?} in:\n{}", run.stderr);
    }
}

/// Runs a snapshot command, again when the local runtime dropped the call (the same transient
/// failure the CLI retries; see `kv/local.rs`).
fn run_wrangler(cmd: &mut Command) -> std::process::Output {
    for _ in 0..3 {
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return out;
        }
        assert!(stderr.contains("Network connection lost"), "{cmd:?}: {stderr}");
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    panic!("{cmd:?}: the local runtime dropped the call three times");
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn path_with_node() -> String {
    format!("{}:{}", repo().join("node_modules/.bin").display(), std::env::var("PATH").unwrap_or_default())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
#[ignore = "needs wrangler; run by scripts/test"]
fn every_command_round_trips_on_the_local_store() {
    let s = Store::new("round-trip");
    // Every write is a real wrangler run and the snapshots below read the store with wrangler;
    // reads come from the mirror (writes_are_seen_by_a_running_wrangler_dev reads for real).
    s.read_from_mirror();
    let root_file = s.dir.join("root.hex");
    let init = s.run(&["key", "init", "--root-secret-out", root_file.to_str().unwrap()], "", &[]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    assert!(init.stdout.contains("wrangler secret put PULLGATE_ROOT_SECRET <"), "{}", init.stdout);
    let root_hex = std::fs::read_to_string(&root_file).unwrap();
    assert!(!init.stdout.contains(&root_hex), "the root secret went to stdout although a file was given");

    s.ok(&["app", "add", "acme", "--name", "Acme Inc"], "");
    s.ok(&["domain", "add", "images.acme.com", "--app", "acme", "--cname-target", "pullgate.acme.workers.dev"], "");
    let pw = s.dir.join("pw");
    std::fs::write(&pw, format!("{SECRET_PASSWORD}\n")).unwrap();
    s.ok(
        &[
            "upstream",
            "add",
            "https://registry.example.com",
            "--app",
            "acme",
            "--credential",
            "basic",
            "--username",
            "vendor",
            "--password-file",
            pw.to_str().unwrap(),
            "--repo",
            "acme/**",
        ],
        "",
    );
    s.ok(&["upstream", "add", "http://127.0.0.1:5000", "--app", "acme", "--alias", "local", "--insecure-dev"], "");

    let shown = json(&s.ok(&["--json", "app", "show", "acme"], ""));
    assert_eq!(shown["domains"], serde_json::json!(["images.acme.com"]));
    assert_eq!(shown["upstreams"].as_array().unwrap().len(), 2);
    let upstream = json(&s.ok(&["--json", "upstream", "show", "registry.example.com", "--app", "acme"], ""));
    assert_eq!(upstream["credential"]["secret_opens"], true);
    let listed = s.ok(&["upstream", "list"], "") + &s.ok(&["--json", "upstream", "list", "--app", "acme"], "");
    assert!(!listed.contains(SECRET_PASSWORD));

    let license = s.ok(
        &["license", "issue", "--app", "acme", "--customer", "Globex", "--expires", "30d", "--image", "acme/*"],
        "",
    );
    let license = license.trim();
    assert!(license.starts_with("pgl1.") && !license.contains('\n'), "only the license on stdout: {license:?}");
    let lic_file = s.dir.join("license.txt");
    std::fs::write(&lic_file, license).unwrap();
    let inspected = json(&s.ok(&["--json", "license", "inspect", &format!("@{}", lic_file.display())], ""));
    assert_eq!((inspected["status"].as_str(), inspected["signature"].as_str()), (Some("valid"), Some("valid")));
    let id = inspected["id"].as_str().unwrap().to_string();
    s.ok(&["license", "show", &id], "");
    s.ok(&["license", "revoke", &id, "--reason", "contract ended"], "");
    s.fails(&["license", "inspect", "-"], license, 1, "revoked");
    let licenses = json(&s.ok(&["--json", "license", "list"], ""));
    assert_eq!(licenses[0]["status"], "revoked");

    s.ok(&["key", "rotate"], "");
    s.fails(&["key", "rotate"], "", 1, "edges may not know it yet");
    s.ok(&["key", "rotate", "--force"], "");
    let keys = json(&s.ok(&["--json", "key", "list"], ""));
    let old = keys.as_array().unwrap().iter().find(|k| k["state"] == "retiring").expect("a retiring key");
    // The only license it signed is revoked, so retiring needs no --force.
    s.ok(&["key", "retire", old["kid"].as_str().unwrap()], "");

    // Nothing secret is in KV in clear.
    let snapshot = s.snapshot();
    for (key, value) in &snapshot {
        assert!(!value.contains(SECRET_PASSWORD) && !value.contains(&root_hex), "secret in clear at {key}");
    }
    assert!(snapshot.contains_key(&format!("revoked:{id}")));

    s.ok(&["upstream", "remove", "local", "--app", "acme"], "");
    s.ok(&["domain", "remove", "images.acme.com", "--app", "acme"], "");
    s.ok(&["app", "remove", "acme"], "");
    let left: Vec<String> = s.snapshot().into_keys().collect();
    assert!(left.iter().all(|k| !k.starts_with("app:") && !k.starts_with("domain:")), "{left:?}");
}

#[test]
#[ignore = "needs wrangler; run by scripts/test"]
fn bad_input_to_every_command_leaves_the_store_unchanged() {
    let s = Store::new("bad-input");
    s.via.set(Via::Staged);
    let root_file = s.dir.join("root.hex");
    assert_eq!(s.run(&["key", "init", "--root-secret-out", root_file.to_str().unwrap()], "", &[]).code, 0);
    s.ok(&["app", "add", "acme"], "");
    s.ok(&["app", "add", "other"], "");
    s.ok(&["domain", "add", "images.acme.com", "--app", "acme"], "");
    s.ok(&["upstream", "add", "ghcr.io", "--app", "acme"], "");
    let license = s.ok(&["license", "issue", "--app", "acme", "--customer", "Globex", "--expires", "30d"], "");
    s.land_fixture();
    // Read with wrangler itself: a case that wrongly writes goes through the mirror to the store.
    let before = s.snapshot();

    let cases: &[(&[&str], &str, i32, &str)] = &[
        (&["app", "add", "Bad_Slug"], "", 2, "app slug"),
        (&["app", "add", "acme"], "", 1, "already exists"),
        (&["app", "add", "x", "--name", ""], "", 2, "app name"),
        (&["app", "show", "nope"], "", 1, "no app"),
        (&["app", "remove", "nope"], "", 1, "no app"),
        (&["domain", "add", "localhost", "--app", "acme"], "", 2, "host name"),
        (&["domain", "add", "https://x.example.com", "--app", "acme"], "", 2, "not a URL"),
        (&["domain", "add", "images.acme.com", "--app", "other"], "", 1, "already bound"),
        (&["domain", "add", "new.acme.com", "--app", "nope"], "", 1, "no app"),
        (&["domain", "remove", "images.acme.com", "--app", "other"], "", 1, "bound to app"),
        (&["domain", "remove", "unknown.acme.com", "--app", "acme"], "", 1, "not bound"),
        (&["upstream", "add", "http://registry.example.com", "--app", "acme"], "", 2, "plain http"),
        (&["upstream", "add", "https://10.0.0.1", "--app", "acme"], "", 2, "IP address"),
        (&["upstream", "add", "https://localhost", "--app", "acme"], "", 2, "loopback"),
        (&["upstream", "add", "https://u:p@quay.io", "--app", "acme"], "", 2, "credentials"),
        (&["upstream", "add", "quay.io", "--app", "acme", "--alias", "proxy"], "", 2, "reserved"),
        (&["upstream", "add", "quay.io", "--app", "acme", "--repo", "Bad"], "", 2, "pattern"),
        (
            &["upstream", "add", "quay.io", "--app", "acme", "--credential", "basic", "--username", "u"],
            "",
            2,
            "password is required",
        ),
        (
            &[
                "upstream",
                "add",
                "quay.io",
                "--app",
                "acme",
                "--credential",
                "ghcr",
                "--username",
                "u",
                "--password-stdin",
            ],
            "pw",
            2,
            "ghcr.io",
        ),
        (&["upstream", "add", "ghcr.io", "--app", "acme"], "", 1, "already has upstream"),
        (&["upstream", "add", "quay.io", "--app", "nope"], "", 1, "no app"),
        (&["upstream", "show", "nope.example.com", "--app", "acme"], "", 1, "no upstream"),
        (&["upstream", "remove", "nope.example.com", "--app", "acme"], "", 1, "no upstream"),
        (&["key", "init"], "", 1, "already exist"),
        (&["key", "retire", "kzzzz"], "", 2, "key id"),
        (&["key", "retire", "k00000000"], "", 1, "no signing key"),
        (&["license", "issue", "--app", "acme", "--customer", "G", "--expires", "yesterday"], "", 2, "expiry"),
        (&["license", "issue", "--app", "acme", "--customer", "G", "--expires", "2001-01-01"], "", 2, "in the past"),
        (&["license", "issue", "--app", "nope", "--customer", "G", "--expires", "30d"], "", 1, "no app"),
        (
            &["license", "issue", "--app", "acme", "--customer", "G", "--expires", "30d", "--image", "UPPER/*"],
            "",
            2,
            "pattern",
        ),
        (&["license", "show", "lic_1"], "", 2, "license id"),
        (&["license", "revoke", "lic_000000000000000000000000"], "", 1, "no license"),
        (&["license", "inspect", "not-a-license"], "", 2, "not a pullgate license"),
        (&["app", "list", "--backend", "nowhere"], "", 2, "invalid value"),
    ];
    for (args, stdin, code, needle) in cases {
        s.fails(args, stdin, *code, needle);
    }
    // Without the root secret nothing can be sealed or signed.
    let run = s.run(&["license", "issue", "--app", "acme", "--customer", "G", "--expires", "30d"], "", &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("PULLGATE_ROOT_SECRET"), "{}", run.stderr);
    // A wrong root secret is caught before anything is sealed with it.
    let wrong = "ab".repeat(32);
    let run = s.run(
        &[
            "upstream",
            "add",
            "quay.io",
            "--app",
            "acme",
            "--credential",
            "basic",
            "--username",
            "u",
            "--password-stdin",
        ],
        "pw",
        &[("PULLGATE_ROOT_SECRET", wrong.as_str())],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("does not open"), "{}", run.stderr);

    assert_eq!(s.snapshot(), before, "a failed command changed the store");
    assert!(!license.is_empty());
}

#[test]
#[ignore = "needs wrangler; run by scripts/test"]
fn wrangler_failures_are_reported_with_its_message() {
    let s = Store::new("wrangler-fails");
    let run = s.run(&["app", "list"], "", &[("PULLGATE_WRANGLER", "/nonexistent/wrangler")]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot run wrangler") && run.stderr.contains("PULLGATE_WRANGLER"), "{}", run.stderr);
    let bad_config = s.dir.join("wrangler.toml");
    std::fs::write(&bad_config, "name = \"x\"\n").unwrap();
    let run = s.run(
        &["app", "list", "--wrangler-config", bad_config.to_str().unwrap()],
        "",
        &[("PULLGATE_WRANGLER", wrangler_bin().to_str().unwrap())],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("wrangler kv key list failed"), "{}", run.stderr);
}

/// A stand-in wrangler that fails its first `fail_runs` runs with `message`, then lists no keys;
/// it counts its runs in `runs`.
fn flaky_wrangler(s: &Store, fail_runs: u32, message: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let runs = s.dir.join("runs");
    let script = s.dir.join("flaky-wrangler");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nn=$(($(cat '{runs}' 2>/dev/null || echo 0) + 1))\necho $n > '{runs}'\n\
             if [ $n -le {fail_runs} ]; then echo '✘ [ERROR] {message}' >&2; exit 1; fi\necho '[]'\n",
            runs = runs.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, runs)
}

// The retry path itself (pauses and bounds) is tested in kv/local.rs with an injected sleeper;
// this checks, end to end, that a real error is reported at once in wrangler's own words.
#[test]
fn a_wrangler_error_is_reported_at_once_with_its_message() {
    let s = Store::new("broken");
    let (script, runs) = flaky_wrangler(&s, 100, "Could not read file: /x.json");
    let run = s.run(&["app", "list"], "", &[("PULLGATE_WRANGLER", script.to_str().unwrap())]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("wrangler kv key list failed: Could not read file"), "{}", run.stderr);
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&runs).unwrap().trim(), "1", "a real error is reported at once");
}

#[test]
#[ignore = "needs wrangler; run by scripts/test"]
fn writes_are_seen_by_a_running_wrangler_dev() {
    use std::os::unix::process::CommandExt;
    let s = Store::new("concurrent");
    std::fs::write(
        s.dir.join("worker.js"),
        "export default { async fetch(req, env) { const key = new URL(req.url).searchParams.get('key'); \
         return new Response(JSON.stringify({ value: await env.PULLGATE_KV.get(key) })); } };\n",
    )
    .unwrap();
    // Same binding and namespace id as the real wrangler.toml, so it opens the same local store.
    std::fs::write(
        s.dir.join("probe.toml"),
        "name = \"kv-probe\"\nmain = \"worker.js\"\ncompatibility_date = \"2026-11-01\"\n\
         kv_namespaces = [{ binding = \"PULLGATE_KV\", id = \"00000000000000000000000000000000\" }]\n",
    )
    .unwrap();
    // Beside the e2e stack's ports when scripts/test runs it (base+32..+35; tests/e2e_admin.rs has
    // +30, +31 and +36..+39), so two checkouts testing at once do not meet; else any free ports.
    let (port, inspector) = if std::env::var("PULLGATE_PORT_BASE").is_ok() {
        (common::free_port(32..34), common::free_port(34..36))
    } else {
        let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        (free(), free())
    };
    let log = std::fs::File::create(s.dir.join("dev.log")).unwrap();
    let child = Command::new(wrangler_bin())
        .args(["dev", "-c"])
        .arg(s.dir.join("probe.toml"))
        .args(["--ip", "127.0.0.1", "--port", &port.to_string(), "--inspector-port", &inspector.to_string()])
        .arg("--persist-to")
        .arg(&s.kv)
        .arg("--show-interactive-dev-session=false")
        .env("PATH", path_with_node())
        .env("WRANGLER_SEND_METRICS", "false")
        .current_dir(&s.dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap();
    let _dev = common::ProcessGroup(child);
    let get = |key: &str| -> Option<Value> {
        let url = format!("http://127.0.0.1:{port}/?key={key}");
        let body = ureq::get(&url).timeout(std::time::Duration::from_secs(5)).call().ok()?.into_string().ok()?;
        serde_json::from_str(&body).ok()
    };
    let started = std::time::Instant::now();
    while get("app:acme").is_none() {
        assert!(
            started.elapsed().as_secs() < 120,
            "wrangler dev did not start; see {}",
            s.dir.join("dev.log").display()
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(get("app:acme").unwrap()["value"], Value::Null);
    s.ok(&["app", "add", "acme", "--name", "Seen Live"], "");
    let app: Value =
        serde_json::from_str(get("app:acme").unwrap()["value"].as_str().expect("the edge sees the new key")).unwrap();
    assert_eq!(app["name"], "Seen Live");
    s.ok(&["app", "remove", "acme"], "");
    assert_eq!(get("app:acme").unwrap()["value"], Value::Null, "the edge sees the delete");
}

#[test]
fn pull_check_reports_an_unreachable_edge_with_the_network_code() {
    let s = Store::new("pull-check");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    // A gateway in front of an edge that does not answer: a bare 502, no registry error body.
    let gateway = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let gateway_addr = gateway.server_addr().to_ip().unwrap();
    let answering = std::thread::spawn(move || {
        if let Ok(request) = gateway.recv() {
            let _ = request.respond(tiny_http::Response::from_string("Bad Gateway").with_status_code(502));
        }
    });
    for edge in [closed, gateway_addr] {
        let image = format!("{edge}/proxy/acme/ghcr.io/acme/web:1.0");
        let run = s.run(&["--json", "pull-check", &image, "--license", "pgl1.x"], "", &[]);
        assert_eq!(run.code, 6, "{edge}: {}{}", run.stdout, run.stderr);
        let report = json(&run.stdout);
        assert_eq!((report["ok"].as_bool(), report["diagnosis"].as_str()), (Some(false), Some("network")), "{report}");
        assert_eq!(report["exit_code"], 6);
    }
    answering.join().unwrap();
}
