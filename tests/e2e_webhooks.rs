//! End to end: webhooks from the real Worker (`wrangler dev`): pull events go through the local
//! events queue and D1, become deliveries on the webhook queue, and reach a receiver this test
//! runs, signed; a receiver that fails gets the same event again (same id, same body) until it
//! answers 2xx, and one that never does is given up and shows in `pullgate webhook list`.
//! The stack runs with `WEBHOOK_RETRY_SECONDS=1` (scripts/test) so retries take seconds.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use pullgate::webhook;
use serde_json::Value;

/// The app the seed (tests/e2e_seed) made for this suite: no other suite pulls from it.
const APP: &str = "hooks";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Got {
    headers: BTreeMap<String, String>,
    body: String,
    answered: u16,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn customer(&self) -> Option<String> {
        let v = self.json();
        v["event"]["customer"].as_str().or(v["license"]["customer"].as_str()).map(str::to_string)
    }

    fn id(&self) -> &str {
        self.headers.get(webhook::ID_HEADER).map_or("", String::as_str)
    }
}

/// A receiver on 127.0.0.1: `answer(customer, how many requests of that customer came before)`
/// picks the status of each request.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

fn receiver(answer: impl Fn(Option<&str>, usize) -> u16 + Send + 'static) -> Receiver {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!("http://{}/hook", server.server_addr().to_ip().expect("ip address"));
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let log = got.clone();
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let headers = request
                .headers()
                .iter()
                .map(|h| (h.field.as_str().as_str().to_ascii_lowercase(), h.value.as_str().to_string()))
                .collect();
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            let mut got = Got { headers, body, answered: 0 };
            let customer = got.customer();
            let before = log.lock().unwrap().iter().filter(|g| g.customer() == customer).count();
            got.answered = answer(customer.as_deref(), before);
            log.lock().unwrap().push(got.clone());
            let _ = request.respond(tiny_http::Response::from_string("").with_status_code(got.answered));
        }
    });
    Receiver { url, got }
}

