//! End to end: pull events from the real Worker (`wrangler dev`) through the local Queue into
//! the local D1, read back with `pullgate logs` and `pullgate usage` (the CLI's local backend,
//! the real `wrangler d1 execute`). Each test issues its own licenses, so the other suites'
//! traffic in the same stack never shows under its customers.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A fresh license of app demo: (id, license).
fn issue(customer: &str, expires: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["license", "issue", "--app", "demo", "--customer", customer, "--expires", expires];
    args.extend_from_slice(extra);
    let v = pullgate_json(&args);
    (v["id"].as_str().unwrap().to_string(), v["license"].as_str().unwrap().to_string())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A customer name no other run or suite uses.
fn unique(label: &str) -> String {
    format!("{label} {}-{}", std::process::id(), unix_now())
}

/// `pullgate logs` for one customer (or license) since `since`, polled until `done` holds.
fn logs_until(filter: &[&str], since: i64, done: impl Fn(&[Value]) -> bool, what: &str) -> Vec<Value> {
    let since = pullgate::time::format_rfc3339(since);
    let mut args = vec!["logs", "--app", "demo", "--since", &since, "--limit", "10000"];
    args.extend_from_slice(filter);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let events = pullgate_json(&args)["events"].as_array().cloned().unwrap_or_default();
        if done(&events) {
            return events;
        }
        assert!(Instant::now() < deadline, "{what}: after 90 s the log holds {} events: {events:#?}", events.len());
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

fn pull(d: &Dev, license: &str, repo: &str, tag: &str) -> (bool, String) {
    let dir = temp_dir("events");
    let reference = format!("docker://{}/proxy/demo/local/{repo}:{tag}", d.authority);
    let creds = format!("c:{license}");
    let dest = format!("oci:{}:x", dir.display());
    skopeo_try(&["copy", "--quiet", "--src-tls-verify=false", "--src-creds", &creds, &reference, &dest])
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn pulls_and_a_refusal_show_in_the_log_and_in_version_adoption() {
    let d = dev();
    let since = unix_now() - 1;
    let (full, limited, lapsed) = (unique("Events Full"), unique("Events Limited"), unique("Events Lapsed"));
    let (full_id, full_license) = issue(&full, "7d", &[]);
    let (limited_id, limited_license) = issue(&limited, "7d", &["--image", "demo/hello"]);
    let (_, lapsed_license) = issue(&lapsed, "1s", &[]);
    std::thread::sleep(Duration::from_secs(2));

    for (license, repo, tag) in [
        (&full_license, "demo/hello", "1.2"),
        (&full_license, "demo/hello", "2.0"),
        (&full_license, "demo/multi", "1.0"),
        (&limited_license, "demo/hello", "1.0"),
    ] {
        let (ok, text) = pull(&d, license, repo, tag);
        assert!(ok, "{repo}:{tag}: {text}");
    }
    let (ok, text) = pull(&d, &lapsed_license, "demo/hello", "1.0");
    assert!(!ok && text.contains("expired"), "an expired license pulled: {text}");

    // Full: one tag manifest per pull (demo/multi's index also fetches its platform manifest
    // by digest), blobs, and its sign-ins; every event names the customer and license.
    let tag_pulls = |events: &[Value]| -> BTreeSet<(String, String)> {
        of_kind(events, "manifest")
            .into_iter()
            .filter(|e| e["tag"].is_string())
            .map(|e| (e["image"].as_str().unwrap().to_string(), e["tag"].as_str().unwrap().to_string()))
            .collect()
    };
    let want_full: BTreeSet<(String, String)> =
        [("local/demo/hello", "1.2"), ("local/demo/hello", "2.0"), ("local/demo/multi", "1.0")]
            .into_iter()
            .map(|(i, t)| (i.to_string(), t.to_string()))
            .collect();
    let events = logs_until(
        &["--customer", &full],
        since,
        |e| tag_pulls(e) == want_full && !of_kind(e, "blob").is_empty(),
        &full,
    );
    for e in &events {
        assert_eq!(
            (e["app"].as_str(), e["customer"].as_str(), e["license"].as_str()),
            (Some("demo"), Some(full.as_str()), Some(full_id.as_str())),
            "{e}"
        );
        assert_eq!(e["agent"], "skopeo", "{e}");
        assert!(e["id"].as_str().is_some_and(|id| id.len() == 32), "{e}");
        let text = e.to_string();
        assert!(!text.contains(&full_license), "a license in an event: {text}");
        if let Some(client) = e["client"].as_str() {
            assert!(client.ends_with(".0/24") || client.ends_with("::/48"), "{e}");
        }
    }
    let tag_manifests: Vec<&Value> =
        of_kind(&events, "manifest").into_iter().filter(|e| e["tag"].is_string()).collect();
    assert_eq!(tag_manifests.len(), 3, "one tag manifest request per pull: {events:#?}");
    assert!(tag_manifests
        .iter()
        .all(|e| e["outcome"] == "ok" && e["media_type"].is_string() && e["digest"].is_string()));
    assert!(of_kind(&events, "sign_in").iter().all(|e| e["outcome"] == "ok"));
    assert!(!of_kind(&events, "sign_in").is_empty());
    let ids: BTreeSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
    // The open upstream redirects blob GETs to its CDN, so the edge never sees those bytes:
    // each such event is stored with the size the image's manifest stated (as the upstream has it).
    let mut stated = std::collections::BTreeMap::new();
    for tag in ["1.2", "2.0"] {
        let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
        let m = get(&format!("{}/v2/demo/hello/manifests/{tag}", d.upstream), &[("accept", accept)]).json();
        for desc in m["layers"].as_array().unwrap().iter().chain([&m["config"]]) {
            stated.insert(desc["digest"].as_str().unwrap().to_string(), desc["size"].as_u64().unwrap());
        }
    }
    let redirected: Vec<&Value> =
        of_kind(&events, "blob").into_iter().filter(|e| e["outcome"] == "redirected").collect();
    assert!(!redirected.is_empty(), "the open upstream's blobs are redirected: {events:#?}");
    for e in redirected.iter().filter(|e| e["image"] == "local/demo/hello") {
        let digest = e["digest"].as_str().unwrap();
        assert_eq!(e["bytes"].as_u64(), stated.get(digest).copied(), "a redirected blob's stated size: {e}");
    }

    let limited_events = logs_until(&["--customer", &limited], since, |e| !tag_pulls(e).is_empty(), &limited);
    assert_eq!(tag_pulls(&limited_events), BTreeSet::from([("local/demo/hello".to_string(), "1.0".to_string())]));
    assert!(limited_events.iter().all(|e| e["license"] == limited_id.as_str()));

    // The refusal: a sign-in refused because the license expired, and nothing else.
    let refused = logs_until(&["--customer", &lapsed], since, |e| !e.is_empty(), &lapsed);
    assert!(!refused.is_empty());
    for e in &refused {
        assert_eq!(
            (e["kind"].as_str(), e["outcome"].as_str(), e["reason"].as_str()),
            (Some("sign_in"), Some("refused"), Some("license_expired")),
            "{e}"
        );
        assert_eq!(e["error"], "UNAUTHORIZED");
    }
    let by_outcome = pullgate_json(&["logs", "--app", "demo", "--customer", &lapsed, "--outcome", "refused"]);
    assert_eq!(by_outcome["count"].as_u64(), Some(refused.len() as u64));
    let ok_for_lapsed = pullgate_json(&["logs", "--app", "demo", "--customer", &lapsed, "--outcome", "ok"]);
    assert_eq!(ok_for_lapsed["count"], 0);

    // Version adoption from the daily aggregates: exactly these customers' pulls.
    let adoption = pullgate_json(&["usage", "versions", "--app", "demo"]);
    let mine: Vec<&Value> = adoption["customers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            [full.as_str(), limited.as_str(), lapsed.as_str()].contains(&c["customer"].as_str().unwrap_or_default())
        })
        .collect();
    let summary: BTreeSet<(String, String, String, usize)> = mine
        .iter()
        .map(|c| {
            let versions = c["versions"].as_array().unwrap();
            (
                c["customer"].as_str().unwrap().to_string(),
                c["image"].as_str().unwrap().to_string(),
                c["newest"].as_str().unwrap().to_string(),
                versions.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        BTreeSet::from([
            (full.clone(), "local/demo/hello".into(), "2.0".into(), 2),
            (full.clone(), "local/demo/multi".into(), "1.0".into(), 1),
            (limited.clone(), "local/demo/hello".into(), "1.0".into(), 1),
        ]),
        "{adoption:#}"
    );
    for c in &mine {
        for v in c["versions"].as_array().unwrap() {
            assert_eq!(v[1], 1, "one pull of each version: {c}");
        }
    }
    let usage = pullgate_json(&["usage", "--app", "demo", "--by", "customer", "--since", "1d"]);
    let row = usage["rows"].as_array().unwrap().iter().find(|r| r["customer"] == full.as_str()).cloned();
    let row = row.unwrap_or_else(|| panic!("{full} not in usage: {usage:#}"));
    assert_eq!(row["pulls"], 3, "{row}");
    assert!(row["bytes"].as_u64().is_some_and(|b| b > 0), "manifests are served by the edge: {row}");
    assert!(row["clients"].as_u64().is_some_and(|c| c >= 1), "{row}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn a_burst_of_2000_manifest_requests_is_stored_exactly_once_each_despite_a_redelivery() {
    let d = dev();
    // scripts/test sets EVENTS_TEST_RETRY_CUSTOMER to this name: the consumer writes the first
    // batch holding one of its events, then reports it failed, so the queue redelivers it.
    let customer = "events-burst";
    let since = unix_now() - 1;
    let (id, license) = issue(customer, "7d", &[]);
    let name = "proxy/demo/local/demo/hello";
    let token = get(
        &format!("{}/v2/token?scope=repository:{name}:pull", d.url),
        &[("authorization", &basic_auth("c", &license))],
    );
    assert_eq!(token.status, 200, "{}", token.text());
    let bearer = format!("Bearer {}", token.json()["token"].as_str().unwrap());
    const TOTAL: usize = 2000;
    const THREADS: usize = 16;
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (next, failures, bearer, url) = (next.clone(), failures.clone(), bearer.clone(), d.url.clone());
            std::thread::spawn(move || {
                while next.fetch_add(1, Ordering::SeqCst) < TOTAL {
                    let r = request(
                        "GET",
                        &format!("{url}/v2/{name}/manifests/1.0"),
                        &[
                            ("authorization", &bearer),
                            ("accept", ACCEPT_ALL),
                            // As Cloudflare's edge adds them: the events take their place from these.
                            ("cf-ray", "8f1e2d3c4b5a6978-FRA"),
                            ("cf-ipcountry", "DE"),
                        ],
                    );
                    if r.status != 200 {
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    eprintln!("burst: {TOTAL} manifest requests in {:?}", started.elapsed());
    assert_eq!(failures.load(Ordering::SeqCst), 0, "every burst request answered 200");

    let count = |events: &[Value]| of_kind(events, "manifest").len();
    let filter = ["--license", id.as_str(), "--kind", "manifest"];
    let events = logs_until(&filter, since, |e| count(e) >= TOTAL, "the burst");
    assert_eq!(count(&events), TOTAL, "no loss, no duplicate");
    let ids: BTreeSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), TOTAL);
    for e in of_kind(&events, "manifest") {
        assert_eq!((e["country"].as_str(), e["colo"].as_str()), (Some("DE"), Some("FRA")), "{e}");
    }
    // The forced redelivery happened (the consumer says so in the Worker log) and added nothing.
    let log = std::fs::read_to_string(d.state.join("logs/wrangler.log")).unwrap_or_default();
    assert!(log.contains("EVENTS_TEST_RETRY_CUSTOMER: batch of"), "the consumer never forced a retry");
    std::thread::sleep(Duration::from_secs(5));
    let again = logs_until(&filter, since, |_| true, "the burst, later");
    assert_eq!(count(&again), TOTAL, "a redelivered batch added events");
    // The daily aggregate counts each stored pull once: as many as today's raw tag manifests.
    let today = unix_now() / 86_400 * 86_400;
    let raw = logs_until(&["--customer", customer, "--kind", "manifest"], today, |_| true, "today's burst events");
    let usage = pullgate_json(&["usage", "--app", "demo", "--by", "customer", "--since", "1min"]);
    let row = usage["rows"].as_array().unwrap().iter().find(|r| r["customer"] == customer).cloned();
    assert_eq!(row.map(|r| r["pulls"].clone()), Some(Value::from(raw.len())), "{usage:#}");
}

/// Runs SQL on the stack's local D1 (test setup only: the edge is the one writer in real use).
fn d1_execute(d: &Dev, sql: &str) {
    let wrangler = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/wrangler");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(&wrangler)
            .args(["d1", "execute", "pullgate-events", "--local", "--persist-to"])
            .arg(d.state.join("kv"))
            .args(["--command", sql])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("running wrangler");
        if out.status.success() {
            return;
        }
        let text = String::from_utf8_lossy(&out.stderr).to_string();
        // The edge may hold the database for a moment.
        assert!(Instant::now() < deadline && text.contains("SQLITE_BUSY"), "wrangler d1 execute: {text}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn the_daily_cron_deletes_raw_events_older_than_the_retention() {
    let d = dev();
    let customer = unique("Events Retention");
    let now = unix_now();
    let (old, recent) = (now - 91 * 86_400, now - 86_400);
    let insert = |id: &str, at: i64| {
        format!(
            "INSERT INTO events (id, at, kind, method, app, customer, status, outcome) \
             VALUES ('{id}', {at}, 'sign_in', 'GET', 'demo', '{customer}', 401, 'refused')"
        )
    };
    let suffix = format!("{:016x}", now as u64 ^ u64::from(std::process::id()));
    let (old_id, recent_id) = (format!("{:0>16}{suffix}", "a"), format!("{:0>16}{suffix}", "b"));
    d1_execute(&d, &format!("{}; {}", insert(&old_id, old), insert(&recent_id, recent)));
    let ids = || -> BTreeSet<String> {
        let v = pullgate_json(&["logs", "--app", "demo", "--customer", &customer, "--since", "100d"]);
        v["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(), BTreeSet::from([old_id.clone(), recent_id.clone()]));
    // wrangler dev --test-scheduled (scripts/dev) runs the cron handler on this path.
    let r = get(&format!("{}/__scheduled?cron=17+3+*+*+*", d.url), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(30);
    while ids().contains(&old_id) {
        assert!(Instant::now() < deadline, "the 91-day-old event outlived the cron");
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(ids(), BTreeSet::from([recent_id]), "only what is older than RETENTION_DAYS (90) goes");
}
