//! End to end: every kind of upstream registry a vendor uses, through the real Worker
//! (`wrangler dev`), against the stand-ins of scripts/demo/standins.py (ECR with SigV4
//! GetAuthorizationToken, GCR/Artifact Registry, Docker Hub, GHCR, an Artifactory-like Basic
//! registry, an anonymous-bearer registry), each fronting the demo's real registry.
//!
//! Each test makes its own app with the admin CLI (a fresh slug, so no isolate holds a stale
//! record), pulls with skopeo or raw HTTP, and reads the stand-ins' request log
//! (`$PULLGATE_STATE/logs/standins.log`) to prove which credentials went where. The stand-ins'
//! faults and log are shared, so the tests of this file use them one at a time (`serial()`).

mod common;

mod stdin;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;

/// Held while a test uses the stand-ins (faults, log), across processes (nextest runs each
/// test in its own); taken after the test's app is in KV, so that part overlaps other tests.
fn serial(dev: &Dev) -> std::fs::File {
    hold_lock(&dev.state.join("standins/serial.lock"))
}

// ------------------------------------------------------------------ the stand-ins

struct Standins {
    doc: Value,
    creds: Value,
    log: PathBuf,
}

fn standins(dev: &Dev) -> Standins {
    let dir = dev.state.join("standins");
    let path = dir.join("standins.json");
    let how = "start them with `python3 scripts/demo/standins.py` in scripts/dev's environment";
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}: {how}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("standins.json is JSON");
    let creds_path = PathBuf::from(doc["credentials"].as_str().expect("credentials path"));
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(&creds_path).expect("stand-in credentials")).expect("JSON");
    let st = Standins { log: PathBuf::from(doc["log"].as_str().expect("log path")), doc, creds };
    let url = format!("{}/_control/state", st.url("ecr"));
    let alive = ureq::get(&url).timeout(Duration::from_secs(3)).call().is_ok();
    assert!(alive, "the stand-ins do not answer {url}: {how}");
    st
}

impl Standins {
    fn url(&self, flavor: &str) -> String {
        self.doc["flavors"][flavor]["url"].as_str().unwrap_or_else(|| panic!("no stand-in {flavor}")).to_string()
    }

    /// The same stand-in under `localhost` (a second upstream endpoint for one server).
    fn localhost_url(&self, flavor: &str) -> String {
        self.url(flavor).replace("127.0.0.1", "localhost")
    }

    fn port(&self, flavor: &str) -> u16 {
        self.url(flavor).rsplit(':').next().unwrap().parse().unwrap()
    }

    fn cred(&self, flavor: &str, key: &str) -> String {
        self.creds[flavor][key].as_str().unwrap_or_else(|| panic!("credential {flavor}.{key}")).to_string()
    }

    fn control(&self, flavor: &str, action: &str, query: &str) {
        let r = request("POST", &format!("{}/_control/{action}{query}", self.url(flavor)), &[]);
        assert_eq!(r.status, 200, "control {flavor} {action}: {}", r.text());
    }

    /// Where the log is now; `since` returns what follows.
    fn mark(&self) -> usize {
        std::fs::read_to_string(&self.log).map(|t| t.lines().count()).unwrap_or(0)
    }

    /// Log entries after `mark`, once the stand-ins have written them all (a line is written
    /// just after its response, so wait until the log stops growing).
    fn since(&self, mark: usize) -> Vec<Value> {
        let read = || std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut text = read();
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let again = read();
            if again.len() == text.len() {
                break;
            }
            text = again;
        }
        text.lines()
            .skip(mark)
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("flavor").is_some() && v["role"] != "control")
            .collect()
    }
}

/// Clears every stand-in fault when a test ends, even by a failed assertion.
struct ResetFaults<'a>(&'a Standins);

impl Drop for ResetFaults<'_> {
    fn drop(&mut self) {
        let _ = ureq::post(&format!("{}/_control/reset?all=1", self.0.url("ecr"))).call();
    }
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn status(v: &Value) -> u64 {
    v["status"].as_u64().unwrap_or(0)
}

fn of<'a>(log: &'a [Value], flavor: &str, role: &str) -> Vec<&'a Value> {
    log.iter().filter(|v| field(v, "flavor") == flavor && field(v, "role") == role).collect()
}

fn show(lines: &[&Value]) -> String {
    lines.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n")
}

// ------------------------------------------------------------------ the admin CLI

/// Runs the admin CLI against the local stack's KV, its writes held in `batch`; `stdin` carries
/// secrets (never argv).
fn cli(batch: &KvBatch, args: &[&str], stdin: Option<&str>) -> String {
    let dev = dev();
    let bin = std::env::var("PULLGATE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pullgate").to_string());
    let mut cmd = Command::new(&bin);
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    let unset = |name: &str| std::env::var(name).map_or(true, |v| v.trim().is_empty());
    if unset("PULLGATE_BACKEND") {
        cmd.env("PULLGATE_BACKEND", "local");
    }
    if unset("PULLGATE_LOCAL_STATE") {
        cmd.env("PULLGATE_LOCAL_STATE", dev.state.join("kv"));
    }
    if unset("PULLGATE_ROOT_SECRET") && unset("PULLGATE_ROOT_SECRET_FILE") {
        cmd.env("PULLGATE_ROOT_SECRET_FILE", dev.state.join("dev.vars"));
    }
    if unset("PULLGATE_WRANGLER_CONFIG") {
        cmd.env("PULLGATE_WRANGLER_CONFIG", Path::new(env!("CARGO_MANIFEST_DIR")).join("wrangler.toml"));
    }
    batch.apply(&mut cmd);
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("running {bin}: {e}"));
    if let Some(input) = stdin {
        stdin::feed(&mut child, input);
    }
    let out = child.wait_with_output().expect("waiting for the CLI");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pullgate {} failed ({}):\n{stdout}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A credential as `pullgate upstream add` takes it.