impl Receiver {
    /// What came for `customer`, polled until `done` holds (at most 90 s).
    fn until(&self, customer: &str, done: impl Fn(&[Got]) -> bool, what: &str) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let mine: Vec<Got> = self
                .got
                .lock()
                .unwrap()
                .iter()
                .filter(|g| g.customer().as_deref() == Some(customer))
                .cloned()
                .collect();
            if done(&mine) {
                return mine;
            }
            assert!(Instant::now() < deadline, "{what}: after 90 s the receiver has {mine:#?}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// A hook of the app to `url` for `events`: (id, secret).
fn add_hook(url: &str, events: &str) -> (String, String) {
    let v = pullgate_json(&["webhook", "add", "--app", APP, url, "--events", events, "--insecure-dev"]);
    let secret = v["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with(webhook::SECRET_PREFIX), "{v}");
    (v["id"].as_str().unwrap().to_string(), secret)
}

/// A license of the app for a customer no other test or run uses: (customer, license).
fn license(label: &str, expires: &str) -> (String, String) {
    let customer = format!("Hooks {label} {}-{}", std::process::id(), now());
    let v = pullgate_json(&["license", "issue", "--app", APP, "--customer", &customer, "--expires", expires]);
    (customer, v["license"].as_str().unwrap().to_string())
}

fn pull(d: &Dev, license: &str, tag: &str) -> (bool, String) {
    let dir = temp_dir("webhooks");
    let source = format!("docker://{}/proxy/{APP}/local/demo/hello:{tag}", d.authority);
    let dest = format!("oci:{}:x", dir.display());
    skopeo_try(&["copy", "--quiet", "--src-tls-verify=false", "--src-creds", &format!("c:{license}"), &source, &dest])
}

/// The checks a receiver makes: the signature over `<timestamp>.<body>` with the secret, a
/// fresh timestamp, the id header naming the body's id, and no license in the body.
fn assert_signed(g: &Got, secret: &str, license: &str) {
    let ts: i64 = g.headers[webhook::TIMESTAMP_HEADER].parse().expect("numeric timestamp");
    let signature = &g.headers[webhook::SIGNATURE_HEADER];
    assert_eq!(webhook::verify(secret, ts, g.body.as_bytes(), signature, now(), 300), Ok(()), "{g:#?}");
    assert!(webhook::verify("whsec_wrong", ts, g.body.as_bytes(), signature, now(), 300).is_err());
    assert_eq!(g.json()["id"].as_str(), Some(g.id()), "{g:#?}");
    assert_eq!(g.headers["content-type"], "application/json");
    assert!(!g.body.contains(license) && !g.body.contains(secret), "a secret in the body: {}", g.body);
}

fn hook_row(id: &str) -> Value {
    let list = pullgate_json(&["webhook", "list", "--app", APP]);
    list["webhooks"].as_array().unwrap().iter().find(|h| h["id"] == id).cloned().expect("the hook is listed")
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_pull_and_a_denial_arrive_signed() {
    let d = dev();
    let rx = receiver(|_, _| 204);
    let (hook, secret) = add_hook(&rx.url, "pull,denied");
    let (customer, lic) = license("Pull", "7d");
    let (lapsed, lapsed_lic) = license("Lapsed", "1s");
    std::thread::sleep(Duration::from_secs(2));
    let (ok, text) = pull(&d, &lic, "1.0");
    assert!(ok, "{text}");
    let (ok, text) = pull(&d, &lapsed_lic, "1.0");
    assert!(!ok && text.contains("expired"), "an expired license pulled: {text}");

    let pulls = rx.until(&customer, |g| !g.is_empty(), "the pull");
    let pull = &pulls[0];
    assert_signed(pull, &secret, &lic);
    let v = pull.json();
    assert_eq!((v["type"].as_str(), v["app"].as_str()), (Some("pull"), Some(APP)), "{v}");
    assert_eq!((v["event"]["image"].as_str(), v["event"]["tag"].as_str()), (Some("local/demo/hello"), Some("1.0")));
    assert_eq!(v["event"]["kind"], "manifest");

    let denials = rx.until(&lapsed, |g| !g.is_empty(), "the denial");
    let denial = &denials[0];
    assert_signed(denial, &secret, &lapsed_lic);
    let v = denial.json();
    assert_eq!(v["type"], "denied", "{v}");
    assert_eq!(
        (v["event"]["reason"].as_str(), v["event"]["outcome"].as_str()),
        (Some("license_expired"), Some("refused"))
    );

    // Only what the hook asked for: the pull's blobs and sign-in made no delivery.
    std::thread::sleep(Duration::from_secs(3));
    let all: Vec<Got> =
        rx.got.lock().unwrap().iter().filter(|g| g.customer().as_deref() == Some(&customer)).cloned().collect();
    assert!(all.iter().all(|g| g.json()["type"] == "pull"), "{all:#?}");
    let row = hook_row(&hook);
    assert!(row["delivered"].as_i64().unwrap() >= 2 && row["last_status"] == 204, "{row}");
    assert_eq!(row["failures"], 0, "{row}");

    let test = pullgate_json(&["webhook", "test", &hook]);
    assert_eq!(test["delivered"], true, "{test}");
    let tests: Vec<Got> = rx.got.lock().unwrap().iter().filter(|g| g.json()["type"] == "test").cloned().collect();
    assert_eq!(tests.len(), 1, "{tests:#?}");
    assert_signed(&tests[0], &secret, &lic);
    pullgate_json(&["webhook", "remove", &hook]);
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_failing_receiver_gets_every_event_again_with_the_same_id() {
    let d = dev();
    // Fails the first three deliveries of our customer, then answers 200.
    let flaky = receiver(|_, before| if before < 3 { 500 } else { 200 });
    let (flaky_hook, secret) = add_hook(&flaky.url, "pull");
    let (customer, lic) = license("Flaky", "7d");
    for tag in ["1.0", "1.2"] {
        let (ok, text) = pull(&d, &lic, tag);
        assert!(ok, "{tag}: {text}");
    }

    let delivered = |g: &[Got]| -> BTreeSet<String> {
        g.iter().filter(|g| g.answered == 200).map(|g| g.id().to_string()).collect()
    };
    let got = flaky.until(&customer, |g| delivered(g).len() == 2, "both pulls delivered");
    assert!(got.iter().filter(|g| g.answered == 500).count() == 3, "{got:#?}");
    // Every attempt of one event carries its id and the very same body; the receiver keeps
    // one per id.
    let mut by_id: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for g in &got {
        assert_signed(g, &secret, &lic);
        by_id.entry(g.id()).or_default().insert(g.body.as_str());
    }
    assert_eq!(by_id.len(), 2, "two events: {got:#?}");
    assert!(by_id.values().all(|bodies| bodies.len() == 1), "{by_id:#?}");
    let tags: BTreeSet<String> = got
        .iter()
        .filter(|g| g.answered == 200)
        .map(|g| g.json()["event"]["tag"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tags, BTreeSet::from(["1.0".to_string(), "1.2".to_string()]));

    assert_eq!(hook_row(&flaky_hook)["failures"], 0);
    pullgate_json(&["webhook", "remove", &flaky_hook]);
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_receiver_that_never_answers_2xx_is_given_up_and_listed() {
    let d = dev();
    // Never answers 2xx: its deliveries are given up after the last attempt.
    let down = receiver(|_, _| 503);
    let (down_hook, _) = add_hook(&down.url, "pull");
    let (customer, lic) = license("Down", "7d");
    for tag in ["1.0", "1.2"] {
        let (ok, text) = pull(&d, &lic, tag);
        assert!(ok, "{tag}: {text}");
    }
    // The one that never answers 2xx: each event tried MAX_ATTEMPTS times, then given up.
    let attempts = webhook::MAX_ATTEMPTS as usize;
    let tried = down.until(&customer, |g| g.len() >= 2 * attempts, "every attempt to the receiver that is down");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &tried {
        *counts.entry(g.id()).or_default() += 1;
    }
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), [attempts, attempts], "{counts:?}");
    // The other test's pull may still be retrying on this hook: wait for the last give-up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let row = loop {
        let row = hook_row(&down_hook);
        let gave_up = row["last_error"].as_str().unwrap_or_default().contains("gave up");
        if (row["failures"].as_i64().unwrap_or(0) >= 2 && gave_up) || Instant::now() > deadline {
            break row;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(row["failures"].as_i64().unwrap() >= 2, "{row}");
    assert_eq!(row["last_status"], 503, "{row}");
    assert!(row["last_error"].as_str().unwrap_or_default().contains("gave up"), "{row}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        down.got.lock().unwrap().iter().filter(|g| g.customer().as_deref() == Some(&customer)).count(),
        2 * attempts
    );
    pullgate_json(&["webhook", "remove", &down_hook]);
    let list = pullgate_json(&["webhook", "list", "--app", APP]);
    assert!(list["webhooks"].as_array().unwrap().iter().all(|h| h["id"] != down_hook));
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn the_daily_cron_sends_license_expiring_with_one_id_per_license_and_day() {
    let d = dev();
    let rx = receiver(|_, _| 200);
    let (hook, secret) = add_hook(&rx.url, "license-expiring");
    let (soon, soon_lic) = license("Soon", "3d");
    let (later, _) = license("Later", "60d");
    let cron = || {
        let r = get(&format!("{}/__scheduled?cron=17+3+*+*+*", d.url), &[]);
        assert_eq!(r.status, 200, "{}", r.text());
    };
    cron();
    let got = rx.until(&soon, |g| !g.is_empty(), "license-expiring for the license expiring in 3 days");
    assert_signed(&got[0], &secret, &soon_lic);
    let v = got[0].json();
    assert_eq!((v["type"].as_str(), v["app"].as_str()), (Some("license-expiring"), Some(APP)), "{v}");
    assert_eq!(v["license"]["customer"].as_str(), Some(soon.as_str()));
    let expires = v["license"]["expires_at"].as_i64().unwrap();
    assert!((expires - now() - 3 * 86_400).abs() < 120, "{v}");
    // Run again the same day: the receiver gets the same event id, a repeat it can drop.
    cron();
    let twice = rx.until(&soon, |g| g.len() >= 2, "the second cron run");
    assert_eq!(twice[0].id(), twice[1].id());
    assert!(
        rx.got.lock().unwrap().iter().all(|g| g.customer().as_deref() != Some(&later)),
        "60 days is outside the window"
    );
    pullgate_json(&["webhook", "remove", &hook]);
}
