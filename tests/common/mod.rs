//! Shared helpers for the end-to-end suites (`tests/e2e*.rs`): the environment exported by
//! `scripts/dev --background`, `images.json`, raw HTTP without redirects, skopeo, and digests.
#![allow(dead_code)]

pub mod containerd;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The reason every e2e test carries in its `#[ignore]`.
pub const NEEDS_DEV: &str = "needs scripts/dev --background; run by scripts/test";

/// A variable exported by `scripts/dev --background`; panics with how to get it when unset.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `eval \"$(scripts/dev --background)\"` first (scripts/test does)")
    })
}

/// The local stack as `scripts/dev` describes it.
pub struct Dev {
    /// `http://127.0.0.1:<edge>`
    pub url: String,
    /// `127.0.0.1:<edge>`, the default host as clients write it in image references.
    pub authority: String,
    /// The demo custom domain (`images.demo.test`).
    pub host: String,
    pub state: PathBuf,
    /// Proxy references of every demo image through the default host.
    pub images: Vec<String>,
    /// The open upstream (no auth; blob GETs answer 307 to the CDN).
    pub upstream: String,
    pub cdn: String,
    pub basic: String,
    pub bearer: String,
    /// The bearer upstream's token endpoint (`.../token`).
    pub token: String,
    pub stream: String,
}

pub fn dev() -> Dev {
    let url = env("PULLGATE_URL");
    Dev {
        authority: url.trim_start_matches("http://").trim_end_matches('/').to_string(),
        url,
        host: env("PULLGATE_HOST"),
        state: PathBuf::from(env("PULLGATE_STATE")),
        images: env("PULLGATE_IMAGES").split_whitespace().map(String::from).collect(),
        upstream: env("PULLGATE_UPSTREAM_URL"),
        cdn: env("PULLGATE_UPSTREAM_CDN_URL"),
        basic: env("PULLGATE_UPSTREAM_BASIC_URL"),
        bearer: env("PULLGATE_UPSTREAM_BEARER_URL"),
        token: env("PULLGATE_UPSTREAM_TOKEN_URL"),
        stream: env("PULLGATE_UPSTREAM_STREAM_URL"),
    }
}

impl Dev {
    /// A file under the state dir, trimmed (e.g. `upstream/basic.password`).
    pub fn state_file(&self, rel: &str) -> String {
        let path = self.state.join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())).trim().to_string()
    }

    /// `$PULLGATE_STATE/images.json`, written by scripts/demo/images.py.
    pub fn images_json(&self) -> Value {
        let path = self.state.join("images.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_str(&text).expect("images.json is JSON")
    }

    /// Every recorded image (one entry per repo:tag).
    pub fn demo_images(&self) -> Vec<Image> {
        let doc = self.images_json();
        doc["images"].as_array().expect("images[]").iter().map(Image::from_json).collect()
    }

    pub fn image(&self, repo: &str, tag: &str) -> Image {
        self.demo_images()
            .into_iter()
            .find(|i| i.repo == repo && i.tag == tag)
            .unwrap_or_else(|| panic!("{repo}:{tag} not in images.json"))
    }

    /// The demo upstreams' credentials (user `vendor`).
    pub fn basic_password(&self) -> String {
        self.state_file("upstream/basic.password")
    }
    pub fn bearer_password(&self) -> String {
        self.state_file("upstream/bearer.password")
    }

    /// The edge's access log so far: the JSON records in wrangler's log (`src/access_log.rs`).
    pub fn access_log(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.state.join("logs/wrangler.log")).unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("action").is_some())
            .collect()
    }

    /// The bearer upstream's token server requests so far, one JSON object per request
    /// (`method`, `path`, `auth` = "none" | "basic" | ..., `status`).
    pub fn token_requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.state.join("logs/token_server.log")).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|v| v.get("path").is_some()).collect()
    }
}

/// One entry of images.json.
#[derive(Clone, Debug)]
pub struct Image {
    pub repo: String,
    pub tag: String,
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    /// `(digest, media type, "os/arch[/variant]")` of an index's or list's children.
    pub children: Vec<(String, String, String)>,
    /// `(digest, size)` of every blob the image references (children's included).
    pub blobs: Vec<(String, u64)>,
    pub json: Value,
}