enum Cred {
    None,
    /// `--credential basic|ghcr|dockerhub --username U`, the password on stdin.
    Password {
        kind: &'static str,
        username: String,
        password: String,
    },
    GcrKeyFile(PathBuf),
    GcrTokenFile(PathBuf),
    Ecr {
        key_id: String,
        secret: String,
        region: String,
        api: String,
    },
}

struct Up {
    endpoint: String,
    alias: &'static str,
    cred: Cred,
}

struct App {
    slug: String,
    license: String,
}

fn unique(label: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    format!("reg-{label}-{:x}", (nanos ^ ((std::process::id() as u64) << 40)) & 0xffff_ffff_ffff)
}

/// The app, its upstreams and a license, landed in KV together (one wrangler run, not one per command).
fn create_app(label: &str, ups: Vec<Up>) -> App {
    let slug = unique(label);
    let batch = KvBatch::begin(&local_store());
    let cli = |args: &[&str], stdin: Option<&str>| cli(&batch, args, stdin);
    cli(&["app", "add", &slug, "--name", &format!("e2e registries {label}")], None);
    for up in ups {
        let mut args: Vec<String> =
            ["upstream", "add", &up.endpoint, "--app", &slug, "--alias", up.alias, "--insecure-dev"]
                .map(String::from)
                .to_vec();
        let mut stdin = None;
        match up.cred {
            Cred::None => args.extend(["--credential", "none"].map(String::from)),
            Cred::Password { kind, username, password } => {
                args.extend(["--credential", kind, "--username", &username, "--password-stdin"].map(String::from));
                stdin = Some(password);
            }
            Cred::GcrKeyFile(file) => {
                args.extend(["--credential".into(), "gcr".into(), "--json-key-file".into(), file.display().to_string()])
            }
            Cred::GcrTokenFile(file) => args.extend([
                "--credential".into(),
                "gcr".into(),
                "--oauth2-token-file".into(),
                file.display().to_string(),
            ]),
            Cred::Ecr { key_id, secret, region, api } => {
                args.extend(
                    [
                        "--credential",
                        "ecr",
                        "--access-key-id",
                        &key_id,
                        "--region",
                        &region,
                        "--ecr-auth-endpoint",
                        &api,
                        "--password-stdin",
                    ]
                    .map(String::from),
                );
                stdin = Some(secret);
            }
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&argv, stdin.as_deref());
    }
    let license = cli(&["license", "issue", "--app", &slug, "--customer", "Registries E2E", "--expires", "1d"], None)
        .trim()
        .to_string();
    assert!(!license.is_empty() && !license.contains(char::is_whitespace), "license issue printed {license:?}");
    batch.commit();
    App { slug, license }
}

/// A private file holding `text` (for --json-key-file / --oauth2-token-file).
fn secret_file(text: &str) -> PathBuf {
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = temp_dir("secret").join("secret");
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    path
}

impl Standins {
    fn ecr(&self, alias: &'static str) -> Up {
        Up {
            endpoint: self.url("ecr"),
            alias,
            cred: Cred::Ecr {
                key_id: self.cred("ecr", "access_key_id"),
                secret: self.cred("ecr", "secret_access_key"),
                region: self.cred("ecr", "region"),
                api: self.doc["flavors"]["ecr"]["api"].as_str().unwrap().to_string(),
            },
        }
    }
    fn gcr(&self, alias: &'static str) -> Up {
        let key = PathBuf::from(self.doc["gcr_json_key"].as_str().unwrap());
        Up { endpoint: self.url("gcr"), alias, cred: Cred::GcrKeyFile(key) }
    }
    fn password(&self, flavor: &str, kind: &'static str, alias: &'static str, secret_key: &str) -> Up {
        Up {
            endpoint: self.url(flavor),
            alias,
            cred: Cred::Password {
                kind,
                username: self.cred(flavor, "username"),
                password: self.cred(flavor, secret_key),
            },
        }
    }
    fn dockerhub(&self, alias: &'static str) -> Up {
        self.password("dockerhub", "dockerhub", alias, "password")
    }
    fn ghcr(&self, alias: &'static str) -> Up {
        self.password("ghcr", "ghcr", alias, "token")
    }
    fn artifactory(&self, alias: &'static str) -> Up {
        self.password("artifactory", "basic", alias, "password")
    }
    fn anonymous(&self, alias: &'static str) -> Up {
        Up { endpoint: self.url("anonymous"), alias, cred: Cred::None }
    }
}

// ------------------------------------------------------------------ pulling through the edge

fn reference(dev: &Dev, app: &App, alias: &str, repo: &str, tag: &str) -> String {
    format!("{}/proxy/{}/{alias}/{repo}:{tag}", dev.authority, app.slug)
}

