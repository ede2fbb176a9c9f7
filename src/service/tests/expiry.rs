//! The license-expiry `Warning`: on pulls by a license (or its token) inside the window, not
//! outside it, and marked in the access log; decided from the credential alone.

use super::*;

const DAY: i64 = 86_400;
const MANIFEST: &str = "/v2/proxy/demo/local/demo/hello/manifests/1.0";
const SCOPE: &str = "repository:proxy/demo/local/demo/hello:pull";
const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

fn pulled(mem: &Mem, expires_at: i64, with_token: bool) -> Handled<Vec<u8>> {
    let lic = license_until("lic_1", "demo", "globex", &[], expires_at);
    let isolate = Isolate::default();
    let auth = match with_token {
        true => format!("Bearer {}", token_for(mem, &isolate, DEFAULT_HOST, &lic, SCOPE)),
        false => basic(&lic),
    };
    send(mem, &isolate, get(MANIFEST).auth(auth))
}

#[test]
fn pulls_within_the_window_carry_the_warning_and_the_log_marks_them() {
    let expires = NOW - (NOW % DAY) + 10 * DAY; // midnight, 10 days out
    let want = format!(
        "299 - \"license for globex expires on {}; ask your vendor to renew it\"",
        crate::time::format_date(expires)
    );
    for with_token in [false, true] {
        let mem = Mem::new().route(UPSTREAM, |_| manifest_answer(OCI, b"{}"));
        let h = pulled(&mem, expires, with_token);
        assert_eq!(h.reply.status(), 200, "{}", body_text(&h));
        assert_eq!(h.reply.header("warning"), Some(want.as_str()), "token {with_token}");
        assert_eq!(access_record(&h)["license_expiring"], true);
    }
}

#[test]
fn pulls_outside_the_window_carry_no_warning() {
    for (expires, with_token) in [(NOW + 15 * DAY, false), (NOW + 15 * DAY, true), (NOW + 400 * DAY, false)] {
        let mem = Mem::new().route(UPSTREAM, |_| manifest_answer(OCI, b"{}"));
        let h = pulled(&mem, expires, with_token);
        assert_eq!(h.reply.status(), 200, "{}", body_text(&h));
        assert_eq!(h.reply.header("warning"), None, "expires {expires}");
        assert!(access_record(&h).get("license_expiring").is_none());
    }
}

#[test]
fn the_window_is_configurable_and_zero_turns_it_off() {
    for (days, warned) in [("30", true), ("0", false)] {
        let mem = Mem::new().route(UPSTREAM, |_| manifest_answer(OCI, b"{}"));
        mem.vars.borrow_mut().insert("LICENSE_WARNING_DAYS", days.into());
        let h = pulled(&mem, NOW + 20 * DAY, false);
        assert_eq!(h.reply.header("warning").is_some(), warned, "LICENSE_WARNING_DAYS={days}");
    }
}
