use super::*;

const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn references_parse_with_dockers_normalisation() {
    let with_digest = format!("ghcr.io/acme/api:1.0@{D}");
    let by_digest = format!("127.0.0.1:5000/demo/hello@{D}");
    // (input, registry, repository, tag, digest, written name)
    type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        ("nginx", "docker.io", "library/nginx", None, None, "nginx"),
        ("nginx:1.25", "docker.io", "library/nginx", Some("1.25"), None, "nginx"),
        ("bitnami/redis:7", "docker.io", "bitnami/redis", Some("7"), None, "bitnami/redis"),
        ("docker.io/nginx", "docker.io", "library/nginx", None, None, "docker.io/nginx"),
        ("index.docker.io/acme/x", "docker.io", "acme/x", None, None, "index.docker.io/acme/x"),
        ("ghcr.io/acme/api:v1.0.1", "ghcr.io", "acme/api", Some("v1.0.1"), None, "ghcr.io/acme/api"),
        (&with_digest, "ghcr.io", "acme/api", Some("1.0"), Some(D), "ghcr.io/acme/api"),
        (&by_digest, "127.0.0.1:5000", "demo/hello", None, Some(D), "127.0.0.1:5000/demo/hello"),
        ("localhost/a", "localhost", "a", None, None, "localhost/a"),
        ("localhost:5000/a/b:t", "localhost:5000", "a/b", Some("t"), None, "localhost:5000/a/b"),
        ("Quay.IO/org/app", "quay.io", "org/app", None, None, "Quay.IO/org/app"),
    ];
    for (input, registry, repository, tag, digest, written) in cases {
        let r = ImageRef::parse(input).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.tag.as_deref(),
                r.digest.as_deref(),
                r.written_name.as_str()
            ),
            (registry, repository, tag, digest, written),
            "{input}"
        );
    }
    assert_eq!(ImageRef::parse("nginx:1").unwrap().to_string(), "docker.io/library/nginx:1");
}

#[test]
fn non_references_are_refused() {
    for bad in [
        "",
        ":1.0",
        "nginx:",
        "Nginx",
        "acme/API",
        "ghcr.io/",
        "ghcr.io/acme/api:bad tag",
        "ghcr.io/acme/api@sha256:12",
        "ghcr.io:99x/acme/api",
        "-bad.io/acme/api",
        "{{ .Values.image }}",
        "ghcr.io/acme/../x",
    ] {
        assert!(ImageRef::parse(bad).is_err(), "{bad:?}");
    }
}

fn app() -> AppRecord {
    serde_json::from_value(serde_json::json!({
        "v": 1, "slug": "acme", "name": "Acme", "created_at": 0,
        "upstreams": [
            { "endpoint": "http://127.0.0.1:18701", "alias": "local", "credential": { "kind": "none" }, "insecure": true },
            { "endpoint": "https://ghcr.io", "repos": ["acme/*"], "credential": { "kind": "none" } },
            { "endpoint": "https://registry-1.docker.io", "alias": "hub", "credential": { "kind": "none" } },
            { "endpoint": "https://hosted.invalid", "alias": "hosted", "credential": { "kind": "none" }, "hosted": true },
        ],
    }))
    .unwrap()
}

#[test]
fn images_map_to_their_name_through_the_edge() {
    let custom = Serving::Custom { host: "images.acme.com".into() };
    let default = Serving::Default { host: "pullgate.example.workers.dev".into(), app: "acme".into() };
    let proxied = |name: &str, upstream: &str| Mapping::Proxied {
        upstream: upstream.into(),
        path: name.split_once('/').unwrap().1.into(),
        name: name.into(),
    };
    let cases = [
        (&custom, "127.0.0.1:18701/demo/hello:1.0", proxied("images.acme.com/local/demo/hello", "local")),
        (&custom, "ghcr.io/acme/api:v1", proxied("images.acme.com/ghcr.io/acme/api", "ghcr.io")),
        (&default, "ghcr.io/acme/api", proxied("pullgate.example.workers.dev/proxy/acme/ghcr.io/acme/api", "ghcr.io")),
        (&custom, "nginx:1.25", proxied("images.acme.com/hub/library/nginx", "hub")),
        (&custom, "docker.io/bitnami/redis", proxied("images.acme.com/hub/bitnami/redis", "hub")),
        (&custom, "ghcr.io/other/api", Mapping::OutsidePatterns { upstream: "ghcr.io".into() }),
        (&custom, "quay.io/acme/api", Mapping::NotConfigured),
        (&custom, "127.0.0.1:18702/demo/hello", Mapping::NotConfigured),
        (&custom, "hosted.invalid/x", Mapping::NotConfigured),
    ];
    let app = app();
    for (serving, input, expected) in cases {
        assert_eq!(map(&app, serving, &ImageRef::parse(input).unwrap()), expected, "{input}");
    }
}

#[test]
fn endpoint_authorities_drop_default_ports() {
    for (endpoint, authority) in [
        ("https://ghcr.io", Some("ghcr.io")),
        ("https://ghcr.io:443", Some("ghcr.io")),
        ("http://127.0.0.1:18701", Some("127.0.0.1:18701")),
        ("https://Reg.Example.com:8443/", Some("reg.example.com:8443")),
        ("not a url", None),
    ] {
        assert_eq!(endpoint_authority(endpoint).as_deref(), authority, "{endpoint}");
    }
}