/// skopeo copy through the edge into a fresh OCI layout; checks the digest and every blob.
fn pull(dev: &Dev, app: &App, alias: &str, repo: &str, image: &Image) {
    let dir = temp_dir("reg-pull");
    let src = format!("docker://{}", reference(dev, app, alias, repo, &image.tag));
    let dest = format!("oci:{}", dir.display());
    let creds = format!("customer:{}", app.license);
    let mut args = vec!["copy", "--src-tls-verify=false", "--src-creds", &creds];
    if image.is_index() {
        args.push("--all");
    }
    args.extend([src.as_str(), dest.as_str()]);
    skopeo(&args);
    assert_eq!(oci_layout_digests(&dir), vec![image.digest.clone()], "{src}");
    for (blob, _) in &image.blobs {
        assert!(oci_layout_has_blob(&dir, blob), "{src}: blob {blob} missing or corrupt");
    }
}

/// `GET|HEAD /v2/proxy/<app>/<alias>/<repo>/<tail>` on the edge with a bearer token for it.
fn edge(dev: &Dev, app: &App, alias: &str, repo: &str, method: &str, tail: &str, headers: &[(&str, &str)]) -> Resp {
    let name = format!("proxy/{}/{alias}/{repo}", app.slug);
    let t = get(
        &format!("{}/v2/token?service=pullgate&scope=repository:{name}:pull", dev.url),
        &[("authorization", &basic_auth("customer", &app.license))],
    );
    assert_eq!(t.status, 200, "edge token for {name}: {}", t.text());
    let auth = format!("Bearer {}", t.json()["token"].as_str().expect("token"));
    let mut all = vec![("authorization", auth.as_str()), ("accept", ACCEPT_ALL)];
    all.extend_from_slice(headers);
    request(method, &format!("{}/v2/{name}/{tail}", dev.url), &all)
}

fn error_of(r: &Resp) -> (String, String) {
    let v = r.json();
    (
        v["errors"][0]["code"].as_str().unwrap_or_default().to_string(),
        v["errors"][0]["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// Every authorized registry request of `lines` (status 2xx/3xx).
fn served<'a>(lines: &[&'a Value]) -> Vec<&'a Value> {
    lines.iter().copied().filter(|v| (200..400).contains(&status(v))).collect()
}

// ------------------------------------------------------------------ ECR

