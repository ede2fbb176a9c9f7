//! The CLI's Cloudflare backend against a local stand-in of the KV REST API
//! (<https://developers.cloudflare.com/api/resources/kv/subresources/namespaces/>): every request
//! is checked against the documented shape (paths, methods, bearer token, bodies), listing pages
//! through cursors, and faults (429, 5xx, API errors) are injected on demand.

mod stdin;

use std::collections::{BTreeMap, VecDeque};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::{json, Value};

const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const NAMESPACE: &str = "fedcba9876543210fedcba9876543210";
const TOKEN: &str = "test-api-token-not-a-secret";
const ROOT: &str = "2222222222222222222222222222222222222222222222222222222222222222";
/// Keys per list page in the stand-in: small, so every multi-key listing pages.
const PAGE: usize = 2;

/// A canned answer for the next request matching `method` and a path suffix.
struct Fault {
    method: &'static str,
    path_suffix: &'static str,
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
}

#[derive(Default)]
struct State {
    kv: BTreeMap<String, String>,
    /// `METHOD path?query` of every request, in order.
    log: Vec<String>,
    /// Requests that broke the documented API shape.
    violations: Vec<String>,
    faults: VecDeque<Fault>,
}

struct StandIn {
    base: String,
    state: Arc<Mutex<State>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn query(url: &str) -> BTreeMap<String, String> {
    url.split_once('?')
        .map(|(_, q)| {
            q.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), percent_decode(v))).collect()
        })
        .unwrap_or_default()
}

fn envelope(result: Value) -> String {
    json!({ "success": true, "errors": [], "messages": [], "result": result }).to_string()
}

fn api_error(code: i64, message: &str) -> String {
    json!({ "success": false, "errors": [{ "code": code, "message": message }], "messages": [], "result": null })
        .to_string()
}

/// Answers one request per the API; records anything off-spec as a violation.
fn handle(
    state: &mut State,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    state.log.push(format!("{method} {url}"));
    let path = url.split('?').next().unwrap_or_default();
    let prefix = format!("/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces/{NAMESPACE}/");
    let Some(rest) = path.strip_prefix(&prefix) else {
        state.violations.push(format!("path outside the namespace: {method} {url}"));
        return (404, vec![], api_error(10013, "namespace not found"));
    };
    if header("Authorization") != Some(&format!("Bearer {TOKEN}")) {
        return (401, vec![], api_error(10000, "Authentication error"));
    }
    if let Some(i) = state.faults.iter().position(|f| f.method == method && path.ends_with(f.path_suffix)) {
        let f = state.faults.remove(i).unwrap_or_else(|| unreachable!());
        let headers = f.headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        return (f.status, headers, f.body);
    }
    let is_json = header("Content-Type").is_some_and(|c| c.starts_with("application/json"));
    match (method, rest) {
        ("GET", "keys") => {
            let q = query(url);
            if q.get("limit").and_then(|l| l.parse::<usize>().ok()).is_none_or(|l| l == 0 || l > 1000) {
                state.violations.push(format!("list limit must be 1..=1000: {url}"));
            }
            let prefix = q.get("prefix").cloned().unwrap_or_default();
            let names: Vec<&String> = state.kv.keys().filter(|k| k.starts_with(&prefix)).collect();
            let start: usize = q
                .get("cursor")
                .map(|c| c.strip_prefix("cur-").and_then(|n| n.parse().ok()).unwrap_or(usize::MAX))
                .unwrap_or(0);
            if start == usize::MAX {
                state.violations.push(format!("bad cursor: {url}"));
                return (400, vec![], api_error(10001, "invalid cursor"));
            }
            let page: Vec<Value> = names.iter().skip(start).take(PAGE).map(|n| json!({ "name": n })).collect();
            let next = if start + PAGE < names.len() { format!("cur-{}", start + PAGE) } else { String::new() };
            let doc = json!({ "success": true, "errors": [], "messages": [], "result": page,
                "result_info": { "count": page.len(), "cursor": next } });
            (200, vec![], doc.to_string())
        }
        ("GET", key) if key.starts_with("values/") => {
            let key = percent_decode(&key["values/".len()..]);
            match state.kv.get(&key) {
                Some(v) => (200, vec![("Content-Type".into(), "application/octet-stream".into())], v.clone()),
                None => (404, vec![], api_error(10009, "get: 'key not found'")),
            }
        }
        ("PUT", "bulk") => {
            let Ok(Value::Array(items)) = serde_json::from_str::<Value>(body) else {
                state.violations.push(format!("bulk put body is not a JSON array: {body}"));
                return (400, vec![], api_error(10002, "bad body"));
            };
            if !is_json {
                state.violations.push("bulk put without Content-Type: application/json".into());
            }
            for item in &items {
                let (Some(key), Some(value)) = (item["key"].as_str(), item["value"].as_str()) else {
                    state.violations.push(format!("bulk put item needs string key and value: {item}"));
                    continue;
                };
                if item.as_object().is_some_and(|o| {
                    o.keys().any(|k| {
                        !["key", "value", "expiration", "expiration_ttl", "metadata", "base64"].contains(&k.as_str())
                    })
                }) {
                    state.violations.push(format!("bulk put item has unknown fields: {item}"));
                }
                if key.is_empty() || key.len() > 512 {
                    state.violations.push(format!("key length out of range: {key}"));
                }
                state.kv.insert(key.to_string(), value.to_string());
            }
            (200, vec![], envelope(json!({ "successful_key_count": items.len(), "unsuccessful_keys": [] })))
        }
        ("POST", "bulk/delete") => {
            let Ok(keys) = serde_json::from_str::<Vec<String>>(body) else {
                state.violations.push(format!("bulk delete body must be a JSON array of keys: {body}"));
                return (400, vec![], api_error(10002, "bad body"));
            };
            if !is_json {
                state.violations.push("bulk delete without Content-Type: application/json".into());
            }
            for k in &keys {
                state.kv.remove(k);
            }
            (200, vec![], envelope(json!({ "successful_key_count": keys.len(), "unsuccessful_keys": [] })))
        }
        _ => {
            state.violations.push(format!("unexpected request: {method} {url}"));
            (405, vec![], api_error(10000, "method not allowed"))
        }
    }
}

