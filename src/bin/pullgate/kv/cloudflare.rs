//! The production KV namespace through Cloudflare's REST API
//! (<https://developers.cloudflare.com/api/resources/kv/subresources/namespaces/>): list with
//! cursors, bulk writes and deletes, the API's own error messages, and retries with backoff.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{BackendOptions, Kv, Sleeper};
use crate::failure::{Exit, Failure, Outcome};
use crate::settings::{self, env, ENV_CF_ACCOUNT, ENV_CF_API_BASE, ENV_CF_NAMESPACE, ENV_CF_TOKEN};

const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4";
/// Keys per list page (the API's maximum).
const LIST_LIMIT: usize = 1000;
/// Pairs per bulk write or delete (the API's maximum).
const BULK_LIMIT: usize = 10_000;
/// Attempts per request when the API answers 429/5xx or the connection fails.
const MAX_ATTEMPTS: u32 = 5;
/// Longest wait we honour from `Retry-After`; beyond it the user is better told to come back.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Rounds of re-sending the keys a bulk write reports as unsuccessful.
const BULK_RETRY_ROUNDS: u32 = 3;

pub struct CloudflareKv {
    /// `…/accounts/{account}/storage/kv/namespaces/{namespace}`
    namespace_url: String,
    token: String,
    agent: ureq::Agent,
    sleep: Sleeper,
}

