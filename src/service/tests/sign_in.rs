//! `/v2/` and `/v2/token`: which credentials get a token, and what each refusal says.

use super::*;
use crate::service::request::FormBody;
use crate::token;

const HELLO_SCOPE: &str = "repository:proxy/demo/local/demo/hello:pull";

#[test]
fn a_valid_license_gets_a_token_for_what_it_may_pull() {
    let mem = Mem::new();
    let lic = license("lic_1", "demo", "Globex", &[]);
    let scopes = format!("{HELLO_SCOPE}&scope=repository:proxy/other/local/x:pull");
    let h = oneshot(&mem, get(&format!("/v2/token?scope={scopes}")).auth(basic(&lic)));
    assert_eq!(h.reply.status(), 200, "{}", body_text(&h));
    assert_eq!(h.reply.header("cache-control"), Some("no-store"));
    let answer = json(&h);
    assert_eq!(answer["expires_in"], 300);
    assert_eq!(answer["token"], answer["access_token"]);
    let keys = crate::keys::SigningKeys::from_keys(vec![signing_key()]);
    let claims = token::verify(answer["token"].as_str().unwrap(), &keys, NOW).unwrap();
    assert_eq!(claims.aud, DEFAULT_HOST);
    assert_eq!((claims.app.as_str(), claims.cus.as_str(), claims.lic.as_str()), ("demo", "Globex", "lic_1"));
    assert_eq!(claims.rep, vec!["proxy/demo/local/demo/hello"], "another app's scope is not granted");
    assert_eq!(claims.exp, NOW + 300);
}

#[test]
fn a_token_never_outlives_its_license() {
    let mem = Mem::new();
    let lic = license_until("lic_1", "demo", "Globex", &[], NOW + 100);
    let h = oneshot(&mem, get("/v2/token").auth(basic(&lic)));
    assert_eq!(json(&h)["expires_in"], 100);
    let lic = license_until("lic_1", "demo", "Globex", &[], NOW + 10);
    let h = oneshot(&mem, get("/v2/token").auth(basic(&lic)));
    assert_eq!(json(&h)["expires_in"], token::MIN_TTL_SECONDS, "clients refuse shorter tokens");
}

#[test]
fn every_license_refusal_is_a_401_that_says_why() {
    let mem = Mem::new();
    mem.revoke("lic_revoked", NOW - 86_400 * 3);
    let forged = {
        let claims = license::Claims {
            id: "lic_x".into(),
            app: "demo".into(),
            customer: "Mallory".into(),
            issued_at: NOW,
            expires_at: NOW + 86_400,
            images: vec![],
        };
        license::issue(&claims, &SigningKey::from_secret("k1", KeyState::Active, &[1; 32]))
    };
    let cases = [
        (
            license_until("lic_old", "demo", "Globex", &[], NOW - 86_400),
            DEFAULT_HOST,
            "license_expired",
            "license for Globex expired on 2027-01-14; ask your vendor to renew it",
        ),
        (
            license("lic_revoked", "demo", "Globex", &[]),
            DEFAULT_HOST,
            "license_revoked",
            "license for Globex was revoked on 2027-01-12; ask your vendor for a new one",
        ),
        (
            "not-a-license".to_string(),
            DEFAULT_HOST,
            "license_invalid",
            "invalid license: use the license your vendor issued as the password",
        ),
        (
            forged,
            DEFAULT_HOST,
            "license_invalid",
            "invalid license: use the license your vendor issued as the password",
        ),
        (
            license("lic_2", "other", "Initech", &[]),
            DEMO_DOMAIN,
            "license_wrong_registry",
            "the license for Initech is not valid for images.demo.test; use the registry your vendor named",
        ),
    ];
    for (lic, host, reason, message) in cases {
        for req in [get("/v2/token"), get("/v2/")] {
            let path = req.path.clone();
            let h = oneshot(&mem, req.on(host).auth(basic(&lic)));
            assert_eq!(oci(&h), (401, "UNAUTHORIZED".into(), message.into(), reason.into()), "{path} {reason}");
            let challenge = h.reply.header("www-authenticate").unwrap();
            assert!(challenge.starts_with(&format!("Bearer realm=\"https://{host}/v2/token\"")), "{challenge}");
            assert_eq!(access_record(&h)["outcome"], "refused");
        }
    }
}

#[test]
fn without_credentials_the_token_endpoint_says_how_to_log_in() {
    let h = oneshot(&Mem::new(), get("/v2/token").on(DEMO_DOMAIN));
    let (status, _, message, reason) = oci(&h);
    assert_eq!((status, reason.as_str()), (401, "authentication_required"));
    assert_eq!(message, "authentication required: docker login images.demo.test with your license as the password");
}

#[test]
fn an_unknown_host_is_a_401_at_sign_in_and_a_404_elsewhere() {
    let mem = Mem::new();
    let lic = license("lic_1", "demo", "Globex", &[]);
    for path in ["/v2/", "/v2/token"] {
        let h = oneshot(&mem, get(path).on("typo.demo.test").auth(basic(&lic)));
        let (status, code, message, reason) = oci(&h);
        assert_eq!((status, code.as_str(), reason.as_str()), (401, "UNAUTHORIZED", "unknown_host"), "{path}");
        assert!(message.contains("typo.demo.test is not a registry served here"), "{message}");
    }
    let h = oneshot(&mem, get("/v2/local/demo/hello/manifests/1.0").on("typo.demo.test").auth(basic(&lic)));
    assert_eq!(oci(&h).0, 404);
}