fn stand_in() -> StandIn {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
    let port = server.server_addr().to_ip().expect("ip listener").port();
    let state = Arc::new(Mutex::new(State::default()));
    let (srv, st) = (server.clone(), state.clone());
    let thread = std::thread::spawn(move || {
        for mut request in srv.incoming_requests() {
            let method = request.method().as_str().to_string();
            let url = request.url().to_string();
            let headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|h| (h.field.as_str().as_str().to_string(), h.value.as_str().to_string()))
                .collect();
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            let (status, extra, text) = handle(&mut st.lock().unwrap(), &method, &url, &headers, &body);
            let mut response = tiny_http::Response::from_string(text).with_status_code(status);
            for (k, v) in extra {
                response = response.with_header(tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap());
            }
            let _ = request.respond(response);
        }
    });
    StandIn { base: format!("http://127.0.0.1:{port}/client/v4"), state, server, thread: Some(thread) }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the CLI against the stand-in with a clean environment.
fn pullgate(api: &StandIn, args: &[&str], stdin: &str) -> Run {
    pullgate_with_root(api, args, stdin, ROOT)
}

/// `pullgate` with `root` as the configured root secret.
fn pullgate_with_root(api: &StandIn, args: &[&str], stdin: &str, root: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pullgate"))
        .args(args)
        .env_clear()
        .env("PULLGATE_BACKEND", "cloudflare")
        .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        .env("CLOUDFLARE_API_TOKEN", TOKEN)
        .env("PULLGATE_KV_NAMESPACE_ID", NAMESPACE)
        .env("PULLGATE_CF_API_BASE", &api.base)
        .env("PULLGATE_ROOT_SECRET", root)
        .env("PULLGATE_CNAME_TARGET", "pullgate.vendor.workers.dev")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pullgate");
    stdin::feed(&mut child, stdin);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(api: &StandIn, args: &[&str], stdin: &str) -> String {
    let run = pullgate(api, args, stdin);
    assert_eq!(run.code, 0, "pullgate {args:?} failed:\n{}{}", run.stdout, run.stderr);
    run.stdout
}

fn violations(api: &StandIn) -> Vec<String> {
    api.state.lock().unwrap().violations.clone()
}

fn kv(api: &StandIn) -> BTreeMap<String, String> {
    api.state.lock().unwrap().kv.clone()
}

fn log(api: &StandIn) -> Vec<String> {
    api.state.lock().unwrap().log.clone()
}

#[test]
fn every_command_round_trips_through_the_api() {
    let api = stand_in();
    ok(&api, &["key", "init"], "");
    ok(&api, &["app", "add", "acme", "--name", "Acme Inc"], "");
    ok(&api, &["app", "add", "globex", "--blob-mode", "stream"], "");
    ok(&api, &["domain", "add", "images.acme.com", "--app", "acme"], "");
    ok(&api, &["domain", "add", "eu.images.acme.com", "--app", "acme"], "");
    let up = ok(
        &api,
        &[
            "--json",
            "upstream",
            "add",
            "ghcr.io",
            "--app",
            "acme",
            "--credential",
            "ghcr",
            "--username",
            "octo",
            "--password-stdin",
            "--repo",
            "acme/*",
        ],
        "ghp_SECRETSECRET\n",
    );
    let up: Value = serde_json::from_str(&up).unwrap();
    assert_eq!(
        (up["credential"]["kind"].as_str(), up["credential"]["secret"].as_str()),
        (Some("ghcr"), Some("sealed"))
    );
    let issued: Value = serde_json::from_str(&ok(
        &api,
        &["--json", "license", "issue", "--app", "acme", "--customer", "Initech", "--expires", "30d"],
        "",
    ))
    .unwrap();
    let id = issued["id"].as_str().unwrap().to_string();
    assert!(issued["license"].as_str().unwrap().starts_with("pgl1.k"));

    // Listings page through cursors (PAGE keys per page) and never show secrets.
    let apps: Value = serde_json::from_str(&ok(&api, &["--json", "app", "list"], "")).unwrap();
    assert_eq!(apps.as_array().unwrap().len(), 2);
    assert_eq!(apps[0]["domains"], json!(["eu.images.acme.com", "images.acme.com"]));
    let listing = ok(&api, &["upstream", "list"], "")
        + &ok(&api, &["--json", "upstream", "show", "ghcr.io", "--app", "acme"], "");
    assert!(!listing.contains("ghp_SECRETSECRET") && listing.contains("********"), "{listing}");
    assert!(log(&api).iter().any(|l| l.contains("cursor=cur-2")), "listing did not follow the cursor");
    for value in kv(&api).values() {
        assert!(!value.contains("ghp_SECRETSECRET"), "a secret is in KV in clear: {value}");
    }

    ok(&api, &["license", "revoke", &id, "--reason", "test"], "");
    let licenses: Value = serde_json::from_str(&ok(&api, &["--json", "license", "list"], "")).unwrap();
    assert_eq!(licenses[0]["status"], "revoked");
    let keys: Value = serde_json::from_str(&ok(&api, &["--json", "key", "list"], "")).unwrap();
    assert_eq!(keys[0]["licenses_signed"], 1);

    // Removing an app deletes it and its domains in one bulk delete.
    let before = log(&api).len();
    ok(&api, &["app", "remove", "acme"], "");
    let deletes: Vec<String> = log(&api)[before..].iter().filter(|l| l.starts_with("POST")).cloned().collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    let left: Vec<String> = kv(&api).into_keys().collect();
    assert!(left.iter().all(|k| !k.starts_with("domain:") && k != "app:acme"), "{left:?}");
    assert!(left.contains(&"app:globex".to_string()));
    assert_eq!(violations(&api), Vec::<String>::new());
}

fn json_ok(api: &StandIn, args: &[&str]) -> Value {
    serde_json::from_str(&ok(api, args, "")).unwrap_or_else(|e| panic!("pullgate {args:?}: not JSON: {e}"))
}

/// The ids of a `license list --json` document.
fn ids(listing: &Value) -> Vec<String> {
    listing.as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn licenses_are_revealed_listed_by_expiry_renewed_and_resealed_in_production_kv() {
    let api = stand_in();
    ok(&api, &["key", "init"], "");
    ok(&api, &["app", "add", "acme"], "");
    let issue = |customer: &str, expires: &str| {
        let v = json_ok(
            &api,
            &["--json", "license", "issue", "--app", "acme", "--customer", customer, "--expires", expires],
        );
        (v["id"].as_str().unwrap().to_string(), v["license"].as_str().unwrap().to_string())
    };
    let (soon, soon_text) = issue("Initech", "20d");
    let (later, _) = issue("Initech", "200d");
    let (other, _) = issue("Globex", "20d");

    // The text comes back from its sealed record; KV holds it sealed only.
    assert_eq!(ok(&api, &["license", "show", &soon, "--reveal"], "").trim(), soon_text);
    assert!(kv(&api).values().all(|v| !v.contains(&soon_text)), "a license text is in KV in clear");

    // One customer's licenses, and of those the ones expiring within a window.
    let mut initech = ids(&json_ok(&api, &["--json", "license", "list", "--customer", "Initech"]));
    initech.sort();
    let mut want = vec![soon.clone(), later.clone()];
    want.sort();
    assert_eq!(initech, want);
    assert_eq!(
        ids(&json_ok(&api, &["--json", "license", "list", "--customer", "Initech", "--expiring", "30d"])),
        std::slice::from_ref(&soon)
    );
    let expiring = ids(&json_ok(&api, &["--json", "license", "list", "--expiring", "30d"]));
    assert!(expiring.contains(&other) && !expiring.contains(&later), "{expiring:?}");

    // The renewal: a successor with the same customer and app, the old one revoked after the grace.
    let renewed =
        json_ok(&api, &["--json", "license", "renew", &soon, "--expires", "365d", "--revoke-old-after", "7d"]);
    let successor = renewed["id"].as_str().unwrap().to_string();
    let successor_text = renewed["license"].as_str().unwrap().to_string();
    assert_eq!((renewed["renews"].as_str(), renewed["customer"].as_str()), (Some(soon.as_str()), Some("Initech")));
    assert!(renewed["old_revoked_from"].is_string(), "{renewed:#}");
    assert!(kv(&api).contains_key(&format!("revoked:{soon}")), "the grace-period revocation was not written");
    assert_eq!(ok(&api, &["license", "show", &successor, "--reveal"], "").trim(), successor_text);
    let initech = ids(&json_ok(&api, &["--json", "license", "list", "--customer", "Initech"]));
    assert_eq!(initech.len(), 3, "{initech:?}");

    // `key reseal` moves the sealed texts to the new root secret with the keys and credentials.
    let dir = std::env::temp_dir().join(format!("pullgate-cf-reseal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let new_root = "5".repeat(64);
    let file = dir.join("new-root");
    std::fs::write(&file, format!("PULLGATE_ROOT_SECRET={new_root}\n")).unwrap();
    let resealed = json_ok(&api, &["--json", "key", "reseal", "--new-root-secret-file", file.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(resealed["licenses"], 4, "{resealed:#}");
    let run = pullgate_with_root(&api, &["license", "show", &successor, "--reveal"], "", &new_root);
    assert_eq!((run.code, run.stdout.trim()), (0, successor_text.as_str()), "{}", run.stderr);
    let run = pullgate(&api, &["license", "show", &successor, "--reveal"], "");
    assert_ne!(run.code, 0, "the old root secret still opens the resealed text");
    assert_eq!(violations(&api), Vec::<String>::new());
}

// The waits themselves (Retry-After, backoff, bounds) are tested in kv/cloudflare.rs with an
// injected sleeper; these check the whole CLI through the documented API shape, with waits of 0 s.
#[test]
fn rate_limited_writes_are_retried() {
    let api = stand_in();
    api.state.lock().unwrap().faults.push_back(Fault {
        method: "PUT",
        path_suffix: "/bulk",
        status: 429,
        headers: vec![("Retry-After", "0")],
        body: api_error(10429, "Too many requests"),
    });
    ok(&api, &["app", "add", "acme"], "");
    let puts = log(&api).iter().filter(|l| l.starts_with("PUT")).count();
    assert_eq!(puts, 2, "one 429, then one success");
    assert!(kv(&api).contains_key("app:acme"));
    assert_eq!(violations(&api), Vec::<String>::new());
}

#[test]
fn server_errors_are_retried_then_reported() {
    let api = stand_in();
    for _ in 0..5 {
        api.state.lock().unwrap().faults.push_back(Fault {
            method: "GET",
            path_suffix: "/keys",
            status: 503,
            headers: vec![("Retry-After", "0")],
            body: api_error(10503, "Service temporarily unavailable"),
        });
    }
    let run = pullgate(&api, &["app", "list"], "");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("Service temporarily unavailable (code 10503)"), "{}", run.stderr);
    assert_eq!(log(&api).len(), 5, "five attempts: {:?}", log(&api));
    // One 5xx followed by success is invisible to the user.
    api.state.lock().unwrap().faults.push_back(Fault {
        method: "GET",
        path_suffix: "/keys",
        status: 502,
        headers: vec![("Retry-After", "0")],
        body: "bad gateway".into(),
    });
    ok(&api, &["app", "list"], "");
}

#[test]
fn api_error_messages_are_surfaced() {
    let api = stand_in();
    api.state.lock().unwrap().faults.push_back(Fault {
        method: "PUT",
        path_suffix: "/bulk",
        status: 400,
        headers: vec![],
        body: api_error(10021, "Value too large: the maximum is 25 MiB"),
    });
    let run = pullgate(&api, &["--json", "app", "add", "acme"], "");
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Value too large: the maximum is 25 MiB (code 10021)"), "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).expect("a JSON error document");
    assert_eq!(doc["error"]["exit_code"], 1);
    assert!(kv(&api).is_empty());

    // A wrong token: the API's own words, plus how to fix it.
    let mut run = pullgate(&api, &["app", "list", "--api-token-file", "/nonexistent"], "");
    assert_eq!(run.code, 2, "{}", run.stderr);
    // In a directory of its own, removed on drop: no token-shaped file outlives the test.
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("api-token");
    std::fs::write(&token_file, "wrong-token\n").unwrap();
    run = pullgate(&api, &["app", "list", "--api-token-file", token_file.to_str().unwrap()], "");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("Authentication error (code 10000)") && run.stderr.contains("Workers KV Storage"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_configuration_is_a_usage_error_that_says_what_to_set() {
    let api = stand_in();
    let run = pullgate(&api, &["app", "list", "--account-id", "nothex"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("32 hex"), "{}", run.stderr);
    let run = pullgate(&api, &["app", "list", "--namespace-id", "00000000000000000000000000000000"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("placeholder"), "{}", run.stderr);
    let run = pullgate(&api, &["app", "list", "--backend", "local"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--state-dir"), "{}", run.stderr);
    assert!(log(&api).is_empty(), "nothing may reach the API: {:?}", log(&api));
}

#[test]
fn insecure_dev_is_refused_on_the_production_backend() {
    let api = stand_in();
    ok(&api, &["app", "add", "acme"], "");
    let before = kv(&api);
    let cases: &[&[&str]] = &[
        &["upstream", "add", "http://127.0.0.1:5000", "--app", "acme", "--alias", "local", "--insecure-dev"],
        &["upstream", "add", "ghcr.io", "--app", "acme", "--insecure-dev"],
        &["domain", "add", "localhost", "--app", "acme", "--insecure-dev"],
        &["domain", "add", "images.acme.com", "--app", "acme", "--insecure-dev"],
    ];
    for args in cases {
        let requests = log(&api).len();
        let run = pullgate(&api, args, "");
        assert_eq!(run.code, 2, "pullgate {args:?}:\n{}", run.stderr);
        assert!(run.stderr.contains("--insecure-dev is refused on the cloudflare backend"), "{}", run.stderr);
        assert_eq!(log(&api).len(), requests, "pullgate {args:?} reached the API");
    }
    assert_eq!(kv(&api), before);
}