impl CloudflareKv {
    pub fn from_options(options: &BackendOptions) -> Outcome<Self> {
        let account = options.account_id.clone().or_else(|| env(ENV_CF_ACCOUNT)).ok_or_else(|| {
            Failure::usage("the cloudflare backend needs the account id").hint(format!(
                "pass --account-id or set {ENV_CF_ACCOUNT} (Cloudflare dashboard → Workers → Account ID)"
            ))
        })?;
        let namespace = match options.namespace_id.clone().or_else(|| env(ENV_CF_NAMESPACE)) {
            Some(ns) => ns,
            None => options.wrangler_config()?.and_then(|c| c.kv_namespace_id).ok_or_else(|| {
                Failure::usage("the cloudflare backend needs the KV namespace id").hint(format!(
                    "pass --namespace-id, set {ENV_CF_NAMESPACE}, or put it in wrangler.toml's {} binding",
                    pullgate::store::KV_BINDING
                ))
            })?,
        };
        if namespace == settings::PLACEHOLDER_NAMESPACE_ID {
            return Err(Failure::usage("the KV namespace id is still wrangler.toml's placeholder (all zeros)").hint(
                format!("create one with `wrangler kv namespace create pullgate`, then put its id in wrangler.toml or {ENV_CF_NAMESPACE}"),
            ));
        }
        for (what, id) in [("account id", &account), ("namespace id", &namespace)] {
            if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Failure::usage(format!("the Cloudflare {what} {id:?} must be 32 hex characters")));
            }
        }
        let token = match &options.api_token_file {
            Some(path) => read_token_file(path)?,
            None => env(ENV_CF_TOKEN).ok_or_else(|| {
                Failure::usage("the cloudflare backend needs an API token").hint(format!(
                    "set {ENV_CF_TOKEN} or pass --api-token-file FILE; the token needs Workers KV Storage: Edit"
                ))
            })?,
        };
        let base = env(ENV_CF_API_BASE).unwrap_or_else(|| DEFAULT_API_BASE.to_string());
        check_api_base(&base)?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .redirects(0)
            .build();
        Ok(CloudflareKv {
            namespace_url: format!(
                "{}/accounts/{}/storage/kv/namespaces/{}",
                base.trim_end_matches('/'),
                account.to_ascii_lowercase(),
                namespace.to_ascii_lowercase()
            ),
            token: token.trim().to_string(),
            agent,
            sleep: super::real_sleeper(),
        })
    }

    /// One API call with retries on 429, 5xx and connection failures.
    fn send(&self, method: &str, url: &str, json_body: Option<&str>) -> Outcome<ApiResponse> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = self
                .agent
                .request(method, url)
                .set("Authorization", &format!("Bearer {}", self.token))
                .set("Accept", "application/json");
            let result = match json_body {
                Some(body) => request.set("Content-Type", "application/json").send_string(body),
                None => request.call(),
            };
            let (status, retry_after, response) = match result {
                Ok(r) => (r.status(), None, r),
                Err(ureq::Error::Status(status, r)) => {
                    let retry_after = r.header("Retry-After").and_then(|v| v.trim().parse::<u64>().ok());
                    (status, retry_after, r)
                }
                Err(ureq::Error::Transport(t)) => {
                    if attempt < MAX_ATTEMPTS {
                        (self.sleep)(backoff(attempt));
                        continue;
                    }
                    return Err(Failure::with_exit(Exit::Network, format!("{method} {}: {t}", redact(url)))
                        .hint("check the network connection to the Cloudflare API"));
                }
            };
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut response.into_reader(), &mut body)
                .map_err(|e| Failure::failed(format!("{method} {}: reading the answer: {e}", redact(url))))?;
            let retryable = status == 429 || (500..600).contains(&status);
            if retryable && attempt < MAX_ATTEMPTS {
                let wait = retry_after.map(Duration::from_secs).unwrap_or_else(|| backoff(attempt));
                if wait > MAX_RETRY_AFTER {
                    return Err(api_failure(method, url, status, &body)
                        .hint(format!("the API asks to wait {} s; retry later", wait.as_secs())));
                }
                (self.sleep)(wait);
                continue;
            }
            return Ok(ApiResponse { status, body });
        }
    }

    /// A call whose answer must be a 2xx JSON envelope.
    fn call_json<T: serde::de::DeserializeOwned + Default>(
        &self,
        method: &str,
        url: &str,
        body: Option<&str>,
    ) -> Outcome<Envelope<T>> {
        let response = self.send(method, url, body)?;
        if !(200..300).contains(&response.status) {
            return Err(api_failure(method, url, response.status, &response.body));
        }
        let envelope: Envelope<T> = serde_json::from_slice(&response.body).map_err(|e| {
            Failure::failed(format!(
                "{method} {}: the API answered something that is not its JSON envelope: {e}",
                redact(url)
            ))
        })?;
        if !envelope.success {
            return Err(api_failure(method, url, response.status, &response.body));
        }
        Ok(envelope)
    }

    /// One D1 query (`POST /accounts/{account}/d1/database/{id}/query`, body `{sql, params}`)
    /// with this client's token and retries; the statement's result rows.
    pub fn d1_query<T: serde::de::DeserializeOwned + Default>(&self, database_id: &str, body: &str) -> Outcome<Vec<T>> {
        // The namespace URL is `<base>/accounts/<account>/storage/kv/namespaces/<id>`.
        let account_url = self.namespace_url.split("/storage/kv/namespaces/").next().unwrap_or_default();
        let url = format!("{account_url}/d1/database/{}/query", encode_component(database_id));
        Ok(self.call_json::<Vec<T>>("POST", &url, Some(body))?.result)
    }

    /// Sends bulk requests, re-sending the keys the API reports as unsuccessful.
    fn bulk<I: serde::Serialize + Clone>(
        &self,
        method: &str,
        path: &str,
        items: &[I],
        key_of: impl Fn(&I) -> &str,
    ) -> Outcome<()> {
        for chunk in items.chunks(BULK_LIMIT) {
            let mut pending: Vec<I> = chunk.to_vec();
            for round in 0..=BULK_RETRY_ROUNDS {
                let body = super::encode(&pending)?;
                let url = format!("{}/{path}", self.namespace_url);
                let envelope: Envelope<Option<BulkResult>> = self.call_json(method, &url, Some(&body))?;
                let failed = envelope.result.map(|r| r.unsuccessful_keys).unwrap_or_default();
                if failed.is_empty() {
                    break;
                }
                if round == BULK_RETRY_ROUNDS {
                    return Err(Failure::failed(format!(
                        "{method} {path}: the API did not accept {} key(s) after {BULK_RETRY_ROUNDS} retries: {}",
                        failed.len(),
                        failed.join(", ")
                    )));
                }
                pending.retain(|item| failed.iter().any(|k| k == key_of(item)));
                (self.sleep)(backoff(round + 1));
            }
        }
        Ok(())
    }
}