#[test]
fn the_version_check_accepts_a_license_or_a_token_for_this_host() {
    let mem = Mem::new();
    let isolate = Isolate::default();
    let lic = license("lic_1", "demo", "Globex", &[]);
    assert_eq!(send(&mem, &isolate, get("/v2/").on(DEMO_DOMAIN).auth(basic(&lic))).reply.status(), 200);
    let t = token_for(&mem, &isolate, DEMO_DOMAIN, &lic, HELLO_SCOPE);
    let h = send(&mem, &isolate, get("/v2/").on(DEMO_DOMAIN).auth(format!("Bearer {t}")));
    assert_eq!(h.reply.status(), 200);
    assert_eq!(h.reply.header("docker-distribution-api-version"), Some("registry/2.0"));
    // The same token on another host asks the client to log in again.
    let h = send(&mem, &isolate, get("/v2/").auth(format!("Bearer {t}")));
    let (status, _, _, reason) = oci(&h);
    assert_eq!((status, reason.as_str()), (401, "token_invalid"));
    assert!(h.reply.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
    // No credentials: the challenge, nothing else.
    let h = send(&mem, &isolate, get("/v2/"));
    assert_eq!(oci(&h).0, 401);
}

#[test]
fn failed_sign_ins_are_limited_per_address_but_a_valid_license_always_passes() {
    let mem = Mem::new();
    let isolate = Isolate::default();
    let expired = license_until("lic_old", "demo", "Globex", &[], NOW - 1);
    let valid = license("lic_1", "demo", "Globex", &[]);
    let from = |ip: &str, lic: &str| get("/v2/token").client_ip(ip).auth(basic(lic));
    for _ in 0..mem.sign_in_limit {
        assert_eq!(oci(&send(&mem, &isolate, from("198.51.100.7", &expired))).0, 401);
    }
    let h = send(&mem, &isolate, from("198.51.100.7", &expired));
    let (status, code, message, reason) = oci(&h);
    assert_eq!((status, code.as_str(), reason.as_str()), (429, "TOOMANYREQUESTS", "sign_in_limit"));
    assert!(message.contains("retry in 60 s") && message.contains("expired on"), "the reason survives: {message}");
    assert_eq!(h.reply.header("retry-after"), Some("60"));
    // Another pod behind the same NAT with a good license is not refused…
    assert_eq!(send(&mem, &isolate, from("198.51.100.7", &valid)).reply.status(), 200);
    // …while the failing credential stays refused without asking the limiter again.
    let hits_before = mem.hits.borrow().values().sum::<u32>();
    assert_eq!(oci(&send(&mem, &isolate, from("198.51.100.7", &expired))).0, 429);
    assert_eq!(mem.hits.borrow().values().sum::<u32>(), hits_before, "a blocked address is not counted again");
    // Other addresses are unaffected; the block ends with the window.
    assert_eq!(oci(&send(&mem, &isolate, from("203.0.113.1", &expired))).0, 401);
    mem.set_now(NOW + 60);
    mem.hits.borrow_mut().clear();
    assert_eq!(oci(&send(&mem, &isolate, from("198.51.100.7", &expired))).0, 401);
}

#[test]
fn tokens_per_license_are_limited() {
    let mem = Mem::new();
    let lic = license("lic_1", "demo", "Globex", &[]);
    for _ in 0..mem.token_limit {
        assert_eq!(oneshot(&mem, get("/v2/token").auth(basic(&lic))).reply.status(), 200);
    }
    let h = oneshot(&mem, get("/v2/token").auth(basic(&lic)));
    let (status, _, message, reason) = oci(&h);
    assert_eq!((status, reason.as_str()), (429, "token_limit"));
    assert!(message.contains("the license for Globex requested too many tokens"), "{message}");
    // Another license is not affected.
    let other = license("lic_2", "demo", "Initech", &[]);
    assert_eq!(oneshot(&mem, get("/v2/token").auth(basic(&other))).reply.status(), 200);
}

#[test]
fn containerd_posts_the_oauth_password_grant() {
    let mem = Mem::new();
    let lic = license("lic_1", "demo", "Globex", &[]);
    let form = |body: &str| {
        let mut req = get("/v2/token").method("POST");
        req.form = FormBody::Read(body.as_bytes().to_vec());
        req
    };
    let body = format!("grant_type=password&username=x&password={lic}&scope={HELLO_SCOPE}&service={DEFAULT_HOST}");
    let h = oneshot(&mem, form(&body));
    assert_eq!(h.reply.status(), 200, "{}", body_text(&h));
    assert!(json(&h)["access_token"].is_string());
    for (req, want) in [
        (form(&format!("grant_type=refresh_token&refresh_token={lic}")), "only grant_type=password is supported"),
        (
            {
                let mut r = get("/v2/token").method("POST");
                r.form = FormBody::TooLarge;
                r
            },
            "form body larger than 65536 bytes",
        ),
        (
            {
                let mut r = get("/v2/token").method("POST");
                r.form = FormBody::Unreadable;
                r
            },
            "unreadable form body",
        ),
    ] {
        let (status, code, message, _) = oci(&oneshot(&mem, req));
        assert_eq!((status, code.as_str(), message.as_str()), (400, "UNSUPPORTED", want));
    }
}

#[test]
fn a_malformed_scope_is_a_400() {
    let lic = license("lic_1", "demo", "Globex", &[]);
    let (status, code, message, _) =
        oci(&oneshot(&Mem::new(), get("/v2/token?scope=repository:UPPER:pull").auth(basic(&lic))));
    assert_eq!((status, code.as_str()), (400, "UNSUPPORTED"));
    assert!(message.starts_with("invalid scope"), "{message}");
}
