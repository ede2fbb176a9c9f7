//! Tests of pull-check's pure parts: image references, the token realm rule, diagnoses.

use super::*;
use pullgate::upstream::Head;

#[test]
fn parses_good_image_references() {
    let d = format!("sha256:{}", "a".repeat(64));
    for (input, host, name, reference) in [
        ("images.vendor.com/app/web:1.0", "images.vendor.com", "app/web", "1.0"),
        ("images.vendor.com/app/web", "images.vendor.com", "app/web", "latest"),
        ("127.0.0.1:18700/proxy/demo/local/demo/hello:1.0", "127.0.0.1:18700", "proxy/demo/local/demo/hello", "1.0"),
        ("localhost/x/y", "localhost", "x/y", "latest"),
        (&format!("images.vendor.com/app/web@{d}"), "images.vendor.com", "app/web", d.as_str()),
        (&format!("images.vendor.com/app/web:1.0@{d}"), "images.vendor.com", "app/web", d.as_str()),
    ] {
        let got = parse_image_ref(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!((got.host.as_str(), got.name.as_str(), got.reference.as_str()), (host, name, reference), "{input}");
    }
}

#[test]
fn rejects_bad_image_references() {
    for bad in [
        "nginx",
        "library/nginx:1",
        "images.vendor.com/App/web",
        "images.vendor.com/app/web:bad tag",
        "images.vendor.com/app/web@sha256:short",
        "images.vendor.com/",
    ] {
        assert!(parse_image_ref(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_license_only_goes_to_the_images_host() {
    let base = "https://images.vendor.com";
    let url =
        token_url(base, "https://images.vendor.com/v2/token", Some("images.vendor.com"), "app/web", &["pull"]).unwrap();
    assert_eq!(url, "https://images.vendor.com/v2/token?service=images.vendor.com&scope=repository%3Aapp%2Fweb%3Apull");
    assert!(token_url(base, "/v2/token", None, "a", &["pull"]).is_some());
    assert!(token_url(base, "https://evil.example.com/token", None, "a", &["pull"]).is_none());
    assert!(token_url(base, "https://images.vendor.com:8443/token", None, "a", &["pull"]).is_none());
}

#[test]
fn refusals_map_to_diagnosis_codes() {
    let answer = |status: u16, challenge: Option<&str>, body: &str| Answer {
        head: Head {
            status,
            headers: challenge.map(|c| vec![("www-authenticate".to_string(), c.to_string())]).unwrap_or_default(),
        },
        body: body.as_bytes().to_vec(),
        truncated: false,
    };
    let err = r#"{"errors":[{"code":"DENIED","message":"the license for globex does not include x"}]}"#;
    for (a, want) in [
        (answer(401, Some("Bearer realm=\"r\""), ""), Exit::CredentialsRejected),
        (answer(401, Some("Bearer realm=\"r\",error=\"insufficient_scope\""), ""), Exit::NotEntitled),
        (answer(403, None, err), Exit::NotEntitled),
        (answer(404, None, ""), Exit::NotFound),
        (
            answer(
                404,
                None,
                r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository other/x is not served through upstream b","detail":{"reason":"not_served"}}]}"#,
            ),
            Exit::NotEntitled,
        ),
        (answer(429, None, ""), Exit::RateLimited),
        (
            answer(
                502,
                None,
                r#"{"errors":[{"code":"DENIED","message":"GHCR x rejected the vendor's credentials","detail":{"reason":"upstream_credential_rejected"}}]}"#,
            ),
            Exit::CredentialsRejected,
        ),
        (answer(500, None, ""), Exit::Failure),
        (
            answer(503, None, r#"{"errors":[{"code":"UNAVAILABLE","message":"GHCR x is unavailable (HTTP 500)"}]}"#),
            Exit::Failure,
        ),
    ] {
        assert_eq!(diagnose(&a).0, want, "{}", a.head.status);
    }
    assert!(diagnose(&answer(403, None, err)).1.contains("DENIED: the license for globex"));
    assert_eq!(diagnose_at(&answer(403, None, err), true).0, Exit::CredentialsRejected);
}

#[test]
fn an_unreachable_edge_or_upstream_is_a_network_diagnosis() {
    let answer = |status: u16, body: &str| Answer {
        head: Head { status, headers: vec![] },
        body: body.as_bytes().to_vec(),
        truncated: false,
    };
    let cases = [
        // Cloudflare in front of a Worker that is not bound or not answering.
        (answer(522, "<html>Connection timed out</html>"), "the edge could not be reached"),
        (answer(530, "error code: 1016"), "the edge could not be reached"),
        // A proxy in front of the edge.
        (answer(502, "Bad Gateway"), "the edge could not be reached"),
        (answer(504, ""), "the edge could not be reached"),
        // The edge itself, about its upstream.
        (
            answer(
                502,
                r#"{"errors":[{"code":"UNAVAILABLE","message":"GHCR x could not be reached (DNS, TLS or connection failure)","detail":{"reason":"upstream_unreachable"}}]}"#,
            ),
            "could not be reached (DNS",
        ),
        (
            answer(
                504,
                r#"{"errors":[{"code":"UNAVAILABLE","message":"GHCR x did not answer in time","detail":{"reason":"upstream_unreachable"}}]}"#,
            ),
            "did not answer in time",
        ),
    ];
    for (a, needle) in cases {
        let (exit, message) = diagnose(&a);
        assert_eq!(exit, Exit::Network, "{} {message}", a.head.status);
        assert!(message.contains(needle), "{message}");
    }
}