impl Kv for CloudflareKv {
    fn list(&self, prefix: &str) -> Outcome<Vec<String>> {
        #[derive(Deserialize, Default)]
        struct Key {
            name: String,
        }
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}/keys?limit={LIST_LIMIT}", self.namespace_url);
            if !prefix.is_empty() {
                url.push_str(&format!("&prefix={}", encode_component(prefix)));
            }
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={}", encode_component(c)));
            }
            let page: Envelope<Vec<Key>> = self.call_json("GET", &url, None)?;
            names.extend(page.result.into_iter().map(|k| k.name));
            match page.result_info.and_then(|i| i.cursor).filter(|c| !c.is_empty()) {
                Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                    return Err(Failure::failed("the API returned the same list cursor twice; stopping"));
                }
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        names.sort();
        Ok(names)
    }

    fn get_many(&self, keys: &[String]) -> Outcome<Vec<Option<String>>> {
        keys.iter().map(|key| self.get(key)).collect()
    }

    fn get(&self, key: &str) -> Outcome<Option<String>> {
        let url = format!("{}/values/{}", self.namespace_url, encode_component(key));
        let response = self.send("GET", &url, None)?;
        match response.status {
            200..=299 => String::from_utf8(response.body)
                .map(Some)
                .map_err(|_| Failure::failed(format!("the KV value at {key} is not UTF-8 text"))),
            // A missing key is a 404 too, and must not be confused with a missing namespace.
            404 if !api_messages(&response.body).iter().any(|m| m.to_ascii_lowercase().contains("namespace")) => {
                Ok(None)
            }
            status => Err(api_failure("GET", &url, status, &response.body)),
        }
    }

    fn put_many(&self, entries: &[(String, String)]) -> Outcome<()> {
        #[derive(serde::Serialize, Clone)]
        struct Pair {
            key: String,
            value: String,
        }
        let pairs: Vec<Pair> =
            entries.iter().map(|(key, value)| Pair { key: key.clone(), value: value.clone() }).collect();
        self.bulk("PUT", "bulk", &pairs, |p| &p.key)
    }

    fn delete_many(&self, keys: &[String]) -> Outcome<()> {
        self.bulk("POST", "bulk/delete", keys, |k| k)
    }
}

struct ApiResponse {
    status: u16,
    body: Vec<u8>,
}

/// The API's JSON envelope: `{success, errors, result, result_info}`.
#[derive(Deserialize)]
struct Envelope<T: Default> {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    result: T,
    #[serde(default)]
    result_info: Option<ResultInfo>,
}

#[derive(Deserialize)]
struct ResultInfo {
    cursor: Option<String>,
}

#[derive(Deserialize, Default)]
struct BulkResult {
    #[serde(default)]
    unsuccessful_keys: Vec<String>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: String,
}