/// The stand-in's SigV4 verifier is checked against AWS's own test suite, not only against the
/// Worker's signer (which could share its mistakes). Needs python3 only, so it is not ignored.
#[test]
fn standin_sigv4_verifier_agrees_with_the_aws_test_suite() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("scripts/demo/standins.py"))
        .arg("--self-test")
        .arg(root.join("tests/vectors/aws-sigv4"))
        .output()
        .expect("python3");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    let checked: usize = text
        .split("self-test: ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(checked >= 20, "{text}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn ecr_sigv4_token_serves_many_pulls_as_aws_basic() {
    let dev = dev();
    let st = standins(&dev);
    let app = create_app("ecr", vec![st.ecr("ecr")]);
    let _serial = serial(&dev);
    let _reset = ResetFaults(&st);
    let key_id = st.cred("ecr", "access_key_id");

    let mark = st.mark();
    pull(&dev, &app, "ecr", "demo/hello", &dev.image("demo/hello", "1.0"));
    let log = st.since(mark);
    let api = of(&log, "ecr", "api");
    assert_eq!(api.len(), 1, "one GetAuthorizationToken for the first pull:\n{}", show(&api));
    let call = api[0];
    assert_eq!((field(call, "method"), field(call, "path")), ("POST", "/"));
    assert_eq!(field(call, "auth"), "aws4-hmac-sha256");
    assert_eq!(field(call, "sigv4"), "verified", "{call}");
    assert_eq!(field(call, "identity"), key_id);
    assert_eq!((field(call, "region"), field(call, "service")), ("us-east-1", "ecr"));
    assert_eq!(field(call, "action"), "GetAuthorizationToken");
    assert!(field(call, "signed_headers").split(';').any(|h| h == "x-amz-target"), "{call}");
    assert_eq!(status(call), 200);
    let password = field(call, "issued").to_string();
    assert!(!password.is_empty());

    let registry = of(&log, "ecr", "registry");
    let first = registry.first().expect("the registry was asked");
    assert_eq!((field(first, "auth"), status(first)), ("none", 401), "{first}");
    let realm = format!("Basic realm=\"http://127.0.0.1:{}/\",service=\"ecr.amazonaws.com\"", st.port("ecr"));
    assert_eq!(field(first, "challenge"), realm);
    let ok = served(&registry);
    assert!(ok.len() >= 3, "manifest and blobs:\n{}", show(&registry));
    for v in &ok {
        assert_eq!(
            (field(v, "auth"), field(v, "user"), field(v, "identity")),
            ("basic", "AWS", password.as_str()),
            "{v}"
        );
    }
    assert!(ok.iter().any(|v| field(v, "path").contains("/manifests/") && status(v) == 200));
    // ECR serves layers from S3: the blob GETs answer 307 to the (demo) CDN.
    assert!(ok.iter().any(|v| field(v, "path").contains("/blobs/")
        && status(v) == 307
        && field(v, "location").starts_with(&dev.cdn)));

    // More pulls, other tags and an index: the same 12 h token, no new API call, no 401.
    let mark = st.mark();
    pull(&dev, &app, "ecr", "demo/hello", &dev.image("demo/hello", "1.1"));
    pull(&dev, &app, "ecr", "demo/multi", &dev.image("demo/multi", "1.0"));
    let log = st.since(mark);
    assert!(of(&log, "ecr", "api").is_empty(), "no new GetAuthorizationToken:\n{}", show(&of(&log, "ecr", "api")));
    let registry = of(&log, "ecr", "registry");
    assert!(registry.len() >= 6, "{}", show(&registry));
    for v in &registry {
        assert_eq!((status(v) < 400, field(v, "identity")), (true, password.as_str()), "{v}");
    }

    // Through the edge a blob GET is a 307 to the upstream's (S3-like) location.
    let image = dev.image("demo/hello", "1.0");
    let (digest, _) = image.largest_blob();
    let r = edge(&dev, &app, "ecr", "demo/hello", "GET", &format!("blobs/{digest}"), &[]);
    assert_eq!(r.status, 307, "{}", r.text());
    assert!(r.header("location").unwrap_or_default().starts_with(&dev.cdn), "{:?}", r.header("location"));
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn ecr_token_expiring_mid_pull_is_renewed_exactly_once() {
    let dev = dev();
    let st = standins(&dev);
    let app = create_app("ecr-exp", vec![st.ecr("ecr")]);
    let _serial = serial(&dev);
    let _reset = ResetFaults(&st);

    let mark = st.mark();
    pull(&dev, &app, "ecr", "demo/hello", &dev.image("demo/hello", "1.0"));
    let log = st.since(mark);
    let api = of(&log, "ecr", "api");
    assert_eq!(api.len(), 1, "{}", show(&api));
    let old = field(api[0], "issued").to_string();

    // The token dies after the next authorized request: the manifest, before the blobs.
    st.control("ecr", "expire", "?after=1");
    let mark = st.mark();
    pull(&dev, &app, "ecr", "demo/hello", &dev.image("demo/hello", "1.1"));
    let log = st.since(mark);
    let api = of(&log, "ecr", "api");
    assert_eq!(api.len(), 1, "exactly one new GetAuthorizationToken:\n{}", show(&api));
    assert_eq!((field(api[0], "sigv4"), status(api[0])), ("verified", 200));
    let new = field(api[0], "issued").to_string();
    assert_ne!(new, old);
    let registry = of(&log, "ecr", "registry");
    let expired: Vec<&&Value> = registry.iter().filter(|v| status(v) == 403).collect();
    assert_eq!(expired.len(), 1, "one request met the expired token:\n{}", show(&registry));
    assert_eq!((field(expired[0], "identity"), field(expired[0], "note")), (old.as_str(), "expired ECR password"));
    let at = registry.iter().position(|v| status(v) == 403).unwrap();
    assert_eq!(field(registry[0], "identity"), old, "the manifest still used the old token");
    let after = &registry[at + 1..];
    assert!(after.len() >= 2, "the blobs came after the renewal:\n{}", show(&registry));
    for v in after {
        assert_eq!((field(v, "identity"), status(v) < 400), (new.as_str(), true), "{v}");
    }

    // And the renewed token serves the next pull with no further call.
    let mark = st.mark();
    pull(&dev, &app, "ecr", "demo/hello", &dev.image("demo/hello", "1.2"));
    let log = st.since(mark);
    assert!(of(&log, "ecr", "api").is_empty(), "{}", show(&of(&log, "ecr", "api")));
    assert!(of(&log, "ecr", "registry").iter().all(|v| field(v, "identity") == new && status(v) < 400));
}

// ------------------------------------------------------------------ GCR / Artifact Registry

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn gcr_json_key_and_oauth_token_at_the_realm_and_relative_download_locations() {
    let dev = dev();
    let st = standins(&dev);
    let token_file = secret_file(&st.cred("gcr", "oauth2_token"));
    let oauth = Up { endpoint: st.localhost_url("gcr"), alias: "gar", cred: Cred::GcrTokenFile(token_file) };
    let app = create_app("gcr", vec![st.gcr("gcr"), oauth]);
    let _serial = serial(&dev);
    let _reset = ResetFaults(&st);
    let hello = dev.image("demo/hello", "1.0");
    let multi = dev.image("demo/multi", "1.0");

    let mark = st.mark();
    pull(&dev, &app, "gcr", "demo/hello", &hello);
    pull(&dev, &app, "gar", "demo/multi", &multi);
    let log = st.since(mark);

    let realm = of(&log, "gcr", "realm");
    let json_key: Vec<&&Value> = realm.iter().filter(|v| field(v, "user") == "_json_key").collect();
    assert_eq!(json_key.len(), 1, "{}", show(&realm));
    let v = json_key[0];
    assert_eq!((status(v), field(v, "identity")), (200, st.cred("gcr", "client_email").as_str()), "{v}");
    assert_eq!(field(v, "service"), "gcr.io");
    assert_eq!(v["scope"], serde_json::json!(["repository:demo/hello:pull"]));
    let oauth: Vec<&&Value> = realm.iter().filter(|v| field(v, "user") == "oauth2accesstoken").collect();
    assert_eq!(oauth.len(), 1, "{}", show(&realm));
    assert_eq!((status(oauth[0]), field(oauth[0], "identity")), (200, "oauth2accesstoken"));
    assert_eq!(oauth[0]["scope"], serde_json::json!(["repository:demo/multi:pull"]));

    // Blob GETs answer 302 with a relative Location on the registry's own host ...
    let registry = of(&log, "gcr", "registry");
    let blob_gets: Vec<&&Value> = registry
        .iter()
        .filter(|v| field(v, "path").contains("/blobs/sha256:") && field(v, "method") == "GET")
        .collect();
    assert_eq!(blob_gets.len(), hello.blobs.len() + multi.blobs.len(), "{}", show(&registry));
    for v in &blob_gets {
        assert_eq!(status(v), 302, "{v}");
        assert!(field(v, "location").starts_with("/artifacts-downloads/namespaces/"), "{v}");
        assert_eq!(field(v, "auth"), "bearer");
    }
    // ... which the client fetched from the stand-in, and got the bytes.
    let downloads = of(&log, "gcr", "download");
    for (digest, size) in hello.blobs.iter().chain(&multi.blobs) {
        assert!(
            downloads
                .iter()
                .any(|v| field(v, "digest") == digest && status(v) == 200 && v["bytes"].as_u64() == Some(*size)),
            "download of {digest} ({size} bytes) not served:\n{}",
            show(&downloads)
        );
    }

    // Through the edge: a 307 to the absolute form of that Location, on the upstream's host.
    let (digest, size) = hello.largest_blob();
    let r = edge(&dev, &app, "gcr", "demo/hello", "GET", &format!("blobs/{digest}"), &[]);
    assert_eq!(r.status, 307, "{}", r.text());
    let location = r.header("location").unwrap_or_default().to_string();
    let prefix = format!("{}/artifacts-downloads/namespaces/", st.url("gcr"));
    assert!(location.starts_with(&prefix), "{location}");
    let bytes = get(&location, &[]);
    assert_eq!((bytes.status, bytes.body.len() as u64, bytes.digest()), (200, size, digest.clone()));
}

// ------------------------------------------------------------------ Docker Hub

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn dockerhub_official_images_use_library_and_the_realm_on_another_host() {
    let dev = dev();
    let st = standins(&dev);
    let app = create_app("hub", vec![st.dockerhub("hub")]);
    let _serial = serial(&dev);
    let _reset = ResetFaults(&st);
    let user = st.cred("dockerhub", "username");
    let auth_port =
        st.doc["flavors"]["dockerhub"]["auth_url"].as_str().unwrap().rsplit(':').next().unwrap().to_string();

    let mark = st.mark();
    // `hub/hello` is Docker Hub's `library/hello` (the stand-in serves it from demo/hello).
    pull(&dev, &app, "hub", "hello", &dev.image("demo/hello", "1.0"));
    let log = st.since(mark);
    let registry = of(&log, "dockerhub", "registry");
    let first = registry.first().expect("the registry was asked");
    assert_eq!(status(first), 401);
    let challenge = field(first, "challenge");
    assert!(
        challenge.starts_with(&format!(
            "Bearer realm=\"http://localhost:{auth_port}/token\",service=\"registry.docker.io\""
        )),
        "{challenge}"
    );
    let realm = of(&log, "dockerhub", "realm");
    assert_eq!(realm.len(), 1, "{}", show(&realm));
    let v = realm[0];
    assert_eq!(v["port"].as_u64().map(|p| p.to_string()), Some(auth_port.clone()), "realm served on the other host");
    assert_eq!((status(v), field(v, "user"), field(v, "identity")), (200, user.as_str(), user.as_str()), "{v}");
    assert_eq!(field(v, "service"), "registry.docker.io");
    assert_eq!(v["scope"], serde_json::json!(["repository:library/hello:pull"]));
    assert!(v.get("refused_scope").is_none(), "{v}");
    let ok = served(&registry);
    assert!(ok.len() >= 3, "{}", show(&registry));
    for v in &ok {
        assert!(field(v, "path").starts_with("/v2/library/hello/"), "{v}");
        assert_eq!((field(v, "auth"), field(v, "backing_repo")), ("bearer", "demo/hello"));
    }
    assert!(registry.iter().all(|v| !field(v, "path").starts_with("/v2/hello/")), "{}", show(&registry));

    // Two-component names are a user's namespace: no library/.
    let mark = st.mark();
    pull(&dev, &app, "hub", "demo/multi", &dev.image("demo/multi", "1.0"));
    let log = st.since(mark);
    let realm = of(&log, "dockerhub", "realm");
    assert!(realm.iter().all(|v| v["scope"] == serde_json::json!(["repository:demo/multi:pull"])), "{}", show(&realm));
    assert!(served(&of(&log, "dockerhub", "registry")).iter().all(|v| field(v, "path").starts_with("/v2/demo/multi/")));
}

// ------------------------------------------------------------------ GHCR

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn ghcr_personal_access_token_goes_to_the_realm_only() {
    let dev = dev();
    let st = standins(&dev);
    let app = create_app("ghcr", vec![st.ghcr("ghcr")]);
    let _serial = serial(&dev);
    let _reset = ResetFaults(&st);
    let user = st.cred("ghcr", "username");

    let mark = st.mark();
    pull(&dev, &app, "ghcr", "demo/hello", &dev.image("demo/hello", "1.1"));
    pull(&dev, &app, "ghcr", "demo/multi", &dev.image("demo/multi", "1.0"));
    let log = st.since(mark);
    let realm = of(&log, "ghcr", "realm");
    assert!(!realm.is_empty());
    let tokens: Vec<&str> = realm.iter().map(|v| field(v, "token")).collect();
    for v in &realm {
        assert_eq!(
            (status(v), field(v, "auth"), field(v, "user"), field(v, "identity")),
            (200, "basic", user.as_str(), user.as_str()),
            "{v}"
        );
        assert_eq!(field(v, "service"), "ghcr.io");
    }
    let registry = of(&log, "ghcr", "registry");
    let first = registry.first().unwrap();
    assert_eq!(status(first), 401);
    assert!(field(first, "challenge")
        .starts_with(&format!("Bearer realm=\"{}/token\",service=\"ghcr.io\"", st.url("ghcr"))));
    let ok = served(&registry);
    assert!(ok.len() >= 6, "{}", show(&registry));
    for v in &ok {
        assert_eq!(field(v, "auth"), "bearer", "{v}");
        assert!(tokens.contains(&field(v, "token")), "{v}");
    }
    assert!(registry.iter().all(|v| field(v, "auth") != "basic"), "the PAT never went to the registry itself");
}

// ------------------------------------------------------------------ Artifactory-like Basic

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn artifactory_basic_only_with_blobs_streamed_through_the_edge() {
    let dev = dev();
    let st = standins(&dev);
    let app = create_app("art", vec![st.artifactory("art")]);
    let _serial = serial(&dev);
    let _reset = ResetFaults(&st);
    let user = st.cred("artifactory", "username");
    let big = dev.image("demo/big", "1.0");

    let mark = st.mark();
    pull(&dev, &app, "art", "demo/big", &big);
    let log = st.since(mark);
    assert!(of(&log, "artifactory", "realm").is_empty());
    let registry = of(&log, "artifactory", "registry");
    let first = registry.first().unwrap();
    assert_eq!((status(first), field(first, "challenge")), (401, "Basic realm=\"Artifactory Realm\""), "{first}");
    let ok = served(&registry);
    assert!(ok.len() >= 3, "{}", show(&registry));
    for v in &ok {
        assert_eq!(
            (field(v, "auth"), field(v, "user"), field(v, "identity")),
            ("basic", user.as_str(), user.as_str()),
            "{v}"
        );
    }
    let (digest, size) = big.largest_blob();
    assert!(
        ok.iter().any(|v| field(v, "path").ends_with(&digest) && status(v) == 200 && v["bytes"].as_u64() == Some(size)),
        "the layer's bytes came from the stand-in itself:\n{}",
        show(&registry)
    );

    // Raw HTTP: the edge answers the blob GET with the bytes (200), not a redirect.
    let r = edge(&dev, &app, "art", "demo/big", "GET", &format!("blobs/{digest}"), &[]);
    assert_eq!(r.status, 200, "{:?} {}", r.headers, String::from_utf8_lossy(&r.body[..r.body.len().min(300)]));
    assert_eq!(r.header("location"), None);
    assert_eq!((r.body.len() as u64, r.digest()), (size, digest.clone()));
    let r = edge(&dev, &app, "art", "demo/big", "GET", &format!("blobs/{digest}"), &[("range", "bytes=1000-2023")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some(format!("bytes 1000-2023/{size}").as_str()));
    assert_eq!(r.body.len(), 1024);
    let full = get(&format!("{}/v2/demo/big/blobs/{digest}", dev.stream), &[]);
    assert_eq!(r.body, full.body[1000..2024]);
}

// ------------------------------------------------------------------ anonymous bearer

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn anonymous_bearer_realm_gives_tokens_without_credentials() {
    let dev = dev();
    let st = standins(&dev);
    let app = create_app("anon", vec![st.anonymous("pub")]);
    let _serial = serial(&dev);
    let _reset = ResetFaults(&st);

    let mark = st.mark();
    pull(&dev, &app, "pub", "demo/hello", &dev.image("demo/hello", "2.0"));
    let log = st.since(mark);
    let realm = of(&log, "anonymous", "realm");
    assert_eq!(realm.len(), 1, "{}", show(&realm));
    let v = realm[0];
    assert_eq!((status(v), field(v, "auth"), field(v, "identity")), (200, "none", "anonymous"), "{v}");
    assert_eq!(field(v, "service"), "public.ecr.aws");
    assert_eq!(v["scope"], serde_json::json!(["repository:demo/hello:pull"]));
    let registry = of(&log, "anonymous", "registry");
    let first = registry.first().unwrap();
    assert_eq!((status(first), field(first, "auth")), (401, "none"));
    assert!(field(first, "challenge").starts_with(&format!("Bearer realm=\"{}/token/\"", st.url("anonymous"))));
    let ok = served(&registry);
    assert!(ok.len() >= 3, "{}", show(&registry));
    for v in &ok {
        assert_eq!((field(v, "auth"), field(v, "token")), ("bearer", field(realm[0], "token")), "{v}");
    }
}

// ------------------------------------------------------------------ failure modes

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn rejected_credentials_are_403_naming_the_registry_and_the_fix() {
    let dev = dev();
    let st = standins(&dev);
    let mut bad_key: Value =
        serde_json::from_str(&std::fs::read_to_string(st.doc["gcr_json_key"].as_str().unwrap()).unwrap()).unwrap();
    bad_key["private_key"] = "-----BEGIN PRIVATE KEY-----\nbm90IHRoZSBrZXk=\n-----END PRIVATE KEY-----\n".into();
    let bad_key_file = secret_file(&bad_key.to_string());
    let wrong = |flavor: &str, kind: &'static str, alias: &'static str| Up {
        endpoint: st.url(flavor),
        alias,
        cred: Cred::Password { kind, username: st.cred(flavor, "username"), password: "not-the-password".into() },
    };
    let mut ecr_bad_secret = st.ecr("ecr-bad");
    if let Cred::Ecr { secret, .. } = &mut ecr_bad_secret.cred {
        *secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into();
    }
    let mut ecr_unknown = st.ecr("ecr-unknown");
    ecr_unknown.endpoint = st.localhost_url("ecr");
    if let Cred::Ecr { key_id, .. } = &mut ecr_unknown.cred {
        *key_id = "AKIAUNKNOWNKEY000000".into();
    }
    let app = create_app(
        "bad",
        vec![
            ecr_bad_secret,
            ecr_unknown,
            Up { endpoint: st.url("gcr"), alias: "gcr-bad", cred: Cred::GcrKeyFile(bad_key_file) },
            wrong("dockerhub", "dockerhub", "hub-bad"),
            wrong("ghcr", "ghcr", "ghcr-bad"),
            wrong("artifactory", "basic", "art-bad"),
        ],
    );
    let _serial = serial(&dev);
    let _reset = ResetFaults(&st);

    let cases = [
        ("ecr-bad", "ECR ecr-bad", "ecr:GetAuthorizationToken"),
        ("ecr-unknown", "ECR ecr-unknown", "ecr:GetAuthorizationToken"),
        ("gcr-bad", "GCR gcr-bad", "roles/artifactregistry.reader"),
        ("hub-bad", "Docker Hub hub-bad", "check the username and the access token"),
        ("ghcr-bad", "GHCR ghcr-bad", "read:packages"),
        ("art-bad", "upstream art-bad", "check the username and password"),
    ];
    let mark = st.mark();
    for (alias, upstream, fix) in cases {
        let r = edge(&dev, &app, alias, "demo/hello", "GET", "manifests/1.0", &[]);
        assert_eq!(r.status, 403, "{alias}: {}", r.text());
        let (code, message) = error_of(&r);
        assert_eq!(code, "DENIED", "{alias}");
        assert!(message.contains(&format!("{upstream} refused pullgate's credential")), "{alias}: {message}");
        assert!(message.contains("contact the vendor"), "{alias}: {message}");
        assert!(message.contains(fix), "{alias}: {message}");
    }
    let log = st.since(mark);

    // ECR: the signature (or the key) was refused at the API; the registry never saw a credential.
    let api = of(&log, "ecr", "api");
    assert_eq!(api.len(), 2, "{}", show(&api));
    assert_eq!((field(api[0], "sigv4"), status(api[0])), ("InvalidSignatureException", 400), "{}", api[0]);
    assert_eq!(field(api[0], "identity"), st.cred("ecr", "access_key_id"));
    assert_eq!((field(api[1], "sigv4"), status(api[1])), ("UnrecognizedClientException", 400), "{}", api[1]);
    assert!(of(&log, "ecr", "registry").iter().all(|v| field(v, "auth") == "none" && status(v) == 401));
    // Bearer registries: refused at the realm, with the identity the vendor configured.
    let gcr = of(&log, "gcr", "realm");
    assert_eq!(gcr.len(), 1, "{}", show(&gcr));
    assert_eq!(
        (status(gcr[0]), field(gcr[0], "user"), field(gcr[0], "note")),
        (401, "_json_key", "service-account key not valid")
    );
    assert_eq!(field(gcr[0], "client_email"), st.cred("gcr", "client_email"));
    for flavor in ["dockerhub", "ghcr"] {
        let realm = of(&log, flavor, "realm");
        assert_eq!(realm.len(), 1, "{flavor}: {}", show(&realm));
        assert!([401, 403].contains(&status(realm[0])), "{}", realm[0]);
        assert_eq!(field(realm[0], "user"), st.cred(flavor, "username"));
        assert!(of(&log, flavor, "registry").iter().all(|v| status(v) == 401 && field(v, "auth") == "none"));
    }
    let art = of(&log, "artifactory", "registry");
    assert!(
        art.iter().any(|v| field(v, "auth") == "basic"
            && field(v, "note") == "wrong username or password"
            && status(v) == 401),
        "{}",
        show(&art)
    );
    assert!(art.iter().all(|v| status(v) == 401));

    // skopeo fails on it too, and shows the customer the message (a 4xx's message is printed).
    let src = format!("docker://{}", reference(&dev, &app, "ecr-bad", "demo/hello", "1.0"));
    let dir = temp_dir("reg-bad");
    let (ok, out) = skopeo_try(&[
        "copy",
        "--retry-times=0",
        "--src-tls-verify=false",
        "--src-creds",
        &format!("customer:{}", app.license),
        &src,
        &format!("oci:{}", dir.display()),
    ]);
    assert!(!ok && out.contains("refused pullgate's credential") && out.contains("contact the vendor"), "{out}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn token_realm_on_a_foreign_domain_gets_nothing() {
    let dev = dev();
    let st = standins(&dev);
    let app = create_app("foreign", vec![st.ghcr("ghcr"), st.gcr("gcr"), st.dockerhub("hub"), st.anonymous("pub")]);
    let _serial = serial(&dev);
    let _reset = ResetFaults(&st);
    let flavors = [("ghcr", "ghcr"), ("gcr", "gcr"), ("dockerhub", "hub"), ("anonymous", "pub")];
    for (flavor, _) in flavors {
        st.control(flavor, "foreign-realm", "");
    }

    let mark = st.mark();
    for (_, alias) in flavors {
        let r = edge(&dev, &app, alias, "demo/hello", "GET", "manifests/1.0", &[]);
        assert_eq!(r.status, 403, "{alias}: {}", r.text());
        let (code, message) = error_of(&r);
        assert_eq!(code, "DENIED");
        assert!(message.contains("auth.example.invalid"), "{alias}: {message}");
        assert!(!message.contains("/token"), "no realm URL (and so no query) in a message: {message}");
        assert!(message.contains("none was sent"), "{alias}: {message}");
    }
    let log = st.since(mark);
    // Only the anonymous registry requests that drew the challenge; nothing else anywhere.
    assert_eq!(log.len(), flavors.len(), "{}", show(&log.iter().collect::<Vec<_>>()));
    for v in &log {
        assert_eq!((field(v, "role"), field(v, "auth"), status(v)), ("registry", "none", 401), "{v}");
        assert!(field(v, "challenge").contains("auth.example.invalid"), "{v}");
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_refused_foreign_challenge_is_not_remembered_once_the_upstream_recovers() {
    let dev = dev();
    let st = standins(&dev);
    let app = create_app("recover", vec![st.ghcr("ghcr"), st.anonymous("pub")]);
    let _serial = serial(&dev);
    let reset = ResetFaults(&st);
    st.control("ghcr", "foreign-realm", "");
    st.control("anonymous", "foreign-realm", "");
    for alias in ["ghcr", "pub"] {
        let r = edge(&dev, &app, alias, "demo/hello", "GET", "manifests/1.0", &[]);
        assert_eq!(r.status, 403, "{alias}: {}", r.text());
    }
    // The upstream's challenge names its own realm again: the edge must ask it, not replay the
    // refused one from its isolate cache.
    drop(reset);
    let mark = st.mark();
    for alias in ["ghcr", "pub"] {
        let r = edge(&dev, &app, alias, "demo/hello", "GET", "manifests/1.0", &[]);
        assert_eq!(r.status, 200, "{alias} after the foreign challenge went away: {}", r.text());
        assert_eq!(r.digest(), dev.image("demo/hello", "1.0").digest);
    }
    let log = st.since(mark);
    for flavor in ["ghcr", "anonymous"] {
        assert_eq!(
            of(&log, flavor, "realm").iter().filter(|v| status(v) == 200).count(),
            1,
            "{flavor}: {}",
            show(&of(&log, flavor, "realm"))
        );
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn rate_limits_are_429_toomanyrequests_with_retry_after() {
    let dev = dev();
    let st = standins(&dev);
    let app = create_app(
        "ratelimit",
        vec![
            st.ecr("ecr"),
            st.gcr("gcr"),
            st.dockerhub("hub"),
            st.ghcr("ghcr"),
            st.artifactory("art"),
            st.anonymous("pub"),
        ],
    );
    let _serial = serial(&dev);
    let _reset = ResetFaults(&st);
    let flavors = [
        ("ecr", "ecr"),
        ("gcr", "gcr"),
        ("dockerhub", "hub"),
        ("ghcr", "ghcr"),
        ("artifactory", "art"),
        ("anonymous", "pub"),
    ];
    for (flavor, _) in flavors {
        st.control(flavor, "ratelimit", "");
    }
    let mark = st.mark();
    for (_, alias) in flavors {
        let r = edge(&dev, &app, alias, "demo/hello", "GET", "manifests/1.0", &[]);
        assert_eq!(r.status, 429, "{alias}: {}", r.text());
        assert_eq!(error_of(&r).0, "TOOMANYREQUESTS", "{alias}");
        assert!(error_of(&r).1.contains(&format!("{alias} is rate limiting")), "{alias}: {}", r.text());
        assert_eq!(r.header("retry-after"), Some("5"), "{alias}: {:?}", r.headers);
    }
    let log = st.since(mark);
    for (flavor, _) in flavors {
        let registry = of(&log, flavor, "registry");
        assert!(
            !registry.is_empty() && registry.iter().all(|v| status(v) == 429 && field(v, "fault") == "ratelimit"),
            "{flavor}: {}",
            show(&registry)
        );
    }

    // A token realm that rate limits (Docker Hub's auth service) is a 429 too.
    st.control("dockerhub", "reset", "");
    st.control("dockerhub", "ratelimit", "?target=realm");
    let mark = st.mark();
    let r = edge(&dev, &app, "hub", "demo/hello", "GET", "manifests/1.0", &[]);
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(error_of(&r).0, "TOOMANYREQUESTS");
    assert_eq!(r.header("retry-after"), Some("5"));
    let log = st.since(mark);
    let realm = of(&log, "dockerhub", "realm");
    assert_eq!(realm.len(), 1, "{}", show(&realm));
    assert_eq!((status(realm[0]), field(realm[0], "fault")), (429, "ratelimit"));
}