impl Image {
    fn from_json(v: &Value) -> Image {
        let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_else(|| panic!("images.json: {k} missing")).to_string();
        let children = v["children"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        let p = &c["platform"];
                        let mut plat = format!("{}/{}", s(p, "os"), s(p, "architecture"));
                        if let Some(var) = p["variant"].as_str() {
                            plat = format!("{plat}/{var}");
                        }
                        (s(c, "digest"), s(c, "media_type"), plat)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let blobs = v["blobs"]
            .as_array()
            .expect("blobs[]")
            .iter()
            .map(|b| (s(b, "digest"), b["size"].as_u64().expect("size")))
            .collect();
        Image {
            repo: s(v, "repo"),
            tag: s(v, "tag"),
            digest: s(v, "digest"),
            media_type: s(v, "media_type"),
            size: v["size"].as_u64().expect("size"),
            children,
            blobs,
            json: v.clone(),
        }
    }

    pub fn is_index(&self) -> bool {
        !self.children.is_empty()
    }

    pub fn is_oci(&self) -> bool {
        self.media_type.starts_with("application/vnd.oci.")
    }

    /// The largest blob (a layer), for blob and Range tests.
    pub fn largest_blob(&self) -> (String, u64) {
        self.blobs.iter().max_by_key(|b| b.1).cloned().expect("image has blobs")
    }
}

/// Every manifest media type, for `Accept`.
pub const ACCEPT_ALL: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): status {} body {:?}", self.status, self.text()))
    }

    /// `sha256:<hex>` of the body.
    pub fn digest(&self) -> String {
        sha256_digest(&self.body)
    }
}

/// The first OCI error's `code` in a registry answer ("" when there is none).
pub fn error_code(r: &Resp) -> String {
    r.json()["errors"][0]["code"].as_str().unwrap_or_default().to_string()
}

/// The first OCI error's `message` in a registry answer ("" when there is none).
pub fn error_message(r: &Resp) -> String {
    r.json()["errors"][0]["message"].as_str().unwrap_or_default().to_string()
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout_connect(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
}

/// The client address this test claims: one per test (from its thread's name), in the
/// benchmarking range 198.18.0.0/15. Locally `wrangler dev` keeps a client's `CF-Connecting-IP`
/// (Cloudflare replaces it), so each test has its own failed sign-in budget instead of sharing
/// 127.0.0.1's with every suite.
pub fn test_client_ip() -> String {
    let name = std::thread::current().name().unwrap_or("main").to_string();
    let h = Sha256::digest(name.as_bytes());
    format!("198.{}.{}.{}", 18 + (h[0] & 1), h[1], h[2])
}

/// One request; never follows redirects; 4xx/5xx are returned, not errors.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Resp {
    send(method, url, headers, None)
}

/// How a POST's body is framed.
pub enum Framing {
    /// With its `Content-Length`.
    Length,
    /// `Transfer-Encoding: chunked`, so the server learns the size only by reading.
    Chunked,
}

/// A POST with a body (never follows redirects; 4xx/5xx are returned, not errors).
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8], framing: Framing) -> Resp {
    send("POST", url, headers, Some((body, framing)))
}

/// A request with a body of known length (`Content-Length`), as the push API's PATCH and PUT.
pub fn request_with_body(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    send(method, url, headers, Some((body, Framing::Length)))
}

/// Asks the token endpoint of the registry at `base` (`http://host:port`) for `scopes` with Basic
/// `user:secret`, the way docker does: realm and service from the `/v2/` challenge.
pub fn token_answer(base: &str, scopes: &[&str], user: &str, secret: &str) -> Resp {
    let probe = get(&format!("{base}/v2/"), &[]);
    assert_eq!(probe.status, 401, "GET /v2/ without credentials is challenged: {}", probe.text());
    let (_, params) = parse_challenge(probe.header("www-authenticate").expect("WWW-Authenticate on /v2/"));
    let (realm, service) = (&params["realm"], &params["service"]);
    let scopes: String = scopes.iter().map(|s| format!("&scope={s}")).collect();
    get(&format!("{realm}?service={service}{scopes}"), &[("authorization", &basic_auth(user, secret))])
}

/// `Bearer <token>` for `scopes`; panics unless the token endpoint answers with one.
pub fn bearer_token(base: &str, scopes: &[&str], secret: &str) -> String {
    let r = token_answer(base, scopes, "e2e", secret);
    assert_eq!(r.status, 200, "token for {scopes:?}: {}", r.text());
    let v = r.json();
    format!("Bearer {}", v["token"].as_str().or(v["access_token"].as_str()).expect("token"))
}

fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<(&[u8], Framing)>) -> Resp {
    let mut req = agent().request(method, url);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("cf-connecting-ip")) {
        req = req.set("cf-connecting-ip", &test_client_ip());
    }
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let sent = match body {
        None => req.call(),
        Some((bytes, Framing::Length)) => req.send_bytes(bytes),
        Some((bytes, Framing::Chunked)) => req.send(std::io::Cursor::new(bytes.to_vec())),
    };
    let resp = match sent {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let mut headers = Vec::new();
    for name in resp.headers_names() {
        for v in resp.all(&name) {
            headers.push((name.to_ascii_lowercase(), v.to_string()));
        }
    }
    let mut body = Vec::new();
    if method != "HEAD" {
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut body)
            .unwrap_or_else(|e| panic!("{method} {url}: reading body: {e}"));
    }
    Resp { status, headers, body }
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> Resp {
    request("GET", url, headers)
}

/// `Basic <base64(user:password)>`.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Fixed bytes that do not compress or repeat (blob content for push tests).
pub fn noise(label: &str, len: usize) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    let mut out = Vec::with_capacity(len + 32);
    let mut block = Sha256::digest(label.as_bytes()).to_vec();
    while out.len() < len {
        block = Sha256::digest(&block).to_vec();
        out.extend_from_slice(&block);
    }
    out.truncate(len);
    out
}

/// A `WWW-Authenticate` challenge: scheme (lower-cased) and its quoted or bare parameters.
pub fn parse_challenge(header: &str) -> (String, BTreeMap<String, String>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((key, after)) = s.split_once('=') else {
            break;
        };
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (quoted[..end].to_string(), quoted.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key, value);
        s = next.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_ascii_lowercase(), params)
}

/// `label` made unique to this run (a repository name component), so a test that needs a
/// repository without history passes again on a stack that ran it before.
pub fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{label}-{nanos:x}")
}

/// A fresh directory under cargo's per-target temp dir.
pub fn temp_dir(label: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "e2e-{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs skopeo with the given arguments; panics with its output unless it succeeds. Returns stdout.
pub fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(args).output().expect("running skopeo (scripts/setup installs it)");
    succeeded(&format!("skopeo {}", args.join(" ")), &out)
}

/// The stdout of a command that must have succeeded; else panics with `what` and its output.
pub fn succeeded(what: &str, out: &std::process::Output) -> String {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed ({}):\n{stdout}{stderr}", out.status);
    stdout.into_owned()
}

/// Runs the admin CLI built beside the suites (the local backend is what scripts/dev exported).
pub fn pullgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pullgate")).args(args).output().expect("running pullgate")
}

/// The admin CLI's trimmed stdout; panics with its output unless it succeeds.
pub fn pullgate_ok(args: &[&str]) -> String {
    succeeded(&format!("pullgate {}", args.join(" ")), &pullgate(args)).trim().to_string()
}

/// `pullgate --json <args>`, which must succeed, parsed.
pub fn pullgate_json(args: &[&str]) -> Value {
    let all: Vec<&str> = std::iter::once("--json").chain(args.iter().copied()).collect();
    serde_json::from_str(&pullgate_ok(&all)).expect("--json output")
}

/// Like `skopeo`, but returns (success, stdout+stderr) for tests that expect a failure.
pub fn skopeo_try(args: &[&str]) -> (bool, String) {
    let out = Command::new("skopeo").args(args).output().expect("running skopeo");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Says whether a pulled copy holds a blob with intact bytes.
pub type BlobCheck = Box<dyn Fn(&str) -> bool>;

/// Copies `reference` with skopeo, keeping digests: OCI types into an OCI layout, Docker types
/// into `dir:` (an OCI layout would convert them). Returns the top manifest's digest and a check
/// for blobs.
pub fn skopeo_pull(reference: &str, creds: &str, media_type: &str, all: bool) -> (String, BlobCheck) {
    let dir = temp_dir("pull");
    let oci = media_type.starts_with("application/vnd.oci.");
    let dest = if oci { format!("oci:{}:pulled", dir.display()) } else { format!("dir:{}", dir.display()) };
    let src = format!("docker://{reference}");
    let mut args = vec!["copy", "--quiet", "--src-tls-verify=false", "--preserve-digests", "--src-creds", creds];
    if all {
        args.push("--all");
    }
    args.extend([src.as_str(), dest.as_str()]);
    skopeo(&args);
    if oci {
        let digest = oci_layout_digests(&dir).pop().expect("one manifest in the layout");
        (digest, Box::new(move |blob: &str| oci_layout_has_blob(&dir, blob)))
    } else {
        let manifest = std::fs::read(dir.join("manifest.json")).expect("dir: manifest.json");
        (
            sha256_digest(&manifest),
            Box::new(move |blob: &str| {
                let hex = blob.trim_start_matches("sha256:");
                std::fs::read(dir.join(hex)).map(|b| sha256_digest(&b) == blob).unwrap_or(false)
            }),
        )
    }
}

/// The manifest digests an OCI layout's index.json names.
pub fn oci_layout_digests(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("index.json")).expect("oci layout index.json");
    let v: Value = serde_json::from_str(&text).expect("index.json is JSON");
    v["manifests"].as_array().expect("manifests[]").iter().map(|m| m["digest"].as_str().unwrap().to_string()).collect()
}