/// `errors[].message` (with codes) of an API answer, if it has any.
fn api_messages(body: &[u8]) -> Vec<String> {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<ErrorItem>,
    }
    serde_json::from_slice::<Errors>(body)
        .map(|e| {
            e.errors
                .into_iter()
                .map(|item| match item.code {
                    Some(code) => format!("{} (code {code})", item.message),
                    None => item.message,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A failed call, in the API's own words when it gave some.
fn api_failure(method: &str, url: &str, status: u16, body: &[u8]) -> Failure {
    let messages = api_messages(body);
    let detail = if messages.is_empty() {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            "no details".to_string()
        } else {
            text.chars().take(200).collect()
        }
    } else {
        messages.join("; ")
    };
    let failure = Failure::failed(format!("Cloudflare API {method} {} answered {status}: {detail}", redact(url)));
    match status {
        401 | 403 => failure
            .hint(format!("check {ENV_CF_TOKEN}: it must be valid for this account and have Workers KV Storage: Edit")),
        404 => failure.hint("check the account id and KV namespace id"),
        429 => Failure { exit: Exit::RateLimited, ..failure }
            .hint("the API rate limit is 1200 requests per 5 minutes; retry later"),
        _ => failure,
    }
}

/// The URL without the namespace path's query string (cursors and prefixes are noise).
fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// 0.5 s, 1 s, 2 s, 4 s, … capped at 8 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.saturating_sub(1).min(4)))
}

/// JavaScript's encodeURIComponent, as wrangler uses for key names in URLs.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn read_token_file(path: &Path) -> Outcome<String> {
    let token = crate::secrets::read_text_file(path, "API token")?;
    Ok(token.trim().to_string())
}

/// The API base must be https, except on loopback (tests use a local stand-in): the token
/// must never cross a network in clear.
fn check_api_base(base: &str) -> Outcome<()> {
    let url = url::Url::parse(base).map_err(|e| Failure::usage(format!("{ENV_CF_API_BASE}={base}: {e}")))?;
    let loopback = url.host_str().is_some_and(crate::validate::is_loopback);
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(Failure::usage(format!("{ENV_CF_API_BASE}={base} must be an https URL (http only on loopback)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A canned API answer: status, optional Retry-After, body.
    type Canned = (u16, Option<&'static str>, String);

    /// A local stand-in of the API that gives the canned answers in order, then plain successes,
    /// and records `METHOD path body` of every request.
    struct Scripted {
        base: String,
        log: Arc<Mutex<Vec<String>>>,
        server: Arc<tiny_http::Server>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Drop for Scripted {
        fn drop(&mut self) {
            self.server.unblock();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn scripted(answers: Vec<Canned>) -> Scripted {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (srv, requests) = (server.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let mut answers = answers.into_iter();
            for mut request in srv.incoming_requests() {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                let method = request.method().as_str().to_string();
                requests.lock().unwrap().push(format!("{method} {} {body}", request.url()));
                let (status, retry_after, text) = answers.next().unwrap_or_else(|| {
                    let result = if method == "GET" { "[]" } else { "null" };
                    (200, None, format!(r#"{{"success":true,"errors":[],"result":{result}}}"#))
                });
                let mut response = tiny_http::Response::from_string(text).with_status_code(status);
                if let Some(seconds) = retry_after {
                    response = response.with_header(tiny_http::Header::from_bytes("Retry-After", seconds).unwrap());
                }
                let _ = request.respond(response);
            }
        });
        Scripted { base: format!("http://127.0.0.1:{port}"), log, server, thread: Some(thread) }
    }

    fn client(base: &str) -> (CloudflareKv, std::rc::Rc<std::cell::RefCell<Vec<Duration>>>) {
        let (sleep, waits) = super::super::recording_sleeper();
        let kv = CloudflareKv {
            namespace_url: format!("{base}/accounts/a/storage/kv/namespaces/n"),
            token: "t".into(),
            agent: ureq::AgentBuilder::new().redirects(0).timeout(Duration::from_secs(10)).build(),
            sleep,
        };
        (kv, waits)
    }

    fn api_error(code: i64, message: &str) -> String {
        serde_json::json!({ "success": false, "errors": [{ "code": code, "message": message }], "result": null })
            .to_string()
    }

    fn pair() -> Vec<(String, String)> {
        vec![("app:acme".to_string(), "{}".to_string())]
    }

    #[test]
    fn a_rate_limit_waits_as_long_as_retry_after_says() {
        let api = scripted(vec![(429, Some("1"), api_error(10429, "Too many requests"))]);
        let (kv, waits) = client(&api.base);
        kv.put_many(&pair()).unwrap();
        assert_eq!(*waits.borrow(), [Duration::from_secs(1)]);
        assert_eq!(api.log.lock().unwrap().iter().filter(|l| l.starts_with("PUT")).count(), 2);
    }

    #[test]
    fn a_retry_after_beyond_the_cap_is_reported_without_waiting() {
        let api = scripted(vec![(429, Some("120"), api_error(10429, "Too many requests"))]);
        let (kv, waits) = client(&api.base);
        let err = kv.put_many(&pair()).unwrap_err();
        assert_eq!(err.exit, Exit::RateLimited);
        assert!(err.hint.as_deref().is_some_and(|h| h.contains("wait 120 s")), "{err}");
        assert!(waits.borrow().is_empty());
    }

    #[test]
    fn server_errors_back_off_then_are_reported() {
        let unavailable = (503, None, api_error(10503, "Service temporarily unavailable"));
        let api = scripted(vec![unavailable; MAX_ATTEMPTS as usize]);
        let (kv, waits) = client(&api.base);
        let err = kv.list("").unwrap_err();
        assert!(err.message.contains("Service temporarily unavailable (code 10503)"), "{err}");
        assert_eq!(*waits.borrow(), [500, 1000, 2000, 4000].map(Duration::from_millis));
        assert_eq!(api.log.lock().unwrap().len(), MAX_ATTEMPTS as usize);
    }

    #[test]
    fn connection_failures_back_off_then_are_a_network_failure() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let (kv, waits) = client(&format!("http://{closed}"));
        let err = kv.list("").unwrap_err();
        assert_eq!(err.exit, Exit::Network, "{err}");
        assert_eq!(*waits.borrow(), [500, 1000, 2000, 4000].map(Duration::from_millis));
    }

    #[test]
    fn keys_a_bulk_write_rejects_are_sent_again_after_a_pause() {
        let rejected =
            r#"{"success":true,"errors":[],"result":{"successful_key_count":1,"unsuccessful_keys":["app:b"]}}"#;
        let api = scripted(vec![(200, None, rejected.to_string())]);
        let (kv, waits) = client(&api.base);
        kv.put_many(&[("app:a".into(), "1".into()), ("app:b".into(), "2".into())]).unwrap();
        assert_eq!(*waits.borrow(), [Duration::from_millis(500)]);
        let log = api.log.lock().unwrap();
        assert_eq!(log.len(), 2, "{log:?}");
        assert!(log[1].contains("app:b") && !log[1].contains("app:a"), "only the rejected key again: {log:?}");
    }

    #[test]
    fn d1_queries_go_to_the_accounts_database_with_the_same_retries() {
        let answer = r#"{"success":true,"errors":[],"result":[{"results":[{"n":2}],"success":true}]}"#;
        let api = scripted(vec![(503, None, api_error(7500, "busy")), (200, None, answer.to_string())]);
        let (kv, waits) = client(&api.base);
        let body = r#"{"sql":"SELECT ?1","params":["x"]}"#;
        let got: Vec<serde_json::Value> = kv.d1_query("db-id", body).unwrap();
        assert_eq!(got[0]["results"][0]["n"], 2);
        assert_eq!(waits.borrow().len(), 1, "the 503 was retried after a pause");
        let log = api.log.lock().unwrap();
        assert_eq!(log.len(), 2);
        assert!(log.iter().all(|l| l == &format!("POST /accounts/a/d1/database/db-id/query {body}")), "{log:?}");
    }

    #[test]
    fn keys_are_encoded_like_encode_uri_component() {
        for (key, want) in [
            ("app:acme", "app%3Aacme"),
            ("domain:images.vendor.com", "domain%3Aimages.vendor.com"),
            ("a b/c?d", "a%20b%2Fc%3Fd"),
            ("é", "%C3%A9"),
            ("keys", "keys"),
        ] {
            assert_eq!(encode_component(key), want);
        }
    }

    #[test]
    fn api_errors_are_surfaced_with_codes() {
        let body = br#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"result":null}"#;
        let f = api_failure("GET", "https://x/keys?prefix=a", 403, body);
        assert!(f.message.contains("Authentication error (code 10000)"), "{}", f.message);
        assert!(!f.message.contains("prefix="));
        assert!(f.hint.is_some());
        assert!(api_failure("GET", "u", 500, b"oops").message.contains("oops"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_millis(1000));
        assert_eq!(backoff(9), Duration::from_millis(8000));
    }

    #[test]
    fn api_base_must_be_https_unless_loopback() {
        assert!(check_api_base("https://api.cloudflare.com/client/v4").is_ok());
        assert!(check_api_base("http://127.0.0.1:9999/client/v4").is_ok());
        assert!(check_api_base("http://api.example.com/client/v4").is_err());
    }
}
