//! Configuration: the isolate cache (zero KV reads when warm), propagation of changes, and what
//! a missing or broken configuration answers.

use super::*;

const HELLO: &str = "/v2/proxy/demo/local/demo/hello/manifests/1.0";

fn kv_reads(h: &Handled<Vec<u8>>) -> u64 {
    h.reply.header("pullgate-kv-reads").unwrap().parse().unwrap()
}

fn hello_upstream() -> Mem {
    let mem = Mem::new().route(UPSTREAM, |_| manifest_answer("application/vnd.oci.image.manifest.v1+json", b"{}"));
    mem.vars.borrow_mut().insert("DEBUG_HEADERS", "true".into());
    mem
}

#[test]
fn a_warm_isolate_pulls_with_no_kv_read() {
    let mem = hello_upstream();
    let isolate = Isolate::default();
    let lic = license("lic_1", "demo", "Globex", &[]);
    let t = token_for(&mem, &isolate, DEMO_DOMAIN, &lic, "repository:local/demo/hello:pull");
    let req = || get("/v2/local/demo/hello/manifests/1.0").on(DEMO_DOMAIN).auth(format!("Bearer {t}"));
    assert_eq!(send(&mem, &isolate, req()).reply.status(), 200);
    let h = send(&mem, &isolate, req());
    assert_eq!(h.reply.status(), 200);
    assert_eq!(kv_reads(&h), 0);
    // Past CONFIG_CACHE_SECONDS the records are read again.
    mem.set_now(NOW + 31);
    assert!(kv_reads(&send(&mem, &isolate, req())) > 0);
}

#[test]
fn a_revocation_takes_effect_within_the_cache_time() {
    let mem = hello_upstream();
    let isolate = Isolate::default();
    let lic = license("lic_1", "demo", "Globex", &[]);
    let pull = || send(&mem, &isolate, get(HELLO).auth(basic(&lic)));
    assert_eq!(pull().reply.status(), 200);
    mem.revoke("lic_1", NOW);
    assert_eq!(pull().reply.status(), 200, "still cached");
    mem.set_now(NOW + 30);
    let (status, _, message, reason) = oci(&pull());
    assert_eq!((status, reason.as_str()), (401, "license_revoked"));
    assert!(message.contains("was revoked on 2027-01-15"), "{message}");
}

#[test]
fn a_kv_outage_is_a_503_to_retry() {
    let mem = hello_upstream();
    mem.kv_down.set(true);
    let h = oneshot(&mem, get(HELLO).auth(basic(&license("lic_1", "demo", "Globex", &[]))));
    let (status, code, message, reason) = oci(&h);
    assert_eq!((status, code.as_str(), reason.as_str()), (503, "UNAVAILABLE", "store_unavailable"));
    assert_eq!(message, "the registry proxy's configuration store is unavailable; retry shortly");
    assert_eq!(h.reply.header("retry-after"), Some("1"));
}

#[test]
fn a_malformed_record_is_our_bug_and_says_nothing_about_it() {
    let mem = hello_upstream();
    mem.kv.borrow_mut().insert(store::app_key("demo"), "{not json".into());
    let h = oneshot(&mem, get(HELLO).auth(basic(&license("lic_1", "demo", "Globex", &[]))));
    let (status, code, message, _) = oci(&h);
    assert_eq!((status, code.as_str()), (500, "UNKNOWN"));
    assert_eq!(message, "internal error in the registry proxy; retry later");
    assert!(h
        .logs
        .iter()
        .any(|l| matches!(l, crate::service::LogLine::Error(e) if e.contains("kv record app:demo is malformed"))));
}

#[test]
fn a_deployment_without_keys_says_what_is_missing() {
    let mut mem = hello_upstream();
    mem.secrets.clear();
    let (status, _, message, reason) = oci(&oneshot(&mem, get("/v2/token").auth(basic("pgl1.x.y.z"))));
    assert_eq!((status, reason.as_str()), (503, "not_configured"));
    assert_eq!(message, "this registry is not configured yet (root secret missing)");
    let mem = hello_upstream();
    mem.kv.borrow_mut().remove(store::KEYSET_KEY);
    let (_, _, message, _) = oci(&oneshot(&mem, get("/v2/token").auth(basic("pgl1.x.y.z"))));
    assert_eq!(message, "this registry is not configured yet (no signing keys: run `pullgate key init`)");
}

#[test]
fn the_access_log_holds_no_credential() {
    let mem = hello_upstream();
    let lic = license("lic_1", "demo", "Globex", &[]);
    let h = oneshot(&mem, get(HELLO).auth(basic(&lic)));
    let line = h
        .logs
        .iter()
        .find_map(|l| match l {
            crate::service::LogLine::Access(a) => Some(a.clone()),
            _ => None,
        })
        .unwrap();
    assert!(!line.contains(&lic) && !line.contains("Basic"), "{line}");
    mem.vars.borrow_mut().insert("ACCESS_LOG", "false".into());
    let h = oneshot(&mem, get(HELLO).auth(basic(&lic)));
    assert!(h.logs.iter().all(|l| !matches!(l, crate::service::LogLine::Access(_))));
}

#[test]
fn settings_are_read_once_per_isolate() {
    let mem = hello_upstream();
    let isolate = Isolate::default();
    let lic = license("lic_1", "demo", "Globex", &[]);
    assert!(send(&mem, &isolate, get(HELLO).auth(basic(&lic))).reply.header("pullgate-kv-reads").is_some());
    // A deployment's vars cannot change under a running isolate; only a new one reads them.
    mem.vars.borrow_mut().remove("DEBUG_HEADERS");
    assert!(send(&mem, &isolate, get(HELLO).auth(basic(&lic))).reply.header("pullgate-kv-reads").is_some());
    assert!(oneshot(&mem, get(HELLO).auth(basic(&lic))).reply.header("pullgate-kv-reads").is_none());
}