/// True when the OCI layout holds the blob, and its bytes hash to the digest.
pub fn oci_layout_has_blob(dir: &Path, digest: &str) -> bool {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    match std::fs::read(dir.join("blobs/sha256").join(hex)) {
        Ok(bytes) => sha256_digest(&bytes) == digest,
        Err(_) => false,
    }
}

/// A child started with `process_group(0)`, whose whole group (wrangler with its esbuild and
/// workerd children) is stopped on drop, and nothing else.
pub struct ProcessGroup(pub std::process::Child);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // A pgid of 0 or 1 would widen kill(-pgid) to other processes, so refuse it. (procps'
        // `kill -TERM -<pgid>` without `--` signals -1, i.e. everything: never shell out.)
        let Ok(pgid) = i32::try_from(self.0.id()) else { return };
        if pgid > 1 {
            unsafe {
                libc::kill(-pgid, libc::SIGTERM);
            }
            let _ = self.0.wait();
        }
    }
}

/// The local store the admin CLI writes for the e2e stack (`$PULLGATE_LOCAL_STATE`, else the state dir's `kv`).
pub fn local_store() -> PathBuf {
    std::env::var_os("PULLGATE_LOCAL_STATE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env("PULLGATE_STATE")).join("kv"))
}

/// True when scripts/test runs the CLI with scripts/demo/kv_mirror.py as its wrangler and the
/// store has that mirror next to it.
fn kv_mirrored(store: &Path) -> bool {
    std::env::var("PULLGATE_WRANGLER").is_ok_and(|w| w.ends_with("kv_mirror.py"))
        && store.join("pullgate-mirror.json").is_file()
}

/// Several admin-CLI writes of one test fixture held back and landed together with one real
/// `wrangler kv bulk put` (1–3 s each) on `commit`. Without the mirror, each command writes
/// the store itself, as it would anyway.
pub struct KvBatch {
    store: PathBuf,
    file: Option<PathBuf>,
}

impl KvBatch {
    pub fn begin(store: &Path) -> KvBatch {
        let file = kv_mirrored(store).then(|| temp_dir("kv-batch").join("batch.json"));
        KvBatch { store: store.to_path_buf(), file }
    }

    /// Points one CLI command at the batch.
    pub fn apply(&self, cmd: &mut Command) {
        if let Some(file) = &self.file {
            cmd.env("PULLGATE_KV_MIRROR", format!("batch:{}", file.display()));
        }
    }

    /// Writes the batch into the store; the edge sees it from here on.
    pub fn commit(self) {
        let Some(file) = &self.file else { return };
        if !file.exists() {
            return;
        }
        let script = std::env::var("PULLGATE_WRANGLER").expect("checked by begin");
        let out =
            Command::new("python3").arg(script).arg("commit").arg(&self.store).arg(file).output().expect("kv_mirror");
        assert!(
            out.status.success(),
            "kv_mirror.py commit failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// An exclusive `flock` on `path` (created if missing), held until the file is dropped.
pub fn hold_lock(path: &Path) -> std::fs::File {
    use std::os::fd::AsRawFd as _;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("lock file {}: {e}", path.display()));
    // SAFETY: flock on a descriptor the returned file owns; the lock ends when it is closed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock {}: {}", path.display(), std::io::Error::last_os_error());
    file
}

/// Runs `f` while no admin-CLI write through the mirror can touch `store` (e.g. to copy it).
pub fn with_store_quiet<T>(store: &Path, f: impl FnOnce() -> T) -> T {
    let lock = hold_lock(&store.join("pullgate-mirror.json.lock"));
    let result = f();
    drop(lock);
    result
}

/// The first port of `base + offsets` nothing listens on. The e2e ports sit in Linux's
/// ephemeral range, so another process's random port (wrangler picks some) may hold one.
pub fn free_port(offsets: std::ops::Range<u16>) -> u16 {
    let base: u16 = env("PULLGATE_PORT_BASE").parse().expect("PULLGATE_PORT_BASE is a port number");
    offsets
        .clone()
        .map(|o| base + o)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .unwrap_or_else(|| panic!("no free port in {base}+{offsets:?}"))
}
